// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Layout: the text is walked in steps of 52 anchors. Each step classifies the
// 64 bytes from 1 before the first anchor (kBack) to 11 after the last
// (kAhead) into one bit mask per byte class; bit i stands for byte (step
// start - 1 + i). A shape is then an AND of shifted masks: (m >> k) has at
// bit i the class of the byte k after i, (m << k) the byte k before it.
#include "scan/shape_finder.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#define KAVACH_SHAPES_AVX2 1
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace kavach::internal {

namespace internal_shapes {
bool baseline_only = false;
bool avx2_only = false;
}  // namespace internal_shapes

namespace {

constexpr size_t kBlock = 64;
// What the checks below read: the byte before an anchor (word boundary,
// the phone's separator) and the 10 after it (the card's ninth digit after
// "dddd-dddd", the SSN's last group, IPv4's last digit: at most anchor +
// 10), so 11 from the anchor on. Within the header's bounds, which the
// streaming scanner keeps; the tighter window gives 52 anchors per 64-byte
// classification instead of 48: FindShapes 0.342 -> 0.318 ms/MiB.
constexpr size_t kBack = 1;
constexpr size_t kAhead = 11;
static_assert(kBack <= kShapeLookback && kAhead <= kShapeLookahead);
constexpr size_t kStep = kBlock - kBack - kAhead;  // 52
static_assert(kStep == 52);

struct Classes {
  uint64_t digit = 0;   // [0-9]
  uint64_t upper = 0;   // [A-Z]
  uint64_t word = 0;    // [0-9A-Za-z_]
  uint64_t space = 0;   // ' '
  uint64_t dash = 0;    // '-'
  uint64_t dot = 0;     // '.'
  uint64_t plus = 0;    // '+'
  uint64_t rparen = 0;  // ')'
  uint64_t d26 = 0;     // [2-6]
  uint64_t d29 = 0;     // [2-9]
};

void Classify(const unsigned char* w, Classes* c) {
#if defined(__SSE2__)
  // Signed compares: bytes >= 0x80 are negative and fall in no class.
  auto range = [](__m128i v, char lo, char hi) {
    return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(v, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  auto bits = [](__m128i m) { return static_cast<uint64_t>(_mm_movemask_epi8(m) & 0xffff); };
  for (int k = 0; k < 4; ++k) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 16 * k));
    __m128i d = range(v, '0', '9');
    __m128i u = range(v, 'A', 'Z');
    __m128i l = range(v, 'a', 'z');
    __m128i us = _mm_cmpeq_epi8(v, _mm_set1_epi8('_'));
    const int sh = 16 * k;
    c->digit |= bits(d) << sh;
    c->upper |= bits(u) << sh;
    c->word |= bits(_mm_or_si128(_mm_or_si128(d, u), _mm_or_si128(l, us))) << sh;
    c->space |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(' '))) << sh;
    c->dash |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8('-'))) << sh;
    c->dot |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8('.'))) << sh;
    c->plus |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8('+'))) << sh;
    c->rparen |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(')'))) << sh;
    c->d26 |= bits(range(v, '2', '6')) << sh;
    c->d29 |= bits(range(v, '2', '9')) << sh;
  }
#else
  for (size_t i = 0; i < kBlock; ++i) {
    const unsigned char ch = w[i];
    const uint64_t b = uint64_t{1} << i;
    const bool d = ch >= '0' && ch <= '9';
    const bool u = ch >= 'A' && ch <= 'Z';
    const bool l = ch >= 'a' && ch <= 'z';
    if (d) c->digit |= b;
    if (u) c->upper |= b;
    if (d || u || l || ch == '_') c->word |= b;
    if (ch == ' ') c->space |= b;
    if (ch == '-') c->dash |= b;
    if (ch == '.') c->dot |= b;
    if (ch == '+') c->plus |= b;
    if (ch == ')') c->rparen |= b;
    if (ch >= '2' && ch <= '6') c->d26 |= b;
    if (ch >= '2' && ch <= '9') c->d29 |= b;
  }
#endif
}

#if defined(KAVACH_SHAPES_AVX2)
// The same classification, 32 bytes per instruction, on CPUs with AVX2
// (checked at run time; the binary stays baseline x86-64), in two phases.
__attribute__((target("avx2"))) inline uint64_t Avx2Bits(__m256i m0, __m256i m1) {
  return static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(m0))) |
         static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(m1))) << 32;
}

__attribute__((target("avx2"))) inline __m256i Avx2Range(__m256i v, char lo, char hi) {
  return _mm256_and_si256(_mm256_cmpgt_epi8(v, _mm256_set1_epi8(static_cast<char>(lo - 1))),
                          _mm256_cmpgt_epi8(_mm256_set1_epi8(static_cast<char>(hi + 1)), v));
}

