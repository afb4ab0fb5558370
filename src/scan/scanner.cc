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
// Streaming runs step 1 in Hyperscan's stream mode (state carries across
// chunks) and holds back only the text a pending window may still need.
#include "scan/scanner.h"

#include <hs/hs.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "linux/strings.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace kavach::internal {
namespace {

// A match never reaches further than this from the hit's last byte in either
// direction; lines are cut there. Generous for every credential format.
constexpr uint64_t kWindowBack = 4096;
constexpr uint64_t kWindowFwd = 1024;

size_t CountNewlines(const char* p, size_t n) {
  size_t count = 0;
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n');
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    count += __builtin_popcount(_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)));
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

struct CompiledRule {
  Rule rule;
  std::unique_ptr<RE2> re;
  int groups = 0;
  std::vector<std::unique_ptr<RE2>> allow;  // the rule's and its pack's
  std::vector<std::string> stopwords;
  bool lenient = false;  // from a lenient pack: may be dropped, never fail
};

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
    uint64_t ws, we;
    if (!Window(seg, base, hit.end, final, &ws, &we)) return false;
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
    int ngroups = std::min<int>(cr.groups + 1, static_cast<int>(groups.size()));
    size_t pos = ws - base;
    const size_t endpos = we - base;
    while (pos <= endpos &&
           cr.re->Match(text, pos, endpos, RE2::UNANCHORED, groups.data(), ngroups)) {
      const re2::StringPiece& whole = groups[0];
      size_t mbegin = whole.data() - seg.data();
      size_t mend = mbegin + whole.size();
      pos = whole.empty() ? mend + 1 : mend;
      re2::StringPiece secret = whole;
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
      f.line = ctx->lines.LineAt(begin);
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
    for (const auto& re : cr.allow) {
      if (RE2::PartialMatch(re2::StringPiece(secret.data(), secret.size()), *re)) return false;
    }
    return true;
  }

  static void SortFindings(std::vector<Finding>* f) {
    std::sort(f->begin(), f->end(), [](const Finding& a, const Finding& b) {
      return std::tie(a.begin, a.end, a.rule_id) < std::tie(b.begin, b.end, b.rule_id);
    });
  }
};

namespace {

// The pattern handed to Hyperscan: the rule's own, with every wide bounded
// repeat {m,n} (n > 16) opened to {m,}. Hyperscan compiles counted repeats
// into large automata (seconds for a few rules), and an open repeat accepts a
// superset, which is all a prefilter needs: RE2 enforces the real bound.
std::string HyperscanPattern(const std::string& p) {
  std::string out;
  out.reserve(p.size());
  bool in_class = false;
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
            out += '}';
            i = n_end;
            continue;
          }
        }
      }
    }
    out += c;
  }
  return out;
}

