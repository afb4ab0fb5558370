// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Landlock: unprivileged access control on paths, TCP ports and IPC scopes,
// at the best ABI the kernel offers, failing closed when a requested control
// needs a newer ABI.
//
//   LandlockSpec spec;
//   spec.paths = {{"/usr", kLandlockReadExec}, {"/work", kLandlockReadWrite},
//                 {"/lib64", kLandlockReadExec, /*optional=*/true}};
//   spec.connect_ports = std::vector<uint16_t>{443};
//   spec.scope_signal = true;
//   absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(spec);  // parent
//   ...  // in the child, after SetNoNewPrivsRaw():
//   if (rs->RestrictSelfRaw() != 0) _exit(127);
//
// File-system access is restricted only when `paths` is not empty: a spec of
// ports or scopes alone leaves files alone (handling every file right with no
// rule would deny all file access, which nobody asks for by omission).
#ifndef KAVACH_LINUX_LANDLOCK_H_
#define KAVACH_LINUX_LANDLOCK_H_

// src/ is on the include path, so this file shadows the kernel's
// <linux/landlock.h> for every translation unit of the project (libseccomp's
// <seccomp.h> includes it, for one). Pull the real one in first, so including
// either name gives both.
#include_next <linux/landlock.h>  // NOLINT(build/include)

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "linux/unique_fd.h"

namespace kavach::sys {

// File-system access rights (LANDLOCK_ACCESS_FS_*), spelled out here because
// Debian 12's <linux/landlock.h> stops at ABI 2.
inline constexpr uint64_t kLandlockFsExecute = 1ULL << 0;
inline constexpr uint64_t kLandlockFsWriteFile = 1ULL << 1;
inline constexpr uint64_t kLandlockFsReadFile = 1ULL << 2;
inline constexpr uint64_t kLandlockFsReadDir = 1ULL << 3;
inline constexpr uint64_t kLandlockFsRemoveDir = 1ULL << 4;
inline constexpr uint64_t kLandlockFsRemoveFile = 1ULL << 5;
inline constexpr uint64_t kLandlockFsMakeChar = 1ULL << 6;
inline constexpr uint64_t kLandlockFsMakeDir = 1ULL << 7;
inline constexpr uint64_t kLandlockFsMakeReg = 1ULL << 8;
inline constexpr uint64_t kLandlockFsMakeSock = 1ULL << 9;
inline constexpr uint64_t kLandlockFsMakeFifo = 1ULL << 10;
inline constexpr uint64_t kLandlockFsMakeBlock = 1ULL << 11;
inline constexpr uint64_t kLandlockFsMakeSym = 1ULL << 12;
inline constexpr uint64_t kLandlockFsRefer = 1ULL << 13;     // ABI 2
inline constexpr uint64_t kLandlockFsTruncate = 1ULL << 14;  // ABI 3
inline constexpr uint64_t kLandlockFsIoctlDev = 1ULL << 15;  // ABI 5

// Rights that make sense on a regular file (the kernel rejects others there).
inline constexpr uint64_t kLandlockFileRights = kLandlockFsExecute | kLandlockFsWriteFile |
                                                kLandlockFsReadFile | kLandlockFsTruncate |
                                                kLandlockFsIoctlDev;

// Convenience masks for rules; Create() trims them to what the ABI handles.
inline constexpr uint64_t kLandlockRead = kLandlockFsReadFile | kLandlockFsReadDir;
inline constexpr uint64_t kLandlockReadExec = kLandlockRead | kLandlockFsExecute;
inline constexpr uint64_t kLandlockReadWrite = (1ULL << 16) - 1;  // every right through ABI 7

// TCP rights (ABI 4).
inline constexpr uint64_t kLandlockNetBindTcp = 1ULL << 0;
inline constexpr uint64_t kLandlockNetConnectTcp = 1ULL << 1;
// Scopes (ABI 6).
inline constexpr uint64_t kLandlockScopeAbstractUnixSocket = 1ULL << 0;
inline constexpr uint64_t kLandlockScopeSignal = 1ULL << 1;
// landlock_restrict_self() flags (ABI 7) steering audit logs of denials.
// RestrictSelfRaw() passes 0, the kernel default: denials are logged until the
// next execve, i.e. for our own setup code, not for the sandboxed program.
inline constexpr uint32_t kLandlockRestrictSelfLogSameExecOff = 1U << 0;
inline constexpr uint32_t kLandlockRestrictSelfLogNewExecOn = 1U << 1;
inline constexpr uint32_t kLandlockRestrictSelfLogSubdomainsOff = 1U << 2;

// The Landlock ABI version of the running kernel, 0 when Landlock is not built
// in or not enabled in the LSM list. Queried once, then cached.
int LandlockAbiVersion();

// All file-system rights an ABI version can handle (0 for abi <= 0).
uint64_t HandledFsAccess(int abi);

struct LandlockPathRule {
  std::string path;
  uint64_t access = kLandlockRead;
  // Skip the rule when the path does not exist (for example /lib64), instead
  // of failing with NotFound.
  bool optional = false;
};

struct LandlockSpec {
  // Allowed paths; everything not beneath one of them is denied. Empty: the
  // file system is not restricted by Landlock.
  std::vector<LandlockPathRule> paths;
  // TCP ports that bind(2) / connect(2) may use. nullopt: not restricted;
  // empty list: none allowed. Requires ABI 4.
  std::optional<std::vector<uint16_t>> bind_ports;
  std::optional<std::vector<uint16_t>> connect_ports;
  // Requires ABI 6: no connecting to abstract unix sockets made outside the
  // sandbox's Landlock domain / no signals to processes outside it.
  bool scope_abstract_unix = false;
  bool scope_signal = false;
};

// A ready-to-apply ruleset: owns the ruleset fd. Build it before forking;
// apply it in the child with RestrictSelfRaw().
class LandlockRuleset final {
 public:
  // Builds the ruleset. Fails closed:
  //  - FailedPrecondition "landlock: ... requires ABI N, kernel has M" when the
  //    kernel lacks Landlock or a requested control needs a newer ABI;
  //  - NotFound naming the path for a missing non-optional path;
  //  - InvalidArgument for a spec that restricts nothing.
  // Rule rights are trimmed to what the ABI handles and, for a non-directory,
  // to the rights a file can have. `abi_override` pretends the kernel has that
  // ABI (tests only; it must not exceed the real one).
  static absl::StatusOr<LandlockRuleset> Create(const LandlockSpec& spec,
                                                std::optional<int> abi_override = std::nullopt);

