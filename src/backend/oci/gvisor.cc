// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/oci/gvisor.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "kavach/policy.h"
#include "linux/file_util.h"
#include "linux/strings.h"

namespace kavach::internal {
namespace {

// gVisor's base score (70), one share per verified item.
constexpr int kPointsUserSpaceKernel = 20;
constexpr int kPointsSentrySeccomp = 10;
constexpr int kPointsSentryNamespaces = 8;
constexpr int kPointsSentryUnprivileged = 5;
constexpr int kPointsOwnRoot = 6;
constexpr int kPointsNoNewPrivs = 5;
constexpr int kPointsCapabilities = 6;
constexpr int kPointsCloseFds = 5;
constexpr int kPointsUid = 5;
// Policy modifiers, earned only when verified.
constexpr int kPointsSeccomp = 5;
constexpr int kPointsNetworkNone = 5;
constexpr int kPointsReadOnlyRoot = 3;

constexpr absl::Duration kPlatformTrial = absl::Seconds(6);

std::string Trim(absl::string_view s) { return std::string(absl::StripAsciiWhitespace(s)); }

std::string HostNs(const std::string& pid, const char* ns) {
  char buf[128];
  std::string path = absl::StrCat("/proc/", pid, "/ns/", ns);
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

std::map<std::string, std::string> ParseStatus(absl::string_view text) {
  std::map<std::string, std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(':', 1));
    out[std::string(kv.first)] = Trim(kv.second);
  }
  return out;
}

absl::Status ControlError(Control control, absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(ToAbsl(ControlName(control)), ": ", what));
}

// Runs `runsc do /bin/true` on `platform` with a private state root; OK when
// it exits 0 within the trial deadline.
absl::Status TryPlatform(const std::string& runsc, const std::string& platform) {
  const char* tmp = ::getenv("TMPDIR");
  std::string dir = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/kavach-runsc-probe-XXXXXX");
  if (::mkdtemp(dir.data()) == nullptr) return sys::ErrnoStatus(errno, "mkdtemp");
  OciRuntime rt;
  rt.name = "runsc";
  rt.path = runsc;
  rt.state_root = dir + "/state";
  rt.global_args = {"--network=none", absl::StrCat("--platform=", platform)};
  if (::geteuid() != 0) rt.global_args.push_back("--rootless");
  absl::StatusOr<RuntimeOutput> r = RunRuntime(rt, {"do", "/bin/true"}, kPlatformTrial);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!r.ok()) return r.status();
  if (r->timed_out) {
    return absl::DeadlineExceededError(absl::StrCat("`runsc --platform=", platform,
                                                    " do /bin/true` did not finish in ",
                                                    absl::FormatDuration(kPlatformTrial)));
  }
  if (r->exit_code != 0) {
    std::string err = Trim(r->err);
    if (err.size() > 200) err = err.substr(err.size() - 200);
    return absl::UnavailableError(absl::StrCat("`runsc --platform=", platform,
                                               " do /bin/true` exited ", r->exit_code, ": ", err));
  }
  return absl::OkStatus();
}

// A key that changes when the answer may change: the runsc binary (path,
// inode, size, modification time: a new runsc is a new file), the kernel, the
// boot, our uid, what was asked. Computed without running runsc, whose start
// (a Go binary) costs more than a container's set-up step.
std::string CacheKey(const std::string& runsc, const std::string& requested) {
  struct stat st {};
  ::stat(runsc.c_str(), &st);
  struct utsname u {};
  ::uname(&u);
  absl::StatusOr<std::string> boot = sys::ReadFile("/proc/sys/kernel/random/boot_id");
  return absl::StrCat(runsc, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec, "|", u.release, "|", boot.ok() ? Trim(*boot) : "", "|",
                      ::geteuid(), "|", requested);
}

}  // namespace

std::string GVisorDefaultStateRoot() {
  if (::geteuid() == 0) return "/run/kavach/gvisor";
  const char* xdg = ::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && *xdg != '\0') return absl::StrCat(xdg, "/kavach/gvisor");
  return absl::StrCat("/tmp/kavach-", ::geteuid(), "/gvisor");
}

