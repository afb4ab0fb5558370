// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach-guest-agent: PID 1 of a kavach microVM (exec'd by the initramfs's
// /init once the virtio modules are loaded). It finds its channel to the host
// (the virtio-serial port named kavach.agent, or under Firecracker, which has
// no virtio-serial, an AF_VSOCK stream to the host named by
// kavach.channel=vsock:<port> on the kernel command line), says hello, and waits for the host's
// start frame (identity, clock, mounts: nothing is mounted before it, so a booted guest can be
// saved as a template) and then serves the frames of guest/protocol.h: one command at a time, as an
// unprivileged uid with the requested rlimits, output streamed in chunks, everything the command
// left behind killed when it ends. Statically linked; no dependency beyond libc.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/netlink.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <linux/seccomp.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <net/route.h>  // glibc's: <linux/route.h> pulls <linux/if.h>, which clashes
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "guest/protocol.h"

namespace kavach::guest {
namespace {

constexpr char kPortName[] = "kavach.agent";
constexpr char kAgentVersion[] = "kavach-guest-agent 1";

void Log(const std::string& msg) {
  std::string line = "kavach-agent: " + msg + "\n";
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

uint64_t NowUs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

std::string ReadSmallFile(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return s;
}

// The guest kernel's count of OOM kills (/proc/vmstat oom_kill). The guest
// has no memory cgroup: its RAM is the policy's limit, so a kill while a
// command runs is a kill in the command's tree (the agent's own would end
// the VM).
uint64_t OomKills() {
  std::string vmstat = ReadSmallFile("/proc/vmstat");
  size_t at = vmstat.find("\noom_kill ");
  if (at == std::string::npos) return 0;
  return std::strtoull(vmstat.c_str() + at + 10, nullptr, 10);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

void MkdirP(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
  }
}

// The virtio-blk disks, in the order the kernel named them (vda < vdb <
// ... < vdz < vdaa).
std::vector<std::string> VirtioDisks() {
  std::vector<std::string> out;
  if (DIR* d = ::opendir("/sys/block")) {
    while (struct dirent* e = ::readdir(d)) {
      if (std::strncmp(e->d_name, "vd", 2) == 0) out.push_back(e->d_name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return out;
}

// The /dev node of the block share `id`, the `index`-th of `count` drives.
// QEMU gives each virtio-blk device serial=<id>, which the kernel shows in
// /sys/block/vdX/serial. Firecracker has no serial setting: its GET_ID
// answer is the image file's st_dev, st_rdev and st_ino in decimal (as
// kvmtool does), never one of our ids, which start with a letter. There the
// attach order decides: Firecracker attaches its drives in configuration
// order (a root device first; kavach sets none), each on the next
// virtio-mmio slot announced as virtio_mmio.device=<size>@<base>:<irq> on
// the kernel command line, and the guest probes those in command-line
// order, so the n-th drive of the spec is the n-th vdX. Waits up to 10 s for
// the devices to appear (the module probes them as it loads, but disk
// registration may lag).
std::string FindDrive(const std::string& id, size_t index, size_t count, std::string* how) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    std::vector<std::string> disks = VirtioDisks();
    for (const std::string& d : disks) {
      std::string serial = ReadSmallFile(("/sys/block/" + d + "/serial").c_str());
      while (!serial.empty() && (serial.back() == '\n' || serial.back() == '\0')) serial.pop_back();
      if (serial == id) {
        *how = "serial";
        return "/dev/" + d;
      }
    }
    if (disks.size() >= count && index < disks.size()) {
      *how = "attach order";
      return "/dev/" + disks[index];
    }
    ::usleep(10000);
  }
  return {};
}

// "ro:TAG:/path,rw:TAG:/path,blk:ID:squashfs|ext4:ro|rw:/path,
// link:/bin:usr/bin,tmp:/tmp,roroot" (from the host's start frame).
// Returns what failed, "" when everything took.
std::string SetUpMounts(const std::string& spec) {
  std::string errors;
  auto fail = [&](const std::string& what) {
    Log(what);
    errors += (errors.empty() ? "" : "; ") + what;
  };
  bool ro_root = false;
  if (spec.empty()) return errors;
  size_t drives = 0;
  for (const std::string& item : Split(spec, ',')) drives += item.rfind("blk:", 0) == 0;
  size_t drive_index = 0;
  for (const std::string& item : Split(spec, ',')) {
    std::vector<std::string> f = Split(item, ':');
    if (f.size() == 5 && f[0] == "blk" && (f[2] == "squashfs" || f[2] == "ext4") &&
        (f[3] == "ro" || f[3] == "rw")) {
      size_t index = drive_index++;
      std::string how;
      std::string dev = FindDrive(f[1], index, drives, &how);
      if (dev.empty()) {
        fail("block share " + f[1] + ": no virtio-blk device with that serial and fewer than " +
             std::to_string(drives) + " disks after 10 s");
        continue;
      }
      MkdirP(f[4]);
      // nosuid, nodev: a share never carries privileges or devices into the
      // guest. A read-write share is written synchronously (no journal in
      // the image): what a command wrote is on the host's image file when
      // the VM is killed, as 9p's write-through gives.
      unsigned long flags = MS_NOSUID | MS_NODEV;
      if (f[3] == "ro") {
        flags |= MS_RDONLY;
      } else {
        flags |= MS_SYNCHRONOUS | MS_DIRSYNC;
      }
      if (::mount(dev.c_str(), f[4].c_str(), f[2].c_str(), flags, nullptr) != 0) {
        fail("mount " + dev + " (" + f[1] + ", found by " + how + ") as " + f[2] + " on " + f[4] +
             ": " + strerror(errno));
      }
    } else if (f.size() == 3 && (f[0] == "ro" || f[0] == "rw")) {
      MkdirP(f[2]);
      // Read-only shares may cache freely; read-write ones write through,
      // so nothing is lost when the VM is killed after a command.
      std::string opts = "trans=virtio,version=9p2000.L,msize=262144";
      unsigned long flags = MS_NOSUID | MS_NODEV;
      if (f[0] == "ro") {
        flags |= MS_RDONLY;
        opts += ",cache=loose";
      }
      if (::mount(f[1].c_str(), f[2].c_str(), "9p", flags, opts.c_str()) != 0) {
        fail("mount " + f[1] + " on " + f[2] + ": " + strerror(errno));
      }
    } else if (f.size() == 3 && f[0] == "link") {
      if (::symlink(f[2].c_str(), f[1].c_str()) != 0 && errno != EEXIST) {
        fail("symlink " + f[1] + ": " + strerror(errno));
      }
    } else if (f.size() == 2 && f[0] == "tmp") {
      MkdirP(f[1]);
      if (::mount("tmpfs", f[1].c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
        fail("mount tmpfs on " + f[1] + ": " + strerror(errno));
      }
    } else if (f.size() == 1 && f[0] == "roroot") {
      ro_root = true;
    } else {
      fail("bad mount item '" + item + "'");
    }
  }
  // Last, once everything is mounted on it.
  if (ro_root && ::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
    fail(std::string("remount / read-only: ") + strerror(errno));
  }
  return errors;
}

// The VM's NIC (policy network host): the one interface besides lo in the
// agent's (initial) namespace. The driver probes the device while /init
// loads it, so it is there by the start frame; waited for briefly anyway.
std::string FindNic() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (DIR* d = ::opendir("/sys/class/net")) {
      std::string found;
      while (struct dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.' || std::strcmp(e->d_name, "lo") == 0) continue;
        found = e->d_name;
        break;
      }
      ::closedir(d);
      if (!found.empty()) return found;
    }
    ::usleep(20000);
  }
  return {};
}

// Moves interface `ifindex` into the network namespace `netns_fd`
// (RTM_NEWLINK with IFLA_NET_NS_FD; no ioctl does this). "" on success.
std::string MoveLinkToNetns(int ifindex, int netns_fd) {
  int s = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0) return std::string("socket(AF_NETLINK): ") + strerror(errno);
  struct {
    struct nlmsghdr h;
    struct ifinfomsg i;
    char attrs[64];
  } req = {};
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  req.h.nlmsg_type = RTM_NEWLINK;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.h.nlmsg_seq = 1;
  req.i.ifi_family = AF_UNSPEC;
  req.i.ifi_index = ifindex;
  auto* a = reinterpret_cast<struct rtattr*>(reinterpret_cast<char*>(&req) +
                                             NLMSG_ALIGN(req.h.nlmsg_len));
  a->rta_type = IFLA_NET_NS_FD;
  a->rta_len = RTA_LENGTH(sizeof(uint32_t));
  uint32_t fd = static_cast<uint32_t>(netns_fd);
  std::memcpy(RTA_DATA(a), &fd, sizeof fd);
  req.h.nlmsg_len = NLMSG_ALIGN(req.h.nlmsg_len) + RTA_ALIGN(a->rta_len);
  struct sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  std::string err;
  if (::sendto(s, &req, req.h.nlmsg_len, 0, reinterpret_cast<struct sockaddr*>(&kernel),
               sizeof kernel) != static_cast<ssize_t>(req.h.nlmsg_len)) {
    err = std::string("netlink send: ") + strerror(errno);
  } else {
    char buf[4096];
    ssize_t n = ::recv(s, buf, sizeof buf, 0);
    auto* h = reinterpret_cast<struct nlmsghdr*>(buf);
    if (n < 0) {
      err = std::string("netlink recv: ") + strerror(errno);
    } else if (!NLMSG_OK(h, static_cast<size_t>(n)) || h->nlmsg_type != NLMSG_ERROR) {
      err = "netlink: no acknowledgement";
    } else if (int e = -reinterpret_cast<struct nlmsgerr*>(NLMSG_DATA(h))->error; e != 0) {
      err = std::string("netlink RTM_NEWLINK: ") + strerror(e);
    }
  }
  ::close(s);
  return err;
}

// Policy network host: the NIC joins the commands' namespace (so their
// abstract sockets stay apart from the agent's) with QEMU user-mode
// networking's fixed addresses: 10.0.2.15/24, default route via 10.0.2.2
// (the host; its loopback too), DNS at 10.0.2.3. "" on success.
std::string SetUpNetwork(int cmd_netns) {
  if (cmd_netns < 0) return "network: the commands have no network namespace of their own";
  std::string nic = FindNic();
  if (nic.empty()) return "network: no NIC besides lo (virtio_net not loaded or no device)";
  if (nic.size() >= IFNAMSIZ) return "network: NIC name too long: " + nic;
  unsigned index = ::if_nametoindex(nic.c_str());
  if (index == 0) return "network: if_nametoindex " + nic + ": " + strerror(errno);
  if (std::string e = MoveLinkToNetns(static_cast<int>(index), cmd_netns); !e.empty()) {
    return "network: move " + nic + " to the commands' namespace: " + e;
  }
  int initial = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (initial < 0) return std::string("network: open own netns: ") + strerror(errno);
  if (::setns(cmd_netns, CLONE_NEWNET) != 0) {
    std::string e = std::string("network: setns: ") + strerror(errno);
    ::close(initial);
    return e;
  }
  std::string err;
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto in4 = [](struct sockaddr* sa, const char* addr) {
    auto* sin = reinterpret_cast<struct sockaddr_in*>(sa);
    std::memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    ::inet_pton(AF_INET, addr, &sin->sin_addr);
  };
  struct ifreq ifr = {};
  std::memcpy(ifr.ifr_name, nic.c_str(), nic.size());
  auto step = [&](const char* what, bool ok) {
    if (!ok && err.empty()) err = "network: " + nic + ": " + what + ": " + strerror(errno);
  };
  step("socket", s >= 0);
  if (err.empty()) {
    in4(&ifr.ifr_addr, "10.0.2.15");
    step("SIOCSIFADDR 10.0.2.15", ::ioctl(s, SIOCSIFADDR, &ifr) == 0);
  }
  if (err.empty()) {
    in4(&ifr.ifr_netmask, "255.255.255.0");
    step("SIOCSIFNETMASK /24", ::ioctl(s, SIOCSIFNETMASK, &ifr) == 0);
  }
  if (err.empty()) step("SIOCGIFFLAGS", ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
  if (err.empty()) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    step("SIOCSIFFLAGS up", ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
  }
  if (err.empty()) {
    struct rtentry rt = {};
    in4(&rt.rt_dst, "0.0.0.0");
    in4(&rt.rt_genmask, "0.0.0.0");
    in4(&rt.rt_gateway, "10.0.2.2");
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = nic.data();
    step("SIOCADDRT default via 10.0.2.2", ::ioctl(s, SIOCADDRT, &rt) == 0);
  }
  if (s >= 0) ::close(s);
  if (::setns(initial, CLONE_NEWNET) != 0) {
    Log(std::string("setns back: ") + strerror(errno));
    ::reboot(RB_POWER_OFF);  // the agent would serve from the wrong namespace
  }
  ::close(initial);
  if (!err.empty()) return err;
  // The guest's / is the initramfs: /etc is its own (written before a
  // read-only root is remounted).
  static constexpr char kResolv[] = "nameserver 10.0.2.3\n";
  int fd = ::open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, kResolv, sizeof kResolv - 1) != sizeof kResolv - 1) {
    err = std::string("network: write /etc/resolv.conf: ") + strerror(errno);
  }
  if (fd >= 0) ::close(fd);
  return err;
}

// This guest's own identity and clock (a clone resumes with its
// template's), its network when the policy asks for one, then its mounts.
std::string ApplyStart(const Start& st, int cmd_netns) {
  std::string errors;
  auto fail = [&](const std::string& what) {
    Log(what);
    errors += (errors.empty() ? "" : "; ") + what;
  };
  if (st.realtime_ns != 0) {
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(st.realtime_ns / 1000000000);
    ts.tv_nsec = static_cast<long>(st.realtime_ns % 1000000000);
    if (::clock_settime(CLOCK_REALTIME, &ts) != 0) {
      fail(std::string("clock_settime: ") + strerror(errno));
    }
  }
  if (!st.hostname.empty() && ::sethostname(st.hostname.data(), st.hostname.size()) != 0) {
    fail(std::string("sethostname: ") + strerror(errno));
  }
  if (!st.machine_id.empty()) {
    std::string id = st.machine_id + "\n";
    int fd = ::open("/etc/machine-id", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
    if (fd < 0 || ::write(fd, id.data(), id.size()) != static_cast<ssize_t>(id.size())) {
      fail(std::string("write /etc/machine-id: ") + strerror(errno));
    }
    if (fd >= 0) ::close(fd);
  }
  if (st.network) {
    if (std::string e = SetUpNetwork(cmd_netns); !e.empty()) fail(e);
  }
  std::string m = SetUpMounts(st.mounts);
  if (!m.empty()) errors += (errors.empty() ? "" : "; ") + m;
  return errors;
}

// The port's /dev node; the name appears in sysfs shortly after the device.
std::string FindPort() {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (DIR* d = ::opendir("/sys/class/virtio-ports")) {
      while (struct dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string dev = e->d_name;
        std::string name = ReadSmallFile(("/sys/class/virtio-ports/" + dev + "/name").c_str());
        while (!name.empty() && name.back() == '\n') name.pop_back();
        if (name == kPortName) {
          ::closedir(d);
          return "/dev/" + dev;
        }
      }
      ::closedir(d);
    }
    ::usleep(10000);
  }
  return {};
}

// Firecracker's channel: an AF_VSOCK stream to the host (CID 2) on `port`,
// which Firecracker forwards to the host's unix socket <uds_path>_<port>. The
// host listens before it starts the VM, but the guest's vsock device may
// still be probing when /init execs the agent: retried for up to 20 s.
int ConnectVsock(uint32_t port) {
  std::string last;
  // A deadline, not a count: with a transport but no device behind it a
  // connect can itself take seconds.
  const uint64_t deadline = NowUs() + 20 * 1000000ull;
  while (NowUs() < deadline) {
    int fd = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      struct sockaddr_vm a = {};
      a.svm_family = AF_VSOCK;
      a.svm_cid = VMADDR_CID_HOST;
      a.svm_port = port;
      if (::connect(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof a) == 0) return fd;
      last = std::string("connect: ") + strerror(errno);
      ::close(fd);
    } else {
      last = std::string("socket(AF_VSOCK): ") + strerror(errno);
    }
    ::usleep(20000);
  }
  Log("vsock port " + std::to_string(port) + ": " + last);
  return -1;
}

