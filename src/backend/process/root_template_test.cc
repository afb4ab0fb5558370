// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/process/root_template.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "linux/testing/run_in_child.h"

namespace kavach::internal {
namespace {

RootStep Step(RootStepKind kind, const char* source, const char* target, const char* data = "",
              uint32_t mode = 0) {
  return RootStep{kind, source, target, data, std::strlen(data), mode, /*optional=*/false};
}

// The shape of a strict sandbox's root, on paths every Debian machine has.
std::vector<RootStep> StrictLikeSteps() {
  return {
      Step(RootStepKind::kBindReadOnly, "/usr", "/usr"),
      Step(RootStepKind::kSymlink, nullptr, "/bin", "usr/bin"),
      Step(RootStepKind::kDir, nullptr, "/etc", "", 0755),
      Step(RootStepKind::kFile, nullptr, "/etc/hostname", "sandbox\n", 0644),
      Step(RootStepKind::kFile, nullptr, "/etc/only-owner", "x", 0600),
      Step(RootStepKind::kDir, nullptr, "/dev", "", 0755),
      Step(RootStepKind::kBindDevice, "/dev/null", "/dev/null"),
      Step(RootStepKind::kTmpfs, nullptr, "/dev/shm", "mode=1777"),
      Step(RootStepKind::kProc, nullptr, "/proc"),
      Step(RootStepKind::kTmpfs, nullptr, "/tmp", "mode=1777"),
      Step(RootStepKind::kTmpfs, nullptr, "/work", "mode=0755"),
      Step(RootStepKind::kMaskFile, nullptr, "/etc/hostname"),
  };
}

// Building a template needs the new mount API with moves onto a detached
// tree (Linux 6.15+) and CAP_SYS_ADMIN in the host's mount namespace.
std::string WhyNoTemplates() {
  if (::geteuid() != 0) return "root templates need root (CAP_SYS_ADMIN in the host's mount ns)";
  std::vector<RootStep> steps = StrictLikeSteps();
  RootTemplatePlan plan;
  std::string why;
  if (!PlanRootTemplate(steps.data(), static_cast<int>(steps.size()), true, &plan, &why)) {
    return why;
  }
  absl::StatusOr<sys::UniqueFd> t =
      BuildRootTemplate(steps.data(), static_cast<int>(steps.size()), plan);
  return t.ok() ? "" : std::string(t.status().message());
}

TEST(RootTemplatePlanTest, SplitsSharedFromPerSandboxSteps) {
  std::vector<RootStep> steps = StrictLikeSteps();
  RootTemplatePlan plan;
  std::string why;
  ASSERT_TRUE(PlanRootTemplate(steps.data(), static_cast<int>(steps.size()), true, &plan, &why))
      << why;
  const std::vector<bool> expected = {true, true,  true,  true,  true,  true,
                                      true, false, false, false, false, false};
  EXPECT_EQ(plan.in_template, expected);
  EXPECT_FALSE(plan.key.empty());
}

TEST(RootTemplatePlanTest, RefusesAWritableRoot) {
  std::vector<RootStep> steps = StrictLikeSteps();
  RootTemplatePlan plan;
  std::string why;
  EXPECT_FALSE(PlanRootTemplate(steps.data(), static_cast<int>(steps.size()), false, &plan, &why));
  EXPECT_NE(why.find("writable"), std::string::npos) << why;
}

TEST(RootTemplatePlanTest, RefusesSecrets) {
  std::vector<RootStep> steps = StrictLikeSteps();
  steps.push_back(Step(RootStepKind::kFile, nullptr, "/run/secrets/k", "s3cret", 0400));
  steps.back().secret = true;
  RootTemplatePlan plan;
  std::string why;
  EXPECT_FALSE(PlanRootTemplate(steps.data(), static_cast<int>(steps.size()), true, &plan, &why));
  EXPECT_NE(why.find("secret"), std::string::npos) << why;
}

TEST(RootTemplatePlanTest, RefusesSharedStepsBelowAPerSandboxMount) {
  // A read-only bind inside the working directory's tmpfs would be hidden by
  // it if it were in the template.
  std::vector<RootStep> steps = StrictLikeSteps();
  steps.push_back(Step(RootStepKind::kBindReadOnly, "/usr/share", "/work/share"));
  RootTemplatePlan plan;
  std::string why;
  EXPECT_FALSE(PlanRootTemplate(steps.data(), static_cast<int>(steps.size()), true, &plan, &why));
  EXPECT_NE(why.find("/work/share"), std::string::npos) << why;
  // A prefix that is not a parent does not count.
  steps.back() = Step(RootStepKind::kBindReadOnly, "/usr/share", "/workshare");
  EXPECT_TRUE(PlanRootTemplate(steps.data(), static_cast<int>(steps.size()), true, &plan, &why))
      << why;
}

TEST(RootTemplatePlanTest, KeyFollowsContent) {
  std::vector<RootStep> a = StrictLikeSteps();
  std::vector<RootStep> b = StrictLikeSteps();
  RootTemplatePlan pa, pb;
  std::string why;
  ASSERT_TRUE(PlanRootTemplate(a.data(), static_cast<int>(a.size()), true, &pa, &why));
  ASSERT_TRUE(PlanRootTemplate(b.data(), static_cast<int>(b.size()), true, &pb, &why));
  EXPECT_EQ(pa.key, pb.key);
  b[3] = Step(RootStepKind::kFile, nullptr, "/etc/hostname", "other\n", 0644);
  ASSERT_TRUE(PlanRootTemplate(b.data(), static_cast<int>(b.size()), true, &pb, &why));
  EXPECT_NE(pa.key, pb.key);
  // Per-sandbox mount options (a tmpfs size) are not the template's content.
  b = StrictLikeSteps();
  b[9] = Step(RootStepKind::kTmpfs, nullptr, "/tmp", "mode=1777,size=1234");
  ASSERT_TRUE(PlanRootTemplate(b.data(), static_cast<int>(b.size()), true, &pb, &why));
  EXPECT_EQ(pa.key, pb.key);
}

// Builds a template, clones it into a child's own user and mount namespace
// as init does, and checks what a sandbox would see.
TEST(RootTemplateTest, CloneHasTheSharedTreeReadOnlyAndMountPoints) {
  if (std::string why = WhyNoTemplates(); !why.empty()) {
    GTEST_SKIP() << "root templates unavailable here: " << why;
  }
  std::vector<RootStep> steps = StrictLikeSteps();
  RootTemplatePlan plan;
  std::string why;
  ASSERT_TRUE(PlanRootTemplate(steps.data(), static_cast<int>(steps.size()), true, &plan, &why));
  absl::StatusOr<sys::UniqueFd> t =
      BuildRootTemplate(steps.data(), static_cast<int>(steps.size()), plan);
  ASSERT_TRUE(t.ok()) << t.status();
  const int root = t->get();

  std::string err = test_support::RunInChild([&]() -> std::string {
    sys::UniqueFd clone(::open_tree(root, "", OPEN_TREE_CLONE | AT_RECURSIVE | AT_EMPTY_PATH));
    if (!clone) return absl::StrCat("open_tree clone: ", std::strerror(errno));
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return "unshare";
    auto write_file = [](const char* path, const char* text) {
      int fd = ::open(path, O_WRONLY);
      bool ok = fd >= 0 && ::write(fd, text, std::strlen(text)) > 0;
      if (fd >= 0) ::close(fd);
      return ok;
    };
    write_file("/proc/self/setgroups", "deny");
    if (!write_file("/proc/self/uid_map", "0 0 1") || !write_file("/proc/self/gid_map", "0 0 1")) {
      return "id maps";
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "private";
    if (::mount("tmpfs", "/mnt", "tmpfs", 0, nullptr) != 0) return "tmpfs /mnt";
    if (::mkdir("/mnt/r", 0755) != 0) return "mkdir";
    if (::move_mount(clone.get(), "", AT_FDCWD, "/mnt/r", MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      return absl::StrCat("move_mount: ", std::strerror(errno));
    }
    std::string problems;
    auto expect = [&](bool ok, const std::string& what) {
      if (!ok) absl::StrAppend(&problems, what, "; ");
    };
    struct stat st;
    expect(::stat("/mnt/r/usr/bin/true", &st) == 0, "no /usr/bin/true through the /usr bind");
    expect(::lstat("/mnt/r/bin", &st) == 0 && S_ISLNK(st.st_mode), "/bin is not a symlink");
    expect(::stat("/mnt/r/etc/only-owner", &st) == 0 && (st.st_mode & 07777) == 0600,
           "/etc/only-owner mode is not 0600 (the umask decided it)");
    std::ifstream hostname("/mnt/r/etc/hostname");
    std::string line;
    std::getline(hostname, line);
    expect(line == "sandbox", "wrong /etc/hostname content");
    expect(::stat("/mnt/r/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null not bound");
    for (const char* dir : {"/mnt/r/tmp", "/mnt/r/proc", "/mnt/r/work", "/mnt/r/dev/shm"}) {
      expect(::stat(dir, &st) == 0 && S_ISDIR(st.st_mode), absl::StrCat("no mount point ", dir));
    }
    // Per-sandbox mounts go on top of the read-only tree.
    expect(::mount("tmpfs", "/mnt/r/tmp", "tmpfs", 0, nullptr) == 0, "cannot mount /tmp");
    int f = ::open("/mnt/r/tmp/x", O_CREAT | O_WRONLY, 0644);
    expect(f >= 0, "/tmp not writable");
    if (f >= 0) ::close(f);
    // The tree is read-only, and stays so when the mount's flag is cleared:
    // the superblock itself is read-only.
    f = ::open("/mnt/r/new", O_CREAT | O_WRONLY, 0644);
    expect(f < 0 && errno == EROFS, "root not read-only");
    struct mount_attr clear = {};
    clear.attr_clr = MOUNT_ATTR_RDONLY;
    if (::mount_setattr(AT_FDCWD, "/mnt/r", 0, &clear, sizeof clear) == 0) {
      f = ::open("/mnt/r/new", O_CREAT | O_WRONLY, 0644);
      expect(f < 0 && errno == EROFS, "writable after clearing the mount's read-only flag");
    }
    f = ::open("/mnt/r/usr/kavach-test", O_CREAT | O_WRONLY, 0644);
    expect(f < 0 && errno == EROFS, "/usr bind not read-only");
    return problems;
  });
  EXPECT_EQ(err, "");
}

// A host mount that is shared (the systemd default) must not carry later
// host mounts into sandboxes through a template's bind of it.
TEST(RootTemplateTest, HostMountsDoNotPropagateIntoClones) {
  if (std::string why = WhyNoTemplates(); !why.empty()) {
    GTEST_SKIP() << "root templates unavailable here: " << why;
  }
  const std::string dir = ::testing::TempDir() + "/root_template_propagation";
  std::filesystem::create_directories(dir + "/sub");
  std::string err = test_support::RunInChild([&]() -> std::string {
    // A host of our own, where `dir` is a shared mount.
    if (::unshare(CLONE_NEWNS) != 0) return "unshare";
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "private";
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0) return "bind";
    if (::mount(nullptr, dir.c_str(), nullptr, MS_SHARED, nullptr) != 0) return "shared";
    std::vector<RootStep> steps = StrictLikeSteps();
    steps.insert(steps.begin() + 3,
                 Step(RootStepKind::kBindReadOnly, dir.c_str(), "/etc/propagation"));
    const int n = static_cast<int>(steps.size());
    RootTemplatePlan plan;
    std::string why;
    if (!PlanRootTemplate(steps.data(), n, true, &plan, &why)) return why;
    absl::StatusOr<sys::UniqueFd> t = BuildRootTemplate(steps.data(), n, plan);
    if (!t.ok()) return std::string(t.status().message());
    sys::UniqueFd clone(::open_tree(t->get(), "", OPEN_TREE_CLONE | AT_RECURSIVE | AT_EMPTY_PATH));
    if (!clone) return "clone";
    // A sandbox's mount namespace, made private as init makes it, with the
    // clone attached (propagation works between attached mounts only).
    int ready[2], done[2];
    if (::pipe(ready) != 0 || ::pipe(done) != 0) return "pipe";
    pid_t sandbox = ::fork();
    if (sandbox == 0) {
      char c = 'x';
      if (::unshare(CLONE_NEWNS) != 0 ||
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount("tmpfs", "/mnt", "tmpfs", 0, nullptr) != 0 || ::mkdir("/mnt/r", 0755) != 0 ||
          ::move_mount(clone.get(), "", AT_FDCWD, "/mnt/r", MOVE_MOUNT_F_EMPTY_PATH) != 0) {
        c = 'e';
      }
      (void)!::write(ready[1], &c, 1);
      (void)!::read(done[0], &c, 1);  // the host has mounted
      struct stat st;
      _exit(::stat("/mnt/r/etc/propagation/sub/marker", &st) == 0 ? 3 : 0);
    }
    char c = 0;
    if (::read(ready[0], &c, 1) != 1 || c != 'x') return "sandbox namespace set-up failed";
    // The host mounts something below the shared mount afterwards.
    const std::string sub = dir + "/sub";
    if (::mount("tmpfs", sub.c_str(), "tmpfs", 0, nullptr) != 0) return "tmpfs";
    int f = ::open((sub + "/marker").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (f < 0) return "marker";
    ::close(f);
    (void)!::write(done[1], "x", 1);
    int status = 0;
    ::waitpid(sandbox, &status, 0);
    if (!WIFEXITED(status)) return "sandbox process died";
    if (WEXITSTATUS(status) == 3) return "a host mount made after the template reached a sandbox";
    if (WEXITSTATUS(status) != 0) return "sandbox process failed";
    return "";
  });
  EXPECT_EQ(err, "");
}

TEST(RootTemplateCacheTest, BuildsOnSecondSightThenClonesAndRebuildsWhenASourceChanges) {
  if (std::string why = WhyNoTemplates(); !why.empty()) {
    GTEST_SKIP() << "root templates unavailable here: " << why;
  }
  const std::string dir = ::testing::TempDir() + "/root_template_cache";
  std::filesystem::create_directories(dir);
  const std::string source = dir + "/conf";
  { std::ofstream(source) << "one\n"; }
  std::vector<RootStep> steps = StrictLikeSteps();
  steps.insert(steps.begin() + 5, Step(RootStepKind::kBindReadOnly, source.c_str(), "/etc/conf"));
  const int n = static_cast<int>(steps.size());

  RootTemplateCache& cache = RootTemplateCache::Global();
  cache.Clear();
  EXPECT_FALSE(cache.CloneFor(steps.data(), n, true)) << "built on first sight";
  EXPECT_TRUE(steps[0].in_template);   // /usr
  EXPECT_FALSE(steps[8].in_template);  // /dev/shm
  sys::UniqueFd first = cache.CloneFor(steps.data(), n, true);
  ASSERT_TRUE(first) << "not built on second sight";
  sys::UniqueFd cached = cache.CloneFor(steps.data(), n, true);
  ASSERT_TRUE(cached);

  auto read_conf = [](int tree) {
    char buf[16] = {};
    int fd = ::openat(tree, "etc/conf", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::string("(missing)");
    ssize_t got = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    return std::string(buf, got > 0 ? static_cast<size_t>(got) : 0);
  };
  EXPECT_EQ(read_conf(first.get()), "one\n");
  EXPECT_EQ(read_conf(cached.get()), "one\n");
  // Replaced by rename, as ldconfig does: the template pins the old inode,
  // so it is stale and no clone of it is handed out.
  { std::ofstream(source + ".new") << "two\n"; }
  std::filesystem::rename(source + ".new", source);
  sys::UniqueFd second = cache.CloneFor(steps.data(), n, true);
  ASSERT_TRUE(second);
  EXPECT_EQ(read_conf(second.get()), "two\n");
  EXPECT_EQ(read_conf(first.get()), "one\n");
  cache.Clear();
}

TEST(RootTemplateCacheTest, IneligiblePlansNeverGetATemplate) {
  std::vector<RootStep> steps = StrictLikeSteps();
  RootTemplateCache& cache = RootTemplateCache::Global();
  cache.Clear();
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(cache.CloneFor(steps.data(), static_cast<int>(steps.size()), false));
  }
  for (const RootStep& s : steps) EXPECT_FALSE(s.in_template);
  EXPECT_FALSE(cache.BuildAndClone(steps.data(), static_cast<int>(steps.size()), false));
  cache.Clear();
}

}  // namespace
}  // namespace kavach::internal
