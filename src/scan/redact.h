// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Redaction of findings in scanned text, in the original's format:
//
//   std::string out = Redact(text, RedactableFindings(findings));
//   // "key=AKIA..." -> "key=[REDACTED:cloud_credential]"
#ifndef KAVACH_SCAN_REDACT_H_
#define KAVACH_SCAN_REDACT_H_

#include <string>
#include <string_view>
#include <vector>

#include "kavach/findings.h"

namespace kavach::internal {

// Whether a finding's text is replaced on a redact verdict: secrets, and the
// data scanner's personal data (categories "pii*"); not code indicators or
// compliance keywords, whose words carry no secret.
bool IsRedactable(const Finding& finding);
std::vector<Finding> RedactableFindings(const std::vector<Finding>& findings);

// Replaces each finding's byte range [begin, end) with
// "[REDACTED:<category>]". Overlapping or touching ranges merge into one
// replacement carrying the category of the range that starts first (the
// longest on a tie). Ranges beyond the text are clipped.
std::string Redact(std::string_view text, const std::vector<Finding>& findings);

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_REDACT_H_
