// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// FirecrackerVm against a fake firecracker (testdata/fake_firecracker.py):
// Firecracker needs a KVM that runs a stock guest, which these hosts lack
// (../shared/research/microvm-probe.md). The fake serves the real API on the
// API socket and boots the real guest image under QEMU/TCG from the recorded
// configuration, bridging the agent to the host's vsock socket, so a command
// runs in a guest kernel through this code path.
#include "backend/microvm/firecracker_vm.h"

#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "backend/microvm/block_share.h"
#include "backend/microvm/guest_image.h"
#include "backend/microvm/microvm_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"
#include "linux/file_util.h"
#include "nlohmann/json.hpp"

#ifndef KAVACH_FAKE_FIRECRACKER
#error "KAVACH_FAKE_FIRECRACKER: the fake firecracker's path, set by CMake"
#endif

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

std::string TempDir() {
  std::string t = "/tmp/kavach-fc-test-XXXXXX";
  EXPECT_NE(::mkdtemp(t.data()), nullptr);
  return t;
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

// Processes whose command line mentions `needle` (the fake's API socket and
// its QEMU's agent socket are both under the run dir).
std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> pids;
  DIR* d = ::opendir("/proc");
  while (d != nullptr) {
    struct dirent* e = ::readdir(d);
    if (e == nullptr) break;
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0 || pid == ::getpid()) continue;
    absl::StatusOr<std::string> cmd = sys::ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    if (cmd.ok() && absl::StrContains(*cmd, needle)) pids.push_back(pid);
  }
  if (d != nullptr) ::closedir(d);
  return pids;
}

// A `firecracker` in `dir`: the fake in `mode`.
std::string WriteFake(const std::string& dir, const std::string& mode) {
  std::string path = dir + "/firecracker";
  EXPECT_TRUE(
      sys::WriteFile(path,
                     absl::StrCat("#!/bin/sh\nexec /usr/bin/python3 ", KAVACH_FAKE_FIRECRACKER,
                                  " --fake-mode ", mode, " \"$@\"\n"),
                     0755)
          .ok());
  return path;
}

TEST(FirecrackerConfigFor, CarriesTheGuestCommandLineTheChannelTheDrivesAndTheVsock) {
  VmSpec spec;
  spec.vmlinux = "/img/vmlinux";
  spec.initrd = "/img/initrd.cpio";
  spec.memory_mib = 384;
  spec.cpus = 2;
  spec.tsc_khz = 2300000;
  spec.accelerator = "kvm";
  spec.drives = {{"usr", "/s/usr.squashfs", "squashfs", true, "/usr", "/usr"},
                 {"work", "/s/work.ext4", "ext4", false, "/work", "/home/w"}};
  absl::StatusOr<FirecrackerVmConfig> c = FirecrackerConfigFor(spec, "/run/fc");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kernel_image_path, "/img/vmlinux");
  EXPECT_EQ(c->initrd_path, "/img/initrd.cpio");
  EXPECT_EQ(c->boot_args, GuestKernelCmdline(spec) + " kavach.channel=vsock:1024");
  EXPECT_EQ(guest::VsockChannelPort(c->boot_args), kFirecrackerAgentPort);
  EXPECT_EQ(c->vcpu_count, 2u);
  EXPECT_EQ(c->mem_size_mib, 384u);
  ASSERT_EQ(c->drives.size(), 2u);
  EXPECT_EQ(c->drives[0].drive_id, "usr");
  EXPECT_EQ(c->drives[0].path_on_host, "/s/usr.squashfs");
  EXPECT_TRUE(c->drives[0].is_read_only);
  EXPECT_FALSE(c->drives[0].is_root_device);
  EXPECT_EQ(c->drives[1].drive_id, "work");
  EXPECT_FALSE(c->drives[1].is_read_only);
  ASSERT_TRUE(c->vsock.has_value());
  EXPECT_EQ(c->vsock->guest_cid, 3u);
  EXPECT_EQ(c->vsock->uds_path, "/run/fc/vsock.sock");
  EXPECT_THAT(FirecrackerArgv("/usr/bin/firecracker", "/run/fc"),
              ::testing::ElementsAre("/usr/bin/firecracker", "--api-sock", "/run/fc/api.sock"));
}

