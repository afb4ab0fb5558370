// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// A Google Benchmark console reporter that also keeps each benchmark's wall
// time per iteration (the median when repetitions are asked for), so that a
// bench can print ratios against a baseline measured in the same run:
//
//   kavach::bench::RatioReporter reporter;
//   benchmark::RunSpecifiedBenchmarks(&reporter);
//   reporter.PrintRatio("a/c", "BM_PooledExec", "BM_PosixSpawn", 1.5);
#ifndef KAVACH_BENCH_RATIO_REPORTER_H_
#define KAVACH_BENCH_RATIO_REPORTER_H_

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace kavach::bench {

class RatioReporter final : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const std::string name = run.run_name.function_name;
      if (run.error_occurred) {
        errors_[name] = run.error_message;
        continue;
      }
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") medians_[name] = run.GetAdjustedRealTime();
      } else {
        iterations_[name] = run.GetAdjustedRealTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  // Median when there is one, else the last iteration run; < 0 if none.
  double Time(const std::string& name) const {
    if (auto it = medians_.find(name); it != medians_.end()) return it->second;
    if (auto it = iterations_.find(name); it != iterations_.end()) return it->second;
    return -1;
  }

  // Prints num/den with both times (in the benchmarks' unit) and, when
  // `target` > 0, whether the ratio is at most the target.
  void PrintRatio(const char* label, const std::string& num, const std::string& den,
                  double target) const {
    const double a = Time(num);
    const double b = Time(den);
    if (a <= 0 || b <= 0) {
      const std::string& missing = a <= 0 ? num : den;
      auto it = errors_.find(missing);
      std::printf("%-5s n/a (%s: %s)\n", label, missing.c_str(),
                  it == errors_.end() ? "not run" : it->second.c_str());
      return;
    }
    const double ratio = a / b;
    if (target > 0) {
      std::printf("%-5s %6.2f   (%s %.1f / %s %.1f, target <= %.1f: %s)\n", label, ratio,
                  num.c_str(), a, den.c_str(), b, target, ratio <= target ? "met" : "MISSED");
    } else {
      std::printf("%-5s %6.2f   (%s %.1f / %s %.1f, no target)\n", label, ratio, num.c_str(), a,
                  den.c_str(), b);
    }
  }

 private:
  std::map<std::string, double> medians_;
  std::map<std::string, double> iterations_;
  std::map<std::string, std::string> errors_;
};

}  // namespace kavach::bench

#endif  // KAVACH_BENCH_RATIO_REPORTER_H_
