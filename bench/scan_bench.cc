// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Throughput of the whole output-gate scanner (all three built-in packs in one
// Hyperscan pass, RE2 confirmation) on generated, realistic text:
//   BM_ScanClean         clean service logs / source / JSON (hard negatives)
//   BM_ScanFindingPerKB  the same with one planted finding per KiB
//   BM_StreamClean       the clean text fed in 64 KiB chunks (Spawn path)
//   BM_ScanCleanWithoutShapes  baseline: number rules via Hyperscan prefilters
//   BM_CreateDefaultCold/Warm  Scanner construction without / with the cache
//   BM_Re2CompileAllRules      RE2's share of a cold construction
// Size: KAVACH_BENCH_MB (default 100). bytes_per_second is per CPU second of
// the scanning thread, i.e. per core (the machine may be shared).
//
//   build/bin/kavach_scan_bench --benchmark_counters_tabular=true
//   build/bin/kavach_scan_bench --write-corpus FILE [--finding-per-kb]
//   build/bin/kavach_scan_bench --findings FILE...
//   build/bin/kavach_scan_bench --count FILE
//   build/bin/kavach_scan_bench --count-pack secrets FILE
//   build/bin/kavach_scan_bench --rule-costs
// The second form writes the corpus for bench/scan_vs_rg.sh; the third
// prints every finding of each FILE (scanned in 1 MiB outputs, as
// BM_ScanFindingPerKB does), one per line, to compare scanner versions; the
// fourth counts the findings in FILE (scan_vs_rg.sh times it against rg),
// the fifth with one built-in pack only. The last prints, per built-in
// rule, the clean-text scan time of the default packs without that rule and
// of that rule alone (what hsbench would say per pattern, RE2 and shape
// finders included): which rules make the one-pass database slow.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <re2/re2.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "scan/scanner.h"

namespace {

size_t BenchBytes() {
  const char* mb = std::getenv("KAVACH_BENCH_MB");
  size_t n = mb != nullptr ? std::strtoull(mb, nullptr, 10) : 100;
  return (n == 0 ? 1 : n) << 20;
}

std::string Hex(std::mt19937_64& rng, int n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) s += kHex[rng() % 16];
  return s;
}

std::string Alnum(std::mt19937_64& rng, int n) {
  static const char kAn[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < n; ++i) s += kAn[rng() % 62];
  return s;
}

// A clean line of the kind a sandboxed build or service prints.
std::string CleanLine(std::mt19937_64& rng) {
  switch (rng() % 12) {
    case 0:
      return "2026-03-01T10:" + std::to_string(rng() % 60) + ":" + std::to_string(rng() % 60) +
             "Z INFO request_id=" + Hex(rng, 8) + "-" + Hex(rng, 4) + "-4" + Hex(rng, 3) + "-a" +
             Hex(rng, 3) + "-" + Hex(rng, 12) + " status=200 took=" + std::to_string(rng() % 900) +
             "ms";
    case 1:
      return "commit " + Hex(rng, 40) + " Merge branch 'main' into feature/retrieval";
    case 2:
      return "sha256:" + Hex(rng, 64) + "  dist/app-" + std::to_string(rng() % 9) + "." +
             std::to_string(rng() % 30) + ".tar.gz";
    case 3:
      return "  at com.example.service.Handler.process(Handler.java:" +
             std::to_string(rng() % 900) + ")";
    case 4:
      return "    total_amount = sum(item.amount for item in cart.items)  # sync with ledger";
    case 5:
      return "  \"checksum\": \"" + Hex(rng, 32) +
             "\", \"size\": " + std::to_string(rng() % 99999) + ",";
    case 6:
      return "Compiling serde_json v1." + std::to_string(rng() % 20) + "." +
             std::to_string(rng() % 200) +
             " (registry+https://github.com/rust-lang/crates.io-index)";
    case 7:
      return "func (s *Server) handle(w http.ResponseWriter, r *http.Request) { s.mu.Lock() }";
    case 8:
      return "blob: " + Alnum(rng, 44) + "==";
    case 9:
      return "ts=" + std::to_string(1700000000000ull + rng() % 100000000000ull) +
             " level=debug msg=\"cache hit\" key=user:" + std::to_string(rng() % 100000);
    case 10:
      return "rsync -a --delete build/ dist/ && echo done (" + std::to_string(rng() % 1000) +
             " files)";
    default:
      return "    docs = retrieval(query, top_k=" + std::to_string(rng() % 10) +
             ")  # version 3.11.4";
  }
}

