// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <utility>

#include "absl/strings/str_cat.h"
#include "linux/file_util.h"

#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef LANDLOCK_RULE_PATH_BENEATH
#define LANDLOCK_RULE_PATH_BENEATH 1
#endif
#ifndef LANDLOCK_RULE_NET_PORT
#define LANDLOCK_RULE_NET_PORT 2
#endif

namespace kavach::sys {
namespace {

// The kernel's structs as of ABI 6/7. Debian 12's header has only the first
// field of the ruleset attribute; the kernel accepts our larger struct and
// reads the fields it knows (older kernels require the extra bytes be zero).
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;  // ABI 4
  uint64_t scoped;              // ABI 6
};
struct __attribute__((packed)) PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};
struct NetPortAttr {
  uint64_t allowed_access;
  uint64_t port;
};

// The size to hand the kernel for a given ABI: an ABI-3 kernel rejects a
// larger struct only if the extra bytes are non-zero, but passing the size the
// ABI defines keeps that failure mode out of the picture.
size_t RulesetAttrSize(int abi) {
  if (abi >= 6) return sizeof(RulesetAttr);
  if (abi >= 4) return offsetof(RulesetAttr, scoped);
  return offsetof(RulesetAttr, handled_access_net);
}

int QueryAbi() {
  long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v > 0 ? static_cast<int>(v) : 0;
}

absl::Status NeedsAbi(std::string_view what, int needed, int have) {
  return absl::FailedPreconditionError(
      absl::StrCat("landlock: ", ToAbsl(what), " requires ABI ", needed, ", kernel has ", have));
}

}  // namespace

int LandlockAbiVersion() {
  static const int abi = QueryAbi();
  return abi;
}

uint64_t HandledFsAccess(int abi) {
  if (abi <= 0) return 0;
  uint64_t rights = (1ULL << 13) - 1;  // ABI 1: EXECUTE .. MAKE_SYM
  if (abi >= 2) rights |= kLandlockFsRefer;
  if (abi >= 3) rights |= kLandlockFsTruncate;
  if (abi >= 5) rights |= kLandlockFsIoctlDev;
  return rights;
}

absl::StatusOr<LandlockRuleset> LandlockRuleset::Create(const LandlockSpec& spec,
                                                        std::optional<int> abi_override) {
  const int kernel_abi = LandlockAbiVersion();
  int abi = kernel_abi;
  if (abi_override.has_value()) {
    if (*abi_override > kernel_abi) {
      return absl::InvalidArgumentError(absl::StrCat("landlock: ABI override ", *abi_override,
                                                     " exceeds the kernel's ABI ", kernel_abi));
    }
    abi = *abi_override;
  }
  if (abi <= 0) return NeedsAbi("file-system rules", 1, abi);
  const bool ports = spec.bind_ports.has_value() || spec.connect_ports.has_value();
  if (ports && abi < 4) return NeedsAbi("TCP port rules", 4, abi);
  if (spec.scope_abstract_unix && abi < 6) return NeedsAbi("abstract unix socket scope", 6, abi);
  if (spec.scope_signal && abi < 6) return NeedsAbi("signal scope", 6, abi);

  LandlockRuleset rs;
  rs.abi_ = abi;
  rs.handled_fs_ = spec.paths.empty() ? 0 : HandledFsAccess(abi);
  if (spec.bind_ports.has_value()) rs.handled_net_ |= kLandlockNetBindTcp;
  if (spec.connect_ports.has_value()) rs.handled_net_ |= kLandlockNetConnectTcp;
  if (spec.scope_abstract_unix) rs.scoped_ |= kLandlockScopeAbstractUnixSocket;
  if (spec.scope_signal) rs.scoped_ |= kLandlockScopeSignal;
  if (rs.handled_fs_ == 0 && rs.handled_net_ == 0 && rs.scoped_ == 0) {
    return absl::InvalidArgumentError("landlock: the spec restricts nothing");
  }

  RulesetAttr attr{rs.handled_fs_, rs.handled_net_, rs.scoped_};
  long fd = ::syscall(SYS_landlock_create_ruleset, &attr, RulesetAttrSize(abi), 0U);
  if (fd < 0) return ErrnoStatus(errno, "landlock: create ruleset");
  rs.fd_.Reset(static_cast<int>(fd));

  for (const LandlockPathRule& rule : spec.paths) {
    UniqueFd pfd(::open(rule.path.c_str(), O_PATH | O_CLOEXEC));
    if (!pfd) {
      if (errno == ENOENT && rule.optional) {
        rs.skipped_paths_.push_back(rule.path);
        continue;
      }
      if (errno == ENOENT) {
        return absl::NotFoundError(absl::StrCat("landlock: path ", rule.path, " does not exist"));
      }
      return ErrnoStatus(errno, absl::StrCat("landlock: open ", rule.path));
    }
    struct stat st;
    if (::fstat(pfd.get(), &st) != 0) {
      return ErrnoStatus(errno, absl::StrCat("landlock: stat ", rule.path));
    }
    uint64_t access = rule.access & rs.handled_fs_;
    // Directory-only rights on a file make the kernel fail with EINVAL.
    if (!S_ISDIR(st.st_mode)) access &= kLandlockFileRights;
    if (access == 0) continue;  // nothing this ABI can grant here
    PathBeneathAttr pb{access, pfd.get()};
    if (::syscall(SYS_landlock_add_rule, rs.fd_.get(), LANDLOCK_RULE_PATH_BENEATH, &pb, 0U) != 0) {
      return ErrnoStatus(errno, absl::StrCat("landlock: add rule for ", rule.path));
    }
  }

  auto add_ports = [&](const std::optional<std::vector<uint16_t>>& ports_list, uint64_t right,
                       std::string_view what) -> absl::Status {
    if (!ports_list.has_value()) return absl::OkStatus();
    for (uint16_t port : *ports_list) {
      NetPortAttr np{right, port};
      if (::syscall(SYS_landlock_add_rule, rs.fd_.get(), LANDLOCK_RULE_NET_PORT, &np, 0U) != 0) {
        return ErrnoStatus(errno, absl::StrCat("landlock: add ", ToAbsl(what), " port ", port));
      }
    }
    return absl::OkStatus();
  };
  if (absl::Status s = add_ports(spec.bind_ports, kLandlockNetBindTcp, "bind"); !s.ok()) return s;
  if (absl::Status s = add_ports(spec.connect_ports, kLandlockNetConnectTcp, "connect"); !s.ok()) {
    return s;
  }
  return rs;
}

int LandlockRuleset::RestrictSelfRaw() const noexcept {
  if (!fd_.valid()) return -EBADF;
  long rc = ::syscall(SYS_landlock_restrict_self, fd_.get(), 0U);
  return rc == 0 ? 0 : -errno;
}

}  // namespace kavach::sys
