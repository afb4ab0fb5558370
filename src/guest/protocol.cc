// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "guest/protocol.h"

namespace kavach::guest {
namespace {

void PutU8(std::string* s, uint8_t v) { s->push_back(static_cast<char>(v)); }
void PutU16(std::string* s, uint16_t v) {
  for (int i = 0; i < 2; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutStr(std::string* s, std::string_view v) {
  PutU32(s, static_cast<uint32_t>(v.size()));
  s->append(v.data(), v.size());
}
void PutList(std::string* s, const std::vector<std::string>& v) {
  PutU32(s, static_cast<uint32_t>(v.size()));
  for (const std::string& e : v) PutStr(s, e);
}

uint32_t LoadU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

// Bounds-checked reader over one payload. The first failure sticks and names
// the field.
class PayloadReader {
 public:
  PayloadReader(std::string_view p, const Limits& l, const char* what)
      : p_(p), l_(l), what_(what) {}

  uint8_t U8(const char* field) {
    if (!Need(1, field)) return 0;
    return static_cast<uint8_t>(p_[pos_++]);
  }
  uint32_t U32(const char* field) {
    if (!Need(4, field)) return 0;
    uint32_t v = LoadU32(p_.data() + pos_);
    pos_ += 4;
    return v;
  }
  uint64_t U64(const char* field) {
    if (!Need(8, field)) return 0;
    uint64_t lo = LoadU32(p_.data() + pos_);
    uint64_t hi = LoadU32(p_.data() + pos_ + 4);
    pos_ += 8;
    return lo | (hi << 32);
  }
  bool Bool(const char* field) {
    uint8_t v = U8(field);
    if (v > 1) Fail(std::string(field) + ": boolean " + std::to_string(v) + " is not 0 or 1");
    return v == 1;
  }
  // A string capped at `cap` bytes (default: the limits' max_string).
  std::string Str(const char* field, uint32_t cap = 0) {
    if (cap == 0) cap = l_.max_string;
    uint32_t n = U32(field);
    if (!error_.empty()) return {};
    if (n > cap) {
      Fail(std::string(field) + ": length " + std::to_string(n) + " exceeds " +
           std::to_string(cap));
      return {};
    }
    if (!Need(n, field)) return {};
    std::string v(p_.substr(pos_, n));
    pos_ += n;
    return v;
  }
  std::vector<std::string> List(const char* field) {
    uint32_t n = U32(field);
    std::vector<std::string> v;
    if (!error_.empty()) return v;
    if (n > l_.max_list) {
      Fail(std::string(field) + ": count " + std::to_string(n) + " exceeds " +
           std::to_string(l_.max_list));
      return v;
    }
    // Each item needs at least its 4-byte length: a count the payload cannot
    // hold is malformed, and checking it first keeps reserve() honest.
    if (static_cast<uint64_t>(n) * 4 > p_.size() - pos_) {
      Fail(std::string(field) + ": count " + std::to_string(n) + " does not fit the payload");
      return v;
    }
    v.reserve(n);
    for (uint32_t i = 0; i < n && error_.empty(); ++i) v.push_back(Str(field));
    return v;
  }
  // Empty when the payload was read exactly and without error.
  std::string Finish() {
    if (error_.empty() && pos_ != p_.size()) {
      Fail(std::to_string(p_.size() - pos_) + " trailing bytes");
    }
    return error_;
  }
  void Fail(const std::string& why) {
    if (error_.empty()) error_ = std::string(what_) + ": " + why;
  }

 private:
  bool Need(size_t n, const char* field) {
    if (!error_.empty()) return false;
    if (p_.size() - pos_ < n) {
      Fail(std::string(field) + ": truncated (need " + std::to_string(n) + " bytes, " +
           std::to_string(p_.size() - pos_) + " left)");
      return false;
    }
    return true;
  }

  std::string_view p_;
  const Limits& l_;
  const char* what_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

const char* FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "hello";
    case FrameType::kExec:
      return "exec";
    case FrameType::kStdout:
      return "stdout";
    case FrameType::kStderr:
      return "stderr";
    case FrameType::kExit:
      return "exit";
    case FrameType::kKill:
      return "kill";
    case FrameType::kReseed:
      return "reseed";
    case FrameType::kReseedDone:
      return "reseed-done";
    case FrameType::kShutdown:
      return "shutdown";
    case FrameType::kPing:
      return "ping";
    case FrameType::kPong:
      return "pong";
    case FrameType::kError:
      return "error";
    case FrameType::kStart:
      return "start";
    case FrameType::kStartDone:
      return "start-done";
  }
  return "unknown";
}

bool IsKnownFrameType(uint8_t type) {
  return type >= static_cast<uint8_t>(FrameType::kHello) &&
         type <= static_cast<uint8_t>(FrameType::kStartDone);
}

std::string EncodeFrame(FrameType type, std::string_view payload) {
  std::string s;
  s.reserve(kHeaderSize + payload.size());
  PutU32(&s, kMagic);
  PutU8(&s, kVersion);
  PutU8(&s, static_cast<uint8_t>(type));
  PutU16(&s, 0);
  PutU32(&s, static_cast<uint32_t>(payload.size()));
  s.append(payload.data(), payload.size());
  return s;
}

void FrameReader::Feed(std::string_view bytes) {
  if (failed()) return;
  // Compact before growing so a long stream does not keep consumed bytes.
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 16) && pos_ > buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes.data(), bytes.size());
}

bool FrameReader::Next(Frame* frame) {
  if (failed()) return false;
  size_t avail = buf_.size() - pos_;
  if (avail < kHeaderSize) {
    // Check what has arrived of the header already, so garbage is reported
    // as soon as it is seen rather than when 12 bytes have come.
    static constexpr char magic[4] = {'K', 'V', 'A', 'G'};
    for (size_t i = 0; i < avail && i < 4; ++i) {
      if (buf_[pos_ + i] != magic[i]) {
        error_ = "bad frame magic (not a kavach agent stream)";
        return false;
      }
    }
    return false;
  }
  const char* h = buf_.data() + pos_;
  if (LoadU32(h) != kMagic) {
    error_ = "bad frame magic (not a kavach agent stream)";
    return false;
  }
  uint8_t version = static_cast<uint8_t>(h[4]);
  uint8_t type = static_cast<uint8_t>(h[5]);
  uint16_t flags =
      static_cast<uint16_t>(static_cast<uint8_t>(h[6]) | (static_cast<uint8_t>(h[7]) << 8));
  uint32_t length = LoadU32(h + 8);
  if (version != kVersion) {
    error_ = "unsupported protocol version " + std::to_string(version) + " (expected " +
             std::to_string(kVersion) + ")";
    return false;
  }
  if (!IsKnownFrameType(type)) {
    error_ = "unknown frame type " + std::to_string(type);
    return false;
  }
  if (flags != 0) {
    error_ = "frame flags " + std::to_string(flags) + " set (must be 0)";
    return false;
  }
  if (length > limits_.max_payload) {
    error_ = std::string(FrameTypeName(static_cast<FrameType>(type))) + " frame of " +
             std::to_string(length) + " bytes exceeds the limit of " +
             std::to_string(limits_.max_payload);
    return false;
  }
  if (avail - kHeaderSize < length) return false;
  frame->type = static_cast<FrameType>(type);
  frame->payload.assign(buf_, pos_ + kHeaderSize, length);
  pos_ += kHeaderSize + length;
  return true;
}

std::string EncodeHello(const Hello& m) {
  std::string s;
  PutU32(&s, m.protocol);
  PutStr(&s, m.kernel_release);
  PutStr(&s, m.agent);
  PutU32(&s, m.boot_ms);
  return s;
}

std::string EncodeExec(const ExecRequest& m) {
  std::string s;
  PutU64(&s, m.id);
  PutList(&s, m.argv);
  PutList(&s, m.env);
  PutStr(&s, m.cwd);
  PutU32(&s, m.uid);
  PutU32(&s, m.gid);
  PutU64(&s, m.timeout_ms);
  PutU8(&s, m.has_stdin ? 1 : 0);
  PutStr(&s, m.stdin_data);
  PutU64(&s, m.max_open_files);
  PutU64(&s, m.max_file_size);
  PutU64(&s, m.max_processes);
  PutU64(&s, m.max_memory);
  PutU8(&s, m.no_new_privs ? 1 : 0);
  PutU64(&s, m.landlock_handled);
  PutU32(&s, static_cast<uint32_t>(m.landlock_rules.size()));
  for (const auto& [access, path] : m.landlock_rules) {
    PutU64(&s, access);
    PutStr(&s, path);
  }
  PutStr(&s, m.seccomp_bpf);
  PutU8(&s, m.probe_abstract_socket ? 1 : 0);
  return s;
}

std::string EncodeOutput(const Output& m) {
  std::string s;
  PutU64(&s, m.id);
  PutStr(&s, m.data);
  return s;
}

std::string EncodeExit(const ExitStatus& m) {
  std::string s;
  PutU64(&s, m.id);
  PutU32(&s, static_cast<uint32_t>(m.exit_code));
  PutU32(&s, static_cast<uint32_t>(m.signal));
  PutU8(&s, m.timed_out ? 1 : 0);
  PutU64(&s, m.cpu_us);
  PutU64(&s, m.max_rss_kb);
  PutU64(&s, m.wall_us);
  PutU64(&s, m.setup_us);
  PutU64(&s, m.reap_us);
  PutU8(&s, m.oom_killed ? 1 : 0);
  return s;
}

std::string EncodeKill(const Kill& m) {
  std::string s;
  PutU64(&s, m.id);
  return s;
}

std::string EncodeReseed(const Reseed& m) {
  std::string s;
  PutStr(&s, m.seed);
  return s;
}

std::string EncodeReseedDone(const ReseedDone& m) {
  std::string s;
  PutU32(&s, m.credited_bits);
  return s;
}

std::string EncodeError(const Error& m) {
  std::string s;
  PutU64(&s, m.id);
  PutStr(&s, m.message);
  return s;
}

std::string DecodeHello(std::string_view p, const Limits& l, Hello* out) {
  PayloadReader r(p, l, "hello");
  out->protocol = r.U32("protocol");
  out->kernel_release = r.Str("kernel_release", 256);
  out->agent = r.Str("agent", 256);
  out->boot_ms = r.U32("boot_ms");
  std::string err = r.Finish();
  if (err.empty() && out->protocol != kVersion) {
    err = "hello: agent speaks protocol " + std::to_string(out->protocol) + ", host speaks " +
          std::to_string(kVersion);
  }
  return err;
}

std::string DecodeExec(std::string_view p, const Limits& l, ExecRequest* out) {
  PayloadReader r(p, l, "exec");
  out->id = r.U64("id");
  out->argv = r.List("argv");
  out->env = r.List("env");
  out->cwd = r.Str("cwd");
  out->uid = r.U32("uid");
  out->gid = r.U32("gid");
  out->timeout_ms = r.U64("timeout_ms");
  out->has_stdin = r.Bool("has_stdin");
  out->stdin_data = r.Str("stdin", l.max_payload);
  out->max_open_files = r.U64("max_open_files");
  out->max_file_size = r.U64("max_file_size");
  out->max_processes = r.U64("max_processes");
  out->max_memory = r.U64("max_memory");
  out->no_new_privs = r.Bool("no_new_privs");
  out->landlock_handled = r.U64("landlock_handled");
  uint32_t rules = r.U32("landlock_rules");
  if (rules > 256) {
    r.Fail("landlock_rules: count " + std::to_string(rules) + " exceeds 256");
    rules = 0;
  }
  out->landlock_rules.clear();
  for (uint32_t i = 0; i < rules; ++i) {
    uint64_t access = r.U64("landlock_rules.access");
    std::string path = r.Str("landlock_rules.path");
    if (path.empty() || path[0] != '/' || path.find('\0') != std::string::npos) {
      r.Fail("landlock_rules.path: not an absolute path");
    }
    if ((access & ~out->landlock_handled) != 0) {
      r.Fail("landlock_rules.access: rights the ruleset does not handle");
    }
    out->landlock_rules.emplace_back(access, std::move(path));
  }
  out->seccomp_bpf = r.Str("seccomp_bpf", kMaxSeccompBytes);
  if (out->seccomp_bpf.size() % 8 != 0) r.Fail("seccomp_bpf: not a whole number of instructions");
  out->probe_abstract_socket = r.Bool("probe_abstract_socket");
  if (out->argv.empty()) r.Fail("argv: empty");
  for (const std::string& a : out->argv) {
    if (a.find('\0') != std::string::npos) r.Fail("argv: NUL byte in an argument");
  }
  for (const std::string& e : out->env) {
    if (e.find('\0') != std::string::npos || e.find('=') == std::string::npos || e.front() == '=') {
      r.Fail("env: entry is not KEY=VALUE");
    }
  }
  if (out->cwd.find('\0') != std::string::npos) r.Fail("cwd: NUL byte");
  return r.Finish();
}

std::string DecodeOutput(std::string_view p, const Limits& l, Output* out) {
  PayloadReader r(p, l, "output");
  out->id = r.U64("id");
  out->data = r.Str("data", kMaxChunk);
  return r.Finish();
}

std::string DecodeExit(std::string_view p, const Limits& l, ExitStatus* out) {
  PayloadReader r(p, l, "exit");
  out->id = r.U64("id");
  out->exit_code = static_cast<int32_t>(r.U32("exit_code"));
  out->signal = static_cast<int32_t>(r.U32("signal"));
  out->timed_out = r.Bool("timed_out");
  out->cpu_us = r.U64("cpu_us");
  out->max_rss_kb = r.U64("max_rss_kb");
  out->wall_us = r.U64("wall_us");
  out->setup_us = r.U64("setup_us");
  out->reap_us = r.U64("reap_us");
  out->oom_killed = r.Bool("oom_killed");
  if (out->exit_code < -1 || out->exit_code > 255) {
    r.Fail("exit_code " + std::to_string(out->exit_code) + " out of range");
  }
  if (out->signal < 0 || out->signal > 64) {
    r.Fail("signal " + std::to_string(out->signal) + " out of range");
  }
  if ((out->signal == 0) == (out->exit_code == -1)) {
    r.Fail("exactly one of exit_code and signal must be set");
  }
  return r.Finish();
}

std::string DecodeKill(std::string_view p, const Limits& l, Kill* out) {
  PayloadReader r(p, l, "kill");
  out->id = r.U64("id");
  return r.Finish();
}

std::string DecodeReseed(std::string_view p, const Limits& l, Reseed* out) {
  PayloadReader r(p, l, "reseed");
  out->seed = r.Str("seed", kMaxSeed);
  return r.Finish();
}

std::string DecodeReseedDone(std::string_view p, const Limits& l, ReseedDone* out) {
  PayloadReader r(p, l, "reseed-done");
  out->credited_bits = r.U32("credited_bits");
  return r.Finish();
}

std::string DecodeError(std::string_view p, const Limits& l, Error* out) {
  PayloadReader r(p, l, "error");
  out->id = r.U64("id");
  out->message = r.Str("message", 1024);
  return r.Finish();
}

std::string EncodeStart(const Start& m) {
  std::string s;
  PutStr(&s, m.hostname);
  PutStr(&s, m.machine_id);
  PutU64(&s, m.realtime_ns);
  PutStr(&s, m.mounts);
  PutU8(&s, m.network ? 1 : 0);
  return s;
}

std::string EncodeStartDone(const StartDone& m) {
  std::string s;
  PutStr(&s, m.errors);
  return s;
}

std::string DecodeStart(std::string_view p, const Limits& l, Start* out) {
  PayloadReader r(p, l, "start");
  out->hostname = r.Str("hostname", 64);
  out->machine_id = r.Str("machine_id", 32);
  out->realtime_ns = r.U64("realtime_ns");
  out->mounts = r.Str("mounts");
  out->network = r.Bool("network");
  return r.Finish();
}

std::string DecodeStartDone(std::string_view p, const Limits& l, StartDone* out) {
  PayloadReader r(p, l, "start-done");
  out->errors = r.Str("errors");
  return r.Finish();
}

uint32_t VsockChannelPort(std::string_view cmdline) {
  constexpr std::string_view kParam = kChannelParam;
  constexpr std::string_view kVsock = "vsock:";
  uint32_t port = 0;
  size_t i = 0;
  while (i < cmdline.size()) {
    while (i < cmdline.size() && (cmdline[i] == ' ' || cmdline[i] == '\t' || cmdline[i] == '\n')) {
      ++i;
    }
    size_t end = i;
    while (end < cmdline.size() && cmdline[end] != ' ' && cmdline[end] != '\t' &&
           cmdline[end] != '\n') {
      ++end;
    }
    std::string_view word = cmdline.substr(i, end - i);
    i = end;
    if (word.substr(0, kParam.size()) != kParam) continue;
    // The last kavach.channel= word decides, as the kernel's own parameters.
    port = 0;
    std::string_view value = word.substr(kParam.size());
    if (value.substr(0, kVsock.size()) != kVsock) continue;
    std::string_view digits = value.substr(kVsock.size());
    if (digits.empty() || digits.size() > 10) continue;
    uint64_t v = 0;
    bool ok = true;
    for (char c : digits) {
      if (c < '0' || c > '9') {
        ok = false;
        break;
      }
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    // 0xFFFFFFFF is VMADDR_PORT_ANY, not a port one can connect to.
    if (ok && v >= 1 && v < 0xFFFFFFFFull) port = static_cast<uint32_t>(v);
  }
  return port;
}

}  // namespace kavach::guest
