// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// EgressProxy: the HTTP(S) proxy between a sandbox and the hosts its policy
// allows (policy.egress; docs/egress.md).
//
//   EgressOptions options;
//   options.on_request = [&](const EgressRecord& r) { audit->Append(id, "egress",
//   EgressRecordJson(r)); }; auto proxy = EgressProxy::Create(policy.egress, options);   // loads
//   the secrets, makes the CA auto port = (*proxy)->Listen("127.0.0.1", 0);               // or
//   ServeOn(an inherited listening fd) std::string ca = (*proxy)->CaCertificatePem(); // trust this
//   inside the sandbox
//
// What it does, in order, for every request:
//  1. Absolute-URI requests (http://host/...) and CONNECT host:port only;
//     anything else is 400. Headers larger than max_header_bytes: 431.
//  2. The allow-list (hosts, ports, scheme binding) decides first; an empty
//     allow-list denies all. Denied: 403, and nothing is sent anywhere.
//  3. A placeholder token of a credential rule found in the request target
//     or a header of a request to any host but the rule's own: 403.
//  4. On the rule's host: placeholders are replaced by the secret and the
//     credential header is set (replacing any the caller sent).
// CONNECT: the ClientHello is read first and its SNI must equal the CONNECT
// host (no domain fronting). Hosts with a credential rule (and every host
// when any rule has a placeholder, so a placeholder cannot leave in a blind
// tunnel) are terminated with the proxy's own CA and re-originated over TLS
// verified against the system trust store or upstream_ca_file; other hosts
// are tunnelled blind. Bodies are streamed in both directions.
//
// Every request is reported through on_request (host, method, path without
// the query, status, body bytes): never a header value, so never a secret.
// The proxy runs its own threads (options.threads); the destructor stops
// them and closes every connection.
#ifndef KAVACH_EGRESS_EGRESS_PROXY_H_
#define KAVACH_EGRESS_EGRESS_PROXY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kavach/policy.h"
#include "linux/unique_fd.h"

namespace kavach::internal {

// Network mode proxy in a Process sandbox: the proxy's address inside the
// sandbox (its own loopback) and where its CA bundle is written.
inline constexpr uint16_t kSandboxProxyPort = 3128;
inline constexpr char kSandboxCaBundlePath[] = "/etc/ssl/certs/ca-certificates.crt";

struct EgressRecord {
  std::string host;
  uint16_t port = 0;
  std::string method;           // "GET", "CONNECT", ...
  std::string path;             // without the query string
  int status = 0;               // the status sent to the client (200 for an opened tunnel)
  uint64_t request_bytes = 0;   // body bytes sent upstream (tunnels: raw bytes)
  uint64_t response_bytes = 0;  // body bytes returned to the client
  std::string mode;             // "http", "tunnel", "tls-terminated"
  std::string reason;           // why it was refused, empty when it was not
};

// One JSON object for the audit chain.
std::string EgressRecordJson(const EgressRecord& record);

struct EgressOptions {
  size_t max_header_bytes = 16 * 1024;
  absl::Duration idle_timeout = absl::Seconds(60);
  absl::Duration total_timeout = absl::Hours(1);
  int max_connections = 512;
  // Plain HTTP: upstream connections a finished client connection leaves
  // open for the next client to the same host:port (closed after 30 s idle).
  int max_idle_upstreams_per_host = 16;
  // Threads serving connections (each connection stays on one). A sandbox's
  // proxy needs one; `kavach proxy` uses one per CPU.
  int threads = 1;
  // Called on a proxy thread, never twice at once; must not block for long.
  std::function<void(const EgressRecord&)> on_request;
  // Name for the ephemeral CA ("kavach egress CA <ca_name>").
  std::string ca_name = "proxy";
};

class EgressProxy final {
 public:
  // Loads every credential's secret (NotFound naming the source when one is
  // missing), creates the CA and the upstream TLS context and starts the
  // proxy's thread.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EgressProxy>> Create(
      const EgressPolicy& policy, EgressOptions options = {});
  ~EgressProxy();
  EgressProxy(const EgressProxy&) = delete;
  EgressProxy& operator=(const EgressProxy&) = delete;

  // Binds and listens on address:port (0: any free port); returns the port.
  [[nodiscard]] absl::StatusOr<uint16_t> Listen(const std::string& address, uint16_t port);
  // Accepts connections on an already listening TCP socket (it may belong to
  // another network namespace: a sandbox's). Takes ownership.
  [[nodiscard]] absl::Status ServeOn(sys::UniqueFd listening_socket);

  // The ephemeral CA certificate (PEM) that terminated hosts are signed by.
  std::string CaCertificatePem() const;
  // Connections being served now.
  int active_connections() const;

  struct Impl;

 private:
  explicit EgressProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The server name in a TLS ClientHello record. Exposed for tests.
enum class SniResult { kNeedMore, kFound, kNoSni, kNotTls };
SniResult ParseClientHelloSni(std::string_view data, std::string* sni);

// Whether `host` matches an allow-list pattern ("a.com" or "*.a.com").
bool EgressHostMatches(std::string_view pattern, std::string_view host);

}  // namespace kavach::internal

#endif  // KAVACH_EGRESS_EGRESS_PROXY_H_
