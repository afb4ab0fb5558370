// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// The Firecracker driver against the API schema of
// firecracker-microvm/firecracker src/firecracker/swagger/firecracker.yaml
// (required fields, types, ranges) and its jailer's documented arguments.
#include "backend/microvm/firecracker.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "linux/unique_fd.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

FirecrackerVmConfig Config() {
  FirecrackerVmConfig c;
  c.kernel_image_path = "/img/vmlinux";
  c.initrd_path = "/img/initrd.cpio";
  c.boot_args = "console=ttyS0 panic=-1";
  c.vcpu_count = 2;
  c.mem_size_mib = 512;
  c.drives = {{"usr", "/img/usr.sqfs", false, true}, {"work", "/img/work.ext4", false, false}};
  c.vsock = FirecrackerVsock{3, "/run/v.sock"};
  return c;
}

// Every property of each object must be one the schema defines, with the
// right JSON type, and every required one must be present.
void ExpectSchema(const nlohmann::json& j, const std::map<std::string, char>& props,
                  const std::vector<std::string>& required) {
  ASSERT_TRUE(j.is_object());
  for (const auto& [k, v] : j.items()) {
    auto it = props.find(k);
    ASSERT_NE(it, props.end()) << "property not in the schema: " << k;
    switch (it->second) {
      case 's':
        EXPECT_TRUE(v.is_string()) << k;
        break;
      case 'b':
        EXPECT_TRUE(v.is_boolean()) << k;
        break;
      case 'i':
        EXPECT_TRUE(v.is_number_integer()) << k;
        break;
    }
  }
  for (const std::string& r : required) EXPECT_TRUE(j.contains(r)) << "missing required " << r;
}

const std::map<std::string, char> kBootSource = {
    {"kernel_image_path", 's'}, {"initrd_path", 's'}, {"boot_args", 's'}};
const std::map<std::string, char> kMachine = {{"vcpu_count", 'i'},
                                              {"mem_size_mib", 'i'},
                                              {"smt", 'b'},
                                              {"track_dirty_pages", 'b'},
                                              {"huge_pages", 's'}};
const std::map<std::string, char> kDrive = {
    {"drive_id", 's'}, {"path_on_host", 's'}, {"is_root_device", 'b'}, {"is_read_only", 'b'},
    {"partuuid", 's'}, {"cache_type", 's'},   {"io_engine", 's'}};
const std::map<std::string, char> kVsock = {{"guest_cid", 'i'}, {"uds_path", 's'}};
const std::map<std::string, char> kNet = {
    {"iface_id", 's'}, {"host_dev_name", 's'}, {"guest_mac", 's'}};

TEST(FirecrackerConfig, FullVmConfigurationMatchesTheSchema) {
  FirecrackerVmConfig c = Config();
  c.network_interfaces = {{"eth0", "tap0", "AA:FC:00:00:00:01"}};
  absl::StatusOr<std::string> text = FirecrackerConfigJson(c);
  ASSERT_TRUE(text.ok()) << text.status();
  nlohmann::json j = nlohmann::json::parse(*text);
  for (const auto& [k, v] : j.items()) {
    EXPECT_TRUE(k == "boot-source" || k == "machine-config" || k == "drives" ||
                k == "network-interfaces" || k == "vsock")
        << k;
  }
  ExpectSchema(j["boot-source"], kBootSource, {"kernel_image_path"});
  ExpectSchema(j["machine-config"], kMachine, {"mem_size_mib", "vcpu_count"});
  ASSERT_EQ(j["drives"].size(), 2u);
  for (const auto& d : j["drives"]) ExpectSchema(d, kDrive, {"drive_id", "is_root_device"});
  ExpectSchema(j["network-interfaces"][0], kNet, {"host_dev_name", "iface_id"});
  ExpectSchema(j["vsock"], kVsock, {"guest_cid", "uds_path"});
  EXPECT_EQ(j["machine-config"]["vcpu_count"], 2);
  EXPECT_EQ(j["machine-config"]["mem_size_mib"], 512);
  EXPECT_EQ(j["boot-source"]["initrd_path"], "/img/initrd.cpio");
  EXPECT_EQ(j["drives"][0]["is_read_only"], true);
}

