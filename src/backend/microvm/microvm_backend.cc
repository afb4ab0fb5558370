// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/microvm_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "backend/microvm/block_share.h"
#include "backend/microvm/firecracker_vm.h"
#include "backend/microvm/guest_image.h"
#include "backend/microvm/kvm_trial.h"
#include "backend/microvm/qemu_vm.h"
#include "backend/microvm/vm_spec.h"
#include "backend/microvm/vm_template.h"
#include "backend/process/process_backend.h"
#include "kavach/score.h"
#include "linux/file_util.h"
#include "linux/landlock.h"
#include "linux/seccomp.h"
#include "linux/strings.h"
#include "policy/seccomp_profiles.h"

namespace kavach::internal {
namespace {

constexpr uint64_t kDefaultMemoryMib = 256;
constexpr uint64_t kMinMemoryMib = 96;  // the Debian kernel does not boot below
constexpr uint64_t kVmmOverheadBytes = 256ull << 20;

std::string StateBase() {
  if (const char* e = std::getenv("KAVACH_MICROVM_STATE_DIR"); e != nullptr && *e == '/') return e;
  return absl::StrCat("/var/tmp/kavach-microvm-", ::geteuid());
}

std::string Tag(size_t i) { return absl::StrCat("kv", i); }

// QEMU inside kavach's own Process jail (namespaces, seccomp deny-list,
// Landlock limited to the files it needs, a cgroup), the way Firecracker's
// jailer confines Firecracker.
class JailedVmm final : public VmmProcess {
 public:
  JailedVmm(std::unique_ptr<Backend> jail, std::unique_ptr<SpawnedProcess> proc)
      : jail_(std::move(jail)), proc_(std::move(proc)) {
    waiter_ = std::thread([this] {
      absl::StatusOr<ExecResult> r = proc_->Wait();
      absl::MutexLock lock(&mu_);
      result_ = std::move(r);
      done_ = true;
    });
  }
  ~JailedVmm() override {
    Kill();
    Wait();
    (void)Release();
  }
  bool Exited() override {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  void Kill() override {
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
    }
    (void)proc_->Kill();
  }
  void Wait() override {
    if (waiter_.joinable()) waiter_.join();
  }
  std::string ExitDetail() override {
    absl::MutexLock lock(&mu_);
    if (!done_) return "";
    if (!result_.ok()) return absl::StrCat(" (", result_.status().ToString(), ")");
    std::string err = result_->stderr_data.substr(0, 300);
    return result_->signal != 0
               ? absl::StrCat(" (signal ", result_->signal, ")")
               : absl::StrCat(" (exit ", result_->exit_code, err.empty() ? "" : ": ", err, ")");
  }
  absl::Status Pause() override { return jail_->Pause(); }
  absl::Status Resume() override { return jail_->Resume(); }
  absl::Status Release() override {
    if (jail_ == nullptr) return absl::OkStatus();
    absl::Status s = jail_->Destroy();
    jail_.reset();
    return s;
  }

 private:
  std::unique_ptr<Backend> jail_;
  std::unique_ptr<SpawnedProcess> proc_;
  std::thread waiter_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<ExecResult> result_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("running");
};

// State directories are vm-<owner pid>-<random>: those whose owner is gone
// (a crashed or killed kavach) are removed by the next Prepare. Their QEMU
// died with its jail's init, or is killed here if it was spawned directly.
void RemoveStaleStateDirs(const std::string& base) {
  DIR* d = ::opendir(base.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!absl::StartsWith(name, "vm-")) continue;
    size_t dash = name.find('-', 3);
    int owner = 0;
    if (dash == std::string::npos ||
        !absl::SimpleAtoi(absl::string_view(name).substr(3, dash - 3), &owner) || owner <= 0) {
      continue;
    }
    if (::kill(owner, 0) != 0 && errno == ESRCH) stale.push_back(base + "/" + name);
  }
  ::closedir(d);
  for (const std::string& dir : stale) {
    // A VMM still serving it holds a path under it on its command line
    // (QEMU its agent socket, firecracker its API socket).
    if (DIR* p = ::opendir("/proc")) {
      while (struct dirent* e = ::readdir(p)) {
        int pid = 0;
        if (!absl::SimpleAtoi(e->d_name, &pid) || pid <= 1) continue;
        absl::StatusOr<std::string> cmd = sys::ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
        if (cmd.ok() &&
            (absl::StrContains(*cmd, "qemu-system") || absl::StrContains(*cmd, "firecracker")) &&
            absl::StrContains(*cmd, dir + "/")) {
          ::kill(pid, SIGKILL);
        }
      }
      ::closedir(p);
    }
    (void)sys::RemoveTree(dir);
  }
}

// Clones from a cached template unless KAVACH_MICROVM_CLONE=off (the CLI's
// --cold).
bool CloneWanted() {
  const char* e = std::getenv("KAVACH_MICROVM_CLONE");
  return e == nullptr || std::string(e) != "off";
}

// "9p" or "block" (MicroVmBackendOptions::share_mode).
std::string ShareMode(const MicroVmBackendOptions& o) {
  if (!o.share_mode.empty()) return o.share_mode;
  if (const char* e = std::getenv("KAVACH_MICROVM_SHARE"); e != nullptr && *e) return e;
  return "9p";
}

bool JailWanted() {
  const char* e = std::getenv("KAVACH_MICROVM_JAIL");
  return e == nullptr || std::string(e) != "off";
}

class MicroVmSpawned;

class MicroVmBackend final : public Backend {
 public:
  explicit MicroVmBackend(MicroVmBackendOptions options) : options_(std::move(options)) {}
  ~MicroVmBackend() override { (void)Destroy(); }
  MicroVmBackend(const MicroVmBackend&) = delete;
  MicroVmBackend& operator=(const MicroVmBackend&) = delete;

  BackendKind kind() const override { return BackendKind::kFirecracker; }
  absl::Status Prepare(const SandboxConfig& config, PrepareReport* report) override;
  absl::StatusOr<ExecResult> Exec(const BackendExecRequest& request) override;
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> Spawn(const BackendExecRequest& request) override;
  absl::Status Pause() override {
    if (vm_ == nullptr) return absl::FailedPreconditionError("microvm: not prepared");
    return vm_->Pause();
  }
  absl::Status Resume() override {
    if (vm_ == nullptr) return absl::FailedPreconditionError("microvm: not prepared");
    return vm_->Resume();
  }
  absl::Status Stop() override {
    uint64_t id = running_.load();
    if (vm_ != nullptr && id != 0) return vm_->KillCommand(id);
    return absl::OkStatus();
  }
  absl::Status Destroy() override {
    absl::Status s;
    if (vm_ != nullptr) {
      vm_->Abort();  // an exec still reading sees the VM gone and returns
      absl::MutexLock lock(&exec_mu_);
      s = vm_->Destroy();
      vm_.reset();
    }
    // Read-write block shares go back into their directories once the VMM
    // is gone (killed or not: what the guest wrote is in the image file).
    for (const VmDrive& d : rw_drives_) {
      absl::StatusOr<CopyOutReport> r = CopyOutExt4Image(d.host_image, d.host_path);
      if (!r.ok()) {
        // Nothing lost: the image outlives the state directory, named in
        // the error (debugfs -R "rdump / DIR" IMAGE recovers it by hand).
        std::string keep =
            absl::StrCat(StateBase(), "/unsaved-", state_dir_.substr(state_dir_.rfind('/') + 1),
                         "-", d.id, ".ext4");
        bool kept = ::rename(d.host_image.c_str(), keep.c_str()) == 0;
        if (s.ok()) {
          s = absl::Status(r.status().code(),
                           absl::StrCat(r.status().message(), kept ? "; the image is kept at " : "",
                                        kept ? keep : ""));
        }
        continue;
      }
      if (!r->dropped.empty() || !r->stripped.empty()) {
        std::fprintf(stderr, "kavach: microvm copy-out into %s: dropped %s; stripped %s\n",
                     d.host_path.c_str(), absl::StrJoin(r->dropped, "; ").c_str(),
                     absl::StrJoin(r->stripped, "; ").c_str());
      }
    }
    rw_drives_.clear();
    if (!state_dir_.empty()) {
      (void)sys::RemoveTree(state_dir_);
      state_dir_.clear();
    }
    return s;
  }

