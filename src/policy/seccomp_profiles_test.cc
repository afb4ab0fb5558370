// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "policy/seccomp_profiles.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/testing/run_in_child.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

using ::kavach::test_support::RunInChild;

// Checks that a raw syscall result is -1 with `want` errno; names the call
// and what happened otherwise.
std::string ExpectErrno(const char* what, long rc, int want) {
  int err = errno;
  if (rc == -1 && err == want) return "";
  return std::string(what) + ": rc=" + std::to_string(rc) + " errno=" + strerror(err) + " (want " +
         strerror(want) + "); ";
}

std::string ExpectOk(const char* what, bool ok) {
  return ok ? "" : std::string(what) + " failed: " + strerror(errno) + "; ";
}

// clone(2) with `flags`, without a new stack (fork-like). A child that
// should not exist exits at once.
long RawClone(unsigned long flags) {
  errno = 0;
  long rc = ::syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (rc == 0) ::_exit(0);
  if (rc > 0) ::waitpid(static_cast<pid_t>(rc), nullptr, 0);
  return rc;
}

std::string Install(SeccompProfile profile, SeccompPart part = SeccompPart::kWhole) {
  absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> prog =
      SeccompProgramFor(profile, part);
  if (!prog.ok()) return "build: " + std::string(prog.status().message());
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "no_new_privs failed";
  if (int rc = (*prog)->InstallRaw(); rc != 0) return "install: " + std::string(strerror(-rc));
  return "";
}

