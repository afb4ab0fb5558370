// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// End-to-end tests of the Process backend through the public API, as root:
// real programs under strict (sh, coreutils, python3, a dynamic binary), exit
// codes and signals, stdin, environment, cwd, output caps, timeouts that kill
// the whole tree, Spawn streaming, repeated execs, Pause/Resume, Stop,
// Destroy leaving nothing behind, and evidence/score consistency checked
// against what the host itself sees in /proc.
//
// No timed assertions: where time matters the tests wait for a state (a file
// appears, a counter moves) with a generous deadline, or compare a state
// twice across a gap.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "adversarial/test_support.h"
#include "gtest/gtest.h"
#include "kavach/policy.h"
#include "kavach/sandbox.h"
#include "kavach/score.h"

namespace kavach {
namespace {

using ::kavach::testing::AttackPath;
using ::kavach::testing::DescribeEvidence;
using ::kavach::testing::DescribeResult;
using ::kavach::testing::HostPathExists;
using ::kavach::testing::HostPidsWithCmdline;
using ::kavach::testing::ProcStatusField;
using ::kavach::testing::ReadHostFile;
using ::kavach::testing::TempDir;
using ::kavach::testing::UniqueToken;
using ::kavach::testing::VerifiedPoints;
using ::kavach::testing::WithAttackBinary;

// Polls `done` until it holds or `limit` passes (a deadline for a hung
// backend, not a speed requirement).
bool WaitFor(const std::function<bool()>& done,
             std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

uint64_t ReadCounter(const std::string& path) {
  std::string s = ReadHostFile(path);
  return s.empty() ? 0 : std::stoull(s);
}

// Start time (clock ticks since boot) of a host pid: with the pid, it names a
// process uniquely even if the number is reused.
std::string StartTime(pid_t pid) {
  std::string stat = ReadHostFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return "";
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && in >> field; ++i) {
  }
  return field;
}

pid_t ParentPid(pid_t pid) {
  std::string ppid = ProcStatusField(pid, "PPid");
  return ppid.empty() ? 0 : std::stoi(ppid);
}

// The cgroup directories of host pid `pid` that are not also this test
// process's own (v1: one line per hierarchy, "id:controllers:/path").
std::vector<std::string> SandboxCgroupDirs(pid_t pid) {
  std::set<std::string> own;
  {
    std::istringstream in(ReadHostFile("/proc/self/cgroup"));
    std::string line;
    while (std::getline(in, line)) own.insert(line);
  }
  std::set<std::string> dirs;
  std::istringstream in(ReadHostFile("/proc/" + std::to_string(pid) + "/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    if (own.count(line) > 0) continue;
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty()) controllers = "unified";
    if (controllers.rfind("name=", 0) == 0) controllers = controllers.substr(5);
    // Mounted as e.g. /sys/fs/cgroup/cpu,cpuacct or as /sys/fs/cgroup/cpu.
    for (std::string c : {controllers, controllers.substr(0, controllers.find(','))}) {
      std::string dir = "/sys/fs/cgroup/" + c + path;
      if (path != "/" && HostPathExists(dir)) dirs.insert(dir);
    }
  }
  return {dirs.begin(), dirs.end()};
}

// Host pids whose parent is this test process.
std::vector<pid_t> OwnChildren() {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name[0] < '0' || name[0] > '9') continue;
    pid_t pid = std::stoi(name);
    if (ParentPid(pid) == getpid()) children.push_back(pid);
  }
  return children;
}

// Boot() reports failures with ASSERT, which leaves only Boot itself; BOOT()
// also ends the test.
#define BOOT(...)                  \
  do {                             \
    Boot(__VA_ARGS__);             \
    if (HasFatalFailure()) return; \
  } while (0)

class ProcessBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "integration suite runs as root (strict needs cgroups)";
    ASSERT_EQ(access(AttackPath().c_str(), X_OK), 0) << AttackPath();
    ASSERT_TRUE(workdir_.ok());
    policy_ = WithAttackBinary(SandboxPolicy::Strict());
  }

  void TearDown() override {
    if (sandbox_ != nullptr && sandbox_->state() != SandboxState::kDestroyed) {
      absl::Status s = sandbox_->Destroy();
      EXPECT_TRUE(s.ok()) << s;
    }
  }

  // Creates and starts a sandbox from policy_; binds workdir_ unless
  // `private_workdir`.
  void Boot(bool private_workdir = false) {
    SandboxConfig::Builder builder;
    builder.backend(BackendKind::kProcess).policy(policy_).timeout(absl::Seconds(60));
    if (!private_workdir) builder.workdir(workdir_.path());
    for (const auto& [k, v] : config_env_) builder.env(k, v);
    absl::StatusOr<SandboxConfig> config = builder.Build();
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = Sandbox::Create(*config);
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = std::move(*sandbox);
    EXPECT_EQ(sandbox_->state(), SandboxState::kCreated);
    absl::Status s = sandbox_->Start();
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(sandbox_->state(), SandboxState::kRunning);
  }

  ExecResult Run(const std::vector<std::string>& argv, const ExecOptions& options = {}) {
    absl::StatusOr<ExecResult> r = sandbox_->Exec(argv, options);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ExecResult{};
  }

  ExecResult Sh(const std::string& script, const ExecOptions& options = {}) {
    return Run({"/bin/sh", "-c", script}, options);
  }

  TempDir workdir_{0777};
  SandboxPolicy policy_;
  std::map<std::string, std::string> config_env_;
  std::unique_ptr<Sandbox> sandbox_;
};

// ------------------------------------------------------------- real programs

TEST_F(ProcessBackendTest, StrictRunsShell) {
  BOOT();
  ExecResult r = Sh("echo hello; echo oops >&2; exit 3");
  EXPECT_EQ(r.exit_code, 3) << DescribeResult(r);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.stdout_data, "hello\n");
  EXPECT_EQ(r.stderr_data, "oops\n");
  EXPECT_EQ(r.ShellStatus(), 3);
  EXPECT_FALSE(r.timed_out);
  EXPECT_GT(r.wall_time, absl::ZeroDuration());
}

TEST_F(ProcessBackendTest, StrictRunsCoreutils) {
  BOOT();
  ExecResult r = Sh("printf 'b\\na\\nc\\n' | sort | tr a-z A-Z | head -n 2");
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
  EXPECT_EQ(r.stdout_data, "A\nB\n");
  r = Run({"ls", "/"});
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
  EXPECT_NE(r.stdout_data.find("usr"), std::string::npos) << r.stdout_data;
  r = Sh("echo data > f.txt && sha256sum f.txt && cat f.txt && rm f.txt && ls -a");
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
  EXPECT_NE(r.stdout_data.find("data\n"), std::string::npos) << r.stdout_data;
  r = Run({"id", "-u"});
  EXPECT_EQ(r.stdout_data, std::to_string(policy_.uid) + "\n") << DescribeResult(r);
  r = Run({"hostname"});
  EXPECT_EQ(r.stdout_data, policy_.hostname + "\n") << DescribeResult(r);
}

TEST_F(ProcessBackendTest, StrictRunsPython) {
  BOOT();
  ExecResult r = Run({"python3", "-c", "print(1)"});
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
  EXPECT_EQ(r.stdout_data, "1\n");
  // Something that exercises more of the interpreter: imports, threads,
  // a subprocess.
  r = Run({"python3", "-c",
           "import json, threading, subprocess, hashlib\n"
           "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
           "out = subprocess.run(['echo', 'sub'], capture_output=True, text=True).stdout\n"
           "print(json.dumps({'sub': out.strip(), 'h': hashlib.sha256(b'x').hexdigest()[:8]}))"});
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
  EXPECT_EQ(r.stdout_data, "{\"sub\": \"sub\", \"h\": \"2d711642\"}\n");
}

TEST_F(ProcessBackendTest, StrictRunsDynamicBinary) {
  // kavach_attack and /usr/bin/ls are dynamically linked (checked here, so
  // the test cannot pass with a static binary).
  for (const std::string& bin : {AttackPath(), std::string("/usr/bin/ls")}) {
    ASSERT_NE(ReadHostFile(bin).find("ld-linux-x86-64.so.2"), std::string::npos) << bin;
  }
  BOOT();
  ExecResult r = Run({AttackPath(), "uname"});
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
  EXPECT_NE(r.stdout_data.find("RESULT info nodename=" + policy_.hostname), std::string::npos)
      << DescribeResult(r);
  r = Run({"/usr/bin/ls", "-la", "/usr/lib"});
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
}