 private:
  friend class MicroVmSpawned;
  guest::ExecRequest ToGuest(const BackendExecRequest& request, uint64_t id) const;
  // What the agent applies to each command: the policy's seccomp program
  // (compiled here), Landlock rules for the guest's view, no_new_privs.
  // Controls the guest cannot apply fail closed unless optional.
  absl::Status PlanConfinement(const VmSpec& spec);
  // Prepares a Process jail for QEMU and returns a launcher that spawns it
  // there; the jail's own evidence comes back as vmm.* items.
  // `extra_exec`: directories the VMM reads and executes from
  // (firecracker's binary's).
  absl::StatusOr<VmmLauncher> JailLauncher(const VmSpec& spec, const GuestImage& image,
                                           const std::string& workdir, uint64_t memory_bytes,
                                           const std::vector<std::string>& extra_rw,
                                           std::vector<Evidence>* evidence,
                                           const std::vector<std::string>& extra_exec = {},
                                           bool kvm_device = false);
  // Runs a probe command under that confinement and turns what it saw into
  // evidence; a requested control the probe does not confirm fails closed.
  absl::Status VerifyConfinement(PrepareReport* report);

  // Block mode: turns every 9p share of `spec` into a drive (ro: cached
  // squashfs, rw: an ext4 image in the state directory).
  absl::Status SharesToDrives(VmSpec& spec, const std::string& image_cache,
                              std::vector<Evidence>* evidence);

  MicroVmBackendOptions options_;
  SandboxConfig config_;
  std::string state_dir_;
  std::vector<VmDrive> rw_drives_;  // copied out by Destroy
  std::unique_ptr<GuestVm> vm_;     // a QemuVm or a FirecrackerVm
  // Confinement applied by the agent to every command (see Prepare).
  std::string seccomp_bpf_;
  uint64_t landlock_handled_ = 0;
  std::vector<std::pair<uint64_t, std::string>> landlock_rules_;
  absl::Mutex exec_mu_;  // one command at a time per VM
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> running_{0};
};

class MicroVmSpawned final : public SpawnedProcess {
 public:
  MicroVmSpawned(MicroVmBackend* backend, BackendExecRequest request) : backend_(backend) {
    thread_ =
        std::thread([this, request = std::move(request)] { result_ = backend_->Exec(request); });
  }
  ~MicroVmSpawned() override {
    if (thread_.joinable()) {
      (void)Kill();
      thread_.join();
    }
  }
  absl::StatusOr<ExecResult> Wait() override {
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  absl::Status Kill() override {
    uint64_t id = backend_->running_.load();
    if (id != 0 && backend_->vm_ != nullptr) return backend_->vm_->KillCommand(id);
    return absl::OkStatus();
  }
  pid_t pid() const override { return 0; }  // the command's pid lives in the guest

 private:
  MicroVmBackend* backend_;
  std::thread thread_;
  absl::StatusOr<ExecResult> result_ = absl::UnknownError("not finished");
};

std::string ChooseVmm(const MicroVmBackendOptions& o) {
  if (!o.vmm.empty()) return o.vmm;
  if (const char* e = std::getenv("KAVACH_VMM"); e != nullptr && *e) return e;
  return "auto";
}

absl::Status MicroVmBackend::Prepare(const SandboxConfig& config, PrepareReport* report) {
  if (vm_ != nullptr) return absl::FailedPreconditionError("microvm backend already prepared");
  config_ = config;
  const SandboxPolicy& policy = config.policy;
  absl::Time t0 = absl::Now();

  // The VMM: firecracker needs its binary and a KVM that boots a guest; the
  // KVM trial (below) needs QEMU and the guest image, so a forced
  // firecracker fails early only on what is known before it.
  std::string vmm = ChooseVmm(options_);
  if (vmm != "qemu" && vmm != "auto" && vmm != "firecracker") {
    return absl::InvalidArgumentError(
        absl::StrCat("microvm: unknown VMM '", vmm, "' (qemu|firecracker)"));
  }
  AcceleratorChoice accel = ChooseAccelerator(ReadKvmFacts());
  absl::StatusOr<std::string> fc = FindFirecracker(options_);
  const bool fc_without_kvm = options_.testonly_firecracker_without_kvm;
  if (vmm == "firecracker" && !fc.ok()) {
    return absl::UnavailableError(
        absl::StrCat("microvm: --vmm firecracker: ", fc.status().message()));
  }
  if (vmm == "firecracker" && accel.accelerator != "kvm" && !fc_without_kvm) {
    return absl::UnavailableError(
        absl::StrCat("microvm: --vmm firecracker: firecracker needs KVM: ", accel.reason));
  }
  std::string qemu = options_.qemu_path;
  if (qemu.empty()) {
    absl::StatusOr<std::string> q = sys::FindInPath("qemu-system-x86_64");
    if (!q.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "microvm: qemu-system-x86_64 not found in PATH (install qemu-system-x86)",
          vmm == "firecracker" ? "; it boots the KVM trial guest firecracker depends on" : ""));
    }
    qemu = *q;
  }

  std::string share_mode = ShareMode(options_);
  if (share_mode != "9p" && share_mode != "block") {
    return absl::InvalidArgumentError(
        absl::StrCat("microvm: unknown share mode '", share_mode, "' (9p|block)"));
  }

  // Network none: no NIC at all. Host: a virtio-net NIC on QEMU's user-mode
  // network (slirp: outbound NAT through the VMM's own sockets, no tap, no
  // privilege). Anything else (proxy) has no guest-side enforcement yet.
  const bool net_host = policy.network.mode == NetworkMode::kHost;
  if (policy.network.mode != NetworkMode::kNone && !net_host) {
    return absl::FailedPreconditionError(
        absl::StrCat("network: the microvm backend supports network modes none and host; mode ",
                     ToAbsl(NetworkModeName(policy.network.mode)), " is not supported"));
  }
  if (vmm == "firecracker" && net_host) {
    return absl::FailedPreconditionError(
        "network: mode host on --vmm firecracker is not supported: Firecracker's network "
        "interfaces need a host tap device, which kavach does not set up; use --vmm qemu "
        "(user-mode networking)");
  }

