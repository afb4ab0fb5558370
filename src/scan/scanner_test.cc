// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/scanner.h"

#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scan/db_cache.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const Scanner& Default() {
  static const Scanner* scanner = [] {
    auto s = Scanner::CreateDefault();
    if (!s.ok()) {
      ADD_FAILURE() << s.status();
      std::abort();
    }
    return s->release();
  }();
  return *scanner;
}

std::vector<std::string> RuleIds(const std::vector<Finding>& findings) {
  std::vector<std::string> ids;
  for (const Finding& f : findings) ids.push_back(f.rule_id);
  return ids;
}

std::vector<Finding> OfScanner(const std::vector<Finding>& all, const std::string& scanner) {
  std::vector<Finding> out;
  for (const Finding& f : all) {
    if (f.scanner == scanner) out.push_back(f);
  }
  return out;
}

RulePack OnePack(const std::string& toml, bool lenient = false) {
  auto p = ParseRulePack(toml, "test.toml");
  EXPECT_TRUE(p.ok()) << p.status();
  p->lenient = lenient;
  return *p;
}

const char kAwsKey[] = "AKIAUJZDE8GXD6NCF10E";
const char kGhToken[] = "ghp_sMehGAkWvj7FAc9QeWJKY40uvSwMFLZDe1f8";

TEST(ScannerTest, FindingCarriesRangeLineAndMaskedPreview) {
  std::string text = "line one\nline two\nexport AWS_ACCESS_KEY_ID=" + std::string(kAwsKey) + "\n";
  auto f = Default().Scan(text, "stdout");
  ASSERT_EQ(f.size(), 1u) << ::testing::PrintToString(RuleIds(f));
  EXPECT_EQ(f[0].rule_id, "aws-access-key");
  EXPECT_EQ(f[0].scanner, "secrets");
  EXPECT_EQ(f[0].category, "cloud_credential");
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_EQ(f[0].stream, "stdout");
  EXPECT_EQ(f[0].line, 3u);
  EXPECT_EQ(text.substr(f[0].begin, f[0].end - f[0].begin), kAwsKey);
  EXPECT_EQ(f[0].preview, "AKIA\u2026(20)");
  EXPECT_THAT(f[0].preview, Not(HasSubstr(kAwsKey)));
}

TEST(ScannerTest, CleanTextHasNoFindings) {
  std::string text =
      "2026-03-01T10:00:00Z INFO server started on :8080 (pid 4242)\n"
      "commit 3f786850e387550fdab836ed7e6dc881de23001b\n"
      "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
      "request_id=550e8400-e29b-41d4-a716-446655440000 status=200 took=12ms\n"
      "version 1.2.3 (build 20240115)\n"
      "total amount due: 42.00 USD; rsync finished; sync done; func main() {}\n"
      "results = retrieval(query)\n";
  EXPECT_THAT(RuleIds(Default().Scan(text)), IsEmpty());
}

TEST(ScannerTest, CaseCorrectAndWordBoundedCodeRules) {
  EXPECT_THAT(RuleIds(Default().Scan("MOUNT /dev/sda1 /mnt")), ::testing::Contains("code-mount"));
  EXPECT_THAT(RuleIds(Default().Scan("mount -t tmpfs none /tmp")),
              ::testing::Contains("code-mount"));
  for (const char* clean : {"total amount due", "the amount (USD)", "sync ", "rsync -a x y",
                            "func main()", "retrieval(q)", "async function f()", "fsync(fd)"}) {
    EXPECT_THAT(OfScanner(Default().Scan(clean), "code"), IsEmpty()) << clean;
  }
  // Upper-case patterns that were dead in the original now work.
  EXPECT_THAT(RuleIds(Default().Scan("x = MD5(data)")), ::testing::Contains("code-weak-hash"));
  EXPECT_THAT(RuleIds(Default().Scan("AES_KEY = 'abcdefgh12345678'")),
              ::testing::Contains("code-hardcoded-key"));
  EXPECT_THAT(RuleIds(Default().Scan("execSync('id')")), ::testing::Contains("code-shell-exec"));
}

TEST(ScannerTest, WordBoundariesOnTokens) {
  EXPECT_THAT(RuleIds(Default().Scan(std::string("X") + kAwsKey)), IsEmpty());
  EXPECT_THAT(RuleIds(Default().Scan(std::string(kAwsKey) + "X")), IsEmpty());
  EXPECT_THAT(RuleIds(Default().Scan(std::string("(") + kAwsKey + ")")),
              ::testing::ElementsAre("aws-access-key"));
}

TEST(ScannerTest, EveryGithubPrefix) {
  for (const char* prefix : {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}) {
    std::string t = std::string(prefix) + "sMehGAkWvj7FAc9QeWJKY40uvSwMFLZDe1f8";
    EXPECT_THAT(RuleIds(Default().Scan("token: " + t)), ::testing::Contains("github-token"))
        << prefix;
  }
}

