// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "egress/secret.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "linux/file_util.h"
#include "linux/strings.h"

namespace kavach::internal {

void WipeString(std::string& s) {
  // Wipe the whole capacity: the value may have been longer once.
  if (s.capacity() > 0) {
    s.resize(s.capacity());
    OPENSSL_cleanse(s.data(), s.size());
  }
  s.clear();
}

void Secret::Wipe() { WipeString(value_); }

Secret::Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.Wipe(); }

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = std::move(other.value_);
    other.Wipe();
  }
  return *this;
}

absl::StatusOr<Secret> LoadSecret(std::string_view source) {
  if (absl::StartsWith(ToAbsl(source), "env:")) {
    std::string name(source.substr(4));
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') {
      return absl::NotFoundError(absl::StrCat("credential source env:", name, " is not set"));
    }
    return Secret(v);
  }
  if (absl::StartsWith(ToAbsl(source), "file:")) {
    std::string path(source.substr(5));
    absl::StatusOr<std::string> content = sys::ReadFile(path);
    if (!content.ok()) {
      return absl::Status(content.status().code(),
                          absl::StrCat("credential source file:", path, ": cannot read"));
    }
    Secret s(*std::move(content));
    std::string_view v = s.view();
    if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
    if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
    if (v.empty()) {
      return absl::NotFoundError(absl::StrCat("credential source file:", path, " is empty"));
    }
    return Secret(std::string(v));
  }
  return absl::InvalidArgumentError("credential source must be env:NAME or file:/path");
}

}  // namespace kavach::internal
