// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/audit_chain.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "linux/json_string.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"
#include "nlohmann/json.hpp"
#include "scan/durable_file.h"

namespace kavach::internal {
namespace {

using Mac = std::array<unsigned char, 32>;
using json = nlohmann::json;

constexpr std::string_view kRecordDomain = "kavach-audit-record-v1";
constexpr std::string_view kGenesisDomain = "kavach-audit-genesis-v1";
constexpr std::string_view kHeadDomain = "kavach-audit-head-v1";
constexpr std::string_view kSignedHeadFormat = "kavach-audit-signed-head-v1";
constexpr std::string_view kFingerprintDomain = "kavach-audit-key-fingerprint-v1";
constexpr std::string_view kRotationEvent = "key_rotation";
constexpr std::string_view kTornRepairEvent = "torn_tail_repaired";
constexpr size_t kMaxKeyBytes = 4096;
constexpr int kMaxJsonDepth = 64;
constexpr size_t kReadChunk = 1 << 20;
// The head checkpoint line is padded to this size (one disk sector) and
// rewritten in place; see Io::WriteHead.
constexpr size_t kHeadBytes = 512;
constexpr absl::Duration kHeadSyncInterval = absl::Seconds(1);

// HMAC-SHA256 with the key set once; each Begin() restarts with the same key.
//
// RFC 2104 over OpenSSL's SHA-256 block functions rather than EVP_MAC: the
// first EVP call of a process loads OpenSSL 3's configuration and provider
// machinery (about 0.8 ms of CPU), which every gated `kavach exec` would
// otherwise pay for its audit records alone. The same SHA-256 code runs;
// the low-level calls are merely marked deprecated. The key's padded
// states are hashed once here and copied per message.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
// (Not SHA256(): in OpenSSL 3 that one-shot goes through EVP.)
void Sha256Of(std::string_view data, unsigned char out[32]) {
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, data.data(), data.size());
  SHA256_Final(out, &c);
}

class Hmac final {
 public:
  static absl::StatusOr<std::unique_ptr<Hmac>> Create(std::string_view key) {
    auto h = std::unique_ptr<Hmac>(new Hmac());
    constexpr size_t kBlock = 64;  // SHA-256's block size
    unsigned char k[kBlock] = {};
    if (key.size() > kBlock) {
      Sha256Of(key, k);
    } else {
      std::memcpy(k, key.data(), key.size());
    }
    unsigned char pad[kBlock];
    for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x36;
    SHA256_Init(&h->inner_);
    SHA256_Update(&h->inner_, pad, kBlock);
    for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&h->outer_);
    SHA256_Update(&h->outer_, pad, kBlock);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    h->ctx_ = h->inner_;
    return h;
  }
  ~Hmac() {
    OPENSSL_cleanse(&inner_, sizeof inner_);
    OPENSSL_cleanse(&outer_, sizeof outer_);
    OPENSSL_cleanse(&ctx_, sizeof ctx_);
  }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  void Begin() { ctx_ = inner_; }
  void Update(std::string_view part) { SHA256_Update(&ctx_, part.data(), part.size()); }
  // One length-prefixed field: 8-byte big-endian length, then the bytes. The
  // prefix makes the encoding unambiguous whatever the fields contain.
  void Field(std::string_view part) {
    unsigned char len[8];
    uint64_t n = part.size();
    for (int i = 7; i >= 0; --i, n >>= 8) len[i] = static_cast<unsigned char>(n & 0xff);
    Update(std::string_view(reinterpret_cast<const char*>(len), 8));
    Update(part);
  }
  // The MAC of one whole message (Begin, Update, Final).
  Mac Of(std::string_view message) {
    Begin();
    Update(message);
    return Final();
  }
  // Ends the message; the next one starts with Begin().
  Mac Final() {
    unsigned char inner_digest[32];
    SHA256_Final(inner_digest, &ctx_);
    SHA256_CTX outer = outer_;
    SHA256_Update(&outer, inner_digest, sizeof inner_digest);
    Mac out{};
    SHA256_Final(out.data(), &outer);
    ctx_ = inner_;
    return out;
  }

 private:
  Hmac() = default;
  SHA256_CTX inner_;  // after the key ^ ipad block
  SHA256_CTX outer_;  // after the key ^ opad block
  SHA256_CTX ctx_;    // the message in progress
};
#pragma GCC diagnostic pop

std::string BigEndian64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[i] = static_cast<char>(v & 0xff);
  return s;
}

std::string_view MacView(const Mac& m) {
  return std::string_view(reinterpret_cast<const char*>(m.data()), m.size());
}

std::string Hex(std::string_view bytes) { return absl::BytesToHexString(ToAbsl(bytes)); }
std::string Hex(const Mac& m) { return Hex(MacView(m)); }

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<Mac> ParseMacHex(std::string_view hex) {
  if (hex.size() != 64 || !IsLowerHex(hex)) return std::nullopt;
  std::string raw = absl::HexStringToBytes(ToAbsl(hex));
  Mac m{};
  std::memcpy(m.data(), raw.data(), m.size());
  return m;
}

bool MacEqual(const Mac& a, const Mac& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Mac GenesisMac(Hmac& h) {
  h.Begin();
  h.Field(kGenesisDomain);
  return h.Final();
}

// Appends one length-prefixed field (see Hmac::Field) to `out`.
void PutField(std::string* out, std::string_view part) {
  char len[8];
  uint64_t n = part.size();
  for (int i = 7; i >= 0; --i, n >>= 8) len[i] = static_cast<char>(n & 0xff);
  out->append(len, 8);
  out->append(part.data(), part.size());
}

// The same bytes as Field() by Field(), but assembled in a reused per-thread
// buffer and MAC'd with one update: a record costs one HMAC init, update and
// final instead of fifteen EVP calls (the committer MACs every record).
Mac RecordMac(Hmac& h, uint64_t seq, std::string_view time, std::string_view sandbox,
              std::string_view event, std::string_view payload, const Mac& prev) {
  thread_local std::string msg;
  msg.clear();
  char be[8];
  uint64_t v = seq;
  for (int i = 7; i >= 0; --i, v >>= 8) be[i] = static_cast<char>(v & 0xff);
  PutField(&msg, kRecordDomain);
  PutField(&msg, std::string_view(be, 8));
  PutField(&msg, time);
  PutField(&msg, sandbox);
  PutField(&msg, event);
  PutField(&msg, payload);
  PutField(&msg, MacView(prev));
  return h.Of(msg);
}

Mac HeadMac(Hmac& h, uint64_t seq, const Mac& mac, std::string_view time) {
  h.Begin();
  h.Field(kHeadDomain);
  h.Field(BigEndian64(seq));
  h.Field(MacView(mac));
  h.Field(time);
  return h.Final();
}

// "2026-12-04T20:15:03.123456Z". The part up to the second is formatted once
// per second and cached per thread; the microseconds are appended.
std::string NowString() {
  thread_local int64_t cached_second = -1;
  thread_local std::string cached_prefix;
  const absl::Time now = absl::Now();
  const int64_t us = absl::ToUnixMicros(now);
  int64_t second = us / 1000000;
  int64_t micros = us % 1000000;
  if (micros < 0) {
    micros += 1000000;
    --second;
  }
  if (second != cached_second) {
    cached_prefix =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second), absl::UTCTimeZone());
    cached_second = second;
  }
  std::string out;
  out.reserve(cached_prefix.size() + 8);
  out = cached_prefix;
  char frac[8] = {'.', '0', '0', '0', '0', '0', '0', 'Z'};
  for (int i = 6; i >= 1; --i, micros /= 10) frac[i] = static_cast<char>('0' + micros % 10);
  out.append(frac, sizeof frac);
  return out;
}

