// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/oci/bundle.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "backend/oci/runtime.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/file_util.h"
#include "policy/seccomp_profiles.h"

namespace kavach::internal {
namespace {

using nlohmann::json;
using ::testing::Contains;
using ::testing::Not;

BundleLayout TestLayout() {
  BundleLayout l;
  l.host_workdir = "/tmp";
  l.args = {"/bin/true"};
  l.env = {"PATH=/usr/bin:/bin"};
  l.host_root_id = kOciContainerRootHostId;
  l.cgroups_path = "/kavach-oci/test";
  return l;
}

json Config(const SandboxPolicy& p, const BundleLayout& l = TestLayout()) {
  absl::StatusOr<json> c = OciConfig(p, l, "/b");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : json();
}

std::set<std::string> NamespaceTypes(const json& c) {
  std::set<std::string> out;
  for (const json& n : c["linux"]["namespaces"]) out.insert(n["type"].get<std::string>());
  return out;
}

const json* FindMount(const json& c, const std::string& dest) {
  for (const json& m : c["mounts"]) {
    if (m["destination"] == dest) return &m;
  }
  return nullptr;
}

TEST(OciConfigTest, ProcessIsUnprivileged) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.uid = 1234;
  p.gid = 4321;
  p.limits.max_open_files = 77;
  p.limits.max_file_size_bytes = 1 << 20;
  json c = Config(p);
  EXPECT_EQ(c["ociVersion"], "1.0.2");
  const json& proc = c["process"];
  EXPECT_EQ(proc["args"], json::array({"/bin/true"}));
  EXPECT_EQ(proc["user"]["uid"], 1234);
  EXPECT_EQ(proc["user"]["gid"], 4321);
  EXPECT_EQ(proc["noNewPrivileges"], true);
  EXPECT_EQ(proc["cwd"], p.working_directory);
  for (const char* set : {"bounding", "effective", "inheritable", "permitted", "ambient"}) {
    EXPECT_TRUE(proc["capabilities"][set].is_array()) << set;
    EXPECT_TRUE(proc["capabilities"][set].empty()) << set;
  }
  ASSERT_EQ(proc["rlimits"].size(), 2u);
  EXPECT_EQ(proc["rlimits"][0]["type"], "RLIMIT_NOFILE");
  EXPECT_EQ(proc["rlimits"][0]["hard"], 77);
  EXPECT_EQ(proc["rlimits"][1]["type"], "RLIMIT_FSIZE");
  EXPECT_EQ(proc["rlimits"][1]["soft"], 1 << 20);
}

TEST(OciConfigTest, NamespacesFollowNetworkMode) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.network.mode = NetworkMode::kNone;
  EXPECT_EQ(NamespaceTypes(Config(p)),
            (std::set<std::string>{"pid", "ipc", "uts", "mount", "user", "cgroup", "network"}));
  p.network.mode = NetworkMode::kHost;
  EXPECT_THAT(NamespaceTypes(Config(p)), Not(Contains("network")));
}

TEST(OciConfigTest, IdMappingsMapSandboxUserAndRoot) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  BundleLayout l = TestLayout();
  l.host_uid = 5000;
  l.host_gid = 6000;
  json c = Config(p, l);
  const json& uids = c["linux"]["uidMappings"];
  ASSERT_EQ(uids.size(), 2u);
  EXPECT_EQ(uids[0]["containerID"], p.uid);
  EXPECT_EQ(uids[0]["hostID"], 5000);
  EXPECT_EQ(uids[0]["size"], 1);
  EXPECT_EQ(uids[1]["containerID"], 0);
  EXPECT_EQ(uids[1]["hostID"], kOciContainerRootHostId);
  EXPECT_EQ(c["linux"]["gidMappings"][0]["hostID"], 6000);
  // Rootless: only the sandbox user.
  l.host_root_id.reset();
  EXPECT_EQ(Config(p, l)["linux"]["uidMappings"].size(), 1u);
}

