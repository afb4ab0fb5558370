// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/microvm_backend.h"

#include <dirent.h>
#include <lzma.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "backend/microvm/block_share.h"
#include "backend/microvm/guest_image.h"
#include "backend/microvm/kvm_trial.h"
#include "backend/microvm/qemu_vm.h"
#include "backend/microvm/vm_spec.h"
#include "backend/microvm/vm_template.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"
#include "linux/file_util.h"
#include "openssl/evp.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string TempDir() {
  std::string t = "/tmp/kavach-microvm-test-XXXXXX";
  EXPECT_NE(::mkdtemp(t.data()), nullptr);
  return t;
}

std::string Xz(const std::string& data) {
  std::string out(data.size() + 4096, '\0');
  size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr,
                                    reinterpret_cast<const uint8_t*>(data.data()), data.size(),
                                    reinterpret_cast<uint8_t*>(out.data()), &pos, out.size()),
            LZMA_OK);
  out.resize(pos);
  return out;
}

// ---- vmlinux extraction and cpio ----

TEST(ExtractVmlinux, FindsTheXzElfAfterOtherStreams) {
  std::string elf = std::string(
                        "\x7f"
                        "ELF",
                        4) +
                    std::string(100000, 'k');
  // A setup header, an XZ stream that is not an ELF, junk, then the kernel.
  std::string bz = std::string(512, '\x01') + Xz("not a kernel") + "junk" + Xz(elf) + "tail";
  absl::StatusOr<std::string> v = ExtractVmlinux(bz);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, elf);
}

TEST(ExtractVmlinux, NoKernelIsInvalidArgument) {
  EXPECT_EQ(ExtractVmlinux("plain bytes").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ExtractVmlinux(Xz("no elf here")).status().code(), absl::StatusCode::kInvalidArgument);
  std::string cut = Xz(std::string("\x7f"
                                   "ELF",
                                   4) +
                       std::string(5000, 'x'));
  EXPECT_FALSE(ExtractVmlinux(cut.substr(0, cut.size() / 2)).ok());  // truncated stream
}

TEST(CpioWriter, WritesNewcEntriesAndTrailer) {
  CpioWriter w;
  w.AddDirectory("/dev");
  w.AddFile("/init", "#!/bin/sh\n", 0755);
  w.AddSymlink("/bin/sh", "busybox");
  std::string a = w.Finish();
  EXPECT_EQ(a.compare(0, 6, "070701"), 0);
  EXPECT_EQ(a.size() % 4, 0u);
  EXPECT_THAT(a, HasSubstr("dev"));
  EXPECT_THAT(a, HasSubstr("#!/bin/sh\n"));
  EXPECT_THAT(a, HasSubstr("TRAILER!!!"));
  // Second entry: mode 0100755 and a 10-byte file.
  size_t init = a.find("init");
  ASSERT_NE(init, std::string::npos);
  std::string header = a.substr(init - 110, 110);
  EXPECT_EQ(header.substr(14, 8), "000081ED");  // mode
  EXPECT_EQ(header.substr(54, 8), "0000000A");  // filesize
  EXPECT_EQ(header.substr(94, 8), "00000005");  // namesize incl. NUL
}

// ---- the image cache ----

class FakeInputs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    std::string elf = std::string(
                          "\x7f"
                          "ELF",
                          4) +
                      std::string(4096, 'v');
    ASSERT_TRUE(sys::WriteFile(dir_ + "/vmlinuz", std::string(600, 'h') + Xz(elf)).ok());
    std::string static_elf = std::string(
                                 "\x7f"
                                 "ELF",
                                 4) +
                             std::string(200, 's');
    ASSERT_TRUE(sys::WriteFile(dir_ + "/busybox", static_elf, 0755).ok());
    ASSERT_TRUE(sys::WriteFile(dir_ + "/agent", static_elf + "agent", 0755).ok());
    ASSERT_EQ(::mkdir((dir_ + "/mods").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir_ + "/mods/kernel").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir_ + "/mods/kernel/drivers").c_str(), 0755), 0);
    ASSERT_TRUE(sys::WriteFile(dir_ + "/mods/kernel/drivers/virtio_ring.ko", "ring").ok());
    ASSERT_TRUE(sys::WriteFile(dir_ + "/mods/kernel/9pnet-virtio.ko", "9p").ok());
    in_.kernel = dir_ + "/vmlinuz";
    in_.kernel_release = "test";
    in_.modules_dir = dir_ + "/mods";
    in_.busybox = dir_ + "/busybox";
    in_.agent = dir_ + "/agent";
    in_.modules = {"virtio_ring", "9pnet_virtio"};
  }
  void TearDown() override { (void)!std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
  GuestImageInputs in_;
};

TEST_F(FakeInputs, BuildsOnceAndRebuildsWhenAnInputChanges) {
  std::string cache = dir_ + "/cache";
  absl::StatusOr<GuestImage> a = EnsureGuestImage(in_, cache);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->built);
  absl::StatusOr<std::string> initrd = sys::ReadFile(a->initrd);
  ASSERT_TRUE(initrd.ok());
  EXPECT_THAT(*initrd, HasSubstr("kavach/modules/9pnet_virtio.ko"));
  EXPECT_THAT(*initrd, HasSubstr("exec /kavach/agent --init"));
  absl::StatusOr<std::string> vmlinux = sys::ReadFile(a->vmlinux);
  ASSERT_TRUE(vmlinux.ok());
  EXPECT_EQ(vmlinux->compare(0, 4,
                             "\x7f"
                             "ELF"),
            0);

  absl::StatusOr<GuestImage> again = EnsureGuestImage(in_, cache);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->built);
  EXPECT_EQ(again->key, a->key);

  ASSERT_TRUE(sys::WriteFile(in_.agent,
                             std::string("\x7f"
                                         "ELF",
                                         4) +
                                 std::string(200, 'n'),
                             0755)
                  .ok());
  absl::StatusOr<GuestImage> changed = EnsureGuestImage(in_, cache);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(changed->built);
  EXPECT_NE(changed->key, a->key);
}

