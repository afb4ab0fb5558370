// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/noop/noop_backend.h"

#include <atomic>

namespace kavach::internal {
namespace {

// What every Noop command "returns": success, nothing printed.
ExecResult NoopResult() {
  ExecResult result;
  result.exit_code = 0;
  result.signal = 0;
  result.wall_time = absl::ZeroDuration();
  result.cpu_time = absl::ZeroDuration();
  return result;
}

class NoopProcess final : public SpawnedProcess {
 public:
  NoopProcess() = default;
  NoopProcess(const NoopProcess&) = delete;
  NoopProcess& operator=(const NoopProcess&) = delete;

  absl::StatusOr<ExecResult> Wait() override { return NoopResult(); }
  absl::Status Kill() override { return absl::OkStatus(); }
  pid_t pid() const override { return 0; }  // no process exists
};

class NoopBackend final : public Backend {
 public:
  NoopBackend() = default;
  NoopBackend(const NoopBackend&) = delete;
  NoopBackend& operator=(const NoopBackend&) = delete;

  BackendKind kind() const override { return BackendKind::kNoop; }

  absl::Status Prepare(const SandboxConfig& config, PrepareReport* report) override {
    // No control is applied, so there is no evidence to report.
    report->steps.push_back(SetupStep{"noop", absl::ZeroDuration()});
    return absl::OkStatus();
  }

  absl::StatusOr<ExecResult> Exec(const BackendExecRequest& request) override {
    if (absl::Status s = CheckAlive(); !s.ok()) return s;
    return NoopResult();
  }

  absl::StatusOr<std::unique_ptr<SpawnedProcess>> Spawn(
      const BackendExecRequest& request) override {
    if (absl::Status s = CheckAlive(); !s.ok()) return s;
    return std::make_unique<NoopProcess>();
  }

  absl::Status Pause() override { return CheckAlive(); }
  absl::Status Resume() override { return CheckAlive(); }
  absl::Status Stop() override { return CheckAlive(); }
  absl::Status Destroy() override {
    destroyed_ = true;
    return absl::OkStatus();
  }

 private:
  // Honest even without isolation: nothing runs after Destroy.
  absl::Status CheckAlive() const {
    if (destroyed_) return absl::FailedPreconditionError("noop backend: destroyed");
    return absl::OkStatus();
  }

  std::atomic<bool> destroyed_{false};
};

}  // namespace

std::unique_ptr<Backend> CreateNoopBackend() { return std::make_unique<NoopBackend>(); }

}  // namespace kavach::internal