TEST(OciConfigTest, MountsGiveReadOnlyHostViewAndWritableWorkdir) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.filesystem.read_only = {"/opt/ro"};
  p.filesystem.read_write = {"/srv/rw"};
  json c = Config(p);
  const json* usr = FindMount(c, "/usr");
  ASSERT_NE(usr, nullptr);
  EXPECT_EQ((*usr)["type"], "bind");
  EXPECT_THAT((*usr)["options"], Contains("ro"));
  EXPECT_THAT((*usr)["options"], Contains("rbind"));
  const json* etc = FindMount(c, "/etc");
  ASSERT_NE(etc, nullptr);
  EXPECT_EQ((*etc)["source"], "/b/etc");
  EXPECT_THAT((*etc)["options"], Contains("ro"));
  const json* work = FindMount(c, p.working_directory);
  ASSERT_NE(work, nullptr);
  EXPECT_EQ((*work)["source"], "/tmp");
  EXPECT_THAT((*work)["options"], Contains("rw"));
  ASSERT_NE(FindMount(c, "/opt/ro"), nullptr);
  EXPECT_THAT((*FindMount(c, "/opt/ro"))["options"], Contains("ro"));
  ASSERT_NE(FindMount(c, "/srv/rw"), nullptr);
  EXPECT_THAT((*FindMount(c, "/srv/rw"))["options"], Contains("rw"));
  for (const char* d : {"/proc", "/dev", "/dev/shm", "/tmp"}) {
    EXPECT_NE(FindMount(c, d), nullptr) << d;
  }
  EXPECT_EQ((*FindMount(c, "/tmp"))["type"], "tmpfs");
  EXPECT_EQ((*FindMount(c, "/proc"))["type"], "proc");
  // Nothing of the host's root is visible except through these binds.
  EXPECT_EQ(FindMount(c, "/home"), nullptr);
  EXPECT_EQ(FindMount(c, "/root"), nullptr);
}

TEST(OciConfigTest, ReadOnlyRootHostnameMaskedPaths) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.filesystem.read_only_root = true;
  p.filesystem.hidden = {"/usr/share/secret"};
  p.hostname = "box1";
  json c = Config(p);
  EXPECT_EQ(c["root"]["path"], "rootfs");
  EXPECT_EQ(c["root"]["readonly"], true);
  EXPECT_EQ(c["hostname"], "box1");
  EXPECT_THAT(c["linux"]["maskedPaths"], Contains("/proc/kcore"));
  EXPECT_THAT(c["linux"]["maskedPaths"], Contains("/usr/share/secret"));
  EXPECT_THAT(c["linux"]["readonlyPaths"], Contains("/proc/sys"));
  p.filesystem.read_only_root = false;
  EXPECT_EQ(Config(p)["root"]["readonly"], false);
}

TEST(OciConfigTest, ResourcesFromLimits) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  json none = Config(p);
  EXPECT_FALSE(none["linux"].contains("resources"));
  p.limits.memory_bytes = 256 << 20;
  p.limits.max_pids = 32;
  p.limits.cpu_cores = 1.5;
  p.limits.cpu_weight = 100;
  json c = Config(p);
  const json& r = c["linux"]["resources"];
  EXPECT_EQ(r["memory"]["limit"], 256 << 20);
  EXPECT_EQ(r["memory"]["swap"], 256 << 20);
  EXPECT_EQ(r["pids"]["limit"], 32);
  EXPECT_EQ(r["cpu"]["period"], 100000);
  EXPECT_EQ(r["cpu"]["quota"], 150000);
  EXPECT_EQ(r["cpu"]["shares"], 2 + (99 * 262142) / 9999);
  EXPECT_EQ(c["linux"]["cgroupsPath"], "/kavach-oci/test");
  // Limits without a cgroup path cannot be applied: an error naming cgroup.
  BundleLayout l = TestLayout();
  l.cgroups_path.clear();
  absl::StatusOr<json> bad = OciConfig(p, l, "/b");
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("cgroup"));
}

TEST(OciConfigTest, InvalidPolicyIsRejected) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.working_directory = "relative";
  EXPECT_EQ(OciConfig(p, TestLayout(), "/b").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OciSeccompTest, MatchesTheSharedProfileSpec) {
  for (SeccompProfile profile : {SeccompProfile::kBasic, SeccompProfile::kStrict}) {
    absl::StatusOr<SeccompProfileSpec> spec = SeccompProfileSpecFor(profile);
    ASSERT_TRUE(spec.ok());
    absl::StatusOr<json> sc = OciSeccomp(profile);
    ASSERT_TRUE(sc.ok()) << sc.status();
    EXPECT_EQ((*sc)["defaultAction"],
              profile == SeccompProfile::kBasic ? "SCMP_ACT_ALLOW" : "SCMP_ACT_ERRNO");
    // Every syscall of every group appears with its group's action.
    std::set<std::string> names;
    size_t conditional = 0;
    for (const json& rule : (*sc)["syscalls"]) {
      for (const json& n : rule["names"]) names.insert(n.get<std::string>());
      if (rule.contains("args")) ++conditional;
    }
    size_t want_conditional = 0;
    for (const SyscallGroup& g : spec->groups) {
      for (const std::string& s : g.syscalls) EXPECT_TRUE(names.count(s)) << s;
      want_conditional += g.conditional.size();
    }
    EXPECT_EQ(conditional, want_conditional);
  }
  // basic denies mount with EPERM.
  absl::StatusOr<json> basic = OciSeccomp(SeccompProfile::kBasic);
  bool found = false;
  for (const json& rule : (*basic)["syscalls"]) {
    for (const json& n : rule["names"]) {
      if (n == "mount") {
        found = true;
        EXPECT_EQ(rule["action"], "SCMP_ACT_ERRNO");
        EXPECT_EQ(rule["errnoRet"], EPERM);
      }
    }
  }
  EXPECT_TRUE(found);
  EXPECT_FALSE(OciSeccomp(SeccompProfile::kNone).ok());
}