// Printable ASCII without '"' and '\\': what JSON writes between quotes as is.
bool IsPlainJsonText(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

// Rejects deep nesting before nlohmann's recursive parser sees the text.
bool JsonDepthWithin(std::string_view s, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// True when `s` is already exactly what json::parse(s).dump() gives back,
// judged without building a DOM, for the common shape of payloads: objects
// with strictly ascending keys (std::map order, so no duplicates), arrays,
// plain strings (IsPlainJsonText), integers without leading zeros (and not
// -0), true, false, null, no whitespace. Anything else (escapes, non-ASCII,
// floats, long numbers) answers false and takes the full parse.
class CanonicalJsonChecker {
 public:
  explicit CanonicalJsonChecker(std::string_view s) : s_(s) {}
  bool Check() { return Peek() == '{' && Value(0) && pos_ == s_.size(); }

 private:
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool String(std::string_view* out) {
    if (Peek() != '"') return false;
    size_t end = s_.find('"', pos_ + 1);
    if (end == std::string_view::npos) return false;
    std::string_view body = s_.substr(pos_ + 1, end - pos_ - 1);
    if (!IsPlainJsonText(body)) return false;
    *out = body;
    pos_ = end + 1;
    return true;
  }
  bool Number() {
    size_t start = pos_;
    if (Peek() == '-') ++pos_;
    size_t digits = pos_;
    while (Peek() >= '0' && Peek() <= '9') ++pos_;
    size_t n = pos_ - digits;
    if (n == 0 || n > 18) return false;
    if (s_[digits] == '0' && (n > 1 || digits > start)) return false;  // 01, -0
    char c = Peek();
    return c != '.' && c != 'e' && c != 'E';
  }
  bool Literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }
  bool Value(int depth) {
    switch (Peek()) {
      case '{': {
        if (++depth > kMaxJsonDepth) return false;
        ++pos_;
        if (Peek() == '}') return ++pos_, true;
        std::string_view prev;
        for (bool first = true;; first = false) {
          std::string_view key;
          if (!String(&key) || (!first && !(prev < key)) || Peek() != ':') return false;
          prev = key;
          ++pos_;
          if (!Value(depth)) return false;
          if (Peek() == '}') return ++pos_, true;
          if (Peek() != ',') return false;
          ++pos_;
        }
      }
      case '[': {
        if (++depth > kMaxJsonDepth) return false;
        ++pos_;
        if (Peek() == ']') return ++pos_, true;
        for (;;) {
          if (!Value(depth)) return false;
          if (Peek() == ']') return ++pos_, true;
          if (Peek() != ',') return false;
          ++pos_;
        }
      }
      case '"': {
        std::string_view ignored;
        return String(&ignored);
      }
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number();
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

absl::StatusOr<std::string> CanonicalPayload(std::string_view payload_json) {
  if (CanonicalJsonChecker(payload_json).Check()) return std::string(payload_json);
  if (!JsonDepthWithin(payload_json, kMaxJsonDepth)) {
    return absl::InvalidArgumentError("audit payload nests deeper than 64 levels");
  }
  json j = json::parse(payload_json.begin(), payload_json.end(), nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError("audit payload is not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("audit payload must be a JSON object");
  return j.dump();
}

absl::Status ValidateEventType(std::string_view event) {
  if (event.empty() || event.size() > 64) {
    return absl::InvalidArgumentError("audit event type must have 1 to 64 characters");
  }
  for (char c : event) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return absl::InvalidArgumentError("audit event type may hold only [A-Za-z0-9_.:-]");
  }
  return absl::OkStatus();
}

absl::Status ValidateSandboxId(std::string_view id) {
  if (id.size() > 256) return absl::InvalidArgumentError("sandbox id longer than 256 bytes");
  if (!IsValidUtf8(id)) return absl::InvalidArgumentError("sandbox id is not valid UTF-8");
  return absl::OkStatus();
}

// Appends `s` as a JSON string literal, byte for byte what json::dump()
// wrote before (records already on disk are verified against this form).
// Invalid UTF-8 cannot reach here: the sandbox id and event type are
// validated on the way in, the time is ours, and parsed records passed
// nlohmann's UTF-8 check.
void AppendRecordString(std::string* out, std::string_view s) {
  if (!AppendJsonString(out, s, InvalidUtf8::kReject)) {
    std::fputs("kavach: audit record field is not valid UTF-8 (not validated?)\n", stderr);
    std::abort();
  }
}

// Appends one record line (with its '\n') to `out`, without temporaries:
// the committer builds a whole batch into one buffer.
void AppendLine(std::string* out, uint64_t seq, std::string_view time, std::string_view sandbox,
                std::string_view event, std::string_view payload, const Mac& mac) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  out->append("{\"seq\":");
  absl::StrAppend(out, seq);
  out->append(",\"time\":");
  AppendRecordString(out, time);
  out->append(",\"sandbox\":");
  AppendRecordString(out, sandbox);
  out->append(",\"event\":");
  AppendRecordString(out, event);
  out->append(",\"payload\":");
  out->append(payload.data(), payload.size());
  out->append(",\"mac\":\"");
  char hex[64];
  for (size_t i = 0; i < mac.size(); ++i) {
    hex[2 * i] = kHexDigits[mac[i] >> 4];
    hex[2 * i + 1] = kHexDigits[mac[i] & 0xf];
  }
  out->append(hex, sizeof hex);
  out->append("\"}\n");
}

std::string BuildLine(uint64_t seq, std::string_view time, std::string_view sandbox,
                      std::string_view event, std::string_view payload, const Mac& mac) {
  std::string line;
  AppendLine(&line, seq, time, sandbox, event, payload, mac);
  return line;
}

struct ParsedRecord {
  uint64_t seq = 0;
  std::string time, sandbox, event, payload;
  Mac mac{};
  json payload_json;
};

// The common case of ParseRecord without a JSON parser: a line exactly in
// the layout BuildLine writes, with plain ASCII strings (IsPlainJsonText).
// The payload is taken as the bytes between "payload": and ,"mac": (its
// MAC covers them; payload_json stays unparsed, see RotationTarget). False
// for anything else, which then takes the full parse.
bool ParseRecordFast(std::string_view line, ParsedRecord* r) {
  auto take = [&line](std::string_view lit) {
    if (line.substr(0, lit.size()) != lit) return false;
    line.remove_prefix(lit.size());
    return true;
  };
  auto plain_string = [&line](std::string* out) {
    size_t end = line.find('"');
    if (end == std::string_view::npos || !IsPlainJsonText(line.substr(0, end))) return false;
    out->assign(line.data(), end);
    line.remove_prefix(end + 1);
    return true;
  };
  if (!take("{\"seq\":")) return false;
  size_t digits = 0;
  uint64_t seq = 0;
  while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9') {
    if (digits == 19) return false;  // let the full parse judge huge numbers
    seq = seq * 10 + static_cast<uint64_t>(line[digits] - '0');
    ++digits;
  }
  if (digits == 0 || (line[0] == '0' && digits > 1)) return false;
  line.remove_prefix(digits);
  if (!take(",\"time\":\"") || !plain_string(&r->time) || !take(",\"sandbox\":\"") ||
      !plain_string(&r->sandbox) || !take(",\"event\":\"") || !plain_string(&r->event) ||
      !take(",\"payload\":")) {
    return false;
  }
  // ,"mac":"<64 hex>"} closes the line.
  constexpr std::string_view kMacKey = ",\"mac\":\"";
  if (line.size() < kMacKey.size() + 64 + 2 + 2) return false;
  std::string_view tail = line.substr(line.size() - (kMacKey.size() + 64 + 2));
  if (tail.substr(0, kMacKey.size()) != kMacKey || tail.substr(tail.size() - 2) != "\"}") {
    return false;
  }
  std::optional<Mac> mac = ParseMacHex(tail.substr(kMacKey.size(), 64));
  if (!mac) return false;
  std::string_view payload = line.substr(0, line.size() - tail.size());
  if (payload.size() < 2 || payload.front() != '{' || payload.back() != '}') return false;
  r->seq = seq;
  r->payload.assign(payload.data(), payload.size());
  r->mac = *mac;
  return true;
}

// Parses one line (without its '\n') and insists on the canonical form, so
// any edit to a line, even one a JSON parser would forgive, is caught.
absl::StatusOr<ParsedRecord> ParseRecord(std::string_view line) {
  if (ParsedRecord fast; ParseRecordFast(line, &fast)) return fast;
  if (!JsonDepthWithin(line, kMaxJsonDepth)) {
    return absl::DataLossError("malformed record: nesting too deep");
  }
  json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError("malformed record: not a JSON object");
  }
  if (j.size() != 6) return absl::DataLossError("malformed record: unexpected fields");
  auto seq = j.find("seq");
  auto time = j.find("time");
  auto sandbox = j.find("sandbox");
  auto event = j.find("event");
  auto payload = j.find("payload");
  auto mac = j.find("mac");
  if (seq == j.end() || !seq->is_number_unsigned() || time == j.end() || !time->is_string() ||
      sandbox == j.end() || !sandbox->is_string() || event == j.end() || !event->is_string() ||
      payload == j.end() || !payload->is_object() || mac == j.end() || !mac->is_string()) {
    return absl::DataLossError("malformed record: missing or mistyped field");
  }
  ParsedRecord r;
  r.seq = seq->get<uint64_t>();
  r.time = time->get<std::string>();
  r.sandbox = sandbox->get<std::string>();
  r.event = event->get<std::string>();
  r.payload = payload->dump();
  std::optional<Mac> m = ParseMacHex(mac->get<std::string>());
  if (!m) return absl::DataLossError("malformed record: mac is not 64 lowercase hex digits");
  r.mac = *m;
  std::string canonical = BuildLine(r.seq, r.time, r.sandbox, r.event, r.payload, r.mac);
  if (std::string_view(canonical).substr(0, canonical.size() - 1) != line) {
    return absl::DataLossError("record is not in canonical form (edited by hand?)");
  }
  r.payload_json = std::move(*payload);
  return r;
}

std::string RotationTarget(const ParsedRecord& r) {
  // Records from ParseRecordFast carry their payload unparsed.
  json parsed;
  const json* payload = &r.payload_json;
  if (payload->is_null()) {
    parsed = json::parse(r.payload, nullptr, false);
    payload = &parsed;
  }
  if (!payload->is_object()) return "";
  auto it = payload->find("new_key");
  if (it == payload->end() || !it->is_string()) return "";
  return it->get<std::string>();
}

struct HeadFile {
  uint64_t seq = 0;
  Mac mac{};
  std::string time, key_fp;
  Mac head_mac{};
};

std::string HeadFileContents(Hmac& h, const std::string& fp, uint64_t seq, const Mac& mac) {
  std::string time = NowString();
  Mac hm = HeadMac(h, seq, mac, time);
  json j = {{"seq", seq}, {"mac", Hex(mac)}, {"time", time}, {"key", fp}, {"head_mac", Hex(hm)}};
  return j.dump() + "\n";
}

// NotFound when there is no head; DataLoss when it is unreadable.
absl::StatusOr<HeadFile> ReadHeadFile(const std::string& head_path) {
  absl::StatusOr<std::string> text = ReadWholeFile(head_path, 1 << 16);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return text.status();
    return absl::DataLossError(
        absl::StrCat("head checkpoint ", head_path, " unreadable: ", text.status().message()));
  }
  json j = json::parse(*text, nullptr, false);
  HeadFile h;
  std::optional<Mac> mac, head_mac;
  if (!j.is_discarded() && j.is_object() && j.contains("seq") && j["seq"].is_number_unsigned() &&
      j.contains("mac") && j["mac"].is_string() && j.contains("time") && j["time"].is_string() &&
      j.contains("key") && j["key"].is_string() && j.contains("head_mac") &&
      j["head_mac"].is_string()) {
    h.seq = j["seq"].get<uint64_t>();
    h.time = j["time"].get<std::string>();
    h.key_fp = j["key"].get<std::string>();
    mac = ParseMacHex(j["mac"].get<std::string>());
    head_mac = ParseMacHex(j["head_mac"].get<std::string>());
  }
  if (!mac || !head_mac) {
    return absl::DataLossError(absl::StrCat("head checkpoint ", head_path, " is malformed"));
  }
  h.mac = *mac;
  h.head_mac = *head_mac;
  return h;
}

// flock(2) held for a scope.
class FileLock final {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        status_ = FileErrnoStatus(errno, "flock audit log");
        fd_ = -1;
        return;
      }
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  const absl::Status& status() const { return status_; }

 private:
  int fd_;
  absl::Status status_;
};

