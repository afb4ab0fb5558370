// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The egress proxy against real upstream servers on loopback: a plain HTTP
// server and an HTTPS server with a certificate from a test CA, both in this
// process. Host names are mapped to 127.0.0.1 with policy.egress.resolve.
#include "egress/egress_proxy.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "egress/cert_authority.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "sk-test-7f3a9c1e5b";
constexpr char kPlaceholder[] = "kvph-placeholder-0001";

// Answers every request with the request's header block as the body, so a
// test sees exactly what reached the upstream.
class EchoServer {
 public:
  explicit EchoServer(ssl::context* tls = nullptr) : tls_(tls), acceptor_(ioc_) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Run(); });
  }
  // Every connection thread is joined here: a thread left running would
  // destroy its socket after ioc_ is gone (a use-after-free ASan caught in
  // CI when the proxy's pooled upstream connection outlived a test).
  ~EchoServer() {
    stop_ = true;
    boost::system::error_code ec;
    // Wake the blocking accept.
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Wake every connection thread blocked in a read.
      for (int fd : live_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : connection_threads_) t.join();
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }
  std::string last_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  template <class Stream>
  void Serve(Stream& s) {
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      boost::system::error_code ec;
      http::read(s, buf, parser, ec);
      if (ec) return;
      http::request<http::string_body> req = parser.release();
      ++requests_;
      std::string head =
          absl::StrCat(std::string(req.method_string()), " ", std::string(req.target()), "\n");
      for (const auto& f : req) {
        absl::StrAppend(&head, std::string(f.name_string()), ": ", std::string(f.value()), "\n");
      }
      absl::StrAppend(&head, "body-bytes: ", req.body().size(), "\n");
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_ = head;
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.body() = head;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(s, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }
  void Run() {
    while (!stop_) {
      boost::system::error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      ++connections_;
      int fd = s.native_handle();
      std::lock_guard<std::mutex> lock(mu_);
      live_fds_.insert(fd);
      connection_threads_.emplace_back([this, fd, s = std::move(s)]() mutable {
        if (tls_ != nullptr) {
          ssl::stream<tcp::socket> t(std::move(s), *tls_);
          boost::system::error_code hec;
          t.handshake(ssl::stream_base::server, hec);
          if (!hec) Serve(t);
          Forget(fd, t.next_layer());
        } else {
          Serve(s);
          Forget(fd, s);
        }
      });
    }
  }

  // Closes a finished connection while holding mu_, so the destructor never
  // shuts down an fd number that has been reused.
  void Forget(int fd, tcp::socket& s) {
    std::lock_guard<std::mutex> lock(mu_);
    live_fds_.erase(fd);
    boost::system::error_code ignored;
    s.close(ignored);
  }

  ssl::context* tls_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::string last_;
  std::set<int> live_fds_;                       // guarded by mu_
  std::vector<std::thread> connection_threads_;  // guarded by mu_; joined at destruction
};

struct Response {
  int status = 0;
  std::string body;
  bool ok = false;  // a response was read at all
};

