// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The gate ties the scanners, the verdict mapping, the quarantine store, the
// threat classifier and the audit chain together (see gate.h). Heavy,
// immutable parts are shared per process: one compiled Scanner per set of
// extra rule packs, one AuditChain per (log, key) so that every sandbox of a
// process shares its group commit, and one OffenderTracker so an agent's
// repeat offences count across its sandboxes.
#include "scan/gate.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "linux/strings.h"
#include "nlohmann/json.hpp"
#include "scan/audit_chain.h"
#include "scan/quarantine.h"
#include "scan/redact.h"
#include "scan/scanner.h"
#include "scan/threat.h"
#include "scan/verdict.h"

namespace kavach::internal {
namespace {

using json = nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Rule ids and counts, worst severity: never the matched text.
json FindingSummary(const std::vector<Finding>& findings) {
  std::map<std::string, size_t> rules;
  Severity worst = Severity::kInfo;
  for (const Finding& f : findings) {
    ++rules[f.rule_id];
    worst = std::max(worst, f.severity);
  }
  return {
      {"count", findings.size()}, {"worst", std::string(SeverityName(worst))}, {"rules", rules}};
}

absl::StatusOr<std::shared_ptr<const Scanner>> SharedScanner(
    const std::vector<std::string>& extra_packs) {
  // Leaked on purpose: no destruction-order issues at exit.
  static auto* mu = new absl::Mutex;
  static auto* cache = new std::map<std::vector<std::string>, std::shared_ptr<const Scanner>>;
  absl::MutexLock l(mu);
  auto it = cache->find(extra_packs);
  if (it != cache->end()) return it->second;
  absl::StatusOr<std::unique_ptr<Scanner>> scanner = Scanner::CreateDefault(extra_packs);
  if (!scanner.ok()) return scanner.status();
  std::shared_ptr<const Scanner> shared(std::move(*scanner));
  (*cache)[extra_packs] = shared;
  return shared;
}

absl::StatusOr<std::shared_ptr<AuditChain>> SharedAuditChain(const std::string& path,
                                                             std::string key) {
  static auto* mu = new absl::Mutex;
  static auto* cache = new std::map<std::pair<std::string, std::string>, std::weak_ptr<AuditChain>>;
  std::pair<std::string, std::string> id{path, AuditKeyFingerprint(key)};
  absl::MutexLock l(mu);
  if (auto it = cache->find(id); it != cache->end()) {
    if (std::shared_ptr<AuditChain> chain = it->second.lock()) return chain;
  }
  absl::StatusOr<std::unique_ptr<AuditChain>> chain = AuditChain::Open(path, std::move(key));
  if (!chain.ok()) return chain.status();
  std::shared_ptr<AuditChain> shared(std::move(*chain));
  (*cache)[id] = shared;
  return shared;
}

OffenderTracker& SharedOffenders() {
  static auto* tracker = new OffenderTracker;
  return *tracker;
}

// Streams: deliver what the scanner has settled, redacted; hold back the rest.
class GateStreamImpl final : public GateStream {
 public:
  GateStreamImpl(std::unique_ptr<ScanStream> scan, const GateConfig& config)
      : scan_(std::move(scan)),
        withhold_at_(std::min(config.block_at, config.quarantine_at)),
        redact_(config.redact) {}

  std::string Feed(std::string_view chunk) override {
    if (scan_ == nullptr) return std::string(chunk);  // gate disabled
    if (blocked_) return "";
    pending_.append(chunk);
    Absorb(scan_->Feed(chunk));
    if (blocked_) return "";
    return Emit(scan_->settled_offset());
  }

  std::string Finish() override {
    if (scan_ == nullptr || blocked_) return "";
    Absorb(scan_->Finish());
    if (blocked_) return "";
    return Emit(scan_->bytes_fed());
  }

  bool blocked() const override { return blocked_; }
  std::vector<Finding> findings() const override { return findings_; }

 private:
  void Absorb(std::vector<Finding> found) {
    for (Finding& f : found) {
      // A stream cannot be quarantined after part of it went out, so both
      // withholding verdicts stop the stream here.
      if (f.severity >= withhold_at_) {
        blocked_ = true;
        pending_.clear();
      } else if (redact_ && IsRedactable(f)) {
        redactions_.push_back(f);
      }
      findings_.push_back(std::move(f));
    }
  }

  std::string Emit(uint64_t upto) {
    uint64_t end_of_data = delivered_ + pending_.size();
    uint64_t cut = std::min(upto, end_of_data);
    // A known secret straddling the cut goes out whole (redacted) or not at all.
    for (const Finding& r : redactions_) {
      if (r.begin < cut && r.end > cut) cut = std::min(std::max<uint64_t>(cut, r.end), end_of_data);
    }
    if (cut <= delivered_) return "";
    std::vector<Finding> local;
    for (const Finding& r : redactions_) {
      if (r.end <= delivered_ || r.begin >= cut) continue;
      Finding l = r;
      l.begin = std::max(r.begin, delivered_) - delivered_;
      l.end = std::min(r.end, cut) - delivered_;
      local.push_back(std::move(l));
    }
    size_t n = static_cast<size_t>(cut - delivered_);
    std::string out = local.empty() ? pending_.substr(0, n)
                                    : Redact(std::string_view(pending_).substr(0, n), local);
    pending_.erase(0, n);
    delivered_ = cut;
    std::erase_if(redactions_, [&](const Finding& r) { return r.end <= delivered_; });
    return out;
  }

