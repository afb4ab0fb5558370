// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The cost of running /bin/true in a strict Process sandbox, against a plain
// posix_spawn, measured in one run on one machine (issue 2, section 7):
//
//   (a) BM_PooledExec      Exec in a prepared strict sandbox (claimed from a pool)
//   (b) BM_ColdExec        Create + Start + Exec + Destroy under strict
//   (c) BM_PosixSpawn      posix_spawn + waitpid, no isolation
//
// After the runs it prints a/c (target <= 1.5) and b/c (target <= 4). All
// times are wall-clock: the work happens in child processes, so the bench
// process's own CPU time would say nothing.
//
//   build/bin/kavach_process_bench [--benchmark_repetitions=5] [google benchmark flags]
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "kavach/kavach.h"

extern char** environ;

namespace kavach {
namespace {

const std::vector<std::string> kTrue = {"/bin/true"};

absl::StatusOr<SandboxConfig> StrictConfig() {
  return SandboxConfig::Builder()
      .backend(BackendKind::kProcess)
      .policy(SandboxPolicy::Strict())
      .timeout(absl::Seconds(10))
      .Build();
}

bool CheckResult(benchmark::State& state, const absl::StatusOr<ExecResult>& r) {
  if (!r.ok()) {
    state.SkipWithError(std::string(r.status().ToString()).c_str());
    return false;
  }
  if (r->ShellStatus() != 0) {
    state.SkipWithError("/bin/true did not exit 0 inside the sandbox");
    return false;
  }
  return true;
}

// (a) One prepared sandbox, claimed from a pool, runs /bin/true repeatedly:
// what an agent pays per command once its sandbox exists.
void BM_PooledExec(benchmark::State& state) {
  absl::StatusOr<SandboxConfig> config = StrictConfig();
  if (!config.ok()) {
    state.SkipWithError(std::string(config.status().ToString()).c_str());
    return;
  }
  absl::StatusOr<std::unique_ptr<SandboxPool>> pool = SandboxPool::Create(*config, 1);
  if (!pool.ok()) {
    state.SkipWithError(std::string(pool.status().ToString()).c_str());
    return;
  }
  absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = (*pool)->Claim();
  if (!sandbox.ok()) {
    state.SkipWithError(std::string(sandbox.status().ToString()).c_str());
    return;
  }
  for (auto _ : state) {
    if (!CheckResult(state, (*sandbox)->Exec(kTrue))) break;
  }
  (void)(*sandbox)->Destroy();
}
BENCHMARK(BM_PooledExec)->Unit(benchmark::kMicrosecond)->UseRealTime();

// (b) Everything from nothing: build the sandbox, run one command, tear it
// all down.
void BM_ColdExec(benchmark::State& state) {
  absl::StatusOr<SandboxConfig> config = StrictConfig();
  if (!config.ok()) {
    state.SkipWithError(std::string(config.status().ToString()).c_str());
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = Sandbox::Create(*config);
    if (!sandbox.ok()) {
      state.SkipWithError(std::string(sandbox.status().ToString()).c_str());
      break;
    }
    if (absl::Status s = (*sandbox)->Start(); !s.ok()) {
      state.SkipWithError(std::string(s.ToString()).c_str());
      break;
    }
    if (!CheckResult(state, (*sandbox)->Exec(kTrue))) break;
    if (absl::Status s = (*sandbox)->Destroy(); !s.ok()) {
      state.SkipWithError(std::string(s.ToString()).c_str());
      break;
    }
  }
}
BENCHMARK(BM_ColdExec)->Unit(benchmark::kMicrosecond)->UseRealTime();

// (c) The floor: start /bin/true with no isolation at all.
void BM_PosixSpawn(benchmark::State& state) {
  char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
  for (auto _ : state) {
    pid_t pid = 0;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("/bin/true did not exit 0");
      break;
    }
  }
}
BENCHMARK(BM_PosixSpawn)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Prints as usual and keeps each benchmark's wall time per iteration (the
// median when repetitions are asked for) for the ratios.
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
    std::printf("%-5s %6.2f   (%9.1f us / %9.1f us, target <= %.1f: %s)\n", label, ratio, a, b,
                target, ratio <= target ? "met" : "MISSED");
  }

 private:
  std::map<std::string, double> medians_;
  std::map<std::string, double> iterations_;
  std::map<std::string, std::string> errors_;
};

}  // namespace
}  // namespace kavach

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  kavach::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nRatios (wall time per /bin/true):\n");
  reporter.PrintRatio("a/c", "BM_PooledExec", "BM_PosixSpawn", 1.5);
  reporter.PrintRatio("b/c", "BM_ColdExec", "BM_PosixSpawn", 4.0);
  benchmark::Shutdown();
  return 0;
}
