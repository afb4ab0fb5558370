// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/quarantine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"
#include "nlohmann/json.hpp"
#include "scan/durable_file.h"

namespace kavach::internal {
namespace {

using json = nlohmann::json;

constexpr std::string_view kMeta = "meta.json";
constexpr std::string_view kStdout = "stdout.bin";
constexpr std::string_view kStderr = "stderr.bin";
constexpr uint64_t kMaxMetaBytes = 16 << 20;

// OpenSSL's SHA-256 block functions rather than EVP_Digest (or SHA256(),
// which OpenSSL 3 routes through EVP): the first EVP call of a process loads
// OpenSSL 3's configuration and providers (about 0.8 ms of CPU), and the
// gate digests every exec's argv. The low-level calls are merely marked
// deprecated; the same code computes the same digest.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
std::string Sha256Hex(std::string_view data) {
  unsigned char md[32];
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, data.data(), data.size());
  SHA256_Final(md, &c);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(md), sizeof md));
}
#pragma GCC diagnostic pop

std::string TimeString(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::optional<absl::Time> ParseTime(const std::string& s) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", s, absl::UTCTimeZone(), &t, &err)) {
    return std::nullopt;
  }
  return t;
}

std::optional<Severity> SeverityFromName(std::string_view name) {
  for (Severity s :
       {Severity::kInfo, Severity::kLow, Severity::kMedium, Severity::kHigh, Severity::kCritical}) {
    if (SeverityName(s) == name) return s;
  }
  return std::nullopt;
}

std::optional<Verdict> VerdictFromName(std::string_view name) {
  for (Verdict v :
       {Verdict::kPass, Verdict::kWarn, Verdict::kRedact, Verdict::kQuarantine, Verdict::kBlock}) {
    if (VerdictName(v) == name) return v;
  }
  return std::nullopt;
}

