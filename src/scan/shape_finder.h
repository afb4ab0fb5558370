// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Native candidate finders for the number-shaped data rules (payment cards,
// IBANs, SSNs, phone numbers, IPv4 addresses). Their Hyperscan prefilters
// have no literal to anchor on, so Hyperscan runs an automaton over every
// byte and the whole database slows to a third of its speed; these finders
// classify 64 bytes at a time with SSE2 and test the shapes with bit
// arithmetic instead. Each finder nominates a superset of the lines the
// rule's own prefilter does; RE2 and the validators then decide, as for any
// Hyperscan hit. A rule opts in with `shape = "card"` in its pack.
//
//   FindShapes(text, 0, text.size(), ShapeBit(Shape::kCard),
//              [&](Shape s, size_t end) { nominate(s, end); return true; });
#ifndef KAVACH_SCAN_SHAPE_FINDER_H_
#define KAVACH_SCAN_SHAPE_FINDER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/functional/function_ref.h"

namespace kavach::internal {

enum class Shape : uint8_t {
  // (?:^|[^0-9A-Za-z_])[2-6][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]
  kCard = 0,
  // (?:^|[^0-9A-Za-z_])[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}
  kIban,
  // [0-9]{3}-[0-9]{2}-[0-9]{4}
  kSsn,
  // [ .)-][2-9][0-9]{2}[ .-][0-9]{4}(?:[^0-9]|$) | \+[2-9][0-9]{0,2}[ .-][0-9]{2}
  kPhone,
  // [0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]
  kIpv4,
};
inline constexpr int kNumShapes = 5;

constexpr unsigned ShapeBit(Shape s) { return 1u << static_cast<unsigned>(s); }
std::optional<Shape> ShapeFromName(std::string_view name);

// A shape check reads at most this many bytes before its anchor and this
// many from it onwards (the anchor is a candidate's first byte).
inline constexpr size_t kShapeLookback = 4;
inline constexpr size_t kShapeLookahead = 12;

// Calls on_candidate(shape, end) for every candidate of the shapes in `mask`
// whose first byte lies in [from, to); `end` is the offset just past the
// candidate's shape (always <= text.size()). Bytes outside `text` read as
// NUL, which is what start and end of input mean to the patterns above;
// when more text may follow, pass to <= text.size() - kShapeLookahead.
// Stops early when on_candidate returns false. No shape spans a newline and
// every check reads forward from its anchor, failing at the first byte that
// does not fit, so anchors before a newline are also decided when the text
// ends a few bytes after it.
void FindShapes(std::string_view text, size_t from, size_t to, unsigned mask,
                absl::FunctionRef<bool(Shape, size_t)> on_candidate);

namespace internal_shapes {
// Tests only: true makes FindShapes use its baseline (SSE2) classifier even
// on AVX2 CPUs, and avx2_only its AVX2 one on AVX-512 CPUs, so every path
// is exercised. Not thread-safe.
extern bool baseline_only;
extern bool avx2_only;
}  // namespace internal_shapes

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_SHAPE_FINDER_H_
