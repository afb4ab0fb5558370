// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/guest_image.h"

#include <dirent.h>
#include <lzma.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "linux/file_util.h"
#include "linux/strings.h"

namespace kavach::internal {
namespace {

// Bump when the image layout or /init changes in a way the inputs do not show.
// (The module list is in the key through /init, which names every module.)
constexpr char kFormat[] = "kavach-guest-image 1";
constexpr size_t kMaxVmlinux = 512u << 20;

constexpr char kBusyboxApplets[][10] = {"sh",    "mount", "umount", "insmod", "echo",
                                        "cat",   "ls",    "mkdir",  "ln",     "poweroff",
                                        "sleep", "dmesg", "ps",     "kill",   "uname"};

std::string InitScript(const std::vector<std::string>& modules) {
  return absl::StrCat(
      "#!/kavach/bin/sh\n"
      "# kavach microVM /init: kernel file systems, virtio modules, then the agent.\n"
      "export PATH=/kavach/bin\n"
      // hidepid=2: a command (an unprivileged uid) sees only its own
      // processes, not the agent or the kernel's threads.
      "mount -t proc -o hidepid=2 proc /proc\n"
      "mount -t sysfs sys /sys\n"
      "mount -t devtmpfs dev /dev\n"
      "for m in ",
      absl::StrJoin(modules, " "),
      "; do\n"
      "  insmod /kavach/modules/$m.ko || echo \"kavach-init: insmod $m failed\"\n"
      "done\n"
      "exec /kavach/agent --init\n");
}

std::string Hex(const unsigned char* d, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) absl::StrAppendFormat(&s, "%02x", d[i]);
  return s;
}

std::string Sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

// name (without .ko) -> path, for every module under dir.
void IndexModules(const std::string& dir, std::map<std::string, std::string>* out, int depth) {
  if (depth > 12) return;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      IndexModules(path, out, depth + 1);
    } else if (S_ISREG(st.st_mode) && absl::EndsWith(name, ".ko")) {
      std::string mod = name.substr(0, name.size() - 3);
      std::replace(mod.begin(), mod.end(), '-', '_');
      out->emplace(mod, path);
    }
  }
  ::closedir(d);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ModuleFiles(
    const GuestImageInputs& in) {
  std::map<std::string, std::string> index;
  IndexModules(in.modules_dir + "/kernel", &index, 0);
  std::vector<std::pair<std::string, std::string>> files;
  for (const std::string& m : in.modules) {
    auto it = index.find(m);
    if (it == index.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("guest image: kernel module ", m, " not found under ", in.modules_dir,
                       "/kernel (is linux-image-", in.kernel_release, " installed?)"));
    }
    files.emplace_back(m, it->second);
  }
  return files;
}

bool IsStaticElf(const std::string& data) {
  if (data.size() < 64 || data.compare(0, 4,
                                       "\x7f"
                                       "ELF") != 0)
    return false;
  // A dynamic executable names its interpreter; a static one has none.
  return data.find("/lib64/ld-linux") == std::string::npos &&
         data.find("/lib/ld-linux") == std::string::npos;
}

std::string SelfDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

bool IsFile(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::Status MakeDirs(const std::string& path, mode_t mode) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    std::string p = path.substr(0, i);
    if (::mkdir(p.c_str(), mode) != 0 && errno != EEXIST) {
      return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", p));
    }
  }
  return absl::OkStatus();
}

void RemoveFlatDir(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") ::unlink((dir + "/" + n).c_str());
    }
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}

}  // namespace

const std::vector<std::string>& GuestModules() {
  // Dependencies before their users (Debian 6.1's modules.dep): block
  // shares need virtio_blk, squashfs (its decompressors are built in) and
  // ext4 with crc16, mbcache, jbd2 and a crc32c driver for metadata
  // checksums. vsock for Firecracker's agent channel: a driver without its
  // device loads and waits, so QEMU guests load it too; so does virtio_net
  // (with net_failover and failover) for a guest with no NIC (policy network
  // host gives it one).
  static const auto* m = new std::vector<std::string>{"virtio_ring",
                                                      "virtio",
                                                      "virtio_mmio",
                                                      "virtio_console",
                                                      "failover",
                                                      "net_failover",
                                                      "virtio_net",
                                                      "9pnet",
                                                      "9pnet_virtio",
                                                      "netfs",
                                                      "fscache",
                                                      "9p",
                                                      "virtio_blk",
                                                      "squashfs",
                                                      "crc16",
                                                      "mbcache",
                                                      "jbd2",
                                                      "crc32c_generic",
                                                      "ext4",
                                                      "vsock",
                                                      "vmw_vsock_virtio_transport_common",
                                                      "vmw_vsock_virtio_transport"};
  return *m;
}

