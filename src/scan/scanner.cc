// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// How a scan works:
//  1. Hyperscan runs every rule's pattern over the text in one pass and
//     reports (rule, end offset) hits. It has no capture groups, so a hit
//     only says "rule R matched something ending here".
//  2. Each hit nominates a window: the line holding the match's last byte,
//     clipped to kWindowBack bytes before and kWindowFwd bytes after it (so a
//     megabyte-long JSON line costs a bounded amount of RE2 work per hit).
//  3. RE2 runs the rule over the window, once per (rule, window), finds every
//     match, extracts the secret group and applies the rule's checks:
//     keywords, entropy, validator, allow-list regexes and stopwords.
// Rules with `shape` or (on CPUs with AVX-512 VBMI or AVX2) `anchors` are
// nominated by SIMD finders instead of Hyperscan (scan/shape_finder.h,
// scan/anchor_finder.h); their hits go through steps 2 and 3 alike.
// Streaming runs step 1 in Hyperscan's stream mode (state carries across
// chunks) and holds back only the text a pending window may still need.
#include "scan/scanner.h"

#include <hs/hs.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "linux/strings.h"
#include "scan/anchor_finder.h"
#include "scan/db_cache.h"
#include "scan/shape_finder.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kavach::internal {

namespace internal_scanner {
bool exact_only = false;
}  // namespace internal_scanner

namespace {

// A match never reaches further than this from the hit's last byte in either
// direction; lines are cut there. Generous for every credential format.
constexpr uint64_t kWindowBack = 4096;
constexpr uint64_t kWindowFwd = 1024;

#if defined(__x86_64__)
// AVX-512BW (checked at run time): 64 bytes per compare into a mask,
// counted with POPCNT. A stream counts every byte it drops (3% of
// BM_StreamClean's time with the SSE2 loop alone). The last n % 64 bytes go
// to the loops below, so tests reach them on every CPU.
__attribute__((target("avx512bw,popcnt"))) size_t CountNewlinesAvx512(const char* p, size_t n) {
  const __m512i nl = _mm512_set1_epi8('\n');
  size_t count = 0;
  for (size_t i = 0; i + 64 <= n; i += 64) {
    count += static_cast<size_t>(
        __builtin_popcountll(_mm512_cmpeq_epi8_mask(_mm512_loadu_si512(p + i), nl)));
  }
  return count;
}

bool HaveAvx512Newlines() {
  static const bool have = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("popcnt");
  return have;
}
#endif

size_t CountNewlines(const char* p, size_t n) {
  size_t count = 0;
  size_t i = 0;
#if defined(__x86_64__)
  if (n >= 64 && HaveAvx512Newlines()) {
    i = n & ~size_t{63};
    count = CountNewlinesAvx512(p, i);
  }
#endif
#if defined(__SSE2__)
  // Per-byte counters (each compare adds 0 or -1), summed with psadbw before
  // they can wrap; no popcount, which baseline x86-64 only has in software.
  const __m128i nl = _mm_set1_epi8('\n');
  const __m128i zero = _mm_setzero_si128();
  while (i + 16 <= n) {
    __m128i acc = _mm_setzero_si128();
    const size_t stop = std::min(n - 15, i + 255 * 16);
    for (; i < stop; i += 16) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, nl));
    }
    __m128i sums = _mm_sad_epu8(acc, zero);
    count += static_cast<size_t>(_mm_cvtsi128_si64(sums)) +
             static_cast<size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
#endif
  for (; i < n; ++i) count += p[i] == '\n';
  return count;
}

bool ContainsIgnoreCase(std::string_view hay, std::string_view lower_needle) {
  if (lower_needle.empty()) return true;
  if (hay.size() < lower_needle.size()) return false;
  for (size_t i = 0; i + lower_needle.size() <= hay.size(); ++i) {
    size_t j = 0;
    while (j < lower_needle.size() &&
           absl::ascii_tolower(static_cast<unsigned char>(hay[i + j])) == lower_needle[j]) {
      ++j;
    }
    if (j == lower_needle.size()) return true;
  }
  return false;
}

RE2::Options Re2Options() {
  RE2::Options o;
  // Byte semantics, like Hyperscan without HS_FLAG_UTF8: output is arbitrary
  // bytes, and a stray invalid UTF-8 byte must not hide a secret next to it.
  o.set_encoding(RE2::Options::EncodingLatin1);
  o.set_log_errors(false);
  return o;
}

// RE2's capture engines (BitState, NFA) pay per program instruction, and a
// wide bounded repeat compiles to one instruction group per count: a rule
// with "([A-Za-z0-9+/=_-]{20,200})" runs a program of 1500 instructions, and
// its captures cost microseconds per match. So matching runs a loose form
// first: every repeat {m,n} (n > 16) of a one-byte atom opened to {m,} and
// wrapped in a capture group of its own, which shows how many bytes it took.
// The exact pattern's paths are the loose one's paths with every count within
// its bound, in the same priority order; so when the loose leftmost-first
// match keeps every count within bounds, the exact pattern matches there too,
// no earlier (it accepts less) and by no higher-priority path (that path would
// be a loose one too): the same match, groups and all. Otherwise the exact
// pattern decides that match.
struct LooseForm {
  std::string pattern;
  std::vector<int> group_of;                   // original group -> loose group
  std::vector<std::pair<int, size_t>> bounds;  // loose group -> max bytes
};

std::optional<LooseForm> Loosen(const std::string& p) {
  LooseForm f;
  std::string& out = f.pattern;
  f.group_of.push_back(0);
  int loose_groups = 0;
  size_t atom = std::string::npos;  // out offset of the last one-byte atom
  const size_t n = p.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 >= n) return std::nullopt;
      const char e = p[i + 1];
      const bool alnum = absl::ascii_isalnum(static_cast<unsigned char>(e));
      if (alnum && std::string_view("wWdDsSntrfv").find(e) == std::string_view::npos) {
        if (std::string_view("bBAz").find(e) == std::string_view::npos) return std::nullopt;
        atom = std::string::npos;  // empty-width
      } else {
        atom = out.size();
      }
      out += c;
      out += e;
      ++i;
      continue;
    }
    if (c == '[') {
      atom = out.size();
      size_t k = i + 1;
      if (k < n && p[k] == '^') ++k;
      if (k < n && p[k] == ']') ++k;
      while (k < n && p[k] != ']') {
        if (p[k] == '[' && k + 1 < n && p[k + 1] == ':') {
          size_t close = p.find(":]", k + 2);
          if (close == std::string::npos) return std::nullopt;
          k = close + 2;
          continue;
        }
        k += p[k] == '\\' ? 2 : 1;
      }
      if (k >= n) return std::nullopt;
      out.append(p, i, k - i + 1);
      i = k;
      continue;
    }
    if (c == '(') {
      atom = std::string::npos;
      const bool capturing =
          i + 1 >= n || p[i + 1] != '?' ||
          (i + 2 < n && (p[i + 2] == 'P' ||
                         (p[i + 2] == '<' && i + 3 < n && p[i + 3] != '=' && p[i + 3] != '!')));
      if (capturing) f.group_of.push_back(++loose_groups);
      out += c;
      continue;
    }
    if (c == '{') {
      size_t k = i + 1;
      uint64_t lo = 0, hi = 0;
      while (k < n && absl::ascii_isdigit(static_cast<unsigned char>(p[k])) && lo < 100000) {
        lo = lo * 10 + static_cast<uint64_t>(p[k++] - '0');
      }
      const bool has_lo = k > i + 1;
      bool ok = has_lo && k < n && p[k] == ',';
      size_t hs = k + 1;
      if (ok) {
        k = hs;
        while (k < n && absl::ascii_isdigit(static_cast<unsigned char>(p[k])) && hi < 100000) {
          hi = hi * 10 + static_cast<uint64_t>(p[k++] - '0');
        }
        ok = k > hs && k < n && p[k] == '}' && hi > 16 && hi >= lo &&
             (k + 1 >= n || (p[k + 1] != '?' && p[k + 1] != '+'));
      }
      if (ok && atom != std::string::npos) {
        out.insert(atom, "(");
        absl::StrAppend(&out, "{", lo, ",})");
        f.bounds.emplace_back(++loose_groups, static_cast<size_t>(hi));
        // Groups opened later shift by one; earlier ones keep their number.
        i = k;
        atom = std::string::npos;
        continue;
      }
      atom = std::string::npos;
      out += c;
      continue;
    }
    if (c == '|' || c == ')' || c == '^' || c == '$' || c == '*' || c == '+' || c == '?' ||
        c == '}') {
      atom = std::string::npos;
    } else {
      atom = out.size();  // a literal byte or '.'
    }
    out += c;
  }
  if (f.bounds.empty() || loose_groups + 1 > 32) return std::nullopt;
  return f;
}