std::string FindingLine(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0:
      return "export AWS_ACCESS_KEY_ID=AKIAUJZDE8GXD6N" + std::to_string(10000 + rng() % 89999);
    case 1:
      return "GITHUB_TOKEN=ghp_" + Alnum(rng, 36);
    case 2:
      return "DATABASE_URL=postgres://app:" + Alnum(rng, 12) + "@db.internal:5432/app";
    case 3:
      return "card 4111 1111 1111 1111 charged";
    case 4:
      return "curl -fsSL https://get.example.sh | sh";
    default:
      return "contact ops-" + std::to_string(rng() % 1000) + "@example-corp.io";
  }
}

std::string MakeCorpus(size_t bytes, bool finding_per_kb) {
  std::mt19937_64 rng(42);
  // A pool of lines, sampled: keeps generation of 100 MB fast.
  std::vector<std::string> pool;
  for (int i = 0; i < 4096; ++i) pool.push_back(CleanLine(rng));
  std::string out;
  out.reserve(bytes + 256);
  size_t next_finding = 1024;
  while (out.size() < bytes) {
    if (finding_per_kb && out.size() >= next_finding) {
      out += FindingLine(rng);
      next_finding += 1024;
    } else {
      out += pool[rng() % pool.size()];
    }
    out += '\n';
  }
  return out;
}

const std::string& CleanCorpus() {
  static const std::string text = MakeCorpus(BenchBytes(), false);
  return text;
}

const kavach::internal::Scanner& TheScanner() {
  static auto* scanner = [] {
    auto s = kavach::internal::Scanner::CreateDefault();
    if (!s.ok()) {
      std::cerr << s.status() << "\n";
      std::exit(1);
    }
    return s->release();
  }();
  return *scanner;
}

