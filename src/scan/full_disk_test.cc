// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// A full disk must give a clear error and lose nothing: every audit record
// whose Append succeeded stays in the chain and verifies, and a quarantine
// entry is either complete or absent. Each test runs in a child with a
// private mount namespace holding a 64 KiB tmpfs (as root; otherwise inside a
// user namespace of its own), so the host's disks are never filled.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "linux/testing/run_in_child.h"
#include "scan/audit_chain.h"
#include "scan/quarantine.h"

namespace kavach::internal {
namespace {

using ::kavach::test_support::RunInChild;

const std::string kKey = "0123456789abcdef0123456789abcdef";

// In the child: a private mount namespace with a small tmpfs at a fresh
// directory, returned in `dir`. "" on success.
std::string MountSmallTmpfs(std::string* dir, const char* size) {
  if (::geteuid() != 0) {
    const uid_t uid = ::geteuid();
    const gid_t gid = ::getegid();
    if (::unshare(CLONE_NEWUSER) != 0) {
      return absl::StrCat("unshare(CLONE_NEWUSER): ", strerror(errno));
    }
    // Map ourselves, or files we create would have no owner the kernel can
    // represent (EOVERFLOW).
    const std::pair<const char*, std::string> maps[] = {
        {"/proc/self/setgroups", "deny"},
        {"/proc/self/uid_map", absl::StrCat(uid, " ", uid, " 1")},
        {"/proc/self/gid_map", absl::StrCat(gid, " ", gid, " 1")}};
    for (const auto& [path, text] : maps) {
      int fd = ::open(path, O_WRONLY | O_CLOEXEC);
      bool ok =
          fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      if (fd >= 0) ::close(fd);
      if (!ok) return absl::StrCat("write ", path, ": ", strerror(errno));
    }
  }
  if (::unshare(CLONE_NEWNS) != 0) return absl::StrCat("unshare(CLONE_NEWNS): ", strerror(errno));
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return absl::StrCat("make / private: ", strerror(errno));
  }
  char tmpl[] = "/tmp/kavach-full-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return absl::StrCat("mkdtemp: ", strerror(errno));
  *dir = tmpl;
  if (::mount("tmpfs", tmpl, "tmpfs", 0, absl::StrCat("size=", size, ",mode=0700").c_str()) != 0) {
    return absl::StrCat("mount tmpfs: ", strerror(errno));
  }
  return "";
}

TEST(FullDiskTest, AuditAppendFailsClearlyAndKeepsEveryAcknowledgedRecord) {
  std::string err = RunInChild([&]() -> std::string {
    std::string dir;
    if (std::string e = MountSmallTmpfs(&dir, "64k"); !e.empty()) return e;
    const std::string log = dir + "/audit.log";
    uint64_t last_acknowledged = 0;
    absl::Status failure;
    {
      absl::StatusOr<std::unique_ptr<AuditChain>> chain = AuditChain::Open(log, kKey);
      if (!chain.ok()) return absl::StrCat("open: ", chain.status().ToString());
      const std::string payload = absl::StrCat("{\"pad\":\"", std::string(900, 'x'), "\"}");
      for (int i = 0; i < 1000; ++i) {
        absl::StatusOr<uint64_t> seq = (*chain)->Append("sb", "exec", payload);
        if (!seq.ok()) {
          failure = seq.status();
          break;
        }
        last_acknowledged = *seq;
      }
    }
    if (failure.ok()) return "64 KiB took 1000 records of 1 KiB without an error";
    if (failure.message().find("No space left") == std::string::npos &&
        failure.message().find("space") == std::string::npos) {
      return absl::StrCat("the error does not say the disk is full: ", failure.ToString());
    }
    if (last_acknowledged < 10) {
      return absl::StrCat("only ", last_acknowledged, " records fit before the failure");
    }
    // Every acknowledged record is there and verifies; a torn tail after
    // them may be reported, never silently accepted or counted.
    absl::StatusOr<AuditVerifyReport> report =
        VerifyAuditLog(log, {kKey}, AuditVerifyOptions{.require_head = false});
    if (!report.ok()) return absl::StrCat("verify: ", report.status().ToString());
    if (report->last_seq < last_acknowledged) {
      return absl::StrCat("the chain verifies up to seq ", report->last_seq, ", but seq ",
                          last_acknowledged, " was acknowledged");
    }
    return "";
  });
  EXPECT_EQ(err, "");
}

TEST(FullDiskTest, QuarantinePutFailsClearlyAndLeavesNoHalfEntry) {
  std::string err = RunInChild([&]() -> std::string {
    std::string dir;
    if (std::string e = MountSmallTmpfs(&dir, "64k"); !e.empty()) return e;
    absl::StatusOr<std::unique_ptr<QuarantineStore>> store = QuarantineStore::Open(dir + "/q");
    if (!store.ok()) return absl::StrCat("open: ", store.status().ToString());
    QuarantineRequest small;
    small.sandbox_id = "sb";
    small.argv = {"/bin/echo", "hi"};
    small.stdout_data = "kept output\n";
    absl::StatusOr<std::string> kept = (*store)->Put(small);
    if (!kept.ok()) return absl::StrCat("first put: ", kept.status().ToString());

    QuarantineRequest big = small;
    big.stdout_data = std::string(256 * 1024, 'y');  // four times the disk
    absl::StatusOr<std::string> failed = (*store)->Put(big);
    if (failed.ok()) return "a 256 KiB artifact was stored on a 64 KiB disk";
    if (failed.status().message().find("space") == std::string::npos) {
      return absl::StrCat("the error does not say the disk is full: ", failed.status().ToString());
    }
    absl::StatusOr<QuarantineListing> listing = (*store)->List();
    if (!listing.ok()) return absl::StrCat("list: ", listing.status().ToString());
    if (listing->entries.size() != 1 || !listing->errors.empty()) {
      return absl::StrCat("after the failed put: ", listing->entries.size(), " entries, ",
                          listing->errors.size(), " unreadable (want 1 and 0)");
    }
    if (absl::Status s = (*store)->Approve(*kept, "test", ""); !s.ok()) {
      return absl::StrCat("approve: ", s.ToString());
    }
    absl::StatusOr<QuarantineArtifact> artifact = (*store)->Release(*kept, "test");
    if (!artifact.ok()) return absl::StrCat("release: ", artifact.status().ToString());
    if (artifact->stdout_data != small.stdout_data) return "the kept entry's bytes changed";
    return "";
  });
  EXPECT_EQ(err, "");
}

}  // namespace
}  // namespace kavach::internal