TEST(ScannerTest, SeveralFindingsOnOneLine) {
  std::string text = std::string(kAwsKey) + " and " + kAwsKey + " and " + kGhToken;
  auto f = Default().Scan(text);
  EXPECT_EQ(RuleIds(f),
            (std::vector<std::string>{"aws-access-key", "aws-access-key", "github-token"}));
  EXPECT_EQ(f[1].begin, 25u);
}

TEST(ScannerTest, ValidatorsGateDataFindings) {
  EXPECT_THAT(RuleIds(Default().Scan("card 4111111111111111")), ::testing::Contains("card-visa"));
  EXPECT_THAT(RuleIds(Default().Scan("card 4111111111111112")), IsEmpty());
  EXPECT_THAT(RuleIds(Default().Scan("iban DE89370400440532013000")), ::testing::Contains("iban"));
  EXPECT_THAT(RuleIds(Default().Scan("iban DE89370400440532013001")), IsEmpty());
  EXPECT_THAT(RuleIds(Default().Scan("ssn 123-45-6789")), ::testing::Contains("us-ssn"));
  EXPECT_THAT(RuleIds(Default().Scan("ssn 666-45-6789")), IsEmpty());
}

TEST(ValidatorTest, Luhn) {
  EXPECT_TRUE(LuhnValid("4111111111111111"));
  EXPECT_TRUE(LuhnValid("4111 1111 1111 1111"));
  EXPECT_TRUE(LuhnValid("378282246310005"));
  EXPECT_TRUE(LuhnValid("6011-1111-1111-1117"));
  EXPECT_FALSE(LuhnValid("4111111111111112"));
  EXPECT_FALSE(LuhnValid("0000"));  // too short to be a card
  EXPECT_FALSE(LuhnValid("4111x11111111111"));
}

TEST(ValidatorTest, Iban) {
  EXPECT_TRUE(IbanValid("DE89370400440532013000"));
  EXPECT_TRUE(IbanValid("GB82 WEST 1234 5698 7654 32"));
  EXPECT_TRUE(IbanValid("gb82west12345698765432"));
  EXPECT_FALSE(IbanValid("GB82WEST12345698765433"));
  EXPECT_FALSE(IbanValid("DE8937040044"));
  EXPECT_FALSE(IbanValid("1289370400440532013000"));
}

TEST(ValidatorTest, Ssn) {
  EXPECT_TRUE(SsnValid("123-45-6789"));
  EXPECT_TRUE(SsnValid("899-01-0001"));
  EXPECT_FALSE(SsnValid("000-45-6789"));
  EXPECT_FALSE(SsnValid("666-45-6789"));
  EXPECT_FALSE(SsnValid("900-45-6789"));
  EXPECT_FALSE(SsnValid("999-45-6789"));
  EXPECT_FALSE(SsnValid("123-00-6789"));
  EXPECT_FALSE(SsnValid("123-45-0000"));
  EXPECT_FALSE(SsnValid("123-45-678"));
}