// A rule's RE2 objects. A scanner restored from the cache builds them on a
// rule's first candidate window instead of up front: most rules see no
// candidate in a typical command's output, and Create stays a file read.
struct RuleRegexes {
  absl::once_flag once;
  std::unique_ptr<RE2> re;     // the pattern as written
  std::unique_ptr<RE2> loose;  // see Loosen; null when it does not apply
  std::vector<int> group_of;
  std::vector<std::pair<int, size_t>> bounds;

  // (?m): ^ and $ match at line boundaries, as HS_FLAG_MULTILINE does; RE2
  // sees the whole buffer, not only the window.
  void BuildLoose(const std::string& pattern, const RE2::Options& opts) {
    if (internal_scanner::exact_only || !re || !re->ok()) return;
    std::optional<LooseForm> f = Loosen(pattern);
    if (!f || static_cast<int>(f->group_of.size()) != re->NumberOfCapturingGroups() + 1) return;
    auto l = std::make_unique<RE2>("(?m)" + f->pattern, opts);
    if (!l->ok() || l->NumberOfCapturingGroups() + 1 !=
                        static_cast<int>(f->group_of.size()) + static_cast<int>(f->bounds.size())) {
      return;
    }
    loose = std::move(l);
    group_of = std::move(f->group_of);
    bounds = std::move(f->bounds);
  }
  std::vector<std::unique_ptr<RE2>> allow;
};

struct CompiledRule {
  Rule rule;
  int groups = 0;
  std::vector<std::string> allow_patterns;  // the rule's and its pack's
  std::vector<std::string> stopwords;
  bool lenient = false;     // from a lenient pack: may be dropped, never fail
  uint32_t pack_index = 0;  // where the rule came from (cache payload)
  uint32_t rule_index = 0;
  std::unique_ptr<RuleRegexes> rx = std::make_unique<RuleRegexes>();

  // Thread-safe; compiles on first use unless already compiled by Create.
  const RuleRegexes& Regexes() const {
    absl::call_once(rx->once, [this] {
      RE2::Options opts = Re2Options();
      rx->re = std::make_unique<RE2>("(?m)" + rule.pattern, opts);
      rx->BuildLoose(rule.pattern, opts);
      for (const std::string& a : allow_patterns) {
        auto re = std::make_unique<RE2>(a, opts);
        if (re->ok()) rx->allow.push_back(std::move(re));
      }
    });
    return *rx;
  }
};

// hs_flags of a rule nominated by a shape finder instead of Hyperscan
// (never passed to Hyperscan): the marker, HS_FLAG_PREFILTER (it is a
// superset, like a prefilter) and the Shape in the low bits.
constexpr unsigned kShapeFlag = 1u << 31;
constexpr unsigned ShapeFlags(Shape s) {
  return kShapeFlag | HS_FLAG_PREFILTER | static_cast<unsigned>(s);
}
// hs_flags of a rule nominated by the anchor finder (never passed to
// Hyperscan either): the marker, HS_FLAG_PREFILTER, and the rule's index
// above Hyperscan's flag bits, so that each anchored rule is an expression
// of its own.
constexpr unsigned kAnchorFlag = 1u << 30;
constexpr unsigned AnchorFlags(size_t rule) {
  return kAnchorFlag | HS_FLAG_PREFILTER | static_cast<unsigned>((rule & 0xfffff) << 8);
}

// One hit from Hyperscan: expression index and absolute end offset.
struct Hit {
  unsigned expr;
  uint64_t end;
};

// Counts lines lazily: findings arrive roughly in offset order, so the
// counter moves forward (or a little back) from where it last was.
class LineCounter {
 public:
  void Reset(const char* data, uint64_t base, uint64_t lines_before_base) {
    data_ = data;
    base_ = base;
    pos_ = base;
    lines_ = lines_before_base;
  }
  // 1-based line of absolute offset `off` (must lie in the counter's text).
  uint64_t LineAt(uint64_t off) {
    if (off >= pos_) {
      lines_ += CountNewlines(data_ + (pos_ - base_), off - pos_);
    } else {
      lines_ -= CountNewlines(data_ + (off - base_), pos_ - off);
    }
    pos_ = off;
    return lines_ + 1;
  }

 private:
  const char* data_ = nullptr;
  uint64_t base_ = 0;
  uint64_t pos_ = 0;
  uint64_t lines_ = 0;
};

class ScratchPool {
 public:
  ~ScratchPool() {
    for (hs_scratch_t* s : free_) hs_free_scratch(s);
    if (proto_ != nullptr) hs_free_scratch(proto_);
  }
  absl::Status Init(const hs_database_t* block, const hs_database_t* stream) {
    if (hs_alloc_scratch(block, &proto_) != HS_SUCCESS ||
        hs_alloc_scratch(stream, &proto_) != HS_SUCCESS) {
      return absl::ResourceExhaustedError("hs_alloc_scratch failed");
    }
    return absl::OkStatus();
  }
  hs_scratch_t* Acquire() {
    {
      absl::MutexLock lock(&mu_);
      if (!free_.empty()) {
        hs_scratch_t* s = free_.back();
        free_.pop_back();
        return s;
      }
    }
    hs_scratch_t* s = nullptr;
    if (hs_clone_scratch(proto_, &s) != HS_SUCCESS) return nullptr;
    return s;
  }
  void Release(hs_scratch_t* s) {
    if (s == nullptr) return;
    absl::MutexLock lock(&mu_);
    free_.push_back(s);
  }

 private:
  hs_scratch_t* proto_ = nullptr;
  absl::Mutex mu_;
  std::vector<hs_scratch_t*> free_;
};

struct HsDatabase {
  hs_database_t* db = nullptr;
  ~HsDatabase() {
    if (db != nullptr) hs_free_database(db);
  }
};

}  // namespace

class ScannerImpl final {
 public:
  std::vector<CompiledRule> compiled;
  std::vector<Rule> rules;
  absl::flat_hash_map<std::string, size_t> by_id;
  std::vector<std::string> skipped;
  std::vector<std::string> prefiltered;
  // Rules sharing a Hyperscan expression (the same prefilter) are confirmed
  // together on one hit: expr_rules[expression id] = rule indexes.
  std::vector<std::vector<unsigned>> expr_rules;
  // Per compiled rule: the expression and flags Hyperscan got (cache payload).
  std::vector<std::string> hs_patterns;
  std::vector<unsigned> hs_flags;
  ScannerBuildInfo info;
  // Expression id of each shape finder in use (-1: none), and their mask.
  std::array<int, kNumShapes> shape_expr{-1, -1, -1, -1, -1};
  unsigned shape_mask = 0;
  // Anchors of the rules the anchor finder nominates; ids are expressions.
  AnchorFinder anchors;
  // Whether any candidate finder besides Hyperscan runs.
  bool finders() const { return shape_mask != 0 || !anchors.empty(); }
  HsDatabase block_db;
  HsDatabase stream_db;
  ScratchPool scratch;

  // Per-scan bookkeeping shared by block and stream scans.
  struct Context {
    std::string_view stream_name;
    std::vector<uint64_t> last_window_end;                    // per rule, absolute
    absl::flat_hash_set<std::pair<unsigned, uint64_t>> seen;  // (rule, begin)
    std::vector<Finding> findings;
    std::vector<Hit> hits;  // stream mode: pending
    LineCounter lines;
    // Per expression: the last window confirmed for it, when that window is
    // a whole short line ([begin, end), absolute; end == 0: none). A later
    // hit of the expression inside it would get the same window, already
    // confirmed for all its rules, so it is dropped before any lookup: a
    // long token reports many ends on one line.
    std::vector<std::pair<uint64_t, uint64_t>> expr_window;
  };

  // The byte a hit's window is built around: the match's last byte, or the
  // one before it when the match ends by consuming a line's newline.
  static uint64_t Anchor(std::string_view seg, uint64_t rel_end) {
    uint64_t anchor = rel_end == 0 ? 0 : rel_end - 1;
    if (anchor > 0 && anchor < seg.size() && seg[anchor] == '\n' && seg[anchor - 1] != '\n') {
      --anchor;
    }
    return anchor;
  }

  // Start of the window around `anchor`: its line start, at most kWindowBack
  // bytes back. Depends only on the bytes before the anchor.
  static uint64_t WindowStart(std::string_view seg, uint64_t anchor) {
    uint64_t lo = anchor > kWindowBack ? anchor - kWindowBack : 0;
    if (anchor > lo) {
      const void* nl = memrchr(seg.data() + lo, '\n', anchor - lo);
      if (nl != nullptr) return static_cast<const char*>(nl) - seg.data() + 1;
    }
    return lo;
  }

