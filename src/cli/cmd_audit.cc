// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach audit verify [--key FILE]... [--no-head] [--signed-head FILE
//                     --public-key FILE] [--json] LOG
//
// Exit 0 when the chain is intact, 1 naming the first bad record (seq, line,
// why) or when the log cannot be read, 2 on a usage error. Keys come from
// each --key file (0600; give every key the log has used, oldest first) or
// else $KAVACH_AUDIT_KEY.
//
// kavach audit export-head [--key FILE] --signing-key FILE
//                          [--public-key-out FILE] LOG
//
// Prints the chain's head signed with Ed25519, for off-host storage; verify
// --signed-head/--public-key checks a log against it.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"
#include "scan/audit_chain.h"
#include "scan/durable_file.h"

namespace kavach::cli {
namespace {

constexpr char kAuditUsage[] =
    "usage: kavach audit verify [--key FILE]... [--no-head] [--signed-head FILE --public-key "
    "FILE] [--json] LOG\n"
    "  Verifies an audit chain: every record's HMAC, the seq order, the head checkpoint\n"
    "  (LOG.head) and, with --signed-head, an exported Ed25519-signed head (raw 32-byte\n"
    "  public key file). Keys: --key files (0600), else $KAVACH_AUDIT_KEY.\n"
    "  Exit: 0 intact, 1 broken or unreadable, 2 usage.\n"
    "usage: kavach audit export-head [--key FILE] --signing-key FILE [--public-key-out FILE] "
    "LOG\n"
    "  Flushes the chain and prints its head signed with Ed25519 (raw 32-byte private key\n"
    "  file, 0600) as one JSON object, for storage off the host; --public-key-out writes\n"
    "  the raw public key that verify --public-key takes. The key must verify the log's\n"
    "  last record. Exit: 0 printed, 1 failed, 2 usage.\n";

// A raw 32-byte Ed25519 private key from a file nobody else may read.
absl::StatusOr<std::string> ReadSigningKey(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError("signing key " + path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError("signing key " + path +
                                       " is accessible by group or others (chmod 600)");
  }
  absl::StatusOr<std::string> key = internal::ReadWholeFile(path, 64);
  if (!key.ok()) return key.status();
  if (key->size() != 32) {
    return absl::InvalidArgumentError("signing key " + path +
                                      " must hold exactly 32 raw bytes (an Ed25519 seed)");
  }
  return key;
}

int RunExportHead(const std::vector<std::string>& args) {
  std::string key_file, signing_key_file, public_key_out, log;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      std::cout << kAuditUsage;
      return kExitOk;
    } else if (a == "--key") {
      if (!value(&key_file)) return UsageError("audit", "--key needs a file");
    } else if (a == "--signing-key") {
      if (!value(&signing_key_file)) return UsageError("audit", "--signing-key needs a file");
    } else if (a == "--public-key-out") {
      if (!value(&public_key_out)) return UsageError("audit", "--public-key-out needs a file");
    } else if (!a.empty() && a[0] == '-') {
      return UsageError("audit", "unknown option '" + a + "'");
    } else if (log.empty()) {
      log = a;
    } else {
      return UsageError("audit", "more than one LOG given");
    }
  }
  if (log.empty()) return UsageError("audit", "missing LOG");
  if (signing_key_file.empty()) return UsageError("audit", "export-head needs --signing-key");
  struct stat st;
  if (::stat(log.c_str(), &st) != 0) {  // Open would start a new chain
    ReportError("audit export-head", absl::NotFoundError(log + ": " + std::strerror(errno)));
    return kExitFailure;
  }
  absl::StatusOr<std::string> key = key_file.empty() ? internal::LoadAuditKey(AuditConfig{})
                                                     : internal::ReadAuditKeyFile(key_file);
  if (!key.ok()) {
    ReportError("audit export-head", key.status());
    return kExitFailure;
  }
  absl::StatusOr<std::string> signing = ReadSigningKey(signing_key_file);
  if (!signing.ok()) {
    ReportError("audit export-head", signing.status());
    return kExitFailure;
  }
  absl::StatusOr<std::unique_ptr<internal::AuditChain>> chain =
      internal::AuditChain::Open(log, *std::move(key));
  if (!chain.ok()) {
    ReportError("audit export-head", chain.status());
    return kExitFailure;
  }
  absl::StatusOr<std::string> head = (*chain)->ExportSignedHead(*signing);
  if (!head.ok()) {
    ReportError("audit export-head", head.status());
    return kExitFailure;
  }
  if (!public_key_out.empty()) {
    absl::StatusOr<std::string> pub = internal::Ed25519PublicKey(*signing);
    absl::Status s =
        pub.ok() ? internal::WriteFileAtomically(public_key_out, *pub, 0644, true) : pub.status();
    if (!s.ok()) {
      ReportError("audit export-head", s);
      return kExitFailure;
    }
  }
  std::cout << *head << "\n";
  return kExitOk;
}

}  // namespace

