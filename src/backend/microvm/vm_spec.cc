// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/vm_spec.h"

#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "linux/file_util.h"

namespace kavach::internal {
namespace {

absl::Status CheckPath(const char* field, const std::string& p) {
  if (p.empty() || p[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", p, "' is not absolute"));
  }
  for (char c : p) {
    if (c == ' ' || c == ',' || c == ':' || c == '=' || c == '"' || c == '\'' || c == '\\' ||
        static_cast<unsigned char>(c) < 0x20) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", p, "' holds a character the VM configuration cannot carry"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateVmSpec(const VmSpec& spec) {
  for (const auto& [field, p] : std::vector<std::pair<const char*, const std::string*>>{
           {"vmlinux", &spec.vmlinux},
           {"initrd", &spec.initrd},
           {"agent_socket", &spec.agent_socket},
           {"console_log", &spec.console_log}}) {
    if (absl::Status s = CheckPath(field, *p); !s.ok()) return s;
  }
  for (const auto& [field, p] : std::vector<std::pair<const char*, const std::string*>>{
           {"memory_file", &spec.memory_file}, {"qmp_socket", &spec.qmp_socket}}) {
    if (p->empty()) continue;
    if (absl::Status s = CheckPath(field, *p); !s.ok()) return s;
  }
  if (spec.incoming && (spec.memory_file.empty() || spec.qmp_socket.empty())) {
    return absl::InvalidArgumentError("incoming: a clone needs a memory file and a QMP socket");
  }
  if (spec.memory_mib < 96 || spec.memory_mib > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory: ", spec.memory_mib, " MiB outside 96..65536"));
  }
  if (spec.cpus < 1 || spec.cpus > 64) {
    return absl::InvalidArgumentError(absl::StrCat("cpus: ", spec.cpus, " outside 1..64"));
  }
  if (spec.accelerator != "tcg" && spec.accelerator != "kvm") {
    return absl::InvalidArgumentError(
        absl::StrCat("accelerator: '", spec.accelerator, "' is not tcg or kvm"));
  }
  std::set<std::string> tags;
  for (const VmShare& s : spec.shares) {
    if (s.tag.empty() || s.tag.size() > 31 || !tags.insert(s.tag).second) {
      return absl::InvalidArgumentError(absl::StrCat("shares: bad or duplicate tag '", s.tag, "'"));
    }
    for (char c : s.tag) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_')) {
        return absl::InvalidArgumentError(absl::StrCat("shares: tag '", s.tag, "' not [a-z0-9_]"));
      }
    }
    if (absl::Status st = CheckPath("shares.host_path", s.host_path); !st.ok()) return st;
    if (absl::Status st = CheckPath("shares.guest_path", s.guest_path); !st.ok()) return st;
  }
  // Drive ids name the QEMU drive (which must start with a letter) and are
  // the virtio-blk serial the agent finds the device by (at most 20 bytes).
  std::set<std::string> ids;
  for (const VmDrive& d : spec.drives) {
    if (d.id.empty() || d.id.size() > 20 || !absl::ascii_islower(d.id[0]) ||
        !ids.insert(d.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("drives: bad or duplicate id '", d.id,
                                                     "' (a letter, then [a-z0-9_], at most 20)"));
    }
    for (char c : d.id) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_')) {
        return absl::InvalidArgumentError(absl::StrCat("drives: id '", d.id, "' not [a-z0-9_]"));
      }
    }
    if (d.fstype != "squashfs" && d.fstype != "ext4") {
      return absl::InvalidArgumentError(
          absl::StrCat("drives: fstype '", d.fstype, "' of '", d.id, "' is not squashfs or ext4"));
    }
    if (d.fstype == "squashfs" && !d.read_only) {
      return absl::InvalidArgumentError(
          absl::StrCat("drives: '", d.id, "' is squashfs, which is read-only"));
    }
    if (absl::Status st = CheckPath("drives.host_image", d.host_image); !st.ok()) return st;
    if (absl::Status st = CheckPath("drives.guest_path", d.guest_path); !st.ok()) return st;
    if (!d.host_path.empty()) {
      if (absl::Status st = CheckPath("drives.host_path", d.host_path); !st.ok()) return st;
    }
  }
  for (const auto& [path, target] : spec.links) {
    if (absl::Status st = CheckPath("links.path", path); !st.ok()) return st;
    if (absl::Status st = CheckPath("links.target", "/" + target); !st.ok()) return st;
  }
  return absl::OkStatus();
}

std::string GuestMounts(const VmSpec& spec) {
  std::vector<std::string> mounts;
  for (const auto& [path, target] : spec.links)
    mounts.push_back(absl::StrCat("link:", path, ":", target));
  for (const VmShare& s : spec.shares) {
    mounts.push_back(absl::StrCat(s.read_only ? "ro:" : "rw:", s.tag, ":", s.guest_path));
  }
  for (const VmDrive& d : spec.drives) {
    mounts.push_back(
        absl::StrCat("blk:", d.id, ":", d.fstype, d.read_only ? ":ro:" : ":rw:", d.guest_path));
  }
  mounts.push_back("tmp:/tmp");
  if (spec.read_only_root) mounts.push_back("roroot");
  return absl::StrJoin(mounts, ",");
}

