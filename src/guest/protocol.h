// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The guest-agent protocol of the microVM backend: versioned, length-prefixed
// frames over a virtio-serial port (vsock is not available on every host).
// This file is plain C++ with no Abseil, because the guest agent links it
// statically into the initramfs.
//
//   std::string wire = guest::EncodeFrame(guest::FrameType::kExec, guest::EncodeExec(req));
//   guest::FrameReader reader(guest::kHostLimits);   // the host reads an untrusted guest
//   reader.Feed(bytes_from_guest);
//   guest::Frame f;
//   while (reader.Next(&f)) { ... }                   // reader.error() when it stops
//
// Frame: a 12-byte header, then `length` bytes of payload.
//   u32 magic 0x4741564B ("KVAG" little-endian), u8 version (1), u8 type,
//   u16 flags (0), u32 length.
// Payload fields are little-endian integers, strings and byte strings as a
// u32 length and the bytes, lists as a u32 count and the items. A payload must
// be consumed exactly: a short or an over-long payload is malformed.
//
// Host -> guest: kStart (once, before any exec: identity, clock, mounts),
// kExec, kKill, kReseed, kShutdown, kPing.
// Guest -> host: kHello (once, when the agent is up), kStdout, kStderr (data of
// the running exec, in order), kExit (how it ended, with its resource use),
// kReseedDone, kStartDone, kPong, kError (the agent refused a frame or failed).
// The agent mounts nothing until kStart: a VM that has not started can be
// saved as a template (QEMU refuses to migrate while a 9p export is
// attached) and each clone of it is started with its own shares.
// One exec runs at a time; every exec-bound frame carries its exec id.
#ifndef KAVACH_GUEST_PROTOCOL_H_
#define KAVACH_GUEST_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kavach::guest {

inline constexpr uint32_t kMagic = 0x4741564B;  // bytes "KVAG"
inline constexpr uint8_t kVersion = 3;          // 2: start/start-done; 3: start.network
inline constexpr size_t kHeaderSize = 12;

enum class FrameType : uint8_t {
  kHello = 1,
  kExec = 2,
  kStdout = 3,
  kStderr = 4,
  kExit = 5,
  kKill = 6,
  kReseed = 7,
  kReseedDone = 8,
  kShutdown = 9,
  kPing = 10,
  kPong = 11,
  kError = 12,
  kStart = 13,
  kStartDone = 14,
};
// "hello", "exec", ...; "unknown" otherwise.
const char* FrameTypeName(FrameType type);
bool IsKnownFrameType(uint8_t type);

// Caps a reader enforces. A frame or field beyond them is an error, decided
// from the header before any payload is buffered.
struct Limits {
  uint32_t max_payload;  // bytes of one frame's payload
  uint32_t max_string;   // one string field (argv item, env entry, path, message)
  uint32_t max_list;     // items of one list (argv, env)
};
// What the host accepts from a guest: output arrives in chunks of at most
// kMaxChunk, everything else is small.
inline constexpr uint32_t kMaxChunk = 64 * 1024;
inline constexpr Limits kHostLimits{kMaxChunk + 64, 4096, 64};
// What the agent accepts from the host: an exec carries stdin inline.
inline constexpr Limits kGuestLimits{64u << 20, 1u << 20, 1u << 16};

struct Frame {
  FrameType type = FrameType::kPing;
  std::string payload;
};

// Header plus payload. The caller keeps payloads within the peer's limits.
std::string EncodeFrame(FrameType type, std::string_view payload);

// Incremental frame parser over a byte stream. After the first error it
// stays failed: the stream cannot be resynchronised, the peer is broken or
// hostile.
class FrameReader {
 public:
  explicit FrameReader(Limits limits) : limits_(limits) {}
  void Feed(std::string_view bytes);
  // True with the next complete frame; false when more bytes are needed or
  // on error (then failed() and error() say why).
  bool Next(Frame* frame);
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Bytes received but not yet returned as frames.
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  Limits limits_;
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
};

// ---- payloads ----

struct Hello {
  uint32_t protocol = kVersion;
  std::string kernel_release;  // uname -r of the guest
  std::string agent;           // agent version
  uint32_t boot_ms = 0;        // guest uptime when the agent was ready
};

struct ExecRequest {
  uint64_t id = 0;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VALUE
  std::string cwd;
  uint32_t uid = 65534;
  uint32_t gid = 65534;
  uint64_t timeout_ms = 0;  // 0: none (the host still enforces its own)
  bool has_stdin = false;   // false: stdin is /dev/null
  std::string stdin_data;
  uint64_t max_open_files = 0;  // RLIMIT_NOFILE; 0: unchanged
  uint64_t max_file_size = 0;   // RLIMIT_FSIZE; 0: unchanged
  uint64_t max_processes = 0;   // RLIMIT_NPROC for the uid; 0: unchanged
  uint64_t max_memory = 0;      // RLIMIT_AS; 0: unchanged
  // Set PR_SET_NO_NEW_PRIVS before exec (implied by Landlock and seccomp).
  bool no_new_privs = false;
  // Landlock file-system rules applied before exec: the access rights the
  // ruleset handles (LANDLOCK_ACCESS_FS_* bits; 0 = no Landlock) and, per
  // path, the rights allowed beneath it. The agent drops bits its kernel's
  // ABI does not know.
  uint64_t landlock_handled = 0;
  std::vector<std::pair<uint64_t, std::string>> landlock_rules;
  // A compiled seccomp filter (struct sock_filter[], 8 bytes each), loaded
  // last before exec; empty: none.
  std::string seccomp_bpf;
  // Instead of running argv[0]: once confined exactly as a command would be,
  // try to connect to the agent's abstract unix socket (kAgentAbstractSocket)
  // and print "ABSTRACT=open" or "ABSTRACT=denied <errno name>" on stdout.
  bool probe_abstract_socket = false;
};
// The agent listens on this abstract socket (leading NUL) in the guest's
// initial network namespace; commands run in a namespace of their own.
inline constexpr char kAgentAbstractSocket[] = "kavach.agent.scope";
inline constexpr uint32_t kMaxSeccompBytes = 8 * 4096;

