// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "kavach/score.h"

#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

int Sum(const StrengthScore& s) {
  int total = 0;
  for (const ScoreItem& item : s.breakdown) total += item.points;
  return total;
}

TEST(Score, BaseScores) {
  EXPECT_EQ(BaseScore(BackendKind::kNoop), 0);
  EXPECT_EQ(BaseScore(BackendKind::kProcess), 50);
  EXPECT_EQ(BaseScore(BackendKind::kOci), 55);
  EXPECT_EQ(BaseScore(BackendKind::kWasm), 65);
  EXPECT_EQ(BaseScore(BackendKind::kGVisor), 70);
  EXPECT_EQ(BaseScore(BackendKind::kSgx), 80);
  EXPECT_EQ(BaseScore(BackendKind::kSyAgnos), 80);
  EXPECT_EQ(BaseScore(BackendKind::kSev), 82);
  EXPECT_EQ(BaseScore(BackendKind::kTdx), 85);
  EXPECT_EQ(BaseScore(BackendKind::kFirecracker), 90);
}

// The original's computed matrix (spec §3.3), every cell.
TEST(Score, DeclaredMatrixMatchesTheOriginal) {
  struct Row {
    BackendKind kind;
    int minimal, basic, strict;
  };
  const Row rows[] = {
      {BackendKind::kNoop, 5, 10, 19},     {BackendKind::kProcess, 55, 60, 69},
      {BackendKind::kOci, 60, 65, 74},     {BackendKind::kWasm, 70, 75, 84},
      {BackendKind::kGVisor, 75, 80, 89},  {BackendKind::kSgx, 85, 90, 99},
      {BackendKind::kSyAgnos, 85, 90, 99}, {BackendKind::kSev, 87, 92, 100},
      {BackendKind::kTdx, 90, 95, 100},    {BackendKind::kFirecracker, 95, 100, 100},
  };
  ASSERT_EQ(std::size(rows), AllBackendKinds().size());
  for (const Row& r : rows) {
    SCOPED_TRACE(BackendKindName(r.kind));
    StrengthScore m = DeclaredScore(r.kind, SandboxPolicy::Minimal());
    StrengthScore b = DeclaredScore(r.kind, SandboxPolicy::Basic());
    StrengthScore s = DeclaredScore(r.kind, SandboxPolicy::Strict());
    EXPECT_EQ(m.value, r.minimal);
    EXPECT_EQ(b.value, r.basic);
    EXPECT_EQ(s.value, r.strict);
    EXPECT_EQ(Sum(m), m.value);
    EXPECT_EQ(Sum(b), b.value);
    EXPECT_EQ(Sum(s), s.value);
  }
}

TEST(Score, StrictBreakdownForProcess) {
  StrengthScore s = DeclaredScore(BackendKind::kProcess, SandboxPolicy::Strict());
  EXPECT_EQ(s.ToString(), "69 (standard)");
  EXPECT_THAT(s.breakdown,
              ElementsAre(Field(&ScoreItem::name, "base:process"),
                          Field(&ScoreItem::name, "seccomp:strict"),
                          Field(&ScoreItem::name, "network isolated"),
                          Field(&ScoreItem::name, "read-only root"),
                          Field(&ScoreItem::name, "memory/cpu limits"),
                          Field(&ScoreItem::name, "landlock scope: abstract unix socket"),
                          Field(&ScoreItem::name, "landlock scope: signal")));
}

TEST(Score, ClampIsVisibleInTheBreakdown) {
  StrengthScore s = DeclaredScore(BackendKind::kFirecracker, SandboxPolicy::Strict());
  EXPECT_EQ(s.value, 100);
  ASSERT_FALSE(s.breakdown.empty());
  EXPECT_EQ(s.breakdown.back().name, "clamp to 100");
  EXPECT_EQ(s.breakdown.back().points, -9);
  EXPECT_EQ(Sum(s), 100);
}

TEST(Score, EachModifier) {
  const int base = DeclaredScore(BackendKind::kNoop,
                                 [] {
                                   SandboxPolicy p;
                                   p.network.mode = NetworkMode::kHost;
                                   return p;
                                 }())
                       .value;
  EXPECT_EQ(base, 0);
  auto score = [](auto mutate) {
    SandboxPolicy p;
    p.network.mode = NetworkMode::kHost;
    mutate(p);
    return DeclaredScore(BackendKind::kNoop, p).value;
  };
  EXPECT_EQ(score([](SandboxPolicy& p) { p.seccomp = SeccompProfile::kBasic; }), 5);
  EXPECT_EQ(score([](SandboxPolicy& p) { p.network.mode = NetworkMode::kNone; }), 5);
  EXPECT_EQ(score([](SandboxPolicy& p) { p.filesystem.read_only_root = true; }), 3);
  EXPECT_EQ(score([](SandboxPolicy& p) { p.limits.memory_bytes = 1 << 30; }), 2);
  EXPECT_EQ(score([](SandboxPolicy& p) { p.limits.cpu_cores = 2; }), 2);
  EXPECT_EQ(score([](SandboxPolicy& p) {
              p.limits.cpu_cores = 2;
              p.limits.memory_bytes = 1 << 30;
            }),
            2);
  EXPECT_EQ(score([](SandboxPolicy& p) { p.limits.max_pids = 10; }), 0);
  EXPECT_EQ(score([](SandboxPolicy& p) { p.network.tcp_bind_ports = std::vector<uint16_t>{}; }), 3);
  EXPECT_EQ(score([](SandboxPolicy& p) {
              p.network.tcp_bind_ports = std::vector<uint16_t>{80};
              p.network.tcp_connect_ports = std::vector<uint16_t>{443};
            }),
            3);
  EXPECT_EQ(score([](SandboxPolicy& p) { p.landlock_scopes.signal = true; }), 2);
  EXPECT_EQ(score([](SandboxPolicy& p) { p.landlock_scopes.abstract_unix_socket = true; }), 2);
  // Landlock rules need Landlock on and at least one explicit path.
  EXPECT_EQ(score([](SandboxPolicy& p) { p.filesystem.landlock = true; }), 0);
  EXPECT_EQ(score([](SandboxPolicy& p) { p.filesystem.read_only = {"/data"}; }), 0);
  EXPECT_EQ(score([](SandboxPolicy& p) {
              p.filesystem.landlock = true;
              p.filesystem.read_only = {"/data"};
            }),
            3);
  EXPECT_EQ(score([](SandboxPolicy& p) {
              p.filesystem.landlock = true;
              p.filesystem.executable = {"/opt/bin"};
            }),
            3);
}

