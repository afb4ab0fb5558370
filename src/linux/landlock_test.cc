// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/landlock.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/testing/run_in_child.h"

namespace kavach::sys {
namespace {

using ::testing::HasSubstr;

using ::kavach::test_support::RunInChild;

// "" when `ok`, else `what` with the current errno.
std::string Check(bool ok, const std::string& what) {
  return ok ? "" : what + " (errno " + strerror(errno) + "); ";
}
std::string CheckErrno(long rc, int want, const std::string& what) {
  int err = errno;
  if (rc == -1 && err == want) return "";
  return what + ": rc=" + std::to_string(rc) + " errno=" + strerror(err) + " want " +
         strerror(want) + "; ";
}

std::string Restrict(const LandlockRuleset& rs) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "no_new_privs failed; ";
  if (int rc = rs.RestrictSelfRaw(); rc != 0) return "restrict: " + std::string(strerror(-rc));
  return "";
}

class LandlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (LandlockAbiVersion() == 0) GTEST_SKIP() << "Landlock not available on this kernel";
  }
};

class TempDir final {
 public:
  TempDir() {
    char tmpl[] = "/tmp/kavach-landlock-XXXXXX";
    path_ = ::mkdtemp(tmpl);
    ::chmod(path_.c_str(), 0777);  // reachable by the unprivileged variant
  }
  ~TempDir() { (void)!std::system(("rm -rf " + path_).c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name, const std::string& data) const {
    std::string p = path_ + "/" + name;
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    (void)!::write(fd, data.data(), data.size());
    ::close(fd);
    ::chmod(p.c_str(), 0666);
    return p;
  }

 private:
  std::string path_;
};

// A TCP listener on 127.0.0.1 with a kernel-chosen port.
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) return;
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
};

long ConnectTcp(uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  long rc = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int err = errno;
  ::close(s);
  errno = err;
  return rc;
}

long BindTcp(uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  long rc = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int err = errno;
  ::close(s);
  errno = err;
  return rc;
}

// A port that was free a moment ago.
uint16_t FreePort() {
  Listener l;
  return l.port;
}

TEST(LandlockRights, HandledFsAccessGrowsWithAbi) {
  EXPECT_EQ(HandledFsAccess(0), 0u);
  EXPECT_EQ(HandledFsAccess(1), (1ULL << 13) - 1);
  EXPECT_EQ(HandledFsAccess(2), HandledFsAccess(1) | kLandlockFsRefer);
  EXPECT_EQ(HandledFsAccess(3), HandledFsAccess(2) | kLandlockFsTruncate);
  EXPECT_EQ(HandledFsAccess(4), HandledFsAccess(3));
  EXPECT_EQ(HandledFsAccess(5), HandledFsAccess(4) | kLandlockFsIoctlDev);
  EXPECT_EQ(HandledFsAccess(7), HandledFsAccess(5));
  EXPECT_EQ(kLandlockReadWrite & HandledFsAccess(7), HandledFsAccess(7));
  EXPECT_EQ(kLandlockRead, kLandlockFsReadFile | kLandlockFsReadDir);
}

TEST_F(LandlockTest, KernelHasTheExpectedAbi) {
  // probe.md: this machine's kernel has ABI 7. Anything lower means the tests
  // of ports and scopes below would skip; say so loudly.
  EXPECT_GE(LandlockAbiVersion(), 6);
}

