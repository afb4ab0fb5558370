// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/firecracker.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"
#include "nlohmann/json.hpp"

namespace kavach::internal {
namespace {

constexpr size_t kMaxResponse = 64 * 1024;

bool ValidId(std::string_view id, size_t max) {
  if (id.empty() || id.size() > max) return false;
  for (char c : id) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_')) return false;
  }
  return true;
}

nlohmann::json BootSource(const FirecrackerVmConfig& c) {
  nlohmann::json j = {{"kernel_image_path", c.kernel_image_path}, {"boot_args", c.boot_args}};
  if (!c.initrd_path.empty()) j["initrd_path"] = c.initrd_path;
  return j;
}

nlohmann::json MachineConfig(const FirecrackerVmConfig& c) {
  return {{"vcpu_count", c.vcpu_count}, {"mem_size_mib", c.mem_size_mib}, {"smt", c.smt}};
}

nlohmann::json Drive(const FirecrackerDrive& d) {
  return {{"drive_id", d.drive_id},
          {"path_on_host", d.path_on_host},
          {"is_root_device", d.is_root_device},
          {"is_read_only", d.is_read_only}};
}

nlohmann::json Net(const FirecrackerNetwork& n) {
  nlohmann::json j = {{"iface_id", n.iface_id}, {"host_dev_name", n.host_dev_name}};
  if (!n.guest_mac.empty()) j["guest_mac"] = n.guest_mac;
  return j;
}

nlohmann::json Vsock(const FirecrackerVsock& v) {
  return {{"guest_cid", v.guest_cid}, {"uds_path", v.uds_path}};
}

}  // namespace

absl::Status ValidateFirecrackerConfig(const FirecrackerVmConfig& c) {
  if (c.kernel_image_path.empty() || c.kernel_image_path[0] != '/') {
    return absl::InvalidArgumentError(
        "boot-source.kernel_image_path: an absolute path is required");
  }
  if (!c.initrd_path.empty() && c.initrd_path[0] != '/') {
    return absl::InvalidArgumentError("boot-source.initrd_path: not absolute");
  }
  if (c.vcpu_count < 1 || c.vcpu_count > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("machine-config.vcpu_count: ", c.vcpu_count, " outside 1..32"));
  }
  if (c.smt && c.vcpu_count != 1 && c.vcpu_count % 2 != 0) {
    return absl::InvalidArgumentError(
        "machine-config.vcpu_count: with smt it must be 1 or an even number");
  }
  if (c.mem_size_mib < 1) return absl::InvalidArgumentError("machine-config.mem_size_mib: 0");
  std::set<std::string> ids;
  int roots = 0;
  for (const FirecrackerDrive& d : c.drives) {
    if (!ValidId(d.drive_id, 64) || !ids.insert(d.drive_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("drives.drive_id: '", d.drive_id, "' is empty, invalid or a duplicate"));
    }
    if (d.path_on_host.empty() || d.path_on_host[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("drives.", d.drive_id, ".path_on_host: not absolute"));
    }
    if (d.is_root_device) ++roots;
  }
  if (roots > 1) return absl::InvalidArgumentError("drives: more than one root device");
  std::set<std::string> ifaces;
  for (const FirecrackerNetwork& n : c.network_interfaces) {
    if (!ValidId(n.iface_id, 64) || !ifaces.insert(n.iface_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("network-interfaces.iface_id: '", n.iface_id, "' invalid or a duplicate"));
    }
    if (n.host_dev_name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("network-interfaces.", n.iface_id, ".host_dev_name: required"));
    }
  }
  if (c.vsock) {
    if (c.vsock->guest_cid < 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("vsock.guest_cid: ", c.vsock->guest_cid, " below the minimum 3"));
    }
    if (c.vsock->uds_path.empty()) return absl::InvalidArgumentError("vsock.uds_path: required");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FirecrackerConfigJson(const FirecrackerVmConfig& c) {
  if (absl::Status s = ValidateFirecrackerConfig(c); !s.ok()) return s;
  nlohmann::json j;
  j["boot-source"] = BootSource(c);
  j["machine-config"] = MachineConfig(c);
  j["drives"] = nlohmann::json::array();
  for (const FirecrackerDrive& d : c.drives) j["drives"].push_back(Drive(d));
  j["network-interfaces"] = nlohmann::json::array();
  for (const FirecrackerNetwork& n : c.network_interfaces)
    j["network-interfaces"].push_back(Net(n));
  if (c.vsock) j["vsock"] = Vsock(*c.vsock);
  return j.dump(2);
}

