// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// A candidate finder for rules whose every match begins, at a word boundary,
// with one of a few short words ("nc", "mount", "curl"...): the rule lists
// them as `anchors` in its pack. In Hyperscan such a rule's literal also
// hits inside words ("sync", "amount", "retrieval"), and each literal hit
// costs Hyperscan tens of nanoseconds before the \b rejects it; realistic
// output is full of them. This finder tests the word start in SIMD before
// looking at a literal at all: it looks up the first four bytes of every
// position in bucket tables (8 or 16 buckets; per 64 bytes byte-exact with
// AVX-512 VBMI vpermi2b, else per 32 bytes by low and high nibble with AVX2
// vpshufb) and keeps positions after a non-word byte; the few survivors are
// compared with the anchors. Like a shape finder it only nominates lines;
// RE2 decides.
//
//   AnchorFinder f({{"mount", 7}, {"nc", 9}});
//   f.Find(text, 0, text.size(), [&](unsigned id, size_t end) { ...; return true; });
//
// Matching is ASCII case-insensitive (a superset for case-sensitive rules).
#ifndef KAVACH_SCAN_ANCHOR_FINDER_H_
#define KAVACH_SCAN_ANCHOR_FINDER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace kavach::internal {

// An anchor reads at most this many bytes from its first byte, and one
// before it (the same bounds as the shape finders': kShapeLookahead and
// kShapeLookback cover them).
inline constexpr size_t kMaxAnchorLength = 12;

// OK, or why `anchor` cannot be one: 1 to kMaxAnchorLength printable ASCII
// bytes, the first a word byte [0-9A-Za-z_].
absl::Status CheckAnchor(std::string_view anchor);

class AnchorFinder {
 public:
  AnchorFinder() = default;
  // Each anchor must pass CheckAnchor (others are ignored); ids need not be
  // distinct.
  explicit AnchorFinder(const std::vector<std::pair<std::string, unsigned>>& anchors);

  // Whether Find runs a SIMD path on this CPU (AVX-512 VBMI or AVX2).
  // Without one Find is a byte loop, slower than Hyperscan: the scanner then
  // leaves anchored rules in Hyperscan.
  static bool Fast();

  bool empty() const { return anchors_.empty(); }

  // Calls on_candidate(id, end) for every anchor occurrence whose first byte
  // lies in [from, to), follows a non-word byte (or the start of `text`),
  // and matches the anchor case-insensitively; `end` is just past it. Bytes
  // past the text match no anchor byte; when more text may follow, pass
  // to <= text.size() - kMaxAnchorLength. Stops when on_candidate returns
  // false. Reports are in order of position.
  void Find(std::string_view text, size_t from, size_t to,
            absl::FunctionRef<bool(unsigned, size_t)> on_candidate) const;

 private:
  struct Anchor {
    std::string lower;
    unsigned id;
    // The first min(8, size) bytes as a little-endian word, lower case;
    // `fold` has 0x20 in the bytes that are letters, `used` 0xff in the
    // bytes the anchor has: an 8-byte load x matches when
    // ((x | fold) & used) == head.
    uint64_t head = 0, fold = 0, used = 0;
  };
  // Whether anchor `a` occurs at text[i] (case-insensitively).
  static bool At(const Anchor& a, std::string_view text, size_t i);
  // Reports the anchors of the buckets in `buckets` (all when ~0) that occur
  // at text[i] (word start already checked); false when on_candidate asked
  // to stop.
  bool Confirm(std::string_view text, size_t i, unsigned buckets,
               absl::FunctionRef<bool(unsigned, size_t)> on_candidate) const;
  void FindScalar(std::string_view text, size_t from, size_t to,
                  absl::FunctionRef<bool(unsigned, size_t)> on_candidate, bool* stop) const;
  // The SIMD walks from *at while their loads stay in the text; they leave
  // *at at the first position they did not decide. RunSimd (VBMI) needs
  // *at > 0.
  void RunSimd(std::string_view text, size_t* at, size_t to,
               absl::FunctionRef<bool(unsigned, size_t)> on_candidate, bool* stop) const;
  template <bool kTwoHalves>
#if defined(__x86_64__)
  // (GCC applies a member template's target attribute from its declaration
  // only.)
  __attribute__((target("avx2")))
#endif
  void
  RunAvx2(std::string_view text, size_t* at, size_t to,
          absl::FunctionRef<bool(unsigned, size_t)> on_candidate, bool* stop) const;

  std::vector<Anchor> anchors_;  // sorted by first byte
  // Per lower-case first byte: [begin, end) in anchors_.
  std::array<std::pair<uint16_t, uint16_t>, 128> by_first_{};
  // Per bucket: indices into anchors_.
  std::array<std::vector<uint16_t>, 16> buckets_;
  bool two_halves_ = false;  // 16 buckets (else 8)
  // [position 0..3][bucket half 0..1][byte 0..127]: bit b set when an anchor
  // of bucket 8 * half + b may have that byte there (both cases for letters;
  // every byte past an anchor's end).
  alignas(64) uint8_t tables_[4][2][128] = {};
  alignas(64) uint8_t word_[128] = {};  // 1 for [0-9A-Za-z_]
  // The AVX2 tables, [position][half][0: low nibble, 1: high nibble][16]:
  // a byte may be there for bucket b when both its nibbles' entries have
  // bit b (a superset of tables_: nibbles of different anchor bytes of a
  // bucket combine). An upper-case letter differs from its lower case only
  // in the high nibble, which has both.
  alignas(32) uint8_t nibbles_[4][2][2][16] = {};
};

namespace internal_anchors {
enum class Path { kBest, kScalar, kAvx2, kVbmi };
// Tests only: the path Find takes instead of the best one this CPU has
// (which must have the one chosen). Not thread-safe.
extern Path path;
// Whether this CPU has that path.
bool Supported(Path p);
}  // namespace internal_anchors

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_ANCHOR_FINDER_H_
