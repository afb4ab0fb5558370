// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/quarantine.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr QuarantineState kAll[] = {QuarantineState::kPending, QuarantineState::kApproved,
                                    QuarantineState::kRejected, QuarantineState::kReleased};

class QuarantineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kavach_quarantine_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/q";
    auto store = QuarantineStore::Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void TearDown() override { fs::remove_all(root_); }

  QuarantineRequest Request() {
    QuarantineRequest r;
    r.sandbox_id = "sb-1";
    r.agent_id = "agent-7";
    r.argv = {"cat", "/secret/file"};
    // Binary-safe: embedded NULs and a 0xff byte (length from the array, not
    // counted by hand).
    static constexpr char kStdout[] = "key=AKIAABCDEFGHIJKLMNOP\n\0binary\xff\x00tail";
    r.stdout_data = std::string(kStdout, sizeof kStdout - 1);
    r.stderr_data = "warn\n";
    Finding f;
    f.rule_id = "aws-access-key";
    f.scanner = "secrets";
    f.category = "cloud_credential";
    f.severity = Severity::kHigh;
    f.stream = "stdout";
    f.begin = 4;
    f.end = 24;
    f.line = 1;
    f.preview = "AKIA…(20)";
    r.findings = {f, f};
    return r;
  }
  std::string Put() {
    auto id = store_->Put(Request());
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : "";
  }
  // Moves a fresh entry to `state` along legal transitions.
  std::string EntryIn(QuarantineState state) {
    std::string id = Put();
    if (state == QuarantineState::kApproved || state == QuarantineState::kReleased) {
      EXPECT_TRUE(store_->Approve(id, "t").ok());
    }
    if (state == QuarantineState::kReleased) {
      EXPECT_TRUE(store_->Release(id, "t").ok());
    }
    if (state == QuarantineState::kRejected) {
      EXPECT_TRUE(store_->Reject(id, "t").ok());
    }
    return id;
  }
  absl::Status Move(const std::string& id, QuarantineState to) {
    switch (to) {
      case QuarantineState::kApproved:
        return store_->Approve(id, "t");
      case QuarantineState::kRejected:
        return store_->Reject(id, "t");
      case QuarantineState::kReleased:
        return store_->Release(id, "t").status();
      case QuarantineState::kPending:
        return absl::FailedPreconditionError("no API moves an entry back to pending");
    }
    return absl::InternalError("unreachable");
  }

  std::string root_, dir_;
  std::unique_ptr<QuarantineStore> store_;
};

TEST_F(QuarantineTest, PutStoresMetadataWithoutSecrets) {
  std::string id = Put();
  ASSERT_TRUE(IsValidQuarantineId(id)) << id;
  auto e = store_->Get(id);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->state, QuarantineState::kPending);
  EXPECT_EQ(e->sandbox_id, "sb-1");
  EXPECT_EQ(e->agent_id, "agent-7");
  EXPECT_EQ(e->argv_digest, ArgvDigest({"cat", "/secret/file"}));
  EXPECT_EQ(e->finding_count, 2u);
  EXPECT_EQ(e->worst, Severity::kHigh);
  EXPECT_EQ(e->rule_counts.at("aws-access-key"), 2u);
  EXPECT_EQ(e->stdout_bytes, 38u);
  ASSERT_EQ(e->history.size(), 1u);
  std::ifstream in(dir_ + "/" + id + "/meta.json");
  std::string meta((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(meta.find("AKIAABCD"), std::string::npos);      // neither secret nor preview
  EXPECT_EQ(meta.find("/secret/file"), std::string::npos);  // argv only as digest
  EXPECT_THAT(meta, HasSubstr("aws-access-key"));
}

TEST_F(QuarantineTest, ArgvDigestIsUnambiguous) {
  // Known answers: SHA-256 of nothing, and of the 8-byte big-endian length 3
  // followed by "abc".
  EXPECT_EQ(ArgvDigest({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ArgvDigest({"abc"}),
            "c3494ca1a2cf8eeb8a11ded316fb55b83c3bbbedb6313cd50415251e5d09e12f");
  EXPECT_NE(ArgvDigest({"ab", "c"}), ArgvDigest({"a", "bc"}));
  EXPECT_NE(ArgvDigest({"a"}), ArgvDigest({"a", ""}));
}

TEST_F(QuarantineTest, EveryTransitionPair) {
  for (QuarantineState from : kAll) {
    for (QuarantineState to : kAll) {
      std::string id = EntryIn(from);
      absl::Status s = Move(id, to);
      bool legal = (from == QuarantineState::kPending &&
                    (to == QuarantineState::kApproved || to == QuarantineState::kRejected)) ||
                   (from == QuarantineState::kApproved && to == QuarantineState::kReleased);
      EXPECT_EQ(IsLegalQuarantineTransition(from, to), legal);
      auto e = store_->Get(id);
      ASSERT_TRUE(e.ok());
      if (legal) {
        EXPECT_TRUE(s.ok()) << QuarantineStateName(from) << "->" << QuarantineStateName(to) << s;
        EXPECT_EQ(e->state, to);
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition)
            << QuarantineStateName(from) << "->" << QuarantineStateName(to);
        if (to != QuarantineState::kPending) {
          EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(QuarantineStateName(from))));
          EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(QuarantineStateName(to))));
        }
        EXPECT_EQ(e->state, from);  // unchanged
      }
    }
  }
}

