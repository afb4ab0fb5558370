// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach scan [--json] [--redact] [--rules PACK]... FILE|-
//
// Runs the output gate's scanners (secrets, code, data; plus any extra rule
// packs or gitleaks configs) over a file or stdin and prints the findings and
// the verdict the gate would give. Exit 0 when the verdict lets the output
// through (pass, warn, redact), 1 on block or quarantine, 2 on bad usage.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "cli/commands.h"
#include "cli/json_output.h"
#include "kavach/gate_config.h"
#include "linux/file_util.h"
#include "nlohmann/json.hpp"
#include "scan/redact.h"
#include "scan/rule_pack.h"
#include "scan/scanner.h"
#include "scan/verdict.h"

namespace kavach::cli {
namespace {

constexpr char kUsage[] =
    "Usage: kavach scan [--json] [--redact] [--rules PACK]... FILE|-\n\n"
    "Scans FILE (or stdin for -) with the built-in secrets, code and data rule\n"
    "packs and prints every finding (masked) and the gate's verdict.\n\n"
    "  --json         one JSON object: verdict, worst_severity, bytes, findings\n"
    "  --redact       print the input with secrets and personal data replaced by\n"
    "                 [REDACTED:<category>] instead of the report\n"
    "  --rules PACK   also load this TOML rule pack (kavach or gitleaks format);\n"
    "                 may be repeated. For a gitleaks config, stderr says how many\n"
    "                 of its rules were imported and compiled, and why any were not\n\n"
    "Exit status: 0 pass/warn/redact, 1 block or quarantine, 2 usage, 125 error.\n";

// The input: stdin read whole, or a regular file mapped read-only (no copy,
// no zeroed heap pages: for a large file that was most of the system time).
// A file cut short while it is scanned ends the scan with SIGBUS, never
// with a verdict on bytes that were not read.
class Input {
 public:
  Input() = default;
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;
  ~Input() {
    if (map_ != nullptr) munmap(map_, size_);
  }
  std::string_view text() const { return view_; }
  size_t size() const { return view_.size(); }

  static absl::Status Read(const std::string& path, Input* in) {
    if (path == "-") {
      char buf[1 << 16];
      for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
          if (errno == EINTR) continue;
          return absl::InternalError(std::string("reading stdin: ") + std::strerror(errno));
        }
        in->owned_.append(buf, static_cast<size_t>(n));
      }
      in->view_ = in->owned_;
      return absl::OkStatus();
    }
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* m = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      close(fd);
      if (m != MAP_FAILED) {
        in->map_ = m;
        in->size_ = static_cast<size_t>(st.st_size);
        in->view_ = std::string_view(static_cast<const char*>(m), in->size_);
        return absl::OkStatus();
      }
    } else if (fd >= 0) {
      close(fd);
    }
    // Not mappable (empty, a pipe or device, an error): read it.
    absl::StatusOr<std::string> data = sys::ReadFile(path);
    if (!data.ok()) return data.status();
    in->owned_ = *std::move(data);
    in->view_ = in->owned_;
    return absl::OkStatus();
  }

 private:
  std::string owned_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::string_view view_;
};

// For every --rules file that is a gitleaks config: how many of its rules
// were imported and compiled, and why any were not (on stderr).
void ReportGitleaksImports(const std::vector<std::string>& paths,
                           const internal::Scanner& scanner) {
  for (const std::string& path : paths) {
    absl::StatusOr<internal::RulePack> own = internal::LoadRulePack(path);
    if (own.ok() || !absl::IsInvalidArgument(own.status())) continue;
    absl::StatusOr<internal::RulePack> gl = internal::ImportGitleaksFile(path);
    if (!gl.ok()) continue;
    size_t compiled = 0;
    for (const internal::Rule& r : scanner.rules()) compiled += r.category == "gitleaks";
    std::cerr << "kavach scan: " << path << ": gitleaks config, "
              << gl->rules.size() + gl->skipped.size() << " rules: " << gl->rules.size()
              << " imported, " << compiled << " compiled\n";
    for (const std::string& why : gl->skipped) std::cerr << "  not imported: " << why << "\n";
    for (const std::string& why : scanner.skipped()) std::cerr << "  not compiled: " << why << "\n";
  }
}

}  // namespace

int RunScanCommand(const std::vector<std::string>& args) {
  bool json = false;
  bool redact = false;
  std::vector<std::string> packs;
  std::string input;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return kExitOk;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--redact") {
      redact = true;
    } else if (a == "--rules") {
      if (i + 1 >= args.size()) return UsageError("scan", "--rules needs a file");
      packs.push_back(args[++i]);
    } else if (a.rfind("--rules=", 0) == 0) {
      packs.push_back(a.substr(8));
    } else if (a != "-" && a.rfind("-", 0) == 0) {
      return UsageError("scan", "unknown option '" + a + "'");
    } else if (!input.empty()) {
      return UsageError("scan", "one input only");
    } else {
      input = a;
    }
  }
  if (input.empty()) return UsageError("scan", "missing FILE (use - for stdin)");

  auto scanner = internal::Scanner::CreateDefault(packs);
  if (!scanner.ok()) return ReportError("scan: loading rules", scanner.status());
  ReportGitleaksImports(packs, **scanner);
  Input text;
  if (absl::Status s = Input::Read(input, &text); !s.ok()) return ReportError("scan", s);

  GateConfig config;
  std::vector<Finding> findings = (*scanner)->Scan(text.text(), input == "-" ? "stdin" : input);
  if (auto size = internal::SizeLimitFinding(config, text.size())) findings.push_back(*size);
  Verdict verdict = internal::DecideVerdict(findings, config, text.size());
  int status =
      verdict == Verdict::kBlock || verdict == Verdict::kQuarantine ? kExitFailure : kExitOk;

  if (redact) {
    std::cout << internal::Redact(text.text(), internal::RedactableFindings(findings));
    std::cout.flush();
    return status;
  }
  if (json) {
    nlohmann::json out;
    out["input"] = input;
    out["bytes"] = text.size();
    out["verdict"] = std::string(VerdictName(verdict));
    out["worst_severity"] = std::string(SeverityName(internal::WorstSeverity(findings)));
    out["rules"] = (*scanner)->rule_count();
    nlohmann::json list = nlohmann::json::array();
    for (const Finding& f : findings) list.push_back(FindingJson(f));
    out["findings"] = std::move(list);
    std::cout << DumpLine(out);
    return status;
  }
  for (const Finding& f : findings) {
    std::cout << (input == "-" ? "<stdin>" : input) << ":" << f.line << ": "
              << SeverityName(f.severity) << " " << f.scanner << "/" << f.rule_id << " ("
              << f.category << ") " << f.preview << "\n";
  }
  std::cout << "verdict: " << VerdictName(verdict) << " (" << findings.size() << " finding"
            << (findings.size() == 1 ? "" : "s") << ", worst "
            << SeverityName(internal::WorstSeverity(findings)) << ", " << text.size() << " bytes, "
            << (*scanner)->rule_count() << " rules)\n";
  return status;
}

}  // namespace kavach::cli
