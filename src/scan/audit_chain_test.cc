// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/audit_chain.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

const std::string kKey = "0123456789abcdef-test-key-one";
const std::string kKey2 = "fedcba9876543210-test-key-two";

class AuditChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kavach_audit_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    log_ = dir_ + "/audit.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A log with chain_init plus `n` exec records.
  void WriteLog(int n) {
    auto chain = AuditChain::Open(log_, kKey);
    ASSERT_TRUE(chain.ok()) << chain.status();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(
          (*chain)
              ->Append("sb-1", "exec", absl::StrCat(R"({"i":)", i, R"(,"v":"value-)", i, R"("})"))
              .ok());
    }
  }
  std::vector<std::string> Lines() {
    std::ifstream in(log_);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  void SetLines(const std::vector<std::string>& lines) {
    std::ofstream out(log_, std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
  }
  AuditVerifyReport Verify(std::vector<std::string> keys = {kKey}, AuditVerifyOptions o = {}) {
    auto r = VerifyAuditLog(log_, keys, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : AuditVerifyReport{};
  }

  std::string dir_, log_;
};

TEST_F(AuditChainTest, FreshLogVerifiesWithInitRecordAndHead) {
  WriteLog(10);
  AuditVerifyReport r = Verify();
  ASSERT_TRUE(r.ok()) << r.problem->reason;
  EXPECT_EQ(r.records, 11u);
  EXPECT_EQ(r.last_seq, 11u);
  EXPECT_TRUE(r.head_present);
  EXPECT_EQ(r.head_seq, 11u);
  EXPECT_EQ(r.unanchored_records, 0u);
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 11u);
  json first = json::parse(lines[0]);
  EXPECT_EQ(first["event"], "chain_init");
  EXPECT_EQ(first["payload"]["key"], AuditKeyFingerprint(kKey));
  json rec = json::parse(lines[3]);
  EXPECT_EQ(rec["seq"], 4);
  EXPECT_EQ(rec["sandbox"], "sb-1");
  EXPECT_EQ(rec["event"], "exec");
  EXPECT_EQ(rec["payload"]["v"], "value-2");
}

// The head is one fixed-size line rewritten in place (no temp files, no
// rename per commit) and always names the last durable record.
TEST_F(AuditChainTest, HeadIsRewrittenInPlaceAtAFixedSize) {
  WriteLog(3);
  std::string head = AuditHeadPath(log_);
  EXPECT_EQ(std::filesystem::file_size(head), 512u);
  std::string line;
  {
    std::ifstream in(head);
    std::getline(in, line);
  }
  EXPECT_EQ(json::parse(line)["seq"], 4);
  {
    auto chain = AuditChain::Open(log_, kKey);
    ASSERT_TRUE(chain.ok()) << chain.status();
    ASSERT_TRUE((*chain)->Append("sb-1", "exec", "{}").ok());
    // Durable append: the head already names it, before any Flush.
    AuditVerifyReport r = Verify();
    ASSERT_TRUE(r.ok()) << r.problem->reason;
    EXPECT_EQ(r.head_seq, 5u);
    EXPECT_EQ(r.unanchored_records, 0u);
  }
  EXPECT_EQ(std::filesystem::file_size(head), 512u);
  // A writer whose head file is deleted or replaced writes a new one.
  auto chain = AuditChain::Open(log_, kKey);
  ASSERT_TRUE(chain.ok()) << chain.status();
  std::filesystem::remove(head);
  ASSERT_TRUE((*chain)->Append("sb-1", "exec", "{}").ok());
  AuditVerifyReport r = Verify();
  ASSERT_TRUE(r.ok()) << r.problem->reason;
  EXPECT_EQ(r.head_seq, 6u);
  {
    std::ofstream planted(head + ".planted");
    planted << "{}\n";
  }
  std::filesystem::rename(head + ".planted", head);
  ASSERT_TRUE((*chain)->Append("sb-1", "exec", "{}").ok());
  r = Verify();
  ASSERT_TRUE(r.ok()) << r.problem->reason;
  EXPECT_EQ(r.head_seq, 7u);
}

// Payloads are stored in canonical form (nlohmann's dump); those already in
// it are taken as they are, the rest are re-serialized. Either way the line
// holds exactly json::parse(p).dump().
TEST_F(AuditChainTest, PayloadsAreStoredCanonically) {
  const std::vector<std::string> payloads = {
      R"({})",
      R"({"a":1,"b":[1,2,{"c":null}],"d":true,"e":false,"f":-5,"g":"x y"})",
      R"({"b":1,"a":2})",               // unsorted
      R"({"a":1,"a":2})",               // duplicate key
      R"({ "a" : 1 })",                 // whitespace
      R"({"a":01})",                    // invalid number: rejected below
      R"({"a":-0,"b":1.50,"c":1e3})",   // non-canonical numbers
      R"({"a":"é
"\/"})",                                // escapes
      R"({"a":12345678901234567890})",  // beyond the fast path's digits
      R"({"z":{"y":{"x":[[],{}]}}})",
  };
  auto chain = AuditChain::Open(log_, kKey);
  ASSERT_TRUE(chain.ok()) << chain.status();
  size_t appended = 0;
  for (const std::string& p : payloads) {
    json parsed = json::parse(p, nullptr, false);
    auto seq = (*chain)->Append("sb", "exec", p);
    if (parsed.is_discarded()) {
      EXPECT_FALSE(seq.ok()) << p;
      continue;
    }
    ASSERT_TRUE(seq.ok()) << p << ": " << seq.status();
    ++appended;
    std::vector<std::string> lines = Lines();
    std::string line = lines.back();
    size_t from = line.find(R"("payload":)") + 10;
    size_t to = line.rfind(R"(,"mac":)");
    EXPECT_EQ(line.substr(from, to - from), parsed.dump()) << p;
  }
  chain->reset();
  AuditVerifyReport r = Verify();
  ASSERT_TRUE(r.ok()) << r.problem->reason;
  EXPECT_EQ(r.records, appended + 1);
}