  // The guest image (built once, cached by the inputs' digests).
  absl::StatusOr<GuestImageInputs> inputs = DefaultGuestImageInputs();
  if (!inputs.ok()) return inputs.status();
  const std::string image_cache =
      options_.image_cache.empty() ? DefaultImageCacheDir() : options_.image_cache;
  absl::StatusOr<GuestImage> image = EnsureGuestImage(*inputs, image_cache);
  if (!image.ok()) return image.status();
  // KVM only once a guest really booted under it (once per host boot).
  accel = ConfirmKvmByTrialBoot(accel, {.qemu = qemu,
                                        .vmlinux = image->vmlinux,
                                        .busybox = inputs->busybox,
                                        .cache_dir = image_cache});
  absl::Time t_image = absl::Now();
  report->steps.push_back({image->built ? "vm.image_build" : "vm.image_cached", t_image - t0});
  bool use_fc = false;
  std::string vmm_choice;
  if (vmm == "firecracker") {
    if (accel.accelerator != "kvm" && !fc_without_kvm) {
      return absl::UnavailableError(
          absl::StrCat("microvm: --vmm firecracker: firecracker needs KVM: ", accel.reason));
    }
    use_fc = true;
    vmm_choice = absl::StrCat("firecracker at ", *fc, " (forced: --vmm / KAVACH_VMM); ",
                              accel.accelerator == "kvm"
                                  ? accel.reason
                                  : absl::StrCat("without KVM by the tests-only option (the "
                                                 "fake firecracker boots under TCG): ",
                                                 accel.reason),
                              "; QEMU not used");
  } else if (vmm == "auto" && fc.ok() && accel.accelerator == "kvm" && net_host) {
    vmm_choice = absl::StrCat("QEMU -M microvm at ", qemu, "; firecracker at ", *fc,
                              " not used: network host needs QEMU's user-mode networking "
                              "(Firecracker's NICs need a host tap device)");
  } else if (vmm == "auto" && fc.ok() && accel.accelerator == "kvm") {
    use_fc = true;
    vmm_choice =
        absl::StrCat("firecracker at ", *fc, " (found, and ", accel.reason, "); QEMU not used");
  } else if (vmm == "auto") {
    vmm_choice =
        absl::StrCat("QEMU -M microvm at ", qemu, "; firecracker not used: ",
                     fc.ok() ? absl::StrCat("found at ", *fc, " but it needs KVM: ", accel.reason)
                             : std::string(fc.status().message()));
  } else {
    vmm_choice = absl::StrCat("QEMU -M microvm at ", qemu, " (forced: --vmm / KAVACH_VMM)",
                              fc.ok() ? absl::StrCat("; firecracker at ", *fc, " not used") : "");
  }

  // Firecracker has no 9p: its shares are always block devices (and it
  // boots cold, see below). QEMU in block mode cannot clone.
  if (use_fc) share_mode = "block";
  if (!use_fc && share_mode == "block" && CloneWanted()) {
    return absl::FailedPreconditionError(
        "microvm: block-device shares boot cold: a warm clone restores its template's devices, "
        "which carry no drives; turn clones off (KAVACH_MICROVM_CLONE=off, kavach exec --cold) "
        "or use 9p shares");
  }