// errno of `fn` run in a forked grandchild (for calls that would change the
// caller if they succeeded), or -1 when it succeeded.
int ErrnoInGrandchild(long (*fn)()) {
  pid_t pid = ::fork();
  if (pid == 0) {
    errno = 0;
    long rc = fn();
    ::_exit(rc == -1 ? (errno & 0x7f) : 0x80);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -2;
  return WEXITSTATUS(status) == 0x80 ? -1 : WEXITSTATUS(status);
}

std::string ExpectErrnoInGrandchild(const char* what, long (*fn)(), int want) {
  int err = ErrnoInGrandchild(fn);
  if (err == want) return "";
  return std::string(what) + ": " + (err == -1 ? std::string("succeeded") : strerror(err)) +
         " (want " + strerror(want) + "); ";
}

// Calls that every profile must deny with EPERM. Each argument is chosen so
// that, without a filter, root gets a different answer (success, ENOENT,
// EINVAL...) and nothing outside the test child changes: a test run with a
// missing filter fails instead of touching the host.
std::string CheckEscapesDenied() {
  std::string e;
  errno = 0;
  e += ExpectErrno("mount", ::mount("none", "/nonexistent-kavach", "tmpfs", 0, nullptr), EPERM);
  errno = 0;
  e += ExpectErrno("umount2", ::umount2("/nonexistent-kavach", 0), EPERM);
  e += ExpectErrnoInGrandchild(
      "unshare(CLONE_NEWUSER)", [] { return static_cast<long>(::unshare(CLONE_NEWUSER)); }, EPERM);
  // TRACEME in a grandchild that exits at once: if it were allowed, nothing
  // would ever stop under the (absent) tracer.
  e += ExpectErrnoInGrandchild(
      "ptrace(TRACEME)", [] { return ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr); }, EPERM);
  errno = 0;
  e += ExpectErrno("bpf", ::syscall(SYS_bpf, 0, nullptr, 0), EPERM);
  errno = 0;
  e += ExpectErrno("keyctl", ::syscall(SYS_keyctl, 0 /*GET_KEYRING_ID*/, -3, 0), EPERM);
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  errno = 0;
  e += ExpectErrno("perf_event_open", ::syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0), EPERM);
  errno = 0;
  e += ExpectErrno("userfaultfd", ::syscall(SYS_userfaultfd, O_CLOEXEC), EPERM);
  e += ExpectErrno("clone(CLONE_NEWNS)", RawClone(CLONE_NEWNS), EPERM);
  e += ExpectErrno("clone(CLONE_NEWUSER)", RawClone(CLONE_NEWUSER), EPERM);
  e +=
      ExpectErrno("clone(CLONE_NEWNET|CLONE_NEWPID)", RawClone(CLONE_NEWNET | CLONE_NEWPID), EPERM);
  errno = 0;
  e += ExpectErrno("clone3", ::syscall(SYS_clone3, nullptr, 0), ENOSYS);
  errno = 0;
  e += ExpectErrno("setns", ::setns(0, 0), EPERM);
  errno = 0;
  e += ExpectErrno("pivot_root",
                   ::syscall(SYS_pivot_root, "/nonexistent-kavach-a", "/nonexistent-kavach-b"),
                   EPERM);
  errno = 0;
  e += ExpectErrno("chroot", ::chroot("/nonexistent-kavach"), EPERM);
  errno = 0;
  e += ExpectErrno("fsopen", ::syscall(SYS_fsopen, "tmpfs", 0), EPERM);
  errno = 0;
  e += ExpectErrno("open_tree", ::syscall(SYS_open_tree, AT_FDCWD, "/", 0), EPERM);
  errno = 0;
  e += ExpectErrno("init_module", ::syscall(SYS_init_module, nullptr, 0, ""), EPERM);
  errno = 0;
  // Invalid flags: EINVAL for root without a filter (never an unload).
  e += ExpectErrno("kexec_load", ::syscall(SYS_kexec_load, 0, 0, nullptr, 0xdead0000UL), EPERM);
  errno = 0;
  e += ExpectErrno("open_by_handle_at", ::syscall(SYS_open_by_handle_at, AT_FDCWD, nullptr, 0),
                   EPERM);
  errno = 0;
  e += ExpectErrno("process_vm_readv",
                   ::syscall(SYS_process_vm_readv, ::getppid(), nullptr, 0, nullptr, 0, 0), EPERM);
  errno = 0;
  e += ExpectErrno("settimeofday", ::syscall(SYS_settimeofday, nullptr, nullptr), EPERM);
  errno = 0;
  // Too long a name: EINVAL for root without a filter, the host name stays.
  char name[1000] = {};
  e += ExpectErrno("sethostname", ::sethostname(name, sizeof name), EPERM);
  e += ExpectErrnoInGrandchild(
      "personality(READ_IMPLIES_EXEC)",
      [] { return static_cast<long>(::personality(READ_IMPLIES_EXEC)); }, EPERM);
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  char c = 'x';
  errno = 0;
  e += ExpectErrno("ioctl(TIOCSTI)", ::syscall(SYS_ioctl, null_fd, TIOCSTI, &c), EPERM);
  // The upper half of the request register is ignored by the kernel: the
  // filter must ignore it too.
  errno = 0;
  e += ExpectErrno("ioctl(TIOCSTI | 1<<32)",
                   ::syscall(SYS_ioctl, null_fd, (1UL << 32) | TIOCSTI, &c), EPERM);
  ::close(null_fd);
  return e;
}

// Ordinary work that every profile must leave alone.
std::string CheckOrdinaryWorks() {
  std::string e;
  e += ExpectOk("getpid", ::getpid() > 0);
  int fd = ::open("/etc/passwd", O_RDONLY | O_CLOEXEC);
  e += ExpectOk("open /etc/passwd", fd >= 0);
  char buf[16];
  e += ExpectOk("read", ::read(fd, buf, sizeof buf) > 0);
  ::close(fd);
  int p[2];
  e += ExpectOk("pipe2", ::pipe2(p, O_CLOEXEC) == 0);
  pid_t pid = ::fork();  // glibc fork = clone without namespace flags
  if (pid == 0) ::_exit(7);
  int status = 0;
  e += ExpectOk("fork+wait", pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
                                 WEXITSTATUS(status) == 7);
  // pthread_create tries clone3 first; ENOSYS must send it to clone.
  bool ran = false;
  std::thread t([&] { ran = true; });
  t.join();
  e += ExpectOk("std::thread (clone3 -> clone fallback)", ran);
  e += ExpectOk("personality(PER_LINUX)", ::personality(PER_LINUX) != -1);
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  e += ExpectOk("socket(AF_INET)", s >= 0);
  ::close(s);
  return e;
}