absl::Status PreadAll(int fd, uint64_t offset, size_t len, std::string* out) {
  out->resize(len);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, out->data() + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileErrnoStatus(errno, "read audit log");
    }
    if (n == 0) return absl::DataLossError("audit log shrank while reading");
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Sha256Of rather than EVP_Digest, for the reason given at Hmac: the key
// fingerprint is computed for every gated exec.
std::string Sha256Hex(std::string_view data) {
  unsigned char md[32];
  Sha256Of(data, md);
  return Hex(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

}  // namespace

std::string AuditKeyFingerprint(std::string_view key) {
  std::string input = absl::StrCat(ToAbsl(kFingerprintDomain), std::string(1, '\0'), ToAbsl(key));
  return Sha256Hex(input).substr(0, 16);
}

std::string AuditHeadPath(const std::string& log_path) { return log_path + ".head"; }

absl::StatusOr<std::string> ReadAuditKeyFile(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return FileErrnoStatus(errno, absl::StrCat("open audit key file ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FileErrnoStatus(errno, "fstat " + path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit key file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "audit key file %s has mode %04o: it must not be accessible by group or others "
        "(chmod 600 %s)",
        path, st.st_mode & 07777, path));
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return absl::PermissionDeniedError(absl::StrCat("audit key file ", path, " is owned by uid ",
                                                    st.st_uid, ", not by us or root"));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxKeyBytes + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit key file ", path, " is larger than ", kMaxKeyBytes, " bytes"));
  }
  absl::StatusOr<std::string> key = ReadWholeFile(path, kMaxKeyBytes + 1);
  if (!key.ok()) return key.status();
  if (!key->empty() && key->back() == '\n') key->pop_back();
  if (key->size() < kMinAuditKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit key in ", path, " is shorter than ", kMinAuditKeyBytes, " bytes"));
  }
  return key;
}

absl::StatusOr<std::string> LoadAuditKey(const AuditConfig& config) {
  if (config.key_path) return ReadAuditKeyFile(*config.key_path);
  const char* value = config.key_env.empty() ? nullptr : std::getenv(config.key_env.c_str());
  if (value == nullptr || *value == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat("audit log needs a key: set AuditConfig::key_path (a 0600 file) or $",
                     config.key_env.empty() ? "KAVACH_AUDIT_KEY" : config.key_env));
  }
  std::string key(value);
  if (key.size() < kMinAuditKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audit key in $", config.key_env, " is shorter than ", kMinAuditKeyBytes, " bytes"));
  }
  return key;
}

