// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/anchor_finder.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define KAVACH_ANCHORS_VBMI 1
#endif

namespace kavach::internal {

namespace internal_anchors {
bool scalar_only = false;
}  // namespace internal_anchors

namespace {

constexpr size_t kPositions = 4;  // bytes of an anchor the tables test
constexpr size_t kMaxBuckets = 16;
// Up to this many anchors share 8 buckets (one table lookup per position),
// more get 16 (two).
constexpr size_t kAnchorsPerHalf = 24;

bool IsWord(unsigned char c) { return absl::ascii_isalnum(c) || c == '_'; }

}  // namespace

absl::Status CheckAnchor(std::string_view anchor) {
  if (anchor.empty() || anchor.size() > kMaxAnchorLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("anchor \"", std::string(anchor), "\": 1 to ", kMaxAnchorLength, " bytes"));
  }
  if (!IsWord(static_cast<unsigned char>(anchor[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat("anchor \"", std::string(anchor), "\": must begin with [0-9A-Za-z_]"));
  }
  for (char c : anchor) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || u == '\n' || u == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "anchor \"", absl::CHexEscape(std::string(anchor)), "\": ASCII without newline"));
    }
  }
  return absl::OkStatus();
}

AnchorFinder::AnchorFinder(const std::vector<std::pair<std::string, unsigned>>& anchors) {
  for (int c = 0; c < 128; ++c) word_[c] = IsWord(static_cast<unsigned char>(c)) ? 1 : 0;
  for (const auto& [text, id] : anchors) {
    if (!CheckAnchor(text).ok()) continue;
    anchors_.push_back(Anchor{absl::AsciiStrToLower(text), id});
  }
  for (Anchor& a : anchors_) {
    for (size_t j = 0; j < a.lower.size() && j < 8; ++j) {
      const auto c = static_cast<unsigned char>(a.lower[j]);
      a.head |= uint64_t{c} << (8 * j);
      a.used |= uint64_t{0xff} << (8 * j);
      if (absl::ascii_isalpha(c)) a.fold |= uint64_t{0x20} << (8 * j);
    }
  }
  std::sort(anchors_.begin(), anchors_.end(), [](const Anchor& a, const Anchor& b) {
    return std::tie(a.lower, a.id) < std::tie(b.lower, b.id);
  });
  anchors_.erase(std::unique(anchors_.begin(), anchors_.end(),
                             [](const Anchor& a, const Anchor& b) {
                               return a.lower == b.lower && a.id == b.id;
                             }),
                 anchors_.end());
  for (size_t k = 0; k < anchors_.size(); ++k) {
    auto& range = by_first_[static_cast<unsigned char>(anchors_[k].lower[0])];
    if (range.first == range.second) range.first = static_cast<uint16_t>(k);
    range.second = static_cast<uint16_t>(k + 1);
  }
  // Buckets: anchors shorter than the tables (they admit any byte past
  // their end) get buckets of their own, the rest are taken in sorted order
  // so that a bucket's anchors mostly share their first bytes; both keep
  // the tables selective.
  std::vector<size_t> order(anchors_.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return (anchors_[a].lower.size() < kPositions) > (anchors_[b].lower.size() < kPositions);
  });
  size_t shorts = 0;
  for (const Anchor& a : anchors_) shorts += a.lower.size() < kPositions;
  // One bucket per two short anchors (at most half the buckets), the rest
  // shared evenly.
  const size_t buckets = anchors_.size() <= kAnchorsPerHalf ? 8 : kMaxBuckets;
  two_halves_ = buckets > 8;
  const size_t short_buckets = shorts == 0 ? 0 : std::min(buckets / 2, (shorts + 1) / 2);
  for (size_t n = 0; n < order.size(); ++n) {
    const size_t k = order[n];
    size_t bucket;
    if (n < shorts) {
      bucket = n * short_buckets / shorts;
    } else {
      bucket =
          short_buckets + (n - shorts) * (buckets - short_buckets) / (anchors_.size() - shorts);
    }
    buckets_[bucket].push_back(static_cast<uint16_t>(k));
    const auto bit = static_cast<uint8_t>(1u << (bucket % 8));
    const size_t half = bucket / 8;
    for (size_t pos = 0; pos < kPositions; ++pos) {
      uint8_t* table = tables_[pos][half];
      if (pos >= anchors_[k].lower.size()) {
        for (size_t b = 0; b < 128; ++b) table[b] |= bit;
        continue;
      }
      const auto c = static_cast<unsigned char>(anchors_[k].lower[pos]);
      table[c] |= bit;
      table[static_cast<unsigned char>(absl::ascii_toupper(c))] |= bit;
    }
  }
}

