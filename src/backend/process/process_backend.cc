// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The Process backend, host side: prepares the staging root, the cgroup, the
// seccomp program and the Landlock plan; clones the sandbox's init into fresh
// namespaces; turns init's probe into evidence; and runs commands by sending
// requests to init and pumping their pipes.
#include "backend/process/process_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "backend/process/init.h"
#include "backend/process/init_exec.h"
#include "backend/process/init_plan_codec.h"
#include "backend/process/netns_pool.h"
#include "backend/process/protocol.h"
#include "backend/process/root_template.h"
#include "egress/egress_proxy.h"
#include "linux/capabilities.h"
#include "linux/cgroup.h"
#include "linux/file_util.h"
#include "linux/landlock.h"
#include "linux/seccomp.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"
#include "policy/seccomp_profiles.h"

namespace kavach::internal {
namespace {

using sys::UniqueFd;

// Set once starting init as kavach-init failed where a clone of this
// process then worked (see StartInit): later sandboxes skip the attempt.
std::atomic<bool> g_init_exec_unusable{false};

// Points of the Process backend's base score (50), one per verified control.
constexpr int kPointsUserNs = 6;
constexpr int kPointsPidNs = 6;
constexpr int kPointsMountNs = 4;
constexpr int kPointsPivotRoot = 6;
constexpr int kPointsIpcNs = 3;
constexpr int kPointsUtsNs = 2;
constexpr int kPointsCgroupNs = 2;
constexpr int kPointsNoNewPrivs = 5;
constexpr int kPointsCapabilities = 6;
constexpr int kPointsCloseFds = 5;
constexpr int kPointsUnprivilegedUid = 5;
// The original's policy modifiers, earned only when verified.
constexpr int kPointsSeccomp = 5;
constexpr int kPointsLandlockFs = 3;
constexpr int kPointsNetworkNone = 5;
// Own netns too, but the allowed hosts are reachable through the egress proxy.
constexpr int kPointsNetworkProxy = 3;
constexpr int kPointsReadOnlyRoot = 3;
constexpr int kPointsCgroupLimits = 2;
constexpr int kPointsLandlockNet = 3;
constexpr int kPointsScopeAbstract = 2;
constexpr int kPointsScopeSignal = 2;

constexpr absl::Duration kInitReadyTimeout = absl::Seconds(30);
// After a kill, how long to wait for init to report the exit before giving up
// on the sandbox.
constexpr absl::Duration kKillGrace = absl::Seconds(10);

const char* const kSystemDirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
// Host /etc entries a dynamically linked program or an interpreter needs.
const char* const kEtcBinds[] = {
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",    "/etc/alternatives",
    "/etc/localtime",   "/etc/ssl",        "/etc/ca-certificates", "/etc/python3",
    "/etc/python3.11",  "/etc/perl",       "/etc/mime.types",      "/etc/protocols",
    "/etc/services"};
const char* const kDevNodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

std::string Errno(int err) { return strerror(err); }

absl::Status ControlError(Control control, absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(ToAbsl(ControlName(control)), ": ", what));
}

Control ControlForStep(InitStep step) {
  switch (step) {
    case InitStep::kCgroupNamespace:
      return Control::kCgroupNamespace;
    case InitStep::kIpcNamespace:
      return Control::kIpcNamespace;
    case InitStep::kUtsNamespace:
      return Control::kUtsNamespace;
    case InitStep::kMountPropagation:
    case InitStep::kMount:
    case InitStep::kOpenSource:
    case InitStep::kBuildRoot:
      return Control::kMountNamespace;
    case InitStep::kPivotRoot:
      return Control::kPivotRoot;
    case InitStep::kReadOnlyRoot:
      return Control::kReadOnlyRoot;
    case InitStep::kHostname:
      return Control::kUtsNamespace;
    case InitStep::kLoopback:
      return Control::kNetworkNamespace;
    case InitStep::kLandlock:
    case InitStep::kLandlockRestrict:
    case InitStep::kCanary:
      return Control::kLandlockFilesystem;
    case InitStep::kRlimits:
      return Control::kRlimits;
    case InitStep::kCapabilities:
    case InitStep::kSetGroups:
    case InitStep::kSetGid:
    case InitStep::kSetUid:
      return Control::kCapabilities;
    case InitStep::kNoNewPrivs:
      return Control::kNoNewPrivs;
    case InitStep::kCloseFds:
      return Control::kCloseFds;
    case InitStep::kSeccomp:
      return Control::kSeccomp;
    default:
      return Control::kPidNamespace;
  }
}

absl::StatusOr<uint64_t> NamespaceInode(const std::string& pid_dir, std::string_view ns) {
  struct stat st;
  std::string path = absl::StrCat(pid_dir, "/ns/", ToAbsl(ns));
  if (::stat(path.c_str(), &st) != 0) return sys::ErrnoStatus(errno, path);
  return static_cast<uint64_t>(st.st_ino);
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  std::string hex;
  for (unsigned char c : raw) absl::StrAppendFormat(&hex, "%02x", c);
  return hex;
}

// Where staging roots live: a directory only we can write, on tmpfs when
// there is one (/run for root, $XDG_RUNTIME_DIR otherwise).
absl::StatusOr<std::string> StagingBase() {
  std::string base;
  if (::geteuid() == 0) {
    base = "/run/kavach";
  } else if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
    base = absl::StrCat(xdg, "/kavach");
  } else {
    const char* tmp = std::getenv("TMPDIR");
    base = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/kavach-", ::geteuid());
  }
  if (::mkdir(base.c_str(), 0711) != 0 && errno != EEXIST) {
    return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", base));
  }
  struct stat st;
  if (::lstat(base.c_str(), &st) != 0) return sys::ErrnoStatus(errno, base);
  // Refuse a base that someone else made for us (a /tmp squatting attack).
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 022) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("staging directory ", base, " is not a private directory owned by us"));
  }
  return base;
}

// recv of init's SetupReply; READY may carry the proxy socket (SCM_RIGHTS).
ssize_t RecvSetupReply(int control, SetupReply* reply, UniqueFd* passed) {
  struct iovec iov = {reply, sizeof *reply};
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n = ::recvmsg(control, &msg, MSG_CMSG_CLOEXEC);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      passed->Reset(fd);
    }
  }
  return n;
}

