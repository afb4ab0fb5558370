// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach score: the declared strength score of a backend and a policy, with
// the breakdown of where each point comes from. (The verified score of a live
// sandbox is in `kavach exec --json`.)
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/json_output.h"
#include "kavach/backend_kind.h"
#include "kavach/policy.h"
#include "kavach/score.h"

namespace kavach::cli {

int RunScoreCommand(const std::vector<std::string>& args) {
  CLI::App app{"Print the declared strength score (0-100) of a backend and a policy.",
               "kavach score"};
  std::string backend = "process";
  std::string policy_arg = "strict";
  bool json = false;
  app.add_option("-b,--backend", backend, "isolation backend (default: process)");
  app.add_option("-p,--policy", policy_arg,
                 "minimal | basic | strict | a .json/.toml policy file (default: strict)");
  app.add_flag("--json", json, "print one JSON object");
  app.footer(
      "Labels: 0-29 minimal, 30-49 basic, 50-69 standard, 70-84 hardened,\n"
      "85-100 fortress. This is what the policy asks for; `kavach exec --json`\n"
      "reports the verified score, which counts only what was observed.");
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return UsageError("score", e.what());
  }

  absl::StatusOr<BackendKind> kind = ParseBackendKind(backend);
  if (!kind.ok()) return UsageError("score", "--backend: " + std::string(kind.status().message()));
  absl::StatusOr<SandboxPolicy> policy = LoadPolicy(policy_arg);
  if (!policy.ok()) {
    std::cerr << "kavach score: --policy: " << absl::StatusCodeToString(policy.status().code())
              << ": " << policy.status().message() << "\n";
    return kExitUsage;
  }

  const StrengthScore score = DeclaredScore(*kind, *policy);
  if (json) {
    nlohmann::json j = ScoreJson(score);
    j["backend"] = std::string(BackendKindName(*kind));
    j["policy"] = policy_arg;
    j["kind"] = "declared";
    std::cout << DumpLine(j) << std::flush;
    return kExitOk;
  }
  std::cout << score.value << " (" << score.Label() << ")\n";
  for (const ScoreItem& item : score.breakdown) {
    std::cout << absl::StrFormat("  %+4d  %s\n", item.points, item.name);
  }
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace kavach::cli