// Phase one: digits and dots only, which decide whether a step can hold a
// shape at all. Returns false when the 64 bytes hold no digit.
__attribute__((target("avx2"))) bool ClassifyAvx2Digits(const unsigned char* w, Classes* c) {
  const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));
  c->digit = Avx2Bits(Avx2Range(v0, '0', '9'), Avx2Range(v1, '0', '9'));
  if (c->digit == 0) return false;
  const __m256i dt = _mm256_set1_epi8('.');
  c->dot = Avx2Bits(_mm256_cmpeq_epi8(v0, dt), _mm256_cmpeq_epi8(v1, dt));
  return true;
}

// Phase two: the other classes, for steps that passed phase one.
__attribute__((target("avx2"))) void ClassifyAvx2Rest(const unsigned char* w, Classes* c) {
  const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32));
  c->upper = Avx2Bits(Avx2Range(v0, 'A', 'Z'), Avx2Range(v1, 'A', 'Z'));
  const uint64_t lower = Avx2Bits(Avx2Range(v0, 'a', 'z'), Avx2Range(v1, 'a', 'z'));
  const __m256i us = _mm256_set1_epi8('_');
  c->word =
      c->digit | c->upper | lower | Avx2Bits(_mm256_cmpeq_epi8(v0, us), _mm256_cmpeq_epi8(v1, us));
  const __m256i sp = _mm256_set1_epi8(' ');
  c->space = Avx2Bits(_mm256_cmpeq_epi8(v0, sp), _mm256_cmpeq_epi8(v1, sp));
  const __m256i da = _mm256_set1_epi8('-');
  c->dash = Avx2Bits(_mm256_cmpeq_epi8(v0, da), _mm256_cmpeq_epi8(v1, da));
  const __m256i pl = _mm256_set1_epi8('+');
  c->plus = Avx2Bits(_mm256_cmpeq_epi8(v0, pl), _mm256_cmpeq_epi8(v1, pl));
  const __m256i rp = _mm256_set1_epi8(')');
  c->rparen = Avx2Bits(_mm256_cmpeq_epi8(v0, rp), _mm256_cmpeq_epi8(v1, rp));
  c->d26 = Avx2Bits(Avx2Range(v0, '2', '6'), Avx2Range(v1, '2', '6'));
  c->d29 = Avx2Bits(Avx2Range(v0, '2', '9'), Avx2Range(v1, '2', '9'));
}

__attribute__((target("avx512bw"))) inline uint64_t Avx512Range(__m512i v, char lo, char hi) {
  // v - lo < hi - lo + 1, unsigned: a subtract and one compare instead of
  // two compares and a mask AND (compares into masks are the scarce ones);
  // bytes >= 0x80 fall in no class either way. FindShapes 0.371 -> 0.359
  // ms/MiB on the clean corpus (AMD EPYC, AVX-512).
  return _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v, _mm512_set1_epi8(lo)),
                                _mm512_set1_epi8(static_cast<char>(hi - lo + 1)));
}

// AVX-512BW: one compare into a 64-bit mask per class, no movemask; every
// class at once (see the caller).
__attribute__((target("avx512bw"))) void ClassifyAvx512All(const unsigned char* w, Classes* c) {
  const __m512i v = _mm512_loadu_si512(w);
  c->digit = Avx512Range(v, '0', '9');
  c->dot = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('.'));
  c->upper = Avx512Range(v, 'A', 'Z');
  c->word = c->digit | c->upper | Avx512Range(v, 'a', 'z') |
            _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('_'));
  c->space = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(' '));
  c->dash = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('-'));
  c->plus = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('+'));
  c->rparen = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(')'));
  c->d26 = Avx512Range(v, '2', '6');
  c->d29 = Avx512Range(v, '2', '9');
}

#endif

// 0: baseline, 1: AVX2, 2: AVX-512BW and BMI2 (checked at run time).
int SimdLevel() {
#if defined(KAVACH_SHAPES_AVX2)
  static const int have = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("bmi2") ? 2
                          : __builtin_cpu_supports("avx2")                                     ? 1
                                                                                               : 0;
  if (internal_shapes::baseline_only) return 0;
  if (internal_shapes::avx2_only) return have >= 1 ? 1 : 0;
  return have;
#else
  return 0;
#endif
}

// [0-9]{1,3}\. starting at w[j]: the index after the dot, or 0.
size_t DigitsDot(const unsigned char* w, size_t j) {
  size_t n = 0;
  while (n < 3 && w[j + n] >= '0' && w[j + n] <= '9') ++n;
  if (n == 0 || w[j + n] != '.') return 0;
  return j + n + 1;
}