  // Window [ws, we) (absolute) for a hit, over text `seg` starting at absolute
  // offset `base`. Returns false when the window's end is not yet known
  // (stream mode, more text may extend the line) unless `final`.
  static bool Window(std::string_view seg, uint64_t base, uint64_t hit_end, bool final,
                     uint64_t* ws, uint64_t* we) {
    uint64_t rel_end = hit_end - base;
    uint64_t anchor = Anchor(seg, rel_end);
    uint64_t start = WindowStart(seg, anchor);
    uint64_t hi = std::min<uint64_t>(seg.size(), anchor + kWindowFwd);
    uint64_t stop = hi;
    const void* nl = anchor < hi ? memchr(seg.data() + anchor, '\n', hi - anchor) : nullptr;
    if (nl != nullptr) {
      stop = static_cast<const char*>(nl) - seg.data();
    } else if (!final && anchor + kWindowFwd > seg.size()) {
      return false;
    }
    *ws = base + start;
    *we = base + std::max<uint64_t>(stop, std::min<uint64_t>(rel_end, seg.size()));
    return true;
  }

  // Lowest window start of any hit still to come: its end is past all of
  // `seg`, so its anchor is at seg.size(), or one before after a back-step.
  static uint64_t FutureWindowStart(std::string_view seg, uint64_t base) {
    uint64_t anchor = seg.size();
    if (anchor > 0 && seg[anchor - 1] != '\n') --anchor;
    return base + WindowStart(seg, anchor);
  }

  static uint64_t PendingWindowStart(std::string_view seg, uint64_t base, const Hit& h) {
    return base + WindowStart(seg, Anchor(seg, h.end - base));
  }

  // Confirms one hit; `seg` is the text available, from absolute `base`.
  // Returns false if the hit must wait for more text.
  bool ProcessHit(Context* ctx, std::string_view seg, uint64_t base, const Hit& hit,
                  bool final) const {
    std::pair<uint64_t, uint64_t>& memo = ctx->expr_window[hit.expr];
    // Same window for sure: the hit ends inside the memo's line (not on its
    // newline, which Window would take in) and the line needs no clipping.
    if (hit.end > memo.first && hit.end <= memo.second) return true;
    uint64_t ws, we;
    if (!Window(seg, base, hit.end, final, &ws, &we)) return false;
    const uint64_t rs = ws - base, re = we - base;
    if (rs > 0 && seg[rs - 1] == '\n' && re < seg.size() && seg[re] == '\n' &&
        we - ws < kWindowFwd) {
      memo = {ws, we};
    }
    for (unsigned rule : expr_rules[hit.expr]) {
      if (ctx->last_window_end[rule] == we + 1) continue;  // same window
      ctx->last_window_end[rule] = we + 1;
      ConfirmWindow(ctx, seg, base, rule, ws, we);
    }
    return true;
  }

  void ConfirmWindow(Context* ctx, std::string_view seg, uint64_t base, unsigned rule_index,
                     uint64_t ws, uint64_t we) const {
    const CompiledRule& cr = compiled[rule_index];
    const Rule& rule = cr.rule;
    const RuleRegexes& rx = cr.Regexes();
    const RE2& re = *rx.re;
    std::string_view window = seg.substr(ws - base, we - ws);
    if (!rule.keywords.empty()) {
      bool any = false;
      for (const std::string& k : rule.keywords) {
        if (ContainsIgnoreCase(window, k)) {
          any = true;
          break;
        }
      }
      if (!any) return;
    }
    re2::StringPiece text(seg.data(), seg.size());
    std::array<re2::StringPiece, 10> groups;
    std::array<re2::StringPiece, 32> lg;  // the loose form's groups
    int ngroups = std::min<int>(cr.groups + 1, static_cast<int>(groups.size()));
    const int nloose = rx.loose ? rx.loose->NumberOfCapturingGroups() + 1 : 0;
    size_t pos = ws - base;
    const size_t endpos = we - base;
    auto next_match = [&]() -> bool {
      if (rx.loose) {
        if (!rx.loose->Match(text, pos, endpos, RE2::UNANCHORED, lg.data(), nloose)) return false;
        bool within = true;
        for (const auto& [g, max] : rx.bounds) within &= lg[g].size() <= max;
        if (within) {
          for (int g = 0; g < ngroups; ++g) groups[g] = lg[rx.group_of[g]];
          return true;
        }
        // A count over its bound: this match is the exact pattern's to find.
      }
      return re.Match(text, pos, endpos, RE2::UNANCHORED, groups.data(), ngroups);
    };
    while (pos <= endpos && next_match()) {
      const re2::StringPiece& whole = groups[0];
      size_t mbegin = whole.data() - seg.data();
      size_t mend = mbegin + whole.size();
      re2::StringPiece secret = whole;
      pos = whole.empty() ? mend + 1 : mend;
      if (rule.secret_group > 0 && rule.secret_group < ngroups) {
        secret = groups[rule.secret_group];
      } else if (rule.secret_group < 0) {  // gitleaks: first group that matched
        for (int g = 1; g < ngroups; ++g) {
          if (groups[g].data() != nullptr && !groups[g].empty()) {
            secret = groups[g];
            break;
          }
        }
      }
      if (secret.data() == nullptr || secret.empty()) continue;
      std::string_view s(secret.data(), secret.size());
      if (!Accept(cr, s)) continue;
      uint64_t begin = base + (secret.data() - seg.data());
      if (!ctx->seen.insert({rule_index, begin}).second) continue;
      if (ctx->findings.size() >= Scanner::kMaxFindings) return;
      Finding f;
      f.rule_id = rule.id;
      f.scanner = rule.scanner;
      f.category = rule.category;
      f.severity = rule.severity;
      f.stream = std::string(ctx->stream_name);
      f.begin = begin;
      f.end = begin + s.size();
      // f.line: set by AssignLines once the findings are sorted.
      f.preview = MaskedPreview(s);
      ctx->findings.push_back(std::move(f));
      (void)mbegin;
    }
  }

  static bool Accept(const CompiledRule& cr, std::string_view secret) {
    const Rule& rule = cr.rule;
    if (rule.entropy > 0 && ShannonEntropy(secret) < rule.entropy) return false;
    switch (rule.validator) {
      case Validator::kNone:
        break;
      case Validator::kLuhn:
        if (!LuhnValid(secret)) return false;
        break;
      case Validator::kIban:
        if (!IbanValid(secret)) return false;
        break;
      case Validator::kSsn:
        if (!SsnValid(secret)) return false;
        break;
    }
    for (const std::string& w : cr.stopwords) {
      if (ContainsIgnoreCase(secret, w)) return false;
    }
    for (const auto& re : cr.Regexes().allow) {
      if (RE2::PartialMatch(re2::StringPiece(secret.data(), secret.size()), *re)) return false;
    }
    return true;
  }

  // Orders findings by (begin, end, rule id). Sorts an index, not the
  // findings (five strings each), and skips sorted input (the common case).
  static void SortFindings(std::vector<Finding>* f) {
    auto less = [](const Finding& a, const Finding& b) {
      return std::tie(a.begin, a.end, a.rule_id) < std::tie(b.begin, b.end, b.rule_id);
    };
    if (std::is_sorted(f->begin(), f->end(), less)) return;
    std::vector<uint32_t> order(f->size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return less((*f)[a], (*f)[b]); });
    std::vector<Finding> sorted;
    sorted.reserve(f->size());
    for (uint32_t i : order) sorted.push_back(std::move((*f)[i]));
    *f = std::move(sorted);
  }

  // Sets every finding's line, in one forward pass over sorted findings.
  static void AssignLines(std::vector<Finding>* f, LineCounter* lines) {
    for (Finding& x : *f) x.line = lines->LineAt(x.begin);
  }
};

namespace {

// The pattern handed to Hyperscan: the rule's own, with every wide bounded
// repeat {m,n} (n > 16) opened to {m,}. Hyperscan compiles counted repeats
// into large automata (seconds for a few rules), and an open repeat accepts a
// superset, which is all a prefilter needs: RE2 enforces the real bound.
//
// A repeat left open at the very end of the pattern ("...[A-Za-z0-9]{20,200})")
// becomes exact ("{20}"): Hyperscan reports every end offset of a match, so an
// open tail reports once per byte of a long token, and each report costs a
// callback and a window lookup. The shorter match ends on the same line, which
// is all a nomination needs (RE2 then matches the real pattern on the line).
std::string HyperscanPattern(const std::string& p) {
  std::string out;
  out.reserve(p.size());
  bool in_class = false;
  size_t open_comma = std::string::npos;  // ',' of the last "{m,}" emitted
  size_t open_end = std::string::npos;    // out.size() just after it
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      out += c;
      out += p[++i];
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == '{') {
      size_t j = i + 1;
      size_t m_end = j;
      while (m_end < p.size() && absl::ascii_isdigit(p[m_end])) ++m_end;
      if (m_end > j && m_end < p.size() && p[m_end] == ',') {
        size_t n_end = m_end + 1;
        while (n_end < p.size() && absl::ascii_isdigit(p[n_end])) ++n_end;
        if (n_end > m_end + 1 && n_end < p.size() && p[n_end] == '}' && n_end - m_end - 1 <= 6) {
          int n = std::stoi(p.substr(m_end + 1, n_end - m_end - 1));
          if (n > 16) {
            out += p.substr(i, m_end - i + 1);
            open_comma = out.size() - 1;
            out += '}';
            open_end = out.size();
            i = n_end;
            continue;
          }
        } else if (n_end == m_end + 1 && n_end < p.size() && p[n_end] == '}') {
          out += p.substr(i, n_end - i + 1);  // already open: "{m,}"
          open_comma = out.size() - 2;
          open_end = out.size();
          i = n_end;
          continue;
        }
      }
    }
    out += c;
  }
  // Only group closers may follow the open repeat (an escaped ')' would
  // carry its backslash), and a lazy or possessive marker must not.
  if (open_end != std::string::npos && out.find_first_not_of(')', open_end) == std::string::npos) {
    out.erase(open_comma, 1);
  }
  return out;
}

