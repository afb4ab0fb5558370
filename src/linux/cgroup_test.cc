// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// These tests create real cgroups (they need root). The v1 path runs against
// the host's v1 hierarchies; the v2 path is forced onto the host's cgroup2
// mount (on hybrid hosts the nearly empty /sys/fs/cgroup/unified, which still
// has the v2 core files: cgroup.procs, cgroup.freeze, cgroup.kill,
// cgroup.events). Tests that need a controller the chosen hierarchy lacks
// skip and say so.
#include "linux/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/file_util.h"

namespace kavach::sys {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Dead: gone, or a zombie nobody reaped yet.
bool Dead(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return true;
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() &&
         ((*stat)[paren + 2] == 'Z' || (*stat)[paren + 2] == 'X');
}

// Maps and writes `bytes` of anonymous memory (volatile, so that the
// compiler cannot drop it). 0 on success.
int TouchMemory(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 1;
  volatile char* c = static_cast<volatile char*>(p);
  for (size_t i = 0; i < bytes; i += 4096) c[i] = 1;
  return 0;
}

int PauseForever() {
  for (;;) ::pause();
}

bool EventuallyDead(pid_t pid) {
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!Dead(pid)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// A forked child that runs `body` only after Go(): the test moves it into
// the cgroup first. If the test ends early the closed pipe makes it exit.
class Child final {
 public:
  explicit Child(const std::function<int()>& body) {
    absl::StatusOr<Pipe> p = MakePipe();
    if (!p.ok()) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      p->write.Reset();
      char c;
      if (::read(p->read.get(), &c, 1) != 1) ::_exit(100);
      ::_exit(body());
    }
    go_ = std::move(p->write);
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  void Go() { ASSERT_EQ(::write(go_.get(), "g", 1), 1); }
  // The wait status.
  int Wait() {
    int status = 0;
    EXPECT_EQ(::waitpid(pid_, &status, 0), pid_);
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = -1;
  UniqueFd go_;
  bool reaped_ = false;
};

// Reads one pid_t from `fd`, waiting up to 10 s.
pid_t ReadPid(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 10000) != 1) return -1;
  pid_t pid = -1;
  if (::read(fd, &pid, sizeof pid) != sizeof pid) return -1;
  return pid;
}

struct ModeParam {
  const char* label;
  CgroupOptions::Version version;
  bool use_cgroup_kill;
};

class CgroupModeTest : public ::testing::TestWithParam<ModeParam> {
 protected:
  void SetUp() override {
    absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = *layout;
    if (GetParam().version == CgroupOptions::Version::kV2 && !layout_.v2) {
      GTEST_SKIP() << "no cgroup2 mount on this host";
    }
    if (GetParam().version == CgroupOptions::Version::kV1 && layout_.v1.empty()) {
      GTEST_SKIP() << "no cgroup v1 hierarchy on this host";
    }
  }

  CgroupOptions Options() const {
    CgroupOptions o;
    o.version = GetParam().version;
    o.use_cgroup_kill = GetParam().use_cgroup_kill;
    return o;
  }
  bool Offers(const std::string& controller) const {
    return GetParam().version == CgroupOptions::Version::kV2 ? layout_.V2Has(controller)
                                                             : layout_.V1For(controller) != nullptr;
  }

  std::unique_ptr<Cgroup> MakeCgroup(const CgroupLimits& limits = {}) {
    absl::StatusOr<std::unique_ptr<Cgroup>> cg =
        Cgroup::Create(MakeCgroupName(), limits, Options());
    EXPECT_TRUE(cg.ok()) << cg.status() << " on " << layout_.DebugString();
    if (!cg.ok()) return nullptr;
    EXPECT_EQ((*cg)->version(), GetParam().version == CgroupOptions::Version::kV2
                                    ? CgroupVersion::kV2
                                    : CgroupVersion::kV1);
    return *std::move(cg);
  }