TEST_F(FakeInputs, RefusesADynamicBusyboxAndAMissingModule) {
  ASSERT_TRUE(sys::WriteFile(in_.busybox, std::string("\x7f"
                                                      "ELF",
                                                      4) +
                                              std::string(100, 'x') + "/lib64/ld-linux-x86-64.so.2")
                  .ok());
  absl::StatusOr<GuestImage> img = EnsureGuestImage(in_, dir_ + "/cache");
  EXPECT_EQ(img.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(img.status().message(), HasSubstr("busybox-static"));
  in_.modules.push_back("virtiofs");
  EXPECT_THAT(GuestImageKey(in_).status().message(), HasSubstr("virtiofs not found"));
}

TEST_F(FakeInputs, RefusesACacheOthersCanWrite) {
  std::string cache = dir_ + "/open";
  ASSERT_EQ(::mkdir(cache.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(cache.c_str(), 0777), 0);
  EXPECT_EQ(EnsureGuestImage(in_, cache).status().code(), absl::StatusCode::kPermissionDenied);
}

// ---- QEMU arguments ----

VmSpec BasicSpec() {
  VmSpec s;
  s.vmlinux = "/c/vmlinux";
  s.initrd = "/c/initrd.cpio";
  s.agent_socket = "/s/agent.sock";
  s.console_log = "/s/console.log";
  s.memory_mib = 512;
  s.cpus = 2;
  s.tsc_khz = 2300000;
  s.shares = {{"kv0", "/usr", "/usr", true}, {"kv1", "/home/u/w", "/work", false}};
  s.links = {{"/bin", "usr/bin"}};
  return s;
}

TEST(QemuArgv, MicrovmWithSharesAgentAndNoNetwork) {
  std::vector<std::string> a = QemuArgv("/usr/bin/qemu-system-x86_64", BasicSpec());
  std::string joined = absl::StrJoin(a, " ");
  EXPECT_THAT(joined, HasSubstr("-M microvm -accel tcg -nodefaults -no-user-config"));
  EXPECT_THAT(joined, HasSubstr("-no-reboot -m 512 -smp 2"));
  EXPECT_THAT(joined, HasSubstr("-kernel /c/vmlinux -initrd /c/initrd.cpio"));
  EXPECT_THAT(joined, HasSubstr("socket,id=agent,path=/s/agent.sock,server=on,wait=off"));
  EXPECT_THAT(joined, HasSubstr("virtserialport,chardev=agent,name=kavach.agent"));
  EXPECT_THAT(joined, HasSubstr("local,id=fs0,path=/usr,security_model=none,readonly=on"));
  EXPECT_THAT(joined, HasSubstr("local,id=fs1,path=/home/u/w,security_model=none "));
  EXPECT_THAT(joined, HasSubstr("virtio-9p-device,fsdev=fs1,mount_tag=kv1"));
  EXPECT_THAT(joined, HasSubstr("-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny"));
  EXPECT_THAT(joined, Not(HasSubstr("netdev")));
  VmSpec net = BasicSpec();
  net.network = true;
  EXPECT_THAT(absl::StrJoin(QemuArgv("q", net), " "), HasSubstr("virtio-net-device"));
}

TEST(QemuArgv, KernelCommandLineCarriesTheBootFixesAndTheStartFrameTheMounts) {
  std::string c = GuestKernelCmdline(BasicSpec());
  EXPECT_THAT(c, HasSubstr("console=ttyS0"));
  EXPECT_THAT(c, HasSubstr("panic=-1"));
  EXPECT_THAT(c, HasSubstr("tsc_early_khz=2300000"));
  // Nothing per sandbox on the command line: clones share their template's.
  EXPECT_THAT(c, Not(HasSubstr("kv1")));
  EXPECT_EQ(GuestMounts(BasicSpec()), "link:/bin:usr/bin,ro:kv0:/usr,rw:kv1:/work,tmp:/tmp");
}

TEST(QemuArgv, GuestProcessAslrIsOffOnlyUnderTcg) {
  VmSpec tcg = BasicSpec();
  tcg.accelerator = "tcg";
  EXPECT_THAT(GuestKernelCmdline(tcg), HasSubstr("norandmaps"));
  VmSpec kvm = BasicSpec();
  kvm.accelerator = "kvm";
  EXPECT_THAT(GuestKernelCmdline(kvm), Not(HasSubstr("norandmaps")));
  EXPECT_THAT(GuestKernelCmdline(kvm), Not(HasSubstr("nokaslr")));
}

TEST(QemuArgv, TemplateAndCloneMapTheRamFileSharedOrPrivate) {
  VmSpec t = BasicSpec();
  t.memory_file = "/t/ram";
  t.memory_shared = true;
  t.qmp_socket = "/s/qmp.sock";
  std::string joined = absl::StrJoin(QemuArgv("q", t), " ");
  EXPECT_THAT(joined, HasSubstr("-M microvm,memory-backend=mem "));
  EXPECT_THAT(joined, HasSubstr("memory-backend-file,id=mem,size=512M,mem-path=/t/ram,share=on"));
  EXPECT_THAT(joined, HasSubstr("-qmp unix:/s/qmp.sock,server=on,wait=off"));
  EXPECT_THAT(joined, Not(HasSubstr("-incoming")));
  VmSpec c = t;
  c.memory_shared = false;
  c.incoming = true;
  joined = absl::StrJoin(QemuArgv("q", c), " ");
  EXPECT_THAT(joined, HasSubstr("mem-path=/t/ram,share=off"));
  EXPECT_THAT(joined, HasSubstr("-incoming defer"));
  // The template's and the clone's command lines differ only there.
  EXPECT_EQ(GuestKernelCmdline(t), GuestKernelCmdline(c));
  c.qmp_socket.clear();
  EXPECT_THAT(ValidateVmSpec(c).message(), HasSubstr("incoming"));
}

TEST(QemuArgv, ValidationRejectsWhatTheOptionSyntaxCannotCarry) {
  EXPECT_TRUE(ValidateVmSpec(BasicSpec()).ok());
  VmSpec s = BasicSpec();
  s.shares[1].host_path = "/home/u/a,b";
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("cannot carry"));
  s = BasicSpec();
  s.shares[1].guest_path = "/work dir";
  EXPECT_FALSE(ValidateVmSpec(s).ok());
  s = BasicSpec();
  s.shares[1].tag = "kv0";
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("duplicate"));
  s = BasicSpec();
  s.memory_mib = 64;
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("memory"));
  s = BasicSpec();
  s.accelerator = "hvf";
  EXPECT_FALSE(ValidateVmSpec(s).ok());
}

VmSpec DriveSpec() {
  VmSpec s = BasicSpec();
  s.shares.clear();
  s.drives = {{"usr", "/s/usr.squashfs", "squashfs", true, "/usr", "/usr"},
              {"work", "/s/work.ext4", "ext4", false, "/work", "/home/u/w"}};
  return s;
}

TEST(QemuArgv, DrivesAreVirtioBlkDevicesNamedByTheirSerial) {
  std::string joined = absl::StrJoin(QemuArgv("q", DriveSpec()), " ");
  EXPECT_THAT(joined, HasSubstr("-drive file=/s/usr.squashfs,if=none,id=usr,format=raw,"
                                "readonly=on -device virtio-blk-device,drive=usr,serial=usr "));
  EXPECT_THAT(joined, HasSubstr("-drive file=/s/work.ext4,if=none,id=work,format=raw,"
                                "readonly=off -device virtio-blk-device,drive=work,serial=work"));
  // Attached in the spec's order: the guest's vda is the first.
  EXPECT_LT(joined.find("id=usr"), joined.find("id=work"));
  EXPECT_THAT(joined, Not(HasSubstr("virtio-9p")));
  EXPECT_EQ(GuestMounts(DriveSpec()),
            "link:/bin:usr/bin,blk:usr:squashfs:ro:/usr,blk:work:ext4:rw:/work,tmp:/tmp");
  // 9p shares and drives side by side: shares first, then drives.
  VmSpec both = DriveSpec();
  both.shares = {{"kv0", "/opt", "/opt", true}};
  EXPECT_EQ(GuestMounts(both),
            "link:/bin:usr/bin,ro:kv0:/opt,blk:usr:squashfs:ro:/usr,"
            "blk:work:ext4:rw:/work,tmp:/tmp");
}

TEST(QemuArgv, ValidationChecksDrives) {
  EXPECT_TRUE(ValidateVmSpec(DriveSpec()).ok()) << ValidateVmSpec(DriveSpec());
  VmSpec s = DriveSpec();
  s.drives[1].id = "usr";
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("duplicate"));
  for (const char* bad : {"", "Work", "9work", "wo-rk", "w,x", "abcdefghijklmnopqrstu"}) {
    s = DriveSpec();
    s.drives[1].id = bad;
    EXPECT_FALSE(ValidateVmSpec(s).ok()) << bad;
  }
  s = DriveSpec();
  s.drives[1].id = "abcdefghijklmnopqrst";  // 20: the virtio-blk serial's limit
  EXPECT_TRUE(ValidateVmSpec(s).ok());
  s = DriveSpec();
  s.drives[1].fstype = "xfs";
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("fstype"));
  s = DriveSpec();
  s.drives[0].read_only = false;
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("read-only"));
  s = DriveSpec();
  s.drives[1].host_image = "work.ext4";
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("not absolute"));
  s = DriveSpec();
  s.drives[1].guest_path = "/a:b";
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("cannot carry"));
  s = DriveSpec();
  s.drives[1].host_image = "/s/a,b.ext4";
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("cannot carry"));
}

TEST(Accelerator, TcgUnlessKvmIsHardwareVirtualisation) {
  EXPECT_EQ(ChooseAccelerator({}).accelerator, "tcg");
  EXPECT_THAT(ChooseAccelerator({}).reason, HasSubstr("/dev/kvm missing"));
  AcceleratorChoice pvm = ChooseAccelerator({true, false, true, true});
  EXPECT_EQ(pvm.accelerator, "tcg");
  EXPECT_THAT(pvm.reason, HasSubstr("kvm_pvm"));
  EXPECT_THAT(pvm.reason, HasSubstr("no vmx/svm"));
  EXPECT_EQ(ChooseAccelerator({true, true, false, false}).accelerator, "kvm");
}

