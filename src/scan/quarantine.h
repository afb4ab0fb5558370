// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// QuarantineStore: withheld command output on disk, awaiting a human.
//
//   auto store = QuarantineStore::Open("/var/lib/kavach/quarantine");  // 0700
//   auto id = (*store)->Put({.sandbox_id = "sb-1", .argv = argv,
//                            .stdout_data = out, .findings = findings});
//   (*store)->Approve(*id, "alice");                 // pending -> approved
//   auto bytes = (*store)->Release(*id, "alice");    // approved -> released
//
// Layout: <dir>/<id>/meta.json, stdout.bin, stderr.bin, every file 0600 and
// every directory 0700. An entry is built in a hidden temporary directory and
// renamed into place, and metadata is replaced with temp file + fsync +
// rename + fsync of the directory, so a crash leaves either the old or the
// new state. Metadata holds the id, sandbox and agent ids, a SHA-256 of argv
// (not argv, which may hold secrets), the creation time, a findings summary
// (rule ids, categories, severities, positions; never the matched text nor
// the masked previews), the SHA-256 and size of each stream, the state and
// its history. Release checks the digests, so a modified artifact is DataLoss.
//
// States: pending -> approved | rejected; approved -> released. Anything else
// is FailedPrecondition naming both states. Transitions of one entry are
// serialised across processes with flock on the entry directory.
#ifndef KAVACH_SCAN_QUARANTINE_H_
#define KAVACH_SCAN_QUARANTINE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kavach/findings.h"

namespace kavach::internal {

enum class QuarantineState { kPending, kApproved, kRejected, kReleased };
std::string_view QuarantineStateName(QuarantineState s);  // "pending", ...
absl::StatusOr<QuarantineState> ParseQuarantineState(std::string_view name);
bool IsLegalQuarantineTransition(QuarantineState from, QuarantineState to);

// "q-" followed by 32 lowercase hex digits; anything else (path separators,
// "..") is refused before it touches the file system.
bool IsValidQuarantineId(std::string_view id);

// SHA-256 (hex) over argv, each argument length-prefixed.
std::string ArgvDigest(const std::vector<std::string>& argv);

struct QuarantineRequest {
  std::string sandbox_id;
  std::string agent_id;
  std::vector<std::string> argv;  // only its digest is stored
  std::string stdout_data;
  std::string stderr_data;
  std::vector<Finding> findings;
  Verdict verdict = Verdict::kQuarantine;
};

struct QuarantineFinding {
  std::string rule_id, scanner, category, stream;
  Severity severity = Severity::kInfo;
  uint64_t begin = 0, end = 0, line = 0;
};

struct QuarantineHistoryEvent {
  QuarantineState state;
  absl::Time time;
  std::string actor;
  std::string note;
};

struct QuarantineEntry {
  std::string id;
  std::string sandbox_id, agent_id, argv_digest;
  absl::Time created;
  QuarantineState state = QuarantineState::kPending;
  Verdict verdict = Verdict::kQuarantine;
  size_t finding_count = 0;
  Severity worst = Severity::kInfo;
  std::map<std::string, size_t> rule_counts;  // rule id -> findings
  std::vector<QuarantineFinding> findings;    // at most kMaxStoredFindings
  uint64_t stdout_bytes = 0, stderr_bytes = 0;
  std::string stdout_sha256, stderr_sha256;
  std::vector<QuarantineHistoryEvent> history;
};

struct QuarantineArtifact {
  std::string stdout_data;
  std::string stderr_data;
};

struct QuarantineListing {
  std::vector<QuarantineEntry> entries;  // oldest first
  // Entries whose metadata could not be read: id and DataLoss status.
  std::vector<std::pair<std::string, absl::Status>> errors;
};

class QuarantineStore final {
 public:
  static constexpr size_t kMaxStoredFindings = 200;

  // Creates `dir` (0700) if needed. An existing directory that group or
  // others can access is refused (PermissionDenied): it would expose the
  // withheld output.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<QuarantineStore>> Open(std::string dir);
  QuarantineStore(const QuarantineStore&) = delete;
  QuarantineStore& operator=(const QuarantineStore&) = delete;

  // Stores a new pending entry; returns its id.
  [[nodiscard]] absl::StatusOr<std::string> Put(const QuarantineRequest& request);
  // NotFound for an unknown id, InvalidArgument for a malformed one, DataLoss
  // for unreadable metadata.
  [[nodiscard]] absl::StatusOr<QuarantineEntry> Get(std::string_view id) const;
  [[nodiscard]] absl::StatusOr<QuarantineListing> List() const;

  [[nodiscard]] absl::Status Approve(std::string_view id, std::string_view actor,
                                     std::string_view note = "");
  [[nodiscard]] absl::Status Reject(std::string_view id, std::string_view actor,
                                    std::string_view note = "");
  // Requires approved; returns the original bytes (checked against their
  // digests) and marks the entry released.
  [[nodiscard]] absl::StatusOr<QuarantineArtifact> Release(std::string_view id,
                                                           std::string_view actor);

  const std::string& dir() const { return dir_; }

 private:
  explicit QuarantineStore(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<QuarantineEntry> Transition(std::string_view id, QuarantineState to,
                                             std::string_view actor, std::string_view note,
                                             QuarantineArtifact* artifact);
  std::string EntryDir(std::string_view id) const;

  const std::string dir_;
};

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_QUARANTINE_H_
