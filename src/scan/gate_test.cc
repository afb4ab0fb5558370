// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/gate.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "scan/audit_chain.h"
#include "scan/quarantine.h"
#include "scan/threat.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

const std::string kKey = "gate-test-key-0123456789";
// From the rule packs' own examples.
const std::string kMediumSecret = "GClbaNFDpCWNX0D1lZEzgeiwBxfZCGGQ";     // generic-api-key
const std::string kHighSecret = "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";  // huggingface-token
const std::string kCriticalSecret = "ghp_sMehGAkWvj7FAc9QeWJKY40uvSwMFLZDe1f8";  // github-token

class GateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kavach_gate_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    key_path_ = dir_ + "/key";
    std::ofstream(key_path_) << kKey;
    ASSERT_EQ(::chmod(key_path_.c_str(), 0600), 0);
    audit_.log_path = dir_ + "/audit.log";
    audit_.key_path = key_path_;
    config_.enabled = true;
    config_.quarantine_dir = dir_ + "/q";
    // A distinct agent per test: the offender tracker is process-wide.
    agent_ =
        std::string("agent-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Gate> MakeGate() {
    auto gate = Gate::Create(config_, audit_, "sb-gate", agent_);
    EXPECT_TRUE(gate.ok()) << gate.status();
    return gate.ok() ? std::move(*gate) : nullptr;
  }
  static ExecResult Result(std::string out, std::string err = "") {
    ExecResult r;
    r.exit_code = 0;
    r.stdout_data = std::move(out);
    r.stderr_data = std::move(err);
    return r;
  }
  std::string LogText() {
    std::ifstream in(*audit_.log_path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::vector<json> Records() {
    std::vector<json> out;
    std::istringstream in(LogText());
    for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
    return out;
  }
  void ExpectChainVerifies() {
    auto r = VerifyAuditLog(*audit_.log_path, {kKey});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->ok()) << r->problem->reason;
  }

  std::string dir_, key_path_, agent_;
  GateConfig config_;
  AuditConfig audit_;
};

TEST_F(GateTest, CleanOutputPasses) {
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  ExecResult r = Result("hello world\n", "all good\n");
  ASSERT_TRUE(gate->Apply({"echo", "hello"}, &r).ok());
  EXPECT_TRUE(r.gated);
  EXPECT_EQ(r.verdict, Verdict::kPass);
  EXPECT_EQ(r.stdout_data, "hello world\n");
  EXPECT_EQ(r.threat_intent, 0);
  EXPECT_EQ(gate->tier(), ThreatTier::kLog);
  std::vector<json> recs = Records();
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.back()["event"], "exec");
  EXPECT_EQ(recs.back()["payload"]["verdict"], "pass");
  EXPECT_EQ(recs.back()["payload"]["argv_sha256"], ArgvDigest({"echo", "hello"}));
  ExpectChainVerifies();
}

TEST_F(GateTest, SecretsAreRedactedInPlace) {
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  ExecResult r = Result("config:\napi_key: \"" + kMediumSecret + "\"\ndone\n",
                        "note api_key: \"" + kMediumSecret + "\"\n");
  ASSERT_TRUE(gate->Apply({"cat", "config"}, &r).ok());
  EXPECT_EQ(r.verdict, Verdict::kRedact);
  EXPECT_THAT(r.stdout_data, Not(HasSubstr(kMediumSecret)));
  EXPECT_THAT(r.stderr_data, Not(HasSubstr(kMediumSecret)));
  EXPECT_THAT(r.stdout_data, HasSubstr("[REDACTED:"));
  EXPECT_THAT(r.stdout_data, HasSubstr("config:\n"));
  EXPECT_THAT(r.stdout_data, HasSubstr("\ndone\n"));
  ASSERT_GE(r.findings.size(), 2u);
  bool saw_stderr = false;
  for (const Finding& f : r.findings) saw_stderr |= f.stream == "stderr";
  EXPECT_TRUE(saw_stderr);
  EXPECT_GT(r.threat_intent, 0);
  EXPECT_THAT(LogText(), Not(HasSubstr(kMediumSecret)));
  ExpectChainVerifies();
}