  // Per-sandbox state: sockets, console, and the working directory when the
  // config brings none.
  std::string base = StateBase();
  if (absl::Status s = sys::MakePrivateDir(base, 0700); !s.ok()) return s;
  RemoveStaleStateDirs(base);
  std::string tmpl = absl::StrCat(base, "/vm-", ::getpid(), "-XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) return sys::ErrnoStatus(errno, "mkdtemp " + tmpl);
  state_dir_ = tmpl;
  std::string workdir = config.host_workdir;
  if (workdir.empty()) {
    workdir = state_dir_ + "/work";
    if (::mkdir(workdir.c_str(), 0755) != 0) return sys::ErrnoStatus(errno, workdir);
    // The command runs as the policy's uid inside; 9p passes host ownership
    // through, so a fresh directory belongs to that uid.
    if (::geteuid() == 0 && ::chown(workdir.c_str(), policy.uid, policy.gid) != 0) {
      return sys::ErrnoStatus(errno, absl::StrCat("chown ", workdir));
    }
  } else {
    char real[PATH_MAX];
    if (::realpath(workdir.c_str(), real) == nullptr) return sys::ErrnoStatus(errno, workdir);
    workdir = real;
  }

  VmSpec spec;
  spec.vmlinux = image->vmlinux;
  spec.initrd = image->initrd;
  spec.accelerator = accel.accelerator;
  spec.tsc_khz = HostTscKhz();
  spec.agent_socket = state_dir_ + "/agent.sock";
  spec.console_log = state_dir_ + "/console.log";
  uint64_t mem_mib = kDefaultMemoryMib;
  if (policy.limits.memory_bytes) mem_mib = *policy.limits.memory_bytes >> 20;
  if (mem_mib < kMinMemoryMib) {
    return absl::FailedPreconditionError(
        absl::StrCat("cgroup.memory: the microvm guest needs at least ", kMinMemoryMib,
                     " MiB; the policy allows ", mem_mib));
  }
  spec.memory_mib = static_cast<uint32_t>(std::min<uint64_t>(mem_mib, 65536));
  spec.cpus = 1;
  if (policy.limits.cpu_cores) {
    spec.cpus = static_cast<uint32_t>(std::max(1.0, std::ceil(*policy.limits.cpu_cores)));
  }
  // The host's system directories, as the host lays them out.
  size_t tag = 0;
  spec.shares.push_back({Tag(tag++), "/usr", "/usr", true});
  for (const char* dir : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    struct stat st;
    if (::lstat(dir, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = ::readlink(dir, target, sizeof target - 1);
      if (n <= 0) continue;
      std::string t(target, static_cast<size_t>(n));
      if (absl::StartsWith(t, "usr/") || absl::StartsWith(t, "/usr/")) {
        spec.links.emplace_back(dir, t[0] == '/' ? t.substr(1) : t);
      }
    } else if (S_ISDIR(st.st_mode)) {
      spec.shares.push_back({Tag(tag++), dir, dir, true});
    }
  }
  for (const std::string& p : policy.filesystem.read_only) {
    spec.shares.push_back({Tag(tag++), p, p, true});
  }
  for (const std::string& p : policy.filesystem.read_write) {
    spec.shares.push_back({Tag(tag++), p, p, false});
  }
  spec.shares.push_back({Tag(tag++), workdir, policy.working_directory, false});
  std::vector<Evidence> share_evidence;
  if (share_mode == "block") {
    absl::Time t_share = absl::Now();
    if (absl::Status s = SharesToDrives(spec, image_cache, &share_evidence); !s.ok()) return s;
    report->steps.push_back({"vm.block_images", absl::Now() - t_share});
  } else {
    share_evidence.push_back({"vm.share_images", true,
                              absl::StrCat(spec.shares.size(),
                                           " directories over virtio-9p (read-only ones cached, "
                                           "read-write ones written through)"),
                              0});
  }
  if (absl::Status s = ValidateVmSpec(spec); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("microvm: ", s.message()));
  }

  spec.read_only_root = policy.filesystem.read_only_root;
  // Part of the QEMU command line, so of the template key too: a host-mode
  // sandbox clones only a template booted with the NIC.
  spec.network = net_host;
  if (absl::Status s = PlanConfinement(spec); !s.ok()) return s;

  sys::CgroupLimits cg;
  cg.memory_bytes = (static_cast<uint64_t>(spec.memory_mib) << 20) + kVmmOverheadBytes;
  cg.max_pids = 512;
  std::string cgroup_detail;
  bool in_cgroup = false;
  std::vector<Evidence> jail_evidence;
  // A launcher for one VM (template or sandbox); `extra_rw` are files QEMU
  // must open read-write besides its state directory (a template's RAM).
  auto make_launcher = [&](const VmSpec& vspec, const std::vector<std::string>& extra_rw,
                           const std::string& log) -> absl::StatusOr<VmmLauncher> {
    if (JailWanted()) {
      jail_evidence.clear();
      return JailLauncher(vspec, *image, workdir, *cg.memory_bytes, extra_rw, &jail_evidence);
    }
    return DirectVmmLauncher(log, cg, &cgroup_detail, &in_cgroup);
  };

  // This sandbox's identity, clock and mounts, sent to the agent before any
  // command (a clone resumes with its template's hostname, RNG and clock).
  guest::Start start;
  {
    unsigned char rnd[20];
    if (::getrandom(rnd, sizeof rnd, 0) != static_cast<ssize_t>(sizeof rnd)) {
      return sys::ErrnoStatus(errno, "getrandom");
    }
    std::string hex;
    for (unsigned char c : rnd) absl::StrAppend(&hex, absl::Hex(c, absl::kZeroPad2));
    start.machine_id = hex.substr(0, 32);
    start.hostname = absl::StrCat("kavach-", hex.substr(32, 8));
    start.mounts = GuestMounts(spec);
    start.network = spec.network;
  }
  absl::Time t_jail = absl::Now();
  std::string clone_detail = "cold boot (KAVACH_MICROVM_CLONE=off or --cold)";
  bool cloned = false;
  if (use_fc) {
    // Warm clones are QEMU's (migration to a RAM file); Firecracker's
    // snapshots are not driven, so a firecracker sandbox boots cold.
    clone_detail = CloneWanted() ? "cold boot: warm clones are QEMU-only (Firecracker snapshots "
                                   "are not driven), so firecracker boots every sandbox"
                                 : clone_detail;
    std::string run_dir = state_dir_ + "/fc";
    if (::mkdir(run_dir.c_str(), 0700) != 0) return sys::ErrnoStatus(errno, run_dir);
    if (::geteuid() == 0 && ::chown(run_dir.c_str(), policy.uid, policy.gid) != 0) {
      return sys::ErrnoStatus(errno, absl::StrCat("chown ", run_dir));
    }
    FirecrackerVmOptions fo;
    fo.firecracker = *fc;
    fo.run_dir = run_dir;
    fo.connect_timeout = options_.boot_timeout;
    if (::geteuid() == 0) {
      fo.socket_uid = policy.uid;
      fo.socket_gid = policy.gid;
    }
    if (JailWanted()) {
      // Firecracker's own file: its binary's directory (JailLauncher adds
      // the drive images).
      jail_evidence.clear();
      absl::StatusOr<VmmLauncher> l =
          JailLauncher(spec, *image, workdir, *cg.memory_bytes, {}, &jail_evidence,
                       {fc->substr(0, fc->rfind('/'))},
                       /*kvm_device=*/!fc_without_kvm || ::access("/dev/kvm", F_OK) == 0);
      if (!l.ok()) return l.status();
      fo.launcher = *std::move(l);
    } else {
      fo.launcher = DirectVmmLauncher(run_dir + "/firecracker.log", cg, &cgroup_detail, &in_cgroup);
    }
    report->steps.push_back({"vm.vmm_jail", absl::Now() - t_jail});
    absl::Time t_start = absl::Now();
    absl::StatusOr<std::unique_ptr<FirecrackerVm>> vm = FirecrackerVm::Start(spec, fo);
    if (!vm.ok()) return vm.status();
    vm_ = *std::move(vm);
    absl::StatusOr<guest::Hello> hello = vm_->WaitReady(options_.boot_timeout);
    if (!hello.ok()) return hello.status();
    if (absl::Status s = vm_->StartGuest(start, absl::Seconds(30)); !s.ok()) return s;
    report->steps.push_back({"vm.boot", absl::Now() - t_start});
  } else if (CloneWanted()) {
    std::string cache =
        options_.image_cache.empty() ? DefaultImageCacheDir() : options_.image_cache;
    std::string key = TemplateKey(*image, qemu, spec, policy.uid, policy.gid);
    absl::StatusOr<std::optional<VmTemplate>> found = FindTemplate(cache, key);
    if (!found.ok()) return found.status();
    std::optional<VmTemplate> tmpl = *std::move(found);
    bool built = false;
    if (!tmpl) {
      // Boot the template: the same VM with its RAM in a shared file and a
      // QMP socket, saved once its agent says hello (nothing mounted).
      absl::StatusOr<VmTemplate> b = BuildTemplate(
          cache, key, spec.memory_mib, policy.uid, policy.gid,
          [&](const std::string& ram, const std::string& state) -> absl::Status {
            VmSpec ts = spec;
            ts.memory_file = ram;
            ts.memory_shared = true;
            ts.qmp_socket = state_dir_ + "/tmpl-qmp.sock";
            ts.agent_socket = state_dir_ + "/tmpl-agent.sock";
            ts.console_log = state_dir_ + "/tmpl-console.log";
            // A boot that never says hello is retried once (rare under TCG on
            // a loaded host), on zeroed RAM.
            absl::StatusOr<std::unique_ptr<QemuVm>> tvm = absl::UnknownError("not started");
            for (int attempt = 0; attempt < 2; ++attempt) {
              if (attempt > 0 && (::truncate(ram.c_str(), 0) != 0 ||
                                  ::truncate(ram.c_str(), off_t{spec.memory_mib} << 20) != 0)) {
                return sys::ErrnoStatus(errno, "truncate " + ram);
              }
              absl::StatusOr<VmmLauncher> l =
                  make_launcher(ts, {ram}, state_dir_ + "/tmpl-qemu.log");
              if (!l.ok()) return l.status();
              tvm = QemuVm::Start(qemu, ts, state_dir_, *l);
              if (!tvm.ok()) return tvm.status();
              absl::StatusOr<guest::Hello> h = (*tvm)->WaitReady(options_.boot_timeout);
              if (h.ok()) break;
              if (attempt > 0 || !absl::IsDeadlineExceeded(h.status())) return h.status();
            }
            absl::Status saved = (*tvm)->SaveState(state, absl::Seconds(60));
            absl::Status gone = (*tvm)->Destroy();
            return saved.ok() ? gone : saved;
          });
      if (!b.ok()) return b.status();
      tmpl = *std::move(b);
      built = true;
      report->steps.push_back({"vm.template_build", absl::Now() - t_jail});
      t_jail = absl::Now();
    }
    VmSpec cs = spec;
    cs.memory_file = tmpl->ram;
    cs.memory_shared = false;  // copy-on-write: the template's file is never written
    cs.qmp_socket = state_dir_ + "/qmp.sock";
    cs.incoming = true;
    absl::StatusOr<VmmLauncher> launcher = make_launcher(cs, {tmpl->ram}, state_dir_ + "/qemu.log");
    if (!launcher.ok()) return launcher.status();
    report->steps.push_back({"vm.vmm_jail", absl::Now() - t_jail});
    absl::Time t_start = absl::Now();
    absl::StatusOr<std::unique_ptr<QemuVm>> vm = QemuVm::Start(qemu, cs, state_dir_, *launcher);
    if (!vm.ok()) return vm.status();
    QemuVm* clone = vm->get();
    vm_ = *std::move(vm);
    if (absl::Status s = clone->LoadState(tmpl->state, absl::Seconds(30)); !s.ok()) {
      (void)vm_->Destroy();
      return absl::Status(s.code(),
                          absl::StrCat("microvm clone of template ", tmpl->dir, ": ", s.message()));
    }
    if (absl::Status s = vm_->StartGuest(start, absl::Seconds(30)); !s.ok()) return s;
    report->steps.push_back({"vm.clone", absl::Now() - t_start});
    cloned = true;
    clone_detail = absl::StrCat(
        "copy-on-write clone of template ", tmpl->dir, built ? " (built now)" : " (cached)",
        ", restored and started in ", absl::FormatDuration(vm_->boot_time()),
        "; its RAM file is mapped private but bound read-write into the VMM jail (QEMU 7.2 "
        "opens mem-path read-write), its ctime stamp checked before each clone");
  } else {
    absl::StatusOr<VmmLauncher> launcher = make_launcher(spec, {}, state_dir_ + "/qemu.log");
    if (!launcher.ok()) return launcher.status();
    report->steps.push_back({"vm.vmm_jail", absl::Now() - t_jail});
    absl::Time t_start = absl::Now();
    absl::StatusOr<std::unique_ptr<QemuVm>> vm = QemuVm::Start(qemu, spec, state_dir_, *launcher);
    if (!vm.ok()) return vm.status();
    vm_ = *std::move(vm);
    absl::StatusOr<guest::Hello> hello = vm_->WaitReady(options_.boot_timeout);
    if (!hello.ok()) return hello.status();
    if (absl::Status s = vm_->StartGuest(start, absl::Seconds(30)); !s.ok()) return s;
    report->steps.push_back({"vm.boot", absl::Now() - t_start});
  }
  absl::Time t_boot = absl::Now();

  // Fresh entropy before any command: the guest starts from the same image
  // (and, for clones, from the same memory) as every other.
  std::string seed(64, '\0');
  if (::getrandom(seed.data(), seed.size(), 0) != static_cast<ssize_t>(seed.size())) {
    return sys::ErrnoStatus(errno, "getrandom");
  }
  absl::StatusOr<uint32_t> bits = vm_->Reseed(seed, absl::Seconds(10));
  if (!bits.ok()) return bits.status();
  if (cloned && *bits == 0) {
    // A clone's CRNG is its template's until reseeded: fail closed.
    return absl::FailedPreconditionError(
        "microvm: the clone's kernel RNG could not be reseeded (RNDADDENTROPY/RNDRESEEDCRNG)");
  }
  report->steps.push_back({"vm.reseed", absl::Now() - t_boot});

  // The guest's kernel is the image's (a clone's hello went to its template).
  std::string guest_release = image->kernel_release;
  std::string host_release;
  if (absl::StatusOr<std::string> r = sys::ReadFile("/proc/sys/kernel/osrelease"); r.ok()) {
    host_release = std::string(absl::StripTrailingAsciiWhitespace(*r));
  }
  report->evidence.push_back(
      {"base:firecracker", true,
       absl::StrCat("guest kernel ", guest_release, " (host ", host_release, ") ",
                    cloned ? "cloned" : "booted",
                    use_fc ? " under Firecracker (agent over vsock), accel "
                           : " under QEMU -M microvm, accel ",
                    spec.accelerator, " (", accel.reason, "); agent ready after ",
                    absl::FormatDuration(vm_->boot_time())),
       BaseScore(BackendKind::kFirecracker)});
  // Facts for `kavach exec --json` (vmm, accelerator, guest_kernel, clone).
  report->evidence.push_back({"vm.vmm", true, use_fc ? "firecracker" : "qemu", 0});
  report->evidence.push_back({"vm.vmm_choice", true, vmm_choice, 0});
  report->evidence.push_back({"vm.accelerator", true, spec.accelerator, 0});
  report->evidence.push_back({"vm.guest_kernel", true, guest_release, 0});
  report->evidence.push_back({"vm.clone", cloned, clone_detail, 0});
  report->evidence.push_back({"vm.share", true, share_mode, 0});
  for (Evidence& e : share_evidence) report->evidence.push_back(std::move(e));
  report->evidence.push_back(
      {"vm.identity", true,
       absl::StrCat("hostname ", start.hostname, ", machine-id ", start.machine_id,
                    ", clock set from the host before the first command"),
       0});
  if (spec.network) {
    // No points, as the Process backend gives none for network host. The
    // agent's start-done confirmed the NIC was set up (else Prepare failed).
    report->evidence.push_back(
        {"network", true,
         absl::StrCat("network host: a virtio-net NIC on QEMU user-mode networking (slirp, "
                      "outbound NAT through the VMM's sockets; the host's loopback is 10.0.2.2), "
                      "guest 10.0.2.15/24 in the commands' network namespace; ",
                      JailWanted() ? "the VMM's jail shares the host's network namespace"
                                   : "QEMU runs unjailed in the host's network namespace"),
         0});
  } else {
    report->evidence.push_back({"network isolated", true,
                                use_fc ? "no network device attached (no PUT /network-interfaces)"
                                       : "no network device attached (-nodefaults, no -netdev)",
                                5});
  }
  report->evidence.push_back(
      {"memory/cpu limits", true,
       use_fc ? absl::StrCat("guest RAM mem_size_mib ", spec.memory_mib, ", vcpu_count ", spec.cpus,
                             " (machine-config)")
              : absl::StrCat("guest RAM -m ", spec.memory_mib, " MiB, -smp ", spec.cpus),
       2});
  report->evidence.push_back(
      {"vm.entropy_reseed", bits.ok() && *bits > 0,
       absl::StrCat("64 host random bytes mixed in, ", *bits,
                    " bits credited, CRNG reseeded before the first command"),
       0});
  if (JailWanted()) {
    for (Evidence& e : jail_evidence) report->evidence.push_back(std::move(e));
  } else {
    report->evidence.push_back({"vmm.cgroup", in_cgroup, cgroup_detail, 0});
  }
  if (absl::Status s = VerifyConfinement(report); !s.ok()) return s;
  report->steps.push_back({"vm.verify", absl::Now() - t_boot});
  report->evidence.push_back(
      {"vmm.clean_spawn", true,
       use_fc         ? absl::StrCat("firecracker ",
                             JailWanted() ? "runs in kavach's Process jail"
                                                  : "spawned unjailed (KAVACH_MICROVM_JAIL=off)",
                                     " with an empty environment and no inherited descriptors; its own "
                                             "seccomp filters are on by default")
       : JailWanted() ? "QEMU runs in kavach's Process jail with an empty environment, and "
                        "-sandbox on (its own seccomp: no spawn, no privilege changes)"
                      : "QEMU spawned with an empty environment, only stdin/stdout/stderr open, "
                        "its own session, and -sandbox on (seccomp; no spawn, no privilege "
                        "changes); not jailed (KAVACH_MICROVM_JAIL=off)",
       0});
  return absl::OkStatus();
}

guest::ExecRequest MicroVmBackend::ToGuest(const BackendExecRequest& request, uint64_t id) const {
  const SandboxPolicy& policy = config_.policy;
  guest::ExecRequest g;
  g.id = id;
  g.argv = request.argv;
  g.env = request.env;
  g.cwd = request.cwd.empty() ? policy.working_directory : request.cwd;
  g.uid = policy.uid;
  g.gid = policy.gid;
  g.timeout_ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(request.timeout));
  if (request.stdin_data) {
    g.has_stdin = true;
    g.stdin_data = *request.stdin_data;
  }
  g.max_open_files = policy.limits.max_open_files.value_or(0);
  g.max_file_size = policy.limits.max_file_size_bytes.value_or(0);
  // RLIMIT_NPROC counts the uid's processes, in a guest that has no others.
  g.max_processes = policy.limits.max_pids.value_or(0);
  g.no_new_privs = true;
  g.landlock_handled = landlock_handled_;
  g.landlock_rules = landlock_rules_;
  g.seccomp_bpf = seccomp_bpf_;
  return g;
}