TEST(FirecrackerConfig, SchemaConstraintsAreEnforced) {
  FirecrackerVmConfig c = Config();
  c.vcpu_count = 33;
  EXPECT_THAT(ValidateFirecrackerConfig(c).message(), HasSubstr("vcpu_count: 33 outside 1..32"));
  c = Config();
  c.smt = true;
  c.vcpu_count = 3;
  EXPECT_THAT(ValidateFirecrackerConfig(c).message(), HasSubstr("1 or an even number"));
  c = Config();
  c.vsock->guest_cid = 2;
  EXPECT_THAT(ValidateFirecrackerConfig(c).message(), HasSubstr("minimum 3"));
  c = Config();
  c.drives[1].drive_id = "usr";
  EXPECT_THAT(ValidateFirecrackerConfig(c).message(), HasSubstr("duplicate"));
  c = Config();
  c.drives[0].is_root_device = c.drives[1].is_root_device = true;
  EXPECT_THAT(ValidateFirecrackerConfig(c).message(), HasSubstr("more than one root"));
  c = Config();
  c.kernel_image_path = "vmlinux";
  EXPECT_FALSE(ValidateFirecrackerConfig(c).ok());
}

TEST(FirecrackerApi, CallsBuildTheVmThenStartIt) {
  absl::StatusOr<std::vector<FirecrackerApiCall>> calls = FirecrackerApiCalls(Config());
  ASSERT_TRUE(calls.ok()) << calls.status();
  std::vector<std::string> paths;
  for (const FirecrackerApiCall& c : *calls) {
    EXPECT_EQ(c.method, "PUT");
    paths.push_back(c.path);
  }
  EXPECT_THAT(paths, ElementsAre("/boot-source", "/machine-config", "/drives/usr", "/drives/work",
                                 "/vsock", "/actions"));
  EXPECT_EQ(nlohmann::json::parse(calls->back().body)["action_type"], "InstanceStart");
  ExpectSchema(nlohmann::json::parse((*calls)[2].body), kDrive, {"drive_id", "is_root_device"});
  std::string http = FirecrackerHttpRequest((*calls)[0]);
  EXPECT_THAT(http, HasSubstr("PUT /boot-source HTTP/1.1\r\n"));
  EXPECT_THAT(http, HasSubstr("Content-Type: application/json\r\n"));
  EXPECT_THAT(http, HasSubstr(absl::StrCat("Content-Length: ", (*calls)[0].body.size())));
}

TEST(FirecrackerApi, ResponsesAreParsedWithTheFaultMessage) {
  EXPECT_TRUE(ParseFirecrackerResponse("HTTP/1.1 204 No Content\r\n\r\n").ok());
  absl::Status bad = ParseFirecrackerResponse(
      "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
      "{\"fault_message\": \"Invalid kernel path\"}");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("HTTP 400: Invalid kernel path"));
  EXPECT_EQ(ParseFirecrackerResponse("HTTP/1.1 500 Oops\r\n\r\nboom").code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(ParseFirecrackerResponse("garbage").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseFirecrackerResponse("HTTP/1.1 204").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseFirecrackerResponse(std::string(70000, 'H')).code(), absl::StatusCode::kDataLoss);
}

// A fake Firecracker API server on a unix socket: answers one request.
TEST(FirecrackerApi, ClientTalksHttpOverTheUnixSocket) {
  std::string path = "/tmp/kavach-fc-test-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  sys::UniqueFd srv(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(srv.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(srv.get(), 4), 0);
  std::string got;
  std::thread server([&] {
    for (const char* answer : {"HTTP/1.1 204 No Content\r\nServer: Firecracker API\r\n\r\n",
                               "HTTP/1.1 400 Bad Request\r\nContent-Length: "
                               "31\r\n\r\n{\"fault_message\":\"bad vcpu\"}   "}) {
      sys::UniqueFd c(::accept(srv.get(), nullptr, nullptr));
      char buf[4096];
      ssize_t n = ::read(c.get(), buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
      (void)!::write(c.get(), answer, std::strlen(answer));
    }
  });
  FirecrackerApiClient client(path);
  absl::Status ok = client.Call({"PUT", "/actions", "{\"action_type\":\"InstanceStart\"}"});
  absl::Status bad = client.Call({"PUT", "/machine-config", "{}"});
  server.join();
  ::unlink(path.c_str());
  EXPECT_TRUE(ok.ok()) << ok;
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("PUT /machine-config: firecracker API: HTTP 400: bad vcpu"));
  EXPECT_THAT(got, HasSubstr("PUT /actions HTTP/1.1"));
  EXPECT_THAT(got, HasSubstr("{\"action_type\":\"InstanceStart\"}"));
}

