// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/process/netns_pool.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "linux/file_util.h"

namespace kavach::internal {
namespace {

// Namespaces kept ready: one for the sandbox being made and one for the next
// (each costs a little kernel memory while it waits).
constexpr size_t kReady = 2;

}  // namespace

NetnsPool& NetnsPool::Global() {
  static NetnsPool* pool = new NetnsPool();  // never destroyed: its thread outlives main
  return *pool;
}

absl::StatusOr<sys::UniqueFd> NetnsPool::MakeNamespace() {
  sys::UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return sys::ErrnoStatus(errno, "open /proc/thread-self/ns/net");
  if (::unshare(CLONE_NEWNET) != 0) return sys::ErrnoStatus(errno, "unshare(CLONE_NEWNET)");
  sys::UniqueFd made(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  const int open_errno = errno;
  // Loopback up, as init's helper does for a namespace of its own.
  bool lo_up = false;
  int lo_errno = 0;
  if (made) {
    sys::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct ifreq ifr = {};
    std::strncpy(ifr.ifr_name, "lo", sizeof ifr.ifr_name - 1);
    if (sock && ::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) == 0) {
      ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
      lo_up = ::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) == 0;
    }
    lo_errno = errno;
  }
  if (::setns(home.get(), CLONE_NEWNET) != 0) {
    // The thread is stuck in the namespace it made: the caller must not let
    // it open another socket (the pool's thread ends here).
    return sys::ErrnoStatus(errno, "return to the process's network namespace");
  }
  if (!made) return sys::ErrnoStatus(open_errno, "open the new network namespace");
  if (!lo_up) return sys::ErrnoStatus(lo_errno, "bring up lo in the new network namespace");
  return made;
}

sys::UniqueFd NetnsPool::Take() {
  absl::MutexLock lock(&mu_);
  if (!unavailable_.empty()) return sys::UniqueFd();
  if (!started_) {
    // The first sandbox of a process starts nothing: a one-shot process (the
    // CLI) would pay for a namespace made in the background and torn down at
    // exit, CPU taken from the sandbox it is making. From the second on, a
    // process is making sandboxes one after another.
    if (++requests_ < 2) return sys::UniqueFd();
    started_ = true;
    if (::geteuid() != 0) {
      unavailable_ = "not root: init's helper makes each sandbox's network namespace";
      return sys::UniqueFd();
    }
    std::thread([this] { Fill(); }).detach();
    return sys::UniqueFd();
  }
  if (ready_.empty()) return sys::UniqueFd();
  sys::UniqueFd fd = std::move(ready_.front());
  ready_.pop_front();
  return fd;
}

std::string NetnsPool::unavailable_reason() {
  absl::MutexLock lock(&mu_);
  return unavailable_;
}

void NetnsPool::Fill() {
  // Only on otherwise idle CPU time: a refill right after a Take would
  // compete with the sandbox being made (its init, on the other CPU of a
  // 2-core machine) for the 0.5-1 ms a namespace costs.
  struct sched_param idle = {};
  (void)::sched_setscheduler(0, SCHED_IDLE, &idle);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](std::deque<sys::UniqueFd>* ready) { return ready->size() < kReady; }, &ready_));
    }
    absl::StatusOr<sys::UniqueFd> made = MakeNamespace();
    absl::MutexLock lock(&mu_);
    if (!made.ok()) {
      // Inside a container without CAP_SYS_ADMIN, or a kernel without
      // network namespaces: init's helper makes (or reports) them instead.
      unavailable_ = std::string(made.status().message());
      return;
    }
    ready_.push_back(*std::move(made));
  }
}

}  // namespace kavach::internal