// Records whose strings are not plain ASCII take the full JSON parse when
// verified; both paths agree on the chain.
TEST_F(AuditChainTest, NonAsciiAndEscapedFieldsVerify) {
  {
    auto chain = AuditChain::Open(log_, kKey);
    ASSERT_TRUE(chain.ok()) << chain.status();
    ASSERT_TRUE((*chain)->Append("sb-\xc3\xbc", "exec", R"({"a":"q\"uote","b":"\u00e9"})").ok());
    ASSERT_TRUE((*chain)->Append("sb-2", "exec", R"({"path":"C:\\x"})").ok());
    ASSERT_TRUE((*chain)->Append("sb-3", "exec", R"({"n":1})").ok());
  }
  AuditVerifyReport r = Verify();
  ASSERT_TRUE(r.ok()) << r.problem->reason;
  EXPECT_EQ(r.records, 4u);
  // An edit inside an escaped string is still caught at its record.
  std::vector<std::string> lines = Lines();
  size_t pos = lines[2].find("C:");
  ASSERT_NE(pos, std::string::npos);
  lines[2][pos] = 'D';
  SetLines(lines);
  r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->seq, 3u);
}

// Pins the MAC construction: HMAC-SHA256 over length-prefixed fields and the
// previous MAC, the first record chained to the MAC of the genesis string.
TEST_F(AuditChainTest, MacIsHmacOverLengthPrefixedFieldsAndPreviousMac) {
  auto be64 = [](uint64_t v) {
    std::string s(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8) s[i] = static_cast<char>(v & 0xff);
    return s;
  };
  auto field = [&](std::string_view f) { return be64(f.size()) + std::string(f); };
  // The short test key, a key of exactly one SHA-256 block, and keys longer
  // than a block (HMAC hashes those first): OpenSSL's HMAC() is the oracle.
  for (const std::string& key :
       {kKey, std::string(64, 'k'), std::string(65, 'k'), std::string(4096, '\xa5')}) {
    SCOPED_TRACE(key.size());
    std::filesystem::remove(log_);
    std::filesystem::remove(log_ + ".head");
    {
      auto chain = AuditChain::Open(log_, key);
      ASSERT_TRUE(chain.ok()) << chain.status();
      for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE((*chain)->Append("sb-1", "exec", absl::StrCat(R"({"i":)", i, "}")).ok());
      }
    }
    auto hmac = [&](const std::string& msg) {
      unsigned char md[32];
      unsigned int len = 0;
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &len);
      return std::string(reinterpret_cast<char*>(md), len);
    };
    std::string prev = hmac(field("kavach-audit-genesis-v1"));
    std::vector<std::string> lines = Lines();
    ASSERT_EQ(lines.size(), 4u);
    for (const std::string& line : lines) {
      json j = json::parse(line);
      std::string msg =
          field("kavach-audit-record-v1") + field(be64(j["seq"].get<uint64_t>())) +
          field(j["time"].get<std::string>()) + field(j["sandbox"].get<std::string>()) +
          field(j["event"].get<std::string>()) + field(j["payload"].dump()) + field(prev);
      std::string mac = hmac(msg);
      EXPECT_EQ(absl::BytesToHexString(mac), j["mac"].get<std::string>());
      prev = mac;
    }
    // The key fingerprint: SHA-256 of the domain, a NUL and the key.
    std::string fp_input = std::string("kavach-audit-key-fingerprint-v1") + '\0' + key;
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(fp_input.data(), fp_input.size(), md, &len, EVP_sha256(), nullptr);
    const std::string fp =
        absl::BytesToHexString(std::string(reinterpret_cast<char*>(md), len)).substr(0, 16);
    EXPECT_EQ(AuditKeyFingerprint(key), fp);
    EXPECT_EQ(json::parse(lines[0])["payload"]["key"], fp);
  }
}