struct Output {
  uint64_t id = 0;
  std::string data;
};

struct ExitStatus {
  uint64_t id = 0;
  int32_t exit_code = -1;  // -1 when signalled
  int32_t signal = 0;
  bool timed_out = false;  // the agent's own timer killed it
  uint64_t cpu_us = 0;     // user + system of the command's tree
  uint64_t max_rss_kb = 0;
  uint64_t wall_us = 0;   // fork to exit frame
  uint64_t setup_us = 0;  // fork to the command's execve (confinement set-up)
  uint64_t reap_us = 0;   // the command's end to the exit frame
  // The guest kernel's OOM killer killed a process while the command ran
  // (/proc/vmstat oom_kill grew): the VM's memory is the policy's limit.
  bool oom_killed = false;
};

struct Kill {
  uint64_t id = 0;
};

struct Reseed {
  std::string seed;  // at most kMaxSeed bytes, mixed into the guest's pool
};
inline constexpr uint32_t kMaxSeed = 512;

struct ReseedDone {
  uint32_t credited_bits = 0;
};

// What makes a booted (or cloned) guest this sandbox's: its identity, the
// wall clock (a clone resumes with its template's), and its mounts in the
// agent's list syntax: "ro:TAG:/path", "rw:TAG:/path", "link:/bin:usr/bin",
// "tmp:/tmp", "roroot", comma-separated.
struct Start {
  std::string hostname;    // at most 64 bytes
  std::string machine_id;  // 32 hex digits, written to /etc/machine-id
  uint64_t realtime_ns = 0;
  std::string mounts;
  // The VM has a virtio-net NIC on QEMU's user-mode network (policy network
  // host): the agent moves it into the commands' network namespace and gives
  // it slirp's fixed addresses. Off: commands see only a loopback.
  bool network = false;
};

struct StartDone {
  std::string errors;  // empty when every mount and setting took
};

struct Error {
  uint64_t id = 0;  // 0 when not about an exec
  std::string message;
};

std::string EncodeHello(const Hello& m);
std::string EncodeExec(const ExecRequest& m);
std::string EncodeOutput(const Output& m);
std::string EncodeExit(const ExitStatus& m);
std::string EncodeKill(const Kill& m);
std::string EncodeReseed(const Reseed& m);
std::string EncodeReseedDone(const ReseedDone& m);
std::string EncodeError(const Error& m);
std::string EncodeStart(const Start& m);
std::string EncodeStartDone(const StartDone& m);

// Each returns an empty string on success, else what is wrong ("exec: argv
// count 70000 exceeds 65536", "exit: 3 trailing bytes").
std::string DecodeHello(std::string_view p, const Limits& l, Hello* out);
std::string DecodeExec(std::string_view p, const Limits& l, ExecRequest* out);
std::string DecodeOutput(std::string_view p, const Limits& l, Output* out);
std::string DecodeExit(std::string_view p, const Limits& l, ExitStatus* out);
std::string DecodeKill(std::string_view p, const Limits& l, Kill* out);
std::string DecodeReseed(std::string_view p, const Limits& l, Reseed* out);
std::string DecodeReseedDone(std::string_view p, const Limits& l, ReseedDone* out);
std::string DecodeError(std::string_view p, const Limits& l, Error* out);
std::string DecodeStart(std::string_view p, const Limits& l, Start* out);
std::string DecodeStartDone(std::string_view p, const Limits& l, StartDone* out);

// The agent channel's transport. The frames above are the same on both:
// QEMU gives the guest a virtio-serial port named kavach.agent; Firecracker
// has no virtio-serial, so its guests get `kavach.channel=vsock:<port>` on
// the kernel command line and the agent connects an AF_VSOCK stream to the
// host (CID 2) on that port, which Firecracker forwards to the host's unix
// socket `<vsock uds_path>_<port>`.
inline constexpr char kChannelParam[] = "kavach.channel=";
// The vsock port named by the last `kavach.channel=vsock:<port>` word of a
// kernel command line (1..4294967294); 0 when there is none or it is
// malformed (then the agent uses the virtio-serial port).
uint32_t VsockChannelPort(std::string_view cmdline);

}  // namespace kavach::guest

#endif  // KAVACH_GUEST_PROTOCOL_H_