TEST(FirecrackerConfigFor, RefusesWhatFirecrackerCannotCarry) {
  VmSpec spec;
  spec.vmlinux = "/img/vmlinux";
  spec.initrd = "/img/initrd.cpio";
  VmSpec with_9p = spec;
  with_9p.shares = {{"kv0", "/usr", "/usr", true}};
  EXPECT_THAT(std::string(FirecrackerConfigFor(with_9p, "/r").status().message()),
              HasSubstr("no 9p"));
  VmSpec net = spec;
  net.network = true;
  EXPECT_EQ(FirecrackerConfigFor(net, "/r").status().code(), absl::StatusCode::kInvalidArgument);
  VmSpec clone = spec;
  clone.memory_file = "/t/ram";
  EXPECT_THAT(std::string(FirecrackerConfigFor(clone, "/r").status().message()),
              HasSubstr("QEMU-only"));
  VmSpec many = spec;
  many.cpus = 33;  // Firecracker's schema: 1..32
  EXPECT_THAT(std::string(FirecrackerConfigFor(many, "/r").status().message()),
              HasSubstr("vcpu_count"));
}

// The fake itself answers a malformed body as Firecracker does: 400 with a
// fault_message, which the client turns into InvalidArgument.
TEST(FakeFirecracker, MalformedBodiesGet400WithAFaultMessage) {
  std::string dir = TempDir();
  std::string fake = WriteFake(dir, "ok");
  std::string api = dir + "/api.sock";
  pid_t pid = -1;
  std::vector<std::string> argv = {fake, "--api-sock", api};
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  ASSERT_EQ(::posix_spawn(&pid, fake.c_str(), nullptr, nullptr, args.data(), environ), 0);
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!Exists(api) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  FirecrackerApiClient client(api);
  absl::Status bad_type = client.Call({"PUT", "/machine-config", R"({"vcpu_count": "two"})"});
  EXPECT_EQ(bad_type.code(), absl::StatusCode::kInvalidArgument) << bad_type;
  EXPECT_THAT(std::string(bad_type.message()), HasSubstr("HTTP 400"));
  EXPECT_THAT(std::string(bad_type.message()), HasSubstr("invalid type for `vcpu_count`"));
  absl::Status not_json = client.Call({"PUT", "/boot-source", "{kernel"});
  EXPECT_EQ(not_json.code(), absl::StatusCode::kInvalidArgument) << not_json;
  EXPECT_THAT(std::string(not_json.message()), HasSubstr("deserializing the json body"));
  absl::Status unknown = client.Call({"PUT", "/vsock", R"({"guest_cid": 3, "uds": "/x"})"});
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("unknown field `uds`"));
  absl::Status no_kernel = client.Call({"PUT", "/actions", R"({"action_type": "InstanceStart"})"});
  EXPECT_THAT(std::string(no_kernel.message()), HasSubstr("missing kernel configuration"));
  absl::Status ok =
      client.Call({"PUT", "/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 128})"});
  EXPECT_TRUE(ok.ok()) << ok;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  (void)!std::system(("rm -rf " + dir).c_str());
}

