// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "linux/json_string.h"

#include <cstddef>

namespace kavach::internal {
namespace {

// The length of the well-formed UTF-8 sequence that starts at s[i] (a byte
// of 0x80 or above), or 0. The allowed range of the second byte is what
// excludes overlong forms (E0, F0), surrogates (ED) and code points above
// U+10FFFF (F4).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (len > s.size() - i) return 0;
  for (size_t k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
  }
  return len;
}

void AppendEscapedAscii(std::string* out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '"':
      out->append("\\\"");
      break;
    case '\\':
      out->append("\\\\");
      break;
    case '\n':
      out->append("\\n");
      break;
    case '\r':
      out->append("\\r");
      break;
    case '\t':
      out->append("\\t");
      break;
    case '\b':
      out->append("\\b");
      break;
    case '\f':
      out->append("\\f");
      break;
    default: {
      const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      out->append(esc, sizeof esc);
    }
  }
}

}  // namespace

bool AppendJsonString(std::string* out, std::string_view s, InvalidUtf8 on_invalid) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  const size_t old_size = out->size();
  out->push_back('"');
  // Bytes written as they are accumulate in s[copied, i) and go out in one
  // append: most strings (host names, time stamps, ids) have nothing to
  // escape.
  size_t copied = 0;
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c >= 0x20 && c != '"' && c != '\\') {
        ++i;
        continue;
      }
      out->append(s.data() + copied, i - copied);
      AppendEscapedAscii(out, c);
      copied = ++i;
      continue;
    }
    if (size_t len = Utf8SequenceLength(s, i); len != 0) {
      i += len;
      continue;
    }
    if (on_invalid == InvalidUtf8::kReject) {
      out->resize(old_size);
      return false;
    }
    out->append(s.data() + copied, i - copied);
    out->append(kReplacement);
    copied = ++i;
  }
  out->append(s.data() + copied, s.size() - copied);
  out->push_back('"');
  return true;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
    } else if (size_t len = Utf8SequenceLength(s, i); len != 0) {
      i += len;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace kavach::internal
