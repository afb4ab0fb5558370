// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The WASM backend against native programs, measured in one run on one
// machine (issue 7, "Benchmark"):
//
//   (a) BM_WasmColdCli        `kavach exec --backend wasm --no-gate -- hello.wasm`:
//                             a whole CLI run (jail, node start, compile, run)
//   (b) BM_WasmWarmExec       Exec of hello.wasm in a wasm sandbox claimed from a
//                             SandboxPool: the engine is already running in its
//                             jail with the module compiled; a fresh instance
//   (c) BM_NativeHello        posix_spawn + waitpid of the same hello.c built
//                             natively, its stdout read through a pipe
//   (d) BM_BurnUnmetered      Exec of `guest.wasm burn N` (CPU-bound) on a warm
//                             engine, unmetered
//   (e) BM_BurnMetered        the same module with fuel metering
//
// It prints b/c (target <= 3), e/d (target <= 1.5) and a/c (no target). The
// output gate is off everywhere: this measures the engine, not the scanners.
// The test modules are built with clang --target=wasm32-wasi (as the tests
// build them); the native hello with `cc -O2`.
//
//   build/bin/kavach_wasm_bench [--benchmark_repetitions=5] [google benchmark flags]
//   KAVACH_BIN=path/to/kavach (default: the kavach next to this binary)
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "backend/wasm/testing/test_modules.h"
#include "benchmark/benchmark.h"
#include "kavach/kavach.h"
#include "ratio_reporter.h"

