// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Tests of the Process backend through the Backend interface (the sandbox
// layer and the adversarial suite test it through the public API).
#include "backend/process/process_backend.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "backend/process/root_template.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/policy.h"
#include "linux/cgroup.h"
#include "linux/file_util.h"
#include "linux/testing/run_in_child.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Backend> Prepared(const SandboxPolicy& policy, PrepareReport* report,
                                  absl::Status* status = nullptr) {
  SandboxConfig config;
  config.policy = policy;
  auto backend = CreateProcessBackend();
  EXPECT_TRUE(backend.ok());
  absl::Status s = (*backend)->Prepare(config, report);
  if (status != nullptr) {
    *status = s;
    return s.ok() ? std::move(*backend) : nullptr;
  }
  EXPECT_TRUE(s.ok()) << s;
  return s.ok() ? std::move(*backend) : nullptr;
}

BackendExecRequest Request(std::vector<std::string> argv) {
  BackendExecRequest r;
  r.argv = std::move(argv);
  r.env = {"PATH=/usr/bin:/bin", "HOME=/work", "LANG=C.UTF-8"};
  r.cwd = "/work";
  r.timeout = absl::Seconds(20);
  return r;
}

int VerifiedPoints(const PrepareReport& report) {
  int total = 0;
  for (const Evidence& e : report.evidence) {
    if (e.verified) total += e.points;
  }
  return total;
}

// init empties the bounding set once and every command inherits it: each
// command, not only the probe, must show no capability in any set, also the
// second and later execs of a sandbox.
TEST(ProcessBackendTest, EveryCommandHasNoCapabilityInAnySet) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Strict(), &report);
  ASSERT_NE(backend, nullptr);
  for (int i = 0; i < 3; ++i) {
    auto r = backend->Exec(Request({"/bin/sh", "-c", "grep ^Cap /proc/self/status"}));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->exit_code, 0) << r->stderr_data;
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
      EXPECT_THAT(r->stdout_data, HasSubstr(std::string(set) + ":\t0000000000000000"))
          << r->stdout_data;
    }
  }
}

TEST(ProcessBackendTest, StrictRunsShellAndVerifiesEveryControl) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Strict(), &report);
  ASSERT_NE(backend, nullptr);
  for (const Evidence& e : report.evidence) {
    EXPECT_TRUE(e.verified || e.points == 0) << e.control << ": " << e.detail;
  }
  // Fully verified: exactly the declared score of the original's table.
  EXPECT_EQ(VerifiedPoints(report), 69);
  for (const SetupStep& step : report.steps) {
    std::cerr << step.name << " " << absl::FormatDuration(step.duration) << "\n";
  }
  auto r = backend->Exec(Request({"/bin/sh", "-c", "echo hello; id -u; hostname; pwd"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
  EXPECT_EQ(r->stdout_data, "hello\n1000\nkavach\n/work\n");
  EXPECT_TRUE(backend->Destroy().ok());
}

// Without clone3 (gVisor's runsc, kernels before 5.3) init is made with
// clone(2): here a seccomp filter in a child process makes clone3 ENOSYS.
TEST(ProcessBackendTest, WorksWhereClone3IsMissing) {
  std::string err = ::kavach::test_support::RunInChild([]() -> std::string {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
      return "cannot install the test's seccomp filter";
    }
    if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) return "clone3 still works";
    SandboxConfig config;
    config.policy = SandboxPolicy::Strict();
    absl::StatusOr<std::unique_ptr<Backend>> backend = CreateProcessBackend();
    if (!backend.ok()) return std::string(backend.status().message());
    PrepareReport report;
    if (absl::Status s = (*backend)->Prepare(config, &report); !s.ok()) {
      return absl::StrCat("prepare: ", s.ToString());
    }
    absl::StatusOr<ExecResult> r = (*backend)->Exec(Request({"/bin/sh", "-c", "echo fallback"}));
    if (!r.ok()) return absl::StrCat("exec: ", r.status().ToString());
    if (r->stdout_data != "fallback\n") return "unexpected output: " + r->stdout_data;
    if (absl::Status s = (*backend)->Destroy(); !s.ok()) return "destroy: " + s.ToString();
    return "";
  });
  EXPECT_EQ(err, "");
}