TEST_F(QuarantineTest, ReleaseReturnsIdenticalBytesAndRecordsHistory) {
  std::string id = Put();
  EXPECT_EQ(store_->Release(id, "bob").status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->Approve(id, "alice", "looks fine").ok());
  auto a = store_->Release(id, "alice");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->stdout_data, Request().stdout_data);
  EXPECT_EQ(a->stdout_data.size(), 38u);
  EXPECT_EQ(a->stderr_data, "warn\n");
  auto e = store_->Get(id);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->state, QuarantineState::kReleased);
  ASSERT_EQ(e->history.size(), 3u);
  EXPECT_EQ(e->history[1].actor, "alice");
  EXPECT_EQ(e->history[1].note, "looks fine");
  EXPECT_EQ(e->history[2].state, QuarantineState::kReleased);
  // Released is final.
  EXPECT_EQ(store_->Release(id, "alice").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(QuarantineTest, ModifiedArtifactIsDataLossOnRelease) {
  std::string id = Put();
  absl::Status approved = store_->Approve(id, "t");
  ASSERT_TRUE(approved.ok()) << approved;
  {
    std::ofstream out(dir_ + "/" + id + "/stdout.bin", std::ios::app);
    out << "x";
  }
  EXPECT_EQ(store_->Release(id, "t").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->Get(id)->state, QuarantineState::kApproved);
}

TEST_F(QuarantineTest, AtomicWritesLeaveNoTemporaryFiles) {
  std::string id = Put();
  ASSERT_TRUE(store_->Approve(id, "t").ok());
  ASSERT_TRUE(store_->Release(id, "t").ok());
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir_)) {
    names.push_back(fs::relative(e.path(), dir_).string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{id, id + "/meta.json", id + "/stderr.bin",
                                             id + "/stdout.bin"}));
}

TEST_F(QuarantineTest, PermissionsAre0600And0700) {
  ::umask(022);
  std::string id = Put();
  ASSERT_TRUE(store_->Approve(id, "t").ok());  // meta.json rewritten
  struct stat st;
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);
  ASSERT_EQ(::stat((dir_ + "/" + id).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);
  for (const char* f : {"meta.json", "stdout.bin", "stderr.bin"}) {
    ASSERT_EQ(::stat((dir_ + "/" + id + "/" + f).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600) << f;
  }
}

TEST_F(QuarantineTest, LooseDirectoryIsRefused) {
  std::string loose = root_ + "/loose";
  ASSERT_EQ(::mkdir(loose.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(loose.c_str(), 0755), 0);
  auto s = QuarantineStore::Open(loose);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("chmod 700"));
}

TEST_F(QuarantineTest, CorruptMetadataIsDataLossAndOthersSurvive) {
  std::string good = Put();
  std::string truncated = Put();
  std::string garbage = Put();
  fs::resize_file(dir_ + "/" + truncated + "/meta.json", 40);
  {
    std::ofstream out(dir_ + "/" + garbage + "/meta.json", std::ios::trunc);
    out << R"({"id":")" << garbage << R"(","state":"pending"})";
  }
  EXPECT_EQ(store_->Get(truncated).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store_->Get(truncated).status().message()), HasSubstr(truncated));
  EXPECT_EQ(store_->Get(garbage).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->Approve(truncated, "t").code(), absl::StatusCode::kDataLoss);
  auto list = store_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->entries.size(), 1u);
  EXPECT_EQ(list->entries[0].id, good);
  ASSERT_EQ(list->errors.size(), 2u);
  for (const auto& [id, status] : list->errors) {
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << id;
  }
}

TEST_F(QuarantineTest, IdsAreValidated) {
  for (const char* bad :
       {"", "..", "../q", "q-../../etc/passwd", "/etc/passwd", "q-0123456789abcdef0123456789abcdeg",
        "q-0123456789ABCDEF0123456789ABCDEF", "q-0123456789abcdef0123456789abcde"}) {
    EXPECT_FALSE(IsValidQuarantineId(bad)) << bad;
    EXPECT_EQ(store_->Get(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->Approve(bad, "t").code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store_->Get("q-0123456789abcdef0123456789abcdef").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Approve("q-0123456789abcdef0123456789abcdef", "t").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(QuarantineTest, ListIsOldestFirstAndIgnoresStrayFiles) {
  std::string a = Put();
  std::string b = Put();
  ASSERT_EQ(::mkdir((dir_ + "/.tmp-q-stale").c_str(), 0700), 0);
  std::ofstream(dir_ + "/README") << "x";
  auto list = store_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->entries.size(), 2u);
  EXPECT_EQ(list->entries[0].id, a);
  EXPECT_EQ(list->entries[1].id, b);
  EXPECT_TRUE(list->errors.empty());
}

TEST_F(QuarantineTest, ConcurrentApproveAndRejectPickOneWinner) {
  for (int round = 0; round < 5; ++round) {
    std::string id = Put();
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = QuarantineStore::Open(dir_);
      _exit(store.ok() && (*store)->Reject(id, "child").ok() ? 0 : 1);
    }
    bool parent_ok = store_->Approve(id, "parent").ok();
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    bool child_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    EXPECT_NE(parent_ok, child_ok);  // exactly one transition out of pending
    auto e = store_->Get(id);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->history.size(), 2u);
  }
}

}  // namespace
}  // namespace kavach::internal