bool IsUnder(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  return path.size() >= dir.size() && path.substr(0, dir.size()) == dir &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

class StepTimer {
 public:
  explicit StepTimer(std::vector<SetupStep>* steps) : steps_(steps), last_(absl::Now()) {}
  void Mark(std::string name) {
    absl::Time now = absl::Now();
    steps_->push_back({std::move(name), now - last_});
    last_ = now;
  }

 private:
  std::vector<SetupStep>* steps_;
  absl::Time last_;
};

// Whether Cgroup::Create (automatic version) will make a v1 cgroup on this
// host: v1 only, or hybrid where the cgroup2 mount lacks one of the usual
// controllers. (A wrong guess costs time, not correctness: see StartInit.)
bool CgroupWillBeV1(const sys::CgroupLayout& layout) {
  if (layout.mode == sys::CgroupMode::kV1) return true;
  if (layout.mode != sys::CgroupMode::kHybrid) return false;
  return !(layout.V2Has("memory") && layout.V2Has("pids") && layout.V2Has("cpu"));
}

int64_t MonotonicNs() {
  struct timespec ts = {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Replaces the host's "init" step (from the "go" to READY) by what init
// reports it spent that time on: "init.go" until init read the go (its
// wake-up, or the end of its fd and signal hygiene), init's own phases, and
// "init.ready" for READY's way back to the host (the host's wake-up). Init's
// figures are clamped to the host's own measurement of the whole.
void SplitInitStep(const SetupReply& reply, int64_t go_sent_ns, int64_t ready_read_ns,
                   std::vector<SetupStep>* steps) {
  if (steps->empty() || steps->back().name != "init") return;
  absl::Duration rest = steps->back().duration;
  auto take = [&rest](int64_t ns) {
    absl::Duration d = std::min(absl::Nanoseconds(std::max<int64_t>(ns, 0)), rest);
    rest -= d;
    return d;
  };
  const absl::Duration go = take(reply.go_read_ns - go_sent_ns);
  const absl::Duration ready = take(ready_read_ns - reply.ready_sent_ns);
  std::vector<SetupStep> phases;
  phases.push_back({"init.go", go});
  for (int i = 0; i < kInitPhaseCount; ++i) {
    absl::Duration d = std::min(absl::Microseconds(reply.phase_us[i]), rest);
    rest -= d;
    phases.push_back({InitPhaseName(static_cast<InitPhase>(i)), d});
  }
  phases.push_back({"init.ready", ready});
  // What is left: READY's assembly after the probe, and clock rounding.
  steps->back() = {"init.other", rest};
  steps->insert(steps->end() - 1, phases.begin(), phases.end());
}

// One running command: the host's ends of its pipes.
struct ExecChannel {
  ExecChannel() = default;
  ExecChannel(ExecChannel&&) = default;
  ExecChannel& operator=(ExecChannel&&) = default;
  // stdin may carry a secret (policy.secrets, stdin).
  ~ExecChannel() { WipeString(stdin_data); }

  uint64_t id = 0;
  UniqueFd stdin_w;
  UniqueFd stdout_r;
  UniqueFd stderr_r;
  UniqueFd status_r;
  std::string stdin_data;
  absl::Time sent_at;
  bool start_reported = true;  // false: init sends no kStarted record
};

class ProcessBackend;

class ProcessSpawned final : public SpawnedProcess {
 public:
  ProcessSpawned(ProcessBackend* backend, ExecChannel channel, BackendExecRequest request);
  ~ProcessSpawned() override;
  absl::StatusOr<ExecResult> Wait() override;
  absl::Status Kill() override;
  pid_t pid() const override { return pid_.load(); }

 private:
  ProcessBackend* backend_;
  uint64_t id_;
  std::atomic<pid_t> pid_{0};
  absl::Notification started_;
  std::thread pump_;
  absl::Mutex mu_;
  std::optional<absl::StatusOr<ExecResult>> result_ ABSL_GUARDED_BY(mu_);
  bool waited_ = false;
};

class ProcessBackend final : public Backend {
 public:
  explicit ProcessBackend(ProcessBackendOptions options) : options_(std::move(options)) {}
  ~ProcessBackend() override { (void)Destroy(); }

  BackendKind kind() const override { return BackendKind::kProcess; }
  absl::Status Prepare(const SandboxConfig& config, PrepareReport* report) override;
  void SetEventSink(BackendEventSink sink) override { event_sink_ = std::move(sink); }
  absl::Status SetSecretFiles(std::vector<SecretFile> files) override {
    if (!strings_.empty()) return absl::FailedPreconditionError("process backend already prepared");
    secret_files_ = std::move(files);
    return absl::OkStatus();
  }
  absl::StatusOr<ExecResult> Exec(const BackendExecRequest& request) override;
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> Spawn(const BackendExecRequest& request) override;
  absl::Status Pause() override;
  absl::Status Resume() override;
  absl::Status Stop() override;
  absl::Status Destroy() override;

  // Sends the request; the channel's host ends are returned.
  // `report_start`: init sends a kStarted record (with the command's pid)
  // before the exit record; Spawn needs it, Exec does not.
  absl::StatusOr<ExecChannel> Send(const BackendExecRequest& request, bool report_start);
  // Pumps a sent exec to completion (stdin, capped output, timeout, status).
  // `on_start` runs once the command has been exec'd, with its pid.
  absl::StatusOr<ExecResult> Pump(ExecChannel& ch, const BackendExecRequest& request,
                                  const std::function<void(pid_t)>& on_start);
  absl::Status SendKill(uint64_t exec_id);

 private:
  const char* Keep(std::string s) {
    strings_.push_back(std::move(s));
    return strings_.back().c_str();
  }
  absl::Status BuildRootPlan(const SandboxConfig& config);
  // `layout`: the host's, when already detected (else Create detects it).
  absl::Status BuildCgroup(const SandboxPolicy& policy, const sys::CgroupLayout* layout,
                           PrepareReport* report);
  absl::Status BuildLandlockPlan(const SandboxPolicy& policy);
  // Clones init, writes its id maps and lets it go. With `v1_layout`, makes
  // the (v1) cgroup after the clone and hands init its attach files.
  absl::Status StartInit(const SandboxPolicy& policy, const sys::CgroupLayout* v1_layout,
                         PrepareReport* report, StepTimer& timer);
  absl::Status WriteIdMaps(pid_t pid);
  // Starts init as kavach-init (init_exec.h) with plan_ as it stands.
  absl::StatusOr<pid_t> StartExecInit(uint64_t clone_flags, uint64_t cgroup_fd, int* pidfd,
                                      int control_fd);
  // Reads what the evidence compares init's report with (our own namespace
  // inodes, the cgroup limits in force) into host_facts_. Called while init
  // builds the sandbox on another CPU, where the host used to sit in poll.
  void ReadHostFacts(const SandboxPolicy& policy);
  absl::Status GatherEvidence(const SandboxPolicy& policy, const ProbeReport& probe,
                              PrepareReport* report);
  void KillInit();
  // Wipes the host's copies of file-delivered secrets (init has written them).
  void WipeSecrets();
  // Stop(), with the cgroup-wide kill only when `sweep_cgroup`.
  absl::Status StopProcesses(bool sweep_cgroup);

  ProcessBackendOptions options_;
  SandboxPolicy policy_;
  // policy.secrets delivered as files; held until init has built the root.
  std::vector<SecretFile> secret_files_;
  BackendEventSink event_sink_;
  std::vector<std::string*> secret_strings_;  // entries of strings_ holding one
  std::string id_;
  std::string mount_base_;
  std::deque<std::string> strings_;  // storage for the C strings in plan_
  std::vector<RootStep> root_steps_;
  std::vector<LandlockPathStep> landlock_paths_;
  std::vector<uint16_t> bind_ports_;
  std::vector<uint16_t> connect_ports_;
  InitPlan plan_;
  // The profile in two parts (SeccompPart): init holds seccomp_init_ and every
  // command adds seccomp_ (the command part).
  std::shared_ptr<const sys::SeccompProgram> seccomp_init_;
  std::shared_ptr<const sys::SeccompProgram> seccomp_;
  uint32_t host_uid_ = 0;
  uint32_t host_gid_ = 0;
  bool landlock_planned_ = false;
  std::unique_ptr<sys::Cgroup> cgroup_;
  std::string cgroup_unavailable_;  // why there is no cgroup, when there is none
  struct HostFacts {
    absl::StatusOr<uint64_t> ns_inode[kNamespaceCount];  // kNamespaceNames order
    absl::StatusOr<sys::CgroupLimits> limits = absl::FailedPreconditionError("not read");
  };
  HostFacts host_facts_;
  UniqueFd control_;
  // The stdin of a command given no input (one open per sandbox instead of a
  // pipe per exec whose write end is closed at once; both read as EOF).
  UniqueFd dev_null_;
  int64_t go_sent_ns_ = 0;  // CLOCK_MONOTONIC when init was told to go
  // The root template's clone for init (sent with the go, then closed).
  UniqueFd root_template_;
  UniqueFd init_pidfd_;
  pid_t init_pid_ = -1;
  absl::Mutex send_mu_;
  std::atomic<uint64_t> next_exec_id_{1};
  std::atomic<bool> stopped_{false};
  bool destroyed_ = false;
  std::unique_ptr<EgressProxy> egress_;  // network mode proxy
};

absl::Status ProcessBackend::BuildRootPlan(const SandboxConfig& config) {
  const SandboxPolicy& policy = config.policy;
  absl::StatusOr<std::string> base = StagingBase();
  if (!base.ok()) return base.status();
  mount_base_ = *base;
  for (const auto* list : {&policy.filesystem.read_only, &policy.filesystem.read_write}) {
    for (const std::string& p : *list) {
      if (IsUnder(p, mount_base_)) {
        return absl::InvalidArgumentError(
            absl::StrCat("filesystem: ", p, " is inside kavach's own staging directory"));
      }
    }
  }
  auto step = [&](RootStepKind kind, std::string source, std::string target, std::string data,
                  uint32_t mode, bool optional) {
    const char* data_ptr = Keep(std::move(data));
    size_t data_len = strings_.back().size();
    root_steps_.push_back(RootStep{kind, source.empty() ? nullptr : Keep(std::move(source)),
                                   Keep(std::move(target)), data_ptr, data_len, mode, optional});
  };
  // Which host user the sandbox's user is: ourselves when unprivileged; as
  // root, the owner of the bound working directory when that is not root,
  // else nobody. Never host root: a file the command creates in a writable
  // bind must not be root's.
  if (::geteuid() != 0) {
    host_uid_ = ::geteuid();
    host_gid_ = ::getegid();
  } else {
    host_uid_ = 65534;
    host_gid_ = 65534;
    struct stat st;
    if (!config.host_workdir.empty() && ::stat(config.host_workdir.c_str(), &st) == 0 &&
        st.st_uid != 0) {
      host_uid_ = st.st_uid;
      host_gid_ = st.st_gid;
    }
  }

  std::vector<std::string> bound;  // host paths bound at the same inside path
  for (const char* dir : kSystemDirs) {
    struct stat st;
    if (::lstat(dir, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char link[PATH_MAX];
      ssize_t n = ::readlink(dir, link, sizeof link - 1);
      if (n < 0) return sys::ErrnoStatus(errno, absl::StrCat("readlink ", dir));
      link[n] = '\0';
      step(RootStepKind::kSymlink, "", dir, link, 0, false);
      continue;
    }
    if (!S_ISDIR(st.st_mode)) continue;
    step(RootStepKind::kBindReadOnly, dir, dir, "", 0, false);
    bound.push_back(dir);
  }

  // /etc: generated identity files, plus read-only binds of what the dynamic
  // loader and common runtimes read.
  const std::string& wd = policy.working_directory;
  step(RootStepKind::kDir, "", "/etc", "", 0755, false);
  std::vector<std::pair<std::string, std::string>> etc_files = {
      {"passwd", absl::StrFormat("root:x:0:0:root:/root:/bin/sh\n"
                                 "sandbox:x:%d:%d:sandbox:%s:/bin/sh\n"
                                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                                 policy.uid, policy.gid, wd)},
      {"group", absl::StrFormat("root:x:0:\nsandbox:x:%d:\nnogroup:x:65534:\n", policy.gid)},
      {"hosts",
       absl::StrFormat("127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t%s\n", policy.hostname)},
      {"hostname", policy.hostname + "\n"},
      {"nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"},
  };
  if (policy.network.mode != NetworkMode::kHost) etc_files.push_back({"resolv.conf", ""});
  for (auto& [name, content] : etc_files) {
    step(RootStepKind::kFile, "", absl::StrCat("/etc/", name), std::move(content), 0644, false);
  }
  std::vector<const char*> etc_binds(std::begin(kEtcBinds), std::end(kEtcBinds));
  if (policy.network.mode == NetworkMode::kHost) etc_binds.push_back("/etc/resolv.conf");
  if (egress_) {
    // The sandbox's trust store: the host's CAs (blind tunnels reach the real
    // servers) plus the egress proxy's CA (terminated hosts), at the usual
    // path instead of the host's /etc/ssl.
    etc_binds.erase(std::remove_if(etc_binds.begin(), etc_binds.end(),
                                   [](const char* p) {
                                     return std::string_view(p) == "/etc/ssl" ||
                                            std::string_view(p) == "/etc/ca-certificates";
                                   }),
                    etc_binds.end());
    absl::StatusOr<std::string> host_cas = sys::ReadFile(kSandboxCaBundlePath);
    step(RootStepKind::kFile, "", kSandboxCaBundlePath,
         absl::StrCat(host_cas.ok() ? *host_cas : "", egress_->CaCertificatePem()), 0644, false);
  }
  for (const char* src : etc_binds) {
    step(RootStepKind::kBindReadOnly, src, src, "", 0, /*optional=*/true);
  }

  // /dev: a handful of host nodes, the usual symlinks and a tmpfs /dev/shm.
  step(RootStepKind::kDir, "", "/dev", "", 0755, false);
  for (const char* node : kDevNodes) {
    std::string host = absl::StrCat("/dev/", node);
    step(RootStepKind::kBindDevice, host, host, "", 0, /*optional=*/true);
  }
  for (const std::string& node : options_.device_nodes) {
    struct stat st;
    if (node.rfind("/dev/", 0) != 0 || node.find("/..") != std::string::npos ||
        ::stat(node.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("device node ", node, ": not a character device under /dev"));
    }
    step(RootStepKind::kBindDevice, node, node, "", 0, /*optional=*/false);
  }
  for (const auto& [name, to] : {std::pair<const char*, const char*>{"fd", "/proc/self/fd"},
                                 {"stdin", "/proc/self/fd/0"},
                                 {"stdout", "/proc/self/fd/1"},
                                 {"stderr", "/proc/self/fd/2"}}) {
    step(RootStepKind::kSymlink, "", absl::StrCat("/dev/", name), to, 0, false);
  }
  uint64_t tmp_size = policy.limits.memory_bytes.value_or(1ull << 30);
  // Owned by the sandbox's user whoever mounts them: the builder (whose fs
  // uid is that user) or init itself after a root template (whose is not).
  const std::string owner = absl::StrFormat(",uid=%d,gid=%d", policy.uid, policy.gid);
  std::string tmpfs_data = absl::StrCat("mode=1777,size=", tmp_size, owner);
  step(RootStepKind::kTmpfs, "", "/dev/shm", tmpfs_data, 0, false);
  step(RootStepKind::kProc, "", "/proc", "", 0, false);
  step(RootStepKind::kTmpfs, "", "/tmp", tmpfs_data, 0, false);

  // The working directory: the caller's directory, or a private tmpfs that
  // lives as long as the sandbox (charged to its memory limit).
  if (config.host_workdir.empty()) {
    step(RootStepKind::kTmpfs, "", wd, absl::StrCat("mode=0755,size=", tmp_size, owner), 0, false);
  } else {
    struct stat st;
    if (::stat(config.host_workdir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("workdir: ", config.host_workdir, " is not a directory"));
    }
    step(RootStepKind::kBindReadWrite, config.host_workdir, wd, "", 0, false);
  }
  bound.push_back(wd);

  // The policy's own paths, at the same path inside.
  auto add_policy_path = [&](const std::string& path, RootStepKind kind,
                             std::string_view field) -> absl::Status {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat(ToAbsl(field), ": ", path, ": ", Errno(errno)));
    }
    step(kind, path, path, "", 0, false);
    return absl::OkStatus();
  };
  for (const std::string& p : policy.filesystem.read_only) {
    if (absl::Status ps = add_policy_path(p, RootStepKind::kBindReadOnly, "filesystem.read_only");
        !ps.ok()) {
      return ps;
    }
  }
  for (const std::string& p : policy.filesystem.read_write) {
    if (absl::Status ps = add_policy_path(p, RootStepKind::kBindReadWrite, "filesystem.read_write");
        !ps.ok()) {
      return ps;
    }
  }
  // Hidden paths last, so they cover whatever bind exposes them. Whether it
  // is a file or a directory is decided by the host's view of the same path.
  for (const std::string& p : policy.filesystem.hidden) {
    struct stat st;
    bool is_dir = ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    step(is_dir ? RootStepKind::kMaskTmpfs : RootStepKind::kMaskFile, "", p, "", 0, true);
  }
  // Direct injection by file: a private tmpfs owned by the sandbox user (the
  // builder's fs uid), one 0400 file per secret. It lives in the sandbox's
  // mount namespace only, so it is gone with it at Destroy.
  if (!secret_files_.empty()) {
    step(RootStepKind::kTmpfs, "", kSecretFileDir, "mode=0700,size=1m,nr_inodes=256", 0, false);
    for (SecretFile& f : secret_files_) {
      step(RootStepKind::kFile, "", f.path, std::string(f.value.view()), 0400, false);
      root_steps_.back().secret = true;
      secret_strings_.push_back(&strings_[strings_.size() - 2]);  // the data; the target follows
    }
    secret_files_.clear();  // Secret wipes itself
  }
  // A file no Landlock rule covers: the probe must fail to read it.
  step(RootStepKind::kFile, "", "/.kavach-canary", "canary\n", 0644, false);
  // Init (exec'd or cloned) holds one source fd per step in a fixed table.
  if (root_steps_.size() > static_cast<size_t>(kMaxRootSteps)) {
    return absl::InvalidArgumentError(
        absl::StrCat("filesystem: the root needs ", root_steps_.size(), " mount and file steps (",
                     policy.filesystem.read_only.size() + policy.filesystem.read_write.size() +
                         policy.filesystem.hidden.size(),
                     " of them the policy's paths); a sandbox takes at most ", kMaxRootSteps,
                     ": bind a common parent directory instead of many paths below it"));
  }

  plan_.mount_base = mount_base_.c_str();
  plan_.root_tmpfs_options = Keep(absl::StrCat("mode=0755,size=", 16 << 20));
  plan_.root_steps = root_steps_.data();
  plan_.root_step_count = static_cast<int>(root_steps_.size());
  plan_.read_only_root = policy.filesystem.read_only_root;
  plan_.hostname = Keep(policy.hostname);
  return absl::OkStatus();
}

absl::Status ProcessBackend::BuildCgroup(const SandboxPolicy& policy,
                                         const sys::CgroupLayout* layout, PrepareReport* report) {
  sys::CgroupLimits limits;
  limits.memory_bytes = policy.limits.memory_bytes;
  limits.cpu_cores = policy.limits.cpu_cores;
  limits.cpu_weight = policy.limits.cpu_weight;
  limits.max_pids = policy.limits.max_pids;
  struct Field {
    Control control;
    std::function<bool()> requested;
    std::function<void()> drop;
  };
  Field fields[] = {
      {Control::kCgroupMemory, [&] { return limits.memory_bytes.has_value(); },
       [&] { limits.memory_bytes.reset(); }},
      {Control::kCgroupPids, [&] { return limits.max_pids.has_value(); },
       [&] { limits.max_pids.reset(); }},
      {Control::kCgroupCpu,
       [&] { return limits.cpu_cores.has_value() || limits.cpu_weight.has_value(); },
       [&] {
         limits.cpu_cores.reset();
         limits.cpu_weight.reset();
       }},
  };
  // A skipped item carries the points it would have earned, so the evidence
  // shows what the host's missing cgroup cost the score.
  auto skip = [&](Field& f, std::string_view why) {
    int points = 0;
    if (f.control == Control::kCgroupMemory) points = kPointsCgroupLimits;
    if (f.control == Control::kCgroupCpu && !policy.limits.memory_bytes) {
      points = kPointsCgroupLimits;
    }
    report->evidence.push_back({std::string(ControlName(f.control)), false,
                                absl::StrCat("skipped (optional): ", ToAbsl(why)), points});
    f.drop();
  };
  std::string name = sys::MakeCgroupName();
  // A cgroup error names the controller it is about ("cgroup.memory: ...").
  // An optional control the host cannot give is dropped and recorded; a
  // required one fails the sandbox.
  for (int attempt = 0; attempt < 4; ++attempt) {
    sys::CgroupOptions options;
    if (layout != nullptr) options.layout = *layout;
    // Nothing here reads the sandbox's cgroup CPU time (a command's comes from
    // its rusage): on a v1 host whose cpuacct is not co-mounted with cpu that
    // saves a cgroup mkdir, attach and rmdir per sandbox.
    options.cpu_accounting = false;
    absl::StatusOr<std::unique_ptr<sys::Cgroup>> cg = sys::Cgroup::Create(name, limits, options);
    if (cg.ok()) {
      cgroup_ = std::move(*cg);
      return absl::OkStatus();
    }
    std::string msg(cg.status().message());
    Field* culprit = nullptr;
    for (Field& f : fields) {
      if (f.requested() && msg.rfind(std::string(ControlName(f.control)) + ":", 0) == 0) {
        culprit = &f;
      }
    }
    if (culprit != nullptr) {
      if (!policy.IsOptional(culprit->control)) {
        return absl::FailedPreconditionError(absl::StrCat("cannot apply the limit: ", msg));
      }
      skip(*culprit, msg);
      continue;
    }
    // Not about one controller: no usable cgroup at all. Every requested
    // limit is lost with it.
    for (Field& f : fields) {
      if (!f.requested()) continue;
      if (!policy.IsOptional(f.control)) {
        return absl::FailedPreconditionError(
            absl::StrCat(ToAbsl(ControlName(f.control)), ": cannot apply the limit: ", msg));
      }
      skip(f, msg);
    }
    cgroup_unavailable_ = msg;
    return absl::OkStatus();
  }
  cgroup_unavailable_ = "could not create a cgroup";
  return absl::OkStatus();
}

absl::Status ProcessBackend::BuildLandlockPlan(const SandboxPolicy& policy) {
  bool want_fs = policy.filesystem.landlock;
  bool want_net =
      policy.network.tcp_bind_ports.has_value() || policy.network.tcp_connect_ports.has_value();
  bool want_scopes = policy.landlock_scopes.abstract_unix_socket || policy.landlock_scopes.signal;
  if (!want_fs && !want_net && !want_scopes) return absl::OkStatus();
  int abi = sys::LandlockAbiVersion();
  auto require = [&](Control control, int needed) -> absl::StatusOr<bool> {
    if (abi >= needed) return true;
    if (policy.IsOptional(control)) return false;
    return ControlError(
        control,
        absl::StrFormat("requires Landlock ABI %d, the kernel has %d%s; to run without it at a "
                        "lower verified score, list %s in the policy's optional_controls "
                        "(kavach exec --optional %s)",
                        needed, abi, abi == 0 ? " (Landlock unavailable)" : "",
                        ControlName(control), ControlName(control)));
  };
  absl::StatusOr<bool> fs_ok = want_fs ? require(Control::kLandlockFilesystem, 1) : false;
  if (!fs_ok.ok()) return fs_ok.status();
  absl::StatusOr<bool> net_ok = want_net ? require(Control::kLandlockNetwork, 4) : false;
  if (!net_ok.ok()) return net_ok.status();
  absl::StatusOr<bool> scopes_ok = want_scopes ? require(Control::kLandlockScopes, 6) : false;
  if (!scopes_ok.ok()) return scopes_ok.status();
  if (!*fs_ok && !*net_ok && !*scopes_ok) return absl::OkStatus();

  plan_.landlock = true;
  plan_.landlock_abi = abi;
  landlock_planned_ = true;
  if (*fs_ok) {
    plan_.landlock_handled_fs = sys::HandledFsAccess(abi);
    auto add = [&](const std::string& path, uint64_t access, bool optional) {
      landlock_paths_.push_back(LandlockPathStep{Keep(path), access, optional});
    };
    add("/", sys::kLandlockFsReadDir, false);
    for (const char* dir : kSystemDirs) add(dir, sys::kLandlockReadExec, true);
    add("/etc", sys::kLandlockRead, false);
    add("/proc", sys::kLandlockRead, false);
    add("/dev", sys::kLandlockFsReadDir, false);
    for (const char* node : kDevNodes) {
      add(absl::StrCat("/dev/", node),
          sys::kLandlockFsReadFile | sys::kLandlockFsWriteFile | sys::kLandlockFsIoctlDev, true);
    }
    for (const std::string& node : options_.device_nodes) {
      add(node, sys::kLandlockFsReadFile | sys::kLandlockFsWriteFile | sys::kLandlockFsIoctlDev,
          false);
    }
    add("/dev/shm", sys::kLandlockReadWrite, false);
    add("/tmp", sys::kLandlockReadWrite, false);
    add(policy.working_directory, sys::kLandlockReadWrite, false);
    if (!secret_files_.empty()) add(kSecretFileDir, sys::kLandlockRead, false);
    auto exec_bit = [&](const std::string& p) {
      for (const std::string& e : policy.filesystem.executable) {
        if (IsUnder(p, e)) return sys::kLandlockFsExecute;
      }
      return uint64_t{0};
    };
    for (const std::string& p : policy.filesystem.read_only)
      add(p, sys::kLandlockRead | exec_bit(p), false);
    for (const std::string& p : policy.filesystem.read_write)
      add(p, sys::kLandlockReadWrite, false);
    for (const std::string& p : policy.filesystem.executable) add(p, sys::kLandlockReadExec, true);
    plan_.landlock_paths = landlock_paths_.data();
    plan_.landlock_path_count = static_cast<int>(landlock_paths_.size());
    plan_.landlock_canary = "/.kavach-canary";
  }
  if (*net_ok) {
    auto first_denied = [](const std::vector<uint16_t>& allowed) -> uint16_t {
      for (uint16_t p = 1; p < 1024; ++p) {
        if (std::find(allowed.begin(), allowed.end(), p) == allowed.end()) return p;
      }
      return 0;
    };
    if (policy.network.tcp_bind_ports) {
      plan_.landlock_handled_net |= sys::kLandlockNetBindTcp;
      bind_ports_ = *policy.network.tcp_bind_ports;
      plan_.bind_ports = bind_ports_.data();
      plan_.bind_port_count = static_cast<int>(bind_ports_.size());
      plan_.denied_bind_port = first_denied(bind_ports_);
    }
    if (policy.network.tcp_connect_ports) {
      plan_.landlock_handled_net |= sys::kLandlockNetConnectTcp;
      connect_ports_ = *policy.network.tcp_connect_ports;
      if (policy.network.mode == NetworkMode::kProxy) connect_ports_.push_back(kSandboxProxyPort);
      plan_.connect_ports = connect_ports_.data();
      plan_.connect_port_count = static_cast<int>(connect_ports_.size());
      plan_.denied_connect_port = first_denied(connect_ports_);
    }
  }
  if (*scopes_ok) {
    if (policy.landlock_scopes.abstract_unix_socket) {
      plan_.landlock_scoped |= sys::kLandlockScopeAbstractUnixSocket;
      plan_.abstract_canary = Keep(absl::StrCat("kavach-canary-", id_));
    }
    if (policy.landlock_scopes.signal) plan_.landlock_scoped |= sys::kLandlockScopeSignal;
  }
  return absl::OkStatus();
}

absl::Status ProcessBackend::WriteIdMaps(pid_t pid) {
  std::string dir = absl::StrCat("/proc/", pid);
  bool root = ::geteuid() == 0;
  if (!root) {
    absl::Status s = sys::WriteKernelFile(dir + "/setgroups", "deny");
    // gVisor has no setgroups file (nor the rule it guards): the gid map's
    // own checks decide below.
    if (!s.ok() && !(absl::IsNotFound(s) && ::access(dir.c_str(), F_OK) == 0)) {
      return ControlError(Control::kUserNamespace, s.message());
    }
  }
  absl::Status s =
      sys::WriteKernelFile(dir + "/uid_map", absl::StrCat(policy_.uid, " ", host_uid_, " 1\n"));
  if (!s.ok()) return ControlError(Control::kUserNamespace, s.message());
  s = sys::WriteKernelFile(dir + "/gid_map", absl::StrCat(policy_.gid, " ", host_gid_, " 1\n"));
  if (!s.ok()) return ControlError(Control::kUserNamespace, s.message());
  return absl::OkStatus();
}

absl::StatusOr<pid_t> ProcessBackend::StartExecInit(uint64_t clone_flags, uint64_t cgroup_fd,
                                                    int* pidfd, int control_fd) {
  if (plan_.root_step_count > kMaxRootSteps || plan_.landlock_path_count > kMaxLandlockPaths) {
    return absl::ResourceExhaustedError("more root steps or Landlock rules than kavach-init takes");
  }
  std::string image = EncodeInitPlan(plan_);
  if (image.size() > kMaxInitPlanBytes) {
    ::explicit_bzero(image.data(), image.size());
    return absl::ResourceExhaustedError("the plan is larger than kavach-init reads");
  }
  absl::StatusOr<UniqueFd> plan_fd = PlanImageFd(image);
  // The image holds the plan's secrets (file contents): wiped as soon as the
  // memfd has them; the memfd is freed when init has read it and both ends
  // have closed it.
  ::explicit_bzero(image.data(), image.size());
  if (!plan_fd.ok()) return plan_fd.status();
  InitExecRequest request;
  request.clone_flags = clone_flags;
  request.cgroup_fd = static_cast<int>(cgroup_fd);
  request.pidfd = pidfd;
  request.control_fd = control_fd;
  request.plan_fd = plan_fd->get();
  request.last_capability = plan_.last_capability;
  return CloneExecInit(request);
}

absl::Status ProcessBackend::StartInit(const SandboxPolicy& policy,
                                       const sys::CgroupLayout* v1_layout, PrepareReport* report,
                                       StepTimer& timer) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return sys::ErrnoStatus(errno, "socketpair");
  }
  control_.Reset(sv[0]);
  UniqueFd child_end(sv[1]);
  plan_.control_fd = child_end.get();

  struct stat root_st;
  if (::stat("/", &root_st) != 0) return sys::ErrnoStatus(errno, "stat /");
  plan_.host_root_dev = root_st.st_dev;
  plan_.host_root_ino = root_st.st_ino;
  plan_.uid = policy.uid;
  plan_.gid = policy.gid;
  plan_.can_setgroups = ::geteuid() == 0;
  plan_.last_capability = sys::LastCapability();
  plan_.rlimit_nofile = policy.limits.max_open_files.value_or(0);
  plan_.rlimit_fsize = policy.limits.max_file_size_bytes.value_or(0);
  plan_.seccomp_init = seccomp_init_ ? &seccomp_init_->fprog() : nullptr;
  plan_.seccomp = seccomp_ ? &seccomp_->fprog() : nullptr;
  plan_.bring_up_loopback = policy.network.mode != NetworkMode::kHost;
  plan_.new_netns = policy.network.mode != NetworkMode::kHost;  // made by init, not the clone
  // Or one made ahead of time (netns_pool.h), which init is started in: the
  // cloning thread enters it around clone3 and comes back.
  UniqueFd pooled_netns;
  UniqueFd home_netns;
  if (plan_.new_netns) pooled_netns = NetnsPool::Global().Take();
  if (pooled_netns) {
    home_netns.Reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (home_netns && ::setns(pooled_netns.get(), CLONE_NEWNET) == 0) {
      plan_.new_netns = false;
      plan_.bring_up_loopback = false;  // up already
      timer.Mark("netns_pool");
    } else {
      pooled_netns.Reset();
    }
  }

  // No CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS (nor CLONE_NEWCGROUP): a
  // helper of init makes them in parallel with its root build, and init joins
  // them before anything of the sandbox runs (see MakeNamespaces).
  uint64_t flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_PIDFD;
  int pidfd = -1;
  struct clone_args args = {};
  args.flags = flags;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (cgroup_ && cgroup_->v2_fd() >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_->v2_fd());
  }
  // Init as kavach-init, exec'd in a child that shares our memory until then
  // (init_exec.h): its cost does not grow with the caller's memory. Where
  // that cannot work (an architecture without the trampoline, exec of
  // memfds disabled, no clone3), init is a clone of this process, with the
  // same plan and the same controls.
  long pid = -1;
  bool exec_failed = false;
  if (!options_.init_in_process && !g_init_exec_unusable.load(std::memory_order_relaxed)) {
    absl::StatusOr<pid_t> exec_pid =
        StartExecInit(args.flags, args.cgroup, &pidfd, child_end.get());
    if (exec_pid.ok()) {
      pid = *exec_pid;
    } else if (!absl::IsResourceExhausted(exec_pid.status())) {
      // The clone below redoes it: if it fails too, its errno is the
      // error; if it works, this process stops trying the exec. (A plan
      // beyond kavach-init's limits only sends this one sandbox there.)
      exec_failed = true;
    }
  }
  const bool cloned = pid > 0;
  if (!cloned) pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (!cloned && pid < 0 && errno == ENOSYS && (args.flags & CLONE_INTO_CGROUP) == 0) {
    // No clone3 (gVisor's runsc 20221219, kernels before 5.3): clone(2) with
    // the same flags, the pidfd through its parent_tid argument; without
    // pidfd support, no pidfd (init is our child: its pid cannot be reused
    // before we reap it, so kill and waitpid by pid are safe).
    pid = ::syscall(SYS_clone, static_cast<unsigned long>(flags) | SIGCHLD, nullptr, &pidfd,
                    nullptr, nullptr);
    if (pid < 0 && errno == EINVAL) {
      pidfd = -1;
      pid = ::syscall(SYS_clone, static_cast<unsigned long>(flags & ~CLONE_PIDFD) | SIGCHLD,
                      nullptr, nullptr, nullptr, nullptr);
    }
  }
  if (pid == 0) RunInit(plan_);  // the child; never returns
  if (exec_failed && pid > 0) g_init_exec_unusable.store(true, std::memory_order_relaxed);
  if (pooled_netns && ::setns(home_netns.get(), CLONE_NEWNET) != 0) {
    // The caller's thread would stay in the sandbox's network namespace.
    std::fprintf(stderr, "kavach: cannot return to the host's network namespace: %s\n",
                 std::strerror(errno));
    std::abort();
  }
  if (pid < 0) {
    int err = errno;
    return absl::FailedPreconditionError(absl::StrCat(
        "namespace.user: clone3 into new user, pid and mount namespaces failed: ", Errno(err)));
  }
  init_pid_ = static_cast<pid_t>(pid);
  init_pidfd_.Reset(pidfd);
  child_end.Reset();
  timer.Mark("clone");

  absl::Status s = WriteIdMaps(init_pid_);
  if (!s.ok()) return s;
  // init and the reapers it forks must never be the OOM killer's choice:
  // when a sandbox runs out of memory, its command goes (each command raises
  // its own score to 1000), and the sandbox lives on to report it. Lowering
  // a score needs CAP_SYS_RESOURCE (root without it, as in some containers,
  // and unprivileged users skip this; the write is best effort).
  if (::geteuid() == 0) {
    (void)sys::WriteKernelFile(absl::StrCat("/proc/", init_pid_, "/oom_score_adj"), "-1000");
  }
  timer.Mark("id_map");

  // cgroup v1, made now (see Prepare). Init moves itself in when it reads
  // the go, before it makes any child: writing "0" to `tasks` moves only the
  // writer and, unlike the host writing init's pid, does not wait out an RCU
  // grace period in the kernel (see Cgroup::OpenV1SelfAttachFiles).
  std::vector<UniqueFd> task_files;
  if (v1_layout != nullptr) {
    if (absl::Status s = BuildCgroup(policy, v1_layout, report); !s.ok()) return s;
    if (cgroup_ && cgroup_->v2_fd() >= 0) {
      // Chose v2 after all (a hybrid host whose v1 side lacks a controller):
      // the host moves init in, before init can make a child.
      if (absl::Status a = cgroup_->AddProcess(init_pid_); !a.ok()) return a;
    } else if (cgroup_) {
      absl::StatusOr<std::vector<UniqueFd>> files = cgroup_->OpenV1SelfAttachFiles();
      if (!files.ok()) return files.status();
      if (files->size() > static_cast<size_t>(kMaxCgroupHierarchies)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cgroup: ", files->size(), " v1 hierarchies (at most ", kMaxCgroupHierarchies, ")"));
      }
      task_files = *std::move(files);
    }
    timer.Mark("cgroup");
  }
  // The go: kGoWithTemplate when the first fd is the root template's clone,
  // then the cgroup's attach files.
  std::vector<int> fds;
  if (root_template_) fds.push_back(root_template_.get());
  for (const UniqueFd& f : task_files) fds.push_back(f.get());
  char go = root_template_ ? kGoWithTemplate : kGo;
  struct iovec iov = {&go, 1};
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxGoFds)] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  go_sent_ns_ = MonotonicNs();
  if (::sendmsg(control_.get(), &msg, MSG_NOSIGNAL) != 1) {
    // init may have failed already (its cgroup attach): its report names why.
    struct pollfd pfd = {control_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 0) == 1) return absl::OkStatus();
    return sys::ErrnoStatus(errno, "signal init");
  }
  return absl::OkStatus();
}