// This process's direct children with their name and resident memory.
struct Child {
  pid_t pid;
  std::string comm;
  long rss_kib;
};
std::vector<Child> Children() {
  std::vector<Child> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream list(task.path() / "children");
    pid_t pid;
    while (list >> pid) {
      Child c{pid, "", -1};
      std::ifstream comm(absl::StrCat("/proc/", pid, "/comm"));
      std::getline(comm, c.comm);
      std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
      for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmRSS:", 0) == 0) c.rss_kib = std::stol(line.substr(6));
      }
      out.push_back(c);
    }
  }
  return out;
}

// Init is kavach-init, exec'd from the library (init_exec.h), so it holds
// none of the caller's memory: with 64 MiB of touched heap here, init's
// resident set stays small. The fallback (init cloned from this process,
// ProcessBackendOptions::init_in_process) shows the difference: its init
// maps the caller's heap. Both verify every control.
TEST(ProcessBackendTest, InitIsKavachInitAndHoldsNoneOfTheCallersMemory) {
  constexpr size_t kBallast = 64 << 20;
  std::vector<char> ballast(kBallast);
  for (size_t i = 0; i < kBallast; i += 4096) ballast[i] = 1;
  for (bool in_process : {false, true}) {
    SCOPED_TRACE(in_process ? "init cloned from the caller" : "init exec'd");
    ProcessBackendOptions options;
    options.init_in_process = in_process;
    auto backend = CreateProcessBackend(options);
    ASSERT_TRUE(backend.ok());
    SandboxConfig config;
    config.policy = SandboxPolicy::Strict();
    PrepareReport report;
    absl::Status s = (*backend)->Prepare(config, &report);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(VerifiedPoints(report), 69);
    auto r = (*backend)->Exec(Request({"/bin/sh", "-c", "grep ^Cap /proc/self/status; echo ok"}));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_THAT(r->stdout_data, HasSubstr("CapAmb:\t0000000000000000\nok\n"));
    std::vector<Child> children = Children();
    ASSERT_EQ(children.size(), 1u) << "init should be this process's only child";
    if (in_process) {
      EXPECT_NE(children[0].comm, "kavach-init");
      EXPECT_GE(children[0].rss_kib, static_cast<long>(kBallast >> 10));
    } else {
      EXPECT_EQ(children[0].comm, "kavach-init");
      EXPECT_LT(children[0].rss_kib, 16 << 10) << "init holds the caller's memory";
    }
    EXPECT_TRUE((*backend)->Destroy().ok());
  }
  EXPECT_TRUE(InitExecInUse()) << "an exec'd init failed and this process fell back";
}

// A policy past init's fixed limit of 1024 root steps (exec'd or cloned,
// init keeps one fd per step in a table): 1100 read-only binds. Refused
// before anything is made, as InvalidArgument naming the field, nothing
// left behind, and the next sandbox still gets the exec'd kavach-init.
TEST(ProcessBackendTest, PlanPastInitsLimitsIsAClearErrorAndAffectsOnlyThatSandbox) {
  char tmpl[] = "/tmp/kavach_many_binds.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  SandboxConfig config;
  config.policy = SandboxPolicy::Basic();
  for (int i = 0; i < 1100; ++i) {
    std::string path = absl::StrCat(dir, "/f", i);
    ASSERT_TRUE(sys::WriteFile(path, "x").ok());
    config.policy.filesystem.read_only.push_back(path);
  }
  {
    auto backend = CreateProcessBackend();
    ASSERT_TRUE(backend.ok());
    PrepareReport report;
    absl::Status s = (*backend)->Prepare(config, &report);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_THAT(s.message(), HasSubstr("filesystem: the root needs 11")) << s;
    EXPECT_THAT(s.message(), HasSubstr("1100 of them the policy's paths")) << s;
    EXPECT_THAT(s.message(), HasSubstr("at most 1024")) << s;
    EXPECT_TRUE((*backend)->Destroy().ok());
  }
  EXPECT_TRUE(Children().empty()) << "an init of the refused sandbox is left";
  EXPECT_TRUE(InitExecInUse()) << "one oversized plan turned the exec'd init off";
  PrepareReport report;
  auto next = Prepared(SandboxPolicy::Basic(), &report);
  ASSERT_NE(next, nullptr);
  std::vector<Child> children = Children();
  ASSERT_EQ(children.size(), 1u);
  EXPECT_EQ(children[0].comm, "kavach-init");
  EXPECT_TRUE(next->Destroy().ok());
  (void)!std::system(("rm -rf " + dir).c_str());
}

