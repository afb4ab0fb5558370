// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// SandboxPolicy presets and validation.
//
// Decisions recorded here (the header keeps the summary):
//  * Strict adds max_open_files = 1024 and max_file_size_bytes = 1 GiB to the
//    original's limits: both are rlimits every workload we target stays well
//    under, and they stop fd and disk-filling loops. wall_time_ms stays unset so
//    the sandbox config's timeout applies.
//  * uid/gid 0 inside are allowed. Inside a user namespace they map to an
//    unprivileged host id, and capabilities are dropped before exec anyway;
//    refusing them would break images that expect root. (uid_t)-1 is refused:
//    the kernel reads it as "leave unchanged".
//  * Port lists are allowed with network none; they are then simply moot.
#include "kavach/policy.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "linux/strings.h"

namespace kavach {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
// Policy files store integers as signed 64-bit (TOML's only integer type), so
// larger values could not be saved and loaded back.
constexpr uint64_t kMaxStorable = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

absl::Status Bad(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), ": ", ToAbsl(why)));
}

// Absolute, no empty / "." / ".." components, no trailing slash, no NUL.
// Returns the reason a path is not normalised, or "" when it is.
std::string PathProblem(std::string_view path) {
  if (path.empty()) return "empty path";
  if (path.find('\0') != std::string_view::npos) return "path contains a NUL byte";
  if (path.front() != '/') return absl::StrCat("path is not absolute: \"", ToAbsl(path), "\"");
  if (path == "/") return "";
  if (path.back() == '/') {
    return absl::StrCat("path has a trailing slash: \"", ToAbsl(path), "\"");
  }
  std::vector<absl::string_view> parts = absl::StrSplit(ToAbsl(path.substr(1)), '/');
  for (absl::string_view part : parts) {
    if (part.empty() || part == "." || part == "..") {
      return absl::StrCat("path is not normalised (empty, \".\" or \"..\" component): \"",
                          ToAbsl(path), "\"");
    }
  }
  return "";
}

absl::Status CheckPathList(std::string_view field, const std::vector<std::string>& paths,
                           bool allow_root) {
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string name = absl::StrCat(ToAbsl(field), "[", i, "]");
    if (std::string problem = PathProblem(paths[i]); !problem.empty()) return Bad(name, problem);
    if (!allow_root && paths[i] == "/") return Bad(name, "must not be \"/\"");
  }
  return absl::OkStatus();
}

bool IsUnder(std::string_view path, std::string_view dir) {
  return path == dir || (absl::StartsWith(ToAbsl(path), ToAbsl(dir)) && path.size() > dir.size() &&
                         path[dir.size()] == '/');
}

// The working directory is created (or bound) inside the sandbox; putting it
// on a system or kernel directory would shadow what programs need.
absl::Status CheckWorkingDirectory(const std::string& dir) {
  constexpr std::string_view kField = "working_directory";
  if (std::string problem = PathProblem(dir); !problem.empty()) return Bad(kField, problem);
  if (dir == "/") return Bad(kField, "must not be \"/\"");
  // A system directory itself, or anything below one.
  static constexpr std::string_view kSystemTrees[] = {"/bin",  "/boot",  "/dev",   "/etc",
                                                      "/lib",  "/lib32", "/lib64", "/libx32",
                                                      "/proc", "/sbin",  "/sys",   "/usr"};
  // Only the directory itself: below these, work directories are normal.
  static constexpr std::string_view kSystemDirs[] = {"/run", "/var", "/tmp", "/home"};
  for (std::string_view sys : kSystemTrees) {
    if (IsUnder(dir, sys)) {
      return Bad(kField, absl::StrCat("\"", dir, "\" is a system directory"));
    }
  }
  for (std::string_view sys : kSystemDirs) {
    if (dir == sys) return Bad(kField, absl::StrCat("\"", dir, "\" is a system directory"));
  }
  return absl::OkStatus();
}

bool IsValidEnvName(std::string_view name) {
  return !name.empty() && name.find('=') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

// RFC 1123 labels joined by dots, at most HOST_NAME_MAX (64) bytes in total.
bool IsValidHostname(std::string_view host) {
  if (host.empty() || host.size() > 64) return false;
  for (absl::string_view label : absl::StrSplit(ToAbsl(host), '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  return true;
}

// A lower-case DNS name: labels of [a-z0-9-] joined by dots, at most 253
// bytes. Egress rules compare names byte for byte, so upper case is refused
// rather than folded (a rule that never matches is a silent mistake).
bool IsValidDnsName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(ToAbsl(host), '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
            absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-')) {
        return false;
      }
    }
  }
  return true;
}

