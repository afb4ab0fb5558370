// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The engine behind the WASM backend. The backend owns everything around the
// engine (the jail, staging and metering modules, preopens, warm/one-shot
// scheduling, the evidence); an engine is a program started inside the jail
// that speaks the runner protocol (docs/wasm-backend.md):
//
//   ARGV --result FILE --nonce N --probe          one probe report, then exit
//   ARGV --result FILE --nonce N [job flags]      one job (one-shot engine)
//   ARGV --serve CTL --nonce N [--preload M]...   a probe line, then one job
//                                                 per line read from CTL
//
// with one JSON object per report (probe: wasi, memory_cap_enforced,
// env_keys, and the engine's own version fields; job: exit, trap, fuel). The
// shipped engine is V8 through Node.js's node:wasi and wasm/runner.mjs
// (NodeWasiEngine). wasmtime's C API fits behind the same interface as a
// small runner binary speaking this protocol, where a user has it.
#ifndef KAVACH_BACKEND_WASM_WASM_ENGINE_H_
#define KAVACH_BACKEND_WASM_WASM_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {

class WasmEngine {
 public:
  virtual ~WasmEngine() = default;

  // Short name for messages and evidence ("node").
  virtual std::string name() const = 0;
  // Copies what the engine runs from into `engine_dir` (a directory the jail
  // shows read-only). Called once per sandbox, before Argv.
  virtual absl::Status Install(const std::string& engine_dir) = 0;
  // Host directories the jail must show read-only and executable, beyond
  // the system directories (/usr, /bin, /lib*) every jail has.
  virtual std::vector<std::string> ExecutableDirs() const = 0;
  // The command that starts the engine with linear memory capped at
  // `max_pages` (64 KiB each); protocol flags are appended by the backend.
  virtual std::vector<std::string> Argv(uint32_t max_pages) const = 0;
  // Checks the engine-specific fields of a probe report: the text of the
  // wasm.engine evidence when they show a usable engine with WASI preview 1,
  // else FailedPrecondition saying what is missing.
  virtual absl::StatusOr<std::string> CheckProbe(const nlohmann::json& probe) const = 0;
};

// V8 through Node.js (>= 18) and node:wasi, driven by wasm/runner.mjs.
// Empty paths: `node` in PATH and FindWasmRunner(). Unavailable when either
// is missing.
absl::StatusOr<std::unique_ptr<WasmEngine>> MakeNodeWasiEngine(std::string node_path = "",
                                                               std::string runner_path = "");

// The runner script: $KAVACH_WASM_RUNNER, else the source tree's
// wasm/runner.mjs, else the installed share/kavach/wasm/runner.mjs.
absl::StatusOr<std::string> FindWasmRunner();

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_WASM_WASM_ENGINE_H_