TEST_F(GateTest, CriticalFindingBlocksAndRevokes) {
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  ExecResult r = Result("GITHUB_TOKEN=" + kCriticalSecret + "\n");
  absl::Status s = gate->Apply({"env"}, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("output blocked"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("worst critical"));
  EXPECT_EQ(r.verdict, Verdict::kBlock);
  EXPECT_TRUE(r.stdout_data.empty());
  EXPECT_FALSE(r.findings.empty());
  EXPECT_EQ(gate->tier(), ThreatTier::kRevoke);
  std::string log = LogText();
  EXPECT_THAT(log, Not(HasSubstr(kCriticalSecret)));
  EXPECT_THAT(log, HasSubstr("\"event\":\"tier_change\""));
  EXPECT_THAT(log, HasSubstr("github-token"));  // rule id in the summary
  ExpectChainVerifies();
}

TEST_F(GateTest, HighFindingIsQuarantinedAndReleasable) {
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  std::string original = std::string("HF_TOKEN=") + kHighSecret + "\n\0bin\xff", err = "e\n";
  original.push_back('\0');
  ExecResult r = Result(original, err);
  absl::Status s = gate->Apply({"python3", "train.py"}, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("output quarantined as q-"));
  EXPECT_EQ(r.verdict, Verdict::kQuarantine);
  ASSERT_TRUE(IsValidQuarantineId(r.quarantine_id)) << r.quarantine_id;
  EXPECT_THAT(std::string(s.message()), HasSubstr(r.quarantine_id));
  EXPECT_TRUE(r.stdout_data.empty());
  EXPECT_TRUE(r.stderr_data.empty());

  auto store = QuarantineStore::Open(*config_.quarantine_dir);
  ASSERT_TRUE(store.ok());
  auto entry = (*store)->Get(r.quarantine_id);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->sandbox_id, "sb-gate");
  EXPECT_EQ(entry->agent_id, agent_);
  EXPECT_EQ(entry->worst, Severity::kHigh);
  ASSERT_TRUE((*store)->Approve(r.quarantine_id, "reviewer").ok());
  auto released = (*store)->Release(r.quarantine_id, "reviewer");
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(released->stdout_data, original);
  EXPECT_EQ(released->stderr_data, err);

  std::string log = LogText();
  EXPECT_THAT(log, HasSubstr(r.quarantine_id));
  EXPECT_THAT(log, Not(HasSubstr(kHighSecret)));
  ExpectChainVerifies();
}

TEST_F(GateTest, QuarantineWithoutStoreBlocks) {
  config_.quarantine_dir.reset();
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  ExecResult r = Result("HF_TOKEN=" + kHighSecret + "\n");
  absl::Status s = gate->Apply({"x"}, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("output blocked"));
  EXPECT_EQ(r.verdict, Verdict::kBlock);
  EXPECT_TRUE(r.stdout_data.empty());
  EXPECT_TRUE(r.quarantine_id.empty());
}

