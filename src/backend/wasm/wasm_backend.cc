// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/wasm/wasm_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "backend/process/process_backend.h"
#include "backend/wasm/fuel_meter.h"
#include "backend/wasm/wasm_engine.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

using sys::UniqueFd;

constexpr int kPointsEngine = 5;
// A job line bigger than this (huge argv or env) runs on a one-shot engine:
// the control FIFO's buffer must always take a whole job.
constexpr size_t kMaxJobLine = 60000;
// The warm engine's own wall-clock limit in the jail (it is killed earlier,
// per job, by the host); must fit poll()'s int milliseconds.
constexpr absl::Duration kEngineLifetime = absl::Hours(24 * 20);
constexpr int kPointsMemoryCap = 5;
constexpr int kPointsCleanEnv = 5;

// Runs argv with an empty environment and returns its stdout (small outputs).
absl::StatusOr<std::string> RunCapture(const std::vector<std::string>& argv) {
  absl::StatusOr<sys::Pipe> p = sys::MakePipe();
  if (!p.ok()) return p.status();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p->write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char* envp[] = {nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return sys::ErrnoStatus(rc, absl::StrCat("spawn ", argv[0]));
  p->write.Reset();
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(p->read.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " failed"));
  }
  return out;
}

std::string StateBase() {
  const char* tmp = std::getenv("KAVACH_WASM_STATE_DIR");
  if (tmp != nullptr && *tmp == '/') return tmp;
  return absl::StrCat("/var/tmp/kavach-wasm-", ::geteuid());
}

absl::Status RemoveTree(const std::string& dir) {
  // Only our own flat layout: files in engine/ and out/, then the dirs.
  for (const char* sub : {"/engine", "/out"}) {
    std::string d = dir + sub;
    if (DIR* dp = ::opendir(d.c_str())) {
      while (struct dirent* e = ::readdir(dp)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        ::unlink((d + "/" + name).c_str());
      }
      ::closedir(dp);
    }
    ::rmdir(d.c_str());
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return sys::ErrnoStatus(errno, dir);
  return absl::OkStatus();
}

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> b(bytes);
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  std::string hex;
  for (unsigned char c : b) absl::StrAppendFormat(&hex, "%02x", c);
  return hex;
}

// What one exec needs after the engine ends.
struct ExecContext {
  std::string result_path;
  std::string nonce;
};

// Applies the engine's report `j` (already checked to carry this exec's
// nonce) to `r`.
absl::Status ApplyReport(const nlohmann::json& j, ExecResult* r) {
  if (!j.contains("outcome") || !j["outcome"].is_string()) {
    return absl::InternalError("wasm engine's report has no outcome");
  }
  std::string outcome = j["outcome"];
  auto str = [&](const char* k) -> std::string {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  auto num = [&](const char* k) -> uint64_t {
    return j.contains(k) && j[k].is_number_unsigned() ? j[k].get<uint64_t>() : 0;
  };
  if (outcome == "error") return absl::InvalidArgumentError(str("error"));
  WasmRunInfo info;
  info.fuel_used = num("fuel_used");
  info.memory_pages_peak = num("memory_pages_peak");
  if (outcome == "exit") {
    if (!j.contains("exit_code") || !j["exit_code"].is_number_integer()) {
      return absl::InternalError("wasm engine's report has no exit code");
    }
    r->exit_code = j["exit_code"].get<int>();
  } else if (outcome == "fuel_exhausted") {
    info.fuel_exhausted = true;
    info.trap = str("trap");
    r->exit_code = kWasmExitFuelExhausted;
  } else if (outcome == "trap") {
    info.trap = str("trap");
    r->exit_code = kWasmExitTrap;
  } else if (outcome == "memory_cap") {
    info.trap = absl::StrCat("memory cap: ", str("error"));
    r->exit_code = kWasmExitTrap;
  } else {
    return absl::InternalError(absl::StrCat("wasm engine's report: unknown outcome ", outcome));
  }
  r->signal = 0;
  r->wasm = std::move(info);
  return absl::OkStatus();
}

std::string Tail(const std::string& s) { return s.size() > 400 ? s.substr(s.size() - 400) : s; }

// Turns a one-shot engine's report into the exec's result.
absl::StatusOr<ExecResult> Finish(absl::StatusOr<ExecResult> r, const ExecContext& ctx) {
  if (!r.ok()) return r;
  absl::StatusOr<std::string> line = sys::ReadFile(ctx.result_path);
  ::unlink(ctx.result_path.c_str());
  if (r->timed_out) return r;  // the jail killed the engine: 124, no report
  if (!line.ok()) {
    if (r->signal != 0 || r->oom_killed) return r;  // killed from outside
    return absl::InternalError(absl::StrCat("wasm engine reported no result (exit ", r->exit_code,
                                            "): ", Tail(r->stderr_data)));
  }
  nlohmann::json j = nlohmann::json::parse(*line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("nonce") || j["nonce"] != ctx.nonce) {
    return absl::InternalError("wasm engine's report is malformed or not from this exec");
  }
  if (absl::Status s = ApplyReport(j, &*r); !s.ok()) return s;
  return r;
}

// A warm engine's channel to the host: its stdout, which only the runner
// writes (the guest's fds 0-2 are the job's files), split into report lines;
// and its exit. A byte on wake_w for each line and at exit lets the host
// poll() this together with the job's output FIFOs.
struct EngineLink {
  absl::Mutex mu;
  std::string partial ABSL_GUARDED_BY(mu);
  std::deque<std::string> lines ABSL_GUARDED_BY(mu);
  bool exited ABSL_GUARDED_BY(mu) = false;
  std::optional<absl::StatusOr<ExecResult>> exit ABSL_GUARDED_BY(mu);
  UniqueFd wake_r, wake_w;

  void Wake() {
    char c = 0;
    (void)!::write(wake_w.get(), &c, 1);
  }
  void OnStdout(std::string_view chunk) {
    {
      absl::MutexLock lock(&mu);
      partial.append(chunk);
      size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        lines.push_back(partial.substr(0, nl));
        partial.erase(0, nl + 1);
      }
    }
    Wake();
  }
  void DrainWake() {
    char buf[256];
    while (::read(wake_r.get(), buf, sizeof buf) > 0) {
    }
  }
};

