// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/anchor_finder.h"

#include <re2/re2.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
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

// Find against the RE2 oracle: the same reports, none twice.
::testing::AssertionResult SameAsOracle(
    const AnchorFinder& f, const std::vector<std::pair<std::string, unsigned>>& anchors,
    const std::string& text, size_t from, size_t to) {
  const std::vector<Report> got = FindAll(f, text, from, to);
  const std::set<Report> want = Expected(anchors, text, from, to);
  const std::set<Report> got_set(got.begin(), got.end());
  if (got_set != want) {
    return ::testing::AssertionFailure()
           << got_set.size() << " distinct reports, the oracle has " << want.size();
  }
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "a report twice";
  return ::testing::AssertionSuccess();
}

using internal_anchors::Path;

// Param: the path Find takes, each where the CPU has it.
class AnchorFinderTest : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    if (!internal_anchors::Supported(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << (GetParam() == Path::kVbmi ? "AVX-512 VBMI" : "AVX2")
                   << ": that SIMD path cannot run";
    }
    internal_anchors::path = GetParam();
  }
  void TearDown() override { internal_anchors::path = Path::kBest; }
};

INSTANTIATE_TEST_SUITE_P(Paths, AnchorFinderTest,
                         ::testing::Values(Path::kScalar, Path::kAvx2, Path::kVbmi),
                         [](const auto& info) {
                           switch (info.param) {
                             case Path::kAvx2:
                               return "Avx2";
                             case Path::kVbmi:
                               return "Vbmi";
                             default:
                               return "Scalar";
                           }
                         });

TEST(AnchorFinderFast, WhereASimdPathRuns) {
  EXPECT_EQ(AnchorFinder::Fast(),
            internal_anchors::Supported(Path::kAvx2) || internal_anchors::Supported(Path::kVbmi));
}

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
    ASSERT_TRUE(SameAsOracle(f, anchors, text, from, to))
        << "round " << round << " anchors: " << anchors.size() << " text: " << text;
  }
}

// Anchors and their case variants planted at and around the SIMD blocks'
// edges (positions 31/32/33 and 63/64/65 of a block, the text's last
// bytes), after word and non-word bytes, cut short by the text's end, over
// a background of every byte value: exactly what RE2 finds, for 8 and 16
// buckets.
TEST_P(AnchorFinderTest, SameAsRe2AtBlockEdges) {
  std::mt19937_64 rng(29);
  const std::vector<std::string> words = {
      "nc",     "netcat", "socat", "telnet", "nmap", "mkfifo", "dev/tcp/",     "bash", "mount",
      "umount", "eval",   "new",   "sudo",   "su ",  "su\t",   "su\r",         "su\f", "a",
      "_x",     "9z",     "ab_",   "mo",     "tc",   "dd",     "abcdefghijkl", "Zq@",  "o`"};
  for (int round = 0; round < 400; ++round) {
    std::vector<std::pair<std::string, unsigned>> anchors;
    // Both bucket counts: up to 24 anchors take 8, more 16.
    const size_t n = round % 2 == 0 ? 1 + rng() % 12 : 25 + rng() % 20;
    for (size_t k = 0; k < n; ++k) {
      anchors.emplace_back(words[rng() % words.size()], static_cast<unsigned>(rng() % 7));
    }
    AnchorFinder f(anchors);
    const size_t len = 1 + rng() % 200;
    std::string text(len, ' ');
    for (char& c : text) {
      // Mostly one byte of every kind, some of the anchors' neighbours.
      c = rng() % 4 == 0 ? "_ aZz09@[`{\x7f\x80\xff\x10\t"[rng() % 16]
                         : static_cast<char>(rng() % 256);
    }
    const size_t plants = 1 + rng() % 6;
    for (size_t k = 0; k < plants; ++k) {
      std::string a = anchors[rng() % anchors.size()].first;
      for (char& c : a) {
        if (rng() % 2 == 0)
          c = static_cast<char>(absl::ascii_toupper(static_cast<unsigned char>(c)));
      }
      // Near 32- and 64-byte edges (from position 0 or 1), or the end.
      const size_t edges[] = {30, 31, 32, 33, 62, 63, 64, 65, 95, 96, 97, 127, 128, 129};
      size_t at = rng() % 3 == 0 ? len - std::min(len, rng() % (a.size() + 2))
                                 : edges[rng() % std::size(edges)] + rng() % 2;
      if (at >= len) continue;
      text.replace(at, std::min(a.size(), len - at), a.substr(0, len - at));
      text.resize(len);
      if (at > 0 && rng() % 3 == 0) text[at - 1] = "a_9 \n.\x80"[rng() % 7];
    }
    const size_t from = rng() % 4 == 0 ? rng() % (len + 1) : 0;
    const size_t to = rng() % 4 == 0 ? from + rng() % (len + 1 - from) : len;
    ASSERT_TRUE(SameAsOracle(f, anchors, text, from, to))
        << "round " << round << " anchors: " << anchors.size()
        << " text: " << absl::CHexEscape(text);
  }
}

// Every byte value before and after an anchor, in both cases, at every
// offset of a 64-byte block: the word-boundary and nibble tables leave no
// byte out.
TEST_P(AnchorFinderTest, EveryByteAroundAnAnchor) {
  const std::vector<std::pair<std::string, unsigned>> anchors = {
      {"nc", 1}, {"su ", 2}, {"mount", 3}, {"_q", 4}, {"0x", 5}};
  AnchorFinder f(anchors);
  for (int before = 0; before < 256; ++before) {
    for (size_t at : {size_t{1}, size_t{31}, size_t{32}, size_t{33}, size_t{63}, size_t{64}}) {
      for (const char* a : {"nc", "NC", "nC", "su ", "SU ", "MoUnT", "_Q", "0X"}) {
        std::string text(100, '.');
        text[at - 1] = static_cast<char>(before);
        text.replace(at, std::strlen(a), a);
        text[at + std::strlen(a)] = static_cast<char>(255 - before);
        const std::vector<Report> got = FindAll(f, text, 0, text.size());
        EXPECT_EQ(std::set<Report>(got.begin(), got.end()), Expected(anchors, text, 0, text.size()))
            << "byte " << before << " at " << at << " " << a;
      }
    }
    ASSERT_FALSE(HasFailure());
  }
}

}  // namespace
}  // namespace kavach::internal
