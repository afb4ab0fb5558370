// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/rule_pack.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "linux/strings.h"
#include "scan/anchor_finder.h"
#include "scan/shape_finder.h"
#include "toml++/toml.h"

#ifndef KAVACH_INSTALL_RULES_DIR
#define KAVACH_INSTALL_RULES_DIR "/usr/local/share/kavach/rules"
#endif

namespace kavach::internal {

// Generated at build time from rules/*.toml (rules/embed.cmake).
extern const char* const kEmbeddedRulePackNames[];
extern const char* const kEmbeddedRulePacks[];
extern const size_t kEmbeddedRulePackCount;

namespace {

const std::string_view kDefaultPacks[] = {"secrets", "code", "data"};

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open rule pack ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read rule pack ", path));
  return ss.str();
}

std::vector<std::string> StringArray(const toml::node_view<const toml::node>& node, bool lower) {
  std::vector<std::string> out;
  if (const toml::array* arr = node.as_array()) {
    for (const toml::node& el : *arr) {
      if (auto s = el.value<std::string>()) {
        out.push_back(lower ? absl::AsciiStrToLower(*s) : *s);
      }
    }
  }
  return out;
}

AllowList ParseAllowList(const toml::node_view<const toml::node>& node) {
  AllowList a;
  a.regexes = StringArray(node["regexes"], false);
  a.stopwords = StringArray(node["stopwords"], true);
  return a;
}

void AppendAllowList(const AllowList& from, AllowList* to) {
  to->regexes.insert(to->regexes.end(), from.regexes.begin(), from.regexes.end());
  to->stopwords.insert(to->stopwords.end(), from.stopwords.begin(), from.stopwords.end());
}

absl::StatusOr<toml::table> ParseToml(std::string_view text, std::string_view source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ":" << e.source().begin.line << ": " << e.description();
    return absl::InvalidArgumentError(msg.str());
  }
}

absl::StatusOr<Validator> ParseValidator(std::string_view name) {
  std::string n = absl::AsciiStrToLower(ToAbsl(name));
  if (n.empty() || n == "none") return Validator::kNone;
  if (n == "luhn") return Validator::kLuhn;
  if (n == "iban" || n == "mod97") return Validator::kIban;
  if (n == "ssn") return Validator::kSsn;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown validator \"", n, "\" (use luhn, iban or ssn)"));
}

}  // namespace

absl::StatusOr<Severity> ParseSeverity(std::string_view name) {
  std::string n = absl::AsciiStrToLower(ToAbsl(name));
  if (n == "info") return Severity::kInfo;
  if (n == "low") return Severity::kLow;
  if (n == "medium") return Severity::kMedium;
  if (n == "high") return Severity::kHigh;
  if (n == "critical") return Severity::kCritical;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown severity \"", n, "\" (use info, low, medium, high or critical)"));
}