TEST_F(ProcessBackendTest, BasicRunsTheSamePrograms) {
  policy_ = WithAttackBinary(SandboxPolicy::Basic());
  BOOT();
  EXPECT_EQ(Run({"python3", "-c", "print(1)"}).stdout_data, "1\n");
  EXPECT_EQ(Sh("echo a | tr a b").stdout_data, "b\n");
}

// ------------------------------------------------------------- exec semantics

TEST_F(ProcessBackendTest, ExitCodesAndSignals) {
  BOOT();
  ExecResult r = Sh("exit 42");
  EXPECT_EQ(r.exit_code, 42);
  EXPECT_EQ(r.ShellStatus(), 42);
  // A command signalling itself, as shells and test harnesses do. (If the
  // command were the init of its pid namespace the kernel would drop these
  // default-action signals and the command would carry on.)
  r = Sh("kill -TERM $$");
  EXPECT_EQ(r.signal, SIGTERM) << DescribeResult(r);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.ShellStatus(), 128 + SIGTERM);
  r = Sh("kill -SEGV $$");
  EXPECT_EQ(r.signal, SIGSEGV) << DescribeResult(r);
  EXPECT_EQ(r.ShellStatus(), 128 + SIGSEGV);
  // A real fault (not a kill(2) the command sends itself).
  r = Run({"python3", "-c", "import ctypes; ctypes.string_at(0)"});
  EXPECT_EQ(r.signal, SIGSEGV) << DescribeResult(r);
  EXPECT_EQ(r.ShellStatus(), 128 + SIGSEGV);
  r = Run({"/bin/false"});
  EXPECT_EQ(r.exit_code, 1);
  // A missing program is a result (127, as a shell reports it) or an error,
  // never a success.
  absl::StatusOr<ExecResult> missing = sandbox_->Exec({"/no/such/program"});
  if (missing.ok()) {
    EXPECT_NE(missing->ShellStatus(), 0) << DescribeResult(*missing);
  }
}

TEST_F(ProcessBackendTest, StdinIsDelivered) {
  BOOT();
  ExecOptions options;
  options.stdin_data = std::string("hello\0world\n", 12);
  ExecResult r = Run({"cat"}, options);
  EXPECT_EQ(r.stdout_data, *options.stdin_data) << DescribeResult(r);
  // More than a pipe buffer, to catch a writer that blocks or truncates.
  std::string big(300 * 1024, 'x');
  for (size_t i = 0; i < big.size(); i += 1000) big[i] = static_cast<char>('a' + (i / 1000) % 26);
  options.stdin_data = big;
  r = Run({"cat"}, options);
  EXPECT_EQ(r.stdout_data.size(), big.size());
  EXPECT_TRUE(r.stdout_data == big);
  // No stdin: reads see EOF at once.
  r = Run({"wc", "-c"});
  EXPECT_EQ(r.stdout_data, "0\n") << DescribeResult(r);
}

TEST_F(ProcessBackendTest, EnvironmentIsCleanByDefault) {
  ASSERT_EQ(setenv("KAVACH_HOST_ONLY_SECRET", "host-secret-value", 1), 0);
  ASSERT_EQ(setenv("KAVACH_ALLOWED_VAR", "allowed-value", 1), 0);
  policy_.environment.allow.push_back("KAVACH_ALLOWED_VAR");
  policy_.environment.set["KAVACH_POLICY_VAR"] = "policy-value";
  config_env_["KAVACH_CONFIG_VAR"] = "config-value";
  BOOT();
  ExecOptions options;
  options.env["KAVACH_EXEC_VAR"] = "exec-value";
  ExecResult r = Run({"env"}, options);
  unsetenv("KAVACH_HOST_ONLY_SECRET");
  unsetenv("KAVACH_ALLOWED_VAR");
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
  EXPECT_EQ(r.stdout_data.find("host-secret-value"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("KAVACH_ALLOWED_VAR=allowed-value\n"), std::string::npos)
      << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("KAVACH_POLICY_VAR=policy-value\n"), std::string::npos);
  EXPECT_NE(r.stdout_data.find("KAVACH_CONFIG_VAR=config-value\n"), std::string::npos);
  EXPECT_NE(r.stdout_data.find("KAVACH_EXEC_VAR=exec-value\n"), std::string::npos);
  // The test process's own environment (HOME=/root, the gtest/ctest vars)
  // does not leak either.
  EXPECT_EQ(r.stdout_data.find("HOME=/root"), std::string::npos) << r.stdout_data;
  // exec-only variables do not stick.
  r = Run({"env"});
  EXPECT_EQ(r.stdout_data.find("KAVACH_EXEC_VAR"), std::string::npos) << r.stdout_data;
}