TEST(ProcessBackendTest, RepeatedExecsReuseTheSandbox) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Strict(), &report);
  ASSERT_NE(backend, nullptr);
  auto w = backend->Exec(Request({"/bin/sh", "-c", "echo data > /work/f"}));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->exit_code, 0) << w->stderr_data;
  auto r = backend->Exec(Request({"cat", "/work/f"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "data\n");
}

TEST(ProcessBackendTest, MissingCommandIs127) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Basic(), &report);
  ASSERT_NE(backend, nullptr);
  auto r = backend->Exec(Request({"no-such-command-kavach"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 127);
  EXPECT_THAT(r->stderr_data, HasSubstr("No such file"));
}

TEST(ProcessBackendTest, TimeoutKillsTheWholeTree) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Basic(), &report);
  ASSERT_NE(backend, nullptr);
  auto req = Request({"/bin/sh", "-c", "(sleep 100 &) ; sleep 100"});
  req.timeout = absl::Milliseconds(300);
  auto r = backend->Exec(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->signal, SIGKILL);
  // Nothing of that exec is left: no sleep anywhere in the sandbox.
  auto ls = backend->Exec(Request({"/bin/sh", "-c", "cat /proc/[0-9]*/comm"}));
  ASSERT_TRUE(ls.ok()) << ls.status();
  EXPECT_THAT(ls->stdout_data, HasSubstr("sh\n"));
  EXPECT_THAT(ls->stdout_data, ::testing::Not(HasSubstr("sleep")));
}

TEST(ProcessBackendTest, StdinAndOutputCap) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Basic(), &report);
  ASSERT_NE(backend, nullptr);
  auto req = Request({"cat"});
  req.stdin_data = std::string(100000, 'x');
  req.max_output_bytes = 1000;
  auto r = backend->Exec(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data.size(), 1000u);
  EXPECT_TRUE(r->stdout_truncated);
  EXPECT_EQ(r->exit_code, 0);
}

// Counts cgroup directories this process made (their names start with our
// pid) in every hierarchy.
int OurCgroupDirs() {
  std::string prefix = std::to_string(getpid()) + "-";
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator("/sys/fs/cgroup", ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory(ec) && it->path().filename().string().rfind(prefix, 0) == 0) ++n;
    if (it.depth() > 6) it.disable_recursion_pending();
  }
  return n;
}

TEST(ProcessBackendTest, DestroyLeavesNoProcessAndNoCgroup) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Strict(), &report);
  ASSERT_NE(backend, nullptr);
  if (geteuid() == 0) {
    EXPECT_GT(OurCgroupDirs(), 0);
  }
  auto r = backend->Exec(Request({"/bin/sh", "-c", "sleep 1000 & echo started"}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(backend->Destroy().ok());
  // init was our only child: after Destroy there is none left to reap.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(OurCgroupDirs(), 0);
}

// Processes in the pids-hierarchy cgroups named after `owner`.
int ProcessesInCgroupsOf(pid_t owner) {
  std::string prefix = std::to_string(owner) + "-";
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/fs/cgroup/pids/kavach", ec)) {
    if (e.path().filename().string().rfind(prefix, 0) != 0) continue;
    std::ifstream procs(e.path() / "cgroup.procs");
    std::string line;
    while (std::getline(procs, line)) ++n;
  }
  return n;
}

