// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Network namespaces made ahead of time, so that a new sandbox does not wait
// for one.
//
// A network namespace is the costliest namespace to create: every protocol's
// per-namespace set-up runs (0.5-1 ms of CPU here), and since the root
// template (root_template.h) made the rest of init's set-up short, init spent
// most of its time waiting for the helper that unshares it. In a process
// that makes sandboxes one after another (a service, a pool refilling), a
// background thread keeps a couple of fresh namespaces ready: each is made
// by the thread unsharing into it, bringing its loopback up and returning to
// the process's own namespace. The host's clone of init then starts init in
// one (setns on the cloning thread around clone3), and every namespace is
// used by one sandbox only, so nothing carries over between sandboxes.
//
// Such a namespace belongs to the host's user namespace, not the sandbox's:
// nothing inside, init included, holds a capability over it, so no one
// inside can add an interface, change a route or a sysctl. (A namespace
// init makes itself belongs to the sandbox's user namespace, where init has
// CAP_NET_ADMIN; the commands never do.) Root only: an unprivileged host can
// neither setns into such a namespace nor make one outside a user namespace,
// and init's helper makes the namespace as before.
#ifndef KAVACH_BACKEND_PROCESS_NETNS_POOL_H_
#define KAVACH_BACKEND_PROCESS_NETNS_POOL_H_

#include <deque>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "linux/unique_fd.h"

namespace kavach::internal {

class NetnsPool {
 public:
  static NetnsPool& Global();

  // A fresh network namespace with its loopback up (an nsfs fd), or an
  // invalid fd when none is ready and the caller makes its own. The second
  // request of a process starts the pool: a process that makes one sandbox
  // never pays for a thread or a namespace it would not use.
  sys::UniqueFd Take();

  // Why the pool makes nothing here, or "" (tests).
  std::string unavailable_reason();

  // Makes one namespace now, in the calling thread, and returns it (the
  // pool's thread; tests). Fails without privilege. Should the thread fail to
  // return to its own namespace afterwards (an error saying so), it is left
  // in the new one and must not be used for networking again.
  static absl::StatusOr<sys::UniqueFd> MakeNamespace();

 private:
  void Fill();

  absl::Mutex mu_;
  std::deque<sys::UniqueFd> ready_ ABSL_GUARDED_BY(mu_);
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::string unavailable_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_NETNS_POOL_H_