TEST(OciSeccompTest, MaskedEqPutsMaskFirst) {
  absl::StatusOr<json> basic = OciSeccomp(SeccompProfile::kBasic);
  ASSERT_TRUE(basic.ok());
  bool seen = false;
  for (const json& rule : (*basic)["syscalls"]) {
    if (!rule.contains("args")) continue;
    for (const json& a : rule["args"]) {
      if (a["op"] != "SCMP_CMP_MASKED_EQ") continue;
      seen = true;
      ASSERT_TRUE(a.contains("valueTwo"));
      // The clone flag rules: mask == value == one bit.
      if (rule["names"][0] == "clone") {
        EXPECT_EQ(a["value"], a["valueTwo"]);
      }
    }
  }
  EXPECT_TRUE(seen);
}

// Runs `create`, `start`, waits, `delete` with `runtime` on a bundle of
// `policy` whose process is /bin/true; returns the exit status seen by
// `state` or an error.
class BundleAcceptTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (cgroups and id mappings of other users)";
    absl::StatusOr<std::string> dir = MakeTemp();
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    absl::StatusOr<OciRuntime> rt = ResolveOciRuntime(GetParam(), dir_ + "/state");
    if (!rt.ok()) GTEST_SKIP() << GetParam() << " unavailable: " << rt.status();
    rt_ = *rt;
  }
  void TearDown() override {
    if (!dir_.empty()) (void)!::system(("rm -rf " + dir_).c_str());
  }
  static absl::StatusOr<std::string> MakeTemp() {
    std::string t = "/tmp/kavach-oci-test-XXXXXX";
    if (::mkdtemp(t.data()) == nullptr) return absl::InternalError("mkdtemp");
    ::chmod(t.c_str(), 0711);
    return t;
  }
  // Runs the bundle to completion; returns the output of the process.
  absl::StatusOr<std::string> Run(const SandboxPolicy& policy, std::vector<std::string> args) {
    std::string bundle = absl::StrCat(dir_, "/b", n_);
    std::string work = absl::StrCat(dir_, "/w", n_);
    ++n_;
    ::mkdir(work.c_str(), 0777);
    ::chmod(work.c_str(), 0777);
    BundleLayout l = TestLayout();
    l.host_workdir = work;
    l.args = std::move(args);
    l.cgroups_path = absl::StrCat("/kavach-oci/test-", ::getpid(), "-", n_);
    absl::Status s = WriteOciBundle(bundle, policy, l);
    if (!s.ok()) return s;
    ::chmod(bundle.c_str(), 0711);
    std::string id = absl::StrCat("kavach-test-", ::getpid(), "-", n_);
    absl::StatusOr<RuntimeOutput> r = RunRuntime(rt_, {"run", "--bundle", bundle, id});
    (void)RunRuntime(rt_, {"delete", "-f", id});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return absl::InternalError(
          absl::StrCat(GetParam(), " run: exit ", r->exit_code, ": ", r->err));
    }
    return r->out;
  }
  std::string dir_;
  OciRuntime rt_;
  int n_ = 0;
};

TEST_P(BundleAcceptTest, EveryPresetRuns) {
  for (const char* preset : {"minimal", "basic", "strict"}) {
    absl::StatusOr<SandboxPolicy> p = SandboxPolicy::FromPreset(preset);
    ASSERT_TRUE(p.ok());
    absl::StatusOr<std::string> out = Run(*p, {"/bin/sh", "-c", "echo ok; id -u"});
    ASSERT_TRUE(out.ok()) << preset << ": " << out.status();
    EXPECT_EQ(*out, absl::StrCat("ok\n", p->uid, "\n")) << preset;
  }
}

TEST_P(BundleAcceptTest, PolicyIsEnforcedInside) {
  SandboxPolicy p = SandboxPolicy::Minimal();
  p.seccomp = SeccompProfile::kBasic;
  p.filesystem.read_only_root = true;
  p.limits.max_open_files = 99;
  p.hostname = "acceptbox";
  absl::StatusOr<std::string> out =
      Run(p, {"/bin/sh", "-c",
              "hostname; ulimit -n; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status;"
              "touch /x 2>/dev/null && echo rootrw || echo rootro; echo w > f && cat f"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out,
            "acceptbox\n99\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\nrootro\nw\n");
}

INSTANTIATE_TEST_SUITE_P(Runtimes, BundleAcceptTest, ::testing::Values("crun", "runc"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kavach::internal
