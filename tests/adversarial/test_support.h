// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Helpers shared by the adversarial and integration suites: where the
// kavach_attack helper lives, a policy that may run it, temporary host
// directories, parsing of the helper's RESULT line, and host-side process
// scans.
//
//   kavach::SandboxPolicy p = kavach::testing::WithAttackBinary(Strict());
//   auto r = sandbox->Exec({kavach::testing::AttackPath(), "ptrace"});
//   kavach::testing::AttackOutcome o = kavach::testing::ParseAttack(*r);
//   EXPECT_TRUE(o.blocked()) << o.Describe();
#ifndef KAVACH_TESTS_ADVERSARIAL_TEST_SUPPORT_H_
#define KAVACH_TESTS_ADVERSARIAL_TEST_SUPPORT_H_

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kavach/policy.h"
#include "kavach/sandbox.h"
#include "kavach/score.h"

namespace kavach::testing {

#ifndef KAVACH_ATTACK_PATH
#define KAVACH_ATTACK_PATH ""
#endif

// The directory of the running test binary (build/bin): kavach_attack is
// built beside it.
inline std::string SelfDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

inline std::string AttackPath() {
  std::string beside = SelfDir() + "/kavach_attack";
  if (access(beside.c_str(), X_OK) == 0) return beside;
  return KAVACH_ATTACK_PATH;
}

inline std::string AttackDir() {
  return std::filesystem::path(AttackPath()).parent_path().string();
}

// `policy` plus the helper's directory, read-only and executable.
inline SandboxPolicy WithAttackBinary(SandboxPolicy policy) {
  policy.filesystem.read_only.push_back(AttackDir());
  policy.filesystem.executable.push_back(AttackDir());
  return policy;
}

// A fresh host directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir final {
 public:
  explicit TempDir(mode_t mode = 0755) {
    const char* base = getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/kavach-test-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;
      chmod(path_.c_str(), mode);  // mkdtemp makes 0700; the sandbox uid needs more
    }
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadHostFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool WriteHostFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
    if (!out) return false;
  }
  return chmod(path.c_str(), mode) == 0;
}

inline bool HostPathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// A random-enough token to tell this run's files and processes apart.
inline std::string UniqueToken(const std::string& prefix) {
  static int counter = 0;
  std::ostringstream os;
  os << prefix << "-" << getpid() << "-" << ++counter << "-" << std::hex
     << static_cast<uint32_t>(reinterpret_cast<uintptr_t>(&os) ^
                              static_cast<uintptr_t>(time(nullptr)));
  return os.str();
}

inline std::string DescribeResult(const ExecResult& r) {
  std::ostringstream os;
  os << "exit_code=" << r.exit_code << " signal=" << r.signal << " timed_out=" << r.timed_out
     << " oom_killed=" << r.oom_killed << "\n--- stdout ---\n"
     << r.stdout_data << "\n--- stderr ---\n"
     << r.stderr_data;
  return os.str();
}

// What one kavach_attack run reported.
struct AttackOutcome {
  std::string verdict;  // blocked | escaped | error | info | killed-by-seccomp | none
  std::string detail;
  ExecResult result;

  // Blocked: the helper said so, or the seccomp filter killed it (SIGSYS)
  // after it reached main() (it printed START), so it is not a loader failure.
  bool blocked() const { return verdict == "blocked" || verdict == "killed-by-seccomp"; }
  bool escaped() const { return verdict == "escaped"; }
  std::string Describe() const {
    return "verdict=" + verdict + " detail=[" + detail + "]\n" + DescribeResult(result);
  }
};

inline AttackOutcome ParseAttack(const ExecResult& r) {
  AttackOutcome o;
  o.result = r;
  o.verdict = "none";
  std::istringstream in(r.stdout_data);
  std::string line;
  bool started = false;
  while (std::getline(in, line)) {
    if (line.rfind("START ", 0) == 0) started = true;
    if (line.rfind("RESULT ", 0) != 0) continue;
    std::string rest = line.substr(7);
    size_t space = rest.find(' ');
    o.verdict = rest.substr(0, space);
    o.detail = space == std::string::npos ? "" : rest.substr(space + 1);
  }
  if (o.verdict == "none" && started && r.signal == SIGSYS) o.verdict = "killed-by-seccomp";
  return o;
}

// Host pids whose command line contains `needle` (any namespace: the host's
// /proc shows every process on the machine).
inline std::vector<pid_t> HostPidsWithCmdline(const std::string& needle) {
  std::vector<pid_t> pids;
  DIR* d = opendir("/proc");
  if (d == nullptr) return pids;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string cmdline = ReadHostFile(std::string("/proc/") + e->d_name + "/cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find(needle) != std::string::npos) pids.push_back(atoi(e->d_name));
  }
  closedir(d);
  return pids;
}

// "Name:\tvalue" from /proc/<pid>/status, or "" when absent.
inline std::string ProcStatusField(pid_t pid, const std::string& name) {
  std::istringstream in(ReadHostFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      size_t i = name.size() + 1;
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      return line.substr(i);
    }
  }
  return "";
}

// Sum of the points of verified evidence items.
inline int VerifiedPoints(const std::vector<Evidence>& evidence) {
  int sum = 0;
  for (const Evidence& e : evidence) {
    if (e.verified) sum += e.points;
  }
  return sum;
}

// The evidence item for `control`, or nullptr.
inline const Evidence* FindEvidence(const std::vector<Evidence>& evidence,
                                    const std::string& control) {
  for (const Evidence& e : evidence) {
    if (e.control == control) return &e;
  }
  return nullptr;
}

inline std::string DescribeEvidence(const std::vector<Evidence>& evidence) {
  std::ostringstream os;
  for (const Evidence& e : evidence) {
    os << "  " << e.control << " verified=" << e.verified << " points=" << e.points << " ("
       << e.detail << ")\n";
  }
  return os.str();
}

}  // namespace kavach::testing

#endif  // KAVACH_TESTS_ADVERSARIAL_TEST_SUPPORT_H_