TEST_F(ProcessBackendTest, WorkingDirectory) {
  BOOT();
  ExecResult r = Run({"pwd"});
  EXPECT_EQ(r.stdout_data, policy_.working_directory + "\n") << DescribeResult(r);
  ExecOptions options;
  options.cwd = "/tmp";
  r = Run({"pwd"}, options);
  EXPECT_EQ(r.stdout_data, "/tmp\n") << DescribeResult(r);
  // The workdir is the host's bound directory, read-write both ways.
  r = Sh("echo from-inside > inside.txt");
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
  EXPECT_EQ(ReadHostFile(workdir_.Join("inside.txt")), "from-inside\n");
  ASSERT_TRUE(::kavach::testing::WriteHostFile(workdir_.Join("outside.txt"), "from-host\n"));
  EXPECT_EQ(Run({"cat", "outside.txt"}).stdout_data, "from-host\n");
}

TEST_F(ProcessBackendTest, OutputCapsAndTruncationFlags) {
  policy_.limits.max_output_bytes = 1000;
  BOOT();
  ExecResult r = Sh("head -c 5000 /dev/zero; head -c 10 /dev/zero >&2");
  EXPECT_EQ(r.stdout_data.size(), 1000u);
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stderr_data.size(), 10u);
  EXPECT_FALSE(r.stderr_truncated);
  // The command is not killed by the cap: it runs to its own exit.
  EXPECT_EQ(r.exit_code, 0) << DescribeResult(r);
  r = Sh("head -c 5000 /dev/zero >&2; echo ok");
  EXPECT_EQ(r.stderr_data.size(), 1000u);
  EXPECT_TRUE(r.stderr_truncated);
  EXPECT_EQ(r.stdout_data, "ok\n");
  EXPECT_FALSE(r.stdout_truncated);
  // Exactly at the cap is not truncated.
  r = Sh("head -c 1000 /dev/zero");
  EXPECT_EQ(r.stdout_data.size(), 1000u);
  EXPECT_FALSE(r.stdout_truncated);
}

