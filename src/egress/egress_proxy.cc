// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The egress proxy on Boost.Asio (C++20 coroutines) and Beast, on
// options.threads threads.
//
// Every connection is one coroutine plus a watchdog coroutine that closes its
// sockets when it has been idle longer than idle_timeout or open longer than
// total_timeout; pending operations then fail and the coroutine unwinds.
// Each thread runs an io_context of its own, and a connection lives on one of
// them (chosen round-robin at accept) for its whole life, so connection state
// and each thread's pool of idle upstream connections need no locks. Shared
// state (the leaf certificate contexts, the request callback) is locked.
//
// Bodies are relayed with Beast's buffer_body (the pattern of Beast's
// "relay" example): a chunk is read, then written, so a body is never held
// whole and a slow reader slows the writer down.
#include "egress/egress_proxy.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "egress/cert_authority.h"
#include "egress/secret.h"
#include "linux/json_string.h"
#include "linux/strings.h"

namespace kavach::internal {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Read buffers are reserved up front: Beast reads at most the free capacity
// of a flat_buffer (and at least 512 bytes), so an empty buffer took a 1 KiB
// response in three recv calls. Client buffers hold request headers; upstream
// buffers whole small responses.
constexpr size_t kClientReadBytes = 4096;
constexpr size_t kUpstreamReadBytes = 16384;

bool EgressHostMatches(std::string_view pattern, std::string_view host) {
  if (absl::StartsWith(ToAbsl(pattern), "*.")) {
    std::string_view suffix = pattern.substr(1);
    return host.size() > suffix.size() && absl::EndsWith(ToAbsl(host), ToAbsl(suffix));
  }
  return pattern == host;
}

SniResult ParseClientHelloSni(std::string_view d, std::string* sni) {
  auto u8 = [&](size_t i) { return static_cast<uint8_t>(d[i]); };
  if (d.empty()) return SniResult::kNeedMore;
  if (u8(0) != 22) return SniResult::kNotTls;  // handshake record
  if (d.size() < 5) return SniResult::kNeedMore;
  size_t rec_len = (size_t{u8(3)} << 8) | u8(4);
  if (u8(1) != 3 || rec_len < 4 || rec_len > (1 << 14) + 2048) return SniResult::kNotTls;
  if (d.size() < 5 + rec_len) return SniResult::kNeedMore;
  std::string_view r = d.substr(5, rec_len);
  auto b = [&](size_t i) { return static_cast<uint8_t>(r[i]); };
  if (b(0) != 1) return SniResult::kNotTls;  // ClientHello
  size_t hs_len = (size_t{b(1)} << 16) | (size_t{b(2)} << 8) | b(3);
  // A ClientHello split over several records: we only read the first.
  if (hs_len + 4 > r.size()) return SniResult::kNoSni;
  size_t p = 4 + 2 + 32;  // version, random
  auto need = [&](size_t n) { return p + n <= hs_len + 4; };
  if (!need(1)) return SniResult::kNotTls;
  p += 1 + b(p);  // session id
  if (!need(2)) return SniResult::kNotTls;
  p += 2 + ((size_t{b(p)} << 8) | b(p + 1));  // cipher suites
  if (!need(1)) return SniResult::kNotTls;
  p += 1 + b(p);                           // compression methods
  if (!need(2)) return SniResult::kNoSni;  // no extensions
  size_t ext_end = p + 2 + ((size_t{b(p)} << 8) | b(p + 1));
  p += 2;
  if (ext_end > hs_len + 4) return SniResult::kNotTls;
  while (p + 4 <= ext_end) {
    size_t type = (size_t{b(p)} << 8) | b(p + 1);
    size_t len = (size_t{b(p + 2)} << 8) | b(p + 3);
    p += 4;
    if (p + len > ext_end) return SniResult::kNotTls;
    if (type == 0) {  // server_name
      size_t q = p + 2;
      size_t list_end = p + len;
      while (q + 3 <= list_end) {
        uint8_t name_type = b(q);
        size_t name_len = (size_t{b(q + 1)} << 8) | b(q + 2);
        q += 3;
        if (q + name_len > list_end) return SniResult::kNotTls;
        if (name_type == 0) {
          *sni = absl::AsciiStrToLower(ToAbsl(r.substr(q, name_len)));
          return SniResult::kFound;
        }
        q += name_len;
      }
      return SniResult::kNoSni;
    }
    p += len;
  }
  return SniResult::kNoSni;
}

// Written by hand (not with nlohmann::json): it runs once per proxied
// request, and building a JSON object cost more than the rest of the
// record.
std::string EgressRecordJson(const EgressRecord& r) {
  std::string out;
  out.reserve(160 + r.host.size() + r.path.size() + r.reason.size());
  // A request path is whatever bytes the client sent: invalid UTF-8 is
  // replaced, so the record is always written (kReplace never fails).
  auto append_string = [&out](std::string_view s) {
    (void)AppendJsonString(&out, s, InvalidUtf8::kReplace);
  };
  out.append("{\"host\":");
  append_string(r.host);
  absl::StrAppend(&out, ",\"port\":", r.port, ",\"method\":");
  append_string(r.method);
  out.append(",\"path\":");
  append_string(r.path);
  absl::StrAppend(&out, ",\"status\":", r.status, ",\"request_bytes\":", r.request_bytes,
                  ",\"response_bytes\":", r.response_bytes, ",\"mode\":");
  append_string(r.mode);
  if (!r.reason.empty()) {
    out.append(",\"reason\":");
    append_string(r.reason);
  }
  out.push_back('}');
  return out;
}

namespace {

// Beast (Boost 1.74) uses boost::string_view.
std::string_view SV(beast::string_view s) { return {s.data(), s.size()}; }
std::string Str(beast::string_view s) { return {s.data(), s.size()}; }

struct LoadedCredential {
  std::string host;
  std::string header;
  Secret value;   // prefix + secret
  Secret secret;  // the bare secret, for placeholder swaps
  std::string placeholder;
};

// An idle plain-HTTP upstream connection a client connection left behind in
// a reusable state.
struct IdleUpstream {
  tcp::socket socket;
  Clock::time_point since;
};

// One proxy thread and its io_context.
struct Worker {
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  // Idle upstream connections per "host:port" (this thread only; declared
  // after ioc: closed before it is destroyed).
  std::map<std::string, std::vector<IdleUpstream>> idle_http;
  std::list<tcp::acceptor> acceptors;  // this thread only, after start
  std::thread thread;
};

// One client connection's sockets and clocks, shared by its coroutine and
// its watchdog.
struct Conn {
  Conn(Worker& w, tcp::socket s)
      : worker(w), client(std::move(s)), watchdog(w.ioc), start(Clock::now()), last(start) {}
  Worker& worker;  // the thread this connection lives on
  tcp::socket client;
  std::optional<tcp::socket> upstream;  // blind tunnels
  // Plain HTTP: the upstream connection kept open for the client's next
  // request to the same host:port (keep-alive on both sides).
  std::optional<tcp::socket> http_up;
  std::string http_up_key;         // "host:port" of http_up
  Clock::time_point http_up_used;  // end of its last exchange
  beast::flat_buffer http_ubuf;
  asio::steady_timer watchdog;
  Clock::time_point start;
  Clock::time_point last;
  // Lowest-layer sockets the watchdog closes (they live in this Conn or in
  // the connection's coroutine frame, which outlives every use here).
  std::vector<tcp::socket*> sockets;
  bool done = false;
  void Touch() { last = Clock::now(); }
  // Registers sockets for the watchdog and forgets them at scope exit
  // (declare it before the sockets it guards).
  struct Scope {
    explicit Scope(Conn& conn) : c(conn), size(conn.sockets.size()) {}
    ~Scope() { c.sockets.resize(size); }
    Conn& c;
    size_t size;
  };
  void CloseAll() {
    for (tcp::socket* s : sockets) {
      error_code ignored;
      s->close(ignored);
    }
    if (http_up) {
      error_code ignored;
      http_up->close(ignored);
    }
  }
  void DropHttpUpstream() {
    if (http_up) {
      error_code ignored;
      http_up->close(ignored);
    }
    http_up.reset();
    http_up_key.clear();
    http_ubuf.clear();
  }
};

struct Target {
  std::string host;
  uint16_t port = 0;
  std::string path;  // origin-form target, query included
};

std::string PathWithoutQuery(std::string_view target) {
  std::string_view p = target.substr(0, target.find_first_of("?#"));
  return std::string(p.substr(0, 256));
}

bool ParseHostPort(std::string_view authority, uint16_t default_port, Target* t) {
  if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
  std::string_view host = authority;
  uint16_t port = default_port;
  if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    uint32_t p = 0;
    if (!absl::SimpleAtoi(ToAbsl(authority.substr(colon + 1)), &p) || p == 0 || p > 65535) {
      return false;
    }
    port = static_cast<uint16_t>(p);
  }
  if (host.empty() || host.find_first_of("[]/ ") != std::string_view::npos) return false;
  t->host = absl::AsciiStrToLower(ToAbsl(host));
  t->port = port;
  return true;
}

// "http://host[:port]/path?q" -> host, port, "/path?q".
bool ParseAbsoluteHttpUri(std::string_view uri, Target* t) {
  constexpr std::string_view kScheme = "http://";
  if (uri.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(ToAbsl(uri.substr(0, kScheme.size())), ToAbsl(kScheme))) {
    return false;
  }
  std::string_view rest = uri.substr(kScheme.size());
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (!ParseHostPort(authority, 80, t)) return false;
  t->path = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (t->path[0] != '/') t->path.insert(0, "/");
  return true;
}

}  // namespace

