// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Policy files: JSON and TOML with the same keys, decoded by one decoder.
// The public entry points (PolicyFromJson, PolicyToToml, LoadPolicy, ...) are
// declared in kavach/policy.h; this header adds what other layers need to
// embed a policy in a larger document:
//
//   nlohmann::ordered_json doc;
//   doc["policy"] = kavach::internal::PolicyToJsonValue(policy);
//   auto back = kavach::internal::PolicyFromJsonValue(doc["policy"], "policy");
//   // errors then read "policy.limits.max_pids: expected a positive integer, got -3"
//
// File format (JSON shown; TOML uses the same names as tables and keys):
//   {
//     "extends": "strict",            // optional: start from a preset
//     "seccomp": "none" | "basic" | "strict",
//     "filesystem": {"read_only": [...], "read_write": [...], "executable": [...],
//                    "hidden": [...], "read_only_root": bool, "landlock": bool},
//     "network": {"mode": "none" | "proxy" | "host", "tcp_bind_ports": [...],
//                 "tcp_connect_ports": [...]},
//     "egress": {"allow_hosts": ["api.example.com", "*.example.org"],
//                "allow_ports": [80, 443], "schemes": {"api.example.com": "https"},
//                "credentials": [{"host": "api.example.com", "header": "Authorization",
//                                 "source": "env:TOKEN" | "file:/path",
//                                 "prefix": "Bearer ", "placeholder": "kvph-..."}],
//                "resolve": {"api.example.com": "127.0.0.1"},
//                "upstream_ca_file": "/path/ca.pem"},
//     "landlock_scopes": {"abstract_unix_socket": bool, "signal": bool},
//     "limits": {"memory_bytes" | "memory_mb", "cpu_cores", "cpu_weight", "max_pids",
//                "wall_time_ms", "max_output_bytes", "max_open_files",
//                "max_file_size_bytes"},
//     "environment": {"allow": [...], "set": {"NAME": "value"}},
//     "working_directory": "/work", "uid": 1000, "gid": 1000, "hostname": "kavach",
//     "optional_controls": ["landlock.scopes", ...]
//   }
// Keys that are present replace the base value (lists are replaced, not
// appended); absent keys keep it. The base is the "extends" preset, else the
// defaults (= minimal). In JSON, null clears an optional limit or port list
// (useful over "extends"); TOML has no null, so a file that must clear a
// preset's limit cannot extend that preset. After decoding the policy is
// Validate()d, so a loaded policy is always valid.
#ifndef KAVACH_POLICY_POLICY_IO_H_
#define KAVACH_POLICY_POLICY_IO_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "kavach/policy.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {

enum class PolicyFormat { kJson, kToml };

// By extension (.json / .toml, case-insensitive); otherwise JSON when the first
// non-blank character of `content` is '{', else TOML.
PolicyFormat DetectPolicyFormat(std::string_view path, std::string_view content);

// The tree a policy file holds. Optional values that are unset are omitted.
nlohmann::ordered_json PolicyToJsonValue(const SandboxPolicy& policy);

// Decodes a tree (from JSON or TOML). `key_prefix` is prepended to key names
// in error messages ("" at the top level of a file).
absl::StatusOr<SandboxPolicy> PolicyFromJsonValue(const nlohmann::ordered_json& value,
                                                  std::string_view key_prefix = "");

}  // namespace kavach::internal

#endif  // KAVACH_POLICY_POLICY_IO_H_