// ---------------------------------------------------------------------------
// AuditChain

// One Submit() call's wait: its thread sleeps on `state` (a futex word)
// until the committing thread marks its requests done, or hands it the lead.
// Only that thread is woken, once: no herd of waiters re-checking a shared
// condition after every commit.
struct AuditChain::Waiter {
  static constexpr uint32_t kWaiting = 0, kDone = 1, kLead = 2;
  std::atomic<uint32_t> state{kWaiting};

  uint32_t Wait() {
    for (;;) {
      uint32_t s = state.load(std::memory_order_acquire);
      if (s != kWaiting) return s;
      // Sleeps only while the word still reads kWaiting; EAGAIN and EINTR
      // just loop.
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state), FUTEX_WAIT_PRIVATE, kWaiting, nullptr,
              nullptr, 0);
    }
  }
  // The waiter may return (and its stack frame go away) as soon as the store
  // is visible; FUTEX_WAKE on an address nobody waits on any more is
  // harmless, and a stale wake only makes a later Wait() re-check its word.
  void Set(uint32_t s) {
    state.store(s, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
            0);
  }
};

struct AuditChain::Request {
  enum class Kind { kEvent, kRotate, kSync };
  Kind kind = Kind::kEvent;
  std::string time, sandbox, event, payload;
  std::string new_key;
  Waiter* waiter = nullptr;  // of the Submit() call that queued it
  Request* next = nullptr;   // the queue's link (pushed newest first)
  absl::Status status;
  uint64_t seq = 0;
};

struct AuditChain::Io {
  sys::UniqueFd fd;
  std::string path, head_path;
  uint64_t end_offset = 0;  // bytes of the log this writer has accounted for
  uint64_t last_seq = 0;
  Mac last_mac{};
  std::string key;
  std::string fp;
  std::unique_ptr<Hmac> hmac;
  bool durable = true;
  bool repair_torn_tail = false;
  bool head_dirty = false;
  // The head checkpoint, rewritten in place (see WriteHead).
  sys::UniqueFd head_fd;
  uint64_t head_size = 0;      // bytes in the head file as we know it
  bool head_unsynced = false;  // written since its last fdatasync
  absl::Time head_synced_at = absl::InfinitePast();

  absl::Status SetKey(std::string new_key) {
    absl::StatusOr<std::unique_ptr<Hmac>> h = Hmac::Create(new_key);
    if (!h.ok()) return h.status();
    hmac = std::move(*h);
    fp = AuditKeyFingerprint(new_key);
    key = std::move(new_key);
    return absl::OkStatus();
  }

  // Accounts for one complete record another writer appended.
  absl::Status Advance(std::string_view line, uint64_t offset) {
    absl::StatusOr<ParsedRecord> r = ParseRecord(line);
    if (!r.ok()) {
      return absl::DataLossError(
          absl::StrCat("audit log ", path, " at byte ", offset, ": ", r.status().message()));
    }
    if (r->seq != last_seq + 1) {
      return absl::DataLossError(absl::StrCat("audit log ", path, " at byte ", offset, ": seq ",
                                              r->seq, " where ", last_seq + 1, " was expected"));
    }
    Mac prev = last_seq == 0 ? GenesisMac(*hmac) : last_mac;
    Mac m = RecordMac(*hmac, r->seq, r->time, r->sandbox, r->event, r->payload, prev);
    if (!MacEqual(m, r->mac)) {
      return absl::DataLossError(absl::StrCat("audit log ", path, ": record seq ", r->seq,
                                              " does not verify under this writer's key "
                                              "(tampered, or written with another key)"));
    }
    last_seq = r->seq;
    last_mac = r->mac;
    if (r->event == kRotationEvent && RotationTarget(*r) != fp) {
      return absl::FailedPreconditionError(
          absl::StrCat("audit log ", path, " was rotated to key ", RotationTarget(*r),
                       " by another writer; this writer's key ", fp, " is retired"));
    }
    return absl::OkStatus();
  }

