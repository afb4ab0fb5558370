// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The kavach CLI's subcommands and its exit codes.
//
// main.cc reads the first argument and hands the rest to one Run*Command:
//
//   kavach exec --policy strict -- /bin/true   ->  RunExecCommand({"--policy", "strict",
//                                                                  "--", "/bin/true"})
//
// Each command parses its own arguments (the subcommand name is already
// removed), writes its output, and returns the process exit status. Adding a
// command: declare it here, implement it in src/cli/cmd_<name>.cc, and add a
// line to the dispatch table in main.cc.
#ifndef KAVACH_CLI_COMMANDS_H_
#define KAVACH_CLI_COMMANDS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kavach::cli {

// Exit statuses of the kavach binary. `kavach exec` mirrors the sandboxed
// command's status (its exit code, 128+signal when killed, 124 on timeout), so
// kavach's own codes sit where shells and container runtimes put theirs.
inline constexpr int kExitOk = 0;
// A check failed: e.g. `kavach audit verify` found a broken chain, or
// `kavach scan` found something at or above its threshold.
inline constexpr int kExitFailure = 1;
// Bad arguments: a usage message was printed.
inline constexpr int kExitUsage = 2;
// The output gate withheld the command's output (block or quarantine verdict).
inline constexpr int kExitGateWithheld = 123;
// The command was killed by its timeout (as timeout(1) reports it).
inline constexpr int kExitTimeout = 124;
// kavach itself failed: the policy could not be loaded, the sandbox could not
// be created or started, a control could not be applied (as docker/podman).
inline constexpr int kExitKavachFailed = 125;
// The command was found but could not be executed (as shells report it).
inline constexpr int kExitNotExecutable = 126;
// The command was not found (as shells report it).
inline constexpr int kExitNotFound = 127;

// Prints "kavach: <context>: <CANONICAL_CODE>: <message>" on stderr and
// returns kExitKavachFailed.
int ReportError(std::string_view context, const absl::Status& status);

// Prints "kavach <command>: <message>" and a hint to run --help on stderr and
// returns kExitUsage.
int UsageError(std::string_view command, std::string_view message);

// kavach exec [options] [--] CMD [ARGS...]: runs one command in a sandbox.
int RunExecCommand(const std::vector<std::string>& args);
// kavach backends [--json]: every backend and whether it can run here.
int RunBackendsCommand(const std::vector<std::string>& args);
// kavach score [--backend B] [--policy P] [--json]: the declared score.
int RunScoreCommand(const std::vector<std::string>& args);
// kavach proxy [--policy FILE] [--listen ADDR:PORT] ...: the egress proxy alone.
int RunProxyCommand(const std::vector<std::string>& args);

// Implemented by the output-gate owners in cmd_scan.cc, cmd_audit.cc and
// cmd_quarantine.cc.
// kavach scan FILE|-: runs the output scanners over a file or stdin.
int RunScanCommand(const std::vector<std::string>& args);
// kavach audit verify LOG: checks an audit chain.
int RunAuditCommand(const std::vector<std::string>& args);
// kavach quarantine list|show|approve|reject: the quarantine store.
int RunQuarantineCommand(const std::vector<std::string>& args);
// kavach image build [--cache DIR] [--json]: the microVM guest image.
int RunImageCommand(const std::vector<std::string>& args);

}  // namespace kavach::cli

#endif  // KAVACH_CLI_COMMANDS_H_
