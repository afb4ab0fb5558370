// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// AuditChain: a tamper-evident, append-only log of JSON lines.
//
//   auto key = LoadAuditKey(audit_config);                        // 0600 file or env
//   auto chain = AuditChain::Open("/var/log/kavach.audit", *key);  // creates 0600
//   auto seq = (*chain)->Append("sb-1", "exec", R"({"exit":0})");  // durable on return
//   ...
//   auto report = VerifyAuditLog("/var/log/kavach.audit", {*key});
//   if (!report->ok()) std::cerr << report->problem->reason;
//
// Each line is {"seq","time","sandbox","event","payload","mac"} in a fixed
// canonical form. mac = HMAC-SHA256(key, length-prefixed(domain, seq, time,
// sandbox, event, payload, previous mac)); the first record chains to the MAC
// of a fixed genesis string. So a modified, inserted, deleted or reordered
// record, a wrong key and a seq gap all break the chain at a named record.
// Cutting records off the end keeps a valid prefix, so the writer also keeps a
// head checkpoint apart from the log (LOG.head: last seq, last mac and a MAC
// over both, one 512-byte line rewritten in place on every commit after the
// log's fdatasync); the verifier requires the log to reach it. The head is
// fdatasync'ed at most a second later (and by Flush and the destructor): a
// crash can leave it a little behind the log, never ahead of it, and the
// records past it then verify as unanchored, not as a truncation.
// ExportSignedHead() signs the same checkpoint with Ed25519 for off-host
// storage, which also catches an attacker who rewrites log and head together.
//
// Concurrency: any number of threads and processes may append to one log.
// Appenders queue; one of them (the leader) takes the whole queue, locks the
// file (flock), catches up with records other processes wrote (verifying
// them), writes the batch with one write(2), fdatasyncs once and rewrites the
// head, so one fsync covers every queued record (group commit). The lead then
// passes directly to a thread with queued records, and each committed
// appender's thread is woken once (no thundering herd).
//
// Crashes: a record is one line ending in '\n'. A line without it (a crash in
// the middle of a write) is reported by the verifier as a torn last line, and
// a writer refuses to append after it (DataLoss) unless opened with
// repair_torn_tail, which cuts the torn bytes off and records the cut
// (length and SHA-256 of the dropped bytes) as a "torn_tail_repaired" record.
// A torn line can only be a record whose Append never returned, so nothing
// acknowledged is ever dropped.
//
// Keys: at least 16 bytes, never logged. RotateKey() appends a "key_rotation"
// record, MAC'd with the old key, that names the new key's fingerprint; later
// records use the new key. VerifyAuditLog takes every key the log has used.
#ifndef KAVACH_SCAN_AUDIT_CHAIN_H_
#define KAVACH_SCAN_AUDIT_CHAIN_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kavach/gate_config.h"

namespace kavach::internal {

inline constexpr size_t kMinAuditKeyBytes = 16;

// The HMAC key for `config`: the contents of key_path (a regular file that is
// not group/world accessible, owned by us or root; one trailing newline is
// ignored), else the environment variable key_env. PermissionDenied for a
// loose key file, FailedPrecondition when no key is configured,
// InvalidArgument for a key shorter than 16 bytes. Messages never contain key
// material.
[[nodiscard]] absl::StatusOr<std::string> LoadAuditKey(const AuditConfig& config);
[[nodiscard]] absl::StatusOr<std::string> ReadAuditKeyFile(const std::string& path);

// Public name of a key: 16 hex digits of SHA-256 over a domain string and the key.
std::string AuditKeyFingerprint(std::string_view key);

// The head checkpoint's path for a log.
std::string AuditHeadPath(const std::string& log_path);

enum class AuditDurability {
  // Append returns once its record is fdatasync'ed and the head rewritten
  // (the head's own fsync follows within a second; see the file comment).
  kDurable,
  // Append returns once its record is written (page cache); Flush() or the
  // destructor fsyncs and updates the head. Tail truncation is detected only
  // up to the last flush.
  kBuffered,
};

struct AuditChainOptions {
  AuditDurability durability = AuditDurability::kDurable;
  // See the file comment: cut off a torn last line (recorded) instead of
  // refusing to append.
  bool repair_torn_tail = false;
  // Verify the whole existing log on Open (O(records)) instead of checking
  // only that the key verifies the last record. Keys used before the last
  // rotation go in previous_keys.
  bool verify_on_open = false;
  std::vector<std::string> previous_keys;
};

struct AuditEvent {
  std::string sandbox_id;
  std::string event_type;    // [A-Za-z0-9_.:-]{1,64}
  std::string payload_json;  // a JSON object; stored in canonical form
};

// A checkpoint of the chain: the last record's seq and MAC.
struct AuditHead {
  uint64_t seq = 0;
  std::string mac_hex;
  std::string time;             // when the checkpoint was written
  std::string key_fingerprint;  // key that MACs the checkpoint (LOG.head)
};

class AuditChain final {
 public:
  // Opens (creating with mode 0600) the log at `path`. A new log starts with a
  // "chain_init" record naming the key's fingerprint. An existing log must end
  // in a record this key verifies (or a rotation to this key), else
  // FailedPrecondition; a torn tail is DataLoss unless repair_torn_tail.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AuditChain>> Open(
      const std::string& path, std::string key, AuditChainOptions options = {});

