// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Network mode proxy end to end: a Process sandbox whose only way out is the
// egress proxy on its own loopback. An upstream HTTP server runs in this
// process on the host's 127.0.0.1; the sandbox reaches it through the proxy
// (as upstream.test, mapped by policy.egress.resolve) and cannot reach it
// directly.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"

namespace kavach {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "e2e-secret-4c1d9a7b";

// One request per connection: reads the header block, remembers it, answers
// "ok". Never echoes what it received (the secret must not come back).
class UpstreamServer {
 public:
  UpstreamServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { Run(); });
  }
  ~UpstreamServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::string received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  void Run() {
    while (!stop_) {
      pollfd p = {fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      ++requests_;
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_ += head;
      }
      std::string res = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
      (void)!::send(c, res.data(), res.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::string received_;
};

class SandboxEgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BackendAvailability a = Probe(BackendKind::kProcess);
    if (!a.available) GTEST_SKIP() << "process backend unavailable: " << a.reason;
    if (::access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "curl is not installed";
    ::setenv("KAVACH_E2E_TOKEN", kSecret, 1);
    SandboxConfig c;
    c.backend = BackendKind::kProcess;
    c.policy = SandboxPolicy::Strict();
    c.policy.network.mode = NetworkMode::kProxy;
    c.policy.environment.allow = {"KAVACH_E2E_TOKEN"};  // must not get in
    EgressPolicy& e = c.policy.egress;
    e.allow_hosts = {"upstream.test"};
    e.allow_ports = {server_.port()};
    e.schemes = {{"upstream.test", "http"}};
    e.resolve = {{"upstream.test", "127.0.0.1"}, {"denied.test", "127.0.0.1"}};
    e.credentials = {{"upstream.test", "X-Api-Key", "env:KAVACH_E2E_TOKEN", "", ""}};
    c.timeout = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
    if (!s.ok() && s.status().code() == absl::StatusCode::kFailedPrecondition) {
      GTEST_SKIP() << "process backend cannot prepare here: " << s.status();
    }
    ASSERT_TRUE(s.ok()) << s.status();
    sandbox_ = *std::move(s);
    ASSERT_TRUE(sandbox_->Start().ok());
  }

  std::string Url(std::string_view host, std::string_view path = "/") {
    return absl::StrCat("http://", std::string(host), ":", server_.port(), std::string(path));
  }

  UpstreamServer server_;
  std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(SandboxEgressTest, AllowedHostThroughTheProxyGetsTheInjectedHeader) {
  absl::StatusOr<ExecResult> r =
      sandbox_->Exec({"curl", "-sS", "-H", "X-Api-Key: caller", Url("upstream.test", "/v1/x")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
  EXPECT_EQ(r->stdout_data, "ok\n");
  EXPECT_EQ(server_.requests(), 1);
  EXPECT_THAT(server_.received(), HasSubstr(absl::StrCat("X-Api-Key: ", kSecret, "\r\n")));
  EXPECT_THAT(server_.received(), Not(HasSubstr("caller")));
  // The score shows the mode: own netns with only loopback, proxy's points.
  bool found = false;
  for (const Evidence& ev : r->evidence) {
    if (ev.control != "namespace.net") continue;
    found = true;
    EXPECT_TRUE(ev.verified) << ev.detail;
    EXPECT_THAT(ev.detail, HasSubstr("mode proxy"));
    EXPECT_EQ(ev.points, 3);
  }
  EXPECT_TRUE(found);
}

TEST_F(SandboxEgressTest, SecretIsNotInTheSandboxEnvironment) {
  absl::StatusOr<ExecResult> r = sandbox_->Exec({"/usr/bin/env"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->stdout_data, Not(HasSubstr(kSecret)));
  EXPECT_THAT(r->stdout_data, Not(HasSubstr("KAVACH_E2E_TOKEN")));
  EXPECT_THAT(r->stdout_data, HasSubstr("HTTPS_PROXY=http://127.0.0.1:3128\n"));
  EXPECT_THAT(r->stdout_data, HasSubstr("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n"));
  // Nor in any file the sandbox can read outside /proc and the system
  // directories (the pattern comes in on argv: the test knows the secret).
  r = sandbox_->Exec({"/bin/sh", "-c",
                      "grep -rlsF -e \"$0\" /etc /tmp /work /run /dev/shm /root /home; echo done",
                      kSecret});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "done\n") << r->stderr_data;
  // The CA bundle inside holds the proxy's CA.
  r = sandbox_->Exec({"/bin/sh", "-c", "grep -c 'BEGIN CERTIFICATE' $SSL_CERT_FILE"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
}

TEST_F(SandboxEgressTest, DeniedHostGets403) {
  absl::StatusOr<ExecResult> r =
      sandbox_->Exec({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", Url("denied.test")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "403");
  EXPECT_EQ(server_.requests(), 0);
}

TEST_F(SandboxEgressTest, DirectConnectionsReachNothing) {
  // The upstream listens on the host's 127.0.0.1: the sandbox's loopback is
  // its own, so going around the proxy is refused.
  absl::StatusOr<ExecResult> r =
      sandbox_->Exec({"curl", "-sS", "--noproxy", "*", "--max-time", "5", Url("127.0.0.1")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->exit_code, 0);
  // Anything off the box: no route. UDP (DNS) too.
  r = sandbox_->Exec(
      {"python3", "-c",
       "import socket\n"
       "for fam, kind, addr in ((socket.AF_INET, socket.SOCK_STREAM, ('1.1.1.1', 443)),"
       " (socket.AF_INET, socket.SOCK_DGRAM, ('1.1.1.1', 53))):\n"
       "  s = socket.socket(fam, kind); s.settimeout(3)\n"
       "  try:\n"
       "    s.connect(addr); s.send(b'x'); print('reached', addr)\n"
       "  except OSError as e: print('blocked', e.errno)\n"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->stdout_data, Not(HasSubstr("reached"))) << r->stderr_data;
  EXPECT_THAT(r->stdout_data, HasSubstr("blocked")) << r->stderr_data;
  EXPECT_EQ(server_.requests(), 0);
}

TEST_F(SandboxEgressTest, NameResolutionFailsInside) {
  // No resolver reachable, and the proxy is the only way to name a host.
  absl::StatusOr<ExecResult> r =
      sandbox_->Exec({"python3", "-c",
                      "import socket\n"
                      "try:\n"
                      "  print('resolved', socket.getaddrinfo('example.com', 443))\n"
                      "except OSError as e: print('failed', type(e).__name__)\n"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->stdout_data, HasSubstr("failed")) << r->stderr_data;
  EXPECT_THAT(r->stdout_data, Not(HasSubstr("resolved")));
}

// The proxy's request records go into the sandbox's audit chain: host,
// method, path (no query), status and bytes; never the injected secret.
TEST_F(SandboxEgressTest, RequestRecordsGoIntoTheAuditChain) {
  char dir_template[] = "/tmp/kavach-egress-audit-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  std::string log = absl::StrCat(dir_template, "/audit.log");
  ::setenv("KAVACH_E2E_AUDIT_KEY", "0123456789abcdef0123456789abcdef", 1);
  SandboxConfig c = sandbox_->config();
  c.audit.log_path = log;
  c.audit.key_env = "KAVACH_E2E_AUDIT_KEY";
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Start().ok());
  absl::StatusOr<ExecResult> r =
      (*s)->Exec({"curl", "-sS", Url("upstream.test", "/v1/audited?q=hidden-query")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "ok\n") << r->stderr_data;
  r = (*s)->Exec({"curl", "-sS", "-o", "/dev/null", Url("denied.test", "/nope")});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*s)->Destroy().ok());
  s->reset();

  std::ifstream f(log);
  std::stringstream all;
  all << f.rdbuf();
  std::string text = all.str();
  EXPECT_THAT(text, Not(HasSubstr(kSecret)));
  EXPECT_THAT(text, Not(HasSubstr("hidden-query")));
  std::vector<std::string> records;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.find("\"egress_request\"") != absl::string_view::npos) records.emplace_back(line);
  }
  ASSERT_EQ(records.size(), 2u) << text;
  EXPECT_THAT(records[0], HasSubstr("upstream.test"));
  EXPECT_THAT(records[0], HasSubstr("/v1/audited"));
  EXPECT_THAT(records[0], HasSubstr("GET"));
  EXPECT_THAT(records[0], HasSubstr("200"));
  EXPECT_THAT(records[1], HasSubstr("denied.test"));
  EXPECT_THAT(records[1], HasSubstr("403"));
  // ... before the sandbox's destroyed state record.
  EXPECT_LT(text.find("egress_request"), text.rfind("destroyed"));
  std::filesystem::remove_all(dir_template);
}

}  // namespace
}  // namespace kavach
