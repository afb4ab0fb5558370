// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/process/netns_pool.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "linux/testing/run_in_child.h"

namespace kavach::internal {
namespace {

ino_t Inode(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

ino_t OwnNetnsInode() {
  struct stat st;
  return ::stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
}

// What a process started in `netns` sees: its interfaces and whether lo is up.
std::string InterfacesIn(int netns) {
  return test_support::RunInChild([netns]() -> std::string {
    if (::setns(netns, CLONE_NEWNET) != 0) return absl::StrCat("setns: ", std::strerror(errno));
    struct if_nameindex* names = if_nameindex();
    if (names == nullptr) return "if_nameindex failed";
    std::string seen;
    for (struct if_nameindex* i = names; i->if_index != 0; ++i) absl::StrAppend(&seen, i->if_name);
    if_freenameindex(names);
    if (seen != "lo") return absl::StrCat("interfaces: ", seen);
    int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {};
    std::strncpy(ifr.ifr_name, "lo", sizeof ifr.ifr_name - 1);
    bool up = sock >= 0 && ::ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
    if (sock >= 0) ::close(sock);
    return up ? "" : "lo is down";
  });
}

TEST(NetnsPoolTest, MakesAFreshNamespaceWithOnlyLoopbackUpAndComesBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "making a network namespace outside a user ns needs root";
  const ino_t before = OwnNetnsInode();
  absl::StatusOr<sys::UniqueFd> ns = NetnsPool::MakeNamespace();
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_EQ(OwnNetnsInode(), before) << "the calling thread did not return to its namespace";
  EXPECT_NE(Inode(ns->get()), before);
  EXPECT_EQ(InterfacesIn(ns->get()), "");
}

TEST(NetnsPoolTest, HandsOutEachNamespaceOnce) {
  NetnsPool& pool = NetnsPool::Global();
  if (::geteuid() != 0) {
    EXPECT_FALSE(pool.Take());  // the first request starts nothing
    EXPECT_FALSE(pool.Take());  // the second finds it cannot start
    EXPECT_NE(pool.unavailable_reason(), "");
    GTEST_SKIP() << "the pool is root only: " << pool.unavailable_reason();
  }
  std::set<ino_t> seen;
  std::vector<sys::UniqueFd> held;
  const ino_t own = OwnNetnsInode();
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (seen.size() < 4 && absl::Now() < deadline) {
    sys::UniqueFd fd = pool.Take();
    if (!fd) {
      ASSERT_EQ(pool.unavailable_reason(), "");
      absl::SleepFor(absl::Milliseconds(2));
      continue;
    }
    const ino_t ino = Inode(fd.get());
    EXPECT_NE(ino, own);
    EXPECT_TRUE(seen.insert(ino).second) << "namespace handed out twice";
    EXPECT_EQ(InterfacesIn(fd.get()), "");
    // Held until the end, so that a freed inode number cannot come back.
    held.push_back(std::move(fd));
  }
  EXPECT_EQ(seen.size(), 4u) << "the pool did not refill";
}

}  // namespace
}  // namespace kavach::internal