  CgroupLayout layout_;
};

TEST_P(CgroupModeTest, AddProcessPutsChildInEveryHierarchy) {
  std::unique_ptr<Cgroup> cg = MakeCgroup();
  ASSERT_NE(cg, nullptr);
  ASSERT_THAT(cg->paths(), Not(IsEmpty()));
  if (GetParam().version == CgroupOptions::Version::kV2) {
    EXPECT_GE(cg->v2_fd(), 0);
  } else {
    EXPECT_EQ(cg->v2_fd(), -1);
  }
  Child child(PauseForever);
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  absl::StatusOr<std::vector<pid_t>> pids = cg->Pids();
  ASSERT_TRUE(pids.ok()) << pids.status();
  EXPECT_THAT(*pids, Contains(child.pid()));
  // The kernel's own view: one /proc/<pid>/cgroup line per joined hierarchy
  // ends in our directory.
  absl::StatusOr<std::string> proc = ReadFile(absl::StrCat("/proc/", child.pid(), "/cgroup"));
  ASSERT_TRUE(proc.ok());
  size_t matching = 0;
  for (absl::string_view line : absl::StrSplit(*proc, '\n', absl::SkipEmpty())) {
    if (absl::EndsWith(line, absl::StrCat("/kavach/", cg->name()))) ++matching;
  }
  EXPECT_EQ(matching, cg->paths().size()) << *proc;
  ASSERT_TRUE(cg->Destroy().ok());
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST_P(CgroupModeTest, FreezeStopsProgressAndThawResumes) {
  std::unique_ptr<Cgroup> cg = MakeCgroup();
  ASSERT_NE(cg, nullptr);
  absl::StatusOr<Pipe> ticks = MakePipe();
  ASSERT_TRUE(ticks.ok());
  int tick_fd = ticks->write.get();
  Child child([tick_fd] {
    for (;;) {
      if (::write(tick_fd, "t", 1) != 1) return 1;
      ::usleep(1000);
    }
  });
  ticks->write.Reset();
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  char buf[4096];
  pollfd pfd{ticks->read.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 10000), 1) << "child never ticked";

  ASSERT_TRUE(cg->Freeze().ok());
  absl::StatusOr<bool> frozen = cg->IsFrozen();
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_TRUE(*frozen);
  ASSERT_EQ(::fcntl(ticks->read.get(), F_SETFL, O_NONBLOCK), 0);
  while (::read(ticks->read.get(), buf, sizeof buf) > 0) {
  }
  // A running child ticks every millisecond; a frozen one never does.
  absl::SleepFor(absl::Milliseconds(200));
  errno = 0;
  EXPECT_EQ(::read(ticks->read.get(), buf, sizeof buf), -1) << "child ticked while frozen";
  EXPECT_EQ(errno, EAGAIN);

  // Frozen: ThawIfFrozen() thaws.
  ASSERT_TRUE(cg->ThawIfFrozen().ok());
  frozen = cg->IsFrozen();
  ASSERT_TRUE(frozen.ok());
  EXPECT_FALSE(*frozen);
  EXPECT_EQ(::poll(&pfd, 1, 10000), 1) << "child did not resume after thaw";
  // Thawed: nothing to do, and it stays thawed.
  ASSERT_TRUE(cg->ThawIfFrozen().ok());
  frozen = cg->IsFrozen();
  ASSERT_TRUE(frozen.ok());
  EXPECT_FALSE(*frozen);
  ASSERT_TRUE(cg->Freeze().ok());
  ASSERT_TRUE(cg->Thaw().ok());
  frozen = cg->IsFrozen();
  ASSERT_TRUE(frozen.ok());
  EXPECT_FALSE(*frozen);
  EXPECT_GT(::read(ticks->read.get(), buf, sizeof buf), 0);
  ASSERT_TRUE(cg->Destroy().ok());
  child.Wait();
}

TEST_P(CgroupModeTest, KillAllKillsChildrenGrandchildrenAndOrphans) {
  std::unique_ptr<Cgroup> cg = MakeCgroup();
  ASSERT_NE(cg, nullptr);
  absl::StatusOr<Pipe> report = MakePipe();
  ASSERT_TRUE(report.ok());
  int report_fd = report->write.get();
  Child child([report_fd] {
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      for (;;) ::pause();
    }
    // Double fork: the middle process exits, the orphan is re-parented away
    // from our tree and only the cgroup still knows it.
    int orphan_pipe[2];
    if (::pipe(orphan_pipe) != 0) return 2;
    pid_t middle = ::fork();
    if (middle == 0) {
      pid_t orphan = ::fork();
      if (orphan == 0) {
        for (;;) ::pause();
      }
      (void)!::write(orphan_pipe[1], &orphan, sizeof orphan);
      ::_exit(0);
    }
    pid_t orphan = -1;
    if (::read(orphan_pipe[0], &orphan, sizeof orphan) != sizeof orphan) return 3;
    ::waitpid(middle, nullptr, 0);
    (void)!::write(report_fd, &grandchild, sizeof grandchild);
    (void)!::write(report_fd, &orphan, sizeof orphan);
    for (;;) ::pause();
  });
  report->write.Reset();
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  pid_t grandchild = ReadPid(report->read.get());
  pid_t orphan = ReadPid(report->read.get());
  ASSERT_GT(grandchild, 0);
  ASSERT_GT(orphan, 0);
  absl::StatusOr<std::vector<pid_t>> pids = cg->Pids();
  ASSERT_TRUE(pids.ok());
  EXPECT_THAT(*pids, Contains(child.pid()));
  EXPECT_THAT(*pids, Contains(grandchild));
  EXPECT_THAT(*pids, Contains(orphan));

  absl::Status killed = cg->KillAll();
  ASSERT_TRUE(killed.ok()) << killed;
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(EventuallyDead(grandchild));
  EXPECT_TRUE(EventuallyDead(orphan));
  pids = cg->Pids();
  ASSERT_TRUE(pids.ok());
  EXPECT_THAT(*pids, IsEmpty());
  // The cgroup stays usable after KillAll.
  EXPECT_TRUE(cg->paths().size() > 0 && Exists(cg->paths()[0]));
}