namespace kavach {
namespace {

constexpr char kBurnIters[] = "30000000";

// Runs argv, its stdout read through a pipe and discarded, stderr to
// /dev/null. Returns the exit status, -1 when it could not run.
int SpawnAndWait(const std::vector<std::string>& argv, char** envp) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return -1;
  }
  char buf[4096];
  while (::read(fds[0], buf, sizeof buf) > 0) {
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Module(benchmark::State& state, const char* name) {
  absl::StatusOr<std::string> m = internal::testing::WasmTestModule(name);
  if (!m.ok()) {
    state.SkipWithError(std::string(m.status().ToString()).c_str());
    return "";
  }
  return *m;
}

std::string KavachBin() {
  if (const char* e = std::getenv("KAVACH_BIN"); e != nullptr && *e) return e;
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "kavach";
  std::string dir(self, static_cast<size_t>(n));
  return dir.substr(0, dir.rfind('/')) + "/kavach";
}

absl::StatusOr<SandboxConfig> WasmConfig(std::optional<uint64_t> fuel,
                                         std::vector<std::string> preload) {
  absl::StatusOr<SandboxConfig> config = SandboxConfig::Builder()
                                             .backend(BackendKind::kWasm)
                                             .policy(SandboxPolicy::Strict())
                                             .timeout(absl::Seconds(60))
                                             .Build();
  if (!config.ok()) return config;
  config->gate.enabled = false;
  config->wasm.fuel = fuel;
  config->wasm.preload = std::move(preload);
  return config;
}

// A sandbox claimed from a one-sandbox pool (its engine warm, `preload`
// compiled); null after SkipWithError.
std::unique_ptr<Sandbox> ClaimWarm(benchmark::State& state, std::optional<uint64_t> fuel,
                                   std::vector<std::string> preload) {
  absl::StatusOr<SandboxConfig> config = WasmConfig(fuel, std::move(preload));
  if (!config.ok()) {
    state.SkipWithError(std::string(config.status().ToString()).c_str());
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<SandboxPool>> pool = SandboxPool::Create(*config, 1);
  if (!pool.ok()) {
    state.SkipWithError(std::string(pool.status().ToString()).c_str());
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = (*pool)->Claim();
  if (!sandbox.ok()) {
    state.SkipWithError(std::string(sandbox.status().ToString()).c_str());
    return nullptr;
  }
  return *std::move(sandbox);
}

bool CheckResult(benchmark::State& state, const absl::StatusOr<ExecResult>& r) {
  if (!r.ok()) {
    state.SkipWithError(std::string(r.status().ToString()).c_str());
    return false;
  }
  if (r->ShellStatus() != 0) {
    state.SkipWithError(
        absl::StrCat("module exited ", r->ShellStatus(), ": ", r->stderr_data).c_str());
    return false;
  }
  return true;
}

// (a) The whole CLI, cold: what a shell user pays per module.
void BM_WasmColdCli(benchmark::State& state) {
  std::string hello = Module(state, "hello");
  if (hello.empty()) return;
  std::string kavach = KavachBin();
  if (::access(kavach.c_str(), X_OK) != 0) {
    state.SkipWithError(absl::StrCat(kavach, " not built (set KAVACH_BIN)").c_str());
    return;
  }
  char* envp[] = {nullptr};
  for (auto _ : state) {
    if (SpawnAndWait({kavach, "exec", "--backend", "wasm", "--no-gate", "--", hello}, envp) != 0) {
      state.SkipWithError("kavach exec --backend wasm hello.wasm did not exit 0");
      break;
    }
  }
}
BENCHMARK(BM_WasmColdCli)->Unit(benchmark::kMicrosecond)->UseRealTime();

// (b) A warm engine from the pool: instantiate + run per exec.
void BM_WasmWarmExec(benchmark::State& state) {
  std::string hello = Module(state, "hello");
  if (hello.empty()) return;
  std::unique_ptr<Sandbox> sandbox = ClaimWarm(state, std::nullopt, {hello});
  if (sandbox == nullptr) return;
  for (auto _ : state) {
    if (!CheckResult(state, sandbox->Exec({hello}))) break;
  }
  (void)sandbox->Destroy();
}
BENCHMARK(BM_WasmWarmExec)->Unit(benchmark::kMicrosecond)->UseRealTime();

// (c) The floor: the same program, native, no isolation.
void BM_NativeHello(benchmark::State& state) {
  std::string native = absl::StrCat("/tmp/kavach-bench-hello-native-", ::getpid());
  if (SpawnAndWait({"/usr/bin/cc", "-O2", "-o", native,
                    absl::StrCat(KAVACH_SOURCE_DIR, "/src/backend/wasm/testdata/hello.c")},
                   environ) != 0) {
    state.SkipWithError("cc could not build the native hello");
    return;
  }
  char* envp[] = {nullptr};
  for (auto _ : state) {
    if (SpawnAndWait({native}, envp) != 0) {
      state.SkipWithError("native hello did not exit 0");
      break;
    }
  }
  ::unlink(native.c_str());
}
BENCHMARK(BM_NativeHello)->Unit(benchmark::kMicrosecond)->UseRealTime();

// (d) and (e): a CPU-bound module on a warm engine, without and with fuel.
void Burn(benchmark::State& state, std::optional<uint64_t> fuel) {
  std::string guest = Module(state, "guest");
  if (guest.empty()) return;
  std::unique_ptr<Sandbox> sandbox = ClaimWarm(state, fuel, {guest});
  if (sandbox == nullptr) return;
  for (auto _ : state) {
    absl::StatusOr<ExecResult> r = sandbox->Exec({guest, "burn", kBurnIters});
    if (!CheckResult(state, r)) break;
    if (fuel && (!r->wasm || r->wasm->fuel_used == 0)) {
      state.SkipWithError("metered run reported no fuel used");
      break;
    }
    if (fuel) state.counters["fuel_used"] = static_cast<double>(r->wasm->fuel_used);
  }
  (void)sandbox->Destroy();
}
void BM_BurnUnmetered(benchmark::State& state) { Burn(state, std::nullopt); }
void BM_BurnMetered(benchmark::State& state) { Burn(state, uint64_t{1} << 62); }
BENCHMARK(BM_BurnUnmetered)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BurnMetered)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kavach

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  kavach::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nRatios (wall time per run, same run):\n");
  reporter.PrintRatio("b/c", "BM_WasmWarmExec", "BM_NativeHello", 3.0);
  reporter.PrintRatio("e/d", "BM_BurnMetered", "BM_BurnUnmetered", 1.5);
  reporter.PrintRatio("a/c", "BM_WasmColdCli", "BM_NativeHello", 0);
  benchmark::Shutdown();
  return 0;
}
