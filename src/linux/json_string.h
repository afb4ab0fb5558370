// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// JSON string literals written by hand, for the lines kavach writes once per
// event (egress request records, audit chain records), where building an
// nlohmann::json value cost more than the rest of the line.
//
//   std::string line = "{\"path\":";
//   AppendJsonString(&line, request_path, InvalidUtf8::kReplace);
//   if (!AppendJsonString(&line, sandbox_id, InvalidUtf8::kReject)) { ... }
//
// The output is what nlohmann::json's dump() writes for the same (valid)
// string: '"' and '\\' escaped, \b \f \n \r \t for those controls, \u00xx
// (lowercase hex) for the other bytes below 0x20, everything else (DEL and
// valid UTF-8 included) as is. The audit chain depends on that: a record is
// accepted only in the exact form its writer produced.
#ifndef KAVACH_LINUX_JSON_STRING_H_
#define KAVACH_LINUX_JSON_STRING_H_

#include <string>
#include <string_view>

namespace kavach::internal {

// What AppendJsonString does with bytes that are not well-formed UTF-8
// (Unicode table 3-7: no overlong forms, no surrogates, nothing above
// U+10FFFF, no truncated sequence).
enum class InvalidUtf8 {
  // Each byte that does not start a well-formed sequence becomes U+FFFD and
  // the next byte is examined afresh; the call always succeeds. For bytes
  // from outside (a request path is whatever the client sent).
  kReplace,
  // The call fails and leaves `out` as it was. For values that must be
  // stored exactly as given.
  kReject,
};

// Appends `s` to `*out` as a quoted JSON string literal. False only under
// InvalidUtf8::kReject when `s` is not well-formed UTF-8.
[[nodiscard]] bool AppendJsonString(std::string* out, std::string_view s, InvalidUtf8 on_invalid);

// True when `s` is well-formed UTF-8 (as AppendJsonString judges it).
bool IsValidUtf8(std::string_view s);

}  // namespace kavach::internal

#endif  // KAVACH_LINUX_JSON_STRING_H_
