// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The kavach binary: reads the subcommand and hands the remaining arguments to
// its Run*Command (see commands.h). Top-level help, version and the shared
// error printers live here.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cli/commands.h"

#ifndef KAVACH_VERSION
#define KAVACH_VERSION "unknown"
#endif

namespace kavach::cli {

namespace {

struct Command {
  std::string_view name;
  int (*run)(const std::vector<std::string>& args);
  std::string_view summary;
};

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"exec", &RunExecCommand, "run one command in a sandbox"},
      {"backends", &RunBackendsCommand, "list every backend and whether it can run here"},
      {"score", &RunScoreCommand, "print the declared strength score of a backend and policy"},
      {"proxy", &RunProxyCommand, "run the egress proxy (allow-list, credential injection)"},
      {"scan", &RunScanCommand, "scan a file or stdin with the output gate's scanners"},
      {"audit", &RunAuditCommand, "verify an audit chain"},
      {"quarantine", &RunQuarantineCommand, "list, approve or reject quarantined output"},
      {"image", &RunImageCommand, "build the microVM guest image (firecracker backend)"},
  };
  return *commands;
}

void PrintHelp(std::ostream& out) {
  out << "kavach " KAVACH_VERSION
         " - run untrusted commands behind verified isolation\n\n"
         "Usage: kavach <command> [options]\n"
         "       kavach help [<command>]\n"
         "       kavach --version\n\n"
         "Commands:\n";
  for (const Command& c : Commands()) {
    out << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << "\n";
  }
  out << "\nRun 'kavach <command> --help' for a command's options.\n\n"
         "Exit status:\n"
         "  kavach exec mirrors the sandboxed command: its exit code, 128+N when\n"
         "  killed by signal N, 124 when its timeout killed it. kavach's own codes:\n"
         "    0    success\n"
         "    1    a check failed (scan found something, audit chain broken)\n"
         "    2    bad arguments (a usage message is printed)\n"
         "  123    the output gate withheld the output (block or quarantine verdict)\n"
         "  124    the command timed out\n"
         "  125    kavach itself failed (policy, sandbox creation, an isolation\n"
         "         control that could not be applied); the error's canonical code\n"
         "         and message are printed on stderr\n"
         "  126    the command could not be executed\n"
         "  127    the command was not found\n";
}

}  // namespace

int ReportError(std::string_view context, const absl::Status& status) {
  std::cerr << "kavach: " << context << ": " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return kExitKavachFailed;
}

int UsageError(std::string_view command, std::string_view message) {
  std::cerr << "kavach";
  if (!command.empty()) std::cerr << " " << command;
  std::cerr << ": " << message << "\n";
  std::cerr << "Run 'kavach " << command << (command.empty() ? "" : " ") << "--help' for usage.\n";
  return kExitUsage;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    PrintHelp(std::cerr);
    return kExitUsage;
  }
  std::string name = args.front();
  args.erase(args.begin());
  if (name == "--help" || name == "-h") {
    PrintHelp(std::cout);
    return kExitOk;
  }
  if (name == "--version" || name == "-V" || name == "version") {
    std::cout << "kavach " KAVACH_VERSION "\n";
    return kExitOk;
  }
  if (name == "help") {
    if (args.empty()) {
      PrintHelp(std::cout);
      return kExitOk;
    }
    name = args.front();
    args = {"--help"};
  }
  for (const Command& c : Commands()) {
    if (c.name == name) return c.run(args);
  }
  return UsageError("", "unknown command '" + name + "'");
}

}  // namespace kavach::cli

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, which turns on Mutex deadlock
  // detection: a lock-order graph updated on every lock (~6k instructions per
  // lock in a `kavach exec`). A debugging aid, not a check the CLI needs.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const int status = kavach::cli::Main(argc, argv);
  // Every command has cleaned up what it made by the time it returns (a
  // sandbox is destroyed, files are closed): flush the output and leave
  // without running static destructors and atexit handlers (OpenSSL's
  // cleanup among them), work the kernel's exit makes moot.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KAVACH_CLI_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(KAVACH_CLI_UNDER_ASAN)
  // Under ASan the exit handlers include LeakSanitizer's check: keep them.
  return status;
#else
  std::_Exit(status);
#endif
}