// Identical (pattern, flags) pairs become one Hyperscan expression whose
// hit confirms all their rules. Deterministic, so a cached database's
// expression ids map back the same way.
void GroupExpressions(const std::vector<std::string>& hs_patterns,
                      const std::vector<unsigned>& hs_flags, std::vector<std::string>* exprs,
                      std::vector<unsigned>* expr_flags,
                      std::vector<std::vector<unsigned>>* expr_rules) {
  exprs->clear();
  expr_flags->clear();
  expr_rules->clear();
  std::map<std::pair<std::string, unsigned>, unsigned> index;
  for (size_t i = 0; i < hs_patterns.size(); ++i) {
    auto [it, fresh] = index.try_emplace({hs_patterns[i], hs_flags[i]}, exprs->size());
    if (fresh) {
      exprs->push_back(hs_patterns[i]);
      expr_flags->push_back(hs_flags[i]);
      expr_rules->emplace_back();
    }
    (*expr_rules)[it->second].push_back(static_cast<unsigned>(i));
  }
}

void FinishRules(const std::vector<unsigned>& expr_flags, ScannerImpl* impl) {
  std::vector<std::pair<std::string, unsigned>> anchors;
  for (size_t e = 0; e < expr_flags.size(); ++e) {
    if ((expr_flags[e] & kAnchorFlag) == 0) continue;
    for (unsigned r : impl->expr_rules[e]) {
      for (const std::string& a : impl->compiled[r].rule.anchors) {
        anchors.emplace_back(a, static_cast<unsigned>(e));
      }
    }
  }
  impl->anchors = AnchorFinder(anchors);
  for (size_t e = 0; e < expr_flags.size(); ++e) {
    if ((expr_flags[e] & kShapeFlag) == 0) continue;
    const unsigned shape = expr_flags[e] & 0x3f;
    if (shape < static_cast<unsigned>(kNumShapes)) {
      impl->shape_expr[shape] = static_cast<int>(e);
      impl->shape_mask |= 1u << shape;
    }
  }
  impl->rules.reserve(impl->compiled.size());
  for (size_t i = 0; i < impl->compiled.size(); ++i) {
    // rules() gets the whole rule; the compiled copy keeps only what
    // scanning reads, so the documentation fields (most of a rule's bytes)
    // are moved rather than copied.
    Rule& scan_copy = impl->compiled[i].rule;
    std::string description = std::exchange(scan_copy.description, {});
    std::vector<std::string> examples = std::exchange(scan_copy.examples, {});
    std::vector<std::string> negatives = std::exchange(scan_copy.negatives, {});
    Rule& full = impl->rules.emplace_back(scan_copy);
    full.description = std::move(description);
    full.examples = std::move(examples);
    full.negatives = std::move(negatives);
    if (impl->hs_flags[i] & HS_FLAG_PREFILTER) {
      impl->prefiltered.push_back(impl->compiled[i].rule.id);
    }
  }
}

