// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Small, errno-faithful helpers for reading and writing kernel files
// (/proc, /sys/fs/cgroup) and making pipes.
#ifndef KAVACH_LINUX_FILE_UTIL_H_
#define KAVACH_LINUX_FILE_UTIL_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"

namespace kavach::sys {

// Status from errno with a message "<what>: <strerror>", with the canonical
// code that fits the errno (ENOENT NotFound, EACCES/EPERM PermissionDenied,
// EINVAL InvalidArgument, ENOSPC/EMFILE ResourceExhausted, else Internal).
absl::Status ErrnoStatus(int err, std::string_view what);

absl::StatusOr<std::string> ReadFile(const std::string& path);
// Writes `data` with a single write(2) (as kernel files require), no O_CREAT.
absl::Status WriteKernelFile(const std::string& path, std::string_view data);
// Creates/truncates a regular file with `mode` and writes `data`.
absl::Status WriteFile(const std::string& path, std::string_view data, int mode = 0644);

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};
// O_CLOEXEC pipe.
absl::StatusOr<Pipe> MakePipe();

// Writes all of `data`, retrying on EINTR and short writes.
absl::Status WriteAll(int fd, std::string_view data);

// Makes `dir` with `mode` unless it exists, then refuses it unless it is a
// directory (not a link) owned by this euid that no one else can write:
// a directory someone else made first in a shared place (/tmp, /var/cache)
// must never be trusted. PermissionDenied names the directory.
absl::Status MakePrivateDir(const std::string& dir, mode_t mode);

// Removes `path` and, when it is a directory, everything below it, without
// following symlinks (a link is removed, never what it points at). A path
// that does not exist is OK; otherwise the first failure, naming the path.
absl::Status RemoveTree(const std::string& path);

// Finds an executable named `name` in $PATH (or `path_env` when given).
// Returns the full path or NotFound "<name> not found in PATH".
absl::StatusOr<std::string> FindInPath(std::string_view name, const char* path_env = nullptr);

}  // namespace kavach::sys

#endif  // KAVACH_LINUX_FILE_UTIL_H_