class Agent {
 public:
  // `socket`: the channel is a stream socket (vsock), whose end of stream
  // means the host is gone for good; a virtio-serial port reads end of
  // stream while no host is connected and may get one again.
  Agent(int port, bool socket, int sigchld_fd, int netns)
      : port_(port),
        port_is_socket_(socket),
        sigchld_fd_(sigchld_fd),
        netns_(netns),
        reader_(kGuestLimits) {}

  void Send(FrameType type, const std::string& payload) {
    std::string wire = EncodeFrame(type, payload);
    size_t off = 0;
    while (off < wire.size()) {
      ssize_t n = ::write(port_, wire.data() + off, wire.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        struct pollfd p {
          port_, POLLOUT, 0
        };
        ::poll(&p, 1, 100);
        continue;
      }
      if (n <= 0) return;  // host gone; frames are lost, the host will notice
      off += static_cast<size_t>(n);
    }
  }

  void SendError(uint64_t id, const std::string& msg) {
    Send(FrameType::kError, EncodeError({id, msg}));
  }

  void Run() {
    struct utsname u;
    ::uname(&u);
    Hello h;
    h.kernel_release = u.release;
    h.agent = kAgentVersion;
    std::string uptime = ReadSmallFile("/proc/uptime");
    h.boot_ms = static_cast<uint32_t>(std::strtod(uptime.c_str(), nullptr) * 1000);
    Send(FrameType::kHello, EncodeHello(h));
    for (;;) Step();
  }

