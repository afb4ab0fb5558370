// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/composite/composite_backend.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backend/oci/gvisor.h"
#include "backend/oci/oci_backend.h"
#include "kavach/policy.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

constexpr char kLayerDir[] = "/.kavach-layer";
// Extra time the outer exec allows over the inner kavach's own timeout
// (its setup and JSON output); past it the outer layer kills everything.
constexpr absl::Duration kOuterMargin = absl::Seconds(10);

// What the inner kavach's --json object says.
absl::StatusOr<ExecResult> ParseInnerResult(const ExecResult& outer) {
  nlohmann::json j = nlohmann::json::parse(outer.stdout_data, nullptr, false);
  if (!j.is_object()) {
    if (outer.timed_out) {
      ExecResult r = outer;
      r.stdout_data.clear();
      return r;
    }
    return absl::InternalError(absl::StrCat("inner layer: no JSON result (exit ", outer.exit_code,
                                            "): ", outer.stderr_data,
                                            outer.stdout_data.substr(0, 400)));
  }
  if (j.contains("error") && j["error"].is_object()) {
    const nlohmann::json& e = j["error"];
    std::string msg =
        absl::StrCat("inner layer (process): ", e.value("stage", ""), ": ", e.value("message", ""));
    std::string code = e.value("code", "");
    if (code == "FAILED_PRECONDITION") return absl::FailedPreconditionError(msg);
    if (code == "INVALID_ARGUMENT") return absl::InvalidArgumentError(msg);
    if (code == "UNAVAILABLE") return absl::UnavailableError(msg);
    return absl::InternalError(msg);
  }
  ExecResult r;
  auto stream = [&](const char* key, std::string* out) -> absl::Status {
    std::string data = j.value(key, "");
    if (j.value(std::string(key) + "_encoding", "utf-8") == "base64") {
      if (!absl::Base64Unescape(data, out)) {
        return absl::InternalError(absl::StrCat("inner layer: bad base64 in ", key));
      }
    } else {
      *out = std::move(data);
    }
    return absl::OkStatus();
  };
  if (absl::Status s = stream("stdout", &r.stdout_data); !s.ok()) return s;
  if (absl::Status s = stream("stderr", &r.stderr_data); !s.ok()) return s;
  r.exit_code = j.value("exit_code", -1);
  r.signal = j.value("signal", 0);
  r.timed_out = j.value("timed_out", false);
  r.oom_killed = j.value("oom_killed", false);
  r.stdout_truncated = j.value("stdout_truncated", false);
  r.stderr_truncated = j.value("stderr_truncated", false);
  r.wall_time = absl::Milliseconds(j.value("wall_ms", 0.0));
  r.cpu_time = absl::Milliseconds(j.value("cpu_ms", 0.0));
  r.peak_memory_bytes = j.value("peak_memory_bytes", uint64_t{0});
  return r;
}

class CompositeBackend final : public Backend {
 public:
  CompositeBackend(BackendKind outer_kind, std::string cli)
      : outer_kind_(outer_kind), cli_(std::move(cli)) {}
  ~CompositeBackend() override { (void)Destroy(); }

  BackendKind kind() const override { return outer_kind_; }

