// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// An on-disk cache of compiled scanner databases, so that building a Scanner
// from the same rule packs on the same machine costs a file read instead of a
// Hyperscan compile (hundreds of milliseconds, paid by every gated exec).
//
//   std::string dir = ScanCacheDir();                  // "" = no caching
//   std::string key = CacheKeyHex(canonical_inputs);   // SHA-256, hex
//   if (auto payload = LoadCacheEntry(dir, key)) { ...decode, validate... }
//   else { ...compile...; (void)StoreCacheEntry(dir, key, payload); }
//
// A cache file is never trusted blindly: it carries a magic, our format
// version, the full key and a SHA-256 of the payload's first `digested`
// bytes, all checked on load; a file failing any check reads as a miss (and
// is overwritten on the next store). The storer may leave a tail of the
// payload out of the digest only when that tail checks itself: the scanner
// leaves out its Hyperscan databases, which hs_deserialize_database
// verifies (magic, version, platform, length, and a CRC32C over the whole
// bytecode) before use. The digest (SHA-256 or CRC) guards against
// corruption only, not against an attacker, who could recompute either:
// that is what the ownership and mode checks below are for. Files are written to a temporary name
// and renamed, mode 0600, in a 0700 directory; a read-only or missing directory only means no
// caching. A directory or file that another user owns or could write is not
// used at all (a planted database could blind the gate).
#ifndef KAVACH_SCAN_DB_CACHE_H_
#define KAVACH_SCAN_DB_CACHE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"

namespace kavach::internal {

// Bumped whenever the payload layout or the meaning of its contents changes.
// 2: exact tails (HyperscanPattern). 3: the payload holds the rules
// themselves (a warm start parses no TOML), keys may be made from the packs'
// raw bytes, and the digest covers only the non-database part. 4: rules
// carry `anchors`, and anchored rules may be outside the database. 5: the
// built-in code pack's shell-metacharacter rule and the secrets pack's
// high-entropy-assignment rule have prefilters (and code-http-request's
// is shorter).
inline constexpr uint32_t kScanCacheFormat = 5;

// $KAVACH_CACHE_DIR, else $XDG_CACHE_HOME/kavach, else ~/.cache/kavach
// ($HOME, else the passwd entry), for root /var/cache/kavach when none of
// the variables is set. "" when no directory can be determined, or when
// KAVACH_CACHE_DIR is set to "" or "off" (caching disabled).
std::string ScanCacheDir();

// Lower-case hex SHA-256 of `data` (64 characters).
std::string CacheKeyHex(std::string_view data);

// The payload stored under `key_hex` in `dir`, or nullopt on a miss: no
// file, unreadable, wrong magic/format/key, truncated, or digest mismatch
// (over the part of the payload the store asked to digest: the caller
// validates the rest).
std::optional<std::string> LoadCacheEntry(const std::string& dir, const std::string& key_hex);

// As LoadCacheEntry, without copying the payload: it stays in a read-only
// mapping of the entry's file, valid as long as the returned object lives.
class MappedCacheEntry final {
 public:
  MappedCacheEntry(void* map, size_t size, std::string_view payload)
      : map_(map), size_(size), payload_(payload) {}
  MappedCacheEntry(MappedCacheEntry&& other) noexcept
      : map_(std::exchange(other.map_, nullptr)), size_(other.size_), payload_(other.payload_) {}
  MappedCacheEntry& operator=(MappedCacheEntry&&) = delete;
  MappedCacheEntry(const MappedCacheEntry&) = delete;
  MappedCacheEntry& operator=(const MappedCacheEntry&) = delete;
  ~MappedCacheEntry();

  std::string_view payload() const { return payload_; }

 private:
  void* map_;
  size_t size_;
  std::string_view payload_;
};
std::optional<MappedCacheEntry> MapCacheEntry(const std::string& dir, const std::string& key_hex);

// Stores `payload` under `key_hex` (creating `dir` 0700 if needed), with a
// SHA-256 of its first `digested` bytes (all of it by default; see above
// for what may be left out), and removes entries not loaded for 30 days (a
// load refreshes an entry's mtime when it is over an hour old). Errors are
// returned for the caller to ignore: caching is best-effort.
[[nodiscard]] absl::Status StoreCacheEntry(const std::string& dir, const std::string& key_hex,
                                           std::string_view payload,
                                           size_t digested = std::string_view::npos);

// The file an entry lives in (for tests and diagnostics).
std::string CacheEntryPath(const std::string& dir, const std::string& key_hex);

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_DB_CACHE_H_
