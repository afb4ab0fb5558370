// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach quarantine [--dir DIR] [--json] list | show ID | approve ID |
//                   reject ID | release ID [--note TEXT]
//
// The store is --dir, else $KAVACH_QUARANTINE_DIR. `release` writes the
// original stdout bytes to stdout and the original stderr bytes to stderr,
// byte for byte (redirect them: `kavach quarantine release ID > out.bin`).
// Exit 0 on success, 1 on a failure (unknown id, illegal transition, corrupt
// entry; `list` also exits 1 when some entry is corrupt), 2 on usage errors.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "nlohmann/json.hpp"
#include "scan/durable_file.h"
#include "scan/quarantine.h"

namespace kavach::cli {
namespace {

using json = nlohmann::json;
using internal::QuarantineEntry;

constexpr char kQuarantineUsage[] =
    "usage: kavach quarantine [--dir DIR] [--json] list|show ID|approve ID|reject ID|release ID\n"
    "                         [--note TEXT]\n"
    "  The store is --dir, else $KAVACH_QUARANTINE_DIR. States: pending -> approved | rejected;\n"
    "  approved -> released. release writes the original stdout/stderr bytes to stdout/stderr.\n";

std::string_view SeverityText(Severity s) {
  static constexpr std::string_view kNames[] = {"info", "low", "medium", "high", "critical"};
  return kNames[static_cast<int>(s)];
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

json EntryJson(const QuarantineEntry& e) {
  json history = json::array();
  for (const auto& h : e.history) {
    history.push_back({{"state", std::string(internal::QuarantineStateName(h.state))},
                       {"time", TimeText(h.time)},
                       {"actor", h.actor},
                       {"note", h.note}});
  }
  return {{"id", e.id},
          {"state", std::string(internal::QuarantineStateName(e.state))},
          {"created", TimeText(e.created)},
          {"sandbox_id", e.sandbox_id},
          {"agent_id", e.agent_id},
          {"argv_sha256", e.argv_digest},
          {"findings", e.finding_count},
          {"worst", std::string(SeverityText(e.worst))},
          {"rules", e.rule_counts},
          {"stdout_bytes", e.stdout_bytes},
          {"stderr_bytes", e.stderr_bytes},
          {"history", history}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string Actor() {
  const char* user = std::getenv("SUDO_USER");
  if (user == nullptr || *user == '\0') user = std::getenv("USER");
  if (user != nullptr && *user != '\0') return user;
  return absl::StrCat("uid:", ::getuid());
}

}  // namespace

int RunQuarantineCommand(const std::vector<std::string>& args) {
  std::string dir, note;
  bool json_out = false;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kQuarantineUsage;
      return kExitOk;
    } else if (a == "--dir" || a == "--note") {
      if (i + 1 >= args.size()) return UsageError("quarantine", a + " needs a value");
      (a == "--dir" ? dir : note) = args[++i];
    } else if (a == "--json") {
      json_out = true;
    } else if (!a.empty() && a[0] == '-') {
      return UsageError("quarantine", "unknown option '" + a + "'");
    } else {
      positional.push_back(a);
    }
  }
  if (positional.empty()) return UsageError("quarantine", "missing subcommand");
  const std::string& cmd = positional[0];
  bool needs_id = cmd == "show" || cmd == "approve" || cmd == "reject" || cmd == "release";
  if (cmd != "list" && !needs_id) {
    return UsageError("quarantine", "unknown subcommand '" + cmd + "'");
  }
  if (positional.size() != (needs_id ? 2u : 1u)) {
    return UsageError("quarantine", needs_id ? cmd + " needs exactly one ID" : "list takes no ID");
  }
  if (dir.empty()) {
    const char* env = std::getenv("KAVACH_QUARANTINE_DIR");
    if (env == nullptr || *env == '\0') {
      return UsageError("quarantine", "no store: pass --dir DIR or set $KAVACH_QUARANTINE_DIR");
    }
    dir = env;
  }
  absl::StatusOr<std::unique_ptr<internal::QuarantineStore>> store =
      internal::QuarantineStore::Open(dir);
  if (!store.ok()) {
    ReportError("quarantine", store.status());
    return kExitFailure;
  }

  if (cmd == "list") {
    absl::StatusOr<internal::QuarantineListing> listing = (*store)->List();
    if (!listing.ok()) {
      ReportError("quarantine list", listing.status());
      return kExitFailure;
    }
    if (json_out) {
      json entries = json::array(), errors = json::array();
      for (const QuarantineEntry& e : listing->entries) entries.push_back(EntryJson(e));
      for (const auto& [id, s] : listing->errors) {
        errors.push_back({{"id", id}, {"error", std::string(s.message())}});
      }
      std::cout << Dump({{"entries", entries}, {"errors", errors}}) << "\n";
    } else {
      for (const QuarantineEntry& e : listing->entries) {
        std::cout << e.id << "  " << internal::QuarantineStateName(e.state) << "  "
                  << TimeText(e.created) << "  " << e.finding_count << " finding(s), worst "
                  << SeverityText(e.worst) << "  sandbox " << e.sandbox_id << "\n";
      }
      for (const auto& [id, s] : listing->errors) ReportError("quarantine list: " + id, s);
    }
    return listing->errors.empty() ? kExitOk : kExitFailure;
  }

  const std::string& id = positional[1];
  if (cmd == "show") {
    absl::StatusOr<QuarantineEntry> e = (*store)->Get(id);
    if (!e.ok()) {
      ReportError("quarantine show", e.status());
      return kExitFailure;
    }
    if (json_out) {
      std::cout << Dump(EntryJson(*e)) << "\n";
    } else {
      std::cout << "id:        " << e->id
                << "\nstate:     " << internal::QuarantineStateName(e->state)
                << "\ncreated:   " << TimeText(e->created) << "\nsandbox:   " << e->sandbox_id
                << "\nagent:     " << e->agent_id << "\nargv:      sha256:" << e->argv_digest
                << "\nfindings:  " << e->finding_count << ", worst " << SeverityText(e->worst)
                << "\n";
      for (const auto& [rule, n] : e->rule_counts) std::cout << "  " << rule << ": " << n << "\n";
      std::cout << "stdout:    " << e->stdout_bytes << " bytes\nstderr:    " << e->stderr_bytes
                << " bytes\nhistory:\n";
      for (const auto& h : e->history) {
        std::cout << "  " << TimeText(h.time) << "  " << internal::QuarantineStateName(h.state)
                  << "  " << h.actor << (h.note.empty() ? "" : "  " + h.note) << "\n";
      }
    }
    return kExitOk;
  }
  if (cmd == "approve" || cmd == "reject") {
    absl::Status s = cmd == "approve" ? (*store)->Approve(id, Actor(), note)
                                      : (*store)->Reject(id, Actor(), note);
    if (!s.ok()) {
      ReportError("quarantine " + cmd, s);
      return kExitFailure;
    }
    std::cerr << id << ": " << (cmd == "approve" ? "approved" : "rejected") << "\n";
    return kExitOk;
  }
  absl::StatusOr<internal::QuarantineArtifact> a = (*store)->Release(id, Actor());
  if (!a.ok()) {
    ReportError("quarantine release", a.status());
    return kExitFailure;
  }
  absl::Status out = internal::WriteAllToFd(STDOUT_FILENO, a->stdout_data);
  absl::Status err = internal::WriteAllToFd(STDERR_FILENO, a->stderr_data);
  if (!out.ok() || !err.ok()) {
    ReportError("quarantine release", out.ok() ? err : out);
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace kavach::cli
