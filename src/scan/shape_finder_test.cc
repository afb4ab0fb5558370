// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/shape_finder.h"

#include <re2/re2.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

// The Hyperscan prefilters the finders stand in for (rules/data.toml).
const char* Prefilter(Shape s) {
  switch (s) {
    case Shape::kCard:
      return R"((?:^|[^0-9A-Za-z_])[2-6][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9])";
    case Shape::kIban:
      return R"((?:^|[^0-9A-Za-z_])[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4})";
    case Shape::kSsn:
      return R"([0-9]{3}-[0-9]{2}-[0-9]{4})";
    case Shape::kPhone:
      return R"([ .)-][2-9][0-9]{2}[ .-][0-9]{4}(?:[^0-9]|$)|\+[2-9][0-9]{0,2}[ .-][0-9]{2})";
    case Shape::kIpv4:
      return R"([0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9])";
  }
  return "";
}

// Lines (by index) nominated by shape `s` over the whole text.
std::vector<bool> Nominated(const std::string& text, Shape s, size_t nlines) {
  std::vector<bool> out(nlines, false);
  FindShapes(text, 0, text.size(), ShapeBit(s), [&](Shape got, size_t end) {
    EXPECT_EQ(got, s);
    EXPECT_LE(end, text.size());
    EXPECT_GT(end, 0u);
    size_t line = 0;
    for (size_t i = 0; i + 1 < end; ++i) line += text[i] == '\n';
    out[line] = true;
    return true;
  });
  return out;
}

TEST(ShapeFinderTest, Names) {
  EXPECT_EQ(ShapeFromName("card"), Shape::kCard);
  EXPECT_EQ(ShapeFromName("ipv4"), Shape::kIpv4);
  EXPECT_FALSE(ShapeFromName("cards").has_value());
}

// Random lines over an alphabet dense in the shapes' bytes: every line the
// prefilter matches must be nominated (the finders are a superset), and the
// finders are exact, so nothing else is.
// Param: 0 the best classifier the CPU has, 1 at most AVX2, 2 baseline.
class ShapeFinderPathTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    internal_shapes::avx2_only = GetParam() == 1;
    internal_shapes::baseline_only = GetParam() == 2;
  }
  void TearDown() override {
    internal_shapes::avx2_only = false;
    internal_shapes::baseline_only = false;
  }
};

INSTANTIATE_TEST_SUITE_P(Classifiers, ShapeFinderPathTest, ::testing::Values(0, 1, 2),
                         [](const auto& info) {
                           return info.param == 0 ? "Best" : info.param == 1 ? "Avx2" : "Baseline";
                         });

TEST_P(ShapeFinderPathTest, SameLinesAsThePrefilterOnRandomText) {
  std::mt19937_64 rng(7);
  for (int s = 0; s < kNumShapes; ++s) {
    const Shape shape = static_cast<Shape>(s);
    // Dense in each shape's bytes, so that every shape matches often.
    const std::string alphabet = shape == Shape::kSsn    ? "01234567890123456789---- a"
                                 : shape == Shape::kIpv4 ? "0123456789012345......a "
                                                         : "0123456789012345 -.+)ABZaz_\t";
    RE2 re(Prefilter(shape));
    ASSERT_TRUE(re.ok());
    std::vector<std::string> lines;
    std::string text;
    for (int i = 0; i < 4000; ++i) {
      std::string line;
      size_t len = rng() % 90;
      for (size_t j = 0; j < len; ++j) line += alphabet[rng() % alphabet.size()];
      lines.push_back(line);
      text += line;
      if (i + 1 < 4000) text += '\n';
    }
    std::vector<bool> got = Nominated(text, shape, lines.size());
    int matched = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      bool want = RE2::PartialMatch(lines[i], re);
      matched += want;
      EXPECT_EQ(got[i], want) << "shape " << s << " line " << i << ": \"" << lines[i] << "\"";
    }
    EXPECT_GT(matched, 20) << "shape " << s << ": the test text must exercise it";
  }
}

TEST_P(ShapeFinderPathTest, RealisticExamples) {
  auto count = [](const std::string& t, Shape s) {
    int n = 0;
    FindShapes(t, 0, t.size(), ShapeBit(s), [&](Shape, size_t) {
      ++n;
      return true;
    });
    return n;
  };
  EXPECT_EQ(count("card=4111111111111111", Shape::kCard), 1);
  EXPECT_EQ(count("4111 1111 1111 1111", Shape::kCard), 1);
  EXPECT_EQ(count("x4111111111111111", Shape::kCard), 0);  // no boundary
  EXPECT_EQ(count("amex 3782 822463 10005", Shape::kCard), 1);
  EXPECT_EQ(count("visa13 4222222222222", Shape::kCard), 1);
  EXPECT_EQ(count("6011-0009-9013-9424", Shape::kCard), 1);
  // Eight digits are no card: every card holds at least 13.
  EXPECT_EQ(count("id=40000000 x", Shape::kCard), 0);
  EXPECT_EQ(count("id=4000 0000 x", Shape::kCard), 0);
  EXPECT_EQ(count("request_id=42345678-abcd", Shape::kCard), 0);
  EXPECT_EQ(count("IBAN: DE89370400440532013000", Shape::kIban), 1);
  EXPECT_EQ(count("GB82 WEST 1234", Shape::kIban), 1);
  EXPECT_EQ(count("SSN: 123-45-6789", Shape::kSsn), 1);
  EXPECT_EQ(count("call (415) 555-2671 now", Shape::kPhone), 1);
  EXPECT_EQ(count("+44 20 7946 0958", Shape::kPhone), 1);  // "+44 20"
  EXPECT_EQ(count("tel 415-555-2671", Shape::kPhone), 1);  // "555-2671"
  EXPECT_EQ(count("uuid 0f3a1234-5678-4abc", Shape::kPhone), 0);
  EXPECT_EQ(count("id 415-555-26710", Shape::kPhone), 0);
  EXPECT_EQ(count("client 203.0.113.7 connected", Shape::kIpv4), 1);
  EXPECT_EQ(count("v1.2.3", Shape::kIpv4), 0);
  EXPECT_EQ(count("sha256:deadbeef 2024-01-15", Shape::kCard), 0);
}

// Evaluating a text in pieces (as the stream scanner does, leaving each
// piece its lookahead) finds the same candidates as one pass, wherever the
// cuts fall, including at the 48-byte step boundaries.
TEST_P(ShapeFinderPathTest, PiecewiseEqualsWhole) {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text +=
        "pay 4111 1111 1111 1111 ssn 123-45-6789 tel +44 20 7946 0958 ip 10.1.2.3 "
        "DE89 3704 0044 0532\n";
  }
  const unsigned all = (1u << kNumShapes) - 1;
  std::vector<std::pair<Shape, size_t>> whole;
  FindShapes(text, 0, text.size(), all, [&](Shape s, size_t e) {
    whole.emplace_back(s, e);
    return true;
  });
  EXPECT_GE(whole.size(), 40u * 6u);
  for (size_t cut = 1; cut < 200; cut += 3) {
    std::vector<std::pair<Shape, size_t>> parts;
    for (size_t from = 0; from < text.size(); from += cut) {
      FindShapes(text, from, std::min(text.size(), from + cut), all, [&](Shape s, size_t e) {
        parts.emplace_back(s, e);
        return true;
      });
    }
    std::sort(parts.begin(), parts.end());
    std::vector<std::pair<Shape, size_t>> sorted = whole;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(parts, sorted) << "cut " << cut;
  }
}

}  // namespace
}  // namespace kavach::internal