absl::StatusOr<GVisorHost> ResolveGVisorHost(const std::string& requested_in) {
  std::string requested = requested_in;
  if (requested.empty()) {
    const char* env = ::getenv("KAVACH_GVISOR_PLATFORM");
    if (env != nullptr) requested = env;
  }
  if (!requested.empty() && requested != "systrap" && requested != "ptrace" && requested != "kvm") {
    return absl::InvalidArgumentError(
        absl::StrCat("gVisor platform must be systrap, ptrace or kvm, not \"", requested, "\""));
  }
  absl::StatusOr<std::string> path = sys::FindInPath("runsc");
  if (!path.ok()) {
    return absl::UnavailableError("runsc not found in PATH (Debian package runsc)");
  }
  GVisorHost host;
  host.path = *path;
  host.rootless = ::geteuid() != 0;

  // One answer per process and key; across processes, a cache file (key,
  // platform, what was tried, version; "-v2": the older format, keyed on
  // `runsc --version`, is left to older kavach binaries).
  static absl::Mutex mu(absl::kConstInit);
  static auto* memo = new std::map<std::string, GVisorHost>();
  const std::string key = CacheKey(host.path, requested);
  const std::string cache_file = absl::StrCat(GVisorDefaultStateRoot(), "/platform-v2.cache");
  absl::MutexLock lock(&mu);
  if (auto it = memo->find(key); it != memo->end()) return it->second;
  if (absl::StatusOr<std::string> cached = sys::ReadFile(cache_file); cached.ok()) {
    std::vector<std::string> lines = absl::StrSplit(*cached, '\n');
    if (lines.size() >= 4 && lines[0] == key && !lines[1].empty() && !lines[3].empty()) {
      host.platform = lines[1];
      host.platforms = lines[2];
      host.version = lines[3];
      memo->emplace(key, host);
      return host;
    }
  }

  OciRuntime bare;
  bare.name = "runsc";
  bare.path = *path;
  absl::StatusOr<RuntimeOutput> v = RunRuntime(bare, {"--version"}, absl::Seconds(10));
  if (!v.ok()) return v.status();
  if (v->exit_code != 0) {
    return absl::UnavailableError(
        absl::StrCat(*path, " --version failed (exit ", v->exit_code, "): ", Trim(v->err)));
  }
  host.version = Trim(std::vector<std::string>(absl::StrSplit(v->out, '\n'))[0]);

  absl::StatusOr<RuntimeOutput> listed = RunRuntime(bare, {"help", "platforms"}, absl::Seconds(10));
  std::vector<std::string> have;
  if (listed.ok() && listed->exit_code == 0) {
    for (absl::string_view l : absl::StrSplit(listed->out, '\n', absl::SkipEmpty())) {
      have.push_back(Trim(l));
    }
  }
  std::vector<std::string> notes;
  std::vector<std::string> order = requested.empty()
                                       ? std::vector<std::string>{"systrap", "kvm", "ptrace"}
                                       : std::vector<std::string>{requested};
  for (const std::string& p : order) {
    if (std::find(have.begin(), have.end(), p) == have.end()) {
      notes.push_back(
          absl::StrCat(p, ": not in this runsc (it lists ", absl::StrJoin(have, ", "), ")"));
      continue;
    }
    if (p == "kvm") {
      struct stat st;
      if (::stat("/dev/kvm", &st) != 0) {
        notes.push_back("kvm: /dev/kvm missing");
        continue;
      }
      if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        notes.push_back("kvm: /dev/kvm not accessible to this user");
        continue;
      }
    }
    absl::Status s = TryPlatform(host.path, p);
    if (!s.ok()) {
      notes.push_back(absl::StrCat(p, ": ", s.message()));
      continue;
    }
    host.platform = p;
    notes.push_back(absl::StrCat(p, ": runs a container (chosen)"));
    break;
  }
  host.platforms = absl::StrJoin(notes, "; ");
  if (host.platform.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no gVisor platform works on this host: ", host.platforms));
  }
  memo->emplace(key, host);
  std::error_code ec;
  std::filesystem::create_directories(GVisorDefaultStateRoot(), ec);
  (void)sys::WriteFile(
      cache_file, absl::StrCat(key, "\n", host.platform, "\n", host.platforms, "\n", host.version),
      0600);
  return host;
}

