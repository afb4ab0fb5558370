// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/oci/oci_backend.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "backend/oci/bundle.h"
#include "backend/oci/gvisor.h"
#include "backend/oci/runtime.h"
#include "kavach/policy.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

// Points of the OCI backend's base score (55), one per verified control:
// the Process backend's eleven (50) plus the runtime's masked and read-only
// kernel paths (5).
constexpr int kPointsUserNs = 6;
constexpr int kPointsPidNs = 6;
constexpr int kPointsMountNs = 4;
constexpr int kPointsIpcNs = 3;
constexpr int kPointsUtsNs = 2;
constexpr int kPointsCgroupNs = 2;
constexpr int kPointsOwnRoot = 6;
constexpr int kPointsNoNewPrivs = 5;
constexpr int kPointsCapabilities = 6;
constexpr int kPointsCloseFds = 5;
constexpr int kPointsUnprivilegedUid = 5;
constexpr int kPointsMaskedPaths = 5;
// The original's policy modifiers, earned only when verified.
constexpr int kPointsSeccomp = 5;
constexpr int kPointsNetworkNone = 5;
constexpr int kPointsReadOnlyRoot = 3;
constexpr int kPointsCgroupLimits = 2;

constexpr char kIdPrefix[] = "kavach-";
constexpr absl::Duration kRuntimeCallTimeout = absl::Seconds(30);
constexpr absl::Duration kStopWait = absl::Seconds(5);
// How long Pause waits for the freezer to settle after the runtime returns.
constexpr absl::Duration kPauseSettle = absl::Seconds(2);

// The container's first process: it only waits (and reaps the orphans of
// commands, being pid 1), and leaves on SIGTERM.
const std::vector<std::string> kPauseArgs = {
    "/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"};

// What the probe command prints, one section per line of "@@".
constexpr char kProbeScript[] =
    "cat /proc/self/status; echo @@;"
    "readlink /proc/self/ns/user /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/ipc "
    "/proc/self/ns/uts /proc/self/ns/cgroup /proc/self/ns/net; echo @@;"
    "cat /proc/self/mountinfo; echo @@;"
    "stat -L -c %d:%i /; echo @@;"
    "ls /proc/$$/fd; echo @@;"
    "cat /proc/net/dev; echo @@;"
    "stat -c '%n %t:%T' /proc/kcore /proc/keys /proc/timer_list 2>/dev/null; echo @@;"
    "id -u";
const char* const kProbeNamespaces[] = {"user", "pid", "mnt", "ipc", "uts", "cgroup", "net"};

// Single-exec containers (SandboxConfig::single_exec): the first process is
// kavach-oci-probe (backend/oci/probe), bound read-only at this path.
constexpr char kProbeInside[] = "/.kavach-probe";
constexpr char kProbeMagic[] = "KAVACH-PROBE1 ";

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// $KAVACH_OCI_PROBE, beside this executable, ../libexec/kavach, then where
// the build and the install put it; "" when none exists (the backend then
// prepares a container and execs commands into it).
std::string FindOciProbe() {
  std::vector<std::string> candidates;
  if (const char* env = ::getenv("KAVACH_OCI_PROBE"); env != nullptr && *env == '/') {
    candidates.push_back(env);
  }
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, n);
    dir = dir.substr(0, dir.rfind('/'));
    candidates.push_back(dir + "/kavach-oci-probe");
    candidates.push_back(dir + "/../libexec/kavach/kavach-oci-probe");
  }
#ifdef KAVACH_OCI_PROBE_BUILD_PATH
  candidates.push_back(KAVACH_OCI_PROBE_BUILD_PATH);
#endif
#ifdef KAVACH_OCI_PROBE_INSTALL_PATH
  candidates.push_back(KAVACH_OCI_PROBE_INSTALL_PATH);
#endif
  for (const std::string& c : candidates) {
    if (IsExecutableFile(c)) return c;
  }
  return "";
}

// The command for kavach-oci-probe: "KAVACH-GO <length>\n", the length in
// ten zero-padded digits (a fixed-size header the probe takes in one read
// instead of byte by byte: each read is a trap into gVisor's Sentry), and
// NUL-separated cwd, argc, argv..., envc, env....
std::string ProbeCommandFrame(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env, const std::string& cwd) {
  std::string body;
  auto field = [&](absl::string_view f) {
    body.append(f.data(), f.size());
    body.push_back('\0');
  };
  field(cwd);
  field(absl::StrCat(argv.size()));
  for (const std::string& a : argv) field(a);
  field(absl::StrCat(env.size()));
  for (const std::string& e : env) field(e);
  return absl::StrCat(absl::StrFormat("KAVACH-GO %010u\n", body.size()), body);
}

absl::Status ControlError(Control control, absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(ToAbsl(ControlName(control)), ": ", what));
}

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  std::string out;
  for (size_t i = 0; i < bytes; ++i) absl::StrAppendFormat(&out, "%02x", rd() & 0xff);
  return out;
}

absl::Status MakeDirs(const std::string& path, mode_t mode) {
  std::string cur;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    absl::StrAppend(&cur, "/", part);
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
      return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", cur));
    }
  }
  return absl::OkStatus();
}

// Where the bundle goes: $TMPDIR when set, else /dev/shm when it is a
// writable tmpfs, else /tmp. A bundle is ~30 small files and directories made
// and removed per sandbox; on this host's ext4 that alone cost ~5 ms of CPU
// per `kavach exec`, more than kavach's own work around the runtime.
std::string BundleParent() {
  if (const char* t = ::getenv("TMPDIR"); t != nullptr && *t != '\0') return t;
  struct statfs fs;
  if (::statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC &&
      ::access("/dev/shm", W_OK | X_OK) == 0) {
    return "/dev/shm";
  }
  return "/tmp";
}

// Where a private working directory goes: $TMPDIR, else /tmp. Not a tmpfs:
// what the command writes there would be charged to its memory limit.
std::string WorkParent() {
  const char* t = ::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? t : "/tmp";
}

// The private working directory of the sandbox whose temp dir is `dir`.
std::string WorkDirFor(const std::string& dir) {
  return absl::StrCat(WorkParent(), dir.substr(dir.rfind('/')), "-work");
}

std::string HostNamespace(std::string_view ns) {
  char buf[128];
  std::string path = absl::StrCat("/proc/self/ns/", ToAbsl(ns));
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, n);
}

// Host pids whose parent chain leads to `root` (root included).
std::vector<pid_t> ProcessTree(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return {root};
  while (dirent* e = ::readdir(d)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    absl::StatusOr<std::string> stat = sys::ReadFile(absl::StrCat("/proc/", pid, "/stat"));
    if (!stat.ok()) continue;
    size_t close = stat->rfind(')');
    if (close == std::string::npos) continue;
    std::vector<absl::string_view> f =
        absl::StrSplit(absl::string_view(*stat).substr(close + 2), ' ');
    pid_t ppid = 0;
    if (f.size() > 1 && absl::SimpleAtoi(f[1], &ppid)) children[ppid].push_back(pid);
  }
  ::closedir(d);
  std::vector<pid_t> out = {root};
  for (size_t i = 0; i < out.size(); ++i) {
    for (pid_t c : children[out[i]]) out.push_back(c);
  }
  return out;
}