absl::Status CompileAll(std::vector<RulePack> packs, ScannerImpl* impl) {
  RE2::Options opts = Re2Options();
  std::vector<std::string> hs_patterns;
  std::vector<unsigned> hs_flags;
  std::vector<int> shapes;  // per rule: its Shape, or -1
  for (size_t pack_index = 0; pack_index < packs.size(); ++pack_index) {
    RulePack& pack = packs[pack_index];
    std::vector<std::unique_ptr<RE2>> pack_allow;
    for (const std::string& a : pack.allowlist.regexes) {
      auto re = std::make_unique<RE2>(a, opts);
      if (!re->ok()) {
        if (pack.lenient) {
          impl->skipped.push_back(absl::StrCat(pack.name, "/<allowlist>: ", a, ": ", re->error()));
          continue;
        }
        return absl::InvalidArgumentError(
            absl::StrCat(pack.source, ": allowlist regex ", a, " does not compile: ", re->error()));
      }
      pack_allow.push_back(std::move(re));
    }
    for (size_t rule_index = 0; rule_index < pack.rules.size(); ++rule_index) {
      Rule& rule = pack.rules[rule_index];
      auto fail = [&](std::string_view why) -> absl::Status {
        std::string msg = absl::StrCat(pack.name, "/", rule.id, ": ", ToAbsl(why));
        if (pack.lenient) {
          impl->skipped.push_back(msg);
          return absl::OkStatus();
        }
        return absl::InvalidArgumentError(absl::StrCat(pack.source, ": ", msg));
      };
      if (impl->by_id.contains(rule.id)) {
        absl::Status s = fail("duplicate rule id");
        if (!s.ok()) return s;
        continue;
      }
      CompiledRule cr;
      cr.pack_index = static_cast<uint32_t>(pack_index);
      cr.rule_index = static_cast<uint32_t>(rule_index);
      // (?m): see CompiledRule::Regexes().
      cr.rx->re = std::make_unique<RE2>("(?m)" + rule.pattern, opts);
      if (!cr.rx->re->ok()) {
        absl::Status s = fail(absl::StrCat("RE2: ", cr.rx->re->error()));
        if (!s.ok()) return s;
        continue;
      }
      cr.groups = cr.rx->re->NumberOfCapturingGroups();
      if (rule.secret_group > cr.groups || rule.secret_group > 9) {
        absl::Status s = fail(absl::StrCat("secret_group ", rule.secret_group,
                                           " but the pattern has ", cr.groups, " groups"));
        if (!s.ok()) return s;
        continue;
      }
      // Validated as written above; matched in its cheaper equivalent form.
      cr.rx->BuildLoose(rule.pattern, opts);
      bool allow_ok = true;
      for (const std::string& a : rule.allowlist.regexes) {
        auto re = std::make_unique<RE2>(a, opts);
        if (!re->ok()) {
          absl::Status s = fail(absl::StrCat("allowlist regex: ", re->error()));
          if (!s.ok()) return s;
          allow_ok = false;
          break;
        }
        cr.allow_patterns.push_back(a);
        cr.rx->allow.push_back(std::move(re));
      }
      if (!allow_ok) continue;
      // Hyperscan: exact when it can; else a prefilter (a superset that RE2
      // then narrows); else the rule cannot be part of the one-pass database.
      unsigned flags = HS_FLAG_MULTILINE;
      // A rule may name its own prefilter: a cheaper pattern matching on
      // every line the real one does (e.g. "@domain.tld" for e-mail).
      std::string hs_pattern =
          HyperscanPattern(rule.prefilter.empty() ? rule.pattern : rule.prefilter);
      if (!rule.prefilter.empty()) flags |= HS_FLAG_PREFILTER;
      hs_expr_info_t* info = nullptr;
      hs_compile_error_t* err = nullptr;
      if (hs_expression_info(hs_pattern.c_str(), flags, &info, &err) != HS_SUCCESS) {
        std::string exact_error = err != nullptr ? err->message : "unknown";
        hs_free_compile_error(err);
        err = nullptr;
        flags |= HS_FLAG_PREFILTER;
        if (hs_expression_info(hs_pattern.c_str(), flags, &info, &err) != HS_SUCCESS) {
          std::string why = err != nullptr ? err->message : "unknown";
          hs_free_compile_error(err);
          err = nullptr;
          // Last resort, as gitleaks does it: the rule's keywords become the
          // prefilter (the line must hold one anyway), RE2 does the rest.
          if (rule.keywords.empty()) {
            absl::Status s = fail(absl::StrCat("Hyperscan: ", exact_error, " (prefilter: ", why,
                                               "; no keywords to fall back on)"));
            if (!s.ok()) return s;
            continue;
          }
          hs_pattern.clear();
          for (const std::string& k : rule.keywords) {
            if (!hs_pattern.empty()) hs_pattern += '|';
            for (char c : k) {
              if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) hs_pattern += '\\';
              hs_pattern += c;
            }
          }
          flags = HS_FLAG_CASELESS | HS_FLAG_PREFILTER;
          if (hs_expression_info(hs_pattern.c_str(), flags, &info, &err) != HS_SUCCESS) {
            hs_free_compile_error(err);
            absl::Status s = fail(absl::StrCat("Hyperscan: ", exact_error));
            if (!s.ok()) return s;
            continue;
          }
        }
      }
      bool empty = info != nullptr && info->min_width == 0;
      free(info);
      if (empty) {
        absl::Status s = fail("pattern matches the empty string");
        if (!s.ok()) return s;
        continue;
      }
      for (const auto& a : pack_allow) {
        cr.allow_patterns.push_back(a->pattern());
        cr.rx->allow.push_back(std::make_unique<RE2>(a->pattern(), opts));
      }
      absl::call_once(cr.rx->once, [] {});  // compiled above
      cr.lenient = pack.lenient;
      cr.stopwords = rule.allowlist.stopwords;
      cr.stopwords.insert(cr.stopwords.end(), pack.allowlist.stopwords.begin(),
                          pack.allowlist.stopwords.end());
      impl->by_id[rule.id] = impl->compiled.size();
      hs_patterns.push_back(std::move(hs_pattern));
      hs_flags.push_back(flags);
      std::optional<Shape> shape = ShapeFromName(rule.shape);
      shapes.push_back(shape.has_value() ? static_cast<int>(*shape) : -1);
      cr.rule = std::move(rule);
      impl->compiled.push_back(std::move(cr));
    }
  }
  if (impl->compiled.empty()) return absl::InvalidArgumentError("no rules to compile");
  // Shape rules leave the Hyperscan database, unless nothing would be left
  // in it (then their Hyperscan expressions, computed above, stay).
  // So do anchored rules, on CPUs where the anchor finder is fast.
  std::vector<bool> anchored(shapes.size(), false);
  if (AnchorFinder::Fast()) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      anchored[i] = shapes[i] < 0 && !impl->compiled[i].rule.anchors.empty();
    }
  }
  bool hs_left = false;
  for (size_t i = 0; i < shapes.size(); ++i) hs_left |= shapes[i] < 0 && !anchored[i];
  if (hs_left) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (anchored[i]) {
        hs_patterns[i].clear();
        hs_flags[i] = AnchorFlags(i);
      }
      if (shapes[i] < 0) continue;
      hs_patterns[i].clear();
      hs_flags[i] = ShapeFlags(static_cast<Shape>(shapes[i]));
    }
  }

  // Compile both databases. Identical expressions (shared prefilters) go in
  // once. If one still fails in the full build (resource limits), retry it
  // as a prefilter, and drop it as a last resort (lenient packs only).
  std::vector<std::string> exprs;
  std::vector<unsigned> expr_flags;
  std::vector<std::vector<unsigned>> expr_rules;
  for (int attempt = 0; attempt < 64; ++attempt) {
    GroupExpressions(hs_patterns, hs_flags, &exprs, &expr_flags, &expr_rules);
    std::vector<const char*> cexprs;
    std::vector<unsigned> ids;
    for (size_t i = 0; i < exprs.size(); ++i) {
      if (expr_flags[i] & (kShapeFlag | kAnchorFlag)) continue;
      cexprs.push_back(exprs[i].c_str());
      ids.push_back(static_cast<unsigned>(i));
    }
    std::vector<unsigned> hs_only_flags;
    for (unsigned id : ids) hs_only_flags.push_back(expr_flags[id]);
    hs_compile_error_t* err = nullptr;
    hs_database_t* block = nullptr;
    if (hs_compile_multi(cexprs.data(), hs_only_flags.data(), ids.data(), cexprs.size(),
                         HS_MODE_BLOCK, nullptr, &block, &err) == HS_SUCCESS) {
      hs_database_t* stream = nullptr;
      if (hs_compile_multi(cexprs.data(), hs_only_flags.data(), ids.data(), cexprs.size(),
                           HS_MODE_STREAM, nullptr, &stream, &err) == HS_SUCCESS) {
        impl->block_db.db = block;
        impl->stream_db.db = stream;
        break;
      }
      hs_free_database(block);
    }
    int bad_index = err != nullptr ? err->expression : -1;  // into cexprs
    std::string why = err != nullptr ? err->message : "unknown";
    hs_free_compile_error(err);
    if (bad_index < 0 || static_cast<size_t>(bad_index) >= ids.size()) {
      return absl::InternalError(absl::StrCat("Hyperscan database: ", why));
    }
    const unsigned bad = ids[bad_index];
    const std::vector<unsigned>& culprits = expr_rules[bad];
    if ((expr_flags[bad] & HS_FLAG_PREFILTER) == 0) {
      for (unsigned r : culprits) hs_flags[r] |= HS_FLAG_PREFILTER;
      continue;
    }
    for (auto r = culprits.rbegin(); r != culprits.rend(); ++r) {
      CompiledRule& cr = impl->compiled[*r];
      std::string msg = absl::StrCat(cr.rule.id, ": Hyperscan: ", why);
      if (!cr.lenient) return absl::InvalidArgumentError(msg);
      impl->skipped.push_back(msg);
      impl->compiled.erase(impl->compiled.begin() + *r);
      hs_patterns.erase(hs_patterns.begin() + *r);
      hs_flags.erase(hs_flags.begin() + *r);
      shapes.erase(shapes.begin() + *r);
    }
    impl->by_id.clear();
    for (size_t i = 0; i < impl->compiled.size(); ++i) impl->by_id[impl->compiled[i].rule.id] = i;
  }
  if (impl->block_db.db == nullptr) {
    return absl::InternalError("Hyperscan database did not compile");
  }
  impl->expr_rules = std::move(expr_rules);
  impl->hs_patterns = std::move(hs_patterns);
  impl->hs_flags = std::move(hs_flags);
  FinishRules(expr_flags, impl);
  return impl->scratch.Init(impl->block_db.db, impl->stream_db.db);
}

// ---- compiled-database cache ----

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutStr(std::string* out, std::string_view s) {
  PutU64(out, s.size());
  out->append(s.data(), s.size());
}
void PutStrs(std::string* out, const std::vector<std::string>& v) {
  PutU64(out, v.size());
  for (const std::string& s : v) PutStr(out, s);
}