OciRuntime GVisorRuntime(const GVisorHost& host, const std::string& state_root, bool host_network) {
  OciRuntime rt;
  rt.name = "runsc";
  rt.path = host.path;
  rt.state_root = state_root;
  rt.global_args = {host_network ? "--network=host" : "--network=none",
                    absl::StrCat("--platform=", host.platform), "--oci-seccomp"};
  if (host.rootless) rt.global_args.push_back("--rootless");
  rt.fd_table_headroom = true;
  return rt;
}

BackendAvailability ProbeGVisor() {
  BackendAvailability a;
  a.kind = BackendKind::kGVisor;
  absl::StatusOr<GVisorHost> host = ResolveGVisorHost("");
  if (!host.ok()) {
    a.available = false;
    a.reason = std::string(host.status().message());
    return a;
  }
  a.available = true;
  a.reason = absl::StrCat(host->path, " (", host->version, "), platform ", host->platform, " [",
                          host->platforms, "]", host->rootless ? ", rootless" : "");
  return a;
}

absl::Status GVisorEvidence(const SandboxPolicy& policy, const std::vector<std::string>& sec,
                            pid_t sandbox_pid, const GVisorHost& host, uint32_t host_uid,
                            bool first_process, std::vector<Evidence>* evidence) {
  if (sec.size() != 7) {
    return absl::InternalError(
        absl::StrCat("gvisor: unexpected verification output (", sec.size(), " sections)"));
  }
  std::vector<Evidence>& ev = *evidence;
  auto check = [&](Control control, bool verified, std::string detail, int points) -> absl::Status {
    if (!verified && !policy.IsOptional(control)) return ControlError(control, detail);
    ev.push_back({std::string(ControlName(control)), verified, std::move(detail), points});
    return absl::OkStatus();
  };
  ev.push_back({"gvisor.platform", true,
                absl::StrCat(host.platform, " (", host.version, "; ", host.platforms, ")"), 0});

  // The kernel the command talks to is gVisor's, not the host's.
  std::string inside_version = Trim(sec[1]);
  absl::StatusOr<std::string> host_version = sys::ReadFile("/proc/version");
  struct utsname u {};
  ::uname(&u);
  bool own_kernel = host_version.ok() && !inside_version.empty() &&
                    inside_version != Trim(*host_version) &&
                    !absl::StrContains(inside_version, u.release);
  if (!own_kernel) {
    return absl::FailedPreconditionError(absl::StrCat("gvisor: the command sees the host kernel (",
                                                      inside_version, "), not gVisor's"));
  }
  ev.push_back({"gvisor.kernel", true,
                absl::StrCat("inside: \"", inside_version, "\"; host kernel ", u.release),
                kPointsUserSpaceKernel});

  // The Sentry on the host.
  const std::string spid = absl::StrCat(sandbox_pid);
  absl::StatusOr<std::string> sentry_status =
      sys::ReadFile(absl::StrCat("/proc/", spid, "/status"));
  if (sandbox_pid <= 0 || !sentry_status.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("gvisor: the sandbox process (pid ", sandbox_pid, ") is not visible"));
  }
  std::map<std::string, std::string> sentry = ParseStatus(*sentry_status);
  bool sentry_seccomp = sentry["Seccomp"] == "2";
  ev.push_back({"gvisor.sentry_seccomp", sentry_seccomp,
                absl::StrCat("runsc-sandbox pid ", spid, " Seccomp: ", sentry["Seccomp"],
                             ", filters: ", sentry["Seccomp_filters"]),
                kPointsSentrySeccomp});
  std::vector<std::string> own, shared;
  for (const char* ns : {"user", "mnt", "net", "ipc", "uts", "pid"}) {
    std::string h = HostNs("self", ns), s = HostNs(spid, ns);
    (!h.empty() && !s.empty() && h != s ? own : shared).push_back(ns);
  }
  // pid is shared when runsc runs as root (the Sentry is the only host
  // process of the sandbox; its tasks are not host processes).
  bool ns_ok = own.size() >= 5 && std::find(own.begin(), own.end(), "user") != own.end() &&
               std::find(own.begin(), own.end(), "net") != own.end() &&
               std::find(own.begin(), own.end(), "mnt") != own.end();
  ev.push_back({"gvisor.sentry_namespaces", ns_ok,
                absl::StrCat("own: ", absl::StrJoin(own, ","), "; shared with the host: ",
                             shared.empty() ? "none" : absl::StrJoin(shared, ",")),
                kPointsSentryNamespaces});
  std::vector<std::string> uids =
      absl::StrSplit(sentry["Uid"], absl::ByAnyChar(" \t"), absl::SkipEmpty());
  bool sentry_unpriv =
      !uids.empty() && uids[0] != "0" && std::find(uids.begin(), uids.end(), "0") == uids.end();
  ev.push_back({"gvisor.sentry_uid", sentry_unpriv,
                absl::StrCat("runsc-sandbox Uid: ", sentry["Uid"]), kPointsSentryUnprivileged});

  // Inside.
  std::map<std::string, std::string> status = ParseStatus(sec[0]);
  bool root_ro = false, root_9p = false;
  for (absl::string_view line : absl::StrSplit(sec[2], '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 6 || f[4] != "/") continue;
    root_ro = absl::StartsWith(f[5], "ro,") || f[5] == "ro";
    for (size_t i = 6; i + 1 < f.size(); ++i) {
      if (f[i] == "-") root_9p = f[i + 1] == "9p";
    }
  }
  absl::Status s = check(Control::kPivotRoot, root_9p,
                         absl::StrCat("/ is ", root_9p ? "a gofer (9p) mount of the bundle's root"
                                                       : "not the bundle's gofer mount"),
                         kPointsOwnRoot);
  if (!s.ok()) return s;
  // PR_GET_NO_NEW_PRIVS from a command (python3's prctl); the status line
  // when a later gVisor has it.
  const std::string nnp = Trim(sec[6]);
  s = check(Control::kNoNewPrivs, status["NoNewPrivs"] == "1" || nnp == "1",
            absl::StrCat("prctl(PR_GET_NO_NEW_PRIVS) = ", nnp), kPointsNoNewPrivs);
  if (!s.ok()) return s;
  bool caps_empty = status["CapEff"] == "0000000000000000" &&
                    status["CapPrm"] == "0000000000000000" &&
                    status["CapBnd"] == "0000000000000000";
  s = check(Control::kCapabilities, caps_empty,
            absl::StrCat("CapEff: ", status["CapEff"], " CapPrm: ", status["CapPrm"],
                         " CapBnd: ", status["CapBnd"]),
            kPointsCapabilities);
  if (!s.ok()) return s;
  std::vector<std::string> fds = absl::StrSplit(sec[3], '\n', absl::SkipEmpty());
  s = check(Control::kCloseFds, fds.empty(),
            absl::StrCat(fds.size(), " inherited fds above stderr",
                         fds.empty() ? "" : ": " + absl::StrJoin(fds, ",")),
            kPointsCloseFds);
  if (!s.ok()) return s;
  int uid_inside = -1;
  (void)absl::SimpleAtoi(Trim(sec[5]), &uid_inside);
  ev.push_back(
      {"uid", uid_inside == static_cast<int>(policy.uid) && sentry_unpriv,
       absl::StrFormat("runs as uid %d inside (host id %u), Sentry not root", uid_inside, host_uid),
       kPointsUid});

  if (policy.network.mode == NetworkMode::kNone) {
    std::vector<std::string> ifaces;
    for (absl::string_view line : absl::StrSplit(sec[4], '\n', absl::SkipEmpty())) {
      size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      ifaces.push_back(Trim(line.substr(0, colon)));
    }
    s = check(Control::kNetworkNamespace, ifaces == std::vector<std::string>{"lo"},
              absl::StrCat("interfaces in gVisor's netstack: [", absl::StrJoin(ifaces, ","),
                           "] (--network=none)"),
              kPointsNetworkNone);
    if (!s.ok()) return s;
  }
  if (policy.seccomp != SeccompProfile::kNone) {
    s = check(Control::kSeccomp, status["Seccomp"] == "2",
              first_process
                  ? absl::StrCat("Seccomp: ", status["Seccomp"],
                                 " in the container's first process, which becomes the command "
                                 "(execve keeps the filter)")
                  : absl::StrCat("Seccomp: ", status["Seccomp"], " in an exec'd command; runsc (",
                                 host.version,
                                 ") applies the OCI seccomp filter only to the container's first "
                                 "process; use --inner process for seccomp in every command"),
              kPointsSeccomp);
    if (!s.ok()) return s;
  }
  if (policy.filesystem.read_only_root) {
    s = check(Control::kReadOnlyRoot, root_ro, root_ro ? "/ is mounted read-only" : "/ is writable",
              kPointsReadOnlyRoot);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace kavach::internal
