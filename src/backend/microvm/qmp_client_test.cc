// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/qmp_client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/unique_fd.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

// A QMP server on a unix socket that answers each line with `reply(line)`
// (several lines allowed), after its greeting.
class FakeQemu : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/kavach-qmp-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    path_ = dir_ + "/qmp.sock";
    listener_ = sys::UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path_.c_str());
    ASSERT_EQ(::bind(listener_.get(), reinterpret_cast<struct sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(listener_.get(), 1), 0);
  }
  void TearDown() override {
    if (server_.joinable()) server_.join();
    (void)!std::system(("rm -rf " + dir_).c_str());
  }
  void Serve(std::string greeting, std::function<std::string(const std::string&)> reply) {
    server_ = std::thread([this, greeting, reply] {
      sys::UniqueFd c(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) return;
      (void)!::write(c.get(), greeting.data(), greeting.size());
      std::string buf;
      for (;;) {
        char data[4096];
        alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {data, sizeof data};
        struct msghdr msg = {};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(c.get(), &msg, 0);
        if (n <= 0) return;
        for (struct cmsghdr* h = CMSG_FIRSTHDR(&msg); h != nullptr; h = CMSG_NXTHDR(&msg, h)) {
          if (h->cmsg_type == SCM_RIGHTS) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(h), sizeof fd);
            received_fd_ = sys::UniqueFd(fd);
          }
        }
        buf.append(data, static_cast<size_t>(n));
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          std::string line = buf.substr(0, nl);
          buf.erase(0, nl + 1);
          std::string out = reply(line);
          (void)!::send(c.get(), out.data(), out.size(), MSG_NOSIGNAL);
        }
      }
    });
  }
  static constexpr char kGreeting[] = "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n";
  std::string dir_, path_;
  sys::UniqueFd listener_;
  std::thread server_;
  sys::UniqueFd received_fd_;
};

TEST_F(FakeQemu, NegotiatesSkipsEventsAndMapsErrors) {
  Serve(kGreeting, [](const std::string& line) -> std::string {
    if (line.find("qmp_capabilities") != std::string::npos) return "{\"return\": {}}\r\n";
    if (line.find("query-status") != std::string::npos) {
      return "{\"event\": \"RESUME\", \"data\": {}}\r\n{\"return\": {\"status\": \"running\"}}\r\n";
    }
    return "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such thing\"}}\r\n";
  });
  absl::StatusOr<QmpClient> q = QmpClient::Connect(path_, absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(q.ok()) << q.status();
  absl::StatusOr<nlohmann::json> r = q->Execute("query-status");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["status"], "running");
  r = q->Execute("frobnicate", {{"x", 1}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("QMP frobnicate: no such thing"));
}

TEST_F(FakeQemu, PassesADescriptorWithGetfdAndReportsAFailedMigration) {
  int polls = 0;
  Serve(kGreeting, [&polls](const std::string& line) -> std::string {
    if (line.find("query-migrate") != std::string::npos) {
      return ++polls < 3
                 ? "{\"return\": {\"status\": \"active\"}}\n"
                 : "{\"return\": {\"status\": \"failed\", \"error-desc\": \"disk full\"}}\n";
    }
    return "{\"return\": {}}\n";
  });
  absl::StatusOr<QmpClient> q = QmpClient::Connect(path_, absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(q.ok()) << q.status();
  sys::UniqueFd f(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(q->SendFd("state", f.get()).ok());
  absl::Status s = q->WaitMigration(absl::Now() + absl::Seconds(5));
  EXPECT_THAT(s.message(), HasSubstr("QEMU migration failed: disk full"));
  EXPECT_EQ(polls, 3);
  q = absl::CancelledError("done");  // closes the connection: the server ends
  server_.join();
  ASSERT_TRUE(received_fd_);
  struct stat a, b;
  ASSERT_EQ(::fstat(received_fd_.get(), &a), 0);
  ASSERT_EQ(::fstat(f.get(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // the very directory we passed
}

TEST_F(FakeQemu, GarbageSilenceAndNoGreetingAreErrors) {
  Serve("this is not qmp\n", [](const std::string&) { return std::string(); });
  absl::StatusOr<QmpClient> q = QmpClient::Connect(path_, absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kDataLoss);
  server_.join();
  // A greeting, then nothing: the deadline ends the wait.
  Serve(kGreeting, [](const std::string&) { return std::string(); });
  absl::Time t0 = absl::Now();
  q = QmpClient::Connect(path_, absl::Now() + absl::Milliseconds(300));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  ::shutdown(listener_.get(), SHUT_RDWR);
}

TEST_F(FakeQemu, AnEndlessLineIsCapped) {
  Serve(kGreeting, [](const std::string& line) -> std::string {
    if (line.find("qmp_capabilities") != std::string::npos) return "{\"return\": {}}\n";
    return std::string(2 << 20, 'x');  // 2 MiB and no newline
  });
  absl::StatusOr<QmpClient> q = QmpClient::Connect(path_, absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(q.ok()) << q.status();
  absl::StatusOr<nlohmann::json> r = q->Execute("query-status", nullptr, absl::Seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("too long"));
}

}  // namespace
}  // namespace kavach::internal