void CpioWriter::Add(std::string_view path, unsigned mode, std::string_view data) {
  std::string name(path);
  while (!name.empty() && name.front() == '/') name.erase(0, 1);
  absl::StrAppendFormat(&out_, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
                        next_ino_++, mode, 0, 0, (mode & S_IFMT) == S_IFDIR ? 2 : 1, 0, data.size(),
                        0, 0, 0, 0, name.size() + 1, 0);
  out_.append(name);
  out_.push_back('\0');
  while (out_.size() % 4 != 0) out_.push_back('\0');
  out_.append(data.data(), data.size());
  while (out_.size() % 4 != 0) out_.push_back('\0');
}

void CpioWriter::AddDirectory(std::string_view path, unsigned mode) {
  Add(path, S_IFDIR | mode, {});
}
void CpioWriter::AddFile(std::string_view path, std::string_view data, unsigned mode) {
  Add(path, S_IFREG | mode, data);
}
void CpioWriter::AddSymlink(std::string_view path, std::string_view target) {
  Add(path, S_IFLNK | 0777, target);
}
std::string CpioWriter::Finish() {
  next_ino_ = 0;
  Add("TRAILER!!!", 0, {});
  return std::move(out_);
}

absl::StatusOr<std::string> ExtractVmlinux(std::string_view bzimage) {
  static constexpr char kXzMagic[] = {'\xfd', '7', 'z', 'X', 'Z', '\0'};
  std::string_view magic(kXzMagic, sizeof kXzMagic);
  size_t from = 0;
  int tried = 0;
  while (tried < 16) {
    size_t at = bzimage.find(magic, from);
    if (at == std::string_view::npos) break;
    from = at + 1;
    ++tried;
    lzma_stream strm = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&strm, 1ull << 30, 0) != LZMA_OK) {
      return absl::InternalError("liblzma: cannot start a decoder");
    }
    std::string out;
    out.resize(64u << 20);
    strm.next_in = reinterpret_cast<const uint8_t*>(bzimage.data() + at);
    strm.avail_in = bzimage.size() - at;
    strm.next_out = reinterpret_cast<uint8_t*>(out.data());
    strm.avail_out = out.size();
    lzma_ret ret = LZMA_OK;
    while (ret == LZMA_OK) {
      if (strm.avail_out == 0) {
        if (out.size() >= kMaxVmlinux) break;
        size_t used = out.size();
        out.resize(used * 2);
        strm.next_out = reinterpret_cast<uint8_t*>(out.data() + used);
        strm.avail_out = out.size() - used;
      }
      ret = lzma_code(&strm, LZMA_FINISH);
    }
    size_t produced = strm.total_out;
    lzma_end(&strm);
    if (ret != LZMA_STREAM_END) continue;
    out.resize(produced);
    if (out.size() >= 4 && out.compare(0, 4,
                                       "\x7f"
                                       "ELF") == 0)
      return out;
  }
  return absl::InvalidArgumentError(
      "no XZ-compressed ELF kernel in this bzImage (is the kernel built with CONFIG_KERNEL_XZ?)");
}

absl::StatusOr<GuestImageInputs> DefaultGuestImageInputs() {
  GuestImageInputs in;
  // The newest kernel in /boot that has its modules.
  std::vector<std::string> releases;
  if (DIR* d = ::opendir("/boot")) {
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (absl::StartsWith(n, "vmlinuz-")) releases.push_back(n.substr(8));
    }
    ::closedir(d);
  }
  std::sort(releases.begin(), releases.end());
  for (auto it = releases.rbegin(); it != releases.rend(); ++it) {
    struct stat st;
    if (::stat(absl::StrCat("/lib/modules/", *it, "/kernel").c_str(), &st) == 0) {
      in.kernel_release = *it;
      break;
    }
  }
  if (in.kernel_release.empty()) {
    return absl::FailedPreconditionError(
        "guest image: no /boot/vmlinuz-* with modules in /lib/modules (install linux-image-amd64)");
  }
  in.kernel = absl::StrCat("/boot/vmlinuz-", in.kernel_release);
  in.modules_dir = absl::StrCat("/lib/modules/", in.kernel_release);
  in.busybox = "/bin/busybox";
  if (IsFile("/etc/ld.so.cache")) in.ld_so_cache = "/etc/ld.so.cache";
  if (!IsFile(in.busybox)) {
    return absl::FailedPreconditionError(
        "guest image: /bin/busybox missing (install busybox-static)");
  }
  std::vector<std::string> agents;
  if (const char* env = std::getenv("KAVACH_GUEST_AGENT"); env != nullptr && *env == '/') {
    agents.push_back(env);
  }
  std::string self = SelfDir();
  if (!self.empty()) {
    agents.push_back(self + "/kavach-guest-agent");
    agents.push_back(self + "/../libexec/kavach/kavach-guest-agent");
  }
