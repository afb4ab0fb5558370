// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/firecracker_vm.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "guest/protocol.h"
#include "linux/file_util.h"
#include "linux/unique_fd.h"

namespace kavach::internal {
namespace {

std::string ApiSocket(const std::string& run_dir) { return run_dir + "/api.sock"; }
std::string VsockUds(const std::string& run_dir) { return run_dir + "/vsock.sock"; }
std::string AgentListenPath(const std::string& run_dir) {
  return absl::StrCat(VsockUds(run_dir), "_", kFirecrackerAgentPort);
}
// The VMM's stdout (the guest's serial console) when the launcher writes
// it to a file; the backend's direct launcher does.
std::string VmmLog(const std::string& run_dir) { return run_dir + "/firecracker.log"; }

absl::StatusOr<struct sockaddr_un> UnixAddress(const std::string& path) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

absl::StatusOr<sys::UniqueFd> Listen(const std::string& path) {
  absl::StatusOr<struct sockaddr_un> addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return sys::ErrnoStatus(errno, "socket");
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&*addr), sizeof *addr) != 0) {
    return sys::ErrnoStatus(errno, absl::StrCat("bind ", path));
  }
  if (::listen(fd.get(), 1) != 0) return sys::ErrnoStatus(errno, absl::StrCat("listen ", path));
  return fd;
}

bool CanConnect(const std::string& path) {
  absl::StatusOr<struct sockaddr_un> addr = UnixAddress(path);
  if (!addr.ok()) return false;
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return fd && ::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&*addr), sizeof *addr) == 0;
}

}  // namespace

absl::StatusOr<FirecrackerVmConfig> FirecrackerConfigFor(const VmSpec& spec,
                                                         const std::string& run_dir) {
  if (!spec.shares.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "firecracker: no 9p (", spec.shares.size(), " share(s), first ", spec.shares[0].host_path,
        "); Firecracker's guests get shares as block devices (VmSpec::drives)"));
  }
  if (spec.network) {
    return absl::InvalidArgumentError("firecracker: a network device is not driven yet");
  }
  if (!spec.memory_file.empty() || !spec.qmp_socket.empty() || spec.incoming) {
    return absl::InvalidArgumentError(
        "firecracker: templates and clones (memory file, QMP, incoming) are QEMU-only");
  }
  FirecrackerVmConfig c;
  c.kernel_image_path = spec.vmlinux;
  c.initrd_path = spec.initrd;
  // The same guest command line QEMU's guests get, plus the agent's channel.
  c.boot_args = absl::StrCat(GuestKernelCmdline(spec), " ", guest::kChannelParam,
                             "vsock:", kFirecrackerAgentPort);
  c.vcpu_count = spec.cpus;
  c.mem_size_mib = spec.memory_mib;
  for (const VmDrive& d : spec.drives) {
    c.drives.push_back({d.id, d.host_image, /*is_root_device=*/false, d.read_only});
  }
  c.vsock = FirecrackerVsock{kFirecrackerGuestCid, VsockUds(run_dir)};
  if (absl::Status s = ValidateFirecrackerConfig(c); !s.ok()) return s;
  return c;
}

std::vector<std::string> FirecrackerArgv(const std::string& firecracker,
                                         const std::string& run_dir) {
  return {firecracker, "--api-sock", ApiSocket(run_dir)};
}

FirecrackerVm::~FirecrackerVm() { (void)Destroy(); }

