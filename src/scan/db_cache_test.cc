// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/db_cache.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace kavach::internal {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/kavach_db_cache_test.XXXXXX";
  char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d != nullptr ? std::string(d) : std::string("/nonexistent");
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// Restores an environment variable when the test ends.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* v = getenv(name)) old_ = v;
  }
  ~EnvGuard() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(DbCacheTest, KeyIsSha256Hex) {
  EXPECT_EQ(CacheKeyHex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_NE(CacheKeyHex("a"), CacheKeyHex("b"));
}

TEST(DbCacheTest, DirectoryFromEnvironment) {
  EnvGuard g1("KAVACH_CACHE_DIR"), g2("XDG_CACHE_HOME"), g3("HOME");
  setenv("KAVACH_CACHE_DIR", "/x/kc", 1);
  setenv("XDG_CACHE_HOME", "/x/xdg", 1);
  EXPECT_EQ(ScanCacheDir(), "/x/kc");
  setenv("KAVACH_CACHE_DIR", "off", 1);
  EXPECT_EQ(ScanCacheDir(), "");
  unsetenv("KAVACH_CACHE_DIR");
  EXPECT_EQ(ScanCacheDir(), "/x/xdg/kavach");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(ScanCacheDir(), geteuid() == 0 ? "/var/cache/kavach" : "/home/u/.cache/kavach");
}

TEST(DbCacheTest, RoundTripWithPrivateModes) {
  std::string root = TempDir();
  std::string dir = root + "/a/b";
  std::string key = CacheKeyHex("k1");
  EXPECT_FALSE(LoadCacheEntry(dir, key).has_value());
  std::string payload("compiled\0bytes", 14);
  ASSERT_TRUE(StoreCacheEntry(dir, key, payload).ok());
  std::optional<std::string> got = LoadCacheEntry(dir, key);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, payload);
  {
    // The mapped form (what Scanner::Create uses) sees the same bytes, and
    // keeps them after being moved.
    std::optional<MappedCacheEntry> mapped = MapCacheEntry(dir, key);
    ASSERT_TRUE(mapped.has_value());
    MappedCacheEntry moved = *std::move(mapped);
    EXPECT_EQ(moved.payload(), payload);
    EXPECT_FALSE(MapCacheEntry(dir, CacheKeyHex("k2")).has_value());
  }
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(CacheEntryPath(dir, key).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Another key is a miss, even though a file for k1 exists.
  EXPECT_FALSE(LoadCacheEntry(dir, CacheKeyHex("k2")).has_value());
}

TEST(DbCacheTest, CorruptOrMismatchedEntriesAreMisses) {
  std::string dir = TempDir();
  std::string key = CacheKeyHex("k");
  ASSERT_TRUE(StoreCacheEntry(dir, key, std::string(1000, 'p')).ok());
  const std::string path = CacheEntryPath(dir, key);
  const std::string good = Slurp(path);
  ASSERT_TRUE(LoadCacheEntry(dir, key).has_value());
  // Every single flipped byte (header, key, length, digest, payload) is caught.
  for (size_t i = 0; i < good.size(); i += 7) {
    std::string bad = good;
    bad[i] ^= 0x20;
    Spit(path, bad);
    EXPECT_FALSE(LoadCacheEntry(dir, key).has_value()) << "flipped byte " << i;
  }
  Spit(path, good.substr(0, good.size() - 1));
  EXPECT_FALSE(LoadCacheEntry(dir, key).has_value());
  Spit(path, good + "x");
  EXPECT_FALSE(LoadCacheEntry(dir, key).has_value());
  Spit(path, "");
  EXPECT_FALSE(LoadCacheEntry(dir, key).has_value());
  // A good entry copied under another key's name does not pass as that key.
  std::string other = CacheKeyHex("other");
  Spit(CacheEntryPath(dir, other), good);
  EXPECT_FALSE(LoadCacheEntry(dir, other).has_value());
  // Rewriting repairs it.
  ASSERT_TRUE(StoreCacheEntry(dir, key, "fresh").ok());
  EXPECT_EQ(LoadCacheEntry(dir, key).value_or(""), "fresh");
}

// A store may leave a self-checking tail out of the digest (the scanner's
// Hyperscan databases): the digested prefix is still fully covered, and the
// tail is returned as stored for the caller to validate.
TEST(DbCacheTest, DigestCoversTheRequestedPrefix) {
  std::string dir = TempDir();
  std::string key = CacheKeyHex("k");
  const std::string payload = std::string(100, 'h') + std::string(50, 't');
  ASSERT_TRUE(StoreCacheEntry(dir, key, payload, 100).ok());
  const std::string path = CacheEntryPath(dir, key);
  const std::string good = Slurp(path);
  const size_t at = good.size() - payload.size();
  EXPECT_EQ(LoadCacheEntry(dir, key).value_or(""), payload);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x20;
    Spit(path, bad);
    std::optional<std::string> got = LoadCacheEntry(dir, key);
    if (i < at + 100) {
      EXPECT_FALSE(got.has_value()) << "flipped byte " << i;
    } else {
      EXPECT_EQ(got.value_or(""), bad.substr(at)) << "flipped byte " << i;
    }
  }
  // More than the payload means all of it.
  ASSERT_TRUE(StoreCacheEntry(dir, key, payload, 1000).ok());
  std::string bad = Slurp(path);
  bad.back() ^= 0x20;
  Spit(path, bad);
  EXPECT_FALSE(LoadCacheEntry(dir, key).has_value());
}

