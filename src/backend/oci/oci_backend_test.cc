// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/oci/oci_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "backend/oci/runtime.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/score.h"
#include "linux/file_util.h"
#include "linux/unique_fd.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

SandboxPolicy StrictWithoutLandlock() {
  SandboxPolicy p = SandboxPolicy::Strict();
  p.optional_controls.insert(Control::kLandlockFilesystem);
  p.optional_controls.insert(Control::kLandlockNetwork);
  p.optional_controls.insert(Control::kLandlockScopes);
  return p;
}

BackendExecRequest Cmd(std::vector<std::string> argv) {
  BackendExecRequest r;
  r.argv = std::move(argv);
  r.env = {"PATH=/usr/bin:/bin"};
  r.timeout = absl::Seconds(20);
  return r;
}

BackendExecRequest Sh(const std::string& script) { return Cmd({"/bin/sh", "-c", script}); }

class OciBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the OCI backend tests run the root path (cgroups)";
    std::string t = "/tmp/kavach-oci-state-XXXXXX";
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    state_ = t;
    absl::StatusOr<OciRuntime> rt = ResolveOciRuntime(GetParam(), state_);
    if (!rt.ok()) GTEST_SKIP() << GetParam() << " unavailable: " << rt.status();
    rt_ = *rt;
  }
  void TearDown() override {
    if (backend_) (void)backend_->Destroy();
    if (!state_.empty()) (void)!::system(("rm -rf " + state_).c_str());
  }

  // Prepares a backend with `policy`; fails the test on error.
  void Prepare(const SandboxPolicy& policy) {
    absl::StatusOr<std::unique_ptr<Backend>> b =
        CreateOciBackend({.runtime = GetParam(), .state_root = state_});
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = *std::move(b);
    SandboxConfig config;
    config.backend = BackendKind::kOci;
    config.policy = policy;
    absl::Status s = backend_->Prepare(config, &report_);
    ASSERT_TRUE(s.ok()) << s;
  }

  std::vector<std::string> ListContainers() {
    absl::StatusOr<RuntimeOutput> r = RunRuntime(rt_, {"list", "-q"});
    EXPECT_TRUE(r.ok());
    std::vector<std::string> ids = absl::StrSplit(r.ok() ? r->out : "", '\n', absl::SkipEmpty());
    return ids;
  }

  ExecResult Run(const BackendExecRequest& req) {
    absl::StatusOr<ExecResult> r = backend_->Exec(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ExecResult{};
  }

  std::string state_;
  OciRuntime rt_;
  std::unique_ptr<Backend> backend_;
  PrepareReport report_;
};

TEST_P(OciBackendTest, StrictRunsShell) {
  ASSERT_NO_FATAL_FAILURE(Prepare(StrictWithoutLandlock()));
  ExecResult r = Run(Sh("echo hi; id -u"));
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data, "hi\n1000\n");
  EXPECT_FALSE(r.timed_out);
}

TEST_P(OciBackendTest, StrictWithLandlockFailsClosedNamingTheControl) {
  absl::StatusOr<std::unique_ptr<Backend>> b =
      CreateOciBackend({.runtime = GetParam(), .state_root = state_});
  ASSERT_TRUE(b.ok());
  SandboxConfig config;
  config.policy = SandboxPolicy::Strict();
  PrepareReport report;
  absl::Status s = (*b)->Prepare(config, &report);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("landlock"));
  EXPECT_TRUE(ListContainers().empty());
}

TEST_P(OciBackendTest, ExitCodesStdinAndCwd) {
  ASSERT_NO_FATAL_FAILURE(Prepare(SandboxPolicy::Minimal()));
  EXPECT_EQ(Run(Sh("exit 7")).exit_code, 7);
  EXPECT_EQ(Run(Cmd({"/bin/false"})).exit_code, 1);
  BackendExecRequest cat = Cmd({"/bin/cat"});
  cat.stdin_data = "from stdin";
  EXPECT_EQ(Run(cat).stdout_data, "from stdin");
  BackendExecRequest pwd = Cmd({"/bin/pwd"});
  pwd.cwd = "/tmp";
  EXPECT_EQ(Run(pwd).stdout_data, "/tmp\n");
  ExecResult err = Run(Sh("echo oops >&2"));
  EXPECT_EQ(err.stderr_data, "oops\n");
}

