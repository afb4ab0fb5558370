// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/wasm/wasm_engine.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "linux/file_util.h"
#include "linux/strings.h"

namespace kavach::internal {
namespace {

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return p;
  return buf;
}

bool IsUnderDir(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

class NodeWasiEngine final : public WasmEngine {
 public:
  NodeWasiEngine(std::string node, std::string runner_source)
      : node_(std::move(node)), runner_source_(std::move(runner_source)) {}

  std::string name() const override { return "node"; }

  absl::Status Install(const std::string& engine_dir) override {
    runner_ = engine_dir + "/runner.mjs";
    return sys::WriteFile(runner_, runner_source_, 0644);
  }

  std::vector<std::string> ExecutableDirs() const override {
    for (const char* sys_dir : {"/usr", "/bin", "/sbin", "/lib", "/lib64"}) {
      if (IsUnderDir(node_, sys_dir)) return {};
    }
    size_t slash = node_.rfind('/');
    return {slash == std::string::npos || slash == 0 ? "/" : node_.substr(0, slash)};
  }

  std::vector<std::string> Argv(uint32_t max_pages) const override {
    // --no-turbo-fast-api-calls: Node 20's node:wasi fast callbacks may
    // trigger a GC (uvwasi's allocator reports external memory) in the middle
    // of a call, which corrupts the heap or aborts after the guest grows its
    // memory (seen: ~1 in 6 runs of a memory hog; 0 in 60 with the flag).
    return {node_,
            "--no-warnings",
            "--no-turbo-fast-api-calls",
            absl::StrCat("--wasm-max-mem-pages=", max_pages),
            runner_,
            "--max-pages",
            absl::StrCat(max_pages)};
  }

  absl::StatusOr<std::string> CheckProbe(const nlohmann::json& j) const override {
    std::string version = j.value("node_version", "");
    int major = 0;
    (void)absl::SimpleAtoi(ToAbsl(std::string_view(version).substr(0, version.find('.'))), &major);
    std::string detail = absl::StrCat("node ", version, " (V8 ", j.value("v8_version", ""),
                                      ") with node:wasi preview1, inside the jail");
    if (major < 18 || !j.value("wasi", false)) {
      return absl::FailedPreconditionError(absl::StrCat("wasm.engine: ", detail));
    }
    return detail;
  }

 private:
  std::string node_;
  std::string runner_source_;
  std::string runner_;  // the copy inside the engine directory
};

}  // namespace

absl::StatusOr<std::unique_ptr<WasmEngine>> MakeNodeWasiEngine(std::string node_path,
                                                               std::string runner_path) {
  if (node_path.empty()) {
    absl::StatusOr<std::string> n = sys::FindInPath("node");
    if (!n.ok()) {
      return absl::UnavailableError(absl::StrCat("wasm backend: ", n.status().message()));
    }
    node_path = *n;
  }
  if (runner_path.empty()) {
    absl::StatusOr<std::string> r = FindWasmRunner();
    if (!r.ok()) {
      return absl::UnavailableError(absl::StrCat("wasm backend: ", r.status().message()));
    }
    runner_path = *r;
  }
  absl::StatusOr<std::string> runner_source = sys::ReadFile(runner_path);
  if (!runner_source.ok()) return runner_source.status();
  return std::unique_ptr<WasmEngine>(
      new NodeWasiEngine(RealPath(node_path), *std::move(runner_source)));
}

absl::StatusOr<std::string> FindWasmRunner() {
  std::vector<std::string> candidates;
  if (const char* e = std::getenv("KAVACH_WASM_RUNNER"); e != nullptr && *e) {
    candidates.push_back(e);
  }
  candidates.push_back(absl::StrCat(KAVACH_SOURCE_DIR, "/wasm/runner.mjs"));
#ifdef KAVACH_INSTALL_WASM_DIR
  candidates.push_back(absl::StrCat(KAVACH_INSTALL_WASM_DIR, "/runner.mjs"));
#endif
  for (const std::string& c : candidates) {
    if (::access(c.c_str(), R_OK) == 0) return c;
  }
  return absl::NotFoundError(
      absl::StrCat("wasm runner not found (", absl::StrJoin(candidates, ", "), ")"));
}

}  // namespace kavach::internal
