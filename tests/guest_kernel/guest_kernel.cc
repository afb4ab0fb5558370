// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "guest_kernel/guest_kernel.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "backend/microvm/guest_image.h"
#include "backend/microvm/microvm_backend.h"
#include "backend/microvm/vm_spec.h"
#include "linux/file_util.h"

extern char** environ;

namespace kavach::test_support {
namespace {

using internal::CpioWriter;
using internal::VmShare;
using internal::VmSpec;

constexpr char kBegin[] = "KAVACH_GUEST_BEGIN\n";
constexpr char kStatus[] = "KAVACH_GUEST_STATUS=";
constexpr char kSetupFailed[] = "KAVACH_GUEST_SETUP_FAILED:";

// Replaces the image's /init (which starts the agent). Busybox is the
// image's, at /kavach/bin; the modules are the image's too. Only the 9p
// stack is loaded: no agent channel, no block devices.
constexpr char kInit[] = R"(#!/kavach/bin/sh
export PATH=/kavach/bin
bb=/kavach/bin/busybox
fail() { echo "KAVACH_GUEST_SETUP_FAILED: $*"; $bb poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_mmio 9pnet 9pnet_virtio netfs fscache 9p; do
  insmod /kavach/modules/$m.ko || fail "insmod $m"
done
r=/newroot
mkdir -p $r && mount -t tmpfs -o mode=0755 root $r || fail "tmpfs root"
mkdir -p $r/tmp $r/run $r/proc $r/sys $r/dev $r/root
mount -t tmpfs -o mode=1777 tmp $r/tmp && mount -t tmpfs -o mode=0755 run $r/run || fail "tmpfs"
# After /tmp and /run: a tree may live below them (a CI clone in /tmp).
while read -r tag path; do
  mkdir -p "$r$path" &&
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro "$tag" "$r$path" || fail "9p $tag"
done < /kavach-test/shares
for l in bin sbin lib lib32 lib64 libx32; do ln -s usr/$l $r/$l; done
mount --move /proc $r/proc && mount --move /sys $r/sys && mount --move /dev $r/dev || fail "move"
mkdir -p $r/dev/shm && mount -t tmpfs -o mode=1777 shm $r/dev/shm || fail "shm"
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup || fail "cgroup2"
echo "+memory +pids +cpu" > $r/sys/fs/cgroup/cgroup.subtree_control || fail "subtree_control"
cp $bb $r/run/busybox && cp /kavach-test/cmd $r/run/cmd || fail "copy"
exec $bb switch_root $r /bin/sh -c '
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
cd /tmp
echo KAVACH_GUEST_BEGIN
/bin/sh /run/cmd 2>&1
echo "
KAVACH_GUEST_STATUS=$?"
/run/busybox poweroff -f'
)";

std::string MakeTempDir() {
  const char* base = ::getenv("TMPDIR");
  std::string tmpl =
      absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/kavach_guest_kernel.XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

// Runs argv with stdin /dev/null and stdout/stderr into `log`; SIGKILLs it
// once `timeout` has passed. Returns its wait status.
absl::StatusOr<int> SpawnAndWait(const std::vector<std::string>& argv, const std::string& log,
                                 absl::Duration timeout) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) return absl::InternalError(absl::StrCat("posix_spawn ", argv[0], ": ", err));
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return absl::InternalError("waitpid");
    if (absl::Now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return absl::DeadlineExceededError(
          absl::StrCat("the guest did not power off within ", absl::FormatDuration(timeout)));
    }
    ::usleep(50 * 1000);
  }
}

}  // namespace

