// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// SandboxPolicy: what a sandbox may do. A plain value type with three presets.
//
//   kavach::SandboxPolicy policy = kavach::SandboxPolicy::Strict();
//   policy.filesystem.read_only.push_back("/opt/data");
//   policy.limits.memory_bytes = 256 << 20;
//   absl::Status ok = policy.Validate();
//
// Policies load from and save to JSON and TOML (see policy_io in policy/).
// Unknown keys and bad values are InvalidArgument errors naming the key.
//
// Fail-closed rule: every control a policy asks for must be applied, or
// sandbox creation fails with an error naming the control. A control may be
// listed in `optional_controls` to allow it to be skipped when the host cannot
// apply it; a skipped control earns no score.
#ifndef KAVACH_POLICY_H_
#define KAVACH_POLICY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kavach {

enum class SeccompProfile {
  kNone,    // No seccomp filter.
  kBasic,   // Deny-list of every escape-relevant syscall family.
  kStrict,  // Allow-list that still runs /bin/sh, coreutils, python3.
};
std::string_view SeccompProfileName(SeccompProfile profile);
absl::StatusOr<SeccompProfile> ParseSeccompProfile(std::string_view name);

enum class NetworkMode {
  kNone,   // A fresh network namespace holding only loopback.
  kProxy,  // As kNone, plus kavach's egress proxy on 127.0.0.1 (policy.egress).
  kHost,   // The host's network namespace.
};
std::string_view NetworkModeName(NetworkMode mode);
absl::StatusOr<NetworkMode> ParseNetworkMode(std::string_view name);

// Isolation controls, named so errors and evidence can say which one failed.
enum class Control {
  kUserNamespace,
  kPidNamespace,
  kMountNamespace,
  kNetworkNamespace,
  kIpcNamespace,
  kUtsNamespace,
  kCgroupNamespace,
  kPivotRoot,
  kReadOnlyRoot,
  kSeccomp,
  kLandlockFilesystem,
  kLandlockNetwork,
  kLandlockScopes,
  kNoNewPrivs,
  kCapabilities,
  kCgroupMemory,
  kCgroupPids,
  kCgroupCpu,
  kRlimits,
  kCloseFds,
};
std::string_view ControlName(Control control);  // e.g. "seccomp", "cgroup.memory"
absl::StatusOr<Control> ParseControl(std::string_view name);

struct FilesystemPolicy {
  // Host paths visible read-only inside (bind-mounted at the same path).
  std::vector<std::string> read_only;
  // Host paths visible read-write inside (bind-mounted at the same path).
  std::vector<std::string> read_write;
  // Paths from which programs may be executed (Landlock EXECUTE). The system
  // directories (/usr, /bin, /sbin, /lib*) are always executable.
  std::vector<std::string> executable;
  // Paths that must not be visible inside even if a parent is (masked by an
  // empty read-only tmpfs or /dev/null).
  std::vector<std::string> hidden;
  // The sandbox root is mounted read-only after it is built.
  bool read_only_root = false;
  // Enforce the file-system view with Landlock as well as with mounts.
  bool landlock = false;

  bool operator==(const FilesystemPolicy&) const = default;
};

struct NetworkPolicy {
  NetworkMode mode = NetworkMode::kNone;
  // TCP ports the sandbox may bind / connect to (Landlock ABI 4+).
  // nullopt: not restricted. An empty list: nothing allowed.
  std::optional<std::vector<uint16_t>> tcp_bind_ports;
  std::optional<std::vector<uint16_t>> tcp_connect_ports;

  bool operator==(const NetworkPolicy&) const = default;
};

// Where the value of an injected credential comes from.
struct CredentialRule {
  std::string host;    // exact host name the credential is bound to
  std::string header;  // header set on requests to `host` ("Authorization")
  // "env:NAME" (the host's environment when the proxy starts) or
  // "file:/abs/path" (read when the proxy starts).
  std::string source;
  std::string prefix;  // prepended to the value ("Bearer "); may be empty
  // A non-secret token the sandbox may hold instead of the secret. The proxy
  // swaps it for the real value in requests to `host` and refuses (403) any
  // request elsewhere that carries it. Empty: none.
  std::string placeholder;

  bool operator==(const CredentialRule&) const = default;
};

// What the egress proxy lets through when network.mode is proxy (see
// docs/egress.md). Everything not allowed here is refused.
struct EgressPolicy {
  // Host names ("api.example.com") and wildcards ("*.example.com": any name
  // below example.com, not example.com itself), lower-case. Empty: deny all.
  std::vector<std::string> allow_hosts;
  // Destination ports. Empty: deny all.
  std::vector<uint16_t> allow_ports = {80, 443};
  // Host pattern (as in allow_hosts) -> "http" or "https": requests to a
  // matching host must use that scheme (https = CONNECT only).
  std::map<std::string, std::string> schemes;
  std::vector<CredentialRule> credentials;
  // For tests and private deployments: host -> IP address the proxy connects
  // to instead of resolving the name (as curl's --resolve).
  std::map<std::string, std::string> resolve;
  // A PEM file of CAs trusted for upstream TLS instead of the system store.
  std::string upstream_ca_file;

  bool operator==(const EgressPolicy&) const = default;
};

