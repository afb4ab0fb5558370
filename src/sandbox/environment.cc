// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "sandbox/environment.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "egress/egress_proxy.h"
#include "linux/strings.h"

namespace kavach::internal {

std::optional<std::string> HostGetenv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

absl::Status ValidateEnvEntry(std::string_view name, std::string_view value) {
  if (name.empty()) return absl::InvalidArgumentError("env: empty variable name");
  if (name.find('=') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("env: variable name \"", ToAbsl(name), "\" contains '='"));
  }
  if (name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("env: variable name contains a NUL byte");
  }
  if (value.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("env: value of ", ToAbsl(name), " contains a NUL byte"));
  }
  return absl::OkStatus();
}

namespace {

absl::Status Overlay(const std::map<std::string, std::string>& layer, std::string_view what,
                     std::map<std::string, std::string>* env) {
  for (const auto& [name, value] : layer) {
    if (absl::Status s = ValidateEnvEntry(name, value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), ": ", s.message()));
    }
    (*env)[name] = value;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ComputeEnvironment(
    const SandboxPolicy& policy, const std::map<std::string, std::string>& config_env,
    const std::map<std::string, std::string>& exec_env, const HostEnvLookup& host_lookup) {
  std::map<std::string, std::string> env;
  for (const std::string& name : policy.environment.allow) {
    if (absl::Status s = ValidateEnvEntry(name, ""); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("environment.allow: ", s.message()));
    }
    std::optional<std::string> value = host_lookup(name);
    if (!value.has_value()) continue;
    if (absl::Status s = ValidateEnvEntry(name, *value); !s.ok()) return s;
    env[name] = *std::move(value);
  }
  // try_emplace keeps a value passed through from the host.
  env.try_emplace("PATH", kDefaultPath);
  env.try_emplace("HOME", policy.working_directory);
  env.try_emplace("TMPDIR", "/tmp");
  env.try_emplace("LANG", "C.UTF-8");
  if (policy.network.mode == NetworkMode::kProxy) {
    // The egress proxy on the sandbox's own loopback, and its CA bundle.
    std::string proxy = absl::StrCat("http://127.0.0.1:", kSandboxProxyPort);
    for (const char* name : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) {
      env[name] = proxy;
    }
    env.erase("NO_PROXY");
    env.erase("no_proxy");
    for (const char* name : {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                             "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO"}) {
      env[name] = kSandboxCaBundlePath;
    }
    // A credential's own variable never carries the secret in: it holds the
    // placeholder, or is dropped when it was passed through from the host.
    for (const CredentialRule& rule : policy.egress.credentials) {
      if (!absl::StartsWith(rule.source, "env:")) continue;
      std::string name = rule.source.substr(4);
      if (rule.placeholder.empty()) {
        env.erase(name);
      } else {
        env[name] = rule.placeholder;
      }
    }
  }

  if (absl::Status s = Overlay(policy.environment.set, "environment.set", &env); !s.ok()) return s;
  if (absl::Status s = Overlay(config_env, "config env", &env); !s.ok()) return s;
  if (absl::Status s = Overlay(exec_env, "exec env", &env); !s.ok()) return s;

  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [name, value] : env) out.push_back(absl::StrCat(name, "=", value));
  return out;
}

}  // namespace kavach::internal
