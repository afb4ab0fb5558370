// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The WASM backend: runs WASI (preview 1) modules on V8 through Node's
// node:wasi, with the engine itself inside the Process backend's jail.
//
//   internal::WasmBackendOptions o;
//   o.fuel = 100'000'000;                      // deterministic CPU budget
//   absl::StatusOr<std::unique_ptr<Backend>> b = internal::CreateWasmBackend(o);
//   (*b)->Prepare(config, &report);            // config.backend == kWasm
//   (*b)->Exec({.argv = {"/path/hello.wasm", "a"}, .env = {"K=V"}});
//
// argv[0] is the module's HOST path (relative paths resolve against the
// config's host_workdir, else the current directory); the guest sees it as
// its argv[0]. The guest's preopened directories are the sandbox's working
// directory and the policy's read_only/read_write paths, each at its own
// path; the jail (not node:wasi) is what confines them, so a host-made
// symlink inside a preopen that points outside reaches nothing the jail does
// not show. A reserved request variable KAVACH_WASM_FUEL=N overrides the
// fuel budget for one exec and is not passed to the guest.
//
// Warm engine: Prepare starts one node inside the jail that serves Exec
// calls one at a time (runner.mjs --serve): the module is compiled once per
// engine (cached by digest; SandboxConfig::wasm.preload compiles at start),
// and every exec gets a fresh instance with fresh linear memory and fresh
// WASI state, its stdio being FIFOs and a file in the sandbox's private
// state directory. An engine whose job timed out (killed with its whole
// tree), trapped, ran out of fuel, hit the memory cap, used half the cap or
// more, or died, is discarded and a replacement is started at once. A
// concurrent Exec, and every Spawn, runs on a one-shot engine instead. So a
// SandboxPool of kWasm sandboxes keeps engines warm in their jails.
//
// Exit status: the module's own exit code; kWasmExitTrap (134) for a trap
// (also an initial memory above the cap), kWasmExitFuelExhausted (152) when
// the fuel ran out, 124 (ShellStatus) on timeout. ExecResult::wasm says which
// it was regardless of the number, so a module exiting 152 is not mistaken
// for fuel exhaustion. A module that is not WASM, is truncated or imports
// something the host lacks is an InvalidArgument error.
//
// Score: the jail's base items (50 points) plus three engine items verified
// from inside the jail at Prepare (wasm.engine, wasm.memory_cap,
// wasm.clean_env: 5 each) make the kWasm base of 65; the policy modifiers
// (seccomp, Landlock, network, read-only root, cgroup limits, scopes) are the
// jail's items unchanged.
#ifndef KAVACH_BACKEND_WASM_WASM_BACKEND_H_
#define KAVACH_BACKEND_WASM_WASM_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "backend/backend.h"
#include "backend/wasm/wasm_engine.h"
#include "kavach/backend_kind.h"

namespace kavach::internal {

inline constexpr int kWasmExitTrap = 134;           // 128 + SIGABRT, as a native abort
inline constexpr int kWasmExitFuelExhausted = 152;  // 128 + SIGXCPU, as a CPU rlimit
inline constexpr char kWasmFuelEnv[] = "KAVACH_WASM_FUEL";
// Memory the engine (node + V8) may use on top of the guest's linear memory;
// added to the jail's cgroup memory limit.
inline constexpr uint64_t kWasmEngineHeadroomBytes = 192ull << 20;
// Linear-memory cap when the policy sets no memory limit: 256 MiB.
inline constexpr uint32_t kWasmDefaultMaxPages = 4096;

struct WasmBackendOptions {
  std::optional<uint64_t> fuel;              // per-exec budget; nullopt: unmetered
  std::optional<uint32_t> max_memory_pages;  // default: policy memory / 64 KiB, else 4096
  // Makes the engine for one sandbox (see wasm_engine.h); empty: node:wasi
  // from the two paths below.
  std::function<absl::StatusOr<std::unique_ptr<WasmEngine>>()> make_engine;
  std::string node_path;    // default: `node` in PATH
  std::string runner_path;  // default: FindWasmRunner()
  std::string cache_dir;    // metered modules; default under /var/tmp
  // Keep a warm engine (see below); false: a fresh node for every exec.
  bool warm_engine = true;
};

// Makes an unprepared WASM backend.
absl::StatusOr<std::unique_ptr<Backend>> CreateWasmBackend(WasmBackendOptions options = {});

// Available when node >= 18 is in PATH and the runner exists. (kavach::Probe
// also requires the Process backend, the jail, to be available.)
BackendAvailability ProbeWasm();

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_WASM_WASM_BACKEND_H_