std::optional<pid_t> ReadPidFile(const std::string& path) {
  absl::StatusOr<std::string> s = sys::ReadFile(path);
  pid_t pid = 0;
  if (!s.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*s), &pid) || pid <= 0) {
    return std::nullopt;
  }
  return pid;
}

// SIGKILLs the exec'd command named by the runtime's pid file and all its
// descendants (a few rounds, for children forked meanwhile).
void KillExecTree(const std::string& pid_file) {
  std::optional<pid_t> pid = ReadPidFile(pid_file);
  if (!pid) return;
  for (int round = 0; round < 3; ++round) {
    std::vector<pid_t> tree = ProcessTree(*pid);
    for (pid_t p : tree) ::kill(p, SIGKILL);
    if (tree.size() == 1 && ::kill(*pid, 0) != 0) break;
  }
}

// gVisor: the command's processes are Sentry tasks, not host processes, and
// this runsc's `ps` gives no parent pids. A shell run inside (`runsc exec`)
// finds the tree under $1 from /proc/<pid>/status, stops it (twice, for
// children forked meanwhile) and SIGKILLs it; only shell builtins, so it runs
// under any seccomp profile that runs /bin/sh.
constexpr char kGVisorKillTree[] =
    "t=\" $1 \"; for round in 1 2 3; do changed=1; while [ $changed = 1 ]; do changed=0; "
    "for s in /proc/[0-9]*/status; do p=${s#/proc/}; p=${p%/status}; pp=; "
    "while read -r k v; do [ \"$k\" = PPid: ] && pp=$v && break; done < $s 2>/dev/null; "
    "case \"$t\" in *\" $pp \"*) case \"$t\" in *\" $p \"*) ;; *) t=\"$t$p \"; changed=1;; "
    "esac;; esac; done; done; kill -STOP $t 2>/dev/null; done; kill -KILL $t 2>/dev/null; exit 0";

// Reads a cgroup file as an integer; nullopt when missing or "max".
std::optional<int64_t> ReadCgroupInt(const std::string& path) {
  absl::StatusOr<std::string> s = sys::ReadFile(path);
  int64_t v = 0;
  if (!s.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*s), &v)) return std::nullopt;
  return v;
}

struct CgroupReadBack {
  std::optional<int64_t> memory;
  std::optional<int64_t> pids;
  std::optional<double> cpu_cores;
  std::string where;
};

// The limits in force for `path` (linux.cgroupsPath), from the host's
// cgroup file systems: v1 hierarchies first, then the v2 mount.
CgroupReadBack ReadBackCgroup(const std::string& path) {
  CgroupReadBack r;
  const std::string v1 = "/sys/fs/cgroup";
  r.memory = ReadCgroupInt(absl::StrCat(v1, "/memory", path, "/memory.limit_in_bytes"));
  if (r.memory) {
    r.where = "cgroup v1";
    r.pids = ReadCgroupInt(absl::StrCat(v1, "/pids", path, "/pids.max"));
    std::optional<int64_t> quota =
        ReadCgroupInt(absl::StrCat(v1, "/cpu", path, "/cpu.cfs_quota_us"));
    std::optional<int64_t> period =
        ReadCgroupInt(absl::StrCat(v1, "/cpu", path, "/cpu.cfs_period_us"));
    if (quota && period && *quota > 0 && *period > 0) {
      r.cpu_cores = static_cast<double>(*quota) / static_cast<double>(*period);
    }
    return r;
  }
  r.where = "cgroup v2";
  r.memory = ReadCgroupInt(absl::StrCat(v1, path, "/memory.max"));
  r.pids = ReadCgroupInt(absl::StrCat(v1, path, "/pids.max"));
  absl::StatusOr<std::string> cpu = sys::ReadFile(absl::StrCat(v1, path, "/cpu.max"));
  if (cpu.ok()) {
    std::vector<absl::string_view> f =
        absl::StrSplit(absl::StripAsciiWhitespace(*cpu), ' ', absl::SkipEmpty());
    int64_t q = 0, p = 0;
    if (f.size() == 2 && absl::SimpleAtoi(f[0], &q) && absl::SimpleAtoi(f[1], &p) && p > 0) {
      r.cpu_cores = static_cast<double>(q) / static_cast<double>(p);
    }
  }
  return r;
}

// Whether the container's freezer says every task is frozen: cgroup v1's
// freezer.state reads FROZEN, or v2's cgroup.events has "frozen 1". Nullopt
// when neither file is there (the runtime's own word is then all there is).
std::optional<bool> CgroupFrozen(const std::string& path) {
  absl::StatusOr<std::string> v1 =
      sys::ReadFile(absl::StrCat("/sys/fs/cgroup/freezer", path, "/freezer.state"));
  if (v1.ok()) return absl::StripAsciiWhitespace(*v1) == "FROZEN";
  absl::StatusOr<std::string> v2 =
      sys::ReadFile(absl::StrCat("/sys/fs/cgroup", path, "/cgroup.events"));
  if (v2.ok()) return absl::StrContains(*v2, "frozen 1");
  return std::nullopt;
}

class OciBackend;

class OciSpawned final : public SpawnedProcess {
 public:
  OciSpawned(OciBackend* backend, std::unique_ptr<RuntimeChild> child, BackendExecRequest request,
             std::string process_file, std::string pid_file);
  ~OciSpawned() override;
  OciSpawned(const OciSpawned&) = delete;
  OciSpawned& operator=(const OciSpawned&) = delete;

  absl::StatusOr<ExecResult> Wait() override;
  absl::Status Kill() override;
  pid_t pid() const override;

 private:
  OciBackend* backend_;
  std::string pid_file_;
  std::thread pump_;
  absl::Mutex mu_;
  std::optional<absl::StatusOr<ExecResult>> result_ ABSL_GUARDED_BY(mu_);
  bool waited_ = false;
};

class OciBackend final : public Backend {
 public:
  explicit OciBackend(OciBackendOptions options) : options_(std::move(options)) {}
  explicit OciBackend(GVisorBackendOptions options)
      : gvisor_(true), gvisor_options_(std::move(options)) {}
  ~OciBackend() override { (void)Destroy(); }
  OciBackend(const OciBackend&) = delete;
  OciBackend& operator=(const OciBackend&) = delete;

  BackendKind kind() const override { return gvisor_ ? BackendKind::kGVisor : BackendKind::kOci; }
  absl::Status Prepare(const SandboxConfig& config, PrepareReport* report) override;
  absl::StatusOr<ExecResult> Exec(const BackendExecRequest& request) override;
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> Spawn(const BackendExecRequest& request) override;
  absl::Status Pause() override;
  absl::Status Resume() override;
  absl::Status Stop() override;
  absl::Status Destroy() override;

  // Runs the started child to its end and builds the result.
  absl::StatusOr<ExecResult> Finish(RuntimeChild& child, const BackendExecRequest& request,
                                    const std::string& process_file, const std::string& pid_file);
  // Kills what one exec started: inside gVisor from its internal pid, and
  // the runtime's exec process tree on the host.
  void KillExec(const std::string& pid_file);