struct EgressProxy::Impl {
  EgressPolicy policy;
  EgressOptions options;
  std::vector<LoadedCredential> credentials;
  bool any_placeholder = false;
  std::unique_ptr<CertAuthority> ca;
  std::unique_ptr<ssl::context> upstream_tls;
  std::mutex server_tls_mu;
  std::map<std::string, std::shared_ptr<ssl::context>> server_tls;  // under server_tls_mu
  std::atomic<int> active{0};
  std::mutex record_mu;  // on_request is never called concurrently

  std::vector<std::unique_ptr<Worker>> workers;
  size_t next_worker = 0;  // workers[0]'s thread only (ServeOn's handing out)
  static constexpr std::chrono::seconds kIdleUpstreamTtl{30};

  ~Impl() {
    for (auto& w : workers) {
      w->work.reset();
      w->ioc.stop();
    }
    for (auto& w : workers) {
      if (w->thread.joinable()) w->thread.join();
    }
  }

  void Record(const EgressRecord& r) {
    if (!options.on_request) return;
    std::lock_guard<std::mutex> lock(record_mu);
    options.on_request(r);
  }

  // --- Policy decisions --------------------------------------------------

  // Empty when allowed, else the reason (for the record and the 403 body).
  std::string Decide(const std::string& host, uint16_t port, std::string_view scheme) const {
    bool allowed = false;
    for (const std::string& p : policy.allow_hosts) allowed = allowed || EgressHostMatches(p, host);
    if (!allowed) return "host not allowed";
    if (std::find(policy.allow_ports.begin(), policy.allow_ports.end(), port) ==
        policy.allow_ports.end()) {
      return "port not allowed";
    }
    // Scheme binding: an exact entry wins over a wildcard.
    const std::string* bound = nullptr;
    for (const auto& [pattern, s] : policy.schemes) {
      if (pattern == host) {
        bound = &s;
        break;
      }
      if (bound == nullptr && EgressHostMatches(pattern, host)) bound = &s;
    }
    if (bound != nullptr && *bound != scheme) {
      return absl::StrCat("scheme ", ToAbsl(scheme), " not allowed for this host");
    }
    // A credential goes over plain HTTP only when the policy says so.
    if (scheme == "http" && (bound == nullptr || *bound != "http")) {
      for (const LoadedCredential& c : credentials) {
        if (c.host == host) return "credential host requires https";
      }
    }
    return "";
  }