TEST_P(OciBackendTest, TimeoutKillsTheWholeTree) {
  ASSERT_NO_FATAL_FAILURE(Prepare(SandboxPolicy::Minimal()));
  BackendExecRequest req = Sh("sleep 1000 & sleep 1001; echo never");
  req.timeout = absl::Milliseconds(300);
  ExecResult r = Run(req);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.stdout_data, "");
  // Neither sleep survives in the container.
  ExecResult ps =
      Run(Sh("for p in /proc/[0-9]*; do cat $p/cmdline 2>/dev/null | tr '\\0' ' '; "
             "echo; done"));
  EXPECT_THAT(ps.stdout_data, ::testing::Not(HasSubstr("sleep 100")));
}

TEST_P(OciBackendTest, OutputIsCapped) {
  ASSERT_NO_FATAL_FAILURE(Prepare(SandboxPolicy::Minimal()));
  BackendExecRequest req = Sh("head -c 100000 /dev/zero");
  req.max_output_bytes = 1000;
  ExecResult r = Run(req);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data.size(), 1000u);
  EXPECT_TRUE(r.stdout_truncated);
}

TEST_P(OciBackendTest, ExecsShareState) {
  ASSERT_NO_FATAL_FAILURE(Prepare(StrictWithoutLandlock()));
  EXPECT_EQ(Run(Sh("echo kept > note")).exit_code, 0);
  EXPECT_EQ(Run(Cmd({"/bin/cat", "note"})).stdout_data, "kept\n");
  ExecResult tmp = Run(Sh("echo t > /tmp/t"));
  EXPECT_EQ(tmp.exit_code, 0)
      << tmp.stderr_data
      << Run(Sh("grep -E ' /tmp | / ' /proc/self/mountinfo; ls -ld /tmp")).stdout_data;
  EXPECT_EQ(Run(Cmd({"/bin/cat", "/tmp/t"})).stdout_data, "t\n");
}

TEST_P(OciBackendTest, PauseResume) {
  ASSERT_NO_FATAL_FAILURE(Prepare(SandboxPolicy::Minimal()));
  std::vector<std::string> ids = ListContainers();
  ASSERT_EQ(ids.size(), 1u);
  auto status = [&] {
    absl::StatusOr<RuntimeOutput> st = RunRuntime(rt_, {"state", ids[0]});
    if (!st.ok()) return std::string("error");
    nlohmann::json j = nlohmann::json::parse(st->out, nullptr, false);
    return j.is_object() ? j.value("status", "") : std::string("unparsable");
  };
  ASSERT_TRUE(backend_->Pause().ok());
  EXPECT_EQ(status(), "paused");
  absl::StatusOr<std::string> freezer =
      sys::ReadFile(absl::StrCat("/sys/fs/cgroup/freezer/kavach-oci/", ids[0], "/freezer.state"));
  if (freezer.ok()) {
    EXPECT_EQ(*freezer, "FROZEN\n");
  }
  // Nothing runs in a frozen container.
  BackendExecRequest req = Sh("echo ran");
  req.timeout = absl::Milliseconds(500);
  absl::StatusOr<ExecResult> frozen = backend_->Exec(req);
  EXPECT_TRUE(!frozen.ok() || frozen->stdout_data.empty());
  ASSERT_TRUE(backend_->Resume().ok());
  EXPECT_EQ(status(), "running");
  EXPECT_EQ(Run(Sh("echo back")).stdout_data, "back\n");
}

TEST_P(OciBackendTest, SpawnStreamsAndWaits) {
  ASSERT_NO_FATAL_FAILURE(Prepare(SandboxPolicy::Minimal()));
  std::string streamed;
  BackendExecRequest req = Sh("echo one; echo two");
  req.on_stdout = [&](std::string_view s) { streamed.append(s); };
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = backend_->Spawn(req);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<ExecResult> r = (*p)->Wait();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_data, "one\ntwo\n");
  EXPECT_EQ(streamed, "one\ntwo\n");
}

