// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/wasm/fuel_meter.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/file_util.h"

namespace kavach::internal {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FuelMeterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> wat2wasm = sys::FindInPath("wat2wasm");
    if (!wat2wasm.ok()) GTEST_SKIP() << "wat2wasm (package wabt) not installed";
    char tmpl[] = "/tmp/kavach-fuel-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    module_ = dir_ + "/kvtest.wasm";
    std::string wat = std::string(KAVACH_SOURCE_DIR) + "/src/backend/wasm/testdata/kvtest.wat";
    std::vector<char*> args = {wat2wasm->data(), wat.data(), const_cast<char*>("-o"),
                               module_.data(), nullptr};
    pid_t pid;
    ASSERT_EQ(::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ), 0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    absl::StatusOr<std::string> bytes = sys::ReadFile(module_);
    ASSERT_TRUE(bytes.ok());
    bytes_ = *bytes;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string dir_, module_, bytes_;
};

TEST(Sha256Test, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(FuelMeterTest, MetersDeterministicallyAndExportsTheCounter) {
  absl::StatusOr<std::string> a = MeterModule(bytes_);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::string> b = MeterModule(bytes_);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->substr(0, 4), std::string("\0asm", 4));
  EXPECT_NE(*a, bytes_);
  EXPECT_THAT(*a, HasSubstr(kFuelGlobal));
  EXPECT_THAT(bytes_, ::testing::Not(HasSubstr(kFuelGlobal)));
  // Metering a metered module is refused (the counter would be shadowed).
  absl::StatusOr<std::string> twice = MeterModule(*a);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument) << twice.status();
}

TEST_F(FuelMeterTest, RejectsNonWasmAndTruncatedModules) {
  absl::StatusOr<std::string> r = MeterModule("#!/bin/sh\necho hi\n");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("not a WebAssembly binary"));
  // Valid header, body cut in half: binaryen fails in the forked child, and
  // this process survives to report it.
  r = MeterModule(bytes_.substr(0, bytes_.size() / 2));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("not a valid WebAssembly module"));
}

TEST_F(FuelMeterTest, CachesByContentDigest) {
  std::string cache = dir_ + "/cache";
  absl::StatusOr<std::string> p = MeteredModulePath(module_, cache);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, cache + "/" + Sha256Hex(bytes_) + "." + kFuelMeterVersion + ".wasm");
  // Mark the cached file: a second call must return it without re-metering.
  ASSERT_TRUE(sys::WriteFile(*p, "cached-marker").ok());
  absl::StatusOr<std::string> again = MeteredModulePath(module_, cache);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *p);
  EXPECT_EQ(*sys::ReadFile(*again), "cached-marker");
}

}  // namespace
}  // namespace kavach::internal