// ---- the host end of the agent channel, against a fake guest ----

class FakeGuest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    channel_ = std::make_unique<AgentChannel>(sys::UniqueFd(sv[0]));
    guest_ = sys::UniqueFd(sv[1]);
  }
  void GuestWrites(std::string_view bytes) {
    ASSERT_EQ(::write(guest_.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  std::unique_ptr<AgentChannel> channel_;
  sys::UniqueFd guest_;
};

TEST_F(FakeGuest, GarbageIsAClearError) {
  GuestWrites("Kernel panic - not syncing: Attempted to kill init!\n");
  absl::StatusOr<guest::Frame> f = channel_->Receive(absl::Now() + absl::Seconds(5), nullptr);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(f.status().message(), HasSubstr("bad frame magic"));
}

TEST_F(FakeGuest, SilenceEndsAtTheDeadline) {
  absl::Time t0 = absl::Now();
  absl::StatusOr<guest::Frame> f =
      channel_->Receive(absl::Now() + absl::Milliseconds(200), nullptr);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(2));
}

TEST_F(FakeGuest, AVmThatDiesIsAborted) {
  absl::StatusOr<guest::Frame> f =
      channel_->Receive(absl::Now() + absl::Seconds(10), [] { return false; });
  EXPECT_EQ(f.status().code(), absl::StatusCode::kAborted);
}

TEST_F(FakeGuest, OversizedAnnouncementIsRefusedAndClosedStreamIsDataLoss) {
  std::string header = guest::EncodeFrame(guest::FrameType::kStdout, "");
  header[8] = header[9] = header[10] = header[11] = '\x7f';
  GuestWrites(header);
  absl::StatusOr<guest::Frame> f = channel_->Receive(absl::Now() + absl::Seconds(5), nullptr);
  EXPECT_THAT(f.status().message(), HasSubstr("exceeds the limit"));
  FakeGuest::SetUp();
  guest_.Reset();
  f = channel_->Receive(absl::Now() + absl::Seconds(5), nullptr);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(f.status().message(), HasSubstr("closed"));
}

TEST_F(FakeGuest, FramesArriveInPieces) {
  std::string wire = guest::EncodeFrame(guest::FrameType::kPong, "");
  std::thread writer([&] {
    for (char c : wire) {
      (void)!::write(guest_.get(), &c, 1);
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  absl::StatusOr<guest::Frame> f = channel_->Receive(absl::Now() + absl::Seconds(5), nullptr);
  writer.join();
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->type, guest::FrameType::kPong);
}

// ---- broken guests: each a short boot of a hand-made initramfs ----

// Boots `init_script` (run by the host's static busybox as /init) on the
// cached kernel, directly spawned, and waits for the agent's hello.
class BrokenGuest : public ::testing::Test {
 protected:
  void SetUp() override {
    BackendAvailability a = ProbeMicroVm();
    if (!a.available) GTEST_SKIP() << "microvm cannot run here: " << a.reason;
    absl::StatusOr<GuestImageInputs> in = DefaultGuestImageInputs();
    ASSERT_TRUE(in.ok()) << in.status();
    absl::StatusOr<GuestImage> img = EnsureGuestImage(*in, DefaultImageCacheDir());
    ASSERT_TRUE(img.ok()) << img.status();
    vmlinux_ = img->vmlinux;
    absl::StatusOr<std::string> busybox = sys::ReadFile("/bin/busybox");
    ASSERT_TRUE(busybox.ok());
    busybox_ = *busybox;
    dir_ = TempDir();
    absl::StatusOr<std::string> q = sys::FindInPath("qemu-system-x86_64");
    ASSERT_TRUE(q.ok());
    qemu_ = *q;
  }
  void TearDown() override {
    if (!dir_.empty()) (void)!std::system(("rm -rf " + dir_).c_str());
  }
  absl::StatusOr<guest::Hello> Boot(const std::string& init_script, absl::Duration timeout,
                                    pid_t* qemu_pid) {
    CpioWriter cpio;
    for (const char* d : {"/bin", "/dev", "/proc", "/sys"}) cpio.AddDirectory(d);
    cpio.AddFile("/bin/busybox", busybox_, 0755);
    cpio.AddSymlink("/bin/sh", "busybox");
    for (const auto& [path, data] : extra_files_) cpio.AddFile(path, data, 0644);
    cpio.AddFile("/init", "#!/bin/sh\n/bin/busybox mount -t devtmpfs dev /dev\n" + init_script,
                 0755);
    EXPECT_TRUE(sys::WriteFile(dir_ + "/initrd.cpio", cpio.Finish()).ok());
    VmSpec spec;
    spec.vmlinux = vmlinux_;
    spec.initrd = dir_ + "/initrd.cpio";
    spec.agent_socket = dir_ + "/agent.sock";
    spec.console_log = dir_ + "/console.log";
    spec.tsc_khz = HostTscKhz();
    absl::StatusOr<std::unique_ptr<QemuVm>> vm = QemuVm::Start(
        qemu_, spec, dir_, DirectVmmLauncher(dir_ + "/qemu.log", std::nullopt, nullptr, nullptr));
    if (!vm.ok()) return vm.status();
    vm_ = *std::move(vm);
    std::vector<pid_t> pids = OurTestQemus();
    *qemu_pid = pids.empty() ? -1 : pids.front();
    return vm_->WaitReady(timeout);
  }
  std::vector<pid_t> OurTestQemus() {
    std::vector<pid_t> pids;
    DIR* d = ::opendir("/proc");
    while (d != nullptr && (errno = 0, true)) {
      struct dirent* e = ::readdir(d);
      if (e == nullptr) break;
      pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
      if (pid <= 0) continue;
      absl::StatusOr<std::string> cmd = sys::ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
      if (cmd.ok() && cmd->find(dir_ + "/agent.sock") != std::string::npos) pids.push_back(pid);
    }
    if (d != nullptr) ::closedir(d);
    return pids;
  }
  void ExpectNothingLeft() {
    vm_.reset();
    EXPECT_TRUE(OurTestQemus().empty()) << "QEMU left behind";
    struct stat st;
    EXPECT_NE(::stat((dir_ + "/agent.sock").c_str(), &st), 0) << "socket left behind";
  }
  std::string vmlinux_, busybox_, dir_, qemu_;
  std::vector<std::pair<std::string, std::string>> extra_files_;
  std::unique_ptr<QemuVm> vm_;
};

TEST_F(BrokenGuest, KvmTrialGuestReachesInitUnderTcgAndThisHostsKvmIsJudged) {
  KvmTrial trial{.qemu = qemu_,
                 .vmlinux = vmlinux_,
                 .busybox = "/bin/busybox",
                 .cache_dir = dir_,
                 .deadline = absl::Seconds(30),
                 .accelerator = "tcg"};
  // The trial guest itself: under an accelerator that works it reaches init.
  absl::Status tcg = TrialBootKvm(trial);
  if (!tcg.ok()) {
    // The boot stall described in GarbageOnTheAgentPortIsAClearError.
    std::fprintf(stderr, "trial guest under TCG: %s; booting once more\n",
                 std::string(tcg.message()).c_str());
    tcg = TrialBootKvm(trial);
  }
  EXPECT_TRUE(tcg.ok()) << tcg;
  struct stat st;
  if (::stat("/dev/kvm", &st) != 0) GTEST_SKIP() << "no /dev/kvm: KVM is never tried here";
  KvmFacts facts = ReadKvmFacts();
  trial.accelerator = "kvm";
  trial.deadline = absl::Seconds(4);
  absl::Status kvm = TrialBootKvm(trial);
  if (facts.kvm_pvm || !facts.hw_virt) {
    // This project's machines: kvm_pvm, which cannot run a stock guest
    // (../shared/research/microvm-probe.md). The trial must say no.
    EXPECT_EQ(kvm.code(), absl::StatusCode::kUnavailable) << kvm;
  } else {
    EXPECT_TRUE(kvm.ok()) << "hardware KVM refused the trial guest: " << kvm;
  }
}

TEST_F(BrokenGuest, KernelPanicIsReportedAndLeavesNothing) {
  pid_t pid = -1;
  // /init exits: the kernel panics ("Attempted to kill init"), QEMU exits.
  absl::StatusOr<guest::Hello> h = Boot("exit 3\n", absl::Seconds(60), &pid);
  if (!h.ok() && h.status().code() == absl::StatusCode::kDeadlineExceeded) {
    // The boot stall described in GarbageOnTheAgentPortIsAClearError.
    std::fprintf(stderr, "guest boot stalled (%s); booting once more\n",
                 std::string(h.status().message()).c_str());
    ExpectNothingLeft();
    h = Boot("exit 3\n", absl::Seconds(60), &pid);
  }
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kUnavailable) << h.status();
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("guest kernel panic"));
  ExpectNothingLeft();
}

TEST_F(BrokenGuest, GarbageOnTheAgentPortIsAClearError) {
  absl::StatusOr<GuestImageInputs> in = DefaultGuestImageInputs();
  ASSERT_TRUE(in.ok());
  std::vector<std::string> mods = {"virtio_ring", "virtio", "virtio_mmio", "virtio_console"};
  for (const std::string& m : mods) {
    for (const auto& e :
         std::filesystem::recursive_directory_iterator(in->modules_dir + "/kernel")) {
      if (e.path().filename() == m + ".ko") {
        extra_files_.emplace_back("/" + m + ".ko", *sys::ReadFile(e.path().string()));
      }
    }
  }
  ASSERT_EQ(extra_files_.size(), mods.size());
  pid_t pid = -1;
  const std::string init_script =
      "/bin/busybox mount -t sysfs sys /sys\n"
      "for m in virtio_ring virtio virtio_mmio virtio_console; do /bin/busybox insmod /$m.ko; "
      "done\n"
      "until echo 'hello, I am not an agent' > /dev/vport0p1; do /bin/busybox usleep 20000; done\n"
      "/bin/busybox sleep 600\n";
  absl::StatusOr<guest::Hello> h = Boot(init_script, absl::Seconds(30), &pid);
  if (!h.ok() && h.status().code() == absl::StatusCode::kDeadlineExceeded) {
    // About one TCG boot in twenty stalls after the kernel's PCI line before
    // this /init writes anything (seen with and without tsc=reliable); the
    // product's template boot retries once for the same reason. That stall
    // is not what this test is about, so it gets one more boot, and says so.
    std::fprintf(stderr, "guest boot stalled (%s); booting once more\n",
                 std::string(h.status().message()).c_str());
    ExpectNothingLeft();
    h = Boot(init_script, absl::Seconds(30), &pid);
  }
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kDataLoss) << h.status();
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("bad frame magic"));
  ExpectNothingLeft();
}