TEST_F(AuditChainTest, ModifiedPayloadByteIsCaught) {
  WriteLog(6);
  std::vector<std::string> lines = Lines();
  size_t pos = lines[4].find("value-3");
  ASSERT_NE(pos, std::string::npos);
  lines[4][pos] = 'V';
  SetLines(lines);
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->seq, 5u);
  EXPECT_EQ(r.problem->line, 5u);
  EXPECT_THAT(r.problem->reason, HasSubstr("MAC mismatch"));
  EXPECT_EQ(r.records, 4u);
}

TEST_F(AuditChainTest, NonCanonicalEditIsCaught) {
  WriteLog(3);
  std::vector<std::string> lines = Lines();
  lines[2].insert(1, " ");  // still the same JSON, different bytes
  SetLines(lines);
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->line, 3u);
  EXPECT_THAT(r.problem->reason, HasSubstr("canonical"));
}

TEST_F(AuditChainTest, SwappedLinesAreCaught) {
  WriteLog(6);
  std::vector<std::string> lines = Lines();
  std::swap(lines[2], lines[3]);
  SetLines(lines);
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->line, 3u);
  EXPECT_EQ(r.problem->seq, 4u);
  EXPECT_THAT(r.problem->reason, HasSubstr("where 3 was expected"));
}

TEST_F(AuditChainTest, DeletedMiddleLineIsCaught) {
  WriteLog(6);
  std::vector<std::string> lines = Lines();
  lines.erase(lines.begin() + 3);
  SetLines(lines);
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->line, 4u);
  EXPECT_EQ(r.problem->seq, 5u);
  EXPECT_THAT(r.problem->reason, HasSubstr("where 4 was expected"));
}

