// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// SandboxPool: prepared, Running sandboxes kept ready so a claim costs a
// pop from a vector instead of a Create.
//
// Sandboxes are always created outside the lock (Create can take
// milliseconds); `creating` counts those in flight so that Replenish and the
// background refiller together never overshoot the target.
#include <thread>

#include "absl/strings/str_cat.h"
#include "kavach/sandbox.h"

namespace kavach {
namespace {

absl::StatusOr<std::unique_ptr<Sandbox>> MakeRunning(const SandboxConfig& config) {
  absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = Sandbox::Create(config);
  if (!sandbox.ok()) return sandbox.status();
  if (absl::Status s = (*sandbox)->Start(); !s.ok()) return s;
  return sandbox;
}

}  // namespace

struct SandboxPool::Refiller {
  // Signalled when the pool shrinks, a creation finishes or the pool stops.
  absl::CondVar changed;
  size_t creating = 0;  // guarded by the pool's mu_
  std::thread thread;
};

SandboxPool::SandboxPool(SandboxConfig config, size_t target)
    : config_(std::move(config)), target_(target), refiller_(std::make_unique<Refiller>()) {}

absl::StatusOr<std::unique_ptr<SandboxPool>> SandboxPool::Create(SandboxConfig config,
                                                                 size_t target,
                                                                 bool background_refill) {
  std::unique_ptr<SandboxPool> pool(new SandboxPool(std::move(config), target));
  // Fill up front so the first claims are fast and a config that cannot make
  // a sandbox fails here, not at the first Claim.
  if (absl::Status s = pool->Replenish(); !s.ok()) return s;
  if (background_refill) {
    pool->background_ = true;
    SandboxPool* p = pool.get();
    pool->refiller_->thread = std::thread([p] { p->RefillLoop(); });
  }
  return pool;
}

SandboxPool::~SandboxPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    refiller_->changed.SignalAll();
  }
  if (refiller_->thread.joinable()) refiller_->thread.join();
  // Callers of Replenish/Claim still inside would be a use-after-free anyway;
  // the ready sandboxes are destroyed with ready_.
}

absl::StatusOr<std::unique_ptr<Sandbox>> SandboxPool::Claim() {
  {
    absl::MutexLock lock(&mu_);
    if (!ready_.empty()) {
      // LIFO: the most recently prepared sandbox is the warmest.
      std::unique_ptr<Sandbox> sandbox = std::move(ready_.back());
      ready_.pop_back();
      refiller_->changed.SignalAll();
      return sandbox;
    }
    refiller_->changed.SignalAll();
  }
  // Empty pool: make one for this caller alone, never shared.
  return MakeRunning(config_);
}

absl::Status SandboxPool::Replenish() {
  mu_.Lock();
  while (!stopping_ && ready_.size() < target_) {
    if (ready_.size() + refiller_->creating >= target_) {
      // Others are already making enough; wait for them to land.
      refiller_->changed.Wait(&mu_);
      continue;
    }
    ++refiller_->creating;
    mu_.Unlock();
    absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = MakeRunning(config_);
    mu_.Lock();
    --refiller_->creating;
    refiller_->changed.SignalAll();
    if (!sandbox.ok()) {
      mu_.Unlock();
      return sandbox.status();
    }
    ready_.push_back(*std::move(sandbox));
  }
  mu_.Unlock();
  return absl::OkStatus();
}

size_t SandboxPool::available() const {
  absl::MutexLock lock(&mu_);
  return ready_.size();
}

void SandboxPool::RefillLoop() {
  mu_.Lock();
  while (!stopping_) {
    if (ready_.size() + refiller_->creating >= target_) {
      refiller_->changed.Wait(&mu_);
      continue;
    }
    ++refiller_->creating;
    mu_.Unlock();
    absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = MakeRunning(config_);
    mu_.Lock();
    --refiller_->creating;
    refiller_->changed.SignalAll();
    if (sandbox.ok()) {
      ready_.push_back(*std::move(sandbox));
    } else {
      // A host that cannot make a sandbox now (pids, memory) may recover;
      // back off instead of spinning. Claim still reports the error itself.
      refiller_->changed.WaitWithTimeout(&mu_, absl::Milliseconds(200));
    }
  }
  mu_.Unlock();
}

}  // namespace kavach
