// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "scan/db_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "linux/unique_fd.h"
#include "scan/durable_file.h"

namespace kavach::internal {
namespace {

// File layout: magic(8) format(4, LE) key(32) payload_len(8, LE)
// digested_len(8, LE) sha256_of_payload_prefix(32) payload.
constexpr char kMagic[8] = {'K', 'V', 'S', 'C', 'A', 'N', 'D', 'B'};
constexpr size_t kHeaderSize = 8 + 4 + 32 + 8 + 8 + 32;
// A cached database is a few MiB; anything far larger is not ours.
constexpr uint64_t kMaxEntryBytes = uint64_t{1} << 30;

// OpenSSL's SHA-256 block functions directly rather than EVP_Digest: the
// first EVP call of a process loads OpenSSL 3's provider machinery (about
// 0.7 ms), which a gated `kavach exec` otherwise pays only for this digest.
// The same code (SHA extensions, AVX2) computes the same digest; the
// low-level calls are merely marked deprecated.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
std::array<unsigned char, 32> Sha256(std::string_view data) {
  std::array<unsigned char, 32> out{};
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(out.data(), &ctx);
  return out;
}
#pragma GCC diagnostic pop

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

bool KeyBytes(const std::string& key_hex, std::string* raw) {
  if (key_hex.size() != 64) return false;
  for (char c : key_hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  *raw = absl::HexStringToBytes(key_hex);
  return raw->size() == 32;
}

// mkdir -p; the directories it creates are 0700 (the cache holds compiled
// rules, which reveal what the gate looks for).
bool MakeDirs(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) return S_ISDIR(st.st_mode);
  size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0 && !MakeDirs(dir.substr(0, slash))) return false;
  return mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST;
}

// The digest only proves integrity: anyone able to write the directory could
// plant a database that makes the gate blind. So only a directory and file
// that we own and nobody else can write are used.
bool PrivateDir(const std::string& dir) {
  struct stat st;
  return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
         (st.st_mode & 022) == 0;
}

bool PrivateFile(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
         (st.st_mode & 077) == 0;
}

// Entries of other rule sets (old pack versions, tests, user packs) would
// pile up: a store removes entries nobody has loaded for kPruneAfter.
constexpr time_t kPruneAfter = 30 * 24 * 3600;
constexpr time_t kRefreshAfter = 3600;

void PruneStale(const std::string& dir, const std::string& keep) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  const time_t now = time(nullptr);
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("scan-", 0) != 0 || name.size() < 5 || name.find(".hsdb") == std::string::npos) {
      continue;
    }
    std::string path = absl::StrCat(dir, "/", name);
    struct stat st;
    if (path == keep || lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (now - st.st_mtime > kPruneAfter) unlink(path.c_str());
  }
  closedir(d);
}

}  // namespace

std::string ScanCacheDir() {
  if (const char* d = std::getenv("KAVACH_CACHE_DIR"); d != nullptr) {
    std::string s(d);
    if (s.empty() || s == "off") return "";
    return s;
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] == '/') {
    return absl::StrCat(x, "/kavach");
  }
  // root's cache is system-wide, like other daemons' compiled state.
  if (geteuid() == 0) return "/var/cache/kavach";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return absl::StrCat(home, "/.cache/kavach");
  struct passwd pw;
  struct passwd* res = nullptr;
  char buf[4096];
  if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res != nullptr &&
      pw.pw_dir != nullptr && pw.pw_dir[0] == '/') {
    return absl::StrCat(pw.pw_dir, "/.cache/kavach");
  }
  return "";
}

std::string CacheKeyHex(std::string_view data) {
  std::array<unsigned char, 32> d = Sha256(data);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string CacheEntryPath(const std::string& dir, const std::string& key_hex) {
  return absl::StrCat(dir, "/scan-", key_hex, ".v", kScanCacheFormat, ".hsdb");
}

MappedCacheEntry::~MappedCacheEntry() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

std::optional<MappedCacheEntry> MapCacheEntry(const std::string& dir, const std::string& key_hex) {
  std::string key;
  if (dir.empty() || !KeyBytes(key_hex, &key) || !PrivateDir(dir)) return std::nullopt;
  const std::string path = CacheEntryPath(dir, key_hex);
  if (!PrivateFile(path)) return std::nullopt;
  // Mapped, not read: the entry is megabytes, and every gated exec loads it.
  // The checks and the digest run on the page cache's own pages, and the
  // Hyperscan databases are deserialised straight from them. (Entries are
  // replaced by rename, never rewritten in place, so the mapped inode does
  // not shrink under us.)
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) < kHeaderSize ||
      static_cast<uint64_t>(st.st_size) > kMaxEntryBytes) {
    return std::nullopt;
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
  if (map == MAP_FAILED) return std::nullopt;
  const char* p = static_cast<const char*>(map);
  const uint64_t len = GetLe(p + 44, 8);
  MappedCacheEntry entry(map, size, std::string_view(p + kHeaderSize, size - kHeaderSize));
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) return std::nullopt;
  if (GetLe(p + 8, 4) != kScanCacheFormat) return std::nullopt;
  if (std::memcmp(p + 12, key.data(), 32) != 0) return std::nullopt;
  if (len != size - kHeaderSize) return std::nullopt;
  const uint64_t digested = GetLe(p + 52, 8);
  if (digested > len) return std::nullopt;
  std::array<unsigned char, 32> digest = Sha256(entry.payload().substr(0, digested));
  if (std::memcmp(p + 60, digest.data(), 32) != 0) return std::nullopt;
  // In use: keeps it from being pruned. Refreshed at most hourly, so that
  // the loads of back-to-back gated execs do not each dirty the inode.
  if (time(nullptr) - st.st_mtime > kRefreshAfter) utimes(path.c_str(), nullptr);
  return entry;
}

std::optional<std::string> LoadCacheEntry(const std::string& dir, const std::string& key_hex) {
  std::optional<MappedCacheEntry> entry = MapCacheEntry(dir, key_hex);
  if (!entry) return std::nullopt;
  return std::string(entry->payload());
}

absl::Status StoreCacheEntry(const std::string& dir, const std::string& key_hex,
                             std::string_view payload, size_t digested) {
  std::string key;
  if (dir.empty()) return absl::FailedPreconditionError("no cache directory");
  if (!KeyBytes(key_hex, &key)) return absl::InvalidArgumentError("cache key is not SHA-256 hex");
  if (!MakeDirs(dir)) return FileErrnoStatus(errno, absl::StrCat("mkdir ", dir));
  if (!PrivateDir(dir)) {
    return absl::PermissionDeniedError(
        absl::StrCat("cache directory ", dir, " is not private to this user"));
  }
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  out.append(kMagic, sizeof kMagic);
  PutLe(&out, kScanCacheFormat, 4);
  out += key;
  PutLe(&out, payload.size(), 8);
  digested = std::min(digested, payload.size());
  PutLe(&out, digested, 8);
  std::array<unsigned char, 32> digest = Sha256(payload.substr(0, digested));
  out.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  out.append(payload.data(), payload.size());
  // No fsync: a cache entry lost in a crash is only recompiled.
  const std::string path = CacheEntryPath(dir, key_hex);
  absl::Status s = WriteFileAtomically(path, out, 0600, /*sync=*/false);
  if (s.ok()) PruneStale(dir, path);
  return s;
}

}  // namespace kavach::internal
