// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach-init: a sandbox's init as a program of its own (see
// backend/process/init_exec.h). Static, embedded in libkavach and exec'd
// from a memfd by the host's CLONE_VM child, already in the sandbox's new
// user, pid and mount namespaces. It finds the control socket at fd 3 and
// its plan image at fd 4, decodes the plan into its own memory and runs
// RunInit, exactly as an init cloned from the host would.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>

#include "backend/process/init.h"
#include "backend/process/init_plan_codec.h"

int main() {
  using kavach::internal::kInitExitBadPlan;
  // The host blocked every signal around the clone (the mask survives exec).
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  if (::fcntl(3, F_SETFD, FD_CLOEXEC) != 0) _exit(kInitExitBadPlan);
  // Exec'd from a memfd, the name would be the fd's number.
  ::prctl(PR_SET_NAME, "kavach-init", 0, 0, 0);

  struct stat st;
  if (::fstat(4, &st) != 0 || st.st_size <= 0 ||
      static_cast<size_t>(st.st_size) > kavach::internal::kMaxInitPlanBytes) {
    _exit(kInitExitBadPlan);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  // Strings and file contents stay in this copy; RunInit wipes any secret
  // in it once the root is built.
  void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) _exit(kInitExitBadPlan);
  char* buf = static_cast<char*>(mem);
  size_t off = 0;
  while (off < size) {
    ssize_t n = ::pread(4, buf + off, size - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(kInitExitBadPlan);
    off += static_cast<size_t>(n);
  }
  ::close(4);
  static kavach::internal::DecodedInitPlan decoded;
  if (!kavach::internal::DecodeInitPlan(buf, size, &decoded)) _exit(kInitExitBadPlan);
  decoded.plan.control_fd = 3;
  kavach::internal::RunInit(decoded.plan);
}