TEST(ValidatorTest, Entropy) {
  EXPECT_DOUBLE_EQ(ShannonEntropy(""), 0);
  EXPECT_DOUBLE_EQ(ShannonEntropy("aaaa"), 0);
  EXPECT_DOUBLE_EQ(ShannonEntropy("ab"), 1);
  EXPECT_DOUBLE_EQ(ShannonEntropy("abcdefgh"), 3);
  EXPECT_LT(ShannonEntropy("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            4.0);
}

TEST(ScannerTest, MaskedPreviewNeverHoldsTheSecret) {
  EXPECT_EQ(MaskedPreview("AKIAUJZDE8GXD6NCF10E"), "AKIA\u2026(20)");
  EXPECT_EQ(MaskedPreview("123-45-6789"), "12\u2026(11)");
  EXPECT_EQ(MaskedPreview("abc"), "\u2026(3)");
  EXPECT_EQ(MaskedPreview(""), "\u2026(0)");
}

TEST(ScannerTest, SecretGroupLimitsTheRange) {
  std::string text = "DATABASE_URL=postgres://app:Zt9pQ2xLw8@db:5432/app";
  auto f = Default().Scan(text);
  ASSERT_THAT(RuleIds(f), ::testing::Contains("connection-string"));
  for (const Finding& x : f) {
    if (x.rule_id == "connection-string") {
      EXPECT_EQ(text.substr(x.begin, x.end - x.begin), "Zt9pQ2xLw8");
    }
  }
}

// Rules with wide bounded repeats ({m,n}, n > 16) are matched through a
// loose form (the repeats open, each in a group of its own) and fall back to
// the pattern as written when a count exceeds its bound (scanner.cc, Loosen).
// Scanners built with internal_scanner::exact_only match as written: both
// must report the same findings, byte for byte, on text full of long runs.
TEST(ScannerTest, LooseFormsMatchLikeTheBoundedPatterns) {
  const std::vector<std::string> patterns = {
      R"((?i)(?:key|tok)[\w.-]{0,17}\s*[:=]\s*["']?([A-Za-z0-9+/=_-]{4,19}))",
      R"(k=([a-z=]{2,18}))",
      R"(\bp[:=]([^\s"']{3,20})x)",
      R"(u:([^@\n]{1,17})@([a-z:]{0,18})(k|y))",
      R"((?P<lead>t)o\w{0,17}?=(.{1,30})$)",
  };
  std::string toml;
  for (size_t i = 0; i < patterns.size(); ++i) {
    toml += "[[rules]]\nid = \"r" + std::to_string(i) +
            "\"\ncategory = \"c\"\nseverity = \"low\"\nsecret_group = " + (i == 3 ? "2" : "1") +
            "\npattern = '''" + patterns[i] + "'''\n";
  }
  ScannerOptions no_cache;
  no_cache.cache_dir = "";
  auto loose = Scanner::Create({OnePack(toml)}, no_cache);
  internal_scanner::exact_only = true;
  auto exact = Scanner::Create({OnePack(toml)}, no_cache);
  internal_scanner::exact_only = false;
  ASSERT_TRUE(loose.ok()) << loose.status();
  ASSERT_TRUE(exact.ok()) << exact.status();
  const std::string alphabet = "kKeyto=:pu@ \"'ab1+/-_.=k=k=aaaaaaa\n";
  uint64_t x = 88172645463325252ull;
  size_t total = 0;
  for (int round = 0; round < 600; ++round) {
    std::string text;
    for (int i = 0; i < 300; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      text += alphabet[x % alphabet.size()];
    }
    auto a = (*loose)->Scan(text);
    auto b = (*exact)->Scan(text);
    ASSERT_EQ(a.size(), b.size()) << text;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].rule_id, b[i].rule_id) << text;
      EXPECT_EQ(a[i].begin, b[i].begin) << text;
      EXPECT_EQ(a[i].end, b[i].end) << text;
    }
    total += a.size();
  }
  EXPECT_GT(total, 300u);  // the text does exercise the rules
  // A run longer than the bound is cut at it, as the bounded form does.
  auto f = (*loose)->Scan("k=abcdefghijklmnopqrstuvwxyz");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].end - f[0].begin, 18u);
}

TEST(ScannerTest, AnchorsMatchAtLineStarts) {
  auto s = Scanner::Create({OnePack(R"(
[[rules]]
id = "anchored"
category = "c"
severity = "low"
pattern = '''^secret=(\w+)$'''
secret_group = 1
)")});
  ASSERT_TRUE(s.ok()) << s.status();
  auto f = (*s)->Scan("a\nsecret=one\nx secret=two\nsecret=three\n");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].line, 2u);
  EXPECT_EQ(f[1].line, 4u);
  EXPECT_EQ(f[1].preview, "t\u2026(5)");
}

TEST(ScannerTest, KeywordsEntropyAndAllowListsFilter) {
  auto s = Scanner::Create({OnePack(R"(
[allowlist]
stopwords = ["dummy"]
[[rules]]
id = "kw"
category = "c"
severity = "low"
pattern = '''tok_([a-z0-9]{8})'''
secret_group = 1
keywords = ["auth"]
entropy = 2.5
allowlist = { regexes = ['''^0+$'''] }
)")});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->Scan("AUTH tok_a8f3k2m9").size(), 1u);
  EXPECT_EQ((*s)->Scan("tok_a8f3k2m9").size(), 0u);       // no keyword on the line
  EXPECT_EQ((*s)->Scan("auth tok_aaaaaaaa").size(), 0u);  // low entropy
  EXPECT_EQ((*s)->Scan("auth tok_dummy123").size(), 0u);  // stopword
  EXPECT_EQ((*s)->Scan("auth tok_00000000").size(), 0u);  // allow-list (and entropy)
}

TEST(ScannerTest, CreateFailsClosedOnBadRulesAndSkipsInLenientPacks) {
  const char* bad = R"(
[[rules]]
id = "bad"
category = "c"
severity = "low"
pattern = '''(unclosed'''
[[rules]]
id = "good"
category = "c"
severity = "low"
pattern = '''goodtoken'''
)";
  auto strict = Scanner::Create({OnePack(bad)});
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(strict.status().message()), HasSubstr("bad"));
  auto lenient = Scanner::Create({OnePack(bad, true)});
  ASSERT_TRUE(lenient.ok()) << lenient.status();
  EXPECT_EQ((*lenient)->rule_count(), 1u);
  ASSERT_EQ((*lenient)->skipped().size(), 1u);
  EXPECT_THAT((*lenient)->skipped()[0], HasSubstr("bad"));
  EXPECT_EQ((*lenient)->Scan("a goodtoken").size(), 1u);
  // An empty-matching pattern would fire everywhere: rejected.
  EXPECT_FALSE(Scanner::Create({OnePack("[[rules]]\nid='e'\ncategory='c'\nseverity='low'\n"
                                        "pattern='''x*'''\n")})
                   .ok());
  EXPECT_FALSE(Scanner::Create({}).ok());
}

