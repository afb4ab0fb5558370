// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach::Sandbox: owns the lifecycle state machine, the backend and the gate.
// The backend isolates and runs; everything a user can observe about state,
// score, environment and output policy is decided here.
#include "kavach/sandbox.h"

#include <sys/random.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "backend/backend.h"
#include "backend/composite/composite_backend.h"
#include "linux/strings.h"
#include "nlohmann/json.hpp"
#include "sandbox/environment.h"
#include "sandbox/exec_request.h"
#include "sandbox/lifecycle.h"
#include "sandbox/secret_injection.h"
#include "scan/gate.h"

namespace kavach {
namespace internal {

// Carries a backend's events (egress request records) to the audit chain on a
// thread of its own: the backend's threads must not wait for an fsync, and
// records that pile up meanwhile go in one commit. Events that arrive before
// the gate exists wait for it.
class EventRecorder final {
 public:
  EventRecorder() : thread_([this] { Run(); }) {}
  ~EventRecorder() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  void SetGate(Gate* gate) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      gate_ = gate;
    }
    cv_.notify_all();
  }

  void Push(std::string_view type, std::string payload) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Bounded: a flood of requests cannot grow memory without end; what is
      // dropped is counted in the next record.
      if (queue_.size() >= kMaxQueued) {
        ++dropped_;
        return;
      }
      queue_.emplace_back(std::string(type), std::move(payload));
    }
    cv_.notify_all();
  }

 private:
  static constexpr size_t kMaxQueued = 100000;

  void Run() {
    for (;;) {
      std::vector<std::pair<std::string, std::string>> batch;
      Gate* gate = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || (gate_ != nullptr && !queue_.empty()); });
        if (gate_ == nullptr || queue_.empty()) return;  // stopping
        batch.swap(queue_);
        if (dropped_ > 0) {
          batch.emplace_back("egress_records_dropped", nlohmann::json{{"count", dropped_}}.dump());
          dropped_ = 0;
        }
        gate = gate_;
      }
      (void)gate->RecordEvents(batch);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, std::string>> queue_;
  uint64_t dropped_ = 0;
  Gate* gate_ = nullptr;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace internal

namespace {

using internal::Gate;
using internal::GateStream;
using internal::InjectedSecrets;
using internal::RedactingStream;

// Removes injected secrets from a result's output (whether or not the gate is
// on) and, when any was found, says so in the findings; a gated pass becomes
// a redact verdict.
void RedactInjectedSecrets(const InjectedSecrets* secrets, ExecResult* result) {
  if (secrets == nullptr) return;
  for (auto [data, stream] : {std::pair<std::string*, const char*>{&result->stdout_data, "stdout"},
                              {&result->stderr_data, "stderr"}}) {
    size_t n = secrets->Redact(data);
    if (n == 0) continue;
    Finding f;
    f.rule_id = "kavach-injected-secret";
    f.scanner = "secrets";
    f.category = "injected_secret";
    f.severity = Severity::kMedium;
    f.stream = stream;
    f.preview = absl::StrCat(n, " occurrence", n == 1 ? "" : "s", " replaced by ",
                             internal::kInjectedSecretRedaction);
    result->findings.push_back(std::move(f));
    if (result->gated && result->verdict < Verdict::kRedact) result->verdict = Verdict::kRedact;
  }
}

// 128 random bits as 32 hex digits. getrandom(2) without flags only fails
// before the pool is seeded (it blocks instead) or on EINTR, so anything else
// "cannot happen" on the kernels we support.
std::string NewSandboxId() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fputs("kavach: getrandom failed; cannot make a sandbox id\n", stderr);
      std::abort();
    }
    got += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