TEST_F(ProcessBackendTest, TimeoutKillsTheWholeTree) {
  BOOT();
  std::string token = UniqueToken("tree");
  std::string a = policy_.working_directory + "/" + token + "-a";
  std::string b = policy_.working_directory + "/" + token + "-b";
  ExecOptions options;
  options.timeout = absl::Seconds(2);
  // Two counters: one in the background (a grandchild of the exec), one in
  // the foreground.
  ExecResult r = Sh(
      AttackPath() + " counter " + a + " & " + AttackPath() + " counter " + b + "; wait", options);
  EXPECT_TRUE(r.timed_out) << DescribeResult(r);
  EXPECT_EQ(r.ShellStatus(), 124);
  ASSERT_GT(ReadCounter(workdir_.Join(token + "-a")), 0u) << "background counter never ran";
  EXPECT_TRUE(HostPidsWithCmdline(token).empty());
  uint64_t first = ReadCounter(workdir_.Join(token + "-a"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ReadCounter(workdir_.Join(token + "-a")), first) << "background counter survived";
  // The sandbox is still usable.
  EXPECT_EQ(Run({"echo", "alive"}).stdout_data, "alive\n");
}

TEST_F(ProcessBackendTest, RepeatedExecsInOnePreparedSandbox) {
  BOOT();
  for (int i = 0; i < 25; ++i) {
    ExecResult r = Run({"/bin/sh", "-c", "echo $0", std::to_string(i)});
    ASSERT_EQ(r.stdout_data, std::to_string(i) + "\n") << "exec " << i << DescribeResult(r);
  }
  // The workdir persists between execs.
  EXPECT_EQ(Sh("echo kept > kept.txt").exit_code, 0);
  EXPECT_EQ(Run({"cat", "kept.txt"}).stdout_data, "kept\n");
}

// ------------------------------------------------------------- Spawn

TEST_F(ProcessBackendTest, SpawnStreamsOutputBeforeExit) {
  BOOT();
  absl::Mutex mu;
  std::string streamed;
  SpawnOptions options;
  options.on_stdout = [&](std::string_view chunk) {
    absl::MutexLock lock(&mu);
    streamed.append(chunk.data(), chunk.size());
  };
  // The command prints "one" and then waits for a file the test creates only
  // after it has seen "one" through the callback: a backend that delivered
  // output only at exit would never let it finish.
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = sandbox_->Spawn(
      {"/bin/sh", "-c", "echo one; while [ ! -e go ]; do sleep 0.01; done; echo two"}, options);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GT((*p)->pid(), 0);
  bool saw_one = WaitFor([&] {
    absl::MutexLock lock(&mu);
    return streamed == "one\n";
  });
  EXPECT_TRUE(saw_one) << "no streamed output before exit";
  ASSERT_TRUE(::kavach::testing::WriteHostFile(workdir_.Join("go"), ""));
  absl::StatusOr<ExecResult> r = (*p)->Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << DescribeResult(*r);
  EXPECT_EQ(r->stdout_data, "one\ntwo\n");
  absl::MutexLock lock(&mu);
  EXPECT_EQ(streamed, "one\ntwo\n");
}

TEST_F(ProcessBackendTest, SpawnKillEndsTheTree) {
  BOOT();
  std::string token = UniqueToken("spawnkill");
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p =
      sandbox_->Spawn({"/bin/sh", "-c", AttackPath() + " counter " + token + " & wait"});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(WaitFor([&] { return ReadCounter(workdir_.Join(token)) > 0; }));
  absl::Status s = (*p)->Kill();
  EXPECT_TRUE(s.ok()) << s;
  absl::StatusOr<ExecResult> r = (*p)->Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->signal, SIGKILL) << DescribeResult(*r);
  EXPECT_TRUE(WaitFor([&] { return HostPidsWithCmdline(token).empty(); }));
}

// Reapers share init's memory (one request buffer, one set of exec
// arguments): overlapping execs, each with its own argv, stdin and exit
// status, must never see another's, and killing one must leave the others.
TEST_F(ProcessBackendTest, OverlappingSpawnsKeepTheirOwnArgumentsAndResults) {
  BOOT();
  constexpr int kSpawns = 16;  // three processes each, under strict's 64 pids
  constexpr int kVictim = 7;
  // Spawned from four threads at once, so that requests reach init while
  // earlier ones are still starting.
  std::vector<std::unique_ptr<SpawnedProcess>> running(kSpawns);
  std::vector<absl::Status> spawn_status(kSpawns);
  std::vector<std::thread> spawners;
  for (int t = 0; t < 4; ++t) {
    spawners.emplace_back([&, t] {
      for (int i = t; i < kSpawns; i += 4) {
        SpawnOptions options;
        options.stdin_data = absl::StrCat("input-", i, "\n");
        // Long enough that all of them overlap; the victim waits forever.
        std::string script = i == kVictim ? "read line; echo \"$0 $line\"; exec sleep 1000"
                                          : "read line; sleep 0.3; echo \"$0 $line\"; exit $1";
        absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = sandbox_->Spawn(
            {"/bin/sh", "-c", script, absl::StrCat("arg-", i), std::to_string(i % 50)}, options);
        if (p.ok()) {
          running[i] = *std::move(p);
        } else {
          spawn_status[i] = p.status();
        }
      }
    });
  }
  for (std::thread& t : spawners) t.join();
  for (int i = 0; i < kSpawns; ++i) {
    ASSERT_TRUE(spawn_status[i].ok()) << "spawn " << i << ": " << spawn_status[i];
  }
  absl::Status killed = running[kVictim]->Kill();
  EXPECT_TRUE(killed.ok()) << killed;
  for (int i = 0; i < kSpawns; ++i) {
    absl::StatusOr<ExecResult> r = running[i]->Wait();
    ASSERT_TRUE(r.ok()) << "wait " << i << ": " << r.status();
    if (i == kVictim) {
      EXPECT_EQ(r->signal, SIGKILL) << DescribeResult(*r);
      continue;
    }
    EXPECT_EQ(r->exit_code, i % 50) << "exec " << i << DescribeResult(*r);
    EXPECT_EQ(r->stdout_data, absl::StrCat("arg-", i, " input-", i, "\n")) << "exec " << i;
  }
  // The sandbox still works after all of that.
  EXPECT_EQ(Sh("echo after").stdout_data, "after\n");
}