void ProcessBackend::ReadHostFacts(const SandboxPolicy& policy) {
  for (int i = 0; i < kNamespaceCount; ++i) {
    if (std::string_view(kNamespaceNames[i]) == "net" &&
        policy.network.mode == NetworkMode::kHost) {
      continue;  // not compared
    }
    host_facts_.ns_inode[i] = NamespaceInode("/proc/self", kNamespaceNames[i]);
  }
  const ResourceLimits& lim = policy.limits;
  if (lim.memory_bytes || lim.cpu_cores || lim.cpu_weight || lim.max_pids) {
    // The limits were written before init was cloned: what is read now is
    // what init and every command run under.
    host_facts_.limits = cgroup_ ? cgroup_->ReadBackLimits()
                                 : absl::StatusOr<sys::CgroupLimits>(absl::FailedPreconditionError(
                                       absl::StrCat("no cgroup: ", cgroup_unavailable_)));
  }
}

absl::Status ProcessBackend::GatherEvidence(const SandboxPolicy& policy, const ProbeReport& probe,
                                            PrepareReport* report) {
  std::vector<Evidence>& ev = report->evidence;
  // Init reports the inode of each of its namespaces; they must all differ
  // from ours.
  auto inside_inode = [&](std::string_view ns) -> uint64_t {
    for (int i = 0; i < kNamespaceCount; ++i) {
      if (ns == kNamespaceNames[i]) return probe.ns_inode[i];
    }
    return 0;
  };
  auto host_inode = [&](std::string_view ns) -> const absl::StatusOr<uint64_t>& {
    for (int i = 0; i < kNamespaceCount; ++i) {
      if (ns == kNamespaceNames[i]) return host_facts_.ns_inode[i];
    }
    static const absl::StatusOr<uint64_t> unknown = absl::InternalError("unknown namespace");
    return unknown;
  };
  auto ns_item = [&](std::string_view ns, Control control, int points) -> absl::Status {
    uint64_t inside = inside_inode(ns);
    const absl::StatusOr<uint64_t>& host = host_inode(ns);
    bool verified = inside != 0 && host.ok() && inside != *host;
    std::string detail = host.ok() ? absl::StrFormat("%s:[%d] differs from host %s:[%d]",
                                                     ToAbsl(ns), inside, ToAbsl(ns), *host)
                                   : std::string(host.status().message());
    if (!verified) {
      detail = absl::StrCat("not a namespace of its own: ", detail);
      if (!policy.IsOptional(control)) return ControlError(control, detail);
    }
    ev.push_back({std::string(ControlName(control)), verified, detail, points});
    return absl::OkStatus();
  };
  for (auto [ns, control, points] :
       {std::tuple<const char*, Control, int>{"user", Control::kUserNamespace, kPointsUserNs},
        {"pid", Control::kPidNamespace, kPointsPidNs},
        {"mnt", Control::kMountNamespace, kPointsMountNs},
        {"ipc", Control::kIpcNamespace, kPointsIpcNs},
        {"uts", Control::kUtsNamespace, kPointsUtsNs},
        {"cgroup", Control::kCgroupNamespace, kPointsCgroupNs}}) {
    if (absl::Status s = ns_item(ns, control, points); !s.ok()) return s;
  }
  if (policy.network.mode != NetworkMode::kHost) {
    uint64_t inside = inside_inode("net");
    const absl::StatusOr<uint64_t>& host = host_inode("net");
    bool own = inside != 0 && host.ok() && inside != *host;
    bool verified = own && probe.interface_count == 1 && probe.only_loopback == 1;
    std::string names(probe.interfaces, strnlen(probe.interfaces, sizeof probe.interfaces));
    std::string detail =
        absl::StrCat("interfaces: [", names, "]", own ? ", own netns" : ", host netns",
                     policy.network.mode == NetworkMode::kProxy ? ", mode proxy" : ", mode none");
    if (!verified && !policy.IsOptional(Control::kNetworkNamespace)) {
      return ControlError(Control::kNetworkNamespace, detail);
    }
    ev.push_back(
        {"namespace.net", verified, detail,
         policy.network.mode == NetworkMode::kProxy ? kPointsNetworkProxy : kPointsNetworkNone});
  }
  auto check = [&](Control control, bool asked, bool verified, std::string detail,
                   int points) -> absl::Status {
    if (!asked) return absl::OkStatus();
    if (!verified && !policy.IsOptional(control)) return ControlError(control, detail);
    ev.push_back({std::string(ControlName(control)), verified, std::move(detail), points});
    return absl::OkStatus();
  };
  absl::Status s;
  s = check(Control::kPivotRoot, true, probe.root_differs_from_host == 1,
            probe.root_differs_from_host == 1
                ? absl::StrCat("root is the sandbox's own, host root unmounted",
                               probe.root_from_template == 1
                                   ? " (shared read-only part from the root template)"
                                   : "")
                : "the sandbox sees the host's root",
            kPointsPivotRoot);
  if (!s.ok()) return s;
  s = check(Control::kNoNewPrivs, true, probe.no_new_privs == 1,
            absl::StrCat("NoNewPrivs: ", probe.no_new_privs), kPointsNoNewPrivs);
  if (!s.ok()) return s;
  bool caps_empty =
      probe.cap_eff == 0 && probe.cap_prm == 0 && probe.cap_bnd == 0 && probe.cap_amb == 0;
  s = check(Control::kCapabilities, true, caps_empty,
            absl::StrFormat("CapEff: %016x CapPrm: %016x CapBnd: %016x CapAmb: %016x",
                            probe.cap_eff, probe.cap_prm, probe.cap_bnd, probe.cap_amb),
            kPointsCapabilities);
  if (!s.ok()) return s;
  s = check(Control::kCloseFds, true, probe.open_fds_above_stderr == 0,
            absl::StrCat(probe.open_fds_above_stderr, " inherited fds above stderr"),
            kPointsCloseFds);
  if (!s.ok()) return s;
  ev.push_back({"uid", probe.uid == static_cast<int32_t>(policy.uid) && host_uid_ != 0,
                absl::StrFormat("runs as uid %d inside, host uid %d", probe.uid, host_uid_),
                kPointsUnprivilegedUid});
  if (policy.seccomp != SeccompProfile::kNone) {
    // Both parts: init's, inherited, and the command's own.
    s = check(
        Control::kSeccomp, true,
        probe.seccomp_mode == 2 && seccomp_init_ && seccomp_ && probe.seccomp_filters >= 2,
        absl::StrFormat("Seccomp: %d, Seccomp_filters: %d, profile %s (init part %d + "
                        "command part %d instructions)",
                        probe.seccomp_mode, probe.seccomp_filters,
                        ToAbsl(SeccompProfileName(policy.seccomp)),
                        seccomp_init_ ? seccomp_init_->size() : 0, seccomp_ ? seccomp_->size() : 0),
        kPointsSeccomp);
    if (!s.ok()) return s;
  }
  if (policy.filesystem.read_only_root) {
    s = check(Control::kReadOnlyRoot, true, probe.root_is_read_only == 1,
              probe.root_is_read_only == 1 ? "/ is mounted read-only" : "/ is writable",
              kPointsReadOnlyRoot);
    if (!s.ok()) return s;
  }
  if (policy.filesystem.landlock) {
    bool has_explicit_paths = !policy.filesystem.read_only.empty() ||
                              !policy.filesystem.read_write.empty() ||
                              !policy.filesystem.executable.empty();
    bool verified = plan_.landlock_canary != nullptr && probe.landlock_restricted == 1 &&
                    probe.landlock_canary_errno == EACCES;
    s = check(Control::kLandlockFilesystem, true, verified,
              absl::StrFormat("ABI %d; reading an uncovered file: %s", plan_.landlock_abi,
                              probe.landlock_canary_errno < 0 ? "not tried"
                                                              : Errno(probe.landlock_canary_errno)),
              // The original's "+3 Landlock rules" is for explicit paths: the
              // default view alone earns nothing (as in DeclaredScore), so a
              // fully verified sandbox scores exactly its declared score.
              has_explicit_paths ? kPointsLandlockFs : 0);
    if (!s.ok()) return s;
  }
  if (policy.network.tcp_bind_ports || policy.network.tcp_connect_ports) {
    bool bind_ok = !policy.network.tcp_bind_ports || plan_.denied_bind_port == 0 ||
                   probe.bind_canary_errno == EACCES;
    bool connect_ok = !policy.network.tcp_connect_ports || plan_.denied_connect_port == 0 ||
                      probe.connect_canary_errno == EACCES;
    bool verified = (plan_.landlock_handled_net != 0) && bind_ok && connect_ok;
    s = check(
        Control::kLandlockNetwork, true, verified,
        absl::StrFormat(
            "denied bind to port %d: %s; denied connect to port %d: %s", plan_.denied_bind_port,
            probe.bind_canary_errno < 0 ? "not tried" : Errno(probe.bind_canary_errno),
            plan_.denied_connect_port,
            probe.connect_canary_errno < 0 ? "not tried" : Errno(probe.connect_canary_errno)),
        kPointsLandlockNet);
    if (!s.ok()) return s;
  }
  if (policy.landlock_scopes.abstract_unix_socket) {
    bool verified = plan_.abstract_canary != nullptr && probe.abstract_canary_errno == EPERM;
    s = check(Control::kLandlockScopes, true, verified,
              absl::StrCat("abstract socket outside the domain: ",
                           probe.abstract_canary_errno < 0 ? "not tried"
                                                           : Errno(probe.abstract_canary_errno)),
              kPointsScopeAbstract);
    if (!s.ok()) return s;
  }
  if (policy.landlock_scopes.signal) {
    // Signal scoping cannot be observed from the probe: every process outside
    // its domain is also outside its pid namespace. The kernel accepting the
    // scoped ruleset at restrict_self is the evidence.
    bool verified =
        (plan_.landlock_scoped & sys::kLandlockScopeSignal) != 0 && probe.landlock_restricted == 1;
    s = check(Control::kLandlockScopes, true, verified,
              absl::StrFormat("signal scope in a ruleset enforced at ABI %d", plan_.landlock_abi),
              kPointsScopeSignal);
    if (!s.ok()) return s;
  }
  // cgroup limits, read back from the kernel.
  const ResourceLimits& lim = policy.limits;
  if (lim.memory_bytes || lim.cpu_cores || lim.cpu_weight || lim.max_pids) {
    const absl::StatusOr<sys::CgroupLimits>& back = host_facts_.limits;
    auto limit_item = [&](Control control, bool asked, bool equal, std::string detail,
                          int points) -> absl::Status {
      if (!asked) return absl::OkStatus();
      // Skipped optional controls were already recorded by BuildCgroup.
      for (const Evidence& e : ev) {
        if (e.control == ControlName(control)) return absl::OkStatus();
      }
      return check(control, true, back.ok() && equal,
                   back.ok() ? detail : std::string(back.status().message()), points);
    };
    bool mem_ok = back.ok() && back->memory_bytes == lim.memory_bytes;
    bool cpu_ok =
        back.ok() &&
        (!lim.cpu_cores || (back->cpu_cores && std::abs(*back->cpu_cores - *lim.cpu_cores) < 0.01));
    // The +2 of the original's table is for a memory or cpu limit; give it to
    // the first one verified.
    int mem_points = kPointsCgroupLimits;
    int cpu_points = lim.memory_bytes ? 0 : kPointsCgroupLimits;
    s = limit_item(
        Control::kCgroupMemory, lim.memory_bytes.has_value(), mem_ok,
        absl::StrCat("memory limit ", back.ok() && back->memory_bytes ? *back->memory_bytes : 0,
                     " bytes"),
        mem_points);
    if (!s.ok()) return s;
    s = limit_item(
        Control::kCgroupCpu, lim.cpu_cores.has_value() || lim.cpu_weight.has_value(), cpu_ok,
        absl::StrCat("cpu quota ", back.ok() && back->cpu_cores ? *back->cpu_cores : 0.0, " cores"),
        cpu_points);
    if (!s.ok()) return s;
    s = limit_item(
        Control::kCgroupPids, lim.max_pids.has_value(), back.ok() && back->max_pids == lim.max_pids,
        absl::StrCat("pids limit ", back.ok() && back->max_pids ? *back->max_pids : 0), 0);
    if (!s.ok()) return s;
  }
  if (lim.max_open_files || lim.max_file_size_bytes) {
    bool ok = (!lim.max_open_files || probe.rlimit_nofile == *lim.max_open_files) &&
              (!lim.max_file_size_bytes || probe.rlimit_fsize == *lim.max_file_size_bytes);
    s = check(
        Control::kRlimits, true, ok,
        absl::StrCat("RLIMIT_NOFILE ", probe.rlimit_nofile, ", RLIMIT_FSIZE ", probe.rlimit_fsize),
        0);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ProcessBackend::Prepare(const SandboxConfig& config, PrepareReport* report) {
  if (!strings_.empty()) return absl::FailedPreconditionError("process backend already prepared");
  policy_ = config.policy;
  id_ = RandomHex(8);
  StepTimer timer(&report->steps);
  auto fail = [&](absl::Status s) {
    (void)Destroy();
    return s;
  };
  dev_null_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null_) return sys::ErrnoStatus(errno, "open /dev/null");

  if (policy_.seccomp != SeccompProfile::kNone) {
    absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> init_part =
        SeccompProgramFor(policy_.seccomp, SeccompPart::kInit);
    absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> command_part =
        SeccompProgramFor(policy_.seccomp, SeccompPart::kCommand);
    if (!init_part.ok() || !command_part.ok()) {
      if (!policy_.IsOptional(Control::kSeccomp)) {
        return ControlError(
            Control::kSeccomp,
            (init_part.ok() ? command_part.status() : init_part.status()).message());
      }
    } else {
      seccomp_init_ = *init_part;
      seccomp_ = *command_part;
    }
    timer.Mark("seccomp");
  }
  if (policy_.network.mode == NetworkMode::kProxy) {
    EgressOptions options;
    options.ca_name = id_;
    // Request records (host, method, path, status, bytes; never a header
    // value) go to the sandbox's audit chain.
    if (event_sink_) {
      options.on_request = [sink = event_sink_](const EgressRecord& r) {
        sink("egress_request", EgressRecordJson(r));
      };
    }
    absl::StatusOr<std::unique_ptr<EgressProxy>> proxy =
        EgressProxy::Create(policy_.egress, std::move(options));
    if (!proxy.ok()) return fail(proxy.status());
    egress_ = *std::move(proxy);
    plan_.proxy_port = kSandboxProxyPort;
    timer.Mark("egress");
  }
  if (absl::Status s = BuildLandlockPlan(policy_); !s.ok()) return fail(s);
  if (absl::Status s = BuildRootPlan(config); !s.ok()) return fail(s);
  timer.Mark("plan");
  // The read-only part of the root, prepared once per process for this plan
  // (root_template.h), reaches init with its go; none: init builds the whole
  // root.
  root_template_ = RootTemplateCache::Global().CloneFor(
      root_steps_.data(), static_cast<int>(root_steps_.size()), plan_.read_only_root);
  if (root_template_) timer.Mark("root_template");
  // The host's cgroup layout (mountinfo and /proc/self/cgroup), read once for
  // the sandbox's cgroup and the stale-cgroup sweep below.
  absl::StatusOr<sys::CgroupLayout> layout = sys::DetectCgroupLayout();
  // On cgroup v2 init is cloned into its cgroup (CLONE_INTO_CGROUP), which
  // must exist first. On v1, init moves itself in, and the cgroup (mkdir and
  // limits in each hierarchy, ~0.4 ms here) is made after the clone, while
  // init is starting; its attach files go to init with the "go".
  const bool cgroup_after_clone = layout.ok() && CgroupWillBeV1(*layout);
  if (!cgroup_after_clone) {
    if (absl::Status s = BuildCgroup(policy_, layout.ok() ? &*layout : nullptr, report); !s.ok()) {
      return fail(s);
    }
    timer.Mark("cgroup");
  }
  if (absl::Status s = StartInit(policy_, cgroup_after_clone ? &*layout : nullptr, report, timer);
      !s.ok()) {
    return fail(s);
  }
  root_template_.Reset();  // init has its own copy

  // Init now builds the sandbox (~1 ms, on another CPU when there is one):
  // meanwhile the host does what does not need init's report. Once per
  // process: remove cgroups left behind by kavach processes that died without
  // cleaning up (kill -9); their owner pid is in the name.
  static absl::once_flag stale_once;
  absl::call_once(stale_once, [&] {
    (void)(layout.ok() ? sys::RemoveStaleCgroups(*layout) : sys::RemoveStaleCgroups());
  });
  ReadHostFacts(policy_);

  // Wait for init's verdict.
  SetupReply reply;
  struct pollfd pfd = {control_.get(), POLLIN, 0};
  int ready = ::poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(kInitReadyTimeout)));
  if (ready <= 0) {
    return fail(absl::DeadlineExceededError("sandbox init did not report ready"));
  }
  UniqueFd proxy_socket;
  ssize_t n = RecvSetupReply(control_.get(), &reply, &proxy_socket);
  // Init has its own copy now (and wipes it); ours is no longer needed.
  WipeSecrets();
  if (n != static_cast<ssize_t>(sizeof reply) || reply.magic != kProtocolMagic) {
    // init died before it could say why: most likely a fatal signal.
    siginfo_t info = {};
    if (init_pidfd_) {
      ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(init_pidfd_.get()), &info,
               WEXITED | WNOHANG);
    } else {
      ::waitid(P_PID, static_cast<id_t>(init_pid_), &info, WEXITED | WNOHANG);
    }
    if (info.si_code == CLD_EXITED && info.si_status == kInitExitBadPlan) {
      return fail(absl::InternalError(
          "sandbox init (kavach-init) could not read its plan: a kavach-init of another build?"));
    }
    return fail(absl::InternalError(
        absl::StrCat("sandbox init exited during setup (status ", info.si_status, ")")));
  }
  if (reply.type != MessageType::kReady) {
    reply.detail[sizeof reply.detail - 1] = '\0';
    if (reply.step == InitStep::kCgroupAttach) {
      // The detail is the index of the hierarchy whose `tasks` refused.
      std::string where = reply.detail;
      int index = 0;
      std::vector<std::string> paths = cgroup_ ? cgroup_->paths() : std::vector<std::string>();
      if (absl::SimpleAtoi(reply.detail, &index) && index >= 0 &&
          static_cast<size_t>(index) < paths.size()) {
        where = absl::StrCat(paths[static_cast<size_t>(index)], "/tasks");
      }
      return fail(absl::FailedPreconditionError(
          absl::StrCat("cgroup: init could not move itself into its cgroup (", where,
                       "): ", Errno(reply.error))));
    }
    // Optional controls are decided before init starts; a failure here is
    // fatal whatever the policy says, because init cannot continue half-built.
    Control control = ControlForStep(reply.step);
    return fail(ControlError(control, absl::StrCat(InitStepName(reply.step), " failed on ",
                                                   reply.detail, ": ", Errno(reply.error))));
  }
  const int64_t ready_read_ns = MonotonicNs();
  timer.Mark("init");
  SplitInitStep(reply, go_sent_ns_, ready_read_ns, &report->steps);
  if (egress_) {
    if (!proxy_socket) {
      return fail(ControlError(Control::kNetworkNamespace,
                               "sandbox init did not hand over the egress proxy socket"));
    }
    if (absl::Status s = egress_->ServeOn(std::move(proxy_socket)); !s.ok()) return fail(s);
  }
  if (absl::Status s = GatherEvidence(policy_, reply.probe, report); !s.ok()) return fail(s);
  timer.Mark("evidence");
  return absl::OkStatus();
}