bool AnchorFinder::Fast() {
#if defined(KAVACH_ANCHORS_VBMI)
  static const bool have =
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi");
  return have;
#else
  return false;
#endif
}

bool AnchorFinder::At(const Anchor& a, std::string_view text, size_t i) {
  const size_t n = a.lower.size();
  if (n > text.size() - i) return false;
  if (text.size() - i >= 8) {
    uint64_t x;
    std::memcpy(&x, text.data() + i, 8);
    if (((x | a.fold) & a.used) != a.head) return false;
    if (n <= 8) return true;
  }
  for (size_t j = 0; j < n; ++j) {
    if (absl::ascii_tolower(text[i + j]) != a.lower[j]) return false;
  }
  return true;
}

bool AnchorFinder::Confirm(std::string_view text, size_t i, unsigned buckets,
                           absl::FunctionRef<bool(unsigned, size_t)> on_candidate) const {
  if (buckets == ~0u) {
    const auto first = static_cast<unsigned char>(absl::ascii_tolower(text[i]));
    if (first >= 0x80) return true;
    const auto [begin, end] = by_first_[first];
    for (size_t k = begin; k < end; ++k) {
      if (At(anchors_[k], text, i) && !on_candidate(anchors_[k].id, i + anchors_[k].lower.size())) {
        return false;
      }
    }
    return true;
  }
  // Bucket order is not position order within a position, which is fine:
  // all reports of one position come before the next position's.
  while (buckets != 0) {
    const int b = __builtin_ctz(buckets);
    buckets &= buckets - 1;
    for (uint16_t k : buckets_[b]) {
      if (At(anchors_[k], text, i) && !on_candidate(anchors_[k].id, i + anchors_[k].lower.size())) {
        return false;
      }
    }
  }
  return true;
}

void AnchorFinder::FindScalar(std::string_view text, size_t from, size_t to,
                              absl::FunctionRef<bool(unsigned, size_t)> on_candidate,
                              bool* stop) const {
  for (size_t i = from; i < to; ++i) {
    if (i > 0 && IsWord(static_cast<unsigned char>(text[i - 1]))) continue;
    if (!Confirm(text, i, ~0u, on_candidate)) {
      *stop = true;
      return;
    }
  }
}

void AnchorFinder::Find(std::string_view text, size_t from, size_t to,
                        absl::FunctionRef<bool(unsigned, size_t)> on_candidate) const {
  to = std::min(to, text.size());
  if (anchors_.empty() || from >= to) return;
  bool stop = false;
#if defined(KAVACH_ANCHORS_VBMI)
  if (Fast() && !internal_anchors::scalar_only) {
    // Position 0 has no byte before it in the text: the byte loop decides it.
    size_t i = from;
    if (i == 0) {
      FindScalar(text, 0, 1, on_candidate, &stop);
      if (stop) return;
      i = 1;
    }
    RunSimd(text, &i, to, on_candidate, &stop);
    if (stop) return;
    FindScalar(text, i, to, on_candidate, &stop);
    return;
  }
#endif
  FindScalar(text, from, to, on_candidate, &stop);
}

