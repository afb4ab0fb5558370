// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The interface every isolation backend implements, and the registry that
// finds them by kind. Not public: users go through kavach::Sandbox, which
// owns the lifecycle state machine, the gate and the audit chain; a backend
// only isolates and runs.
#ifndef KAVACH_BACKEND_BACKEND_H_
#define KAVACH_BACKEND_BACKEND_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "egress/secret.h"
#include "kavach/backend_kind.h"
#include "kavach/sandbox.h"
#include "kavach/score.h"

namespace kavach::internal {

// One command for a backend to run. The environment is final (the sandbox
// layer has already applied the clean-environment rule).
struct BackendExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=VALUE"
  std::string cwd;               // inside the sandbox
  std::optional<std::string> stdin_data;
  absl::Duration timeout = absl::Seconds(30);
  uint64_t max_output_bytes = 1 << 20;  // per stream
  // Streaming sinks (Spawn). When set, the chunk is delivered here as it
  // arrives, and still captured (up to the cap) in the result.
  std::function<void(std::string_view)> on_stdout;
  std::function<void(std::string_view)> on_stderr;
};

// A secret the backend writes inside the sandbox (policy.secrets, kFile):
// a 0400 file at `path`, owned by the sandbox user, on a tmpfs that is gone
// at Destroy.
struct SecretFile {
  std::string path;  // kSecretFileDir/NAME
  Secret value;
};

// Where a backend reports events of its own for the sandbox's audit chain
// (the egress proxy's request records: "egress_request"). Called from the
// backend's threads; must not block.
using BackendEventSink = std::function<void(std::string_view event_type, std::string payload_json)>;

// What Prepare learned: evidence of each control actually enforced, and how
// long each step took.
struct PrepareReport {
  std::vector<Evidence> evidence;
  std::vector<SetupStep> steps;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendKind kind() const = 0;

  // Builds the isolated environment and verifies it. Fails closed: a control
  // the policy asks for and the backend cannot apply (and that is not in
  // policy.optional_controls) is FailedPrecondition naming the control.
  virtual absl::Status Prepare(const SandboxConfig& config, PrepareReport* report) = 0;

  // Called before Prepare; a backend without events of its own ignores it.
  virtual void SetEventSink(BackendEventSink sink) {}

  // Called before Prepare when the policy delivers secrets as files. A
  // backend that cannot must refuse (fail closed); the default does.
  virtual absl::Status SetSecretFiles(std::vector<SecretFile> files) {
    if (files.empty()) return absl::OkStatus();
    return absl::FailedPreconditionError(
        "secrets: delivery by file is supported by the process backend only");
  }

  // Runs one command to completion. A timeout is a result, not an error.
  virtual absl::StatusOr<ExecResult> Exec(const BackendExecRequest& request) = 0;
  // Starts one command; the handle's Wait() returns the same as Exec would.
  virtual absl::StatusOr<std::unique_ptr<SpawnedProcess>> Spawn(
      const BackendExecRequest& request) = 0;

  virtual absl::Status Pause() = 0;  // freeze every process inside
  virtual absl::Status Resume() = 0;
  virtual absl::Status Stop() = 0;     // kill every process inside
  virtual absl::Status Destroy() = 0;  // release everything; idempotent
};

// Makes an unprepared backend of `kind`. Unavailable (with the probe's
// reason) when the kind cannot run here or is not built in this version.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(BackendKind kind);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_BACKEND_H_