// A client of the proxy, blocking, with a read timeout.
class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("KAVACH_EGRESS_TEST_TOKEN", kSecret, 1);
    // The upstream's CA, as a file the proxy is told to trust.
    auto ca = CertAuthority::Create("upstream test CA");
    ASSERT_TRUE(ca.ok()) << ca.status();
    upstream_ca_ = *std::move(ca);
    ca_file_ = absl::StrCat(::testing::TempDir(), "/egress-upstream-ca-", ::getpid(), ".pem");
    std::ofstream(ca_file_) << upstream_ca_->CertificatePem();
    upstream_tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    auto leaf = upstream_ca_->LeafFor("api.test");
    ASSERT_TRUE(leaf.ok());
    SSL_CTX_use_certificate(upstream_tls_->native_handle(), leaf->cert.get());
    SSL_CTX_use_PrivateKey(upstream_tls_->native_handle(), leaf->key.get());
    http_ = std::make_unique<EchoServer>();
    https_ = std::make_unique<EchoServer>(upstream_tls_.get());

    policy_.allow_hosts = {"api.test", "plain.test", "*.open.test"};
    policy_.allow_ports = {http_->port(), https_->port()};
    policy_.schemes = {{"plain.test", "http"}};
    policy_.resolve = {{"api.test", "127.0.0.1"},
                       {"plain.test", "127.0.0.1"},
                       {"www.open.test", "127.0.0.1"},
                       {"evil.test", "127.0.0.1"}};
    policy_.upstream_ca_file = ca_file_;
    policy_.credentials = {
        {"api.test", "Authorization", "env:KAVACH_EGRESS_TEST_TOKEN", "Bearer ", kPlaceholder},
        {"plain.test", "X-Api-Key", "env:KAVACH_EGRESS_TEST_TOKEN", "", ""}};
  }
  void TearDown() override {
    proxy_.reset();
    ::unlink(ca_file_.c_str());
  }

  void StartProxy(EgressOptions options = {}) {
    options.on_request = [this](const EgressRecord& r) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(EgressRecordJson(r));
    };
    auto p = EgressProxy::Create(policy_, options);
    ASSERT_TRUE(p.ok()) << p.status();
    proxy_ = *std::move(p);
    auto port = proxy_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    proxy_port_ = *port;
  }

  tcp::socket ConnectToProxy() {
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy_port_));
    timeval tv{5, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
  }

  template <class Stream>
  Response Send(Stream& s, http::request<http::string_body>& req) {
    Response out;
    boost::system::error_code ec;
    req.prepare_payload();
    http::write(s, req, ec);
    if (ec) return out;
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res, ec);
    if (ec) return out;
    out.ok = true;
    out.status = res.result_int();
    out.body = res.body();
    return out;
  }

  // A plain-HTTP request through the proxy (absolute URI).
  Response Get(const std::string& url,
               std::vector<std::pair<std::string, std::string>> headers = {}) {
    tcp::socket s = ConnectToProxy();
    http::request<http::string_body> req{http::verb::get, url, 11};
    req.set(http::field::host, "ignored.example");
    for (auto& [k, v] : headers) req.set(k, v);
    return Send(s, req);
  }

  // CONNECT host:port; returns the proxy's status line code (0 if none).
  int Connect(tcp::socket& s, const std::string& authority) {
    std::string req =
        absl::StrCat("CONNECT ", authority, " HTTP/1.1\r\nHost: ", authority, "\r\n\r\n");
    boost::system::error_code ec;
    asio::write(s, asio::buffer(req), ec);
    if (ec) return 0;
    beast::flat_buffer buf;
    http::response_parser<http::empty_body> p;
    p.skip(true);
    http::read_header(s, buf, p, ec);
    if (ec) return 0;
    return p.get().result_int();
  }

  // HTTPS through CONNECT with `sni` as the TLS server name, trusting the
  // proxy's CA (and the upstream's, for blind tunnels).
  Response GetTls(const std::string& host, uint16_t port, const std::string& sni,
                  const std::string& path,
                  std::vector<std::pair<std::string, std::string>> headers = {},
                  int* connect_status = nullptr) {
    tcp::socket s = ConnectToProxy();
    int cs = Connect(s, absl::StrCat(host, ":", port));
    if (connect_status) *connect_status = cs;
    if (cs != 200) return {};
    ssl::context ctx(ssl::context::tls_client);
    std::string pem = proxy_->CaCertificatePem() + upstream_ca_->CertificatePem();
    ctx.add_certificate_authority(asio::buffer(pem));
    ctx.set_verify_mode(ssl::verify_peer);
    ssl::stream<tcp::socket&> tls(s, ctx);
    SSL_set_tlsext_host_name(tls.native_handle(), sni.c_str());
    SSL_set1_host(tls.native_handle(), sni.c_str());
    boost::system::error_code ec;
    tls.handshake(ssl::stream_base::client, ec);
    if (ec) return {};
    http::request<http::string_body> req{http::verb::get, path, 11};
    req.set(http::field::host, absl::StrCat(host, ":", port));
    for (auto& [k, v] : headers) req.set(k, v);
    return Send(tls, req);
  }

  // The proxy records a request after relaying its response, so a client
  // may see the response a moment before the record exists.
  std::string Log() {
    for (int i = 0; i < 100; ++i) {
      {
        std::lock_guard<std::mutex> lock(log_mu_);
        if (!log_.empty()) break;
      }
      ::usleep(5000);
    }
    std::lock_guard<std::mutex> lock(log_mu_);
    std::string all;
    for (const std::string& l : log_) absl::StrAppend(&all, l, "\n");
    return all;
  }

  asio::io_context ioc_;
  std::unique_ptr<CertAuthority> upstream_ca_;
  std::string ca_file_;
  std::unique_ptr<ssl::context> upstream_tls_;
  std::unique_ptr<EchoServer> http_;
  std::unique_ptr<EchoServer> https_;
  EgressPolicy policy_;
  std::unique_ptr<EgressProxy> proxy_;
  uint16_t proxy_port_ = 0;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(ProxyTest, AllowedPlainHttpHostGetsTheInjectedHeaderReplacingTheCallers) {
  StartProxy();
  Response r = Get(absl::StrCat("http://plain.test:", http_->port(), "/v1/items?q=1"),
                   {{"X-Api-Key", "caller-supplied"}});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("GET /v1/items?q=1\n"));
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("X-Api-Key: ", kSecret, "\n")));
  EXPECT_THAT(r.body, Not(HasSubstr("caller-supplied")));
  // The Host header names the host connected to, not what the caller sent.
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("Host: plain.test:", http_->port())));
  EXPECT_THAT(Log(), HasSubstr("\"path\":\"/v1/items\""));
  EXPECT_THAT(Log(), Not(HasSubstr(kSecret)));
  EXPECT_THAT(Log(), Not(HasSubstr("q=1")));
}

