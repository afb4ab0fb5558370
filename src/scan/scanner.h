// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The compiled multi-pattern scanner behind the output gate. All rules of all
// packs (secrets, code, data, plus any user or gitleaks packs) go into one
// Hyperscan database, so the text is read once whatever the rule count; a
// Hyperscan hit only nominates a line, and RE2 confirms it, extracts the
// secret group and runs the rule's checks (keywords, entropy, validator,
// allow-lists).
//
//   auto scanner = Scanner::CreateDefault();              // built-in packs
//   std::vector<Finding> f = (*scanner)->Scan(output, "stdout");
//   std::string clean = Redact(output, RedactableFindings(f));   // redact.h
//
//   auto stream = (*scanner)->OpenStream("stdout");      // chunked output
//   for (auto chunk : chunks) Append(&found, stream->Feed(chunk));
//   Append(&found, stream->Finish());
//
// Scanner is immutable after Create and thread-safe: Scan() and OpenStream()
// may be called concurrently (scratch space comes from an internal pool).
// Matches are line-bound: a finding never spans a newline.
#ifndef KAVACH_SCAN_SCANNER_H_
#define KAVACH_SCAN_SCANNER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kavach/findings.h"
#include "scan/rule_pack.h"

namespace kavach::internal {

class ScannerImpl;

struct ScannerOptions {
  // Where compiled databases are cached (see scan/db_cache.h); unset: the
  // default ScanCacheDir(), "": no caching.
  std::optional<std::string> cache_dir;
};

// How a Scanner came to be, for diagnostics and tests.
struct ScannerBuildInfo {
  bool cache_hit = false;     // databases came from the cache, no compile
  bool cache_stored = false;  // compiled now and written to the cache
  std::string cache_path;     // the entry consulted ("" without a cache)
};

// Scans one stream fed in chunks, with bounded memory (a few KiB of held-back
// text plus the current chunk). A secret split across chunk boundaries is
// found exactly once. Offsets and lines in findings are absolute within the
// stream. Not thread-safe (one stream per thread); must not outlive its
// Scanner.
class ScanStream final {
 public:
  ~ScanStream();
  ScanStream(const ScanStream&) = delete;
  ScanStream& operator=(const ScanStream&) = delete;

  // Scans the next chunk; returns the findings that became certain with it.
  std::vector<Finding> Feed(std::string_view chunk);
  // End of stream: returns the findings still pending.
  std::vector<Finding> Finish();

  // No finding reported later (by Feed or Finish) begins before this offset,
  // so bytes before it may be delivered (after redacting the findings
  // already returned). Always <= bytes_fed().
  uint64_t settled_offset() const;
  uint64_t bytes_fed() const;

 private:
  friend class Scanner;
  struct State;
  explicit ScanStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class Scanner final {
 public:
  // Compiles every rule of every pack into one database. Fails with
  // InvalidArgument on a duplicate rule id or a rule that does not compile in
  // a strict pack (the message names pack and rule); lenient packs (gitleaks)
  // skip such rules and list them in skipped().
  // Uses the compiled-database cache (ScannerOptions) when it holds an entry
  // for exactly these packs, Hyperscan version and CPU; otherwise compiles
  // and stores one.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Scanner>> Create(std::vector<RulePack> packs);
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Scanner>> Create(
      std::vector<RulePack> packs, const ScannerOptions& options);
  // The built-in packs (LoadDefaultRulePacks()) plus the given TOML packs.
  // A path whose pack declares gitleaks' format ("title = ... gitleaks")
  // is imported with ImportGitleaks.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Scanner>> CreateDefault(
      const std::vector<std::string>& extra_pack_paths = {});
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Scanner>> CreateDefault(
      const std::vector<std::string>& extra_pack_paths, const ScannerOptions& options);

  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // All findings in `text`, ordered by begin offset. `stream_name` is copied
  // into Finding::stream. At most kMaxFindings are returned (the rest are
  // dropped; the verdict is already decided by then).
  std::vector<Finding> Scan(std::string_view text, std::string_view stream_name = "") const;

  // A streaming scan of one output stream.
  std::unique_ptr<ScanStream> OpenStream(std::string_view stream_name = "") const;

  // Rules compiled into the database.
  size_t rule_count() const;
  const ScannerBuildInfo& build_info() const;
  // "pack/rule-id: reason" for every rule of a lenient pack that was dropped.
  const std::vector<std::string>& skipped() const;
  // Ids of the rules Hyperscan runs as a prefilter (a superset it can
  // compile; RE2 then decides), because their exact pattern uses syntax
  // Hyperscan lacks.
  const std::vector<std::string>& prefiltered() const;
  // The compiled rule with this id, or nullptr.
  const Rule* FindRule(std::string_view id) const;
  // Every compiled rule, in database order.
  const std::vector<Rule>& rules() const;

  static constexpr size_t kMaxFindings = 10000;

 private:
  explicit Scanner(std::unique_ptr<ScannerImpl> impl);
  std::unique_ptr<ScannerImpl> impl_;
};

// Shannon entropy of `s` in bits per byte (0 for an empty string).
double ShannonEntropy(std::string_view s);
// Luhn checksum over the digits of `s` (separators ' ' and '-' ignored);
// false when there are fewer than 12 digits.
bool LuhnValid(std::string_view s);
// IBAN: country code, check digits, mod-97 == 1 (spaces ignored).
bool IbanValid(std::string_view s);
// US SSN "AAA-GG-SSSS": area not 000, 666 or 9xx, group not 00, serial not 0000.
bool SsnValid(std::string_view s);

// Masked preview of a matched secret: its first 4 bytes, "…" and its length,
// e.g. "AKIA…(20)". Never the whole secret (short secrets show fewer bytes).
std::string MaskedPreview(std::string_view secret);

namespace internal_scanner {
// Tests only: true makes scanners created afterwards match every rule with
// its pattern as written, never the cheaper loose form (scanner.cc, Loosen),
// so tests can compare the two. Not thread-safe.
extern bool exact_only;
}  // namespace internal_scanner

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_SCANNER_H_