absl::Status Record(Gate* gate, std::string_view type, const nlohmann::json& payload) {
  if (gate == nullptr) return absl::OkStatus();
  // Replace, not throw, on invalid UTF-8 (an error message may quote a path).
  return gate->RecordEvent(type,
                           payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

absl::Status RecordState(Gate* gate, SandboxState from, SandboxState to) {
  return Record(
      gate, "state",
      {{"from", std::string(SandboxStateName(from))}, {"to", std::string(SandboxStateName(to))}});
}

// Checks `to` against the FSM and applies it with its timestamps; the caller
// holds the sandbox's lock.
absl::Status ApplyTransition(SandboxState to, SandboxState* state,
                             std::optional<absl::Time>* started_at,
                             std::optional<absl::Time>* stopped_at) {
  if (absl::Status s = internal::CheckTransition(*state, to); !s.ok()) return s;
  *state = to;
  absl::Time now = absl::Now();
  if (to == SandboxState::kRunning && !started_at->has_value()) *started_at = now;
  // The first stop is when the sandbox stopped running; a later Destroy does
  // not move it.
  if ((to == SandboxState::kStopped || to == SandboxState::kDestroyed) &&
      !stopped_at->has_value()) {
    *stopped_at = now;
  }
  return absl::OkStatus();
}

// Acts on the threat classifier's tier after an exec: suspend pauses the
// sandbox, revoke stops and destroys it. Uses only the public lifecycle so the
// state machine and the audit chain see it like any other transition.
absl::Status RespondToThreat(Sandbox* sandbox, Gate* gate) {
  switch (gate->tier()) {
    case internal::ThreatTier::kLog:
    case internal::ThreatTier::kAlert:
      return absl::OkStatus();
    case internal::ThreatTier::kSuspend: {
      if (sandbox->state() != SandboxState::kRunning) return absl::OkStatus();
      absl::Status recorded = Record(gate, "threat", {{"tier", "suspend"}, {"action", "pause"}});
      if (absl::Status s = sandbox->Pause(); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("threat response: pause: ", s.message()));
      }
      return recorded;
    }
    case internal::ThreatTier::kRevoke: {
      if (sandbox->state() == SandboxState::kDestroyed) return absl::OkStatus();
      absl::Status recorded = Record(gate, "threat", {{"tier", "revoke"}, {"action", "destroy"}});
      SandboxState st = sandbox->state();
      if (st == SandboxState::kRunning || st == SandboxState::kPaused) {
        if (absl::Status s = sandbox->Stop(); !s.ok()) {
          return absl::Status(s.code(), absl::StrCat("threat response: stop: ", s.message()));
        }
      }
      if (absl::Status s = sandbox->Destroy(); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("threat response: destroy: ", s.message()));
      }
      return recorded;
    }
  }
  return absl::OkStatus();
}

// Kills a spawned command once its handle exists; a request that arrives
// before (output can stream before Spawn returns) is kept and honoured on
// Attach.
class DeferredKiller final {
 public:
  DeferredKiller() = default;
  DeferredKiller(const DeferredKiller&) = delete;
  DeferredKiller& operator=(const DeferredKiller&) = delete;

  void Attach(SpawnedProcess* process) {
    absl::MutexLock lock(&mu_);
    process_ = process;
    if (process_ != nullptr && kill_requested_) (void)process_->Kill();
  }
  void RequestKill() {
    absl::MutexLock lock(&mu_);
    kill_requested_ = true;
    if (process_ != nullptr) (void)process_->Kill();
  }
  bool kill_requested() const {
    absl::MutexLock lock(&mu_);
    return kill_requested_;
  }

 private:
  mutable absl::Mutex mu_;
  SpawnedProcess* process_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool kill_requested_ ABSL_GUARDED_BY(mu_) = false;
};

// One output stream of a spawned command passing through the gate on its way
// to the caller's callback. After a block-level finding nothing more is
// delivered and the command is killed.
class StreamTap final {
 public:
  StreamTap(std::unique_ptr<GateStream> stream, std::function<void(std::string_view)> sink,
            std::shared_ptr<DeferredKiller> killer)
      : stream_(std::move(stream)), sink_(std::move(sink)), killer_(std::move(killer)) {}
  StreamTap(const StreamTap&) = delete;
  StreamTap& operator=(const StreamTap&) = delete;

  void Feed(std::string_view chunk) {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    std::string safe = stream_->Feed(chunk);
    if (stream_->blocked()) {
      closed_ = true;
      blocked_ = true;
      killer_->RequestKill();
      return;
    }
    if (!safe.empty()) sink_(safe);
  }