TEST_F(BrokenGuest, SilentGuestTimesOutAndLeavesNothing) {
  pid_t pid = -1;
  absl::Time t0 = absl::Now();
  absl::StatusOr<guest::Hello> h = Boot("/bin/busybox sleep 600\n", absl::Seconds(4), &pid);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kDeadlineExceeded) << h.status();
  EXPECT_THAT(h.status().message(), HasSubstr("did not say hello"));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(15));
  ExpectNothingLeft();
}

// ---- booted guests (few: each cold boot under TCG costs seconds) ----

// One VM for the whole suite; skipped with the reason when it cannot boot.
// A TCP listener on the host's 127.0.0.1 at an ephemeral port: QEMU's
// user-mode network shows the host's loopback to the guest as 10.0.2.2.
struct HostListener {
  int fd = -1;
  int port = 0;
  HostListener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd, 4) != 0 ||
        ::getsockname(fd, reinterpret_cast<struct sockaddr*>(&a), &len) != 0) {
      if (fd >= 0) ::close(fd);
      fd = -1;
      return;
    }
    port = ntohs(a.sin_port);
  }
  ~HostListener() {
    if (fd >= 0) ::close(fd);
  }
  // The bytes of the first connection, up to its end; nullopt when none
  // arrives within `wait`.
  std::optional<std::string> AcceptAndRead(absl::Duration wait) {
    struct pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) != 1) return std::nullopt;
    int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return std::nullopt;
    std::string got;
    char buf[256];
    for (;;) {
      struct pollfd q = {c, POLLIN, 0};
      if (::poll(&q, 1, 10000) != 1) break;
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    ::close(c);
    return got;
  }
};

// Python in the guest (the host's, over the /usr share) connects to the
// host's loopback through slirp and sends a line.
std::string GuestSendScript(int port) {
  return absl::StrCat(
      "import socket\n"
      "s = socket.create_connection(('10.0.2.2', ",
      port,
      "), timeout=20)\n"
      "s.sendall(b'bytes from the guest')\n"
      "s.close()\n"
      "print('sent')\n");
}

class BootedVm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    BackendAvailability a = ProbeMicroVm();
    if (!a.available) {
      skip_ = new std::string(a.reason);
      return;
    }
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend({.vmm = "qemu"});
    if (!b.ok()) {
      skip_ = new std::string(b.status().ToString());
      return;
    }
    config_ = new SandboxConfig();
    config_->backend = BackendKind::kFirecracker;
    config_->policy = SandboxPolicy::Strict();
    // The working directory brings the adversarial suite's helper (built
    // beside this test) into the guest.
    workdir_ = new std::string(TempDir());
    ::chmod(workdir_->c_str(), 0777);
    config_->host_workdir = *workdir_;
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    std::string attack = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string();
    attack = attack.substr(0, attack.rfind('/') + 1) + "kavach_attack";
    if (absl::StatusOr<std::string> bin = sys::ReadFile(attack); bin.ok()) {
      have_attack_ = sys::WriteFile(*workdir_ + "/kavach_attack", *bin, 0755).ok();
    }
    PrepareReport report;
    absl::Time t0 = absl::Now();
    prepare_ = new absl::Status((*b)->Prepare(*config_, &report));
    std::cerr << "microvm prepare took " << absl::FormatDuration(absl::Now() - t0) << "\n";
    for (const Evidence& e : report.evidence) {
      std::cerr << "  evidence " << e.control << " " << e.verified << " " << e.detail << "\n";
    }
    backend_ = b->release();
  }
  static void TearDownTestSuite() {
    if (backend_ != nullptr) {
      (void)backend_->Destroy();
      delete backend_;
      backend_ = nullptr;
    }
    if (workdir_ != nullptr) (void)!std::system(("rm -rf " + *workdir_).c_str());
  }
  void SetUp() override {
    if (skip_ != nullptr) GTEST_SKIP() << "microvm cannot run here: " << *skip_;
    ASSERT_TRUE(prepare_->ok()) << *prepare_;
  }
  static absl::StatusOr<ExecResult> Run(std::vector<std::string> argv,
                                        absl::Duration timeout = absl::Seconds(20)) {
    BackendExecRequest r;
    r.argv = std::move(argv);
    r.env = {"PATH=/usr/bin:/bin", "HOME=/work"};
    r.cwd = "/work";
    r.timeout = timeout;
    return backend_->Exec(r);
  }
  static inline std::string* skip_ = nullptr;
  static inline SandboxConfig* config_ = nullptr;
  static inline absl::Status* prepare_ = nullptr;
  static inline Backend* backend_ = nullptr;
  static inline std::string* workdir_ = nullptr;
  static inline bool have_attack_ = false;
};

// The adversarial suite's syscall attacks (tests/adversarial), run by its
// helper inside the guest under the strict policy: each must be blocked
// (an error on every path, or SIGSYS from the guest-side seccomp filter).
TEST_F(BootedVm, AdversarialAttacksAreBlockedInsideTheGuest) {
  if (!have_attack_) GTEST_SKIP() << "kavach_attack is not built beside this test";
  for (const char* attack : {"ptrace", "mount", "fsopen", "unshare", "setns", "bpf", "keyctl",
                             "perf", "module", "iouring", "userfaultfd", "open_by_handle", "vmread",
                             "chroot", "tiocsti", "rawsock", "procsys"}) {
    absl::StatusOr<ExecResult> r = Run({"/work/kavach_attack", attack});
    ASSERT_TRUE(r.ok()) << attack << ": " << r.status();
    std::string verdict = "none";
    for (absl::string_view line : absl::StrSplit(r->stdout_data, '\n')) {
      if (absl::StartsWith(line, "RESULT ")) {
        verdict = std::string(line.substr(7, line.find(' ', 7) - 7));
      }
    }
    bool blocked = verdict == "blocked" || (verdict == "none" && r->signal == SIGSYS);
    EXPECT_TRUE(blocked) << attack << ": verdict " << verdict << ", signal " << r->signal
                         << ", exit " << r->exit_code << "\n"
                         << r->stdout_data << r->stderr_data;
  }
}

