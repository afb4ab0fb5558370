// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/cgroup_host.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/file_util.h"

namespace kavach::sys {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A directory tree standing in for another host's /, removed afterwards.
class FakeRoot {
 public:
  FakeRoot() {
    char tmpl[] = "/tmp/kavach-cgroup-host-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~FakeRoot() { (void)::system(absl::StrCat("rm -rf '", dir_, "'").c_str()); }
  const std::string& dir() const { return dir_; }
  // Writes <root>/<path>/cgroup.controllers.
  void Controllers(const std::string& path, const std::string& text) {
    std::string d = dir_;
    for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
      absl::StrAppend(&d, "/", part);
      ::mkdir(d.c_str(), 0755);
    }
    ASSERT_TRUE(WriteFile(d + "/cgroup.controllers", text).ok());
  }

 private:
  std::string dir_;
};

// systemd on a current distribution: one cgroup2 mount, everything on it.
constexpr char kPureV2Mountinfo[] =
    "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro\n"
    "23 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    "31 23 0:27 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw\n";
constexpr char kPureV2Cgroup[] =
    "0::/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn.scope\n";

// CentOS 7 / Debian 10 style: v1 only, cpu and cpuacct co-mounted.
constexpr char kPureV1Mountinfo[] =
    "18 61 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw\n"
    "24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755\n"
    "25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup "
    "cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup "
    "cgroup rw,cpu,cpuacct\n"
    "29 24 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup "
    "cgroup rw,memory\n"
    "30 24 0:26 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
    "rw,pids\n"
    "31 24 0:27 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:15 - cgroup "
    "cgroup rw,freezer\n"
    "32 24 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - "
    "cgroup cgroup rw,net_cls,net_prio\n";
constexpr char kPureV1Cgroup[] =
    "11:pids:/user.slice/user-1000.slice\n"
    "10:freezer:/\n"
    "9:net_cls,net_prio:/\n"
    "8:memory:/user.slice\n"
    "4:cpu,cpuacct:/user.slice\n"
    "1:name=systemd:/user.slice/user-1000.slice/session-1.scope\n";

// This project's machines: v1 controllers plus a nearly empty cgroup2 mount.
constexpr char kHybridMountinfo[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr char kHybridCgroup[] =
    "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
    "4:memory:/process_api/c442bde7c9e0d47d88743c77abb9c4e4\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n"
    "0::/\n";

TEST(CgroupHostTest, PureV2SystemdLayout) {
  FakeRoot root;
  root.Controllers("/sys/fs/cgroup", "cpuset cpu io memory hugetlb pids rdma misc\n");
  absl::StatusOr<CgroupLayout> l = ParseCgroupLayout(kPureV2Mountinfo, kPureV2Cgroup, root.dir());
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->mode, CgroupMode::kV2);
  ASSERT_TRUE(l->v2.has_value());
  EXPECT_EQ(l->v2->mount_point, root.dir() + "/sys/fs/cgroup");
  EXPECT_EQ(l->v2->own_path,
            "/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn.scope");
  EXPECT_EQ(l->v2->own_dir, root.dir() + "/sys/fs/cgroup" + l->v2->own_path);
  EXPECT_TRUE(l->V2Has("memory"));
  EXPECT_TRUE(l->V2Has("pids"));
  EXPECT_TRUE(l->V2Has("cpu"));
  EXPECT_FALSE(l->V2Has("freezer"));
  EXPECT_THAT(l->v1, IsEmpty());
  EXPECT_EQ(l->V1For("memory"), nullptr);
}

TEST(CgroupHostTest, PureV1LayoutWithCoMountedControllers) {
  absl::StatusOr<CgroupLayout> l = ParseCgroupLayout(kPureV1Mountinfo, kPureV1Cgroup);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->mode, CgroupMode::kV1);
  EXPECT_FALSE(l->v2.has_value());
  ASSERT_NE(l->V1For("cpu"), nullptr);
  ASSERT_NE(l->V1For("cpuacct"), nullptr);
  EXPECT_EQ(l->V1For("cpu")->mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(l->V1For("cpuacct")->mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_THAT(l->V1For("cpu")->controllers, ElementsAre("cpu", "cpuacct"));
  EXPECT_EQ(l->V1For("cpu")->own_dir, "/sys/fs/cgroup/cpu,cpuacct/user.slice");
  ASSERT_NE(l->V1For("memory"), nullptr);
  EXPECT_EQ(l->V1For("memory")->own_dir, "/sys/fs/cgroup/memory/user.slice");
  ASSERT_NE(l->V1For("pids"), nullptr);
  EXPECT_EQ(l->V1For("pids")->own_dir, "/sys/fs/cgroup/pids/user.slice/user-1000.slice");
  ASSERT_NE(l->V1For("freezer"), nullptr);
  EXPECT_EQ(l->V1For("freezer")->own_dir, "/sys/fs/cgroup/freezer");
  EXPECT_EQ(l->V1For("net_prio")->mount_point, "/sys/fs/cgroup/net_cls,net_prio");
  // name=systemd is a named hierarchy without controllers: not listed.
  EXPECT_EQ(l->V1For("name=systemd"), nullptr);
  EXPECT_EQ(l->V1For("cpuset"), nullptr);
}

TEST(CgroupHostTest, HybridLayoutOfThisProjectsMachines) {
  FakeRoot root;
  root.Controllers("/sys/fs/cgroup/unified", "hugetlb\n");
  absl::StatusOr<CgroupLayout> l = ParseCgroupLayout(kHybridMountinfo, kHybridCgroup, root.dir());
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->mode, CgroupMode::kHybrid);
  ASSERT_TRUE(l->v2.has_value());
  EXPECT_EQ(l->v2->mount_point, root.dir() + "/sys/fs/cgroup/unified");
  EXPECT_EQ(l->v2->own_dir, root.dir() + "/sys/fs/cgroup/unified");
  EXPECT_THAT(l->v2->controllers, ElementsAre("hugetlb"));
  EXPECT_FALSE(l->V2Has("memory"));
  ASSERT_NE(l->V1For("memory"), nullptr);
  EXPECT_EQ(l->V1For("memory")->own_dir,
            root.dir() + "/sys/fs/cgroup/memory/process_api/c442bde7c9e0d47d88743c77abb9c4e4");
  // Separate cpu and cpuacct mounts here.
  EXPECT_EQ(l->V1For("cpu")->mount_point, root.dir() + "/sys/fs/cgroup/cpu");
  EXPECT_EQ(l->V1For("cpuacct")->mount_point, root.dir() + "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(l->V1For("pids")->own_dir, root.dir() + "/sys/fs/cgroup/pids");
}

TEST(CgroupHostTest, SystemdHybridWithEmptyUnifiedMount) {
  constexpr char kMountinfo[] =
      "25 24 0:21 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 "
      "cgroup2 rw,nsdelegate\n"
      "26 24 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:6 - cgroup "
      "cgroup rw,xattr,name=systemd\n"
      "30 24 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup "
      "cgroup rw,memory\n";
  constexpr char kCgroup[] =
      "4:memory:/user.slice/user-1000.slice/session-3.scope\n"
      "1:name=systemd:/user.slice/user-1000.slice/session-3.scope\n"
      "0::/user.slice/user-1000.slice/session-3.scope\n";
  FakeRoot root;
  root.Controllers("/sys/fs/cgroup/unified", "");
  absl::StatusOr<CgroupLayout> l = ParseCgroupLayout(kMountinfo, kCgroup, root.dir());
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->mode, CgroupMode::kHybrid);
  EXPECT_THAT(l->v2->controllers, IsEmpty());
  EXPECT_EQ(l->v2->own_dir,
            root.dir() + "/sys/fs/cgroup/unified/user.slice/user-1000.slice/session-3.scope");
}

TEST(CgroupHostTest, ContainerMountRootAndEscapes) {
  // A container sees its own cgroup as the mount's root; the mount point
  // has an escaped space.
  constexpr char kMountinfo[] =
      "700 690 0:30 /docker/abc /sys/fs/my\\040cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 "
      "cgroup2 rw\n";
  absl::StatusOr<CgroupLayout> l = ParseCgroupLayout(kMountinfo, "0::/docker/abc/sub\n");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->v2->mount_point, "/sys/fs/my cgroup");
  EXPECT_EQ(l->v2->mount_root, "/docker/abc");
  EXPECT_EQ(l->v2->own_dir, "/sys/fs/my cgroup/sub");