// ------------------------------------------------------------- lifecycle

TEST_F(ProcessBackendTest, PauseFreezesAndResumeThaws) {
  BOOT();
  std::string token = UniqueToken("counter");
  std::string file = workdir_.Join(token);
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p =
      sandbox_->Spawn({AttackPath(), "counter", token});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(WaitFor([&] { return ReadCounter(file) > 0; })) << "counter never started";
  uint64_t running = ReadCounter(file);
  ASSERT_TRUE(WaitFor([&] { return ReadCounter(file) > running; })) << "counter not advancing";

  absl::Status s = sandbox_->Pause();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(sandbox_->state(), SandboxState::kPaused);
  // Frozen: the counter holds still across a gap (it moves every 1 ms when
  // running).
  uint64_t paused = ReadCounter(file);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(ReadCounter(file), paused) << "counter advanced while paused";
  // The freezer holds the process itself, visible from the host.
  std::vector<pid_t> pids = HostPidsWithCmdline(token);
  ASSERT_EQ(pids.size(), 1u);
  std::string state = ProcStatusField(pids[0], "State");
  // A frozen task sleeps in the freezer (v1: "D (disk sleep)" or "S").
  EXPECT_TRUE(state.rfind("D", 0) == 0 || state.rfind("S", 0) == 0) << state;
  // Exec while paused is an illegal state.
  absl::StatusOr<ExecResult> denied = sandbox_->Exec({"true"});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kFailedPrecondition) << denied.status();

  s = sandbox_->Resume();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(sandbox_->state(), SandboxState::kRunning);
  EXPECT_TRUE(WaitFor([&] { return ReadCounter(file) > paused; })) << "counter did not resume";
  EXPECT_TRUE((*p)->Kill().ok());
  EXPECT_TRUE((*p)->Wait().ok());
}