 private:
  // One round of the event loop: the port, the running command's pipes, its
  // timeout, and reaping.
  void Step() {
    std::vector<struct pollfd> fds;
    fds.push_back({port_, POLLIN, 0});
    if (out_fd_ >= 0) fds.push_back({out_fd_, POLLIN, 0});
    if (err_fd_ >= 0) fds.push_back({err_fd_, POLLIN, 0});
    if (in_fd_ >= 0) fds.push_back({in_fd_, POLLOUT, 0});
    fds.push_back({sigchld_fd_, POLLIN, 0});
    // SIGCHLD, the pipes and the port wake us; a timer only for the
    // command's deadline and for a port with no host behind it.
    int timeout_ms = port_eof_ ? 2 : -1;
    if (running() && deadline_us_ != 0 && !timed_out_) {
      uint64_t now = NowUs();
      int left = deadline_us_ > now ? static_cast<int>((deadline_us_ - now) / 1000) + 1 : 0;
      timeout_ms = timeout_ms < 0 ? left : std::min(timeout_ms, left);
    }
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) {
      Log(std::string("poll: ") + strerror(errno));
      ::usleep(10000);
    }
    for (const struct pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == port_) {
        ReadPort();
      } else if (p.fd == out_fd_) {
        Drain(&out_fd_, FrameType::kStdout);
      } else if (p.fd == err_fd_) {
        Drain(&err_fd_, FrameType::kStderr);
      } else if (p.fd == in_fd_) {
        FeedStdin();
      } else if (p.fd == sigchld_fd_) {
        struct signalfd_siginfo si[8];
        while (::read(sigchld_fd_, si, sizeof si) > 0) {
        }
      }
    }
    Reap();
    if (running() && deadline_us_ != 0 && NowUs() >= deadline_us_ && !timed_out_) {
      timed_out_ = true;
      KillCommand();
    }
    MaybeFinish();
  }

  bool running() const { return child_ > 0 || out_fd_ >= 0 || err_fd_ >= 0 || exited_; }

  void ReadPort() {
    char buf[65536];
    ssize_t n = ::read(port_, buf, sizeof buf);
    if (port_is_socket_ && (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))) {
      // Nobody can reach this guest any more: power off rather than run on.
      Log("the host closed the vsock channel; powering off");
      if (::getpid() == 1) ::reboot(RB_POWER_OFF);
      ::_exit(0);
    }
    if (n == 0) {
      // No host connected to the chardev (or it went away): keep serving,
      // a host may connect (again), e.g. after a snapshot restore.
      // The port polls readable while no host is connected: sleep a little
      // (short, so a restored clone sees its new host at once).
      port_eof_ = true;
      if (!running()) ::usleep(2000);
      return;
    }
    if (n < 0) return;
    port_eof_ = false;
    reader_.Feed(std::string_view(buf, static_cast<size_t>(n)));
    Frame f;
    while (reader_.Next(&f)) Handle(f);
    if (reader_.failed()) {
      SendError(0, "agent: bad frame from host: " + reader_.error());
      reader_ = FrameReader(kGuestLimits);  // the host starts over
    }
  }

  void Handle(const Frame& f) {
    switch (f.type) {
      case FrameType::kExec: {
        ExecRequest req;
        std::string err = DecodeExec(f.payload, kGuestLimits, &req);
        if (!err.empty()) return SendError(0, err);
        if (!started_) return SendError(req.id, "agent: exec before start");
        if (running()) return SendError(req.id, "agent: a command is already running");
        StartCommand(req);
        return;
      }
      case FrameType::kKill: {
        Kill k;
        std::string err = DecodeKill(f.payload, kGuestLimits, &k);
        if (!err.empty()) return SendError(0, err);
        if (running() && k.id == id_) KillCommand();
        return;
      }
      case FrameType::kReseed: {
        Reseed r;
        std::string err = DecodeReseed(f.payload, kGuestLimits, &r);
        if (!err.empty()) return SendError(0, err);
        Send(FrameType::kReseedDone, EncodeReseedDone({AddEntropy(r.seed)}));
        return;
      }
      case FrameType::kStart: {
        Start st;
        std::string err = DecodeStart(f.payload, kGuestLimits, &st);
        if (!err.empty()) return SendError(0, err);
        if (started_) return SendError(0, "agent: already started");
        started_ = true;
        Send(FrameType::kStartDone, EncodeStartDone({ApplyStart(st, netns_)}));
        return;
      }
      case FrameType::kPing:
        Send(FrameType::kPong, "");
        return;
      case FrameType::kShutdown:
        KillEverything();
        ::sync();
        ::reboot(RB_POWER_OFF);
        _exit(0);
      default:
        SendError(0, std::string("agent: unexpected ") + FrameTypeName(f.type) + " frame");
    }
  }

  // Mixes the seed into the pool and credits it (RNDADDENTROPY needs root,
  // which the agent is), then reseeds the CRNG; falls back to an uncredited
  // write (0 bits reported).
  static uint32_t AddEntropy(const std::string& seed) {
    int fd = ::open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    std::vector<char> buf(sizeof(struct rand_pool_info) + seed.size());
    auto* info = reinterpret_cast<struct rand_pool_info*>(buf.data());
    info->entropy_count = static_cast<int>(seed.size() * 8);
    info->buf_size = static_cast<int>(seed.size());
    memcpy(info->buf, seed.data(), seed.size());
    uint32_t credited = 0;
    // Then reseed the kernel's CRNG from the pool at once: otherwise it
    // keeps the key it had (a clone's is its template's, the same in every
    // clone) until its next scheduled reseed, and clones would read the
    // same /dev/urandom bytes until then. Credited only when both took.
    if (::ioctl(fd, RNDADDENTROPY, info) == 0 && ::ioctl(fd, RNDRESEEDCRNG) == 0) {
      credited = static_cast<uint32_t>(seed.size() * 8);
    } else {
      (void)!::write(fd, seed.data(), seed.size());
    }
    ::close(fd);
    return credited;
  }

  static std::string FindProgram(const std::string& name, const std::vector<std::string>& env) {
    if (name.find('/') != std::string::npos) return name;
    std::string path = "/usr/local/bin:/usr/bin:/bin";
    for (const std::string& e : env) {
      if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
    }
    for (const std::string& dir : Split(path, ':')) {
      std::string full = (dir.empty() ? "." : dir) + "/" + name;
      if (::access(full.c_str(), X_OK) == 0) return full;
    }
    return name;
  }

  void StartCommand(const ExecRequest& req) {
    int out[2], err[2], in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
        (req.has_stdin && ::pipe2(in, O_CLOEXEC) != 0)) {
      return SendError(req.id, std::string("agent: pipe: ") + strerror(errno));
    }
    struct rusage before;
    ::getrusage(RUSAGE_CHILDREN, &before);
    start_us_ = NowUs();
    *exec_stamp_ = 0;
    ChildPlan plan{
        &req, in[0], out[1],      err[1], devnull_, -1, FindProgram(req.argv[0], req.env),
        {},   {},    exec_stamp_, netns_};
    if (req.landlock_handled != 0) {
      std::string e = Ruleset(req, &plan.ruleset);
      if (!e.empty()) {
        for (int fd : {out[0], out[1], err[0], err[1], in[0], in[1]}) {
          if (fd >= 0) ::close(fd);
        }
        return SendError(req.id, "agent: " + e);
      }
    }
    for (const std::string& a : req.argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
    plan.argv.push_back(nullptr);
    for (const std::string& e : req.env) plan.envp.push_back(const_cast<char*>(e.c_str()));
    plan.envp.push_back(nullptr);
    // vfork: no copy of the agent's page tables and no copy-on-write faults
    // afterwards (each costs under TCG); we wait until the child execs.
    pid_t pid = ::vfork();
    if (pid < 0) return SendError(req.id, std::string("agent: vfork: ") + strerror(errno));
    if (pid == 0) RunChild(plan);
    ::close(out[1]);
    ::close(err[1]);
    if (in[0] >= 0) ::close(in[0]);
    id_ = req.id;
    child_ = pid;
    out_fd_ = out[0];
    err_fd_ = err[0];
    in_fd_ = in[1];
    if (in_fd_ >= 0) ::fcntl(in_fd_, F_SETFL, O_NONBLOCK);
    stdin_ = req.stdin_data;
    stdin_off_ = 0;
    if (in_fd_ >= 0 && stdin_.empty()) CloseFd(&in_fd_);
    deadline_us_ = req.timeout_ms ? start_us_ + req.timeout_ms * 1000 : 0;
    timed_out_ = false;
    exited_ = false;
    status_ = 0;
    rusage_before_ = before;
    oom_before_ = OomKills();
  }

  // The request's Landlock ruleset as a descriptor, built once and reused
  // while the requests bring the same rules (they do for a sandbox's life),
  // so each command only calls landlock_restrict_self. Rights the kernel's
  // ABI does not know are dropped (the host asks for ABI 2 at most: the
  // file-system rights up to REFER). "" on success, else what failed.
  std::string Ruleset(const ExecRequest& req, int* out) {
    std::string key = std::to_string(req.landlock_handled);
    for (const auto& [access, path] : req.landlock_rules) {
      key += "\n" + std::to_string(access) + " " + path;
    }
    if (ruleset_fd_ >= 0 && key == ruleset_key_) {
      *out = ruleset_fd_;
      return {};
    }
    if (ruleset_fd_ >= 0) ::close(ruleset_fd_);
    ruleset_fd_ = -1;
    long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) return std::string("landlock unavailable in the guest kernel: ") + strerror(errno);
    uint64_t known = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1
    if (abi >= 2) known |= LANDLOCK_ACCESS_FS_REFER;
    struct landlock_ruleset_attr attr = {};
    attr.handled_access_fs = req.landlock_handled & known;
    int ruleset = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
    if (ruleset < 0) return std::string("landlock_create_ruleset: ") + strerror(errno);
    for (const auto& [access, path] : req.landlock_rules) {
      int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
      if (fd < 0) continue;  // a path that does not exist allows nothing
      struct landlock_path_beneath_attr pb = {};
      pb.allowed_access = access & attr.handled_access_fs;
      struct stat st;
      // Directory-only rights cannot be granted on a file.
      if (::fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
        pb.allowed_access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                             LANDLOCK_ACCESS_FS_READ_FILE;
      }
      pb.parent_fd = fd;
      long rc = ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
      int e = errno;
      ::close(fd);
      if (rc != 0) {
        ::close(ruleset);
        return "landlock_add_rule " + path + ": " + strerror(e);
      }
    }
    ruleset_fd_ = ruleset;  // O_CLOEXEC: commands do not inherit it
    ruleset_key_ = key;
    *out = ruleset;
    return {};
  }

  // Everything the child needs, prepared before vfork: the child only makes
  // system calls (it shares our memory until it execs).
  struct ChildPlan {
    const ExecRequest* req;
    int in, out, err, devnull;
    int ruleset;  // -1: no Landlock
    std::string prog;
    std::vector<char*> argv, envp;
    uint64_t* exec_stamp;
    int netns;  // the commands' network namespace; -1: none
  };

  // In the confined child: can the agent's abstract socket be reached?
  [[noreturn]] static void ProbeAbstractSocket() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int e = 0;
    if (fd < 0) {
      e = errno;
    } else {
      struct sockaddr_un a = {};
      a.sun_family = AF_UNIX;
      size_t n = std::strlen(kAgentAbstractSocket);
      std::memcpy(a.sun_path + 1, kAgentAbstractSocket, n);
      socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + n);
      if (::connect(fd, reinterpret_cast<struct sockaddr*>(&a), len) != 0) e = errno;
    }
    char m[128];
    int k = e == 0 ? snprintf(m, sizeof m, "ABSTRACT=open\n")
                   : snprintf(m, sizeof m, "ABSTRACT=denied %s\n", strerrorname_np(e));
    if (k > 0) (void)!::write(1, m, static_cast<size_t>(k));
    _exit(0);
  }

  // Runs in the vfork child: system calls only, no allocation, then execve
  // or _exit. A failure writes a fixed message to the command's stderr.
  [[noreturn]] static void RunChild(const ChildPlan& p) {
    const ExecRequest& req = *p.req;
    auto fail = [&req](int code, const char* what) {
      int e = errno;
      char m[512];
      bool exec = code == 127 || std::strcmp(what, "exec") == 0;
      int n = snprintf(m, sizeof m, "kavach: %s%s%.200s: %s\n", what, exec ? " " : "",
                       exec ? req.argv[0].c_str() : "", e ? strerror(e) : "failed");
      if (n > 0) (void)!::write(2, m, std::min<size_t>(static_cast<size_t>(n), sizeof m - 1));
      _exit(code);
    };
    ::setsid();
    // execve resets caught signals; the only one the agent ignores (and so
    // would pass on ignored) is SIGPIPE.
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(p.in >= 0 ? p.in : p.devnull, 0);
    ::dup2(p.out, 1);
    ::dup2(p.err, 2);
    auto limit = [&](int res, uint64_t v, const char* name) {
      if (v == 0) return;
      struct rlimit rl {
        v, v
      };
      if (::setrlimit(res, &rl) != 0) fail(126, name);
    };
    limit(RLIMIT_NOFILE, req.max_open_files, "setrlimit NOFILE");
    limit(RLIMIT_FSIZE, req.max_file_size, "setrlimit FSIZE");
    limit(RLIMIT_NPROC, req.max_processes, "setrlimit NPROC");
    limit(RLIMIT_AS, req.max_memory, "setrlimit AS");
    // Its own network namespace (only a loopback): abstract unix sockets
    // are per namespace, so the agent's (and any other outside the
    // command's) cannot be reached.
    if (p.netns >= 0 && ::setns(p.netns, CLONE_NEWNET) != 0) fail(126, "setns net");
    // Raw system calls: this task alone changes its credentials (libc's
    // wrappers would coordinate with threads the vfork child does not own).
    if (::syscall(SYS_setgroups, 0, nullptr) != 0) fail(126, "setgroups");
    if (::syscall(SYS_setresgid, req.gid, req.gid, req.gid) != 0) fail(126, "setgid");
    if (::syscall(SYS_setresuid, req.uid, req.uid, req.uid) != 0) fail(126, "setuid");
    if (!req.cwd.empty() && ::chdir(req.cwd.c_str()) != 0) fail(126, "chdir");
    if (req.no_new_privs || p.ruleset >= 0 || !req.seccomp_bpf.empty()) {
      if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(126, "no_new_privs");
    }
    if (p.ruleset >= 0 && ::syscall(SYS_landlock_restrict_self, p.ruleset, 0) != 0) {
      fail(126, "landlock_restrict_self");
    }
    if (!req.seccomp_bpf.empty()) {
      struct sock_fprog prog;
      prog.len = static_cast<unsigned short>(req.seccomp_bpf.size() / sizeof(struct sock_filter));
      prog.filter =
          reinterpret_cast<struct sock_filter*>(const_cast<char*>(req.seccomp_bpf.data()));
      if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) fail(126, "seccomp");
    }
    if (req.probe_abstract_socket) ProbeAbstractSocket();
    *p.exec_stamp = NowUs();
    ::execve(p.prog.c_str(), p.argv.data(), p.envp.data());
    fail(errno == ENOENT ? 127 : 126, "exec");  // "kavach: exec PROG: No such file or directory"
    _exit(127);
  }

  void FeedStdin() {
    while (stdin_off_ < stdin_.size()) {
      ssize_t n = ::write(in_fd_, stdin_.data() + stdin_off_, stdin_.size() - stdin_off_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) break;  // EPIPE: the command does not read it
      stdin_off_ += static_cast<size_t>(n);
    }
    CloseFd(&in_fd_);
    stdin_.clear();
  }

  void Drain(int* fd, FrameType type) {
    char buf[kMaxChunk];
    ssize_t n = ::read(*fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      CloseFd(fd);
      return;
    }
    Send(type, EncodeOutput({id_, std::string(buf, static_cast<size_t>(n))}));
  }

  static void CloseFd(int* fd) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }

  // Every process but us: the command's tree and anything it left behind
  // (daemons that setsid'd away included).
  static void KillEverything() {
    DIR* d = ::opendir("/proc");
    if (d == nullptr) return;
    pid_t self = ::getpid();
    while (struct dirent* e = ::readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || pid <= 1 || pid == self) continue;
      // Kernel threads have an empty cmdline and ignore SIGKILL anyway.
      ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
    ::closedir(d);
  }

  void KillCommand() {
    if (child_ > 0) ::kill(-child_, SIGKILL);
    KillEverything();
  }

  void Reap() {
    for (;;) {
      int status = 0;
      pid_t p = ::waitpid(-1, &status, WNOHANG);
      if (p <= 0) return;
      if (p == child_) {
        child_ = -1;
        exited_ = true;
        reaped_us_ = NowUs();
        status_ = status;
        // Whatever the command left running dies with it, which also closes
        // the pipes it may have inherited. We are pid 1: every process the
        // command left behind is our child now (orphans are re-parented to
        // init), so with no child left there is nothing to look for.
        siginfo_t si = {};
        if (::waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0) KillEverything();
      }
    }
  }

  void MaybeFinish() {
    if (!exited_ || out_fd_ >= 0 || err_fd_ >= 0) return;
    CloseFd(&in_fd_);
    struct rusage after;
    ::getrusage(RUSAGE_CHILDREN, &after);
    auto us = [](const struct timeval& t) {
      return static_cast<uint64_t>(t.tv_sec) * 1000000 + static_cast<uint64_t>(t.tv_usec);
    };
    ExitStatus e;
    e.id = id_;
    if (WIFEXITED(status_)) {
      e.exit_code = WEXITSTATUS(status_);
    } else {
      e.exit_code = -1;
      e.signal = WIFSIGNALED(status_) ? WTERMSIG(status_) : SIGKILL;
    }
    e.timed_out = timed_out_;
    uint64_t cpu_after = us(after.ru_utime) + us(after.ru_stime);
    uint64_t cpu_before = us(rusage_before_.ru_utime) + us(rusage_before_.ru_stime);
    e.cpu_us = cpu_after > cpu_before ? cpu_after - cpu_before : 0;
    e.max_rss_kb = static_cast<uint64_t>(after.ru_maxrss);
    uint64_t now = NowUs();
    e.wall_us = now - start_us_;
    uint64_t exec_at = *exec_stamp_;
    e.setup_us = exec_at > start_us_ ? exec_at - start_us_ : 0;
    e.reap_us = now > reaped_us_ ? now - reaped_us_ : 0;
    e.oom_killed = OomKills() > oom_before_;
    exited_ = false;
    Send(FrameType::kExit, EncodeExit(e));
  }

  int port_;
  bool port_is_socket_;
  int sigchld_fd_;
  int netns_;
  FrameReader reader_;
  bool port_eof_ = false;
  bool started_ = false;
  uint64_t id_ = 0;
  pid_t child_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int in_fd_ = -1;
  std::string stdin_;
  size_t stdin_off_ = 0;
  uint64_t start_us_ = 0;
  uint64_t reaped_us_ = 0;
  int devnull_ = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  int ruleset_fd_ = -1;
  std::string ruleset_key_;
  // A page shared with the children: each writes the time of its execve.
  uint64_t* exec_stamp_ = static_cast<uint64_t*>(
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  uint64_t deadline_us_ = 0;
  bool timed_out_ = false;
  bool exited_ = false;
  int status_ = 0;
  struct rusage rusage_before_ = {};
  uint64_t oom_before_ = 0;
};