  ~AuditChain();  // flushes a buffered chain
  AuditChain(const AuditChain&) = delete;
  AuditChain& operator=(const AuditChain&) = delete;

  // Appends one record and returns its seq. InvalidArgument for a payload
  // that is not a JSON object or a bad event type; DataLoss when the log was
  // tampered with or torn under us; FailedPrecondition when another writer
  // rotated the key away from ours.
  [[nodiscard]] absl::StatusOr<uint64_t> Append(std::string_view sandbox_id,
                                                std::string_view event_type,
                                                std::string_view payload_json);
  // Appends several records, consecutively, in one commit; returns the last seq.
  [[nodiscard]] absl::StatusOr<uint64_t> AppendBatch(const std::vector<AuditEvent>& events);

  // Appends a "key_rotation" record (MAC'd with the current key) announcing
  // the new key's fingerprint; records after it use `new_key`. Returns its seq.
  [[nodiscard]] absl::StatusOr<uint64_t> RotateKey(std::string new_key);

  // fsyncs what has been appended and writes the head checkpoint.
  [[nodiscard]] absl::Status Flush();

  // Flushes, then returns the current head signed with Ed25519 (raw 32-byte
  // private key) as one JSON object: format, seq, mac, time, public_key,
  // signature. Store it off-host; check it with VerifySignedHead.
  [[nodiscard]] absl::StatusOr<std::string> ExportSignedHead(std::string_view ed25519_private_key);

  const std::string& path() const { return path_; }
  // The last seq this writer has written or seen.
  uint64_t last_seq() const;
  // Fingerprint of the key new records are MAC'd with.
  std::string key_fingerprint() const;

  struct Request;  // internal
  struct Waiter;   // internal

 private:
  struct Io;
  AuditChain(std::string path, AuditChainOptions options, std::unique_ptr<Io> io);
  absl::Status Submit(const std::vector<Request*>& requests);
  absl::Status CommitBatch(const std::vector<Request*>& batch);

  const std::string path_;
  const AuditChainOptions options_;
  // Touched only by the current leader (or Open/destructor): file state.
  std::unique_ptr<Io> io_;

  // Requests not yet taken by a leader, newest first (see Submit).
  std::atomic<Request*> pending_{nullptr};
  std::atomic<bool> leader_active_{false};
  size_t last_batch_ = 0;  // requests in the last commit; the leader's
  mutable absl::Mutex mu_;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_mac_hex_ ABSL_GUARDED_BY(mu_);
  std::string key_fp_ ABSL_GUARDED_BY(mu_);
};

// Where and why verification stopped.
struct AuditProblem {
  uint64_t seq = 0;   // the record's seq (or the seq expected there)
  uint64_t line = 0;  // 1-based line number in the log
  std::string reason;
};

struct AuditVerifyReport {
  bool ok() const { return !problem.has_value(); }
  uint64_t records = 0;  // records verified before the problem (all when ok)
  uint64_t last_seq = 0;
  std::string last_mac_hex;
  std::optional<AuditProblem> problem;  // the first bad record
  bool head_present = false;
  uint64_t head_seq = 0;
  // Records after the head checkpoint: written by a writer that crashed (or
  // is buffered) before updating the head. Valid, but not yet anchored.
  uint64_t unanchored_records = 0;
  std::vector<std::string> key_fingerprints;  // keys in order of use
};

struct AuditVerifyOptions {
  // A missing LOG.head is a problem (a log without a checkpoint cannot show
  // that its tail is intact).
  bool require_head = true;
  // An exported, signed head to check against as well (see ExportSignedHead).
  std::optional<std::string> signed_head_json;
  std::string ed25519_public_key;  // raw 32 bytes, with signed_head_json
};

// Verifies the log at `path` with the given keys (every key it has used).
// Returns a report (ok or the first problem); a non-OK status only when the
// log cannot be read at all.
[[nodiscard]] absl::StatusOr<AuditVerifyReport> VerifyAuditLog(
    const std::string& path, const std::vector<std::string>& keys,
    const AuditVerifyOptions& options = {});

// Checks an exported head's Ed25519 signature; returns the checkpoint.
[[nodiscard]] absl::StatusOr<AuditHead> VerifySignedHead(std::string_view signed_head_json,
                                                         std::string_view ed25519_public_key);

// A fresh Ed25519 key pair as raw 32-byte strings {private, public}.
[[nodiscard]] absl::StatusOr<std::pair<std::string, std::string>> GenerateEd25519KeyPair();

// The raw 32-byte public key of a raw Ed25519 private key.
[[nodiscard]] absl::StatusOr<std::string> Ed25519PublicKey(std::string_view private_key);

}  // namespace kavach::internal

#endif  // KAVACH_SCAN_AUDIT_CHAIN_H_