#ifdef KAVACH_GUEST_AGENT_BUILD_PATH
  agents.push_back(KAVACH_GUEST_AGENT_BUILD_PATH);
#endif
#ifdef KAVACH_GUEST_AGENT_INSTALL_PATH
  agents.push_back(KAVACH_GUEST_AGENT_INSTALL_PATH);
#endif
  for (const std::string& a : agents) {
    if (IsFile(a)) {
      in.agent = a;
      break;
    }
  }
  if (in.agent.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "guest image: kavach-guest-agent not found (looked in ", absl::StrJoin(agents, ", "),
        "; build the kavach_guest_agent target or set KAVACH_GUEST_AGENT)"));
  }
  return in;
}

std::string DefaultImageCacheDir() {
  if (const char* env = std::getenv("KAVACH_IMAGE_CACHE"); env != nullptr && *env == '/') {
    return env;
  }
  if (::geteuid() == 0) return "/var/cache/kavach/images";
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
    return absl::StrCat(xdg, "/kavach/images");
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home == '/') return absl::StrCat(home, "/.cache/kavach/images");
  return absl::StrCat("/var/tmp/kavach-images-", ::geteuid());
}

absl::StatusOr<std::string> GuestImageKey(const GuestImageInputs& in) {
  std::string manifest = absl::StrCat(kFormat, "\ninit ", Sha256(InitScript(in.modules)), "\n");
  std::vector<std::pair<std::string, std::string>> files = {
      {"kernel", in.kernel}, {"busybox", in.busybox}, {"agent", in.agent}};
  if (!in.ld_so_cache.empty()) files.emplace_back("ld.so.cache", in.ld_so_cache);
  for (const auto& [label, path] : files) {
    absl::StatusOr<std::string> data = sys::ReadFile(path);
    if (!data.ok()) return data.status();
    absl::StrAppend(&manifest, label, " ", Sha256(*data), "\n");
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> mods = ModuleFiles(in);
  if (!mods.ok()) return mods.status();
  for (const auto& [name, path] : *mods) {
    absl::StatusOr<std::string> data = sys::ReadFile(path);
    if (!data.ok()) return data.status();
    absl::StrAppend(&manifest, "module ", name, " ", Sha256(*data), "\n");
  }
  return Sha256(manifest).substr(0, 32);
}

namespace {

// The inputs' identities as the file system reports them (device, inode,
// size, modification and change times: ctime cannot be set back by anyone
// but the kernel), for remembering a digest without re-reading ~20 MB of
// inputs on every sandbox.
absl::StatusOr<std::string> InputStamps(const GuestImageInputs& in) {
  std::string m = absl::StrCat(kFormat, "\ninit ", Sha256(InitScript(in.modules)), "\n");
  std::vector<std::string> paths = {in.kernel, in.busybox, in.agent, in.ld_so_cache};
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> mods = ModuleFiles(in);
  if (!mods.ok()) return mods.status();
  for (const auto& [name, path] : *mods) paths.push_back(path);
  for (const std::string& p : paths) {
    if (p.empty()) continue;
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) return sys::ErrnoStatus(errno, p);
    absl::StrAppend(&m, p, " ", st.st_dev, " ", st.st_ino, " ", st.st_size, " ", st.st_mtim.tv_sec,
                    ".", st.st_mtim.tv_nsec, " ", st.st_ctim.tv_sec, ".", st.st_ctim.tv_nsec, "\n");
  }
  return Sha256(m);
}

}  // namespace