std::string CacheTempDir() {
  char tmpl[] = "/tmp/kavach_scanner_cache.XXXXXX";
  char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d != nullptr ? std::string(d) : std::string("/nonexistent");
}

std::string CacheSample() {
  return std::string("export AWS_ACCESS_KEY_ID=") + kAwsKey + "\ntoken " + kGhToken +
         "\ncard 4111 1111 1111 1111 and 4111111111111112\nIBAN DE89370400440532013000\n";
}

std::vector<std::tuple<std::string, uint64_t, uint64_t>> Keyed(const std::vector<Finding>& f) {
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> out;
  for (const Finding& x : f) out.emplace_back(x.rule_id, x.begin, x.end);
  return out;
}

auto RuleFields(const Rule& r) {
  return std::make_tuple(r.id, r.scanner, r.category, r.severity, r.pattern, r.prefilter, r.shape,
                         r.secret_group, r.keywords, r.entropy, r.validator, r.redact,
                         r.description, r.allowlist.regexes, r.allowlist.stopwords, r.examples,
                         r.negatives);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

uint64_t Le(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(b[at + i])} << (8 * i);
  return v;
}

// Entry file layout (db_cache.cc): magic, format at 8, key, payload length,
// the digested length at 52, the digest at 60; the payload at 92.
constexpr size_t kEntryHeader = 92;

TEST(ScannerCacheTest, SecondCreateLoadsTheCompiledDatabases) {
  ScannerOptions opts;
  opts.cache_dir = CacheTempDir();
  auto cold = Scanner::CreateDefault({}, opts);
  ASSERT_TRUE(cold.ok()) << cold.status();
  EXPECT_FALSE((*cold)->build_info().cache_hit);
  EXPECT_TRUE((*cold)->build_info().cache_stored);
  auto warm = Scanner::CreateDefault({}, opts);
  ASSERT_TRUE(warm.ok()) << warm.status();
  EXPECT_TRUE((*warm)->build_info().cache_hit);
  EXPECT_EQ((*warm)->build_info().cache_path, (*cold)->build_info().cache_path);
  EXPECT_EQ((*warm)->rule_count(), (*cold)->rule_count());
  EXPECT_EQ((*warm)->prefiltered(), (*cold)->prefiltered());
  EXPECT_EQ((*warm)->skipped(), (*cold)->skipped());
  ASSERT_EQ((*warm)->rules().size(), (*cold)->rules().size());
  for (size_t i = 0; i < (*warm)->rules().size(); ++i) {
    // The warm scanner's rules come from the cache entry, not the packs:
    // every field must survive.
    const Rule& w = (*warm)->rules()[i];
    const Rule& c = (*cold)->rules()[i];
    EXPECT_EQ(RuleFields(w), RuleFields(c)) << c.id;
    ASSERT_NE((*warm)->FindRule(c.id), nullptr) << c.id;
    EXPECT_EQ((*warm)->FindRule(c.id)->pattern, c.pattern);
    // And scan identically on the packs' own examples and negatives.
    for (const std::vector<std::string>* texts : {&c.examples, &c.negatives}) {
      for (const std::string& t : *texts) {
        EXPECT_EQ(Keyed((*warm)->Scan(t)), Keyed((*cold)->Scan(t))) << c.id << ": " << t;
      }
    }
  }
  std::vector<Finding> want = (*cold)->Scan(CacheSample());
  EXPECT_GE(want.size(), 4u);
  EXPECT_EQ(Keyed((*warm)->Scan(CacheSample())), Keyed(want));
  // Streaming uses the second (stream-mode) database from the cache.
  auto stream = (*warm)->OpenStream("s");
  std::vector<Finding> got;
  std::string text = CacheSample();
  for (size_t i = 0; i < text.size(); i += 7) {
    for (Finding& f : stream->Feed(text.substr(i, 7))) got.push_back(std::move(f));
  }
  for (Finding& f : stream->Finish()) got.push_back(std::move(f));
  EXPECT_EQ(Keyed(got), Keyed(want));
  // With caching off nothing is read or written.
  auto off = Scanner::CreateDefault({}, ScannerOptions{std::string()});
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE((*off)->build_info().cache_hit);
  EXPECT_FALSE((*off)->build_info().cache_stored);
}

