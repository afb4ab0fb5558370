// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Sandbox: one isolated environment with a lifecycle, in which commands run.
//
//   auto config = kavach::SandboxConfig::Builder()
//                     .backend(kavach::BackendKind::kProcess)
//                     .policy(kavach::SandboxPolicy::Strict())
//                     .timeout(absl::Seconds(30))
//                     .Build();                            // StatusOr
//   auto sandbox = kavach::Sandbox::Create(*config);        // prepared, Created
//   (*sandbox)->Start();                                    // Running
//   auto r = (*sandbox)->Exec({"python3", "-c", "print(1)"});
//   // r->exit_code, r->stdout_data, r->score, r->evidence, r->verdict ...
//   (*sandbox)->Destroy();
//
// Lifecycle: Created -> Running; Running -> Paused | Stopped | Destroyed;
// Paused -> Running | Stopped | Destroyed; Stopped -> Destroyed; and
// Created -> Destroyed (destroying a never-started sandbox cleans it up).
// Every other transition is FailedPrecondition. Destroyed is terminal.
#ifndef KAVACH_SANDBOX_H_
#define KAVACH_SANDBOX_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kavach/backend_kind.h"
#include "kavach/findings.h"
#include "kavach/gate_config.h"
#include "kavach/policy.h"
#include "kavach/score.h"

namespace kavach {

enum class SandboxState { kCreated, kRunning, kPaused, kStopped, kDestroyed };
std::string_view SandboxStateName(SandboxState s);  // "created", ...
// True for exactly the nine legal (from, to) pairs listed above.
bool IsLegalTransition(SandboxState from, SandboxState to);

// WASM backend only (the other backends ignore it).
struct WasmOptions {
  // Per-exec fuel budget; when set, modules run metered and stop
  // deterministically when it is spent. An exec's KAVACH_WASM_FUEL=N
  // variable overrides it (and is not passed to the module).
  std::optional<uint64_t> fuel;
  // Extra preopened directories, {host path, guest path}: the host path is
  // bound read-write in the jail at its own path and preopened at the guest
  // path (the host path when empty).
  std::vector<std::pair<std::string, std::string>> dirs;
  // Host paths of modules the engine compiles when it starts, so that the
  // first exec of one in a pooled sandbox is instantiate-and-run only.
  std::vector<std::string> preload;
};

struct SandboxConfig {
  BackendKind backend = BackendKind::kProcess;
  // A second layer inside `backend` (gvisor or oci): kProcess runs kavach's
  // process jail inside the container (a composite sandbox).
  std::optional<BackendKind> inner;
  SandboxPolicy policy = SandboxPolicy::Basic();
  // Default per-exec timeout; an exec may shorten it. policy.limits.wall_time_ms,
  // when set, caps it as well.
  absl::Duration timeout = absl::Seconds(30);
  // Host directory bound read-write at policy.working_directory. When empty a
  // fresh private directory is made and removed at Destroy.
  std::string host_workdir;
  // Variables added to every exec's environment.
  std::map<std::string, std::string> env;
  GateConfig gate;
  AuditConfig audit;
  std::string agent_id;  // free-form, recorded in the audit chain
  WasmOptions wasm;
  // The caller runs exactly one command (as `kavach exec` does). The oci and
  // gvisor backends then make that command part of the container's own first
  // process, started with one `<runtime> run` instead of create, start, exec,
  // kill and delete; the evidence is still gathered and verified in Create,
  // by that process, before the command is handed to it. A second Exec or
  // Spawn is FailedPrecondition. Other backends ignore it.
  bool single_exec = false;

  class Builder;
};

// Fluent builder; records the first error and returns it from Build().
class SandboxConfig::Builder {
 public:
  Builder() = default;
  Builder& backend(BackendKind kind);
  Builder& backend(std::string_view name);  // parse error kept for Build()
  Builder& policy(SandboxPolicy policy);
  Builder& policy(std::string_view preset_or_path);
  Builder& timeout(absl::Duration timeout);
  Builder& workdir(std::string host_dir);
  Builder& env(std::string key, std::string value);
  Builder& gate(GateConfig gate);
  Builder& audit(AuditConfig audit);
  Builder& agent_id(std::string id);
  // Validates the policy too.
  absl::StatusOr<SandboxConfig> Build() const;

 private:
  void SetError(absl::Status s);
  SandboxConfig config_;
  absl::Status first_error_;
};

struct ExecOptions {
  std::optional<std::string> stdin_data;   // bytes written to stdin, then EOF
  std::map<std::string, std::string> env;  // added for this exec only
  std::optional<std::string> cwd;          // inside the sandbox
  std::optional<absl::Duration> timeout;   // shorter than the config's
};

// Time spent in one setup step, e.g. {"clone", 0.4ms}.
struct SetupStep {
  std::string name;
  absl::Duration duration;
};

// WASM backend only: how the module's run ended, as the engine reported it on
// a channel the guest cannot write to (src/backend/wasm/wasm_backend.h).
struct WasmRunInfo {
  uint64_t fuel_used = 0;           // 0 when the module ran unmetered
  bool fuel_exhausted = false;      // exit_code is then kWasmExitFuelExhausted (152)
  std::optional<std::string> trap;  // trap message; exit_code is then 134
  uint64_t memory_pages_peak = 0;   // 64 KiB pages of linear memory at the end
};

struct ExecResult {
  int exit_code = -1;       // -1 when killed by a signal or unknown
  int signal = 0;           // terminating signal, 0 if none
  std::string stdout_data;  // capped at policy.limits.max_output_bytes
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  bool timed_out = false;
  bool oom_killed = false;
  absl::Duration wall_time;
  absl::Duration cpu_time;  // user + system of the command's tree
  uint64_t peak_memory_bytes = 0;
  std::vector<SetupStep> setup;     // per-step latency of this exec
  std::optional<WasmRunInfo> wasm;  // set by the WASM backend only