absl::StatusOr<RulePack> ParseRulePack(std::string_view toml_text, std::string_view source) {
  absl::StatusOr<toml::table> parsed = ParseToml(toml_text, source);
  if (!parsed.ok()) return parsed.status();
  const toml::table& doc = *parsed;
  RulePack pack;
  pack.source = std::string(source);
  pack.name = doc["name"].value_or(std::string(source));
  std::string pack_scanner = doc["scanner"].value_or(std::string("secrets"));
  pack.allowlist = ParseAllowList(doc["allowlist"]);
  const toml::array* rules = doc["rules"].as_array();
  if (rules == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(source), ": no [[rules]]"));
  }
  for (size_t i = 0; i < rules->size(); ++i) {
    const toml::table* t = (*rules)[i].as_table();
    if (t == nullptr) continue;
    toml::node_view<const toml::node> r(t);
    Rule rule;
    rule.id = r["id"].value_or(std::string());
    std::string where = absl::StrCat(ToAbsl(source), ": rule ",
                                     rule.id.empty() ? absl::StrCat("#", i + 1) : rule.id);
    if (rule.id.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": missing id"));
    rule.scanner = r["scanner"].value_or(pack_scanner);
    if (rule.scanner != "secrets" && rule.scanner != "code" && rule.scanner != "data") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": scanner must be secrets, code or data"));
    }
    rule.category = r["category"].value_or(std::string());
    rule.pattern = r["pattern"].value_or(std::string());
    rule.prefilter = r["prefilter"].value_or(std::string());
    rule.shape = r["shape"].value_or(std::string());
    if (!rule.shape.empty() && !ShapeFromName(rule.shape).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unknown shape \"", rule.shape,
                                                     "\" (use card, iban, ssn, phone or ipv4)"));
    }
    rule.anchors = StringArray(r["anchors"], false);
    for (const std::string& a : rule.anchors) {
      if (absl::Status s = CheckAnchor(a); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
      }
    }
    if (rule.category.empty() || rule.pattern.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": needs category and pattern"));
    }
    auto sev = ParseSeverity(r["severity"].value_or(std::string()));
    if (!sev.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", sev.status().message()));
    rule.severity = *sev;
    auto val = ParseValidator(r["validator"].value_or(std::string()));
    if (!val.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", val.status().message()));
    rule.validator = *val;
    rule.secret_group = static_cast<int>(r["secret_group"].value_or(int64_t{0}));
    rule.entropy = r["entropy"].value_or(0.0);
    rule.keywords = StringArray(r["keywords"], true);
    rule.redact = r["redact"].value_or(rule.scanner == "secrets");
    rule.description = r["description"].value_or(std::string());
    rule.allowlist = ParseAllowList(r["allowlist"]);
    rule.examples = StringArray(r["examples"], false);
    rule.negatives = StringArray(r["negatives"], false);
    pack.rules.push_back(std::move(rule));
  }
  return pack;
}

absl::StatusOr<RulePack> LoadRulePack(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return ParseRulePack(*text, path);
}

absl::StatusOr<RulePack> ImportGitleaks(std::string_view toml_text, std::string_view source) {
  absl::StatusOr<toml::table> parsed = ParseToml(toml_text, source);
  if (!parsed.ok()) return parsed.status();
  const toml::table& doc = *parsed;
  RulePack pack;
  pack.name = "gitleaks";
  pack.source = std::string(source);
  pack.lenient = true;
  // Global allow-lists: [allowlist] (old) and [[allowlists]] (new). Entries
  // with targetRules or a non-secret regexTarget do not fit the pack-wide
  // list and are skipped; paths and commits have no meaning for an output
  // stream.
  AppendAllowList(ParseAllowList(doc["allowlist"]), &pack.allowlist);
  if (const toml::array* lists = doc["allowlists"].as_array()) {
    for (const toml::node& n : *lists) {
      toml::node_view<const toml::node> a(&n);
      if (a["targetRules"] || a["regexTarget"].value_or(std::string("secret")) != "secret")
        continue;
      AppendAllowList(ParseAllowList(a), &pack.allowlist);
    }
  }
  const toml::array* rules = doc["rules"].as_array();
  if (rules == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(source), ": no [[rules]]"));
  }
  for (const toml::node& n : *rules) {
    toml::node_view<const toml::node> r(&n);
    Rule rule;
    rule.id = r["id"].value_or(std::string());
    if (rule.id.empty()) continue;
    rule.pattern = r["regex"].value_or(std::string());
    if (rule.pattern.empty()) {
      pack.skipped.push_back(absl::StrCat(rule.id, ": no regex (path-only rule)"));
      continue;
    }
    rule.scanner = "secrets";
    rule.category = "gitleaks";
    // gitleaks has no severities; a leaked credential is what it finds, so
    // these rank with our own API-token rules.
    rule.severity = Severity::kHigh;
    rule.secret_group = static_cast<int>(r["secretGroup"].value_or(int64_t{0}));
    rule.entropy = r["entropy"].value_or(0.0);
    rule.keywords = StringArray(r["keywords"], true);
    rule.redact = true;
    rule.description = r["description"].value_or(std::string());
    auto take_allowlist = [&](toml::node_view<const toml::node> a) {
      std::string target = a["regexTarget"].value_or(std::string("secret"));
      std::string condition = a["condition"].value_or(std::string("OR"));
      // Only secret-targeted regexes and stopwords apply to a stream; an AND
      // condition with paths/commits can never be satisfied here.
      if (condition == "AND" && (a["paths"] || a["commits"])) return;
      AllowList al = ParseAllowList(a);
      if (target != "secret") al.regexes.clear();
      AppendAllowList(al, &rule.allowlist);
    };
    if (const toml::array* lists = r["allowlists"].as_array()) {
      for (const toml::node& a : *lists) take_allowlist(toml::node_view<const toml::node>(&a));
    }
    if (r["allowlist"]) take_allowlist(r["allowlist"]);
    pack.rules.push_back(std::move(rule));
  }
  return pack;
}

