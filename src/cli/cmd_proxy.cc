// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach proxy: the egress proxy on its own, for programs outside a sandbox
// (or sandboxes run by other tools). Serves until SIGINT or SIGTERM; prints
// one JSON line per request on stdout (host, method, path, status, bytes;
// never a header value) and appends it to an audit chain with --audit.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/egress_flags.h"
#include "egress/egress_proxy.h"
#include "kavach/kavach.h"
#include "scan/audit_chain.h"

namespace kavach::cli {
namespace {

// Request lines are collected here and written to stdout by a thread of
// their own every 20 ms and at destruction: a write(2) with a flush per
// request cost the proxy's thread more than parsing the request did.
class LineSink {
 public:
  LineSink() : thread_([this] { Run(); }) {}
  ~LineSink() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  LineSink(const LineSink&) = delete;
  LineSink& operator=(const LineSink&) = delete;

  void Add(std::string_view line) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.append(line);
    pending_.push_back('\n');
  }

 private:
  void Run() {
    std::string out;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stop_; });
      out.swap(pending_);
      bool stop = stop_;
      lock.unlock();
      if (!out.empty()) {
        std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
        std::cout.flush();
        out.clear();
      }
      if (stop) return;
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace

int RunProxyCommand(const std::vector<std::string>& args) {
  CLI::App app{
      "Run the egress proxy: an HTTP(S) forward proxy that allows only the hosts a "
      "policy names and injects credentials.",
      "kavach proxy"};
  std::optional<std::string> policy_path;
  std::string listen = "127.0.0.1:3128";
  std::optional<std::string> ca_out;
  std::optional<std::string> audit_log;
  std::optional<std::string> audit_key;
  uint64_t idle_ms = 60000;
  int max_connections = 512;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EgressFlags egress_flags;
  app.add_option("-p,--policy", policy_path,
                 "a .json/.toml policy file whose egress section is used");
  app.add_option("-l,--listen", listen, "ADDR:PORT to listen on (default 127.0.0.1:3128)");
  app.add_option("--ca-out", ca_out, "write the proxy's CA certificate (PEM) to this file");
  app.add_option("--audit", audit_log, "append every request to this audit chain");
  app.add_option("--audit-key", audit_key, "0600 file holding the audit HMAC key");
  app.add_option("--idle-timeout", idle_ms, "drop a connection idle this long (ms)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-connections", max_connections, "connections served at once")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads serving connections (default: one per CPU)")
      ->check(CLI::Range(1, 64));
  AddEgressOptions(app, egress_flags);
  app.footer(
      "Clients use it as HTTP_PROXY/HTTPS_PROXY. Hosts with a credential are served\n"
      "with certificates from the proxy's own CA (see --ca-out); other hosts are\n"
      "tunnelled blind and must present the name asked for in CONNECT (SNI).\n"
      "An empty allow-list denies everything.");
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return UsageError("proxy", e.what());
  }
  if (!app.remaining().empty()) {
    return UsageError("proxy", "unexpected argument '" + app.remaining().front() + "'");
  }

  SandboxPolicy policy;
  if (policy_path) {
    absl::StatusOr<SandboxPolicy> p = LoadPolicy(*policy_path);
    if (!p.ok()) {
      std::cerr << "kavach proxy: --policy: " << absl::StatusCodeToString(p.status().code()) << ": "
                << p.status().message() << "\n";
      return kExitUsage;
    }
    policy = *std::move(p);
  }
  if (std::string err = ApplyEgressFlags(egress_flags, policy.egress); !err.empty()) {
    return UsageError("proxy", err);
  }
  if (absl::Status s = policy.Validate(); !s.ok()) {
    std::cerr << "kavach proxy: " << absl::StatusCodeToString(s.code()) << ": " << s.message()
              << "\n";
    return kExitUsage;
  }
  size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port > 65535) {
    return UsageError("proxy", "--listen wants ADDR:PORT");
  }
  std::string address = listen.substr(0, colon);

  std::unique_ptr<internal::AuditChain> audit;
  if (audit_log) {
    AuditConfig ac;
    ac.log_path = audit_log;
    ac.key_path = audit_key;
    absl::StatusOr<std::string> key = internal::LoadAuditKey(ac);
    if (!key.ok()) return ReportError("proxy: audit key", key.status());
    auto chain = internal::AuditChain::Open(*audit_log, *key);
    if (!chain.ok()) return ReportError("proxy: audit", chain.status());
    audit = *std::move(chain);
  }

  // The proxy's threads inherit this mask, so the signals reach sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, sig);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Declared before the proxy: destroyed (flushed) after its thread stopped.
  LineSink lines;
  internal::EgressOptions options;
  options.idle_timeout = absl::Milliseconds(idle_ms);
  options.max_connections = max_connections;
  options.threads = threads;
  options.ca_name = "kavach proxy";
  options.on_request = [&](const internal::EgressRecord& r) {
    std::string line = internal::EgressRecordJson(r);
    lines.Add(line);
    if (audit) {
      absl::StatusOr<uint64_t> seq = audit->Append("kavach-proxy", "egress", line);
      if (!seq.ok()) std::cerr << "kavach proxy: audit: " << seq.status().message() << "\n";
    }
  };
  absl::StatusOr<std::unique_ptr<internal::EgressProxy>> proxy =
      internal::EgressProxy::Create(policy.egress, std::move(options));
  if (!proxy.ok()) return ReportError("proxy", proxy.status());
  if (ca_out) {
    std::ofstream out(*ca_out);
    out << (*proxy)->CaCertificatePem();
    if (!out) return ReportError("proxy", absl::UnavailableError("cannot write " + *ca_out));
  }
  absl::StatusOr<uint16_t> bound = (*proxy)->Listen(address, static_cast<uint16_t>(port));
  if (!bound.ok()) return ReportError("proxy", bound.status());
  std::cerr << "kavach proxy: listening on " << address << ":" << *bound << " ("
            << policy.egress.allow_hosts.size() << " allowed host patterns, "
            << policy.egress.credentials.size() << " credentials)" << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  proxy->reset();
  return 128 + sig;
}

}  // namespace kavach::cli