// One node process serving jobs inside the jail (runner.mjs --serve). Jobs
// run one at a time; each gets a fresh instance and fresh WASI state.
class WarmEngine {
 public:
  WarmEngine() = default;
  ~WarmEngine() { Kill(); }
  WarmEngine(const WarmEngine&) = delete;
  WarmEngine& operator=(const WarmEngine&) = delete;

  // Starts the engine and waits for its probe line (its first report).
  static absl::StatusOr<std::unique_ptr<WarmEngine>> Start(Backend* jail,
                                                           BackendExecRequest request,
                                                           const std::string& ctl_path,
                                                           absl::Duration start_timeout) {
    auto e = std::make_unique<WarmEngine>();
    e->link_ = std::make_shared<EngineLink>();
    absl::StatusOr<sys::Pipe> wake = sys::MakePipe();
    if (!wake.ok()) return wake.status();
    ::fcntl(wake->read.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(wake->write.get(), F_SETFL, O_NONBLOCK);
    e->link_->wake_r = std::move(wake->read);
    e->link_->wake_w = std::move(wake->write);
    // The host keeps both ends of the control FIFO: the engine's open for
    // reading never blocks, and the engine sees EOF only when we close it.
    e->ctl_ = UniqueFd(::open(ctl_path.c_str(), O_RDWR | O_CLOEXEC));
    if (!e->ctl_) return sys::ErrnoStatus(errno, "open " + ctl_path);
    std::shared_ptr<EngineLink> link = e->link_;
    request.on_stdout = [link](std::string_view chunk) { link->OnStdout(chunk); };
    request.max_output_bytes = 1 << 16;  // the captured copy only
    absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = jail->Spawn(request);
    if (!p.ok()) return p.status();
    e->proc_ = *std::move(p);
    e->waiter_ = std::thread([link, proc = e->proc_.get()] {
      absl::StatusOr<ExecResult> r = proc->Wait();
      {
        absl::MutexLock lock(&link->mu);
        link->exited = true;
        link->exit = std::move(r);
      }
      link->Wake();
    });
    absl::StatusOr<std::string> probe = e->NextLine(absl::Now() + start_timeout);
    if (!probe.ok()) return probe.status();
    e->probe_ = nlohmann::json::parse(*probe, nullptr, false);
    return e;
  }

  const nlohmann::json& probe() const { return probe_; }
  EngineLink& link() { return *link_; }
  int ctl() const { return ctl_.get(); }

  bool exited() {
    absl::MutexLock lock(&link_->mu);
    return link_->exited;
  }

  // The next report line; an error when the engine exited or the deadline
  // passed first.
  absl::StatusOr<std::string> NextLine(absl::Time deadline) {
    absl::MutexLock lock(&link_->mu);
    EngineLink* l = link_.get();
    l->mu.AwaitWithDeadline(absl::Condition(
                                +[](EngineLink* l) ABSL_EXCLUSIVE_LOCKS_REQUIRED(l->mu) {
                                  return !l->lines.empty() || l->exited;
                                },
                                l),
                            deadline);
    if (!l->lines.empty()) {
      std::string line = std::move(l->lines.front());
      l->lines.pop_front();
      return line;
    }
    if (l->exited) return absl::UnavailableError(ExitText());
    return absl::DeadlineExceededError("the wasm engine did not answer in time");
  }

  // How the engine ended (mu held).
  std::string ExitText() ABSL_EXCLUSIVE_LOCKS_REQUIRED(link_->mu) {
    if (!link_->exit) return "the wasm engine is still running";
    const absl::StatusOr<ExecResult>& r = *link_->exit;
    if (!r.ok()) return absl::StrCat("the wasm engine failed: ", r.status().message());
    if (r->oom_killed) return "the wasm engine was OOM-killed (cgroup memory limit)";
    return absl::StrCat("the wasm engine ended (exit ", r->exit_code, ", signal ", r->signal,
                        "): ", Tail(r->stderr_data));
  }

  // Whether the engine was OOM-killed (after it exited).
  bool oom_killed() {
    absl::MutexLock lock(&link_->mu);
    return link_->exit && link_->exit->ok() && (*link_->exit)->oom_killed;
  }

  // SIGKILLs the engine's whole tree and waits until it is gone.
  void Kill() {
    if (proc_ == nullptr) return;
    if (!exited()) (void)proc_->Kill();
    if (waiter_.joinable()) waiter_.join();
    proc_.reset();
    ctl_.Reset();
  }

 private:
  std::shared_ptr<EngineLink> link_;
  std::unique_ptr<SpawnedProcess> proc_;
  std::thread waiter_;
  UniqueFd ctl_;
  nlohmann::json probe_;
};

class WasmSpawned final : public SpawnedProcess {
 public:
  WasmSpawned(std::unique_ptr<SpawnedProcess> inner, ExecContext ctx)
      : inner_(std::move(inner)), ctx_(std::move(ctx)) {}
  absl::StatusOr<ExecResult> Wait() override { return Finish(inner_->Wait(), ctx_); }
  absl::Status Kill() override { return inner_->Kill(); }
  pid_t pid() const override { return inner_->pid(); }