  void Finish() {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    std::string tail = stream_->Finish();
    if (stream_->blocked()) {
      blocked_ = true;
      return;
    }
    if (!tail.empty()) sink_(tail);
  }

  bool blocked() const {
    absl::MutexLock lock(&mu_);
    return blocked_;
  }

 private:
  mutable absl::Mutex mu_;
  std::unique_ptr<GateStream> stream_ ABSL_GUARDED_BY(mu_);
  std::function<void(std::string_view)> sink_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool blocked_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<DeferredKiller> killer_;
};

// Injected secrets out of one output stream, before the gate sees it. Flushed
// (Finish) when the command ends, before the gate's own tap finishes.
class SecretTap final {
 public:
  SecretTap(const InjectedSecrets* secrets, std::function<void(std::string_view)> next)
      : stream_(secrets), next_(std::move(next)) {}
  void Feed(std::string_view chunk) {
    absl::MutexLock lock(&mu_);
    std::string out = stream_.Feed(chunk);
    if (!out.empty()) next_(out);
  }
  void Finish() {
    absl::MutexLock lock(&mu_);
    std::string out = stream_.Finish();
    if (!out.empty()) next_(out);
  }

 private:
  absl::Mutex mu_;
  RedactingStream stream_ ABSL_GUARDED_BY(mu_);
  std::function<void(std::string_view)> next_;
};

// Puts the injected-secret findings found before the gate ran back into the
// result the gate filled; a gated pass becomes a redact verdict.
void AddInjectedFindings(std::vector<Finding> injected, ExecResult* result) {
  if (injected.empty()) return;
  for (Finding& f : injected) result->findings.push_back(std::move(f));
  if (result->gated && result->verdict < Verdict::kRedact) result->verdict = Verdict::kRedact;
}

// The handle Sandbox::Spawn returns: the backend's process plus the gate.
// Like the backend's handle, it must not outlive its Sandbox.
class GatedProcess final : public SpawnedProcess {
 public:
  GatedProcess(Sandbox* sandbox, Gate* gate, const InjectedSecrets* secrets,
               std::vector<std::string> argv, std::unique_ptr<SpawnedProcess> inner,
               std::shared_ptr<DeferredKiller> killer, std::vector<std::shared_ptr<StreamTap>> taps,
               std::vector<std::shared_ptr<SecretTap>> secret_taps)
      : sandbox_(sandbox),
        gate_(gate),
        secrets_(secrets),
        argv_(std::move(argv)),
        inner_(std::move(inner)),
        killer_(std::move(killer)),
        taps_(std::move(taps)),
        secret_taps_(std::move(secret_taps)) {
    killer_->Attach(inner_.get());
  }
  ~GatedProcess() override { killer_->Attach(nullptr); }
  GatedProcess(const GatedProcess&) = delete;
  GatedProcess& operator=(const GatedProcess&) = delete;

  absl::StatusOr<ExecResult> Wait() override {
    absl::MutexLock lock(&wait_mu_);
    if (!final_.has_value()) final_ = Finish(inner_->Wait());
    return *final_;
  }

  absl::Status Kill() override { return inner_->Kill(); }
  pid_t pid() const override { return inner_->pid(); }

 private:
  absl::StatusOr<ExecResult> Finish(absl::StatusOr<ExecResult> result) {
    for (const auto& tap : secret_taps_) tap->Finish();
    for (const auto& tap : taps_) tap->Finish();
    if (!result.ok()) return result;
    result->score = sandbox_->score();
    result->evidence = sandbox_->evidence();
    if (gate_ == nullptr) {
      RedactInjectedSecrets(secrets_, &*result);
      return result;
    }
    // Before the gate: its quarantine store must not keep the secret either.
    std::vector<Finding> injected;
    RedactInjectedSecrets(secrets_, &*result);
    injected.swap(result->findings);
    absl::Status verdict = gate_->Apply(argv_, &*result);
    AddInjectedFindings(std::move(injected), &*result);
    bool stream_blocked = false;
    for (const auto& tap : taps_) stream_blocked = stream_blocked || tap->blocked();
    if (verdict.ok() && stream_blocked) {
      // The streaming scan saw a block-level finding; fail closed even if the
      // final pass disagrees.
      result->stdout_data.clear();
      result->stderr_data.clear();
      result->verdict = Verdict::kBlock;
      verdict = absl::PermissionDeniedError("gate: output blocked while streaming");
    }
    absl::Status threat = RespondToThreat(sandbox_, gate_);
    if (!verdict.ok()) return verdict;
    if (!threat.ok()) return threat;
    return result;
  }

