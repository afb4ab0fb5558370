// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The wire format between the host and a sandbox's init process.
//
// Host -> init, on the control socket (SOCK_SEQPACKET, one message each):
//   ExecHeader + payload "cwd\0arg0\0...argN\0env0\0...envM\0", with four
//   fds attached (SCM_RIGHTS): stdin, stdout, stderr, status.
//   ControlHeader{kKill, exec_id}, ControlHeader{kShutdown}.
// Init -> host, on the control socket: SetupReply (ready + probe, or failed);
//   with InitPlan::proxy_port set, READY carries one fd (SCM_RIGHTS): the
//   listening proxy socket of the sandbox's network namespace.
// Init -> host, on each exec's status pipe: StatusRecord{kStarted | kFailed},
//   then StatusRecord{kExited}.
//
// All records are fixed-size PODs so init can read and write them without
// allocating. The host validates every field it reads (init runs inside the
// sandbox; a compromised init must not crash the host).
#ifndef KAVACH_BACKEND_PROCESS_PROTOCOL_H_
#define KAVACH_BACKEND_PROCESS_PROTOCOL_H_

#include <cstdint>

#include "backend/process/init_plan.h"

namespace kavach::internal {

inline constexpr uint32_t kProtocolMagic = 0x4b564831;  // "KVH1"
// Largest exec request (header + argv + env). Bounded by what a
// SOCK_SEQPACKET socket can carry in one message for an unprivileged user
// (net.core.wmem_max, 208 KiB by default).
inline constexpr uint32_t kMaxExecMessage = 192 * 1024;
inline constexpr uint32_t kMaxExecStrings = 8192;
inline constexpr int kMaxConcurrentExecs = 256;

// The host's go (one byte, after the id maps): kGoWithTemplate when the
// first fd it carries (SCM_RIGHTS) is the root template's clone
// (root_template.h); the rest are cgroup v1 `tasks` files.
inline constexpr char kGo = 'g';
inline constexpr char kGoWithTemplate = 't';
inline constexpr int kMaxGoFds = 1 + kMaxCgroupHierarchies;

enum class MessageType : uint32_t {
  kExec = 1,
  kKill = 2,
  kShutdown = 3,
  kReady = 10,
  kSetupFailed = 11,
  kStarted = 20,
  kFailed = 21,
  kExited = 22,
};

struct ControlHeader {
  uint32_t magic = kProtocolMagic;
  MessageType type = MessageType::kShutdown;
  uint64_t exec_id = 0;
};

// ExecHeader::flags: no kStarted record for this exec, only kFailed or
// kExited. A plain Exec needs neither the command's pid nor the moment it
// started, and reading the record cost the host one more wake-up per exec
// while the command was starting on the other CPU.
constexpr uint32_t kExecNoStartRecord = 1;

struct ExecHeader {
  uint32_t magic = kProtocolMagic;
  MessageType type = MessageType::kExec;
  uint64_t exec_id = 0;
  uint32_t argc = 0;
  uint32_t envc = 0;
  uint32_t payload_len = 0;
  uint32_t flags = 0;  // kExec* bits
};

// Init's set-up phases after the host's "go", timed by init itself and
// reported in READY, so that the host's setup breakdown can split its single
// wait for init into what init spent it on.
enum class InitPhase : uint32_t {
  kRoot = 0,    // namespace helper started, sources opened, root tree built
  kPivot,       // pivot_root and the old root detached
  kNamespaces,  // helper's namespaces joined, hostname, loopback
  kLandlock,    // ruleset built and enforced
  kSeccomp,     // bounding set dropped, namespace report, init's filter
  kProbe,       // probe child: what the command will get, verified
  kCount,
};
inline constexpr int kInitPhaseCount = static_cast<int>(InitPhase::kCount);
const char* InitPhaseName(InitPhase phase);

struct SetupReply {
  uint32_t magic = kProtocolMagic;
  MessageType type = MessageType::kReady;
  InitStep step = InitStep::kNone;  // on failure
  int32_t error = 0;                // errno on failure
  ProbeReport probe;
  // Microseconds init spent in each InitPhase (READY only; untrusted: the
  // host clamps them to its own measurement).
  uint32_t phase_us[kInitPhaseCount] = {};
  // CLOCK_MONOTONIC (ns) when init read the host's "go" and when it sent
  // READY: the host's side of the two hand-overs (wake-ups) is timed with
  // them.
  int64_t go_read_ns = 0;
  int64_t ready_sent_ns = 0;
  char detail[256] = {};  // NUL-terminated, e.g. the path that failed
};

struct StatusRecord {
  uint32_t magic = kProtocolMagic;
  MessageType type = MessageType::kExited;
  int32_t pid = 0;                  // sandbox-namespace pid (kStarted)
  InitStep step = InitStep::kNone;  // kFailed
  int32_t error = 0;                // errno (kFailed)
  int32_t wait_status = 0;          // kExited
  int64_t user_us = 0;
  int64_t system_us = 0;
  int64_t max_rss_kb = 0;
};

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_PROTOCOL_H_