TEST_P(OciBackendTest, DestroyLeavesNothing) {
  ASSERT_NO_FATAL_FAILURE(Prepare(SandboxPolicy::Minimal()));
  std::vector<std::string> ids = ListContainers();
  ASSERT_EQ(ids.size(), 1u);
  absl::StatusOr<RuntimeOutput> st = RunRuntime(rt_, {"state", ids[0]});
  ASSERT_TRUE(st.ok());
  nlohmann::json j = nlohmann::json::parse(st->out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << st->out;
  std::string bundle = j.value("bundle", "");
  struct stat sb;
  ASSERT_EQ(::stat(bundle.c_str(), &sb), 0) << bundle;
  ASSERT_TRUE(backend_->Stop().ok());
  ASSERT_TRUE(backend_->Destroy().ok());
  EXPECT_TRUE(ListContainers().empty());
  EXPECT_NE(::stat(bundle.c_str(), &sb), 0);
  EXPECT_NE(::stat(absl::StrCat("/sys/fs/cgroup/memory/kavach-oci/", ids[0]).c_str(), &sb), 0);
  EXPECT_TRUE(backend_->Destroy().ok());  // idempotent
}

TEST_P(OciBackendTest, StaleContainerOfADeadOwnerIsRemoved) {
  // A child prepares a sandbox and dies without cleaning up (as after a
  // kill -9 of kavach).
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<std::unique_ptr<Backend>> b =
        CreateOciBackend({.runtime = GetParam(), .state_root = state_});
    SandboxConfig config;
    config.policy = SandboxPolicy::Minimal();
    PrepareReport report;
    if (!b.ok() || !(*b)->Prepare(config, &report).ok()) _exit(1);
    _exit(0);  // no destructor runs
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::vector<std::string> before = ListContainers();
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].rfind(absl::StrCat("kavach-", child, "-"), 0), 0u) << before[0];
  ASSERT_NO_FATAL_FAILURE(Prepare(SandboxPolicy::Minimal()));
  std::vector<std::string> after = ListContainers();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0], before[0]);
}

TEST_P(OciBackendTest, EvidenceIsVerifiedAndScoreIsItsSum) {
  ASSERT_NO_FATAL_FAILURE(Prepare(StrictWithoutLandlock()));
  int sum = 0;
  std::set<std::string> verified;
  for (const Evidence& e : report_.evidence) {
    if (e.verified) {
      sum += e.points;
      verified.insert(e.control);
    }
  }
  for (const char* c :
       {"namespace.user", "namespace.pid", "namespace.mount", "namespace.ipc", "namespace.uts",
        "namespace.cgroup", "namespace.net", "seccomp", "no_new_privs", "capabilities",
        "read_only_root", "cgroup.memory", "cgroup.pids", "uid", "oci.masked_paths"}) {
    EXPECT_TRUE(verified.count(c)) << c;
  }
  StrengthScore s = VerifiedScore(BackendKind::kOci, report_.evidence);
  EXPECT_EQ(s.value, sum);
  // Base 55 + seccomp 5 + network none 5 + read-only root 3 + memory 2.
  EXPECT_EQ(s.value, 70);
  // Landlock was skipped: recorded, unverified, worth nothing.
  bool landlock_skipped = false;
  for (const Evidence& e : report_.evidence) {
    if (e.control == "landlock.fs") landlock_skipped = !e.verified && e.points == 0;
  }
  EXPECT_TRUE(landlock_skipped);
}

TEST_P(OciBackendTest, MinimalScoresTheBase) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.network.mode = NetworkMode::kHost;
  ASSERT_NO_FATAL_FAILURE(Prepare(p));
  EXPECT_EQ(VerifiedScore(BackendKind::kOci, report_.evidence).value, BaseScore(BackendKind::kOci));
  for (const Evidence& e : report_.evidence) {
    if (!e.verified) ADD_FAILURE() << e.control << ": " << e.detail;
  }
}