absl::StatusOr<GuestImage> EnsureGuestImage(const GuestImageInputs& in,
                                            const std::string& cache_dir) {
  if (absl::Status s = MakeDirs(cache_dir, 0700); !s.ok()) return s;
  // A planted image would run in every sandbox: the cache must be ours alone.
  struct stat st;
  if (::lstat(cache_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 022) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("guest image cache ", cache_dir, " is not a private directory owned by us"));
  }
  // The digest of unchanged inputs is remembered under their stamps.
  absl::StatusOr<std::string> stamps = InputStamps(in);
  std::string memo = stamps.ok() ? absl::StrCat(cache_dir, "/stamps/", *stamps) : "";
  absl::StatusOr<std::string> key = absl::NotFoundError("no memo");
  if (!memo.empty()) key = sys::ReadFile(memo);
  if (!key.ok() || key->size() != 32) {
    key = GuestImageKey(in);
    if (!key.ok()) return key.status();
    if (!memo.empty() && MakeDirs(cache_dir + "/stamps", 0700).ok()) {
      (void)sys::WriteFile(memo, *key, 0600);
    }
  }
  GuestImage img;
  img.key = *key;
  img.dir = absl::StrCat(cache_dir, "/", *key);
  img.vmlinux = img.dir + "/vmlinux";
  img.initrd = img.dir + "/initrd.cpio";
  img.kernel_release = in.kernel_release;
  if (IsFile(img.vmlinux) && IsFile(img.initrd) && IsFile(img.dir + "/manifest")) return img;

  // Build into a temporary directory, then rename it into place.
  std::string tmp = absl::StrCat(cache_dir, "/.build-XXXXXX");
  if (::mkdtemp(tmp.data()) == nullptr) return sys::ErrnoStatus(errno, "mkdtemp " + tmp);
  auto fail = [&](absl::Status s) {
    RemoveFlatDir(tmp);
    return s;
  };
  absl::StatusOr<std::string> bz = sys::ReadFile(in.kernel);
  if (!bz.ok()) return fail(bz.status());
  absl::StatusOr<std::string> vmlinux = ExtractVmlinux(*bz);
  if (!vmlinux.ok()) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("guest image: ", in.kernel, ": ", vmlinux.status().message())));
  }
  if (absl::Status s = sys::WriteFile(tmp + "/vmlinux", *vmlinux, 0644); !s.ok()) return fail(s);
  vmlinux->clear();
  vmlinux->shrink_to_fit();

  absl::StatusOr<std::string> busybox = sys::ReadFile(in.busybox);
  if (!busybox.ok()) return fail(busybox.status());
  if (!IsStaticElf(*busybox)) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "guest image: ", in.busybox, " is not a static executable (install busybox-static)")));
  }
  absl::StatusOr<std::string> agent = sys::ReadFile(in.agent);
  if (!agent.ok()) return fail(agent.status());
  if (!IsStaticElf(*agent)) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("guest image: ", in.agent, " is not a static executable")));
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> mods = ModuleFiles(in);
  if (!mods.ok()) return fail(mods.status());

  CpioWriter cpio;
  for (const char* d : {"/proc", "/sys", "/dev", "/tmp", "/usr", "/etc", "/root", "/kavach",
                        "/kavach/bin", "/kavach/modules"}) {
    cpio.AddDirectory(d, absl::StrContains(d, "tmp") ? 01777 : 0755);
  }
  cpio.AddFile("/init", InitScript(in.modules), 0755);
  cpio.AddFile("/kavach/bin/busybox", *busybox, 0755);
  for (const char* applet : kBusyboxApplets) {
    cpio.AddSymlink(absl::StrCat("/kavach/bin/", applet), "busybox");
  }
  cpio.AddFile("/kavach/agent", *agent, 0755);
  for (const auto& [name, path] : *mods) {
    absl::StatusOr<std::string> data = sys::ReadFile(path);
    if (!data.ok()) return fail(data.status());
    cpio.AddFile(absl::StrCat("/kavach/modules/", name, ".ko"), *data, 0644);
  }
  cpio.AddFile("/etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0644);
  cpio.AddFile("/etc/group", "root:x:0:\nnogroup:x:65534:\n", 0644);
  cpio.AddFile("/etc/hostname", "kavach\n", 0644);
  if (!in.ld_so_cache.empty()) {
    absl::StatusOr<std::string> cache = sys::ReadFile(in.ld_so_cache);
    if (!cache.ok()) return fail(cache.status());
    cpio.AddFile("/etc/ld.so.cache", *cache, 0644);
  }
  if (absl::Status s = sys::WriteFile(tmp + "/initrd.cpio", cpio.Finish(), 0644); !s.ok()) {
    return fail(s);
  }
  std::string manifest = absl::StrCat(kFormat, "\nkernel ", in.kernel, "\nrelease ",
                                      in.kernel_release, "\nbusybox ", in.busybox, "\nagent ",
                                      in.agent, "\nmodules ", absl::StrJoin(in.modules, " "), "\n");
  if (absl::Status s = sys::WriteFile(tmp + "/manifest", manifest, 0644); !s.ok()) return fail(s);
  ::chmod(tmp.c_str(), 0755);
  if (::rename(tmp.c_str(), img.dir.c_str()) != 0) {
    int err = errno;
    RemoveFlatDir(tmp);
    // Another builder won the race: its image has the same key.
    if ((err == EEXIST || err == ENOTEMPTY) && IsFile(img.initrd)) return img;
    return sys::ErrnoStatus(err, absl::StrCat("rename to ", img.dir));
  }
  img.built = true;
  return img;
}

}  // namespace kavach::internal