TEST_F(ProxyTest, DeniedHostGets403AndNothingReachesTheUpstream) {
  StartProxy();
  Response r = Get(absl::StrCat("http://evil.test:", http_->port(), "/"));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("host not allowed"));
  EXPECT_EQ(http_->requests(), 0);
  int cs = 0;
  GetTls("evil.test", https_->port(), "evil.test", "/", {}, &cs);
  EXPECT_EQ(cs, 403);
  EXPECT_EQ(https_->requests(), 0);
}

TEST_F(ProxyTest, EmptyAllowListDeniesAll) {
  policy_.allow_hosts.clear();
  policy_.credentials.clear();
  policy_.schemes.clear();
  StartProxy();
  EXPECT_EQ(Get(absl::StrCat("http://plain.test:", http_->port(), "/")).status, 403);
  EXPECT_EQ(http_->requests(), 0);
}

TEST_F(ProxyTest, PortAndSchemeBindingAreEnforced) {
  StartProxy();
  // Port not on the list.
  EXPECT_EQ(Get("http://plain.test:9/").status, 403);
  // plain.test is bound to http: CONNECT is refused.
  int cs = 0;
  GetTls("plain.test", https_->port(), "plain.test", "/", {}, &cs);
  EXPECT_EQ(cs, 403);
  // api.test has a credential and no http binding: no plain HTTP.
  Response r = Get(absl::StrCat("http://api.test:", http_->port(), "/"));
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("requires https"));
  EXPECT_EQ(http_->requests(), 0);
}

