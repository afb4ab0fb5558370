// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Names of the public enums and their parsers. One table per enum, so that a
// name and its parse can never drift apart: both directions read the table.
#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "kavach/backend_kind.h"
#include "kavach/findings.h"
#include "kavach/policy.h"
#include "linux/strings.h"

namespace kavach {
namespace {

template <typename E>
using NameTable = absl::Span<const std::pair<E, std::string_view>>;

template <typename E>
std::string_view NameOf(NameTable<E> table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  // Only reachable with a value cast from an out-of-range integer.
  return "unknown";
}

// Case-insensitive lookup; `what` names the enum in the error message.
template <typename E>
absl::StatusOr<E> ParseName(NameTable<E> table, std::string_view name, std::string_view what) {
  for (const auto& [v, n] : table) {
    if (absl::EqualsIgnoreCase(ToAbsl(n), ToAbsl(name))) return v;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown ", ToAbsl(what), ": ", ToAbsl(name)));
}

constexpr std::array<std::pair<BackendKind, std::string_view>, 10> kBackendNames = {{
    {BackendKind::kProcess, "process"},
    {BackendKind::kGVisor, "gvisor"},
    {BackendKind::kFirecracker, "firecracker"},
    {BackendKind::kWasm, "wasm"},
    {BackendKind::kOci, "oci"},
    {BackendKind::kSgx, "sgx"},
    {BackendKind::kSev, "sev"},
    {BackendKind::kTdx, "tdx"},
    {BackendKind::kSyAgnos, "sy-agnos"},
    {BackendKind::kNoop, "noop"},
}};

constexpr std::array<BackendKind, 10> kAllBackendKinds = {
    BackendKind::kProcess, BackendKind::kGVisor, BackendKind::kFirecracker, BackendKind::kWasm,
    BackendKind::kOci,     BackendKind::kSgx,    BackendKind::kSev,         BackendKind::kTdx,
    BackendKind::kSyAgnos, BackendKind::kNoop,
};

constexpr std::array<std::pair<Severity, std::string_view>, 5> kSeverityNames = {{
    {Severity::kInfo, "info"},
    {Severity::kLow, "low"},
    {Severity::kMedium, "medium"},
    {Severity::kHigh, "high"},
    {Severity::kCritical, "critical"},
}};

constexpr std::array<std::pair<Verdict, std::string_view>, 5> kVerdictNames = {{
    {Verdict::kPass, "pass"},
    {Verdict::kWarn, "warn"},
    {Verdict::kRedact, "redact"},
    {Verdict::kQuarantine, "quarantine"},
    {Verdict::kBlock, "block"},
}};

constexpr std::array<std::pair<SeccompProfile, std::string_view>, 3> kSeccompNames = {{
    {SeccompProfile::kNone, "none"},
    {SeccompProfile::kBasic, "basic"},
    {SeccompProfile::kStrict, "strict"},
}};

constexpr std::array<std::pair<SecretDelivery, std::string_view>, 3> kSecretDeliveryNames = {{
    {SecretDelivery::kEnv, "env"},
    {SecretDelivery::kFile, "file"},
    {SecretDelivery::kStdin, "stdin"},
}};

constexpr std::array<std::pair<NetworkMode, std::string_view>, 3> kNetworkNames = {{
    {NetworkMode::kNone, "none"},
    {NetworkMode::kProxy, "proxy"},
    {NetworkMode::kHost, "host"},
}};

constexpr std::array<std::pair<Control, std::string_view>, 20> kControlNames = {{
    {Control::kUserNamespace, "namespace.user"},
    {Control::kPidNamespace, "namespace.pid"},
    {Control::kMountNamespace, "namespace.mount"},
    {Control::kNetworkNamespace, "namespace.net"},
    {Control::kIpcNamespace, "namespace.ipc"},
    {Control::kUtsNamespace, "namespace.uts"},
    {Control::kCgroupNamespace, "namespace.cgroup"},
    {Control::kPivotRoot, "pivot_root"},
    {Control::kReadOnlyRoot, "read_only_root"},
    {Control::kSeccomp, "seccomp"},
    {Control::kLandlockFilesystem, "landlock.fs"},
    {Control::kLandlockNetwork, "landlock.net"},
    {Control::kLandlockScopes, "landlock.scopes"},
    {Control::kNoNewPrivs, "no_new_privs"},
    {Control::kCapabilities, "capabilities"},
    {Control::kCgroupMemory, "cgroup.memory"},
    {Control::kCgroupPids, "cgroup.pids"},
    {Control::kCgroupCpu, "cgroup.cpu"},
    {Control::kRlimits, "rlimits"},
    {Control::kCloseFds, "close_fds"},
}};

}  // namespace

absl::Span<const BackendKind> AllBackendKinds() { return kAllBackendKinds; }

std::string_view BackendKindName(BackendKind kind) {
  return NameOf<BackendKind>(kBackendNames, kind);
}

absl::StatusOr<BackendKind> ParseBackendKind(std::string_view name) {
  // The original accepted "syagnos" as well as its display name.
  if (absl::EqualsIgnoreCase(ToAbsl(name), "syagnos")) return BackendKind::kSyAgnos;
  return ParseName<BackendKind>(kBackendNames, name, "backend");
}

std::string_view SeverityName(Severity s) { return NameOf<Severity>(kSeverityNames, s); }

std::string_view VerdictName(Verdict v) { return NameOf<Verdict>(kVerdictNames, v); }

std::string_view SeccompProfileName(SeccompProfile profile) {
  return NameOf<SeccompProfile>(kSeccompNames, profile);
}

absl::StatusOr<SeccompProfile> ParseSeccompProfile(std::string_view name) {
  return ParseName<SeccompProfile>(kSeccompNames, name, "seccomp profile");
}

std::string_view NetworkModeName(NetworkMode mode) {
  return NameOf<NetworkMode>(kNetworkNames, mode);
}

std::string_view SecretDeliveryName(SecretDelivery delivery) {
  return NameOf<SecretDelivery>(kSecretDeliveryNames, delivery);
}

absl::StatusOr<SecretDelivery> ParseSecretDelivery(std::string_view name) {
  return ParseName<SecretDelivery>(kSecretDeliveryNames, name, "secret delivery");
}

absl::StatusOr<NetworkMode> ParseNetworkMode(std::string_view name) {
  return ParseName<NetworkMode>(kNetworkNames, name, "network mode");
}

std::string_view ControlName(Control control) { return NameOf<Control>(kControlNames, control); }

absl::StatusOr<Control> ParseControl(std::string_view name) {
  return ParseName<Control>(kControlNames, name, "control");
}

}  // namespace kavach