absl::StatusOr<ExecChannel> ProcessBackend::Send(const BackendExecRequest& request,
                                                 bool report_start) {
  if (stopped_.load() || !control_) {
    return absl::FailedPreconditionError("sandbox is stopped");
  }
  if (request.argv.empty()) return absl::InvalidArgumentError("argv is empty");
  std::string payload;
  auto append = [&](const std::string& s) -> absl::Status {
    if (s.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError("argv, env and cwd may not contain NUL bytes");
    }
    payload.append(s);
    payload.push_back('\0');
    return absl::OkStatus();
  };
  if (absl::Status s = append(request.cwd.empty() ? policy_.working_directory : request.cwd);
      !s.ok()) {
    return s;
  }
  for (const std::string& a : request.argv) {
    if (absl::Status s = append(a); !s.ok()) return s;
  }
  for (const std::string& e : request.env) {
    if (absl::Status s = append(e); !s.ok()) return s;
  }
  if (sizeof(ExecHeader) + payload.size() > kMaxExecMessage ||
      request.argv.size() + request.env.size() + 1 > kMaxExecStrings) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "argv and environment too large: %d bytes in %d strings (limit %d bytes, %d strings)",
        payload.size(), request.argv.size() + request.env.size(), kMaxExecMessage,
        kMaxExecStrings));
  }
  ExecHeader hdr;
  ExecChannel ch;
  ch.id = next_exec_id_.fetch_add(1);
  hdr.exec_id = ch.id;
  hdr.argc = static_cast<uint32_t>(request.argv.size());
  hdr.envc = static_cast<uint32_t>(request.env.size());
  hdr.payload_len = static_cast<uint32_t>(payload.size());
  hdr.flags = report_start ? 0 : kExecNoStartRecord;
  ch.start_reported = report_start;

  const bool has_stdin = request.stdin_data.has_value() && !request.stdin_data->empty();
  absl::StatusOr<sys::Pipe> in = has_stdin ? sys::MakePipe() : sys::Pipe{};
  absl::StatusOr<sys::Pipe> out = sys::MakePipe();
  absl::StatusOr<sys::Pipe> err = sys::MakePipe();
  absl::StatusOr<sys::Pipe> status = sys::MakePipe();
  for (auto* p : {&in, &out, &err, &status}) {
    if (!p->ok()) return p->status();
  }
  int fds[4] = {has_stdin ? in->read.get() : dev_null_.get(), out->write.get(), err->write.get(),
                status->write.get()};
  struct iovec iov[2] = {{&hdr, sizeof hdr}, {payload.data(), payload.size()}};
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof fds)] = {};
  struct msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  {
    absl::MutexLock lock(&send_mu_);
    ssize_t n;
    do {
      n = ::sendmsg(control_.get(), &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EMSGSIZE) {
        return absl::InvalidArgumentError(absl::StrCat(
            "argv and environment too large for one request (", payload.size(), " bytes)"));
      }
      return absl::UnavailableError(absl::StrCat("sandbox init is gone: ", Errno(errno)));
    }
  }
  WipeString(payload);  // the environment may hold a secret
  ch.sent_at = absl::Now();
  ch.stdin_w = std::move(in->write);
  ch.stdout_r = std::move(out->read);
  ch.stderr_r = std::move(err->read);
  ch.status_r = std::move(status->read);
  if (has_stdin) {
    ch.stdin_data = *request.stdin_data;
    // Non-blocking stdin so a command that never reads cannot stall the pump.
    ::fcntl(ch.stdin_w.get(), F_SETFL, O_NONBLOCK);
  }
  return ch;
}