// Listens on kAgentAbstractSocket in the initial network namespace (the
// probe's target: nothing ever accepts on it) and makes the namespace the
// commands run in, with its loopback up. Returns its descriptor, -1 when it
// cannot be made (then the scope probe finds the socket reachable).
int CommandNetns() {
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  size_t n = std::strlen(kAgentAbstractSocket);
  std::memcpy(a.sun_path + 1, kAgentAbstractSocket, n);
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + n);
  if (listener < 0 || ::bind(listener, reinterpret_cast<struct sockaddr*>(&a), len) != 0 ||
      ::listen(listener, 1) != 0) {
    Log(std::string("abstract listener: ") + strerror(errno));
  }
  int initial = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (initial < 0 || ::unshare(CLONE_NEWNET) != 0) {
    Log(std::string("command network namespace: ") + strerror(errno));
    if (initial >= 0) ::close(initial);
    return -1;
  }
  int cmd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  // Loopback up, as in the initial namespace (programs talk to themselves).
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (s < 0 || ::ioctl(s, SIOCGIFFLAGS, &ifr) != 0 ||
      (ifr.ifr_flags |= IFF_UP, ::ioctl(s, SIOCSIFFLAGS, &ifr)) != 0) {
    Log(std::string("loopback up: ") + strerror(errno));
  }
  if (s >= 0) ::close(s);
  if (::setns(initial, CLONE_NEWNET) != 0) {
    Log(std::string("setns back: ") + strerror(errno));
    ::reboot(RB_POWER_OFF);  // the agent would serve from the wrong namespace
  }
  ::close(initial);
  return cmd;
}