TEST(ScannerCacheTest, CorruptEntryIsRebuiltAndStillCorrect) {
  ScannerOptions opts;
  opts.cache_dir = CacheTempDir();
  auto first = Scanner::CreateDefault({}, opts);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string path = (*first)->build_info().cache_path;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  ASSERT_GT(bytes.size(), 4096u);
  bytes[bytes.size() / 2] ^= 0x55;  // inside the serialized databases
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  auto second = Scanner::CreateDefault({}, opts);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE((*second)->build_info().cache_hit);
  EXPECT_TRUE((*second)->build_info().cache_stored);
  EXPECT_EQ(Keyed((*second)->Scan(CacheSample())), Keyed((*first)->Scan(CacheSample())));
  // An entry whose envelope is intact but whose payload is not a database
  // (what a buggy writer could leave) is rejected by decoding, and rebuilt.
  std::string key = path.substr(path.find("scan-") + 5, 64);
  ASSERT_TRUE(StoreCacheEntry(*opts.cache_dir, key, std::string(64, '\x01')).ok());
  auto third = Scanner::CreateDefault({}, opts);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_FALSE((*third)->build_info().cache_hit);
  EXPECT_EQ(Keyed((*third)->Scan(CacheSample())), Keyed((*first)->Scan(CacheSample())));
  auto fourth = Scanner::CreateDefault({}, opts);
  ASSERT_TRUE(fourth.ok());
  EXPECT_TRUE((*fourth)->build_info().cache_hit);
}

TEST(ScannerCacheTest, DifferentPacksUseDifferentEntries) {
  ScannerOptions opts;
  opts.cache_dir = CacheTempDir();
  const char* a = "[[rules]]\nid='t'\ncategory='c'\nseverity='low'\npattern='''tokenA[0-9]+'''\n";
  const char* b = "[[rules]]\nid='t'\ncategory='c'\nseverity='low'\npattern='''tokenB[0-9]+'''\n";
  auto sa = Scanner::Create({OnePack(a)}, opts);
  auto sb = Scanner::Create({OnePack(b)}, opts);
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_NE((*sa)->build_info().cache_path, (*sb)->build_info().cache_path);
  EXPECT_FALSE((*sb)->build_info().cache_hit);
  auto sb2 = Scanner::Create({OnePack(b)}, opts);
  ASSERT_TRUE(sb2.ok());
  EXPECT_TRUE((*sb2)->build_info().cache_hit);
  EXPECT_EQ((*sb2)->Scan("x tokenB12 tokenA12").size(), 1u);
  EXPECT_EQ((*sb2)->Scan("x tokenA12").size(), 0u);
  // A lenient pack's skipped rules come back from the cache too.
  const char* bad =
      "[[rules]]\nid='bad'\ncategory='c'\nseverity='low'\npattern='''(x'''\n"
      "[[rules]]\nid='ok'\ncategory='c'\nseverity='low'\npattern='''goodtoken'''\n";
  auto l1 = Scanner::Create({OnePack(bad, true)}, opts);
  auto l2 = Scanner::Create({OnePack(bad, true)}, opts);
  ASSERT_TRUE(l1.ok() && l2.ok());
  EXPECT_TRUE((*l2)->build_info().cache_hit);
  EXPECT_EQ((*l2)->skipped(), (*l1)->skipped());
  EXPECT_EQ((*l2)->Scan("a goodtoken").size(), 1u);
  // The same rules in a strict pack must still fail, not be served from
  // the lenient pack's entry.
  EXPECT_FALSE(Scanner::Create({OnePack(bad)}, opts).ok());
}

TEST(ScannerCacheTest, EntryOfAnOlderFormatIsIgnoredAndRebuilt) {
  ScannerOptions opts;
  opts.cache_dir = CacheTempDir();
  const char* a = "[[rules]]\nid='t'\ncategory='c'\nseverity='low'\npattern='''tokenA[0-9]+'''\n";
  auto first = Scanner::Create({OnePack(a)}, opts);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string path = (*first)->build_info().cache_path;
  EXPECT_THAT(path, ::testing::EndsWith(absl::StrCat(".v", kScanCacheFormat, ".hsdb")));
  std::string bytes = ReadAll(path);
  ASSERT_GT(bytes.size(), kEntryHeader);
  ASSERT_EQ(Le(bytes, 8, 4), kScanCacheFormat);
  // The same bytes claiming format 2 (whose payload had no rules in it).
  bytes[8] = 2;
  WriteAll(path, bytes);
  auto second = Scanner::Create({OnePack(a)}, opts);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE((*second)->build_info().cache_hit);
  EXPECT_TRUE((*second)->build_info().cache_stored);
  EXPECT_EQ((*second)->Scan("x tokenA12").size(), 1u);
  auto third = Scanner::Create({OnePack(a)}, opts);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE((*third)->build_info().cache_hit);
  EXPECT_EQ((*third)->Scan("x tokenA12").size(), 1u);
}