  bool Terminates(const std::string& host) const {
    if (any_placeholder) return true;
    for (const LoadedCredential& c : credentials) {
      if (c.host == host) return true;
    }
    return false;
  }

  // Placeholders and credential headers (steps 3 and 4 of the header).
  // Returns a reason to refuse, or "" after rewriting the request.
  template <class Message>
  std::string ApplyCredentials(const std::string& host, Message& req) const {
    if (!any_placeholder && credentials.empty()) return "";
    // Placeholders: refused anywhere but their host, swapped there.
    bool swap = false;
    for (const LoadedCredential& c : credentials) {
      if (c.placeholder.empty()) continue;
      bool present = absl::StrContains(ToAbsl(SV(req.target())), c.placeholder);
      for (const auto& f : req) {
        present = present || absl::StrContains(ToAbsl(SV(f.value())), c.placeholder);
      }
      if (!present) continue;
      if (c.host != host) return "credential placeholder sent to another host";
      swap = true;
    }
    if (swap) {
      std::vector<std::pair<std::string, std::string>> fields;
      for (const auto& f : req) {
        fields.emplace_back(Str(f.name_string()), Str(f.value()));
      }
      std::string target = Str(req.target());
      for (const LoadedCredential& c : credentials) {
        if (c.placeholder.empty() || c.host != host) continue;
        std::vector<std::pair<const absl::string_view, absl::string_view>> rep = {
            {c.placeholder, ToAbsl(c.secret.view())}};
        for (auto& [name, value] : fields) absl::StrReplaceAll(rep, &value);
        absl::StrReplaceAll(rep, &target);
      }
      req.target(target);
      req.clear();
      for (const auto& [name, value] : fields) req.insert(name, value);
      for (auto& [name, value] : fields) {
        std::fill(value.begin(), value.end(), '\0');
      }
      std::fill(target.begin(), target.end(), '\0');
    }
    for (const LoadedCredential& c : credentials) {
      if (c.host == host)
        req.set(c.header, beast::string_view(c.value.view().data(), c.value.size()));
    }
    return "";
  }

  std::shared_ptr<ssl::context> ServerContextFor(const std::string& host) {
    std::lock_guard<std::mutex> lock(server_tls_mu);
    if (auto it = server_tls.find(host); it != server_tls.end()) return it->second;
    absl::StatusOr<CertifiedKey> leaf = ca->LeafFor(host);
    if (!leaf.ok()) return nullptr;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    if (SSL_CTX_use_certificate(ctx->native_handle(), leaf->cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx->native_handle(), leaf->key.get()) != 1) {
      return nullptr;
    }
    server_tls.emplace(host, ctx);
    return ctx;
  }

  // --- I/O helpers ---------------------------------------------------------

  awaitable<void> Watchdog(std::shared_ptr<Conn> c) {
    auto idle = absl::ToChronoMilliseconds(options.idle_timeout);
    auto total = absl::ToChronoMilliseconds(options.total_timeout);
    auto tick = std::clamp<std::chrono::milliseconds>(idle / 4, std::chrono::milliseconds(10),
                                                      std::chrono::milliseconds(1000));
    while (!c->done) {
      c->watchdog.expires_after(tick);
      error_code ec;
      co_await c->watchdog.async_wait(redirect_error(use_awaitable, ec));
      if (c->done) co_return;
      Clock::time_point now = Clock::now();
      if (now - c->last > idle || now - c->start > total) {
        c->CloseAll();
        co_return;
      }
    }
  }

  awaitable<error_code> ConnectUpstream(const Target& t, tcp::socket& sock) {
    error_code ec;
    std::vector<tcp::endpoint> endpoints;
    if (auto it = policy.resolve.find(t.host); it != policy.resolve.end()) {
      asio::ip::address addr = asio::ip::make_address(it->second, ec);
      if (ec) co_return ec;
      endpoints.emplace_back(addr, t.port);
    } else {
      tcp::resolver resolver(sock.get_executor());
      auto results = co_await resolver.async_resolve(t.host, std::to_string(t.port),
                                                     redirect_error(use_awaitable, ec));
      if (ec) co_return ec;
      for (const auto& r : results) endpoints.push_back(r.endpoint());
    }
    co_await asio::async_connect(sock, endpoints, redirect_error(use_awaitable, ec));
    if (!ec) sock.set_option(tcp::no_delay(true), ec);
    if (!ec) sock.non_blocking(true, ec);
    co_return ec;
  }

