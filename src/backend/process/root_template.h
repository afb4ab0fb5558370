// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Root templates: the read-only part of a sandbox's root, built once per
// process and cloned into each new sandbox in one system call.
//
// Building a strict sandbox's root step by step costs init about 130 system
// calls (a tmpfs, some twenty binds each with its mount point and attribute
// change, the generated /etc files), 1-2 ms on the machines this project
// measures on, and it competes for the CPU with the network namespace that
// init's helper makes at the same time. Most of that tree is the same for
// every sandbox of a given policy: the read-only binds of /usr and /etc, the
// device nodes, the generated identity files. A template holds exactly that
// part as a detached mount tree (new mount API: fsopen, open_tree,
// move_mount onto a detached tree, Linux 6.15 and later) whose tmpfs
// superblock is made read-only, so no sandbox can change what another sees,
// even one that clears the read-only flag of its own mount. Per sandbox the
// host clones the tree (open_tree OPEN_TREE_CLONE | AT_RECURSIVE, ~10 us) and
// init moves the clone to its mount base instead of building; init then
// mounts only the sandbox's own parts on top (tmpfs /tmp and /dev/shm, /proc,
// the writable working directory, the hidden-path masks).
//
// Fail-safe by construction: whenever a template cannot be used (the first
// sandbox of a plan, a plan with secrets or a writable root, a host source
// that changed since the template was built, an unprivileged host or an
// older kernel), the root is built step by step exactly as before.
#ifndef KAVACH_BACKEND_PROCESS_ROOT_TEMPLATE_H_
#define KAVACH_BACKEND_PROCESS_ROOT_TEMPLATE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "backend/process/init_plan.h"
#include "linux/unique_fd.h"

namespace kavach::internal {

// Which steps of a root plan a template holds (in_template[i]), and the key
// that identifies the template's content. False, with the reason, when the
// plan cannot use a template at all.
struct RootTemplatePlan {
  std::vector<bool> in_template;
  std::string key;
};
bool PlanRootTemplate(const RootStep* steps, int count, bool read_only_root, RootTemplatePlan* plan,
                      std::string* why_not);

// Builds the template of `plan` as a detached mount tree and returns its fd.
// Steps outside the template get their mount points (a directory, or an
// empty file for a file bind) so that init can mount over them in a tree
// that is read-only by then.
absl::StatusOr<sys::UniqueFd> BuildRootTemplate(const RootStep* steps, int count,
                                                const RootTemplatePlan& plan);

// The templates of this process, keyed by plan. Thread-safe.
class RootTemplateCache {
 public:
  static RootTemplateCache& Global();

  // Plans the template for `steps` (flagging the steps it would hold:
  // in_template) and returns a fresh detached copy of it, for init to move
  // to its mount base. An invalid fd when the root is to be built step by
  // step: the plan is not eligible, it is the first time this process sees
  // it (a one-shot process would only pay for building the template), the
  // kernel or the host's privileges do not allow templates, or building
  // failed. From the second sight on, builds the template when there is
  // none or its host sources have changed.
  sys::UniqueFd CloneFor(RootStep* steps, int count, bool read_only_root);

  // Builds (or rebuilds) the template for `steps`, keeps it for the next
  // sandboxes of this plan, and returns a copy; an invalid fd on failure.
  sys::UniqueFd BuildAndClone(const RootStep* steps, int count, bool read_only_root);

  // Forgets every template (tests; a host whose sources changed is detected
  // without this).
  void Clear();

 private:
  struct SourceId {
    std::string path;
    bool present = false;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  struct Entry {
    sys::UniqueFd root;
    std::vector<SourceId> sources;  // the template's bind sources as built
  };
  static std::vector<SourceId> IdentifySources(const RootStep* steps, int count,
                                               const RootTemplatePlan& plan);
  static bool SourcesUnchanged(const std::vector<SourceId>& sources);

  absl::Mutex mu_;
  std::vector<std::pair<std::string, Entry>> entries_ ABSL_GUARDED_BY(mu_);
  // Set once building failed for a reason no later plan can avoid (no new
  // mount API, no privilege to use it): no further attempts.
  bool unsupported_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kavach::internal

#endif  // KAVACH_BACKEND_PROCESS_ROOT_TEMPLATE_H_
