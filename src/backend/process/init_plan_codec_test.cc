// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/process/init_plan_codec.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/process/init_exec.h"
#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

// An image copied into 16-byte aligned memory, as init reads it.
class AlignedImage {
 public:
  explicit AlignedImage(const std::string& image) : size_(image.size()) {
    buf_.reset(static_cast<char*>(std::aligned_alloc(16, (size_ + 15) / 16 * 16 + 16)));
    std::memcpy(buf_.get(), image.data(), size_);
  }
  char* data() { return buf_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> buf_;
  size_t size_;
};

// Every kind of field a plan has, with binary file content (NULs inside).
struct SamplePlan {
  const std::string file_content = std::string("secret\0bytes\n", 13);
  RootStep steps[3] = {
      {RootStepKind::kBindReadOnly, "/usr", "/usr", "", 0, 0755, false},
      {RootStepKind::kFile, nullptr, "/etc/secret", file_content.data(), file_content.size(), 0400,
       false, /*secret=*/true},
      {RootStepKind::kTmpfs, nullptr, "/tmp", "mode=1777,size=64m", 18, 01777, true},
  };
  LandlockPathStep paths[2] = {{"/usr", 0x7, false}, {"/work", 0xfff, true}};
  uint16_t bind_ports[2] = {8080, 9090};
  uint16_t connect_ports[1] = {443};
  sock_filter filter_insns[2] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
                                 BPF_STMT(BPF_RET | BPF_K, 0x7fff0000)};
  sock_fprog filter = {2, filter_insns};
  InitPlan plan;

  SamplePlan() {
    plan.control_fd = 17;
    plan.mount_base = "/run/kavach/base";
    plan.root_tmpfs_options = "mode=0755,size=16777216";
    plan.root_steps = steps;
    plan.root_step_count = 3;
    plan.read_only_root = true;
    plan.hostname = "kavach";
    plan.landlock = true;
    plan.landlock_abi = 6;
    plan.landlock_paths = paths;
    plan.landlock_path_count = 2;
    plan.bind_ports = bind_ports;
    plan.bind_port_count = 2;
    plan.connect_ports = connect_ports;
    plan.connect_port_count = 1;
    plan.landlock_canary = "/.kavach-canary";
    plan.abstract_canary = nullptr;  // a null string stays null
    plan.seccomp_init = nullptr;
    plan.seccomp = &filter;
    plan.uid = 1000;
    plan.gid = 1000;
    plan.rlimit_nofile = 1024;
    plan.host_root_ino = 2;
  }
};

// Decodes `image` into a fresh DecodedInitPlan; null when refused.
std::unique_ptr<DecodedInitPlan> Decode(const char* buf, size_t len) {
  auto out = std::make_unique<DecodedInitPlan>();
  if (!DecodeInitPlan(buf, len, out.get())) return nullptr;
  return out;
}

// Every string, file content, port and filter of `plan` lies inside [base, base + size).
bool AllInside(const InitPlan& plan, const char* base, size_t size) {
  auto inside = [&](const void* p) {
    return p == nullptr ||
           (static_cast<const char*>(p) >= base && static_cast<const char*>(p) < base + size);
  };
  bool ok = inside(plan.mount_base) && inside(plan.root_tmpfs_options) && inside(plan.hostname) &&
            inside(plan.landlock_canary) && inside(plan.abstract_canary) &&
            inside(plan.bind_ports) && inside(plan.connect_ports);
  for (int i = 0; ok && i < plan.root_step_count; ++i) {
    ok = inside(plan.root_steps[i].source) && inside(plan.root_steps[i].target) &&
         inside(plan.root_steps[i].data);
  }
  for (int i = 0; ok && i < plan.landlock_path_count; ++i) ok = inside(plan.landlock_paths[i].path);
  if (ok && plan.seccomp != nullptr) ok = inside(plan.seccomp->filter);
  if (ok && plan.seccomp_init != nullptr) ok = inside(plan.seccomp_init->filter);
  return ok;
}

