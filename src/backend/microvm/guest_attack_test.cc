// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The core adversarial suite's file, network, process and resource attacks
// (tests/adversarial/attack.cc, the kavach_attack helper) run inside a booted
// guest under the strict policy (QEMU; TCG here). The syscall attacks run in
// microvm_backend_test.cc (BootedVm.AdversarialAttacksAreBlockedInsideTheGuest).
// The helper reaches the guest through the working directory.
//
// Each ctest process boots one VM (seconds under TCG), so the attacks are
// grouped into three test cases. Each attack has a control that shows it
// would notice an escape: the same attack where the boundary does not apply
// (a path that IS shared, the working directory, the helper run on the host)
// succeeds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adversarial/test_support.h"
#include "backend/microvm/microvm_backend.h"
#include "gtest/gtest.h"
#include "guest/protocol.h"
#include "kavach/sandbox.h"

namespace kavach::internal {
namespace {

using ::kavach::testing::AttackOutcome;
using ::kavach::testing::AttackPath;
using ::kavach::testing::DescribeResult;
using ::kavach::testing::HostPathExists;
using ::kavach::testing::HostPidsWithCmdline;
using ::kavach::testing::ParseAttack;
using ::kavach::testing::ReadHostFile;
using ::kavach::testing::UniqueToken;
using ::kavach::testing::WriteHostFile;

#define EXPECT_BLOCKED(o) EXPECT_TRUE((o).blocked()) << (o).Describe()

// A host directory outside every share (/var/tmp: not the guest's /tmp, not
// the build tree), removed with its contents.
std::string HostDir(mode_t mode) {
  std::string t = "/var/tmp/kavach-gattack-XXXXXX";
  if (::mkdtemp(t.data()) == nullptr) return "";
  ::chmod(t.c_str(), mode);
  return t;
}

void RemoveAll(const std::string& dir) {
  std::error_code ec;
  if (!dir.empty()) std::filesystem::remove_all(dir, ec);
}

// The helper run directly on the host (the controls: the attack itself
// works when nothing stands in its way).
AttackOutcome OnHost(const std::vector<std::string>& args) {
  std::string cmd = AttackPath();
  for (const std::string& a : args) cmd += " '" + a + "'";
  ExecResult r;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.stdout_data.append(buf, n);
    int status = ::pclose(f);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return ParseAttack(r);
}

class GuestAttack : public ::testing::Test {
 public:  // the attack helpers below call Run, Guest and Attack
  static void SetUpTestSuite() {
    BackendAvailability a = ProbeMicroVm();
    if (!a.available) {
      skip_ = new std::string(a.reason);
      return;
    }
    if (::geteuid() != 0) {
      skip_ = new std::string("the setuid and host-process checks need root");
      return;
    }
    if (::access(AttackPath().c_str(), X_OK) != 0) {
      skip_ = new std::string("kavach_attack is not built beside this test");
      return;
    }
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend({.vmm = "qemu"});
    if (!b.ok()) {
      skip_ = new std::string(b.status().ToString());
      return;
    }
    workdir_ = new std::string(HostDir(0777));
    shared_ = new std::string(HostDir(0755));
    // The helper travels in the working directory; a setuid-root copy too
    // (9p shows the guest the host's owner and mode bits).
    std::error_code ec;
    std::filesystem::copy_file(AttackPath(), *workdir_ + "/kavach_attack", ec);
    std::filesystem::copy_file(AttackPath(), *workdir_ + "/kavach_attack_suid", ec);
    (void)::chown((*workdir_ + "/kavach_attack_suid").c_str(), 0, 0);
    ::chmod((*workdir_ + "/kavach_attack_suid").c_str(), 04755);
    WriteHostFile(*shared_ + "/visible.txt", "SHARED-CONTROL\n", 0644);
    // An fd of the host without O_CLOEXEC, open while the VM boots.
    inherited_fd_ = ::open((*shared_ + "/visible.txt").c_str(), O_RDONLY);

    config_ = new SandboxConfig();
    config_->backend = BackendKind::kFirecracker;
    config_->policy = SandboxPolicy::Strict();
    config_->policy.filesystem.read_only.push_back(*shared_);
    config_->host_workdir = *workdir_;
    PrepareReport report;
    prepare_ = new absl::Status((*b)->Prepare(*config_, &report));
    for (const Evidence& e : report.evidence) evidence_.push_back(e);
    backend_ = b->release();
  }
  static void TearDownTestSuite() {
    if (backend_ != nullptr) {
      (void)backend_->Destroy();
      delete backend_;
      backend_ = nullptr;
    }
    if (inherited_fd_ >= 0) ::close(inherited_fd_);
    if (workdir_ != nullptr) RemoveAll(*workdir_);
    if (shared_ != nullptr) RemoveAll(*shared_);
  }
  void SetUp() override {
    if (skip_ != nullptr) GTEST_SKIP() << "microvm cannot run here: " << *skip_;
    ASSERT_TRUE(prepare_->ok()) << *prepare_;
  }

