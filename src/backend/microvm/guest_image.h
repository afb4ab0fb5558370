// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The microVM guest image, built by kavach from the host's Debian packages:
// the uncompressed vmlinux cut out of linux-image-amd64's bzImage (for QEMU's
// PVH direct boot, which skips firmware and in-guest decompression), and an
// initramfs holding busybox-static, the virtio modules the agent channel and
// the 9p file shares need, /init, and kavach's own static guest agent.
//
//   absl::StatusOr<GuestImageInputs> in = DefaultGuestImageInputs();
//   absl::StatusOr<GuestImage> img = EnsureGuestImage(*in, DefaultImageCacheDir());
//   // img->vmlinux, img->initrd; img->built says whether this call built it
//
// The image lives in <cache>/<key>/, the key being a SHA-256 over every
// input's content (kernel, modules, busybox, agent, /init, format version),
// so a changed input gives a new key and a rebuild; an existing key is reused
// as is. Building writes to a temporary directory renamed into place, so
// concurrent builders never see a half-written image.
#ifndef KAVACH_BACKEND_MICROVM_GUEST_IMAGE_H_
#define KAVACH_BACKEND_MICROVM_GUEST_IMAGE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kavach::internal {

// Modules loaded by /init, in load order: virtio over mmio, virtio-serial for
// the agent, 9p for the file shares (figures in the microvm probe),
// virtio-blk, squashfs and ext4 for block-device shares, vsock for
// Firecracker's agent channel.
const std::vector<std::string>& GuestModules();

struct GuestImageInputs {
  std::string kernel;          // a bzImage, e.g. /boot/vmlinuz-6.1.0-57-amd64
  std::string kernel_release;  // 6.1.0-57-amd64
  std::string modules_dir;     // /lib/modules/<release>
  std::string busybox;         // a static busybox
  std::string agent;           // kavach-guest-agent (static)
  // The host's dynamic-linker cache, copied to the guest's /etc so dynamic
  // programs from the shared /usr find their libraries without searching
  // (each miss is a 9p round trip). Empty: none.
  std::string ld_so_cache;
  std::vector<std::string> modules = GuestModules();
};

struct GuestImage {
  std::string dir;      // <cache>/<key>
  std::string key;      // hex digest of the inputs
  std::string vmlinux;  // uncompressed kernel ELF
  std::string initrd;   // newc cpio
  std::string kernel_release;
  bool built = false;  // true when this call built it, false when cached
};

// The newest /boot/vmlinuz-* with its modules, /bin/busybox (must be static),
// and the agent from $KAVACH_GUEST_AGENT, beside the running executable, its
// ../libexec/kavach, or the build tree. FailedPrecondition naming the
// missing package otherwise.
absl::StatusOr<GuestImageInputs> DefaultGuestImageInputs();

// $KAVACH_IMAGE_CACHE, else /var/cache/kavach/images as root, else
// $XDG_CACHE_HOME/kavach/images (~/.cache/kavach/images).
std::string DefaultImageCacheDir();

// The digest key of the inputs (reads every input file).
absl::StatusOr<std::string> GuestImageKey(const GuestImageInputs& in);

// Returns the cached image for these inputs, building it when missing.
absl::StatusOr<GuestImage> EnsureGuestImage(const GuestImageInputs& in,
                                            const std::string& cache_dir);

// The uncompressed ELF inside an x86 bzImage whose payload is XZ: the first
// XZ stream that decompresses to an ELF. InvalidArgument when there is none.
absl::StatusOr<std::string> ExtractVmlinux(std::string_view bzimage);

// Writes a newc ("070701") cpio archive, entries with mtime 0 and owner root.
class CpioWriter {
 public:
  void AddDirectory(std::string_view path, unsigned mode = 0755);
  void AddFile(std::string_view path, std::string_view data, unsigned mode = 0644);
  void AddSymlink(std::string_view path, std::string_view target);
  // Appends the trailer and returns the archive.
  std::string Finish();

 private:
  void Add(std::string_view path, unsigned mode, std::string_view data);
  std::string out_;
  unsigned next_ino_ = 1;
};

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_GUEST_IMAGE_H_