TEST(SeccompProfiles, NoneHasNoProgram) {
  absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> p =
      SeccompProgramFor(SeccompProfile::kNone);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(SeccompProfileSpecFor(SeccompProfile::kNone).ok());
}

TEST(SeccompProfiles, BuiltOncePerProcessAndShared) {
  for (SeccompProfile profile : {SeccompProfile::kBasic, SeccompProfile::kStrict}) {
    std::vector<const sys::SeccompProgram*> seen(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i] {
        absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> p = SeccompProgramFor(profile);
        seen[i] = p.ok() ? p->get() : nullptr;
      });
    }
    for (std::thread& t : threads) t.join();
    ASSERT_NE(seen[0], nullptr);
    for (const sys::SeccompProgram* p : seen) EXPECT_EQ(p, seen[0]);
    absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> again = SeccompProgramFor(profile);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->get(), seen[0]);
    EXPECT_GT((*again)->size(), 10u);
  }
  EXPECT_NE(SeccompProgramFor(SeccompProfile::kBasic)->get(),
            SeccompProgramFor(SeccompProfile::kStrict)->get());
}

TEST(SeccompProfiles, BasicGroupsCoverEveryEscapeFamily) {
  absl::StatusOr<SeccompProfileSpec> spec = SeccompProfileSpecFor(SeccompProfile::kBasic);
  ASSERT_TRUE(spec.ok());
  std::set<std::string> denied, conditional;
  for (const SyscallGroup& g : spec->groups) {
    EXPECT_FALSE(g.name.empty());
    EXPECT_FALSE(g.description.empty()) << g.name;
    EXPECT_NE(g.action, sys::SeccompAction::Allow()) << g.name;
    denied.insert(g.syscalls.begin(), g.syscalls.end());
    for (const ConditionalSyscall& c : g.conditional) conditional.insert(c.syscall);
  }
  for (const char* name : {"mount",
                           "umount2",
                           "fsopen",
                           "fsconfig",
                           "fsmount",
                           "fspick",
                           "move_mount",
                           "open_tree",
                           "mount_setattr",
                           "pivot_root",
                           "chroot",
                           "unshare",
                           "setns",
                           "clone3",
                           "ptrace",
                           "process_vm_readv",
                           "process_vm_writev",
                           "process_madvise",
                           "kcmp",
                           "bpf",
                           "perf_event_open",
                           "keyctl",
                           "add_key",
                           "request_key",
                           "kexec_load",
                           "kexec_file_load",
                           "init_module",
                           "finit_module",
                           "delete_module",
                           "reboot",
                           "swapon",
                           "swapoff",
                           "userfaultfd",
                           "io_uring_setup",
                           "io_uring_enter",
                           "io_uring_register",
                           "open_by_handle_at",
                           "name_to_handle_at",
                           "acct",
                           "settimeofday",
                           "clock_settime",
                           "clock_adjtime",
                           "adjtimex",
                           "sethostname",
                           "setdomainname",
                           "iopl",
                           "ioperm",
                           "quotactl",
                           "lookup_dcookie",
                           "nfsservctl",
                           "vhangup",
                           "syslog",
                           "fanotify_init",
                           "pidfd_getfd",
                           "uselib",
                           "_sysctl",
                           "vm86",
                           "mbind",
                           "migrate_pages",
                           "move_pages"}) {
    EXPECT_TRUE(denied.count(name)) << name << " missing from the basic deny-list";
  }
  EXPECT_FALSE(denied.count("seccomp")) << "stacking filters only narrows; keep it allowed";
  for (const char* name : {"clone", "ioctl", "personality"}) {
    EXPECT_TRUE(conditional.count(name)) << name << " needs an argument rule";
  }
  EXPECT_GE(SeccompGroups().size(), spec->groups.size());
}

TEST(SeccompProfiles, BasicSkipsOnlyNamesAbsentOnThisArch) {
  absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> p =
      SeccompProgramFor(SeccompProfile::kBasic);
  ASSERT_TRUE(p.ok()) << p.status();
  for (const std::string& name : (*p)->skipped_syscalls()) {
    EXPECT_EQ(sys::ResolveSyscallNumber(name), -2) << name;
  }
  EXPECT_THAT((*p)->skipped_syscalls(), ::testing::Contains("vm86"));
}

