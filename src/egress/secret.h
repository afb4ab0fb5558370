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
  Secret(const Secret& other) : value_(other.value_) {}
  Secret& operator=(const Secret& other);
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

// "env:NAME": the variable's value (NotFound when unset or empty).
// "file:/path": the file's content, one trailing newline dropped (NotFound,
// PermissionDenied as the file system says). InvalidArgument otherwise.
[[nodiscard]] absl::StatusOr<Secret> LoadSecret(std::string_view source);

}  // namespace kavach::internal

#endif  // KAVACH_EGRESS_SECRET_H_
