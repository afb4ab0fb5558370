// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/block_share.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/file_util.h"

namespace kavach::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

bool Have(const char* tool) { return sys::FindInPath(tool, "/usr/sbin:/usr/bin:/sbin:/bin").ok(); }

class BlockShare : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* t : {"mksquashfs", "unsquashfs", "mke2fs", "debugfs"}) {
      if (!Have(t))
        GTEST_SKIP() << t << " missing (scripts/bootstrap installs squashfs-tools, e2fsprogs)";
    }
    dir_ = "/tmp/kavach-blk-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    src_ = dir_ + "/src";
    cache_ = dir_ + "/cache";
    ASSERT_EQ(::mkdir(src_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((src_ + "/sub").c_str(), 0750), 0);
    ASSERT_TRUE(sys::WriteFile(src_ + "/hello.txt", "hello\n", 0644).ok());
    ASSERT_TRUE(sys::WriteFile(src_ + "/sub/tool", "#!/bin/sh\necho tool\n", 0755).ok());
    ASSERT_TRUE(sys::WriteFile(src_ + "/keep.txt", "keep\n", 0600).ok());
    ASSERT_TRUE(sys::WriteFile(src_ + "/gone.txt", "gone\n", 0644).ok());
    ASSERT_EQ(::symlink("hello.txt", (src_ + "/link").c_str()), 0);
    // Populated "long ago", so copy-out may treat it as unchanged.
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    for (const char* f : {"/hello.txt", "/keep.txt", "/gone.txt", "/sub/tool"}) {
      ASSERT_EQ(::utimensat(AT_FDCWD, (src_ + f).c_str(), old, AT_SYMLINK_NOFOLLOW), 0);
    }
  }
  void TearDown() override {
    if (!dir_.empty()) (void)!std::system(("rm -rf " + dir_).c_str());
  }
  // debugfs -w on the image: what a guest would have written.
  void Debugfs(const std::string& image, const std::string& cmds) {
    std::string f = dir_ + "/cmds";
    ASSERT_TRUE(sys::WriteFile(f, cmds).ok());
    absl::StatusOr<std::string> r = RunTool({"debugfs", "-w", "-f", f, image}, "e2fsprogs");
    ASSERT_TRUE(r.ok()) << r.status();
  }
  std::string dir_, src_, cache_;
};

TEST_F(BlockShare, SquashfsKeepsTheTreeAndIsCachedUntilItChanges) {
  absl::StatusOr<SquashfsImage> a = EnsureSquashfsImage(src_, cache_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->built);
  EXPECT_TRUE(absl::StartsWith(a->path, cache_ + "/"));
  absl::StatusOr<std::string> ls = RunTool({"unsquashfs", "-lls", a->path}, "squashfs-tools");
  ASSERT_TRUE(ls.ok()) << ls.status();
  EXPECT_THAT(*ls, HasSubstr("squashfs-root/hello.txt"));
  EXPECT_THAT(*ls, HasSubstr("squashfs-root/sub/tool"));
  EXPECT_THAT(*ls, HasSubstr("squashfs-root/link -> hello.txt"));
  EXPECT_THAT(*ls, HasSubstr("-rwxr-xr-x"));  // the tool's mode
  EXPECT_THAT(*ls, HasSubstr("drwxr-x---"));  // sub's mode
  EXPECT_THAT(*ls, HasSubstr("-rw-------"));  // keep.txt
  // Same tree: a cache hit, same key.
  absl::StatusOr<SquashfsImage> b = EnsureSquashfsImage(src_, cache_);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->built);
  EXPECT_EQ(b->path, a->path);
  // A changed file (same size, content rewritten): a new key, a rebuild.
  ASSERT_TRUE(sys::WriteFile(src_ + "/hello.txt", "HELLO\n", 0644).ok());
  absl::StatusOr<SquashfsImage> c = EnsureSquashfsImage(src_, cache_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->built);
  EXPECT_NE(c->key, a->key);
  // No temporary left behind.
  absl::StatusOr<std::string> files = RunTool({"ls", "-A", cache_}, "coreutils");
  ASSERT_TRUE(files.ok());
  EXPECT_THAT(*files, Not(HasSubstr(".XXX")));
  EXPECT_THAT(*files, Not(HasSubstr("\n.")));
}