TEST_P(OciBackendTest, AttacksAreStopped) {
  ASSERT_NO_FATAL_FAILURE(Prepare(StrictWithoutLandlock()));
  // mount and unshare: no capabilities, and seccomp denies them.
  ExecResult mount = Run(Cmd({"/bin/mount", "-t", "tmpfs", "none", "/tmp"}));
  EXPECT_NE(mount.exit_code, 0);
  ExecResult unshare = Run(Cmd({"/usr/bin/unshare", "-r", "/bin/true"}));
  EXPECT_NE(unshare.exit_code, 0);
  // A host file outside the mounts is not there.
  std::string secret = absl::StrCat("/var/tmp/kavach-oci-secret-", ::getpid());
  ASSERT_TRUE(sys::WriteFile(secret, "host secret", 0644).ok());
  ExecResult read = Run(Cmd({"/bin/cat", secret}));
  ::unlink(secret.c_str());
  EXPECT_NE(read.exit_code, 0);
  EXPECT_THAT(read.stdout_data, ::testing::Not(HasSubstr("host secret")));
  // The read-only system directories stay read-only.
  EXPECT_NE(Run(Sh("echo x > /usr/kavach-oci-probe")).exit_code, 0);
  // A host TCP listener on 127.0.0.1 is unreachable (own network namespace).
  sys::UniqueFd lis(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(lis.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lis.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lis.get(), 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(lis.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int port = ntohs(addr.sin_port);
  ExecResult connect = Run(
      Cmd({"/usr/bin/python3", "-c",
           absl::StrCat(
               "import socket\ns=socket.socket()\ns.settimeout(2)\n"
               "try:\n  s.connect(('127.0.0.1',",
               port, "))\n  print('connected')\nexcept OSError as e:\n  print('refused', e)\n")}));
  EXPECT_THAT(connect.stdout_data, HasSubstr("refused")) << connect.stderr_data;
}

// Rootless: a child as uid 65534 prepares a sandbox and runs a command;
// when the host does not allow it, Prepare must say why (and we skip with
// that reason).
TEST_P(OciBackendTest, UnprivilegedWorksOrSaysWhy) {
  absl::StatusOr<sys::Pipe> pipe = sys::MakePipe();
  ASSERT_TRUE(pipe.ok());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pipe->read.Reset();
    auto report = [&](int code, const std::string& msg) {
      (void)sys::WriteAll(pipe->write.get(), msg);
      _exit(code);
    };
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      report(3, "setresuid failed");
    }
    ::unsetenv("XDG_RUNTIME_DIR");
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateOciBackend({.runtime = GetParam()});
    if (!b.ok()) report(3, std::string(b.status().message()));
    SandboxConfig config;
    config.policy = SandboxPolicy::Minimal();
    // Rootless runc maps only root inside (see Prepare).
    if (GetParam() == "runc") config.policy.uid = config.policy.gid = 0;
    PrepareReport rep;
    absl::Status s = (*b)->Prepare(config, &rep);
    if (!s.ok()) report(2, s.ToString());
    absl::StatusOr<ExecResult> r = (*b)->Exec(Sh("id -u"));
    std::string out = r.ok() ? r->stdout_data : r.status().ToString();
    (void)(*b)->Destroy();
    report(out == absl::StrCat(config.policy.uid, "\n") ? 0 : 4, out);
  }
  pipe->write.Reset();
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe->read.get(), buf, sizeof buf)) > 0) msg.append(buf, n);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  int code = WEXITSTATUS(status);
  ASSERT_NE(code, 3) << msg;
  ASSERT_NE(code, 4) << "prepared unprivileged, but the command ran wrong: " << msg;
  if (code == 2) {
    EXPECT_FALSE(msg.empty());
    GTEST_SKIP() << "rootless " << GetParam() << " unavailable here: " << msg;
  }
  EXPECT_EQ(code, 0);
}