  // Plain TCP sockets are non-blocking (set at accept and connect) and a
  // read or write is first tried with Beast's synchronous call: a message
  // already waiting costs one recv and no trip through the scheduler (each
  // completed asynchronous operation is a posted handler, and the scheduler
  // polls epoll between handlers). When the socket would block, the
  // asynchronous operation takes over where the synchronous one stopped (the
  // parser and buffer keep their state); waiting with async_wait instead
  // would cost an epoll_ctl re-arm per wait in this Boost.
  template <class Stream>
  static constexpr bool kPlainTcp = std::is_same_v<Stream, tcp::socket>;

  static bool WouldBlock(const error_code& ec) {
    return ec == asio::error::would_block || ec == asio::error::try_again;
  }

  // Writes what the serializer has now; the asynchronous write finishes what
  // the socket's buffer would not take (it also arms EPOLLOUT, which a bare
  // wait_write does not in this Boost).
  template <class Out, class Serializer>
  static awaitable<error_code> WriteMessage(Out& out, Serializer& sr) {
    error_code ec;
    if constexpr (kPlainTcp<Out>) {
      http::write(out, sr, ec);
      if (!WouldBlock(ec)) co_return ec;
      ec = {};
    }
    co_await http::async_write(out, sr, redirect_error(use_awaitable, ec));
    co_return ec;
  }