TEST(SeccompProfiles, BasicDeniesEscapesAndKeepsOrdinaryCalls) {
  // Without the filter, root could do most of these: the check is real.
  EXPECT_EQ(RunInChild([] {
              std::string e = Install(SeccompProfile::kBasic);
              if (!e.empty()) return e;
              return CheckEscapesDenied() + CheckOrdinaryWorks();
            }),
            "");
  // io_uring is denied outright by basic (EPERM).
  EXPECT_EQ(RunInChild([] {
              std::string e = Install(SeccompProfile::kBasic);
              if (!e.empty()) return e;
              errno = 0;
              return ExpectErrno("io_uring_setup", ::syscall(SYS_io_uring_setup, 1, nullptr),
                                 EPERM);
            }),
            "");
}

TEST(SeccompProfiles, StrictDeniesEscapesAndKeepsOrdinaryCalls) {
  EXPECT_EQ(RunInChild([] {
              std::string e = Install(SeccompProfile::kStrict);
              if (!e.empty()) return e;
              e = CheckEscapesDenied() + CheckOrdinaryWorks();
              // Allow-list specifics: families outside the list get EPERM.
              errno = 0;
              e +=
                  ExpectErrno("socket(AF_VSOCK)", ::socket(40 /*AF_VSOCK*/, SOCK_STREAM, 0), EPERM);
              errno = 0;
              e += ExpectErrno("socket(AF_PACKET)", ::socket(AF_PACKET, SOCK_RAW, 0), EPERM);
              errno = 0;
              e += ExpectErrno("setuid", ::syscall(SYS_setuid, 0), EPERM);
              errno = 0;
              e += ExpectErrno("io_uring_setup", ::syscall(SYS_io_uring_setup, 1, nullptr), ENOSYS);
              return e;
            }),
            "");
}

struct ExecResult {
  std::string out;
  int status = -1;
  std::string error;
};

