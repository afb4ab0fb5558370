// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// RunInChild: runs a test body in a forked child, for tests of controls that
// are per process and irreversible (seccomp, Landlock, capabilities).
// Test-only; shared by the linux/ and policy/ test suites.
#ifndef KAVACH_LINUX_TESTING_RUN_IN_CHILD_H_
#define KAVACH_LINUX_TESTING_RUN_IN_CHILD_H_

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

namespace kavach::test_support {

// Returns "" when `fn` returned "" in the child, else its message (or how
// the child died).
inline std::string RunInChild(const std::function<std::string()>& fn) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return "pipe2 failed";
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(p[0]);
    std::string err = fn();
    if (!err.empty()) (void)!::write(p[1], err.data(), err.size());
    ::_exit(err.empty() ? 0 : 1);
  }
  ::close(p[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return "child killed by signal " + std::to_string(WTERMSIG(status));
  if (WEXITSTATUS(status) != 0 && msg.empty()) {
    return "child exit " + std::to_string(WEXITSTATUS(status));
  }
  return msg;
}

}  // namespace kavach::test_support

#endif  // KAVACH_LINUX_TESTING_RUN_IN_CHILD_H_
