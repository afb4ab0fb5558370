// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The sandbox's wiring to the gate and the audit chain, through the Noop
// backend (which produces no output, so verdicts are always pass here; block,
// redact and the threat response need a backend that runs commands).
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kavach/sandbox.h"
#include "nlohmann/json.hpp"

namespace kavach {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kKeyEnv[] = "KAVACH_SANDBOX_TEST_AUDIT_KEY";

class SandboxGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kavach-sandbox-gate-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(setenv(kKeyEnv, "0123456789abcdef0123456789abcdef", 1), 0);
  }
  void TearDown() override {
    unsetenv(kKeyEnv);
    (void)!system(("rm -rf '" + dir_ + "'").c_str());
  }

  SandboxConfig AuditedConfig() {
    SandboxConfig c;
    c.backend = BackendKind::kNoop;
    c.policy = SandboxPolicy::Minimal();
    c.audit.log_path = dir_ + "/audit.jsonl";
    c.audit.key_env = kKeyEnv;
    c.agent_id = "agent-test";
    return c;
  }

  // (event, payload) of every record in the log.
  std::vector<std::pair<std::string, nlohmann::json>> ReadLog() {
    std::vector<std::pair<std::string, nlohmann::json>> out;
    std::ifstream in(dir_ + "/audit.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      nlohmann::json j = nlohmann::json::parse(line);
      nlohmann::json payload = j["payload"];
      if (payload.is_string()) payload = nlohmann::json::parse(payload.get<std::string>());
      out.emplace_back(j["event"].get<std::string>(), payload);
      // The chain's own first record belongs to no sandbox.
      if (j["event"] != "chain_init") sandboxes_.push_back(j["sandbox"].get<std::string>());
    }
    return out;
  }

  std::string dir_;
  std::vector<std::string> sandboxes_;
};

TEST_F(SandboxGateTest, EveryTransitionIsAudited) {
  std::string id;
  {
    absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(AuditedConfig());
    ASSERT_TRUE(s.ok()) << s.status();
    id = (*s)->id();
    ASSERT_TRUE((*s)->Start().ok());
    ASSERT_TRUE((*s)->Pause().ok());
    ASSERT_TRUE((*s)->Resume().ok());
    ASSERT_TRUE((*s)->Stop().ok());
    ASSERT_TRUE((*s)->Destroy().ok());
  }
  std::vector<std::string> transitions;
  bool saw_create = false;
  for (const auto& [event, payload] : ReadLog()) {
    if (event == "create") {
      saw_create = true;
      EXPECT_EQ(payload["backend"], "noop");
      EXPECT_EQ(payload["score"], 0);
    }
    if (event == "state") {
      transitions.push_back(payload["from"].get<std::string>() + ">" +
                            payload["to"].get<std::string>());
    }
  }
  EXPECT_TRUE(saw_create);
  EXPECT_THAT(transitions, ElementsAre("created>running", "running>paused", "paused>running",
                                       "running>stopped", "stopped>destroyed"));
  ASSERT_FALSE(sandboxes_.empty());
  for (const std::string& sb : sandboxes_) EXPECT_EQ(sb, id);
}

TEST_F(SandboxGateTest, DestructorDestroyIsAudited) {
  {
    absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(AuditedConfig());
    ASSERT_TRUE(s.ok()) << s.status();
  }
  std::vector<std::string> transitions;
  for (const auto& [event, payload] : ReadLog()) {
    if (event == "state") {
      transitions.push_back(payload["from"].get<std::string>() + ">" +
                            payload["to"].get<std::string>());
    }
  }
  EXPECT_THAT(transitions, ElementsAre("created>destroyed"));
}

TEST_F(SandboxGateTest, ExecIsAuditedAndGated) {
  SandboxConfig c = AuditedConfig();
  c.gate.enabled = true;
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Start().ok());
  absl::StatusOr<ExecResult> r = (*s)->Exec({"echo", "hi"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->gated);
  EXPECT_EQ(r->verdict, Verdict::kPass);
  int execs = 0;
  for (const auto& [event, payload] : ReadLog()) execs += event == "exec";
  EXPECT_EQ(execs, 1);
}

TEST_F(SandboxGateTest, SpawnThroughTheGate) {
  SandboxConfig c = AuditedConfig();
  c.gate.enabled = true;
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Start().ok());
  SpawnOptions o;
  std::string out;
  o.on_stdout = [&out](std::string_view chunk) { out.append(chunk); };
  absl::StatusOr<std::unique_ptr<SpawnedProcess>> p = (*s)->Spawn({"echo", "hi"}, o);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<ExecResult> r = (*p)->Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->gated);
  // Waiting again must not gate (and audit) the same exec twice.
  ASSERT_TRUE((*p)->Wait().ok());
  int execs = 0;
  for (const auto& [event, payload] : ReadLog()) execs += event == "exec";
  EXPECT_EQ(execs, 1);
}

TEST_F(SandboxGateTest, NoGateWithoutAskingForOne) {
  SandboxConfig c = AuditedConfig();
  c.audit.log_path.reset();
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Start().ok());
  absl::StatusOr<ExecResult> r = (*s)->Exec({"true"});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->gated);
  EXPECT_NE(access((dir_ + "/audit.jsonl").c_str(), F_OK), 0);
}

TEST_F(SandboxGateTest, AuditWithoutKeyFailsClosed) {
  unsetenv(kKeyEnv);
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(AuditedConfig());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("audit"));
}

TEST_F(SandboxGateTest, BadRulePackFailsClosed) {
  SandboxConfig c = AuditedConfig();
  c.audit.log_path.reset();
  c.gate.enabled = true;
  c.gate.extra_rule_packs.push_back(dir_ + "/no-such-pack.toml");
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(c);
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace kavach
