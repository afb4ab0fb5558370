// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// A minimal QMP (QEMU Machine Protocol) client over a unix socket: enough
// to save a VM's device state to a file and to load it into a clone.
//
//   absl::StatusOr<QmpClient> qmp = QmpClient::Connect("/run/vm/qmp.sock", deadline);
//   qmp->Execute("migrate-set-capabilities", {{"capabilities", ...}});
//   qmp->SendFd("state", fd);                      // getfd with SCM_RIGHTS
//   qmp->Execute("migrate", {{"uri", "fd:state"}});
//
// The state goes through a descriptor the host opens and passes, never an
// `exec:` URI: QEMU runs with -sandbox spawn=deny and inside a jail that
// need not see the state file at all. QEMU is as untrusted as its guest:
// replies are capped (1 MiB a line) and every wait has a deadline.
#ifndef KAVACH_BACKEND_MICROVM_QMP_CLIENT_H_
#define KAVACH_BACKEND_MICROVM_QMP_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "linux/unique_fd.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {

class QmpClient {
 public:
  // Connects (retrying until `deadline` while QEMU creates the socket),
  // reads the greeting and negotiates capabilities.
  static absl::StatusOr<QmpClient> Connect(const std::string& path, absl::Time deadline);

  // Runs one command; its "return" value, or the QMP error as
  // FailedPrecondition naming the command. Events in between are skipped.
  absl::StatusOr<nlohmann::json> Execute(const std::string& command,
                                         const nlohmann::json& arguments = nullptr,
                                         absl::Duration timeout = absl::Seconds(30));
  // `getfd` with `fd` attached (SCM_RIGHTS): QEMU knows it as `name`.
  absl::Status SendFd(const std::string& name, int fd);
  // Polls query-migrate until "completed" (ok) or "failed"/"cancelled"
  // (error with QEMU's reason) or the deadline.
  absl::Status WaitMigration(absl::Time deadline);

 private:
  explicit QmpClient(sys::UniqueFd fd) : fd_(std::move(fd)) {}
  absl::Status WriteLine(const std::string& line, int pass_fd = -1);
  absl::StatusOr<nlohmann::json> ReadMessage(absl::Time deadline);
  absl::StatusOr<nlohmann::json> ReadReply(const std::string& command, absl::Time deadline);

  sys::UniqueFd fd_;
  std::string buf_;
};

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_QMP_CLIENT_H_
