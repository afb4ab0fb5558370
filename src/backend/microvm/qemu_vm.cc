// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/microvm/qemu_vm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "linux/file_util.h"
#include "linux/strings.h"

namespace kavach::internal {
namespace {

constexpr absl::Duration kKillGrace = absl::Seconds(2);

constexpr absl::Duration kConnectTimeout = absl::Seconds(10);

absl::StatusOr<sys::UniqueFd> ConnectUnix(const std::string& path) {
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sys::ErrnoStatus(errno, "socket");
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    return sys::ErrnoStatus(errno, absl::StrCat("connect ", path));
  }
  return fd;
}

}  // namespace

absl::Status AgentChannel::Send(guest::FrameType type, std::string_view payload) {
  std::string wire = guest::EncodeFrame(type, payload);
  absl::MutexLock lock(&write_mu_);
  size_t off = 0;
  while (off < wire.size()) {
    ssize_t n = ::send(fd_.get(), wire.data() + off, wire.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys::ErrnoStatus(errno, "agent channel: send");
    off += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<guest::Frame> AgentChannel::Receive(absl::Time deadline,
                                                   const std::function<bool()>& alive) {
  guest::Frame f;
  for (;;) {
    if (reader_.Next(&f)) return f;
    if (reader_.failed()) {
      return absl::DataLossError(absl::StrCat("agent channel: ", reader_.error()));
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("agent channel: the guest did not answer in time");
    }
    struct pollfd p {
      fd_.get(), POLLIN, 0
    };
    int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 50));
    int n = ::poll(&p, 1, ms);
    if (n < 0 && errno != EINTR) return sys::ErrnoStatus(errno, "agent channel: poll");
    if (n <= 0) {
      if (alive && !alive()) return absl::AbortedError("the VM exited");
      continue;
    }
    char buf[65536];
    ssize_t r = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0 && errno != ECONNRESET) return sys::ErrnoStatus(errno, "agent channel: recv");
    if (r <= 0) {
      // The VMM's sockets close while it exits, a moment before it can be
      // reaped: give it that moment to tell a dead VM from a closed channel.
      for (int i = 0; alive && i < 100; ++i) {
        if (!alive()) return absl::AbortedError("the VM exited");
        absl::SleepFor(absl::Milliseconds(5));
      }
      return absl::DataLossError("agent channel: closed by the VMM");
    }
    reader_.Feed(std::string_view(buf, static_cast<size_t>(r)));
  }
}

namespace {

class DirectVmm final : public VmmProcess {
 public:
  DirectVmm(pid_t pid, std::unique_ptr<sys::Cgroup> cgroup)
      : pid_(pid), cgroup_(std::move(cgroup)) {}
  ~DirectVmm() override {
    Kill();
    Wait();
    (void)Release();
  }
  bool Exited() override {
    absl::MutexLock lock(&mu_);
    if (reaped_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      status_ = status;
    }
    return reaped_;
  }
  void Kill() override {
    absl::MutexLock lock(&mu_);
    if (reaped_) return;     // the pid may be reused once reaped
    ::kill(-pid_, SIGKILL);  // its process group: QEMU and anything it started
    ::kill(pid_, SIGKILL);
    if (paused_ && cgroup_ == nullptr) ::kill(-pid_, SIGCONT);
  }
  void Wait() override {
    absl::MutexLock lock(&mu_);
    if (reaped_) return;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    status_ = status;
  }
  std::string ExitDetail() override {
    absl::MutexLock lock(&mu_);
    if (!reaped_) return "";
    return WIFEXITED(status_) ? absl::StrCat(" (exit ", WEXITSTATUS(status_), ")")
                              : absl::StrCat(" (signal ", WTERMSIG(status_), ")");
  }
  absl::Status Pause() override {
    if (cgroup_ != nullptr) return cgroup_->Freeze();
    if (::kill(-pid_, SIGSTOP) != 0) return sys::ErrnoStatus(errno, "SIGSTOP");
    paused_ = true;
    return absl::OkStatus();
  }
  absl::Status Resume() override {
    if (cgroup_ != nullptr) return cgroup_->Thaw();
    if (::kill(-pid_, SIGCONT) != 0) return sys::ErrnoStatus(errno, "SIGCONT");
    paused_ = false;
    return absl::OkStatus();
  }
  absl::Status Release() override {
    if (cgroup_ == nullptr) return absl::OkStatus();
    absl::Status s = cgroup_->Destroy();
    cgroup_.reset();
    return s;
  }