  LandlockRuleset(LandlockRuleset&&) noexcept = default;
  LandlockRuleset& operator=(LandlockRuleset&&) noexcept = default;
  LandlockRuleset(const LandlockRuleset&) = delete;
  LandlockRuleset& operator=(const LandlockRuleset&) = delete;

  // landlock_restrict_self(fd, 0) via the raw syscall: the calling thread and
  // everything it starts afterwards are confined. Returns 0 or -errno. Needs
  // no_new_privs (or CAP_SYS_ADMIN). Async-signal-safe.
  [[nodiscard]] int RestrictSelfRaw() const noexcept;

  int abi() const { return abi_; }
  uint64_t handled_fs() const { return handled_fs_; }
  uint64_t handled_net() const { return handled_net_; }
  uint64_t scoped() const { return scoped_; }
  int fd() const { return fd_.get(); }
  // Optional paths that were absent and therefore got no rule.
  const std::vector<std::string>& skipped_paths() const { return skipped_paths_; }

 private:
  LandlockRuleset() = default;

  UniqueFd fd_;
  int abi_ = 0;
  uint64_t handled_fs_ = 0;
  uint64_t handled_net_ = 0;
  uint64_t scoped_ = 0;
  std::vector<std::string> skipped_paths_;
};

}  // namespace kavach::sys

#endif  // KAVACH_LINUX_LANDLOCK_H_
