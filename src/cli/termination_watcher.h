// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// TerminationWatcher: turns SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to the
// kavach process into a clean stop of its sandbox, so that ^C or a `kill`
// leaves no process, mount or cgroup behind.
//
//   TerminationWatcher watcher;            // blocks the signals, starts a thread
//   auto sandbox = Sandbox::Create(config);
//   watcher.Watch(sandbox->get());         // a signal now calls Stop()
//   ... Exec ...
//   watcher.Watch(nullptr);
//   if (int sig = watcher.signal()) { Destroy; return 128 + sig; }
//
// The signals are blocked in the calling thread (and so in the sandbox's
// helper processes, which reset their mask before running a command) and
// received by the watcher thread with sigtimedwait.
#ifndef KAVACH_CLI_TERMINATION_WATCHER_H_
#define KAVACH_CLI_TERMINATION_WATCHER_H_

#include <signal.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "kavach/sandbox.h"

namespace kavach::cli {

class TerminationWatcher final {
 public:
  TerminationWatcher();
  ~TerminationWatcher();  // Stops the thread and restores the signal mask.
  TerminationWatcher(const TerminationWatcher&) = delete;
  TerminationWatcher& operator=(const TerminationWatcher&) = delete;

  // The sandbox to Stop() when a signal arrives (nullptr: none). When a signal
  // came before this call, the new sandbox is stopped at once.
  void Watch(Sandbox* sandbox);

  // The first termination signal received, 0 if none.
  int signal() const { return signal_.load(); }

 private:
  void Run();

  sigset_t set_;
  sigset_t old_mask_;
  std::atomic<int> signal_{0};
  std::atomic<bool> done_{false};
  absl::Mutex mu_;
  Sandbox* sandbox_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace kavach::cli

#endif  // KAVACH_CLI_TERMINATION_WATCHER_H_