// JSON strings must be UTF-8; ids and actors from callers might not be.
std::string Utf8Safe(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

json EntryToJson(const QuarantineEntry& e) {
  json findings = json::array();
  for (const QuarantineFinding& f : e.findings) {
    findings.push_back({{"rule_id", json::parse(Utf8Safe(f.rule_id))},
                        {"scanner", json::parse(Utf8Safe(f.scanner))},
                        {"category", json::parse(Utf8Safe(f.category))},
                        {"severity", std::string(SeverityName(f.severity))},
                        {"stream", json::parse(Utf8Safe(f.stream))},
                        {"begin", f.begin},
                        {"end", f.end},
                        {"line", f.line}});
  }
  json rules = json::object();
  for (const auto& [id, n] : e.rule_counts) rules[json::parse(Utf8Safe(id)).get<std::string>()] = n;
  json history = json::array();
  for (const QuarantineHistoryEvent& h : e.history) {
    history.push_back({{"state", std::string(QuarantineStateName(h.state))},
                       {"time", TimeString(h.time)},
                       {"actor", json::parse(Utf8Safe(h.actor))},
                       {"note", json::parse(Utf8Safe(h.note))}});
  }
  return {{"format", 1},
          {"id", e.id},
          {"sandbox_id", json::parse(Utf8Safe(e.sandbox_id))},
          {"agent_id", json::parse(Utf8Safe(e.agent_id))},
          {"argv_sha256", e.argv_digest},
          {"created", TimeString(e.created)},
          {"state", std::string(QuarantineStateName(e.state))},
          {"verdict", std::string(VerdictName(e.verdict))},
          {"finding_count", e.finding_count},
          {"worst", std::string(SeverityName(e.worst))},
          {"rules", rules},
          {"findings", findings},
          {"stdout", {{"bytes", e.stdout_bytes}, {"sha256", e.stdout_sha256}}},
          {"stderr", {{"bytes", e.stderr_bytes}, {"sha256", e.stderr_sha256}}},
          {"history", history}};
}

absl::StatusOr<QuarantineEntry> EntryFromJson(const std::string& text, std::string_view id) {
  auto bad = [&](std::string_view why) {
    return absl::DataLossError(
        absl::StrCat("quarantine entry ", ToAbsl(id), ": metadata is corrupt (", ToAbsl(why), ")"));
  };
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object; truncated?");
  try {
    QuarantineEntry e;
    e.id = j.at("id").get<std::string>();
    if (e.id != id) return bad("id does not match its directory");
    e.sandbox_id = j.at("sandbox_id").get<std::string>();
    e.agent_id = j.at("agent_id").get<std::string>();
    e.argv_digest = j.at("argv_sha256").get<std::string>();
    auto created = ParseTime(j.at("created").get<std::string>());
    if (!created) return bad("bad created time");
    e.created = *created;
    auto state = ParseQuarantineState(j.at("state").get<std::string>());
    if (!state.ok()) return bad("unknown state");
    e.state = *state;
    auto verdict = VerdictFromName(j.at("verdict").get<std::string>());
    if (!verdict) return bad("unknown verdict");
    e.verdict = *verdict;
    e.finding_count = j.at("finding_count").get<size_t>();
    auto worst = SeverityFromName(j.at("worst").get<std::string>());
    if (!worst) return bad("unknown severity");
    e.worst = *worst;
    for (auto& [rule, n] : j.at("rules").items()) e.rule_counts[rule] = n.get<size_t>();
    for (const json& f : j.at("findings")) {
      QuarantineFinding qf;
      qf.rule_id = f.at("rule_id").get<std::string>();
      qf.scanner = f.at("scanner").get<std::string>();
      qf.category = f.at("category").get<std::string>();
      qf.stream = f.at("stream").get<std::string>();
      auto sev = SeverityFromName(f.at("severity").get<std::string>());
      if (!sev) return bad("unknown finding severity");
      qf.severity = *sev;
      qf.begin = f.at("begin").get<uint64_t>();
      qf.end = f.at("end").get<uint64_t>();
      qf.line = f.at("line").get<uint64_t>();
      e.findings.push_back(std::move(qf));
    }
    e.stdout_bytes = j.at("stdout").at("bytes").get<uint64_t>();
    e.stdout_sha256 = j.at("stdout").at("sha256").get<std::string>();
    e.stderr_bytes = j.at("stderr").at("bytes").get<uint64_t>();
    e.stderr_sha256 = j.at("stderr").at("sha256").get<std::string>();
    for (const json& h : j.at("history")) {
      QuarantineHistoryEvent ev;
      auto s = ParseQuarantineState(h.at("state").get<std::string>());
      auto t = ParseTime(h.at("time").get<std::string>());
      if (!s.ok() || !t) return bad("bad history event");
      ev.state = *s;
      ev.time = *t;
      ev.actor = h.at("actor").get<std::string>();
      ev.note = h.at("note").get<std::string>();
      e.history.push_back(std::move(ev));
    }
    return e;
  } catch (const json::exception& ex) {
    return bad(ex.what());
  }
}

absl::Status WriteNewFile(const std::string& path, std::string_view data) {
  sys::UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return FileErrnoStatus(errno, "create " + path);
  if (::fchmod(fd.get(), 0600) != 0) return FileErrnoStatus(errno, "fchmod " + path);
  if (absl::Status s = WriteAllToFd(fd.get(), data); !s.ok()) return s;
  if (::fsync(fd.get()) != 0) return FileErrnoStatus(errno, "fsync " + path);
  return absl::OkStatus();
}

// flock on an entry directory for the length of a transition.
class DirLock final {
 public:
  explicit DirLock(const std::string& dir) {
    fd_.Reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd_) {
      status_ = FileErrnoStatus(errno, "open " + dir);
      return;
    }
    while (::flock(fd_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) {
        status_ = FileErrnoStatus(errno, "flock " + dir);
        return;
      }
    }
  }
  const absl::Status& status() const { return status_; }

 private:
  sys::UniqueFd fd_;  // closing releases the lock
  absl::Status status_;
};

}  // namespace

std::string_view QuarantineStateName(QuarantineState s) {
  switch (s) {
    case QuarantineState::kPending:
      return "pending";
    case QuarantineState::kApproved:
      return "approved";
    case QuarantineState::kRejected:
      return "rejected";
    case QuarantineState::kReleased:
      return "released";
  }
  return "unknown";
}