// Each ctest process boots its own VM, so the checks share few test cases.
TEST_F(BootedVm, CommandsRunInTheGuest) {
  {
    SCOPED_TRACE("EchoHiWithExitCodesAndSeparateStreams");
    absl::StatusOr<ExecResult> r = Run({"/bin/sh", "-c", "echo hi"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 0);
    EXPECT_EQ(r->stdout_data, "hi\n");
    EXPECT_EQ(r->stderr_data, "");
    r = Run({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 3);
    EXPECT_EQ(r->stdout_data, "out\n");
    EXPECT_EQ(r->stderr_data, "err\n");
    r = Run({"/bin/sh", "-c", "kill -TERM $$"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->signal, SIGTERM);
    r = Run({"no-such-program"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 127);
  }
  {
    SCOPED_TRACE("DynamicHostBinaryRunsOnTheGuestKernelAsAnUnprivilegedUser");
    absl::StatusOr<ExecResult> r = Run({"/usr/bin/uname", "-r"});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->exit_code, 0) << r->stderr_data;
    absl::StatusOr<std::string> host = sys::ReadFile("/proc/sys/kernel/osrelease");
    ASSERT_TRUE(host.ok());
    EXPECT_NE(r->stdout_data, *host);  // the guest's own kernel
    EXPECT_FALSE(r->stdout_data.empty());
    r = Run({"/usr/bin/id", "-u"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stdout_data, absl::StrCat(config_->policy.uid, "\n"));
    r = Run({"/bin/sh", "-c", "ls /sys/class/net; ulimit -n"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stdout_data, "lo\n1024\n");  // no network device; the policy's rlimit
  }
  {
    SCOPED_TRACE("NetworkNoneReachesNothingOnTheHost");
    HostListener l;
    ASSERT_GE(l.fd, 0) << strerror(errno);
    absl::StatusOr<ExecResult> r = Run({"/usr/bin/python3", "-c", GuestSendScript(l.port)});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_NE(r->exit_code, 0) << r->stdout_data;
    EXPECT_THAT(r->stderr_data, HasSubstr("Network is unreachable"));
    EXPECT_EQ(l.AcceptAndRead(absl::Seconds(1)), std::nullopt);
  }
  {
    SCOPED_TRACE("WorkdirIsWritableAndTheSystemIsNot");
    absl::StatusOr<ExecResult> r =
        Run({"/bin/sh", "-c", "echo data > /work/f && cat /work/f && touch /usr/x"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stdout_data, "data\n");
    EXPECT_NE(r->exit_code, 0);
    EXPECT_THAT(r->stderr_data, HasSubstr("/usr/x"));
  }
}

TEST_F(BootedVm, TimeoutStopPauseAndRepeatedExecs) {
  {
    SCOPED_TRACE("TimeoutKillsTheCommandAndTheVmStaysUsable");
    absl::Time t0 = absl::Now();
    absl::StatusOr<ExecResult> r =
        Run({"/bin/sh", "-c", "sleep 30 & sleep 30; echo never"}, absl::Milliseconds(700));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->timed_out);
    EXPECT_EQ(r->signal, SIGKILL);
    EXPECT_EQ(r->stdout_data, "");
    EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
    // Neither sleep (the background one included) is left behind.
    r = Run({"/bin/sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^sleep$'"});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stdout_data, "0\n");
  }
  {
    SCOPED_TRACE("SpawnStreamsAndStopKillsTheRunningCommand");
    BackendExecRequest r;
    r.argv = {"/bin/sh", "-c", "echo started; sleep 30; echo never"};
    r.env = {"PATH=/usr/bin:/bin"};
    r.cwd = "/work";
    r.timeout = absl::Seconds(60);
    absl::Mutex mu;
    std::string streamed;
    r.on_stdout = [&](std::string_view d) {
      absl::MutexLock lock(&mu);
      streamed.append(d);
    };
    absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = backend_->Spawn(r);
    ASSERT_TRUE(p.ok()) << p.status();
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    for (;;) {
      {
        absl::MutexLock lock(&mu);
        if (streamed == "started\n") break;
      }
      ASSERT_LT(absl::Now(), deadline) << "no output streamed";
      absl::SleepFor(absl::Milliseconds(20));
    }
    absl::Time t0 = absl::Now();
    ASSERT_TRUE(backend_->Stop().ok());
    absl::StatusOr<ExecResult> res = (*p)->Wait();
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->signal, SIGKILL);
    EXPECT_EQ(res->stdout_data, "started\n");
    EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  }
  {
    SCOPED_TRACE("PauseFreezesTheVmAndResumeContinuesIt");
    ASSERT_TRUE(backend_->Pause().ok());
    std::atomic<bool> done{false};
    absl::StatusOr<ExecResult> r = absl::UnknownError("not run");
    std::thread t([&] {
      r = Run({"/bin/sh", "-c", "echo after"});
      done = true;
    });
    absl::SleepFor(absl::Milliseconds(800));
    EXPECT_FALSE(done.load()) << "a command completed in a paused VM";
    ASSERT_TRUE(backend_->Resume().ok());
    t.join();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->stdout_data, "after\n");
  }
  {
    // A command in a running VM costs one agent round trip plus the guest's
    // fork/exec under TCG; printed for the benchmark notes.
    SCOPED_TRACE("RepeatedExecsInARunningVm");
    std::vector<absl::Duration> times;
    for (int i = 0; i < 10; ++i) {
      absl::Time t0 = absl::Now();
      absl::StatusOr<ExecResult> r = Run({"/bin/true"});
      times.push_back(absl::Now() - t0);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->exit_code, 0);
    }
    std::sort(times.begin(), times.end());
    std::cerr << "microvm: /bin/true in a running VM, 10 runs: min "
              << absl::FormatDuration(times.front()) << " median " << absl::FormatDuration(times[5])
              << " max " << absl::FormatDuration(times.back()) << "\n";
    EXPECT_LT(times[5], absl::Seconds(2));
  }
}

// ---- warm clones ----

// The template RAM file of the strict policy's VMs, found through the
// clone evidence ("... clone of template DIR (...").
std::string TemplateDirFrom(const PrepareReport& report) {
  for (const Evidence& e : report.evidence) {
    if (e.control != "vm.clone") continue;
    size_t at = e.detail.find("template ");
    if (at == std::string::npos) return "";
    std::string rest = e.detail.substr(at + 9);
    return rest.substr(0, rest.find(' '));
  }
  return "";
}

bool Cloned(const PrepareReport& report) {
  for (const Evidence& e : report.evidence) {
    if (e.control == "vm.clone") return e.verified;
  }
  return false;
}

std::string FileSha256(const std::string& path) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string buf(1 << 20, '\0');
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) EVP_DigestUpdate(ctx, buf.data(), n);
  std::fclose(f);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return std::string(reinterpret_cast<char*>(md), len);
}

struct Clone {
  std::unique_ptr<Backend> backend;
  PrepareReport report;
  std::string workdir;
  absl::StatusOr<ExecResult> Run(const std::string& script) {
    BackendExecRequest r;
    r.argv = {"/bin/sh", "-c", script};
    r.env = {"PATH=/usr/bin:/bin"};
    r.cwd = "/work";
    r.timeout = absl::Seconds(20);
    return backend->Exec(r);
  }
};