TEST_F(ProcessBackendTest, StopKillsEverything) {
  BOOT();
  std::string token = UniqueToken("stop");
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p =
      sandbox_->Spawn({"/bin/sh", "-c",
                       AttackPath() + " counter " + token + "-a & " + AttackPath() + " counter " +
                           token + "-b & wait"});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(WaitFor([&] { return HostPidsWithCmdline(token).size() >= 2; }));
  absl::Status s = sandbox_->Stop();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(sandbox_->state(), SandboxState::kStopped);
  EXPECT_TRUE(HostPidsWithCmdline(token).empty());
  absl::StatusOr<ExecResult> r = (*p)->Wait();
  if (r.ok()) {
    EXPECT_NE(r->ShellStatus(), 0) << DescribeResult(*r);
  }
  EXPECT_EQ(sandbox_->Exec({"true"}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sandbox_->Start().code(), absl::StatusCode::kFailedPrecondition);
}

// Everything the sandbox made on the host, found from the host's /proc while
// it runs; all of it must be gone after Destroy.
TEST_F(ProcessBackendTest, DestroyLeavesNothingBehind) {
  BOOT(/*private_workdir=*/true);
  const std::string id = sandbox_->id();
  std::string token = UniqueToken("destroy");
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p =
      sandbox_->Spawn({AttackPath(), "counter", token});
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<pid_t> found;
  ASSERT_TRUE(WaitFor([&] {
    found = HostPidsWithCmdline(token);
    return !found.empty();
  }));
  pid_t command = found[0];

  // The command and every ancestor up to this test process: the sandbox's
  // init and helpers.
  std::vector<std::pair<pid_t, std::string>> processes;
  for (pid_t pid = command; pid > 1 && pid != getpid(); pid = ParentPid(pid)) {
    processes.emplace_back(pid, StartTime(pid));
  }
  ASSERT_GE(processes.size(), 2u) << "expected the command under a sandbox init";

  // Its cgroups.
  std::vector<std::string> cgroup_dirs = SandboxCgroupDirs(command);
  EXPECT_FALSE(cgroup_dirs.empty()) << "strict sets memory/pids/cpu limits; no cgroup found";

  // The private workdir's host path, from the sandbox's mountinfo: the
  // mount at the working directory has, as its root, the host path of the
  // bound directory (when it lives on the host's root file system).
  std::string workdir_host_path;
  std::string host_root_dev;
  std::string line;
  {
    std::istringstream mi(ReadHostFile("/proc/self/mountinfo"));
    while (std::getline(mi, line)) {
      std::istringstream f(line);
      std::string mid, parent, dev, root, mnt;
      f >> mid >> parent >> dev >> root >> mnt;
      if (mnt == "/" && root == "/") host_root_dev = dev;
    }
    std::istringstream smi(ReadHostFile("/proc/" + std::to_string(command) + "/mountinfo"));
    while (std::getline(smi, line)) {
      std::istringstream f(line);
      std::string mid, parent, dev, root, mnt;
      f >> mid >> parent >> dev >> root >> mnt;
      if (mnt == policy_.working_directory && dev == host_root_dev) workdir_host_path = root;
    }
  }
  if (!workdir_host_path.empty()) {
    ASSERT_TRUE(HostPathExists(workdir_host_path + "/" + token)) << workdir_host_path;
  }

  std::printf("    sandbox %s: %zu processes, %zu cgroup dirs, workdir %s\n", id.c_str(),
              processes.size(), cgroup_dirs.size(),
              workdir_host_path.empty() ? "(not on the root fs)" : workdir_host_path.c_str());
  for (const std::string& dir : cgroup_dirs) std::printf("      cgroup %s\n", dir.c_str());

  absl::Status s = sandbox_->Destroy();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(sandbox_->state(), SandboxState::kDestroyed);
  absl::StatusOr<ExecResult> after = (*p)->Wait();
  (void)after;  // either a kill result or an error; the checks below matter

  for (const auto& [pid, start] : processes) {
    EXPECT_NE(StartTime(pid), start) << "process " << pid << " survived Destroy";
  }
  EXPECT_TRUE(HostPidsWithCmdline(token).empty());
  for (const std::string& dir : cgroup_dirs) {
    EXPECT_FALSE(HostPathExists(dir)) << "cgroup left behind: " << dir;
  }
  // Nothing named after the sandbox under the cgroup roots or temp dirs.
  for (const char* root : {"/sys/fs/cgroup", "/tmp", "/run", "/dev/shm", "/var/tmp"}) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(
             root, std::filesystem::directory_options::skip_permission_denied, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it.depth() > 3) it.disable_recursion_pending();
      EXPECT_EQ(it->path().filename().string().find(id), std::string::npos)
          << "left behind: " << it->path();
    }
  }
  if (!workdir_host_path.empty()) {
    EXPECT_FALSE(HostPathExists(workdir_host_path)) << "private workdir left behind";
  }
  EXPECT_EQ(ReadHostFile("/proc/self/mountinfo").find(id), std::string::npos);
  // Destroy is terminal.
  EXPECT_EQ(sandbox_->Start().code(), absl::StatusCode::kFailedPrecondition);
}

