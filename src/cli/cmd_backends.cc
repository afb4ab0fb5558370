// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach backends: probes every backend now and says whether it can run here
// and, when not, exactly why.
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/json_output.h"
#include "kavach/backend_kind.h"
#include "kavach/resolve.h"
#include "kavach/score.h"

namespace kavach::cli {

int RunBackendsCommand(const std::vector<std::string>& args) {
  CLI::App app{"List every isolation backend and whether it can run on this host.",
               "kavach backends"};
  bool json = false;
  app.add_flag("--json", json, "print a JSON array");
  bool best = false;
  std::string policy_name = "strict";
  app.add_flag("--best", best,
               "prepare every candidate with --policy and name the one with the highest "
               "verified score, and why each other lost");
  app.add_option("-p,--policy", policy_name, "with --best: minimal | basic | strict | FILE");
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return UsageError("backends", e.what());
  }

  if (best) {
    absl::StatusOr<SandboxPolicy> policy = LoadPolicy(policy_name);
    if (!policy.ok()) return UsageError("backends", std::string(policy.status().message()));
    absl::StatusOr<BestBackend> b = ResolveBest(*policy);
    if (!b.ok()) {
      std::cerr << "kavach backends: " << b.status().message() << "\n";
      return kExitKavachFailed;
    }
    if (json) {
      nlohmann::json cands = nlohmann::json::array();
      for (const BackendCandidate& c : b->candidates) {
        cands.push_back(
            {{"name", c.name}, {"enforced", c.enforced}, {"score", c.score}, {"why", c.why}});
      }
      std::cout << DumpLine({{"best", b->name}, {"score", b->score}, {"candidates", cands}});
    } else {
      std::cout << "best: " << b->name << " (verified " << b->score << ")\n";
      for (const BackendCandidate& c : b->candidates) {
        std::cout << absl::StrFormat("  %-15s %s\n", c.name, c.why);
      }
    }
    std::cout << std::flush;
    return kExitOk;
  }

  nlohmann::json out = nlohmann::json::array();
  if (!json) {
    std::cout << absl::StrFormat("%-12s %-11s %-5s %s\n", "BACKEND", "AVAILABLE", "BASE", "DETAIL");
  }
  for (BackendKind kind : AllBackendKinds()) {
    const BackendAvailability a = Probe(kind);
    const std::string name(BackendKindName(kind));
    if (json) {
      out.push_back({{"backend", name},
                     {"available", a.available},
                     {"reason", a.reason},
                     {"base_score", BaseScore(kind)}});
    } else {
      std::cout << absl::StrFormat("%-12s %-11s %-5d %s\n", name, a.available ? "yes" : "no",
                                   BaseScore(kind), a.reason);
    }
  }
  if (json) std::cout << DumpLine(out);
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace kavach::cli
