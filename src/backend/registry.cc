// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Finds a backend implementation by kind.
#include "absl/strings/str_cat.h"
#include "backend/backend.h"
#include "backend/microvm/microvm_backend.h"
#include "backend/noop/noop_backend.h"
#include "backend/oci/gvisor.h"
#include "backend/oci/oci_backend.h"
#include "backend/process/process_backend.h"
#include "backend/wasm/wasm_backend.h"
#include "linux/strings.h"

namespace kavach::internal {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(BackendKind kind) {
  switch (kind) {
    case BackendKind::kNoop:
      return CreateNoopBackend();
    case BackendKind::kProcess:
      return CreateProcessBackend();
    case BackendKind::kOci:
      // Runtime from $KAVACH_OCI_RUNTIME (crun by default). Not probed here:
      // Prepare resolves the runtime and fails Unavailable with the probe's
      // reason; probing first would start every runtime twice per sandbox.
      return CreateOciBackend();
    case BackendKind::kGVisor:
      // Platform from $KAVACH_GVISOR_PLATFORM, else the first that works
      // (cached); as for kOci, Prepare says why when runsc cannot run.
      return CreateGVisorBackend();
    case BackendKind::kWasm:
      if (!Probe(kind).available) break;
      return CreateWasmBackend();
    case BackendKind::kFirecracker:
      // The VMM from $KAVACH_VMM (qemu | firecracker), else chosen at run time.
      if (!Probe(kind).available) break;
      return CreateMicroVmBackend();
    default:
      break;
  }
  BackendAvailability a = Probe(kind);
  return absl::UnavailableError(
      absl::StrCat(ToAbsl(BackendKindName(kind)), " backend unavailable: ", a.reason));
}

}  // namespace kavach::internal