TEST(Score, FullyLoadedPolicyEarnsTheMaximumBonus) {
  SandboxPolicy p = SandboxPolicy::Strict();
  p.filesystem.read_write = {"/data"};
  p.network.tcp_connect_ports = std::vector<uint16_t>{443};
  StrengthScore s = DeclaredScore(BackendKind::kNoop, p);
  EXPECT_EQ(s.value, 25);
  EXPECT_EQ(Sum(s), 25);
}

TEST(Score, Labels) {
  EXPECT_EQ(ScoreLabel(0), "minimal");
  EXPECT_EQ(ScoreLabel(29), "minimal");
  EXPECT_EQ(ScoreLabel(30), "basic");
  EXPECT_EQ(ScoreLabel(49), "basic");
  EXPECT_EQ(ScoreLabel(50), "standard");
  EXPECT_EQ(ScoreLabel(69), "standard");
  EXPECT_EQ(ScoreLabel(70), "hardened");
  EXPECT_EQ(ScoreLabel(84), "hardened");
  EXPECT_EQ(ScoreLabel(85), "fortress");
  EXPECT_EQ(ScoreLabel(100), "fortress");
  EXPECT_EQ(ScoreLabel(101), "unknown");
  EXPECT_EQ(ScoreLabel(-1), "unknown");
  StrengthScore s;
  s.value = 75;
  EXPECT_EQ(s.Label(), "hardened");
  EXPECT_EQ(s.ToString(), "75 (hardened)");
  s.value = 101;
  EXPECT_EQ(s.ToString(), "101 (unknown)");
}

TEST(Score, VerifiedSumsOnlyVerifiedItems) {
  std::vector<Evidence> ev = {
      {"base:process", true, "process backend", 50},
      {"seccomp", true, "Seccomp: 2", 5},
      {"namespace.net", false, "same inode as host", 5},
      {"read_only_root", true, "MS_RDONLY on /", 3},
  };
  StrengthScore s = VerifiedScore(BackendKind::kProcess, ev);
  EXPECT_EQ(s.value, 58);
  EXPECT_THAT(s.breakdown, ElementsAre(Field(&ScoreItem::name, "base:process"),
                                       Field(&ScoreItem::name, "seccomp"),
                                       Field(&ScoreItem::name, "read_only_root")));
  EXPECT_EQ(Sum(s), 58);
}

TEST(Score, VerifiedClampsBothWays) {
  StrengthScore high =
      VerifiedScore(BackendKind::kFirecracker, {{"base", true, "", 90}, {"extra", true, "", 30}});
  EXPECT_EQ(high.value, 100);
  EXPECT_EQ(Sum(high), 100);
  StrengthScore low = VerifiedScore(BackendKind::kNoop, {{"penalty", true, "", -7}});
  EXPECT_EQ(low.value, 0);
  EXPECT_EQ(Sum(low), 0);
  StrengthScore none = VerifiedScore(BackendKind::kProcess, {});
  EXPECT_EQ(none.value, 0);
  EXPECT_TRUE(none.breakdown.empty());
}

TEST(Score, Layered) {
  const int gvisor_strict = DeclaredScore(BackendKind::kGVisor, SandboxPolicy::Strict()).value;
  const int process_strict = DeclaredScore(BackendKind::kProcess, SandboxPolicy::Strict()).value;
  EXPECT_EQ(LayeredScore({gvisor_strict, process_strict}, 2), 94);
  const int gvisor_min = DeclaredScore(BackendKind::kGVisor, SandboxPolicy::Minimal()).value;
  const int process_min = DeclaredScore(BackendKind::kProcess, SandboxPolicy::Minimal()).value;
  EXPECT_EQ(LayeredScore({gvisor_min, process_min}, 2), 80);

  EXPECT_EQ(LayeredScore({}, 0), 0);
  EXPECT_EQ(LayeredScore({60}, 1), 60);
  EXPECT_EQ(LayeredScore({60, 60}, 1), 60);  // the same backend twice adds nothing
  EXPECT_EQ(LayeredScore({60, 50, 40}, 3), 68);
  EXPECT_EQ(LayeredScore({60, 1, 1, 1}, 4), 70);
  EXPECT_EQ(LayeredScore({60, 1, 1, 1, 1}, 5), 72);
  EXPECT_EQ(LayeredScore({60, 1, 1, 1, 1, 1}, 6), 74);
  EXPECT_EQ(LayeredScore(std::vector<int>(7, 60), 7), 76);
  EXPECT_EQ(LayeredScore(std::vector<int>(9, 60), 9), 76);
  EXPECT_EQ(LayeredScore({95, 90}, 2), 100);
}

}  // namespace
}  // namespace kavach