absl::Status ProcessBackend::SendKill(uint64_t exec_id) {
  ControlHeader hdr;
  hdr.type = MessageType::kKill;
  hdr.exec_id = exec_id;
  absl::MutexLock lock(&send_mu_);
  if (!control_) return absl::FailedPreconditionError("sandbox is stopped");
  if (::send(control_.get(), &hdr, sizeof hdr, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof hdr)) {
    return absl::UnavailableError(absl::StrCat("sandbox init is gone: ", Errno(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ExecResult> ProcessBackend::Pump(ExecChannel& ch, const BackendExecRequest& request,
                                                const std::function<void(pid_t)>& on_start) {
  ExecResult result;
  absl::Time start = ch.sent_at;
  absl::Time deadline = start + request.timeout;
  std::optional<absl::Time> kill_deadline;
  uint64_t oom_before = 0;
  if (cgroup_) {
    absl::StatusOr<uint64_t> c = cgroup_->OomKillCount();
    if (c.ok()) oom_before = *c;
  }
  size_t stdin_off = 0;
  if (ch.stdin_data.empty()) ch.stdin_w.Reset();
  bool started = false;
  bool exited = false;
  StatusRecord status_rec;
  StatusRecord exit_rec;
  size_t status_have = 0;  // bytes of the current record read so far
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
      if (static_cast<size_t>(n) < sizeof buf) return;
    }
  };
  for (UniqueFd* fd : {&ch.stdout_r, &ch.stderr_r, &ch.status_r}) {
    ::fcntl(fd->get(), F_SETFL, O_NONBLOCK);
  }

  while (ch.stdout_r || ch.stderr_r || !exited) {
    absl::Time now = absl::Now();
    if (!result.timed_out && now >= deadline && !exited) {
      result.timed_out = true;
      if (absl::Status s = SendKill(ch.id); !s.ok()) return s;
      kill_deadline = now + kKillGrace;
    }
    if (kill_deadline && now >= *kill_deadline) {
      return absl::InternalError("sandbox init did not report the command's exit after killing it");
    }
    absl::Time wake = kill_deadline ? *kill_deadline : deadline;
    if (result.timed_out && !kill_deadline) wake = now + kKillGrace;
    int timeout_ms =
        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(wake - now) + 1));
    struct pollfd pfds[4];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_status = -1, idx_in = -1;
    if (ch.stdout_r) {
      idx_out = n;
      pfds[n++] = {ch.stdout_r.get(), POLLIN, 0};
    }
    if (ch.stderr_r) {
      idx_err = n;
      pfds[n++] = {ch.stderr_r.get(), POLLIN, 0};
    }
    if (ch.status_r) {
      idx_status = n;
      pfds[n++] = {ch.status_r.get(), POLLIN, 0};
    }
    if (ch.stdin_w) {
      idx_in = n;
      pfds[n++] = {ch.stdin_w.get(), POLLOUT, 0};
    }
    if (n == 0) {
      // No fd left yet no exit record: init closed the status pipe without
      // reporting (it died).
      if (cgroup_) {
        absl::StatusOr<uint64_t> c = cgroup_->OomKillCount();
        if (c.ok() && *c > oom_before) {
          return absl::ResourceExhaustedError(
              "cgroup.memory: the OOM killer took the sandbox's init; the memory limit is too "
              "small for this sandbox");
        }
      }
      return absl::UnavailableError("sandbox init went away while the command ran");
    }
    int r = ::poll(pfds, static_cast<nfds_t>(n), timeout_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      return sys::ErrnoStatus(errno, "poll");
    }
    if (idx_out >= 0 && pfds[idx_out].revents) {
      drain(ch.stdout_r, result.stdout_data, result.stdout_truncated, request.on_stdout);
    }
    if (idx_err >= 0 && pfds[idx_err].revents) {
      drain(ch.stderr_r, result.stderr_data, result.stderr_truncated, request.on_stderr);
    }
    if (idx_in >= 0 && pfds[idx_in].revents) {
      if (pfds[idx_in].revents & (POLLERR | POLLHUP)) {
        ch.stdin_w.Reset();
      } else {
        ssize_t w = ::write(ch.stdin_w.get(), ch.stdin_data.data() + stdin_off,
                            ch.stdin_data.size() - stdin_off);
        if (w > 0) stdin_off += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || stdin_off == ch.stdin_data.size()) {
          ch.stdin_w.Reset();
        }
      }
    }
    if (idx_status >= 0 && pfds[idx_status].revents) {
      for (;;) {
        StatusRecord& target = started ? exit_rec : status_rec;
        ssize_t got = ::read(ch.status_r.get(), reinterpret_cast<char*>(&target) + status_have,
                             sizeof target - status_have);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
          if (got == 0) ch.status_r.Reset();
          break;
        }
        status_have += static_cast<size_t>(got);
        if (status_have < sizeof target) continue;
        status_have = 0;
        if (target.magic != kProtocolMagic) {
          return absl::DataLossError("malformed status record from sandbox init");
        }
        if (!started) {
          if (target.type == MessageType::kFailed) {
            // Exec-time failures look like a shell's: 127 not found, 126 not
            // executable, with the reason on stderr. Control failures are
            // errors that name the control.
            if (target.step == InitStep::kExec) {
              result.exit_code = target.error == ENOENT ? 127 : 126;
              result.stderr_data =
                  absl::StrCat("kavach: ", request.argv[0], ": ", Errno(target.error), "\n");
              result.wall_time = absl::Now() - start;
              return result;
            }
            if (target.error == E2BIG) {
              return absl::InvalidArgumentError("exec request too large for the sandbox");
            }
            return ControlError(ControlForStep(target.step),
                                absl::StrCat(InitStepName(target.step),
                                             " failed before exec: ", Errno(target.error)));
          }
          if (target.type == MessageType::kExited && !ch.start_reported) {
            exit_rec = target;
            exited = true;
            ch.status_r.Reset();
            break;
          }
          if (target.type != MessageType::kStarted || !ch.start_reported) {
            return absl::DataLossError("unexpected status record from sandbox init");
          }
          started = true;
          if (on_start) on_start(target.pid);
          result.setup.push_back({"start", absl::Now() - start});
        } else {
          if (target.type != MessageType::kExited) {
            return absl::DataLossError("unexpected status record from sandbox init");
          }
          exited = true;
          ch.status_r.Reset();
          break;
        }
      }
    }
  }
  result.wall_time = absl::Now() - start;
  int ws = exit_rec.wait_status;
  if (WIFEXITED(ws)) {
    result.exit_code = WEXITSTATUS(ws);
  } else if (WIFSIGNALED(ws)) {
    result.signal = WTERMSIG(ws);
    result.exit_code = -1;
  }
  result.cpu_time = absl::Microseconds(std::max<int64_t>(0, exit_rec.user_us) +
                                       std::max<int64_t>(0, exit_rec.system_us));
  result.peak_memory_bytes =
      static_cast<uint64_t>(std::max<int64_t>(0, exit_rec.max_rss_kb)) * 1024;
  if (cgroup_ && result.signal == SIGKILL && !result.timed_out) {
    absl::StatusOr<uint64_t> c = cgroup_->OomKillCount();
    if (c.ok() && *c > oom_before) result.oom_killed = true;
  }
  return result;
}