TEST_F(AuditChainTest, ForgedInsertedLineIsCaught) {
  WriteLog(6);
  std::vector<std::string> lines = Lines();
  // A forger without the key renumbers the rest and makes up a MAC.
  json forged = json::parse(lines[2]);
  forged["event"] = "exec";
  forged["payload"] = {{"forged", true}};
  std::vector<std::string> out(lines.begin(), lines.begin() + 3);
  forged["seq"] = 4;
  std::string f =
      absl::StrCat(R"({"seq":4,"time":)", forged["time"].dump(),
                   R"(,"sandbox":"sb-1","event":"exec","payload":{"forged":true},"mac":")",
                   std::string(64, 'a'), "\"}");
  out.push_back(f);
  for (size_t i = 3; i < lines.size(); ++i) {
    json j = json::parse(lines[i]);
    uint64_t seq = j["seq"].get<uint64_t>() + 1;
    std::string l = lines[i];
    l.replace(0, l.find(','), absl::StrCat("{\"seq\":", seq));
    out.push_back(l);
  }
  SetLines(out);
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->seq, 4u);
  EXPECT_EQ(r.problem->line, 4u);
  EXPECT_THAT(r.problem->reason, HasSubstr("MAC mismatch"));
}

TEST_F(AuditChainTest, TruncatedTailIsCaughtThroughHead) {
  WriteLog(6);
  std::vector<std::string> lines = Lines();
  lines.resize(lines.size() - 2);
  SetLines(lines);
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.problem->reason, HasSubstr("log truncated"));
  EXPECT_EQ(r.problem->seq, 6u);
  EXPECT_EQ(r.problem->line, 6u);
  // And a writer refuses to continue a cut-off log.
  auto chain = AuditChain::Open(log_, kKey);
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kDataLoss) << chain.status();
}

TEST_F(AuditChainTest, EmptiedLogIsCaughtThroughHead) {
  WriteLog(2);
  SetLines({});
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.problem->reason, HasSubstr("log truncated"));
}

TEST_F(AuditChainTest, WrongKeyIsCaughtAtTheFirstRecord) {
  WriteLog(3);
  AuditVerifyReport r = Verify({kKey2});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->seq, 1u);
  EXPECT_EQ(r.problem->line, 1u);
  EXPECT_THAT(r.problem->reason, HasSubstr("wrong key"));
  auto chain = AuditChain::Open(log_, kKey2);
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(chain.status().message()), ::testing::Not(HasSubstr(kKey2)));
}

TEST_F(AuditChainTest, SeqGapIsCaught) {
  WriteLog(5);
  std::vector<std::string> lines = Lines();
  lines[3].replace(0, lines[3].find(','), "{\"seq\":9");
  SetLines(lines);
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->seq, 9u);
  EXPECT_EQ(r.problem->line, 4u);
  EXPECT_THAT(r.problem->reason, HasSubstr("where 4 was expected"));
}

TEST_F(AuditChainTest, TornLastLineIsReportedAndRefusedUnlessRepaired) {
  WriteLog(3);
  const std::string torn = R"({"seq":5,"time":"2026-01-01T00:00:00Z","sand)";
  {
    std::ofstream out(log_, std::ios::app);
    out << torn;
  }
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->line, 5u);
  EXPECT_THAT(r.problem->reason, HasSubstr("torn last line"));

  auto refused = AuditChain::Open(log_, kKey);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("torn"));

  AuditChainOptions o;
  o.repair_torn_tail = true;
  auto chain = AuditChain::Open(log_, kKey, o);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_TRUE((*chain)->Append("sb-1", "exec", "{}").ok());
  r = Verify();
  ASSERT_TRUE(r.ok()) << r.problem->reason;
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 6u);
  json repair = json::parse(lines[4]);
  EXPECT_EQ(repair["event"], "torn_tail_repaired");
  EXPECT_EQ(repair["payload"]["dropped_bytes"], torn.size());
}

TEST_F(AuditChainTest, TornTailLeftByAnotherWriterIsRefusedOnAppend) {
  auto a = AuditChain::Open(log_, kKey);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Append("sb", "exec", "{}").ok());
  {
    std::ofstream out(log_, std::ios::app);
    out << "{\"seq\":3,";
  }
  auto s = (*a)->Append("sb", "exec", "{}");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(AuditChainTest, TamperingBetweenAppendsIsRefusedByTheWriter) {
  auto a = AuditChain::Open(log_, kKey);
  auto b = AuditChain::Open(log_, kKey);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Append("sb", "exec", R"({"x":"aaaa"})").ok());
  ASSERT_TRUE((*b)->Append("sb", "exec", R"({"x":"bbbb"})").ok());
  std::vector<std::string> lines = Lines();
  lines[2].replace(lines[2].find("bbbb"), 4, "cccc");
  SetLines(lines);
  auto s = (*a)->Append("sb", "exec", "{}");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
}

