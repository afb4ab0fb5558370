// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"

namespace kavach {
namespace {

SandboxConfig NoopConfig() {
  SandboxConfig c;
  c.backend = BackendKind::kNoop;
  c.policy = SandboxPolicy::Minimal();
  return c;
}

std::unique_ptr<SandboxPool> MustCreatePool(size_t target, bool background = false) {
  absl::StatusOr<std::unique_ptr<SandboxPool>> p =
      SandboxPool::Create(NoopConfig(), target, background);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

TEST(SandboxPoolTest, CreateFillsToTarget) {
  std::unique_ptr<SandboxPool> pool = MustCreatePool(3);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->target(), 3u);
  EXPECT_EQ(pool->available(), 3u);
}

TEST(SandboxPoolTest, ClaimsAreDistinctAndRunning) {
  std::unique_ptr<SandboxPool> pool = MustCreatePool(3);
  ASSERT_NE(pool, nullptr);
  std::vector<std::unique_ptr<Sandbox>> claimed;
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {  // two more than the pool holds: made on demand
    absl::StatusOr<std::unique_ptr<Sandbox>> s = pool->Claim();
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ((*s)->state(), SandboxState::kRunning);
    ids.insert((*s)->id());
    claimed.push_back(*std::move(s));
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(pool->available(), 0u);
}

TEST(SandboxPoolTest, ReplenishRefills) {
  std::unique_ptr<SandboxPool> pool = MustCreatePool(2);
  ASSERT_NE(pool, nullptr);
  auto a = pool->Claim();
  auto b = pool->Claim();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(pool->available(), 0u);
  ASSERT_TRUE(pool->Replenish().ok());
  EXPECT_EQ(pool->available(), 2u);
  ASSERT_TRUE(pool->Replenish().ok());  // already full: no overshoot
  EXPECT_EQ(pool->available(), 2u);
  // The refilled sandboxes are new ones, not the claimed ones handed out again.
  auto c = pool->Claim();
  ASSERT_TRUE(c.ok());
  EXPECT_NE((*c)->id(), (*a)->id());
  EXPECT_NE((*c)->id(), (*b)->id());
}

TEST(SandboxPoolTest, UnavailableBackendFailsCreate) {
  SandboxConfig c = NoopConfig();
  c.backend = BackendKind::kSev;
  absl::StatusOr<std::unique_ptr<SandboxPool>> p = SandboxPool::Create(c, 2);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnavailable);
}

TEST(SandboxPoolTest, ConcurrentClaimsNeverShare) {
  std::unique_ptr<SandboxPool> pool = MustCreatePool(8, /*background=*/true);
  ASSERT_NE(pool, nullptr);
  constexpr int kThreads = 4;
  constexpr int kClaimsEach = 12;
  absl::Mutex mu;
  std::vector<std::unique_ptr<Sandbox>> all;  // kept alive so no id or address is reused
  int failures = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kClaimsEach; ++i) {
        absl::StatusOr<std::unique_ptr<Sandbox>> s = pool->Claim();
        absl::MutexLock lock(&mu);
        if (!s.ok()) {
          ++failures;
          continue;
        }
        all.push_back(*std::move(s));
      }
    });
  }
  std::thread replenisher([&] {
    for (int i = 0; i < 5; ++i) (void)pool->Replenish();
  });
  for (auto& t : threads) t.join();
  replenisher.join();
  EXPECT_EQ(failures, 0);
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kClaimsEach));
  std::set<std::string> ids;
  std::set<const Sandbox*> addresses;
  for (const auto& s : all) {
    ids.insert(s->id());
    addresses.insert(s.get());
    EXPECT_EQ(s->state(), SandboxState::kRunning);
  }
  EXPECT_EQ(ids.size(), all.size());
  EXPECT_EQ(addresses.size(), all.size());
}

TEST(SandboxPoolTest, BackgroundRefillReachesTarget) {
  std::unique_ptr<SandboxPool> pool = MustCreatePool(4, /*background=*/true);
  ASSERT_NE(pool, nullptr);
  std::vector<std::unique_ptr<Sandbox>> claimed;
  for (int i = 0; i < 4; ++i) {
    auto s = pool->Claim();
    ASSERT_TRUE(s.ok());
    claimed.push_back(*std::move(s));
  }
  // Nobody calls Replenish: only the background thread can refill. The
  // deadline only guards against a hang; it asserts nothing about speed.
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (pool->available() < 4 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(pool->available(), 4u);
  // And it stops at the target.
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(pool->available(), 4u);
}

TEST(SandboxPoolTest, DestructionWithBackgroundThreadIsClean) {
  for (int i = 0; i < 3; ++i) {
    std::unique_ptr<SandboxPool> pool = MustCreatePool(2, /*background=*/true);
    ASSERT_NE(pool, nullptr);
    auto s = pool->Claim();  // wakes the refiller, then we tear down at once
    ASSERT_TRUE(s.ok());
  }
}

TEST(SandboxPoolTest, ZeroTargetStillClaims) {
  std::unique_ptr<SandboxPool> pool = MustCreatePool(0);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->available(), 0u);
  auto s = pool->Claim();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->state(), SandboxState::kRunning);
}

}  // namespace
}  // namespace kavach
