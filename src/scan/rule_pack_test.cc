// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/rule_pack.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scan/scanner.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

const char* const kGitleaksPath = KAVACH_SOURCE_DIR "/../shared/data/gitleaks/gitleaks.toml";

std::unique_ptr<Scanner> DefaultScanner() {
  auto s = Scanner::CreateDefault();
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

bool HasRule(const std::vector<Finding>& findings, const std::string& id) {
  for (const Finding& f : findings) {
    if (f.rule_id == id) return true;
  }
  return false;
}

TEST(RulePackTest, DefaultPacksLoadWithRulesForEveryScanner) {
  auto packs = LoadDefaultRulePacks();
  ASSERT_TRUE(packs.ok()) << packs.status();
  ASSERT_EQ(packs->size(), 3u);
  EXPECT_EQ((*packs)[0].name, "secrets");
  EXPECT_EQ((*packs)[1].name, "code");
  EXPECT_EQ((*packs)[2].name, "data");
  for (const RulePack& p : *packs) {
    std::cout << "pack " << p.name << ": " << p.rules.size() << " rules\n";
    for (const Rule& r : p.rules) EXPECT_EQ(r.scanner, p.name) << r.id;
  }
  EXPECT_GE((*packs)[0].rules.size(), 30u);
  // The original's 26 code groups, one rule each.
  EXPECT_EQ((*packs)[1].rules.size(), 26u);
  EXPECT_GE((*packs)[2].rules.size(), 12u);
}

// The self-checking design: every rule carries its own examples and
// negatives, and this test runs all of them through the compiled scanner.
TEST(RulePackTest, EveryRuleFindsItsExamplesAndNotItsNegatives) {
  auto scanner = DefaultScanner();
  ASSERT_NE(scanner, nullptr);
  ASSERT_GE(scanner->rule_count(), 60u);
  int checked = 0;
  for (const Rule& rule : scanner->rules()) {
    EXPECT_FALSE(rule.examples.empty()) << rule.id << " has no examples";
    EXPECT_FALSE(rule.negatives.empty()) << rule.id << " has no negatives";
    for (const std::string& ex : rule.examples) {
      EXPECT_TRUE(HasRule(scanner->Scan(ex), rule.id)) << rule.id << " misses example: " << ex;
      ++checked;
    }
    for (const std::string& neg : rule.negatives) {
      EXPECT_FALSE(HasRule(scanner->Scan(neg), rule.id))
          << rule.id << " fires on negative: " << neg;
      ++checked;
    }
  }
  std::cout << "checked " << checked << " examples and negatives\n";
}

TEST(RulePackTest, EmbeddedPacksMatchTheSourceTree) {
  auto from_disk = LoadDefaultRulePacks();
  auto embedded = LoadEmbeddedRulePacks();
  ASSERT_TRUE(from_disk.ok()) << from_disk.status();
  ASSERT_TRUE(embedded.ok()) << embedded.status();
  ASSERT_EQ(embedded->size(), from_disk->size());
  for (size_t i = 0; i < embedded->size(); ++i) {
    const RulePack& e = (*embedded)[i];
    const RulePack& d = (*from_disk)[i];
    EXPECT_THAT(d.source, HasSubstr(d.name + ".toml"));
    EXPECT_EQ(e.source, "<embedded:" + d.name + ">");
    ASSERT_EQ(e.rules.size(), d.rules.size()) << d.name;
    for (size_t r = 0; r < e.rules.size(); ++r) {
      EXPECT_EQ(e.rules[r].id, d.rules[r].id);
      EXPECT_EQ(e.rules[r].pattern, d.rules[r].pattern) << e.rules[r].id;
    }
  }
}

TEST(RulePackTest, RejectsBadRules) {
  EXPECT_FALSE(
      ParseRulePack("[[rules]]\nid='x'\ncategory='c'\nseverity='severe'\npattern='a'\n", "t").ok());
  EXPECT_FALSE(ParseRulePack("[[rules]]\nid='x'\ncategory='c'\nseverity='low'\n", "t").ok());
  EXPECT_FALSE(ParseRulePack("[[rules]]\nid='x'\ncategory='c'\nseverity='low'\npattern='a'\n"
                             "validator='crc'\n",
                             "t")
                   .ok());
  EXPECT_FALSE(ParseRulePack("not toml [", "t").ok());
  auto status = ParseRulePack(
                    "[[rules]]\nid='x'\ncategory='c'\nseverity='low'\npattern='a'\n"
                    "scanner='other'\n",
                    "t")
                    .status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("rule x"));
  // An anchor must begin with a word byte and fit the finder.
  status = ParseRulePack(
               "[[rules]]\nid='y'\ncategory='c'\nseverity='low'\npattern='/x'\n"
               "anchors=['/x']\n",
               "t")
               .status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("rule y: anchor \"/x\""));
  EXPECT_FALSE(ParseRulePack("[[rules]]\nid='y'\ncategory='c'\nseverity='low'\npattern='a'\n"
                             "anchors=['abcdefghijklmnop']\n",
                             "t")
                   .ok());
}