absl::StatusOr<std::vector<FirecrackerApiCall>> FirecrackerApiCalls(const FirecrackerVmConfig& c) {
  if (absl::Status s = ValidateFirecrackerConfig(c); !s.ok()) return s;
  std::vector<FirecrackerApiCall> calls;
  calls.push_back({"PUT", "/boot-source", BootSource(c).dump()});
  calls.push_back({"PUT", "/machine-config", MachineConfig(c).dump()});
  for (const FirecrackerDrive& d : c.drives) {
    calls.push_back({"PUT", absl::StrCat("/drives/", d.drive_id), Drive(d).dump()});
  }
  for (const FirecrackerNetwork& n : c.network_interfaces) {
    calls.push_back({"PUT", absl::StrCat("/network-interfaces/", n.iface_id), Net(n).dump()});
  }
  if (c.vsock) calls.push_back({"PUT", "/vsock", Vsock(*c.vsock).dump()});
  calls.push_back({"PUT", "/actions", nlohmann::json{{"action_type", "InstanceStart"}}.dump()});
  return calls;
}

std::string FirecrackerHttpRequest(const FirecrackerApiCall& call) {
  return absl::StrCat(call.method, " ", call.path,
                      " HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                      "Content-Type: application/json\r\nContent-Length: ",
                      call.body.size(), "\r\n\r\n", call.body);
}

absl::Status ParseFirecrackerResponse(std::string_view response) {
  if (response.size() > kMaxResponse) {
    return absl::DataLossError("firecracker API: response larger than 64 KiB");
  }
  size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string_view::npos || !absl::StartsWith(ToAbsl(response), "HTTP/1.")) {
    return absl::DataLossError("firecracker API: not a complete HTTP response");
  }
  std::string_view status_line = response.substr(0, response.find("\r\n"));
  int code = 0;
  if (status_line.size() < 12 || !absl::SimpleAtoi(ToAbsl(status_line.substr(9, 3)), &code)) {
    return absl::DataLossError(
        absl::StrCat("firecracker API: bad status line '", ToAbsl(status_line), "'"));
  }
  if (code >= 200 && code < 300) return absl::OkStatus();
  std::string_view body = response.substr(header_end + 4);
  std::string fault(body);
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("fault_message") && j["fault_message"].is_string()) {
    fault = j["fault_message"].get<std::string>();
  }
  std::string msg = absl::StrCat("firecracker API: HTTP ", code, ": ", fault);
  if (code == 400) return absl::InvalidArgumentError(msg);
  return absl::InternalError(msg);
}

absl::Status FirecrackerApiClient::Call(const FirecrackerApiCall& call) const {
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sys::ErrnoStatus(errno, "socket");
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError("firecracker API socket path too long");
  }
  std::memcpy(addr.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    return sys::ErrnoStatus(errno, absl::StrCat("connect ", socket_path_));
  }
  if (absl::Status s = sys::WriteAll(fd.get(), FirecrackerHttpRequest(call)); !s.ok()) return s;
  std::string response;
  absl::Time deadline = absl::Now() + timeout_;
  for (;;) {
    // Complete once the headers and Content-Length bytes of body are in
    // (204 carries no body).
    size_t header_end = response.find("\r\n\r\n");
    if (header_end != std::string::npos) {
      size_t want = 0;
      std::string lower = absl::AsciiStrToLower(response.substr(0, header_end));
      size_t cl = lower.find("content-length:");
      if (cl != std::string::npos) {
        size_t eol = lower.find("\r\n", cl);
        (void)absl::SimpleAtoi(
            absl::StripAsciiWhitespace(absl::string_view(lower).substr(
                cl + 15, eol == std::string::npos ? std::string::npos : eol - cl - 15)),
            &want);
      }
      if (response.size() >= header_end + 4 + want) break;
    }
    if (response.size() > kMaxResponse) break;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("firecracker API: no complete answer to ", call.method, " ", call.path));
    }
    struct pollfd p {
      fd.get(), POLLIN, 0
    };
    int n = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    ssize_t r = ::read(fd.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    response.append(buf, static_cast<size_t>(r));
  }
  absl::Status s = ParseFirecrackerResponse(response);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat(call.method, " ", call.path, ": ", s.message()));
  }
  return s;
}

std::string JailerChrootDir(const JailerOptions& o) {
  std::string name = o.exec_file.substr(o.exec_file.rfind('/') + 1);
  return absl::StrCat(o.chroot_base_dir, "/", name, "/", o.id, "/root");
}

