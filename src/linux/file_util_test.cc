// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/file_util.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach::sys {
namespace {

using ::testing::HasSubstr;

class MakePrivateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kavach-file-util-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(base_); }
  std::string base_;
};

TEST_F(MakePrivateDirTest, MakesTheDirectoryWithItsModeAndAcceptsItAgain) {
  const std::string dir = base_ + "/cache";
  ASSERT_TRUE(MakePrivateDir(dir, 0700).ok());
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_TRUE(MakePrivateDir(dir, 0700).ok()) << "an existing private directory is ours to use";
}

TEST_F(MakePrivateDirTest, RefusesAGroupWritableDirectory) {
  const std::string dir = base_ + "/shared";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0770), 0);
  absl::Status s = MakePrivateDir(dir, 0700);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(dir));
}

TEST_F(MakePrivateDirTest, RefusesASymlinkToADirectory) {
  const std::string target = base_ + "/real";
  const std::string link = base_ + "/link";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(MakePrivateDir(link, 0700).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(MakePrivateDirTest, RefusesADirectoryAnotherUserMade) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a directory owned by another uid";
  const std::string dir = base_ + "/theirs";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  EXPECT_EQ(MakePrivateDir(dir, 0700).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(MakePrivateDirTest, AMissingParentIsNotFound) {
  EXPECT_EQ(MakePrivateDir(base_ + "/no/such", 0700).code(), absl::StatusCode::kNotFound);
}

// RemoveTree removes links, never what they point at, and a missing path
// is fine.
TEST_F(MakePrivateDirTest, RemoveTreeRemovesEverythingAndFollowsNoLink) {
  const std::string keep = base_ + "/keep";
  ASSERT_EQ(::mkdir(keep.c_str(), 0700), 0);
  ASSERT_TRUE(WriteFile(keep + "/precious", "x").ok());
  const std::string tree = base_ + "/tree";
  ASSERT_EQ(::mkdir(tree.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((tree + "/a").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((tree + "/a/b").c_str(), 0700), 0);
  ASSERT_TRUE(WriteFile(tree + "/a/b/f", "data").ok());
  ASSERT_EQ(::symlink(keep.c_str(), (tree + "/a/to-keep").c_str()), 0);
  ASSERT_EQ(::symlink((keep + "/precious").c_str(), (tree + "/file-link").c_str()), 0);
  EXPECT_TRUE(RemoveTree(tree).ok());
  struct stat st;
  EXPECT_NE(::lstat(tree.c_str(), &st), 0);
  EXPECT_EQ(::stat((keep + "/precious").c_str(), &st), 0) << "a link was followed";
  EXPECT_TRUE(RemoveTree(tree).ok()) << "a missing path is fine";
  // A plain file and a link as the path itself.
  ASSERT_EQ(::symlink(keep.c_str(), (base_ + "/top-link").c_str()), 0);
  EXPECT_TRUE(RemoveTree(base_ + "/top-link").ok());
  EXPECT_EQ(::stat((keep + "/precious").c_str(), &st), 0);
  EXPECT_TRUE(RemoveTree(keep + "/precious").ok());
  EXPECT_NE(::stat((keep + "/precious").c_str(), &st), 0);
}

// A directory with more entries than one getdents64 buffer holds, beside
// nested ones: everything goes.
TEST_F(MakePrivateDirTest, RemoveTreeEmptiesLargeDirectories) {
  const std::string tree = base_ + "/big";
  ASSERT_EQ(::mkdir(tree.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((tree + "/sub").c_str(), 0700), 0);
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(WriteFile(absl::StrCat(tree, "/sub/a-rather-long-file-name-", i), "x").ok());
    ASSERT_EQ(::mkdir(absl::StrCat(tree, "/d", i).c_str(), 0700), 0);
  }
  EXPECT_TRUE(RemoveTree(tree).ok());
  struct stat st;
  EXPECT_NE(::lstat(tree.c_str(), &st), 0);
}

}  // namespace
}  // namespace kavach::sys
