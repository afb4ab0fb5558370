// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "sandbox/lifecycle.h"

#include <set>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach {
namespace {

using S = SandboxState;

constexpr S kAll[] = {S::kCreated, S::kRunning, S::kPaused, S::kStopped, S::kDestroyed};

// The table from the issue, written out independently of the implementation.
const std::set<std::pair<S, S>>& LegalPairs() {
  static const auto* legal = new std::set<std::pair<S, S>>{
      {S::kCreated, S::kRunning},   {S::kRunning, S::kPaused},    {S::kRunning, S::kStopped},
      {S::kRunning, S::kDestroyed}, {S::kPaused, S::kRunning},    {S::kPaused, S::kStopped},
      {S::kPaused, S::kDestroyed},  {S::kStopped, S::kDestroyed}, {S::kCreated, S::kDestroyed},
  };
  return *legal;
}

TEST(LifecycleTest, AllTwentyFivePairs) {
  int checked = 0;
  int legal = 0;
  for (S from : kAll) {
    for (S to : kAll) {
      bool expected = LegalPairs().count({from, to}) > 0;
      EXPECT_EQ(IsLegalTransition(from, to), expected)
          << SandboxStateName(from) << " -> " << SandboxStateName(to);
      absl::Status s = internal::CheckTransition(from, to);
      if (expected) {
        EXPECT_TRUE(s.ok()) << s;
        ++legal;
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 25);
  EXPECT_EQ(legal, 9);
}

TEST(LifecycleTest, SelfTransitionsAreIllegal) {
  for (S s : kAll) EXPECT_FALSE(IsLegalTransition(s, s)) << SandboxStateName(s);
}

TEST(LifecycleTest, DestroyedIsTerminal) {
  for (S to : kAll) EXPECT_FALSE(IsLegalTransition(S::kDestroyed, to));
}

TEST(LifecycleTest, ErrorNamesBothStates) {
  absl::Status s = internal::CheckTransition(S::kCreated, S::kPaused);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "lifecycle: created -> paused is not allowed");
}

TEST(LifecycleTest, StateNames) {
  EXPECT_EQ(SandboxStateName(S::kCreated), "created");
  EXPECT_EQ(SandboxStateName(S::kRunning), "running");
  EXPECT_EQ(SandboxStateName(S::kPaused), "paused");
  EXPECT_EQ(SandboxStateName(S::kStopped), "stopped");
  EXPECT_EQ(SandboxStateName(S::kDestroyed), "destroyed");
}

}  // namespace
}  // namespace kavach