absl::StatusOr<VmmLauncher> MicroVmBackend::JailLauncher(
    const VmSpec& spec, const GuestImage& image, const std::string& workdir, uint64_t memory_bytes,
    const std::vector<std::string>& extra_rw, std::vector<Evidence>* evidence,
    const std::vector<std::string>& extra_exec, bool kvm_device) {
  const SandboxPolicy& policy = config_.policy;
  SandboxConfig jc;
  jc.backend = BackendKind::kProcess;
  jc.policy = SandboxPolicy::Basic();  // seccomp deny-list, Landlock file rules
  jc.policy.working_directory = "/vmm";
  jc.policy.uid = policy.uid;
  jc.policy.gid = policy.gid;
  jc.policy.filesystem.read_only = {image.dir};
  jc.policy.filesystem.read_write = {state_dir_};
  // The working directory when QEMU serves it over 9p (in block mode QEMU
  // sees only the images, never the directories).
  bool workdir_9p = false;
  for (const VmShare& share : spec.shares) workdir_9p |= share.host_path == workdir;
  if (workdir_9p && workdir.rfind(state_dir_ + "/", 0) != 0) {
    jc.policy.filesystem.read_write.push_back(workdir);
  }
  for (const VmDrive& d : spec.drives) {
    if (d.host_image.rfind(state_dir_ + "/", 0) == 0) continue;
    (d.read_only ? jc.policy.filesystem.read_only : jc.policy.filesystem.read_write)
        .push_back(d.host_image);
  }
  // A template's RAM file: QEMU 7.2 opens mem-path read-write even for the
  // private (copy-on-write) mapping of a clone.
  for (const std::string& p : extra_rw) jc.policy.filesystem.read_write.push_back(p);
  for (const std::string& p : extra_exec) {
    jc.policy.filesystem.read_only.push_back(p);
    jc.policy.filesystem.executable.push_back(p);
  }
  for (const VmShare& share : spec.shares) {
    if (share.host_path == workdir || share.host_path == "/usr") continue;
    bool system = false;
    for (const char* d : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
      system |= share.host_path == d;
    }
    if (system) continue;
    (share.read_only ? jc.policy.filesystem.read_only : jc.policy.filesystem.read_write)
        .push_back(share.host_path);
  }
  // KVM (QEMU with -accel kvm; Firecracker always, also the test fake that
  // runs without it): the VMM opens /dev/kvm itself, so the jail binds it in (the
  // minimal /dev has no such node). The node is usually 0660 root:kvm and
  // the jail drops every supplementary group, so as root the VMM runs with
  // the node's group as its gid; unprivileged, the user's own groups stay
  // (setgroups is denied in the namespace) and decided the KVM trial already.
  ProcessBackendOptions jail_options;
  if (spec.accelerator == "kvm" || kvm_device) {
    jail_options.device_nodes.push_back("/dev/kvm");
    struct stat kvm;
    if (::stat("/dev/kvm", &kvm) != 0) return sys::ErrnoStatus(errno, "vmm jail: /dev/kvm");
    bool other_rw = (kvm.st_mode & 06) == 06;
    bool owner_rw = kvm.st_uid == policy.uid && (kvm.st_mode & 0600) == 0600;
    if (::geteuid() == 0 && !other_rw && !owner_rw) {
      if ((kvm.st_mode & 060) != 060) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "vmm jail: /dev/kvm (mode %04o, uid %d, gid %d) is not readable and writable by the "
            "VMM's uid %d or a group it can take",
            kvm.st_mode & 07777, kvm.st_uid, kvm.st_gid, policy.uid));
      }
      jc.policy.gid = kvm.st_gid;
    }
  }
  jc.policy.limits.memory_bytes = memory_bytes;
  jc.policy.limits.max_pids = 512;
  // Slirp's sockets are the VMM's own: with a NIC the VMM needs the host's
  // network namespace, else none (its jail has only a loopback).
  jc.policy.network.mode = spec.network ? NetworkMode::kHost : NetworkMode::kNone;
  // The jail's host user: as root, the owner of its working directory.
  std::string jail_home = state_dir_ + "/vmm";
  if (::mkdir(jail_home.c_str(), 0700) != 0 && errno != EEXIST) {
    return sys::ErrnoStatus(errno, jail_home);
  }
  if (::geteuid() == 0) {
    for (const std::string& p : {state_dir_, jail_home}) {
      if (::chown(p.c_str(), policy.uid, jc.policy.gid) != 0) {
        return sys::ErrnoStatus(errno, absl::StrCat("chown ", p));
      }
    }
  }
  jc.host_workdir = jail_home;
  absl::StatusOr<std::unique_ptr<Backend>> jail = CreateProcessBackend(std::move(jail_options));
  if (!jail.ok()) return jail.status();
  PrepareReport jr;
  if (absl::Status s = (*jail)->Prepare(jc, &jr); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("vmm jail: ", s.message(),
                                               " (KAVACH_MICROVM_JAIL=off runs QEMU unjailed)"));
  }
  for (Evidence& e : jr.evidence) {
    evidence->push_back({absl::StrCat("vmm.", e.control), e.verified, std::move(e.detail), 0});
  }
  auto shared_jail = std::make_shared<std::unique_ptr<Backend>>(*std::move(jail));
  return VmmLauncher([shared_jail](const std::vector<std::string>& argv)
                         -> absl::StatusOr<std::unique_ptr<VmmProcess>> {
    if (*shared_jail == nullptr) return absl::FailedPreconditionError("vmm jail already used");
    BackendExecRequest req;
    req.argv = argv;
    req.cwd = "/vmm";
    req.timeout = absl::Hours(24 * 30);
    req.max_output_bytes = 64 * 1024;
    absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = (*shared_jail)->Spawn(req);
    if (!p.ok()) return p.status();
    return std::unique_ptr<VmmProcess>(new JailedVmm(std::move(*shared_jail), *std::move(p)));
  });
}

