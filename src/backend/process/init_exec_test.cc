// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/process/init_exec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

class InitFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blob_ = EmbeddedInitExecutable();
    if (blob_.empty()) GTEST_SKIP() << "this build embeds no kavach-init";
    char tmpl[] = "/tmp/kavach-init-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/kavach-init";
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void Write(std::string_view content, mode_t mode) {
    std::filesystem::remove(path_);
    std::ofstream(path_, std::ios::binary).write(content.data(), content.size());
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
  }

  std::string_view blob_;
  std::string dir_, path_;
};

TEST_F(InitFileTest, TheSameBuildIsUsed) {
  Write(blob_, 0755);
  absl::StatusOr<sys::UniqueFd> fd = OpenInitFile(path_.c_str(), blob_);
  EXPECT_TRUE(fd.ok()) << fd.status();
}

TEST_F(InitFileTest, AnotherBuildOrAnUnsafeFileIsRefused) {
  std::string changed(blob_);
  changed[0x310] ^= 1;  // inside the build-id note
  Write(changed, 0755);
  EXPECT_FALSE(OpenInitFile(path_.c_str(), blob_).ok()) << "another build id";
  Write(blob_.substr(0, blob_.size() - 1), 0755);
  EXPECT_FALSE(OpenInitFile(path_.c_str(), blob_).ok()) << "another size";
  Write(blob_, 0775);
  EXPECT_FALSE(OpenInitFile(path_.c_str(), blob_).ok()) << "group-writable";
  Write(blob_, 0757);
  EXPECT_FALSE(OpenInitFile(path_.c_str(), blob_).ok()) << "world-writable";
  Write(blob_, 0755);
  const std::string link = dir_ + "/link";
  ASSERT_EQ(::symlink(path_.c_str(), link.c_str()), 0);
  EXPECT_FALSE(OpenInitFile(link.c_str(), blob_).ok()) << "a symlink";
  EXPECT_FALSE(OpenInitFile((dir_ + "/missing").c_str(), blob_).ok());
}

// In the build tree the file the build made is the one exec'd.
TEST(InitExecutableTest, TheBuildTreesFileIsUsed) {
  if (EmbeddedInitExecutable().empty()) GTEST_SKIP() << "this build embeds no kavach-init";
  absl::StatusOr<int> fd = InitExecutableFd();
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_NE(InitExecutableSource(), "embedded")
      << "the build's kavach-init was not accepted: each process copies the embedded one";
  EXPECT_NE(InitExecutableSource().find("kavach-init"), std::string::npos);
}

}  // namespace
}  // namespace kavach::internal