// A prepared (Created, never started) sandbox already has its init and
// cgroups; Destroy from Created must remove them.
TEST_F(ProcessBackendTest, DestroyFromCreatedCleansUp) {
  std::vector<pid_t> before = OwnChildren();
  absl::StatusOr<SandboxConfig> config =
      SandboxConfig::Builder().backend(BackendKind::kProcess).policy(policy_).Build();
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = Sandbox::Create(*config);
  ASSERT_TRUE(sandbox.ok()) << sandbox.status();
  std::vector<std::pair<pid_t, std::string>> inits;
  std::vector<std::string> cgroup_dirs;
  for (pid_t pid : OwnChildren()) {
    if (std::find(before.begin(), before.end(), pid) != before.end()) continue;
    inits.emplace_back(pid, StartTime(pid));
    for (const std::string& dir : SandboxCgroupDirs(pid)) cgroup_dirs.push_back(dir);
  }
  ASSERT_FALSE(inits.empty()) << "no sandbox init found under the test process";
  EXPECT_FALSE(cgroup_dirs.empty()) << "strict limits need cgroups; none found";
  absl::Status s = (*sandbox)->Destroy();
  ASSERT_TRUE(s.ok()) << s;
  for (const auto& [pid, start] : inits) {
    EXPECT_NE(StartTime(pid), start) << "init " << pid << " survived Destroy";
  }
  for (const std::string& dir : cgroup_dirs) {
    EXPECT_FALSE(HostPathExists(dir)) << "cgroup left behind: " << dir;
  }
}

// ------------------------------------------------------------- evidence

TEST_F(ProcessBackendTest, EvidenceAndScoreAgree) {
  BOOT();
  const std::vector<Evidence>& evidence = sandbox_->evidence();
  ASSERT_FALSE(evidence.empty());
  int verified = 0;
  for (const Evidence& e : evidence) {
    EXPECT_FALSE(e.control.empty());
    EXPECT_FALSE(e.detail.empty()) << e.control << " has no observation";
    if (e.verified) ++verified;
  }
  EXPECT_GT(verified, 0);
  // Strict asks for every one of these and may not skip any: each family
  // must have a verified item.
  for (const char* family : {"namespace", "seccomp", "landlock", "cgroup", "no_new_privs", "cap"}) {
    bool ok = false;
    for (const Evidence& e : evidence) {
      ok |= e.verified && e.control.find(family) != std::string::npos;
    }
    EXPECT_TRUE(ok) << "no verified evidence for " << family << "\n" << DescribeEvidence(evidence);
  }
  EXPECT_EQ(sandbox_->score().value, std::min(100, VerifiedPoints(evidence)))
      << DescribeEvidence(evidence);
  EXPECT_EQ(sandbox_->score().value, VerifiedScore(BackendKind::kProcess, evidence).value);
  // The exec result carries the same score and evidence.
  ExecResult r = Run({"true"});
  EXPECT_EQ(r.score.value, sandbox_->score().value);
  EXPECT_EQ(r.evidence.size(), evidence.size());
}

// The host's own view of a running command agrees with the evidence: fresh
// namespaces, seccomp filter mode, no_new_privs, no capabilities.
TEST_F(ProcessBackendTest, HostViewOfTheCommandMatchesEvidence) {
  BOOT();
  std::string token = UniqueToken("view");
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p =
      sandbox_->Spawn({AttackPath(), "counter", token});
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<pid_t> pids;
  ASSERT_TRUE(WaitFor([&] {
    pids = HostPidsWithCmdline(token);
    return !pids.empty();
  }));
  pid_t pid = pids[0];
  EXPECT_EQ(ProcStatusField(pid, "Seccomp"), "2");
  EXPECT_EQ(ProcStatusField(pid, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcStatusField(pid, "CapEff"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(pid, "CapPrm"), "0000000000000000");
  for (const char* ns : {"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"}) {
    std::error_code ec1, ec2;
    auto mine = std::filesystem::read_symlink(std::string("/proc/self/ns/") + ns, ec1);
    auto theirs = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + ns, ec2);
    ASSERT_FALSE(ec1 || ec2) << ns;
    EXPECT_NE(mine, theirs) << ns << " namespace shared with the host";
  }
  // Its uid on the host is not root (the sandbox uid maps to something else).
  std::string uid = ProcStatusField(pid, "Uid");
  EXPECT_NE(uid.substr(0, uid.find('\t')), "0") << uid;
  EXPECT_TRUE((*p)->Kill().ok());
  EXPECT_TRUE((*p)->Wait().ok());
}

}  // namespace
}  // namespace kavach