TEST(ProcessBackendTest, KillingTheHostProcessLeavesNothingRunning) {
  if (geteuid() != 0 || !std::filesystem::exists("/sys/fs/cgroup/pids")) {
    GTEST_SKIP() << "needs the v1 pids hierarchy and root to observe the sandbox's cgroup";
  }
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t host = fork();
  ASSERT_GE(host, 0);
  if (host == 0) {
    SandboxConfig config;
    config.policy = SandboxPolicy::Strict();
    auto backend = CreateProcessBackend();
    PrepareReport report;
    if (!backend.ok() || !(*backend)->Prepare(config, &report).ok()) _exit(1);
    auto spawned = (*backend)->Spawn(Request({"/bin/sh", "-c", "sleep 1000 & sleep 1000"}));
    if (!spawned.ok()) _exit(2);
    (void)!write(ready[1], "r", 1);
    for (;;) pause();
  }
  close(ready[1]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1) << "the host child could not start a sandbox";
  EXPECT_GE(ProcessesInCgroupsOf(host), 3);  // init, reaper, sh, sleeps
  ASSERT_EQ(kill(host, SIGKILL), 0);
  ASSERT_EQ(waitpid(host, nullptr, 0), host);
  // init sees its control socket close and takes the whole sandbox down.
  int left = -1;
  for (int i = 0; i < 200 && left != 0; ++i) {
    left = ProcessesInCgroupsOf(host);
    if (left != 0) usleep(50 * 1000);
  }
  EXPECT_EQ(left, 0) << "sandbox processes outlived their host";
  // Its cgroups are stale now (owner dead) and are removed, by this call or
  // by another kavach process's first Prepare (ctest runs tests in parallel).
  absl::StatusOr<int> removed = sys::RemoveStaleCgroups();
  ASSERT_TRUE(removed.ok()) << removed.status();
  std::string prefix = std::to_string(host) + "-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/fs/cgroup/pids/kavach", ec)) {
    EXPECT_NE(e.path().filename().string().rfind(prefix, 0), 0u) << e.path() << " was left";
  }
}

// The VMM jail's /dev/kvm: a device node bound in by option is there and
// usable (opened read-write under Landlock's ioctl-on-device rule, with the
// node's group as the sandbox's gid, as the microVM backend does as root);
// without the option it is not; a path that is not a character device
// under /dev is refused before anything is built.
TEST(ProcessBackendTest, DeviceNodesByOptionAreBoundAndUsable) {
  for (const std::string& bad : {std::string("/etc/passwd"), std::string("/dev/../etc/passwd"),
                                 std::string("/dev/nonexistent-kavach")}) {
    auto backend = CreateProcessBackend({.device_nodes = {bad}});
    ASSERT_TRUE(backend.ok());
    SandboxConfig config;
    config.policy = SandboxPolicy::Basic();
    PrepareReport report;
    absl::Status s = (*backend)->Prepare(config, &report);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("device node " + bad)) << s;
  }

  struct stat kvm;
  if (::stat("/dev/kvm", &kvm) != 0 || !S_ISCHR(kvm.st_mode)) {
    GTEST_SKIP() << "no /dev/kvm on this host to bind";
  }
  if (::geteuid() != 0 && ::access("/dev/kvm", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "/dev/kvm is not usable by this (unprivileged) user";
  }
  std::string home = absl::StrCat(::testing::TempDir(), "/kavach-devnode-", ::getpid());
  ASSERT_EQ(::mkdir(home.c_str(), 0700), 0);
  SandboxConfig config;
  config.policy = SandboxPolicy::Basic();
  config.policy.filesystem.landlock = true;
  if (::geteuid() == 0) {
    config.policy.uid = 65534;
    config.policy.gid = kvm.st_gid;
    ASSERT_EQ(::chown(home.c_str(), 65534, kvm.st_gid), 0);
    config.host_workdir = home;
  }
  // KVM_GET_API_VERSION (_IO(0xAE, 0)): the first ioctl a VMM makes; it is
  // 12 on every kernel since 2.6.22.
  const char* probe =
      "import fcntl, os; fd = os.open('/dev/kvm', os.O_RDWR); print('api', fcntl.ioctl(fd, "
      "0xAE00))";
  {
    auto backend = CreateProcessBackend({.device_nodes = {"/dev/kvm"}});
    ASSERT_TRUE(backend.ok());
    PrepareReport report;
    absl::Status s = (*backend)->Prepare(config, &report);
    ASSERT_TRUE(s.ok()) << s;
    auto r = (*backend)->Exec(Request({"/usr/bin/python3", "-c", probe}));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
    EXPECT_EQ(r->stdout_data, "api 12\n") << r->stderr_data;
    ASSERT_TRUE((*backend)->Destroy().ok());
  }
  {
    auto backend = CreateProcessBackend();
    ASSERT_TRUE(backend.ok());
    PrepareReport report;
    ASSERT_TRUE((*backend)->Prepare(config, &report).ok());
    auto r = (*backend)->Exec(Request({"/bin/sh", "-c", "test -e /dev/kvm || echo absent"}));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stdout_data, "absent\n") << r->stderr_data;
    ASSERT_TRUE((*backend)->Destroy().ok());
  }
  ::rmdir(home.c_str());
}

}  // namespace
}  // namespace kavach::internal