// Boots the guest image through FirecrackerVm and the fake.
class FakeFirecrackerVm : public ::testing::Test {
 protected:
  void SetUp() override {
    BackendAvailability a = ProbeMicroVm();
    if (!a.available)
      GTEST_SKIP() << "the fake boots the guest with QEMU, unusable here: " << a.reason;
    absl::StatusOr<GuestImageInputs> in = DefaultGuestImageInputs();
    ASSERT_TRUE(in.ok()) << in.status();
    absl::StatusOr<GuestImage> img = EnsureGuestImage(*in, DefaultImageCacheDir());
    ASSERT_TRUE(img.ok()) << img.status();
    image_ = *img;
    dir_ = TempDir();
    run_dir_ = dir_ + "/run";
    ASSERT_EQ(::mkdir(run_dir_.c_str(), 0700), 0);
    spec_.vmlinux = image_.vmlinux;
    spec_.initrd = image_.initrd;
    spec_.tsc_khz = HostTscKhz();
    spec_.memory_mib = 256;
    // A drive the fake attaches as virtio-blk (the guest need not mount it).
    ASSERT_TRUE(sys::WriteFile(dir_ + "/scratch.img", std::string(1 << 20, '\0')).ok());
    spec_.drives = {{"scratch", dir_ + "/scratch.img", "ext4", true, "/scratch", dir_}};
  }
  void TearDown() override {
    vm_.reset();
    if (!dir_.empty()) (void)!std::system(("rm -rf " + dir_).c_str());
  }
  absl::StatusOr<std::unique_ptr<FirecrackerVm>> Start(const std::string& mode,
                                                       absl::Duration connect_timeout) {
    FirecrackerVmOptions o;
    o.firecracker = WriteFake(dir_, mode);
    o.run_dir = run_dir_;
    o.launcher = DirectVmmLauncher(run_dir_ + "/firecracker.log", std::nullopt, nullptr, nullptr);
    o.connect_timeout = connect_timeout;
    return FirecrackerVm::Start(spec_, o);
  }
  void ExpectNothingLeft() {
    vm_.reset();
    // The VMM is reaped; the fake's QEMU, killed with the same process-group
    // SIGKILL but not our child, may take a moment to finish exiting.
    for (int i = 0; i < 500 && !ProcessesMentioning(run_dir_).empty(); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_THAT(ProcessesMentioning(run_dir_), ::testing::IsEmpty()) << "VMM left behind";
    EXPECT_FALSE(Exists(run_dir_)) << "run dir left behind";
  }
  GuestImage image_;
  std::string dir_, run_dir_;
  VmSpec spec_;
  std::unique_ptr<FirecrackerVm> vm_;
};

TEST_F(FakeFirecrackerVm, ApiCallsInOrderThenACommandRunsInTheGuestKernel) {
  absl::StatusOr<std::unique_ptr<FirecrackerVm>> vm = Start("ok", absl::Seconds(60));
  ASSERT_TRUE(vm.ok()) << vm.status();
  vm_ = *std::move(vm);

  // What the fake received: the documented order and the driver's bodies.
  absl::StatusOr<std::string> rec = sys::ReadFile(run_dir_ + "/calls.jsonl");
  ASSERT_TRUE(rec.ok()) << rec.status();
  absl::StatusOr<FirecrackerVmConfig> config = FirecrackerConfigFor(spec_, run_dir_);
  ASSERT_TRUE(config.ok());
  absl::StatusOr<std::vector<FirecrackerApiCall>> want = FirecrackerApiCalls(*config);
  ASSERT_TRUE(want.ok());
  std::vector<std::string> got_paths;
  size_t i = 0;
  for (absl::string_view line : absl::StrSplit(*rec, '\n', absl::SkipEmpty())) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("kvm")) continue;  // the fake's note on /dev/kvm, not an API call
    got_paths.push_back(j["path"].get<std::string>());
    EXPECT_EQ(j["status"], 204) << line;
    ASSERT_LT(i, want->size());
    EXPECT_EQ(j["method"], (*want)[i].method);
    EXPECT_EQ(nlohmann::json::parse(j["body"].get<std::string>()),
              nlohmann::json::parse((*want)[i].body))
        << j["path"];
    ++i;
  }
  EXPECT_THAT(got_paths, ::testing::ElementsAre("/boot-source", "/machine-config",
                                                "/drives/scratch", "/vsock", "/actions"));
  nlohmann::json boot = nlohmann::json::parse((*want)[0].body);
  EXPECT_EQ(boot["kernel_image_path"], image_.vmlinux);
  EXPECT_EQ(boot["initrd_path"], image_.initrd);
  EXPECT_THAT(boot["boot_args"].get<std::string>(), HasSubstr("kavach.channel=vsock:1024"));

  absl::StatusOr<guest::Hello> hello = vm_->WaitReady(absl::Seconds(60));
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->kernel_release, image_.kernel_release);
  guest::Start start;
  start.hostname = "kavach-fc-test";
  start.mounts = "tmp:/tmp";
  ASSERT_TRUE(vm_->StartGuest(start, absl::Seconds(30)).ok());
  guest::ExecRequest req;
  req.id = 1;
  req.argv = {"/kavach/bin/busybox", "uname", "-r"};
  req.cwd = "/";
  req.timeout_ms = 30000;
  absl::StatusOr<VmExecOutcome> out = vm_->Exec(req, VmExecSinks{});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->exit.exit_code, 0) << out->stderr_data;
  std::string release(absl::StripTrailingAsciiWhitespace(out->stdout_data));
  EXPECT_EQ(release, image_.kernel_release);
  absl::StatusOr<std::string> host = sys::ReadFile("/proc/sys/kernel/osrelease");
  ASSERT_TRUE(host.ok());
  EXPECT_NE(release, std::string(absl::StripTrailingAsciiWhitespace(*host)));

  EXPECT_TRUE(vm_->Destroy().ok());
  ExpectNothingLeft();
}