TEST_P(CgroupModeTest, DestroyLeavesNoDirectoryAndIsIdempotent) {
  std::unique_ptr<Cgroup> cg = MakeCgroup();
  ASSERT_NE(cg, nullptr);
  std::vector<std::string> paths = cg->paths();
  for (const std::string& p : paths) EXPECT_TRUE(Exists(p)) << p;
  Child child(PauseForever);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  // A sub-cgroup, as a delegated sandbox might create, must go too.
  ASSERT_EQ(::mkdir((paths[0] + "/sub").c_str(), 0755), 0);

  absl::Status s = cg->Destroy();
  ASSERT_TRUE(s.ok()) << s;
  for (const std::string& p : paths) EXPECT_FALSE(Exists(p)) << p << " left behind";
  EXPECT_EQ(cg->v2_fd(), -1);
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(cg->Destroy().ok());
  EXPECT_TRUE(cg->KillAll().ok());
  EXPECT_FALSE(cg->AddProcess(::getpid()).ok()) << "AddProcess after Destroy must fail";
}

// Destroy's quick emptiness check reads one hierarchical counter (v1:
// pids.current). A task that was moved out of that one hierarchy from outside
// is invisible to it, yet still holds the others: Destroy must find it by the
// busy rmdir, kill it and remove everything.
TEST_P(CgroupModeTest, DestroyKillsATaskHiddenFromTheEmptinessCheck) {
  if (GetParam().version != CgroupOptions::Version::kV1) {
    GTEST_SKIP() << "v2 checks cgroup.events, which sees the whole tree";
  }
  if (!Offers("pids")) GTEST_SKIP() << "no pids controller in " << GetParam().label;
  std::unique_ptr<Cgroup> cg = MakeCgroup();
  ASSERT_NE(cg, nullptr);
  std::vector<std::string> paths = cg->paths();
  ASSERT_GE(paths.size(), 2u) << "needs a hierarchy besides pids";
  Child child(PauseForever);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  const CgroupHierarchy* pids = layout_.V1For("pids");
  ASSERT_NE(pids, nullptr);
  ASSERT_TRUE(WriteKernelFile(pids->own_dir + "/cgroup.procs", absl::StrCat(child.pid())).ok());
  absl::StatusOr<uint64_t> current = cg->PidsCurrent();
  ASSERT_TRUE(current.ok()) << current.status();
  ASSERT_EQ(*current, 0u) << "the child is still counted in pids";

  absl::Status s = cg->Destroy();
  ASSERT_TRUE(s.ok()) << s;
  for (const std::string& p : paths) EXPECT_FALSE(Exists(p)) << p << " left behind";
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST_P(CgroupModeTest, DestructorRemovesEverything) {
  std::vector<std::string> paths;
  {
    std::unique_ptr<Cgroup> cg = MakeCgroup();
    ASSERT_NE(cg, nullptr);
    paths = cg->paths();
  }
  ASSERT_THAT(paths, Not(IsEmpty()));
  for (const std::string& p : paths) EXPECT_FALSE(Exists(p)) << p;
}

TEST_P(CgroupModeTest, ForkBombIsBoundedByPidsMax) {
  if (!Offers("pids")) GTEST_SKIP() << "no pids controller in " << GetParam().label;
  CgroupLimits limits;
  limits.max_pids = 16;
  std::unique_ptr<Cgroup> cg = MakeCgroup(limits);
  ASSERT_NE(cg, nullptr);
  // Exit codes: 0 = fork failed with EAGAIN below the limit, 1 = other errno,
  // 2 = never failed.
  Child child([] {
    for (int i = 0; i < 1000; ++i) {
      pid_t p = ::fork();
      if (p == 0) {
        for (;;) ::pause();
      }
      if (p < 0) return errno == EAGAIN && i < 16 ? 0 : 1;
    }
    return 2;
  });
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  absl::StatusOr<uint64_t> current = cg->PidsCurrent();
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_LE(*current, 16u);
  EXPECT_GE(*current, 15u);
  // The host still forks.
  pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  ASSERT_GT(p, 0);
  int st = 0;
  ASSERT_EQ(::waitpid(p, &st, 0), p);
  EXPECT_TRUE(WIFEXITED(st));
  absl::Status killed = cg->KillAll();
  EXPECT_TRUE(killed.ok()) << killed;
}

TEST_P(CgroupModeTest, MemoryHogIsOomKilledAndCounted) {
  if (!Offers("memory")) GTEST_SKIP() << "no memory controller in " << GetParam().label;
  CgroupLimits limits;
  limits.memory_bytes = 32 << 20;
  std::unique_ptr<Cgroup> cg = MakeCgroup(limits);
  ASSERT_NE(cg, nullptr);
  absl::StatusOr<uint64_t> before = cg->OomKillCount();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(*before, 0u);
  // Exits 0 only if it survived 1 GiB: the limit did nothing.
  Child child([] { return TouchMemory(size_t{1} << 30); });
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  absl::StatusOr<uint64_t> after = cg->OomKillCount();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GE(*after, 1u);
  absl::StatusOr<uint64_t> peak = cg->PeakMemoryBytes();
  ASSERT_TRUE(peak.ok()) << peak.status();
  EXPECT_GT(*peak, uint64_t{16} << 20);
  EXPECT_LE(*peak, uint64_t{32} << 20);
}

TEST_P(CgroupModeTest, CpuTimeCountsWorkDoneInside) {
  std::unique_ptr<Cgroup> cg = MakeCgroup();
  ASSERT_NE(cg, nullptr);
  Child child([] {
    timespec ts{};
    do {
      ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    } while (ts.tv_sec == 0 && ts.tv_nsec < 100'000'000);
    return 0;
  });
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  absl::StatusOr<absl::Duration> cpu = cg->CpuTime();
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_GE(*cpu, absl::Milliseconds(90));
}

// Without cpu accounting a v1 cgroup does not join a cpuacct hierarchy that
// is mounted apart from cpu (the process backend's choice); the limits stay.
TEST_P(CgroupModeTest, WithoutCpuAccountingNoSeparateCpuacctDirectory) {
  if (GetParam().version != CgroupOptions::Version::kV1) {
    GTEST_SKIP() << "cpu_accounting only changes v1";
  }
  const CgroupHierarchy* acct = layout_.V1For("cpuacct");
  const CgroupHierarchy* cpu = layout_.V1For("cpu");
  if (acct == nullptr || acct->own_dir.empty()) GTEST_SKIP() << "no usable cpuacct hierarchy";
  const bool apart = cpu == nullptr || cpu->mount_point != acct->mount_point;
  CgroupOptions o = Options();
  o.cpu_accounting = false;
  CgroupLimits limits;
  if (Offers("pids")) limits.max_pids = 16;
  absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), limits, o);
  ASSERT_TRUE(cg.ok()) << cg.status();
  const std::string acct_dir = acct->own_dir + "/kavach/" + (*cg)->name();
  EXPECT_EQ(Exists(acct_dir), !apart) << acct_dir;
  if (apart) {
    EXPECT_TRUE(absl::IsFailedPrecondition((*cg)->CpuTime().status()));
  }
  absl::StatusOr<CgroupLimits> back = (*cg)->ReadBackLimits();
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->max_pids, limits.max_pids);
  ASSERT_TRUE((*cg)->Destroy().ok());
  EXPECT_FALSE(Exists(acct_dir));
}