 private:
  struct Started {
    std::unique_ptr<RuntimeChild> child;
    std::string process_file;
    std::string pid_file;
  };
  // In single-exec mode it hands the command to the waiting probe: the
  // request's stdin then starts with the command frame.
  absl::StatusOr<Started> StartExec(BackendExecRequest& request);
  void RemoveStaleContainers();
  absl::Status GatherEvidence(PrepareReport* report);
  absl::Status GatherGVisorEvidence(PrepareReport* report);
  // Checks the probe's report (the shell probe's or kavach-oci-probe's, split
  // on "@@\n") and appends the evidence; fails closed.
  absl::Status VerifyOci(const std::vector<std::string>& sec, PrepareReport* report);
  absl::Status VerifyGVisor(const std::vector<std::string>& sec, PrepareReport* report);
  // Single-exec: `<runtime> run` with kavach-oci-probe as the first process,
  // whose report is verified while it waits for the command.
  absl::Status RunProbe(PrepareReport* report);
  // Whether the runtime still keeps state for this container.
  bool ContainerStateLeft() const;
  // The runtime for this sandbox (crun/runc, or runsc), resolved once per
  // process; `first_use` when this process had not used it before.
  absl::Status ResolveRuntime(bool* first_use);

  const OciBackendOptions options_;
  const bool gvisor_ = false;
  const GVisorBackendOptions gvisor_options_;
  GVisorHost gvisor_host_;
  OciRuntime runtime_;
  SandboxPolicy policy_;
  std::string id_;
  std::string dir_;           // private temp dir: bundle/, work/, exec files
  std::string bundle_;        // dir_/bundle
  std::string workdir_;       // host side of the working directory
  bool own_workdir_ = false;  // made by Prepare (WorkDirFor), removed by Destroy
  std::string cgroups_path_;
  uint32_t host_uid_ = 65534;
  uint32_t host_gid_ = 65534;
  bool created_ = false;
  bool stopped_ = false;
  bool paused_ = false;
  pid_t init_pid_ = -1;  // host pid of the container's first process
  // Single-exec (SandboxConfig::single_exec): the container's first process
  // is the probe, `run_` the runtime's `run` waiting for the one command.
  bool single_ = false;
  std::string probe_path_;
  std::unique_ptr<RuntimeChild> run_;
  bool run_handed_ = false;
  bool destroyed_ = false;
  std::atomic<uint64_t> next_exec_{0};
};

OciSpawned::OciSpawned(OciBackend* backend, std::unique_ptr<RuntimeChild> child,
                       BackendExecRequest request, std::string process_file, std::string pid_file)
    : backend_(backend), pid_file_(pid_file) {
  pump_ = std::thread([this, backend, c = std::move(child), req = std::move(request),
                       pf = std::move(process_file), pid = std::move(pid_file)]() mutable {
    absl::StatusOr<ExecResult> r = backend->Finish(*c, req, pf, pid);
    c.reset();
    absl::MutexLock lock(&mu_);
    result_ = std::move(r);
  });
}

OciSpawned::~OciSpawned() {
  if (pump_.joinable()) {
    if (!waited_) (void)Kill();
    pump_.join();
  }
}

absl::StatusOr<ExecResult> OciSpawned::Wait() {
  if (pump_.joinable()) pump_.join();
  waited_ = true;
  absl::MutexLock lock(&mu_);
  if (!result_) return absl::InternalError("spawned command has no result");
  return *result_;
}

absl::Status OciSpawned::Kill() {
  backend_->KillExec(pid_file_);
  return absl::OkStatus();
}

pid_t OciSpawned::pid() const {
  // The runtime writes the host pid; the last NSpid field is the pid inside.
  std::optional<pid_t> host = ReadPidFile(pid_file_);
  if (!host) return -1;
  absl::StatusOr<std::string> status = sys::ReadFile(absl::StrCat("/proc/", *host, "/status"));
  if (!status.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (!absl::StartsWith(line, "NSpid:")) continue;
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    pid_t p = -1;
    if (f.size() >= 2 && absl::SimpleAtoi(f.back(), &p)) return p;
  }
  return -1;
}

void OciBackend::RemoveStaleContainers() {
  // The runtime's state root names every container it knows (crun, runc: a
  // directory <id>; runsc: files <id>_sandbox:<id>.state and .lock): reading
  // it is much cheaper than `<runtime> list`, and only the containers of a
  // dead kavach cost a runtime call.
  std::set<std::string> ids;
  DIR* d = ::opendir(runtime_.state_root.c_str());
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!absl::StartsWith(name, kIdPrefix)) continue;
    ids.insert(name.substr(0, name.find_first_of("_.")));
  }
  ::closedir(d);
  for (const std::string& id : ids) {
    std::vector<absl::string_view> parts = absl::StrSplit(id, '-');
    pid_t owner = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &owner) || owner <= 0) continue;
    if (owner == ::getpid() || ::kill(owner, 0) == 0 || errno != ESRCH) continue;
    // Its bundle is <dir>/bundle under our temp prefix: remove the dir too.
    std::string bundle;
    absl::StatusOr<RuntimeOutput> state = RunRuntime(runtime_, {"state", id}, kRuntimeCallTimeout);
    if (state.ok() && state->exit_code == 0) {
      nlohmann::json j = nlohmann::json::parse(state->out, nullptr, false);
      if (j.is_object() && j.contains("bundle") && j["bundle"].is_string()) {
        bundle = j["bundle"].get<std::string>();
      }
    }
    (void)RunRuntime(runtime_, {"delete", "--force", id}, kRuntimeCallTimeout);
    if (absl::EndsWith(bundle, "/bundle") && absl::StrContains(bundle, "/kavach-oci-")) {
      const std::string dir = bundle.substr(0, bundle.size() - 7);
      (void)sys::RemoveTree(dir);
      (void)sys::RemoveTree(WorkDirFor(dir));
    }
  }
}

absl::Status OciBackend::ResolveRuntime(bool* first_use) {
  *first_use = false;
  // Resolving runs `<runtime> --version` (and for runsc a platform trial,
  // cached) and the sweep runs `list`: once per process and state root, not
  // per sandbox.
  static absl::Mutex mu(absl::kConstInit);
  static auto* resolved = new std::map<std::string, OciRuntime>();
  static auto* gvisor_hosts = new std::map<std::string, GVisorHost>();
  absl::MutexLock lock(&mu);
  if (gvisor_) {
    std::string state_root =
        gvisor_options_.state_root.empty() ? GVisorDefaultStateRoot() : gvisor_options_.state_root;
    const bool host_net = policy_.network.mode == NetworkMode::kHost;
    std::string key = absl::StrCat("runsc\n", gvisor_options_.platform, "\n", state_root);
    auto it = gvisor_hosts->find(key);
    if (it == gvisor_hosts->end()) {
      absl::StatusOr<GVisorHost> host = ResolveGVisorHost(gvisor_options_.platform);
      if (!host.ok()) {
        return absl::UnavailableError(
            absl::StrCat("gvisor backend unavailable: ", host.status().message()));
      }
      it = gvisor_hosts->emplace(key, *std::move(host)).first;
      *first_use = true;
    }
    gvisor_host_ = it->second;
    runtime_ = GVisorRuntime(gvisor_host_, state_root, host_net);
    return absl::OkStatus();
  }
  std::string name = options_.runtime.empty() ? OciRuntimeNameFromEnv() : options_.runtime;
  std::string state_root =
      options_.state_root.empty() ? OciDefaultStateRoot(name) : options_.state_root;
  std::string key = absl::StrCat(name, "\n", state_root);
  auto it = resolved->find(key);
  if (it == resolved->end()) {
    // No `--version` run here: a runtime that cannot run fails `run` or
    // `create` with its own message (ProbeOci does run it).
    absl::StatusOr<OciRuntime> rt = ResolveOciRuntime(name, state_root, /*run_version=*/false);
    if (!rt.ok()) {
      return absl::UnavailableError(
          absl::StrCat("oci backend unavailable: ", rt.status().message()));
    }
    it = resolved->emplace(key, *std::move(rt)).first;
    *first_use = true;
  }
  runtime_ = it->second;
  return absl::OkStatus();
}

