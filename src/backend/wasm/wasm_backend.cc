// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/wasm/wasm_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "backend/process/process_backend.h"
#include "backend/wasm/fuel_meter.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

constexpr int kPointsEngine = 5;
constexpr int kPointsMemoryCap = 5;
constexpr int kPointsCleanEnv = 5;

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return p;
  return buf;
}

std::string DirName(const std::string& p) {
  size_t slash = p.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return p.substr(0, slash);
}

bool IsUnderDir(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

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

// A private directory owned by us (refuses one someone else made).
absl::Status MakePrivateDir(const std::string& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", dir));
  }
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return sys::ErrnoStatus(errno, dir);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 022) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(dir, " is not a private directory owned by us"));
  }
  return absl::OkStatus();
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

// Turns the engine's report into the exec's result.
absl::StatusOr<ExecResult> Finish(absl::StatusOr<ExecResult> r, const ExecContext& ctx) {
  if (!r.ok()) return r;
  absl::StatusOr<std::string> line = sys::ReadFile(ctx.result_path);
  ::unlink(ctx.result_path.c_str());
  if (r->timed_out) return r;  // the jail killed the engine: 124, no report
  if (!line.ok()) {
    if (r->signal != 0 || r->oom_killed) return r;  // killed from outside
    std::string tail = r->stderr_data.size() > 400
                           ? r->stderr_data.substr(r->stderr_data.size() - 400)
                           : r->stderr_data;
    return absl::InternalError(
        absl::StrCat("wasm engine reported no result (exit ", r->exit_code, "): ", tail));
  }
  nlohmann::json j = nlohmann::json::parse(*line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("nonce") || j["nonce"] != ctx.nonce || !j.contains("outcome") ||
      !j["outcome"].is_string()) {
    return absl::InternalError("wasm engine's report is malformed or not from this exec");
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
  return r;
}

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
  absl::StatusOr<ExecResult> Exec(const BackendExecRequest& request) override {
    ExecContext ctx;
    absl::StatusOr<BackendExecRequest> inner = BuildRequest(request, &ctx);
    if (!inner.ok()) return inner.status();
    return Finish(inner_->Exec(*inner), ctx);
  }
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
  absl::Status Stop() override { return Inner()->Stop(); }
  absl::Status Destroy() override {
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
  Backend* Inner() { return inner_.get(); }
  absl::StatusOr<BackendExecRequest> BuildRequest(const BackendExecRequest& request,
                                                  ExecContext* ctx);
  std::vector<std::string> EngineArgv(const std::string& result, const std::string& nonce) const {
    // --no-turbo-fast-api-calls: Node 20's node:wasi fast callbacks may
    // trigger a GC (uvwasi's allocator reports external memory) in the middle
    // of a call, which corrupts the heap or aborts after the guest grows its
    // memory (seen: ~1 in 6 runs of a memory hog; 0 in 60 with the flag).
    return {node_,
            "--no-warnings",
            "--no-turbo-fast-api-calls",
            absl::StrCat("--wasm-max-mem-pages=", max_pages_),
            runner_,
            "--result",
            result,
            "--nonce",
            nonce,
            "--max-pages",
            absl::StrCat(max_pages_)};
  }
  absl::Status ProbeEngine(PrepareReport* report);

  WasmBackendOptions options_;
  std::unique_ptr<Backend> inner_;
  SandboxConfig config_;
  std::string node_;       // the node binary
  std::string state_dir_;  // per sandbox: engine/ (read-only inside) and out/
  std::string engine_dir_;
  std::string out_dir_;
  std::string runner_;  // runner copy inside engine_dir_
  std::string cache_dir_;
  uint32_t max_pages_ = kWasmDefaultMaxPages;
  std::vector<std::string> preopens_;
  std::atomic<uint64_t> next_exec_{1};
};

absl::Status WasmBackend::Prepare(const SandboxConfig& config, PrepareReport* report) {
  if (inner_ != nullptr) return absl::FailedPreconditionError("wasm backend already prepared");
  config_ = config;
  // The engine.
  if (options_.node_path.empty()) {
    absl::StatusOr<std::string> n = sys::FindInPath("node");
    if (!n.ok())
      return absl::UnavailableError(absl::StrCat("wasm backend: ", n.status().message()));
    options_.node_path = *n;
  }
  node_ = RealPath(options_.node_path);
  if (options_.runner_path.empty()) {
    absl::StatusOr<std::string> r = FindWasmRunner();
    if (!r.ok())
      return absl::UnavailableError(absl::StrCat("wasm backend: ", r.status().message()));
    options_.runner_path = *r;
  }
  absl::StatusOr<std::string> runner_src = sys::ReadFile(options_.runner_path);
  if (!runner_src.ok()) return runner_src.status();

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
  // the engine's reports (writable inside, never preopened to the guest).
  std::string base = StateBase();
  if (absl::Status s = MakePrivateDir(base, 0711); !s.ok()) return s;
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
  if (::geteuid() == 0) {
    uid_t uid = 65534;
    gid_t gid = 65534;
    struct stat st;
    if (!config.host_workdir.empty() && ::stat(config.host_workdir.c_str(), &st) == 0 &&
        st.st_uid != 0) {
      uid = st.st_uid;
      gid = st.st_gid;
    }
    if (::chown(out_dir_.c_str(), uid, gid) != 0) return sys::ErrnoStatus(errno, out_dir_);
  }
  runner_ = engine_dir_ + "/runner.mjs";
  if (absl::Status s = sys::WriteFile(runner_, *runner_src, 0644); !s.ok()) return s;

  // The jail's policy: the sandbox's, plus the engine's files.
  SandboxConfig inner = config;
  inner.backend = BackendKind::kProcess;
  SandboxPolicy& ip = inner.policy;
  preopens_.clear();
  preopens_.push_back(policy.working_directory);
  for (const auto* list : {&policy.filesystem.read_only, &policy.filesystem.read_write}) {
    for (const std::string& p : *list) preopens_.push_back(p);
  }
  ip.filesystem.read_only.push_back(engine_dir_);
  ip.filesystem.read_write.push_back(out_dir_);
  bool node_in_system = false;
  for (const char* sys_dir : {"/usr", "/bin", "/sbin", "/lib", "/lib64"}) {
    if (IsUnderDir(node_, sys_dir)) node_in_system = true;
  }
  if (!node_in_system) {
    ip.filesystem.read_only.push_back(DirName(node_));
    ip.filesystem.executable.push_back(DirName(node_));
  }
  // The seccomp profile is the sandbox's own: V8's writable+executable code
  // pages pass both the basic deny-list and the strict allow-list (tested).
  if (ip.limits.memory_bytes) *ip.limits.memory_bytes += kWasmEngineHeadroomBytes;
  // node's platform and libuv threads count against the pids limit.
  if (ip.limits.max_pids && *ip.limits.max_pids < 32) ip.limits.max_pids = 32;

  absl::StatusOr<std::unique_ptr<Backend>> b = CreateProcessBackend();
  if (!b.ok()) return b.status();
  inner_ = *std::move(b);
  PrepareReport inner_report;
  if (absl::Status s = inner_->Prepare(inner, &inner_report); !s.ok()) return s;
  report->evidence = std::move(inner_report.evidence);
  report->steps = std::move(inner_report.steps);
  return ProbeEngine(report);
}

absl::Status WasmBackend::ProbeEngine(PrepareReport* report) {
  absl::Time t0 = absl::Now();
  ExecContext ctx{absl::StrCat(out_dir_, "/probe.json"), RandomHex(16)};
  BackendExecRequest req;
  req.argv = EngineArgv(ctx.result_path, ctx.nonce);
  req.argv.push_back("--probe");
  req.cwd = config_.policy.working_directory;
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
  std::string version = j.value("node_version", "");
  int major = 0;
  (void)absl::SimpleAtoi(ToAbsl(std::string_view(version).substr(0, version.find('.'))), &major);
  bool engine_ok = major >= 18 && j.value("wasi", false);
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
  if (absl::Status s = add("wasm.engine", engine_ok,
                           absl::StrCat("node ", version, " (V8 ", j.value("v8_version", ""),
                                        ") with node:wasi preview1, inside the jail"),
                           kPointsEngine);
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
  if (absl::Status s = add("wasm.clean_env", env_ok,
                           env_ok ? "engine environment is empty"
                                  : absl::StrCat("engine sees: ", absl::StrJoin(keys, ",")),
                           kPointsCleanEnv);
      !s.ok()) {
    return s;
  }
  report->steps.push_back({"wasm.probe", absl::Now() - t0});
  return absl::OkStatus();
}

absl::StatusOr<BackendExecRequest> WasmBackend::BuildRequest(const BackendExecRequest& request,
                                                             ExecContext* ctx) {
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
  std::optional<uint64_t> fuel = options_.fuel;
  std::vector<std::string> guest_env;
  for (const std::string& e : request.env) {
    std::string_view kv(e);
    if (kv.substr(0, kv.find('=')) == kWasmFuelEnv) {
      uint64_t f = 0;
      if (!absl::SimpleAtoi(ToAbsl(kv.substr(kv.find('=') + 1)), &f)) {
        return absl::InvalidArgumentError(absl::StrCat(kWasmFuelEnv, ": not a number: ", e));
      }
      fuel = f;
      continue;
    }
    guest_env.push_back(e);
  }
  // The module the engine loads: a private copy in engine/, metered when a
  // budget is set (the metered form is cached by the original's digest).
  std::string source = module;
  if (fuel) {
    absl::StatusOr<std::string> metered = MeteredModulePath(module, cache_dir_);
    if (!metered.ok()) return metered.status();
    source = *metered;
  }
  absl::StatusOr<std::string> bytes = sys::ReadFile(source);
  if (!bytes.ok()) return bytes.status();
  std::string inside =
      absl::StrCat(engine_dir_, "/", Sha256Hex(*bytes), fuel ? ".metered" : "", ".wasm");
  struct stat st;
  if (::stat(inside.c_str(), &st) != 0) {
    std::string tmp = absl::StrCat(inside, ".tmp", next_exec_.fetch_add(1));
    if (absl::Status s = sys::WriteFile(tmp, *bytes, 0644); !s.ok()) return s;
    if (::rename(tmp.c_str(), inside.c_str()) != 0) return sys::ErrnoStatus(errno, inside);
  }

  ctx->result_path = absl::StrCat(out_dir_, "/r-", next_exec_.fetch_add(1), ".json");
  ctx->nonce = RandomHex(16);
  ::unlink(ctx->result_path.c_str());
  BackendExecRequest inner;
  inner.argv = EngineArgv(ctx->result_path, ctx->nonce);
  if (fuel) {
    inner.argv.push_back("--fuel");
    inner.argv.push_back(absl::StrCat(*fuel));
  }
  for (const std::string& p : preopens_) {
    inner.argv.push_back("--dir");
    inner.argv.push_back(absl::StrCat(p, "=", p));
  }
  for (const std::string& e : guest_env) {
    inner.argv.push_back("--env");
    inner.argv.push_back(e);
  }
  inner.argv.push_back("--");
  inner.argv.push_back(inside);
  for (const std::string& a : request.argv) inner.argv.push_back(a);
  inner.cwd = request.cwd;
  inner.stdin_data = request.stdin_data;
  inner.timeout = request.timeout;
  inner.max_output_bytes = request.max_output_bytes;
  inner.on_stdout = request.on_stdout;
  inner.on_stderr = request.on_stderr;
  return inner;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateWasmBackend(WasmBackendOptions options) {
  return std::unique_ptr<Backend>(new WasmBackend(std::move(options)));
}

absl::StatusOr<std::string> FindWasmRunner() {
  std::vector<std::string> candidates;
  if (const char* e = std::getenv("KAVACH_WASM_RUNNER"); e != nullptr && *e) {
    candidates.push_back(e);
  }
  candidates.push_back(absl::StrCat(KAVACH_SOURCE_DIR, "/wasm/runner.mjs"));
#ifdef KAVACH_INSTALL_WASM_DIR
  candidates.push_back(absl::StrCat(KAVACH_INSTALL_WASM_DIR, "/runner.mjs"));
#endif
  for (const std::string& c : candidates) {
    if (::access(c.c_str(), R_OK) == 0) return c;
  }
  return absl::NotFoundError(
      absl::StrCat("wasm runner not found (", absl::StrJoin(candidates, ", "), ")"));
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
