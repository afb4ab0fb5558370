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
#define KAVACH_ANCHORS_X86 1
#endif

namespace kavach::internal {

namespace {

bool HaveVbmi() {
#if defined(KAVACH_ANCHORS_X86)
  static const bool have =
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi");
  return have;
#else
  return false;
#endif
}

bool HaveAvx2() {
#if defined(KAVACH_ANCHORS_X86)
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
#else
  return false;
#endif
}

}  // namespace

namespace internal_anchors {
Path path = Path::kBest;

bool Supported(Path p) {
  switch (p) {
    case Path::kBest:
    case Path::kScalar:
      return true;
    case Path::kAvx2:
      return HaveAvx2();
    case Path::kVbmi:
      return HaveVbmi();
  }
  return false;
}
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
      uint8_t* low = nibbles_[pos][half][0];
      uint8_t* high = nibbles_[pos][half][1];
      if (pos >= anchors_[k].lower.size()) {
        for (size_t b = 0; b < 128; ++b) table[b] |= bit;
        for (size_t n = 0; n < 16; ++n) low[n] |= bit, high[n] |= bit;
        continue;
      }
      const auto c = static_cast<unsigned char>(anchors_[k].lower[pos]);
      const auto upper = static_cast<unsigned char>(absl::ascii_toupper(c));
      table[c] |= bit;
      table[upper] |= bit;
      low[c & 15] |= bit;
      high[c >> 4] |= bit;
      high[upper >> 4] |= bit;
    }
  }
}

bool AnchorFinder::Fast() { return HaveVbmi() || HaveAvx2(); }

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
  using internal_anchors::Path;
  Path path = internal_anchors::path;
  if (path == Path::kBest) {
    path = HaveVbmi() ? Path::kVbmi : HaveAvx2() ? Path::kAvx2 : Path::kScalar;
  }
  size_t i = from;
#if defined(KAVACH_ANCHORS_X86)
  if (path == Path::kVbmi) {
    // Position 0 has no byte before it in the text: the byte loop decides it.
    if (i == 0) {
      FindScalar(text, 0, 1, on_candidate, &stop);
      if (stop) return;
      i = 1;
    }
    RunSimd(text, &i, to, on_candidate, &stop);
    if (stop) return;
  } else if (path == Path::kAvx2) {
    if (two_halves_) {
      RunAvx2<true>(text, &i, to, on_candidate, &stop);
    } else {
      RunAvx2<false>(text, &i, to, on_candidate, &stop);
    }
    if (stop) return;
  }
#endif
  FindScalar(text, i, to, on_candidate, &stop);
}

#if defined(KAVACH_ANCHORS_X86)
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

