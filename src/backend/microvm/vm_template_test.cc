// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/vm_template.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/file_util.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

class TemplateCache : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/kavach-template-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    image_.key = "imagekey";
    spec_.memory_mib = 128;
    spec_.shares = {{"kv0", "/usr", "/usr", true}, {"kv1", "/home/a/w", "/work", false}};
  }
  void TearDown() override { (void)!std::system(("rm -rf " + dir_).c_str()); }
  // A stand-in for booting QEMU: writes "RAM" into the file and a state.
  absl::StatusOr<VmTemplate> Build(const std::string& key, int* boots) {
    return BuildTemplate(dir_, key, spec_.memory_mib, ::getuid(), ::getgid(),
                         [&](const std::string& ram, const std::string& state) {
                           ++*boots;
                           EXPECT_TRUE(sys::WriteFile(ram, "guest memory").ok());
                           return sys::WriteFile(state, "device state");
                         });
  }
  std::string dir_;
  GuestImage image_;
  VmSpec spec_;
};

TEST_F(TemplateCache, KeyCoversWhatACloneMustShareButNotHostPaths) {
  std::string k = TemplateKey(image_, "/bin/true", spec_, 65534, 65534);
  VmSpec other_paths = spec_;
  other_paths.shares[1].host_path = "/home/b/w";
  other_paths.agent_socket = "/elsewhere/agent.sock";
  EXPECT_EQ(TemplateKey(image_, "/bin/true", other_paths, 65534, 65534), k);
  VmSpec more_memory = spec_;
  more_memory.memory_mib = 256;
  EXPECT_NE(TemplateKey(image_, "/bin/true", more_memory, 65534, 65534), k);
  VmSpec ro = spec_;
  ro.shares[1].read_only = true;
  EXPECT_NE(TemplateKey(image_, "/bin/true", ro, 65534, 65534), k);
  GuestImage rebuilt = image_;
  rebuilt.key = "newimage";
  EXPECT_NE(TemplateKey(rebuilt, "/bin/true", spec_, 65534, 65534), k);
  EXPECT_NE(TemplateKey(image_, "/bin/true", spec_, 1000, 1000), k);
  EXPECT_NE(TemplateKey(image_, "/bin/false", spec_, 65534, 65534), k);
}

TEST_F(TemplateCache, BuiltOnceThenFound) {
  int boots = 0;
  absl::StatusOr<std::optional<VmTemplate>> none = FindTemplate(dir_, "k1");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  absl::StatusOr<VmTemplate> t = Build("k1", &boots);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dir, dir_ + "/templates/k1");
  EXPECT_EQ(*sys::ReadFile(t->ram), "guest memory");
  struct stat st;
  ASSERT_EQ(::stat(t->dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0711u);
  absl::StatusOr<VmTemplate> again = Build("k1", &boots);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(boots, 1);  // the second builder found it
  absl::StatusOr<std::optional<VmTemplate>> found = FindTemplate(dir_, "k1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->state, t->state);
}

TEST_F(TemplateCache, AChangedRamFileIsDiscarded) {
  int boots = 0;
  absl::StatusOr<VmTemplate> t = Build("k2", &boots);
  ASSERT_TRUE(t.ok()) << t.status();
  // Even rewriting the same bytes changes the ctime.
  ASSERT_TRUE(sys::WriteFile(t->ram, "guest memory").ok());
  absl::StatusOr<std::optional<VmTemplate>> found = FindTemplate(dir_, "k2");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  struct stat st;
  EXPECT_NE(::stat(t->dir.c_str(), &st), 0) << "the tampered template was not removed";
}

TEST_F(TemplateCache, ABuildThatDiedIsClearedByTheNextBuilder) {
  ASSERT_EQ(::mkdir((dir_ + "/templates").c_str(), 0711), 0);
  std::string dead = dir_ + "/templates/.build-k4-XXXXXX";
  ASSERT_EQ(::mkdir(dead.c_str(), 0711), 0);
  ASSERT_TRUE(sys::WriteFile(dead + "/ram", "half a guest").ok());
  int boots = 0;
  absl::StatusOr<VmTemplate> t = Build("k4", &boots);
  ASSERT_TRUE(t.ok()) << t.status();
  struct stat st;
  EXPECT_NE(::stat(dead.c_str(), &st), 0) << "the dead build's directory is still there";
}

TEST_F(TemplateCache, AFailedBootLeavesNothing) {
  absl::StatusOr<VmTemplate> t = BuildTemplate(dir_, "k3", 128, ::getuid(), ::getgid(),
                                               [](const std::string&, const std::string&) {
                                                 return absl::UnavailableError("the VM exited");
                                               });
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("microvm template: the VM exited"));
  absl::StatusOr<std::optional<VmTemplate>> found = FindTemplate(dir_, "k3");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  EXPECT_EQ(std::system(("ls -A " + dir_ + "/templates | grep -q build").c_str()) == 0, false);
}

}  // namespace
}  // namespace kavach::internal