TEST_P(CgroupModeTest, PeakMemoryAndReset) {
  if (!Offers("memory")) GTEST_SKIP() << "no memory controller in " << GetParam().label;
  std::unique_ptr<Cgroup> cg = MakeCgroup();
  ASSERT_NE(cg, nullptr);
  Child child([] { return TouchMemory(24 << 20); });
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  ASSERT_EQ(child.Wait(), 0);
  absl::StatusOr<uint64_t> peak = cg->PeakMemoryBytes();
  ASSERT_TRUE(peak.ok()) << peak.status();
  EXPECT_GE(*peak, uint64_t{24} << 20);
  absl::Status reset = cg->ResetPeak();
  if (absl::IsFailedPrecondition(reset)) GTEST_SKIP() << reset;
  ASSERT_TRUE(reset.ok()) << reset;
  peak = cg->PeakMemoryBytes();
  ASSERT_TRUE(peak.ok());
  EXPECT_LT(*peak, uint64_t{24} << 20);
}

INSTANTIATE_TEST_SUITE_P(
    Cgroup, CgroupModeTest,
    ::testing::Values(ModeParam{"V1", CgroupOptions::Version::kV1, true},
                      ModeParam{"V2", CgroupOptions::Version::kV2, true},
                      ModeParam{"V2WithoutCgroupKill", CgroupOptions::Version::kV2, false}),
    [](const ::testing::TestParamInfo<ModeParam>& info) { return info.param.label; });

// The host's default choice with all four limits: they read back exactly.
TEST(CgroupTest, LimitsReadBackExactly) {
  CgroupLimits limits;
  limits.memory_bytes = 64 << 20;
  limits.max_pids = 16;
  limits.cpu_cores = 0.5;
  limits.cpu_weight = 200;
  absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), limits);
  ASSERT_TRUE(cg.ok()) << cg.status();
  absl::StatusOr<CgroupLimits> back = (*cg)->ReadBackLimits();
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->memory_bytes, limits.memory_bytes);
  EXPECT_EQ(back->max_pids, limits.max_pids);
  EXPECT_EQ(back->cpu_cores, limits.cpu_cores);
  EXPECT_EQ(back->cpu_weight, limits.cpu_weight);
  EXPECT_EQ(*back, limits);
  // And the raw files say so (the read-back is not an echo of our request).
  std::string mem = (*cg)->DirFor("memory");
  ASSERT_FALSE(mem.empty());
  absl::StatusOr<std::string> raw = ReadFile(
      mem + ((*cg)->version() == CgroupVersion::kV2 ? "/memory.max" : "/memory.limit_in_bytes"));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, "67108864\n");
  ASSERT_TRUE((*cg)->Destroy().ok());
}