// Forks, installs `profile` in the child, then execs argv with stdout and
// stderr captured.
ExecResult ExecUnder(SeccompProfile profile, std::vector<std::string> args) {
  ExecResult r;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return {"", -1, "pipe"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char path_env[] = "PATH=/usr/local/bin:/usr/bin:/bin";
  char lang_env[] = "LANG=C";
  char* envp[] = {path_env, lang_env, nullptr};
  absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> prog = SeccompProgramFor(profile);
  if (!prog.ok()) return {"", -1, std::string(prog.status().message())};
  const sys::SeccompProgram* program = prog->get();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(120);
    if (program->InstallRaw() != 0) ::_exit(121);
    ::execve(argv[0], argv.data(), envp);
    ::_exit(122);
  }
  ::close(out[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  ::waitpid(pid, &r.status, 0);
  return r;
}

void ExpectRuns(SeccompProfile profile, std::vector<std::string> args, const std::string& want) {
  std::string shown = args.back();
  ExecResult r = ExecUnder(profile, std::move(args));
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
      << shown << ": status " << r.status << " output: " << r.out;
  EXPECT_THAT(r.out, HasSubstr(want)) << shown;
}

TEST(SeccompProfiles, StrictRunsRealPrograms) {
  ExpectRuns(SeccompProfile::kStrict, {"/bin/sh", "-c", "echo hi | cat"}, "hi\n");
  ExpectRuns(SeccompProfile::kStrict, {"/bin/ls", "/"}, "usr");
  ExpectRuns(SeccompProfile::kStrict, {"/bin/sh", "-c", "id -u; uname -s; echo a b | wc -w"},
             "Linux\n2\n");
  // Files: mktemp, redirection, cp (tries a FICLONE ioctl first), mv, rm.
  ExpectRuns(SeccompProfile::kStrict,
             {"/bin/sh", "-c",
              "d=$(mktemp -d) && echo data > $d/f && cp $d/f $d/g && mv $d/g $d/h && "
              "cat $d/h && ls -la $d >/dev/null && rm -r $d && echo done"},
             "data\ndone\n");
  ExpectRuns(SeccompProfile::kStrict,
             {"/bin/sh", "-c", "for i in 1 2 3; do echo $i & done; wait; sleep 0; date +%Y"}, "20");
}

TEST(SeccompProfiles, StrictRunsPython) {
  if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  ExpectRuns(SeccompProfile::kStrict, {"/usr/bin/python3", "-c", "print(1)"}, "1\n");
  // Threads (clone3 -> clone fallback), subprocess (vfork/exec), sockets.
  ExpectRuns(SeccompProfile::kStrict,
             {"/usr/bin/python3", "-c",
              "import threading, subprocess, socket, json, os\n"
              "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
              "out = subprocess.run(['/bin/echo', 'sub'], capture_output=True).stdout\n"
              "a, b = socket.socketpair(); a.send(b'x'); assert b.recv(1) == b'x'\n"
              "print(out.decode().strip(), json.dumps({'k': os.getpid() > 0}))"},
             "sub {\"k\": true}");
}

TEST(SeccompProfiles, BasicRunsRealPrograms) {
  ExpectRuns(SeccompProfile::kBasic, {"/bin/sh", "-c", "echo hi | cat"}, "hi\n");
  if (::access("/usr/bin/python3", X_OK) == 0) {
    ExpectRuns(SeccompProfile::kBasic,
               {"/usr/bin/python3", "-c",
                "import threading; t = threading.Thread(target=print, args=('t',)); t.start(); "
                "t.join()"},
               "t\n");
  }
}

TEST(SeccompProfiles, StrictKillsNothingButDeniesMountFromShell) {
  // A denied call shows up as an ordinary error in the program, not a crash.
  char dir[] = "/tmp/kavach-seccomp-mnt-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  ExecResult r =
      ExecUnder(SeccompProfile::kStrict,
                {"/bin/sh", "-c", std::string("mount -t tmpfs none ") + dir + " 2>&1; echo rc=$?"});
  if (::umount2(dir, MNT_DETACH) == 0) ADD_FAILURE() << "the mount went through";
  ::rmdir(dir);
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("rc=")) << r.out;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("rc=0"))) << r.out;
  EXPECT_THAT(r.out, HasSubstr("permission denied")) << r.out;
}

// The programs embedded at build time (kavach_seccomp_gen) must be exactly
// what libseccomp produces for each profile here, instruction for
// instruction; and on the machine that built them they must be the ones used.
TEST(SeccompProfiles, PrecompiledProgramsEqualLibseccompOutput) {
  for (SeccompProfile profile : {SeccompProfile::kBasic, SeccompProfile::kStrict}) {
    for (SeccompPart part : {SeccompPart::kWhole, SeccompPart::kInit, SeccompPart::kCommand}) {
      SCOPED_TRACE(std::string(SeccompProfileName(profile)) + " part " +
                   std::to_string(static_cast<int>(part)));
      EXPECT_TRUE(SeccompProgramIsPrecompiled(profile, part))
          << "the build's libseccomp version, arch or kernel API level differs from this run's";
      absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> used =
          SeccompProgramFor(profile, part);
      ASSERT_TRUE(used.ok()) << used.status();
      absl::StatusOr<SeccompProfileSpec> spec = SeccompProfileSpecFor(profile, part);
      ASSERT_TRUE(spec.ok());
      absl::StatusOr<sys::SeccompProgram> fresh = BuildSeccompProgram(*spec);
      ASSERT_TRUE(fresh.ok()) << fresh.status();
      const std::vector<sock_filter>& a = (*used)->instructions();
      const std::vector<sock_filter>& b = fresh->instructions();
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_TRUE(a[i].code == b[i].code && a[i].jt == b[i].jt && a[i].jf == b[i].jf &&
                    a[i].k == b[i].k)
            << "instruction " << i << " differs";
      }
      EXPECT_EQ((*used)->skipped_syscalls(), fresh->skipped_syscalls());
    }
  }
}