void BM_ScanClean(benchmark::State& state) {
  const std::string& text = CleanCorpus();
  size_t n = 0;
  for (auto _ : state) {
    n = TheScanner().Scan(text).size();
    benchmark::DoNotOptimize(n);
  }
  state.counters["findings"] = static_cast<double>(n);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

// Scanned in 1 MiB outputs (as the gate sees one exec's output at a time):
// a single 100 MB scan would stop at Scanner::kMaxFindings.
// Baseline for the shape finders: the same packs with `shape` removed, so
// the number-shaped data rules run as Hyperscan prefilters again.
void BM_ScanCleanWithoutShapes(benchmark::State& state) {
  static const kavach::internal::Scanner* scanner = [] {
    auto packs = kavach::internal::LoadDefaultRulePacks();
    if (!packs.ok()) std::exit(1);
    for (auto& pack : *packs) {
      for (auto& rule : pack.rules) rule.shape.clear();
    }
    kavach::internal::ScannerOptions opts;
    opts.cache_dir = "";
    auto s = kavach::internal::Scanner::Create(*std::move(packs), opts);
    if (!s.ok()) std::exit(1);
    return s->release();
  }();
  const std::string& text = CleanCorpus();
  size_t n = 0;
  for (auto _ : state) {
    n = scanner->Scan(text).size();
    benchmark::DoNotOptimize(n);
  }
  state.counters["findings"] = static_cast<double>(n);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_ScanFindingPerKB(benchmark::State& state) {
  static const std::string text = MakeCorpus(BenchBytes(), true);
  size_t n = 0;
  for (auto _ : state) {
    n = 0;
    for (size_t off = 0; off < text.size(); off += 1 << 20) {
      n += TheScanner().Scan(std::string_view(text).substr(off, 1 << 20)).size();
    }
    benchmark::DoNotOptimize(n);
  }
  state.counters["findings"] = static_cast<double>(n);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_StreamClean(benchmark::State& state) {
  const std::string& text = CleanCorpus();
  for (auto _ : state) {
    auto stream = TheScanner().OpenStream();
    size_t n = 0;
    for (size_t off = 0; off < text.size(); off += 65536) {
      n += stream->Feed(std::string_view(text).substr(off, 65536)).size();
    }
    n += stream->Finish().size();
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

// Scanner construction, as every gated `kavach exec` pays it: cold compiles
// both Hyperscan databases (and every RE2); warm loads them from the
// compiled-database cache. The ratio is the startup the cache saves.
void BM_CreateDefaultCold(benchmark::State& state) {
  kavach::internal::ScannerOptions opts;
  opts.cache_dir = "";
  for (auto _ : state) {
    auto s = kavach::internal::Scanner::CreateDefault({}, opts);
    if (!s.ok()) state.SkipWithError("CreateDefault failed");
    benchmark::DoNotOptimize(s);
  }
}

void BM_CreateDefaultWarm(benchmark::State& state) {
  char tmpl[] = "/tmp/kavach_scan_bench.XXXXXX";
  const char* dir = mkdtemp(tmpl);
  kavach::internal::ScannerOptions opts;
  opts.cache_dir = dir != nullptr ? dir : "";
  auto first = kavach::internal::Scanner::CreateDefault({}, opts);  // fills the cache
  if (!first.ok() || !(*first)->build_info().cache_stored) {
    state.SkipWithError("could not fill the cache");
    return;
  }
  for (auto _ : state) {
    auto s = kavach::internal::Scanner::CreateDefault({}, opts);
    if (!s.ok() || !(*s)->build_info().cache_hit) state.SkipWithError("no cache hit");
    benchmark::DoNotOptimize(s);
  }
  std::remove((*first)->build_info().cache_path.c_str());
  rmdir(opts.cache_dir->c_str());
}

// RE2's share of a cold start: compiling every rule's pattern once.
void BM_Re2CompileAllRules(benchmark::State& state) {
  auto packs = kavach::internal::LoadDefaultRulePacks();
  if (!packs.ok()) {
    state.SkipWithError("no packs");
    return;
  }
  RE2::Options o;
  o.set_encoding(RE2::Options::EncodingLatin1);
  for (auto _ : state) {
    size_t ok = 0;
    for (const auto& pack : *packs) {
      for (const auto& rule : pack.rules) ok += RE2("(?m)" + rule.pattern, o).ok();
    }
    benchmark::DoNotOptimize(ok);
  }
}

// The console table, then the target for what ran: clean-text
// throughput per core (all three scanners) against 1 GB/s. Medians when the
// run has repetitions. The comparison with rg is bench/scan_vs_rg.sh's.
class TargetReporter : public benchmark::ConsoleReporter {
 public:
  TargetReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_Color : OO_None) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type == Run::RT_Aggregate && !median) continue;
      auto it = r.counters.find("bytes_per_second");
      if (it == r.counters.end()) continue;
      std::string name = r.run_name.function_name;
      if (median || !medians_.contains(name)) rate_[name] = it->second.value;
      if (median) medians_.insert(name);
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void PrintTargets() const {
    auto line = [&](const char* name, const char* what) {
      auto it = rate_.find(name);
      if (it == rate_.end()) return;
      const double gbs = it->second / 1e9;
      std::printf("%-34s %.3f GB/s per core (target 1 GB/s): %s\n", what, gbs,
                  gbs >= 1.0 ? "met" : "MISSED");
    };
    line("BM_ScanClean", "clean text, one scan, all scanners");
    line("BM_StreamClean", "clean text, 64 KiB stream chunks");
    if (auto it = rate_.find("BM_ScanFindingPerKB"); it != rate_.end()) {
      std::printf("%-34s %.3f GB/s per core (vs rg: bench/scan_vs_rg.sh)\n",
                  "one finding per KiB, 1 MiB outputs", it->second / 1e9);
    }
  }

 private:
  std::map<std::string, double> rate_;
  std::set<std::string> medians_;
};

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Best of 5 scans of the clean corpus, in CPU ms per MiB.
double ScanMsPerMiB(const kavach::internal::Scanner& scanner) {
  const std::string& text = CleanCorpus();
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    const double t0 = CpuSeconds();
    benchmark::DoNotOptimize(scanner.Scan(text).size());
    best = std::min(best, CpuSeconds() - t0);
  }
  return best * 1e3 / (static_cast<double>(text.size()) / (1 << 20));
}

int RuleCosts() {
  auto all = kavach::internal::LoadDefaultRulePacks();
  if (!all.ok()) return 2;
  kavach::internal::ScannerOptions opts;
  opts.cache_dir = "";
  auto build = [&](auto keep) -> std::unique_ptr<kavach::internal::Scanner> {
    std::vector<kavach::internal::RulePack> packs = *all;
    for (auto& pack : packs) {
      std::erase_if(pack.rules, [&](const kavach::internal::Rule& r) { return !keep(r); });
    }
    std::erase_if(packs, [](const kavach::internal::RulePack& p) { return p.rules.empty(); });
    auto s = kavach::internal::Scanner::Create(std::move(packs), opts);
    return s.ok() ? *std::move(s) : nullptr;
  };
  auto full = build([](const kavach::internal::Rule&) { return true; });
  if (full == nullptr) return 2;
  const double base = ScanMsPerMiB(*full);
  std::printf("all rules: %.4f ms/MiB (%.3f GB/s)\n", base, (1 << 20) / base / 1e6);
  std::printf("%-34s %12s %12s\n", "rule", "without", "alone");
  for (const auto& pack : *all) {
    for (const auto& rule : pack.rules) {
      auto without = build([&](const kavach::internal::Rule& r) { return r.id != rule.id; });
      auto alone = build([&](const kavach::internal::Rule& r) { return r.id == rule.id; });
      if (without == nullptr || alone == nullptr) continue;
      std::printf("%-34s %+12.4f %12.4f\n", rule.id.c_str(), ScanMsPerMiB(*without) - base,
                  ScanMsPerMiB(*alone));
    }
  }
  return 0;
}

BENCHMARK(BM_CreateDefaultCold)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_CreateDefaultWarm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Re2CompileAllRules)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanClean)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanCleanWithoutShapes)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanFindingPerKB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StreamClean)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--rule-costs") == 0) return RuleCosts();
  if (argc >= 3 && std::strcmp(argv[1], "--write-corpus") == 0) {
    bool findings = argc >= 4 && std::strcmp(argv[3], "--finding-per-kb") == 0;
    std::ofstream(argv[2], std::ios::binary) << MakeCorpus(BenchBytes(), findings);
    return 0;
  }
  // --count-pack NAME FILE: the same with only the built-in pack NAME (e.g.
  // "secrets": the patterns scan_vs_rg.sh hands rg).
  const kavach::internal::Scanner* pack_scanner = nullptr;
  if (argc == 4 && std::strcmp(argv[1], "--count-pack") == 0) {
    auto packs = kavach::internal::LoadDefaultRulePacks();
    if (!packs.ok()) return 2;
    for (auto& pack : *packs) {
      if (pack.name != argv[2]) continue;
      auto s = kavach::internal::Scanner::Create({std::move(pack)});
      if (!s.ok()) {
        std::cerr << s.status() << "\n";
        return 2;
      }
      pack_scanner = s->release();
    }
    if (pack_scanner == nullptr) {
      std::cerr << "no built-in pack " << argv[2] << "\n";
      return 2;
    }
    argv[2] = argv[3];
    argc = 3;
    argv[1] = const_cast<char*>("--count");
  }
  if (argc == 3 && std::strcmp(argv[1], "--count") == 0) {
    // What `kavach scan FILE` does (default packs from the database cache),
    // but over every byte: the CLI stops at
    // Scanner::kMaxFindings, rg -c counts them all. Scanned in 1 MiB
    // outputs, as the gate sees them; prints the number of findings.
    // Mapped like `kavach scan` maps it; cut at the last newline before each
    // MiB, so no line is split between two outputs.
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return 2;
    std::string_view text;
    void* map = MAP_FAILED;
    if (st.st_size > 0) {
      map = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (map == MAP_FAILED) return 2;
      text = std::string_view(static_cast<const char*>(map), static_cast<size_t>(st.st_size));
    }
    close(fd);
    const auto& scanner = pack_scanner != nullptr ? *pack_scanner : TheScanner();
    size_t n = 0;
    for (size_t off = 0; off < text.size();) {
      size_t len = std::min<size_t>(1 << 20, text.size() - off);
      if (off + len < text.size()) {
        size_t nl = text.substr(off, len).rfind('\n');
        if (nl != std::string_view::npos) len = nl + 1;
      }
      n += scanner.Scan(text.substr(off, len)).size();
      off += len;
    }
    std::printf("%zu\n", n);
    if (map != MAP_FAILED) munmap(map, text.size());
    return 0;
  }
  if (argc >= 3 && std::strcmp(argv[1], "--findings") == 0) {
    for (int i = 2; i < argc; ++i) {
      std::ifstream in(argv[i], std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (size_t off = 0; off < text.size(); off += 1 << 20) {
        for (const auto& f : TheScanner().Scan(std::string_view(text).substr(off, 1 << 20))) {
          std::printf("%s\t%zu\t%s\t%llu\t%llu\t%llu\t%s\n", argv[i], off, f.rule_id.c_str(),
                      static_cast<unsigned long long>(f.begin),
                      static_cast<unsigned long long>(f.end),
                      static_cast<unsigned long long>(f.line), f.preview.c_str());
        }
      }
    }
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  TargetReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintTargets();
  benchmark::Shutdown();
  return 0;
}
