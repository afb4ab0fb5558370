// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach image build [--cache DIR] [--json]: builds (or finds cached) the
// microVM guest image: vmlinux cut from the host's Debian kernel, and an
// initramfs with busybox-static, the virtio/9p modules and the guest agent.
// The cache is keyed by the inputs' digests; a changed input rebuilds.
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/clock.h"
#include "backend/microvm/guest_image.h"
#include "cli/commands.h"
#include "cli/json_output.h"

namespace kavach::cli {

int RunImageCommand(const std::vector<std::string>& args) {
  CLI::App app{"Build the microVM guest image (firecracker backend).", "kavach image"};
  app.require_subcommand(1);
  CLI::App* build = app.add_subcommand("build", "build the guest image, or report the cached one");
  std::string cache;
  bool json = false;
  build->add_option("--cache", cache,
                    "cache directory (default: $KAVACH_IMAGE_CACHE, else "
                    "/var/cache/kavach/images as root, else ~/.cache)");
  build->add_flag("--json", json, "print one JSON object");
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return UsageError("image", e.what());
  }
  absl::Time t0 = absl::Now();
  absl::StatusOr<internal::GuestImageInputs> in = internal::DefaultGuestImageInputs();
  if (!in.ok()) return ReportError("image build", in.status());
  if (cache.empty()) cache = internal::DefaultImageCacheDir();
  absl::StatusOr<internal::GuestImage> img = internal::EnsureGuestImage(*in, cache);
  if (!img.ok()) return ReportError("image build", img.status());
  double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  if (json) {
    nlohmann::json j = {{"key", img->key},         {"dir", img->dir},
                        {"vmlinux", img->vmlinux}, {"initrd", img->initrd},
                        {"kernel", in->kernel},    {"kernel_release", img->kernel_release},
                        {"agent", in->agent},      {"busybox", in->busybox},
                        {"built", img->built},     {"ms", ms}};
    std::cout << DumpLine(j) << std::flush;
  } else {
    std::cout << (img->built ? "built " : "cached ") << img->dir << "\n"
              << "  kernel  " << in->kernel << " (" << img->kernel_release << ")\n"
              << "  vmlinux " << img->vmlinux << "\n"
              << "  initrd  " << img->initrd << "\n"
              << "  agent   " << in->agent << "\n"
              << "  busybox " << in->busybox << "\n"
              << "  " << static_cast<int64_t>(ms) << " ms\n";
  }
  return kExitOk;
}

}  // namespace kavach::cli