// Single-exec (kavach exec): one `<runtime> run` whose first process is
// kavach-oci-probe; its report is verified before the command is handed over.
TEST_P(OciBackendTest, SingleExecVerifiesTheSameControlsAndRunsOneCommand) {
  // The prepared path's evidence, for comparison.
  ASSERT_NO_FATAL_FAILURE(Prepare(StrictWithoutLandlock()));
  const auto prepared = VerifiedScore(BackendKind::kOci, report_.evidence);
  std::set<std::string> prepared_controls;
  for (const Evidence& e : report_.evidence) {
    if (e.verified) prepared_controls.insert(e.control);
  }
  ASSERT_TRUE(backend_->Destroy().ok());

  absl::StatusOr<std::unique_ptr<Backend>> b =
      CreateOciBackend({.runtime = GetParam(), .state_root = state_});
  ASSERT_TRUE(b.ok());
  backend_ = *std::move(b);
  SandboxConfig config;
  config.policy = StrictWithoutLandlock();
  config.single_exec = true;
  PrepareReport report;
  absl::Status s = backend_->Prepare(config, &report);
  ASSERT_TRUE(s.ok()) << s;
  std::set<std::string> controls;
  for (const Evidence& e : report.evidence) {
    if (e.verified) controls.insert(e.control);
  }
  EXPECT_EQ(controls, prepared_controls);
  EXPECT_EQ(VerifiedScore(BackendKind::kOci, report.evidence).value, prepared.value);
  // The probe reports from inside as soon as it starts; `run` may write the
  // container's state a moment later, so give the listing a few seconds.
  std::vector<std::string> listed = ListContainers();
  for (int i = 0; i < 500 && listed.empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    listed = ListContainers();
  }
  EXPECT_EQ(listed.size(), 1u) << "the probe waits in a running container";

  BackendExecRequest req = Sh("cat; echo err >&2; id -u; pwd; exit 3");
  req.stdin_data = "from stdin\n";
  ExecResult r = Run(req);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.stdout_data, "from stdin\n1000\n/work\n");
  EXPECT_EQ(r.stderr_data, "err\n");
  absl::StatusOr<ExecResult> again = backend_->Exec(Sh("true"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(ListContainers().empty()) << "`run` removes the container when its command ends";
  EXPECT_TRUE(backend_->Destroy().ok());
  EXPECT_TRUE(ListContainers().empty());
}

TEST_P(OciBackendTest, SingleExecNotFoundTimeoutAndUnusedLeaveNothing) {
  SandboxConfig config;
  config.policy = SandboxPolicy::Minimal();
  config.single_exec = true;
  auto prepare = [&]() {
    absl::StatusOr<std::unique_ptr<Backend>> b =
        CreateOciBackend({.runtime = GetParam(), .state_root = state_});
    EXPECT_TRUE(b.ok());
    PrepareReport report;
    absl::Status s = (*b)->Prepare(config, &report);
    EXPECT_TRUE(s.ok()) << s;
    return *std::move(b);
  };
  backend_ = prepare();
  ExecResult missing = Run(Cmd({"/no/such/command"}));
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_THAT(missing.stderr_data, HasSubstr("No such file or directory"));
  ASSERT_TRUE(backend_->Destroy().ok());

  backend_ = prepare();
  BackendExecRequest slow = Sh("sleep 1000 & sleep 1001; echo never");
  slow.timeout = absl::Milliseconds(300);
  ExecResult r = Run(slow);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.stdout_data, "");
  ASSERT_TRUE(backend_->Destroy().ok());
  EXPECT_TRUE(ListContainers().empty());

  // Prepared, never used: Destroy ends the waiting probe without a command.
  backend_ = prepare();
  EXPECT_EQ(ListContainers().size(), 1u);
  ASSERT_TRUE(backend_->Destroy().ok());
  EXPECT_TRUE(ListContainers().empty());
}