TEST(CgroupTest, SmallCpuQuotaUsesLongerPeriod) {
  CgroupLimits limits;
  limits.cpu_cores = 0.005;
  absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), limits);
  ASSERT_TRUE(cg.ok()) << cg.status();
  absl::StatusOr<CgroupLimits> back = (*cg)->ReadBackLimits();
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->cpu_cores.has_value());
  EXPECT_DOUBLE_EQ(*back->cpu_cores, 0.005);
  EXPECT_FALSE(back->memory_bytes.has_value()) << "no memory limit was asked for";
  EXPECT_FALSE(back->max_pids.has_value());
}

TEST(CgroupTest, RejectsBadNamesAndLimits) {
  CgroupOptions none;  // an empty layout: validation comes first
  none.layout = CgroupLayout{};
  for (const char* bad : {"", ".", "..", "a/b"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(Cgroup::Create(bad, {}, none).status())) << bad;
  }
  CgroupLimits l;
  l.cpu_cores = 0.0;
  absl::Status s = Cgroup::Create("x", l, none).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("cgroup.cpu"));
  l = {};
  l.cpu_weight = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(Cgroup::Create("x", l, none).status()));
  l = {};
  l.max_pids = 0;
  EXPECT_THAT(Cgroup::Create("x", l, none).status().message(), HasSubstr("cgroup.pids"));
  l = {};
  l.memory_bytes = 0;
  EXPECT_THAT(Cgroup::Create("x", l, none).status().message(), HasSubstr("cgroup.memory"));
}

// Fake hosts that lack a controller: asking for its limit fails, naming it.
TEST(CgroupTest, FailsClosedWhenAControllerIsMissing) {
  // v1 host with only pids and freezer.
  absl::StatusOr<CgroupLayout> v1 = ParseCgroupLayout(
      "30 24 0:26 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
      "31 24 0:27 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n",
      "3:pids:/\n2:freezer:/\n");
  ASSERT_TRUE(v1.ok());
  CgroupOptions opts;
  opts.layout = *v1;
  CgroupLimits mem;
  mem.memory_bytes = 1 << 20;
  absl::Status s = Cgroup::Create("x", mem, opts).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("cgroup.memory"));
  CgroupLimits cpu;
  cpu.cpu_cores = 1;
  s = Cgroup::Create("x", cpu, opts).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("cgroup.cpu"));
  CgroupLimits weight;
  weight.cpu_weight = 50;
  EXPECT_THAT(Cgroup::Create("x", weight, opts).status().message(), HasSubstr("cgroup.cpu"));

  // v2 host whose root offers only cpu and memory.
  char tmpl[] = "/tmp/kavach-cgroup-XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  ASSERT_EQ(::mkdir((root + "/cg").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(root + "/cg/cgroup.controllers", "cpu memory\n").ok());
  absl::StatusOr<CgroupLayout> v2 =
      ParseCgroupLayout("30 23 0:26 / /cg rw - cgroup2 cgroup2 rw\n", "0::/\n", root);
  ::unlink((root + "/cg/cgroup.controllers").c_str());
  ::rmdir((root + "/cg").c_str());
  ::rmdir(root.c_str());
  ASSERT_TRUE(v2.ok());
  ASSERT_EQ(v2->mode, CgroupMode::kV2);
  opts.layout = *v2;
  CgroupLimits pids;
  pids.max_pids = 4;
  pids.memory_bytes = 1 << 20;
  s = Cgroup::Create("x", pids, opts).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("cgroup.pids"));
  EXPECT_THAT(s.message(), HasSubstr("cpu memory"));  // says what there is

  // Forcing a version the host does not have.
  opts.version = CgroupOptions::Version::kV1;
  s = Cgroup::Create("x", {}, opts).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;

  // No cgroups at all.
  opts = {};
  opts.layout = CgroupLayout{};
  s = Cgroup::Create("x", mem, opts).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("cgroup.memory"));
}

// The real cgroup2 mount, forced: limits it cannot hold are refused.
TEST(CgroupTest, RealV2MountRefusesControllersItLacks) {
  absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.ok());
  if (!layout->v2) GTEST_SKIP() << "no cgroup2 mount";
  if (layout->V2Has("memory") && layout->V2Has("pids")) {
    GTEST_SKIP() << "this host's cgroup2 mount has memory and pids";
  }
  CgroupOptions opts;
  opts.version = CgroupOptions::Version::kV2;
  CgroupLimits limits;
  const std::string missing = layout->V2Has("memory") ? "pids" : "memory";
  if (missing == "memory") {
    limits.memory_bytes = 64 << 20;
  } else {
    limits.max_pids = 8;
  }
  absl::Status s = Cgroup::Create(MakeCgroupName(), limits, opts).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("cgroup." + missing));
  // Stats of a missing controller fail closed too.
  absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), {}, opts);
  ASSERT_TRUE(cg.ok()) << cg.status();
  if (!layout->V2Has("pids")) {
    EXPECT_TRUE(absl::IsFailedPrecondition((*cg)->PidsCurrent().status()));
  }
  if (!layout->V2Has("memory")) {
    EXPECT_THAT((*cg)->OomKillCount().status().message(), HasSubstr("cgroup.memory"));
  }
}