absl::Status MicroVmBackend::SharesToDrives(VmSpec& spec, const std::string& image_cache,
                                            std::vector<Evidence>* evidence) {
  std::string usr = options_.block_usr;
  if (usr.empty()) {
    const char* e = std::getenv("KAVACH_MICROVM_BLOCK_USR");
    usr = e != nullptr && *e == '/' ? e : "/usr";
  }
  std::vector<std::string> notes;
  for (const VmShare& share : spec.shares) {
    VmDrive d;
    d.id = share.tag;
    d.guest_path = share.guest_path;
    d.host_path = share.host_path;
    d.read_only = share.read_only;
    if (share.read_only) {
      if (share.guest_path == "/usr" && share.host_path == "/usr") d.host_path = usr;
      absl::StatusOr<SquashfsImage> img =
          EnsureSquashfsImage(d.host_path, absl::StrCat(image_cache, "/squashfs"));
      if (!img.ok()) {
        return absl::Status(img.status().code(),
                            absl::StrCat("microvm: read-only block share ", d.host_path, ": ",
                                         img.status().message()));
      }
      d.host_image = img->path;
      d.fstype = "squashfs";
      notes.push_back(absl::StrCat(d.guest_path, " squashfs ", d.host_image, " of ", d.host_path,
                                   img->built ? " (built now)" : " (cached)"));
    } else {
      d.host_image = absl::StrCat(state_dir_, "/", share.tag, ".ext4");
      d.fstype = "ext4";
      if (absl::Status s = MakeExt4Image(d.host_path, d.host_image, options_.block_rw_bytes);
          !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("microvm: read-write block share ", d.host_path,
                                                   ": ", s.message()));
      }
      // QEMU runs as the policy's uid (JailLauncher) and opens it read-write.
      if (::geteuid() == 0 &&
          ::chown(d.host_image.c_str(), config_.policy.uid, config_.policy.gid) != 0) {
        return sys::ErrnoStatus(errno, absl::StrCat("chown ", d.host_image));
      }
      rw_drives_.push_back(d);
      notes.push_back(absl::StrCat(d.guest_path, " ext4 image of ", d.host_path,
                                   ", copied back in user space (debugfs) at Destroy"));
    }
    spec.drives.push_back(std::move(d));
  }
  spec.shares.clear();
  evidence->push_back(
      {"vm.share_images", true,
       absl::StrCat("virtio-blk drives, mounted nosuid,nodev: ", absl::StrJoin(notes, "; ")), 0});
  return absl::OkStatus();
}

