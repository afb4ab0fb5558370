// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The isolation backends kavach knows about, and how to ask whether one can
// run on this host.
//
//   auto kind = kavach::ParseBackendKind("gVisor");          // kGVisor
//   kavach::BackendAvailability a = kavach::Probe(*kind);
//   if (!a.available) std::cerr << a.reason;   // "runsc not found in PATH"
#ifndef KAVACH_BACKEND_KIND_H_
#define KAVACH_BACKEND_KIND_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace kavach {

// The ten backends of the original framework, in its canonical order.
enum class BackendKind {
  kProcess,
  kGVisor,
  kFirecracker,
  kWasm,
  kOci,
  kSgx,
  kSev,
  kTdx,
  kSyAgnos,  // The hardened-VM tier.
  kNoop,     // No isolation; for tests.
};

// All kinds, in canonical order.
absl::Span<const BackendKind> AllBackendKinds();

// "process", "gvisor", "firecracker", "wasm", "oci", "sgx", "sev", "tdx",
// "sy-agnos", "noop".
std::string_view BackendKindName(BackendKind kind);

// Case-insensitive; accepts the names above and the alias "syagnos".
// Unknown names are InvalidArgument("unknown backend: <name>").
absl::StatusOr<BackendKind> ParseBackendKind(std::string_view name);

// Whether a backend can run here. `reason` is always set when unavailable and
// names the concrete missing piece ("runsc not found in PATH", "/dev/sev
// missing", "not built in this version"); when available it may carry a detail
// such as the runtime version.
struct BackendAvailability {
  BackendKind kind = BackendKind::kNoop;
  bool available = false;
  std::string reason;
};

// Probes the host now (no caching).
BackendAvailability Probe(BackendKind kind);

}  // namespace kavach

#endif  // KAVACH_BACKEND_KIND_H_