TEST(RulePackTest, ParsesAllFields) {
  auto p = ParseRulePack(R"(
name = "mine"
scanner = "code"
[allowlist]
stopwords = ["Dummy"]
[[rules]]
id = "r1"
category = "cat"
severity = "HIGH"
pattern = '''key=([a-z]+)'''
secret_group = 1
keywords = ["KEY"]
anchors = ["Key", "k\t"]
entropy = 1.5
validator = "luhn"
redact = true
description = "d"
examples = ["key=abc"]
negatives = ["nokey"]
[rules.allowlist]
regexes = ['''^test''']
)",
                         "mine.toml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "mine");
  ASSERT_EQ(p->rules.size(), 1u);
  const Rule& r = p->rules[0];
  EXPECT_EQ(r.scanner, "code");
  EXPECT_EQ(r.severity, Severity::kHigh);
  EXPECT_EQ(r.secret_group, 1);
  EXPECT_EQ(r.keywords, std::vector<std::string>{"key"});
  EXPECT_EQ(r.anchors, (std::vector<std::string>{"Key", "k\t"}));
  EXPECT_DOUBLE_EQ(r.entropy, 1.5);
  EXPECT_EQ(r.validator, Validator::kLuhn);
  EXPECT_TRUE(r.redact);
  EXPECT_EQ(r.allowlist.regexes, std::vector<std::string>{"^test"});
  EXPECT_EQ(p->allowlist.stopwords, std::vector<std::string>{"dummy"});
}

TEST(RulePackTest, UserPackAddsRulesWithoutRebuilding) {
  std::string path = ::testing::TempDir() + "/user_pack.toml";
  {
    std::ofstream out(path);
    out << "name = \"acme\"\nscanner = \"secrets\"\n[[rules]]\nid = \"acme-token\"\n"
           "category = \"api_token\"\nseverity = \"critical\"\n"
           "pattern = '''\\b(acme_[0-9a-f]{16})\\b'''\nsecret_group = 1\n";
  }
  auto scanner = Scanner::CreateDefault({path});
  ASSERT_TRUE(scanner.ok()) << scanner.status();
  auto f = (*scanner)->Scan("token acme_0123456789abcdef here");
  ASSERT_TRUE(HasRule(f, "acme-token"));
  EXPECT_EQ(Scanner::CreateDefault({path, path}).status().code(),
            absl::StatusCode::kInvalidArgument);  // duplicate id
}

TEST(RulePackTest, ImportsGitleaks) {
  if (!std::filesystem::exists(kGitleaksPath)) {
    GTEST_SKIP() << "gitleaks config not present at " << kGitleaksPath;
  }
  auto pack = ImportGitleaksFile(kGitleaksPath);
  ASSERT_TRUE(pack.ok()) << pack.status();
  EXPECT_EQ(pack->rules.size() + pack->skipped.size(), 222u);
  EXPECT_TRUE(pack->lenient);
  auto scanner = Scanner::Create({*pack});
  ASSERT_TRUE(scanner.ok()) << scanner.status();
  size_t compiled = (*scanner)->rule_count();
  std::cout << "gitleaks: 222 rules, " << pack->rules.size() << " imported, " << compiled
            << " compiled, " << pack->skipped.size() << " not imported, "
            << (*scanner)->skipped().size() << " dropped at compile time\n";
  for (const std::string& s : pack->skipped) std::cout << "  not imported: " << s << "\n";
  for (const std::string& s : (*scanner)->skipped()) std::cout << "  dropped: " << s << "\n";
  EXPECT_GE(compiled, 200u);
  // A few well-known gitleaks rules work end to end.
  auto f = (*scanner)->Scan("GITHUB_TOKEN=ghp_sMehGAkWvj7FAc9QeWJKY40uvSwMFLZDe1f8\n");
  EXPECT_TRUE(HasRule(f, "github-pat"));
  // And the import stacks on the built-in packs.
  auto both = Scanner::CreateDefault({kGitleaksPath});
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_GT((*both)->rule_count(), compiled);
}

}  // namespace
}  // namespace kavach::internal