TEST_F(ProxyTest, TerminatedHttpsInjectsAndSwapsThePlaceholder) {
  StartProxy();
  Response r = GetTls("api.test", https_->port(), "api.test", "/v1/me?token=x",
                      {{"Authorization", "Bearer caller"}, {"X-Echo", kPlaceholder}});
  ASSERT_TRUE(r.ok) << Log();
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("Authorization: Bearer ", kSecret, "\n")));
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("X-Echo: ", kSecret, "\n")));
  EXPECT_THAT(r.body, Not(HasSubstr("caller")));
  EXPECT_THAT(r.body, Not(HasSubstr(kPlaceholder)));
  EXPECT_THAT(Log(), HasSubstr("tls-terminated"));
  EXPECT_THAT(Log(), Not(HasSubstr(kSecret)));
}

// Several proxy threads: terminated HTTPS (the shared leaf-context cache)
// and plain HTTP from clients at once, each request checked and recorded.
TEST_F(ProxyTest, SeveralThreadsServeConcurrentClients) {
  EgressOptions options;
  options.threads = 3;
  StartProxy(options);
  constexpr int kClients = 6;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      for (int k = 0; k < 3; ++k) {
        Response r = i % 2 == 0 ? GetTls("api.test", https_->port(), "api.test", "/v1/me", {})
                                : Get(absl::StrCat("http://plain.test:", http_->port(), "/p"));
        if (r.status == 200) ++ok;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * 3) << Log();
  // A record may follow its response by a moment.
  std::string log;
  size_t lines = 0;
  for (int i = 0; i < 200 && lines < kClients * 3; ++i) {
    if (i > 0) ::usleep(5000);
    log = Log();
    lines = static_cast<size_t>(std::count(log.begin(), log.end(), '\n'));
  }
  EXPECT_EQ(lines, static_cast<size_t>(kClients * 3)) << log;
  EXPECT_THAT(log, Not(HasSubstr(kSecret)));
}

TEST_F(ProxyTest, PlaceholderSentToAnotherHostIs403) {
  StartProxy();
  Response r = Get(absl::StrCat("http://plain.test:", http_->port(), "/"),
                   {{"Authorization", absl::StrCat("Bearer ", kPlaceholder)}});
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("placeholder"));
  // In the query string too.
  r = Get(absl::StrCat("http://plain.test:", http_->port(), "/?k=", kPlaceholder));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(http_->requests(), 0);
  // And inside a TLS tunnel to another allowed host: every host is terminated
  // when a placeholder exists, so it is seen there as well.
  r = GetTls("www.open.test", https_->port(), "www.open.test", "/", {{"X-Key", kPlaceholder}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(https_->requests(), 0);
  EXPECT_THAT(Log(), Not(HasSubstr(kSecret)));
}

TEST_F(ProxyTest, BlindTunnelWhenNoCredentialOrPlaceholder) {
  policy_.credentials.clear();
  policy_.schemes.clear();
  StartProxy();
  // The upstream's own certificate is for api.test.
  Response r = GetTls("api.test", https_->port(), "api.test", "/blind");
  ASSERT_TRUE(r.ok) << Log();
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("GET /blind"));
  EXPECT_THAT(Log(), HasSubstr("\"mode\":\"tunnel\""));
}

TEST_F(ProxyTest, SniDifferentFromConnectHostIsRefused) {
  policy_.credentials.clear();
  StartProxy();
  int cs = 0;
  Response r = GetTls("api.test", https_->port(), "www.open.test", "/", {}, &cs);
  EXPECT_EQ(cs, 200);  // CONNECT itself was allowed...
  EXPECT_FALSE(r.ok);  // ...but the tunnel closed at the ClientHello
  EXPECT_EQ(https_->requests(), 0);
  EXPECT_THAT(Log(), HasSubstr("TLS server name differs from the CONNECT host"));
}

TEST_F(ProxyTest, OversizedHeadersGet431) {
  StartProxy();
  Response r = Get(absl::StrCat("http://plain.test:", http_->port(), "/"),
                   {{"X-Big", std::string(32 * 1024, 'a')}});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(http_->requests(), 0);
}

