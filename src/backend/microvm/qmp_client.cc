// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "linux/file_util.h"

namespace kavach::internal {
namespace {

constexpr size_t kMaxLine = 1 << 20;

}  // namespace

absl::StatusOr<QmpClient> QmpClient::Connect(const std::string& path, absl::Time deadline) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("QMP socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  for (;;) {
    sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return sys::ErrnoStatus(errno, "socket");
    if (::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0) {
      QmpClient c(std::move(fd));
      absl::StatusOr<nlohmann::json> greeting = c.ReadMessage(deadline);
      if (!greeting.ok()) return greeting.status();
      if (!greeting->contains("QMP")) {
        return absl::DataLossError("QMP: no greeting from QEMU");
      }
      absl::StatusOr<nlohmann::json> caps =
          c.Execute("qmp_capabilities", nullptr, deadline - absl::Now());
      if (!caps.ok()) return caps.status();
      return c;
    }
    int e = errno;
    if (absl::Now() > deadline) return sys::ErrnoStatus(e, absl::StrCat("QMP: connect ", path));
    absl::SleepFor(absl::Milliseconds(2));
  }
}

absl::Status QmpClient::WriteLine(const std::string& line, int pass_fd) {
  std::string wire = line + "\n";
  size_t off = 0;
  while (off < wire.size()) {
    struct iovec iov = {wire.data() + off, wire.size() - off};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0 && off == 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys::ErrnoStatus(errno, "QMP: send");
    off += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> QmpClient::ReadMessage(absl::Time deadline) {
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) {
        return absl::DataLossError(absl::StrCat("QMP: not a JSON object: ", line.substr(0, 200)));
      }
      return j;
    }
    if (buf_.size() > kMaxLine) return absl::DataLossError("QMP: reply line too long");
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("QMP: no reply in time");
    struct pollfd p = {fd_.get(), POLLIN, 0};
    int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000));
    int n = ::poll(&p, 1, ms);
    if (n < 0 && errno != EINTR) return sys::ErrnoStatus(errno, "QMP: poll");
    if (n <= 0) continue;
    char tmp[8192];
    ssize_t r = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0) return sys::ErrnoStatus(errno, "QMP: recv");
    if (r == 0) return absl::UnavailableError("QMP: QEMU closed the monitor");
    buf_.append(tmp, static_cast<size_t>(r));
  }
}

absl::StatusOr<nlohmann::json> QmpClient::ReadReply(const std::string& command,
                                                    absl::Time deadline) {
  for (;;) {
    absl::StatusOr<nlohmann::json> m = ReadMessage(deadline);
    if (!m.ok()) return m.status();
    if (m->contains("event")) continue;
    if (m->contains("return")) return (*m)["return"];
    if (m->contains("error")) {
      std::string desc = (*m)["error"].value("desc", std::string("(no description)"));
      return absl::FailedPreconditionError(absl::StrCat("QMP ", command, ": ", desc));
    }
    return absl::DataLossError(absl::StrCat("QMP ", command, ": unexpected reply"));
  }
}

absl::StatusOr<nlohmann::json> QmpClient::Execute(const std::string& command,
                                                  const nlohmann::json& arguments,
                                                  absl::Duration timeout) {
  nlohmann::json req = {{"execute", command}};
  if (!arguments.is_null()) req["arguments"] = arguments;
  if (absl::Status s = WriteLine(req.dump()); !s.ok()) return s;
  return ReadReply(command, absl::Now() + timeout);
}

absl::Status QmpClient::SendFd(const std::string& name, int fd) {
  nlohmann::json req = {{"execute", "getfd"}, {"arguments", {{"fdname", name}}}};
  if (absl::Status s = WriteLine(req.dump(), fd); !s.ok()) return s;
  absl::StatusOr<nlohmann::json> r = ReadReply("getfd", absl::Now() + absl::Seconds(30));
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::Status QmpClient::WaitMigration(absl::Time deadline) {
  for (;;) {
    absl::StatusOr<nlohmann::json> r = Execute("query-migrate", nullptr, deadline - absl::Now());
    if (!r.ok()) return r.status();
    std::string status = r->value("status", std::string());
    if (status == "completed") return absl::OkStatus();
    if (status == "failed" || status == "cancelled") {
      return absl::FailedPreconditionError(absl::StrCat(
          "QEMU migration ", status, ": ", r->value("error-desc", std::string("(no reason)"))));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("QEMU migration not done in time (", status, ")"));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

}  // namespace kavach::internal
