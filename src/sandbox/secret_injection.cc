// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "sandbox/secret_injection.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "linux/strings.h"

namespace kavach::internal {

absl::StatusOr<std::unique_ptr<InjectedSecrets>> InjectedSecrets::Load(
    const std::vector<SecretInjection>& secrets) {
  std::unique_ptr<InjectedSecrets> out(new InjectedSecrets);
  for (size_t i = 0; i < secrets.size(); ++i) {
    absl::StatusOr<Secret> value = LoadSecret(secrets[i].source);
    if (!value.ok()) {
      // LoadSecret's message names the source, never a value.
      return absl::Status(
          value.status().code(),
          absl::StrCat("secrets[", i, "] (", ToAbsl(SecretDeliveryName(secrets[i].deliver)), " ",
                       secrets[i].target, "): ", value.status().message()));
    }
    out->max_length_ = std::max(out->max_length_, value->size());
    out->entries_.push_back(Entry{secrets[i], *std::move(value)});
  }
  return out;
}

std::vector<SecretFile> InjectedSecrets::Files() const {
  std::vector<SecretFile> files;
  for (const Entry& e : entries_) {
    if (e.spec.deliver == SecretDelivery::kFile) files.push_back({e.spec.target, e.value.Clone()});
  }
  return files;
}

void InjectedSecrets::AddTo(BackendExecRequest* request) const {
  for (const Entry& e : entries_) {
    if (e.spec.deliver == SecretDelivery::kEnv) {
      std::string prefix = absl::StrCat(e.spec.target, "=");
      std::erase_if(request->env, [&](const std::string& kv) { return kv.starts_with(prefix); });
      std::string kv = std::move(prefix);
      kv.append(e.value.view());
      request->env.push_back(std::move(kv));
    } else if (e.spec.deliver == SecretDelivery::kStdin) {
      std::string in(e.value.view());
      in.push_back('\n');
      if (request->stdin_data) in.append(*request->stdin_data);
      if (request->stdin_data) WipeString(*request->stdin_data);
      request->stdin_data = std::move(in);
    }
  }
}

void InjectedSecrets::WipeRequest(BackendExecRequest* request) {
  for (std::string& kv : request->env) WipeString(kv);
  request->env.clear();
  if (request->stdin_data) WipeString(*request->stdin_data);
}

size_t InjectedSecrets::Redact(std::string* text) const {
  size_t count = 0;
  for (const Entry& e : entries_) {
    std::string_view v = e.value.view();
    if (v.empty()) continue;
    size_t at = 0;
    while ((at = text->find(v, at)) != std::string::npos) {
      text->replace(at, v.size(), kInjectedSecretRedaction);
      at += sizeof(kInjectedSecretRedaction) - 1;
      ++count;
    }
  }
  return count;
}

std::vector<Evidence> InjectedSecrets::MakeEvidence() const {
  std::vector<Evidence> evidence;
  for (SecretDelivery d : {SecretDelivery::kEnv, SecretDelivery::kFile, SecretDelivery::kStdin}) {
    std::vector<std::string> targets;
    for (const Entry& e : entries_) {
      if (e.spec.deliver == d) targets.push_back(e.spec.target.empty() ? "stdin" : e.spec.target);
    }
    if (targets.empty()) continue;
    std::string why;
    switch (d) {
      case SecretDelivery::kEnv:
        why =
            "the secret is inside the sandbox, in the environment of every process there: "
            "inherited by children, readable in /proc/PID/environ by the sandbox user, often "
            "dumped by tools";
        break;
      case SecretDelivery::kFile:
        why = absl::StrCat("the secret is inside the sandbox, in a 0400 file on a tmpfs at ",
                           kSecretFileDir,
                           " readable by the sandbox user (not inherited; gone at Destroy)");
        break;
      case SecretDelivery::kStdin:
        why =
            "the secret is inside the sandbox, on each command's stdin (read once, not "
            "inherited, no name to find it by)";
        break;
    }
    evidence.push_back(
        Evidence{absl::StrCat("secrets.", ToAbsl(SecretDeliveryName(d))), true,
                 absl::StrCat(targets.size(), " secret", targets.size() == 1 ? "" : "s", " (",
                              absl::StrJoin(targets, ", "), "): ", why,
                              "; egress credential injection keeps it outside"),
                 SecretDeliveryPoints(d)});
  }
  return evidence;
}

std::string RedactingStream::Feed(std::string_view chunk) {
  pending_.append(chunk);
  secrets_->Redact(&pending_);
  size_t hold = secrets_->max_length() > 0 ? secrets_->max_length() - 1 : 0;
  if (pending_.size() <= hold) return "";
  size_t n = pending_.size() - hold;
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  return out;
}

std::string RedactingStream::Finish() {
  secrets_->Redact(&pending_);
  return std::exchange(pending_, std::string());
}

}  // namespace kavach::internal