  absl::Status Prepare(const SandboxConfig& config, PrepareReport* report) override {
    absl::Time t0 = absl::Now();
    policy_ = config.policy;
    if (absl::Status s = policy_.Validate(); !s.ok()) return s;
    // The layer directory: the inner policy, and a mount point for the CLI.
    const char* tmp = ::getenv("TMPDIR");
    std::string templ = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/kavach-layer-XXXXXX");
    if (::mkdtemp(templ.data()) == nullptr) return sys::ErrnoStatus(errno, "mkdtemp");
    layer_dir_ = templ;
    if (::chmod(layer_dir_.c_str(), 0755) != 0) return sys::ErrnoStatus(errno, "chmod");

    // Inner: the whole policy, except the cgroup limits, which the outer
    // container applies (no cgroup file system inside it).
    SandboxPolicy inner = policy_;
    for (Control c : {Control::kCgroupMemory, Control::kCgroupPids, Control::kCgroupCpu}) {
      inner.optional_controls.insert(c);
    }
    // Landlock inside gVisor: the Sentry has none.
    if (outer_kind_ == BackendKind::kGVisor) {
      for (Control c :
           {Control::kLandlockFilesystem, Control::kLandlockNetwork, Control::kLandlockScopes}) {
        bool asked = (c == Control::kLandlockFilesystem && inner.filesystem.landlock) ||
                     (c == Control::kLandlockNetwork &&
                      (inner.network.tcp_bind_ports || inner.network.tcp_connect_ports)) ||
                     (c == Control::kLandlockScopes &&
                      (inner.landlock_scopes.signal || inner.landlock_scopes.abstract_unix_socket));
        if (asked && !policy_.IsOptional(c)) {
          return absl::FailedPreconditionError(absl::StrCat(
              ToAbsl(ControlName(c)),
              ": the inner jail cannot apply Landlock inside gVisor (the Sentry has none); use "
              "an OCI outer layer or list it in optional_controls"));
        }
      }
    }
    if (absl::Status s = sys::WriteFile(layer_dir_ + "/policy.json", PolicyToJson(inner), 0644);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = sys::WriteFile(layer_dir_ + "/kavach", "", 0755); !s.ok()) return s;

    // Outer: namespaces, read-only root, cgroups; no seccomp or Landlock of
    // its own (the inner jail needs clone/unshare/mount/pivot_root).
    SandboxPolicy outer = policy_;
    outer.seccomp = SeccompProfile::kNone;
    outer.filesystem.landlock = false;
    outer.network.tcp_bind_ports.reset();
    outer.network.tcp_connect_ports.reset();
    outer.landlock_scopes = {};
    std::vector<std::pair<std::string, std::string>> binds = {
        {layer_dir_, kLayerDir}, {cli_, absl::StrCat(kLayerDir, "/kavach")}};
    absl::StatusOr<std::unique_ptr<Backend>> b =
        outer_kind_ == BackendKind::kGVisor
            ? CreateGVisorBackend({.extra_ro_binds = binds, .nested_jail = true})
            : CreateOciBackend({.extra_ro_binds = binds, .nested_jail = true});
    if (!b.ok()) return b.status();
    outer_ = *std::move(b);
    SandboxConfig outer_config = config;
    outer_config.policy = outer;
    PrepareReport outer_report;
    if (absl::Status s = outer_->Prepare(outer_config, &outer_report); !s.ok()) {
      return absl::Status(
          s.code(),
          absl::StrCat("outer layer (", ToAbsl(BackendKindName(outer_kind_)), "): ", s.message()));
    }
    for (SetupStep& st : outer_report.steps) {
      report->steps.push_back({absl::StrCat("outer ", st.name), st.duration});
    }
    absl::Time t1 = absl::Now();

    // The inner layer's evidence, from a command run through it.
    BackendExecRequest probe;
    probe.argv = {"/bin/true"};
    probe.timeout = absl::Seconds(30);
    absl::StatusOr<nlohmann::json> inner_json = RunInner(probe, /*raw=*/true);
    if (!inner_json.ok()) return inner_json.status();
    if (inner_json->contains("error")) {
      absl::StatusOr<ExecResult> err = ParseInnerResult(last_outer_);
      return err.ok() ? absl::InternalError("inner layer failed") : err.status();
    }
    int outer_score = 0;
    for (const Evidence& e : outer_report.evidence) {
      if (e.verified) outer_score += e.points;
      report->evidence.push_back(e);
    }
    int inner_score = 0;
    if (inner_json->contains("evidence") && (*inner_json)["evidence"].is_array()) {
      for (const nlohmann::json& e : (*inner_json)["evidence"]) {
        Evidence ev;
        ev.control = absl::StrCat("inner.", e.value("control", ""));
        ev.verified = e.value("verified", false);
        ev.detail = absl::StrCat(e.value("detail", ""), " [", e.value("points", 0), " points]");
        ev.points = 0;
        if (ev.verified) inner_score += e.value("points", 0);
        report->evidence.push_back(std::move(ev));
      }
    }
    outer_score = std::min(outer_score, 100);
    inner_score = std::min(inner_score, 100);
    int layered = LayeredScore({outer_score, inner_score}, 2);
    report->evidence.push_back({"layered", true,
                                absl::StrCat("outer ", ToAbsl(BackendKindName(outer_kind_)), " ",
                                             outer_score, ", inner process ", inner_score,
                                             ": best ", std::max(outer_score, inner_score),
                                             " + 5 for two distinct layers = ", layered),
                                layered - outer_score});
    report->steps.push_back({"inner verify", absl::Now() - t1});
    (void)t0;
    return absl::OkStatus();
  }

  absl::StatusOr<ExecResult> Exec(const BackendExecRequest& request) override {
    absl::StatusOr<nlohmann::json> j = RunInner(request, /*raw=*/false);
    if (!j.ok()) return j.status();
    return ParseInnerResult(last_outer_);
  }