TEST_F(ProxyTest, StreamsALargeBody) {
  StartProxy();
  tcp::socket s = ConnectToProxy();
  http::request<http::string_body> req{
      http::verb::post, absl::StrCat("http://plain.test:", http_->port(), "/up"), 11};
  req.body() = std::string(3 << 20, 'x');
  Response r = Send(s, req);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("body-bytes: ", 3 << 20)));
  EXPECT_THAT(Log(), HasSubstr(absl::StrCat("\"request_bytes\":", 3 << 20)));
}

TEST_F(ProxyTest, IdleClientIsDropped) {
  EgressOptions options;
  options.idle_timeout = absl::Milliseconds(200);
  StartProxy(options);
  tcp::socket s = ConnectToProxy();
  char c;
  boost::system::error_code ec;
  auto t0 = std::chrono::steady_clock::now();
  s.read_some(asio::buffer(&c, 1), ec);  // nothing sent: the proxy must hang up
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_LT(waited, std::chrono::seconds(3));
}

TEST_F(ProxyTest, ConnectionCapAnswers503) {
  EgressOptions options;
  options.max_connections = 2;
  StartProxy(options);
  tcp::socket a = ConnectToProxy();
  tcp::socket b = ConnectToProxy();
  // Let the proxy accept both.
  for (int i = 0; i < 100 && proxy_->active_connections() < 2; ++i) ::usleep(10000);
  ASSERT_EQ(proxy_->active_connections(), 2);
  tcp::socket c = ConnectToProxy();
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  boost::system::error_code ec;
  http::read(c, buf, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 503);
}

TEST_F(ProxyTest, ManyConcurrentConnectionsLeaveNothingBehind) {
  policy_.credentials.clear();
  StartProxy();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&] {
      for (int j = 0; j < 8; ++j) {
        asio::io_context ioc;
        tcp::socket s(ioc);
        boost::system::error_code ec;
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy_port_), ec);
        if (ec) continue;
        http::request<http::string_body> req{
            http::verb::get, absl::StrCat("http://plain.test:", http_->port(), "/"), 11};
        http::write(s, req, ec);
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        http::read(s, buf, res, ec);
        if (!ec && res.result_int() == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 16 * 8);
  for (int i = 0; i < 200 && proxy_->active_connections() > 0; ++i) ::usleep(10000);
  EXPECT_EQ(proxy_->active_connections(), 0);
}