  // Under the file lock: reads what other writers appended since our last
  // commit. A torn tail is cut off (and reported in `torn`) or refused.
  absl::Status CatchUp(std::optional<std::string>* torn) {
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return FileErrnoStatus(errno, "fstat " + path);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size < end_offset) {
      return absl::DataLossError(absl::StrCat("audit log ", path, " shrank from ", end_offset,
                                              " to ", size, " bytes under this writer"));
    }
    std::string carry, chunk;
    uint64_t pos = end_offset;
    uint64_t line_start = end_offset;
    while (pos < size) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kReadChunk, size - pos));
      if (absl::Status s = PreadAll(fd.get(), pos, n, &chunk); !s.ok()) return s;
      pos += n;
      carry += chunk;
      size_t start = 0;
      for (size_t nl; (nl = carry.find('\n', start)) != std::string::npos; start = nl + 1) {
        if (absl::Status s = Advance(std::string_view(carry).substr(start, nl - start), line_start);
            !s.ok()) {
          return s;
        }
        line_start += nl - start + 1;
      }
      carry.erase(0, start);
    }
    if (!carry.empty()) {
      if (!repair_torn_tail) {
        return absl::DataLossError(
            absl::StrCat("audit log ", path, " ends in a torn line (", carry.size(),
                         " bytes at offset ", line_start,
                         " without a newline: a writer crashed mid-append); open it with "
                         "repair_torn_tail to cut them off (the cut is recorded in the chain)"));
      }
      if (::ftruncate(fd.get(), static_cast<off_t>(line_start)) != 0 || ::fsync(fd.get()) != 0) {
        return FileErrnoStatus(errno, "truncate torn tail of " + path);
      }
      *torn = json({{"dropped_bytes", carry.size()},
                    {"dropped_offset", line_start},
                    {"dropped_sha256", Sha256Hex(carry)}})
                  .dump();
    }
    end_offset = line_start;
    return absl::OkStatus();
  }

  // Rewrites the head checkpoint in place: one pwrite of a fixed-size line
  // (kHeadBytes, one disk sector) under the log's lock, after the log's own
  // fdatasync, so the head never gets ahead of the durable log. It is
  // fdatasync'ed itself when `sync_head`, else at most kHeadSyncInterval
  // later (the next commit after that, Flush() or the destructor): a crash
  // can only leave it a little behind, and the records after it verify as
  // "unanchored", never as a truncation. Verifiers read it under a shared
  // lock on the log, so they never see half of a rewrite.
  absl::Status WriteHead(bool sync_head) {
    if (head_fd) {
      // Deleted or replaced (renamed over) under us: write a fresh one.
      struct stat st;
      if (::fstat(head_fd.get(), &st) != 0 || st.st_nlink == 0) {
        head_fd.Reset();
        head_synced_at = absl::InfinitePast();
      }
    }
    if (!head_fd) {
      head_fd.Reset(::open(head_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!head_fd) return FileErrnoStatus(errno, "open " + head_path);
      struct stat st;
      if (::fstat(head_fd.get(), &st) != 0) return FileErrnoStatus(errno, "fstat " + head_path);
      if (!S_ISREG(st.st_mode)) {
        return absl::InvalidArgumentError(head_path + " is not a regular file");
      }
      // The umask may have cleared bits; and a head from before is ours to fix.
      if (::fchmod(head_fd.get(), 0600) != 0) {
        return FileErrnoStatus(errno, "fchmod " + head_path);
      }
      head_size = static_cast<uint64_t>(st.st_size);
      if (st.st_size == 0) sync_head = true;  // new: make the entry durable too
    }
    std::string line = HeadFileContents(*hmac, fp, last_seq, last_mac);
    if (line.size() < kHeadBytes) line.insert(line.size() - 1, kHeadBytes - line.size(), ' ');
    size_t done = 0;
    while (done < line.size()) {
      ssize_t n =
          ::pwrite(head_fd.get(), line.data() + done, line.size() - done, static_cast<off_t>(done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return FileErrnoStatus(errno, "write " + head_path);
      }
      done += static_cast<size_t>(n);
    }
    if (head_size != line.size()) {
      if (::ftruncate(head_fd.get(), static_cast<off_t>(line.size())) != 0) {
        return FileErrnoStatus(errno, "truncate " + head_path);
      }
      head_size = line.size();
    }
    head_dirty = false;
    head_unsynced = true;
    if (!sync_head && absl::Now() - head_synced_at < kHeadSyncInterval) return absl::OkStatus();
    return SyncHead();
  }

  absl::Status SyncHead() {
    if (!head_unsynced || !head_fd) return absl::OkStatus();
    if (::fdatasync(head_fd.get()) != 0) return FileErrnoStatus(errno, "fdatasync " + head_path);
    if (head_synced_at == absl::InfinitePast()) {
      if (absl::Status s = FsyncDirectory(DirName(head_path)); !s.ok()) return s;
    }
    head_unsynced = false;
    head_synced_at = absl::Now();
    return absl::OkStatus();
  }

  // Under the file lock: writes the batch as one write(2), syncs as asked;
  // `flush` also makes the head checkpoint durable now.
  absl::Status Write(const std::vector<Request*>& batch, bool sync, bool flush = false) {
    std::string buf;
    buf.reserve(batch.size() * 400);
    uint64_t seq = last_seq;
    Mac mac = last_mac;
    // Rotation changes the key mid-batch; remember the writer's state to roll
    // back if the write fails.
    std::string old_key = key;
    std::vector<std::pair<Request*, uint64_t>> assigned;
    for (Request* r : batch) {
      if (r->kind == Request::Kind::kSync) continue;
      ++seq;
      Mac prev = seq == 1 ? GenesisMac(*hmac) : mac;
      mac = RecordMac(*hmac, seq, r->time, r->sandbox, r->event, r->payload, prev);
      AppendLine(&buf, seq, r->time, r->sandbox, r->event, r->payload, mac);
      assigned.emplace_back(r, seq);
      if (r->kind == Request::Kind::kRotate) {
        if (absl::Status s = SetKey(r->new_key); !s.ok()) return s;
      }
    }
    if (!buf.empty()) {
      absl::Status s = WriteAllToFd(fd.get(), buf);
      if (!s.ok()) {
        // Cut off our partial line so the log stays whole.
        if (::ftruncate(fd.get(), static_cast<off_t>(end_offset)) != 0) {
          s = absl::DataLossError(absl::StrCat(s.message(),
                                               "; and could not cut the partial "
                                               "record off ",
                                               path));
        }
        if (key != old_key) (void)SetKey(old_key);
        return s;
      }
      end_offset += buf.size();
      last_seq = seq;
      last_mac = mac;
      head_dirty = true;
      for (auto& [r, s] : assigned) r->seq = s;
    }
    if (sync && (head_dirty || !buf.empty())) {
      if (::fdatasync(fd.get()) != 0) return FileErrnoStatus(errno, "fdatasync " + path);
      return WriteHead(flush);
    }
    if (flush) return SyncHead();
    return absl::OkStatus();
  }
};

AuditChain::AuditChain(std::string path, AuditChainOptions options, std::unique_ptr<Io> io)
    : path_(std::move(path)), options_(std::move(options)), io_(std::move(io)) {
  last_seq_ = io_->last_seq;
  last_mac_hex_ = Hex(io_->last_mac);
  key_fp_ = io_->fp;
}

AuditChain::~AuditChain() {
  // Buffered: fsyncs the records and writes the head. Durable: fsyncs the
  // head if its timer has not yet.
  (void)Flush();
}

absl::StatusOr<std::unique_ptr<AuditChain>> AuditChain::Open(const std::string& path,
                                                             std::string key,
                                                             AuditChainOptions options) {
  if (key.size() < kMinAuditKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit key is shorter than ", kMinAuditKeyBytes, " bytes"));
  }
  auto io = std::make_unique<Io>();
  io->path = path;
  io->head_path = AuditHeadPath(path);
  io->durable = options.durability == AuditDurability::kDurable;
  io->repair_torn_tail = options.repair_torn_tail;
  io->fd.Reset(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!io->fd) return FileErrnoStatus(errno, absl::StrCat("open audit log ", path));
  struct stat st;
  if (::fstat(io->fd.get(), &st) != 0) return FileErrnoStatus(errno, "fstat " + path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("audit log ", path, " is not a regular file"));
  }

  if (options.verify_on_open && st.st_size > 0) {
    std::vector<std::string> keys = options.previous_keys;
    keys.push_back(key);
    AuditVerifyOptions vo;
    vo.require_head = false;
    absl::StatusOr<AuditVerifyReport> report = VerifyAuditLog(path, keys, vo);
    if (!report.ok()) return report.status();
    if (!report->ok()) {
      return absl::DataLossError(
          absl::StrCat("audit log ", path, " does not verify at seq ", report->problem->seq,
                       " (line ", report->problem->line, "): ", report->problem->reason));
    }
  }

  std::string fp = AuditKeyFingerprint(key);
  if (absl::Status s = io->SetKey(std::move(key)); !s.ok()) return s;

  FileLock lock(io->fd.get());
  if (!lock.status().ok()) return lock.status();

  absl::StatusOr<HeadFile> head = ReadHeadFile(io->head_path);
  if (!head.ok() && !absl::IsNotFound(head.status())) return head.status();

  // Catch up from the start of the log, but without re-verifying every MAC:
  // find the last two records and check the key against the last one.
  if (::fstat(io->fd.get(), &st) != 0) return FileErrnoStatus(errno, "fstat " + path);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  std::optional<std::string> torn;
  if (size > 0) {
    // Read backwards until the tail holds two complete lines (or the file start).
    uint64_t want = std::min<uint64_t>(size, 64 << 10);
    std::string tail;
    uint64_t tail_start = 0;
    for (;;) {
      tail_start = size - want;
      if (absl::Status s = PreadAll(io->fd.get(), tail_start, want, &tail); !s.ok()) return s;
      size_t newlines = 0;
      for (char c : tail) newlines += c == '\n';
      if (tail_start == 0 || newlines >= 3) break;
      want = std::min<uint64_t>(size, want * 2);
    }
    // Torn tail: bytes after the last newline.
    size_t last_nl = tail.rfind('\n');
    size_t complete = last_nl == std::string::npos ? 0 : last_nl + 1;
    if (complete < tail.size()) {
      std::string dropped = tail.substr(complete);
      if (!options.repair_torn_tail) {
        return absl::DataLossError(
            absl::StrCat("audit log ", path, " ends in a torn line (", dropped.size(),
                         " bytes without a newline: a writer crashed mid-append); open it with "
                         "repair_torn_tail to cut them off (the cut is recorded in the chain)"));
      }
      if (::ftruncate(io->fd.get(), static_cast<off_t>(tail_start + complete)) != 0 ||
          ::fsync(io->fd.get()) != 0) {
        return FileErrnoStatus(errno, "truncate torn tail of " + path);
      }
      torn = json({{"dropped_bytes", dropped.size()},
                   {"dropped_offset", tail_start + complete},
                   {"dropped_sha256", Sha256Hex(dropped)}})
                 .dump();
      tail.resize(complete);
      size = tail_start + complete;
    }
    if (size > 0) {
      // The last and second-to-last complete lines.
      std::string_view t(tail);
      t.remove_suffix(1);  // final '\n'
      size_t p = t.rfind('\n');
      std::string_view last = p == std::string_view::npos ? t : t.substr(p + 1);
      std::optional<std::string_view> before;
      if (p != std::string_view::npos) {
        std::string_view rest = t.substr(0, p);
        size_t q = rest.rfind('\n');
        if (q != std::string_view::npos || tail_start == 0) {
          before = q == std::string_view::npos ? rest : rest.substr(q + 1);
        }
      }
      absl::StatusOr<ParsedRecord> rec = ParseRecord(last);
      if (!rec.ok()) {
        return absl::DataLossError(
            absl::StrCat("audit log ", path, ", last record: ", rec.status().message()));
      }
      Mac prev = GenesisMac(*io->hmac);
      if (rec->seq > 1) {
        if (!before) {
          return absl::DataLossError(
              absl::StrCat("audit log ", path, " has seq ", rec->seq, " as its only record"));
        }
        absl::StatusOr<ParsedRecord> b = ParseRecord(*before);
        if (!b.ok() || b->seq + 1 != rec->seq) {
          return absl::DataLossError(
              absl::StrCat("audit log ", path, ": the last two records are not consecutive"));
        }
        prev = b->mac;
      }
      Mac m =
          RecordMac(*io->hmac, rec->seq, rec->time, rec->sandbox, rec->event, rec->payload, prev);
      bool rotated_to_us = rec->event == kRotationEvent && RotationTarget(*rec) == io->fp;
      if (!MacEqual(m, rec->mac) && !rotated_to_us) {
        return absl::FailedPreconditionError(absl::StrCat(
            "this key (", io->fp, ") does not verify the last record (seq ", rec->seq,
            ") of audit log ", path, ": wrong key, a rotated chain, or a tampered tail"));
      }
      if (rec->event == kRotationEvent && !rotated_to_us) {
        return absl::FailedPreconditionError(
            absl::StrCat("audit log ", path, " was rotated to key ", RotationTarget(*rec), "; key ",
                         io->fp, " is retired"));
      }
      io->last_seq = rec->seq;
      io->last_mac = rec->mac;
    }
  }
  io->end_offset = size;
  if (head.ok() && head->seq > io->last_seq) {
    return absl::DataLossError(absl::StrCat("audit log ", path, " ends at seq ", io->last_seq,
                                            " but its head checkpoint records seq ", head->seq,
                                            ": records were cut off the end"));
  }

  // A new log starts with chain_init; a repaired one records the repair.
  std::vector<Request> initial;
  if (io->last_seq == 0) {
    Request r;
    r.time = NowString();
    r.event = "chain_init";
    r.payload = json({{"format", 1}, {"key", io->fp}}).dump();
    initial.push_back(std::move(r));
  }
  if (torn) {
    Request r;
    r.time = NowString();
    r.event = std::string(kTornRepairEvent);
    r.payload = *torn;
    initial.push_back(std::move(r));
  }
  if (!initial.empty()) {
    std::vector<Request*> ptrs;
    for (Request& r : initial) ptrs.push_back(&r);
    // Records that start or repair the chain are always made durable.
    bool durable = io->durable;
    io->durable = true;
    absl::Status s = io->Write(ptrs, /*sync=*/true, /*flush=*/true);
    io->durable = durable;
    if (!s.ok()) return s;
  }
  return std::unique_ptr<AuditChain>(new AuditChain(path, std::move(options), std::move(io)));
}