  Sandbox* const sandbox_;
  Gate* const gate_;
  const InjectedSecrets* const secrets_;
  const std::vector<std::string> argv_;
  std::unique_ptr<SpawnedProcess> inner_;
  std::shared_ptr<DeferredKiller> killer_;
  std::vector<std::shared_ptr<StreamTap>> taps_;
  std::vector<std::shared_ptr<SecretTap>> secret_taps_;
  absl::Mutex wait_mu_;
  std::optional<absl::StatusOr<ExecResult>> final_ ABSL_GUARDED_BY(wait_mu_);
};

}  // namespace

Sandbox::Sandbox(SandboxConfig config, std::unique_ptr<internal::Backend> backend)
    : id_(NewSandboxId()),
      config_(std::move(config)),
      backend_(std::move(backend)),
      created_at_(absl::Now()) {}

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create(const SandboxConfig& config) {
  if (absl::Status s = config.policy.Validate(); !s.ok()) return s;
  if (config.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout must be positive");
  }
  for (const auto& [name, value] : config.env) {
    if (absl::Status s = internal::ValidateEnvEntry(name, value); !s.ok()) return s;
  }

  std::unique_ptr<InjectedSecrets> secrets;
  if (!config.policy.secrets.empty()) {
    // The other backends would carry the value through places kavach does
    // not control (a runtime's argv or process file, a guest channel).
    if (config.backend != BackendKind::kProcess || config.inner) {
      return absl::FailedPreconditionError(absl::StrCat(
          "secrets: direct injection needs the process backend, not ",
          ToAbsl(BackendKindName(config.backend)), config.inner ? " (composite)" : ""));
    }
    absl::StatusOr<std::unique_ptr<InjectedSecrets>> loaded =
        InjectedSecrets::Load(config.policy.secrets);
    if (!loaded.ok()) return loaded.status();
    secrets = *std::move(loaded);
  }

  absl::StatusOr<std::unique_ptr<internal::Backend>> backend =
      config.inner ? internal::CreateCompositeBackend(config.backend, *config.inner)
                   : internal::CreateBackend(config.backend);
  if (!backend.ok()) return backend.status();
  // From here on the destructor cleans up whatever Prepare built, even when
  // Prepare or the gate fails part-way.
  std::unique_ptr<Sandbox> sandbox(new Sandbox(config, *std::move(backend)));
  // Only the egress proxy reports events of its own so far (network proxy).
  if (config.audit.log_path.has_value() && config.policy.network.mode == NetworkMode::kProxy) {
    sandbox->recorder_ = std::make_unique<internal::EventRecorder>();
    sandbox->backend_->SetEventSink(
        [recorder = sandbox->recorder_.get()](std::string_view type, std::string payload) {
          recorder->Push(type, std::move(payload));
        });
  }
  if (secrets != nullptr) {
    if (absl::Status s = sandbox->backend_->SetSecretFiles(secrets->Files()); !s.ok()) return s;
    sandbox->secrets_ = std::move(secrets);
  }

  // The gate (rule packs, compiled databases, the audit chain) loads on a
  // thread of its own while the backend prepares: one is CPU work, the other
  // mostly waits on the kernel (namespace set-up, a cgroup attach). A failure
  // of either fails Create; the gate's failure wins, as it names the caller's
  // configuration, and a failed prepare is still audited.
  std::optional<absl::StatusOr<std::unique_ptr<Gate>>> gate;
  absl::Duration gate_time;
  std::thread gate_loader;
  if (config.gate.enabled || config.audit.log_path.has_value()) {
    gate_loader = std::thread([&] {
      absl::Time t0 = absl::Now();
      gate.emplace(Gate::Create(config.gate, config.audit, sandbox->id_, config.agent_id));
      gate_time = absl::Now() - t0;
    });
  }
  internal::PrepareReport report;
  absl::Status prepared = sandbox->backend_->Prepare(sandbox->config_, &report);
  if (gate_loader.joinable()) {
    gate_loader.join();
    if (!gate->ok()) return gate->status();
    sandbox->gate_ = *std::move(*gate);
    if (sandbox->recorder_ != nullptr) sandbox->recorder_->SetGate(sandbox->gate_.get());
    sandbox->create_steps_.push_back(SetupStep{"gate", gate_time});
  }
  if (!prepared.ok()) {
    (void)Record(sandbox->gate_.get(), "create_failed",
                 {{"backend", std::string(BackendKindName(config.backend))},
                  {"error", prepared.ToString()}});
    return prepared;  // as is: the backend names the control that failed
  }
  if (sandbox->secrets_ != nullptr) {
    for (Evidence& e : sandbox->secrets_->MakeEvidence()) report.evidence.push_back(std::move(e));
  }
  sandbox->score_ = VerifiedScore(config.backend, report.evidence);
  sandbox->evidence_ = std::move(report.evidence);
  for (SetupStep& step : report.steps) sandbox->create_steps_.push_back(std::move(step));

  nlohmann::json evidence = nlohmann::json::array();
  for (const Evidence& e : sandbox->evidence_) {
    evidence.push_back({{"control", e.control}, {"verified", e.verified}, {"points", e.points}});
  }
  if (absl::Status s = Record(sandbox->gate_.get(), "create",
                              {{"backend", std::string(BackendKindName(config.backend))},
                               {"score", sandbox->score_.value},
                               {"label", std::string(sandbox->score_.Label())},
                               {"evidence", evidence}});
      !s.ok()) {
    return s;
  }
  return sandbox;
}