// Past its budget of entries (20,000 by default; 50 here) the key stamps
// only the first two directory levels (and dpkg's status): an entry added
// or removed up there changes it; a deep file edited in place does not
// (the documented price of not walking all of /usr).
TEST_F(BlockShare, BigTreeKeyWatchesTheTopLevels) {
  constexpr size_t kBudget = 50;
  std::string big = dir_ + "/big";
  ASSERT_EQ(::mkdir(big.c_str(), 0755), 0);
  for (int d = 0; d < 4; ++d) {
    std::string sub = absl::StrCat(big, "/d", d);
    ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((sub + "/deep").c_str(), 0755), 0);
    for (int f = 0; f < 20; ++f) {
      ASSERT_TRUE(sys::WriteFile(absl::StrCat(sub, "/deep/f", f), "").ok());
    }
  }
  absl::StatusOr<std::string> k1 = SquashfsCacheKey(big, kBudget);
  ASSERT_TRUE(k1.ok()) << k1.status();
  EXPECT_EQ(*SquashfsCacheKey(big, kBudget), *k1);
  absl::StatusOr<std::string> full = SquashfsCacheKey(big);  // within 20,000: every entry
  ASSERT_TRUE(sys::WriteFile(big + "/d3/deep/f7", "edited in place").ok());
  EXPECT_EQ(*SquashfsCacheKey(big, kBudget), *k1);  // not seen, by design
  EXPECT_NE(*SquashfsCacheKey(big), *full);         // seen by the full key
  ASSERT_TRUE(sys::WriteFile(big + "/d3/added", "x").ok());
  EXPECT_NE(*SquashfsCacheKey(big, kBudget), *k1);
}

TEST_F(BlockShare, SquashfsOfAMissingDirOrAFileIsAnError) {
  absl::StatusOr<SquashfsImage> a = EnsureSquashfsImage(dir_ + "/nope", cache_);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kNotFound) << a.status();
  absl::StatusOr<SquashfsImage> b = EnsureSquashfsImage(src_ + "/hello.txt", cache_);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << b.status();
}

TEST_F(BlockShare, MissingToolIsFailedPreconditionNamingThePackage) {
  absl::StatusOr<std::string> r = RunTool({"kavach-no-such-tool"}, "some-package");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("install some-package"));
  // A failing tool: its name and its stderr.
  absl::StatusOr<std::string> f =
      RunTool({"mksquashfs", dir_ + "/nope", dir_ + "/x"}, "squashfs-tools");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("mksquashfs exited"));
  EXPECT_THAT(f.status().message(), HasSubstr("nope"));
}

// A tool that hangs (a broken `firecracker --version`, say) is killed at
// the deadline instead of blocking its caller (the backend probe) forever;
// one that finishes in time is unaffected.
TEST_F(BlockShare, ToolPastItsDeadlineIsKilledAndSaysSo) {
  absl::Time t0 = absl::Now();
  absl::StatusOr<std::string> r = RunTool({"sleep", "30"}, "coreutils", absl::Milliseconds(200));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("sleep did not finish within 200ms"));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(20)) << "the tool was waited for, not killed";
  absl::StatusOr<std::string> ok = RunTool({"echo", "done"}, "coreutils", absl::Seconds(20));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "done\n");
}