absl::Status OciBackend::Prepare(const SandboxConfig& config, PrepareReport* report) {
  absl::Time t0 = absl::Now();
  auto step = [&](const char* name) {
    absl::Time now = absl::Now();
    report->steps.push_back({name, now - t0});
    t0 = now;
  };
  policy_ = config.policy;
  if (absl::Status s = policy_.Validate(); !s.ok()) return s;
  if (policy_.network.mode == NetworkMode::kProxy) {
    return absl::UnimplementedError(
        "namespace.net: network mode proxy is only wired for the process backend");
  }
  // Landlock: neither crun nor runc applies it. Fail closed unless optional.
  struct Missing {
    Control control;
    bool asked;
  };
  for (Missing m :
       {Missing{Control::kLandlockFilesystem, policy_.filesystem.landlock},
        Missing{Control::kLandlockNetwork, policy_.network.tcp_bind_ports.has_value() ||
                                               policy_.network.tcp_connect_ports.has_value()},
        Missing{Control::kLandlockScopes,
                policy_.landlock_scopes.abstract_unix_socket || policy_.landlock_scopes.signal}}) {
    if (!m.asked) continue;
    std::string why =
        gvisor_ ? "gVisor does not implement Landlock; use --inner process on an OCI outer "
                  "layer for Landlock, or list it in optional_controls to run without it"
                : "the OCI backend does not apply Landlock (crun and runc have no Landlock "
                  "support); list it in optional_controls to run without it";
    if (!policy_.IsOptional(m.control)) return ControlError(m.control, why);
    report->evidence.push_back({std::string(ControlName(m.control)), false, "skipped: " + why, 0});
  }

  if (gvisor_ && policy_.network.mode == NetworkMode::kHost) {
    return absl::UnimplementedError(
        "gvisor: network host is not supported (runsc 0.0~20221219 fails to create a sandbox "
        "with a user namespace and --network=host: \"error converting mounts: operation not "
        "permitted\"); use network none");
  }
  bool first_use = false;
  if (absl::Status s = ResolveRuntime(&first_use); !s.ok()) return s;
  const std::string& state_root = runtime_.state_root;
  if (absl::Status s = MakeDirs(state_root, 0700); !s.ok()) return s;
  // Containers left by a kavach that died (kill -9, crash).
  if (first_use) RemoveStaleContainers();
  step("runtime");

  const bool root = ::geteuid() == 0;
  // Which host user the sandbox's user is: as the Process backend, ourselves
  // when unprivileged; as root, the owner of the bound working directory
  // when that is not root, else nobody. Never host root.
  if (!root) {
    host_uid_ = ::geteuid();
    host_gid_ = ::getegid();
  } else {
    struct stat st;
    if (!config.host_workdir.empty() && ::stat(config.host_workdir.c_str(), &st) == 0 &&
        st.st_uid != 0) {
      host_uid_ = st.st_uid;
      host_gid_ = st.st_gid;
    }
  }
  if (!root && (policy_.limits.memory_bytes || policy_.limits.cpu_cores ||
                policy_.limits.cpu_weight || policy_.limits.max_pids)) {
    Control c = policy_.limits.memory_bytes ? Control::kCgroupMemory
                : policy_.limits.max_pids   ? Control::kCgroupPids
                                            : Control::kCgroupCpu;
    if (!policy_.IsOptional(c)) {
      return ControlError(c, "rootless OCI containers get no cgroup on this host (no delegation)");
    }
  }

  // runc needs the container's root mapped; an unprivileged caller owns a
  // single host id, which goes to the sandbox user.
  if (!root && policy_.uid != 0 && runtime_.name == "runc") {
    return ControlError(
        Control::kUserNamespace,
        absl::StrCat("rootless runc needs uid 0 mapped in the container, but an unprivileged "
                     "caller can map only its own host uid (",
                     ::geteuid(), ") and that goes to the sandbox user (uid ", policy_.uid,
                     "); run as root, or with policy uid 0"));
  }
  id_ = absl::StrCat(kIdPrefix, ::getpid(), "-", RandomHex(6));
  std::string templ = absl::StrCat(BundleParent(), "/kavach-oci-XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) return sys::ErrnoStatus(errno, "mkdtemp");
  dir_ = templ;
  // Traversable (not listable) by the container's ids, which set the root up.
  if (::chmod(dir_.c_str(), 0711) != 0) return sys::ErrnoStatus(errno, "chmod");
  bundle_ = dir_ + "/bundle";
  auto fail = [&](absl::Status s) {
    (void)Destroy();
    return s;
  };
  if (config.host_workdir.empty()) {
    // mkdtemp never makes a "-work" name: one that exists was left by a
    // kavach that died.
    workdir_ = WorkDirFor(dir_);
    int rc = ::mkdir(workdir_.c_str(), 0700);
    if (rc != 0 && errno == EEXIST) {
      (void)sys::RemoveTree(workdir_);
      rc = ::mkdir(workdir_.c_str(), 0700);
    }
    if (rc != 0) {
      const int err = errno;
      return fail(sys::ErrnoStatus(err, absl::StrCat("mkdir ", workdir_)));
    }
    own_workdir_ = true;
    if (root && ::chown(workdir_.c_str(), host_uid_, host_gid_) != 0) {
      return fail(sys::ErrnoStatus(errno, "chown work"));
    }
  } else {
    workdir_ = config.host_workdir;
  }
  BundleLayout layout;
  layout.host_workdir = workdir_;
  layout.args = kPauseArgs;
  layout.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  layout.host_uid = host_uid_;
  layout.host_gid = host_gid_;
  layout.extra_ro_binds = gvisor_ ? gvisor_options_.extra_ro_binds : options_.extra_ro_binds;
  layout.proc_unmasked = gvisor_ ? gvisor_options_.nested_jail : options_.nested_jail;
  // One command (kavach exec): the probe is the first process, and becomes
  // the command's parent once its report is verified. Not for a composite's
  // outer layer, whose commands go through the inner jail.
  if (config.single_exec && !layout.proc_unmasked) {
    probe_path_ = FindOciProbe();
    single_ = !probe_path_.empty();
  }
  if (single_) {
    layout.args = {kProbeInside, gvisor_ ? "gvisor" : "oci"};
    layout.extra_ro_binds.emplace_back(probe_path_, kProbeInside);
  }
  if (root) {
    layout.host_root_id = kOciContainerRootHostId;
    cgroups_path_ = absl::StrCat(gvisor_ ? "/kavach-gvisor/" : "/kavach-oci/", id_);
    layout.cgroups_path = cgroups_path_;
  }
  // gVisor: a host pids limit would count the Sentry's and the gofer's
  // threads (the sandbox's processes are Sentry tasks), so it is not set.
  SandboxPolicy bundle_policy = policy_;
  if (gvisor_ && policy_.limits.max_pids) {
    std::string why = absl::StrCat(
        "runsc (", gvisor_host_.version,
        ") has no per-sandbox process limit: a host pids cgroup counts the Sentry's threads, "
        "not the sandbox's processes");
    if (!policy_.IsOptional(Control::kCgroupPids)) {
      return fail(ControlError(Control::kCgroupPids, why));
    }
    report->evidence.push_back({"cgroup.pids", false, "skipped: " + why, 0});
    bundle_policy.limits.max_pids.reset();
  }
  if (absl::Status s = WriteOciBundle(bundle_, bundle_policy, layout); !s.ok()) {
    if (absl::IsInvalidArgument(s) && absl::StartsWith(s.message(), "seccomp")) {
      return fail(ControlError(Control::kSeccomp, s.message()));
    }
    return fail(s);
  }
  if (::chmod(bundle_.c_str(), 0711) != 0) return fail(sys::ErrnoStatus(errno, "chmod bundle"));
  step("bundle");
  if (single_) {
    if (absl::Status s = RunProbe(report); !s.ok()) return fail(s);
    step("run+verify");
    return absl::OkStatus();
  }

  // `create` leaves the container's first process holding the runtime's
  // stdio: give it /dev/null and read errors from the log file.
  const std::string log = dir_ + "/runtime.log";
  {
    absl::StatusOr<std::unique_ptr<RuntimeChild>> c = RuntimeChild::Start(
        runtime_,
        {"--log", log, "create", "--bundle", bundle_, "--pid-file", dir_ + "/init.pid", id_}, false,
        /*null_stdio=*/true);
    if (!c.ok()) return fail(c.status());
    CollectOptions opts;
    opts.timeout = kRuntimeCallTimeout;
    absl::StatusOr<RuntimeOutput> r = (*c)->Collect(opts);
    if (!r.ok()) return fail(r.status());
    created_ = true;
    if (r->exit_code != 0) {
      absl::StatusOr<std::string> why = sys::ReadFile(log);
      return fail(absl::FailedPreconditionError(absl::StrCat(
          runtime_.name, " create failed (exit ", r->exit_code,
          "): ", absl::StripAsciiWhitespace(why.ok() ? *why : std::string("no log")))));
    }
  }
  init_pid_ = ReadPidFile(dir_ + "/init.pid").value_or(-1);
  step("create");
  if (absl::Status s = RunRuntimeOk(runtime_, {"start", id_}, kRuntimeCallTimeout); !s.ok()) {
    return fail(s);
  }
  step("start");
  if (absl::Status s = GatherEvidence(report); !s.ok()) return fail(s);
  step("verify");
  return absl::OkStatus();
}

absl::Status OciBackend::RunProbe(PrepareReport* report) {
  const std::string pid_file = dir_ + "/init.pid";
  absl::StatusOr<std::unique_ptr<RuntimeChild>> c = RuntimeChild::Start(
      runtime_, {"run", "--bundle", bundle_, "--pid-file", pid_file, id_}, /*with_stdin=*/true);
  if (!c.ok()) return c.status();
  run_ = *std::move(c);
  created_ = true;
  absl::StatusOr<std::string> frame = run_->ReadStderrFrame(kProbeMagic, kRuntimeCallTimeout);
  if (!frame.ok()) {
    return absl::Status(frame.status().code(),
                        absl::StrCat(runtime_.name, " run: ", frame.status().message()));
  }
  init_pid_ = ReadPidFile(pid_file).value_or(-1);
  std::vector<std::string> sec = absl::StrSplit(*frame, "@@\n");
  return gvisor_ ? VerifyGVisor(sec, report) : VerifyOci(sec, report);
}

bool OciBackend::ContainerStateLeft() const {
  DIR* d = ::opendir(runtime_.state_root.c_str());
  if (d == nullptr) return false;
  bool left = false;
  while (dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (absl::StartsWith(name, id_) &&
        (name.size() == id_.size() || name[id_.size()] == '_' || name[id_.size()] == '.')) {
      left = true;
      break;
    }
  }
  ::closedir(d);
  return left;
}

absl::Status OciBackend::GatherGVisorEvidence(PrepareReport* report) {
  BackendExecRequest probe;
  probe.argv = {"/bin/sh", "-c", kGVisorProbeScript};
  probe.env = {"PATH=/usr/bin:/bin"};
  probe.cwd = policy_.working_directory;
  probe.timeout = kRuntimeCallTimeout;
  absl::StatusOr<ExecResult> r = Exec(probe);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("gvisor: the verification command failed inside the sandbox (exit ",
                     r->exit_code, "): ", r->stderr_data));
  }
  std::vector<std::string> sec = absl::StrSplit(r->stdout_data, "@@\n");
  return VerifyGVisor(sec, report);
}