  static const SandboxPolicy& policy() { return config_->policy; }
  static std::string Guest(const std::string& name) {
    return policy().working_directory + "/" + name;
  }
  static absl::StatusOr<ExecResult> Run(std::vector<std::string> argv,
                                        absl::Duration timeout = absl::Seconds(60)) {
    BackendExecRequest r;
    r.argv = std::move(argv);
    r.env = {"PATH=/usr/bin:/bin"};
    r.cwd = policy().working_directory;
    r.timeout = timeout;
    return backend_->Exec(r);
  }
  static AttackOutcome Attack(std::vector<std::string> args,
                              absl::Duration timeout = absl::Seconds(60),
                              const std::string& binary = "kavach_attack") {
    std::string mode = args[0];
    args.insert(args.begin(), Guest(binary));
    absl::StatusOr<ExecResult> r = Run(args, timeout);
    AttackOutcome o;
    if (!r.ok()) {
      o.verdict = "exec-failed";
      o.detail = r.status().ToString();
    } else {
      o = ParseAttack(*r);
    }
    std::printf("    [microvm] %s: %s %s\n", mode.c_str(), o.verdict.c_str(), o.detail.c_str());
    return o;
  }
  // The guest still runs commands.
  static void ExpectGuestAnswers() {
    absl::StatusOr<ExecResult> r = Run({Guest("kavach_attack"), "uname"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(ParseAttack(*r).verdict, "info") << DescribeResult(*r);
  }

  static inline std::string* skip_ = nullptr;
  static inline SandboxConfig* config_ = nullptr;
  static inline absl::Status* prepare_ = nullptr;
  static inline Backend* backend_ = nullptr;
  static inline std::string* workdir_ = nullptr;
  static inline std::string* shared_ = nullptr;
  static inline int inherited_fd_ = -1;
  static inline std::vector<Evidence> evidence_;
};

// ---- files ----

void ReadHostFiles() {
  std::string secret_dir = HostDir(0755);
  ASSERT_FALSE(secret_dir.empty());
  std::string secret = secret_dir + "/secret.txt";
  ASSERT_TRUE(WriteHostFile(secret, "TOP-SECRET\n", 0644));
  std::vector<std::string> args = {"read", secret, secret_dir, "/etc/shadow", "/etc/gshadow"};
  for (const char* dir : {"/root", "/home", "/var"}) {
    std::error_code ec;
    int taken = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (taken++ == 4) break;
      args.push_back(entry.path().string());
    }
  }
  AttackOutcome o = GuestAttack::Attack(args);
  RemoveAll(secret_dir);
  EXPECT_BLOCKED(o);
  EXPECT_EQ(o.result.stdout_data.find("TOP-SECRET"), std::string::npos);
}

TEST_F(GuestAttack, FileNetworkAndProcessAttacksAreBlocked) {
  {
    SCOPED_TRACE("read: host files outside the allowed paths");
    ReadHostFiles();
    // Control: the same read of the shared directory's file gets through.
    AttackOutcome c = Attack({"read", *shared_ + "/visible.txt"});
    EXPECT_TRUE(c.escaped()) << c.Describe();
    EXPECT_NE(c.detail.find("SHARED-CONTROL"), std::string::npos) << c.Describe();
  }
  {
    SCOPED_TRACE("write: outside the working directory");
    std::string name = UniqueToken("kavach-gattack-write");
    std::string host_dir = HostDir(0777);  // writable by anyone, not shared
    ASSERT_FALSE(host_dir.empty());
    const std::string usr_true = ReadHostFile("/usr/bin/true");
    const std::string passwd = ReadHostFile("/etc/passwd");
    std::vector<std::string> paths = {"/usr/" + name, "/usr/bin/" + name,    "/bin/" + name,
                                      "/lib/" + name, *shared_ + "/" + name, host_dir + "/" + name,
                                      "/" + name,     "/etc/" + name,        "=/usr/bin/true",
                                      "=/etc/passwd"};
    std::vector<std::string> args = {"write"};
    args.insert(args.end(), paths.begin(), paths.end());
    AttackOutcome o = Attack(args);
    EXPECT_BLOCKED(o);
    for (const std::string& p :
         {"/usr/" + name, "/usr/bin/" + name, "/bin/" + name, "/lib/" + name, *shared_ + "/" + name,
          host_dir + "/" + name, "/" + name, "/etc/" + name}) {
      EXPECT_FALSE(HostPathExists(p)) << "created on the host: " << p;
      ::unlink(p.c_str());
    }
    EXPECT_EQ(ReadHostFile("/usr/bin/true"), usr_true);
    EXPECT_EQ(ReadHostFile("/etc/passwd"), passwd);
    RemoveAll(host_dir);
    // Control: the working directory is written, and the host sees it.
    AttackOutcome c = Attack({"write", Guest(name)});
    EXPECT_TRUE(c.escaped()) << c.Describe();
    EXPECT_EQ(ReadHostFile(*workdir_ + "/" + name), "kavach-adversarial\n");
  }
  {
    SCOPED_TRACE("tmpwrite: /tmp is private");
    std::string name = UniqueToken("kavach-gattack-tmp");
    AttackOutcome o = Attack({"tmpwrite", name});
    ASSERT_EQ(o.verdict, "info") << o.Describe();  // written inside: the control
    EXPECT_FALSE(HostPathExists("/tmp/" + name));
    EXPECT_FALSE(HostPathExists("/var/tmp/" + name));
  }
  {
    SCOPED_TRACE("euid: a setuid-root binary gains nothing");
    // Control: on the host, uid 65534 running the copy becomes euid 0.
    std::string copy = *workdir_ + "/kavach_attack_suid";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
          ::setresuid(65534, 65534, 65534) != 0) {
        ::_exit(100);
      }
      ::execl(copy.c_str(), copy.c_str(), "euid", nullptr);
      ::_exit(101);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 1) << "the setuid copy does not escalate on the host";
    // The guest sees the copy setuid, but owned by 65534: the VMM's jail
    // maps no host root, so 9p shows root's files (/usr/bin/su too) as the
    // overflow uid and no setuid-root file exists inside. The bit would
    // still make the command euid 65534: it must stay the policy's uid
    // (no_new_privs / nosuid).
    absl::StatusOr<ExecResult> ls = Run({"/bin/ls", "-ln", Guest("kavach_attack_suid")});
    ASSERT_TRUE(ls.ok()) << ls.status();
    EXPECT_TRUE(absl::StartsWith(ls->stdout_data, "-rws")) << ls->stdout_data;
    AttackOutcome o = Attack({"euid"}, absl::Seconds(60), "kavach_attack_suid");
    EXPECT_BLOCKED(o);
    EXPECT_NE(o.detail.find(absl::StrCat("euid=", policy().uid, " ")), std::string::npos)
        << o.Describe();
    EXPECT_BLOCKED(Attack({"euid"}));
  }
  {
    SCOPED_TRACE("fds: no host or agent fd reaches the command");
    ASSERT_GE(inherited_fd_, 0);
    int before_exec = ::open((*shared_ + "/visible.txt").c_str(), O_RDONLY);
    ASSERT_GE(before_exec, 0);
    int high = ::fcntl(before_exec, F_DUPFD, 1000);
    ASSERT_GE(high, 1000);
    AttackOutcome o = Attack({"fds"});
    ::close(before_exec);
    ::close(high);
    EXPECT_BLOCKED(o);
    EXPECT_EQ(o.result.stdout_data.find("SHARED-CONTROL"), std::string::npos);
    // Control: an fd the command's shell opens is seen.
    absl::StatusOr<ExecResult> r =
        Run({"/bin/sh", "-c",
             "exec 7<" + Guest("kavach_attack") + "; exec " + Guest("kavach_attack") + " fds"});
    ASSERT_TRUE(r.ok()) << r.status();
    AttackOutcome c = ParseAttack(*r);
    EXPECT_TRUE(c.escaped()) << c.Describe();
  }
  {
    SCOPED_TRACE("connect: the host's TCP listener (network none)");
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(listener, 8), 0);
    socklen_t len = sizeof sa;
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len), 0);
    std::string port = std::to_string(ntohs(sa.sin_port));
    std::vector<std::string> args = {"connect", "127.0.0.1", port, "10.0.2.2", port};
    ifaddrs* addrs = nullptr;
    if (::getifaddrs(&addrs) == 0) {
      for (ifaddrs* a = addrs; a != nullptr; a = a->ifa_next) {
        if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
        char ip[INET_ADDRSTRLEN];
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, ip, sizeof ip);
        if (std::string(ip) == "127.0.0.1") continue;
        args.push_back(ip);
        args.push_back(port);
      }
      ::freeifaddrs(addrs);
    }
    EXPECT_BLOCKED(Attack(args));
    int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_LT(accepted, 0) << "the host listener accepted a connection from the guest";
    if (accepted >= 0) ::close(accepted);
    // Control: the helper on the host reaches it.
    AttackOutcome c = OnHost({"connect", "127.0.0.1", port});
    EXPECT_TRUE(c.escaped()) << c.Describe();
    ::close(listener);
  }
  {
    SCOPED_TRACE("unixconnect: a host abstract socket, and the agent's");
    std::string name = UniqueToken("kavach-gattack-abstract");
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ASSERT_GE(listener, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path + 1, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&sa), len), 0);
    ASSERT_EQ(::listen(listener, 8), 0);
    EXPECT_BLOCKED(Attack({"unixconnect", name}));
    // The agent listens on this name in the guest's initial network
    // namespace (see microvm-backend.md, landlock.scopes).
    EXPECT_BLOCKED(Attack({"unixconnect", guest::kAgentAbstractSocket}));
    int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_LT(accepted, 0);
    if (accepted >= 0) ::close(accepted);
    AttackOutcome c = OnHost({"unixconnect", name});  // control
    EXPECT_TRUE(c.escaped()) << c.Describe();
    ::close(listener);
  }
  {
    SCOPED_TRACE("hostproc: host processes are neither seen nor signalled");
    std::string marker = UniqueToken("kavach-gattack-victim");
    pid_t victim = ::fork();
    ASSERT_GE(victim, 0);
    if (victim == 0) {
      int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execl("/bin/sleep", marker.c_str(), "1000", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    struct Reaper {
      pid_t pid;
      ~Reaper() {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    } reaper{victim};
    for (int i = 0; i < 200 && HostPidsWithCmdline(marker).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_FALSE(HostPidsWithCmdline(marker).empty()) << "victim did not start";
    std::string reversed(marker.rbegin(), marker.rend());
    AttackOutcome o =
        Attack({"hostproc", std::to_string(victim), reversed, std::to_string(victim)});
    AttackOutcome self = Attack({"hostproc", std::to_string(::getpid()), reversed});
    // The guest's /proc is mounted hidepid=2: the command sees its own
    // processes only (not the agent, not the kernel's threads), so the
    // helper's heuristic (more than 16 visible processes: "the host's /proc")
    // holds as well as the direct checks.
    for (const AttackOutcome* a : {&o, &self}) {
      EXPECT_BLOCKED(*a);
      EXPECT_EQ(a->detail.find("ESCAPED:saw-host-process"), std::string::npos) << a->Describe();
      EXPECT_EQ(a->detail.find("ESCAPED:kill(hostpid,0)"), std::string::npos) << a->Describe();
    }
    int status = 0;
    EXPECT_EQ(::waitpid(victim, &status, WNOHANG), 0) << "the host victim was killed from inside";
    // Control: the helper on the host sees the victim.
    AttackOutcome c = OnHost({"hostproc", std::to_string(victim), reversed});
    EXPECT_NE(c.detail.find("ESCAPED:saw-host-process"), std::string::npos) << c.Describe();
  }
  {
    SCOPED_TRACE("hostname: a change is invisible to the host");
    utsname before{};
    ASSERT_EQ(::uname(&before), 0);
    AttackOutcome o = Attack({"hostname", "kavach-pwned"});
    EXPECT_BLOCKED(o);
    utsname after{};
    ASSERT_EQ(::uname(&after), 0);
    EXPECT_STREQ(after.nodename, before.nodename);
    // The guest has a name of its own (not the host's).
    EXPECT_NE(o.detail.find("nodename=kavach-"), std::string::npos) << o.Describe();
    EXPECT_EQ(o.detail.find(absl::StrCat("nodename=", before.nodename, " ")), std::string::npos);
  }
}

// ---- resources ----

TEST_F(GuestAttack, ForkBombAndMemoryHogAreBoundedAndTheGuestAnswers) {
  {
    SCOPED_TRACE("forkbomb: bounded by the pids limit");
    ASSERT_TRUE(policy().limits.max_pids.has_value());
    AttackOutcome o = Attack({"forkbomb", "1000"});
    ASSERT_NE(o.verdict, "exec-failed") << o.detail;
    EXPECT_TRUE(o.blocked()) << o.Describe();
    EXPECT_NE(o.detail.find("fork:EAGAIN"), std::string::npos) << o.Describe();
    // The host can still fork.
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(7);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_EQ(WEXITSTATUS(status), 7);
    ExpectGuestAnswers();
    // Control: under the limit every fork succeeds (the helper counts).
    AttackOutcome c = Attack({"forkbomb", "8"});
    EXPECT_TRUE(c.escaped()) << c.Describe();
  }
  {
    SCOPED_TRACE("memhog: OOM-killed and reported");
    ASSERT_TRUE(policy().limits.memory_bytes.has_value());
    uint64_t limit_mib = *policy().limits.memory_bytes >> 20;
    AttackOutcome o = Attack({"memhog", std::to_string(2 * limit_mib)});
    ASSERT_NE(o.verdict, "exec-failed") << o.detail;
    EXPECT_TRUE(o.result.oom_killed) << o.Describe();
    EXPECT_EQ(o.result.signal, SIGKILL) << o.Describe();
    EXPECT_EQ(o.result.ShellStatus(), 128 + SIGKILL);
    EXPECT_NE(o.verdict, "escaped") << o.Describe();
    ExpectGuestAnswers();
    // Control: a small allocation completes and is not called an OOM.
    AttackOutcome c = Attack({"memhog", "16"});
    EXPECT_TRUE(c.escaped()) << c.Describe();
    EXPECT_FALSE(c.result.oom_killed);
  }
}

// ---- process lifetime ----

// A detached grandchild (setsid, SIGTERM ignored) appending to a working
// directory file every 10 ms: nothing may survive, in the guest or on the
// host, and the file stops growing on the host.
void CheckNoSurvivor(const std::string& token, const std::string& host_file) {
  absl::StatusOr<ExecResult> ps = GuestAttack::Run({GuestAttack::Guest("kavach_attack"), "ps"});
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_EQ(ps->stdout_data.find(token), std::string::npos) << ps->stdout_data;
  EXPECT_EQ(ps->stdout_data.find("grandchild"), std::string::npos) << ps->stdout_data;
  EXPECT_TRUE(HostPidsWithCmdline(token).empty());
  auto size = [&] {
    struct stat st {};
    return ::stat(host_file.c_str(), &st) == 0 ? st.st_size : -1;
  };
  off_t first = size();
  EXPECT_GT(first, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(size(), first) << "the grandchild is still writing";
}

TEST_F(GuestAttack, GrandchildrenDieWithTheTimeoutAndWithTheCommand) {
  {
    SCOPED_TRACE("grandchild linger: dies with the timeout");
    std::string token = UniqueToken("gc-linger");
    AttackOutcome o = Attack({"grandchild", Guest(token), "linger"}, absl::Seconds(3));
    ASSERT_NE(o.verdict, "exec-failed") << o.detail;
    EXPECT_TRUE(o.result.timed_out) << o.Describe();
    EXPECT_EQ(o.result.ShellStatus(), 124);
    ASSERT_NE(o.result.stdout_data.find("GRANDCHILD started"), std::string::npos) << o.Describe();
    CheckNoSurvivor(token, *workdir_ + "/" + token);
  }
  {
    SCOPED_TRACE("grandchild exit: dies with the command");
    std::string token = UniqueToken("gc-exit");
    AttackOutcome o = Attack({"grandchild", Guest(token), "exit"});
    ASSERT_EQ(o.verdict, "info") << o.Describe();
    EXPECT_FALSE(o.result.timed_out);
    ASSERT_GT(ReadHostFile(*workdir_ + "/" + token).size(), 0u);
    CheckNoSurvivor(token, *workdir_ + "/" + token);
  }
}

}  // namespace
}  // namespace kavach::internal
