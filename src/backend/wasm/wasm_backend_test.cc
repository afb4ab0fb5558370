// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Tests of the WASM backend through the Backend interface, with a test module
// assembled from testdata/kvtest.wat by wat2wasm (package wabt).
#include "backend/wasm/wasm_backend.h"

#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backend/wasm/testing/test_modules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/policy.h"
#include "linux/file_util.h"

namespace kavach::internal {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kMemoryBytes = 64ull << 20;  // -> 1024 pages

// Runs argv (no shell), returning the exit status.
int RunCmd(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class WasmBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> wat2wasm = sys::FindInPath("wat2wasm");
    if (!wat2wasm.ok()) GTEST_SKIP() << "wat2wasm (package wabt) not installed";
    BackendAvailability a = ProbeWasm();
    if (!a.available) GTEST_SKIP() << "wasm backend unavailable: " << a.reason;
    char tmpl[] = "/tmp/kavach-wasm-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);  // the jail's user is not root on the host
    work_ = dir_ + "/work";
    ASSERT_EQ(::mkdir(work_.c_str(), 0755), 0);
    module_ = dir_ + "/kvtest.wasm";
    ASSERT_EQ(
        RunCmd({*wat2wasm, std::string(KAVACH_SOURCE_DIR) + "/src/backend/wasm/testdata/kvtest.wat",
                "-o", module_}),
        0);
    ::chmod(module_.c_str(), 0644);
    state_ = dir_ + "/state";
    ::setenv("KAVACH_WASM_STATE_DIR", state_.c_str(), 1);
  }
  void TearDown() override {
    if (backend_) {
      EXPECT_TRUE(backend_->Destroy().ok());
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // A prepared backend over a Basic policy with a 64 MiB memory limit.
  void Prepare(WasmBackendOptions options = {}, SandboxPolicy policy = SandboxPolicy::Basic()) {
    SandboxConfig config;
    config.backend = BackendKind::kWasm;
    config.policy = std::move(policy);
    config.policy.limits.memory_bytes = kMemoryBytes;
    config.host_workdir = work_;
    auto b = CreateWasmBackend(std::move(options));
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = *std::move(b);
    absl::Status s = backend_->Prepare(config, &report_);
    ASSERT_TRUE(s.ok()) << s;
  }

  BackendExecRequest Req(std::vector<std::string> args) {
    BackendExecRequest r;
    r.argv = {module_};
    for (std::string& a : args) r.argv.push_back(std::move(a));
    r.cwd = "/work";
    r.timeout = absl::Seconds(30);
    return r;
  }

  std::string dir_, work_, module_, state_;
  std::unique_ptr<Backend> backend_;
  PrepareReport report_;
};

TEST_F(WasmBackendTest, ArgvEnvStdinStdoutAndExitCode) {
  Prepare();
  BackendExecRequest r = Req({"hello", "x y"});
  r.env = {"A=1", "GREETING=hi"};
  r.stdin_data = "line from stdin\n";
  absl::StatusOr<ExecResult> res = backend_->Exec(r);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_THAT(res->stdout_data, HasSubstr(absl::StrCat("args:", module_, " hello x y \n")));
  EXPECT_THAT(res->stdout_data, HasSubstr("env:A=1 GREETING=hi \n"));
  EXPECT_THAT(res->stdout_data, HasSubstr("stdin:line from stdin\n"));
  EXPECT_EQ(res->exit_code, 43);  // 40 + argc
  ASSERT_TRUE(res->wasm.has_value());
  EXPECT_FALSE(res->wasm->trap.has_value());
  EXPECT_FALSE(res->wasm->fuel_exhausted);
  EXPECT_EQ(res->wasm->memory_pages_peak, 1u);
  EXPECT_EQ(res->stderr_data, "");  // nothing from node or the runner
}

TEST_F(WasmBackendTest, StrictPolicyKeepsStrictSeccompAndRunsMeteredCode) {
  WasmBackendOptions o;
  o.fuel = 1'000'000'000;
  Prepare(o, SandboxPolicy::Strict());
  bool strict_seccomp = false;
  for (const Evidence& e : report_.evidence) {
    if (e.control == "seccomp" && e.verified) strict_seccomp = true;
  }
  EXPECT_TRUE(strict_seccomp);
  for (const char* mode : {"count", "memhog"}) {
    absl::StatusOr<ExecResult> res = backend_->Exec(Req({mode}));
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->exit_code, 0) << mode << " signal " << res->signal << " " << res->stderr_data;
    ASSERT_TRUE(res->wasm.has_value());
    EXPECT_GT(res->wasm->fuel_used, 0u);
  }
}

// The same path as an unprivileged host user (uid/gid 65534): the child
// reports through its exit code (0 ok, 10+ the failing step).
TEST_F(WasmBackendTest, WorksAsUnprivilegedUser) {
  std::string state = dir_ + "/state-nobody";
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  ASSERT_EQ(::chown(state.c_str(), 65534, 65534), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(10);
    }
    // Changing credentials made us non-dumpable, which leaves /proc/self
    // owned by root; a real unprivileged user is dumpable.
    ::prctl(PR_SET_DUMPABLE, 1);
    ::setenv("KAVACH_WASM_STATE_DIR", (state + "/s").c_str(), 1);
    ::setenv("TMPDIR", state.c_str(), 1);
    ::unsetenv("XDG_RUNTIME_DIR");
    SandboxConfig config;
    config.backend = BackendKind::kWasm;
    config.policy = SandboxPolicy::Basic();
    config.host_workdir = work_;
    auto b = CreateWasmBackend();
    if (!b.ok()) ::_exit(11);
    PrepareReport report;
    if (absl::Status s = (*b)->Prepare(config, &report); !s.ok()) {
      std::fprintf(stderr, "prepare: %s\n", s.ToString().c_str());
      ::_exit(12);
    }
    absl::StatusOr<ExecResult> res = (*b)->Exec(Req({"hello"}));
    if (!res.ok()) {
      std::fprintf(stderr, "exec: %s\n", res.status().ToString().c_str());
      ::_exit(13);
    }
    if (res->exit_code != 42 || res->stdout_data.find("args:") == std::string::npos) ::_exit(14);
    ::_exit((*b)->Destroy().ok() ? 0 : 15);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(WasmBackendTest, EvidenceHasJailAndEngineItems) {
  Prepare();
  int engine = 0, total = 0;
  bool userns = false;
  for (const Evidence& e : report_.evidence) {
    if (!e.verified) continue;
    total += e.points;
    if (e.control.rfind("wasm.", 0) == 0) engine += e.points;
    if (e.control == "namespace.user") userns = true;
  }
  EXPECT_EQ(engine, 15);
  EXPECT_TRUE(userns);
  EXPECT_GE(total, 65);
}

TEST_F(WasmBackendTest, PreopenReadableOutsideNot) {
  ASSERT_TRUE(sys::WriteFile(work_ + "/data.txt", "hello-data\n").ok());
  Prepare();
  absl::StatusOr<ExecResult> res = backend_->Exec(Req({"read", "data.txt"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 0) << res->stdout_data;
  EXPECT_THAT(res->stdout_data, HasSubstr("read:hello-data"));
  for (const char* p : {"../../../../etc/passwd", "/etc/passwd", "../state"}) {
    res = backend_->Exec(Req({"read", p}));
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->exit_code, 1) << p << ": " << res->stdout_data;
    EXPECT_THAT(res->stdout_data, HasSubstr("open-errno:")) << p;
  }
}

TEST_F(WasmBackendTest, HostSymlinkOutOfPreopenReachesNothing) {
  // A host directory beside the workdir, and a relative symlink to it planted
  // in the workdir. node:wasi alone follows it; the jail must stop it.
  std::string secret_dir = dir_ + "/secret";
  ASSERT_EQ(::mkdir(secret_dir.c_str(), 0755), 0);
  ASSERT_TRUE(sys::WriteFile(secret_dir + "/s.txt", "TOPSECRET\n").ok());
  ASSERT_EQ(::symlink("../secret", (work_ + "/up").c_str()), 0);

  // Control: the runner outside any jail, the same preopen -> escapes.
  std::string out = dir_ + "/control.out";
  absl::StatusOr<std::string> runner = FindWasmRunner();
  ASSERT_TRUE(runner.ok());
  absl::StatusOr<std::string> node = sys::FindInPath("node");
  ASSERT_TRUE(node.ok());
  std::string cmd = absl::StrCat(*node, " --no-warnings ", *runner, " --result ", dir_,
                                 "/control.json --dir /work=", work_, " -- ", module_, " m read",
                                 " up/s.txt > ", out, " 2>&1");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  absl::StatusOr<std::string> control = sys::ReadFile(out);
  ASSERT_TRUE(control.ok());
  EXPECT_THAT(*control, HasSubstr("TOPSECRET")) << "node:wasi no longer follows the symlink";

  Prepare();
  absl::StatusOr<ExecResult> res = backend_->Exec(Req({"read", "up/s.txt"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_THAT(res->stdout_data, Not(HasSubstr("TOPSECRET")));
  EXPECT_EQ(res->exit_code, 1) << res->stdout_data;
}

TEST_F(WasmBackendTest, FuelStopsInfiniteLoopDeterministically) {
  WasmBackendOptions o;
  o.fuel = 1'000'000;
  Prepare(o);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<ExecResult> res = backend_->Exec(Req({"loop"}));
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->exit_code, kWasmExitFuelExhausted);
    EXPECT_FALSE(res->timed_out);
    ASSERT_TRUE(res->wasm.has_value());
    EXPECT_TRUE(res->wasm->fuel_exhausted);
    EXPECT_EQ(res->wasm->fuel_used, 1'000'000u);
  }
  // A finite program uses the same fuel every time, and more than its
  // 100000 loop iterations.
  uint64_t first = 0;
  for (int i = 0; i < 2; ++i) {
    BackendExecRequest r = Req({"count"});
    r.env = {absl::StrCat(kWasmFuelEnv, "=1000000000")};
    absl::StatusOr<ExecResult> res = backend_->Exec(r);
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->exit_code, 0);
    ASSERT_TRUE(res->wasm.has_value());
    EXPECT_FALSE(res->wasm->fuel_exhausted);
    EXPECT_GT(res->wasm->fuel_used, 100000u);
    if (i == 0) first = res->wasm->fuel_used;
    EXPECT_EQ(res->wasm->fuel_used, first);
  }
}

TEST_F(WasmBackendTest, MemoryGrowthBeyondCapFailsInsideGuest) {
  Prepare();
  absl::StatusOr<ExecResult> res = backend_->Exec(Req({"memhog"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 0) << "signal " << res->signal << " oom " << res->oom_killed
                               << " stderr " << res->stderr_data;
  // 1 initial page + 63 grows of 16 = 1009 <= 1024 (64 MiB / 64 KiB).
  EXPECT_THAT(res->stdout_data, HasSubstr("grown-pages:1008\n"));
  ASSERT_TRUE(res->wasm.has_value());
  EXPECT_EQ(res->wasm->memory_pages_peak, 1009u);
}

TEST_F(WasmBackendTest, TimeoutKillsTheEngine) {
  Prepare();
  BackendExecRequest r = Req({"loop"});
  r.timeout = absl::Milliseconds(1500);
  absl::StatusOr<ExecResult> res = backend_->Exec(r);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_TRUE(res->timed_out);
  // ShellStatus() (sandbox layer) maps timed_out to 124.
  EXPECT_FALSE(res->wasm.has_value());
}

TEST_F(WasmBackendTest, TrapIsReportedAsTrapAndExit152IsNotFuel) {
  WasmBackendOptions o;
  o.fuel = 1'000'000;
  Prepare(o);
  absl::StatusOr<ExecResult> res = backend_->Exec(Req({"trap"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, kWasmExitTrap);
  ASSERT_TRUE(res->wasm.has_value());
  ASSERT_TRUE(res->wasm->trap.has_value());
  EXPECT_THAT(*res->wasm->trap, HasSubstr("unreachable"));
  EXPECT_FALSE(res->wasm->fuel_exhausted);

  res = backend_->Exec(Req({"exit152"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 152);
  ASSERT_TRUE(res->wasm.has_value());
  EXPECT_FALSE(res->wasm->fuel_exhausted);
  EXPECT_FALSE(res->wasm->trap.has_value());
}

TEST_F(WasmBackendTest, BadModulesAreClearErrors) {
  Prepare();
  std::string not_wasm = dir_ + "/not.wasm";
  ASSERT_TRUE(sys::WriteFile(not_wasm, "#!/bin/sh\necho hi\n").ok());
  absl::StatusOr<std::string> good = sys::ReadFile(module_);
  ASSERT_TRUE(good.ok());
  std::string truncated = dir_ + "/trunc.wasm";
  ASSERT_TRUE(sys::WriteFile(truncated, good->substr(0, good->size() / 2)).ok());
  std::string imports = dir_ + "/imports.wasm";
  std::string wat = dir_ + "/imports.wat";
  ASSERT_TRUE(sys::WriteFile(wat,
                             "(module (import \"env\" \"nope\" (func))"
                             " (memory (export \"memory\") 1)"
                             " (func (export \"_start\") (call 0)))")
                  .ok());
  ASSERT_EQ(RunCmd({"wat2wasm", wat, "-o", imports}), 0);
  for (const std::string& fuel : {std::string(), std::string("1000")}) {
    for (const auto& [path, want] :
         {std::pair<std::string, std::string>{not_wasm, "invalid module"},
          {truncated, "invalid module"},
          {imports, "env.nope"}}) {
      BackendExecRequest r = Req({});
      r.argv[0] = path;
      if (!fuel.empty()) r.env = {absl::StrCat(kWasmFuelEnv, "=", fuel)};
      absl::StatusOr<ExecResult> res = backend_->Exec(r);
      ASSERT_FALSE(res.ok()) << path << " fuel=" << fuel;
      EXPECT_EQ(res.status().code(), absl::StatusCode::kInvalidArgument) << res.status();
      if (fuel.empty()) {
        EXPECT_THAT(res.status().message(), HasSubstr(want)) << res.status();
      }
    }
  }
}

// Host pids of processes whose command line contains every one of `needles`.
std::set<pid_t> PidsWith(const std::vector<std::string>& needles) {
  std::set<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    absl::StatusOr<std::string> cmdline = sys::ReadFile(entry.path().string() + "/cmdline");
    if (!cmdline.ok()) continue;
    bool all = !cmdline->empty();
    for (const std::string& n : needles) all = all && cmdline->find(n) != std::string::npos;
    if (all) pids.insert(std::stoi(name));
  }
  return pids;
}

bool HasStep(const ExecResult& r, const std::string& name) {
  for (const SetupStep& s : r.setup) {
    if (s.name == name) return true;
  }
  return false;
}

// The C test modules (testdata/*.c, built by clang for wasm32-wasi), on the
// warm engine (true) and on a one-shot engine per exec (false).
class WasmCModuleTest : public WasmBackendTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    WasmBackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (auto [name, path] : {std::pair{"hello", &hello_}, std::pair{"guest", &guest_}}) {
      absl::StatusOr<std::string> m = testing::WasmTestModule(name);
      if (absl::IsUnavailable(m.status())) GTEST_SKIP() << m.status();
      ASSERT_TRUE(m.ok()) << m.status();
      *path = *m;
    }
  }
  void PrepareC(WasmBackendOptions o = {}, SandboxConfig config = {}) {
    o.warm_engine = GetParam();
    config.backend = BackendKind::kWasm;
    config.policy.limits.memory_bytes = kMemoryBytes;
    config.host_workdir = work_;
    auto b = CreateWasmBackend(std::move(o));
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = *std::move(b);
    absl::Status s = backend_->Prepare(config, &report_);
    ASSERT_TRUE(s.ok()) << s;
  }
  BackendExecRequest CReq(const std::string& module, std::vector<std::string> args) {
    BackendExecRequest r = Req(std::move(args));
    r.argv[0] = module;
    return r;
  }
  std::set<pid_t> EnginePids() { return PidsWith({state_ + "/", "runner.mjs"}); }

  std::string hello_, guest_;
};

TEST_P(WasmCModuleTest, ArgvEnvStdinStdoutStderrAndExitCode) {
  PrepareC();
  for (int i = 0; i < 2; ++i) {
    BackendExecRequest r = CReq(hello_, {"a", "b c", "--stdin", "--exit", "7"});
    r.env = {"A=1", "B=two words"};
    r.stdin_data = "line one\nline two\n";
    absl::StatusOr<ExecResult> res = backend_->Exec(r);
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->stdout_data, absl::StrCat("hello from wasm\nargv[0]=", hello_,
                                             "\nargv[1]=a\nargv[2]=b c\nargv[3]=--stdin\n"
                                             "argv[4]=--exit\nargv[5]=7\nenv:A=1\n"
                                             "env:B=two words\nstdin:line one\nstdin:line two\n"));
    EXPECT_EQ(res->stderr_data, "to stderr\n");
    EXPECT_EQ(res->exit_code, 7);
    ASSERT_TRUE(res->wasm.has_value());
    EXPECT_FALSE(res->wasm->trap.has_value());
  }
  // No stdin given: the guest reads EOF at once.
  absl::StatusOr<ExecResult> res = backend_->Exec(CReq(hello_, {"--stdin"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_THAT(res->stdout_data, Not(HasSubstr("stdin:")));
  EXPECT_EQ(res->exit_code, 0);
}

TEST_P(WasmCModuleTest, PreopenReadWriteWhileEscapesFail) {
  std::string data = dir_ + "/data";
  std::string secret = dir_ + "/secret";
  ASSERT_EQ(::mkdir(data.c_str(), 0777), 0);
  ::chmod(data.c_str(), 0777);  // the jail's user is not root on the host
  ASSERT_EQ(::mkdir(secret.c_str(), 0755), 0);
  ASSERT_TRUE(sys::WriteFile(data + "/in.txt", "input-data\n").ok());
  ASSERT_TRUE(sys::WriteFile(secret + "/s.txt", "TOPSECRET\n").ok());
  // Host-made symlinks inside the preopen pointing outside it.
  ASSERT_EQ(::symlink((secret + "/s.txt").c_str(), (data + "/abs").c_str()), 0);
  ASSERT_EQ(::symlink("../secret/s.txt", (data + "/rel").c_str()), 0);
  ASSERT_EQ(::symlink("..", (data + "/up").c_str()), 0);
  SandboxConfig config;
  config.wasm.dirs = {{data, "/data"}};
  PrepareC({}, config);

  absl::StatusOr<ExecResult> res = backend_->Exec(CReq(guest_, {"read", "/data/in.txt"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->stdout_data, "read:input-data\n");
  EXPECT_EQ(res->exit_code, 0);
  res = backend_->Exec(CReq(guest_, {"write", "/data/out.txt", "written-by-guest"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 0) << res->stdout_data;
  absl::StatusOr<std::string> written = sys::ReadFile(data + "/out.txt");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, "written-by-guest");
  // The working directory is preopened too, also as "." for relative paths.
  ASSERT_TRUE(sys::WriteFile(work_ + "/w.txt", "in-workdir\n").ok());
  res = backend_->Exec(CReq(guest_, {"read", "w.txt"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->stdout_data, "read:in-workdir\n");

  for (const std::string& p :
       {std::string("/data/../secret/s.txt"), std::string("/data/../../../../etc/passwd"),
        std::string("/etc/passwd"), secret + "/s.txt", std::string("/data/abs"),
        std::string("/data/rel"), std::string("/data/up/secret/s.txt")}) {
    res = backend_->Exec(CReq(guest_, {"read", p}));
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->exit_code, 1) << p << ": " << res->stdout_data;
    EXPECT_THAT(res->stdout_data, HasSubstr("open-failed:")) << p;
    EXPECT_THAT(res->stdout_data, Not(HasSubstr("TOPSECRET"))) << p;
    EXPECT_THAT(res->stdout_data, Not(HasSubstr("root:"))) << p;
  }
  res = backend_->Exec(CReq(guest_, {"write", "/data/../secret/new.txt", "x"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 1);
  EXPECT_FALSE(fs::exists(secret + "/new.txt"));
}

TEST_P(WasmCModuleTest, FuelStopsTheSameWayEveryTime) {
  WasmBackendOptions o;
  o.fuel = 2'000'000;
  PrepareC(o);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<ExecResult> res = backend_->Exec(CReq(guest_, {"loop"}));
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->exit_code, kWasmExitFuelExhausted);
    EXPECT_FALSE(res->timed_out);
    ASSERT_TRUE(res->wasm.has_value());
    EXPECT_TRUE(res->wasm->fuel_exhausted);
    EXPECT_EQ(res->wasm->fuel_used, 2'000'000u);
  }
  uint64_t first = 0;
  for (int i = 0; i < 3; ++i) {
    BackendExecRequest r = CReq(guest_, {"burn", "200000"});
    r.env = {absl::StrCat(kWasmFuelEnv, "=1000000000")};
    absl::StatusOr<ExecResult> res = backend_->Exec(r);
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->exit_code, 0) << res->stderr_data;
    ASSERT_TRUE(res->wasm.has_value());
    EXPECT_FALSE(res->wasm->fuel_exhausted);
    EXPECT_GT(res->wasm->fuel_used, 200000u);
    if (i == 0) first = res->wasm->fuel_used;
    EXPECT_EQ(res->wasm->fuel_used, first);
  }
}

TEST_P(WasmCModuleTest, MemoryHogIsCappedAndReported) {
  PrepareC();
  absl::StatusOr<ExecResult> res = backend_->Exec(CReq(guest_, {"memhog"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 0) << "signal " << res->signal << " oom " << res->oom_killed << " "
                               << res->stderr_data;
  EXPECT_FALSE(res->oom_killed);
  // 64 MiB cap: malloc fails inside the guest a little below it.
  int mib = -1;
  ASSERT_EQ(std::sscanf(res->stdout_data.c_str(), "allocated-mib:%d", &mib), 1) << res->stdout_data;
  EXPECT_GT(mib, 32);
  EXPECT_LT(mib, 64);
  ASSERT_TRUE(res->wasm.has_value());
  EXPECT_LE(res->wasm->memory_pages_peak, 1024u);
  EXPECT_GT(res->wasm->memory_pages_peak, 512u);
}

TEST_P(WasmCModuleTest, TimeoutLeavesNoProcessBehind) {
  PrepareC();
  std::set<pid_t> before = EnginePids();
  EXPECT_EQ(before.size(), GetParam() ? 1u : 0u);
  BackendExecRequest r = CReq(guest_, {"loop"});
  r.timeout = absl::Milliseconds(800);
  absl::Time t0 = absl::Now();
  absl::StatusOr<ExecResult> res = backend_->Exec(r);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_TRUE(res->timed_out);
  EXPECT_FALSE(res->wasm.has_value());  // ShellStatus() (sandbox layer): 124
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  // Nothing that ran the module is left: not the warm engine that ran it,
  // not a one-shot engine (a replacement warm engine may be starting).
  std::set<pid_t> after = EnginePids();
  for (pid_t p : before) EXPECT_EQ(after.count(p), 0u) << "engine " << p << " still there";
  EXPECT_TRUE(PidsWith({state_ + "/", "--result"}).empty());
  // The sandbox still runs modules.
  res = backend_->Exec(CReq(hello_, {}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 0);
}

TEST_P(WasmCModuleTest, TrapIsNotAnExitCode) {
  PrepareC();
  absl::StatusOr<ExecResult> res = backend_->Exec(CReq(guest_, {"trap"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, kWasmExitTrap);
  ASSERT_TRUE(res->wasm.has_value());
  ASSERT_TRUE(res->wasm->trap.has_value());
  EXPECT_THAT(*res->wasm->trap, HasSubstr("unreachable"));
  res = backend_->Exec(CReq(guest_, {"exit", "134"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 134);
  ASSERT_TRUE(res->wasm.has_value());
  EXPECT_FALSE(res->wasm->trap.has_value());
}

TEST_P(WasmCModuleTest, NotWasmTruncatedAndUnknownImportAreClearErrors) {
  PrepareC();
  absl::StatusOr<std::string> good = sys::ReadFile(hello_);
  ASSERT_TRUE(good.ok());
  std::string truncated = dir_ + "/trunc.wasm";
  ASSERT_TRUE(sys::WriteFile(truncated, good->substr(0, good->size() - 100)).ok());
  std::string not_wasm = dir_ + "/elf.wasm";
  absl::StatusOr<std::string> elf = sys::ReadFile("/bin/true");
  ASSERT_TRUE(elf.ok());
  ASSERT_TRUE(sys::WriteFile(not_wasm, *elf).ok());
  std::string imports = dir_ + "/imports.wasm";
  ASSERT_TRUE(sys::WriteFile(dir_ + "/imports.wat",
                             "(module (import \"host\" \"secret_syscall\" (func))"
                             " (memory (export \"memory\") 1)"
                             " (func (export \"_start\") (call 0)))")
                  .ok());
  ASSERT_EQ(RunCmd({"wat2wasm", dir_ + "/imports.wat", "-o", imports}), 0);
  for (const auto& [path, want] : {std::pair<std::string, std::string>{not_wasm, "invalid module"},
                                   {truncated, "invalid module"},
                                   {imports, "host.secret_syscall"}}) {
    absl::StatusOr<ExecResult> res = backend_->Exec(CReq(path, {}));
    ASSERT_FALSE(res.ok()) << path;
    EXPECT_EQ(res.status().code(), absl::StatusCode::kInvalidArgument) << res.status();
    EXPECT_THAT(res.status().message(), HasSubstr(want)) << res.status();
  }
  // A missing file is NotFound, as for a native command.
  absl::StatusOr<ExecResult> res = backend_->Exec(CReq(dir_ + "/none.wasm", {}));
  EXPECT_FALSE(res.ok());
  // The engine still serves good modules.
  res = backend_->Exec(CReq(hello_, {}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(Engines, WasmCModuleTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? "Warm" : "OneShot";
                         });

// Warm-engine behaviour.
class WasmWarmEngineTest : public WasmCModuleTest {};

TEST_P(WasmWarmEngineTest, FreshInstanceAndWasiStateOnOneCompiledModule) {
  PrepareC();
  std::set<pid_t> engine = EnginePids();
  ASSERT_EQ(engine.size(), 1u);
  std::string fd_line;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<ExecResult> res = backend_->Exec(CReq(guest_, {"fresh"}));
    ASSERT_TRUE(res.ok()) << res.status();
    // Fresh linear memory: the static counter starts at 0 again; fresh WASI
    // state: the file left open last time does not take a descriptor.
    EXPECT_THAT(res->stdout_data, HasSubstr("calls:1 fd:"));
    if (i == 0) fd_line = res->stdout_data;
    EXPECT_EQ(res->stdout_data, fd_line);
    // Compiled by the first exec only.
    EXPECT_EQ(HasStep(*res, "wasm.compile"), i == 0);
    EXPECT_TRUE(HasStep(*res, "wasm.job"));
    EXPECT_EQ(EnginePids(), engine) << "the engine was replaced after a clean exit";
  }
}

TEST_P(WasmWarmEngineTest, EngineIsReplacedAfterTrapFuelAndMemoryCap) {
  WasmBackendOptions o;
  o.fuel = 5'000'000'000;
  PrepareC(o);
  std::set<pid_t> engine = EnginePids();
  ASSERT_EQ(engine.size(), 1u);
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
  };
  for (const Case& c : {Case{{"trap"}, {}}, Case{{"loop"}, {absl::StrCat(kWasmFuelEnv, "=1000")}},
                        Case{{"memhog"}, {}}}) {
    BackendExecRequest r = CReq(guest_, c.args);
    r.env = c.env;
    absl::StatusOr<ExecResult> res = backend_->Exec(r);
    ASSERT_TRUE(res.ok()) << res.status();
    // The next exec runs on a replacement engine.
    res = backend_->Exec(CReq(hello_, {}));
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->exit_code, 0);
    std::set<pid_t> now = EnginePids();
    ASSERT_EQ(now.size(), 1u) << c.args[0];
    EXPECT_NE(*now.begin(), *engine.begin()) << c.args[0] << ": engine reused";
    engine = now;
  }
}

// Node 20 never frees a job's WASI object nor its descriptors (preopens,
// files the guest left open); the engine must not run out of them over many
// jobs (seen: UVWASI_EMFILE after a few hundred execs under strict's
// RLIMIT_NOFILE of 1024).
TEST_P(WasmWarmEngineTest, ManyExecsDoNotRunOutOfDescriptors) {
  SandboxConfig config;
  config.policy.limits.max_open_files = 64;
  PrepareC({}, config);
  std::set<pid_t> engine = EnginePids();
  for (int i = 0; i < 150; ++i) {
    // Every other run leaves a file open (mode "fresh").
    absl::StatusOr<ExecResult> res =
        backend_->Exec(i % 2 == 0 ? CReq(hello_, {}) : CReq(guest_, {"fresh"}));
    ASSERT_TRUE(res.ok()) << "exec " << i << ": " << res.status();
    ASSERT_EQ(res->exit_code, 0) << "exec " << i;
  }
  EXPECT_EQ(EnginePids(), engine);
}

TEST_P(WasmWarmEngineTest, PreloadedModuleIsNotCompiledAtExec) {
  SandboxConfig config;
  config.wasm.preload = {hello_};
  PrepareC({}, config);
  absl::StatusOr<ExecResult> res = backend_->Exec(CReq(hello_, {}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->exit_code, 0);
  EXPECT_FALSE(HasStep(*res, "wasm.compile"));
  res = backend_->Exec(CReq(guest_, {"exit", "0"}));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_TRUE(HasStep(*res, "wasm.compile"));
}

INSTANTIATE_TEST_SUITE_P(Engines, WasmWarmEngineTest, ::testing::Values(true),
                         [](const ::testing::TestParamInfo<bool>&) { return "Warm"; });

TEST(WasmRegistryTest, ProbeAndRegistryAgree) {
  BackendAvailability a = Probe(BackendKind::kWasm);
  EXPECT_FALSE(a.reason.empty());
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(BackendKind::kWasm);
  if (!a.available) {
    EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
    GTEST_SKIP() << "wasm unavailable here: " << a.reason;
  }
  EXPECT_THAT(a.reason, HasSubstr("node found at /"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->kind(), BackendKind::kWasm);
}

}  // namespace
}  // namespace kavach::internal
