// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/kvm_trial.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "backend/microvm/guest_image.h"
#include "backend/microvm/vm_spec.h"
#include "linux/file_util.h"
#include "linux/unique_fd.h"

extern char** environ;

namespace kavach::internal {
namespace {

constexpr char kMarker[] = "kavach-kvm-trial-reached-init";

std::string LastLine(const std::string& text) {
  absl::string_view t = absl::StripTrailingAsciiWhitespace(text);
  size_t nl = t.rfind('\n');
  std::string line(nl == absl::string_view::npos ? t : t.substr(nl + 1));
  if (line.size() > 160) line.resize(160);
  return line.empty() ? "(nothing)" : line;
}

// A digest-free key: what makes an earlier verdict stale is a new host boot,
// another QEMU binary or another kernel.
std::string VerdictKey(const KvmTrial& trial) {
  std::string key;
  absl::StatusOr<std::string> boot = sys::ReadFile("/proc/sys/kernel/random/boot_id");
  key = boot.ok() ? std::string(absl::StripAsciiWhitespace(*boot)) : "no-boot-id";
  for (const std::string& path : {trial.qemu, trial.vmlinux}) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      absl::StrAppend(&key, " ", path, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec);
    } else {
      absl::StrAppend(&key, " ", path, ":missing");
    }
  }
  return key;
}

}  // namespace

absl::Status TrialBootKvm(const KvmTrial& trial) {
  absl::StatusOr<std::string> busybox = sys::ReadFile(trial.busybox);
  if (!busybox.ok()) return busybox.status();
  std::string dir = absl::StrCat(trial.cache_dir, "/kvm-trial-XXXXXX");
  if (::mkdtemp(dir.data()) == nullptr) return sys::ErrnoStatus(errno, "mkdtemp " + dir);
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};

  CpioWriter cpio;
  for (const char* d : {"/bin", "/dev"}) cpio.AddDirectory(d);
  cpio.AddFile("/bin/busybox", *busybox, 0755);
  cpio.AddFile("/init",
               absl::StrCat("#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs dev /dev\n"
                            "/bin/busybox echo ",
                            kMarker, " > /dev/ttyS0\n/bin/busybox poweroff -f\n"),
               0755);
  const std::string initrd = dir + "/trial.cpio";
  const std::string console = dir + "/console.log";
  if (absl::Status s = sys::WriteFile(initrd, cpio.Finish(), 0600); !s.ok()) return s;

  // The product's guest command line (clock source, timer check, console),
  // so that the trial guest boots as the sandboxes' guests do.
  VmSpec spec;
  spec.accelerator = trial.accelerator;
  spec.tsc_khz = HostTscKhz();
  const std::string cmdline = GuestKernelCmdline(spec);
  std::vector<std::string> args = {trial.qemu,
                                   "-M",
                                   "microvm",
                                   "-accel",
                                   trial.accelerator,
                                   "-nodefaults",
                                   "-no-user-config",
                                   "-display",
                                   "none",
                                   "-no-reboot",
                                   "-sandbox",
                                   "on,obsolete=deny,elevateprivileges=deny,spawn=deny",
                                   "-m",
                                   "128",
                                   "-kernel",
                                   trial.vmlinux,
                                   "-initrd",
                                   initrd,
                                   "-append",
                                   cmdline,
                                   "-chardev",
                                   absl::StrCat("file,id=console,path=", console),
                                   "-serial",
                                   "chardev:console"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, trial.qemu.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return sys::ErrnoStatus(rc, "kvm trial: spawn " + trial.qemu);

  sys::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  const absl::Time end = absl::Now() + trial.deadline;
  bool exited = false;
  while (!exited) {
    const int64_t left_ms = absl::ToInt64Milliseconds(end - absl::Now());
    if (left_ms <= 0) break;
    if (pidfd.get() >= 0) {
      struct pollfd p = {pidfd.get(), POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(left_ms));
      if (n < 0 && errno == EINTR) continue;
      exited = n > 0;
      if (n == 0) break;
    } else {
      // No pidfd (kernel < 5.3): look every 20 ms; this runs once per host boot.
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        exited = true;
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
          return absl::UnavailableError(absl::StrCat("kvm trial boot: QEMU failed (console: ",
                                                     LastLine(sys::ReadFile(console).value_or("")),
                                                     ")"));
        }
        break;
      }
      ::usleep(20000);
    }
  }
  int status = 0;
  if (pid > 0) {
    if (!exited) ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  const std::string log = sys::ReadFile(console).value_or("");
  if (!exited) {
    return absl::UnavailableError(
        absl::StrCat("kvm trial boot: the guest did not reach init within ",
                     absl::FormatDuration(trial.deadline), " (console: ", LastLine(log), ")"));
  }
  if (pid > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    return absl::UnavailableError(
        absl::StrCat("kvm trial boot: QEMU ",
                     WIFEXITED(status) ? absl::StrCat("exited ", WEXITSTATUS(status))
                                       : absl::StrCat("killed by signal ", WTERMSIG(status)),
                     " (console: ", LastLine(log), ")"));
  }
  if (log.find(kMarker) == std::string::npos) {
    return absl::UnavailableError(absl::StrCat(
        "kvm trial boot: QEMU exited but the guest never reached init (console: ", LastLine(log),
        ")"));
  }
  return absl::OkStatus();
}

AcceleratorChoice ConfirmKvmByTrialBoot(const AcceleratorChoice& facts, const KvmTrial& trial) {
  if (facts.accelerator != "kvm") return facts;
  const std::string key = VerdictKey(trial);
  const std::string verdict_path = trial.cache_dir + "/kvm-trial.verdict";
  // The verdict file: the key on its first line, then "ok" or the error.
  if (absl::StatusOr<std::string> cached = sys::ReadFile(verdict_path); cached.ok()) {
    std::vector<std::string> lines = absl::StrSplit(*cached, absl::MaxSplits('\n', 1));
    if (lines.size() == 2 && lines[0] == key) {
      if (lines[1] == "ok") return {"kvm", facts.reason + "; trial boot reached init"};
      return {"tcg", absl::StrCat("TCG: ", lines[1])};
    }
  }
  absl::Status trial_boot = TrialBootKvm(trial);
  const std::string verdict = trial_boot.ok() ? "ok" : std::string(trial_boot.message());
  // A verdict that cannot be kept costs the next sandbox another trial,
  // nothing else: the write is not checked.
  const std::string tmp = verdict_path + ".tmp";
  if (sys::WriteFile(tmp, absl::StrCat(key, "\n", verdict), 0600).ok()) {
    ::rename(tmp.c_str(), verdict_path.c_str());
  }
  if (trial_boot.ok()) return {"kvm", facts.reason + "; trial boot reached init"};
  return {"tcg", absl::StrCat("TCG: ", verdict)};
}

}  // namespace kavach::internal