  std::unique_ptr<ScanStream> scan_;
  const Severity withhold_at_;
  const bool redact_;
  std::string pending_;     // bytes [delivered_, bytes fed)
  uint64_t delivered_ = 0;  // stream offset of pending_[0]
  std::vector<Finding> redactions_;
  std::vector<Finding> findings_;
  bool blocked_ = false;
};

class GateImpl final : public Gate {
 public:
  GateImpl(GateConfig config, std::string sandbox_id, std::string agent_id,
           std::shared_ptr<const Scanner> scanner, std::unique_ptr<QuarantineStore> store,
           std::shared_ptr<AuditChain> audit)
      : config_(std::move(config)),
        sandbox_id_(std::move(sandbox_id)),
        agent_id_(std::move(agent_id)),
        scanner_(std::move(scanner)),
        store_(std::move(store)),
        audit_(std::move(audit)) {}

  absl::Status Apply(const std::vector<std::string>& argv, ExecResult* result) override {
    json exec = {{"argv_sha256", ArgvDigest(argv)},
                 {"argc", argv.size()},
                 {"exit_code", result->exit_code},
                 {"signal", result->signal},
                 {"timed_out", result->timed_out},
                 {"stdout_bytes", result->stdout_data.size()},
                 {"stderr_bytes", result->stderr_data.size()},
                 {"gated", config_.enabled}};
    if (!config_.enabled) return Record("exec", exec);

    std::vector<Finding> findings = scanner_->Scan(result->stdout_data, "stdout");
    std::vector<Finding> err = scanner_->Scan(result->stderr_data, "stderr");
    findings.insert(findings.end(), std::make_move_iterator(err.begin()),
                    std::make_move_iterator(err.end()));
    uint64_t total = result->stdout_data.size() + result->stderr_data.size();
    if (std::optional<Finding> size = SizeLimitFinding(config_, total)) findings.push_back(*size);
    Verdict verdict = DecideVerdict(findings, config_, total);
    Severity worst = WorstSeverity(findings);

    ThreatAssessment threat = AssessThreat(findings);
    std::string agent = agent_id_.empty() ? sandbox_id_ : agent_id_;
    SharedOffenders().Record(agent, threat.intent);
    ThreatTier tier = std::max(threat.tier, SharedOffenders().RecommendEscalation(agent));

    absl::Status outcome = absl::OkStatus();
    std::string summary = absl::StrCat(findings.size(), " finding", findings.size() == 1 ? "" : "s",
                                       ", worst ", ToAbsl(SeverityName(worst)));
    switch (verdict) {
      case Verdict::kPass:
        break;
      case Verdict::kWarn:
      case Verdict::kRedact:
        if (config_.redact) RedactInPlace(findings, result);
        break;
      case Verdict::kQuarantine:
        if (store_ != nullptr) {
          QuarantineRequest q{sandbox_id_,         agent_id_, argv,   result->stdout_data,
                              result->stderr_data, findings,  verdict};
          absl::StatusOr<std::string> id = store_->Put(q);
          if (id.ok()) {
            result->quarantine_id = *id;
            outcome = absl::PermissionDeniedError(
                absl::StrCat("output quarantined as ", *id, ": ", summary));
          } else {
            // Fail closed: output that could not be kept is not released.
            verdict = Verdict::kBlock;
            outcome = absl::PermissionDeniedError(
                absl::StrCat("output blocked: ", summary,
                             " (quarantine store failed: ", id.status().message(), ")"));
          }
        } else {
          verdict = Verdict::kBlock;
          outcome = absl::PermissionDeniedError(absl::StrCat(
              "output blocked: ", summary, " (quarantine verdict, no quarantine store)"));
        }
        result->stdout_data.clear();
        result->stderr_data.clear();
        break;
      case Verdict::kBlock:
        result->stdout_data.clear();
        result->stderr_data.clear();
        outcome = absl::PermissionDeniedError(absl::StrCat("output blocked: ", summary));
        break;
    }
    result->gated = true;
    result->verdict = verdict;
    result->findings = std::move(findings);
    result->threat_intent = threat.intent;

    exec["verdict"] = std::string(VerdictName(verdict));
    exec["findings"] = FindingSummary(result->findings);
    exec["intent"] = threat.intent;
    exec["tier"] = std::string(ThreatTierName(tier));
    if (!result->quarantine_id.empty()) exec["quarantine_id"] = result->quarantine_id;
    ThreatTier previous;
    {
      absl::MutexLock l(&mu_);
      previous = tier_;
      tier_ = tier;
    }
    std::vector<AuditEvent> events = {{sandbox_id_, "exec", Dump(exec)}};
    if (tier != previous) {
      json change = {{"from", std::string(ThreatTierName(previous))},
                     {"to", std::string(ThreatTierName(tier))},
                     {"intent", threat.intent},
                     {"offender_score", SharedOffenders().Score(agent)},
                     {"agent_id", agent_id_}};
      events.push_back({sandbox_id_, "tier_change", Dump(change)});
    }
    if (!result->quarantine_id.empty()) {
      events.push_back(
          {sandbox_id_, "quarantine", Dump({{"id", result->quarantine_id}, {"state", "pending"}})});
    }
    if (audit_ != nullptr) {
      absl::StatusOr<uint64_t> seq = audit_->AppendBatch(events);
      // Fail closed: an exec the chain could not record is not delivered.
      if (!seq.ok()) {
        result->stdout_data.clear();
        result->stderr_data.clear();
        return absl::Status(seq.status().code(),
                            absl::StrCat("audit chain: ", seq.status().message()));
      }
    }
    return outcome;
  }

