// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Deterministic fuel metering for WebAssembly modules, on Debian's
// libbinaryen (C API, version 108).
//
//   absl::StatusOr<std::string> metered =
//       internal::MeteredModulePath("/work/loop.wasm", "/var/tmp/kavach-wasm-cache-0");
//   // run *metered with exports.__kavach_fuel.value = budget
//
// The pass charges one unit at every function entry, function end, `return`
// and loop iteration (binaryen's log-execution sites) against the exported
// mutable i64 global `__kavach_fuel`, and executes `unreachable` when a
// charge finds the counter at 0. The same module, input and budget therefore
// always use the same fuel and trap at the same point. The host sets the
// budget before `_start` and reads what is left afterwards.
//
// Untrusted bytes never reach binaryen in the calling process: binaryen
// aborts the process on malformed input, so metering runs in a forked child.
#ifndef KAVACH_BACKEND_WASM_FUEL_METER_H_
#define KAVACH_BACKEND_WASM_FUEL_METER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kavach::internal {

// The exported global that holds the remaining fuel.
inline constexpr char kFuelGlobal[] = "__kavach_fuel";
// Bumped whenever the pass changes, so cached modules are not reused.
inline constexpr char kFuelMeterVersion[] = "fuel1";

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Meters `wasm` (a binary module). InvalidArgument when it is not a valid
// module (bad magic, truncated, fails validation); the message says why.
absl::StatusOr<std::string> MeterModule(std::string_view wasm);

// Meters the module at `module_path` once per content digest: the result is
// cached as `<cache_dir>/<sha256>.<kFuelMeterVersion>.wasm` (the directory is
// created 0700) and that path is returned. Safe against concurrent callers
// (write to a temporary name, then rename).
absl::StatusOr<std::string> MeteredModulePath(const std::string& module_path,
                                              const std::string& cache_dir);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_WASM_FUEL_METER_H_
