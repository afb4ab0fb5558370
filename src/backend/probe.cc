// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/probe.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "backend/microvm/microvm_backend.h"
#include "backend/oci/gvisor.h"
#include "backend/oci/oci_backend.h"
#include "backend/wasm/wasm_backend.h"
#include "linux/file_util.h"
#include "linux/strings.h"

namespace kavach {
namespace internal {
namespace {

constexpr char kNotBuilt[] = "not built in this version";

std::optional<std::string> ReadOptional(const std::string& path) {
  absl::StatusOr<std::string> content = sys::ReadFile(path);
  if (!content.ok()) return std::nullopt;
  return *std::move(content);
}

// Parses a /proc/sys integer; nullopt when malformed.
std::optional<int64_t> ParseKernelInt(const std::string& text) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &v)) return std::nullopt;
  return v;
}

// "runsc found at /usr/bin/runsc" or "runsc not found in PATH".
std::string ToolState(std::string_view tool) {
  absl::StatusOr<std::string> path = sys::FindInPath(tool);
  if (path.ok()) return absl::StrCat(ToAbsl(tool), " found at ", *path);
  return absl::StrCat(ToAbsl(tool), " not found in PATH");
}

std::string DeviceState(const std::string& dev) {
  struct stat st;
  if (::stat(dev.c_str(), &st) == 0) return absl::StrCat(dev, " present");
  return absl::StrCat(dev, " missing");
}

// "not built in this version (runsc not found in PATH; ...)".
BackendAvailability NotBuilt(BackendKind kind, const std::vector<std::string>& host) {
  BackendAvailability a;
  a.kind = kind;
  a.available = false;
  a.reason = absl::StrCat(kNotBuilt, " (", absl::StrJoin(host, "; "), ")");
  return a;
}

}  // namespace

ProcessHostFacts ReadProcessHostFacts() {
  ProcessHostFacts f;
  f.root = ::geteuid() == 0;
  f.max_user_namespaces = ReadOptional("/proc/sys/user/max_user_namespaces");
  f.unprivileged_userns_clone = ReadOptional("/proc/sys/kernel/unprivileged_userns_clone");
  f.apparmor_restrict_userns =
      ReadOptional("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  f.proc_self_status = ReadOptional("/proc/self/status");
  return f;
}

BackendAvailability ProbeProcessFrom(const ProcessHostFacts& facts) {
  BackendAvailability a;
  a.kind = BackendKind::kProcess;
  a.available = false;

  if (!facts.max_user_namespaces.has_value()) {
    a.reason = "user namespaces unsupported (/proc/sys/user/max_user_namespaces missing)";
    return a;
  }
  std::optional<int64_t> max_userns = ParseKernelInt(*facts.max_user_namespaces);
  if (!max_userns.has_value() || *max_userns <= 0) {
    a.reason = absl::StrCat("user namespaces disabled (user.max_user_namespaces = ",
                            absl::StripAsciiWhitespace(*facts.max_user_namespaces), ")");
    return a;
  }
  // Root may always create user namespaces; these two knobs only restrict
  // unprivileged users.
  if (!facts.root) {
    if (facts.unprivileged_userns_clone.has_value()) {
      std::optional<int64_t> v = ParseKernelInt(*facts.unprivileged_userns_clone);
      if (v.has_value() && *v == 0) {
        a.reason = "unprivileged user namespaces disabled (kernel.unprivileged_userns_clone = 0)";
        return a;
      }
    }
    if (facts.apparmor_restrict_userns.has_value()) {
      std::optional<int64_t> v = ParseKernelInt(*facts.apparmor_restrict_userns);
      if (v.has_value() && *v != 0) {
        a.reason =
            "unprivileged user namespaces restricted by AppArmor "
            "(kernel.apparmor_restrict_unprivileged_userns = 1)";
        return a;
      }
    }
  }

  bool seccomp = false;
  if (facts.proc_self_status.has_value()) {
    for (absl::string_view line : absl::StrSplit(*facts.proc_self_status, '\n')) {
      if (absl::StartsWith(line, "Seccomp:")) seccomp = true;
    }
  }
  if (!seccomp) {
    a.reason = "seccomp unsupported (no Seccomp line in /proc/self/status)";
    return a;
  }

  a.available = true;
  a.reason = absl::StrCat("user namespaces (max ", *max_userns, "), seccomp",
                          facts.root ? "; running as root" : "; running unprivileged");
  return a;
}

}  // namespace internal

BackendAvailability Probe(BackendKind kind) {
  using internal::NotBuilt;
  using internal::ToolState;
  switch (kind) {
    case BackendKind::kProcess:
      return internal::ProbeProcessFrom(internal::ReadProcessHostFacts());
    case BackendKind::kNoop:
      return BackendAvailability{kind, true, "no isolation (for tests)"};
    case BackendKind::kGVisor:
      return internal::ProbeGVisor();
    case BackendKind::kOci:
      return internal::ProbeOci();
    case BackendKind::kFirecracker:
      return internal::ProbeMicroVm();
    case BackendKind::kWasm: {
      // node >= 18 and the runner, and the Process backend: the engine runs
      // inside its jail.
      BackendAvailability a = internal::ProbeWasm();
      if (!a.available) return a;
      BackendAvailability jail = internal::ProbeProcessFrom(internal::ReadProcessHostFacts());
      if (!jail.available) {
        a.available = false;
        a.reason = absl::StrCat(a.reason, "; but the process jail is unavailable: ", jail.reason);
      }
      return a;
    }
    case BackendKind::kSgx:
      return NotBuilt(kind, {internal::DeviceState("/dev/sgx_enclave")});
    case BackendKind::kSev:
      return NotBuilt(kind, {internal::DeviceState("/dev/sev")});
    case BackendKind::kTdx:
      return NotBuilt(kind, {internal::DeviceState("/dev/tdx_guest")});
    case BackendKind::kSyAgnos:
      return NotBuilt(kind, {ToolState("qemu-system-x86_64"), ToolState("swtpm")});
  }
  return BackendAvailability{kind, false, "unknown backend kind"};
}

}  // namespace kavach