#if defined(KAVACH_ANCHORS_VBMI)
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void AnchorFinder::RunSimd(
    std::string_view text, size_t* at, size_t to,
    absl::FunctionRef<bool(unsigned, size_t)> on_candidate, bool* stop) const {
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  // The 128-byte tables, in two registers each (vpermi2b indexes 128 bytes
  // by the low 7 bits: bytes >= 0x80 look up their ASCII twin, a superset).
#define KAVACH_TABLE(name, pos, half)                             \
  const __m512i name##l = _mm512_loadu_si512(tables_[pos][half]); \
  const __m512i name##h = _mm512_loadu_si512(tables_[pos][half] + 64)
  KAVACH_TABLE(t00, 0, 0);
  KAVACH_TABLE(t01, 0, 1);
  KAVACH_TABLE(t10, 1, 0);
  KAVACH_TABLE(t11, 1, 1);
  KAVACH_TABLE(t20, 2, 0);
  KAVACH_TABLE(t21, 2, 1);
  KAVACH_TABLE(t30, 3, 0);
  KAVACH_TABLE(t31, 3, 1);
#undef KAVACH_TABLE
  const __m512i word_lo = _mm512_loadu_si512(word_);
  const __m512i word_hi = _mm512_loadu_si512(word_ + 64);
  size_t i = *at;
  // Positions [i, i + 64) per round; the loads reach text[i - 1, i + 67).
  while (i < to && i + 67 <= text.size()) {
    const unsigned char* p = data + i;
    const __m512i v0 = _mm512_loadu_si512(p);
    const __m512i v1 = _mm512_loadu_si512(p + 1);
    const __m512i v2 = _mm512_loadu_si512(p + 2);
    const __m512i v3 = _mm512_loadu_si512(p + 3);
    const __m512i prev = _mm512_loadu_si512(p - 1);
    // vpternlog 0x80: a & b & c.
    const __m512i h0 =
        _mm512_and_si512(_mm512_ternarylogic_epi64(_mm512_permutex2var_epi8(t00l, v0, t00h),
                                                   _mm512_permutex2var_epi8(t10l, v1, t10h),
                                                   _mm512_permutex2var_epi8(t20l, v2, t20h), 0x80),
                         _mm512_permutex2var_epi8(t30l, v3, t30h));
    __m512i h1 = _mm512_setzero_si512();
    if (two_halves_) {
      h1 = _mm512_and_si512(
          _mm512_ternarylogic_epi64(_mm512_permutex2var_epi8(t01l, v0, t01h),
                                    _mm512_permutex2var_epi8(t11l, v1, t11h),
                                    _mm512_permutex2var_epi8(t21l, v2, t21h), 0x80),
          _mm512_permutex2var_epi8(t31l, v3, t31h));
    }
    const __m512i h = _mm512_or_si512(h0, h1);
    const uint64_t any = _mm512_test_epi8_mask(h, h);
    // The byte before must be no word byte: word bytes are ASCII and in
    // the word table.
    const uint64_t word = _mm512_test_epi8_mask(_mm512_permutex2var_epi8(word_lo, prev, word_hi),
                                                _mm512_set1_epi8(1)) &
                          ~_mm512_movepi8_mask(prev);
    uint64_t m = any & ~word;
    if (m != 0) [[unlikely]] {
      if (to - i < 64) m &= (uint64_t{1} << (to - i)) - 1;
      alignas(64) uint8_t b0[64], b1[64];
      _mm512_storeu_si512(b0, h0);
      if (two_halves_) _mm512_storeu_si512(b1, h1);
      while (m != 0) {
        const size_t j = static_cast<size_t>(__builtin_ctzll(m));
        m &= m - 1;
        const unsigned buckets = b0[j] | (two_halves_ ? static_cast<unsigned>(b1[j]) << 8 : 0u);
        if (!Confirm(text, i + j, buckets, on_candidate)) {
          *stop = true;
          return;
        }
      }
    }
    i += 64;
  }
  *at = std::min(i, to);
}
#endif

}  // namespace kavach::internal
