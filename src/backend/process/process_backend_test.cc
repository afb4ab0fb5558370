// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Tests of the Process backend through the Backend interface (the sandbox
// layer and the adversarial suite test it through the public API).
#include "backend/process/process_backend.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/policy.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Backend> Prepared(const SandboxPolicy& policy, PrepareReport* report,
                                  absl::Status* status = nullptr) {
  SandboxConfig config;
  config.policy = policy;
  auto backend = CreateProcessBackend();
  EXPECT_TRUE(backend.ok());
  absl::Status s = (*backend)->Prepare(config, report);
  if (status != nullptr) {
    *status = s;
    return s.ok() ? std::move(*backend) : nullptr;
  }
  EXPECT_TRUE(s.ok()) << s;
  return s.ok() ? std::move(*backend) : nullptr;
}

BackendExecRequest Request(std::vector<std::string> argv) {
  BackendExecRequest r;
  r.argv = std::move(argv);
  r.env = {"PATH=/usr/bin:/bin", "HOME=/work", "LANG=C.UTF-8"};
  r.cwd = "/work";
  r.timeout = absl::Seconds(20);
  return r;
}

int VerifiedPoints(const PrepareReport& report) {
  int total = 0;
  for (const Evidence& e : report.evidence) {
    if (e.verified) total += e.points;
  }
  return total;
}

TEST(ProcessBackendTest, StrictRunsShellAndVerifiesEveryControl) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Strict(), &report);
  ASSERT_NE(backend, nullptr);
  for (const Evidence& e : report.evidence) {
    EXPECT_TRUE(e.verified || e.points == 0) << e.control << ": " << e.detail;
  }
  // Fully verified: exactly the declared score of the original's table.
  EXPECT_EQ(VerifiedPoints(report), 69);
  for (const SetupStep& step : report.steps) {
    std::cerr << step.name << " " << absl::FormatDuration(step.duration) << "\n";
  }
  auto r = backend->Exec(Request({"/bin/sh", "-c", "echo hello; id -u; hostname; pwd"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->stderr_data;
  EXPECT_EQ(r->stdout_data, "hello\n1000\nkavach\n/work\n");
  EXPECT_TRUE(backend->Destroy().ok());
}

TEST(ProcessBackendTest, RepeatedExecsReuseTheSandbox) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Strict(), &report);
  ASSERT_NE(backend, nullptr);
  auto w = backend->Exec(Request({"/bin/sh", "-c", "echo data > /work/f"}));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->exit_code, 0) << w->stderr_data;
  auto r = backend->Exec(Request({"cat", "/work/f"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "data\n");
}

TEST(ProcessBackendTest, MissingCommandIs127) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Basic(), &report);
  ASSERT_NE(backend, nullptr);
  auto r = backend->Exec(Request({"no-such-command-kavach"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 127);
  EXPECT_THAT(r->stderr_data, HasSubstr("No such file"));
}

TEST(ProcessBackendTest, TimeoutKillsTheWholeTree) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Basic(), &report);
  ASSERT_NE(backend, nullptr);
  auto req = Request({"/bin/sh", "-c", "(sleep 100 &) ; sleep 100"});
  req.timeout = absl::Milliseconds(300);
  auto r = backend->Exec(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->signal, SIGKILL);
  // Nothing of that exec is left: no sleep anywhere in the sandbox.
  auto ls = backend->Exec(Request({"/bin/sh", "-c", "cat /proc/[0-9]*/comm"}));
  ASSERT_TRUE(ls.ok()) << ls.status();
  EXPECT_THAT(ls->stdout_data, HasSubstr("sh\n"));
  EXPECT_THAT(ls->stdout_data, ::testing::Not(HasSubstr("sleep")));
}

TEST(ProcessBackendTest, StdinAndOutputCap) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Basic(), &report);
  ASSERT_NE(backend, nullptr);
  auto req = Request({"cat"});
  req.stdin_data = std::string(100000, 'x');
  req.max_output_bytes = 1000;
  auto r = backend->Exec(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data.size(), 1000u);
  EXPECT_TRUE(r->stdout_truncated);
  EXPECT_EQ(r->exit_code, 0);
}

// Counts cgroup directories this process made (their names start with our
// pid) in every hierarchy.
int OurCgroupDirs() {
  std::string prefix = std::to_string(getpid()) + "-";
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator("/sys/fs/cgroup", ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory(ec) && it->path().filename().string().rfind(prefix, 0) == 0) ++n;
    if (it.depth() > 6) it.disable_recursion_pending();
  }
  return n;
}

TEST(ProcessBackendTest, DestroyLeavesNoProcessAndNoCgroup) {
  PrepareReport report;
  auto backend = Prepared(SandboxPolicy::Strict(), &report);
  ASSERT_NE(backend, nullptr);
  if (geteuid() == 0) {
    EXPECT_GT(OurCgroupDirs(), 0);
  }
  auto r = backend->Exec(Request({"/bin/sh", "-c", "sleep 1000 & echo started"}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(backend->Destroy().ok());
  // init was our only child: after Destroy there is none left to reap.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(OurCgroupDirs(), 0);
}

}  // namespace
}  // namespace kavach::internal