uint64_t AuditChain::last_seq() const {
  absl::MutexLock l(&mu_);
  return last_seq_;
}

std::string AuditChain::key_fingerprint() const {
  absl::MutexLock l(&mu_);
  return key_fp_;
}

absl::Status AuditChain::CommitBatch(const std::vector<Request*>& batch) {
  FileLock lock(io_->fd.get());
  if (!lock.status().ok()) return lock.status();
  std::optional<std::string> torn;
  if (absl::Status s = io_->CatchUp(&torn); !s.ok()) return s;
  bool sync = io_->durable;
  bool flush = false;
  for (const Request* r : batch) flush |= r->kind == Request::Kind::kSync;
  sync |= flush;
  if (torn) {
    Request repair;
    repair.time = NowString();
    repair.event = std::string(kTornRepairEvent);
    repair.payload = *torn;
    std::vector<Request*> with_repair = {&repair};
    with_repair.insert(with_repair.end(), batch.begin(), batch.end());
    return io_->Write(with_repair, /*sync=*/true, /*flush=*/true);
  }
  return io_->Write(batch, sync, flush);
}

// Group commit without a committer thread or a queue lock: callers push
// their requests onto a lock-free stack (one compare-exchange); the first to
// find no leader becomes it, takes the whole stack, commits it in arrival
// order (one write, one fdatasync), hands the lead straight to the thread of
// a request pushed meanwhile (so the next commit starts at once), and then
// wakes the threads of the batch it committed, each exactly once. A caller
// thus pays one compare-exchange and at most one sleep and wake.
absl::Status AuditChain::Submit(const std::vector<Request*>& requests) {
  if (requests.empty()) return absl::OkStatus();
  Waiter waiter;
  // Linked newest first, as the stack holds them; pushed in one exchange so
  // one Submit's requests stay together and in order.
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i]->waiter = &waiter;
    requests[i]->next = i == 0 ? nullptr : requests[i - 1];
  }
  Request* first = requests.front();
  Request* newest = requests.back();
  // seq_cst here and on leader_active_: a push must be seen either by its own
  // exchange below (no leader: lead) or by the leader's re-check after it
  // stands down (a Dekker-style handshake).
  first->next = pending_.load();
  while (!pending_.compare_exchange_weak(first->next, newest)) {
  }
  bool lead = !leader_active_.exchange(true);
  if (!lead && waiter.Wait() == Waiter::kLead) lead = true;
  // Whether a batch we committed held our requests. If a leader took them
  // just before standing down, we may lead without them and must then wait
  // for that leader's wake: it still touches our waiter.
  bool committed_ours = false;
  while (lead) {
    // The appenders the last commit woke are still re-queueing: a commit
    // taken now would carry a handful and make the rest wait a whole fsync
    // more. So yield the CPU to them for a moment (at most 200 us, a tenth of
    // a fast fsync) until half as many as last time are pending.
    if (io_->durable && last_batch_ > 2) {
      const absl::Time deadline = absl::Now() + absl::Microseconds(200);
      for (int i = 0; i < 64; ++i) {
        size_t n = 0;
        for (Request* r = pending_.load(); r != nullptr && n < last_batch_ / 2; r = r->next) ++n;
        if (n >= last_batch_ / 2 || absl::Now() >= deadline) break;
        sched_yield();
      }
    }
    // Our requests are pending unless the previous leader took them (see
    // committed_ours); only a leader takes requests.
    Request* taken = pending_.exchange(nullptr);
    std::vector<Request*> batch;
    for (Request* r = taken; r != nullptr; r = r->next) batch.push_back(r);
    std::reverse(batch.begin(), batch.end());
    last_batch_ = batch.size();
    // The waiters to wake, read now: once a request's status is published
    // (below) its Submit may return and free it.
    std::vector<Waiter*> wake;
    for (Request* r : batch) {
      if (r->waiter == &waiter) {
        committed_ours = true;
      } else if (wake.empty() || wake.back() != r->waiter) {
        wake.push_back(r->waiter);  // one Submit's requests are adjacent
      }
    }
    absl::Status s = CommitBatch(batch);
    for (Request* r : batch) r->status = s;
    {
      absl::MutexLock l(&mu_);
      if (last_seq_ != io_->last_seq) last_mac_hex_ = Hex(io_->last_mac);
      last_seq_ = io_->last_seq;
      key_fp_ = io_->fp;
    }
    // Hand the lead on to the thread of a pending request, or stand down.
    lead = false;
    if (Request* p = pending_.load(); p != nullptr) {
      p->waiter->Set(Waiter::kLead);
    } else {
      leader_active_.store(false);
      if (pending_.load() != nullptr && !leader_active_.exchange(true)) {
        if (Request* q = pending_.load(); q != nullptr) {
          q->waiter->Set(Waiter::kLead);
        } else {
          leader_active_.store(false);
        }
      }
    }
    for (Waiter* w : wake) w->Set(Waiter::kDone);
  }
  if (!committed_ours) {
    // Led without our requests (see above), or never led: wait for the
    // leader that committed them. Nobody hands us the lead now, since
    // only threads with pending requests get it.
    while (waiter.Wait() != Waiter::kDone) {
    }
  }
  for (const Request* r : requests) {
    if (!r->status.ok()) return r->status;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> AuditChain::AppendBatch(const std::vector<AuditEvent>& events) {
  std::vector<Request> requests(events.size());
  std::vector<Request*> ptrs;
  std::string now = NowString();
  for (size_t i = 0; i < events.size(); ++i) {
    if (absl::Status s = ValidateEventType(events[i].event_type); !s.ok()) return s;
    if (absl::Status s = ValidateSandboxId(events[i].sandbox_id); !s.ok()) return s;
    absl::StatusOr<std::string> payload = CanonicalPayload(events[i].payload_json);
    if (!payload.ok()) return payload.status();
    requests[i].time = now;
    requests[i].sandbox = events[i].sandbox_id;
    requests[i].event = events[i].event_type;
    requests[i].payload = std::move(*payload);
    ptrs.push_back(&requests[i]);
  }
  if (ptrs.empty()) return last_seq();
  if (absl::Status s = Submit(ptrs); !s.ok()) return s;
  return requests.back().seq;
}

absl::StatusOr<uint64_t> AuditChain::Append(std::string_view sandbox_id,
                                            std::string_view event_type,
                                            std::string_view payload_json) {
  if (absl::Status s = ValidateEventType(event_type); !s.ok()) return s;
  if (absl::Status s = ValidateSandboxId(sandbox_id); !s.ok()) return s;
  absl::StatusOr<std::string> payload = CanonicalPayload(payload_json);
  if (!payload.ok()) return payload.status();
  Request r;
  r.time = NowString();
  r.sandbox = std::string(sandbox_id);
  r.event = std::string(event_type);
  r.payload = std::move(*payload);
  if (absl::Status s = Submit({&r}); !s.ok()) return s;
  return r.seq;
}

absl::StatusOr<uint64_t> AuditChain::RotateKey(std::string new_key) {
  if (new_key.size() < kMinAuditKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("new audit key is shorter than ", kMinAuditKeyBytes, " bytes"));
  }
  Request r;
  r.kind = Request::Kind::kRotate;
  r.time = NowString();
  r.event = std::string(kRotationEvent);
  r.payload =
      json({{"new_key", AuditKeyFingerprint(new_key)}, {"old_key", key_fingerprint()}}).dump();
  r.new_key = std::move(new_key);
  // Rotation is always durable: a lost rotation record would orphan every
  // later record.
  Request sync;
  sync.kind = Request::Kind::kSync;
  if (absl::Status s = Submit({&r, &sync}); !s.ok()) return s;
  return r.seq;
}

