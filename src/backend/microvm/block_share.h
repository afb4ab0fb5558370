// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Shares carried on block devices (VmDrive): Firecracker has no 9p, and QEMU
// can use the same path. A read-only share is a squashfs image of the host
// directory, built once and cached; a read-write share is an ext4 image
// populated from the host directory and copied back into it, in user space,
// after the VM has stopped.
//
//   absl::StatusOr<SquashfsImage> ro = EnsureSquashfsImage("/usr", cache_dir);
//   absl::Status s = MakeExt4Image(workdir, state + "/work.ext4", 1ull << 30);
//   ... boot, run, stop the VM ...
//   absl::StatusOr<CopyOutReport> r = CopyOutExt4Image(state + "/work.ext4", workdir);
//
// Tools: mksquashfs (squashfs-tools), mke2fs and debugfs (e2fsprogs). A
// missing tool is FailedPrecondition naming its package; a tool that fails
// is an error naming the tool and quoting its stderr.
#ifndef KAVACH_BACKEND_MICROVM_BLOCK_SHARE_H_
#define KAVACH_BACKEND_MICROVM_BLOCK_SHARE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kavach::internal {

struct SquashfsImage {
  std::string path;  // <cache>/<key>.squashfs
  std::string key;
  bool built = false;  // this call built it (else a cache hit)
};

// The cache key of a directory's squashfs image (see block_share.cc for what
// it covers and why it does not hash the content). Trees of more than
// `full_budget` entries get the cheap key (a parameter for tests).
inline constexpr size_t kSquashfsFullStampBudget = 20000;
absl::StatusOr<std::string> SquashfsCacheKey(const std::string& host_dir,
                                             size_t full_budget = kSquashfsFullStampBudget);

// Returns the cached squashfs image of `host_dir`, building it when missing
// (temp file + rename, so concurrent builders never see half an image).
// Owners, modes (setuid bits included: the guest mounts it nosuid) and
// times are kept; extended attributes are not.
absl::StatusOr<SquashfsImage> EnsureSquashfsImage(const std::string& host_dir,
                                                  const std::string& cache_dir);

// Default size of a read-write share's image (a sparse file).
inline constexpr uint64_t kDefaultExt4ImageBytes = 4ull << 30;

// Writes a sparse ext4 image of `size_bytes` holding `host_dir`'s tree, and
// beside it <image>.manifest: the relative paths it was populated with (so
// copy-out deletes only what the guest deleted, not what appeared on the
// host meanwhile). No journal: the guest mounts it synchronously, so what a
// command wrote is in place when the VM is killed.
absl::Status MakeExt4Image(const std::string& host_dir, const std::string& image,
                           uint64_t size_bytes = kDefaultExt4ImageBytes);

struct CopyOutReport {
  uint64_t files_written = 0;  // new or changed regular files
  uint64_t files_unchanged = 0;
  uint64_t dirs_created = 0;
  uint64_t links_written = 0;
  uint64_t removed = 0;               // entries the guest deleted
  std::vector<std::string> dropped;   // "<relpath>: why" for each refused entry
  std::vector<std::string> stripped;  // "<relpath>: mode" for setuid/setgid/sticky bits removed
};

// Extracts the ext4 image's tree into `host_dir` after the VM has stopped.
// Never mounts the image on the host (a guest-written file system is
// hostile input for the host kernel); debugfs reads it in user space, in a
// private mount namespace chrooted into a scratch tmpfs (see the .cc), then
// the result is merged into host_dir:
// - regular files, directories: written (temp + rename) with permission
//   bits only (setuid/setgid/sticky stripped and reported), owned by
//   host_dir's owner, times kept; unchanged files (same size, mtime, mode)
//   are left alone;
// - symlinks: kept when relative, with ".." only as leading components and
//   not climbing above host_dir (so no chain of them leads out), else dropped;
// - device nodes, fifos, sockets: dropped (debugfs does not dump them);
// - entries the image no longer has: removed from host_dir when the
//   manifest says they were put in the image, kept otherwise;
// - the image's top-level lost+found is ignored.
// Nothing is followed through a symlink on the host side.
absl::StatusOr<CopyOutReport> CopyOutExt4Image(const std::string& image,
                                               const std::string& host_dir);

// Runs a tool (looked up in PATH plus the sbin directories) with stdin
// /dev/null. Error: FailedPrecondition naming `package` when the tool is
// missing; Internal "<tool> exited N: <stderr>" when it fails;
// DeadlineExceeded (the tool killed) when it runs past `timeout`.
absl::StatusOr<std::string> RunTool(const std::vector<std::string>& argv,
                                    const std::string& package,
                                    absl::Duration timeout = absl::InfiniteDuration());

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_BLOCK_SHARE_H_