// "name" or "*.name".
bool IsValidHostPattern(std::string_view pattern) {
  if (absl::StartsWith(ToAbsl(pattern), "*.")) return IsValidDnsName(pattern.substr(2));
  return IsValidDnsName(pattern);
}

bool PatternMatches(std::string_view pattern, std::string_view host) {
  if (absl::StartsWith(ToAbsl(pattern), "*.")) {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && absl::EndsWith(ToAbsl(host), ToAbsl(suffix));
  }
  return pattern == host;
}

// RFC 9110 token characters.
bool IsHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
          std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos)) {
      return false;
    }
  }
  return true;
}

bool IsVisibleAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

absl::Status CheckEgress(const EgressPolicy& egress) {
  for (size_t i = 0; i < egress.allow_hosts.size(); ++i) {
    if (!IsValidHostPattern(egress.allow_hosts[i])) {
      return Bad(absl::StrCat("egress.allow_hosts[", i, "]"),
                 absl::StrCat("\"", egress.allow_hosts[i],
                              "\" is not a lower-case host name or *.domain wildcard"));
    }
  }
  for (size_t i = 0; i < egress.allow_ports.size(); ++i) {
    if (egress.allow_ports[i] == 0) {
      return Bad(absl::StrCat("egress.allow_ports[", i, "]"), "port must be 1..65535, got 0");
    }
  }
  for (const auto& [pattern, scheme] : egress.schemes) {
    std::string field = absl::StrCat("egress.schemes.", pattern);
    if (!IsValidHostPattern(pattern)) {
      return Bad(field, "not a lower-case host name or *.domain wildcard");
    }
    if (scheme != "http" && scheme != "https") {
      return Bad(field, absl::StrCat("expected \"http\" or \"https\", got \"", scheme, "\""));
    }
  }
  for (size_t i = 0; i < egress.credentials.size(); ++i) {
    const CredentialRule& c = egress.credentials[i];
    std::string field = absl::StrCat("egress.credentials[", i, "]");
    if (!IsValidDnsName(c.host)) {
      return Bad(field + ".host", absl::StrCat("\"", c.host,
                                               "\" is not a lower-case host name "
                                               "(credentials bind to one exact host)"));
    }
    bool allowed = false;
    for (const std::string& p : egress.allow_hosts) allowed = allowed || PatternMatches(p, c.host);
    if (!allowed) {
      return Bad(field + ".host", absl::StrCat("\"", c.host, "\" is not in egress.allow_hosts"));
    }
    if (!IsHeaderName(c.header)) {
      return Bad(field + ".header", absl::StrCat("\"", c.header, "\" is not a header name"));
    }
    bool env = absl::StartsWith(c.source, "env:");
    bool file = absl::StartsWith(c.source, "file:");
    if (env && !IsValidEnvName(c.source.substr(4))) {
      return Bad(field + ".source", "env: needs a variable name (env:NAME)");
    }
    if (file && !PathProblem(c.source.substr(5)).empty()) {
      return Bad(field + ".source", "file: needs an absolute, normalised path (file:/path)");
    }
    if (!env && !file) {
      // The value is not echoed: a secret pasted here by mistake must not
      // end up in an error message or a log.
      return Bad(field + ".source", "expected env:NAME or file:/path");
    }
    for (char ch : c.prefix) {
      if (ch < 0x20 || ch == 0x7f) return Bad(field + ".prefix", "contains a control character");
    }
    if (!c.placeholder.empty() && (c.placeholder.size() < 8 || !IsVisibleAscii(c.placeholder))) {
      return Bad(field + ".placeholder", "must be at least 8 visible ASCII characters");
    }
    for (size_t j = 0; j < i; ++j) {
      const CredentialRule& o = egress.credentials[j];
      if (o.host == c.host && absl::EqualsIgnoreCase(o.header, c.header)) {
        return Bad(field, absl::StrCat("a second rule for ", c.host, " header ", c.header));
      }
      if (!c.placeholder.empty() && o.placeholder == c.placeholder) {
        return Bad(field + ".placeholder", "used by two rules");
      }
    }
  }
  for (const auto& [host, addr] : egress.resolve) {
    if (!IsValidDnsName(host)) return Bad(absl::StrCat("egress.resolve.", host), "not a host name");
    if (addr.empty() || addr.find_first_not_of("0123456789abcdefABCDEF.:") != std::string::npos) {
      return Bad(absl::StrCat("egress.resolve.", host), "expected an IPv4 or IPv6 address");
    }
  }
  if (!egress.upstream_ca_file.empty()) {
    if (std::string problem = PathProblem(egress.upstream_ca_file); !problem.empty()) {
      return Bad("egress.upstream_ca_file", problem);
    }
  }
  return absl::OkStatus();
}