absl::StatusOr<QuarantineState> ParseQuarantineState(std::string_view name) {
  for (QuarantineState s : {QuarantineState::kPending, QuarantineState::kApproved,
                            QuarantineState::kRejected, QuarantineState::kReleased}) {
    if (QuarantineStateName(s) == name) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown quarantine state '", ToAbsl(name), "'"));
}

bool IsLegalQuarantineTransition(QuarantineState from, QuarantineState to) {
  return (from == QuarantineState::kPending &&
          (to == QuarantineState::kApproved || to == QuarantineState::kRejected)) ||
         (from == QuarantineState::kApproved && to == QuarantineState::kReleased);
}

bool IsValidQuarantineId(std::string_view id) {
  if (id.size() != 34 || id.substr(0, 2) != "q-") return false;
  for (char c : id.substr(2)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ArgvDigest(const std::vector<std::string>& argv) {
  std::string buf;
  for (const std::string& a : argv) {
    uint64_t n = a.size();
    for (int i = 7; i >= 0; --i) buf.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    buf += a;
  }
  return Sha256Hex(buf);
}

absl::StatusOr<std::unique_ptr<QuarantineStore>> QuarantineStore::Open(std::string dir) {
  if (dir.empty()) return absl::InvalidArgumentError("quarantine directory is empty");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return FileErrnoStatus(errno, "create quarantine directory " + dir);
  }
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return FileErrnoStatus(errno, "stat " + dir);
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("quarantine path ", dir, " is not a directory"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("quarantine directory %s has mode %04o: group and others must have no "
                        "access (chmod 700 %s)",
                        dir, st.st_mode & 07777, dir));
  }
  return std::unique_ptr<QuarantineStore>(new QuarantineStore(std::move(dir)));
}

std::string QuarantineStore::EntryDir(std::string_view id) const {
  return absl::StrCat(dir_, "/", ToAbsl(id));
}

absl::StatusOr<std::string> QuarantineStore::Put(const QuarantineRequest& request) {
  unsigned char rnd[16];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return absl::InternalError("OpenSSL: RAND_bytes failed");
  std::string id = absl::StrCat(
      "q-", absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(rnd), sizeof rnd)));

  QuarantineEntry e;
  e.id = id;
  e.sandbox_id = request.sandbox_id;
  e.agent_id = request.agent_id;
  e.argv_digest = ArgvDigest(request.argv);
  e.created = absl::Now();
  e.state = QuarantineState::kPending;
  e.verdict = request.verdict;
  e.finding_count = request.findings.size();
  for (const Finding& f : request.findings) {
    e.worst = std::max(e.worst, f.severity);
    ++e.rule_counts[f.rule_id];
    if (e.findings.size() < kMaxStoredFindings) {
      e.findings.push_back(
          {f.rule_id, f.scanner, f.category, f.stream, f.severity, f.begin, f.end, f.line});
    }
  }
  e.stdout_bytes = request.stdout_data.size();
  e.stderr_bytes = request.stderr_data.size();
  e.stdout_sha256 = Sha256Hex(request.stdout_data);
  e.stderr_sha256 = Sha256Hex(request.stderr_data);
  e.history.push_back({QuarantineState::kPending, e.created, "gate", ""});

  // Build the entry in a hidden directory, then rename it into place whole.
  std::string tmp = absl::StrCat(dir_, "/.tmp-", id);
  if (::mkdir(tmp.c_str(), 0700) != 0) return FileErrnoStatus(errno, "create " + tmp);
  auto cleanup = [&](absl::Status s) {
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    return s;
  };
  if (::chmod(tmp.c_str(), 0700) != 0) return cleanup(FileErrnoStatus(errno, "chmod " + tmp));
  const std::string meta = EntryToJson(e).dump(2) + "\n";
  for (auto [name, data] :
       {std::pair<std::string_view, std::string_view>{kStdout, request.stdout_data},
        {kStderr, request.stderr_data},
        {kMeta, meta}}) {
    if (absl::Status s = WriteNewFile(absl::StrCat(tmp, "/", ToAbsl(name)), data); !s.ok()) {
      return cleanup(s);
    }
  }
  if (absl::Status s = FsyncDirectory(tmp); !s.ok()) return cleanup(s);
  std::string final_dir = EntryDir(id);
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    return cleanup(FileErrnoStatus(errno, absl::StrCat("rename ", tmp, " -> ", final_dir)));
  }
  if (absl::Status s = FsyncDirectory(dir_); !s.ok()) return s;
  return id;
}