TEST_F(BlockShare, Ext4ImageHoldsTheTreeAndCopyOutBringsTheGuestsChangesBack) {
  std::string img = dir_ + "/work.ext4";
  ASSERT_TRUE(MakeExt4Image(src_, img, 256ull << 20).ok());
  struct stat st;
  ASSERT_EQ(::stat(img.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 256ll << 20);
  EXPECT_LT(st.st_blocks * 512, st.st_size);  // sparse
  absl::StatusOr<std::string> ls = RunTool({"debugfs", "-R", "ls -p /", img}, "e2fsprogs");
  ASSERT_TRUE(ls.ok()) << ls.status();
  EXPECT_THAT(*ls, HasSubstr("/hello.txt/"));
  EXPECT_THAT(*ls, HasSubstr("/120777/"));  // the symlink
  EXPECT_THAT(*ls, HasSubstr("/040750/"));  // sub
  // The root keeps the directory's own mode (mke2fs -d alone gives 0755).
  ASSERT_EQ(::chmod(src_.c_str(), 0777), 0);
  std::string img2 = dir_ + "/work2.ext4";
  ASSERT_TRUE(MakeExt4Image(src_, img2, 256ull << 20).ok());
  absl::StatusOr<std::string> root = RunTool({"debugfs", "-R", "stat /", img2}, "e2fsprogs");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_THAT(*root, HasSubstr("Mode:  0777"));

  // The guest: a new file, a new directory, one file changed, one deleted.
  ASSERT_TRUE(sys::WriteFile(dir_ + "/new", "written in the guest\n").ok());
  ASSERT_TRUE(sys::WriteFile(dir_ + "/changed", "changed by the guest\n").ok());
  Debugfs(img, absl::StrCat("write ", dir_, "/new out.txt\n", "mkdir made\n", "cd made\n", "write ",
                            dir_, "/new inner.txt\n", "cd /\n", "rm hello.txt\n", "write ", dir_,
                            "/changed hello.txt\n", "rm gone.txt\n", "symlink rel sub/tool\n"));
  // Meanwhile on the host: a file the image never had must survive.
  ASSERT_TRUE(sys::WriteFile(src_ + "/host-only.txt", "host\n").ok());

  absl::StatusOr<CopyOutReport> r = CopyOutExt4Image(img, src_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*sys::ReadFile(src_ + "/out.txt"), "written in the guest\n");
  EXPECT_EQ(*sys::ReadFile(src_ + "/made/inner.txt"), "written in the guest\n");
  EXPECT_EQ(*sys::ReadFile(src_ + "/hello.txt"), "changed by the guest\n");
  EXPECT_EQ(*sys::ReadFile(src_ + "/keep.txt"), "keep\n");
  EXPECT_EQ(*sys::ReadFile(src_ + "/host-only.txt"), "host\n");
  EXPECT_NE(::access((src_ + "/gone.txt").c_str(), F_OK), 0);
  EXPECT_EQ(::access((src_ + "/lost+found").c_str(), F_OK), -1);
  char buf[64] = {};
  ASSERT_GT(::readlink((src_ + "/rel").c_str(), buf, sizeof buf - 1), 0);
  EXPECT_STREQ(buf, "sub/tool");
  ASSERT_EQ(::stat((src_ + "/sub/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(r->removed, 1u);  // gone.txt
  EXPECT_GE(r->files_written, 3u);
  EXPECT_GE(r->files_unchanged, 2u);  // keep.txt, sub/tool
  EXPECT_TRUE(r->dropped.empty()) << absl::StrJoin(r->dropped, "; ");
}

TEST_F(BlockShare, CopyOutNeutralisesHostileEntries) {
  std::string img = dir_ + "/work.ext4";
  ASSERT_TRUE(MakeExt4Image(src_, img, 64ull << 20).ok());
  ASSERT_TRUE(sys::WriteFile(dir_ + "/payload", "#!/bin/sh\nid\n").ok());
  // A setuid-root executable, a setgid directory, a block device node,
  // a fifo, symlinks out of the directory, absolute and relative.
  Debugfs(img, absl::StrCat("write ", dir_, "/payload suid\n", "sif suid mode 0104755\n",
                            "sif suid uid 0\n", "mkdir sgid\n", "sif sgid mode 042777\n",
                            "mknod disk b 8 0\n", "mknod pipe p\n", "symlink out /etc/shadow\n",
                            "symlink up ../../etc/passwd\n", "cd sub\n", "symlink upup ../../x\n",
                            "symlink ok ../hello.txt\n",
                            // A chain: c leads to the top, d climbs one above it
                            // through c although "c/.." reads as sub/.
                            "symlink c ..\n", "symlink d c/../etc\n"));
  absl::StatusOr<CopyOutReport> r = CopyOutExt4Image(img, src_);
  ASSERT_TRUE(r.ok()) << r.status();
  struct stat st;
  ASSERT_EQ(::stat((src_ + "/suid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07000, 0u);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  EXPECT_EQ(st.st_uid, ::geteuid() == 0 ? 0u : ::geteuid());  // the host dir's owner
  ASSERT_EQ(::stat((src_ + "/sgid").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07000, 0u);
  EXPECT_NE(::lstat((src_ + "/disk").c_str(), &st), 0);
  EXPECT_NE(::lstat((src_ + "/pipe").c_str(), &st), 0);
  EXPECT_NE(::lstat((src_ + "/out").c_str(), &st), 0);
  EXPECT_NE(::lstat((src_ + "/up").c_str(), &st), 0);
  EXPECT_NE(::lstat((src_ + "/sub/upup").c_str(), &st), 0);
  EXPECT_EQ(::lstat((src_ + "/sub/ok").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(::lstat((src_ + "/sub/c").c_str(), &st), 0);  // to the top: inside
  EXPECT_NE(::lstat((src_ + "/sub/d").c_str(), &st), 0);
  std::string dropped = absl::StrJoin(r->dropped, "; ");
  EXPECT_THAT(dropped, HasSubstr("out: symlink to '/etc/shadow'"));
  EXPECT_THAT(dropped, HasSubstr("sub/upup: symlink"));
  EXPECT_THAT(dropped, HasSubstr("sub/d: symlink to 'c/../etc' may lead out of the directory"));
  // (debugfs's rdump itself already loses most setuid/setgid bits: its
  // chown after chmod clears them; r->stripped lists those that got
  // through to the staging tree.)
}

// A directory entry whose name climbs out ("../../../tmp/...": the guest's
// kernel writes raw directory blocks, so '/' in a name is possible). Plain
// `debugfs -R "rdump / DIR"` writes such a file outside DIR (checked here
// by hand on e2fsprogs 1.47.0); copy-out's jail keeps it in a scratch tmpfs.
TEST_F(BlockShare, CopyOutContainsANameThatClimbsOutOfTheDump) {
  std::string target = dir_ + "/escaped";  // where the hostile name points
  std::string hostile;
  for (int i = 0; i < 12; ++i) hostile += "../";
  hostile += target.substr(1);
  ASSERT_LT(hostile.size(), 255u);
  std::string placeholder(hostile.size(), 'Q');
  ASSERT_TRUE(sys::WriteFile(src_ + "/" + placeholder, "escaped\n").ok());
  std::string img = dir_ + "/hostile.ext4";
  ASSERT_EQ(::truncate((img).c_str(), 0) == 0 || errno == ENOENT, true);
  ASSERT_TRUE(sys::WriteFile(img, "").ok());
  ASSERT_EQ(::truncate(img.c_str(), 32 << 20), 0);
  // No metadata checksums, so the name can be patched in place.
  absl::StatusOr<std::string> mk = RunTool(
      {"mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal,^metadata_csum", "-d", src_, img},
      "e2fsprogs");
  ASSERT_TRUE(mk.ok()) << mk.status();
  absl::StatusOr<std::string> bytes = sys::ReadFile(img);
  ASSERT_TRUE(bytes.ok());
  size_t at = bytes->find(placeholder);
  ASSERT_NE(at, std::string::npos);
  bytes->replace(at, hostile.size(), hostile);
  ASSERT_TRUE(sys::WriteFile(img, *bytes).ok());
  absl::StatusOr<std::string> ls = RunTool({"debugfs", "-R", "ls /", img}, "e2fsprogs");
  ASSERT_TRUE(ls.ok());
  ASSERT_THAT(*ls, HasSubstr("../../"));  // the image really carries it
  ASSERT_EQ(::unlink((src_ + "/" + placeholder).c_str()), 0);

  absl::StatusOr<CopyOutReport> r = CopyOutExt4Image(img, src_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(::access(target.c_str(), F_OK), 0) << "a hostile name wrote outside the directory";
  EXPECT_EQ(*sys::ReadFile(src_ + "/hello.txt"), "hello\n");
  // No staging or scratch directory left beside the image.
  absl::StatusOr<std::string> left = RunTool({"ls", "-A", dir_}, "coreutils");
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(*left, Not(HasSubstr(".copyout")));
}

// Not root: the same copy-out, its debugfs jail in a user namespace.
TEST_F(BlockShare, CopyOutWorksUnprivileged) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged uid";
  absl::StatusOr<std::string> clone = sys::ReadFile("/proc/sys/kernel/unprivileged_userns_clone");
  if (clone.ok() && absl::StartsWith(*clone, "0")) {
    GTEST_SKIP() << "unprivileged user namespaces are off (kernel.unprivileged_userns_clone=0)";
  }
  const uid_t kUid = 65534;
  ASSERT_EQ(std::system(("chown -R 65534:65534 " + dir_).c_str()), 0);
  ASSERT_TRUE(sys::WriteFile(dir_ + "/new", "unprivileged\n").ok());
  std::string img = dir_ + "/work.ext4";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kUid, kUid, kUid) != 0 ||
        ::setresuid(kUid, kUid, kUid) != 0) {
      ::_exit(10);
    }
    if (!MakeExt4Image(src_, img, 64ull << 20).ok()) ::_exit(11);
    if (!RunTool({"debugfs", "-w", "-R", "write " + dir_ + "/new made.txt", img}, "e2fsprogs")
             .ok()) {
      ::_exit(12);
    }
    absl::StatusOr<CopyOutReport> r = CopyOutExt4Image(img, src_);
    if (!r.ok()) {
      std::fprintf(stderr, "copy-out: %s\n", r.status().ToString().c_str());
      ::_exit(13);
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(*sys::ReadFile(src_ + "/made.txt"), "unprivileged\n");
  struct stat st;
  ASSERT_EQ(::stat((src_ + "/made.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kUid);
}

TEST_F(BlockShare, CopyOutOfAMissingImageOrIntoAMissingDirIsAnError) {
  EXPECT_EQ(CopyOutExt4Image(dir_ + "/none.ext4", src_).status().code(),
            absl::StatusCode::kNotFound);
  std::string img = dir_ + "/work.ext4";
  ASSERT_TRUE(MakeExt4Image(src_, img, 64ull << 20).ok());
  EXPECT_EQ(CopyOutExt4Image(img, dir_ + "/nodir").status().code(), absl::StatusCode::kNotFound);
  // Not an ext4 file system: debugfs's complaint, named.
  ASSERT_TRUE(sys::WriteFile(dir_ + "/junk.ext4", std::string(1 << 20, 'j')).ok());
  absl::StatusOr<CopyOutReport> r = CopyOutExt4Image(dir_ + "/junk.ext4", src_);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("debugfs"));
  EXPECT_EQ(*sys::ReadFile(src_ + "/hello.txt"), "hello\n");  // nothing lost
  EXPECT_FALSE(MakeExt4Image(dir_ + "/nodir", dir_ + "/x.ext4").ok());
}

}  // namespace
}  // namespace kavach::internal