// A secret's source is never echoed: a value pasted there by mistake must not
// reach an error message or a log.
absl::Status CheckSecretSource(const std::string& field, const std::string& source) {
  bool env = absl::StartsWith(source, "env:");
  bool file = absl::StartsWith(source, "file:");
  if (env && !IsValidEnvName(source.substr(4))) {
    return Bad(field, "env: needs a variable name (env:NAME)");
  }
  if (file && !PathProblem(source.substr(5)).empty()) {
    return Bad(field, "file: needs an absolute, normalised path (file:/path)");
  }
  if (!env && !file) return Bad(field, "expected env:NAME or file:/path");
  return absl::OkStatus();
}

bool IsSecretFileName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status CheckSecrets(const std::vector<SecretInjection>& secrets) {
  bool stdin_seen = false;
  for (size_t i = 0; i < secrets.size(); ++i) {
    const SecretInjection& s = secrets[i];
    std::string field = absl::StrCat("secrets[", i, "]");
    if (auto st = CheckSecretSource(field + ".source", s.source); !st.ok()) return st;
    switch (s.deliver) {
      case SecretDelivery::kEnv:
        if (!IsValidEnvName(s.target)) {
          return Bad(field + ".target", absl::StrCat("\"", s.target, "\" is not a variable name"));
        }
        break;
      case SecretDelivery::kFile:
        if (!absl::StartsWith(s.target, kSecretFileDir + std::string("/")) ||
            !IsSecretFileName(s.target.substr(sizeof(kSecretFileDir)))) {
          return Bad(field + ".target",
                     absl::StrCat("\"", s.target, "\" must be ", kSecretFileDir,
                                  "/NAME (NAME of letters, digits, '.', '_', '-')"));
        }
        break;
      case SecretDelivery::kStdin:
        if (!s.target.empty()) return Bad(field + ".target", "stdin takes no target");
        if (stdin_seen) return Bad(field, "a second stdin secret (at most one)");
        stdin_seen = true;
        break;
    }
    for (size_t j = 0; j < i; ++j) {
      if (s.deliver != SecretDelivery::kStdin && secrets[j].deliver == s.deliver &&
          secrets[j].target == s.target) {
        return Bad(field + ".target", absl::StrCat("\"", s.target, "\" is used twice"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPorts(std::string_view field, const std::optional<std::vector<uint16_t>>& ports) {
  if (!ports) return absl::OkStatus();
  for (size_t i = 0; i < ports->size(); ++i) {
    if ((*ports)[i] == 0) {
      return Bad(absl::StrCat(ToAbsl(field), "[", i, "]"), "port must be 1..65535, got 0");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckStorable(std::string_view field, const std::optional<uint64_t>& v) {
  if (v && *v > kMaxStorable) {
    return Bad(field, absl::StrCat("must be at most ", kMaxStorable, ", got ", *v));
  }
  return absl::OkStatus();
}

}  // namespace

SandboxPolicy SandboxPolicy::Minimal() { return SandboxPolicy{}; }

SandboxPolicy SandboxPolicy::Basic() {
  SandboxPolicy p;
  p.seccomp = SeccompProfile::kBasic;
  p.filesystem.landlock = true;
  return p;
}

SandboxPolicy SandboxPolicy::Strict() {
  SandboxPolicy p;
  p.seccomp = SeccompProfile::kStrict;
  p.filesystem.read_only_root = true;
  p.filesystem.landlock = true;
  p.landlock_scopes.abstract_unix_socket = true;
  p.landlock_scopes.signal = true;
  p.limits.memory_bytes = 512 * kMiB;
  p.limits.cpu_cores = 1.0;
  p.limits.max_pids = 64;
  p.limits.max_open_files = 1024;
  p.limits.max_file_size_bytes = kGiB;
  return p;
}

absl::StatusOr<SandboxPolicy> SandboxPolicy::FromPreset(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(ToAbsl(name));
  if (lower == "minimal") return Minimal();
  if (lower == "basic") return Basic();
  if (lower == "strict") return Strict();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown policy: ", ToAbsl(name), " (use minimal, basic, strict)"));
}

absl::Status SandboxPolicy::Validate() const {
  // Filesystem.
  if (auto s = CheckPathList("filesystem.read_only", filesystem.read_only, true); !s.ok()) {
    return s;
  }
  if (auto s = CheckPathList("filesystem.read_write", filesystem.read_write, false); !s.ok()) {
    return s;
  }
  if (auto s = CheckPathList("filesystem.executable", filesystem.executable, true); !s.ok()) {
    return s;
  }
  if (auto s = CheckPathList("filesystem.hidden", filesystem.hidden, false); !s.ok()) return s;

  // Network.
  if (auto s = CheckPorts("network.tcp_bind_ports", network.tcp_bind_ports); !s.ok()) return s;
  if (auto s = CheckPorts("network.tcp_connect_ports", network.tcp_connect_ports); !s.ok()) {
    return s;
  }

  if (auto s = CheckEgress(egress); !s.ok()) return s;
  if (auto s = CheckSecrets(secrets); !s.ok()) return s;

  // Limits.
  if (limits.memory_bytes && *limits.memory_bytes < kMiB) {
    return Bad("limits.memory_bytes",
               absl::StrCat("must be at least 1 MiB (1048576), got ", *limits.memory_bytes));
  }
  if (auto s = CheckStorable("limits.memory_bytes", limits.memory_bytes); !s.ok()) return s;
  // Written so that NaN fails too.
  if (limits.cpu_cores && !(*limits.cpu_cores > 0 && *limits.cpu_cores <= 1024)) {
    return Bad("limits.cpu_cores",
               absl::StrCat("must be > 0 and <= 1024, got ", *limits.cpu_cores));
  }
  if (limits.cpu_weight && (*limits.cpu_weight < 1 || *limits.cpu_weight > 10000)) {
    return Bad("limits.cpu_weight", absl::StrCat("must be 1..10000, got ", *limits.cpu_weight));
  }
  if (limits.max_pids && *limits.max_pids < 1) {
    return Bad("limits.max_pids", "must be at least 1, got 0");
  }
  if (limits.wall_time_ms && *limits.wall_time_ms < 1) {
    return Bad("limits.wall_time_ms", "must be at least 1, got 0");
  }
  if (auto s = CheckStorable("limits.wall_time_ms", limits.wall_time_ms); !s.ok()) return s;
  if (limits.max_output_bytes < 1)
    return Bad("limits.max_output_bytes", "must be at least 1, got 0");
  if (auto s = CheckStorable("limits.max_output_bytes", limits.max_output_bytes); !s.ok()) {
    return s;
  }
  if (auto s = CheckStorable("limits.max_open_files", limits.max_open_files); !s.ok()) return s;
  if (auto s = CheckStorable("limits.max_file_size_bytes", limits.max_file_size_bytes); !s.ok()) {
    return s;
  }

  // Environment.
  for (size_t i = 0; i < environment.allow.size(); ++i) {
    if (!IsValidEnvName(environment.allow[i])) {
      return Bad(absl::StrCat("environment.allow[", i, "]"),
                 absl::StrCat("invalid variable name \"", environment.allow[i], "\""));
    }
  }
  for (const auto& [name, value] : environment.set) {
    if (!IsValidEnvName(name)) {
      return Bad("environment.set", absl::StrCat("invalid variable name \"", name, "\""));
    }
    if (value.find('\0') != std::string::npos) {
      return Bad(absl::StrCat("environment.set.", name), "value contains a NUL byte");
    }
  }

  // Identity.
  if (auto s = CheckWorkingDirectory(working_directory); !s.ok()) return s;
  if (uid == static_cast<uint32_t>(-1)) return Bad("uid", "4294967295 is not a valid uid");
  if (gid == static_cast<uint32_t>(-1)) return Bad("gid", "4294967295 is not a valid gid");
  if (!IsValidHostname(hostname)) {
    return Bad("hostname",
               absl::StrCat("\"", hostname,
                            "\" is not a valid host name (RFC 1123 labels of letters, digits and "
                            "'-', at most 64 bytes)"));
  }
  return absl::OkStatus();
}

}  // namespace kavach