TEST_F(FakeFirecrackerVm, VmmExitingBeforeInstanceStartIsAClearErrorAndLeavesNothing) {
  absl::StatusOr<std::unique_ptr<FirecrackerVm>> vm = Start("exit-before-start", absl::Seconds(60));
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().code(), absl::StatusCode::kUnavailable) << vm.status();
  EXPECT_THAT(std::string(vm.status().message()),
              HasSubstr("firecracker exited during PUT /actions (exit 3)"));
  ExpectNothingLeft();
}

TEST_F(FakeFirecrackerVm, RefusedApiCallIsAClearErrorAndLeavesNothing) {
  absl::StatusOr<std::unique_ptr<FirecrackerVm>> vm =
      Start("refuse-machine-config", absl::Seconds(60));
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().code(), absl::StatusCode::kInvalidArgument) << vm.status();
  EXPECT_THAT(std::string(vm.status().message()),
              HasSubstr("firecracker refused the VM: PUT /machine-config: firecracker API: HTTP "
                        "400: Invalid machine configuration"));
  ExpectNothingLeft();
}

TEST_F(FakeFirecrackerVm, GuestThatNeverConnectsIsAClearErrorAndLeavesNothing) {
  absl::StatusOr<std::unique_ptr<FirecrackerVm>> vm = Start("no-guest", absl::Seconds(3));
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().code(), absl::StatusCode::kDeadlineExceeded) << vm.status();
  EXPECT_THAT(std::string(vm.status().message()),
              HasSubstr("the guest agent did not connect over vsock (port 1024"));
  ExpectNothingLeft();
}

// The agent's own vsock branch: with kavach.channel on its command line it
// dials vsock, not the virtio-serial port the fake also gives it. QEMU here
// has no vsock device (no vhost-vsock on the host), so the dial fails for
// its bounded 20 s, the agent says so on the console and powers the guest
// off, and the VMM's exit is the error.
TEST_F(FakeFirecrackerVm, AgentDialsVsockWhenTheCommandLineSaysSo) {
  absl::StatusOr<std::unique_ptr<FirecrackerVm>> vm = Start("keep-channel", absl::Seconds(90));
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().code(), absl::StatusCode::kUnavailable) << vm.status();
  EXPECT_THAT(std::string(vm.status().message()),
              HasSubstr("firecracker exited before the guest agent connected over vsock"));
  EXPECT_THAT(std::string(vm.status().message()), HasSubstr("kavach-agent: vsock port 1024: "));
  ExpectNothingLeft();
}

TEST_F(FakeFirecrackerVm, MissingBinaryIsAnErrorAndLeavesNothing) {
  FirecrackerVmOptions o;
  o.firecracker = dir_ + "/no-such-firecracker";
  o.run_dir = run_dir_;
  o.launcher = DirectVmmLauncher(run_dir_ + "/firecracker.log", std::nullopt, nullptr, nullptr);
  absl::StatusOr<std::unique_ptr<FirecrackerVm>> vm = FirecrackerVm::Start(spec_, o);
  ASSERT_FALSE(vm.ok());
  EXPECT_THAT(std::string(vm.status().message()), HasSubstr("no-such-firecracker"));
  ExpectNothingLeft();
}

