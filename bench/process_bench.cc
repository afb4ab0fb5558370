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
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "kavach/kavach.h"
#include "ratio_reporter.h"

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
  // Where the time goes, as counters (mean microseconds per iteration).
  absl::Duration create_time, exec_time, destroy_time;
  // Create's own steps (Sandbox::create_steps), printed after the run.
  std::map<std::string, absl::Duration> step_time;
  for (auto _ : state) {
    absl::Time t0 = absl::Now();
    absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = Sandbox::Create(*config);
    if (!sandbox.ok()) {
      state.SkipWithError(std::string(sandbox.status().ToString()).c_str());
      break;
    }
    if (absl::Status s = (*sandbox)->Start(); !s.ok()) {
      state.SkipWithError(std::string(s.ToString()).c_str());
      break;
    }
    absl::Time t1 = absl::Now();
    for (const SetupStep& step : (*sandbox)->create_steps()) step_time[step.name] += step.duration;
    if (!CheckResult(state, (*sandbox)->Exec(kTrue))) break;
    absl::Time t2 = absl::Now();
    if (absl::Status s = (*sandbox)->Destroy(); !s.ok()) {
      state.SkipWithError(std::string(s.ToString()).c_str());
      break;
    }
    absl::Time t3 = absl::Now();
    create_time += t1 - t0;
    exec_time += t2 - t1;
    destroy_time += t3 - t2;
  }
  const double n = static_cast<double>(std::max<int64_t>(state.iterations(), 1));
  state.counters["create_us"] = absl::ToDoubleMicroseconds(create_time) / n;
  state.counters["exec_us"] = absl::ToDoubleMicroseconds(exec_time) / n;
  state.counters["destroy_us"] = absl::ToDoubleMicroseconds(destroy_time) / n;
  if (!step_time.empty()) {
    // Google Benchmark's counters would widen every table row: one line
    // instead, steps in create's order of cost.
    std::vector<std::pair<double, std::string>> by_cost;
    for (const auto& [name, d] : step_time)
      by_cost.emplace_back(absl::ToDoubleMicroseconds(d) / n, name);
    std::sort(by_cost.rbegin(), by_cost.rend());
    std::string line = "  create steps (us/iteration):";
    for (const auto& [us, name] : by_cost) line += absl::StrFormat(" %s %.0f", name, us);
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}
BENCHMARK(BM_ColdExec)->Unit(benchmark::kMicrosecond)->UseRealTime();

// (b) again from a caller holding N MiB of touched heap, as an agent server
// with a large heap would: the cost a caller's size adds to a cold sandbox.
void BM_BigCallerColdExec(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  std::vector<char> ballast(bytes);
  for (size_t i = 0; i < bytes; i += 4096) ballast[i] = 1;
  benchmark::DoNotOptimize(ballast.data());
  BM_ColdExec(state);
}
BENCHMARK(BM_BigCallerColdExec)->Arg(256)->Arg(1024)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The kernel's share of (b) alone: a child made in the seven namespaces a
// strict sandbox has (user, pid, mount, ipc, uts, cgroup, net) exits at
// once and is reaped. No root file system, seccomp, Landlock, cgroup, probe
// or command: a floor under (b), not a sandbox. (The child shares our
// memory until it exits, so the bench process's size does not count.)
int ExitAtOnce(void*) { return 0; }
void BM_NamespacesOnly(benchmark::State& state) {
  constexpr size_t kStack = 64 << 10;
  std::vector<char> stack(kStack);
  const int flags = CLONE_VM | CLONE_VFORK | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS |
                    CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
                    (state.range(0) ? CLONE_NEWNET : 0) | SIGCHLD;
  for (auto _ : state) {
    pid_t pid = ::clone(ExitAtOnce, stack.data() + kStack, flags, nullptr);
    if (pid < 0) {
      state.SkipWithError("clone into new namespaces failed");
      break;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
  }
}
BENCHMARK(BM_NamespacesOnly)
    ->ArgName("net")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

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

}  // namespace
}  // namespace kavach

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  kavach::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nRatios (wall time per /bin/true):\n");
  reporter.PrintRatio("a/c", "BM_PooledExec", "BM_PosixSpawn", 1.5);
  reporter.PrintRatio("b/c", "BM_ColdExec", "BM_PosixSpawn", 4.0);
  std::printf("The kernel's share alone (BM_NamespacesOnly: make and tear down the namespaces):\n");
  reporter.PrintRatio("ns/c", "BM_NamespacesOnly", "BM_PosixSpawn", 0);  // net:1, run last
  benchmark::Shutdown();
  return 0;
}