absl::Status MicroVmBackend::PlanConfinement(const VmSpec& spec) {
  const SandboxPolicy& policy = config_.policy;
  if (policy.seccomp != SeccompProfile::kNone) {
    absl::StatusOr<std::shared_ptr<const sys::SeccompProgram>> prog =
        SeccompProgramFor(policy.seccomp);
    if (!prog.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("seccomp: ", prog.status().message()));
    }
    const std::vector<sock_filter>& ins = (*prog)->instructions();
    seccomp_bpf_.assign(reinterpret_cast<const char*>(ins.data()),
                        ins.size() * sizeof(sock_filter));
    if (seccomp_bpf_.size() > guest::kMaxSeccompBytes) {
      return absl::FailedPreconditionError("seccomp: program larger than the agent accepts");
    }
  }
  if (policy.network.tcp_bind_ports || policy.network.tcp_connect_ports) {
    // Landlock TCP rules need ABI 4; Debian 12's guest kernel has ABI 2.
    // With network none there is no TCP beyond the guest's loopback.
    if (!policy.IsOptional(Control::kLandlockNetwork)) {
      return absl::FailedPreconditionError(
          "landlock.net: the guest kernel (Landlock ABI 2) cannot apply TCP port rules; list it "
          "in optional_controls");
    }
  }
  if (policy.filesystem.landlock) {
    // ABI 2: every file-system right through REFER.
    landlock_handled_ = sys::kLandlockFsRefer | (sys::kLandlockFsRefer - 1);
    auto add = [&](const std::string& path, uint64_t access) {
      landlock_rules_.emplace_back(access & landlock_handled_, path);
    };
    add("/", sys::kLandlockFsReadDir);
    add("/usr", sys::kLandlockReadExec);
    for (const VmShare& share : spec.shares) {
      if (share.guest_path == "/usr") continue;
      add(share.guest_path, share.read_only ? sys::kLandlockReadExec : sys::kLandlockReadWrite);
    }
    for (const VmDrive& d : spec.drives) {
      if (d.guest_path == "/usr") continue;
      add(d.guest_path, d.read_only ? sys::kLandlockReadExec : sys::kLandlockReadWrite);
    }
    add("/etc", sys::kLandlockRead);
    add("/proc", sys::kLandlockRead);
    add("/sys", sys::kLandlockRead);
    add("/dev", sys::kLandlockFsReadDir | sys::kLandlockFsReadFile | sys::kLandlockFsWriteFile);
    add("/tmp", sys::kLandlockReadWrite);
  }
  return absl::OkStatus();
}