std::string GuestKernelCmdline(const VmSpec& spec) {
  std::vector<std::string> words = {"console=ttyS0", "quiet", "panic=-1"};
  if (spec.tsc_khz) {
    words.push_back(absl::StrCat("tsc_early_khz=", *spec.tsc_khz));
    // microvm has no HPET or ACPI PM timer to watch the TSC with, so the
    // guest would fall back to a jiffies clock (4 ms steps): timers, poll
    // timeouts and the agent's timings would all be that coarse.
    words.push_back("tsc=reliable");
  }
  // Boot-time savings under TCG measured by the probe (2.58 s vs 3.10 s
  // median): no speculation mitigations, no page zeroing on allocation,
  // no audit, no AppArmor, no crypto self-tests.
  for (const char* w : {"mitigations=off", "init_on_alloc=0", "audit=0", "apparmor=0",
                        "cryptomgr.notests", "no_timer_check"}) {
    words.push_back(w);
  }
  // Under TCG, QEMU reuses the code it translated for a guest process only
  // where the next process has the same code at the same virtual addresses;
  // with per-process ASLR every exec retranslates ld.so and libc. Measured
  // here: a second exec of dynamic /bin/true 20.3 ms with ASLR, 7.25 ms
  // without (bench/README.md). The guest kernel keeps KASLR, and the
  // boundary kavach scores is the VM and the jailed QEMU, not the layout of
  // the guest's processes. Under KVM translation costs nothing, so the
  // guest keeps its ASLR there.
  if (spec.accelerator == "tcg") words.push_back("norandmaps");
  return absl::StrJoin(words, " ");
}

std::vector<std::string> QemuArgv(const std::string& qemu, const VmSpec& spec) {
  std::vector<std::string> a = {
      qemu,
      "-M",
      spec.memory_file.empty() ? "microvm" : "microvm,memory-backend=mem",
      "-accel",
      spec.accelerator,
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-no-reboot",
      "-m",
      absl::StrCat(spec.memory_mib),
      "-smp",
      absl::StrCat(spec.cpus),
      "-kernel",
      spec.vmlinux,
      "-initrd",
      spec.initrd,
      "-append",
      GuestKernelCmdline(spec),
      "-chardev",
      absl::StrCat("file,id=console,path=", spec.console_log),
      "-serial",
      "chardev:console",
      "-device",
      "virtio-serial-device",
      "-chardev",
      absl::StrCat("socket,id=agent,path=", spec.agent_socket, ",server=on,wait=off"),
      "-device",
      "virtserialport,chardev=agent,name=kavach.agent"};
  int i = 0;
  for (const VmShare& s : spec.shares) {
    std::string id = absl::StrCat("fs", i++);
    a.push_back("-fsdev");
    a.push_back(absl::StrCat("local,id=", id, ",path=", s.host_path, ",security_model=none",
                             s.read_only ? ",readonly=on" : ""));
    a.push_back("-device");
    a.push_back(absl::StrCat("virtio-9p-device,fsdev=", id, ",mount_tag=", s.tag));
  }
  // Block-device shares, in the spec's order (the guest's vda, vdb ...);
  // the serial is how the agent finds each one.
  for (const VmDrive& d : spec.drives) {
    a.push_back("-drive");
    a.push_back(absl::StrCat("file=", d.host_image, ",if=none,id=", d.id,
                             ",format=raw,readonly=", d.read_only ? "on" : "off"));
    a.push_back("-device");
    a.push_back(absl::StrCat("virtio-blk-device,drive=", d.id, ",serial=", d.id));
  }
  if (!spec.memory_file.empty()) {
    a.push_back("-object");
    a.push_back(absl::StrCat("memory-backend-file,id=mem,size=", spec.memory_mib, "M,mem-path=",
                             spec.memory_file, spec.memory_shared ? ",share=on" : ",share=off"));
  }
  if (!spec.qmp_socket.empty()) {
    a.push_back("-qmp");
    a.push_back(absl::StrCat("unix:", spec.qmp_socket, ",server=on,wait=off"));
  }
  if (spec.incoming) {
    a.push_back("-incoming");
    a.push_back("defer");
  }
  if (spec.network) {
    a.insert(a.end(), {"-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0"});
  }
  if (spec.qemu_sandbox) {
    // QEMU's own seccomp filter: no obsolete syscalls, no setuid/setgid,
    // no fork/exec, no scheduler or resource changes.
    a.insert(a.end(), {"-sandbox",
                       "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"});
  }
  return a;
}

std::optional<uint64_t> HostTscKhz() {
  absl::StatusOr<std::string> info = sys::ReadFile("/proc/cpuinfo");
  if (!info.ok()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*info, '\n')) {
    if (!absl::StartsWith(line, "cpu MHz")) continue;
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    double mhz = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(colon + 1)), &mhz) || mhz <= 0) {
      continue;
    }
    return static_cast<uint64_t>(std::llround(mhz * 1000));
  }
  return std::nullopt;
}

}  // namespace kavach::internal