absl::Status OciBackend::VerifyGVisor(const std::vector<std::string>& sec, PrepareReport* report) {
  if (absl::Status s = GVisorEvidence(policy_, sec, init_pid_, gvisor_host_, host_uid_,
                                      /*first_process=*/single_, &report->evidence);
      !s.ok()) {
    return s;
  }
  // Host cgroup limits on the Sentry and gofer (memory and CPU).
  const ResourceLimits& lim = policy_.limits;
  if ((lim.memory_bytes || lim.cpu_cores) && !cgroups_path_.empty()) {
    CgroupReadBack back = ReadBackCgroup(cgroups_path_);
    if (lim.memory_bytes) {
      bool ok = back.memory && static_cast<uint64_t>(*back.memory) == *lim.memory_bytes;
      std::string detail = absl::StrCat("Sentry's memory limit ", back.memory.value_or(-1),
                                        " bytes (", back.where, ")");
      if (!ok && !policy_.IsOptional(Control::kCgroupMemory)) {
        return ControlError(Control::kCgroupMemory, detail);
      }
      report->evidence.push_back({"cgroup.memory", ok, detail, kPointsCgroupLimits});
    }
    if (lim.cpu_cores) {
      bool ok = back.cpu_cores && std::abs(*back.cpu_cores - *lim.cpu_cores) < 0.01;
      std::string detail = absl::StrCat("Sentry's cpu quota ", back.cpu_cores.value_or(0),
                                        " cores (", back.where, ")");
      if (!ok && !policy_.IsOptional(Control::kCgroupCpu)) {
        return ControlError(Control::kCgroupCpu, detail);
      }
      report->evidence.push_back(
          {"cgroup.cpu", ok, detail, lim.memory_bytes ? 0 : kPointsCgroupLimits});
    }
  }
  return absl::OkStatus();
}

absl::Status OciBackend::GatherEvidence(PrepareReport* report) {
  if (gvisor_) return GatherGVisorEvidence(report);
  BackendExecRequest probe;
  probe.argv = {"/bin/sh", "-c", kProbeScript};
  probe.env = {"PATH=/usr/bin:/bin"};
  probe.cwd = policy_.working_directory;
  probe.timeout = kRuntimeCallTimeout;
  // crun 1.8 now and then fails the first exec right after `start` ("fail
  // startup"); a runtime failure (not the command's) is retried.
  absl::StatusOr<ExecResult> r = Exec(probe);
  for (int attempt = 1; attempt < 3 && absl::IsUnavailable(r.status()); ++attempt) {
    absl::SleepFor(absl::Milliseconds(10 * attempt));
    r = Exec(probe);
  }
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("oci: the verification command failed inside the container (exit ",
                     r->exit_code, "): ", r->stderr_data));
  }
  std::vector<std::string> sec = absl::StrSplit(r->stdout_data, "@@\n");
  return VerifyOci(sec, report);
}