TEST_F(GateTest, OversizeOutputIsBlocked) {
  config_.max_artifact_bytes = 16;
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  ExecResult r = Result(std::string(64, 'a'));
  EXPECT_EQ(gate->Apply({"yes"}, &r).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(r.stdout_data.empty());
}

TEST_F(GateTest, DisabledGateOnlyAuditsTheExec) {
  config_.enabled = false;
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  ExecResult r = Result("GITHUB_TOKEN=" + kCriticalSecret + "\n");
  r.exit_code = 3;
  ASSERT_TRUE(gate->Apply({"env"}, &r).ok());
  EXPECT_FALSE(r.gated);
  EXPECT_THAT(r.stdout_data, HasSubstr(kCriticalSecret));
  std::vector<json> recs = Records();
  ASSERT_EQ(recs.size(), 2u);  // chain_init, exec
  json p = recs[1]["payload"];
  EXPECT_EQ(p["gated"], false);
  EXPECT_EQ(p["exit_code"], 3);
  EXPECT_EQ(p["stdout_bytes"], r.stdout_data.size());
  EXPECT_EQ(p["argv_sha256"], ArgvDigest({"env"}));
  EXPECT_THAT(LogText(), Not(HasSubstr(kCriticalSecret)));
  // A disabled gate's stream passes bytes through.
  auto stream = gate->OpenStream("stdout");
  EXPECT_EQ(stream->Feed("abc"), "abc");
  EXPECT_EQ(stream->Finish(), "");
}

TEST_F(GateTest, RecordEventAppendsToTheChain) {
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  ASSERT_TRUE(gate->RecordEvent("state", R"({"from":"created","to":"running"})").ok());
  EXPECT_EQ(gate->RecordEvent("state", "not json").code(), absl::StatusCode::kInvalidArgument);
  std::vector<json> recs = Records();
  EXPECT_EQ(recs.back()["event"], "state");
  EXPECT_EQ(recs.back()["sandbox"], "sb-gate");
  EXPECT_EQ(recs.back()["payload"]["to"], "running");
  ExpectChainVerifies();
}

TEST_F(GateTest, MissingAuditKeyFailsClosed) {
  audit_.key_path.reset();
  audit_.key_env = "KAVACH_GATE_TEST_NO_SUCH_KEY";
  ::unsetenv("KAVACH_GATE_TEST_NO_SUCH_KEY");
  auto gate = Gate::Create(config_, audit_, "sb", agent_);
  EXPECT_EQ(gate.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(gate.status().message()), HasSubstr("audit"));
}

TEST_F(GateTest, RepeatOffenderEscalates) {
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  // One e-mail address (low) only logs; repeated, the agent's decayed score
  // crosses threshold / 2 and the tier rises above what one exec warrants.
  double intent = 0;
  ThreatTier first = ThreatTier::kRevoke;
  for (int i = 0; i < 15; ++i) {
    ExecResult r = Result("contact: jane.doe+ops@mail.example-corp.io\n");
    ASSERT_TRUE(gate->Apply({"x"}, &r).ok());
    if (i == 0) {
      first = gate->tier();
      intent = r.threat_intent;
    }
  }
  ASSERT_GT(intent, 0);
  EXPECT_EQ(first, TierForIntent(intent));
  EXPECT_GT(gate->tier(), TierForIntent(intent));
  EXPECT_THAT(LogText(), HasSubstr("\"event\":\"tier_change\""));
  ExpectChainVerifies();
}

// Feeds `text` in chunks of `size` and returns what the stream delivered.
std::string Stream(GateStream* s, const std::string& text, size_t size) {
  std::string out;
  for (size_t i = 0; i < text.size(); i += size) out += s->Feed(text.substr(i, size));
  out += s->Finish();
  return out;
}

TEST_F(GateTest, StreamRedactsSecretsSplitAcrossChunks) {
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  std::string text;
  for (int i = 0; i < 200; ++i) text += "line " + std::to_string(i) + " nothing to see\n";
  text += "api_key: \"" + kMediumSecret + "\"\n";
  for (int i = 0; i < 50; ++i) text += "tail " + std::to_string(i) + "\n";
  for (size_t size : {1, 7, 64, 4096, 1 << 20}) {
    auto stream = gate->OpenStream("stdout");
    std::string out = Stream(stream.get(), text, size);
    EXPECT_THAT(out, Not(HasSubstr(kMediumSecret))) << size;
    EXPECT_THAT(out, HasSubstr("[REDACTED:")) << size;
    EXPECT_THAT(out, HasSubstr("line 199 nothing to see\n")) << size;
    EXPECT_THAT(out, HasSubstr("tail 49\n")) << size;
    EXPECT_FALSE(stream->blocked());
    EXPECT_FALSE(stream->findings().empty());
  }
}

TEST_F(GateTest, StreamStopsOnABlockingFinding) {
  auto gate = MakeGate();
  ASSERT_NE(gate, nullptr);
  std::string text = "before\nGITHUB_TOKEN=" + kCriticalSecret + "\nafter\n";
  for (size_t size : {1, 5, 4096}) {
    auto stream = gate->OpenStream("stdout");
    std::string out = Stream(stream.get(), text, size);
    EXPECT_TRUE(stream->blocked()) << size;
    EXPECT_THAT(out, Not(HasSubstr("ghp_sMeh"))) << size;
    EXPECT_THAT(out, Not(HasSubstr("after"))) << size;
  }
}

}  // namespace
}  // namespace kavach::internal
