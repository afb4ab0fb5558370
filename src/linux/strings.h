// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Debian 12's Abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so
// absl::string_view is its own type and absl::StrCat/StrSplit/StrFormat do not
// accept std::string_view. Our interfaces use std::string_view; ToAbsl() is the
// one place that crosses over.
#ifndef KAVACH_LINUX_STRINGS_H_
#define KAVACH_LINUX_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace kavach {

inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view FromAbsl(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace kavach

#endif  // KAVACH_LINUX_STRINGS_H_