absl::Status OciBackend::VerifyOci(const std::vector<std::string>& sec, PrepareReport* report) {
  if (sec.size() != 8) {
    return absl::InternalError(
        absl::StrCat("oci: unexpected verification output: ", absl::StrJoin(sec, "@@\n")));
  }
  const SandboxPolicy& policy = policy_;
  std::vector<Evidence>& ev = report->evidence;
  auto check = [&](Control control, bool verified, std::string detail, int points) -> absl::Status {
    if (!verified && !policy.IsOptional(control)) return ControlError(control, detail);
    ev.push_back({std::string(ControlName(control)), verified, std::move(detail), points});
    return absl::OkStatus();
  };
  // /proc/self/status of a command.
  std::map<std::string, std::string> status;
  for (absl::string_view line : absl::StrSplit(sec[0], '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(':', 1));
    status[std::string(kv.first)] = std::string(absl::StripAsciiWhitespace(kv.second));
  }
  // Namespaces: each must differ from ours.
  std::vector<std::string> inside = absl::StrSplit(sec[1], '\n', absl::SkipEmpty());
  if (inside.size() != 7) return absl::InternalError(absl::StrCat("oci: namespaces: ", sec[1]));
  struct Ns {
    int index;
    Control control;
    int points;
  };
  for (Ns n :
       {Ns{0, Control::kUserNamespace, kPointsUserNs}, Ns{1, Control::kPidNamespace, kPointsPidNs},
        Ns{2, Control::kMountNamespace, kPointsMountNs},
        Ns{3, Control::kIpcNamespace, kPointsIpcNs}, Ns{4, Control::kUtsNamespace, kPointsUtsNs},
        Ns{5, Control::kCgroupNamespace, kPointsCgroupNs}}) {
    std::string host = HostNamespace(kProbeNamespaces[n.index]);
    bool own = !host.empty() && inside[n.index] != host;
    absl::Status s =
        check(n.control, own,
              absl::StrCat(inside[n.index], own ? " differs from host " : " is the host's ", host),
              n.points);
    if (!s.ok()) return s;
  }
  std::vector<std::string> ifaces;
  for (absl::string_view line : absl::StrSplit(sec[5], '\n', absl::SkipEmpty())) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;  // the two header lines
    ifaces.emplace_back(absl::StripAsciiWhitespace(line.substr(0, colon)));
  }
  if (policy.network.mode == NetworkMode::kNone) {
    std::string host = HostNamespace("net");
    bool own = !host.empty() && inside[6] != host;
    bool verified = own && ifaces == std::vector<std::string>{"lo"};
    std::string detail = absl::StrCat("interfaces: [", absl::StrJoin(ifaces, ","), "]",
                                      own ? ", own netns" : ", host netns");
    if (!verified && !policy.IsOptional(Control::kNetworkNamespace)) {
      return ControlError(Control::kNetworkNamespace, detail);
    }
    ev.push_back({"namespace.net", verified, detail, kPointsNetworkNone});
  }
  // Own root: "/" inside is not the host's "/".
  struct stat host_root;
  std::string host_root_id =
      ::stat("/", &host_root) == 0 ? absl::StrCat(host_root.st_dev, ":", host_root.st_ino) : "";
  std::string inside_root(absl::StripAsciiWhitespace(sec[3]));
  absl::Status s =
      check(Control::kPivotRoot, !host_root_id.empty() && inside_root != host_root_id,
            absl::StrCat("/ is ", inside_root, " inside, ", host_root_id, " on the host"),
            kPointsOwnRoot);
  if (!s.ok()) return s;
  s = check(Control::kNoNewPrivs, status["NoNewPrivs"] == "1",
            absl::StrCat("NoNewPrivs: ", status["NoNewPrivs"]), kPointsNoNewPrivs);
  if (!s.ok()) return s;
  bool caps_empty =
      status["CapEff"] == "0000000000000000" && status["CapPrm"] == "0000000000000000" &&
      status["CapBnd"] == "0000000000000000" && status["CapAmb"] == "0000000000000000";
  s = check(Control::kCapabilities, caps_empty,
            absl::StrCat("CapEff: ", status["CapEff"], " CapPrm: ", status["CapPrm"],
                         " CapBnd: ", status["CapBnd"], " CapAmb: ", status["CapAmb"]),
            kPointsCapabilities);
  if (!s.ok()) return s;
  std::vector<std::string> fds;
  for (absl::string_view fd : absl::StrSplit(sec[4], '\n', absl::SkipEmpty())) {
    if (fd != "0" && fd != "1" && fd != "2") fds.emplace_back(fd);
  }
  s = check(Control::kCloseFds, fds.empty(),
            absl::StrCat(fds.size(), " inherited fds above stderr", fds.empty() ? "" : ": ",
                         absl::StrJoin(fds, ",")),
            kPointsCloseFds);
  if (!s.ok()) return s;
  int uid_inside = -1;
  (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(sec[7]), &uid_inside);
  ev.push_back({"uid", uid_inside == static_cast<int>(policy.uid) && host_uid_ != 0,
                absl::StrFormat("runs as uid %d inside, host uid %d", uid_inside, host_uid_),
                kPointsUnprivilegedUid});
  // Masked paths: the masked /proc files this kernel has are /dev/null
  // (char 1:3), and /proc/sys is read-only.
  bool proc_sys_ro = false;
  bool root_ro = false;
  for (absl::string_view line : absl::StrSplit(sec[2], '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 6) continue;
    bool ro = absl::StartsWith(f[5], "ro,") || f[5] == "ro";
    if (f[4] == "/proc/sys") proc_sys_ro = ro;
    if (f[4] == "/") root_ro = ro;
  }
  std::vector<std::string> masked = absl::StrSplit(sec[6], '\n', absl::SkipEmpty());
  bool all_null = !masked.empty();
  for (const std::string& m : masked) all_null = all_null && absl::EndsWith(m, " 1:3");
  ev.push_back({"oci.masked_paths", all_null && proc_sys_ro,
                absl::StrCat("[", absl::StrJoin(masked, ", "), "] (1:3 is /dev/null), /proc/sys ",
                             proc_sys_ro ? "read-only" : "writable"),
                kPointsMaskedPaths});
  if (policy.seccomp != SeccompProfile::kNone) {
    s = check(Control::kSeccomp, status["Seccomp"] == "2",
              absl::StrCat("Seccomp: ", status["Seccomp"],
                           ", Seccomp_filters: ", status["Seccomp_filters"], ", profile ",
                           ToAbsl(SeccompProfileName(policy.seccomp))),
              kPointsSeccomp);
    if (!s.ok()) return s;
  }
  if (policy.filesystem.read_only_root) {
    s = check(Control::kReadOnlyRoot, root_ro, root_ro ? "/ is mounted read-only" : "/ is writable",
              kPointsReadOnlyRoot);
    if (!s.ok()) return s;
  }
  const ResourceLimits& lim = policy.limits;
  if ((lim.memory_bytes || lim.cpu_cores || lim.cpu_weight || lim.max_pids) &&
      !cgroups_path_.empty()) {
    CgroupReadBack back = ReadBackCgroup(cgroups_path_);
    bool mem_ok = !lim.memory_bytes ||
                  (back.memory && static_cast<uint64_t>(*back.memory) == *lim.memory_bytes);
    bool cpu_ok =
        !lim.cpu_cores || (back.cpu_cores && std::abs(*back.cpu_cores - *lim.cpu_cores) < 0.01);
    bool pids_ok =
        !lim.max_pids || (back.pids && static_cast<uint64_t>(*back.pids) == *lim.max_pids);
    if (lim.memory_bytes) {
      s = check(
          Control::kCgroupMemory, mem_ok,
          absl::StrCat("memory limit ", back.memory.value_or(-1), " bytes (", back.where, ")"),
          kPointsCgroupLimits);
      if (!s.ok()) return s;
    }
    if (lim.cpu_cores) {
      s = check(Control::kCgroupCpu, cpu_ok,
                absl::StrCat("cpu quota ", back.cpu_cores.value_or(0), " cores (", back.where, ")"),
                lim.memory_bytes ? 0 : kPointsCgroupLimits);
      if (!s.ok()) return s;
    }
    if (lim.max_pids) {
      s = check(Control::kCgroupPids, pids_ok,
                absl::StrCat("pids limit ", back.pids.value_or(-1), " (", back.where, ")"), 0);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<OciBackend::Started> OciBackend::StartExec(BackendExecRequest& request) {
  if (!created_ || destroyed_) return absl::FailedPreconditionError("oci: sandbox not prepared");
  if (request.argv.empty()) return absl::InvalidArgumentError("exec: empty argv");
  Started st;
  if (single_) {
    if (run_ == nullptr || run_handed_) {
      return absl::FailedPreconditionError(
          "oci: this sandbox was made for one command (single_exec) and has run it");
    }
    // The probe reads the frame, then the command reads the rest of stdin.
    run_handed_ = true;
    request.stdin_data = absl::StrCat(
        ProbeCommandFrame(request.argv, request.env,
                          request.cwd.empty() ? policy_.working_directory : request.cwd),
        request.stdin_data.value_or(""));
    run_->ResetClock();
    st.child = std::move(run_);
    st.pid_file = dir_ + "/init.pid";
    return st;
  }
  uint64_t n = next_exec_.fetch_add(1);
  st.process_file = absl::StrCat(dir_, "/exec-", n, ".json");
  st.pid_file = absl::StrCat(dir_, "/exec-", n, ".pid");
  nlohmann::json process =
      OciProcess(policy_, request.argv, request.env,
                 request.cwd.empty() ? policy_.working_directory : request.cwd);
  if (absl::Status s = sys::WriteFile(st.process_file, process.dump(), 0600); !s.ok()) return s;
  std::vector<std::string> args = {"exec", "--process", st.process_file, "--pid-file", st.pid_file};
  if (gvisor_) {
    args.push_back("--internal-pid-file");
    args.push_back(st.pid_file + ".in");
  }
  args.push_back(id_);
  absl::StatusOr<std::unique_ptr<RuntimeChild>> c =
      RuntimeChild::Start(runtime_, args, request.stdin_data.has_value());
  if (!c.ok()) {
    ::unlink(st.process_file.c_str());
    return c.status();
  }
  st.child = *std::move(c);
  return st;
}

absl::StatusOr<ExecResult> OciBackend::Finish(RuntimeChild& child,
                                              const BackendExecRequest& request,
                                              const std::string& process_file,
                                              const std::string& pid_file) {
  CollectOptions opts;
  opts.stdin_data = request.stdin_data;
  opts.timeout = request.timeout;
  opts.max_output_bytes = request.max_output_bytes;
  opts.on_stdout = request.on_stdout;
  opts.on_stderr = request.on_stderr;
  opts.on_timeout = [&] { KillExec(pid_file); };
  absl::StatusOr<RuntimeOutput> out = child.Collect(opts);
  // The command may have left children behind (in the container's pid
  // namespace) when killed; none may outlive a timed-out exec.
  if (out.ok() && out->timed_out) KillExec(pid_file);
  // The runtime writes the pid file once the command exists: without it the
  // runtime failed before the command ran, and its exit code is not the
  // command's.
  const bool started = ReadPidFile(pid_file).has_value();
  if (!process_file.empty()) ::unlink(process_file.c_str());
  ::unlink(pid_file.c_str());
  ::unlink((pid_file + ".in").c_str());
  if (!out.ok()) return out.status();
  if (!out->timed_out && !started) {
    return absl::UnavailableError(
        absl::StrCat(runtime_.name, " exec failed before the command started (exit ",
                     out->exit_code, "): ", absl::StripAsciiWhitespace(out->err)));
  }
  ExecResult r;
  r.stdout_data = std::move(out->out);
  r.stderr_data = std::move(out->err);
  r.stdout_truncated = out->out_truncated;
  r.stderr_truncated = out->err_truncated;
  r.timed_out = out->timed_out;
  r.wall_time = out->wall;
  r.cpu_time = out->cpu;
  r.peak_memory_bytes = out->max_rss_bytes;
  if (out->timed_out) {
    r.exit_code = -1;
    r.signal = SIGKILL;
  } else if (out->signal != 0) {
    r.signal = out->signal;
  } else {
    r.exit_code = out->exit_code;
  }
  return r;
}

void OciBackend::KillExec(const std::string& pid_file) {
  if (single_ && gvisor_) {
    // The command is a child of the container's first process: killing that
    // ends the container.
    (void)RunRuntime(runtime_, {"kill", id_, "KILL"}, absl::Seconds(10));
    return;
  }
  if (gvisor_) {
    std::optional<pid_t> inner = ReadPidFile(pid_file + ".in");
    if (inner) {
      const std::string kill_file = pid_file + ".kill.json";
      nlohmann::json process = OciProcess(
          policy_, {"/bin/sh", "-c", kGVisorKillTree, "kavach-kill", absl::StrCat(*inner)},
          {"PATH=/usr/bin:/bin"}, "/");
      if (sys::WriteFile(kill_file, process.dump(), 0600).ok()) {
        (void)RunRuntime(runtime_, {"exec", "--process", kill_file, id_}, absl::Seconds(10));
      }
      ::unlink(kill_file.c_str());
    }
  }
  KillExecTree(pid_file);
}

absl::StatusOr<ExecResult> OciBackend::Exec(const BackendExecRequest& request_in) {
  absl::Time t0 = absl::Now();
  BackendExecRequest request = request_in;
  absl::StatusOr<Started> st = StartExec(request);
  if (!st.ok()) return st.status();
  absl::Duration start_time = absl::Now() - t0;
  absl::StatusOr<ExecResult> r = Finish(*st->child, request, st->process_file, st->pid_file);
  if (r.ok()) r->setup.insert(r->setup.begin(), SetupStep{"runtime exec", start_time});
  return r;
}

absl::StatusOr<std::unique_ptr<SpawnedProcess>> OciBackend::Spawn(
    const BackendExecRequest& request_in) {
  BackendExecRequest request = request_in;
  absl::StatusOr<Started> st = StartExec(request);
  if (!st.ok()) return st.status();
  return std::unique_ptr<SpawnedProcess>(new OciSpawned(
      this, std::move(st->child), request, std::move(st->process_file), std::move(st->pid_file)));
}

absl::Status OciBackend::Pause() {
  if (!created_ || stopped_) return absl::FailedPreconditionError("oci: no running container");
  absl::Status s = RunRuntimeOk(runtime_, {"pause", id_}, kRuntimeCallTimeout);
  if (!s.ok()) return s;
  paused_ = true;
  // A v1 freezer passes through FREEZING, and a runtime may return while a
  // task is still on its way there: Pause promises that nothing runs, so
  // wait for the cgroup to say so (gVisor pauses inside its Sentry).
  if (!gvisor_ && !cgroups_path_.empty()) {
    const absl::Time deadline = absl::Now() + kPauseSettle;
    std::optional<bool> frozen = CgroupFrozen(cgroups_path_);
    while (frozen && !*frozen && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
      frozen = CgroupFrozen(cgroups_path_);
    }
    if (frozen && !*frozen) {
      return absl::DeadlineExceededError(
          absl::StrCat("oci: pause: the container's freezer cgroup did not reach FROZEN within ",
                       absl::FormatDuration(kPauseSettle)));
    }
  }
  return absl::OkStatus();
}

absl::Status OciBackend::Resume() {
  if (!created_ || stopped_) return absl::FailedPreconditionError("oci: no running container");
  absl::Status s = RunRuntimeOk(runtime_, {"resume", id_}, kRuntimeCallTimeout);
  if (s.ok()) paused_ = false;
  return s;
}

absl::Status OciBackend::Stop() {
  if (!created_ || stopped_) return absl::OkStatus();
  // Single-exec: once its command has run, `run` has removed the container.
  if (single_ && run_handed_ && !ContainerStateLeft()) return absl::OkStatus();
  stopped_ = true;
  // A paused container cannot die.
  if (paused_) (void)RunRuntime(runtime_, {"resume", id_}, kRuntimeCallTimeout);
  paused_ = false;
  absl::Status s = RunRuntimeOk(runtime_, {"kill", "--all", id_, "KILL"}, kRuntimeCallTimeout);
  if (!s.ok()) s = RunRuntimeOk(runtime_, {"kill", id_, "KILL"}, kRuntimeCallTimeout);
  // gVisor: the sandbox process (the Sentry) outlives its tasks until
  // `runsc delete` destroys it (Destroy); its tasks are dead now.
  if (gvisor_) return s;
  // Wait for the first process to die (it is not our child: watch /proc,
  // which is much cheaper than asking the runtime).
  absl::Time deadline = absl::Now() + kStopWait;
  while (init_pid_ > 0 && absl::Now() < deadline) {
    // When this process is a child subreaper (the kavach CLI), the orphaned
    // first process is our child: reap it, so the runtime's delete does not
    // wait for the host's init to do so.
    int wstatus = 0;
    if (::waitpid(init_pid_, &wstatus, WNOHANG) == init_pid_) return absl::OkStatus();
    absl::StatusOr<std::string> stat = sys::ReadFile(absl::StrCat("/proc/", init_pid_, "/stat"));
    if (!stat.ok()) return absl::OkStatus();
    size_t close = stat->rfind(')');
    if (close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] == 'Z') {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return init_pid_ > 0
             ? absl::DeadlineExceededError(absl::StrCat("oci: the container's first process (pid ",
                                                        init_pid_, ") did not die after SIGKILL"))
             : s;
}

absl::Status OciBackend::Destroy() {
  if (destroyed_) return absl::OkStatus();
  destroyed_ = true;
  absl::Status status;
  if (created_ && single_) {
    // `<runtime> run` deletes the container when its first process ends.
    if (run_ != nullptr) {
      // The command never came: EOF on the probe's stdin ends it (exit 125).
      run_->ResetClock();
      CollectOptions opts;
      opts.timeout = kStopWait;
      (void)run_->Collect(opts);
      run_.reset();
    }
    // Left only when the runtime was killed, or a spawned command still runs.
    if (ContainerStateLeft()) {
      (void)Stop();
      status = RunRuntimeOk(runtime_, {"delete", "--force", id_}, kRuntimeCallTimeout);
      if (!status.ok() && !ContainerStateLeft()) status = absl::OkStatus();
    }
    created_ = false;
  }
  if (created_) {
    // Killing first and waiting cheaply makes `delete` quick (runc's
    // `delete -f` polls slowly for the death).
    (void)Stop();
    status = RunRuntimeOk(runtime_, {"delete", "--force", id_}, kRuntimeCallTimeout);
    created_ = false;
  }
  if (!dir_.empty()) {
    absl::Status s = sys::RemoveTree(dir_);
    if (status.ok()) status = s;
    dir_.clear();
  }
  if (own_workdir_) {
    absl::Status s = sys::RemoveTree(workdir_);
    if (status.ok()) status = s;
    own_workdir_ = false;
  }
  return status;
}

}  // namespace

std::string OciDefaultStateRoot(const std::string& runtime) {
  if (::geteuid() == 0) return absl::StrCat("/run/kavach/oci-", runtime);
  const char* xdg = ::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && *xdg != '\0') return absl::StrCat(xdg, "/kavach/oci-", runtime);
  return absl::StrCat("/tmp/kavach-", ::geteuid(), "/oci-", runtime);
}

absl::StatusOr<std::unique_ptr<Backend>> CreateOciBackend(OciBackendOptions options) {
  if (!options.runtime.empty() && options.runtime != "crun" && options.runtime != "runc") {
    return absl::InvalidArgumentError(
        absl::StrCat("OCI runtime must be crun or runc, not \"", options.runtime, "\""));
  }
  return std::unique_ptr<Backend>(new OciBackend(std::move(options)));
}

absl::StatusOr<std::unique_ptr<Backend>> CreateGVisorBackend(GVisorBackendOptions options) {
  if (!options.platform.empty() && options.platform != "systrap" && options.platform != "ptrace" &&
      options.platform != "kvm") {
    return absl::InvalidArgumentError(absl::StrCat(
        "gVisor platform must be systrap, ptrace or kvm, not \"", options.platform, "\""));
  }
  return std::unique_ptr<Backend>(new OciBackend(std::move(options)));
}

BackendAvailability ProbeOci() {
  BackendAvailability a;
  a.kind = BackendKind::kOci;
  std::string def = OciRuntimeNameFromEnv();
  std::vector<std::string> parts;
  for (const char* name : {"crun", "runc"}) {
    absl::StatusOr<OciRuntime> rt = ResolveOciRuntime(name, "");
    if (rt.ok()) {
      a.available = true;
      parts.push_back(absl::StrCat(name, " at ", rt->path,
                                   rt->detach_unified_cgroup
                                       ? " (run with the controller-less cgroup2 mount detached)"
                                       : ""));
    } else {
      parts.push_back(absl::StrCat(name, ": ", rt.status().message()));
    }
  }
  a.reason = absl::StrCat(a.available ? "" : "no usable OCI runtime: ", absl::StrJoin(parts, "; "),
                          "; default runtime ", def, " (KAVACH_OCI_RUNTIME)");
  return a;
}

}  // namespace kavach::internal