  l = ParseCgroupLayout(kMountinfo, "0::/docker/abc\n");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->v2->own_dir, "/sys/fs/my cgroup");

  // Our cgroup outside what the mount shows: unknown, not a wrong guess.
  l = ParseCgroupLayout(kMountinfo, "0::/docker/other\n");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->v2->own_dir, "");
  l = ParseCgroupLayout(kMountinfo, "0::/../../x\n");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->v2->own_dir, "");
}

TEST(CgroupHostTest, NoCgroupsAtAll) {
  absl::StatusOr<CgroupLayout> l =
      ParseCgroupLayout("22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n", "");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->mode, CgroupMode::kNone);
  EXPECT_FALSE(l->v2.has_value());
  EXPECT_THAT(l->v1, IsEmpty());
  EXPECT_EQ(CgroupModeName(l->mode), "none");
}

// The real host: every hierarchy's own_dir must list this process.
TEST(CgroupHostTest, RealLayoutFindsOurOwnCgroups) {
  absl::StatusOr<CgroupLayout> l = DetectCgroupLayout();
  ASSERT_TRUE(l.ok()) << l.status();
  if (l->mode == CgroupMode::kNone) GTEST_SKIP() << "no cgroup filesystem mounted";
  int checked = 0;
  auto check = [&](const CgroupHierarchy& h, const std::string& what) {
    ASSERT_FALSE(h.own_dir.empty()) << what << " " << h.mount_point;
    absl::StatusOr<std::string> procs = ReadFile(h.own_dir + "/cgroup.procs");
    ASSERT_TRUE(procs.ok()) << what << ": " << procs.status();
    bool found = false;
    for (absl::string_view line : absl::StrSplit(*procs, '\n', absl::SkipEmpty())) {
      pid_t p;
      found = found || (absl::SimpleAtoi(line, &p) && p == ::getpid());
    }
    EXPECT_TRUE(found) << what << ": pid " << ::getpid() << " not in " << h.own_dir;
    ++checked;
  };
  if (l->v2) check(*l->v2, "v2");
  for (const auto& [controller, h] : l->v1) check(h, controller);
  EXPECT_GT(checked, 0);
  // Whatever the host, the description names the mode.
  EXPECT_NE(l->DebugString().find(std::string(CgroupModeName(l->mode))), std::string::npos);
}

}  // namespace
}  // namespace kavach::sys