  template <class Stream>
  awaitable<void> SendError(Stream& s, http::status status, std::string_view reason,
                            bool close = true) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "text/plain");
    res.set(http::field::server, "kavach-egress");
    res.body() = absl::StrCat("kavach egress: ", ToAbsl(reason), "\n");
    res.keep_alive(!close);
    res.prepare_payload();
    error_code ec;
    co_await http::async_write(s, res, redirect_error(use_awaitable, ec));
  }

  // Relays one message whose header `p` has already read from `in`.
  template <bool isRequest, class In, class Out>
  awaitable<error_code> Relay(Conn& c, In& in, Out& out, beast::flat_buffer& buf,
                              http::parser<isRequest, http::buffer_body>& p, uint64_t& bytes) {
    http::serializer<isRequest, http::buffer_body> sr{p.get()};
    std::array<char, 16384> chunk;
    error_code ec;
    do {
      if (!p.is_done()) {
        p.get().body().data = chunk.data();
        p.get().body().size = chunk.size();
        if constexpr (kPlainTcp<In>) http::read(in, buf, p, ec);
        if (!kPlainTcp<In> || WouldBlock(ec)) {
          ec = {};
          co_await http::async_read(in, buf, p, redirect_error(use_awaitable, ec));
        }
        if (ec == http::error::need_buffer) ec = {};
        if (ec) co_return ec;
        size_t got = chunk.size() - p.get().body().size;
        bytes += got;
        c.Touch();
        p.get().body().size = got;
        p.get().body().data = chunk.data();
        p.get().body().more = !p.is_done();
      } else {
        p.get().body().data = nullptr;
        p.get().body().size = 0;
        p.get().body().more = false;
      }
      ec = co_await WriteMessage(out, sr);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return ec;
      c.Touch();
    } while (!p.is_done() && !sr.is_done());
    co_return ec;
  }

  // Reads the next request header from a client stream. Returns false when
  // the connection should end (a 431 or 400 has been sent when due).
  template <class Stream>
  awaitable<bool> ReadRequestHeader(Conn& c, Stream& s, beast::flat_buffer& buf,
                                    http::request_parser<http::buffer_body>& p) {
    p.header_limit(static_cast<uint32_t>(options.max_header_bytes));
    p.body_limit(std::numeric_limits<uint64_t>::max());
    error_code ec;
    if constexpr (kPlainTcp<Stream>) http::read_header(s, buf, p, ec);
    if (!kPlainTcp<Stream> || WouldBlock(ec)) {
      ec = {};
      co_await http::async_read_header(s, buf, p, redirect_error(use_awaitable, ec));
    }
    c.Touch();
    if (ec == http::error::header_limit) {
      co_await SendError(s, http::status::request_header_fields_too_large,
                         "request header too large");
      co_return false;
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == ssl::error::stream_truncated ||
        ec == asio::error::connection_reset || ec == asio::error::bad_descriptor) {
      co_return false;
    }
    if (ec) {
      co_await SendError(s, http::status::bad_request, "malformed request");
      co_return false;
    }
    co_return true;
  }

  static void StripProxyHeaders(http::request<http::buffer_body>& req) {
    req.erase(http::field::proxy_authorization);
    req.erase("Proxy-Connection");
  }

  // One request (header read) on `client` to `t`, sent over `up` (already
  // connected). `client_keep_alive`: whether the client asked to keep its
  // connection (the request sent upstream may say otherwise). Returns whether
  // the client connection may carry another message; `upstream_reusable`
  // says the same of `up`. The client is told "close" when either side ends.
  template <class ClientStream, class UpStream>
  awaitable<bool> Exchange(Conn& c, ClientStream& client, beast::flat_buffer& cbuf,
                           http::request_parser<http::buffer_body>& rp, UpStream& up,
                           beast::flat_buffer& ubuf, EgressRecord& rec, bool client_keep_alive,
                           bool* upstream_reusable = nullptr) {
    if (upstream_reusable != nullptr) *upstream_reusable = false;
    http::request<http::buffer_body>& req = rp.get();
    bool head = req.method() == http::verb::head;
    error_code ec = co_await Relay(c, client, up, cbuf, rp, rec.request_bytes);
    if (ec) {
      rec.status = 502;
      rec.reason = "upstream write failed";
      co_await SendError(client, http::status::bad_gateway, "upstream write failed");
      co_return false;
    }
    http::response_parser<http::buffer_body> resp;
    resp.header_limit(64 * 1024);
    resp.body_limit(std::numeric_limits<uint64_t>::max());
    resp.skip(head);
    // Straight to the asynchronous read: the response cannot be here yet.
    co_await http::async_read_header(up, ubuf, resp, redirect_error(use_awaitable, ec));
    c.Touch();
    if (ec) {
      rec.status = 502;
      rec.reason = "no response from upstream";
      co_await SendError(client, http::status::bad_gateway, "no response from upstream");
      co_return false;
    }
    rec.status = resp.get().result_int();
    bool up_keep = resp.get().keep_alive() && req.keep_alive();
    bool keep = up_keep && client_keep_alive;
    if (keep != resp.get().keep_alive()) resp.get().keep_alive(keep);
    ec = co_await Relay(c, up, client, ubuf, resp, rec.response_bytes);
    if (upstream_reusable != nullptr) *upstream_reusable = !ec && up_keep;
    co_return !ec && keep;
  }

  // --- Plain HTTP (absolute URI) -------------------------------------------

  awaitable<bool> ForwardHttp(std::shared_ptr<Conn> c, beast::flat_buffer& buf,
                              http::request_parser<http::buffer_body>& rp) {
    http::request<http::buffer_body>& req = rp.get();
    EgressRecord rec;
    rec.method = Str(req.method_string());
    rec.mode = "http";
    Target t;
    if (!ParseAbsoluteHttpUri(SV(req.target()), &t)) {
      rec.status = 400;
      rec.reason = "not an absolute http:// URI";
      rec.path = PathWithoutQuery(SV(req.target()));
      Record(rec);
      co_await SendError(c->client, http::status::bad_request,
                         "only absolute http:// URIs and CONNECT are proxied");
      co_return false;
    }
    rec.host = t.host;
    rec.port = t.port;
    rec.path = PathWithoutQuery(t.path);
    std::string refused = Decide(t.host, t.port, "http");
    req.target(t.path);
    if (refused.empty()) refused = ApplyCredentials(t.host, req);
    if (!refused.empty()) {
      rec.status = 403;
      rec.reason = refused;
      Record(rec);
      co_await SendError(c->client, http::status::forbidden, refused);
      co_return false;
    }
    // The Host header names the host we connect to (no fronting).
    req.set(http::field::host, t.port == 80 ? t.host : absl::StrCat(t.host, ":", t.port));
    StripProxyHeaders(req);
    // Keep-alive: the upstream connection of the previous request is reused
    // when it went to the same host:port and the server has not closed it;
    // a request to another host gets a fresh one (each request is checked
    // against the policy on its own either way).
    std::string key = absl::StrCat(t.host, ":", t.port);
    // The peek costs a syscall per request; a connection used within the
    // last second is taken as open (servers announce a close they plan, with
    // "Connection: close", which drops it).
    if (c->http_up &&
        (c->http_up_key != key ||
         (Clock::now() - c->http_up_used > std::chrono::seconds(1) && !StillOpen(*c->http_up)))) {
      c->DropHttpUpstream();
    }
    if (c->http_ubuf.capacity() < kUpstreamReadBytes) c->http_ubuf.reserve(kUpstreamReadBytes);
    if (!c->http_up) {
      // An idle connection another client left to this host:port.
      if (std::optional<tcp::socket> idle = TakeIdleUpstream(c->worker, key)) {
        c->http_up.emplace(std::move(*idle));
        c->http_up_key = key;
      }
    }
    if (!c->http_up) {
      c->http_up.emplace(c->worker.ioc);
      error_code ec = co_await ConnectUpstream(t, *c->http_up);
      if (ec) {
        c->DropHttpUpstream();
        rec.status = 502;
        rec.reason = "cannot connect to upstream";
        Record(rec);
        co_await SendError(c->client, http::status::bad_gateway, "cannot connect to upstream");
        co_return false;
      }
      c->http_up_key = key;
    }
    // Upstream, the connection is kept open whatever the client asked, so
    // that it can serve the next client (hop-by-hop, as Connection is).
    bool client_keep = req.keep_alive();
    req.keep_alive(true);
    bool up_reusable = false;
    bool keep = co_await Exchange(*c, c->client, buf, rp, *c->http_up, c->http_ubuf, rec,
                                  client_keep, &up_reusable);
    Record(rec);
    c->http_up_used = Clock::now();
    if (!up_reusable) c->DropHttpUpstream();
    co_return keep;
  }

  // An idle connection to `key` from worker `w`'s pool, if one is still open.
  std::optional<tcp::socket> TakeIdleUpstream(Worker& w, const std::string& key) {
    auto it = w.idle_http.find(key);
    if (it == w.idle_http.end()) return std::nullopt;
    std::optional<tcp::socket> found;
    Clock::time_point now = Clock::now();
    while (!it->second.empty() && !found) {
      IdleUpstream u = std::move(it->second.back());
      it->second.pop_back();
      if (now - u.since < kIdleUpstreamTtl && StillOpen(u.socket)) {
        found.emplace(std::move(u.socket));
      } else {
        error_code ignored;
        u.socket.close(ignored);
      }
    }
    if (it->second.empty()) w.idle_http.erase(it);
    return found;
  }

  // Keeps `c`'s upstream connection for another client when it may carry
  // another request and nothing unread waits on it.
  void ReleaseHttpUpstream(Conn& c) {
    if (c.http_up && c.http_up->is_open() && c.http_ubuf.size() == 0 &&
        options.max_idle_upstreams_per_host > 0) {
      std::vector<IdleUpstream>& idle = c.worker.idle_http[c.http_up_key];
      if (idle.size() < static_cast<size_t>(options.max_idle_upstreams_per_host)) {
        idle.push_back({std::move(*c.http_up), Clock::now()});
        c.http_up.reset();
      }
    }
    c.DropHttpUpstream();
  }

  // Whether an idle upstream connection may carry another request: no EOF,
  // error or unexpected bytes waiting on it.
  static bool StillOpen(tcp::socket& s) {
    if (!s.is_open()) return false;
    char byte;
    ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // --- CONNECT ---------------------------------------------------------------

  awaitable<void> Pump(std::shared_ptr<Conn> c, tcp::socket& from, tcp::socket& to, uint64_t& count,
                       std::shared_ptr<asio::steady_timer> done, std::shared_ptr<int> remaining) {
    std::array<char, 16384> data;
    for (;;) {
      error_code ec;
      size_t n =
          co_await from.async_read_some(asio::buffer(data), redirect_error(use_awaitable, ec));
      if (ec) break;
      c->Touch();
      count += n;
      co_await asio::async_write(to, asio::buffer(data.data(), n),
                                 redirect_error(use_awaitable, ec));
      if (ec) break;
    }
    error_code ignored;
    to.shutdown(tcp::socket::shutdown_send, ignored);
    if (--*remaining == 0) done->cancel();
  }

  awaitable<void> Connect(std::shared_ptr<Conn> c, beast::flat_buffer& buf,
                          http::request_parser<http::buffer_body>& rp) {
    http::request<http::buffer_body>& req = rp.get();
    EgressRecord rec;
    rec.method = "CONNECT";
    rec.mode = "tunnel";
    Target t;
    if (!ParseHostPort(SV(req.target()), 443, &t)) {
      rec.status = 400;
      rec.reason = "bad CONNECT target";
      Record(rec);
      co_await SendError(c->client, http::status::bad_request, "CONNECT needs host:port");
      co_return;
    }
    rec.host = t.host;
    rec.port = t.port;
    std::string refused = Decide(t.host, t.port, "https");
    if (!refused.empty()) {
      rec.status = 403;
      rec.reason = refused;
      Record(rec);
      co_await SendError(c->client, http::status::forbidden, refused);
      co_return;
    }
    error_code ec;
    static constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
    co_await asio::async_write(c->client, asio::buffer(kEstablished.data(), kEstablished.size()),
                               redirect_error(use_awaitable, ec));
    if (ec) co_return;

    // The ClientHello: whatever followed the CONNECT header, then more until
    // one whole record is here.
    std::string hello(static_cast<const char*>(buf.data().data()), buf.size());
    buf.consume(buf.size());
    std::string sni;
    SniResult sr;
    while ((sr = ParseClientHelloSni(hello, &sni)) == SniResult::kNeedMore) {
      std::array<char, 4096> more;
      size_t n =
          co_await c->client.async_read_some(asio::buffer(more), redirect_error(use_awaitable, ec));
      if (ec) co_return;
      c->Touch();
      hello.append(more.data(), n);
    }
    if (sr != SniResult::kFound || sni != t.host) {
      rec.status = 403;
      rec.reason = sr == SniResult::kFound   ? "TLS server name differs from the CONNECT host"
                   : sr == SniResult::kNoSni ? "TLS ClientHello without a server name"
                                             : "not TLS after CONNECT";
      Record(rec);
      co_return;  // the client speaks TLS now; closing is the only answer
    }
    if (Terminates(t.host)) {
      co_await Terminate(c, t, hello, rec);
      co_return;
    }

    asio::io_context& ioc = c->worker.ioc;
    c->upstream.emplace(ioc);
    c->sockets.push_back(&*c->upstream);
    ec = co_await ConnectUpstream(t, *c->upstream);
    if (ec) {
      rec.status = 502;
      rec.reason = "cannot connect to upstream";
      Record(rec);
      co_return;
    }
    co_await asio::async_write(*c->upstream, asio::buffer(hello),
                               redirect_error(use_awaitable, ec));
    if (ec) co_return;
    rec.status = 200;
    rec.request_bytes = hello.size();
    auto done = std::make_shared<asio::steady_timer>(ioc, std::chrono::hours(24 * 365));
    auto remaining = std::make_shared<int>(2);
    asio::co_spawn(ioc, Pump(c, c->client, *c->upstream, rec.request_bytes, done, remaining),
                   asio::detached);
    asio::co_spawn(ioc, Pump(c, *c->upstream, c->client, rec.response_bytes, done, remaining),
                   asio::detached);
    co_await done->async_wait(redirect_error(use_awaitable, ec));
    Record(rec);
  }

  awaitable<void> Terminate(std::shared_ptr<Conn> c, const Target& t, const std::string& hello,
                            EgressRecord rec) {
    rec.mode = "tls-terminated";
    std::shared_ptr<ssl::context> server_ctx = ServerContextFor(t.host);
    if (!server_ctx) {
      rec.status = 500;
      rec.reason = "cannot mint a certificate";
      Record(rec);
      co_return;
    }
    Conn::Scope scope(*c);
    ssl::stream<tcp::socket> client(std::move(c->client), *server_ctx);
    c->sockets.push_back(&client.next_layer());
    error_code ec;
    co_await client.async_handshake(ssl::stream_base::server, asio::buffer(hello),
                                    redirect_error(use_awaitable, ec));
    c->Touch();
    if (ec) {
      rec.status = 0;
      rec.reason = "client TLS handshake failed";
      Record(rec);
      co_return;
    }
    // Upstream is connected at the first request that passes the checks, so a
    // refused request never causes any traffic to the host.
    ssl::stream<tcp::socket> up(tcp::socket(c->worker.ioc), *upstream_tls);
    c->sockets.push_back(&up.next_layer());
    bool connected = false;
    beast::flat_buffer cbuf;
    beast::flat_buffer ubuf;
    cbuf.reserve(kClientReadBytes);
    ubuf.reserve(kUpstreamReadBytes);
    for (;;) {
      http::request_parser<http::buffer_body> rp;
      if (!co_await ReadRequestHeader(*c, client, cbuf, rp)) co_return;
      http::request<http::buffer_body>& req = rp.get();
      EgressRecord r = rec;
      r.method = Str(req.method_string());
      r.path = PathWithoutQuery(SV(req.target()));
      // Inside the tunnel the Host header must still be the CONNECT host.
      std::string_view host_hdr = SV(req[http::field::host]);
      Target ht;
      std::string refused;
      if (!host_hdr.empty() &&
          (!ParseHostPort(host_hdr, t.port, &ht) || ht.host != t.host || ht.port != t.port)) {
        refused = "Host header differs from the CONNECT host";
      }
      if (refused.empty()) refused = ApplyCredentials(t.host, req);
      if (!refused.empty()) {
        r.status = 403;
        r.reason = refused;
        Record(r);
        co_await SendError(client, http::status::forbidden, refused);
        co_return;
      }
      StripProxyHeaders(req);
      if (!connected) {
        ec = co_await ConnectUpstream(t, up.next_layer());
        if (ec) {
          r.status = 502;
          r.reason = "cannot connect to upstream";
          Record(r);
          co_await SendError(client, http::status::bad_gateway, "cannot connect to upstream");
          co_return;
        }
        SSL_set_tlsext_host_name(up.native_handle(), t.host.c_str());
        SSL_set1_host(up.native_handle(), t.host.c_str());
        up.set_verify_mode(ssl::verify_peer);
        co_await up.async_handshake(ssl::stream_base::client, redirect_error(use_awaitable, ec));
        c->Touch();
        if (ec) {
          r.status = 502;
          r.reason = "upstream TLS verification failed";
          Record(r);
          co_await SendError(client, http::status::bad_gateway, "upstream TLS verification failed");
          co_return;
        }
        connected = true;
      }
      bool keep = co_await Exchange(*c, client, cbuf, rp, up, ubuf, r, rp.get().keep_alive());
      Record(r);
      if (!keep) co_return;
    }
  }

  // --- Accepting -------------------------------------------------------------

  awaitable<void> Serve(std::shared_ptr<Conn> c) {
    c->sockets.push_back(&c->client);
    asio::co_spawn(c->worker.ioc, Watchdog(c), asio::detached);
    beast::flat_buffer buf;
    buf.reserve(kClientReadBytes);
    for (;;) {
      http::request_parser<http::buffer_body> rp;
      if (!co_await ReadRequestHeader(*c, c->client, buf, rp)) break;
      if (rp.get().method() == http::verb::connect) {
        co_await Connect(c, buf, rp);
        break;
      }
      if (!co_await ForwardHttp(c, buf, rp)) break;
    }
    ReleaseHttpUpstream(*c);
    c->done = true;
    c->watchdog.cancel();
    c->CloseAll();
    c->sockets.clear();
  }

  awaitable<void> Reject(tcp::socket s) {
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    error_code ec;
    co_await asio::async_write(s, asio::buffer(kBusy.data(), kBusy.size()),
                               redirect_error(use_awaitable, ec));
  }

  // Accepts for `own` (a Listen acceptor of that thread's, one per thread
  // with SO_REUSEPORT: the kernel spreads connections, no thread hands one to
  // another) or, when `own` is null (ServeOn's single socket, on the first
  // thread), for each thread in turn.
  awaitable<void> AcceptLoop(tcp::acceptor& acceptor, Worker* own) {
    for (;;) {
      error_code ec;
      Worker& w = own != nullptr ? *own : *workers[next_worker];
      tcp::socket s = co_await acceptor.async_accept(w.ioc, redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        // Out of fds and the like: back off a little instead of spinning.
        asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
        co_await pause.async_wait(redirect_error(use_awaitable, ec));
        continue;
      }
      if (own == nullptr) next_worker = (next_worker + 1) % workers.size();
      if (active.load() >= options.max_connections) {
        asio::co_spawn(w.ioc, Reject(std::move(s)), asio::detached);
        continue;
      }
      s.set_option(tcp::no_delay(true), ec);
      s.non_blocking(true, ec);
      active.fetch_add(1);
      auto conn = std::make_shared<Conn>(w, std::move(s));
      asio::co_spawn(w.ioc, Serve(conn), [this](std::exception_ptr) { active.fetch_sub(1); });
    }
  }

  // Starts accepting on `w`'s thread (the acceptor belongs to w.ioc).
  void StartAcceptor(Worker& w, tcp::acceptor acceptor, bool own) {
    auto holder = std::make_shared<tcp::acceptor>(std::move(acceptor));
    asio::post(w.ioc, [this, holder, &w, own] {
      w.acceptors.push_back(std::move(*holder));
      asio::co_spawn(w.ioc, AcceptLoop(w.acceptors.back(), own ? &w : nullptr), asio::detached);
    });
  }
};