// The SHA-256 covers the rules part of an entry; the databases after it
// are checked by hs_deserialize_database. A flipped byte anywhere is either
// caught (a miss, rebuilt) or harmless (a field Hyperscan does not use):
// never a hit that scans differently.
TEST(ScannerCacheTest, CorruptionAnywhereIsCaughtOrHarmless) {
  ScannerOptions opts;
  opts.cache_dir = CacheTempDir();
  const char* a =
      "[[rules]]\nid='t'\ncategory='c'\nseverity='high'\npattern='''tok(en)[A-C][0-9]+'''\n"
      "secret_group=1\nkeywords=['tok']\n"
      "[[rules]]\nid='u'\ncategory='d'\nseverity='low'\npattern='''zz[a-f]{8}'''\n";
  const std::string sample = "tokenB12 zzabcdefab tokenD1\nzz12\n";
  auto first = Scanner::Create({OnePack(a)}, opts);
  ASSERT_TRUE(first.ok()) << first.status();
  const auto want = Keyed((*first)->Scan(sample));
  ASSERT_EQ(want.size(), 2u);
  const std::string path = (*first)->build_info().cache_path;
  const std::string good = ReadAll(path);
  const uint64_t digested = Le(good, 52, 8);
  ASSERT_GT(digested, 0u);
  ASSERT_LT(kEntryHeader + digested, good.size());
  // The digest ends exactly where the databases begin: after the rules come
  // the two databases' lengths, then Hyperscan's serialized form (magic
  // 0xdbdbdbdb).
  const size_t dbs = kEntryHeader + digested;
  ASSERT_GE(digested, 16u);
  EXPECT_EQ(Le(good, dbs - 16, 8) + Le(good, dbs - 8, 8), good.size() - dbs);
  EXPECT_EQ(Le(good, dbs, 4), 0xdbdbdbdbu);
  int missed_in_rules = 0, rules_bytes = 0, missed_in_dbs = 0;
  for (size_t i = 0; i < good.size(); i += (i < kEntryHeader + digested ? 1 : 97)) {
    std::string bad = good;
    bad[i] ^= 0x08;
    WriteAll(path, bad);
    auto s = Scanner::Create({OnePack(a)}, opts);
    ASSERT_TRUE(s.ok()) << s.status();
    const bool in_rules = i >= kEntryHeader && i < kEntryHeader + digested;
    if (in_rules) {
      ++rules_bytes;
      // Every byte of the rules part is under the digest.
      EXPECT_FALSE((*s)->build_info().cache_hit) << "flipped rules byte " << i;
    }
    if (!(*s)->build_info().cache_hit) {
      missed_in_rules += in_rules;
      missed_in_dbs += i >= kEntryHeader + digested;
      EXPECT_TRUE((*s)->build_info().cache_stored);
    }
    EXPECT_EQ(Keyed((*s)->Scan(sample)), want) << "flipped byte " << i;
  }
  EXPECT_EQ(missed_in_rules, rules_bytes);
  EXPECT_GT(missed_in_dbs, 0);
  // Each miss stored a good entry again.
  auto again = Scanner::Create({OnePack(a)}, opts);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)->build_info().cache_hit);
}

// CreateDefault keys the cache on the packs' bytes: any change to a pack
// file is a new entry, so an edited rule never runs from a stale database.
TEST(ScannerCacheTest, ChangedPackFileChangesTheKey) {
  ScannerOptions opts;
  opts.cache_dir = CacheTempDir();
  const std::string rules = CacheTempDir();
  auto sources = DefaultRulePackSources();
  ASSERT_TRUE(sources.ok()) << sources.status();
  for (const RulePackSource& src : *sources) {
    std::string name = src.source.substr(src.source.find_last_of("/:") + 1);
    if (!name.empty() && name.back() == '>') name = name.substr(0, name.size() - 1) + ".toml";
    WriteAll(rules + "/" + name, src.text);
  }
  ASSERT_EQ(setenv("KAVACH_RULES_DIR", rules.c_str(), 1), 0);
  struct Unset {
    ~Unset() { unsetenv("KAVACH_RULES_DIR"); }
  } unset;
  const std::string extra = rules + "/extra.toml";
  WriteAll(extra, "[[rules]]\nid='t'\ncategory='c'\nseverity='low'\npattern='''tokenA[0-9]+'''\n");
  auto s1 = Scanner::CreateDefault({extra}, opts);
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_FALSE((*s1)->build_info().cache_hit);
  auto s2 = Scanner::CreateDefault({extra}, opts);
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_TRUE((*s2)->build_info().cache_hit);
  EXPECT_EQ(RuleIds((*s2)->Scan("x tokenA12")), std::vector<std::string>{"t"});
  // The extra pack's rule changes: a new entry with the new rule.
  WriteAll(extra, "[[rules]]\nid='t'\ncategory='c'\nseverity='low'\npattern='''tokenB[0-9]+'''\n");
  auto s3 = Scanner::CreateDefault({extra}, opts);
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_FALSE((*s3)->build_info().cache_hit);
  EXPECT_NE((*s3)->build_info().cache_path, (*s1)->build_info().cache_path);
  EXPECT_THAT(RuleIds((*s3)->Scan("x tokenA12")), IsEmpty());
  EXPECT_EQ(RuleIds((*s3)->Scan("x tokenB12")), std::vector<std::string>{"t"});
  // A default pack's file changes by bytes that parse the same: still a
  // new entry (the key is the bytes, not what they mean).
  const std::string data = rules + "/data.toml";
  WriteAll(data, ReadAll(data) + "\n# edited\n");
  auto s4 = Scanner::CreateDefault({extra}, opts);
  ASSERT_TRUE(s4.ok()) << s4.status();
  EXPECT_FALSE((*s4)->build_info().cache_hit);
  EXPECT_NE((*s4)->build_info().cache_path, (*s3)->build_info().cache_path);
  // Without the extra pack: another entry, without its rule.
  auto s5 = Scanner::CreateDefault({}, opts);
  ASSERT_TRUE(s5.ok()) << s5.status();
  EXPECT_NE((*s5)->build_info().cache_path, (*s4)->build_info().cache_path);
  EXPECT_THAT(RuleIds((*s5)->Scan("x tokenB12")), IsEmpty());
  // A missing extra pack is still an error, whatever the cache holds.
  EXPECT_FALSE(Scanner::CreateDefault({rules + "/nope.toml"}, opts).ok());
}