absl::StatusOr<std::vector<std::string>> JailerArgv(const JailerOptions& o) {
  if (!ValidId(o.id, 64) || absl::StrContains(o.id, "_")) {
    return absl::InvalidArgumentError(
        absl::StrCat("jailer --id: '", o.id, "' must be 1-64 alphanumerics and hyphens"));
  }
  if (o.exec_file.empty() || o.exec_file[0] != '/') {
    return absl::InvalidArgumentError("jailer --exec-file: an absolute path is required");
  }
  std::string name = o.exec_file.substr(o.exec_file.rfind('/') + 1);
  if (!absl::StrContains(name, "firecracker")) {
    return absl::InvalidArgumentError(
        absl::StrCat("jailer --exec-file: '", name, "' must contain \"firecracker\""));
  }
  if (o.chroot_base_dir.empty() || o.chroot_base_dir[0] != '/') {
    return absl::InvalidArgumentError("jailer --chroot-base-dir: an absolute path is required");
  }
  if (o.cgroup_version != 1 && o.cgroup_version != 2) {
    return absl::InvalidArgumentError("jailer --cgroup-version: 1 or 2");
  }
  std::vector<std::string> a = {o.jailer,
                                "--id",
                                o.id,
                                "--exec-file",
                                o.exec_file,
                                "--uid",
                                absl::StrCat(o.uid),
                                "--gid",
                                absl::StrCat(o.gid),
                                "--chroot-base-dir",
                                o.chroot_base_dir,
                                "--cgroup-version",
                                absl::StrCat(o.cgroup_version)};
  for (const auto& [file, value] : o.cgroups) {
    if (file.find('.') == std::string::npos || file.find('=') != std::string::npos ||
        file.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("jailer --cgroup: '", file, "' is not <controller>.<file>"));
    }
    a.push_back("--cgroup");
    a.push_back(absl::StrCat(file, "=", value));
  }
  if (!o.parent_cgroup.empty()) a.insert(a.end(), {"--parent-cgroup", o.parent_cgroup});
  if (!o.netns.empty()) a.insert(a.end(), {"--netns", o.netns});
  for (const auto& [res, value] : o.resource_limits) {
    if (res != "fsize" && res != "no-file") {
      return absl::InvalidArgumentError(
          absl::StrCat("jailer --resource-limit: '", res, "' is not fsize or no-file"));
    }
    a.push_back("--resource-limit");
    a.push_back(absl::StrCat(res, "=", value));
  }
  if (o.new_pid_ns) a.push_back("--new-pid-ns");
  if (o.daemonize) a.push_back("--daemonize");
  a.push_back("--");
  a.insert(a.end(), {"--api-sock", o.api_sock});
  if (!o.config_file.empty()) a.insert(a.end(), {"--config-file", o.config_file});
  return a;
}

absl::StatusOr<FirecrackerVersion> ParseFirecrackerVersion(std::string_view version_output) {
  absl::string_view first = ToAbsl(version_output.substr(0, version_output.find('\n')));
  constexpr absl::string_view kPrefix = "Firecracker v";
  size_t at = first.find(kPrefix);
  FirecrackerVersion v;
  if (at != absl::string_view::npos) {
    std::vector<absl::string_view> parts = absl::StrSplit(first.substr(at + kPrefix.size()), '.');
    if (parts.size() >= 3) {
      // The patch may carry a suffix ("1.10.1-dev"): its leading digits.
      absl::string_view patch = parts[2];
      size_t digits = 0;
      while (digits < patch.size() && absl::ascii_isdigit(patch[digits])) ++digits;
      if (absl::SimpleAtoi(parts[0], &v.major) && absl::SimpleAtoi(parts[1], &v.minor) &&
          absl::SimpleAtoi(patch.substr(0, digits), &v.patch)) {
        return v;
      }
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "firecracker --version: no \"Firecracker vX.Y.Z\" in '", first.substr(0, 80), "'"));
}

std::string FirecrackerVersionProblem(const FirecrackerVersion& v) {
  if (v.major > 1 || (v.major == 1 && v.minor >= 8)) return "";
  return absl::StrCat("firecracker v", v.major, ".", v.minor, ".", v.patch,
                      " lists virtio devices only on the kernel command line, which the Debian "
                      "guest kernel ignores (VIRTIO_MMIO_CMDLINE_DEVICES is off); v1.8 or newer "
                      "describes them in ACPI");
}

}  // namespace kavach::internal