// The two parts together (init's, then the command's, as the process backend
// installs them) deny everything the whole profile denies, with the same
// errno, and keep what it allows.
TEST(SeccompProfiles, SplitPartsTogetherEqualTheWhole) {
  EXPECT_EQ(RunInChild([] {
              std::string e = Install(SeccompProfile::kBasic, SeccompPart::kInit);
              if (e.empty()) e = Install(SeccompProfile::kBasic, SeccompPart::kCommand);
              if (!e.empty()) return e;
              return CheckEscapesDenied() + CheckOrdinaryWorks();
            }),
            "");
  EXPECT_EQ(RunInChild([] {
              std::string e = Install(SeccompProfile::kStrict, SeccompPart::kInit);
              if (e.empty()) e = Install(SeccompProfile::kStrict, SeccompPart::kCommand);
              if (!e.empty()) return e;
              e = CheckEscapesDenied() + CheckOrdinaryWorks();
              // Every strict-profile specific the whole program is tested for.
              errno = 0;
              e +=
                  ExpectErrno("socket(AF_VSOCK)", ::socket(40 /*AF_VSOCK*/, SOCK_STREAM, 0), EPERM);
              errno = 0;
              e += ExpectErrno("socket(AF_PACKET)", ::socket(AF_PACKET, SOCK_RAW, 0), EPERM);
              errno = 0;
              e += ExpectErrno("setuid", ::syscall(SYS_setuid, 0), EPERM);
              errno = 0;
              e += ExpectErrno("io_uring_setup", ::syscall(SYS_io_uring_setup, 1, nullptr), ENOSYS);
              // The calls the init part lets through for init's sake: denied
              // again by the command part. As root without a filter each
              // would succeed (or EINVAL/EBADF), never EPERM.
              errno = 0;
              e += ExpectErrno("setresuid", ::syscall(SYS_setresuid, -1, -1, -1), EPERM);
              errno = 0;
              e += ExpectErrno("setresgid", ::syscall(SYS_setresgid, -1, -1, -1), EPERM);
              errno = 0;
              e += ExpectErrno("setgroups", ::syscall(SYS_setgroups, 0, nullptr), EPERM);
              __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
              __user_cap_data_struct data[2] = {};
              errno = 0;
              e += ExpectErrno("capset", ::syscall(SYS_capset, &hdr, data), EPERM);
              errno = 0;
              e += ExpectErrno("landlock_restrict_self",
                               ::syscall(SYS_landlock_restrict_self, -1, 0), EPERM);
              return e;
            }),
            "");
}

// The init part alone lets init make a pid namespace per command and drop a
// command's identity: what the split exists for.
TEST(SeccompProfiles, InitPartAllowsWhatInitNeeds) {
  if (::geteuid() != 0) GTEST_SKIP() << "clone(CLONE_NEWPID) needs root to succeed unfiltered";
  for (SeccompProfile profile : {SeccompProfile::kBasic, SeccompProfile::kStrict}) {
    SCOPED_TRACE(std::string(SeccompProfileName(profile)));
    EXPECT_EQ(RunInChild([profile] {
                std::string e = Install(profile, SeccompPart::kInit);
                if (!e.empty()) return e;
                e += ExpectOk("clone(CLONE_NEWPID)", RawClone(CLONE_NEWPID) > 0);
                e += ExpectOk("setresgid", ::syscall(SYS_setresgid, -1, -1, -1) == 0);
                e += ExpectOk("setgroups", ::syscall(SYS_setgroups, 0, nullptr) == 0);
                // Still denied by the init part: everything else the whole denies.
                errno = 0;
                e += ExpectErrno(
                    "mount", ::mount("none", "/nonexistent-kavach", "tmpfs", 0, nullptr), EPERM);
                return e;
              }),
              "");
  }
}

// The command part alone is small (it is installed once per command).
TEST(SeccompProfiles, CommandPartIsSmall) {
  for (SeccompProfile profile : {SeccompProfile::kBasic, SeccompProfile::kStrict}) {
    absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> whole = SeccompProgramFor(profile);
    absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> command =
        SeccompProgramFor(profile, SeccompPart::kCommand);
    ASSERT_TRUE(whole.ok() && command.ok());
    EXPECT_LT((*command)->size() * 4, (*whole)->size()) << SeccompProfileName(profile);
  }
}

}  // namespace
}  // namespace kavach::internal