TEST(ScannerCacheTest, UnwritableCacheDirectoryOnlyDisablesCaching) {
  ScannerOptions opts;
  opts.cache_dir = "/dev/null/kavach";
  auto s = Scanner::CreateDefault({}, opts);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE((*s)->build_info().cache_hit);
  EXPECT_FALSE((*s)->build_info().cache_stored);
  EXPECT_GE((*s)->Scan(CacheSample()).size(), 4u);
}

TEST(ScannerTest, KeywordsPrefilterPatternsHyperscanCannotCompile) {
  // (?U) (ungreedy) is RE2 syntax that Hyperscan rejects even as a
  // prefilter: with keywords the rule still runs, without it fails closed.
  const char* rule = R"(
[[rules]]
id = "lazy"
category = "c"
severity = "low"
pattern = '''(?U)tok_(\w+)\b'''
secret_group = 1
)";
  auto without = Scanner::Create({OnePack(rule)});
  ASSERT_FALSE(without.ok());
  EXPECT_THAT(std::string(without.status().message()), HasSubstr("Hyperscan"));
  auto s = Scanner::Create({OnePack(std::string(rule) + "keywords = [\"TOK_\"]\n")});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->prefiltered(), std::vector<std::string>{"lazy"});
  auto f = (*s)->Scan("x\nsome Tok_ then tok_abc12 end\n");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].begin, 21u);  // the secret group, "abc12"
  EXPECT_EQ((*s)->Scan("tok_ nothing\n").size(), 0u);
}

TEST(ScannerTest, ShapeOnlyDataRulesRunBehindPrefilters) {
  const auto& pf = Default().prefiltered();
  for (const char* id :
       {"card-visa", "card-amex", "email-address", "ipv4-address", "phone-number"}) {
    EXPECT_NE(std::find(pf.begin(), pf.end(), id), pf.end()) << id;
  }
  // Four card rules behind one shared prefilter still each report.
  EXPECT_EQ(
      RuleIds(Default().Scan("4111111111111111 378282246310005 6011111111111117 "
                             "5555555555554444")),
      (std::vector<std::string>{"card-visa", "card-amex", "card-discover", "card-mastercard"}));
}

TEST(ScannerTest, LongLinesAreScannedInBoundedWindows) {
  std::string line(200000, 'a');
  line.replace(150000, 1, " ");
  line.replace(150001, 20, kAwsKey);
  line.replace(150021, 1, " ");
  auto f = Default().Scan(line + "\n" + kGhToken + "\n");
  ASSERT_EQ(RuleIds(f), (std::vector<std::string>{"aws-access-key", "github-token"}));
  EXPECT_EQ(f[0].begin, 150001u);
  EXPECT_EQ(f[1].line, 2u);
}

TEST(ScannerTest, FindingsAreCapped) {
  std::string text;
  for (size_t i = 0; i < Scanner::kMaxFindings + 50; ++i) text += "x 123-45-6789\n";
  EXPECT_EQ(Default().Scan(text).size(), Scanner::kMaxFindings);
}

TEST(ScannerTest, ConcurrentScansAgree) {
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text += "log line " + std::to_string(i) + " token=" + kGhToken + " ip 203.0.113." +
            std::to_string(i % 250) + "\n";
  }
  auto expected = Default().Scan(text);
  ASSERT_GE(expected.size(), 400u);
  std::vector<std::thread> threads;
  std::vector<size_t> counts(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 20; ++k) counts[t] += Default().Scan(text).size() == expected.size();
    });
  }
  for (auto& th : threads) th.join();
  for (size_t c : counts) EXPECT_EQ(c, 20u);
}

// ---- streaming ----

std::string StreamText() {
  return "boot ok\nuser=alice connected from 203.0.113.9\nGITHUB_TOKEN=" + std::string(kGhToken) +
         "\nexport AWS_ACCESS_KEY_ID=" + kAwsKey + "\nrm -rf /tmp/x; card 4111111111111111\n" +
         "tail without newline " + kAwsKey;
}

