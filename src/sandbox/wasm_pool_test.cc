// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// A SandboxPool of WASM sandboxes keeps warm engines: node already running in
// each sandbox's jail with the preloaded module compiled, so a claimed
// sandbox's exec is instantiate-and-run.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "backend/wasm/testing/test_modules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"
#include "linux/file_util.h"

namespace kavach {
namespace {

namespace fs = std::filesystem;

// Warm engines of sandboxes whose state is under `state_dir`.
size_t ServingEngines(const std::string& state_dir) {
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    absl::StatusOr<std::string> cmdline = sys::ReadFile(entry.path().string() + "/cmdline");
    if (cmdline.ok() && cmdline->find(state_dir) != std::string::npos &&
        cmdline->find("--serve") != std::string::npos) {
      ++n;
    }
  }
  return n;
}

bool HasStep(const ExecResult& r, const std::string& name) {
  for (const SetupStep& s : r.setup) {
    if (s.name == name) return true;
  }
  return false;
}

TEST(WasmSandboxPoolTest, PooledSandboxesHoldWarmEnginesWithTheModuleCompiled) {
  BackendAvailability a = Probe(BackendKind::kWasm);
  if (!a.available) GTEST_SKIP() << "wasm backend unavailable: " << a.reason;
  absl::StatusOr<std::string> hello = internal::testing::WasmTestModule("hello");
  if (absl::IsUnavailable(hello.status())) GTEST_SKIP() << hello.status();
  ASSERT_TRUE(hello.ok()) << hello.status();
  char tmpl[] = "/tmp/kavach-wasm-pool-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string state = std::string(tmpl) + "/state";
  ::setenv("KAVACH_WASM_STATE_DIR", state.c_str(), 1);

  SandboxConfig config;
  config.backend = BackendKind::kWasm;
  config.policy = SandboxPolicy::Strict();
  config.gate.enabled = false;
  config.wasm.preload = {*hello};
  {
    absl::StatusOr<std::unique_ptr<SandboxPool>> pool = SandboxPool::Create(config, 2);
    ASSERT_TRUE(pool.ok()) << pool.status();
    EXPECT_EQ((*pool)->available(), 2u);
    EXPECT_EQ(ServingEngines(state + "/"), 2u);  // started before any claim

    absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = (*pool)->Claim();
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    for (int i = 0; i < 3; ++i) {
      ExecOptions o;
      o.env = {{"RUN", std::to_string(i)}};
      absl::StatusOr<ExecResult> r = (*sandbox)->Exec({*hello, "x"}, o);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->ShellStatus(), 0) << r->stderr_data;
      EXPECT_THAT(r->stdout_data, ::testing::HasSubstr("argv[1]=x\n"));
      EXPECT_THAT(r->stdout_data, ::testing::HasSubstr("env:RUN=" + std::to_string(i) + "\n"));
      // Neither a node start nor a compile: the engine was warm.
      EXPECT_FALSE(HasStep(*r, "wasm.engine_start"));
      EXPECT_FALSE(HasStep(*r, "wasm.compile"));
      EXPECT_TRUE(HasStep(*r, "wasm.job"));
      ASSERT_TRUE(r->wasm.has_value());
    }
    EXPECT_TRUE((*sandbox)->Destroy().ok());
    EXPECT_EQ(ServingEngines(state + "/"), 1u);  // the one still in the pool
  }
  EXPECT_EQ(ServingEngines(state + "/"), 0u);  // the pool took its engines down
  ::unsetenv("KAVACH_WASM_STATE_DIR");
  fs::remove_all(tmpl);
}

}  // namespace
}  // namespace kavach