absl::Status CompileAll(std::vector<RulePack> packs, ScannerImpl* impl) {
  RE2::Options opts = Re2Options();
  std::vector<std::string> hs_patterns;
  std::vector<unsigned> hs_flags;
  for (RulePack& pack : packs) {
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
    for (Rule& rule : pack.rules) {
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
      // (?m): ^ and $ match at line boundaries, as HS_FLAG_MULTILINE does;
      // RE2 sees the whole buffer, not only the window.
      cr.re = std::make_unique<RE2>("(?m)" + rule.pattern, opts);
      if (!cr.re->ok()) {
        absl::Status s = fail(absl::StrCat("RE2: ", cr.re->error()));
        if (!s.ok()) return s;
        continue;
      }
      cr.groups = cr.re->NumberOfCapturingGroups();
      if (rule.secret_group > cr.groups || rule.secret_group > 9) {
        absl::Status s = fail(absl::StrCat("secret_group ", rule.secret_group,
                                           " but the pattern has ", cr.groups, " groups"));
        if (!s.ok()) return s;
        continue;
      }
      bool allow_ok = true;
      for (const std::string& a : rule.allowlist.regexes) {
        auto re = std::make_unique<RE2>(a, opts);
        if (!re->ok()) {
          absl::Status s = fail(absl::StrCat("allowlist regex: ", re->error()));
          if (!s.ok()) return s;
          allow_ok = false;
          break;
        }
        cr.allow.push_back(std::move(re));
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
      for (const auto& a : pack_allow)
        cr.allow.push_back(std::make_unique<RE2>(a->pattern(), opts));
      cr.lenient = pack.lenient;
      cr.stopwords = rule.allowlist.stopwords;
      cr.stopwords.insert(cr.stopwords.end(), pack.allowlist.stopwords.begin(),
                          pack.allowlist.stopwords.end());
      impl->by_id[rule.id] = impl->compiled.size();
      hs_patterns.push_back(std::move(hs_pattern));
      hs_flags.push_back(flags);
      cr.rule = std::move(rule);
      impl->compiled.push_back(std::move(cr));
    }
  }
  if (impl->compiled.empty()) return absl::InvalidArgumentError("no rules to compile");

  // Compile both databases. Identical expressions (shared prefilters) go in
  // once. If one still fails in the full build (resource limits), retry it
  // as a prefilter, and drop it as a last resort (lenient packs only).
  std::vector<std::string> exprs;
  std::vector<unsigned> expr_flags;
  std::vector<std::vector<unsigned>> expr_rules;
  for (int attempt = 0; attempt < 64; ++attempt) {
    exprs.clear();
    expr_flags.clear();
    expr_rules.clear();
    std::map<std::pair<std::string, unsigned>, unsigned> index;
    for (size_t i = 0; i < hs_patterns.size(); ++i) {
      auto [it, fresh] = index.try_emplace({hs_patterns[i], hs_flags[i]}, exprs.size());
      if (fresh) {
        exprs.push_back(hs_patterns[i]);
        expr_flags.push_back(hs_flags[i]);
        expr_rules.emplace_back();
      }
      expr_rules[it->second].push_back(static_cast<unsigned>(i));
    }
    std::vector<const char*> cexprs;
    std::vector<unsigned> ids;
    for (size_t i = 0; i < exprs.size(); ++i) {
      cexprs.push_back(exprs[i].c_str());
      ids.push_back(static_cast<unsigned>(i));
    }
    hs_compile_error_t* err = nullptr;
    hs_database_t* block = nullptr;
    if (hs_compile_multi(cexprs.data(), expr_flags.data(), ids.data(), cexprs.size(), HS_MODE_BLOCK,
                         nullptr, &block, &err) == HS_SUCCESS) {
      hs_database_t* stream = nullptr;
      if (hs_compile_multi(cexprs.data(), expr_flags.data(), ids.data(), cexprs.size(),
                           HS_MODE_STREAM, nullptr, &stream, &err) == HS_SUCCESS) {
        impl->block_db.db = block;
        impl->stream_db.db = stream;
        break;
      }
      hs_free_database(block);
    }
    int bad = err != nullptr ? err->expression : -1;
    std::string why = err != nullptr ? err->message : "unknown";
    hs_free_compile_error(err);
    if (bad < 0 || static_cast<size_t>(bad) >= exprs.size()) {
      return absl::InternalError(absl::StrCat("Hyperscan database: ", why));
    }
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
    }
    impl->by_id.clear();
    for (size_t i = 0; i < impl->compiled.size(); ++i) impl->by_id[impl->compiled[i].rule.id] = i;
  }
  if (impl->block_db.db == nullptr) {
    return absl::InternalError("Hyperscan database did not compile");
  }
  impl->expr_rules = std::move(expr_rules);
  for (size_t i = 0; i < impl->compiled.size(); ++i) {
    impl->rules.push_back(impl->compiled[i].rule);
    if (hs_flags[i] & HS_FLAG_PREFILTER) impl->prefiltered.push_back(impl->compiled[i].rule.id);
  }
  return impl->scratch.Init(impl->block_db.db, impl->stream_db.db);
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

  std::vector<Finding> Process(bool final) {
    std::string_view seg(buf);
    ctx.lines.Reset(buf.data(), base, lines_before_base);
    std::vector<Hit> keep;
    for (const Hit& h : ctx.hits) {
      if (!impl->ProcessHit(&ctx, seg, base, h, final)) keep.push_back(h);
    }
    ctx.hits = std::move(keep);
    // What the pending hits and any future hit may still need.
    uint64_t need = ScannerImpl::FutureWindowStart(seg, base);
    for (const Hit& h : ctx.hits) {
      need = std::min(need, ScannerImpl::PendingWindowStart(seg, base, h));
    }
    settled = final ? fed : need;
    // One byte before a window gives RE2 its \b context.
    uint64_t keep_from = need > base ? need - 1 : base;
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
  auto impl = std::make_unique<ScannerImpl>();
  absl::Status s = CompileAll(std::move(packs), impl.get());
  if (!s.ok()) return s;
  return std::unique_ptr<Scanner>(new Scanner(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Scanner>> Scanner::CreateDefault(
    const std::vector<std::string>& extra_pack_paths) {
  absl::StatusOr<std::vector<RulePack>> packs = LoadDefaultRulePacks();
  if (!packs.ok()) return packs.status();
  for (const std::string& path : extra_pack_paths) {
    absl::StatusOr<RulePack> pack = LoadRulePack(path);
    if (!pack.ok() && absl::IsInvalidArgument(pack.status())) {
      // Not a kavach pack: a gitleaks config has [[rules]] with `regex`.
      absl::StatusOr<RulePack> gl = ImportGitleaksFile(path);
      if (gl.ok() && !gl->rules.empty()) pack = std::move(gl);
    }
    if (!pack.ok()) return pack.status();
    packs->push_back(*std::move(pack));
  }
  return Create(*std::move(packs));
}

std::vector<Finding> Scanner::Scan(std::string_view text, std::string_view stream_name) const {
  ScannerImpl::Context ctx;
  ctx.stream_name = stream_name;
  ctx.last_window_end.assign(impl_->compiled.size(), 0);
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
  ScannerImpl::SortFindings(&ctx.findings);
  return std::move(ctx.findings);
}

std::unique_ptr<ScanStream> Scanner::OpenStream(std::string_view stream_name) const {
  auto state = std::make_unique<ScanStream::State>();
  state->impl = impl_.get();
  state->name = std::string(stream_name);
  state->ctx.stream_name = state->name;
  state->ctx.last_window_end.assign(impl_->compiled.size(), 0);
  state->scratch = impl_->scratch.Acquire();
  if (state->scratch != nullptr) {
    hs_open_stream(impl_->stream_db.db, 0, &state->stream);
  }
  return std::unique_ptr<ScanStream>(new ScanStream(std::move(state)));
}

size_t Scanner::rule_count() const { return impl_->compiled.size(); }
const std::vector<std::string>& Scanner::skipped() const { return impl_->skipped; }
const std::vector<std::string>& Scanner::prefiltered() const { return impl_->prefiltered; }
const std::vector<Rule>& Scanner::rules() const { return impl_->rules; }
const Rule* Scanner::FindRule(std::string_view id) const {
  auto it = impl_->by_id.find(std::string(id));
  return it == impl_->by_id.end() ? nullptr : &impl_->rules[it->second];
}

// ---- validators ----

double ShannonEntropy(std::string_view s) {
  if (s.empty()) return 0;
  std::array<uint32_t, 256> counts{};
  for (unsigned char c : s) ++counts[c];
  double h = 0;
  const double n = static_cast<double>(s.size());
  for (uint32_t c : counts) {
    if (c == 0) continue;
    double p = c / n;
    h -= p * std::log2(p);
  }
  return h;
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
