// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// InitPlan as one flat byte image, for an init that is exec'd rather than
// cloned from the host (see init_exec.h): the host encodes the plan into a
// memfd, the exec'd init reads it into its own memory and decodes it into
// a plan of its own.
//
//   std::string image = EncodeInitPlan(plan);            // host
//   DecodedInitPlan decoded;                              // init
//   if (DecodeInitPlan(buf, image_size, &decoded)) RunInit(decoded.plan);
//
// The image is the InitPlan struct followed by the arrays and strings it
// points to; each pointer is stored as 1 + the offset of its target (0 for
// null). Host and init come from the same build (init is embedded in the
// library), so the struct layouts agree; the header still records them and
// the decoder checks every offset, length, alignment and terminating NUL, so
// a damaged image is refused instead of read out of bounds.
#ifndef KAVACH_BACKEND_PROCESS_INIT_PLAN_CODEC_H_
#define KAVACH_BACKEND_PROCESS_INIT_PLAN_CODEC_H_

#include <cstddef>
#include <string>  // host side only

#include "backend/process/init_plan.h"

namespace kavach::internal {

// The largest image init accepts (file contents of the root included).
inline constexpr size_t kMaxInitPlanBytes = 64u << 20;

// The exit status of kavach-init when its plan image cannot be read or
// does not decode.
inline constexpr int kInitExitBadPlan = 125;

// Host side. Allocates; the result may hold secrets (RootStep::secret data):
// the caller wipes it when done.
std::string EncodeInitPlan(const InitPlan& plan);

// A decoded plan: the structs that hold pointers are copied out of the
// image (so that no damaged image can alias one with another); strings,
// file contents, ports and filters stay in the image, which must outlive it.
struct DecodedInitPlan {
  InitPlan plan;
  RootStep root_steps[kMaxRootSteps];
  LandlockPathStep landlock_paths[kMaxLandlockPaths];
  sock_fprog seccomp_init;
  sock_fprog seccomp;
};

// Init side: no allocation, no library state; `buf` (the `len` bytes of an
// image) is only read. False when the image is malformed: a wrong header, a
// pointer or length outside the image, a misaligned array, a string without
// its NUL, a count beyond init's limits.
bool DecodeInitPlan(const char* buf, size_t len, DecodedInitPlan* out);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_INIT_PLAN_CODEC_H_