TEST(Jailer, ArgumentsFollowTheJailerDocumentation) {
  JailerOptions o;
  o.jailer = "/usr/bin/jailer";
  o.exec_file = "/usr/bin/firecracker";
  o.id = "kavach-1234-ab";
  o.uid = 65534;
  o.gid = 65534;
  o.cgroups = {{"memory.max", "805306368"}, {"cpu.max", "100000 100000"}};
  o.resource_limits = {{"no-file", 1024}};
  o.config_file = "/vm.json";
  absl::StatusOr<std::vector<std::string>> a = JailerArgv(o);
  ASSERT_TRUE(a.ok()) << a.status();
  std::string joined = absl::StrJoin(*a, " ");
  EXPECT_THAT(joined, HasSubstr("/usr/bin/jailer --id kavach-1234-ab --exec-file "
                                "/usr/bin/firecracker --uid 65534 --gid 65534 "
                                "--chroot-base-dir /srv/jailer --cgroup-version 2"));
  EXPECT_THAT(joined, HasSubstr("--cgroup memory.max=805306368"));
  EXPECT_THAT(joined, HasSubstr("--cgroup cpu.max=100000 100000"));
  EXPECT_THAT(joined, HasSubstr("--resource-limit no-file=1024"));
  EXPECT_THAT(joined, HasSubstr("--new-pid-ns -- --api-sock /run/firecracker.socket "
                                "--config-file /vm.json"));
  EXPECT_EQ(JailerChrootDir(o), "/srv/jailer/firecracker/kavach-1234-ab/root");
}

TEST(Jailer, RejectsWhatTheJailerRefuses) {
  JailerOptions o;
  o.exec_file = "/usr/bin/firecracker";
  o.id = "has space";
  EXPECT_THAT(JailerArgv(o).status().message(), HasSubstr("--id"));
  o.id = std::string(65, 'a');
  EXPECT_FALSE(JailerArgv(o).ok());
  o.id = "ok-id";
  o.exec_file = "/usr/bin/qemu";
  EXPECT_THAT(JailerArgv(o).status().message(), HasSubstr("must contain \"firecracker\""));
  o.exec_file = "/usr/bin/firecracker";
  o.cgroups = {{"memory", "1"}};
  EXPECT_THAT(JailerArgv(o).status().message(), HasSubstr("--cgroup"));
  o.cgroups = {};
  o.resource_limits = {{"nproc", 1}};
  EXPECT_THAT(JailerArgv(o).status().message(), HasSubstr("--resource-limit"));
}

// `firecracker --version` as the release binaries print it (first line;
// the snapshot-format line follows from v1.4 on).
TEST(FirecrackerVersion, ParsesTheReleaseLineAndRefusesReleasesWithoutAcpi) {
  absl::StatusOr<FirecrackerVersion> v = ParseFirecrackerVersion(
      "Firecracker v1.10.1\n\nSupported snapshot data format versions: v1.0.0, v2.0.0\n");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->major, 1);
  EXPECT_EQ(v->minor, 10);
  EXPECT_EQ(v->patch, 1);
  EXPECT_EQ(FirecrackerVersionProblem(*v), "");

  v = ParseFirecrackerVersion("Firecracker v1.8.0-dev\n");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(FirecrackerVersionProblem(*v), "");
  v = ParseFirecrackerVersion("Firecracker v2.0.0\n");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(FirecrackerVersionProblem(*v), "");

  // v1.7: devices only on the kernel command line.
  v = ParseFirecrackerVersion("Firecracker v1.7.0\n");
  ASSERT_TRUE(v.ok());
  EXPECT_THAT(FirecrackerVersionProblem(*v), HasSubstr("firecracker v1.7.0 lists virtio devices "
                                                       "only on the kernel command line"));
  v = ParseFirecrackerVersion("Firecracker v0.25.2\n");
  ASSERT_TRUE(v.ok());
  EXPECT_THAT(FirecrackerVersionProblem(*v), HasSubstr("v1.8 or newer"));

  for (const char* bad : {"", "firecracker", "Firecracker v1.x.0", "Firecracker v1.10",
                          "jailer v1.10.1", "\nFirecracker v1.10.1"}) {
    absl::StatusOr<FirecrackerVersion> b = ParseFirecrackerVersion(bad);
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace kavach::internal