// Direct injection: how a secret reaches the sandboxed command itself (see
// docs/egress.md). Every way puts the secret inside the sandbox, so each
// lowers the verified score; proxy injection (EgressPolicy::credentials)
// keeps it outside and is preferred.
enum class SecretDelivery {
  kEnv,    // variable `target` in every exec's environment (inherited by children)
  kFile,   // 0400 file at `target` (/run/secrets/NAME, a tmpfs), owned by the sandbox uid
  kStdin,  // the secret and a newline written to every exec's stdin, before its own data
};
std::string_view SecretDeliveryName(SecretDelivery delivery);  // "env", "file", "stdin"
absl::StatusOr<SecretDelivery> ParseSecretDelivery(std::string_view name);

// The tmpfs that holds file-delivered secrets inside the sandbox.
inline constexpr char kSecretFileDir[] = "/run/secrets";

struct SecretInjection {
  SecretDelivery deliver = SecretDelivery::kEnv;
  // kEnv: the variable name; kFile: /run/secrets/NAME; kStdin: empty.
  std::string target;
  // "env:NAME" (kavach's environment) or "file:/abs/path", read when the
  // sandbox is created. Never the value itself.
  std::string source;

  bool operator==(const SecretInjection&) const = default;
};

// Landlock ABI 6 scoping.
struct LandlockScopes {
  bool abstract_unix_socket = false;  // No connecting to abstract sockets outside.
  bool signal = false;                // No signals to processes outside.

  bool operator==(const LandlockScopes&) const = default;
};

struct ResourceLimits {
  std::optional<uint64_t> memory_bytes;         // cgroup memory limit
  std::optional<double> cpu_cores;              // cgroup CPU quota, in cores
  std::optional<uint32_t> cpu_weight;           // cgroup CPU weight, 1..10000
  std::optional<uint32_t> max_pids;             // cgroup pids limit
  std::optional<uint64_t> wall_time_ms;         // per exec; also the default timeout
  uint64_t max_output_bytes = 1 << 20;          // per stream; the rest is dropped
  std::optional<uint64_t> max_open_files;       // RLIMIT_NOFILE
  std::optional<uint64_t> max_file_size_bytes;  // RLIMIT_FSIZE

  bool operator==(const ResourceLimits&) const = default;
};

struct EnvironmentPolicy {
  // Names of host variables passed through. Nothing else is inherited.
  std::vector<std::string> allow;
  // Variables set inside (after `allow`).
  std::map<std::string, std::string> set;

  bool operator==(const EnvironmentPolicy&) const = default;
};

struct SandboxPolicy {
  SeccompProfile seccomp = SeccompProfile::kNone;
  FilesystemPolicy filesystem;
  NetworkPolicy network;
  EgressPolicy egress;  // used when network.mode is kProxy
  LandlockScopes landlock_scopes;
  ResourceLimits limits;
  EnvironmentPolicy environment;
  // Secrets handed to the command directly (env, file, stdin).
  std::vector<SecretInjection> secrets;
  // Working directory inside the sandbox; a fresh writable directory unless
  // the sandbox config binds a host directory there.
  std::string working_directory = "/work";
  uint32_t uid = 1000;  // uid and gid the command runs as inside
  uint32_t gid = 1000;
  std::string hostname = "kavach";
  // Controls allowed to be skipped when the host cannot apply them.
  std::set<Control> optional_controls;

  // No seccomp, no Landlock, network none.
  static SandboxPolicy Minimal();
  // Basic seccomp deny-list, Landlock file-system rules, network none.
  static SandboxPolicy Basic();
  // Strict seccomp allow-list, read-only root, Landlock with scopes, memory
  // 512 MiB, 1 CPU, 64 pids, network none; also 1024 open files and 1 GiB
  // file size (rlimits). No wall time: the sandbox config's timeout applies.
  static SandboxPolicy Strict();
  // "minimal" | "basic" | "strict", case-insensitive.
  static absl::StatusOr<SandboxPolicy> FromPreset(std::string_view name);

  // InvalidArgument naming the first bad field ("limits.max_pids: ..."):
  // paths absolute and normalised, working_directory not "/" or a system
  // directory, limits in range, valid env names and RFC 1123 hostname.
  // uid/gid 0 are allowed (root inside a user namespace only).
  absl::Status Validate() const;

  bool IsOptional(Control c) const { return optional_controls.count(c) > 0; }

  bool operator==(const SandboxPolicy&) const = default;
};

// Serialisation. Parsers reject unknown keys and bad values with
// InvalidArgument naming the key (for example "limits.memory_bytes").
absl::StatusOr<SandboxPolicy> PolicyFromJson(std::string_view json);
std::string PolicyToJson(const SandboxPolicy& policy);
absl::StatusOr<SandboxPolicy> PolicyFromToml(std::string_view toml);
std::string PolicyToToml(const SandboxPolicy& policy);
// Loads a preset name or a .json/.toml file (by extension; content sniffed
// when the extension is neither).
absl::StatusOr<SandboxPolicy> LoadPolicy(std::string_view preset_or_path);
absl::Status SavePolicy(const SandboxPolicy& policy, std::string_view path);

// Merges two policies to the stricter value of every field (composite layers).
// Port lists intersect (disjoint lists give an empty list = deny all; nullopt
// is unrestricted). The full rules are documented in policy/merge.cc.
SandboxPolicy MergeStricter(const SandboxPolicy& a, const SandboxPolicy& b);

}  // namespace kavach

#endif  // KAVACH_POLICY_H_