// A v1 layout without the freezer: Freeze() is refused, KillAll still works.
TEST(CgroupTest, FreezeFailsClosedWithoutFreezer) {
  absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.ok());
  if (layout->v1.empty()) GTEST_SKIP() << "no v1 hierarchies";
  layout->v1.erase("freezer");
  CgroupOptions opts;
  opts.layout = *layout;
  opts.version = CgroupOptions::Version::kV1;
  absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), {}, opts);
  ASSERT_TRUE(cg.ok()) << cg.status();
  absl::Status s = (*cg)->Freeze();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("cgroup.freezer"));
  Child child(PauseForever);
  ASSERT_TRUE((*cg)->AddProcess(child.pid()).ok());
  child.Go();
  ASSERT_TRUE((*cg)->KillAll().ok());
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

// On a hybrid host whose cgroup2 mount lacks the controllers, the default
// is v1, where the limits and stats are; with every controller on v2, v2.
TEST(CgroupTest, AutoPicksTheVersionWithTheControllers) {
  absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.ok());
  if (layout->mode == CgroupMode::kNone) GTEST_SKIP() << "no cgroups";
  absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), {});
  ASSERT_TRUE(cg.ok()) << cg.status();
  const bool v2_complete = layout->V2Has("memory") && layout->V2Has("pids") && layout->V2Has("cpu");
  const CgroupVersion expected =
      layout->mode == CgroupMode::kV2 || (layout->mode == CgroupMode::kHybrid && v2_complete)
          ? CgroupVersion::kV2
          : CgroupVersion::kV1;
  EXPECT_EQ((*cg)->version(), expected) << layout->DebugString();
}

// v2 placement below our own cgroup when that cgroup is not the root and
// holds processes. Simulated on the host's cgroup2 mount: a cgroup with a
// process in it stands for "our own cgroup".
TEST(CgroupTest, V2PlacementBelowABusyOwnCgroup) {
  absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.ok());
  if (!layout->v2) GTEST_SKIP() << "no cgroup2 mount";
  const std::string own_name = absl::StrCat("kavach-test-own-", ::getpid());
  const std::string own = layout->v2->mount_point + "/" + own_name;
  ASSERT_EQ(::mkdir(own.c_str(), 0755), 0) << strerror(errno);
  Child busy(PauseForever);
  ASSERT_TRUE(WriteKernelFile(own + "/cgroup.procs", absl::StrCat(busy.pid())).ok());
  CgroupLayout fake = *layout;
  fake.v2->own_path = "/" + own_name;
  fake.v2->own_dir = own;
  CgroupOptions opts;
  opts.layout = fake;
  opts.version = CgroupOptions::Version::kV2;
  {
    // No controllers needed: the group goes below our own cgroup.
    absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), {}, opts);
    ASSERT_TRUE(cg.ok()) << cg.status();
    ASSERT_EQ((*cg)->paths().size(), 1u);
    EXPECT_EQ((*cg)->paths()[0], own + "/kavach/" + (*cg)->name());
    const std::string leaf = (*cg)->paths()[0];
    ASSERT_TRUE((*cg)->Destroy().ok());
    EXPECT_FALSE(Exists(leaf)) << "the sandbox's cgroup left behind";
    // The shared parent is kept for the next cgroup (made once per host).
    EXPECT_TRUE(Exists(own + "/kavach"));
    ::rmdir((own + "/kavach").c_str());
  }
  if (!layout->V2Has("memory")) {
    // The layout claims memory, the kernel does not have it below our busy
    // cgroup nor at the top: refused, naming the control.
    fake.v2->controllers.push_back("memory");
    opts.layout = fake;
    CgroupLimits mem;
    mem.memory_bytes = 64 << 20;
    absl::Status s = Cgroup::Create(MakeCgroupName(), mem, opts).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
    EXPECT_THAT(s.message(), HasSubstr("cgroup.memory"));
    EXPECT_THAT(s.message(), HasSubstr("not delegated"));
    EXPECT_FALSE(Exists(own + "/kavach"));
  }
  ::kill(busy.pid(), SIGKILL);
  busy.Wait();
  for (int i = 0; i < 1000 && ::rmdir(own.c_str()) != 0 && errno == EBUSY; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_FALSE(Exists(own));
}

