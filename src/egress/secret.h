// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Secret: a byte string that is wiped (OPENSSL_cleanse) when released and
// never printed. Used for credentials the egress proxy injects and for
// direct injection.
//
//   absl::StatusOr<Secret> s = LoadSecret("env:API_TOKEN");   // or "file:/run/key"
//   req.set("Authorization", s->view());                      // the only way to read it
//
// Error messages name the source (the variable or the path), never a value.
#ifndef KAVACH_EGRESS_SECRET_H_
#define KAVACH_EGRESS_SECRET_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kavach::internal {

class Secret final {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  // Not copyable: every copy is one more place to wipe. Clone() when a second
  // owner is really needed.
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret Clone() const { return Secret(value_); }
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  ~Secret() { Wipe(); }

  std::string_view view() const { return value_; }
  bool empty() const { return value_.empty(); }
  size_t size() const { return value_.size(); }

 private:
  void Wipe();
  std::string value_;
};

// Overwrites the whole capacity of `s` (OPENSSL_cleanse), then clears it.
// For the transient copies a secret passes through (an environment entry, a
// message buffer) that cannot be Secret themselves.
void WipeString(std::string& s);

// "env:NAME": the variable's value (NotFound when unset or empty).
// "file:/path": the file's content, one trailing newline dropped (NotFound,
// PermissionDenied as the file system says). InvalidArgument otherwise.
[[nodiscard]] absl::StatusOr<Secret> LoadSecret(std::string_view source);

}  // namespace kavach::internal

#endif  // KAVACH_EGRESS_SECRET_H_