TEST_F(LandlockTest, FailsClosedWhenAbiIsTooOld) {
  LandlockSpec ports;
  ports.connect_ports = std::vector<uint16_t>{443};
  absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(ports, 3);
  ASSERT_FALSE(rs.ok());
  EXPECT_EQ(rs.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(rs.status().message(), HasSubstr("requires ABI 4, kernel has 3"));

  LandlockSpec bind;
  bind.bind_ports = std::vector<uint16_t>{};
  EXPECT_EQ(LandlockRuleset::Create(bind, 2).status().code(),
            absl::StatusCode::kFailedPrecondition);

  LandlockSpec scopes;
  scopes.scope_signal = true;
  rs = LandlockRuleset::Create(scopes, 5);
  ASSERT_FALSE(rs.ok());
  EXPECT_THAT(rs.status().message(), HasSubstr("signal scope requires ABI 6, kernel has 5"));
  scopes.scope_signal = false;
  scopes.scope_abstract_unix = true;
  EXPECT_THAT(LandlockRuleset::Create(scopes, 4).status().message(),
              HasSubstr("abstract unix socket scope requires ABI 6"));

  LandlockSpec fs;
  fs.paths = {{"/usr", kLandlockRead}};
  EXPECT_EQ(LandlockRuleset::Create(fs, 0).status().code(), absl::StatusCode::kFailedPrecondition);
  // With a new enough ABI the same specs work.
  EXPECT_TRUE(LandlockRuleset::Create(fs, 1).ok());
  if (LandlockAbiVersion() >= 6) {
    EXPECT_TRUE(LandlockRuleset::Create(scopes).ok());
  }
}

TEST_F(LandlockTest, AbiOverrideAboveKernelIsRejected) {
  LandlockSpec fs;
  fs.paths = {{"/usr", kLandlockRead}};
  EXPECT_EQ(LandlockRuleset::Create(fs, LandlockAbiVersion() + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LandlockTest, MissingPathsAndEmptySpecs) {
  LandlockSpec spec;
  EXPECT_EQ(LandlockRuleset::Create(spec).status().code(), absl::StatusCode::kInvalidArgument);

  spec.paths = {{"/usr", kLandlockReadExec}, {"/nonexistent-kavach/x", kLandlockRead}};
  absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(spec);
  ASSERT_FALSE(rs.ok());
  EXPECT_EQ(rs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(rs.status().message(), HasSubstr("/nonexistent-kavach/x"));

  spec.paths[1].optional = true;
  rs = LandlockRuleset::Create(spec);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_THAT(rs->skipped_paths(), ::testing::ElementsAre("/nonexistent-kavach/x"));
  EXPECT_EQ(rs->abi(), LandlockAbiVersion());
  EXPECT_EQ(rs->handled_fs(), HandledFsAccess(LandlockAbiVersion()));
  EXPECT_EQ(rs->handled_net(), 0u);
  EXPECT_EQ(rs->scoped(), 0u);
  EXPECT_GE(rs->fd(), 0);

  LandlockRuleset moved = std::move(*rs);
  EXPECT_EQ(rs->RestrictSelfRaw(), -EBADF);  // NOLINT(bugprone-use-after-move)
  EXPECT_GE(moved.fd(), 0);
}

TEST_F(LandlockTest, DirectoryRightsOnAFileAreTrimmed) {
  TempDir d;
  std::string f = d.File("f", "x");
  LandlockSpec spec;
  // Read-write on a file includes MAKE_*/REMOVE_*/READ_DIR, which the kernel
  // rejects for a non-directory; Create must trim them.
  spec.paths = {{f, kLandlockReadWrite}};
  absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(spec);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(RunInChild([&] {
              std::string e = Restrict(*rs);
              int fd = ::open(f.c_str(), O_RDWR | O_CLOEXEC);
              e += Check(fd >= 0, "open the allowed file rw");
              ::close(fd);
              errno = 0;
              e += CheckErrno(::open(d.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), EACCES,
                              "open its directory");
              return e;
            }),
            "");
}

// Read on `ro`, read-write on `rw`, nothing on `other`.
std::string CheckFsConfinement(const LandlockRuleset& rs, const TempDir& ro, const TempDir& rw,
                               const TempDir& other, bool unprivileged) {
  if (unprivileged &&
      (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)) {
    return "setresuid 65534 failed";
  }
  std::string e = Restrict(rs);
  if (!e.empty()) return e;
  std::string ro_file = ro.path() + "/data";
  int fd = ::open(ro_file.c_str(), O_RDONLY | O_CLOEXEC);
  char buf[16] = {};
  e += Check(fd >= 0 && ::read(fd, buf, sizeof buf) == 5 && std::string(buf) == "hello",
             "read in the read-only dir");
  ::close(fd);
  DIR* dir = ::opendir(ro.path().c_str());
  e += Check(dir != nullptr, "list the read-only dir");
  if (dir) ::closedir(dir);
  errno = 0;
  e += CheckErrno(::open(ro_file.c_str(), O_WRONLY | O_CLOEXEC), EACCES, "write in read-only dir");
  errno = 0;
  e += CheckErrno(::open((ro.path() + "/new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644),
                  EACCES, "create in read-only dir");
  errno = 0;
  e += CheckErrno(::unlink(ro_file.c_str()), EACCES, "unlink in read-only dir");
  std::string rw_file = rw.path() + "/new";
  fd = ::open(rw_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  e += Check(fd >= 0 && ::write(fd, "w", 1) == 1, "create+write in read-write dir");
  ::close(fd);
  std::string sub = rw.path() + "/sub";
  e += Check(::mkdir(sub.c_str(), 0755) == 0, "mkdir in read-write dir");
  e += Check(::rmdir(sub.c_str()) == 0, "rmdir in read-write dir");
  e += Check(::unlink(rw_file.c_str()) == 0, "unlink in read-write dir");
  errno = 0;
  e += CheckErrno(::open((other.path() + "/data").c_str(), O_RDONLY | O_CLOEXEC), EACCES,
                  "read in an unlisted dir");
  errno = 0;
  e += CheckErrno(::open("/etc/passwd", O_RDONLY | O_CLOEXEC), EACCES, "read /etc/passwd");
  return e;
}

TEST_F(LandlockTest, FileSystemRulesAreEnforced) {
  TempDir ro, rw, other;
  ro.File("data", "hello");
  other.File("data", "secret");
  LandlockSpec spec;
  spec.paths = {{ro.path(), kLandlockRead}, {rw.path(), kLandlockReadWrite}};
  absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(spec);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(RunInChild([&] { return CheckFsConfinement(*rs, ro, rw, other, false); }), "");
  EXPECT_EQ(RunInChild([&] { return CheckFsConfinement(*rs, ro, rw, other, true); }), "")
      << "as uid 65534";
}

TEST_F(LandlockTest, TcpConnectPortsAreEnforced) {
  if (LandlockAbiVersion() < 4) GTEST_SKIP() << "TCP rules need ABI 4";
  Listener allowed, denied;
  ASSERT_NE(allowed.port, 0);
  ASSERT_NE(denied.port, 0);
  LandlockSpec spec;
  spec.connect_ports = std::vector<uint16_t>{allowed.port};
  absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(spec);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(rs->handled_net(), kLandlockNetConnectTcp);
  EXPECT_EQ(rs->handled_fs(), 0u);
  EXPECT_EQ(RunInChild([&] {
              std::string e = Check(ConnectTcp(denied.port) == 0, "connect before restricting");
              e += Restrict(*rs);
              errno = 0;
              e += CheckErrno(ConnectTcp(denied.port), EACCES, "connect to the unlisted port");
              e += Check(ConnectTcp(allowed.port) == 0, "connect to the allowed port");
              // Files stay reachable: only the network was restricted.
              e += Check(::access("/etc/passwd", R_OK) == 0, "read /etc/passwd");
              return e;
            }),
            "");
}

TEST_F(LandlockTest, TcpBindPortsAreEnforced) {
  if (LandlockAbiVersion() < 4) GTEST_SKIP() << "TCP rules need ABI 4";
  uint16_t allowed = FreePort(), denied = FreePort();
  ASSERT_NE(allowed, denied);
  LandlockSpec spec;
  spec.bind_ports = std::vector<uint16_t>{allowed};
  absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(spec);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(RunInChild([&] {
              std::string e = Check(BindTcp(denied) == 0, "bind before restricting");
              e += Restrict(*rs);
              errno = 0;
              e += CheckErrno(BindTcp(denied), EACCES, "bind the unlisted port");
              e += Check(BindTcp(allowed) == 0, "bind the allowed port");
              // Connecting is not restricted by a bind-only spec.
              Listener l;
              e += Check(ConnectTcp(l.port) != -1 || l.port == 0, "connect");
              return e;
            }),
            "");
}

TEST_F(LandlockTest, EmptyPortListDeniesEveryPort) {
  if (LandlockAbiVersion() < 4) GTEST_SKIP() << "TCP rules need ABI 4";
  Listener l;
  LandlockSpec spec;
  spec.connect_ports = std::vector<uint16_t>{};
  absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(spec);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(RunInChild([&] {
              std::string e = Restrict(*rs);
              errno = 0;
              return e + CheckErrno(ConnectTcp(l.port), EACCES, "connect");
            }),
            "");
}

TEST_F(LandlockTest, SignalScopeBlocksSignalsLeavingTheDomain) {
  if (LandlockAbiVersion() < 6) GTEST_SKIP() << "scopes need ABI 6";
  pid_t victim = ::fork();
  if (victim == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(victim, 0);
  LandlockSpec spec;
  spec.scope_signal = true;
  absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(spec);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(rs->scoped(), kLandlockScopeSignal);
  std::string err = RunInChild([&] {
    std::string e = Check(::kill(victim, 0) == 0, "signal a sibling before restricting");
    e += Restrict(*rs);
    errno = 0;
    e += CheckErrno(::kill(victim, SIGTERM), EPERM, "SIGTERM to a process outside the domain");
    errno = 0;
    e += CheckErrno(::kill(victim, 0), EPERM, "signal 0 to a process outside the domain");
    // Processes started inside the domain remain signalable.
    pid_t inner = ::fork();
    if (inner == 0) {
      ::pause();
      ::_exit(0);
    }
    e += Check(::kill(inner, SIGKILL) == 0, "signal our own child");
    ::waitpid(inner, nullptr, 0);
    return e;
  });
  int status = 0;
  // The victim must still be alive (the SIGTERM was refused).
  bool alive = ::waitpid(victim, &status, WNOHANG) == 0;
  ::kill(victim, SIGKILL);
  ::waitpid(victim, nullptr, 0);
  EXPECT_EQ(err, "");
  EXPECT_TRUE(alive) << "the sibling received the signal";
}

TEST_F(LandlockTest, AbstractUnixScopeBlocksConnectingOut) {
  if (LandlockAbiVersion() < 6) GTEST_SKIP() << "scopes need ABI 6";
  std::string name = "kavach-landlock-test-" + std::to_string(::getpid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  int server = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&addr), len), 0) << strerror(errno);
  ASSERT_EQ(::listen(server, 8), 0);
  LandlockSpec spec;
  spec.scope_abstract_unix = true;
  absl::StatusOr<LandlockRuleset> rs = LandlockRuleset::Create(spec);
  ASSERT_TRUE(rs.ok()) << rs.status();
  auto connect_out = [&]() -> long {
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    long rc = ::connect(s, reinterpret_cast<sockaddr*>(&addr), len);
    int err = errno;
    ::close(s);
    errno = err;
    return rc;
  };
  EXPECT_EQ(RunInChild([&] {
              std::string e = Check(connect_out() == 0, "connect before restricting");
              e += Restrict(*rs);
              errno = 0;
              e += CheckErrno(connect_out(), EPERM, "connect to an abstract socket outside");
              // Pathname-less socketpairs inside the domain still work.
              int sv[2];
              e += Check(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
              return e;
            }),
            "");
  ::close(server);
}

}  // namespace
}  // namespace kavach::sys