// An unprivileged user's delegation as systemd makes it: a cgroup owned by
// the user, with the user's processes in a leaf below it (the leaf is busy,
// so its children can get no controllers). Groups go into the delegation, as
// siblings of the leaf; our process stays in its leaf. Without an owned
// ancestor (our own cgroup is the delegation's top and busy) it is refused,
// naming the control and the rule.
TEST(CgroupTest, V2PlacementInTheDelegationAboveABusyOwnCgroup) {
  absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.ok());
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to delegate a cgroup to uid 65534";
  if (!layout->v2 || !layout->V2Has("memory") || !layout->V2Has("pids")) {
    GTEST_SKIP() << "needs a cgroup2 mount with memory and pids (the guest_kernel suite has one)";
  }
  constexpr uid_t kUser = 65534;
  const std::string deleg =
      absl::StrCat(layout->v2->mount_point, "/kavach-test-deleg-", ::getpid());
  const std::string leaf = deleg + "/leaf";
  ASSERT_EQ(::mkdir(deleg.c_str(), 0755), 0) << strerror(errno);
  ASSERT_EQ(::mkdir(leaf.c_str(), 0755), 0) << strerror(errno);
  for (const std::string& dir : {deleg, leaf}) {
    for (const char* f : {"", "/cgroup.procs", "/cgroup.threads", "/cgroup.subtree_control"}) {
      ASSERT_EQ(::chown((dir + f).c_str(), kUser, kUser), 0) << dir << f << ": " << strerror(errno);
    }
  }
  // Creates a group as the user, with `own` as the user's cgroup; returns
  // "ok <its path>" or the error. setresuid is per process here: a child.
  auto create_as_user = [&](const std::string& own) -> std::string {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return "pipe";
    pid_t pid = ::fork();
    if (pid < 0) return "fork";
    if (pid == 0) {
      ::close(pipe_fds[0]);
      std::string report;
      if (::setgroups(0, nullptr) != 0 || ::setresgid(kUser, kUser, kUser) != 0 ||
          ::setresuid(kUser, kUser, kUser) != 0) {
        report = "could not become the user";
      } else {
        CgroupLayout fake = *layout;
        fake.v2->own_dir = own;
        fake.v2->own_path = own.substr(layout->v2->mount_point.size());
        CgroupOptions opts;
        opts.layout = fake;
        opts.version = CgroupOptions::Version::kV2;
        CgroupLimits limits;
        limits.memory_bytes = 64 << 20;
        limits.max_pids = 16;
        absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), limits, opts);
        if (!cg.ok()) {
          report = cg.status().ToString();
        } else {
          const std::string placed = (*cg)->paths()[0];
          absl::StatusOr<std::string> max = ReadFile(placed + "/memory.max");
          absl::Status destroyed = (*cg)->Destroy();
          report = !max.ok() || *max != "67108864\n" ? "memory.max not written"
                   : !destroyed.ok()                 ? destroyed.ToString()
                                                     : "ok " + placed;
        }
      }
      (void)!::write(pipe_fds[1], report.data(), report.size());
      ::_exit(0);
    }
    ::close(pipe_fds[1]);
    std::string report;
    char buf[1024];
    for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) report.append(buf, n);
    ::close(pipe_fds[0]);
    ::waitpid(pid, nullptr, 0);
    return report;
  };

  // The user's process at the top of the delegation, nothing owned above:
  // refused, clearly.
  Child busy(PauseForever);
  ASSERT_TRUE(WriteKernelFile(deleg + "/cgroup.procs", absl::StrCat(busy.pid())).ok());
  const std::string refused = create_as_user(deleg);
  EXPECT_THAT(refused, HasSubstr("FAILED_PRECONDITION: cgroup.memory"));
  EXPECT_THAT(refused, HasSubstr("no internal processes"));
  // The user's process in a leaf: the group goes into the delegation, beside
  // the leaf, and Destroy removes it.
  ASSERT_TRUE(WriteKernelFile(leaf + "/cgroup.procs", absl::StrCat(busy.pid())).ok());
  const std::string placed = create_as_user(leaf);
  EXPECT_THAT(placed, ::testing::StartsWith("ok " + deleg + "/kavach/"));
  if (absl::StartsWith(placed, "ok ")) {
    EXPECT_FALSE(Exists(placed.substr(3))) << "the sandbox's cgroup left behind";
  }

  ::kill(busy.pid(), SIGKILL);
  busy.Wait();
  ::rmdir((deleg + "/kavach").c_str());
  for (int i = 0; i < 1000 && ::rmdir(leaf.c_str()) != 0 && errno == EBUSY; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(::rmdir(deleg.c_str()), 0) << strerror(errno);
}