absl::Status AuditChain::Flush() {
  Request r;
  r.kind = Request::Kind::kSync;
  return Submit({&r});
}

namespace {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;

std::string SignedHeadMessage(uint64_t seq, std::string_view mac_hex, std::string_view time) {
  std::string msg;
  auto field = [&msg](std::string_view f) {
    msg += BigEndian64(f.size());
    msg += f;
  };
  field(kSignedHeadFormat);
  field(BigEndian64(seq));
  field(mac_hex);
  field(time);
  return msg;
}

}  // namespace

absl::StatusOr<std::string> Ed25519PublicKey(std::string_view private_key) {
  if (private_key.size() != 32) {
    return absl::InvalidArgumentError("Ed25519 private key must be 32 raw bytes");
  }
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(private_key.data()), 32));
  if (!pkey) return absl::InvalidArgumentError("not an Ed25519 private key");
  std::string pub(32, '\0');
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), reinterpret_cast<unsigned char*>(pub.data()), &len) !=
          1 ||
      len != 32) {
    return absl::InternalError("OpenSSL: cannot derive the Ed25519 public key");
  }
  return pub;
}

absl::StatusOr<std::pair<std::string, std::string>> GenerateEd25519KeyPair() {
  std::string priv(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(priv.data()), 32) != 1) {
    return absl::InternalError("OpenSSL: RAND_bytes failed");
  }
  absl::StatusOr<std::string> pub = Ed25519PublicKey(priv);
  if (!pub.ok()) return pub.status();
  return std::make_pair(std::move(priv), std::move(*pub));
}

absl::StatusOr<std::string> AuditChain::ExportSignedHead(std::string_view ed25519_private_key) {
  if (absl::Status s = Flush(); !s.ok()) return s;
  absl::StatusOr<std::string> pub = Ed25519PublicKey(ed25519_private_key);
  if (!pub.ok()) return pub.status();
  uint64_t seq;
  std::string mac_hex;
  {
    // The pair the last commit published (io_ belongs to the leader).
    absl::MutexLock l(&mu_);
    seq = last_seq_;
    mac_hex = last_mac_hex_;
  }
  std::string time = NowString();
  std::string msg = SignedHeadMessage(seq, mac_hex, time);
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(ed25519_private_key.data()),
      32));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t sig_len = sig.size();
  if (!pkey || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) != 1) {
    return absl::InternalError("OpenSSL: Ed25519 signing failed");
  }
  sig.resize(sig_len);
  json j = {{"format", std::string(kSignedHeadFormat)},
            {"seq", seq},
            {"mac", mac_hex},
            {"time", time},
            {"public_key", Hex(*pub)},
            {"signature", Hex(sig)}};
  return j.dump();
}

absl::StatusOr<AuditHead> VerifySignedHead(std::string_view signed_head_json,
                                           std::string_view ed25519_public_key) {
  if (ed25519_public_key.size() != 32) {
    return absl::InvalidArgumentError("Ed25519 public key must be 32 raw bytes");
  }
  json j = json::parse(signed_head_json.begin(), signed_head_json.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kSignedHeadFormat ||
      !j.contains("seq") || !j["seq"].is_number_unsigned() || !j.contains("mac") ||
      !j["mac"].is_string() || !j.contains("time") || !j["time"].is_string() ||
      !j.contains("signature") || !j["signature"].is_string()) {
    return absl::InvalidArgumentError("not a kavach signed audit head");
  }
  AuditHead head;
  head.seq = j["seq"].get<uint64_t>();
  head.mac_hex = j["mac"].get<std::string>();
  head.time = j["time"].get<std::string>();
  std::string sig_hex = j["signature"].get<std::string>();
  if (!ParseMacHex(head.mac_hex) || sig_hex.size() != 128 || !IsLowerHex(sig_hex)) {
    return absl::InvalidArgumentError("signed audit head has a malformed mac or signature");
  }
  std::string sig = absl::HexStringToBytes(sig_hex);
  std::string msg = SignedHeadMessage(head.seq, head.mac_hex, head.time);
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(ed25519_public_key.data()),
      32));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return absl::InternalError("OpenSSL: Ed25519 verify init failed");
  }
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) != 1) {
    return absl::PermissionDeniedError("signed audit head: bad Ed25519 signature");
  }
  return head;
}