  absl::StatusOr<std::unique_ptr<SpawnedProcess>> Spawn(const BackendExecRequest&) override {
    return absl::UnimplementedError("composite backend: Spawn is not supported; use Exec");
  }
  absl::Status Pause() override { return outer_ ? outer_->Pause() : NotPrepared(); }
  absl::Status Resume() override { return outer_ ? outer_->Resume() : NotPrepared(); }
  absl::Status Stop() override { return outer_ ? outer_->Stop() : absl::OkStatus(); }
  absl::Status Destroy() override {
    absl::Status s;
    if (outer_) s = outer_->Destroy();
    if (!layer_dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(layer_dir_, ec);
      layer_dir_.clear();
    }
    return s;
  }

 private:
  static absl::Status NotPrepared() {
    return absl::FailedPreconditionError("composite: sandbox not prepared");
  }

  // Runs `request` through the inner kavach; the outer result is kept in
  // last_outer_, its stdout parsed as JSON.
  absl::StatusOr<nlohmann::json> RunInner(const BackendExecRequest& request, bool raw) {
    if (!outer_) return NotPrepared();
    if (request.argv.empty()) return absl::InvalidArgumentError("exec: empty argv");
    BackendExecRequest outer_req;
    const std::string cli = absl::StrCat(kLayerDir, "/kavach");
    outer_req.argv = {
        cli,
        "exec",
        "--backend",
        "process",
        "--policy",
        absl::StrCat(kLayerDir, "/policy.json"),
        "--json",
        "--no-gate",
        "--workdir",
        policy_.working_directory,
        "--timeout",
        absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(request.timeout)))};
    for (const std::string& kv : request.env) {
      outer_req.argv.push_back("--env");
      outer_req.argv.push_back(kv);
    }
    if (request.stdin_data) outer_req.argv.push_back("--stdin");
    outer_req.argv.push_back("--");
    if (!request.cwd.empty() && request.cwd != policy_.working_directory) {
      for (const char* a : {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\""}) {
        outer_req.argv.push_back(a);
      }
      outer_req.argv.push_back(request.cwd);
    }
    outer_req.argv.insert(outer_req.argv.end(), request.argv.begin(), request.argv.end());
    outer_req.env = {"PATH=/usr/bin:/bin", "HOME=/tmp"};
    outer_req.cwd = policy_.working_directory;
    outer_req.stdin_data = request.stdin_data;
    outer_req.timeout = request.timeout + kOuterMargin;
    // JSON escapes and base64 grow the output.
    outer_req.max_output_bytes = request.max_output_bytes * 3 + (64 << 10);
    absl::StatusOr<ExecResult> r = outer_->Exec(outer_req);
    if (!r.ok()) return r.status();
    last_outer_ = *r;
    nlohmann::json j = nlohmann::json::parse(r->stdout_data, nullptr, false);
    if (!j.is_object() && raw) {
      return absl::InternalError(
          absl::StrCat("inner layer: no JSON result (exit ", r->exit_code, "): ", r->stderr_data));
    }
    return j;
  }

  const BackendKind outer_kind_;
  const std::string cli_;
  SandboxPolicy policy_;
  std::string layer_dir_;
  std::unique_ptr<Backend> outer_;
  ExecResult last_outer_;
};

}  // namespace

absl::StatusOr<std::string> KavachCliPath() {
  const char* env = ::getenv("KAVACH_CLI");
  if (env != nullptr && *env != '\0') {
    if (::access(env, X_OK) == 0) return std::string(env);
    return absl::NotFoundError(absl::StrCat("KAVACH_CLI=", env, " is not executable"));
  }
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    if (self.filename() == "kavach") return self.string();
    std::filesystem::path beside = self.parent_path() / "kavach";
    if (::access(beside.c_str(), X_OK) == 0) return beside.string();
  }
  absl::StatusOr<std::string> p = sys::FindInPath("kavach");
  if (p.ok()) return p;
  return absl::NotFoundError("the kavach CLI (for the inner layer) is not found: set KAVACH_CLI");
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCompositeBackend(BackendKind outer,
                                                                BackendKind inner) {
  if (outer != BackendKind::kGVisor && outer != BackendKind::kOci) {
    return absl::InvalidArgumentError(absl::StrCat(
        "composite: the outer layer must be gvisor or oci, not ", ToAbsl(BackendKindName(outer))));
  }
  if (inner != BackendKind::kProcess) {
    return absl::InvalidArgumentError(absl::StrCat(
        "composite: the inner layer must be process, not ", ToAbsl(BackendKindName(inner))));
  }
  BackendAvailability a = Probe(outer);
  if (!a.available) {
    return absl::UnavailableError(
        absl::StrCat(ToAbsl(BackendKindName(outer)), " backend unavailable: ", a.reason));
  }
  absl::StatusOr<std::string> cli = KavachCliPath();
  if (!cli.ok()) return absl::UnavailableError(cli.status().message());
  return std::unique_ptr<Backend>(new CompositeBackend(outer, *cli));
}

}  // namespace kavach::internal