class PayloadReader {
 public:
  explicit PayloadReader(std::string_view data) : data_(data) {}
  bool U64(uint64_t* v) {
    if (data_.size() - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) {
      *v |= uint64_t{static_cast<unsigned char>(data_[pos_ + i])} << (8 * i);
    }
    pos_ += 8;
    return true;
  }
  bool Str(std::string* s) {
    uint64_t n;
    if (!U64(&n) || n > data_.size() - pos_) return false;
    s->assign(data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  // As Str, without the copy: valid as long as the payload is.
  bool View(std::string_view* s) {
    uint64_t n;
    if (!U64(&n) || n > data_.size() - pos_) return false;
    *s = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // Everything not yet read.
  bool Rest(std::string_view* s) {
    *s = data_.substr(pos_);
    pos_ = data_.size();
    return true;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

void PutAllowList(std::string* out, const AllowList& a) {
  PutStrs(out, a.regexes);
  PutStrs(out, a.stopwords);
}

// What every key starts with: our format version, the Hyperscan version and
// the CPU features its databases are built for. `kind` separates keys made
// from parsed packs from keys made from the packs' raw bytes.
std::string CacheKeyPrefix(std::string_view kind) {
  std::string k;
  PutStr(&k, kind);
  PutU64(&k, kScanCacheFormat);
  PutStr(&k, hs_version());
  hs_platform_info_t plat{};
  if (hs_populate_platform(&plat) == HS_SUCCESS) {
    PutU64(&k, plat.tune);
    PutU64(&k, plat.cpu_features);
  }
  // Anchored rules leave the database only where the anchor finder is fast.
  PutU64(&k, AnchorFinder::Fast() ? 1 : 0);
  return k;
}

// Everything a compiled scanner depends on, unambiguously encoded: the
// prefix, and every field of every pack (in order).
std::string CacheKeyInput(const std::vector<RulePack>& packs) {
  std::string k = CacheKeyPrefix("kavach-scanner");
  PutU64(&k, packs.size());
  for (const RulePack& pack : packs) {
    PutStr(&k, pack.name);
    PutU64(&k, pack.lenient ? 1 : 0);
    PutAllowList(&k, pack.allowlist);
    PutU64(&k, pack.rules.size());
    for (const Rule& r : pack.rules) {
      PutStr(&k, r.id);
      PutStr(&k, r.scanner);
      PutStr(&k, r.category);
      PutU64(&k, static_cast<uint64_t>(r.severity));
      PutStr(&k, r.pattern);
      PutStr(&k, r.prefilter);
      PutStr(&k, r.shape);
      PutStrs(&k, r.anchors);
      PutU64(&k, static_cast<uint64_t>(static_cast<int64_t>(r.secret_group)));
      PutStrs(&k, r.keywords);
      uint64_t bits;
      static_assert(sizeof bits == sizeof r.entropy);
      std::memcpy(&bits, &r.entropy, sizeof bits);
      PutU64(&k, bits);
      PutU64(&k, static_cast<uint64_t>(r.validator));
      PutU64(&k, r.redact ? 1 : 0);
      PutStr(&k, r.description);
      PutAllowList(&k, r.allowlist);
      PutStrs(&k, r.examples);
      PutStrs(&k, r.negatives);
    }
  }
  return k;
}

// The same for packs not yet parsed: parsing is deterministic, so equal
// bytes (and the same way of parsing them: `kinds`, one letter a pack) give
// equal packs. The source names are included because RulePack::source is.
std::string RawCacheKeyInput(const std::vector<RulePackSource>& sources, std::string_view kinds) {
  std::string k = CacheKeyPrefix("kavach-scanner-raw");
  PutStr(&k, kinds);
  PutU64(&k, sources.size());
  for (const RulePackSource& src : sources) {
    PutStr(&k, src.source);
    PutStr(&k, src.text);
  }
  return k;
}

bool SerializeDb(const hs_database_t* db, std::string* out) {
  char* bytes = nullptr;
  size_t len = 0;
  if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS) return false;
  out->append(bytes, len);
  free(bytes);  // Hyperscan's misc allocator is malloc unless set otherwise
  return true;
}

// What a fresh compile produced, for RestoreFromCache, and how many leading
// bytes of it the cache must digest. Layout: the rules, each with every
// field of its Rule (a warm start parses no pack) and what compiling it
// decided; the skipped list; the two databases' lengths; then the
// databases themselves, which are left out of the digest because
// hs_deserialize_database checks them (see db_cache.h).
bool CachePayload(const ScannerImpl& impl, std::string* out, size_t* digested) {
  PutU64(out, impl.compiled.size());
  for (size_t i = 0; i < impl.compiled.size(); ++i) {
    const CompiledRule& cr = impl.compiled[i];
    const Rule& r = impl.rules[i];  // the whole rule (FinishRules)
    PutU64(out, cr.pack_index);
    PutU64(out, cr.rule_index);
    PutU64(out, impl.hs_flags[i]);
    PutU64(out, static_cast<uint64_t>(cr.groups));
    PutStr(out, impl.hs_patterns[i]);
    PutU64(out, cr.lenient ? 1 : 0);
    PutStrs(out, cr.allow_patterns);
    PutStrs(out, cr.stopwords);
    PutStr(out, r.id);
    PutStr(out, r.scanner);
    PutStr(out, r.category);
    PutU64(out, static_cast<uint64_t>(r.severity));
    PutStr(out, r.pattern);
    PutStr(out, r.prefilter);
    PutStr(out, r.shape);
    PutStrs(out, r.anchors);
    PutU64(out, static_cast<uint64_t>(static_cast<int64_t>(r.secret_group)));
    PutStrs(out, r.keywords);
    uint64_t bits;
    std::memcpy(&bits, &r.entropy, sizeof bits);
    PutU64(out, bits);
    PutU64(out, static_cast<uint64_t>(r.validator));
    PutU64(out, r.redact ? 1 : 0);
    PutStr(out, r.description);
    PutAllowList(out, r.allowlist);
    PutStrs(out, r.examples);
    PutStrs(out, r.negatives);
  }
  PutStrs(out, impl.skipped);
  std::string dbs;
  if (!SerializeDb(impl.block_db.db, &dbs)) return false;
  const size_t block_len = dbs.size();
  if (!SerializeDb(impl.stream_db.db, &dbs)) return false;
  PutU64(out, block_len);
  PutU64(out, dbs.size() - block_len);
  *digested = out->size();
  out->append(dbs);
  return true;
}

bool DeserializeDb(std::string_view bytes, HsDatabase* db) {
  // Validates the bytes (magic, version, platform, CRC) before use.
  return hs_deserialize_database(bytes.data(), bytes.size(), &db->db) == HS_SUCCESS;
}

bool ReadStrs(PayloadReader* r, std::vector<std::string>* v) {
  uint64_t n;
  if (!r->U64(&n) || n > (uint64_t{1} << 20)) return false;
  v->resize(n);
  for (std::string& s : *v) {
    if (!r->Str(&s)) return false;
  }
  return true;
}

bool ReadRule(PayloadReader* r, Rule* rule) {
  uint64_t severity, secret_group, bits, validator, redact;
  if (!r->Str(&rule->id) || !r->Str(&rule->scanner) || !r->Str(&rule->category) ||
      !r->U64(&severity) || !r->Str(&rule->pattern) || !r->Str(&rule->prefilter) ||
      !r->Str(&rule->shape) || !ReadStrs(r, &rule->anchors) || !r->U64(&secret_group) ||
      !ReadStrs(r, &rule->keywords) || !r->U64(&bits) || !r->U64(&validator) || !r->U64(&redact) ||
      !r->Str(&rule->description) || !ReadStrs(r, &rule->allowlist.regexes) ||
      !ReadStrs(r, &rule->allowlist.stopwords) || !ReadStrs(r, &rule->examples) ||
      !ReadStrs(r, &rule->negatives)) {
    return false;
  }
  if (severity > static_cast<uint64_t>(Severity::kCritical) ||
      validator > static_cast<uint64_t>(Validator::kSsn) || redact > 1 || secret_group > 1000) {
    return false;
  }
  rule->severity = static_cast<Severity>(severity);
  rule->secret_group = static_cast<int>(secret_group);
  std::memcpy(&rule->entropy, &bits, sizeof bits);
  rule->validator = static_cast<Validator>(validator);
  rule->redact = redact == 1;
  return true;
}

// Rebuilds `impl` from a cache payload alone (it holds the rules).
// False on any inconsistency (the caller then compiles from scratch).
bool RestoreFromCache(std::string_view payload, ScannerImpl* impl) {
  PayloadReader r(payload);
  uint64_t n;
  if (!r.U64(&n) || n == 0 || n > (uint64_t{1} << 20)) return false;
  impl->compiled.reserve(n);
  impl->hs_patterns.reserve(n);
  impl->hs_flags.reserve(n);
  impl->by_id.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t pi, ri, flags, groups, lenient;
    CompiledRule& cr = impl->compiled.emplace_back();
    std::string& hs_pattern = impl->hs_patterns.emplace_back();
    if (!r.U64(&pi) || !r.U64(&ri) || !r.U64(&flags) || !r.U64(&groups) || !r.Str(&hs_pattern) ||
        !r.U64(&lenient) || !ReadStrs(&r, &cr.allow_patterns) || !ReadStrs(&r, &cr.stopwords) ||
        !ReadRule(&r, &cr.rule)) {
      return false;
    }
    if (pi > UINT32_MAX || ri > UINT32_MAX || groups > 1000 || lenient > 1 || flags > UINT32_MAX ||
        cr.rule.secret_group > static_cast<int>(groups)) {
      return false;
    }
    cr.groups = static_cast<int>(groups);
    cr.pack_index = static_cast<uint32_t>(pi);
    cr.rule_index = static_cast<uint32_t>(ri);
    cr.lenient = lenient == 1;
    impl->hs_flags.push_back(static_cast<unsigned>(flags));
    if (!impl->by_id.try_emplace(cr.rule.id, i).second) return false;
  }
  if (!ReadStrs(&r, &impl->skipped)) return false;
  uint64_t block_len, stream_len;
  std::string_view rest;
  if (!r.U64(&block_len) || !r.U64(&stream_len) || !r.Rest(&rest) || block_len > rest.size() ||
      stream_len != rest.size() - block_len) {
    return false;
  }
  if (!DeserializeDb(rest.substr(0, block_len), &impl->block_db) ||
      !DeserializeDb(rest.substr(block_len), &impl->stream_db)) {
    return false;
  }
  std::vector<std::string> exprs;
  std::vector<unsigned> expr_flags;
  GroupExpressions(impl->hs_patterns, impl->hs_flags, &exprs, &expr_flags, &impl->expr_rules);
  FinishRules(expr_flags, impl);
  return impl->scratch.Init(impl->block_db.db, impl->stream_db.db).ok();
}

// The scanner stored under `key` in `dir`, or nullptr on a miss.
std::unique_ptr<ScannerImpl> LoadCached(const std::string& dir, const std::string& key) {
  std::optional<MappedCacheEntry> entry = MapCacheEntry(dir, key);
  if (!entry) return nullptr;
  auto impl = std::make_unique<ScannerImpl>();
  if (!RestoreFromCache(entry->payload(), impl.get())) return nullptr;
  impl->info.cache_hit = true;
  impl->info.cache_path = CacheEntryPath(dir, key);
  return impl;
}

// Compiles `packs` and, when `dir` is set, stores the result under `key`.
absl::StatusOr<std::unique_ptr<ScannerImpl>> CompileAndStore(std::vector<RulePack> packs,
                                                             const std::string& dir,
                                                             const std::string& key) {
  auto impl = std::make_unique<ScannerImpl>();
  absl::Status s = CompileAll(std::move(packs), impl.get());
  if (!s.ok()) return s;
  if (!dir.empty()) {
    impl->info.cache_path = CacheEntryPath(dir, key);
    std::string payload;
    size_t digested = 0;
    // Best-effort: a read-only or unwritable cache only costs the next
    // Create a compile.
    impl->info.cache_stored = CachePayload(*impl, &payload, &digested) &&
                              StoreCacheEntry(dir, key, payload, digested).ok();
  }
  return impl;
}

}  // namespace

// ---- ScanStream ----

struct ScanStream::State {
  const ScannerImpl* impl = nullptr;
  std::string name;
  hs_stream_t* stream = nullptr;
  hs_scratch_t* scratch = nullptr;
  ScannerImpl::Context ctx;
  std::string buf;  // retained text, from absolute offset `base`
  uint64_t base = 0;
  uint64_t lines_before_base = 0;
  uint64_t fed = 0;
  uint64_t settled = 0;
  uint64_t shape_next = 0;  // shape anchors before this are evaluated
  bool finished = false;

  ~State() {
    if (stream != nullptr) hs_close_stream(stream, scratch, nullptr, nullptr);
    const_cast<ScannerImpl*>(impl)->scratch.Release(scratch);
  }

  static int OnMatch(unsigned int id, unsigned long long, unsigned long long to, unsigned int,
                     void* p) {
    auto* s = static_cast<State*>(p);
    std::vector<Hit>& hits = s->ctx.hits;
    // A pattern like [a-z]{20,} reports at every byte it extends by; keep
    // one hit per run (its window covers the whole run's line).
    if (!hits.empty() && hits.back().expr == id && hits.back().end + 1 == to) {
      hits.back().end = to;
    } else {
      hits.push_back(Hit{id, to});
    }
    return 0;
  }

  // Runs the shape finders over anchors [shape_next, limit) of the retained
  // text; `limit` leaves them their lookahead unless the stream has ended.
  // The anchor finder runs over the same anchors: its reach (one byte
  // before, at most kMaxAnchorLength from the anchor) is within the shape
  // finders' and, like theirs, its checks never span a newline.
  void FindShapeHits(bool final) {
    static_assert(kMaxAnchorLength <= kShapeLookahead && kShapeLookback >= 1);
    if (!impl->finders()) return;
    uint64_t limit = final ? fed : (fed > kShapeLookahead ? fed - kShapeLookahead : 0);
    uint64_t from = std::max(shape_next, base);
    // No shape spans a newline, and each check reads its bytes in order up
    // to the first one that fails it, so anchors up to the last newline are
    // decided by the text already here: complete lines settle at once.
    if (!final && from < fed) {
      const void* nl = memrchr(buf.data() + (from - base), '\n', fed - from);
      if (nl != nullptr) {
        limit = std::max<uint64_t>(limit, base + (static_cast<const char*>(nl) - buf.data()) + 1);
      }
    }
    if (limit <= shape_next) return;
    FindShapes(buf, from - base, limit - base, impl->shape_mask, [&](Shape sh, size_t end) {
      ctx.hits.push_back(
          Hit{static_cast<unsigned>(impl->shape_expr[static_cast<int>(sh)]), base + end});
      return true;
    });
    impl->anchors.Find(buf, from - base, limit - base, [&](unsigned expr, size_t end) {
      ctx.hits.push_back(Hit{expr, base + end});
      return true;
    });
    shape_next = limit;
  }

  std::vector<Finding> Process(bool final) {
    FindShapeHits(final);
    std::string_view seg(buf);
    ctx.lines.Reset(buf.data(), base, lines_before_base);
    std::vector<Hit> keep;
    for (const Hit& h : ctx.hits) {
      if (!impl->ProcessHit(&ctx, seg, base, h, final)) keep.push_back(h);
    }
    ctx.hits = std::move(keep);
    // Lines, while the text they are in is still held.
    ScannerImpl::SortFindings(&ctx.findings);
    ScannerImpl::AssignLines(&ctx.findings, &ctx.lines);
    // What the pending hits and any future hit may still need.
    uint64_t need = ScannerImpl::FutureWindowStart(seg, base);
    for (const Hit& h : ctx.hits) {
      need = std::min(need, ScannerImpl::PendingWindowStart(seg, base, h));
    }
    // Shape anchors not yet evaluated may still nominate their line.
    if (impl->finders() && shape_next >= base && shape_next < fed) {
      need = std::min(need, base + ScannerImpl::WindowStart(seg, shape_next - base));
    }
    settled = final ? fed : need;
    // One byte before a window gives RE2 its \b context.
    uint64_t keep_from = need > base ? need - 1 : base;
    // And the shape finders read a few bytes before their next anchor.
    if (impl->finders() && shape_next > base + kShapeLookback) {
      keep_from = std::min(keep_from, shape_next - kShapeLookback);
    } else if (impl->finders()) {
      keep_from = base;
    }
    if (final) keep_from = fed;
    if (keep_from > base) {
      size_t drop = keep_from - base;
      lines_before_base += CountNewlines(buf.data(), drop);
      buf.erase(0, drop);
      base = keep_from;
    }
    std::vector<Finding> out = std::move(ctx.findings);
    ctx.findings.clear();
    ScannerImpl::SortFindings(&out);
    return out;
  }
};

ScanStream::ScanStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
ScanStream::~ScanStream() = default;

std::vector<Finding> ScanStream::Feed(std::string_view chunk) {
  State& s = *state_;
  if (s.finished || s.stream == nullptr || chunk.empty()) return {};
  hs_scan_stream(s.stream, chunk.data(), static_cast<unsigned>(chunk.size()), 0, s.scratch,
                 &State::OnMatch, &s);
  s.buf.append(chunk);
  s.fed += chunk.size();
  return s.Process(false);
}

std::vector<Finding> ScanStream::Finish() {
  State& s = *state_;
  if (s.finished) return {};
  s.finished = true;
  if (s.stream != nullptr) {
    // End-anchored patterns ($, \b at the end) report here.
    hs_close_stream(s.stream, s.scratch, &State::OnMatch, &s);
    s.stream = nullptr;
  }
  return s.Process(true);
}

uint64_t ScanStream::settled_offset() const { return state_->settled; }
uint64_t ScanStream::bytes_fed() const { return state_->fed; }

// ---- Scanner ----

Scanner::Scanner(std::unique_ptr<ScannerImpl> impl) : impl_(std::move(impl)) {}
Scanner::~Scanner() = default;

absl::StatusOr<std::unique_ptr<Scanner>> Scanner::Create(std::vector<RulePack> packs) {
  return Create(std::move(packs), ScannerOptions{});
}

absl::StatusOr<std::unique_ptr<Scanner>> Scanner::Create(std::vector<RulePack> packs,
                                                         const ScannerOptions& options) {
  const std::string dir = options.cache_dir.has_value() ? *options.cache_dir : ScanCacheDir();
  std::string key;
  if (!dir.empty()) {
    key = CacheKeyHex(CacheKeyInput(packs));
    if (std::unique_ptr<ScannerImpl> impl = LoadCached(dir, key)) {
      return std::unique_ptr<Scanner>(new Scanner(std::move(impl)));
    }
  }
  absl::StatusOr<std::unique_ptr<ScannerImpl>> impl = CompileAndStore(std::move(packs), dir, key);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Scanner>(new Scanner(*std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Scanner>> Scanner::CreateDefault(
    const std::vector<std::string>& extra_pack_paths) {
  return CreateDefault(extra_pack_paths, ScannerOptions{});
}

absl::StatusOr<std::unique_ptr<Scanner>> Scanner::CreateDefault(
    const std::vector<std::string>& extra_pack_paths, const ScannerOptions& options) {
  // Read every pack's bytes first and key the cache on them: a hit (every
  // gated exec after the first) then costs no TOML parsing at all.
  absl::StatusOr<std::vector<RulePackSource>> sources = DefaultRulePackSources();
  if (!sources.ok()) return sources.status();
  // 'd': a default pack (kavach format only); 'x': an extra pack (kavach
  // format, else a gitleaks config).
  std::string kinds(sources->size(), 'd');
  for (const std::string& path : extra_pack_paths) {
    absl::StatusOr<std::string> text = ReadRulePackFile(path);
    if (!text.ok()) return text.status();
    sources->push_back(RulePackSource{path, *std::move(text)});
    kinds += 'x';
  }
  const std::string dir = options.cache_dir.has_value() ? *options.cache_dir : ScanCacheDir();
  std::string key;
  if (!dir.empty()) {
    key = CacheKeyHex(RawCacheKeyInput(*sources, kinds));
    if (std::unique_ptr<ScannerImpl> impl = LoadCached(dir, key)) {
      return std::unique_ptr<Scanner>(new Scanner(std::move(impl)));
    }
  }
  std::vector<RulePack> packs;
  packs.reserve(sources->size());
  for (size_t i = 0; i < sources->size(); ++i) {
    const RulePackSource& src = (*sources)[i];
    absl::StatusOr<RulePack> pack = ParseRulePack(src.text, src.source);
    if (kinds[i] == 'x' && !pack.ok() && absl::IsInvalidArgument(pack.status())) {
      // Not a kavach pack: a gitleaks config has [[rules]] with `regex`.
      absl::StatusOr<RulePack> gl = ImportGitleaks(src.text, src.source);
      if (gl.ok() && !gl->rules.empty()) pack = std::move(gl);
    }
    if (!pack.ok()) return pack.status();
    packs.push_back(*std::move(pack));
  }
  absl::StatusOr<std::unique_ptr<ScannerImpl>> impl = CompileAndStore(std::move(packs), dir, key);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Scanner>(new Scanner(*std::move(impl)));
}

std::vector<Finding> Scanner::Scan(std::string_view text, std::string_view stream_name) const {
  ScannerImpl::Context ctx;
  ctx.stream_name = stream_name;
  ctx.last_window_end.assign(impl_->compiled.size(), 0);
  ctx.expr_window.assign(impl_->expr_rules.size(), {0, 0});
  ctx.lines.Reset(text.data(), 0, 0);
  hs_scratch_t* scratch = impl_->scratch.Acquire();
  if (scratch == nullptr) return {};
  struct BlockCtx {
    const ScannerImpl* impl;
    ScannerImpl::Context* ctx;
    std::string_view text;
  } bc{impl_.get(), &ctx, text};
  auto on_match = [](unsigned int id, unsigned long long, unsigned long long to, unsigned int,
                     void* p) -> int {
    auto* b = static_cast<BlockCtx*>(p);
    b->impl->ProcessHit(b->ctx, b->text, 0, Hit{id, to}, true);
    return b->ctx->findings.size() >= Scanner::kMaxFindings ? 1 : 0;
  };
  // Hyperscan takes an unsigned length; scan larger inputs in pieces with
  // the stream database so matches across the piece boundary still count.
  if (text.size() <= 0xFFFFFFFFull) {
    hs_scan(impl_->block_db.db, text.data(), static_cast<unsigned>(text.size()), 0, scratch,
            on_match, &bc);
  } else {
    hs_stream_t* st = nullptr;
    if (hs_open_stream(impl_->stream_db.db, 0, &st) == HS_SUCCESS) {
      for (size_t off = 0; off < text.size(); off += 0x40000000) {
        size_t n = std::min<size_t>(0x40000000, text.size() - off);
        if (hs_scan_stream(st, text.data() + off, static_cast<unsigned>(n), 0, scratch, on_match,
                           &bc) != HS_SUCCESS) {
          break;
        }
      }
      hs_close_stream(st, scratch, on_match, &bc);
    }
  }
  impl_->scratch.Release(scratch);
  if (impl_->shape_mask != 0 && ctx.findings.size() < kMaxFindings) {
    FindShapes(text, 0, text.size(), impl_->shape_mask, [&](Shape s, size_t end) {
      Hit hit{static_cast<unsigned>(impl_->shape_expr[static_cast<int>(s)]), end};
      impl_->ProcessHit(&ctx, text, 0, hit, true);
      return ctx.findings.size() < kMaxFindings;
    });
  }
  if (!impl_->anchors.empty() && ctx.findings.size() < kMaxFindings) {
    impl_->anchors.Find(text, 0, text.size(), [&](unsigned expr, size_t end) {
      impl_->ProcessHit(&ctx, text, 0, Hit{expr, end}, true);
      return ctx.findings.size() < kMaxFindings;
    });
  }
  ScannerImpl::SortFindings(&ctx.findings);
  ScannerImpl::AssignLines(&ctx.findings, &ctx.lines);
  return std::move(ctx.findings);
}

std::unique_ptr<ScanStream> Scanner::OpenStream(std::string_view stream_name) const {
  auto state = std::make_unique<ScanStream::State>();
  state->impl = impl_.get();
  state->name = std::string(stream_name);
  state->ctx.stream_name = state->name;
  state->ctx.last_window_end.assign(impl_->compiled.size(), 0);
  state->ctx.expr_window.assign(impl_->expr_rules.size(), {0, 0});
  state->scratch = impl_->scratch.Acquire();
  if (state->scratch != nullptr) {
    hs_open_stream(impl_->stream_db.db, 0, &state->stream);
  }
  return std::unique_ptr<ScanStream>(new ScanStream(std::move(state)));
}

size_t Scanner::rule_count() const { return impl_->compiled.size(); }
const ScannerBuildInfo& Scanner::build_info() const { return impl_->info; }
const std::vector<std::string>& Scanner::skipped() const { return impl_->skipped; }
const std::vector<std::string>& Scanner::prefiltered() const { return impl_->prefiltered; }
const std::vector<Rule>& Scanner::rules() const { return impl_->rules; }
const Rule* Scanner::FindRule(std::string_view id) const {
  auto it = impl_->by_id.find(std::string(id));
  return it == impl_->by_id.end() ? nullptr : &impl_->rules[it->second];
}

// ---- validators ----

// H = log2(n) - (1/n) * sum(c * log2(c)) over the byte counts c; c*log2(c)
// comes from a table for the counts a secret-sized string has (one log2 per
// string instead of one per distinct byte).
double ShannonEntropy(std::string_view s) {
  if (s.empty()) return 0;
  static constexpr size_t kTable = 512;
  static const auto* const table = [] {
    auto* t = new std::array<double, kTable>();
    for (size_t c = 1; c < kTable; ++c) (*t)[c] = c * std::log2(static_cast<double>(c));
    return t;
  }();
  double sum = 0;
  if (s.size() < kTable) {
    // Secret-sized: the sum runs over the string's own bytes (each distinct
    // byte once, its count then cleared), not over all 256 counters.
    std::array<uint16_t, 256> counts{};
    for (unsigned char c : s) ++counts[c];
    for (unsigned char c : s) {
      sum += (*table)[counts[c]];  // table[0] == 0
      counts[c] = 0;
    }
  } else {
    std::array<uint64_t, 256> counts{};
    for (unsigned char c : s) ++counts[c];
    for (uint64_t c : counts) {
      if (c != 0) sum += c * std::log2(static_cast<double>(c));
    }
  }
  const double n = static_cast<double>(s.size());
  double h = std::log2(n) - sum / n;
  return h < 0 ? 0 : h;
}

bool LuhnValid(std::string_view s) {
  int sum = 0;
  int digits = 0;
  bool dbl = false;
  for (size_t i = s.size(); i-- > 0;) {
    char c = s[i];
    if (c == ' ' || c == '-') continue;
    if (c < '0' || c > '9') return false;
    int d = c - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
    ++digits;
  }
  return digits >= 12 && digits <= 19 && sum % 10 == 0;
}

bool IbanValid(std::string_view s) {
  std::string iban;
  for (char c : s) {
    if (c == ' ') continue;
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
    iban.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  if (iban.size() < 15 || iban.size() > 34) return false;
  if (!absl::ascii_isalpha(iban[0]) || !absl::ascii_isalpha(iban[1]) ||
      !absl::ascii_isdigit(iban[2]) || !absl::ascii_isdigit(iban[3])) {
    return false;
  }
  std::string rotated = iban.substr(4) + iban.substr(0, 4);
  int rem = 0;
  for (char c : rotated) {
    if (absl::ascii_isdigit(c)) {
      rem = (rem * 10 + (c - '0')) % 97;
    } else {
      int v = c - 'A' + 10;
      rem = (rem * 100 + v) % 97;
    }
  }
  return rem == 1;
}

bool SsnValid(std::string_view s) {
  std::string d;
  for (char c : s) {
    if (c == '-' || c == ' ') continue;
    if (c < '0' || c > '9') return false;
    d.push_back(c);
  }
  if (d.size() != 9) return false;
  int area = std::stoi(d.substr(0, 3));
  int group = std::stoi(d.substr(3, 2));
  int serial = std::stoi(d.substr(5, 4));
  if (area == 0 || area == 666 || area >= 900) return false;
  return group != 0 && serial != 0;
}

}  // namespace kavach::internal
