// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/redact.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace kavach::internal {

bool IsRedactable(const Finding& finding) {
  if (finding.scanner == "secrets") return true;
  return finding.scanner == "data" && std::string_view(finding.category).substr(0, 3) == "pii";
}

std::vector<Finding> RedactableFindings(const std::vector<Finding>& findings) {
  std::vector<Finding> out;
  for (const Finding& f : findings) {
    if (IsRedactable(f)) out.push_back(f);
  }
  return out;
}

std::string Redact(std::string_view text, const std::vector<Finding>& findings) {
  struct Range {
    uint64_t begin, end;
    const std::string* category;
  };
  std::vector<Range> ranges;
  for (const Finding& f : findings) {
    uint64_t b = std::min<uint64_t>(f.begin, text.size());
    uint64_t e = std::min<uint64_t>(f.end, text.size());
    if (b < e) ranges.push_back({b, e, &f.category});
  }
  // By start; on a tie the longest first, so its category names the merge.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  std::string out;
  out.reserve(text.size());
  uint64_t pos = 0;
  for (size_t i = 0; i < ranges.size();) {
    uint64_t begin = ranges[i].begin;
    uint64_t end = ranges[i].end;
    const std::string* category = ranges[i].category;
    size_t j = i + 1;
    // Overlapping or touching ranges become one replacement: two markers
    // side by side would tell the reader where one secret ends.
    while (j < ranges.size() && ranges[j].begin <= end) {
      end = std::max(end, ranges[j].end);
      ++j;
    }
    out.append(text.substr(pos, begin - pos));
    out += "[REDACTED:";
    out += *category;
    out += "]";
    pos = end;
    i = j;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace kavach::internal