absl::StatusOr<ExecResult> ProcessBackend::Exec(const BackendExecRequest& request) {
  absl::Time t0 = absl::Now();
  absl::StatusOr<ExecChannel> ch = Send(request, /*report_start=*/false);
  if (!ch.ok()) return ch.status();
  absl::Duration send_time = absl::Now() - t0;
  absl::StatusOr<ExecResult> r = Pump(*ch, request, {});
  if (r.ok()) r->setup.insert(r->setup.begin(), SetupStep{"send", send_time});
  return r;
}

ProcessSpawned::ProcessSpawned(ProcessBackend* backend, ExecChannel channel,
                               BackendExecRequest request)
    : backend_(backend), id_(channel.id) {
  pump_ = std::thread([this, ch = std::move(channel), req = std::move(request)]() mutable {
    absl::StatusOr<ExecResult> r = backend_->Pump(ch, req, [this](pid_t pid) {
      pid_.store(pid);
      started_.Notify();
    });
    absl::MutexLock lock(&mu_);
    result_ = std::move(r);
    if (!started_.HasBeenNotified()) started_.Notify();
  });
  // Spawn returns once the command runs (or has failed to start), so pid()
  // is meaningful and an exec failure is visible at once.
  started_.WaitForNotification();
}

ProcessSpawned::~ProcessSpawned() {
  if (pump_.joinable()) {
    if (!waited_) (void)Kill();
    pump_.join();
  }
}