TEST(InitPlanCodecTest, RoundTripKeepsEveryField) {
  SamplePlan sample;
  AlignedImage image(EncodeInitPlan(sample.plan));
  std::unique_ptr<DecodedInitPlan> decoded = Decode(image.data(), image.size());
  ASSERT_NE(decoded, nullptr);
  const InitPlan* p = &decoded->plan;
  EXPECT_TRUE(AllInside(*p, image.data(), image.size()));
  EXPECT_EQ(p->control_fd, -1) << "the exec'd init finds its socket at fd 3, not the host's number";
  EXPECT_STREQ(p->mount_base, "/run/kavach/base");
  EXPECT_STREQ(p->root_tmpfs_options, "mode=0755,size=16777216");
  EXPECT_STREQ(p->hostname, "kavach");
  EXPECT_STREQ(p->landlock_canary, "/.kavach-canary");
  EXPECT_EQ(p->abstract_canary, nullptr);
  EXPECT_EQ(p->seccomp_init, nullptr);
  EXPECT_TRUE(p->read_only_root);
  EXPECT_TRUE(p->landlock);
  EXPECT_EQ(p->landlock_abi, 6);
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_EQ(p->rlimit_nofile, 1024u);
  EXPECT_EQ(p->host_root_ino, 2u);
  ASSERT_EQ(p->root_step_count, 3);
  EXPECT_EQ(p->root_steps[0].kind, RootStepKind::kBindReadOnly);
  EXPECT_STREQ(p->root_steps[0].source, "/usr");
  EXPECT_STREQ(p->root_steps[0].target, "/usr");
  EXPECT_EQ(p->root_steps[0].mode, 0755u);
  EXPECT_EQ(p->root_steps[1].source, nullptr);
  EXPECT_EQ(std::string(p->root_steps[1].data, p->root_steps[1].data_len), sample.file_content);
  EXPECT_TRUE(p->root_steps[1].secret);
  EXPECT_STREQ(p->root_steps[2].data, "mode=1777,size=64m");
  EXPECT_TRUE(p->root_steps[2].optional);
  ASSERT_EQ(p->landlock_path_count, 2);
  EXPECT_STREQ(p->landlock_paths[1].path, "/work");
  EXPECT_EQ(p->landlock_paths[1].access, 0xfffu);
  EXPECT_TRUE(p->landlock_paths[1].optional);
  ASSERT_EQ(p->bind_port_count, 2);
  EXPECT_EQ(p->bind_ports[1], 9090);
  ASSERT_EQ(p->connect_port_count, 1);
  EXPECT_EQ(p->connect_ports[0], 443);
  ASSERT_NE(p->seccomp, nullptr);
  ASSERT_EQ(p->seccomp->len, 2);
  EXPECT_EQ(std::memcmp(p->seccomp->filter, sample.filter_insns, sizeof sample.filter_insns), 0);
}

TEST(InitPlanCodecTest, AnEmptyPlanRoundTrips) {
  InitPlan plan;
  AlignedImage image(EncodeInitPlan(plan));
  std::unique_ptr<DecodedInitPlan> decoded = Decode(image.data(), image.size());
  ASSERT_NE(decoded, nullptr);
  const InitPlan* p = &decoded->plan;
  EXPECT_EQ(p->root_steps, nullptr);
  EXPECT_EQ(p->root_step_count, 0);
  EXPECT_EQ(p->seccomp, nullptr);
  EXPECT_EQ(p->mount_base, nullptr);
}