TEST_P(OciBackendTest, SingleExecSpawnWaitsAndKills) {
  SandboxConfig config;
  config.policy = SandboxPolicy::Minimal();
  config.single_exec = true;
  for (bool kill : {false, true}) {
    absl::StatusOr<std::unique_ptr<Backend>> b =
        CreateOciBackend({.runtime = GetParam(), .state_root = state_});
    ASSERT_TRUE(b.ok());
    backend_ = *std::move(b);
    PrepareReport report;
    ASSERT_TRUE(backend_->Prepare(config, &report).ok());
    absl::StatusOr<std::unique_ptr<SpawnedProcess>> p =
        backend_->Spawn(Sh(kill ? "echo started; sleep 1000" : "echo spawned; exit 4"));
    ASSERT_TRUE(p.ok()) << p.status();
    if (kill) {
      absl::SleepFor(absl::Milliseconds(300));
      EXPECT_TRUE((*p)->Kill().ok());
    }
    absl::StatusOr<ExecResult> r = (*p)->Wait();
    ASSERT_TRUE(r.ok()) << r.status();
    if (kill) {
      EXPECT_NE(r->exit_code, 0);
    } else {
      EXPECT_EQ(r->exit_code, 4);
      EXPECT_EQ(r->stdout_data, "spawned\n");
    }
    ASSERT_TRUE(backend_->Destroy().ok());
    EXPECT_TRUE(ListContainers().empty());
  }
}

// A first process whose report shows a control not in force: Prepare fails
// naming it, and the command is never handed over.
TEST_P(OciBackendTest, SingleExecFailsClosedOnTheProbesReport) {
  std::string dir = "/tmp/kavach-oci-fakeprobe-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  // The shell probe's sections, with NoNewPrivs forged to 0; if it ever gets
  // a command, it leaves a mark in the working directory.
  const std::string fake = dir + "/probe";
  ASSERT_TRUE(sys::WriteFile(fake,
                             "#!/bin/sh\n"
                             "r=$(sed 's/^NoNewPrivs:.*/NoNewPrivs:\t0/' /proc/self/status; "
                             "echo @@; readlink /proc/self/ns/user /proc/self/ns/pid "
                             "/proc/self/ns/mnt /proc/self/ns/ipc /proc/self/ns/uts "
                             "/proc/self/ns/cgroup /proc/self/ns/net; echo @@; "
                             "cat /proc/self/mountinfo; echo @@; stat -L -c %d:%i /; echo @@; "
                             "echo 0; echo @@; cat /proc/net/dev; echo @@; echo @@; id -u)\n"
                             "r=\"$r\n\"\n"
                             "printf 'KAVACH-PROBE1 %d\\n%s' \"${#r}\" \"$r\" >&2\n"
                             "read -r go && echo ran > /work/ran\n"
                             "exit 0\n",
                             0755)
                  .ok());
  const std::string work = dir + "/work";
  ASSERT_EQ(::mkdir(work.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(work.c_str(), 0777), 0);
  ASSERT_EQ(::setenv("KAVACH_OCI_PROBE", fake.c_str(), 1), 0);
  absl::StatusOr<std::unique_ptr<Backend>> b =
      CreateOciBackend({.runtime = GetParam(), .state_root = state_});
  ASSERT_TRUE(b.ok());
  SandboxConfig config;
  config.policy = SandboxPolicy::Minimal();
  config.host_workdir = work;
  config.single_exec = true;
  PrepareReport report;
  absl::Status s = (*b)->Prepare(config, &report);
  ::unsetenv("KAVACH_OCI_PROBE");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("no_new_privs"));
  EXPECT_TRUE((*b)->Destroy().ok());
  struct stat st;
  EXPECT_NE(::stat((work + "/ran").c_str(), &st), 0) << "the command was handed over";
  EXPECT_TRUE(ListContainers().empty());
  (void)!::system(("rm -rf " + dir).c_str());
}

INSTANTIATE_TEST_SUITE_P(Runtimes, OciBackendTest, ::testing::Values("crun", "runc"),
                         [](const auto& info) { return info.param; });

TEST(OciProbeTest, NamesBothRuntimes) {
  BackendAvailability a = ProbeOci();
  EXPECT_EQ(a.kind, BackendKind::kOci);
  EXPECT_THAT(a.reason, HasSubstr("crun"));
  EXPECT_THAT(a.reason, HasSubstr("runc"));
  bool any = sys::FindInPath("crun").ok() || sys::FindInPath("runc").ok();
  EXPECT_EQ(a.available, any) << a.reason;
}

TEST(OciBackendOptionsTest, UnknownRuntimeIsInvalid) {
  EXPECT_EQ(CreateOciBackend({.runtime = "docker"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kavach::internal