namespace kavach::internal {
namespace {

// What a command sees of its root: names, types and modes (not owners: the
// shared part of a template is owned by host root, unmapped inside, where a
// step-by-step build makes it the sandbox user's), the generated files, and
// which writes work.
constexpr char kDescribeRoot[] =
    "cd / && for p in / /bin /etc /etc/passwd /etc/hosts /etc/hostname /etc/ld.so.cache /dev "
    "/dev/null /dev/shm /dev/fd /proc /tmp /work /usr/bin/sh; do stat -c '%n %F %a' $p; done; "
    "ls -A / /etc /dev | tr '\\n' ' '; echo; cat /etc/passwd /etc/hosts; "
    "stat -c '%n %U' /tmp /work /dev/shm; "
    "touch /x 2>&1 | sed 's/.*: //'; touch /etc/x 2>&1 | sed 's/.*: //'; "
    "touch /usr/x 2>&1 | sed 's/.*: //'; "
    "touch /tmp/x /work/x /dev/shm/x && echo writable; echo data > /dev/null && echo null-ok";

std::string Describe(Backend* backend) {
  auto r = backend->Exec(Request({"/bin/sh", "-c", kDescribeRoot}));
  if (!r.ok()) return r.status().ToString();
  return absl::StrCat(r->stdout_data, r->stderr_data, "exit ", r->exit_code);
}

bool RootFromTemplate(const PrepareReport& report) {
  for (const Evidence& e : report.evidence) {
    if (e.control == "pivot_root") return e.detail.find("root template") != std::string::npos;
  }
  return false;
}

TEST(ProcessBackendTest, RootTemplateGivesTheSameRootAsAStepByStepBuild) {
  if (::geteuid() != 0) GTEST_SKIP() << "root templates need root (the host's mount namespace)";
  RootTemplateCache::Global().Clear();
  PrepareReport first_report;
  auto first = Prepared(SandboxPolicy::Strict(), &first_report);
  ASSERT_NE(first, nullptr);
  EXPECT_FALSE(RootFromTemplate(first_report)) << "a template on first sight";
  const std::string step_by_step = Describe(first.get());
  EXPECT_THAT(step_by_step, HasSubstr("writable\nnull-ok\nexit 0")) << step_by_step;
  EXPECT_THAT(step_by_step, HasSubstr("/etc/passwd regular file 644")) << step_by_step;
  EXPECT_TRUE(first->Destroy().ok());

  PrepareReport second_report;
  auto second = Prepared(SandboxPolicy::Strict(), &second_report);
  ASSERT_NE(second, nullptr);
  if (!RootFromTemplate(second_report)) {
    GTEST_SKIP() << "this kernel builds no root template (needs the new mount API with moves "
                    "onto detached trees, Linux 6.15+)";
  }
  EXPECT_EQ(VerifiedPoints(second_report), VerifiedPoints(first_report));
  EXPECT_EQ(Describe(second.get()), step_by_step);

  // Two sandboxes from one template share nothing writable.
  PrepareReport third_report;
  auto third = Prepared(SandboxPolicy::Strict(), &third_report);
  ASSERT_NE(third, nullptr);
  EXPECT_TRUE(RootFromTemplate(third_report));
  auto w = second->Exec(Request({"/bin/sh", "-c", "echo s > /tmp/s && echo s > /work/s"}));
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->exit_code, 0) << w->stderr_data;
  auto r = third->Exec(Request({"/bin/sh", "-c", "ls -A /tmp /work"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "/tmp:\n\n/work:\n") << "one sandbox sees another's files";
  EXPECT_TRUE(second->Destroy().ok());
  EXPECT_TRUE(third->Destroy().ok());
}

}  // namespace
}  // namespace kavach::internal