// The rest of [0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9] after "[0-9]\." at i.
// Returns the end index, or 0.
size_t Ipv4Tail(const unsigned char* w, size_t i) {
  size_t j = DigitsDot(w, i + 2);
  if (j == 0) return 0;
  j = DigitsDot(w, j);
  if (j == 0 || w[j] < '0' || w[j] > '9') return 0;
  return j + 1;
}

}  // namespace

std::optional<Shape> ShapeFromName(std::string_view name) {
  if (name == "card") return Shape::kCard;
  if (name == "iban") return Shape::kIban;
  if (name == "ssn") return Shape::kSsn;
  if (name == "phone") return Shape::kPhone;
  if (name == "ipv4") return Shape::kIpv4;
  return std::nullopt;
}

namespace {

// The loop of FindShapes for a SimdLevel() `level`, inlined into a copy
// compiled for BMI2 (SHRX, SHLX, ANDN for the shape arithmetic) used at
// level 2, and into the baseline copy for the others. FindShapes 0.358 ->
// 0.340 ms/MiB on the clean corpus (AMD EPYC); a copy for "avx512bw,bmi2",
// where the classifier inlines, was slower (0.393: GCC then spills the
// masks' general registers into mask registers).
__attribute__((always_inline)) inline void FindShapesLoop(
    std::string_view text, size_t from, size_t to, unsigned mask,
    absl::FunctionRef<bool(Shape, size_t)> on_candidate, [[maybe_unused]] int level) {
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  unsigned char pad[kBlock];
  for (size_t p = from; p < to; p += kStep) {
    // The 64 bytes [p - 1, p + 63), NUL outside the text.
    const unsigned char* w;
    if (p >= kBack && p - kBack + kBlock <= text.size()) {
      w = data + p - kBack;
    } else {
      std::memset(pad, 0, sizeof pad);
      size_t lo = p >= kBack ? p - kBack : 0;
      size_t hi = std::min(text.size(), p - kBack + kBlock);
      std::memcpy(pad + (lo + kBack - p), data + lo, hi - lo);
      w = pad;
    }
    Classes c;
#if defined(KAVACH_SHAPES_AVX2)
    if (level == 2) {
      // All classes, no early exit: a compare into a mask costs less than
      // the mispredicted branch that would skip it on mixed text.
      ClassifyAvx512All(w, &c);
    } else if (level == 1) {
      if (!ClassifyAvx2Digits(w, &c)) continue;
    } else {
      Classify(w, &c);
    }
#else
    Classify(w, &c);
#endif
    const uint64_t d = c.digit;
    auto ahead = [](uint64_t m, int k) { return m >> k; };
    // Runs of 2, 3 and 4 digits starting at each bit. Every shape but IPv4
    // holds two adjacent digits, and IPv4 holds digit-dot-digit: a step
    // with neither (most text, hex included) is done after two classes.
    const uint64_t d2 = d & ahead(d, 1);
    const uint64_t ipv4 = d & ahead(c.dot, 1) & ahead(d, 2);  // narrowed below
#if defined(KAVACH_SHAPES_AVX2)
    if (level != 2) {
      if (c.digit == 0 || (d2 | ipv4) == 0) continue;
      if (level == 1) ClassifyAvx2Rest(w, &c);
    }
#else
    if (c.digit == 0 || (d2 | ipv4) == 0) continue;
#endif
    const uint64_t d3 = d2 & ahead(d, 2);
    const uint64_t d4 = d2 & ahead(d2, 2);
    // Anchors allowed in this step: bits [1, 53), clipped to `to`.
    size_t n = std::min(kStep, to - p);
    const uint64_t valid = ((n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1)) << kBack;
    const uint64_t boundary = ~(c.word << 1);  // the byte before is no word byte
    // One slot per shape, plus one for the phone's international form
    // (reported as kPhone), whose shortest candidate is shorter.
    constexpr int kPhoneIntl = kNumShapes;
    uint64_t found[kNumShapes + 1] = {};
    if (mask & ShapeBit(Shape::kCard)) {
      // Every card holds at least 13 digits: after "dddd[ -]?dddd" comes
      // a digit or [ -] and a digit. That ninth digit keeps most hex runs
      // (hashes, UUIDs after '=' or '"') from nominating their line.
      const uint64_t sep = c.space | c.dash;
      const uint64_t more = d | (sep & ahead(d, 1));  // [ -]?[0-9] at each bit
      const uint64_t tail =
          (ahead(d4, 4) & ahead(more, 8)) | (ahead(sep, 4) & ahead(d4, 5) & ahead(more, 9));
      found[0] = boundary & c.d26 & d4 & tail;
    }
    if (mask & ShapeBit(Shape::kIban)) {
      const uint64_t ud = c.upper | c.digit;
      const uint64_t ud2 = ud & ahead(ud, 1);
      const uint64_t ud4 = ud2 & ahead(ud2, 2);
      const uint64_t grp4 = ahead(ud4, 4) | (ahead(c.space, 4) & ahead(ud4, 5));
      found[1] = boundary & c.upper & ahead(c.upper, 1) & ahead(d2, 2) & grp4;
    }
    if (mask & ShapeBit(Shape::kSsn)) {
      found[2] = d3 & ahead(c.dash, 3) & ahead(d2, 4) & ahead(c.dash, 6) & ahead(d4, 7);
    }
    if (mask & ShapeBit(Shape::kPhone)) {
      const uint64_t ps = c.space | c.dash | c.dot;
      // [ .)-][2-9][0-9]{2}[ .-][0-9]{4}(?:[^0-9]|$): the subscriber part
      // of a US number, after its separator or the area code's ')'.
      const uint64_t before = (ps | c.rparen) << 1;
      const uint64_t us = before & c.d29 & d3 & ahead(ps, 3) & ahead(d4, 4) & ~ahead(d, 8);
      const uint64_t intl =
          c.plus & ahead(c.d29, 1) &
          ((ahead(ps, 2) & ahead(d2, 3)) | (ahead(d, 2) & ahead(ps, 3) & ahead(d2, 4)) |
           (ahead(d2, 2) & ahead(ps, 4) & ahead(d2, 5)));
      found[3] = us;
      found[kPhoneIntl] = intl;
    }
    if ((mask & ShapeBit(Shape::kIpv4)) && ipv4 != 0) {
      // [0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9] exactly, in bits: g1..g3 are
      // "[0-9]{k}\." starting at each bit (the digit run before a dot has
      // one length), x is "[0-9]{1,3}\.[0-9]". Version strings ("3.11.4")
      // and the like stop here instead of in the byte loop of Ipv4Tail.
      const uint64_t dot = c.dot;
      const uint64_t g1 = d & ahead(dot, 1);
      const uint64_t g2 = d2 & ahead(dot, 2);
      const uint64_t g3 = d3 & ahead(dot, 3);
      const uint64_t x = (g1 & ahead(d, 2)) | (g2 & ahead(d, 3)) | (g3 & ahead(d, 4));
      found[4] = ipv4 & ((ahead(g1, 2) & ahead(x, 4)) | (ahead(g2, 2) & ahead(x, 5)) |
                         (ahead(g3, 2) & ahead(x, 6)));
    }
    if (((found[0] | found[1] | found[2] | found[3] | found[4] | found[5]) & valid) == 0) continue;
    for (int slot = 0; slot <= kNumShapes; ++slot) {
      const int s = slot == kPhoneIntl ? static_cast<int>(Shape::kPhone) : slot;
      uint64_t m = found[slot] & valid;
      while (m != 0) {
        const size_t i = static_cast<size_t>(__builtin_ctzll(m));
        m &= m - 1;
        // The candidate's shortest length, so that `end` stays on its line
        // (the scanner builds its window around the byte before `end`).
        size_t len;
        switch (static_cast<Shape>(s)) {
          case Shape::kIpv4: {
            size_t end = Ipv4Tail(w, i);
            if (end == 0) continue;
            len = end - i;
            break;
          }
          case Shape::kSsn:
            len = 11;
            break;
          case Shape::kPhone:
            len = slot == kPhoneIntl ? 5 : 8;
            break;
          default:
            len = 8;
            break;
        }
        const size_t abs = p + i - kBack;
        if (!on_candidate(static_cast<Shape>(s), std::min(abs + len, text.size()))) return;
      }
    }
  }
}

#if defined(KAVACH_SHAPES_AVX2)
__attribute__((target("bmi2"))) void FindShapesBmi2(
    std::string_view text, size_t from, size_t to, unsigned mask,
    absl::FunctionRef<bool(Shape, size_t)> on_candidate) {
  FindShapesLoop(text, from, to, mask, on_candidate, 2);
}
#endif

}  // namespace

void FindShapes(std::string_view text, size_t from, size_t to, unsigned mask,
                absl::FunctionRef<bool(Shape, size_t)> on_candidate) {
  to = std::min(to, text.size());
  if (mask == 0 || from >= to) return;
#if defined(KAVACH_SHAPES_AVX2)
  const int level = SimdLevel();
  if (level == 2) return FindShapesBmi2(text, from, to, mask, on_candidate);
  FindShapesLoop(text, from, to, mask, on_candidate, level);
#else
  FindShapesLoop(text, from, to, mask, on_candidate, 0);
#endif
}

}  // namespace kavach::internal