Sandbox::~Sandbox() {
  if (state() != SandboxState::kDestroyed) (void)Destroy();
  // After the backend (no more events), before the gate (flushes into it).
  recorder_.reset();
}

SandboxState Sandbox::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

std::optional<absl::Time> Sandbox::started_at() const {
  absl::MutexLock lock(&mu_);
  return started_at_;
}

std::optional<absl::Time> Sandbox::stopped_at() const {
  absl::MutexLock lock(&mu_);
  return stopped_at_;
}

absl::Status Sandbox::Transition(SandboxState to) {
  SandboxState from;
  {
    absl::MutexLock lock(&mu_);
    from = state_;
    if (absl::Status s = ApplyTransition(to, &state_, &started_at_, &stopped_at_); !s.ok()) {
      return s;
    }
  }
  // The state has changed either way; an audit failure is still reported.
  return RecordState(gate_.get(), from, to);
}

absl::Status Sandbox::Start() {
  SandboxState from;
  {
    // Checked under the same lock as the change: Paused -> Running is legal
    // for the FSM but must go through Resume, which thaws the backend.
    absl::MutexLock lock(&mu_);
    from = state_;
    if (from == SandboxState::kPaused) {
      return absl::FailedPreconditionError("lifecycle: start of a paused sandbox; use Resume");
    }
    // Prepare already built everything; starting is a state change only.
    if (absl::Status s =
            ApplyTransition(SandboxState::kRunning, &state_, &started_at_, &stopped_at_);
        !s.ok()) {
      return s;
    }
  }
  return RecordState(gate_.get(), from, SandboxState::kRunning);
}

absl::Status Sandbox::Pause() {
  if (absl::Status s = internal::CheckTransition(state(), SandboxState::kPaused); !s.ok()) return s;
  if (absl::Status s = backend_->Pause(); !s.ok()) return s;
  return Transition(SandboxState::kPaused);
}

absl::Status Sandbox::Resume() {
  SandboxState from = state();
  // Created -> Running is Start, not Resume.
  if (from != SandboxState::kPaused) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lifecycle: resume needs a paused sandbox, it is ", ToAbsl(SandboxStateName(from))));
  }
  if (absl::Status s = backend_->Resume(); !s.ok()) return s;
  return Transition(SandboxState::kRunning);
}