  StrengthScore score;  // the sandbox's verified score
  std::vector<Evidence> evidence;

  // Filled by the output gate when it is enabled.
  bool gated = false;
  Verdict verdict = Verdict::kPass;
  std::vector<Finding> findings;
  std::string quarantine_id;  // set when the output was quarantined
  double threat_intent = 0;   // threat classifier's intent score for this exec

  // Exit status as a shell reports it: the exit code, 128+signal, 124 on
  // timeout.
  int ShellStatus() const;
};

// A command started with Spawn. Output streams to the callbacks as it
// arrives (through the gate, when enabled); Wait() returns the final result.
class SpawnedProcess {
 public:
  virtual ~SpawnedProcess() = default;
  // Blocks until the command ends (or its timeout kills it).
  virtual absl::StatusOr<ExecResult> Wait() = 0;
  // SIGKILLs the command's whole tree.
  virtual absl::Status Kill() = 0;
  // Sandbox-namespace pid of the command.
  virtual pid_t pid() const = 0;
};

struct SpawnOptions : ExecOptions {
  std::function<void(std::string_view)> on_stdout;
  std::function<void(std::string_view)> on_stderr;
};

namespace internal {
class Backend;
class Gate;
class InjectedSecrets;
class EventRecorder;
}  // namespace internal

class Sandbox final {
 public:
  // Validates the config and prepares the backend (for Process: a long-lived
  // init inside fresh namespaces with its root and cgroup built), gathering
  // evidence. Fails closed: a requested control that cannot be applied is an
  // error naming it. Unavailable backend: Unavailable with the probe's reason.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Create(const SandboxConfig& config);

  ~Sandbox();  // Destroys if not yet destroyed.
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  [[nodiscard]] absl::Status Start();
  [[nodiscard]] absl::Status Pause();  // freezes every process inside
  [[nodiscard]] absl::Status Resume();
  [[nodiscard]] absl::Status Stop();     // kills every process inside
  [[nodiscard]] absl::Status Destroy();  // leaves nothing behind

  // Runs argv inside; requires Running. A timeout is a result with
  // timed_out=true, not an error. The output passes the gate when enabled; a
  // Block verdict returns PermissionDenied (findings in the audit chain).
  absl::StatusOr<ExecResult> Exec(const std::vector<std::string>& argv,
                                  const ExecOptions& options = {});
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> Spawn(const std::vector<std::string>& argv,
                                                        SpawnOptions options = {});

  const std::string& id() const { return id_; }
  SandboxState state() const;
  const SandboxConfig& config() const { return config_; }
  const StrengthScore& score() const { return score_; }
  const std::vector<Evidence>& evidence() const { return evidence_; }
  // Per-step latency of Create.
  const std::vector<SetupStep>& create_steps() const { return create_steps_; }
  absl::Time created_at() const { return created_at_; }
  std::optional<absl::Time> started_at() const;
  std::optional<absl::Time> stopped_at() const;

 private:
  Sandbox(SandboxConfig config, std::unique_ptr<internal::Backend> backend);
  absl::Status Transition(SandboxState to);

  const std::string id_;
  const SandboxConfig config_;
  std::unique_ptr<internal::Backend> backend_;
  std::unique_ptr<internal::Gate> gate_;
  // policy.secrets, loaded at Create; null when there are none.
  std::unique_ptr<internal::InjectedSecrets> secrets_;
  // The backend's own events (egress requests) on their way to the audit
  // chain; null without an audit log.
  std::unique_ptr<internal::EventRecorder> recorder_;
  StrengthScore score_;
  std::vector<Evidence> evidence_;
  std::vector<SetupStep> create_steps_;
  absl::Time created_at_;

  mutable absl::Mutex mu_;
  SandboxState state_ ABSL_GUARDED_BY(mu_) = SandboxState::kCreated;
  std::optional<absl::Time> started_at_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> stopped_at_ ABSL_GUARDED_BY(mu_);
};

// Keeps `target` prepared sandboxes ready. Claim() hands one out (already
// Running) and never gives the same sandbox to two callers.
class SandboxPool final {
 public:
  static absl::StatusOr<std::unique_ptr<SandboxPool>> Create(SandboxConfig config, size_t target,
                                                             bool background_refill = false);
  ~SandboxPool();
  SandboxPool(const SandboxPool&) = delete;
  SandboxPool& operator=(const SandboxPool&) = delete;

  // A prepared, Running sandbox; creates one on demand when the pool is empty.
  absl::StatusOr<std::unique_ptr<Sandbox>> Claim();
  // Creates sandboxes until `target` are ready.
  absl::Status Replenish();
  size_t available() const;
  size_t target() const { return target_; }

 private:
  SandboxPool(SandboxConfig config, size_t target);
  void RefillLoop();

  const SandboxConfig config_;
  const size_t target_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Sandbox>> ready_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool background_ = false;
  struct Refiller;
  std::unique_ptr<Refiller> refiller_;
};

}  // namespace kavach

#endif  // KAVACH_SANDBOX_H_