absl::StatusOr<Clone> MakeClone(NetworkMode network = NetworkMode::kNone) {
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend({.vmm = "qemu"});
  if (!b.ok()) return b.status();
  Clone c;
  c.backend = *std::move(b);
  c.workdir = TempDir();
  ::chmod(c.workdir.c_str(), 0777);
  SandboxConfig config;
  config.backend = BackendKind::kFirecracker;
  config.policy = SandboxPolicy::Strict();
  config.policy.network.mode = network;
  config.host_workdir = c.workdir;
  if (absl::Status s = c.backend->Prepare(config, &c.report); !s.ok()) return s;
  return c;
}

const Evidence* FindEvidence(const PrepareReport& r, const std::string& control) {
  for (const Evidence& e : r.evidence) {
    if (e.control == control) return &e;
  }
  return nullptr;
}

// Policy network host: the guest has a NIC on QEMU's user-mode network and
// reaches a listener on the host's loopback; the evidence says so and
// claims no network isolation (no points for it, as in the Process backend).
TEST(MicroVmNetwork, HostModeReachesAListenerOnTheHostsLoopback) {
  BackendAvailability a = ProbeMicroVm();
  if (!a.available) GTEST_SKIP() << "microvm cannot run here: " << a.reason;
  HostListener l;
  ASSERT_GE(l.fd, 0) << strerror(errno);
  ::setenv("KAVACH_MICROVM_CLONE", "off", 1);
  absl::StatusOr<Clone> vm = MakeClone(NetworkMode::kHost);
  ::unsetenv("KAVACH_MICROVM_CLONE");
  ASSERT_TRUE(vm.ok()) << vm.status();
  const Evidence* net = FindEvidence(vm->report, "network");
  ASSERT_NE(net, nullptr);
  EXPECT_THAT(net->detail, HasSubstr("network host"));
  EXPECT_EQ(net->points, 0);
  EXPECT_EQ(FindEvidence(vm->report, "network isolated"), nullptr);
  // The commands' own network namespace holds the NIC (the guest's /sys
  // was mounted in the agent's, which keeps only its loopback).
  absl::StatusOr<ExecResult> r = vm->Run(
      "/usr/bin/python3 -c 'import socket; print(sorted(n for _, n in socket.if_nameindex()))'; "
      "cat /etc/resolv.conf");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "['eth0', 'lo']\nnameserver 10.0.2.3\n") << r->stderr_data;
  r = vm->Run(absl::StrCat("exec /usr/bin/python3 -c \"", GuestSendScript(l.port), "\""));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
  EXPECT_EQ(r->stdout_data, "sent\n");
  EXPECT_EQ(l.AcceptAndRead(absl::Seconds(20)), "bytes from the guest");
  ASSERT_TRUE(vm->backend->Destroy().ok());
  (void)!std::system(("rm -rf " + vm->workdir).c_str());
}

// A warm clone in host mode comes from a template booted with the NIC (the
// NIC is on the QEMU command line, so in the template key), and slirp's
// state survives the migration: the clone reaches the host too.
TEST(MicroVmNetwork, HostModeCloneComesFromATemplateWithTheNic) {
  BackendAvailability a = ProbeMicroVm();
  if (!a.available) GTEST_SKIP() << "microvm cannot run here: " << a.reason;
  ::unsetenv("KAVACH_MICROVM_CLONE");
  HostListener l;
  ASSERT_GE(l.fd, 0) << strerror(errno);
  absl::StatusOr<Clone> vm = MakeClone(NetworkMode::kHost);
  ASSERT_TRUE(vm.ok()) << vm.status();
  const Evidence* clone = FindEvidence(vm->report, "vm.clone");
  ASSERT_NE(clone, nullptr);
  EXPECT_TRUE(clone->verified) << clone->detail;
  absl::StatusOr<ExecResult> r =
      vm->Run(absl::StrCat("exec /usr/bin/python3 -c \"", GuestSendScript(l.port), "\""));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
  EXPECT_EQ(l.AcceptAndRead(absl::Seconds(20)), "bytes from the guest");
  ASSERT_TRUE(vm->backend->Destroy().ok());
  (void)!std::system(("rm -rf " + vm->workdir).c_str());
}

// Mode proxy has no guest-side enforcement: refused, naming the mode,
// before anything boots.
TEST(MicroVmNetwork, ProxyModeIsRefusedNamingTheMode) {
  BackendAvailability a = ProbeMicroVm();
  if (!a.available) GTEST_SKIP() << "microvm cannot run here: " << a.reason;
  absl::StatusOr<Clone> vm = MakeClone(NetworkMode::kProxy);
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().code(), absl::StatusCode::kFailedPrecondition) << vm.status();
  EXPECT_THAT(std::string(vm.status().message()),
              HasSubstr("network: the microvm backend supports network modes none and host; "
                        "mode proxy is not supported"));
}

// Two clones of one template: different entropy, identities and files; the
// template's RAM file is not written; destroying them leaves nothing.
TEST(MicroVmClones, TwoClonesShareNeitherEntropyNorFilesAndLeaveNothing) {
  BackendAvailability a = ProbeMicroVm();
  if (!a.available) GTEST_SKIP() << "microvm cannot run here: " << a.reason;
  ::unsetenv("KAVACH_MICROVM_CLONE");
  absl::StatusOr<Clone> first = MakeClone();  // builds the template when none is cached
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(Cloned(first->report));
  std::string tdir = TemplateDirFrom(first->report);
  ASSERT_FALSE(tdir.empty());
  std::string digest = FileSha256(tdir + "/ram");
  ASSERT_FALSE(digest.empty());
  absl::StatusOr<Clone> second = MakeClone();
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(Cloned(second->report));
  EXPECT_EQ(TemplateDirFrom(second->report), tdir);
  for (const Evidence& e : second->report.evidence) {
    if (e.control == "vm.clone") std::cerr << "clone: " << e.detail << "\n";
  }

  const char* probe =
      "od -An -tx1 -N32 /dev/urandom | tr -d ' \\n'; echo; cat /proc/sys/kernel/hostname "
      "/etc/machine-id";
  absl::StatusOr<ExecResult> ra = first->Run(probe);
  absl::StatusOr<ExecResult> rb = second->Run(probe);
  ASSERT_TRUE(ra.ok() && rb.ok());
  ASSERT_EQ(ra->exit_code, 0) << ra->stderr_data;
  ASSERT_EQ(rb->exit_code, 0) << rb->stderr_data;
  std::vector<std::string> la = absl::StrSplit(ra->stdout_data, '\n');
  std::vector<std::string> lb = absl::StrSplit(rb->stdout_data, '\n');
  ASSERT_GE(la.size(), 3u);
  ASSERT_GE(lb.size(), 3u);
  EXPECT_EQ(la[0].size(), 64u) << ra->stdout_data;
  EXPECT_NE(la[0], lb[0]) << "two clones read the same /dev/urandom bytes";
  EXPECT_NE(la[1], lb[1]) << "same hostname";
  EXPECT_NE(la[2], lb[2]) << "same machine-id";

  // Files one clone writes (its tmpfs, its workdir) are not the other's.
  absl::StatusOr<ExecResult> w = first->Run("echo secret > /tmp/a && echo secret > /work/a");
  ASSERT_TRUE(w.ok() && w->exit_code == 0) << (w.ok() ? w->stderr_data : w.status().ToString());
  absl::StatusOr<ExecResult> look =
      second->Run("for f in /tmp/a /work/a; do [ -e $f ] && echo FOUND $f; done; true");
  ASSERT_TRUE(look.ok()) << look.status();
  EXPECT_EQ(look->exit_code, 0) << look->stderr_data;
  EXPECT_EQ(look->stdout_data, "");
  absl::StatusOr<ExecResult> own = first->Run("cat /tmp/a /work/a");
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->stdout_data, "secret\nsecret\n");

  for (Clone* c : {&*first, &*second}) {
    ASSERT_TRUE(c->backend->Destroy().ok());
    (void)!std::system(("rm -rf " + c->workdir).c_str());
  }
  // No QEMU of ours, no state directory (sockets, console, logs) left.
  DIR* d = ::opendir(absl::StrCat("/var/tmp/kavach-microvm-", ::geteuid()).c_str());
  int vms = 0;
  if (d != nullptr) {
    std::string ours = absl::StrCat("vm-", ::getpid(), "-");
    while (struct dirent* e = ::readdir(d)) vms += absl::StartsWith(e->d_name, ours) ? 1 : 0;
    ::closedir(d);
  }
  EXPECT_EQ(vms, 0) << "a VM state directory was left behind";
  // No QEMU naming one of our state directories is still running.
  int qemus = 0;
  if (DIR* p = ::opendir("/proc")) {
    std::string ours = absl::StrCat("/vm-", ::getpid(), "-");
    while (struct dirent* e = ::readdir(p)) {
      absl::StatusOr<std::string> cmd =
          sys::ReadFile(absl::StrCat("/proc/", e->d_name, "/cmdline"));
      qemus += cmd.ok() && absl::StrContains(*cmd, "qemu-system") && absl::StrContains(*cmd, ours);
    }
    ::closedir(p);
  }
  EXPECT_EQ(qemus, 0) << "a QEMU was left running";
  EXPECT_EQ(FileSha256(tdir + "/ram"), digest) << "a clone wrote the template's RAM file";
}