EgressProxy::EgressProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EgressProxy::~EgressProxy() = default;

absl::StatusOr<std::unique_ptr<EgressProxy>> EgressProxy::Create(const EgressPolicy& policy,
                                                                 EgressOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->policy = policy;
  impl->options = std::move(options);
  for (const CredentialRule& rule : policy.credentials) {
    absl::StatusOr<Secret> secret = LoadSecret(rule.source);
    if (!secret.ok()) {
      return absl::Status(secret.status().code(),
                          absl::StrCat("egress credential for ", rule.host, " (", rule.header,
                                       "): ", secret.status().message()));
    }
    LoadedCredential c;
    c.host = rule.host;
    c.header = rule.header;
    c.value = Secret(absl::StrCat(rule.prefix, ToAbsl(secret->view())));
    c.secret = *std::move(secret);
    c.placeholder = rule.placeholder;
    impl->any_placeholder = impl->any_placeholder || !rule.placeholder.empty();
    impl->credentials.push_back(std::move(c));
  }
  absl::StatusOr<std::unique_ptr<CertAuthority>> ca =
      CertAuthority::Create(absl::StrCat("kavach egress CA ", impl->options.ca_name));
  if (!ca.ok()) return ca.status();
  impl->ca = *std::move(ca);

  impl->upstream_tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(impl->upstream_tls->native_handle(), TLS1_2_VERSION);
  error_code ec;
  if (policy.upstream_ca_file.empty()) {
    impl->upstream_tls->set_default_verify_paths(ec);
  } else {
    impl->upstream_tls->load_verify_file(policy.upstream_ca_file, ec);
  }
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("egress: cannot load the upstream trust store ",
                     policy.upstream_ca_file.empty() ? "(system default)" : policy.upstream_ca_file,
                     ": ", ec.message()));
  }
  impl->upstream_tls->set_verify_mode(ssl::verify_peer);

  int threads = std::clamp(impl->options.threads, 1, 64);
  for (int i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->work.emplace(w->ioc.get_executor());
    impl->workers.push_back(std::move(w));
  }
  for (auto& w : impl->workers) {
    asio::io_context* ioc = &w->ioc;
    w->thread = std::thread([ioc] {
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (const std::exception&) {
          // A connection's coroutine threw (bad_alloc and the like): that
          // connection is gone, the proxy goes on.
        }
      }
    });
  }
  return std::unique_ptr<EgressProxy>(new EgressProxy(std::move(impl)));
}