// ---- the backend's VMM choice (Prepare) ----

// A fake firecracker the VMM jail can run: the wrapper and the script in one
// directory (the jail sees the binary's directory, not the source tree).
std::string JailableFake(const std::string& dir, const std::string& mode = "ok") {
  absl::StatusOr<std::string> py = sys::ReadFile(KAVACH_FAKE_FIRECRACKER);
  EXPECT_TRUE(py.ok()) << py.status();
  EXPECT_TRUE(sys::WriteFile(dir + "/fake_firecracker.py", *py, 0755).ok());
  std::string path = dir + "/firecracker";
  EXPECT_TRUE(sys::WriteFile(path,
                             absl::StrCat("#!/bin/sh\nexec /usr/bin/python3 ", dir,
                                          "/fake_firecracker.py --fake-mode ", mode, " \"$@\"\n"),
                             0755)
                  .ok());
  // The jail runs it as the policy's user.
  ::chmod(dir.c_str(), 0755);
  return path;
}

// What a firecracker sandbox needs here: shares go as drives, so the guest's
// /usr is a squashfs image of a small busybox tree (squashing the host's
// /usr takes minutes) and the working directory an ext4 image copied back
// at Destroy.
struct FcTree {
  std::string dir, usr, work;
};

// "" with `t` made, else why the test must skip.
std::string MakeFcTree(FcTree* t) {
  BackendAvailability a = ProbeMicroVm();
  if (!a.available) return "the fake boots the guest with QEMU, unusable here: " + a.reason;
  for (const char* tool : {"mksquashfs", "mke2fs", "debugfs"}) {
    if (!sys::FindInPath(tool, "/usr/sbin:/usr/bin:/sbin:/bin").ok()) {
      return std::string(tool) + " missing (scripts/bootstrap installs squashfs-tools, e2fsprogs)";
    }
  }
  absl::StatusOr<std::string> bb = sys::ReadFile("/bin/busybox");
  if (!bb.ok()) return "/bin/busybox missing (busybox-static)";
  t->dir = TempDir();
  t->usr = t->dir + "/usr";
  t->work = t->dir + "/work";
  EXPECT_EQ(::mkdir(t->usr.c_str(), 0755), 0);
  EXPECT_EQ(::mkdir((t->usr + "/bin").c_str(), 0755), 0);
  EXPECT_TRUE(sys::WriteFile(t->usr + "/bin/busybox", *bb, 0755).ok());
  for (const char* applet : {"sh", "cat", "uname", "echo", "printf"}) {
    EXPECT_EQ(::symlink("busybox", (t->usr + "/bin/" + applet).c_str()), 0);
  }
  EXPECT_EQ(::mkdir(t->work.c_str(), 0777), 0);
  ::chmod(t->work.c_str(), 0777);
  return "";
}

// The tree, and its squashfs image in the shared cache.
void RemoveFcTree(const FcTree& t) {
  if (absl::StatusOr<std::string> key = SquashfsCacheKey(t.usr); key.ok()) {
    ::unlink(absl::StrCat(DefaultImageCacheDir(), "/squashfs/", *key, ".squashfs").c_str());
  }
  (void)!std::system(("rm -rf " + t.dir).c_str());
}

// This process's VM state directories and the processes that mention them.
std::string OurVmDirs() {
  return absl::StrCat("/kavach-microvm-", ::geteuid(), "/vm-", ::getpid(), "-");
}
int OurStateDirCount() {
  int n = 0;
  if (DIR* d = ::opendir(absl::StrCat("/var/tmp/kavach-microvm-", ::geteuid()).c_str())) {
    std::string ours = absl::StrCat("vm-", ::getpid(), "-");
    while (struct dirent* e = ::readdir(d)) n += absl::StartsWith(e->d_name, ours) ? 1 : 0;
    ::closedir(d);
  }
  return n;
}