// A SandboxPool of this backend hands out template clones, each with its
// own identity.
TEST(MicroVmClones, SandboxPoolHandsOutClones) {
  BackendAvailability a = ProbeMicroVm();
  if (!a.available) GTEST_SKIP() << "microvm cannot run here: " << a.reason;
  ::unsetenv("KAVACH_MICROVM_CLONE");
  absl::StatusOr<SandboxConfig> config = SandboxConfig::Builder()
                                             .backend(BackendKind::kFirecracker)
                                             .policy(SandboxPolicy::Strict())
                                             .timeout(absl::Seconds(30))
                                             .Build();
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<SandboxPool>> pool = SandboxPool::Create(*config, 2);
  ASSERT_TRUE(pool.ok()) << pool.status();
  std::vector<std::string> hostnames;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<Sandbox>> sb = (*pool)->Claim();
    ASSERT_TRUE(sb.ok()) << sb.status();
    bool cloned = false;
    for (const Evidence& e : (*sb)->evidence()) cloned |= e.control == "vm.clone" && e.verified;
    EXPECT_TRUE(cloned) << "pool sandbox " << i << " was not a template clone";
    absl::StatusOr<ExecResult> r = (*sb)->Exec({"/bin/cat", "/proc/sys/kernel/hostname"});
    ASSERT_TRUE(r.ok()) << r.status();
    hostnames.push_back(r->stdout_data);
    ASSERT_TRUE((*sb)->Destroy().ok());
  }
  EXPECT_NE(hostnames[0], hostnames[1]);
}

// --cold: a fresh boot, no template involved.
TEST(MicroVmClones, ColdBootWhenClonesAreOff) {
  BackendAvailability a = ProbeMicroVm();
  if (!a.available) GTEST_SKIP() << "microvm cannot run here: " << a.reason;
  ::setenv("KAVACH_MICROVM_CLONE", "off", 1);
  absl::StatusOr<Clone> cold = MakeClone();
  ::unsetenv("KAVACH_MICROVM_CLONE");
  ASSERT_TRUE(cold.ok()) << cold.status();
  EXPECT_FALSE(Cloned(cold->report));
  absl::StatusOr<ExecResult> r = cold->Run("echo hi; cat /proc/sys/kernel/hostname");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->stdout_data, HasSubstr("hi\nkavach-"));
  ASSERT_TRUE(cold->backend->Destroy().ok());
  (void)!std::system(("rm -rf " + cold->workdir).c_str());
}

// QEMU processes of this backend: their command line names our state dir.
std::vector<pid_t> OurQemus() {
  std::vector<pid_t> pids;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return pids;
  while (struct dirent* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    absl::StatusOr<std::string> cmd = sys::ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    if (cmd.ok() && cmd->find("qemu-system") != std::string::npos &&
        cmd->find(absl::StrCat("/kavach-microvm-", ::geteuid(), "/vm-", ::getpid(), "-")) !=
            std::string::npos) {
      pids.push_back(pid);
    }
  }
  ::closedir(d);
  return pids;
}

// Last in the suite (it ends the VM): a QEMU killed with -9 is a clear
// error, and destroying leaves no process, socket, directory or cgroup.
TEST_F(BootedVm, ZzQemuKilledIsAClearErrorAndDestroyLeavesNothing) {
  std::vector<pid_t> qemus = OurQemus();
  ASSERT_EQ(qemus.size(), 1u);
  std::string cgroup_line;
  if (absl::StatusOr<std::string> cg = sys::ReadFile(absl::StrCat("/proc/", qemus[0], "/cgroup"));
      cg.ok()) {
    cgroup_line = *cg;
  }
  ASSERT_EQ(::kill(qemus[0], SIGKILL), 0);
  absl::StatusOr<ExecResult> r = Run({"/bin/true"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("VM")) << r.status();
  ASSERT_TRUE(backend_->Destroy().ok());
  EXPECT_TRUE(OurQemus().empty());
  DIR* d = ::opendir(absl::StrCat("/var/tmp/kavach-microvm-", ::geteuid()).c_str());
  int vms = 0;
  if (d != nullptr) {
    std::string ours = absl::StrCat("vm-", ::getpid(), "-");
    while (struct dirent* e = ::readdir(d)) vms += absl::StartsWith(e->d_name, ours) ? 1 : 0;
    ::closedir(d);
  }
  EXPECT_EQ(vms, 0) << "a VM state directory was left behind";
  // The QEMU cgroup is gone too.
  for (absl::string_view line : absl::StrSplit(cgroup_line, '\n')) {
    size_t k = line.find("/kavach/");
    if (k == absl::string_view::npos) continue;
    std::string rel(line.substr(line.find(':', line.find(':') + 1) + 1));
    bool found = false;
    for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
                             "/sys/fs/cgroup/unified"}) {
      struct stat st;
      if (::stat(absl::StrCat(root, rel).c_str(), &st) == 0) found = true;
    }
    EXPECT_FALSE(found) << "cgroup left behind: " << rel;
  }
}

// Block-device shares (what Firecracker needs, here under QEMU): /usr is a
// squashfs image of a small busybox tree, the working directory an ext4
// image copied back at Destroy.
struct BlockTree {
  std::string root, usr, work;
  SandboxConfig config;
  MicroVmBackendOptions options;
};

// A skip reason, or "" with `t` filled.
std::string MakeBlockTree(BlockTree* t) {
  BackendAvailability a = ProbeMicroVm();
  if (!a.available) return "microvm cannot run here: " + a.reason;
  for (const char* tool : {"mksquashfs", "mke2fs", "debugfs"}) {
    if (!sys::FindInPath(tool, "/usr/sbin:/usr/bin:/sbin:/bin").ok()) {
      return std::string(tool) + " missing (scripts/bootstrap installs squashfs-tools, e2fsprogs)";
    }
  }
  absl::StatusOr<std::string> bb = sys::ReadFile("/bin/busybox");
  if (!bb.ok()) return "/bin/busybox missing (busybox-static)";
  t->root = TempDir();
  t->usr = t->root + "/usr";
  t->work = t->root + "/work";
  EXPECT_EQ(::mkdir(t->usr.c_str(), 0755), 0);
  EXPECT_EQ(::mkdir((t->usr + "/bin").c_str(), 0755), 0);
  EXPECT_TRUE(sys::WriteFile(t->usr + "/bin/busybox", *bb, 0755).ok());
  for (const char* applet : {"sh", "cat", "uname", "echo", "ls", "touch", "printf", "sleep"}) {
    EXPECT_EQ(::symlink("busybox", (t->usr + "/bin/" + applet).c_str()), 0);
  }
  EXPECT_EQ(::mkdir(t->work.c_str(), 0777), 0);
  ::chmod(t->work.c_str(), 0777);
  EXPECT_TRUE(sys::WriteFile(t->work + "/in.txt", "from the host\n", 0644).ok());
  t->config.backend = BackendKind::kFirecracker;
  t->config.policy = SandboxPolicy::Strict();
  t->config.host_workdir = t->work;
  t->options = {.vmm = "qemu", .share_mode = "block", .block_usr = t->usr};
  return "";
}