  ThreatTier tier() const override {
    absl::MutexLock l(&mu_);
    return tier_;
  }

  absl::Status RecordEvent(std::string_view event_type, std::string_view payload_json) override {
    if (audit_ == nullptr) return absl::OkStatus();
    return audit_->Append(sandbox_id_, event_type, payload_json).status();
  }

  absl::Status RecordEvents(
      const std::vector<std::pair<std::string, std::string>>& events) override {
    if (audit_ == nullptr || events.empty()) return absl::OkStatus();
    std::vector<AuditEvent> batch;
    batch.reserve(events.size());
    for (const auto& [type, payload] : events) batch.push_back({sandbox_id_, type, payload});
    return audit_->AppendBatch(batch).status();
  }

  std::unique_ptr<GateStream> OpenStream(std::string_view stream_name) override {
    return std::make_unique<GateStreamImpl>(
        config_.enabled ? scanner_->OpenStream(stream_name) : nullptr, config_);
  }

 private:
  absl::Status Record(std::string_view event, const json& payload) {
    if (audit_ == nullptr) return absl::OkStatus();
    absl::StatusOr<uint64_t> seq = audit_->Append(sandbox_id_, event, Dump(payload));
    if (!seq.ok()) {
      return absl::Status(seq.status().code(),
                          absl::StrCat("audit chain: ", seq.status().message()));
    }
    return absl::OkStatus();
  }

  void RedactInPlace(const std::vector<Finding>& findings, ExecResult* result) const {
    std::vector<Finding> out, err;
    for (const Finding& f : findings) {
      if (!IsRedactable(f)) continue;
      (f.stream == "stderr" ? err : out).push_back(f);
    }
    if (!out.empty()) result->stdout_data = Redact(result->stdout_data, out);
    if (!err.empty()) result->stderr_data = Redact(result->stderr_data, err);
  }

  const GateConfig config_;
  const std::string sandbox_id_;
  const std::string agent_id_;
  const std::shared_ptr<const Scanner> scanner_;
  const std::unique_ptr<QuarantineStore> store_;
  const std::shared_ptr<AuditChain> audit_;
  mutable absl::Mutex mu_;
  ThreatTier tier_ ABSL_GUARDED_BY(mu_) = ThreatTier::kLog;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Gate>> Gate::Create(const GateConfig& gate, const AuditConfig& audit,
                                                   std::string sandbox_id, std::string agent_id) {
  std::shared_ptr<const Scanner> scanner;
  std::unique_ptr<QuarantineStore> store;
  if (gate.enabled) {
    absl::StatusOr<std::shared_ptr<const Scanner>> s = SharedScanner(gate.extra_rule_packs);
    if (!s.ok()) {
      return absl::Status(s.status().code(),
                          absl::StrCat("output gate scanners: ", s.status().message()));
    }
    scanner = std::move(*s);
    if (gate.quarantine_dir) {
      absl::StatusOr<std::unique_ptr<QuarantineStore>> q =
          QuarantineStore::Open(*gate.quarantine_dir);
      if (!q.ok()) {
        return absl::Status(q.status().code(),
                            absl::StrCat("quarantine store: ", q.status().message()));
      }
      store = std::move(*q);
    }
  }
  std::shared_ptr<AuditChain> chain;
  if (audit.log_path) {
    absl::StatusOr<std::string> key = LoadAuditKey(audit);
    if (!key.ok()) {
      return absl::Status(key.status().code(),
                          absl::StrCat("audit chain: ", key.status().message()));
    }
    absl::StatusOr<std::shared_ptr<AuditChain>> c =
        SharedAuditChain(*audit.log_path, std::move(*key));
    if (!c.ok()) {
      return absl::Status(c.status().code(), absl::StrCat("audit chain: ", c.status().message()));
    }
    chain = std::move(*c);
  }
  auto g = std::make_unique<GateImpl>(gate, std::move(sandbox_id), std::move(agent_id),
                                      std::move(scanner), std::move(store), std::move(chain));
  return std::unique_ptr<Gate>(std::move(g));
}

}  // namespace kavach::internal
