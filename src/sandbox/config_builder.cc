// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// SandboxConfig::Builder: every setter records its first error and Build()
// returns it, so a fluent chain never fails half-way silently.
#include "absl/strings/str_cat.h"
#include "kavach/sandbox.h"
#include "linux/strings.h"
#include "sandbox/environment.h"

namespace kavach {

using Builder = SandboxConfig::Builder;

void Builder::SetError(absl::Status s) {
  if (first_error_.ok() && !s.ok()) first_error_ = std::move(s);
}

Builder& Builder::backend(BackendKind kind) {
  config_.backend = kind;
  return *this;
}

Builder& Builder::backend(std::string_view name) {
  absl::StatusOr<BackendKind> kind = ParseBackendKind(name);
  if (kind.ok()) {
    config_.backend = *kind;
  } else {
    SetError(kind.status());
  }
  return *this;
}

Builder& Builder::policy(SandboxPolicy policy) {
  config_.policy = std::move(policy);
  return *this;
}

Builder& Builder::policy(std::string_view preset_or_path) {
  absl::StatusOr<SandboxPolicy> policy = LoadPolicy(preset_or_path);
  if (policy.ok()) {
    config_.policy = *std::move(policy);
  } else {
    SetError(policy.status());
  }
  return *this;
}

Builder& Builder::timeout(absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
    SetError(absl::InvalidArgumentError(
        absl::StrCat("timeout must be positive and finite, got ", absl::FormatDuration(timeout))));
  } else {
    config_.timeout = timeout;
  }
  return *this;
}

Builder& Builder::workdir(std::string host_dir) {
  config_.host_workdir = std::move(host_dir);
  return *this;
}

Builder& Builder::env(std::string key, std::string value) {
  if (absl::Status s = internal::ValidateEnvEntry(key, value); !s.ok()) {
    SetError(std::move(s));
  } else {
    config_.env[std::move(key)] = std::move(value);
  }
  return *this;
}

Builder& Builder::gate(GateConfig gate) {
  config_.gate = std::move(gate);
  return *this;
}

Builder& Builder::audit(AuditConfig audit) {
  config_.audit = std::move(audit);
  return *this;
}

Builder& Builder::agent_id(std::string id) {
  config_.agent_id = std::move(id);
  return *this;
}

absl::StatusOr<SandboxConfig> Builder::Build() const {
  if (!first_error_.ok()) return first_error_;
  if (absl::Status s = config_.policy.Validate(); !s.ok()) return s;
  return config_;
}

}  // namespace kavach
