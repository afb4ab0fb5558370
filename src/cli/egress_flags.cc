// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "cli/egress_flags.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace kavach::cli {

void AddEgressOptions(CLI::App& app, EgressFlags& flags) {
  app.add_option("--allow-host", flags.allow_hosts,
                 "network proxy: host the sandbox may reach, or *.domain (repeatable)");
  app.add_option("--allow-port", flags.allow_ports,
                 "network proxy: allowed destination port (repeatable; default 80 and 443)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--credential", flags.credentials,
                 "network proxy: HOST:HEADER=env:VAR or HOST:HEADER=file:PATH, injected by the "
                 "proxy into requests to HOST (repeatable)");
  app.add_option("--resolve", flags.resolve,
                 "network proxy: HOST:ADDR, connect to ADDR for HOST (repeatable)");
  app.add_option("--upstream-ca", flags.upstream_ca,
                 "network proxy: trust this PEM file for upstream TLS");
}

void AddSecretOptions(CLI::App& app, SecretFlags& flags) {
  app.add_option("--secret-env", flags.env,
                 "NAME=env:VAR or NAME=file:PATH: the secret in the command's environment as "
                 "NAME (repeatable; lowers the score by 5: it enters the sandbox)");
  app.add_option("--secret-file", flags.file,
                 "NAME=env:VAR or NAME=file:PATH: the secret in /run/secrets/NAME, mode 0400, "
                 "on a tmpfs gone at the end (repeatable; score -3)");
  app.add_option("--secret-stdin", flags.stdin_source,
                 "env:VAR or file:PATH: the secret and a newline first on the command's stdin "
                 "(score -2)");
}

std::string ApplySecretFlags(const SecretFlags& flags, std::vector<SecretInjection>& secrets) {
  auto split = [](const std::string& flag, const std::string& v, SecretDelivery d,
                  std::vector<SecretInjection>& out) -> std::string {
    size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
      return absl::StrCat(flag, " wants NAME=env:VAR or NAME=file:PATH");
    }
    SecretInjection s;
    s.deliver = d;
    s.target = v.substr(0, eq);
    if (d == SecretDelivery::kFile && s.target.find('/') == std::string::npos) {
      s.target = absl::StrCat(kSecretFileDir, "/", s.target);
    }
    s.source = v.substr(eq + 1);
    out.push_back(std::move(s));
    return "";
  };
  for (const std::string& v : flags.env) {
    if (std::string e = split("--secret-env", v, SecretDelivery::kEnv, secrets); !e.empty()) {
      return e;
    }
  }
  for (const std::string& v : flags.file) {
    if (std::string e = split("--secret-file", v, SecretDelivery::kFile, secrets); !e.empty()) {
      return e;
    }
  }
  if (flags.stdin_source) {
    secrets.push_back(SecretInjection{SecretDelivery::kStdin, "", *flags.stdin_source});
  }
  return "";
}

std::string ApplyEgressFlags(const EgressFlags& flags, EgressPolicy& egress) {
  for (const std::string& h : flags.allow_hosts) {
    egress.allow_hosts.push_back(absl::AsciiStrToLower(h));
  }
  if (!flags.allow_ports.empty()) egress.allow_ports = flags.allow_ports;
  for (const std::string& c : flags.credentials) {
    size_t colon = c.find(':');
    size_t eq = colon == std::string::npos ? std::string::npos : c.find('=', colon);
    if (colon == std::string::npos || eq == std::string::npos || colon == 0 || eq == colon + 1) {
      return "--credential wants HOST:HEADER=env:VAR or HOST:HEADER=file:PATH";
    }
    CredentialRule rule;
    rule.host = absl::AsciiStrToLower(c.substr(0, colon));
    rule.header = c.substr(colon + 1, eq - colon - 1);
    rule.source = c.substr(eq + 1);
    egress.credentials.push_back(std::move(rule));
  }
  for (const std::string& r : flags.resolve) {
    size_t colon = r.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == r.size()) {
      return "--resolve wants HOST:ADDR";
    }
    egress.resolve[absl::AsciiStrToLower(r.substr(0, colon))] = r.substr(colon + 1);
  }
  if (flags.upstream_ca) egress.upstream_ca_file = *flags.upstream_ca;
  return "";
}

}  // namespace kavach::cli
