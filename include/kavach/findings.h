// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// What the output gate reports about a command's output: severities,
// findings and the verdict. The scanners live in scan/; these are the
// value types that travel with an ExecResult.
#ifndef KAVACH_FINDINGS_H_
#define KAVACH_FINDINGS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kavach {

enum class Severity { kInfo, kLow, kMedium, kHigh, kCritical };
std::string_view SeverityName(Severity s);  // "info", "low", ...

// The gate's decision, in increasing order of strictness.
enum class Verdict { kPass, kWarn, kRedact, kQuarantine, kBlock };
std::string_view VerdictName(Verdict v);  // "pass", "warn", ...

struct Finding {
  std::string rule_id;    // e.g. "aws-access-key"
  std::string scanner;    // "secrets" | "code" | "data"
  std::string category;   // e.g. "cloud_credential"
  Severity severity = Severity::kInfo;
  std::string stream;     // "stdout" | "stderr" | "" for a plain scan
  uint64_t begin = 0;     // byte range in the scanned stream
  uint64_t end = 0;
  uint64_t line = 0;      // 1-based
  std::string preview;    // masked: never the whole secret
};

}  // namespace kavach

#endif  // KAVACH_FINDINGS_H_