absl::StatusOr<QuarantineEntry> QuarantineStore::Get(std::string_view id) const {
  if (!IsValidQuarantineId(id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", ToAbsl(id).substr(0, 80), "' is not a quarantine id (q-<32 hex>)"));
  }
  std::string dir = EntryDir(id);
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("no quarantine entry ", ToAbsl(id), " in ", dir_));
    }
    return FileErrnoStatus(errno, "stat " + dir);
  }
  absl::StatusOr<std::string> text =
      ReadWholeFile(absl::StrCat(dir, "/", ToAbsl(kMeta)), kMaxMetaBytes);
  if (!text.ok()) {
    return absl::DataLossError(absl::StrCat("quarantine entry ", ToAbsl(id),
                                            ": metadata unreadable: ", text.status().message()));
  }
  return EntryFromJson(*text, id);
}

absl::StatusOr<QuarantineListing> QuarantineStore::List() const {
  QuarantineListing listing;
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir_.c_str()), ::closedir);
  if (!d) return FileErrnoStatus(errno, "open quarantine directory " + dir_);
  std::vector<std::string> ids;
  while (struct dirent* de = ::readdir(d.get())) {
    if (IsValidQuarantineId(de->d_name)) ids.emplace_back(de->d_name);
  }
  for (const std::string& id : ids) {
    absl::StatusOr<QuarantineEntry> e = Get(id);
    if (e.ok()) {
      listing.entries.push_back(std::move(*e));
    } else {
      listing.errors.emplace_back(id, e.status());
    }
  }
  std::sort(listing.entries.begin(), listing.entries.end(),
            [](const QuarantineEntry& a, const QuarantineEntry& b) {
              return std::tie(a.created, a.id) < std::tie(b.created, b.id);
            });
  std::sort(listing.errors.begin(), listing.errors.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return listing;
}

absl::StatusOr<QuarantineEntry> QuarantineStore::Transition(std::string_view id, QuarantineState to,
                                                            std::string_view actor,
                                                            std::string_view note,
                                                            QuarantineArtifact* artifact) {
  if (!IsValidQuarantineId(id)) return Get(id).status();
  std::string dir = EntryDir(id);
  DirLock lock(dir);
  if (!lock.status().ok()) {
    if (absl::IsNotFound(lock.status())) return Get(id).status();
    return lock.status();
  }
  absl::StatusOr<QuarantineEntry> e = Get(id);
  if (!e.ok()) return e.status();
  if (!IsLegalQuarantineTransition(e->state, to)) {
    return absl::FailedPreconditionError(
        absl::StrCat("quarantine entry ", ToAbsl(id), " is ", ToAbsl(QuarantineStateName(e->state)),
                     ": cannot move from ", ToAbsl(QuarantineStateName(e->state)), " to ",
                     ToAbsl(QuarantineStateName(to))));
  }
  if (artifact != nullptr) {
    for (auto [name, out, bytes, digest] :
         {std::tuple{kStdout, &artifact->stdout_data, e->stdout_bytes, e->stdout_sha256},
          std::tuple{kStderr, &artifact->stderr_data, e->stderr_bytes, e->stderr_sha256}}) {
      absl::StatusOr<std::string> data =
          ReadWholeFile(absl::StrCat(dir, "/", ToAbsl(name)), bytes + 1);
      if (!data.ok() || data->size() != bytes || Sha256Hex(*data) != digest) {
        return absl::DataLossError(absl::StrCat("quarantine entry ", ToAbsl(id), ": ", ToAbsl(name),
                                                " is missing or differs from its recorded digest"));
      }
      *out = std::move(*data);
    }
  }
  e->state = to;
  e->history.push_back({to, absl::Now(), std::string(actor), std::string(note)});
  if (absl::Status s = WriteFileAtomically(absl::StrCat(dir, "/", ToAbsl(kMeta)),
                                           EntryToJson(*e).dump(2) + "\n", 0600);
      !s.ok()) {
    return s;
  }
  return e;
}

absl::Status QuarantineStore::Approve(std::string_view id, std::string_view actor,
                                      std::string_view note) {
  return Transition(id, QuarantineState::kApproved, actor, note, nullptr).status();
}

absl::Status QuarantineStore::Reject(std::string_view id, std::string_view actor,
                                     std::string_view note) {
  return Transition(id, QuarantineState::kRejected, actor, note, nullptr).status();
}

absl::StatusOr<QuarantineArtifact> QuarantineStore::Release(std::string_view id,
                                                            std::string_view actor) {
  QuarantineArtifact artifact;
  absl::StatusOr<QuarantineEntry> e =
      Transition(id, QuarantineState::kReleased, actor, "", &artifact);
  if (!e.ok()) return e.status();
  return artifact;
}

}  // namespace kavach::internal
