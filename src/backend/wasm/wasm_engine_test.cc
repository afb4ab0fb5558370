// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/wasm/wasm_engine.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backend/wasm/wasm_backend.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"

namespace kavach::internal {
namespace {

TEST(NodeWasiEngineTest, ArgvCapsLinearMemoryAndRunsTheInstalledRunner) {
  absl::StatusOr<std::unique_ptr<WasmEngine>> engine = MakeNodeWasiEngine();
  if (!engine.ok()) GTEST_SKIP() << "node or the runner is missing: " << engine.status();
  char dir[] = "/tmp/kavach-engine-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  ASSERT_TRUE((*engine)->Install(dir).ok());
  std::string runner = absl::StrCat(dir, "/runner.mjs");
  EXPECT_EQ(::access(runner.c_str(), R_OK), 0) << "Install did not place the runner";
  std::vector<std::string> argv = (*engine)->Argv(1234);
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(::access(argv[0].c_str(), X_OK), 0) << argv[0];
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--wasm-max-mem-pages=1234"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), runner), argv.end());
  EXPECT_EQ((*engine)->name(), "node");
  ::unlink(runner.c_str());
  ::rmdir(dir);
}

TEST(NodeWasiEngineTest, ProbeNeedsNode18AndWasi) {
  absl::StatusOr<std::unique_ptr<WasmEngine>> engine = MakeNodeWasiEngine();
  if (!engine.ok()) GTEST_SKIP() << "node or the runner is missing: " << engine.status();
  absl::StatusOr<std::string> good = (*engine)->CheckProbe(
      nlohmann::json{{"node_version", "20.19.0"}, {"v8_version", "11.3"}, {"wasi", true}});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_NE(good->find("node 20.19.0"), std::string::npos) << *good;
  EXPECT_FALSE((*engine)->CheckProbe({{"node_version", "16.20.0"}, {"wasi", true}}).ok());
  EXPECT_FALSE((*engine)->CheckProbe({{"node_version", "20.19.0"}, {"wasi", false}}).ok());
  EXPECT_FALSE((*engine)->CheckProbe(nlohmann::json::object()).ok());
}

TEST(NodeWasiEngineTest, MissingNodeIsUnavailableNamingIt) {
  absl::StatusOr<std::unique_ptr<WasmEngine>> engine =
      MakeNodeWasiEngine("", "/nonexistent/runner.mjs");
  EXPECT_FALSE(engine.ok());
}

// The backend takes its engine from the factory in its options: a factory
// that cannot make one fails Prepare with its own error, before any jail.
TEST(WasmEngineFactoryTest, BackendUsesTheGivenEngineFactory) {
  WasmBackendOptions options;
  bool called = false;
  options.make_engine = [&]() -> absl::StatusOr<std::unique_ptr<WasmEngine>> {
    called = true;
    return absl::UnavailableError("wasmtime runner not installed");
  };
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateWasmBackend(options);
  ASSERT_TRUE(backend.ok());
  SandboxConfig config;
  config.backend = BackendKind::kWasm;
  config.policy = SandboxPolicy::Basic();
  PrepareReport report;
  absl::Status s = (*backend)->Prepare(config, &report);
  EXPECT_TRUE(called);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("wasmtime runner not installed"), std::string::npos) << s;
}

}  // namespace
}  // namespace kavach::internal