// ---------------------------------------------------------------------------
// Verification

absl::StatusOr<AuditVerifyReport> VerifyAuditLog(const std::string& path,
                                                 const std::vector<std::string>& keys,
                                                 const AuditVerifyOptions& options) {
  if (keys.empty()) return absl::InvalidArgumentError("VerifyAuditLog needs at least one key");
  struct Key {
    std::string fp;
    std::unique_ptr<Hmac> hmac;
  };
  std::vector<Key> key_list;
  for (const std::string& k : keys) {
    absl::StatusOr<std::unique_ptr<Hmac>> h = Hmac::Create(k);
    if (!h.ok()) return h.status();
    key_list.push_back({AuditKeyFingerprint(k), std::move(*h)});
  }
  auto find_key = [&](std::string_view fp) -> Key* {
    for (Key& k : key_list) {
      if (k.fp == fp) return &k;
    }
    return nullptr;
  };

  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return FileErrnoStatus(errno, absl::StrCat("open audit log ", path));

  AuditVerifyReport report;
  // Writers rewrite the head in place under an exclusive lock on the log;
  // a shared one keeps us from reading half of a rewrite.
  absl::StatusOr<HeadFile> head = absl::UnknownError("unread");
  {
    while (::flock(fd.get(), LOCK_SH) != 0) {
      if (errno != EINTR) return FileErrnoStatus(errno, "flock audit log " + path);
    }
    head = ReadHeadFile(AuditHeadPath(path));
    ::flock(fd.get(), LOCK_UN);
  }
  std::optional<AuditHead> signed_head;
  if (options.signed_head_json) {
    absl::StatusOr<AuditHead> sh =
        VerifySignedHead(*options.signed_head_json, options.ed25519_public_key);
    if (!sh.ok()) {
      report.problem = AuditProblem{0, 0, absl::StrCat("signed head: ", sh.status().message())};
      return report;
    }
    signed_head = *sh;
  }
  std::optional<Mac> mac_at_head, mac_at_signed;

  Key* current = nullptr;
  Mac prev{};
  uint64_t line_no = 0;
  std::string carry, chunk;
  chunk.resize(kReadChunk);
  auto fail = [&](uint64_t seq, std::string reason) {
    report.problem = AuditProblem{seq, line_no, std::move(reason)};
  };
  // Returns false once a problem is recorded.
  auto check_line = [&](std::string_view line) -> bool {
    ++line_no;
    uint64_t expected = report.last_seq + 1;
    absl::StatusOr<ParsedRecord> r = ParseRecord(line);
    if (!r.ok()) {
      fail(expected, std::string(r.status().message()));
      return false;
    }
    if (r->seq != expected) {
      fail(r->seq, absl::StrCat("seq ", r->seq, " where ", expected,
                                " was expected (a record was deleted, inserted or reordered)"));
      return false;
    }
    if (current == nullptr) {
      // The first record tells which key the chain starts with.
      for (Key& k : key_list) {
        Mac m = RecordMac(*k.hmac, r->seq, r->time, r->sandbox, r->event, r->payload,
                          GenesisMac(*k.hmac));
        if (MacEqual(m, r->mac)) {
          current = &k;
          break;
        }
      }
      if (current == nullptr) {
        fail(r->seq, absl::StrCat("MAC matches none of the ", key_list.size(),
                                  " key(s) given (wrong key, or the record was modified)"));
        return false;
      }
      report.key_fingerprints.push_back(current->fp);
    } else {
      Mac m = RecordMac(*current->hmac, r->seq, r->time, r->sandbox, r->event, r->payload, prev);
      if (!MacEqual(m, r->mac)) {
        fail(r->seq,
             "MAC mismatch (the record was modified, forged or moved, or the key is wrong)");
        return false;
      }
    }
    prev = r->mac;
    report.last_seq = r->seq;
    ++report.records;
    if (head.ok() && r->seq == head->seq) mac_at_head = r->mac;
    if (signed_head && r->seq == signed_head->seq) mac_at_signed = r->mac;
    if (r->event == kRotationEvent) {
      std::string target = RotationTarget(*r);
      Key* next = find_key(target);
      if (next == nullptr) {
        fail(r->seq, absl::StrCat("the chain rotates to key ", target,
                                  ", which was not given; pass every key the log has used"));
        return false;
      }
      current = next;
      report.key_fingerprints.push_back(target);
    }
    return true;
  };

  uint64_t offset = 0;
  bool stopped = false;
  for (;;) {
    ssize_t n = ::pread(fd.get(), chunk.data(), chunk.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileErrnoStatus(errno, "read audit log " + path);
    }
    if (n == 0) break;
    offset += static_cast<uint64_t>(n);
    carry.append(chunk.data(), static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = carry.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (!check_line(std::string_view(carry).substr(start, nl - start))) {
        stopped = true;
        break;
      }
    }
    if (stopped) break;
    carry.erase(0, start);
  }
  if (!stopped && !carry.empty()) {
    ++line_no;
    fail(report.last_seq + 1,
         absl::StrCat("torn last line: ", carry.size(),
                      " bytes without a newline (a writer crashed mid-append); never accepted"));
    stopped = true;
  }
  if (!stopped) report.last_mac_hex = Hex(prev);
  if (stopped) return report;

  // The head checkpoint: the log must reach it, with the same MAC there.
  if (!head.ok()) {
    if (!absl::IsNotFound(head.status())) {
      fail(report.last_seq, std::string(head.status().message()));
      return report;
    }
    if (options.require_head) {
      ++line_no;
      fail(report.last_seq, absl::StrCat("head checkpoint ", AuditHeadPath(path),
                                         " is missing, so a cut-off tail cannot be ruled out"));
      return report;
    }
  } else {
    report.head_present = true;
    report.head_seq = head->seq;
    Key* hk = find_key(head->key_fp);
    if (hk == nullptr) {
      fail(head->seq, absl::StrCat("head checkpoint is MAC'd with key ", head->key_fp,
                                   ", which was not given"));
      return report;
    }
    if (!MacEqual(HeadMac(*hk->hmac, head->seq, head->mac, head->time), head->head_mac)) {
      fail(head->seq, "head checkpoint MAC mismatch (the checkpoint was modified)");
      return report;
    }
    if (head->seq > report.last_seq) {
      ++line_no;
      fail(report.last_seq + 1, absl::StrCat("log truncated: it ends at seq ", report.last_seq,
                                             " but the head checkpoint records seq ", head->seq));
      return report;
    }
    if (!mac_at_head || !MacEqual(*mac_at_head, head->mac)) {
      fail(head->seq, absl::StrCat("record ", head->seq,
                                   " differs from the head checkpoint (the log was rewritten)"));
      return report;
    }
    report.unanchored_records = report.last_seq - head->seq;
  }
  if (signed_head) {
    if (signed_head->seq > report.last_seq) {
      fail(report.last_seq + 1,
           absl::StrCat("log truncated: it ends at seq ", report.last_seq,
                        " but the signed head records seq ", signed_head->seq));
      return report;
    }
    std::optional<Mac> want = ParseMacHex(signed_head->mac_hex);
    if (!mac_at_signed || !want || !MacEqual(*mac_at_signed, *want)) {
      fail(signed_head->seq, absl::StrCat("record ", signed_head->seq,
                                          " differs from the signed head (the log was rewritten)"));
      return report;
    }
  }
  return report;
}

}  // namespace kavach::internal