SandboxConfig StrictConfig(const std::string& workdir) {
  SandboxConfig c;
  c.backend = BackendKind::kFirecracker;
  c.policy = SandboxPolicy::Strict();
  c.host_workdir = workdir;
  return c;
}

bool KvmFactsSayKvm() { return ChooseAccelerator(ReadKvmFacts()).accelerator == "kvm"; }

TEST(MicroVmFirecracker, ForcedWithoutTheBinaryIsUnavailableNamingIt) {
  std::string dir = TempDir();
  const char* old_path = std::getenv("PATH");
  std::string saved = old_path != nullptr ? old_path : "";
  ::setenv("PATH", dir.c_str(), 1);  // an empty directory: no firecracker
  ::unsetenv("KAVACH_FIRECRACKER");
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend({.vmm = "firecracker"});
  ASSERT_TRUE(b.ok());
  PrepareReport report;
  absl::Status s = (*b)->Prepare(StrictConfig(dir), &report);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("firecracker not found in PATH"));
  ::setenv("PATH", saved.c_str(), 1);

  ::setenv("KAVACH_FIRECRACKER", "/nonexistent/firecracker", 1);
  absl::StatusOr<std::unique_ptr<Backend>> b2 = CreateMicroVmBackend({.vmm = "firecracker"});
  ASSERT_TRUE(b2.ok());
  s = (*b2)->Prepare(StrictConfig(dir), &report);
  ::unsetenv("KAVACH_FIRECRACKER");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("$KAVACH_FIRECRACKER names /nonexistent"));
  (void)!std::system(("rm -rf " + dir).c_str());
}

// A release older than v1.8 describes its devices only on the kernel
// command line, which the Debian guest kernel ignores: as good as absent,
// also with the tests-only option that waives KVM.
TEST(MicroVmFirecracker, ReleaseWithoutAcpiDevicesIsUnavailableNamingItsVersion) {
  std::string dir = TempDir();
  std::string fake = JailableFake(dir, "old-version");
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateMicroVmBackend(
      {.vmm = "firecracker", .firecracker_path = fake, .testonly_firecracker_without_kvm = true});
  ASSERT_TRUE(b.ok());
  PrepareReport report;
  absl::Status s = (*b)->Prepare(StrictConfig(dir), &report);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(absl::StrCat("microvm: --vmm firecracker: firecracker v1.7.0 lists virtio "
                                     "devices only on the kernel command line")));
  EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat("(at ", fake, ")")));
  (void)!std::system(("rm -rf " + dir).c_str());
}

// Firecracker's NICs need a host tap device, which kavach does not make:
// network host on a forced firecracker is refused before anything boots.
TEST(MicroVmFirecracker, NetworkHostIsRefusedNamingTheTapDevice) {
  std::string dir = TempDir();
  absl::StatusOr<std::unique_ptr<Backend>> b =
      CreateMicroVmBackend({.vmm = "firecracker",
                            .firecracker_path = JailableFake(dir),
                            .testonly_firecracker_without_kvm = true});
  ASSERT_TRUE(b.ok());
  PrepareReport report;
  SandboxConfig c = StrictConfig(dir);
  c.policy.network.mode = NetworkMode::kHost;
  absl::Status s = (*b)->Prepare(c, &report);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("network: mode host on --vmm firecracker is not supported: "
                        "Firecracker's network interfaces need a host tap device"));
  EXPECT_EQ(OurStateDirCount(), 0);
  (void)!std::system(("rm -rf " + dir).c_str());
}

TEST(MicroVmFirecracker, ForcedWithoutKvmIsUnavailableNamingKvm) {
  if (KvmFactsSayKvm()) {
    GTEST_SKIP() << "this host's KVM looks usable: whether it is needs the trial boot";
  }
  std::string dir = TempDir();
  absl::StatusOr<std::unique_ptr<Backend>> b =
      CreateMicroVmBackend({.vmm = "firecracker", .firecracker_path = JailableFake(dir)});
  ASSERT_TRUE(b.ok());
  PrepareReport report;
  absl::Status s = (*b)->Prepare(StrictConfig(dir), &report);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("microvm: --vmm firecracker: firecracker needs KVM: TCG: "));
  (void)!std::system(("rm -rf " + dir).c_str());
}

