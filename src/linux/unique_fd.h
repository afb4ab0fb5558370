// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// UniqueFd: the one owner of a file descriptor. Closes on destruction.
#ifndef KAVACH_LINUX_UNIQUE_FD_H_
#define KAVACH_LINUX_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace kavach::sys {

class UniqueFd final {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives up ownership without closing.
  [[nodiscard]] int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace kavach::sys

#endif  // KAVACH_LINUX_UNIQUE_FD_H_
