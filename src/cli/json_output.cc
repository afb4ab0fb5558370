// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "cli/json_output.h"

#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "linux/json_string.h"

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

bool IsValidUtf8(std::string_view bytes) { return internal::IsValidUtf8(bytes); }

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