namespace {

// A 16-byte table in both 128-bit lanes (vpshufb looks up within a lane).
__attribute__((target("avx2"))) inline __m256i Avx2Table(const uint8_t* t) {
  return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// Per byte, the bits its low nibble `lo` and high nibble `hi` both have.
__attribute__((target("avx2"))) inline __m256i Avx2Lookup(__m256i low, __m256i high, __m256i lo,
                                                          __m256i hi) {
  return _mm256_and_si256(_mm256_shuffle_epi8(low, lo), _mm256_shuffle_epi8(high, hi));
}

}  // namespace

template <bool kTwoHalves>
__attribute__((target("avx2"))) void AnchorFinder::RunAvx2(
    std::string_view text, size_t* at, size_t to,
    absl::FunctionRef<bool(unsigned, size_t)> on_candidate, bool* stop) const {
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  // Written out rather than in arrays and loops, which GCC keeps in memory.
  const __m256i low00 = Avx2Table(nibbles_[0][0][0]), high00 = Avx2Table(nibbles_[0][0][1]);
  const __m256i low10 = Avx2Table(nibbles_[1][0][0]), high10 = Avx2Table(nibbles_[1][0][1]);
  const __m256i low20 = Avx2Table(nibbles_[2][0][0]), high20 = Avx2Table(nibbles_[2][0][1]);
  const __m256i low30 = Avx2Table(nibbles_[3][0][0]), high30 = Avx2Table(nibbles_[3][0][1]);
  // Word bytes by nibbles: bit 0 digits (high 3, low 0-9), bit 1 A-O and
  // a-o (4 and 6, 1-f), bit 2 P-Z and p-z (5 and 7, 0-a), bit 3 '_' (5, f).
  // Bytes >= 0x80 have no bit in `word_high`.
  const __m256i word_low = _mm256_setr_epi8(5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 2, 2, 2, 2, 10,  //
                                            5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 2, 2, 2, 2, 10);
  const __m256i word_high = _mm256_setr_epi8(0, 0, 0, 1, 2, 12, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                             0, 0, 0, 1, 2, 12, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i zero = _mm256_setzero_si256();
  size_t i = *at;
  // Bit 0: whether the byte before position i is a word byte.
  uint32_t carry = i > 0 && IsWord(data[i - 1]) ? 1 : 0;
  // Positions [i, i + 32) per round; the loads reach text[i, i + 35),
  // and the candidates' 8-byte heads text[i, i + 39).
  while (i < to && i + 39 <= text.size()) {
    const unsigned char* p = data + i;
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 1));
    const __m256i v2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
    const __m256i v3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 3));
    const __m256i lo0 = _mm256_and_si256(v0, nibble);
    const __m256i hi0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), nibble);
    const __m256i lo1 = _mm256_and_si256(v1, nibble);
    const __m256i hi1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), nibble);
    const __m256i lo2 = _mm256_and_si256(v2, nibble);
    const __m256i hi2 = _mm256_and_si256(_mm256_srli_epi16(v2, 4), nibble);
    const __m256i lo3 = _mm256_and_si256(v3, nibble);
    const __m256i hi3 = _mm256_and_si256(_mm256_srli_epi16(v3, 4), nibble);
    const __m256i h0 = _mm256_and_si256(
        _mm256_and_si256(Avx2Lookup(low00, high00, lo0, hi0), Avx2Lookup(low10, high10, lo1, hi1)),
        _mm256_and_si256(Avx2Lookup(low20, high20, lo2, hi2), Avx2Lookup(low30, high30, lo3, hi3)));
    __m256i h1 = zero;
    if constexpr (kTwoHalves) {
      // Too many tables for the 16 registers: these come from memory.
      h1 = _mm256_and_si256(
          _mm256_and_si256(
              Avx2Lookup(Avx2Table(nibbles_[0][1][0]), Avx2Table(nibbles_[0][1][1]), lo0, hi0),
              Avx2Lookup(Avx2Table(nibbles_[1][1][0]), Avx2Table(nibbles_[1][1][1]), lo1, hi1)),
          _mm256_and_si256(
              Avx2Lookup(Avx2Table(nibbles_[2][1][0]), Avx2Table(nibbles_[2][1][1]), lo2, hi2),
              Avx2Lookup(Avx2Table(nibbles_[3][1][0]), Avx2Table(nibbles_[3][1][1]), lo3, hi3)));
    }
    const auto any = ~static_cast<uint32_t>(
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_or_si256(h0, h1), zero)));
    const auto word = ~static_cast<uint32_t>(
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(Avx2Lookup(word_low, word_high, lo0, hi0), zero)));
    // Positions whose byte before is no word byte.
    uint32_t m = any & ~((word << 1) | carry);
    carry = word >> 31;
    if (m != 0) [[unlikely]] {
      if (to - i < 32) m &= (uint32_t{1} << (to - i)) - 1;
      alignas(32) uint8_t b0[32], b1[32];
      _mm256_store_si256(reinterpret_cast<__m256i*>(b0), h0);
      if constexpr (kTwoHalves) _mm256_store_si256(reinterpret_cast<__m256i*>(b1), h1);
      while (m != 0) {
        const size_t j = static_cast<size_t>(__builtin_ctz(m));
        m &= m - 1;
        unsigned buckets = b0[j];
        if constexpr (kTwoHalves) buckets |= static_cast<unsigned>(b1[j]) << 8;
        // Confirm, inlined: most candidates fail the 8-byte head compare,
        // and a call would spill and reload the tables.
        uint64_t x;
        std::memcpy(&x, p + j, 8);
        while (buckets != 0) {
          const int b = __builtin_ctz(buckets);
          buckets &= buckets - 1;
          for (uint16_t k : buckets_[b]) {
            const Anchor& a = anchors_[k];
            if (((x | a.fold) & a.used) != a.head) continue;
            if (a.lower.size() > 8 && !At(a, text, i + j)) continue;
            if (!on_candidate(a.id, i + j + a.lower.size())) {
              *stop = true;
              return;
            }
          }
        }
      }
    }
    i += 32;
  }
  *at = std::min(i, to);
}
#endif

}  // namespace kavach::internal
