// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// MergeStricter: the policy of a composite (layered) sandbox, field by field
// the stricter of two policies.
//
// Rules, and why where it is not obvious:
//  * seccomp: strict > basic > none. network: none beats proxy beats host.
//    egress: allow_hosts and allow_ports intersect (exact equal strings for
//    hosts); a credential, scheme or resolve entry is kept only when its host
//    is still allowed (a's entries first, then b's for other hosts).
//  * Restricting booleans (read_only_root, landlock, scopes): OR.
//  * Limits: the minimum of the values present; a missing limit is no limit.
//    A lower cpu_weight is the stricter one (a smaller share of the CPU).
//  * Port lists: nullopt means unrestricted, so nullopt ∩ X = X; two lists
//    intersect, and two disjoint lists give an EMPTY list = deny all. (The
//    original turned that case into "unrestricted", loosening both layers.)
//  * Filesystem: visibility is a union, writability an intersection. A path
//    stays writable only if both layers make it writable; a path one layer
//    makes writable and the other does not is demoted to read-only. hidden is
//    the union and removes every path at or under a hidden path from
//    read_only and read_write. executable is an intersection.
//  * Environment: allow is an intersection; set is the union of both maps, b
//    winning on a clash (b is the overlay, the fixed policy of the inner layer).
//  * secrets: the union, a's first; b's entry for a target a already uses
//    (and b's stdin secret when a has one) is dropped. Like credentials, a
//    secret is something the command needs, not a permission to narrow.
//  * optional_controls: intersection (optional only if both layers agree).
//  * Identity: a's working_directory and hostname; a's uid/gid unless a runs
//    as root (0) and b does not, in which case b's non-root id wins.
// Order is a's first then b's, with duplicates removed, so results are stable.
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "kavach/policy.h"
#include "linux/strings.h"

