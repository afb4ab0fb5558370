// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// JSON shapes shared by the CLI's --json outputs, so that a score, an
// evidence item or a finding looks the same whichever command prints it.
//
//   nlohmann::json j = cli::ScoreJson(result.score);
//   // {"value": 69, "label": "standard", "breakdown": [{"name": ..., "points": ...}]}
#ifndef KAVACH_CLI_JSON_OUTPUT_H_
#define KAVACH_CLI_JSON_OUTPUT_H_

#include <string>
#include <string_view>
#include <vector>

#include "kavach/findings.h"
#include "kavach/sandbox.h"
#include "kavach/score.h"
#include "nlohmann/json.hpp"

namespace kavach::cli {

// {"value", "label", "breakdown": [{"name", "points"}]}
nlohmann::json ScoreJson(const StrengthScore& score);
// [{"control", "verified", "detail", "points"}]
nlohmann::json EvidenceJson(const std::vector<Evidence>& evidence);
// {"rule_id", "scanner", "category", "severity", "stream", "begin", "end",
//  "line", "preview"}
nlohmann::json FindingJson(const Finding& finding);
// [{"step", "us"}]
nlohmann::json SetupJson(const std::vector<SetupStep>& steps);

// Puts a byte string into `out` under `key`. Valid UTF-8 goes in as a string
// with `<key>_encoding` "utf-8"; anything else is base64 with "base64", so the
// bytes survive exactly (JSON strings cannot carry arbitrary bytes).
void PutBytes(nlohmann::json& out, const std::string& key, std::string_view bytes);

bool IsValidUtf8(std::string_view bytes);

// Serialises one object on one line, followed by a newline.
std::string DumpLine(const nlohmann::json& j);

}  // namespace kavach::cli

#endif  // KAVACH_CLI_JSON_OUTPUT_H_
