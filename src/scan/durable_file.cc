// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/durable_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"

namespace kavach::internal {

absl::Status FileErrnoStatus(int err, std::string_view what) {
  std::string msg = absl::StrCat(ToAbsl(what), ": ", strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EINVAL:
    case ELOOP:
    case ENOTDIR:
      return absl::InvalidArgumentError(msg);
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EDQUOT:
    case EFBIG:
      return absl::ResourceExhaustedError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case EIO:
      return absl::DataLossError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status WriteAllToFd(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileErrnoStatus(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status FsyncDirectory(const std::string& dir) {
  sys::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return FileErrnoStatus(errno, absl::StrCat("open directory ", dir));
  if (::fsync(fd.get()) != 0) return FileErrnoStatus(errno, absl::StrCat("fsync ", dir));
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode,
                                 bool sync) {
  // A per-process counter keeps concurrent writers in one process apart; the
  // pid keeps processes apart. O_EXCL refuses a planted file or symlink.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid(), ".", counter.fetch_add(1));
  sys::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) return FileErrnoStatus(errno, absl::StrCat("create ", tmp));
  auto fail = [&](absl::Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  // The umask may have cleared bits we asked for; the mode is part of the contract.
  if (::fchmod(fd.get(), mode) != 0) return fail(FileErrnoStatus(errno, "fchmod " + tmp));
  if (absl::Status s = WriteAllToFd(fd.get(), data); !s.ok()) {
    return fail(absl::Status(s.code(), absl::StrCat(s.message(), " (", tmp, ")")));
  }
  if (sync && ::fsync(fd.get()) != 0) return fail(FileErrnoStatus(errno, "fsync " + tmp));
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(FileErrnoStatus(errno, absl::StrCat("rename ", tmp, " -> ", path)));
  }
  if (sync) return FsyncDirectory(DirName(path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, uint64_t max_bytes) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return FileErrnoStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FileErrnoStatus(errno, "fstat " + path);
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(path + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, " is ", st.st_size, " bytes, more than the limit of ", max_bytes));
  }
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileErrnoStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(path, " grew past ", max_bytes, " bytes"));
    }
  }
  return out;
}

}  // namespace kavach::internal