int CountEntries(const char* dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

// HTTP/1.1 keep-alive on the plain-HTTP path: one client connection carries
// several requests, and they share one upstream connection.
TEST_F(ProxyTest, PlainHttpKeepAliveReusesBothConnections) {
  policy_.credentials.clear();
  StartProxy();
  tcp::socket s = ConnectToProxy();
  for (int i = 0; i < 3; ++i) {
    http::request<http::string_body> req{
        http::verb::get, absl::StrCat("http://plain.test:", http_->port(), "/k", i), 11};
    req.set(http::field::host, "plain.test");
    req.keep_alive(true);
    Response r = Send(s, req);
    ASSERT_TRUE(r.ok) << "request " << i;
    EXPECT_EQ(r.status, 200);
    EXPECT_THAT(r.body, HasSubstr(absl::StrCat("GET /k", i, "\n")));
  }
  EXPECT_EQ(http_->requests(), 3);
  EXPECT_EQ(http_->connections(), 1);
  // A denied host on the same connection is still refused, and ends it.
  http::request<http::string_body> denied{http::verb::get, "http://denied.test/", 11};
  Response r = Send(s, denied);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(http_->requests(), 3);
}

// Client connections that each send one request with "Connection: close"
// share the upstream connection the first one opened; the client is still
// told "close".
TEST_F(ProxyTest, UpstreamConnectionOutlivesClosingClients) {
  policy_.credentials.clear();
  StartProxy();
  for (int i = 0; i < 3; ++i) {
    tcp::socket s = ConnectToProxy();
    http::request<http::string_body> req{
        http::verb::get, absl::StrCat("http://plain.test:", http_->port(), "/c", i), 11};
    req.set(http::field::host, "plain.test");
    req.keep_alive(false);
    boost::system::error_code ec;
    http::write(s, req, ec);
    ASSERT_FALSE(ec) << ec.message();
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_FALSE(res.keep_alive());
    // The upstream was asked to keep the connection.
    EXPECT_THAT(res.body(), Not(HasSubstr("Connection: close")));
    char c;
    s.read_some(asio::buffer(&c, 1), ec);  // the proxy closes its end
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
  }
  EXPECT_EQ(http_->requests(), 3);
  EXPECT_EQ(http_->connections(), 1);
}

// 1,000 client connections open at once, each with a request in flight
// through the proxy; afterwards the process has the descriptors and threads
// it had before.
TEST_F(ProxyTest, ThousandConcurrentConnectionsLeaveNoFdsOrThreads) {
  policy_.credentials.clear();
  struct rlimit rl;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  // Three descriptors per connection live in this process: the client's, the
  // proxy's accepted socket and its upstream socket (plus the echo server's).
  if (rl.rlim_max < 5000) GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << rl.rlim_max << " < 5000";
  struct rlimit raised = rl;
  raised.rlim_cur = rl.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &raised), 0);
  EgressOptions options;
  options.max_connections = 2000;
  // Connections spread over several threads (each with its own io_context);
  // every thread's sockets must be gone at the end too.
  options.threads = 3;
  // No idle upstream pool: every descriptor must be gone at the end.
  options.max_idle_upstreams_per_host = 0;
  StartProxy(options);
  // Warm up (lazy state: resolver, first accept, each thread's reactor: the
  // connections go round-robin) before the baseline.
  for (int i = 0; i < options.threads; ++i) {
    ASSERT_EQ(Get(absl::StrCat("http://plain.test:", http_->port(), "/warm")).status, 200);
  }
  for (int i = 0; i < 200 && proxy_->active_connections() > 0; ++i) ::usleep(10000);
  ::usleep(100000);
  int fds_before = CountEntries("/proc/self/fd");
  int threads_before = CountEntries("/proc/self/task");

  constexpr int kClients = 1000;
  // The fixture's io_context: its reactor's descriptors exist already.
  std::vector<tcp::socket> socks;
  socks.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    socks.emplace_back(ioc_);
    boost::system::error_code ec;
    socks.back().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy_port_), ec);
    ASSERT_FALSE(ec) << i << ": " << ec.message();
  }
  for (int i = 0; i < 200 && proxy_->active_connections() < kClients; ++i) ::usleep(10000);
  EXPECT_EQ(proxy_->active_connections(), kClients);
  for (tcp::socket& s : socks) {
    std::string req = absl::StrCat("GET http://plain.test:", http_->port(),
                                   "/c HTTP/1.1\r\nHost: plain.test\r\n\r\n");
    boost::system::error_code ec;
    asio::write(s, asio::buffer(req), ec);
    ASSERT_FALSE(ec) << ec.message();
  }
  int ok = 0;
  for (tcp::socket& s : socks) {
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    boost::system::error_code ec;
    http::read(s, buf, res, ec);
    if (!ec && res.result_int() == 200) ++ok;
  }
  EXPECT_EQ(ok, kClients);
  socks.clear();  // the clients hang up
  for (int i = 0; i < 500 && proxy_->active_connections() > 0; ++i) ::usleep(10000);
  EXPECT_EQ(proxy_->active_connections(), 0);
  // The echo server's per-connection threads end once the proxy has closed
  // its upstream sockets; wait for that, then compare.
  int fds_after = 0, threads_after = 0;
  for (int i = 0; i < 500; ++i) {
    fds_after = CountEntries("/proc/self/fd");
    threads_after = CountEntries("/proc/self/task");
    if (fds_after <= fds_before && threads_after <= threads_before) break;
    ::usleep(10000);
  }
  EXPECT_LE(fds_after, fds_before);
  EXPECT_LE(threads_after, threads_before);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
}

