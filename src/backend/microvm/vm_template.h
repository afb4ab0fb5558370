// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Warm-clone templates of the microVM backend, cached on disk.
//
//   std::string key = TemplateKey(image, qemu, spec, uid, gid);
//   absl::StatusOr<std::optional<VmTemplate>> t = FindTemplate(cache, key);
//   if (!*t) t = BuildTemplate(cache, key, spec.memory_mib, uid, gid, boot_and_save);
//   // a clone: spec.memory_file = t->ram (private mapping), LoadState(t->state)
//
// A template is a guest booted to its agent's hello (nothing mounted yet),
// its RAM in `ram` (written through a shared mapping while it ran) and its
// device state in `state` (migration with x-ignore-shared, so RAM is not in
// it). Clones map `ram` privately (copy-on-write) and load `state`.
//
// The key covers everything a clone must share with its template: the
// image, the QEMU binary, memory, CPUs, accelerator, TSC rate, the share
// layout (tags and read-only flags; host paths are free), and the uid/gid
// that owns `ram` (QEMU 7.2 opens mem-path read-write even for a private
// mapping, so the file belongs to the uid QEMU runs as). Tampering shows in
// `ram`'s ctime, which no unprivileged process can set back: FindTemplate
// discards a template whose `ram` changed since it was saved.
#ifndef KAVACH_BACKEND_MICROVM_VM_TEMPLATE_H_
#define KAVACH_BACKEND_MICROVM_VM_TEMPLATE_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "backend/microvm/guest_image.h"
#include "backend/microvm/vm_spec.h"

namespace kavach::internal {

struct VmTemplate {
  std::string dir;    // <cache>/templates/<key>
  std::string ram;    // guest RAM, memory_mib MiB (sparse)
  std::string state;  // device state
  std::string key;
};

// Hex SHA-256 over what a clone must share with its template.
std::string TemplateKey(const GuestImage& image, const std::string& qemu, const VmSpec& spec,
                        uid_t uid, gid_t gid);

// The intact template for `key`, nullopt when none; a template whose RAM
// file changed since it was saved (ctime, size, inode) is removed and
// reported as none.
absl::StatusOr<std::optional<VmTemplate>> FindTemplate(const std::string& cache,
                                                       const std::string& key);

// Boots and saves a template: `boot_and_save(ram, state)` must run a VM with
// `ram` as its shared memory file and write its device state to `state`.
// Built in a private temporary directory and renamed into place; builders
// of one key are serialised by a lock file, and one that finds the template
// made meanwhile returns it.
absl::StatusOr<VmTemplate> BuildTemplate(
    const std::string& cache, const std::string& key, uint32_t memory_mib, uid_t uid, gid_t gid,
    const std::function<absl::Status(const std::string& ram, const std::string& state)>&
        boot_and_save);

// Removes a template (its files and directory).
void RemoveTemplate(const VmTemplate& t);

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_MICROVM_VM_TEMPLATE_H_