TEST(DbCacheTest, StoreRemovesEntriesUnusedForAMonth) {
  std::string dir = TempDir();
  std::string old_key = CacheKeyHex("old"), used_key = CacheKeyHex("used");
  ASSERT_TRUE(StoreCacheEntry(dir, old_key, "a").ok());
  ASSERT_TRUE(StoreCacheEntry(dir, used_key, "b").ok());
  const time_t then = time(nullptr) - 40 * 24 * 3600;
  struct timeval past[2] = {{then, 0}, {then, 0}};
  ASSERT_EQ(utimes(CacheEntryPath(dir, old_key).c_str(), past), 0);
  ASSERT_EQ(utimes(CacheEntryPath(dir, used_key).c_str(), past), 0);
  ASSERT_TRUE(LoadCacheEntry(dir, used_key).has_value());  // refreshes it
  Spit(dir + "/unrelated", "x");
  ASSERT_EQ(utimes((dir + "/unrelated").c_str(), past), 0);
  ASSERT_TRUE(StoreCacheEntry(dir, CacheKeyHex("new"), "c").ok());
  EXPECT_FALSE(LoadCacheEntry(dir, old_key).has_value());
  struct stat st;
  EXPECT_NE(stat(CacheEntryPath(dir, old_key).c_str(), &st), 0);
  EXPECT_TRUE(LoadCacheEntry(dir, used_key).has_value());
  EXPECT_EQ(stat((dir + "/unrelated").c_str(), &st), 0);  // not ours: kept
  // A load refreshes an entry's mtime only when it is over an hour old (a
  // gated exec's load need not write the inode).
  const time_t recent = time(nullptr) - 600;
  struct timeval ten_min_ago[2] = {{recent, 0}, {recent, 0}};
  ASSERT_EQ(utimes(CacheEntryPath(dir, used_key).c_str(), ten_min_ago), 0);
  ASSERT_TRUE(LoadCacheEntry(dir, used_key).has_value());
  ASSERT_EQ(stat(CacheEntryPath(dir, used_key).c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, recent);
  ASSERT_EQ(utimes(CacheEntryPath(dir, used_key).c_str(), past), 0);
  ASSERT_TRUE(LoadCacheEntry(dir, used_key).has_value());
  ASSERT_EQ(stat(CacheEntryPath(dir, used_key).c_str(), &st), 0);
  EXPECT_GT(st.st_mtime, recent);
}

TEST(DbCacheTest, EntriesOthersCouldWriteAreIgnored) {
  std::string dir = TempDir();
  std::string key = CacheKeyHex("k");
  ASSERT_TRUE(StoreCacheEntry(dir, key, "payload").ok());
  ASSERT_TRUE(LoadCacheEntry(dir, key).has_value());
  const std::string path = CacheEntryPath(dir, key);
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  EXPECT_FALSE(LoadCacheEntry(dir, key).has_value());
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  ASSERT_TRUE(LoadCacheEntry(dir, key).has_value());
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  EXPECT_FALSE(LoadCacheEntry(dir, key).has_value());
  EXPECT_FALSE(StoreCacheEntry(dir, key, "payload").ok());
  ASSERT_EQ(chmod(dir.c_str(), 0700), 0);
  // A symlink in place of the entry is not followed.
  std::string other = TempDir();
  ASSERT_TRUE(StoreCacheEntry(other, key, "elsewhere").ok());
  ASSERT_EQ(unlink(path.c_str()), 0);
  ASSERT_EQ(symlink(CacheEntryPath(other, key).c_str(), path.c_str()), 0);
  EXPECT_FALSE(LoadCacheEntry(dir, key).has_value());
}

TEST(DbCacheTest, UnusableDirectoryMeansNoCaching) {
  std::string key = CacheKeyHex("k");
  // A path below a regular file can never be created (even by root).
  EXPECT_FALSE(StoreCacheEntry("/dev/null/kavach", key, "x").ok());
  EXPECT_FALSE(LoadCacheEntry("/dev/null/kavach", key).has_value());
  EXPECT_FALSE(StoreCacheEntry("", key, "x").ok());
  EXPECT_FALSE(StoreCacheEntry(TempDir(), "not-a-key", "x").ok());
}

}  // namespace
}  // namespace kavach::internal