TEST_F(ProxyTest, MissingSecretFailsCreateNamingTheSourceOnly) {
  ::unsetenv("KAVACH_EGRESS_TEST_TOKEN");
  auto p = EgressProxy::Create(policy_);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("env:KAVACH_EGRESS_TEST_TOKEN"));
}

TEST(EgressHostMatches, ExactAndWildcard) {
  EXPECT_TRUE(EgressHostMatches("a.com", "a.com"));
  EXPECT_FALSE(EgressHostMatches("a.com", "b.a.com"));
  EXPECT_TRUE(EgressHostMatches("*.a.com", "b.a.com"));
  EXPECT_TRUE(EgressHostMatches("*.a.com", "c.b.a.com"));
  EXPECT_FALSE(EgressHostMatches("*.a.com", "a.com"));
  EXPECT_FALSE(EgressHostMatches("*.a.com", "xa.com"));
}

TEST(ParseClientHelloSni, RejectsNonTlsAndWaitsForMore) {
  std::string sni;
  EXPECT_EQ(ParseClientHelloSni("GET / HTTP/1.1\r\n", &sni), SniResult::kNotTls);
  EXPECT_EQ(ParseClientHelloSni(std::string("\x16\x03\x01", 3), &sni), SniResult::kNeedMore);
}

TEST(EgressRecordJson, EscapesAndReplacesInvalidUtf8) {
  EgressRecord r;
  r.host = "h\"o\\st";
  r.port = 8080;
  r.method = "GET";
  // A control byte, valid two- and three-byte UTF-8, a lone continuation
  // byte, an overlong form, a surrogate and a truncated sequence at the end.
  r.path = std::string("/a\x01\n\xC3\xA9\xE2\x82\xAC\x80\xC0\xAF\xED\xA0\x80/\xE2\x82");
  r.status = 200;
  r.request_bytes = 1;
  r.response_bytes = 18446744073709551615ULL;
  r.mode = "http";
  std::string line = EgressRecordJson(r);
  nlohmann::json j = nlohmann::json::parse(line);  // throws on invalid JSON or UTF-8
  EXPECT_EQ(j["host"], "h\"o\\st");
  EXPECT_EQ(j["port"], 8080);
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(j["path"], "/a\x01\n\xC3\xA9\xE2\x82\xAC" + fffd + fffd + fffd + fffd + fffd + fffd +
                           "/" + fffd + fffd);
  EXPECT_EQ(j["response_bytes"], 18446744073709551615ULL);
  EXPECT_FALSE(j.contains("reason"));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  r.reason = "host not allowed";
  EXPECT_EQ(nlohmann::json::parse(EgressRecordJson(r))["reason"], "host not allowed");
  // The keys keep their order: the audit chain stores the line as written.
  EXPECT_TRUE(
      line.starts_with("{\"host\":\"h\\\"o\\\\st\",\"port\":8080,\"method\":\"GET\",\"path\":"))
      << line;
}

TEST(CertAuthority, LeavesAreCachedAndChainToTheCa) {
  auto ca = CertAuthority::Create("t");
  ASSERT_TRUE(ca.ok());
  auto a = (*ca)->LeafFor("x.test");
  auto b = (*ca)->LeafFor("x.test");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->cert.get(), b->cert.get());
  EXPECT_EQ((*ca)->minted(), 1u);
  EXPECT_EQ(X509_check_host(a->cert.get(), "x.test", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(a->cert.get(), "y.test", 0, 0, nullptr), 1);
}

}  // namespace
}  // namespace kavach::internal