 private:
  std::unique_ptr<SpawnedProcess> inner_;
  ExecContext ctx_;
};

class WasmBackend final : public Backend {
 public:
  explicit WasmBackend(WasmBackendOptions options) : options_(std::move(options)) {}
  ~WasmBackend() override { (void)Destroy(); }
  WasmBackend(const WasmBackend&) = delete;
  WasmBackend& operator=(const WasmBackend&) = delete;

  BackendKind kind() const override { return BackendKind::kWasm; }

  absl::Status Prepare(const SandboxConfig& config, PrepareReport* report) override;
  absl::StatusOr<ExecResult> Exec(const BackendExecRequest& request) override;
  // Spawn always starts a one-shot engine: its output streams through the
  // jail's pipes as it arrives.
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> Spawn(
      const BackendExecRequest& request) override {
    ExecContext ctx;
    absl::StatusOr<BackendExecRequest> inner = BuildRequest(request, &ctx);
    if (!inner.ok()) return inner.status();
    absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = inner_->Spawn(*inner);
    if (!p.ok()) return p.status();
    return std::unique_ptr<SpawnedProcess>(new WasmSpawned(*std::move(p), std::move(ctx)));
  }
  absl::Status Pause() override { return Inner()->Pause(); }
  absl::Status Resume() override { return Inner()->Resume(); }
  absl::Status Stop() override {
    DiscardEngine();
    return Inner()->Stop();
  }
  absl::Status Destroy() override {
    DiscardEngine();
    absl::Status s;
    if (inner_ != nullptr) s = inner_->Destroy();
    if (!state_dir_.empty()) {
      absl::Status r = RemoveTree(state_dir_);
      if (s.ok()) s = r;
      state_dir_.clear();
    }
    return s;
  }

 private:
  // What an exec asks of the engine, before the engine-specific framing.
  struct Job {
    std::string module;  // inside engine_dir_
    std::optional<uint64_t> fuel;
    std::vector<std::string> args;  // guest argv
    std::vector<std::string> env;   // guest environment
  };