absl::StatusOr<RulePack> ImportGitleaksFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return ImportGitleaks(*text, path);
}

absl::StatusOr<std::vector<RulePackSource>> DefaultRulePackSources() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("KAVACH_RULES_DIR"); env != nullptr && *env != '\0') {
    dirs.push_back(env);
  }
  dirs.push_back(KAVACH_INSTALL_RULES_DIR);
#ifdef KAVACH_SOURCE_DIR
  dirs.push_back(std::string(KAVACH_SOURCE_DIR) + "/rules");
#endif
  std::vector<RulePackSource> sources;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (!std::filesystem::exists(dir + "/secrets.toml", ec)) continue;
    for (std::string_view name : kDefaultPacks) {
      RulePackSource src;
      src.source = absl::StrCat(dir, "/", ToAbsl(name), ".toml");
      absl::StatusOr<std::string> text = ReadWholeFile(src.source);
      if (!text.ok()) return text.status();
      src.text = *std::move(text);
      sources.push_back(std::move(src));
    }
    return sources;
  }
  for (size_t i = 0; i < kEmbeddedRulePackCount; ++i) {
    sources.push_back(RulePackSource{absl::StrCat("<embedded:", kEmbeddedRulePackNames[i], ">"),
                                     kEmbeddedRulePacks[i]});
  }
  if (sources.empty()) return absl::NotFoundError("no rule packs found and none embedded");
  return sources;
}

absl::StatusOr<std::vector<RulePack>> ParseRulePackSources(
    const std::vector<RulePackSource>& sources) {
  std::vector<RulePack> packs;
  packs.reserve(sources.size());
  for (const RulePackSource& src : sources) {
    absl::StatusOr<RulePack> pack = ParseRulePack(src.text, src.source);
    if (!pack.ok()) return pack.status();
    packs.push_back(*std::move(pack));
  }
  return packs;
}

absl::StatusOr<std::vector<RulePack>> LoadDefaultRulePacks() {
  absl::StatusOr<std::vector<RulePackSource>> sources = DefaultRulePackSources();
  if (!sources.ok()) return sources.status();
  return ParseRulePackSources(*sources);
}

absl::StatusOr<std::string> ReadRulePackFile(const std::string& path) {
  return ReadWholeFile(path);
}

absl::StatusOr<std::vector<RulePack>> LoadEmbeddedRulePacks() {
  std::vector<RulePack> packs;
  for (size_t i = 0; i < kEmbeddedRulePackCount; ++i) {
    absl::StatusOr<RulePack> pack = ParseRulePack(
        kEmbeddedRulePacks[i], absl::StrCat("<embedded:", kEmbeddedRulePackNames[i], ">"));
    if (!pack.ok()) return pack.status();
    packs.push_back(*std::move(pack));
  }
  if (packs.empty()) return absl::NotFoundError("no rule packs found and none embedded");
  return packs;
}

}  // namespace kavach::internal
