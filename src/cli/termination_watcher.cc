// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "cli/termination_watcher.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

namespace kavach::cli {

TerminationWatcher::TerminationWatcher() {
  sigemptyset(&set_);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set_, sig);
  pthread_sigmask(SIG_BLOCK, &set_, &old_mask_);
  thread_ = std::thread([this] { Run(); });
}

TerminationWatcher::~TerminationWatcher() {
  done_.store(true);
  // Wake the watcher at once instead of waiting out its tick: a signal sent
  // to that thread alone, which it sees with done_ set and ignores.
  pthread_kill(thread_.native_handle(), SIGHUP);
  thread_.join();
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void TerminationWatcher::Watch(Sandbox* sandbox) {
  absl::MutexLock lock(&mu_);
  sandbox_ = sandbox;
  if (sandbox_ != nullptr && signal_.load() != 0) (void)sandbox_->Stop();
}

void TerminationWatcher::Run() {
  // Polls so the destructor can end the thread without sending a signal.
  const timespec tick = {0, 50'000'000};
  while (!done_.load()) {
    const int sig = sigtimedwait(&set_, nullptr, &tick);
    if (sig <= 0 || done_.load()) continue;
    int expected = 0;
    signal_.compare_exchange_strong(expected, sig);
    absl::MutexLock lock(&mu_);
    // Stopping kills everything inside; the main thread's Exec then returns
    // and it destroys the sandbox.
    if (sandbox_ != nullptr) (void)sandbox_->Stop();
  }
}

}  // namespace kavach::cli