absl::Status Sandbox::Stop() {
  if (absl::Status s = internal::CheckTransition(state(), SandboxState::kStopped); !s.ok()) {
    return s;
  }
  if (absl::Status s = backend_->Stop(); !s.ok()) return s;
  return Transition(SandboxState::kStopped);
}

absl::Status Sandbox::Destroy() {
  if (absl::Status s = internal::CheckTransition(state(), SandboxState::kDestroyed); !s.ok()) {
    return s;
  }
  // The backend's Destroy kills whatever still runs, so Running -> Destroyed
  // needs no separate Stop.
  if (absl::Status s = backend_->Destroy(); !s.ok()) return s;
  recorder_.reset();  // the last egress records go in before the state change
  return Transition(SandboxState::kDestroyed);
}

absl::StatusOr<ExecResult> Sandbox::Exec(const std::vector<std::string>& argv,
                                         const ExecOptions& options) {
  if (SandboxState st = state(); st != SandboxState::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("exec: sandbox is ", ToAbsl(SandboxStateName(st)), ", not running"));
  }
  absl::StatusOr<internal::BackendExecRequest> request =
      internal::BuildExecRequest(config_, argv, options);
  if (!request.ok()) return request.status();

  if (secrets_ != nullptr) secrets_->AddTo(&*request);
  absl::StatusOr<ExecResult> result = backend_->Exec(*request);
  if (secrets_ != nullptr) InjectedSecrets::WipeRequest(&*request);
  if (!result.ok()) return result.status();
  result->score = score_;
  result->evidence = evidence_;
  // Before the gate: its quarantine store must not keep the secret either.
  RedactInjectedSecrets(secrets_.get(), &*result);
  if (gate_ == nullptr) return result;
  std::vector<Finding> injected;
  injected.swap(result->findings);

  // PermissionDenied is the block/quarantine verdict; the threat response
  // still runs, since a blocked exec is exactly what raises the tier.
  absl::Status verdict = gate_->Apply(argv, &*result);
  AddInjectedFindings(std::move(injected), &*result);
  absl::Status threat = RespondToThreat(this, gate_.get());
  if (!verdict.ok()) return verdict;
  if (!threat.ok()) return threat;
  return result;
}

absl::StatusOr<std::unique_ptr<SpawnedProcess>> Sandbox::Spawn(const std::vector<std::string>& argv,
                                                               SpawnOptions options) {
  if (SandboxState st = state(); st != SandboxState::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("spawn: sandbox is ", ToAbsl(SandboxStateName(st)), ", not running"));
  }
  absl::StatusOr<internal::BackendExecRequest> request =
      internal::BuildExecRequest(config_, argv, options);
  if (!request.ok()) return request.status();

  auto killer = std::make_shared<DeferredKiller>();
  std::vector<std::shared_ptr<StreamTap>> taps;
  std::vector<std::shared_ptr<SecretTap>> secret_taps;
  auto wire = [&](std::function<void(std::string_view)> sink, std::string_view name,
                  std::function<void(std::string_view)>* out) {
    if (!sink) return;
    if (gate_ != nullptr && config_.gate.enabled) {
      auto tap = std::make_shared<StreamTap>(gate_->OpenStream(name), std::move(sink), killer);
      taps.push_back(tap);
      sink = [tap](std::string_view chunk) { tap->Feed(chunk); };
    }
    if (secrets_ != nullptr) {
      auto tap = std::make_shared<SecretTap>(secrets_.get(), std::move(sink));
      secret_taps.push_back(tap);
      sink = [tap](std::string_view chunk) { tap->Feed(chunk); };
    }
    *out = std::move(sink);
  };
  wire(std::move(options.on_stdout), "stdout", &request->on_stdout);
  wire(std::move(options.on_stderr), "stderr", &request->on_stderr);

  if (secrets_ != nullptr) secrets_->AddTo(&*request);
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> inner = backend_->Spawn(*request);
  if (secrets_ != nullptr) InjectedSecrets::WipeRequest(&*request);
  if (!inner.ok()) return inner.status();
  return std::make_unique<GatedProcess>(this, gate_.get(), secrets_.get(), argv, *std::move(inner),
                                        std::move(killer), std::move(taps), std::move(secret_taps));
}

}  // namespace kavach
