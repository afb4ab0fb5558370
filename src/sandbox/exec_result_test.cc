// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "gtest/gtest.h"
#include "kavach/sandbox.h"

namespace kavach {
namespace {

ExecResult Exited(int code) {
  ExecResult r;
  r.exit_code = code;
  return r;
}

TEST(ExecResultTest, ExitCodePassesThrough) {
  EXPECT_EQ(Exited(0).ShellStatus(), 0);
  EXPECT_EQ(Exited(3).ShellStatus(), 3);
  EXPECT_EQ(Exited(255).ShellStatus(), 255);
}

TEST(ExecResultTest, SignalIs128Plus) {
  ExecResult r;
  r.exit_code = -1;
  r.signal = 9;
  EXPECT_EQ(r.ShellStatus(), 137);
}

TEST(ExecResultTest, TimeoutIs124EvenWhenKilled) {
  ExecResult r;
  r.exit_code = -1;
  r.signal = 9;
  r.timed_out = true;
  EXPECT_EQ(r.ShellStatus(), 124);
}

TEST(ExecResultTest, OutOfRangeCodesNeverReadAsSuccess) {
  EXPECT_EQ(Exited(-1).ShellStatus(), 255);  // unknown outcome
  EXPECT_EQ(Exited(1000).ShellStatus(), 255);
}

}  // namespace
}  // namespace kavach