TEST(MicroVmFirecracker, ProbeSaysWhichVmmAndWhyFirecrackerIsNotUsed) {
  ::unsetenv("KAVACH_FIRECRACKER");
  BackendAvailability a = ProbeMicroVm();
  if (!sys::FindInPath("firecracker").ok()) {
    EXPECT_THAT(a.reason, HasSubstr("firecracker not used: firecracker not found in PATH"));
  }
  if (KvmFactsSayKvm()) GTEST_SKIP() << "KVM facts say usable here; the rest is about TCG hosts";
  std::string dir = TempDir();
  std::string fake = JailableFake(dir);
  ::setenv("KAVACH_FIRECRACKER", fake.c_str(), 1);
  a = ProbeMicroVm();
  ::unsetenv("KAVACH_FIRECRACKER");
  EXPECT_THAT(a.reason,
              HasSubstr(absl::StrCat("firecracker at ", fake,
                                     " not used: it needs KVM, which does not boot a guest here")));
  if (a.available) {
    EXPECT_THAT(a.reason, HasSubstr("VMM QEMU -M microvm"));
  }
  (void)!std::system(("rm -rf " + dir).c_str());
}

// The whole backend on the firecracker path, VMM jail included, with the
// fake (tests-only option: no KVM here).
TEST(MicroVmFirecracker, FakeFirecrackerRunsTheCommandInAGuestKernel) {
  FcTree t;
  if (std::string skip = MakeFcTree(&t); !skip.empty()) GTEST_SKIP() << skip;
  const std::string &dir = t.dir, &usr = t.usr, &work = t.work;
  ::unsetenv("KAVACH_MICROVM_CLONE");  // clones wanted: firecracker must boot cold
  absl::StatusOr<std::unique_ptr<Backend>> b =
      CreateMicroVmBackend({.vmm = "firecracker",
                            .firecracker_path = JailableFake(dir),
                            .testonly_firecracker_without_kvm = true,
                            .block_usr = usr});
  ASSERT_TRUE(b.ok());
  PrepareReport report;
  absl::Status s = (*b)->Prepare(StrictConfig(work), &report);
  ASSERT_TRUE(s.ok()) << s;
  std::map<std::string, Evidence> ev;
  for (const Evidence& e : report.evidence) ev[e.control] = e;
  EXPECT_EQ(ev["vm.vmm"].detail, "firecracker");
  EXPECT_THAT(ev["vm.vmm_choice"].detail, HasSubstr("tests-only option"));
  EXPECT_FALSE(ev["vm.clone"].verified);
  EXPECT_THAT(ev["vm.clone"].detail, HasSubstr("warm clones are QEMU-only"));
  EXPECT_THAT(ev["base:firecracker"].detail, HasSubstr("under Firecracker (agent over vsock)"));
  EXPECT_EQ(ev["vm.share"].detail, "block");
  // The VMM got the shares as drives: /drives/<id> calls before InstanceStart.
  std::string calls;
  for (const auto& e : std::filesystem::recursive_directory_iterator(
           absl::StrCat("/var/tmp/kavach-microvm-", ::geteuid()))) {
    if (e.path().filename() == "calls.jsonl" &&
        absl::StrContains(e.path().string(), absl::StrCat("/vm-", ::getpid(), "-"))) {
      calls = *sys::ReadFile(e.path().string());
    }
  }
  EXPECT_THAT(calls, HasSubstr("\"path\": \"/drives/"));
  EXPECT_THAT(calls, HasSubstr("\"path\": \"/vsock\""));
  EXPECT_THAT(calls, HasSubstr("InstanceStart"));
  // Firecracker needs /dev/kvm: the VMM jail binds it in and lets the
  // VMM's uid open it (as root, by taking the node's group).
  if (::access("/dev/kvm", F_OK) == 0) {
    EXPECT_THAT(calls, HasSubstr("{\"kvm\": \"opened\"}"));
  } else {
    EXPECT_THAT(calls, HasSubstr("{\"kvm\": \"absent\"}"));
  }

  BackendExecRequest r;
  r.argv = {"/bin/sh", "-c", "uname -r; echo out > /work/fc.txt"};
  r.cwd = "/work";
  r.env = {"PATH=/usr/bin:/bin"};
  r.timeout = absl::Seconds(30);
  absl::StatusOr<ExecResult> out = (*b)->Exec(r);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->exit_code, 0) << out->stderr_data;
  std::string release(absl::StripTrailingAsciiWhitespace(out->stdout_data));
  absl::StatusOr<std::string> host = sys::ReadFile("/proc/sys/kernel/osrelease");
  ASSERT_TRUE(host.ok());
  EXPECT_FALSE(release.empty());
  EXPECT_NE(release, std::string(absl::StripTrailingAsciiWhitespace(*host)));

  std::string ours = OurVmDirs();
  EXPECT_THAT(ProcessesMentioning(ours), ::testing::Not(::testing::IsEmpty()));
  ASSERT_TRUE((*b)->Destroy().ok());
  EXPECT_THAT(ProcessesMentioning(ours), ::testing::IsEmpty()) << "VMM left behind";
  // The read-write drive came back into the working directory.
  absl::StatusOr<std::string> back = sys::ReadFile(work + "/fc.txt");
  EXPECT_TRUE(back.ok() && *back == "out\n") << (back.ok() ? *back : back.status().ToString());
  EXPECT_EQ(OurStateDirCount(), 0) << "a VM state directory was left behind";
  RemoveFcTree(t);
}