int RunAuditCommand(const std::vector<std::string>& args) {
  if (args.empty()) return UsageError("audit", "missing subcommand (verify, export-head)");
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kAuditUsage;
    return kExitOk;
  }
  if (args[0] == "export-head") return RunExportHead(args);
  if (args[0] != "verify") return UsageError("audit", "unknown subcommand '" + args[0] + "'");
  std::vector<std::string> key_files;
  std::string log, signed_head_file, public_key_file;
  bool json_out = false;
  internal::AuditVerifyOptions options;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      std::cout << kAuditUsage;
      return kExitOk;
    } else if (a == "--key") {
      std::string k;
      if (!value(&k)) return UsageError("audit", "--key needs a file");
      key_files.push_back(k);
    } else if (a == "--signed-head") {
      if (!value(&signed_head_file)) return UsageError("audit", "--signed-head needs a file");
    } else if (a == "--public-key") {
      if (!value(&public_key_file)) return UsageError("audit", "--public-key needs a file");
    } else if (a == "--no-head") {
      options.require_head = false;
    } else if (a == "--json") {
      json_out = true;
    } else if (!a.empty() && a[0] == '-') {
      return UsageError("audit", "unknown option '" + a + "'");
    } else if (log.empty()) {
      log = a;
    } else {
      return UsageError("audit", "more than one LOG given");
    }
  }
  if (log.empty()) return UsageError("audit", "missing LOG");
  if (signed_head_file.empty() != public_key_file.empty()) {
    return UsageError("audit", "--signed-head and --public-key go together");
  }

  std::vector<std::string> keys;
  for (const std::string& f : key_files) {
    absl::StatusOr<std::string> k = internal::ReadAuditKeyFile(f);
    if (!k.ok()) {
      ReportError("audit verify", k.status());
      return kExitFailure;
    }
    keys.push_back(std::move(*k));
  }
  if (keys.empty()) {
    absl::StatusOr<std::string> k = internal::LoadAuditKey(AuditConfig{});
    if (!k.ok()) return UsageError("audit", "no key: pass --key FILE or set $KAVACH_AUDIT_KEY");
    keys.push_back(std::move(*k));
  }
  if (!signed_head_file.empty()) {
    absl::StatusOr<std::string> head = internal::ReadWholeFile(signed_head_file, 1 << 16);
    absl::StatusOr<std::string> pub = internal::ReadWholeFile(public_key_file, 64);
    if (!head.ok() || !pub.ok()) {
      ReportError("audit verify", head.ok() ? pub.status() : head.status());
      return kExitFailure;
    }
    options.signed_head_json = *head;
    options.ed25519_public_key = *pub;
  }

  absl::StatusOr<internal::AuditVerifyReport> report = internal::VerifyAuditLog(log, keys, options);
  if (!report.ok()) {
    ReportError("audit verify", report.status());
    return kExitFailure;
  }
  if (json_out) {
    nlohmann::json j = {{"log", log},
                        {"ok", report->ok()},
                        {"records", report->records},
                        {"last_seq", report->last_seq},
                        {"head_present", report->head_present},
                        {"head_seq", report->head_seq},
                        {"unanchored_records", report->unanchored_records},
                        {"keys", report->key_fingerprints}};
    if (report->problem) {
      j["problem"] = {{"seq", report->problem->seq},
                      {"line", report->problem->line},
                      {"reason", report->problem->reason}};
    }
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else if (report->ok()) {
    std::cout << log << ": intact: " << report->records << " records (seq 1.." << report->last_seq
              << ")";
    if (report->head_present) std::cout << ", head checkpoint at seq " << report->head_seq;
    if (report->unanchored_records > 0) {
      std::cout << ", " << report->unanchored_records << " record(s) after the checkpoint";
    }
    std::cout << "\n";
  } else {
    std::cout << log << ": BROKEN at seq " << report->problem->seq << " (line "
              << report->problem->line << "): " << report->problem->reason << "\n";
  }
  return report->ok() ? kExitOk : kExitFailure;
}

}  // namespace kavach::cli
