// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Rule packs: the scanners' rules as data. A pack is a TOML file with one
// [[rules]] table per rule; users add packs (and allow-lists) without
// rebuilding. gitleaks configurations import as a secrets pack.
//
//   auto pack = LoadRulePack("rules/secrets.toml");        // StatusOr<RulePack>
//   auto gl = ImportGitleaksFile("gitleaks.toml");         // StatusOr<RulePack>
//   // gl->skipped lists the rules that could not be imported, with the reason.
//
// Pack format (see rules/secrets.toml for a complete example):
//   name = "secrets"            # pack name
//   scanner = "secrets"         # secrets | code | data (default for every rule)
//   [allowlist]                 # pack-wide, applied to every rule of the pack
//   regexes = ['...']           # RE2, matched against the extracted secret
//   stopwords = ["example"]     # case-insensitive substrings of the secret
//   [[rules]]
//   id = "aws-access-key"       # unique across all loaded packs
//   category = "cloud_credential"
//   severity = "critical"       # info | low | medium | high | critical
//   pattern = '''\b(AKIA[0-9A-Z]{16})\b'''   # RE2 syntax
//   prefilter = '''...'''       # optional: cheaper Hyperscan-only superset
//   shape = "card"              # optional: built-in SIMD candidate finder used
//                               # instead of Hyperscan (card | iban | ssn |
//                               # phone | ipv4; see scan/shape_finder.h)
//   anchors = ["nc", "netcat"]  # optional: every match begins, at a word
//                               # boundary, with one of these (caseless;
//                               # SIMD finder instead of Hyperscan, see
//                               # scan/anchor_finder.h)
//   secret_group = 1            # capture group holding the secret (0: whole)
//   keywords = ["akia"]         # optional: the line must contain one (caseless)
//   entropy = 3.0               # optional: min Shannon entropy of the secret
//   validator = "luhn"          # optional: luhn | iban | ssn
//   redact = true               # optional: default true for secrets, else false
//   description = "..."
//   examples = ["..."]          # texts that must produce this rule's finding
//   negatives = ["..."]         # texts that must not
//   [rules.allowlist]           # optional, same keys as the pack's
#ifndef KAVACH_SCAN_RULE_PACK_H_
#define KAVACH_SCAN_RULE_PACK_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kavach/findings.h"

namespace kavach::internal {

enum class Validator { kNone, kLuhn, kIban, kSsn };

struct AllowList {
  std::vector<std::string> regexes;    // RE2; a match on the secret drops it
  std::vector<std::string> stopwords;  // lowercase substrings of the secret
};

struct Rule {
  std::string id;
  std::string scanner;  // "secrets" | "code" | "data"
  std::string category;
  Severity severity = Severity::kMedium;
  std::string pattern;  // RE2 syntax (Go RE2 is accepted for gitleaks imports)
  // Optional Hyperscan-only pattern used instead of `pattern` to nominate
  // lines: it must match on every line `pattern` does (a superset). Rules
  // with the same prefilter share one Hyperscan expression.
  std::string prefilter;
  // Optional built-in candidate finder (scan/shape_finder.h) that nominates
  // lines instead of a Hyperscan expression; like `prefilter`, it must
  // nominate every line `pattern` matches on. `prefilter` is then only used
  // where shapes are not (a pack of nothing but shape rules).
  std::string shape;
  // Optional words (1-12 bytes, the first a word byte) one of which every
  // match begins with, right after a word boundary (ASCII case-insensitive):
  // on CPUs with AVX-512 VBMI scan/anchor_finder.h nominates the rule's
  // lines instead of Hyperscan, for rules whose Hyperscan literal also
  // hits inside common words ("nc" in "sync").
  std::vector<std::string> anchors;
  int secret_group = 0;
  std::vector<std::string> keywords;  // lowercase
  double entropy = 0.0;
  Validator validator = Validator::kNone;
  bool redact = false;
  std::string description;
  AllowList allowlist;
  std::vector<std::string> examples;
  std::vector<std::string> negatives;
};

struct RulePack {
  std::string name;
  std::string source;  // file path or "<embedded:secrets>"
  std::vector<Rule> rules;
  AllowList allowlist;  // applies to every rule of this pack
  // Rules that could not be imported (gitleaks): "id: reason".
  std::vector<std::string> skipped;
  // Lenient packs (gitleaks imports) drop a rule that does not compile and
  // list it in Scanner::skipped(); in a strict pack (kavach's own format) a
  // bad rule fails Scanner::Create.
  bool lenient = false;
};

// Parses a kavach pack. Every rule needs id, category, severity and pattern;
// an unknown severity or validator is InvalidArgument naming the rule.
[[nodiscard]] absl::StatusOr<RulePack> ParseRulePack(std::string_view toml,
                                                     std::string_view source);
[[nodiscard]] absl::StatusOr<RulePack> LoadRulePack(const std::string& path);

// Imports a gitleaks config (config/gitleaks.toml format) as a secrets pack:
// regex -> pattern, secretGroup, entropy, keywords, per-rule and global
// allowlists (regexes with regexTarget "secret", stopwords). Rules without a
// regex (path-only) land in `skipped`. Patterns are not compiled here; the
// Scanner reports the ones Hyperscan/RE2 reject (see Scanner::skipped()).
[[nodiscard]] absl::StatusOr<RulePack> ImportGitleaks(std::string_view toml,
                                                      std::string_view source);
[[nodiscard]] absl::StatusOr<RulePack> ImportGitleaksFile(const std::string& path);

// The built-in packs (secrets, code, data). Found at run time in, in order:
// $KAVACH_RULES_DIR, the installed share dir (<prefix>/share/kavach/rules),
// KAVACH_SOURCE_DIR/rules; else the copies embedded in the binary at build
// time, so an installed kavach works without the source tree.
[[nodiscard]] absl::StatusOr<std::vector<RulePack>> LoadDefaultRulePacks();
// Only the copies embedded at build time (what an installed binary falls
// back on).
[[nodiscard]] absl::StatusOr<std::vector<RulePack>> LoadEmbeddedRulePacks();

// A pack's unparsed text and where it came from. A scanner restored from the
// compiled-database cache is keyed on these bytes, so a warm start never
// parses TOML.
struct RulePackSource {
  std::string source;  // file path or "<embedded:secrets>"
  std::string text;
};
// The built-in packs' texts, found as LoadDefaultRulePacks finds them.
[[nodiscard]] absl::StatusOr<std::vector<RulePackSource>> DefaultRulePackSources();
// ParseRulePack of each source, in order.
[[nodiscard]] absl::StatusOr<std::vector<RulePack>> ParseRulePackSources(
    const std::vector<RulePackSource>& sources);
// A pack file's bytes, with LoadRulePack's errors for a missing or
// unreadable file.
[[nodiscard]] absl::StatusOr<std::string> ReadRulePackFile(const std::string& path);

// Parses "info".."critical" (case-insensitive).
[[nodiscard]] absl::StatusOr<Severity> ParseSeverity(std::string_view name);

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_RULE_PACK_H_