// Through the whole backend (VMM jail, block images): a VMM that exits, one
// that refuses a call, and a guest that never connects each fail Prepare
// with an error naming which, and Destroy leaves no process or state
// directory (the jail, its cgroup and the run dir go with them).
TEST(MicroVmFirecracker, FailingVmmThroughTheJailIsAClearErrorAndLeavesNothing) {
  FcTree t;
  if (std::string skip = MakeFcTree(&t); !skip.empty()) GTEST_SKIP() << skip;
  struct Case {
    const char* mode;
    absl::StatusCode code;
    const char* says;
  };
  for (const Case& c : {Case{"exit-before-start", absl::StatusCode::kUnavailable,
                             "firecracker exited during PUT /actions (exit 3"},
                        Case{"refuse-machine-config", absl::StatusCode::kInvalidArgument,
                             "firecracker refused the VM: PUT /machine-config: firecracker API: "
                             "HTTP 400: Invalid machine configuration"},
                        Case{"no-guest", absl::StatusCode::kDeadlineExceeded,
                             "the guest agent did not connect over vsock (port 1024"}}) {
    std::string fake_dir = absl::StrCat(t.dir, "/", c.mode);
    ASSERT_EQ(::mkdir(fake_dir.c_str(), 0755), 0);
    absl::StatusOr<std::unique_ptr<Backend>> b =
        CreateMicroVmBackend({.vmm = "firecracker",
                              .boot_timeout = absl::Seconds(4),
                              .firecracker_path = JailableFake(fake_dir, c.mode),
                              .testonly_firecracker_without_kvm = true,
                              .block_usr = t.usr});
    ASSERT_TRUE(b.ok());
    PrepareReport report;
    absl::Status s = (*b)->Prepare(StrictConfig(t.work), &report);
    EXPECT_EQ(s.code(), c.code) << c.mode << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.says)) << c.mode;
    EXPECT_TRUE((*b)->Destroy().ok()) << c.mode;
    for (int i = 0; i < 500 && !ProcessesMentioning(OurVmDirs()).empty(); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_THAT(ProcessesMentioning(OurVmDirs()), ::testing::IsEmpty()) << c.mode;
    EXPECT_EQ(OurStateDirCount(), 0) << c.mode << ": a VM state directory was left behind";
  }
  RemoveFcTree(t);
}

}  // namespace
}  // namespace kavach::internal
