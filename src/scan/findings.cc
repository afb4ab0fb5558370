// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Helpers for building findings. SeverityName/VerdictName live in
// src/policy/names.cc with the other enum tables.
#include <algorithm>
#include <string>
#include <string_view>

#include "scan/scanner.h"

namespace kavach::internal {

std::string MaskedPreview(std::string_view secret) {
  // Show at most 4 bytes, and never more than a quarter of the secret, so a
  // short secret (an SSN, a PIN-like password) is not half disclosed.
  size_t shown = std::min<size_t>(4, secret.size() / 4);
  // Do not cut a UTF-8 sequence in half.
  while (shown > 0 && shown < secret.size() &&
         (static_cast<unsigned char>(secret[shown]) & 0xC0) == 0x80) {
    --shown;
  }
  std::string out(secret.substr(0, shown));
  out += "\u2026(";
  out += std::to_string(secret.size());
  out += ")";
  return out;
}

}  // namespace kavach::internal