std::vector<std::tuple<std::string, uint64_t, uint64_t, uint64_t>> Key(
    const std::vector<Finding>& f) {
  std::vector<std::tuple<std::string, uint64_t, uint64_t, uint64_t>> k;
  for (const Finding& x : f) k.emplace_back(x.rule_id, x.begin, x.end, x.line);
  std::sort(k.begin(), k.end());
  return k;
}

std::vector<Finding> ScanInChunks(const std::string& text, const std::vector<size_t>& cuts,
                                  uint64_t* max_settled_violation = nullptr) {
  auto stream = Default().OpenStream("stdout");
  std::vector<Finding> all;
  size_t pos = 0;
  uint64_t settled = 0;
  auto take = [&](std::vector<Finding> got) {
    for (Finding& f : got) {
      // Nothing may be reported before an offset already declared settled.
      if (f.begin < settled && max_settled_violation != nullptr) ++*max_settled_violation;
      all.push_back(std::move(f));
    }
    EXPECT_GE(stream->settled_offset(), settled);
    EXPECT_LE(stream->settled_offset(), stream->bytes_fed());
    settled = stream->settled_offset();
  };
  for (size_t cut : cuts) {
    take(stream->Feed(std::string_view(text).substr(pos, cut - pos)));
    pos = cut;
  }
  take(stream->Feed(std::string_view(text).substr(pos)));
  take(stream->Finish());
  EXPECT_EQ(stream->settled_offset(), text.size());
  return all;
}

TEST(ScanStreamTest, SplitAtEveryOffsetFindsEachSecretExactlyOnce) {
  const std::string text = StreamText();
  auto expected = Key(Default().Scan(text, "stdout"));
  ASSERT_EQ(expected.size(), 7u) << text;
  uint64_t violations = 0;
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    EXPECT_EQ(Key(ScanInChunks(text, {cut}, &violations)), expected) << "cut at " << cut;
  }
  EXPECT_EQ(violations, 0u);
}

// Rules the anchor finder nominates (on CPUs with AVX-512 VBMI or AVX2;
// elsewhere Hyperscan does): found once wherever the chunks are cut, never
// inside words.
TEST(ScanStreamTest, AnchoredRulesAtEveryCut) {
  const std::string text =
      "amount sync\nsudo -i; nc -e /bin/sh h 1\nfunc retrieval(x)\nSU -c id; eval(x)\n"
      "tail umount /mnt";
  auto expected = Key(Default().Scan(text, "stdout"));
  std::vector<std::string> ids;
  for (const auto& k : expected) ids.push_back(std::get<0>(k));
  for (const char* id :
       {"code-sudo", "code-network-tools", "code-reverse-shell", "code-eval", "code-mount"}) {
    EXPECT_THAT(ids, ::testing::Contains(id));
  }
  uint64_t violations = 0;
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    EXPECT_EQ(Key(ScanInChunks(text, {cut}, &violations)), expected) << "cut at " << cut;
  }
  std::vector<size_t> cuts;
  for (size_t i = 1; i < text.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(Key(ScanInChunks(text, cuts, &violations)), expected);
  EXPECT_EQ(violations, 0u);
}

TEST(ScanStreamTest, ByteByByte) {
  const std::string text = StreamText();
  std::vector<size_t> cuts;
  for (size_t i = 1; i < text.size(); ++i) cuts.push_back(i);
  uint64_t violations = 0;
  EXPECT_EQ(Key(ScanInChunks(text, cuts, &violations)), Key(Default().Scan(text, "stdout")));
  EXPECT_EQ(violations, 0u);
}

TEST(ScanStreamTest, SettledOffsetTrailsOnlyTheOpenLine) {
  auto stream = Default().OpenStream();
  stream->Feed("clean line one\nclean line two\npartial");
  // Complete clean lines are settled; the open line is held back.
  EXPECT_EQ(stream->settled_offset(), 30u);
  stream->Feed(" more\n");
  EXPECT_EQ(stream->settled_offset(), 43u);
  stream->Finish();
  EXPECT_EQ(stream->settled_offset(), 43u);
  EXPECT_THAT(stream->Feed(kAwsKey), IsEmpty());  // after Finish: ignored
}

TEST(ScanStreamTest, LongStreamAcrossManyChunks) {
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    text += "row " + std::to_string(i) + (i % 100 == 7 ? std::string(" ") + kGhToken : "") + "\n";
  }
  std::vector<size_t> cuts;
  for (size_t c = 4093; c < text.size(); c += 4093) cuts.push_back(c);
  auto got = ScanInChunks(text, cuts);
  EXPECT_EQ(got.size(), 30u);
  EXPECT_EQ(Key(got), Key(Default().Scan(text, "stdout")));
}

}  // namespace
}  // namespace kavach::internal