absl::Status MicroVmBackend::VerifyConfinement(PrepareReport* report) {
  const SandboxPolicy& policy = config_.policy;
  BackendExecRequest probe;
  // One program besides the shell (each costs tens of ms under TCG; the
  // shell's `read` would cost a system call per byte).
  probe.argv = {"/bin/sh", "-c",
                "cat /proc/self/status /proc/mounts; "
                "(: < /kavach/agent) 2>/dev/null && echo LANDLOCK=open || echo LANDLOCK=denied; "
                "kill -0 1 2>/dev/null && echo SIGNAL=open || echo SIGNAL=denied; "
                "printf NOFILE=; ulimit -n; printf FSIZE=; ulimit -f"};
  probe.env = {"PATH=/usr/bin:/bin"};
  probe.cwd = policy.working_directory;
  probe.timeout = absl::Seconds(20);
  absl::StatusOr<ExecResult> r = Exec(probe);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("microvm: the confinement probe failed in the guest (exit ", r->exit_code,
                     ", signal ", r->signal, "): ", r->stderr_data.substr(0, 300)));
  }
  std::map<std::string, std::string> kv;
  bool root_ro = false;
  for (absl::string_view line : absl::StrSplit(r->stdout_data, '\n')) {
    size_t colon = line.find(':');
    size_t eq = line.find('=');
    if (absl::StartsWith(line, "rootfs / ") || absl::StartsWith(line, "none / ")) {
      root_ro = absl::StrContains(line, " ro,") || absl::StrContains(line, " ro ");
    }
    if (colon != absl::string_view::npos && (eq == absl::string_view::npos || colon < eq)) {
      kv[std::string(line.substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    } else if (eq != absl::string_view::npos) {
      kv[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  auto check = [&](Control c, bool asked, bool ok, std::string detail, int points) -> absl::Status {
    if (!asked) return absl::OkStatus();
    if (!ok && !policy.IsOptional(c)) {
      return absl::FailedPreconditionError(
          absl::StrCat(ToAbsl(ControlName(c)), ": not confirmed in the guest: ", detail));
    }
    report->evidence.push_back(
        {std::string(ControlName(c)), ok, std::move(detail), ok ? points : 0});
    return absl::OkStatus();
  };
  std::string seccomp = kv["Seccomp"];
  if (absl::Status s =
          check(Control::kSeccomp, policy.seccomp != SeccompProfile::kNone, seccomp == "2",
                absl::StrCat("Seccomp: ", seccomp, " (filter mode) inside the guest, ",
                             ToAbsl(SeccompProfileName(policy.seccomp)), " profile"),
                5);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          check(Control::kNoNewPrivs, true, kv["NoNewPrivs"] == "1",
                absl::StrCat("NoNewPrivs: ", kv["NoNewPrivs"], " inside the guest"), 0);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = check(
          Control::kLandlockFilesystem, policy.filesystem.landlock, kv["LANDLOCK"] == "denied",
          absl::StrCat("guest Landlock ruleset: a world-readable file outside the rules (",
                       "/kavach/agent) was ", kv["LANDLOCK"]),
          3);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          check(Control::kReadOnlyRoot, policy.filesystem.read_only_root, root_ro,
                root_ro ? "the guest's / is mounted read-only" : "the guest's / is writable", 3);
      !s.ok()) {
    return s;
  }
  // Landlock scopes need ABI 6 (the guest kernel has 2); the VM boundary and
  // the agent's set-up hold them instead, and each is probed. Signals: the
  // only process in the guest besides the command's is the root agent,
  // which the command cannot signal (checked). Abstract unix sockets: each
  // command runs in a network namespace of its own, and a probe confined
  // like a command tries the abstract socket the agent listens on.
  if (absl::Status s =
          check(Control::kLandlockScopes, policy.landlock_scopes.signal, kv["SIGNAL"] == "denied",
                absl::StrCat("signal scope by the VM boundary, not Landlock (guest "
                             "ABI 2): host processes are outside the guest kernel; "
                             "signal to the guest's agent (pid 1): ",
                             kv["SIGNAL"]),
                2);
      !s.ok()) {
    return s;
  }
  if (policy.landlock_scopes.abstract_unix_socket) {
    std::string seen = "not tried";
    BackendExecRequest pr;
    pr.argv = {"kavach-abstract-socket-probe"};
    pr.cwd = policy.working_directory;
    pr.timeout = absl::Seconds(20);
    guest::ExecRequest g = ToGuest(pr, next_id_.fetch_add(1));
    g.probe_abstract_socket = true;
    {
      absl::MutexLock lock(&exec_mu_);
      absl::StatusOr<VmExecOutcome> out = vm_->Exec(g, VmExecSinks{});
      if (!out.ok()) return out.status();
      seen = std::string(absl::StripTrailingAsciiWhitespace(out->stdout_data));
      if (seen.empty()) seen = absl::StrCat("no answer: ", out->stderr_data.substr(0, 200));
    }
    if (absl::Status s =
            check(Control::kLandlockScopes, true, absl::StartsWith(seen, "ABSTRACT=denied"),
                  absl::StrCat("abstract unix socket scope by a network namespace per "
                               "command (not Landlock, guest ABI 2): the agent's "
                               "abstract socket from a confined probe: ",
                               seen),
                  2);
        !s.ok()) {
      return s;
    }
  }
  bool rl_asked = policy.limits.max_open_files.has_value() || policy.limits.max_file_size_bytes;
  bool rl_ok = (!policy.limits.max_open_files ||
                kv["NOFILE"] == absl::StrCat(*policy.limits.max_open_files)) &&
               (!policy.limits.max_file_size_bytes ||
                kv["FSIZE"] == absl::StrCat(*policy.limits.max_file_size_bytes / 512));
  if (absl::Status s = check(Control::kRlimits, rl_asked, rl_ok,
                             absl::StrCat("guest ulimit -n ", kv["NOFILE"], ", -f ", kv["FSIZE"],
                                          " (512-byte blocks)"),
                             0);
      !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<ExecResult> MicroVmBackend::Exec(const BackendExecRequest& request) {
  if (vm_ == nullptr) return absl::FailedPreconditionError("microvm: not prepared");
  if (request.argv.empty()) return absl::InvalidArgumentError("exec: empty argv");
  if (request.stdin_data && request.stdin_data->size() > (guest::kGuestLimits.max_payload >> 1)) {
    return absl::InvalidArgumentError("exec: stdin larger than the agent accepts (32 MiB)");
  }
  absl::MutexLock lock(&exec_mu_);
  if (vm_ == nullptr) return absl::FailedPreconditionError("microvm: destroyed");
  uint64_t id = next_id_.fetch_add(1);
  running_.store(id);
  absl::Time t0 = absl::Now();
  VmExecSinks sinks{request.on_stdout, request.on_stderr, request.max_output_bytes};
  absl::StatusOr<VmExecOutcome> out = vm_->Exec(ToGuest(request, id), sinks);
  running_.store(0);
  if (!out.ok()) return out.status();
  ExecResult r;
  r.exit_code = out->exit.exit_code;
  r.signal = out->exit.signal;
  r.timed_out = out->exit.timed_out || out->host_timeout;
  r.oom_killed = out->exit.oom_killed;
  r.stdout_data = std::move(out->stdout_data);
  r.stderr_data = std::move(out->stderr_data);
  r.stdout_truncated = out->stdout_truncated;
  r.stderr_truncated = out->stderr_truncated;
  r.wall_time = absl::Now() - t0;
  r.cpu_time = absl::Microseconds(static_cast<int64_t>(out->exit.cpu_us));
  r.peak_memory_bytes = out->exit.max_rss_kb * 1024;
  r.setup.push_back({"vm.exec", r.wall_time});
  // The guest's own view: from its fork to its exit frame.
  auto us = [](uint64_t v) { return absl::Microseconds(static_cast<int64_t>(v)); };
  r.setup.push_back({"vm.guest_exec", us(out->exit.wall_us)});
  r.setup.push_back({"vm.guest_setup", us(out->exit.setup_us)});
  r.setup.push_back({"vm.guest_reap", us(out->exit.reap_us)});
  return r;
}

absl::StatusOr<std::unique_ptr<SpawnedProcess>> MicroVmBackend::Spawn(
    const BackendExecRequest& request) {
  if (vm_ == nullptr) return absl::FailedPreconditionError("microvm: not prepared");
  return std::unique_ptr<SpawnedProcess>(new MicroVmSpawned(this, request));
}

}  // namespace

KvmFacts ReadKvmFacts() {
  KvmFacts f;
  struct stat st;
  f.dev_kvm = ::stat("/dev/kvm", &st) == 0;
  if (absl::StatusOr<std::string> info = sys::ReadFile("/proc/cpuinfo"); info.ok()) {
    for (absl::string_view line : absl::StrSplit(*info, '\n')) {
      if (!absl::StartsWith(line, "flags")) continue;
      for (absl::string_view flag : absl::StrSplit(line, ' ')) {
        if (flag == "vmx" || flag == "svm") f.hw_virt = true;
        if (flag == "hypervisor") f.hypervisor_flag = true;
      }
      break;
    }
  }
  if (absl::StatusOr<std::string> mods = sys::ReadFile("/proc/modules"); mods.ok()) {
    f.kvm_pvm = absl::StrContains(*mods, "kvm_pvm ");
  }
  if (::stat("/sys/module/kvm_pvm", &st) == 0) f.kvm_pvm = true;
  return f;
}

AcceleratorChoice ChooseAccelerator(const KvmFacts& f) {
  if (!f.dev_kvm) return {"tcg", "TCG: /dev/kvm missing"};
  if (f.kvm_pvm || !f.hw_virt) {
    return {"tcg", absl::StrCat("TCG: /dev/kvm is ",
                                f.kvm_pvm ? "kvm_pvm (software nested virtualisation)" : "present",
                                " but the CPU has no vmx/svm",
                                f.hypervisor_flag ? " (this host is itself a VM)" : "",
                                "; a stock guest kernel does not run under it")};
  }
  return {"kvm", "KVM: /dev/kvm with hardware virtualisation (vmx/svm)"};
}

absl::StatusOr<std::string> FindFirecracker(const MicroVmBackendOptions& options) {
  std::string configured = options.firecracker_path;
  const char* from = "the firecracker_path option";
  if (configured.empty()) {
    if (const char* e = std::getenv("KAVACH_FIRECRACKER"); e != nullptr && *e) {
      configured = e;
      from = "$KAVACH_FIRECRACKER";
    }
  }
  if (!configured.empty()) {
    struct stat st;
    if (configured[0] != '/' || ::stat(configured.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        ::access(configured.c_str(), X_OK) != 0) {
      return absl::UnavailableError(
          absl::StrCat("firecracker not found: ", from, " names ", configured,
                       ", which is not an executable file given by an absolute path"));
    }
  } else {
    absl::StatusOr<std::string> p = sys::FindInPath("firecracker");
    if (!p.ok()) return absl::UnavailableError("firecracker not found in PATH");
    configured = *std::move(p);
  }
  // A release that cannot give the guest its devices is as good as absent.
  absl::StatusOr<std::string> out =
      RunTool({configured, "--version"}, "firecracker", absl::Seconds(5));
  if (!out.ok()) {
    return absl::UnavailableError(
        absl::StrCat("firecracker at ", configured, ": ", out.status().message()));
  }
  absl::StatusOr<FirecrackerVersion> v = ParseFirecrackerVersion(*out);
  if (!v.ok()) {
    return absl::UnavailableError(
        absl::StrCat("firecracker at ", configured, ": ", v.status().message()));
  }
  if (std::string problem = FirecrackerVersionProblem(*v); !problem.empty()) {
    return absl::UnavailableError(absl::StrCat(problem, " (at ", configured, ")"));
  }
  return configured;
}

BackendAvailability ProbeMicroVm() {
  BackendAvailability a;
  a.kind = BackendKind::kFirecracker;
  absl::StatusOr<std::string> fc = FindFirecracker({});
  absl::StatusOr<std::string> qemu = sys::FindInPath("qemu-system-x86_64");
  AcceleratorChoice accel = ChooseAccelerator(ReadKvmFacts());
  // Firecracker is chosen where it exists and KVM boots a guest (a trial
  // boot at the first sandbox confirms the second); else QEMU.
  std::string fc_state =
      !fc.ok() ? absl::StrCat("firecracker not used: ", fc.status().message())
      : accel.accelerator != "kvm"
          ? absl::StrCat("firecracker at ", *fc,
                         " not used: it needs KVM, which does not boot a guest here (see the "
                         "accelerator)")
          : absl::StrCat("firecracker at ", *fc,
                         " is the VMM once a trial guest boots under KVM (checked at the first "
                         "sandbox of each host boot), else QEMU");
  if (!qemu.ok()) {
    a.reason =
        absl::StrCat(fc_state, "; qemu-system-x86_64 not found in PATH (install qemu-system-x86)");
    return a;
  }
  absl::StatusOr<GuestImageInputs> in = DefaultGuestImageInputs();
  if (!in.ok()) {
    a.reason = absl::StrCat(fc_state, "; QEMU at ", *qemu, ", but ", in.status().message());
    return a;
  }
  a.available = true;
  bool fc_first = fc.ok() && accel.accelerator == "kvm";
  a.reason = absl::StrCat(
      fc_first ? absl::StrCat("VMM firecracker (", *fc, ") or QEMU -M microvm (", *qemu, ")")
               : absl::StrCat("VMM QEMU -M microvm (", *qemu, ")"),
      "; accelerator ", accel.reason,
      accel.accelerator == "kvm" ? " (used once a trial guest boots under it, checked at the first "
                                   "sandbox of each host boot)"
                                 : "",
      "; ", fc_state, "; guest kernel ", in->kernel_release);
  return a;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateMicroVmBackend(MicroVmBackendOptions options) {
  return std::unique_ptr<Backend>(new MicroVmBackend(std::move(options)));
}

}  // namespace kavach::internal