absl::StatusOr<ExecResult> ProcessSpawned::Wait() {
  if (pump_.joinable()) pump_.join();
  waited_ = true;
  absl::MutexLock lock(&mu_);
  if (!result_) return absl::InternalError("spawned command has no result");
  return *result_;
}

absl::Status ProcessSpawned::Kill() { return backend_->SendKill(id_); }

absl::StatusOr<std::unique_ptr<SpawnedProcess>> ProcessBackend::Spawn(
    const BackendExecRequest& request) {
  absl::StatusOr<ExecChannel> ch = Send(request, /*report_start=*/true);
  if (!ch.ok()) return ch.status();
  return std::unique_ptr<SpawnedProcess>(new ProcessSpawned(this, std::move(*ch), request));
}

absl::Status ProcessBackend::Pause() {
  if (!cgroup_) {
    return absl::FailedPreconditionError(
        absl::StrCat("cgroup.freezer: this sandbox has no cgroup: ", cgroup_unavailable_));
  }
  return cgroup_->Freeze();
}

absl::Status ProcessBackend::Resume() {
  if (!cgroup_) {
    return absl::FailedPreconditionError(
        absl::StrCat("cgroup.freezer: this sandbox has no cgroup: ", cgroup_unavailable_));
  }
  return cgroup_->Thaw();
}