  Backend* Inner() { return inner_.get(); }
  absl::StatusOr<Job> MakeJob(const BackendExecRequest& request);
  absl::StatusOr<std::string> StageModule(const std::string& host_path, bool metered);
  absl::StatusOr<BackendExecRequest> BuildRequest(const BackendExecRequest& request,
                                                  ExecContext* ctx);
  std::vector<std::string> EngineArgv() const { return wasm_engine_->Argv(max_pages_); }
  absl::Status CheckProbe(const nlohmann::json& j, PrepareReport* report);
  // Gives a path made by us to the jail's user (as root the jail is not us).
  absl::Status GiveToJail(const std::string& path) {
    if (::geteuid() != 0) return absl::OkStatus();
    if (::chown(path.c_str(), jail_uid_, jail_gid_) != 0) return sys::ErrnoStatus(errno, path);
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<WarmEngine>> StartEngine();
  // Runs `job` on the warm engine (engine_mu_ held). *reusable says whether
  // the engine may serve another job.
  absl::StatusOr<ExecResult> RunOnEngine(WarmEngine& engine, const Job& job,
                                         const BackendExecRequest& request, bool* reusable);
  void DiscardEngine() {
    absl::MutexLock lock(&engine_mu_);
    if (replacement_.joinable()) replacement_.join();
    engine_.reset();
    spare_.reset();
  }
  absl::StatusOr<ExecResult> ColdExec(const BackendExecRequest& request) {
    ExecContext ctx;
    absl::StatusOr<BackendExecRequest> inner = BuildRequest(request, &ctx);
    if (!inner.ok()) return inner.status();
    return Finish(inner_->Exec(*inner), ctx);
  }

  WasmBackendOptions options_;
  std::unique_ptr<Backend> inner_;
  SandboxConfig config_;
  std::unique_ptr<WasmEngine> wasm_engine_;  // options_.make_engine(), else node:wasi
  std::string state_dir_;                    // per sandbox: engine/ (read-only inside) and out/
  std::string engine_dir_;
  std::string out_dir_;
  std::string cache_dir_;
  uint32_t max_pages_ = kWasmDefaultMaxPages;
  uid_t jail_uid_ = 0;
  gid_t jail_gid_ = 0;
  std::vector<std::pair<std::string, std::string>> preopens_;  // guest -> path in the jail
  std::vector<std::string> preload_;                           // staged modules
  // Host module -> its staged copy, while the host file is unchanged.
  using StagedKey = std::tuple<std::string, bool, dev_t, ino_t, off_t, time_t, long>;
  absl::Mutex staged_mu_;
  std::map<StagedKey, std::string> staged_ ABSL_GUARDED_BY(staged_mu_);
  std::atomic<uint64_t> next_exec_{1};

  // The warm engine. An engine that timed out, hit a cap, trapped or died is
  // discarded, and a replacement is started at once in `replacement_` (it
  // lands in spare_).
  absl::Mutex engine_mu_;
  std::unique_ptr<WarmEngine> engine_ ABSL_GUARDED_BY(engine_mu_);
  std::thread replacement_ ABSL_GUARDED_BY(engine_mu_);
  std::unique_ptr<WarmEngine> spare_;  // written by replacement_ only, read after join
  absl::Status spare_status_;
};

absl::Status WasmBackend::Prepare(const SandboxConfig& config, PrepareReport* report) {
  if (inner_ != nullptr) return absl::FailedPreconditionError("wasm backend already prepared");
  config_ = config;
  // The engine.
  absl::StatusOr<std::unique_ptr<WasmEngine>> made =
      options_.make_engine ? options_.make_engine()
                           : MakeNodeWasiEngine(options_.node_path, options_.runner_path);
  if (!made.ok()) return made.status();
  if (*made == nullptr) return absl::InternalError("wasm backend: the engine factory made none");
  wasm_engine_ = *std::move(made);
  if (!options_.fuel) options_.fuel = config.wasm.fuel;

  // Memory: the guest's cap in pages, and the engine's headroom in the cgroup.
  const SandboxPolicy& policy = config.policy;
  if (options_.max_memory_pages) {
    max_pages_ = *options_.max_memory_pages;
  } else if (policy.limits.memory_bytes) {
    max_pages_ =
        static_cast<uint32_t>(std::min<uint64_t>(65536, *policy.limits.memory_bytes >> 16));
  }
  if (max_pages_ < 2) return absl::InvalidArgumentError("wasm: memory cap below 2 pages");

  // State: engine/ holds the runner and the modules (read-only inside), out/
  // the engine's reports and the jobs' stdio (writable inside, never
  // preopened to the guest).
  std::string base = StateBase();
  if (absl::Status s = sys::MakePrivateDir(base, 0711); !s.ok()) return s;
  cache_dir_ = options_.cache_dir.empty() ? base + "/cache" : options_.cache_dir;
  std::string tmpl = base + "/sb-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return sys::ErrnoStatus(errno, "mkdtemp " + tmpl);
  state_dir_ = tmpl;
  ::chmod(state_dir_.c_str(), 0711);
  engine_dir_ = state_dir_ + "/engine";
  out_dir_ = state_dir_ + "/out";
  if (::mkdir(engine_dir_.c_str(), 0755) != 0) return sys::ErrnoStatus(errno, engine_dir_);
  if (::mkdir(out_dir_.c_str(), 0700) != 0) return sys::ErrnoStatus(errno, out_dir_);
  // The jail's user on the host: the Process backend's rule (ourselves when
  // unprivileged; as root the owner of a non-root workdir, else nobody).
  jail_uid_ = ::geteuid();
  jail_gid_ = ::getegid();
  if (::geteuid() == 0) {
    jail_uid_ = 65534;
    jail_gid_ = 65534;
    struct stat st;
    if (!config.host_workdir.empty() && ::stat(config.host_workdir.c_str(), &st) == 0 &&
        st.st_uid != 0) {
      jail_uid_ = st.st_uid;
      jail_gid_ = st.st_gid;
    }
  }
  if (absl::Status s = GiveToJail(out_dir_); !s.ok()) return s;
  if (absl::Status s = wasm_engine_->Install(engine_dir_); !s.ok()) return s;

  // The jail's policy: the sandbox's, plus the engine's files.
  SandboxConfig inner = config;
  inner.backend = BackendKind::kProcess;
  SandboxPolicy& ip = inner.policy;
  preopens_.clear();
  preopens_.emplace_back(policy.working_directory, policy.working_directory);
  for (const auto* list : {&policy.filesystem.read_only, &policy.filesystem.read_write}) {
    for (const std::string& p : *list) preopens_.emplace_back(p, p);
  }
  for (const auto& [host, guest] : config.wasm.dirs) {
    if (host.empty() || host[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat("wasm: dir '", host, "' is not absolute"));
    }
    ip.filesystem.read_write.push_back(host);
    preopens_.emplace_back(guest.empty() ? host : guest, host);
  }
  // "." as well, so that the guest's relative paths resolve in the working
  // directory as a native command's would (wasi-libc looks them up there).
  preopens_.emplace_back(".", policy.working_directory);
  ip.filesystem.read_only.push_back(engine_dir_);
  ip.filesystem.read_write.push_back(out_dir_);
  for (const std::string& dir : wasm_engine_->ExecutableDirs()) {
    ip.filesystem.read_only.push_back(dir);
    ip.filesystem.executable.push_back(dir);
  }
  // The seccomp profile is the sandbox's own: V8's writable+executable code
  // pages pass both the basic deny-list and the strict allow-list (tested).
  if (ip.limits.memory_bytes) *ip.limits.memory_bytes += kWasmEngineHeadroomBytes;
  // node's platform and libuv threads count against the pids limit; a warm
  // engine and its replacement may briefly run side by side.
  if (ip.limits.max_pids && *ip.limits.max_pids < 64) ip.limits.max_pids = 64;

  absl::StatusOr<std::unique_ptr<Backend>> b = CreateProcessBackend();
  if (!b.ok()) return b.status();
  inner_ = *std::move(b);
  PrepareReport inner_report;
  if (absl::Status s = inner_->Prepare(inner, &inner_report); !s.ok()) return s;
  report->evidence = std::move(inner_report.evidence);
  report->steps = std::move(inner_report.steps);

  absl::Time t0 = absl::Now();
  preload_.clear();
  for (const std::string& m : config.wasm.preload) {
    absl::StatusOr<std::string> staged = StageModule(m, options_.fuel.has_value());
    if (!staged.ok()) return staged.status();
    preload_.push_back(*staged);
  }
  if (!options_.warm_engine) {
    // One-shot probe: the engine runs once, reports, exits.
    ExecContext ctx{absl::StrCat(out_dir_, "/probe.json"), RandomHex(16)};
    BackendExecRequest req;
    req.argv = EngineArgv();
    for (const char* a :
         {"--result", ctx.result_path.c_str(), "--nonce", ctx.nonce.c_str(), "--probe"}) {
      req.argv.push_back(a);
    }
    req.cwd = policy.working_directory;
    req.timeout = absl::Seconds(30);
    absl::StatusOr<ExecResult> r = inner_->Exec(req);
    if (!r.ok()) return r.status();
    absl::StatusOr<std::string> line = sys::ReadFile(ctx.result_path);
    ::unlink(ctx.result_path.c_str());
    if (!line.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("wasm.engine: node did not start inside the jail (exit ", r->exit_code,
                       ", signal ", r->signal, "): ", r->stderr_data.substr(0, 400)));
    }
    nlohmann::json j = nlohmann::json::parse(*line, nullptr, false);
    if (!j.is_object() || j.value("nonce", "") != ctx.nonce) {
      return absl::FailedPreconditionError("wasm.engine: malformed probe report");
    }
    if (absl::Status s = CheckProbe(j, report); !s.ok()) return s;
    report->steps.push_back({"wasm.probe", absl::Now() - t0});
    return absl::OkStatus();
  }
  // The warm engine: started now, inside the jail; its first line is the
  // probe, checked like the one-shot one.
  absl::StatusOr<std::unique_ptr<WarmEngine>> e = StartEngine();
  if (!e.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("wasm.engine: node did not start inside the jail: ", e.status().message()));
  }
  if (absl::Status s = CheckProbe((*e)->probe(), report); !s.ok()) return s;
  report->steps.push_back({"wasm.engine_start", absl::Now() - t0});
  absl::MutexLock lock(&engine_mu_);
  engine_ = *std::move(e);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WarmEngine>> WasmBackend::StartEngine() {
  std::string nonce = RandomHex(16);
  std::string ctl = absl::StrCat(out_dir_, "/ctl-", next_exec_.fetch_add(1));
  ::unlink(ctl.c_str());
  if (::mkfifo(ctl.c_str(), 0600) != 0) return sys::ErrnoStatus(errno, "mkfifo " + ctl);
  if (absl::Status s = GiveToJail(ctl); !s.ok()) return s;
  BackendExecRequest req;
  req.argv = EngineArgv();
  for (const std::string& a : {std::string("--serve"), ctl, std::string("--nonce"), nonce}) {
    req.argv.push_back(a);
  }
  for (const std::string& m : preload_) {
    req.argv.push_back("--preload");
    req.argv.push_back(m);
  }
  req.cwd = config_.policy.working_directory;
  req.timeout = kEngineLifetime;
  absl::StatusOr<std::unique_ptr<WarmEngine>> e =
      WarmEngine::Start(inner_.get(), std::move(req), ctl, absl::Seconds(30));
  // Both ends are open now (or the start failed): the name is not needed.
  ::unlink(ctl.c_str());
  if (!e.ok()) return e.status();
  const nlohmann::json& j = (*e)->probe();
  if (!j.is_object() || j.value("nonce", "") != nonce) {
    return absl::FailedPreconditionError("wasm.engine: malformed probe report");
  }
  return e;
}

absl::Status WasmBackend::CheckProbe(const nlohmann::json& j, PrepareReport* report) {
  absl::StatusOr<std::string> engine_detail = wasm_engine_->CheckProbe(j);
  if (!engine_detail.ok()) return engine_detail.status();
  bool cap_ok = j.value("memory_cap_enforced", false);
  std::vector<std::string> keys;
  if (j.contains("env_keys") && j["env_keys"].is_array()) {
    for (const auto& k : j["env_keys"]) keys.push_back(k.is_string() ? k.get<std::string>() : "?");
  }
  bool env_ok = keys.empty();
  auto add = [&](const char* control, bool verified, std::string detail,
                 int points) -> absl::Status {
    if (!verified) return absl::FailedPreconditionError(absl::StrCat(control, ": ", detail));
    report->evidence.push_back({control, true, std::move(detail), points});
    return absl::OkStatus();
  };
  if (absl::Status s = add("wasm.engine", true, *std::move(engine_detail), kPointsEngine);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = add("wasm.memory_cap", cap_ok,
                           absl::StrCat("linear memory capped at ", max_pages_,
                                        " pages: growing past it fails, below it succeeds"),
                           kPointsMemoryCap);
      !s.ok()) {
    return s;
  }
  return add("wasm.clean_env", env_ok,
             env_ok ? "engine environment is empty"
                    : absl::StrCat("engine sees: ", absl::StrJoin(keys, ",")),
             kPointsCleanEnv);
}

absl::StatusOr<std::string> WasmBackend::StageModule(const std::string& host_path, bool metered) {
  // A private copy in engine/ named by its digest, metered when a budget is
  // set (the metered form is cached by the original's digest). A file seen
  // before, unchanged (same inode, size and mtime), is not read again.
  struct stat hs;
  if (::stat(host_path.c_str(), &hs) != 0) return sys::ErrnoStatus(errno, host_path);
  StagedKey key{host_path,  metered,           hs.st_dev,         hs.st_ino,
                hs.st_size, hs.st_mtim.tv_sec, hs.st_mtim.tv_nsec};
  {
    absl::MutexLock lock(&staged_mu_);
    if (auto it = staged_.find(key); it != staged_.end()) return it->second;
  }
  std::string source = host_path;
  if (metered) {
    absl::StatusOr<std::string> m = MeteredModulePath(host_path, cache_dir_);
    if (!m.ok()) return m.status();
    source = *m;
  }
  absl::StatusOr<std::string> bytes = sys::ReadFile(source);
  if (!bytes.ok()) return bytes.status();
  std::string inside =
      absl::StrCat(engine_dir_, "/", Sha256Hex(*bytes), metered ? ".metered" : "", ".wasm");
  struct stat st;
  if (::stat(inside.c_str(), &st) != 0) {
    std::string tmp = absl::StrCat(inside, ".tmp", next_exec_.fetch_add(1));
    if (absl::Status s = sys::WriteFile(tmp, *bytes, 0644); !s.ok()) return s;
    if (::rename(tmp.c_str(), inside.c_str()) != 0) return sys::ErrnoStatus(errno, inside);
  }
  absl::MutexLock lock(&staged_mu_);
  staged_[key] = inside;
  return inside;
}

absl::StatusOr<WasmBackend::Job> WasmBackend::MakeJob(const BackendExecRequest& request) {
  if (inner_ == nullptr) return absl::FailedPreconditionError("wasm backend not prepared");
  if (request.argv.empty()) return absl::InvalidArgumentError("wasm: argv is empty");
  std::string module = request.argv[0];
  if (module.empty() || module[0] != '/') {
    std::string base = config_.host_workdir;
    if (base.empty()) {
      char cwd[PATH_MAX];
      if (::getcwd(cwd, sizeof cwd) == nullptr) return sys::ErrnoStatus(errno, "getcwd");
      base = cwd;
    }
    module = absl::StrCat(base, "/", module);
  }
  Job job;
  job.fuel = options_.fuel;
  for (const std::string& e : request.env) {
    std::string_view kv(e);
    if (kv.substr(0, kv.find('=')) == kWasmFuelEnv) {
      uint64_t f = 0;
      if (!absl::SimpleAtoi(ToAbsl(kv.substr(kv.find('=') + 1)), &f)) {
        return absl::InvalidArgumentError(absl::StrCat(kWasmFuelEnv, ": not a number: ", e));
      }
      job.fuel = f;
      continue;
    }
    job.env.push_back(e);
  }
  absl::StatusOr<std::string> inside = StageModule(module, job.fuel.has_value());
  if (!inside.ok()) return inside.status();
  job.module = *inside;
  job.args = request.argv;
  return job;
}

absl::StatusOr<BackendExecRequest> WasmBackend::BuildRequest(const BackendExecRequest& request,
                                                             ExecContext* ctx) {
  absl::StatusOr<Job> job = MakeJob(request);
  if (!job.ok()) return job.status();
  ctx->result_path = absl::StrCat(out_dir_, "/r-", next_exec_.fetch_add(1), ".json");
  ctx->nonce = RandomHex(16);
  ::unlink(ctx->result_path.c_str());
  BackendExecRequest inner;
  inner.argv = EngineArgv();
  for (const std::string& a :
       {std::string("--result"), ctx->result_path, std::string("--nonce"), ctx->nonce}) {
    inner.argv.push_back(a);
  }
  if (job->fuel) {
    inner.argv.push_back("--fuel");
    inner.argv.push_back(absl::StrCat(*job->fuel));
  }
  for (const auto& [guest, path] : preopens_) {
    inner.argv.push_back("--dir");
    inner.argv.push_back(absl::StrCat(guest, "=", path));
  }
  for (const std::string& e : job->env) {
    inner.argv.push_back("--env");
    inner.argv.push_back(e);
  }
  inner.argv.push_back("--");
  inner.argv.push_back(job->module);
  for (const std::string& a : job->args) inner.argv.push_back(a);
  inner.cwd = request.cwd;
  inner.stdin_data = request.stdin_data;
  inner.timeout = request.timeout;
  inner.max_output_bytes = request.max_output_bytes;
  inner.on_stdout = request.on_stdout;
  inner.on_stderr = request.on_stderr;
  return inner;
}

absl::StatusOr<ExecResult> WasmBackend::Exec(const BackendExecRequest& request) {
  if (inner_ == nullptr) return absl::FailedPreconditionError("wasm backend not prepared");
  if (!options_.warm_engine) return ColdExec(request);
  // One job at a time per engine; a concurrent exec gets a one-shot engine.
  if (!engine_mu_.TryLock()) return ColdExec(request);
  absl::Time t0 = absl::Now();
  std::vector<SetupStep> steps;
  if (replacement_.joinable()) {
    replacement_.join();
    if (spare_ != nullptr) engine_ = std::move(spare_);
  }
  if (engine_ == nullptr || engine_->exited()) {
    engine_.reset();
    absl::StatusOr<std::unique_ptr<WarmEngine>> e = StartEngine();
    if (!e.ok()) {
      engine_mu_.Unlock();
      return e.status();
    }
    engine_ = *std::move(e);
    steps.push_back({"wasm.engine_start", absl::Now() - t0});
  }
  absl::StatusOr<Job> job = MakeJob(request);
  if (!job.ok()) {
    engine_mu_.Unlock();
    return job.status();
  }
  bool reusable = false;
  absl::StatusOr<ExecResult> r = RunOnEngine(*engine_, *job, request, &reusable);
  if (!reusable) {
    // Discard (kills its whole tree, waits for it) and start a replacement
    // in the background.
    engine_.reset();
    replacement_ = std::thread([this] {
      absl::StatusOr<std::unique_ptr<WarmEngine>> e = StartEngine();
      if (e.ok()) {
        spare_ = *std::move(e);
      } else {
        spare_status_ = e.status();
      }
    });
  }
  engine_mu_.Unlock();
  if (r.ok()) r->setup.insert(r->setup.begin(), steps.begin(), steps.end());
  return r;
}

absl::StatusOr<ExecResult> WasmBackend::RunOnEngine(WarmEngine& engine, const Job& job,
                                                    const BackendExecRequest& request,
                                                    bool* reusable) {
  *reusable = false;
  absl::Time start = absl::Now();
  uint64_t id = next_exec_.fetch_add(1);
  std::string nonce = RandomHex(16);
  std::string base = absl::StrCat(out_dir_, "/job-", id);
  std::string out_path = base + ".out", err_path = base + ".err", in_path = base + ".in";
  struct Cleanup {
    std::vector<std::string> paths;
    ~Cleanup() {
      for (const std::string& p : paths) ::unlink(p.c_str());
    }
  } cleanup{{out_path, err_path, in_path}};

  // The guest's stdio: FIFOs for stdout/stderr (read as they fill, capped
  // like the jail's pipes), a file for stdin.
  UniqueFd out_fd, err_fd;
  for (auto [path, fd] : {std::pair{&out_path, &out_fd}, std::pair{&err_path, &err_fd}}) {
    if (::mkfifo(path->c_str(), 0600) != 0) return sys::ErrnoStatus(errno, "mkfifo " + *path);
    if (absl::Status s = GiveToJail(*path); !s.ok()) return s;
    *fd = UniqueFd(::open(path->c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!*fd) return sys::ErrnoStatus(errno, "open " + *path);
  }
  nlohmann::json j;
  j["id"] = id;
  j["nonce"] = nonce;
  j["module"] = job.module;
  j["args"] = job.args;
  nlohmann::json env = nlohmann::json::object();
  for (const std::string& e : job.env) {
    size_t eq = e.find('=');
    env[e.substr(0, eq)] = eq == std::string::npos ? "" : e.substr(eq + 1);
  }
  j["env"] = std::move(env);
  nlohmann::json pre = nlohmann::json::object();
  for (const auto& [guest, path] : preopens_) pre[guest] = path;
  j["preopens"] = std::move(pre);
  j["fuel"] = job.fuel ? nlohmann::json(absl::StrCat(*job.fuel)) : nlohmann::json(nullptr);
  if (request.stdin_data) {
    if (absl::Status s = sys::WriteFile(in_path, *request.stdin_data, 0600); !s.ok()) return s;
    if (absl::Status s = GiveToJail(in_path); !s.ok()) return s;
    j["stdin"] = in_path;
  } else {
    j["stdin"] = nullptr;
  }
  j["stdout"] = out_path;
  j["stderr"] = err_path;
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (line.size() > kMaxJobLine) {
    *reusable = true;
    return ColdExec(request);
  }
  if (absl::Status s = sys::WriteAll(engine.ctl(), line); !s.ok()) return s;

  ExecResult result;
  absl::Time deadline = start + request.timeout;
  char buf[65536];
  auto drain = [&](UniqueFd& fd, std::string& sink, bool& truncated,
                   const std::function<void(std::string_view)>& cb) {
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n == 0 || errno != EAGAIN) fd.Reset();
        return;
      }
      std::string_view chunk(buf, static_cast<size_t>(n));
      if (sink.size() < request.max_output_bytes) {
        size_t room = request.max_output_bytes - sink.size();
        sink.append(chunk.substr(0, room));
        if (chunk.size() > room) truncated = true;
      } else {
        truncated = true;
      }
      if (cb) cb(chunk);
    }
  };
  std::optional<std::string> report;
  for (;;) {
    // A FIFO reads EOF only after a writer has come and gone, so polling
    // before the engine opened it just waits; once the report is in, the
    // engine has closed both and what is left is drained to EOF.
    if (!report) {
      absl::MutexLock lock(&engine.link().mu);
      if (!engine.link().lines.empty()) {
        report = std::move(engine.link().lines.front());
        engine.link().lines.pop_front();
      }
    }
    if (report) {
      while (out_fd) drain(out_fd, result.stdout_data, result.stdout_truncated, request.on_stdout);
      while (err_fd) drain(err_fd, result.stderr_data, result.stderr_truncated, request.on_stderr);
      break;
    }
    if (engine.exited()) {
      // Died under the job (OOM killer, a crash in node): no report.
      while (out_fd) drain(out_fd, result.stdout_data, result.stdout_truncated, request.on_stdout);
      while (err_fd) drain(err_fd, result.stderr_data, result.stderr_truncated, request.on_stderr);
      if (engine.oom_killed()) {
        result.oom_killed = true;
        result.signal = SIGKILL;
        result.wall_time = absl::Now() - start;
        return result;
      }
      absl::MutexLock lock(&engine.link().mu);
      return absl::InternalError(
          absl::StrCat("wasm engine reported no result: ", engine.ExitText()));
    }
    absl::Time now = absl::Now();
    if (now >= deadline) {
      // Kill the engine's whole tree and wait for it: nothing outlives the
      // timed-out exec. The engine is discarded.
      engine.Kill();
      while (out_fd) drain(out_fd, result.stdout_data, result.stdout_truncated, request.on_stdout);
      while (err_fd) drain(err_fd, result.stderr_data, result.stderr_truncated, request.on_stderr);
      result.timed_out = true;
      result.signal = SIGKILL;
      result.wall_time = absl::Now() - start;
      return result;
    }
    struct pollfd pfds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1;
    pfds[n++] = {engine.link().wake_r.get(), POLLIN, 0};
    if (out_fd) {
      idx_out = n;
      pfds[n++] = {out_fd.get(), POLLIN, 0};
    }
    if (err_fd) {
      idx_err = n;
      pfds[n++] = {err_fd.get(), POLLIN, 0};
    }
    int timeout_ms =
        static_cast<int>(std::min<int64_t>(1000, absl::ToInt64Milliseconds(deadline - now) + 1));
    int pr = ::poll(pfds, static_cast<nfds_t>(n), timeout_ms);
    if (pr < 0) {
      if (errno == EINTR) continue;
      return sys::ErrnoStatus(errno, "poll");
    }
    if (pfds[0].revents) engine.link().DrainWake();
    if (idx_out >= 0 && pfds[idx_out].revents) {
      drain(out_fd, result.stdout_data, result.stdout_truncated, request.on_stdout);
    }
    if (idx_err >= 0 && pfds[idx_err].revents) {
      drain(err_fd, result.stderr_data, result.stderr_truncated, request.on_stderr);
    }
  }
  result.wall_time = absl::Now() - start;
  nlohmann::json rep = nlohmann::json::parse(*report, nullptr, false);
  if (!rep.is_object() || rep.value("nonce", "") != nonce || !rep.contains("id") ||
      !rep["id"].is_number_unsigned() || rep["id"].get<uint64_t>() != id) {
    return absl::InternalError("wasm engine's report is malformed or not from this exec");
  }
  if (rep.contains("cpu_us") && rep["cpu_us"].is_number_unsigned()) {
    result.cpu_time = absl::Microseconds(rep["cpu_us"].get<uint64_t>());
  }
  if (rep.contains("rss_bytes") && rep["rss_bytes"].is_number_unsigned()) {
    result.peak_memory_bytes = rep["rss_bytes"].get<uint64_t>();
  }
  absl::Status applied = ApplyReport(rep, &result);
  // Only an engine whose job ended cleanly (or was refused before it ran)
  // serves again: a trap, fuel exhaustion or a memory cap retire it, and so
  // does a job that used half the memory cap or more, or that left so many
  // descriptors open that the runner may not have found them all.
  std::string outcome = rep.value("outcome", "");
  *reusable = (outcome == "exit" || outcome == "error") &&
              uint64_t{rep.value("memory_pages_peak", uint64_t{0})} * 2 < max_pages_ &&
              !rep.value("fd_window_full", false);
  if (!applied.ok()) return applied;
  if (rep.contains("compile_ms") && rep["compile_ms"].is_number() &&
      rep["compile_ms"].get<double>() > 0) {
    // Not cached yet in this engine: compiled for this exec.
    result.setup.push_back({"wasm.compile", absl::Microseconds(static_cast<int64_t>(
                                                rep["compile_ms"].get<double>() * 1000))});
  }
  result.setup.push_back({"wasm.job", result.wall_time});
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateWasmBackend(WasmBackendOptions options) {
  return std::unique_ptr<Backend>(new WasmBackend(std::move(options)));
}

BackendAvailability ProbeWasm() {
  BackendAvailability a{BackendKind::kWasm, false, ""};
  absl::StatusOr<std::string> node = sys::FindInPath("node");
  if (!node.ok()) {
    a.reason = "node not found in PATH";
    return a;
  }
  absl::StatusOr<std::string> v = RunCapture({*node, "--version"});
  int major = 0;
  if (v.ok() && v->size() > 1 && (*v)[0] == 'v') {
    (void)absl::SimpleAtoi(ToAbsl(std::string_view(*v).substr(1, v->find('.') - 1)), &major);
  }
  std::string version = v.ok() ? *v : "no version";
  while (!version.empty() && (version.back() == '\n' || version.back() == '\r')) {
    version.pop_back();
  }
  if (major < 18) {
    a.reason = absl::StrCat("node found at ", *node, " (", version, "), but node >= 18 is needed");
    return a;
  }
  absl::StatusOr<std::string> runner = FindWasmRunner();
  if (!runner.ok()) {
    a.reason = std::string(runner.status().message());
    return a;
  }
  a.available = true;
  a.reason = absl::StrCat("node found at ", *node, " (", version, "), runner ", *runner);
  return a;
}

}  // namespace kavach::internal
