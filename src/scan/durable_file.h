// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Crash-safe file helpers shared by the audit chain and the quarantine store.
//
//   RETURN_IF_ERROR(internal::WriteFileAtomically("/q/x/meta.json", json, 0600));
//
// WriteFileAtomically writes a temporary file next to the target (O_EXCL,
// the requested mode regardless of umask), fsyncs it, renames it over the
// target and fsyncs the directory, so a reader sees either the old or the new
// contents, never a mix, and the new contents survive a crash once it returns.
// scan/ does not link the linux/ layer, hence these few local helpers.
#ifndef KAVACH_SCAN_DURABLE_FILE_H_
#define KAVACH_SCAN_DURABLE_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kavach::internal {

// Status from errno: "<what>: <strerror>" with the canonical code that fits.
absl::Status FileErrnoStatus(int err, std::string_view what);

// Writes all of `data` to `fd`, retrying on EINTR and short writes.
[[nodiscard]] absl::Status WriteAllToFd(int fd, std::string_view data);

// See the file comment. `sync` false skips the fsyncs (rename stays atomic).
[[nodiscard]] absl::Status WriteFileAtomically(const std::string& path, std::string_view data,
                                               mode_t mode, bool sync = true);

// fsync(2) on a directory so a rename or create inside it is durable.
[[nodiscard]] absl::Status FsyncDirectory(const std::string& dir);

// Reads a whole regular file (O_NOFOLLOW). Fails with ResourceExhausted when it
// is larger than `max_bytes`.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          uint64_t max_bytes = uint64_t{1} << 32);

// The directory part of `path` ("." when there is none).
std::string DirName(const std::string& path);

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_DURABLE_FILE_H_
