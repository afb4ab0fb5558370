// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// libFuzzer target for the host side of the agent protocol: whatever bytes a
// guest sends, in whatever chunks, the reader and every decoder either accept
// them or name the fault, without crashing, reading out of bounds or
// buffering more than one capped frame. Built with clang
// (-fsanitize=fuzzer,address,undefined) by the kavach_protocol_fuzz target and
// run for a bounded time by ctest in sanitizer builds (guest.protocol_fuzz).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "guest/protocol.h"

namespace {

using namespace kavach::guest;

void DecodeAll(const Frame& f) {
  std::string err;
  switch (f.type) {
    case FrameType::kHello: {
      Hello v;
      err = DecodeHello(f.payload, kHostLimits, &v);
      break;
    }
    case FrameType::kStdout:
    case FrameType::kStderr: {
      Output v;
      err = DecodeOutput(f.payload, kHostLimits, &v);
      break;
    }
    case FrameType::kExit: {
      ExitStatus v;
      err = DecodeExit(f.payload, kHostLimits, &v);
      break;
    }
    case FrameType::kReseedDone: {
      ReseedDone v;
      err = DecodeReseedDone(f.payload, kHostLimits, &v);
      break;
    }
    case FrameType::kError: {
      Error v;
      err = DecodeError(f.payload, kHostLimits, &v);
      break;
    }
    case FrameType::kStartDone: {
      StartDone v;
      err = DecodeStartDone(f.payload, kHostLimits, &v);
      break;
    }
    default: {
      // Host-to-guest payloads, as the agent decodes them.
      ExecRequest e;
      err = DecodeExec(f.payload, kGuestLimits, &e);
      Kill k;
      err = DecodeKill(f.payload, kGuestLimits, &k);
      Reseed r;
      err = DecodeReseed(f.payload, kGuestLimits, &r);
      Start st;
      err = DecodeStart(f.payload, kGuestLimits, &st);
    }
  }
  (void)err;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the chunk size the stream is fed in.
  size_t chunk = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  FrameReader reader(kHostLimits);
  for (size_t pos = 0; pos < in.size() && !reader.failed(); pos += chunk) {
    reader.Feed(in.substr(pos, chunk));
    Frame f;
    while (reader.Next(&f)) {
      if (f.payload.size() > kHostLimits.max_payload) std::abort();
      DecodeAll(f);
    }
    if (reader.buffered() > kHeaderSize + kHostLimits.max_payload + chunk) std::abort();
  }
  if (reader.failed() && reader.error().empty()) std::abort();
  return 0;
}
