// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The egress options shared by `kavach exec --network proxy` and
// `kavach proxy`: each adds to the policy's egress section.
//
//   --allow-host api.example.com      (repeatable; "*.example.com" allowed)
//   --allow-port 8443                 (repeatable; replaces the default 80, 443)
//   --credential api.example.com:Authorization=env:TOKEN   (or =file:/path)
//   --resolve api.example.com:127.0.0.1   (connect there instead of resolving)
//   --upstream-ca FILE                (trust FILE for upstream TLS)
#ifndef KAVACH_CLI_EGRESS_FLAGS_H_
#define KAVACH_CLI_EGRESS_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "kavach/policy.h"

namespace kavach::cli {

struct EgressFlags {
  std::vector<std::string> allow_hosts;
  std::vector<uint16_t> allow_ports;
  std::vector<std::string> credentials;
  std::vector<std::string> resolve;
  std::optional<std::string> upstream_ca;

  bool any() const {
    return !allow_hosts.empty() || !allow_ports.empty() || !credentials.empty() ||
           !resolve.empty() || upstream_ca.has_value();
  }
};

void AddEgressOptions(CLI::App& app, EgressFlags& flags);

// Direct injection (policy.secrets), `kavach exec` only:
//   --secret-env NAME=env:VAR          (or =file:PATH; repeatable)
//   --secret-file NAME=env:VAR         (/run/secrets/NAME, mode 0400; repeatable)
//   --secret-stdin env:VAR             (first line of the command's stdin)
struct SecretFlags {
  std::vector<std::string> env;
  std::vector<std::string> file;
  std::optional<std::string> stdin_source;

  bool any() const { return !env.empty() || !file.empty() || stdin_source.has_value(); }
};

void AddSecretOptions(CLI::App& app, SecretFlags& flags);

// Adds the flags to `secrets`; an error message naming the flag, or "". A
// message never repeats the source part (a value pasted there by mistake).
std::string ApplySecretFlags(const SecretFlags& flags, std::vector<SecretInjection>& secrets);

// Adds the flags to `egress`. Returns an error message naming the flag, or
// "" (the policy's Validate() checks the rest).
std::string ApplyEgressFlags(const EgressFlags& flags, EgressPolicy& egress);

}  // namespace kavach::cli

#endif  // KAVACH_CLI_EGRESS_FLAGS_H_