TEST_F(AuditChainTest, MissingOrModifiedHeadIsCaught) {
  WriteLog(2);
  std::string head = AuditHeadPath(log_);
  std::string saved;
  {
    std::ifstream in(head);
    std::getline(in, saved);
  }
  json j = json::parse(saved);
  j["seq"] = 1;
  {
    std::ofstream out(head, std::ios::trunc);
    out << j.dump() << "\n";
  }
  AuditVerifyReport r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.problem->reason, HasSubstr("head checkpoint MAC mismatch"));

  std::filesystem::remove(head);
  r = Verify();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.problem->reason, HasSubstr("missing"));
  AuditVerifyOptions o;
  o.require_head = false;
  EXPECT_TRUE(Verify({kKey}, o).ok());
}

TEST_F(AuditChainTest, FilesAreCreated0600) {
  ::umask(022);
  WriteLog(1);
  struct stat st;
  ASSERT_EQ(::stat(log_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(::stat(AuditHeadPath(log_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  // No temporary head files left behind.
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 2);
}

TEST_F(AuditChainTest, BadInputIsInvalidArgument) {
  auto chain = AuditChain::Open(log_, kKey);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ((*chain)->Append("sb", "exec", "[1,2]").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*chain)->Append("sb", "exec", "{not json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*chain)->Append("sb", "bad event", "{}").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*chain)->Append("sb\xff", "exec", "{}").status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string deep(200, '[');
  EXPECT_EQ((*chain)->Append("sb", "exec", R"({"a":)" + deep).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AuditChain::Open(log_, "short").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Verify().ok());
}

TEST_F(AuditChainTest, ConcurrentThreadsProduceOneValidChain) {
  auto chain = AuditChain::Open(log_, kKey);
  ASSERT_TRUE(chain.ok());
  constexpr int kThreads = 8, kEach = 150;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto s = (*chain)->Append(absl::StrCat("sb-", t), "exec",
                                  absl::StrCat(R"({"t":)", t, R"(,"i":)", i, "}"));
        if (s.ok()) seqs[t].push_back(*s);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (auto& v : seqs) {
    EXPECT_EQ(v.size(), static_cast<size_t>(kEach));
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  AuditVerifyReport r = Verify();
  ASSERT_TRUE(r.ok()) << r.problem->reason;
  EXPECT_EQ(r.records, 1u + kThreads * kEach);
}

TEST_F(AuditChainTest, ConcurrentProcessesProduceOneValidChain) {
  ASSERT_TRUE(AuditChain::Open(log_, kKey).ok());
  constexpr int kProcs = 4, kThreadsEach = 3, kEach = 60;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto chain = AuditChain::Open(log_, kKey);
      if (!chain.ok()) _exit(3);
      std::vector<std::thread> threads;
      std::atomic<int> failures{0};
      for (int t = 0; t < kThreadsEach; ++t) {
        threads.emplace_back([&, t] {
          for (int i = 0; i < kEach; ++i) {
            if (!(*chain)->Append(absl::StrCat("p", p, "t", t), "exec", R"({"ok":true})").ok()) {
              ++failures;
            }
          }
        });
      }
      for (auto& th : threads) th.join();
      _exit(failures == 0 ? 0 : 4);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  AuditVerifyReport r = Verify();
  ASSERT_TRUE(r.ok()) << r.problem->reason;
  EXPECT_EQ(r.records, 1u + kProcs * kThreadsEach * kEach);
  EXPECT_EQ(r.head_seq, r.last_seq);
}

TEST_F(AuditChainTest, KeyFilePermissionsAreEnforced) {
  std::string key_path = dir_ + "/key";
  {
    std::ofstream out(key_path);
    out << kKey << "\n";
  }
  ASSERT_EQ(::chmod(key_path.c_str(), 0644), 0);
  AuditConfig config;
  config.key_path = key_path;
  auto loose = LoadAuditKey(config);
  EXPECT_EQ(loose.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(loose.status().message()), HasSubstr("chmod 600"));
  EXPECT_THAT(std::string(loose.status().message()), ::testing::Not(HasSubstr(kKey)));
  ASSERT_EQ(::chmod(key_path.c_str(), 0640), 0);
  EXPECT_EQ(LoadAuditKey(config).status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(::chmod(key_path.c_str(), 0600), 0);
  auto key = LoadAuditKey(config);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, kKey);  // trailing newline dropped

  {
    std::ofstream out(key_path, std::ios::trunc);
    out << "tooshort";
  }
  EXPECT_EQ(LoadAuditKey(config).status().code(), absl::StatusCode::kInvalidArgument);

  std::string link = dir_ + "/keylink";
  ASSERT_EQ(::symlink(key_path.c_str(), link.c_str()), 0);
  config.key_path = link;
  EXPECT_FALSE(LoadAuditKey(config).ok());
}

TEST_F(AuditChainTest, KeyFromEnvironment) {
  AuditConfig config;
  config.key_env = "KAVACH_AUDIT_TEST_KEY";
  ::unsetenv("KAVACH_AUDIT_TEST_KEY");
  EXPECT_EQ(LoadAuditKey(config).status().code(), absl::StatusCode::kFailedPrecondition);
  ::setenv("KAVACH_AUDIT_TEST_KEY", kKey2.c_str(), 1);
  auto key = LoadAuditKey(config);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, kKey2);
  ::setenv("KAVACH_AUDIT_TEST_KEY", "short", 1);
  EXPECT_EQ(LoadAuditKey(config).status().code(), absl::StatusCode::kInvalidArgument);
  ::unsetenv("KAVACH_AUDIT_TEST_KEY");
}

TEST_F(AuditChainTest, KeyRotationIsRecordedAndVerified) {
  {
    auto chain = AuditChain::Open(log_, kKey);
    ASSERT_TRUE(chain.ok());
    ASSERT_TRUE((*chain)->Append("sb", "exec", R"({"before":1})").ok());
    auto rot = (*chain)->RotateKey(kKey2);
    ASSERT_TRUE(rot.ok()) << rot.status();
    EXPECT_EQ(*rot, 3u);
    EXPECT_EQ((*chain)->key_fingerprint(), AuditKeyFingerprint(kKey2));
    ASSERT_TRUE((*chain)->Append("sb", "exec", R"({"after":1})").ok());
  }
  std::vector<std::string> lines = Lines();
  ASSERT_EQ(lines.size(), 4u);
  json rot = json::parse(lines[2]);
  EXPECT_EQ(rot["event"], "key_rotation");
  EXPECT_EQ(rot["payload"]["new_key"], AuditKeyFingerprint(kKey2));
  EXPECT_EQ(lines[2].find(kKey2), std::string::npos);

  AuditVerifyReport r = Verify({kKey, kKey2});
  ASSERT_TRUE(r.ok()) << r.problem->reason;
  EXPECT_EQ(r.key_fingerprints,
            (std::vector<std::string>{AuditKeyFingerprint(kKey), AuditKeyFingerprint(kKey2)}));
  r = Verify({kKey});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->seq, 3u);
  EXPECT_THAT(r.problem->reason, HasSubstr("not given"));
  r = Verify({kKey2});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problem->seq, 1u);

  // The old key is retired; the new one continues the chain.
  EXPECT_EQ(AuditChain::Open(log_, kKey).status().code(), absl::StatusCode::kFailedPrecondition);
  auto chain = AuditChain::Open(log_, kKey2);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_TRUE((*chain)->Append("sb", "exec", "{}").ok());
  EXPECT_TRUE(Verify({kKey, kKey2}).ok());
}

TEST_F(AuditChainTest, WriterWithRetiredKeyIsRefused) {
  auto a = AuditChain::Open(log_, kKey);
  auto b = AuditChain::Open(log_, kKey);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->RotateKey(kKey2).ok());
  auto s = (*b)->Append("sb", "exec", "{}");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
  EXPECT_TRUE(Verify({kKey, kKey2}).ok());
}

TEST_F(AuditChainTest, RotationJustBeforeReopenWithNewKey) {
  {
    auto chain = AuditChain::Open(log_, kKey);
    ASSERT_TRUE(chain.ok());
    ASSERT_TRUE((*chain)->RotateKey(kKey2).ok());
  }
  // The last record is the rotation itself (MAC'd with the old key).
  auto chain = AuditChain::Open(log_, kKey2);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_TRUE((*chain)->Append("sb", "exec", "{}").ok());
  EXPECT_TRUE(Verify({kKey, kKey2}).ok());
}

TEST_F(AuditChainTest, BufferedModeFlushesAndAnchors) {
  AuditChainOptions o;
  o.durability = AuditDurability::kBuffered;
  auto chain = AuditChain::Open(log_, kKey, o);
  ASSERT_TRUE(chain.ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*chain)->Append("sb", "exec", "{}").ok());
  AuditVerifyReport before = Verify();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before.unanchored_records, 20u);  // head written only at chain_init
  ASSERT_TRUE((*chain)->Flush().ok());
  AuditVerifyReport after = Verify();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after.head_seq, 21u);
  EXPECT_EQ(after.unanchored_records, 0u);
}