int Main(int argc, char** argv) {
  // The kernel may start init without descriptors 0-2 (no /dev/console in
  // the initramfs): fill them, so no descriptor of ours lands there and is
  // overwritten when a command's stdio is set up.
  for (;;) {
    int fd = ::open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0) fd = ::open("/dev/null", O_RDWR);
    if (fd < 0) break;
    if (fd > 2) {
      ::close(fd);
      break;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  bool init = argc > 1 && std::strcmp(argv[1], "--init") == 0;
  int fd = -1;
  uint32_t vsock_port = VsockChannelPort(ReadSmallFile("/proc/cmdline"));
  if (vsock_port != 0) {
    fd = ConnectVsock(vsock_port);
    if (fd < 0) {
      if (init) ::reboot(RB_POWER_OFF);
      return 1;
    }
  } else {
    std::string port = FindPort();
    if (port.empty()) {
      Log("no virtio-serial port named kavach.agent");
      if (init) ::reboot(RB_POWER_OFF);
      return 1;
    }
    fd = ::open(port.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      Log("open " + port + ": " + strerror(errno));
      if (init) ::reboot(RB_POWER_OFF);
      return 1;
    }
  }
  // SIGCHLD arrives on a descriptor the event loop polls (children get an
  // empty mask back before exec).
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sigfd = ::signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd < 0) {
    Log(std::string("signalfd: ") + strerror(errno));
    if (init) ::reboot(RB_POWER_OFF);
    return 1;
  }
  int netns = init ? CommandNetns() : -1;
  Agent agent(fd, vsock_port != 0, sigfd, netns);
  agent.Run();
  return 0;
}

}  // namespace
}  // namespace kavach::guest

int main(int argc, char** argv) { return kavach::guest::Main(argc, argv); }
