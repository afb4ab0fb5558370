// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/capabilities.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/prctl.h>
#include <linux/securebits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "linux/file_util.h"

namespace kavach::sys {
namespace {

// prctl through syscall(2): glibc's prctl is a plain wrapper too, but going
// raw keeps every call here visibly free of library state.
long RawPrctl(int option, unsigned long a2 = 0, unsigned long a3 = 0, unsigned long a4 = 0,
              unsigned long a5 = 0) noexcept {
  return ::syscall(SYS_prctl, option, a2, a3, a4, a5);
}

constexpr unsigned long kWantedSecurebits =
    SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
    SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

constexpr int kFallbackLastCap = 40;  // CAP_CHECKPOINT_RESTORE, Linux 5.9+

}  // namespace

int LastCapability() {
  static const int last = [] {
    absl::StatusOr<std::string> text = ReadFile("/proc/sys/kernel/cap_last_cap");
    int v = 0;
    if (text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v) && v > 0 && v < 64) {
      return v;
    }
    return kFallbackLastCap;
  }();
  return last;
}

int SetNoNewPrivsRaw() noexcept { return RawPrctl(PR_SET_NO_NEW_PRIVS, 1) == 0 ? 0 : -errno; }

int DropBoundingSetRaw(int last_cap) noexcept {
  // Ambient first: it needs no privilege and cannot fail on a kernel that has
  // it (EINVAL means a pre-4.3 kernel without ambient capabilities).
  if (RawPrctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL) != 0 && errno != EINVAL) return -errno;

  bool dropped_any = false;
  for (int cap = 0; cap <= last_cap; ++cap) {
    long in_set = RawPrctl(PR_CAPBSET_READ, static_cast<unsigned long>(cap));
    if (in_set < 0) {
      if (errno == EINVAL) continue;  // beyond what this kernel knows
      return -errno;
    }
    if (in_set == 0) continue;
    if (RawPrctl(PR_CAPBSET_DROP, static_cast<unsigned long>(cap)) != 0) return -errno;
    dropped_any = true;
  }

  long bits = RawPrctl(PR_GET_SECUREBITS);
  if (bits < 0) return -errno;
  if ((static_cast<unsigned long>(bits) & kWantedSecurebits) != kWantedSecurebits) {
    if (RawPrctl(PR_SET_SECUREBITS, static_cast<unsigned long>(bits) | kWantedSecurebits) != 0) {
      // Without CAP_SETPCAP the bits cannot be set. If we could not drop
      // anything either, the bounding set was already empty and there is no
      // capability left that the bits would keep out.
      if (errno == EPERM && !dropped_any) return 0;
      return -errno;
    }
  }
  return 0;
}

int ClearCapabilitySetsRaw() noexcept {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) return -errno;
  if (RawPrctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL) != 0 && errno != EINVAL) return -errno;
  return 0;
}

int DropAllCapabilitiesRaw(int last_cap) noexcept {
  if (int rc = DropBoundingSetRaw(last_cap); rc != 0) return rc;
  return ClearCapabilitySetsRaw();
}

absl::StatusOr<ProcStatusSecurity> ParseProcStatusSecurity(const std::string& status) {
  ProcStatusSecurity out;
  bool seen_seccomp = false, seen_nnp = false, seen_eff = false, seen_prm = false, seen_bnd = false;
  for (absl::string_view line : absl::StrSplit(status, '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(':', 1));
    absl::string_view key = kv.first;
    absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    auto parse_int = [&](int* dst) -> absl::Status {
      if (!absl::SimpleAtoi(value, dst)) {
        return absl::InternalError(absl::StrCat("proc status: bad ", key, " value '", value, "'"));
      }
      return absl::OkStatus();
    };
    auto parse_hex = [&](uint64_t* dst) -> absl::Status {
      std::string v(value);
      char* end = nullptr;
      errno = 0;
      unsigned long long x = std::strtoull(v.c_str(), &end, 16);
      if (v.empty() || errno != 0 || end == nullptr || *end != '\0') {
        return absl::InternalError(absl::StrCat("proc status: bad ", key, " value '", value, "'"));
      }
      *dst = x;
      return absl::OkStatus();
    };
    absl::Status st;
    if (key == "Seccomp") {
      st = parse_int(&out.seccomp_mode);
      seen_seccomp = true;
    } else if (key == "Seccomp_filters") {
      st = parse_int(&out.seccomp_filters);
    } else if (key == "NoNewPrivs") {
      int v = 0;
      st = parse_int(&v);
      out.no_new_privs = v != 0;
      seen_nnp = true;
    } else if (key == "CapInh") {
      st = parse_hex(&out.cap_inh);
    } else if (key == "CapPrm") {
      st = parse_hex(&out.cap_prm);
      seen_prm = true;
    } else if (key == "CapEff") {
      st = parse_hex(&out.cap_eff);
      seen_eff = true;
    } else if (key == "CapBnd") {
      st = parse_hex(&out.cap_bnd);
      seen_bnd = true;
    } else if (key == "CapAmb") {
      st = parse_hex(&out.cap_amb);
    }
    if (!st.ok()) return st;
  }
  if (!seen_seccomp || !seen_nnp || !seen_eff || !seen_prm || !seen_bnd) {
    return absl::InternalError(
        "proc status: missing one of Seccomp, NoNewPrivs, CapEff, CapPrm, CapBnd");
  }
  return out;
}

absl::StatusOr<ProcStatusSecurity> ReadProcStatusSecurity(pid_t pid) {
  std::string path =
      pid == 0 ? std::string("/proc/self/status") : absl::StrCat("/proc/", pid, "/status");
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseProcStatusSecurity(*text);
}

}  // namespace kavach::sys
