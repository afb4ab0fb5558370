// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Direct injection: the secrets a policy hands to the sandboxed command itself
// (policy.secrets), loaded once when the sandbox is created and held wiped-on-
// release (Secret) for its lifetime.
//
//   auto secrets = internal::InjectedSecrets::Load(policy.secrets);  // errors name the source
//   backend->SetSecretFiles((*secrets)->Files());                    // kFile ones
//   (*secrets)->AddTo(&request);          // env entries and the stdin line, per exec
//   (*secrets)->Redact(&result.stdout_data);  // the values never leave in output
//
// Where the values go, and nowhere else: the exec's environment (kEnv), the
// exec's stdin (kStdin), a file the backend writes inside (kFile). Never argv,
// error messages, the audit chain or logs; output that repeats a value has it
// replaced by "[REDACTED:injected_secret]" (RedactingStream for streams).
#ifndef KAVACH_SANDBOX_SECRET_INJECTION_H_
#define KAVACH_SANDBOX_SECRET_INJECTION_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "backend/backend.h"
#include "egress/secret.h"
#include "kavach/policy.h"
#include "kavach/score.h"

namespace kavach::internal {

inline constexpr char kInjectedSecretRedaction[] = "[REDACTED:injected_secret]";

class InjectedSecrets final {
 public:
  // Reads every source (see LoadSecret). The error names the entry and its
  // source ("secrets[1] (env:API_KEY): ... is not set"), never a value.
  static absl::StatusOr<std::unique_ptr<InjectedSecrets>> Load(
      const std::vector<SecretInjection>& secrets);

  InjectedSecrets(const InjectedSecrets&) = delete;
  InjectedSecrets& operator=(const InjectedSecrets&) = delete;

  bool empty() const { return entries_.empty(); }

  // Copies of the kFile secrets, for the backend to write inside.
  std::vector<SecretFile> Files() const;

  // Adds the kEnv variables (overriding any of the same name) and puts the
  // kStdin secret and a newline before the request's own stdin data.
  void AddTo(BackendExecRequest* request) const;
  // Wipes what AddTo put into `request` (its env entries and stdin data).
  static void WipeRequest(BackendExecRequest* request);

  // Replaces every occurrence of a held value in `text`; returns how many.
  size_t Redact(std::string* text) const;
  // Length of the longest value (what a stream must hold back).
  size_t max_length() const { return max_length_; }

  // One verified evidence item per way used, with the deduction of
  // SecretDeliveryPoints and why; names targets, never values.
  std::vector<Evidence> MakeEvidence() const;

 private:
  struct Entry {
    SecretInjection spec;
    Secret value;
  };
  InjectedSecrets() = default;
  std::vector<Entry> entries_;
  size_t max_length_ = 0;
};

// Redacts held values in a stream: holds back the last max_length()-1 bytes
// so that a value split across chunks is still found whole.
class RedactingStream final {
 public:
  explicit RedactingStream(const InjectedSecrets* secrets) : secrets_(secrets) {}
  // The bytes now safe to deliver.
  std::string Feed(std::string_view chunk);
  // End of stream: the rest.
  std::string Finish();

 private:
  const InjectedSecrets* secrets_;
  std::string pending_;
};

}  // namespace kavach::internal

#endif  // KAVACH_SANDBOX_SECRET_INJECTION_H_