void ProcessBackend::KillInit() {
  if (init_pid_ <= 0) return;
  if (cgroup_) (void)cgroup_->ThawIfFrozen();  // a frozen init cannot die
  if (init_pidfd_) {
    ::syscall(SYS_pidfd_send_signal, init_pidfd_.get(), SIGKILL, nullptr, 0);
    siginfo_t info;
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(init_pidfd_.get()), &info,
                    WEXITED) != 0 &&
           errno == EINTR) {
    }
  } else {
    // Made by clone(2) without a pidfd (see StartInit): still our child.
    ::kill(init_pid_, SIGKILL);
    int status;
    while (::waitpid(init_pid_, &status, __WALL) < 0 && errno == EINTR) {
    }
  }
  init_pid_ = -1;
  init_pidfd_.Reset();
}

absl::Status ProcessBackend::Stop() { return StopProcesses(/*sweep_cgroup=*/true); }

absl::Status ProcessBackend::StopProcesses(bool sweep_cgroup) {
  if (stopped_.exchange(true)) return absl::OkStatus();
  {
    absl::MutexLock lock(&send_mu_);
    control_.Reset();  // init sees EOF and kills everything
  }
  KillInit();
  if (cgroup_ && sweep_cgroup) return cgroup_->KillAll();
  return absl::OkStatus();
}

void ProcessBackend::WipeSecrets() {
  for (std::string* s : secret_strings_) WipeString(*s);
  secret_strings_.clear();
  secret_files_.clear();
}

absl::Status ProcessBackend::Destroy() {
  WipeSecrets();
  if (destroyed_) return absl::OkStatus();
  // The cgroup's Destroy below kills whatever is left and refuses to remove
  // a cgroup that still holds a task: no separate sweep first.
  absl::Status status = StopProcesses(/*sweep_cgroup=*/false);
  egress_.reset();  // closes every proxied connection
  if (cgroup_) {
    absl::Status s = cgroup_->Destroy();
    if (status.ok()) status = s;
    cgroup_.reset();
  }
  destroyed_ = true;
  return status;
}

}  // namespace

bool InitExecInUse() {
  return !g_init_exec_unusable.load(std::memory_order_relaxed) && InitExecutableFd().ok();
}

absl::StatusOr<std::unique_ptr<Backend>> CreateProcessBackend(ProcessBackendOptions options) {
  return std::unique_ptr<Backend>(new ProcessBackend(std::move(options)));
}

}  // namespace kavach::internal