 private:
  const pid_t pid_;
  std::unique_ptr<sys::Cgroup> cgroup_;
  absl::Mutex mu_;
  bool reaped_ ABSL_GUARDED_BY(mu_) = false;
  int status_ ABSL_GUARDED_BY(mu_) = 0;
  bool paused_ = false;
};

}  // namespace

VmmLauncher DirectVmmLauncher(std::string log, std::optional<sys::CgroupLimits> cgroup_limits,
                              std::string* cgroup_detail, bool* in_cgroup) {
  return [=](const std::vector<std::string>& argv) -> absl::StatusOr<std::unique_ptr<VmmProcess>> {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    char* envp[] = {nullptr};  // a clean environment
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, &attr, args.data(), envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return sys::ErrnoStatus(rc, absl::StrCat("spawn ", argv[0]));
    std::unique_ptr<sys::Cgroup> cgroup;
    if (cgroup_limits) {
      absl::StatusOr<std::unique_ptr<sys::Cgroup>> cg =
          sys::Cgroup::Create(sys::MakeCgroupName(), *cgroup_limits);
      if (cg.ok() && (*cg)->AddProcess(pid).ok()) {
        cgroup = *std::move(cg);
        if (cgroup_detail)
          *cgroup_detail = absl::StrCat("QEMU in cgroup ", cgroup->paths().front());
      } else if (cgroup_detail) {
        *cgroup_detail = absl::StrCat("no cgroup for QEMU: ",
                                      cg.ok() ? "could not move it" : cg.status().ToString());
      }
    }
    if (in_cgroup) *in_cgroup = cgroup != nullptr;
    return std::unique_ptr<VmmProcess>(new DirectVmm(pid, std::move(cgroup)));
  };
}

