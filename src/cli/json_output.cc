// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "cli/json_output.h"

#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"

namespace kavach::cli {

nlohmann::json ScoreJson(const StrengthScore& score) {
  nlohmann::json breakdown = nlohmann::json::array();
  for (const ScoreItem& item : score.breakdown) {
    breakdown.push_back({{"name", item.name}, {"points", item.points}});
  }
  return {{"value", score.value},
          {"label", std::string(score.Label())},
          {"breakdown", std::move(breakdown)}};
}

nlohmann::json EvidenceJson(const std::vector<Evidence>& evidence) {
  nlohmann::json out = nlohmann::json::array();
  for (const Evidence& e : evidence) {
    out.push_back({{"control", e.control},
                   {"verified", e.verified},
                   {"detail", e.detail},
                   {"points", e.points}});
  }
  return out;
}

nlohmann::json FindingJson(const Finding& f) {
  return {{"rule_id", f.rule_id},   {"scanner", f.scanner},
          {"category", f.category}, {"severity", std::string(SeverityName(f.severity))},
          {"stream", f.stream},     {"begin", f.begin},
          {"end", f.end},           {"line", f.line},
          {"preview", f.preview}};
}

nlohmann::json SetupJson(const std::vector<SetupStep>& steps) {
  nlohmann::json out = nlohmann::json::array();
  for (const SetupStep& s : steps) {
    out.push_back({{"step", s.name}, {"us", absl::ToInt64Microseconds(s.duration)}});
  }
  return out;
}

bool IsValidUtf8(std::string_view bytes) {
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    const auto c = static_cast<uint8_t>(bytes[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(bytes[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and code points past U+10FFFF: the
    // JSON library refuses them too.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

void PutBytes(nlohmann::json& out, const std::string& key, std::string_view bytes) {
  if (IsValidUtf8(bytes)) {
    out[key] = std::string(bytes);
    out[key + "_encoding"] = "utf-8";
  } else {
    out[key] = absl::Base64Escape(absl::string_view(bytes.data(), bytes.size()));
    out[key + "_encoding"] = "base64";
  }
}

std::string DumpLine(const nlohmann::json& j) {
  // `replace` only matters for strings we did not vet (details, messages):
  // a stray byte there must not abort the whole report.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace kavach::cli