TEST_F(AuditChainTest, VerifyOnOpenRejectsATamperedLog) {
  WriteLog(3);
  std::vector<std::string> lines = Lines();
  lines[1].replace(lines[1].find("value-0"), 7, "value-X");
  SetLines(lines);
  // The cheap default only checks the tail ...
  EXPECT_TRUE(AuditChain::Open(log_, kKey).ok());
  // ... the full check finds the edit.
  AuditChainOptions o;
  o.verify_on_open = true;
  auto chain = AuditChain::Open(log_, kKey, o);
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(chain.status().message()), HasSubstr("seq 2"));
}

TEST_F(AuditChainTest, SignedHeadCatchesARewrittenLogAndHead) {
  WriteLog(4);
  auto keys = GenerateEd25519KeyPair();
  ASSERT_TRUE(keys.ok());
  std::string signed_head;
  {
    auto chain = AuditChain::Open(log_, kKey);
    ASSERT_TRUE(chain.ok());
    auto h = (*chain)->ExportSignedHead(keys->first);
    ASSERT_TRUE(h.ok()) << h.status();
    signed_head = *h;
  }
  auto head = VerifySignedHead(signed_head, keys->second);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->seq, 5u);

  AuditVerifyOptions o;
  o.signed_head_json = signed_head;
  o.ed25519_public_key = keys->second;
  EXPECT_TRUE(Verify({kKey}, o).ok());

  // An attacker with the HMAC key cuts the log and rewrites the head; only the
  // off-host signed head shows it.
  std::vector<std::string> lines = Lines();
  lines.resize(3);
  SetLines(lines);
  std::filesystem::remove(AuditHeadPath(log_));
  o.require_head = false;
  AuditVerifyReport r = Verify({kKey}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.problem->reason, HasSubstr("signed head"));

  // A forged signature is refused.
  json j = json::parse(signed_head);
  j["seq"] = 3;
  EXPECT_EQ(VerifySignedHead(j.dump(), keys->second).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto other = GenerateEd25519KeyPair();
  EXPECT_FALSE(VerifySignedHead(signed_head, other->second).ok());
}

TEST_F(AuditChainTest, BatchAppendIsConsecutive) {
  auto chain = AuditChain::Open(log_, kKey);
  ASSERT_TRUE(chain.ok());
  std::vector<AuditEvent> events = {{"a", "one", "{}"}, {"b", "two", R"({"x":1})"}};
  auto last = (*chain)->AppendBatch(events);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 3u);
  EXPECT_EQ((*chain)->last_seq(), 3u);
  EXPECT_TRUE(Verify().ok());
}

}  // namespace
}  // namespace kavach::internal