TEST(InitPlanCodecTest, RefusesDamagedImages) {
  SamplePlan sample;
  const std::string good = EncodeInitPlan(sample.plan);
  {
    AlignedImage image(good);
    ASSERT_NE(Decode(image.data(), image.size()), nullptr);
  }
  // Truncated, at every length short of the whole.
  for (size_t len = 0; len < good.size(); len += 7) {
    AlignedImage image(good.substr(0, len));
    EXPECT_EQ(Decode(image.data(), image.size()), nullptr) << "length " << len;
  }
  // Another magic.
  {
    std::string bad = good;
    bad[0] ^= 1;
    AlignedImage image(bad);
    EXPECT_EQ(Decode(image.data(), image.size()), nullptr);
  }
  // A string pointer past the end, and one whose NUL was overwritten.
  {
    AlignedImage image(good);
    InitPlan* p = reinterpret_cast<InitPlan*>(image.data() + 32);
    p->hostname = reinterpret_cast<const char*>(static_cast<uintptr_t>(image.size() + 100));
    EXPECT_EQ(Decode(image.data(), image.size()), nullptr);
  }
  {
    // No NUL from the hostname to the end of the image.
    std::string bad = good;
    const size_t at = bad.find(std::string("kavach\0", 7));
    ASSERT_NE(at, std::string::npos);
    for (size_t i = at; i < bad.size(); ++i) bad[i] = 'x';
    AlignedImage image(bad);
    EXPECT_EQ(Decode(image.data(), image.size()), nullptr);
  }
  // A count larger than the array the image holds.
  {
    AlignedImage image(good);
    InitPlan* p = reinterpret_cast<InitPlan*>(image.data() + 32);
    p->bind_port_count = 1 << 30;
    EXPECT_EQ(Decode(image.data(), image.size()), nullptr);
  }
  // A buffer at an odd address: arrays inside would be misaligned.
  {
    std::unique_ptr<char[]> raw(new char[good.size() + 32]);
    char* odd = raw.get() + (16 - reinterpret_cast<uintptr_t>(raw.get()) % 16) % 16 + 1;
    std::memcpy(odd, good.data(), good.size());
    EXPECT_EQ(Decode(odd, good.size()), nullptr) << "misaligned arrays are refused";
  }
}

// Whatever a damaged image holds, the decoder either refuses it or returns
// a plan whose every pointer stays inside the image (the sanitizer build
// would catch a read outside).
TEST(InitPlanCodecTest, RandomDamageNeverPointsOutside) {
  SamplePlan sample;
  const std::string good = EncodeInitPlan(sample.plan);
  std::mt19937 rng(20261205);
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
    AlignedImage image(bad);
    std::unique_ptr<DecodedInitPlan> decoded = Decode(image.data(), image.size());
    if (decoded == nullptr) continue;
    const InitPlan* p = &decoded->plan;
    ++accepted;
    ASSERT_TRUE(AllInside(*p, image.data(), image.size())) << "round " << round;
    for (int i = 0; i < p->root_step_count; ++i) {
      if (p->root_steps[i].data != nullptr) {
        ASSERT_LE(p->root_steps[i].data + p->root_steps[i].data_len, image.data() + image.size());
      }
    }
  }
  // Flips in file content or flags decode fine: the test saw both outcomes.
  EXPECT_GT(accepted, 0);
}

// kavach-init itself, given a plan it cannot decode, exits with
// kInitExitBadPlan instead of running on garbage.
TEST(InitPlanCodecTest, KavachInitRefusesAGarbagePlan) {
  absl::StatusOr<int> exe = InitExecutableFd();
  if (!exe.ok()) GTEST_SKIP() << "kavach-init cannot be exec'd here: " << exe.status();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  absl::StatusOr<sys::UniqueFd> plan = PlanImageFd(std::string(4096, 'g'));
  ASSERT_TRUE(plan.ok()) << plan.status();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Above 4 first: any of the three may sit at fd 3 or 4.
    const int exe_fd = ::fcntl(*exe, F_DUPFD_CLOEXEC, 10);
    const int control = ::fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    const int plan_fd = ::fcntl(plan->get(), F_DUPFD_CLOEXEC, 10);
    if (::dup2(control, 3) != 3 || ::dup2(plan_fd, 4) != 4) _exit(99);
    char name[] = "kavach-init";
    char* argv[] = {name, nullptr};
    char* envp[] = {nullptr};
    ::execveat(exe_fd, "", argv, envp, AT_EMPTY_PATH);
    _exit(98);
  }
  ::close(sv[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(sv[0]);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), kInitExitBadPlan);
}

}  // namespace
}  // namespace kavach::internal