absl::StatusOr<std::unique_ptr<FirecrackerVm>> FirecrackerVm::Start(
    const VmSpec& spec, const FirecrackerVmOptions& options) {
  const std::string& run_dir = options.run_dir;
  // The QEMU-only fields ValidateVmSpec requires are this VM's own files.
  VmSpec checked = spec;
  checked.agent_socket = AgentListenPath(run_dir);
  checked.console_log = VmmLog(run_dir);
  if (absl::Status s = ValidateVmSpec(checked); !s.ok()) return s;
  absl::StatusOr<FirecrackerVmConfig> config = FirecrackerConfigFor(spec, run_dir);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::vector<FirecrackerApiCall>> calls = FirecrackerApiCalls(*config);
  if (!calls.ok()) return calls.status();
  struct stat st;
  if (::stat(run_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("firecracker: run dir ", run_dir, " missing"));
  }

  std::unique_ptr<FirecrackerVm> vm(new FirecrackerVm());
  // From here on everything in run_dir is the VM's: Destroy removes it.
  vm->remove_dir_ = run_dir;
  vm->console_log_ = VmmLog(run_dir);
  vm->started_ = absl::Now();

  // Firecracker forwards the guest's connection to <uds_path>_<port>: the
  // host listens before the VM can start.
  const std::string listen_path = AgentListenPath(run_dir);
  absl::StatusOr<sys::UniqueFd> listener = Listen(listen_path);
  if (!listener.ok()) {
    (void)vm->Destroy();
    return listener.status();
  }
  if ((options.socket_uid || options.socket_gid) &&
      ::chown(listen_path.c_str(), options.socket_uid.value_or(static_cast<uid_t>(-1)),
              options.socket_gid.value_or(static_cast<gid_t>(-1))) != 0) {
    absl::Status s = sys::ErrnoStatus(errno, absl::StrCat("chown ", listen_path));
    (void)vm->Destroy();
    return s;
  }

  absl::StatusOr<std::unique_ptr<VmmProcess>> p =
      options.launcher(FirecrackerArgv(options.firecracker, run_dir));
  if (!p.ok()) {
    (void)vm->Destroy();
    return p.status();
  }
  vm->process_ = *std::move(p);

  // The API socket appears once Firecracker is up.
  const std::string api = ApiSocket(run_dir);
  absl::Time deadline = absl::Now() + options.api_timeout;
  while (!CanConnect(api)) {
    if (!vm->alive()) return vm->Died("firecracker exited before its API socket appeared");
    if (absl::Now() > deadline) {
      (void)vm->Destroy();
      return absl::DeadlineExceededError(absl::StrCat("firecracker did not open its API socket ",
                                                      api, " within ",
                                                      absl::FormatDuration(options.api_timeout)));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }

  FirecrackerApiClient client(api, options.api_timeout);
  for (const FirecrackerApiCall& call : *calls) {
    absl::Status s = client.Call(call);
    if (s.ok()) continue;
    // A VMM that died mid-call is reported as that, not as a socket error.
    for (int i = 0; i < 40 && vm->alive(); ++i) absl::SleepFor(absl::Milliseconds(5));
    if (!vm->alive()) {
      return vm->Died(absl::StrCat("firecracker exited during ", call.method, " ", call.path));
    }
    (void)vm->Destroy();
    return absl::Status(s.code(), absl::StrCat("firecracker refused the VM: ", s.message()));
  }

  // The guest's agent connects once the guest has booted.
  deadline = absl::Now() + options.connect_timeout;
  for (;;) {
    sys::UniqueFd fd(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (fd) {
      vm->channel_ = std::make_unique<AgentChannel>(std::move(fd));
      break;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      absl::Status s = sys::ErrnoStatus(errno, absl::StrCat("accept on ", listen_path));
      (void)vm->Destroy();
      return s;
    }
    if (!vm->alive()) {
      return vm->Died(absl::StrCat("firecracker exited before the guest agent connected over vsock",
                                   " (port ", kFirecrackerAgentPort, ")"));
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      std::string tail = vm->ConsoleTail();
      (void)vm->Destroy();
      return absl::DeadlineExceededError(absl::StrCat(
          "the guest agent did not connect over vsock (port ", kFirecrackerAgentPort, ", ",
          listen_path, ") within ", absl::FormatDuration(options.connect_timeout),
          " of InstanceStart; console: ", tail.empty() ? "(empty)" : tail));
    }
    struct pollfd pfd {
      listener->get(), POLLIN, 0
    };
    (void)::poll(&pfd, 1,
                 static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 50)));
  }
  // One connection only: a guest command dialling the same port later finds
  // nobody listening.
  listener->Reset();
  ::unlink(listen_path.c_str());
  return vm;
}

}  // namespace kavach::internal
