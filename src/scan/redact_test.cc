// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/redact.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

Finding At(uint64_t begin, uint64_t end, std::string category, std::string scanner = "secrets") {
  Finding f;
  f.begin = begin;
  f.end = end;
  f.category = std::move(category);
  f.scanner = std::move(scanner);
  return f;
}

TEST(RedactTest, ReplacesRangesWithTheOriginalsMarker) {
  std::string text = "key=AKIAUJZDE8GXD6NCF10E ok";
  EXPECT_EQ(Redact(text, {At(4, 24, "cloud_credential")}), "key=[REDACTED:cloud_credential] ok");
}

TEST(RedactTest, NoFindingsLeavesTextUnchanged) {
  EXPECT_EQ(Redact("plain text", {}), "plain text");
}

TEST(RedactTest, SeveralRangesInAnyOrder) {
  std::string text = "a=SECRET1 b=SECRET2 c";
  EXPECT_EQ(Redact(text, {At(12, 19, "two"), At(2, 9, "one")}),
            "a=[REDACTED:one] b=[REDACTED:two] c");
}

TEST(RedactTest, OverlapsMergeIntoOneMarker) {
  std::string text = "0123456789abcdef";
  // [2,8) and [5,12) overlap; the first-starting range names the merge.
  EXPECT_EQ(Redact(text, {At(5, 12, "b"), At(2, 8, "a")}), "01[REDACTED:a]cdef");
  // Same start: the longest range's category wins.
  EXPECT_EQ(Redact(text, {At(2, 4, "short"), At(2, 10, "long")}), "01[REDACTED:long]abcdef");
  // Nested and touching ranges.
  EXPECT_EQ(Redact(text, {At(1, 9, "outer"), At(3, 4, "inner"), At(9, 11, "touch")}),
            "0[REDACTED:outer]bcdef");
}

TEST(RedactTest, RangesBeyondTheTextAreClipped) {
  EXPECT_EQ(Redact("abcdef", {At(4, 100, "x")}), "abcd[REDACTED:x]");
  EXPECT_EQ(Redact("abcdef", {At(10, 100, "x")}), "abcdef");
}

TEST(RedactTest, OnlySecretsAndPersonalDataAreRedactable) {
  EXPECT_TRUE(IsRedactable(At(0, 1, "api_token", "secrets")));
  EXPECT_TRUE(IsRedactable(At(0, 1, "pii", "data")));
  EXPECT_TRUE(IsRedactable(At(0, 1, "pii_financial", "data")));
  EXPECT_FALSE(IsRedactable(At(0, 1, "compliance_pci", "data")));
  EXPECT_FALSE(IsRedactable(At(0, 1, "command_injection", "code")));
  auto kept = RedactableFindings({At(0, 1, "x", "code"), At(2, 3, "y", "secrets")});
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].category, "y");
}

}  // namespace
}  // namespace kavach::internal
