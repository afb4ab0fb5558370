// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/json_string.h"

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

// "\0"s and "\0"sv keep embedded NULs.
using std::string_literals::operator""s;
using std::string_view_literals::operator""sv;

constexpr std::string_view kFffd = "\xEF\xBF\xBD";

std::string Replaced(std::string_view s) {
  std::string out;
  EXPECT_TRUE(AppendJsonString(&out, s, InvalidUtf8::kReplace));
  return out;
}

// The literal under kReject, or "<rejected>" (never a valid literal).
std::string Strict(std::string_view s) {
  std::string out;
  return AppendJsonString(&out, s, InvalidUtf8::kReject) ? out : "<rejected>";
}

TEST(AppendJsonString, QuotesPlainTextAsIs) {
  EXPECT_EQ(Strict(""), R"("")");
  EXPECT_EQ(Strict("api.example.com"), R"("api.example.com")");
  EXPECT_EQ(Strict(" ~/x?y=1&z"), R"(" ~/x?y=1&z")");
  EXPECT_EQ(Replaced("api.example.com"), R"("api.example.com")");
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Strict(R"(a"b\c)"), R"("a\"b\\c")");
  EXPECT_EQ(Strict("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(Strict("\x01\x0b\x1f"), R"("\u0001\u000b\u001f")");
  // Lowercase hex, as nlohmann writes it; DEL (0x7f) is not a JSON control.
  EXPECT_EQ(Strict("\x1a\x7f"), "\"\\u001a\x7f\"");
  EXPECT_EQ(Replaced("\"\\\n\x01"), R"("\"\\\n\u0001")");
}

TEST(AppendJsonString, EscapesEmbeddedNul) {
  EXPECT_EQ(Strict("a\0b"s), R"("a\u0000b")");
  EXPECT_EQ(Strict("\0"s), R"("\u0000")");
  EXPECT_EQ(Replaced("\0\0"s), R"("\u0000\u0000")");
}

TEST(AppendJsonString, KeepsValidMultiByteUtf8) {
  // The first and last code point of each length, and both sides of the
  // surrogate gap.
  for (std::string_view s : {"\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80",
                             "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"}) {
    std::string quoted = "\"";
    quoted.append(s);
    quoted.push_back('"');
    EXPECT_EQ(Strict(s), quoted);
    EXPECT_EQ(Replaced(s), quoted);
  }
  EXPECT_EQ(Strict("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x92\n"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x92\\n\"");
}

TEST(AppendJsonString, ReplaceTurnsEachByteOfAnInvalidSequenceIntoFffd) {
  const std::string r(kFffd);
  EXPECT_EQ(Replaced("\x80"), "\"" + r + "\"");                          // lone continuation
  EXPECT_EQ(Replaced("\xC0\xAF"), "\"" + r + r + "\"");                  // overlong '/'
  EXPECT_EQ(Replaced("\xC1\xBF"), "\"" + r + r + "\"");                  // overlong
  EXPECT_EQ(Replaced("\xE0\x80\xAF"), "\"" + r + r + r + "\"");          // overlong, 3 bytes
  EXPECT_EQ(Replaced("\xF0\x80\x80\xAF"), "\"" + r + r + r + r + "\"");  // overlong, 4 bytes
  EXPECT_EQ(Replaced("\xED\xA0\x80"), "\"" + r + r + r + "\"");          // surrogate U+D800
  EXPECT_EQ(Replaced("\xF4\x90\x80\x80"), "\"" + r + r + r + r + "\"");  // above U+10FFFF
  EXPECT_EQ(Replaced("\xF5\xFE\xFF"), "\"" + r + r + r + "\"");          // never in UTF-8
  // Truncated at the end, and cut short by ASCII: the ASCII byte survives.
  EXPECT_EQ(Replaced("a\xE2\x82"), "\"a" + r + r + "\"");
  EXPECT_EQ(Replaced("\xE2\x82"
                     "A\xF0\x9F\x94"
                     "\""),
            "\"" + r + r + "A" + r + r + r + "\\\"\"");
  // A valid sequence right after an invalid byte is kept.
  EXPECT_EQ(Replaced("\xC3\xC3\xA9"), "\"" + r + "\xC3\xA9\"");
  EXPECT_EQ(Replaced("\xE2\x82\xAC\x80\0"s), "\"\xE2\x82\xAC" + r + "\\u0000\"");
}

TEST(AppendJsonString, RejectFailsOnEveryInvalidSequenceAndLeavesOutAlone) {
  for (std::string_view s : {"\x80",
                             "\xBF",
                             "\xC0\xAF",
                             "\xC1\xBF",
                             "\xC2",
                             "\xC2\x41",
                             "\xE0\x80\xAF",
                             "\xE0\x9F\xBF",
                             "\xE2\x82",
                             "\xE2\x82\x41",
                             "\xED\xA0\x80",
                             "\xED\xBF\xBF",
                             "\xF0\x80\x80\xAF",
                             "\xF0\x8F\xBF\xBF",
                             "\xF0\x9F\x94",
                             "\xF4\x90\x80\x80",
                             "\xF5\x80\x80\x80",
                             "\xFE",
                             "\xFF",
                             "ok \xC3\xA9 then \xC3"}) {
    std::string out = "{\"k\":";
    EXPECT_FALSE(AppendJsonString(&out, s, InvalidUtf8::kReject))
        << nlohmann::json(std::string(s))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    EXPECT_EQ(out, "{\"k\":");
    EXPECT_FALSE(IsValidUtf8(s));
  }
}

TEST(AppendJsonString, StopsAtTheEndOfTheViewNotTheBuffer) {
  // A sequence cut off by the view's end, with its last byte still in the
  // buffer behind it (as in a substring of a larger request).
  const std::string buffer = "\xE2\x82\xAC\xF0\x9F\x94\x92";
  const std::string_view euro_cut = std::string_view(buffer).substr(0, 2);
  const std::string_view lock_cut = std::string_view(buffer).substr(3, 3);
  for (std::string_view s : {euro_cut, lock_cut}) {
    EXPECT_FALSE(IsValidUtf8(s));
    EXPECT_EQ(Strict(s), "<rejected>");
    std::string expected = "\"";
    for (size_t i = 0; i < s.size(); ++i) expected.append(kFffd);
    expected.push_back('"');
    EXPECT_EQ(Replaced(s), expected);
  }
}

TEST(AppendJsonString, AppendsAfterWhatOutHolds) {
  std::string out = "{\"a\":";
  ASSERT_TRUE(AppendJsonString(&out, "x\ty", InvalidUtf8::kReject));
  out.append(",\"b\":");
  ASSERT_TRUE(AppendJsonString(&out, "\xFF", InvalidUtf8::kReplace));
  out.push_back('}');
  EXPECT_EQ(out, "{\"a\":\"x\\ty\",\"b\":\"\xEF\xBF\xBD\"}");
  EXPECT_EQ(nlohmann::json::parse(out)["a"], "x\ty");
}

// kReject must write exactly what nlohmann::json::dump() writes, and fail
// exactly where it throws: audit records written before this helper existed
// were written by dump(), and a record is verified against the bytes its
// writer would produce today. kReplace must always give JSON that parses
// back to the input when the input was valid.
void ExpectAsNlohmann(const std::string& s) {
  std::string dumped;
  bool valid = true;
  try {
    dumped = nlohmann::json(s).dump();
  } catch (const nlohmann::json::type_error&) {
    valid = false;
  }
  std::string out;
  ASSERT_EQ(AppendJsonString(&out, s, InvalidUtf8::kReject), valid)
      << nlohmann::json(s).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  ASSERT_EQ(IsValidUtf8(s), valid);
  if (valid) {
    ASSERT_EQ(out, dumped);
  }
  std::string replaced;
  ASSERT_TRUE(AppendJsonString(&replaced, s, InvalidUtf8::kReplace));
  nlohmann::json back = nlohmann::json::parse(replaced);  // throws if not JSON
  if (valid) {
    ASSERT_EQ(back.get<std::string>(), s);
  }
}

TEST(AppendJsonString, MatchesNlohmannOnEveryOneAndTwoByteString) {
  for (int a = 0; a < 256; ++a) {
    ExpectAsNlohmann(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) {
      ExpectAsNlohmann(std::string{static_cast<char>(a), static_cast<char>(b)});
    }
  }
}

TEST(AppendJsonString, MatchesNlohmannOnThreeAndFourByteSequences) {
  // Later bytes at the edges of the ranges that decide validity (or not
  // continuation bytes at all).
  const unsigned char edges[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  // Every lead byte from C0 with every second byte.
  for (int a = 0xC0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (unsigned char c : edges) {
        ExpectAsNlohmann(
            std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
      }
    }
  }
  // Four-byte leads (and the bytes never used as leads) with edge bytes.
  for (int a = 0xF0; a < 256; ++a) {
    for (unsigned char b : edges) {
      for (unsigned char c : edges) {
        for (unsigned char d : edges) {
          ExpectAsNlohmann(std::string{static_cast<char>(a), static_cast<char>(b),
                                       static_cast<char>(c), static_cast<char>(d)});
        }
      }
    }
  }
}

TEST(AppendJsonString, MatchesNlohmannOnRandomMixes) {
  // Pieces that exercise the switches between copied runs, escapes and
  // multi-byte sequences.
  const std::string_view pieces[] = {"a",
                                     "Z~",
                                     " ",
                                     "\"",
                                     "\\",
                                     "\n",
                                     "\x01",
                                     "\x7f",
                                     "\xC3\xA9",
                                     "\xE2\x82\xAC",
                                     "\xF0\x9F\x94\x92",
                                     "\x80",
                                     "\xC3",
                                     "\xE2\x82",
                                     "\xED\xA0\x80",
                                     "\xF4\x90\x80\x80",
                                     "\0"sv};
  std::mt19937 rng(20261205);
  std::uniform_int_distribution<size_t> pick(0, std::size(pieces) - 1);
  std::uniform_int_distribution<int> count(0, 12);
  for (int n = 0; n < 20000; ++n) {
    std::string s;
    for (int k = count(rng); k > 0; --k) {
      s.append(pieces[pick(rng)]);
    }
    ExpectAsNlohmann(s);
  }
}

}  // namespace
}  // namespace kavach::internal
