// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/vm_template.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"

namespace kavach::internal {
namespace {

// Bump when what a template holds changes in a way the key does not show.
constexpr char kTemplateFormat[] = "kavach-vm-template 1";

std::string HexSha256(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppend(&hex, absl::Hex(md[i], absl::kZeroPad2));
  return hex;
}

// What identifies the RAM file as it was saved.
std::string RamStamp(const struct stat& st) {
  return absl::StrCat(st.st_dev, " ", st.st_ino, " ", st.st_size, " ", st.st_ctim.tv_sec, ".",
                      st.st_ctim.tv_nsec);
}

VmTemplate Paths(const std::string& dir, const std::string& key) {
  return {dir, dir + "/ram", dir + "/state", key};
}

}  // namespace

std::string TemplateKey(const GuestImage& image, const std::string& qemu, const VmSpec& spec,
                        uid_t uid, gid_t gid) {
  std::string m = absl::StrCat(kTemplateFormat, "\nimage ", image.key, "\n");
  struct stat st;
  if (::stat(qemu.c_str(), &st) == 0) {
    absl::StrAppend(&m, "qemu ", qemu, " ", st.st_size, " ", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, "\n");
  } else {
    absl::StrAppend(&m, "qemu ", qemu, "\n");
  }
  absl::StrAppend(&m, "memory ", spec.memory_mib, "\ncpus ", spec.cpus, "\naccel ",
                  spec.accelerator, "\ntsc ", spec.tsc_khz.value_or(0), "\nnetwork ", spec.network,
                  "\nsandbox ", spec.qemu_sandbox, "\ncmdline ", GuestKernelCmdline(spec),
                  "\nowner ", uid, ":", gid, "\n");
  for (const VmShare& s : spec.shares) {
    absl::StrAppend(&m, "share ", s.tag, " ", s.read_only ? "ro" : "rw", "\n");
  }
  // The whole QEMU command line too, with what may differ per clone (socket,
  // console, share and RAM paths) blanked: any other option a clone did not
  // share with its template (a CPU model, a device) changes the key.
  VmSpec shape = spec;
  shape.agent_socket = shape.console_log = "/-";
  shape.qmp_socket = "/-";
  shape.memory_file = "/-";
  shape.memory_shared = false;
  shape.incoming = false;
  for (VmShare& s : shape.shares) s.host_path = s.guest_path = "/-";
  absl::StrAppend(&m, "argv");
  for (const std::string& a : QemuArgv("qemu", shape)) absl::StrAppend(&m, " ", a);
  return HexSha256(m);
}

absl::StatusOr<std::optional<VmTemplate>> FindTemplate(const std::string& cache,
                                                       const std::string& key) {
  VmTemplate t = Paths(absl::StrCat(cache, "/templates/", key), key);
  struct stat st;
  if (::lstat(t.dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<VmTemplate>();
    return sys::ErrnoStatus(errno, t.dir);
  }
  absl::StatusOr<std::string> meta = sys::ReadFile(t.dir + "/meta");
  struct stat ram;
  bool intact = meta.ok() && ::lstat(t.ram.c_str(), &ram) == 0 && S_ISREG(ram.st_mode) &&
                *meta == RamStamp(ram) + "\n" && ::access(t.state.c_str(), R_OK) == 0;
  if (!intact) {
    RemoveTemplate(t);
    return std::optional<VmTemplate>();
  }
  return std::optional<VmTemplate>(t);
}

absl::StatusOr<VmTemplate> BuildTemplate(
    const std::string& cache, const std::string& key, uint32_t memory_mib, uid_t uid, gid_t gid,
    const std::function<absl::Status(const std::string& ram, const std::string& state)>&
        boot_and_save) {
  std::string base = cache + "/templates";
  // 0711: QEMU, running as another uid, reaches its RAM file by path.
  if (absl::Status s = sys::MakePrivateDir(base, 0711); !s.ok()) return s;
  std::string lock_path = absl::StrCat(base, "/", key, ".lock");
  sys::UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock) return sys::ErrnoStatus(errno, absl::StrCat("open ", lock_path));
  while (::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return sys::ErrnoStatus(errno, absl::StrCat("flock ", lock_path));
  }
  absl::StatusOr<std::optional<VmTemplate>> found = FindTemplate(cache, key);
  if (!found.ok()) return found.status();
  if (found->has_value()) return **found;
  // Builds of this key that died (we hold its lock, so none is running):
  // each holds a guest-sized RAM file.
  if (DIR* d = ::opendir(base.c_str())) {
    std::string prefix = absl::StrCat(".build-", key.substr(0, 16), "-");
    std::vector<std::string> stale;
    while (struct dirent* e = ::readdir(d)) {
      if (absl::StartsWith(e->d_name, prefix)) stale.push_back(base + "/" + e->d_name);
    }
    ::closedir(d);
    for (const std::string& dir : stale) RemoveTemplate(Paths(dir, key));
  }

  std::string tmp = absl::StrCat(base, "/.build-", key.substr(0, 16), "-XXXXXX");
  if (::mkdtemp(tmp.data()) == nullptr) return sys::ErrnoStatus(errno, "mkdtemp " + tmp);
  VmTemplate t = Paths(tmp, key);
  auto fail = [&](absl::Status s) {
    RemoveTemplate(t);
    return s;
  };
  if (::chmod(tmp.c_str(), 0711) != 0) return fail(sys::ErrnoStatus(errno, "chmod " + tmp));
  {
    sys::UniqueFd ram(::open(t.ram.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!ram) return fail(sys::ErrnoStatus(errno, "create " + t.ram));
    if (::ftruncate(ram.get(), static_cast<off_t>(memory_mib) << 20) != 0) {
      return fail(sys::ErrnoStatus(errno, "ftruncate " + t.ram));
    }
    if (::geteuid() == 0 && ::fchown(ram.get(), uid, gid) != 0) {
      return fail(sys::ErrnoStatus(errno, "chown " + t.ram));
    }
  }
  if (absl::Status s = boot_and_save(t.ram, t.state); !s.ok()) {
    return fail(absl::Status(s.code(), absl::StrCat("microvm template: ", s.message())));
  }
  {
    sys::UniqueFd ram(::open(t.ram.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ram || ::fsync(ram.get()) != 0) return fail(sys::ErrnoStatus(errno, "fsync " + t.ram));
  }
  struct stat st;
  if (::lstat(t.ram.c_str(), &st) != 0) return fail(sys::ErrnoStatus(errno, t.ram));
  if (absl::Status s = sys::WriteFile(t.dir + "/meta", RamStamp(st) + "\n"); !s.ok()) {
    return fail(s);
  }
  std::string final_dir = absl::StrCat(base, "/", key);
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    return fail(sys::ErrnoStatus(errno, absl::StrCat("rename ", tmp, " to ", final_dir)));
  }
  // The rename changes no inode of ram: its ctime stamp stays valid.
  return Paths(final_dir, key);
}

void RemoveTemplate(const VmTemplate& t) {
  for (const std::string& f : {t.ram, t.state, t.dir + "/meta"}) ::unlink(f.c_str());
  ::rmdir(t.dir.c_str());
}

}  // namespace kavach::internal