// clone3(CLONE_INTO_CGROUP) with v2_fd(): the child is born inside.
TEST(CgroupTest, CloneIntoV2Cgroup) {
  absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.ok());
  if (!layout->v2) GTEST_SKIP() << "no cgroup2 mount";
  CgroupOptions opts;
  opts.version = CgroupOptions::Version::kV2;
  absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), {}, opts);
  ASSERT_TRUE(cg.ok()) << cg.status();
  ASSERT_GE((*cg)->v2_fd(), 0);
  clone_args args{};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>((*cg)->v2_fd());
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    for (;;) ::pause();
  }
  ASSERT_GT(pid, 0) << strerror(errno);
  absl::StatusOr<std::vector<pid_t>> pids = (*cg)->Pids();
  ASSERT_TRUE(pids.ok());
  EXPECT_THAT(*pids, Contains(static_cast<pid_t>(pid)));
  ASSERT_TRUE((*cg)->Destroy().ok());
  int status = 0;
  ASSERT_EQ(::waitpid(static_cast<pid_t>(pid), &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

// As nobody (uid 65534, no capabilities), Create must fail cleanly with a
// status, not crash or half-create.
TEST(CgroupTest, UnprivilegedCreateIsRefusedCleanly) {
  absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.ok());
  if (layout->mode == CgroupMode::kNone) GTEST_SKIP() << "no cgroups";
  if (::getuid() != 0) GTEST_SKIP() << "needs root to switch to uid 65534";
  absl::StatusOr<Pipe> msg = MakePipe();
  ASSERT_TRUE(msg.ok());
  pid_t pid = ::fork();
  if (pid == 0) {
    msg->read.Reset();
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(90);
    }
    int code = 0;
    std::string out;
    auto check = [&](const absl::Status& s, int bit) {
      out += std::string(s.ToString()) + "\n";
      if (s.ok() || !(absl::IsPermissionDenied(s) || absl::IsFailedPrecondition(s))) code |= bit;
      // Not being allowed to write is about the cgroup, not one limit.
      if (absl::IsPermissionDenied(s) && !absl::StartsWith(s.message(), "cgroup: ")) code |= 8;
    };
    CgroupLimits limits;
    limits.memory_bytes = 64 << 20;
    limits.max_pids = 16;
    check(Cgroup::Create(MakeCgroupName(), {}, {}).status(), 1);
    check(Cgroup::Create(MakeCgroupName(), limits, {}).status(), 2);
    if (layout->v2) {
      CgroupOptions v2;
      v2.version = CgroupOptions::Version::kV2;
      check(Cgroup::Create(MakeCgroupName(), {}, v2).status(), 4);
    }
    (void)!::write(msg->write.get(), out.data(), out.size());
    ::_exit(code);
  }
  ASSERT_GT(pid, 0);
  msg->write.Reset();
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(msg->read.get(), buf, sizeof buf)) > 0) out.append(buf, n);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child crashed: " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;
  EXPECT_THAT(out, HasSubstr("cgroup"));
}

// A run that crashed left a cgroup with a process inside: the cleanup kills
// the process and removes the directories; a live owner's cgroup stays.
TEST(CgroupTest, RemoveStaleCgroupsCleansUpAfterACrashedOwner) {
  absl::StatusOr<CgroupLayout> layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.ok());
  if (layout->mode == CgroupMode::kNone) GTEST_SKIP() << "no cgroups";
  std::vector<CgroupOptions::Version> versions;
  if (!layout->v1.empty()) versions.push_back(CgroupOptions::Version::kV1);
  if (layout->v2) versions.push_back(CgroupOptions::Version::kV2);
  for (CgroupOptions::Version version : versions) {
    SCOPED_TRACE(version == CgroupOptions::Version::kV1 ? "v1" : "v2");
    CgroupOptions opts;
    opts.version = version;
    absl::StatusOr<std::unique_ptr<Cgroup>> live = Cgroup::Create(MakeCgroupName(), {}, opts);
    ASSERT_TRUE(live.ok()) << live.status();

    // The "crashed" owner: creates a cgroup, puts a sleeper in, exits
    // without cleaning up, and tells us the paths and the sleeper's pid.
    absl::StatusOr<Pipe> report = MakePipe();
    ASSERT_TRUE(report.ok());
    pid_t owner = ::fork();
    if (owner == 0) {
      report->read.Reset();
      absl::StatusOr<std::unique_ptr<Cgroup>> cg = Cgroup::Create(MakeCgroupName(), {}, opts);
      if (!cg.ok()) ::_exit(1);
      pid_t sleeper = ::fork();
      if (sleeper == 0) {
        report->write.Reset();  // or our read below never sees EOF
        for (;;) ::pause();
      }
      if (!(*cg)->AddProcess(sleeper).ok()) ::_exit(2);
      std::string msg = absl::StrCat(sleeper);
      for (const std::string& p : (*cg)->paths()) absl::StrAppend(&msg, "\n", p);
      (void)!::write(report->write.get(), msg.data(), msg.size());
      ::_exit(0);  // no destructors: the cgroup is left behind
    }
    ASSERT_GT(owner, 0);
    report->write.Reset();
    std::string msg;
    char buf[1024];
    ssize_t n;
    while ((n = ::read(report->read.get(), buf, sizeof buf)) > 0) msg.append(buf, n);
    int status = 0;
    ASSERT_EQ(::waitpid(owner, &status, 0), owner);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    std::vector<std::string> lines = absl::StrSplit(msg, '\n', absl::SkipEmpty());
    ASSERT_GE(lines.size(), 2u);
    pid_t sleeper;
    ASSERT_TRUE(absl::SimpleAtoi(lines[0], &sleeper));
    std::vector<std::string> stale(lines.begin() + 1, lines.end());
    for (const std::string& p : stale) ASSERT_TRUE(Exists(p)) << p;
    ASSERT_FALSE(Dead(sleeper));

    absl::StatusOr<int> removed = RemoveStaleCgroups(*layout);
    ASSERT_TRUE(removed.ok()) << removed.status();
    EXPECT_GE(*removed, static_cast<int>(stale.size()));
    for (const std::string& p : stale) EXPECT_FALSE(Exists(p)) << p << " left behind";
    EXPECT_TRUE(EventuallyDead(sleeper));
    for (const std::string& p : (*live)->paths()) EXPECT_TRUE(Exists(p)) << "live " << p;
    ASSERT_TRUE((*live)->Destroy().ok());
  }
}

}  // namespace
}  // namespace kavach::sys