absl::StatusOr<uint16_t> EgressProxy::Listen(const std::string& address, uint16_t port) {
  error_code ec;
  asio::ip::address addr = asio::ip::make_address(address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("egress: bad listen address ", address));
  // One acceptor per thread, all on the same port (SO_REUSEPORT; the first
  // one picks the port when asked for any: the kernel never picks a port
  // another reuseport group holds). Only sockets of the same user can join
  // the group; a single thread sets no SO_REUSEPORT at all.
  using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  bool several = impl_->workers.size() > 1;
  std::vector<tcp::acceptor> acceptors;
  tcp::endpoint ep(addr, port);
  for (auto& w : impl_->workers) {
    tcp::acceptor& acceptor = acceptors.emplace_back(w->ioc);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && several) acceptor.set_option(reuse_port(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("egress: listen on ", address, ":", port, ": ", ec.message()));
    }
    ep.port(acceptor.local_endpoint(ec).port());
  }
  for (size_t i = 0; i < acceptors.size(); ++i) {
    impl_->StartAcceptor(*impl_->workers[i], std::move(acceptors[i]), true);
  }
  return ep.port();
}

absl::Status EgressProxy::ServeOn(sys::UniqueFd listening_socket) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof ss;
  if (::getsockname(listening_socket.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return absl::InvalidArgumentError("egress: the fd to serve on is not a socket");
  }
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
    return absl::InvalidArgumentError("egress: the socket to serve on is not TCP/IP");
  }
  tcp::acceptor acceptor(impl_->workers[0]->ioc);
  error_code ec;
  acceptor.assign(ss.ss_family == AF_INET ? tcp::v4() : tcp::v6(), listening_socket.get(), ec);
  if (ec) return absl::InternalError(absl::StrCat("egress: adopt socket: ", ec.message()));
  (void)listening_socket.Release();
  impl_->StartAcceptor(*impl_->workers[0], std::move(acceptor), false);
  return absl::OkStatus();
}

std::string EgressProxy::CaCertificatePem() const { return impl_->ca->CertificatePem(); }

int EgressProxy::active_connections() const { return impl_->active.load(); }

}  // namespace kavach::internal