std::string TestBinaryDir() {
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return "";
  std::string path(exe, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

absl::StatusOr<GuestKernel> GuestKernel::Prepare() {
  BackendAvailability probe = internal::ProbeMicroVm();
  if (!probe.available) {
    return absl::FailedPreconditionError(absl::StrCat("no microVM here: ", probe.reason));
  }
  GuestKernel g;
  absl::StatusOr<std::string> qemu = sys::FindInPath("qemu-system-x86_64");
  if (!qemu.ok()) return absl::FailedPreconditionError(qemu.status().message());
  g.qemu_ = *qemu;
  absl::StatusOr<internal::GuestImageInputs> in = internal::DefaultGuestImageInputs();
  if (!in.ok()) return absl::FailedPreconditionError(in.status().message());
  absl::StatusOr<internal::GuestImage> img =
      internal::EnsureGuestImage(*in, internal::DefaultImageCacheDir());
  if (!img.ok()) return img.status();
  g.vmlinux_ = img->vmlinux;
  g.base_initrd_ = img->initrd;
  // The source tree (test data) and the build tree (the binaries), at their
  // own paths so that every absolute path compiled into a test still holds.
  g.trees_.push_back(KAVACH_SOURCE_DIR);
  const std::string bin = TestBinaryDir();
  const std::string build = bin.substr(0, bin.rfind('/'));
  if (!absl::StartsWith(build + "/", absl::StrCat(KAVACH_SOURCE_DIR, "/"))) {
    g.trees_.push_back(build);
  }
  return g;
}

absl::StatusOr<GuestRun> GuestKernel::Run(const std::string& command,
                                          absl::Duration timeout) const {
  const std::string dir = MakeTempDir();
  if (dir.empty()) return absl::InternalError("mkdtemp");
  struct Cleanup {
    std::string dir;
    ~Cleanup() { (void)!std::system(("rm -rf '" + dir + "'").c_str()); }
  } cleanup{dir};

  VmSpec spec;
  spec.vmlinux = vmlinux_;
  spec.initrd = dir + "/initrd.cpio";
  spec.memory_mib = 2048;
  spec.cpus = 2;
  spec.agent_socket = dir + "/agent.sock";  // QEMU listens; nobody connects
  spec.console_log = dir + "/console.log";
  spec.tsc_khz = internal::HostTscKhz();
  spec.shares.push_back(VmShare{.tag = "usr", .host_path = "/usr", .guest_path = "/usr"});
  spec.shares.push_back(VmShare{.tag = "etc", .host_path = "/etc", .guest_path = "/etc"});
  for (size_t i = 0; i < trees_.size(); ++i) {
    spec.shares.push_back(
        VmShare{.tag = absl::StrCat("tree", i), .host_path = trees_[i], .guest_path = trees_[i]});
  }
  if (absl::Status s = internal::ValidateVmSpec(spec); !s.ok()) return s;

  // The image's initramfs, then ours: the kernel unpacks both, in order.
  absl::StatusOr<std::string> base = sys::ReadFile(base_initrd_);
  if (!base.ok()) return base.status();
  std::string shares;
  for (const VmShare& s : spec.shares) absl::StrAppend(&shares, s.tag, " ", s.guest_path, "\n");
  CpioWriter overlay;
  overlay.AddDirectory("/kavach-test");
  overlay.AddFile("/kavach-test/shares", shares);
  overlay.AddFile("/kavach-test/cmd", command + "\n");
  overlay.AddFile("/init", kInit, 0755);
  if (absl::Status s = sys::WriteFile(spec.initrd, *base + overlay.Finish()); !s.ok()) return s;

  std::vector<std::string> argv = internal::QemuArgv(qemu_, spec);
  // TCG's default CPU model (qemu64) lacks SSSE3, which Hyperscan needs:
  // the output gate would refuse to load. "max" is every feature TCG has.
  argv.insert(argv.begin() + 1, {"-cpu", "max"});
  absl::StatusOr<int> status = SpawnAndWait(argv, dir + "/qemu.log", timeout);
  GuestRun run;
  absl::StatusOr<std::string> console = sys::ReadFile(spec.console_log);
  run.console = console.ok() ? *console : "";
  // The serial line discipline writes CR LF.
  run.console.erase(std::remove(run.console.begin(), run.console.end(), '\r'), run.console.end());
  if (!status.ok()) {
    return absl::Status(status.status().code(),
                        absl::StrCat(status.status().message(), "; console:\n", run.console));
  }
  if (size_t f = run.console.find(kSetupFailed); f != std::string::npos) {
    return absl::InternalError(absl::StrCat("guest set-up failed: ", run.console.substr(f)));
  }
  const size_t begin = run.console.find(kBegin);
  const size_t end = run.console.rfind(kStatus);
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    absl::StatusOr<std::string> qemu_log = sys::ReadFile(dir + "/qemu.log");
    return absl::InternalError(absl::StrCat("the guest reported no status (QEMU wait status ",
                                            *status, "); qemu: ", qemu_log.ok() ? *qemu_log : "",
                                            "; console:\n", run.console));
  }
  run.output = run.console.substr(begin + sizeof kBegin - 1, end - begin - (sizeof kBegin - 1));
  const size_t digits = end + sizeof kStatus - 1;
  const size_t eol = run.console.find_first_of("\r\n", digits);
  if (!absl::SimpleAtoi(run.console.substr(digits, eol - digits), &run.exit_code)) {
    return absl::InternalError("unreadable guest status");
  }
  return run;
}

}  // namespace kavach::test_support