// The squashfs image of a test tree, removed from the shared cache.
void RemoveCachedSquashfs(const BlockTree& t) {
  absl::StatusOr<std::string> key = SquashfsCacheKey(t.usr);
  if (key.ok())
    ::unlink(absl::StrCat(DefaultImageCacheDir(), "/squashfs/", *key, ".squashfs").c_str());
}

absl::StatusOr<ExecResult> RunIn(Backend& b, const std::string& script) {
  BackendExecRequest r;
  r.argv = {"/bin/sh", "-c", script};
  r.env = {"PATH=/usr/bin:/bin"};
  r.cwd = "/work";
  r.timeout = absl::Seconds(30);
  return b.Exec(r);
}

TEST(MicroVmBlockShares, CommandRunsOnSquashfsAndExt4AndItsFilesComeBack) {
  BlockTree t;
  if (std::string skip = MakeBlockTree(&t); !skip.empty()) GTEST_SKIP() << skip;
  const std::string& usr = t.usr;
  const std::string& work = t.work;
  const SandboxConfig& config = t.config;
  const MicroVmBackendOptions& options = t.options;

  // Warm clones carry no drives: block mode with clones on is refused.
  ::unsetenv("KAVACH_MICROVM_CLONE");
  {
    absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend(options);
    ASSERT_TRUE(b.ok());
    PrepareReport report;
    absl::Status s = (*b)->Prepare(config, &report);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(s.message(), HasSubstr("KAVACH_MICROVM_CLONE=off"));
  }

  ::setenv("KAVACH_MICROVM_CLONE", "off", 1);
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend(options);
  ASSERT_TRUE(b.ok());
  PrepareReport report;
  absl::Status prepared = (*b)->Prepare(config, &report);
  ::unsetenv("KAVACH_MICROVM_CLONE");
  ASSERT_TRUE(prepared.ok()) << prepared;
  std::string share;
  for (const Evidence& e : report.evidence) {
    if (e.control == "vm.share") share = e.detail;
    if (absl::StartsWith(e.control, "vm.share")) std::cerr << e.control << ": " << e.detail << "\n";
  }
  EXPECT_EQ(share, "block");
  BackendExecRequest r;
  r.argv = {"/bin/sh", "-c",
            "uname -r; cat /proc/mounts; cat in.txt; echo hi > out.txt; "
            "(echo x > /usr/bin/planted) 2>/dev/null && echo RO=writable || echo RO=denied"};
  r.env = {"PATH=/usr/bin:/bin"};
  r.cwd = "/work";
  r.timeout = absl::Seconds(30);
  absl::StatusOr<ExecResult> out = (*b)->Exec(r);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->exit_code, 0) << out->stderr_data;
  EXPECT_EQ(out->stderr_data, "");
  std::vector<std::string> lines = absl::StrSplit(out->stdout_data, '\n');
  ASSERT_FALSE(lines.empty());
  absl::StatusOr<std::string> host_release = sys::ReadFile("/proc/sys/kernel/osrelease");
  ASSERT_TRUE(host_release.ok());
  EXPECT_NE(lines[0] + "\n", *host_release) << "the command ran on the host's kernel";
  EXPECT_THAT(out->stdout_data, HasSubstr(" /usr squashfs ro,nosuid,nodev"));
  EXPECT_THAT(out->stdout_data, HasSubstr(" /work ext4 rw,sync,dirsync,nosuid,nodev"));
  EXPECT_THAT(out->stdout_data, Not(HasSubstr(" 9p ")));
  EXPECT_THAT(out->stdout_data, HasSubstr("from the host\n"));
  EXPECT_THAT(out->stdout_data, HasSubstr("RO=denied"));
  // Not on the host before Destroy: the image is copied back after QEMU.
  EXPECT_NE(::access((work + "/out.txt").c_str(), F_OK), 0);
  absl::Status destroyed = (*b)->Destroy();
  ASSERT_TRUE(destroyed.ok()) << destroyed;
  absl::StatusOr<std::string> written = sys::ReadFile(work + "/out.txt");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, "hi\n");
  EXPECT_EQ(*sys::ReadFile(work + "/in.txt"), "from the host\n");
  EXPECT_NE(::access((usr + "/bin/planted").c_str(), F_OK), 0);
  EXPECT_NE(::access((work + "/lost+found").c_str(), F_OK), 0);
  RemoveCachedSquashfs(t);
  (void)!std::system(("rm -rf " + t.root).c_str());
}

// A QEMU killed with -9 still gets its read-write drives copied back: the
// guest wrote them synchronously, and Destroy reads the image after the VMM.
TEST(MicroVmBlockShares, ZzKilledQemuStillGetsItsCopyOut) {
  BlockTree t;
  if (std::string skip = MakeBlockTree(&t); !skip.empty()) GTEST_SKIP() << skip;
  ::setenv("KAVACH_MICROVM_CLONE", "off", 1);
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend(t.options);
  ASSERT_TRUE(b.ok());
  PrepareReport report;
  absl::Status prepared = (*b)->Prepare(t.config, &report);
  ::unsetenv("KAVACH_MICROVM_CLONE");
  ASSERT_TRUE(prepared.ok()) << prepared;
  absl::StatusOr<ExecResult> w = RunIn(**b, "echo before-kill > kept.txt; rm in.txt");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->exit_code, 0) << w->stderr_data;
  std::vector<pid_t> qemus = OurQemus();
  ASSERT_EQ(qemus.size(), 1u);
  ASSERT_EQ(::kill(qemus[0], SIGKILL), 0);
  absl::StatusOr<ExecResult> r = RunIn(**b, "true");
  EXPECT_FALSE(r.ok());
  absl::Status destroyed = (*b)->Destroy();
  EXPECT_TRUE(OurQemus().empty());
  absl::StatusOr<std::string> kept = sys::ReadFile(t.work + "/kept.txt");
  ASSERT_TRUE(kept.ok()) << kept.status() << " (Destroy: " << destroyed << ")";
  EXPECT_EQ(*kept, "before-kill\n");
  EXPECT_NE(::access((t.work + "/in.txt").c_str(), F_OK), 0) << "the guest's rm was not copied";
  RemoveCachedSquashfs(t);
  (void)!std::system(("rm -rf " + t.root).c_str());
}

// A copy-out that cannot finish (here: the working directory vanished)
// is Destroy's error, and the image is kept, named in it.
TEST(MicroVmBlockShares, FailedCopyOutKeepsTheImage) {
  BlockTree t;
  if (std::string skip = MakeBlockTree(&t); !skip.empty()) GTEST_SKIP() << skip;
  ::setenv("KAVACH_MICROVM_CLONE", "off", 1);
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend(t.options);
  ASSERT_TRUE(b.ok());
  PrepareReport report;
  absl::Status prepared = (*b)->Prepare(t.config, &report);
  ::unsetenv("KAVACH_MICROVM_CLONE");
  ASSERT_TRUE(prepared.ok()) << prepared;
  absl::StatusOr<ExecResult> w = RunIn(**b, "echo precious > result.txt");
  ASSERT_TRUE(w.ok() && w->exit_code == 0) << (w.ok() ? w->stderr_data : w.status().ToString());
  ASSERT_EQ(::rename(t.work.c_str(), (t.root + "/moved").c_str()), 0);
  absl::Status destroyed = (*b)->Destroy();
  ASSERT_FALSE(destroyed.ok());
  EXPECT_EQ(destroyed.code(), absl::StatusCode::kNotFound) << destroyed;
  std::string msg(destroyed.message());
  size_t at = msg.find("the image is kept at ");
  ASSERT_NE(at, std::string::npos) << destroyed;
  std::string kept = msg.substr(at + 21);
  absl::StatusOr<std::string> ls = RunTool({"debugfs", "-R", "ls -l /", kept}, "e2fsprogs");
  ASSERT_TRUE(ls.ok()) << ls.status();
  EXPECT_THAT(*ls, HasSubstr("result.txt"));
  ::unlink(kept.c_str());
  RemoveCachedSquashfs(t);
  (void)!std::system(("rm -rf " + t.root).c_str());
}

}  // namespace
}  // namespace kavach::internal