absl::StatusOr<std::unique_ptr<QemuVm>> QemuVm::Start(const std::string& qemu, const VmSpec& spec,
                                                      const std::string& state_dir,
                                                      const VmmLauncher& launcher) {
  if (absl::Status s = ValidateVmSpec(spec); !s.ok()) return s;
  std::unique_ptr<QemuVm> vm(new QemuVm());
  vm->spec_ = spec;
  vm->console_log_ = spec.console_log;
  vm->logs_ = {state_dir + "/qemu.log"};
  vm->remove_files_ = {spec.agent_socket};
  if (!spec.qmp_socket.empty()) vm->remove_files_.push_back(spec.qmp_socket);
  vm->started_ = absl::Now();
  absl::StatusOr<std::unique_ptr<VmmProcess>> p = launcher(QemuArgv(qemu, spec));
  if (!p.ok()) return p.status();
  vm->process_ = *std::move(p);

  // QEMU creates the socket at start-up; the guest need not be up yet
  // (bytes sent early wait in the socket).
  absl::Time deadline = absl::Now() + kConnectTimeout;
  for (;;) {
    absl::StatusOr<sys::UniqueFd> fd = ConnectUnix(spec.agent_socket);
    if (fd.ok()) {
      vm->channel_ = std::make_unique<AgentChannel>(*std::move(fd));
      break;
    }
    if (!vm->alive()) return vm->Died("QEMU exited at start-up");
    if (absl::Now() > deadline) {
      (void)vm->Destroy();
      return absl::DeadlineExceededError(
          absl::StrCat("QEMU did not open the agent socket in time: ", fd.status().message()));
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  if (!spec.qmp_socket.empty()) {
    absl::StatusOr<QmpClient> qmp = QmpClient::Connect(spec.qmp_socket, deadline);
    if (!qmp.ok()) {
      if (!vm->alive()) return vm->Died("QEMU exited at start-up");
      (void)vm->Destroy();
      return qmp.status();
    }
    vm->qmp_ = std::make_unique<QmpClient>(*std::move(qmp));
  }
  return vm;
}

absl::Status GuestVm::StartGuest(const guest::Start& start, absl::Duration timeout) {
  if (channel_ == nullptr) return absl::FailedPreconditionError("VM destroyed");
  if (absl::Status s = channel_->Send(guest::FrameType::kStart, guest::EncodeStart(start));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<guest::Frame> f =
      channel_->Receive(absl::Now() + timeout, [this] { return alive(); });
  if (!f.ok()) {
    if (absl::IsAborted(f.status())) return Died("the VM exited before its agent started");
    std::string tail = ConsoleTail();
    (void)Destroy();
    return absl::Status(f.status().code(),
                        absl::StrCat(f.status().message(), " (start; console: ", tail, ")"));
  }
  if (f->type == guest::FrameType::kError) {
    guest::Error e;
    std::string err = guest::DecodeError(f->payload, guest::kHostLimits, &e);
    (void)Destroy();
    return absl::InternalError(absl::StrCat("guest agent: ", err.empty() ? e.message : err));
  }
  if (f->type != guest::FrameType::kStartDone) {
    (void)Destroy();
    return absl::DataLossError(
        absl::StrCat("agent channel: expected start-done, got ", guest::FrameTypeName(f->type)));
  }
  guest::StartDone d;
  std::string err = guest::DecodeStartDone(f->payload, guest::kHostLimits, &d);
  if (!err.empty() || !d.errors.empty()) {
    (void)Destroy();
    return absl::FailedPreconditionError(
        absl::StrCat("microvm: the guest could not start: ", err.empty() ? d.errors : err));
  }
  boot_time_ = absl::Now() - started_;
  return absl::OkStatus();
}

namespace {
nlohmann::json IgnoreShared() {
  return {{"capabilities",
           nlohmann::json::array({{{"capability", "x-ignore-shared"}, {"state", true}}})}};
}
}  // namespace

absl::Status QemuVm::SaveState(const std::string& path, absl::Duration timeout) {
  if (qmp_ == nullptr) return absl::FailedPreconditionError("save: the VM has no QMP socket");
  absl::Time deadline = absl::Now() + timeout;
  sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return sys::ErrnoStatus(errno, absl::StrCat("open ", path));
  if (!spec_.memory_file.empty()) {
    if (absl::StatusOr<nlohmann::json> r =
            qmp_->Execute("migrate-set-capabilities", IgnoreShared());
        !r.ok()) {
      return r.status();
    }
  }
  if (absl::Status s = qmp_->SendFd("kavach-state", fd.get()); !s.ok()) return s;
  if (absl::StatusOr<nlohmann::json> r = qmp_->Execute("migrate", {{"uri", "fd:kavach-state"}});
      !r.ok()) {
    return r.status();
  }
  if (absl::Status s = qmp_->WaitMigration(deadline); !s.ok()) return s;
  if (::fsync(fd.get()) != 0) return sys::ErrnoStatus(errno, absl::StrCat("fsync ", path));
  return absl::OkStatus();
}

absl::Status QemuVm::LoadState(const std::string& path, absl::Duration timeout) {
  if (qmp_ == nullptr) return absl::FailedPreconditionError("load: the VM has no QMP socket");
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys::ErrnoStatus(errno, absl::StrCat("open ", path));
  if (!spec_.memory_file.empty()) {
    if (absl::StatusOr<nlohmann::json> r =
            qmp_->Execute("migrate-set-capabilities", IgnoreShared(), timeout);
        !r.ok()) {
      return r.status();
    }
  }
  if (absl::Status s = qmp_->SendFd("kavach-state", fd.get()); !s.ok()) return s;
  absl::StatusOr<nlohmann::json> r =
      qmp_->Execute("migrate-incoming", {{"uri", "fd:kavach-state"}}, timeout);
  return r.ok() ? absl::OkStatus() : r.status();
}

QemuVm::~QemuVm() { (void)Destroy(); }

GuestVm::~GuestVm() { (void)GuestVm::Destroy(); }

bool GuestVm::alive() {
  if (process_ == nullptr || reaped_) return false;
  if (process_->Exited()) reaped_ = true;
  return !reaped_;
}

std::string GuestVm::ConsoleTail(size_t bytes) const {
  std::string out;
  std::vector<std::string> paths = {console_log_};
  paths.insert(paths.end(), logs_.begin(), logs_.end());
  for (const std::string& path : paths) {
    if (path.empty()) continue;
    absl::StatusOr<std::string> s = sys::ReadFile(path);
    if (!s.ok() || s->empty()) continue;
    std::string tail = s->size() > bytes ? s->substr(s->size() - bytes) : *s;
    absl::StrAppend(&out, out.empty() ? "" : " | ", tail);
  }
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

absl::Status GuestVm::Died(std::string_view what) {
  std::string tail = ConsoleTail();
  std::string status = process_ != nullptr ? process_->ExitDetail() : "";
  // The panic line itself, which a long backtrace pushes out of the tail.
  std::string panic;
  if (absl::StatusOr<std::string> console = sys::ReadFile(console_log_); console.ok()) {
    size_t at = console->find("Kernel panic - not syncing");
    if (at != std::string::npos) {
      size_t eol = console->find('\n', at);
      panic = absl::StrCat(
          ": guest kernel panic (",
          console->substr(
              at, std::min<size_t>(eol == std::string::npos ? std::string::npos : eol - at, 200)),
          ")");
      while (!panic.empty() && (panic[panic.size() - 2] == '\r')) panic.erase(panic.size() - 2, 1);
    }
  }
  (void)Destroy();
  return absl::UnavailableError(
      absl::StrCat(ToAbsl(what), status, panic, "; console: ", tail.empty() ? "(empty)" : tail));
}

absl::StatusOr<guest::Hello> GuestVm::WaitReady(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<guest::Frame> f = channel_->Receive(deadline, [this] { return alive(); });
  if (!f.ok()) {
    if (absl::IsAborted(f.status())) return Died("the VM exited before its agent was ready");
    if (absl::IsDeadlineExceeded(f.status())) {
      std::string tail = ConsoleTail();
      (void)Destroy();
      return absl::DeadlineExceededError(
          absl::StrCat("the guest agent did not say hello within ", absl::FormatDuration(timeout),
                       "; console: ", tail.empty() ? "(empty)" : tail));
    }
    (void)Destroy();
    return f.status();
  }
  if (f->type != guest::FrameType::kHello) {
    (void)Destroy();
    return absl::DataLossError(
        absl::StrCat("agent channel: expected hello, got ", guest::FrameTypeName(f->type)));
  }
  guest::Hello h;
  std::string err = guest::DecodeHello(f->payload, guest::kHostLimits, &h);
  if (!err.empty()) {
    (void)Destroy();
    return absl::DataLossError(absl::StrCat("agent channel: ", err));
  }
  boot_time_ = absl::Now() - started_;
  return h;
}

absl::StatusOr<uint32_t> GuestVm::Reseed(std::string_view seed, absl::Duration timeout) {
  if (absl::Status s =
          channel_->Send(guest::FrameType::kReseed, guest::EncodeReseed({std::string(seed)}));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<guest::Frame> f =
      channel_->Receive(absl::Now() + timeout, [this] { return alive(); });
  if (!f.ok()) return f.status();
  if (f->type != guest::FrameType::kReseedDone) {
    return absl::DataLossError(
        absl::StrCat("agent channel: expected reseed-done, got ", guest::FrameTypeName(f->type)));
  }
  guest::ReseedDone d;
  std::string err = guest::DecodeReseedDone(f->payload, guest::kHostLimits, &d);
  if (!err.empty()) return absl::DataLossError(absl::StrCat("agent channel: ", err));
  return d.credited_bits;
}

absl::Status GuestVm::KillCommand(uint64_t id) {
  if (channel_ == nullptr) return absl::FailedPreconditionError("VM destroyed");
  return channel_->Send(guest::FrameType::kKill, guest::EncodeKill({id}));
}

absl::StatusOr<VmExecOutcome> GuestVm::Exec(const guest::ExecRequest& request,
                                            const VmExecSinks& sinks) {
  if (channel_ == nullptr || !alive()) return absl::UnavailableError("the VM is not running");
  if (absl::Status s = channel_->Send(guest::FrameType::kExec, guest::EncodeExec(request));
      !s.ok()) {
    for (int i = 0; i < 100 && alive(); ++i) absl::SleepFor(absl::Milliseconds(5));
    if (!alive()) return Died("the VM exited");
    return s;
  }
  VmExecOutcome out;
  // The agent enforces the timeout itself; the host's deadline is a backstop
  // for an agent that does not.
  absl::Duration timeout =
      request.timeout_ms ? absl::Milliseconds(request.timeout_ms) : absl::Hours(24);
  absl::Time deadline = absl::Now() + timeout + kKillGrace;
  bool kill_sent = false;
  auto append = [&](std::string* dst, bool* truncated, std::string_view data,
                    const std::function<void(std::string_view)>& sink) {
    if (sink) sink(data);
    size_t room = dst->size() < sinks.max_output_bytes ? sinks.max_output_bytes - dst->size() : 0;
    if (data.size() > room) *truncated = true;
    dst->append(data.substr(0, room));
  };
  for (;;) {
    absl::StatusOr<guest::Frame> f = channel_->Receive(deadline, [this] { return alive(); });
    if (!f.ok()) {
      if (absl::IsDeadlineExceeded(f.status())) {
        if (!kill_sent) {
          // The agent missed its own deadline: ask once more, then give up
          // on the whole VM.
          kill_sent = true;
          out.host_timeout = true;
          (void)KillCommand(request.id);
          deadline = absl::Now() + kKillGrace;
          continue;
        }
        std::string tail = ConsoleTail(400);
        (void)Destroy();
        return absl::DeadlineExceededError(absl::StrCat(
            "the guest agent did not end the command after its timeout; VM killed; console: ",
            tail));
      }
      if (absl::IsAborted(f.status())) return Died("the VM exited during the command");
      std::string msg(f.status().message());
      (void)Destroy();
      return absl::DataLossError(absl::StrCat(msg, " (VM killed)"));
    }
    switch (f->type) {
      case guest::FrameType::kStdout:
      case guest::FrameType::kStderr: {
        guest::Output o;
        std::string err = guest::DecodeOutput(f->payload, guest::kHostLimits, &o);
        if (err.empty() && o.id != request.id) err = "output for another exec";
        if (!err.empty()) {
          (void)Destroy();
          return absl::DataLossError(absl::StrCat("agent channel: ", err, " (VM killed)"));
        }
        if (f->type == guest::FrameType::kStdout) {
          append(&out.stdout_data, &out.stdout_truncated, o.data, sinks.on_stdout);
        } else {
          append(&out.stderr_data, &out.stderr_truncated, o.data, sinks.on_stderr);
        }
        break;
      }
      case guest::FrameType::kExit: {
        std::string err = guest::DecodeExit(f->payload, guest::kHostLimits, &out.exit);
        if (err.empty() && out.exit.id != request.id) err = "exit of another exec";
        if (!err.empty()) {
          (void)Destroy();
          return absl::DataLossError(absl::StrCat("agent channel: ", err, " (VM killed)"));
        }
        return out;
      }
      case guest::FrameType::kError: {
        guest::Error e;
        std::string err = guest::DecodeError(f->payload, guest::kHostLimits, &e);
        if (!err.empty()) {
          (void)Destroy();
          return absl::DataLossError(absl::StrCat("agent channel: ", err, " (VM killed)"));
        }
        return absl::InternalError(absl::StrCat("guest agent: ", e.message));
      }
      default: {
        std::string type = guest::FrameTypeName(f->type);
        (void)Destroy();
        return absl::DataLossError(
            absl::StrCat("agent channel: unexpected ", type, " frame during an exec (VM killed)"));
      }
    }
  }
}

absl::Status GuestVm::Pause() {
  if (process_ == nullptr) return absl::FailedPreconditionError("VM destroyed");
  return process_->Pause();
}

absl::Status GuestVm::Resume() {
  if (process_ == nullptr) return absl::FailedPreconditionError("VM destroyed");
  return process_->Resume();
}

absl::Status GuestVm::Shutdown(absl::Duration grace) {
  if (channel_ != nullptr && alive()) {
    (void)channel_->Send(guest::FrameType::kShutdown, "");
    absl::Time deadline = absl::Now() + grace;
    while (alive() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  }
  return Destroy();
}

void GuestVm::Abort() {
  if (process_ != nullptr) process_->Kill();
}

absl::Status QemuVm::Destroy() {
  qmp_.reset();
  return GuestVm::Destroy();
}

absl::Status GuestVm::Destroy() {
  absl::Status result;
  channel_.reset();
  if (process_ != nullptr) {
    process_->Kill();
    process_->Wait();
    reaped_ = true;
    result = process_->Release();
    process_.reset();
  }
  for (const std::string& f : remove_files_) ::unlink(f.c_str());
  if (!remove_dir_.empty()) (void)sys::RemoveTree(remove_dir_);
  return result;
}

}  // namespace kavach::internal