namespace kavach {
namespace {

template <typename T>
bool Contains(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

template <typename T>
void PushUnique(std::vector<T>& out, const T& x) {
  if (!Contains(out, x)) out.push_back(x);
}

template <typename T>
std::vector<T> Union(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<T> out;
  for (const T& x : a) PushUnique(out, x);
  for (const T& x : b) PushUnique(out, x);
  return out;
}

template <typename T>
std::vector<T> Intersect(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<T> out;
  for (const T& x : a) {
    if (Contains(b, x)) PushUnique(out, x);
  }
  return out;
}

std::optional<std::vector<uint16_t>> MergePorts(const std::optional<std::vector<uint16_t>>& a,
                                                const std::optional<std::vector<uint16_t>>& b) {
  if (!a) return b;
  if (!b) return a;
  return Intersect(*a, *b);
}

template <typename T>
std::optional<T> MinPresent(const std::optional<T>& a, const std::optional<T>& b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

bool IsAtOrUnder(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir ||
         (absl::StartsWith(path, dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

std::vector<std::string> WithoutHidden(const std::vector<std::string>& paths,
                                       const std::vector<std::string>& hidden) {
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    bool masked = std::any_of(hidden.begin(), hidden.end(),
                              [&](const std::string& h) { return IsAtOrUnder(p, h); });
    if (!masked) out.push_back(p);
  }
  return out;
}

uint32_t StricterId(uint32_t a, uint32_t b) { return (a == 0 && b != 0) ? b : a; }

}  // namespace

// Only a layer in proxy mode has egress rules that matter; when both are,
// what both allow.
static EgressPolicy MergeEgress(const SandboxPolicy& a, const SandboxPolicy& b) {
  bool pa = a.network.mode == NetworkMode::kProxy;
  bool pb = b.network.mode == NetworkMode::kProxy;
  if (!pa || !pb) return pa ? a.egress : b.egress;
  EgressPolicy m;
  m.allow_ports.clear();
  m.allow_hosts = Intersect(a.egress.allow_hosts, b.egress.allow_hosts);
  for (uint16_t port : a.egress.allow_ports) {
    if (std::find(b.egress.allow_ports.begin(), b.egress.allow_ports.end(), port) !=
        b.egress.allow_ports.end()) {
      m.allow_ports.push_back(port);
    }
  }
  if (a.egress.allow_ports.empty() || b.egress.allow_ports.empty()) m.allow_ports.clear();
  auto allowed = [&](const std::string& host) {
    for (const std::string& p : m.allow_hosts) {
      if (p == host || (p.rfind("*.", 0) == 0 && host.size() > p.size() - 1 &&
                        host.compare(host.size() - (p.size() - 1), p.size() - 1, p, 1) == 0)) {
        return true;
      }
    }
    return false;
  };
  for (const EgressPolicy* e : {&a.egress, &b.egress}) {
    for (const CredentialRule& c : e->credentials) {
      bool dup = false;
      for (const CredentialRule& o : m.credentials) {
        dup = dup || (o.host == c.host && o.header == c.header) ||
              (!c.placeholder.empty() && o.placeholder == c.placeholder);
      }
      if (!dup && allowed(c.host)) m.credentials.push_back(c);
    }
    for (const auto& [host, scheme] : e->schemes) {
      if (Contains(m.allow_hosts, host)) m.schemes.emplace(host, scheme);
    }
    for (const auto& [host, addr] : e->resolve) m.resolve.emplace(host, addr);
  }
  m.upstream_ca_file =
      a.egress.upstream_ca_file.empty() ? b.egress.upstream_ca_file : a.egress.upstream_ca_file;
  return m;
}

SandboxPolicy MergeStricter(const SandboxPolicy& a, const SandboxPolicy& b) {
  SandboxPolicy m;
  m.seccomp = std::max(a.seccomp, b.seccomp);  // enum order is none < basic < strict

  const FilesystemPolicy& fa = a.filesystem;
  const FilesystemPolicy& fb = b.filesystem;
  m.filesystem.hidden = Union(fa.hidden, fb.hidden);
  std::vector<std::string> writable = Intersect(fa.read_write, fb.read_write);
  std::vector<std::string> demoted;
  for (const std::string& p : Union(fa.read_write, fb.read_write)) {
    if (!Contains(writable, p)) demoted.push_back(p);
  }
  m.filesystem.read_write = WithoutHidden(writable, m.filesystem.hidden);
  m.filesystem.read_only =
      WithoutHidden(Union(Union(fa.read_only, fb.read_only), demoted), m.filesystem.hidden);
  m.filesystem.executable = Intersect(fa.executable, fb.executable);
  m.filesystem.read_only_root = fa.read_only_root || fb.read_only_root;
  m.filesystem.landlock = fa.landlock || fb.landlock;

  m.network.mode = std::min(a.network.mode, b.network.mode);  // none < proxy < host
  m.egress = MergeEgress(a, b);
  m.network.tcp_bind_ports = MergePorts(a.network.tcp_bind_ports, b.network.tcp_bind_ports);
  m.network.tcp_connect_ports =
      MergePorts(a.network.tcp_connect_ports, b.network.tcp_connect_ports);

  m.landlock_scopes.abstract_unix_socket =
      a.landlock_scopes.abstract_unix_socket || b.landlock_scopes.abstract_unix_socket;
  m.landlock_scopes.signal = a.landlock_scopes.signal || b.landlock_scopes.signal;

  const ResourceLimits& la = a.limits;
  const ResourceLimits& lb = b.limits;
  m.limits.memory_bytes = MinPresent(la.memory_bytes, lb.memory_bytes);
  m.limits.cpu_cores = MinPresent(la.cpu_cores, lb.cpu_cores);
  m.limits.cpu_weight = MinPresent(la.cpu_weight, lb.cpu_weight);
  m.limits.max_pids = MinPresent(la.max_pids, lb.max_pids);
  m.limits.wall_time_ms = MinPresent(la.wall_time_ms, lb.wall_time_ms);
  m.limits.max_output_bytes = std::min(la.max_output_bytes, lb.max_output_bytes);
  m.limits.max_open_files = MinPresent(la.max_open_files, lb.max_open_files);
  m.limits.max_file_size_bytes = MinPresent(la.max_file_size_bytes, lb.max_file_size_bytes);

  m.environment.allow = Intersect(a.environment.allow, b.environment.allow);
  m.environment.set = a.environment.set;
  for (const auto& [k, v] : b.environment.set) m.environment.set[k] = v;

  m.secrets = a.secrets;
  for (const SecretInjection& sb : b.secrets) {
    bool clash = false;
    for (const SecretInjection& sa : a.secrets) {
      clash = clash || (sa.deliver == sb.deliver &&
                        (sb.deliver == SecretDelivery::kStdin || sa.target == sb.target));
    }
    if (!clash) m.secrets.push_back(sb);
  }

  m.working_directory = a.working_directory;
  m.hostname = a.hostname;
  m.uid = StricterId(a.uid, b.uid);
  m.gid = StricterId(a.gid, b.gid);

  for (Control c : a.optional_controls) {
    if (b.optional_controls.count(c) > 0) m.optional_controls.insert(c);
  }
  return m;
}

}  // namespace kavach
