// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/anchor_finder.h"

#include <re2/re2.h>

#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

using Report = std::pair<unsigned, size_t>;  // (id, end)

std::vector<Report> FindAll(const AnchorFinder& f, const std::string& text, size_t from,
                            size_t to) {
  std::vector<Report> out;
  f.Find(text, from, to, [&](unsigned id, size_t end) {
    out.emplace_back(id, end);
    return true;
  });
  return out;
}

// What Find must report: every position in [from, to) where `\b(?i:anchor)`
// matches (RE2, Latin-1, so \b is ASCII-only like the finder's).
std::set<Report> Expected(const std::vector<std::pair<std::string, unsigned>>& anchors,
                          const std::string& text, size_t from, size_t to) {
  std::set<Report> out;
  RE2::Options o;
  o.set_encoding(RE2::Options::EncodingLatin1);
  for (const auto& [a, id] : anchors) {
    RE2 re("\\b(?i:" + RE2::QuoteMeta(a) + ")", o);
    EXPECT_TRUE(re.ok()) << a;
    for (size_t i = from; i < to; ++i) {
      if (re.Match(text, i, std::min(text.size(), i + a.size()), RE2::ANCHOR_BOTH, nullptr, 0)) {
        out.emplace(id, i + a.size());
      }
    }
  }
  return out;
}

// Param: true runs the byte loop even where the CPU has the SIMD path.
class AnchorFinderTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!GetParam() && !AnchorFinder::Fast()) {
      GTEST_SKIP() << "this CPU lacks AVX-512 VBMI: the SIMD path cannot run";
    }
    internal_anchors::scalar_only = GetParam();
  }
  void TearDown() override { internal_anchors::scalar_only = false; }
};

INSTANTIATE_TEST_SUITE_P(Paths, AnchorFinderTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Scalar" : "Simd"; });

TEST(AnchorFinderCheck, RejectsBadAnchors) {
  EXPECT_TRUE(CheckAnchor("nc").ok());
  EXPECT_TRUE(CheckAnchor("su\t").ok());
  EXPECT_TRUE(CheckAnchor("dev/tcp/").ok());
  EXPECT_FALSE(CheckAnchor("").ok());
  EXPECT_FALSE(CheckAnchor("/dev/tcp").ok());       // must begin with a word byte
  EXPECT_FALSE(CheckAnchor("abcdefghijklm").ok());  // 13 bytes
  EXPECT_FALSE(CheckAnchor("a\nb").ok());
  EXPECT_FALSE(CheckAnchor("caf\xc3\xa9").ok());
}

TEST_P(AnchorFinderTest, WordStartsOnly) {
  AnchorFinder f({{"nc", 1}, {"mount", 2}, {"eval", 3}});
  const std::string text = "func sync nc -e; amount MOUNT /x; retrieval(eval(x)) _nc 9nc";
  std::vector<Report> got = FindAll(f, text, 0, text.size());
  // "nc" at 10, "MOUNT" at 24, "eval" at 44: not inside "func", "sync",
  // "amount", "retrieval", "_nc" or "9nc".
  EXPECT_EQ(got, (std::vector<Report>{{1, 12}, {2, 29}, {3, 48}}));
}

TEST_P(AnchorFinderTest, TextEdges) {
  AnchorFinder f({{"nc", 1}, {"netcat", 2}});
  EXPECT_EQ(FindAll(f, "nc", 0, 2), (std::vector<Report>{{1, 2}}));
  EXPECT_EQ(FindAll(f, "netca", 0, 5), (std::vector<Report>{}));  // cut short
  EXPECT_EQ(FindAll(f, "x netcat", 0, 8), (std::vector<Report>{{2, 8}}));
  // [from, to) bounds the first byte; the bytes after may lie beyond `to`.
  EXPECT_EQ(FindAll(f, "x netcat", 2, 3), (std::vector<Report>{{2, 8}}));
  EXPECT_EQ(FindAll(f, "x netcat", 3, 8), (std::vector<Report>{}));
}

TEST_P(AnchorFinderTest, StopsWhenAsked) {
  AnchorFinder f({{"nc", 1}});
  std::string text;
  for (int i = 0; i < 100; ++i) text += "nc ";
  int n = 0;
  f.Find(text, 0, text.size(), [&](unsigned, size_t) { return ++n < 3; });
  EXPECT_EQ(n, 3);
}

// Random text over an alphabet dense in the anchors' bytes, word and
// non-word bytes, both cases and bytes >= 0x80: the reports are exactly the
// positions RE2 finds, each once, for many anchor sets (8 and 16
// buckets, short anchors among them) and ranges.
TEST_P(AnchorFinderTest, SameAsRe2OnRandomText) {
  std::mt19937_64 rng(11);
  const std::string alphabet =
      "ncNCsuSUdevtcp/ -_.\t\xe9\xc3"
      "0amoutbhi";
  const std::vector<std::string> words = {
      "nc",     "netcat", "socat", "telnet", "nmap", "mkfifo", "dev/tcp/", "bash",  "mount",
      "umount", "eval",   "new",   "sudo",   "su ",  "su\t",   "sub",      "a",     "ab_",
      "mo",     "tc",     "dd",    "deb",    "he",   "hi",     "tot",      "amount"};
  for (int round = 0; round < 200; ++round) {
    std::vector<std::pair<std::string, unsigned>> anchors;
    const size_t n = 1 + rng() % words.size();
    for (size_t k = 0; k < n; ++k) {
      anchors.emplace_back(words[rng() % words.size()], static_cast<unsigned>(rng() % 5));
    }
    AnchorFinder f(anchors);
    std::string text;
    const size_t len = rng() % 700;
    for (size_t i = 0; i < len; ++i) text += alphabet[rng() % alphabet.size()];
    const size_t from = rng() % 3 == 0 ? rng() % (len + 1) : 0;
    const size_t to = rng() % 3 == 0 ? from + rng() % (len + 1 - from) : len;
    std::vector<Report> got = FindAll(f, text, from, to);
    std::set<Report> want = Expected(anchors, text, from, to);
    EXPECT_EQ(std::set<Report>(got.begin(), got.end()), want) << "round " << round;
    EXPECT_EQ(got.size(), want.size()) << "round " << round << ": a report twice";
    ASSERT_FALSE(HasFailure()) << "anchors: " << anchors.size() << " text: " << text;
  }
}

}  // namespace
}  // namespace kavach::internal
