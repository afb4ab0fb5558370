// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach_attack: escape attempts to run INSIDE a sandbox.
//
//   kavach_attack <subcommand> [args...]
//
// Every attack ends with exactly one machine-readable line on stdout:
//   RESULT blocked <detail>   exit 0: every path of the attack failed
//   RESULT escaped <detail>   exit 1: at least one path succeeded
//   RESULT error <detail>     exit 2: the attack could not be set up
//   RESULT info <detail>      exit 0: helper commands (ps, counter, ...)
// A process killed by the seccomp filter (SIGSYS) prints nothing; the test
// treats that as blocked.
//
// Each attack tries the strongest path it has, so that it SUCCEEDS when the
// control that should stop it is missing: e.g. `mount` first mounts directly,
// then unshares a user namespace (which an unfiltered unprivileged process
// may do) and mounts there.
//
// Deliberately links only libc (no libstdc++, no absl): it runs inside the
// sandbox's minimal root and under the strict seccomp allow-list. Output is
// written with dprintf (unbuffered), so nothing is duplicated across fork().
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

namespace {

// ---------------------------------------------------------------- reporting

// Accumulates "what happened" for the final RESULT line.
struct Report {
  char text[8192];
  size_t len;
  bool escaped;
};

Report g_report;

void Note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Note(const char* fmt, ...) {
  if (g_report.len + 2 >= sizeof(g_report.text)) return;
  if (g_report.len > 0) g_report.text[g_report.len++] = ' ';
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(g_report.text + g_report.len, sizeof(g_report.text) - g_report.len, fmt, ap);
  va_end(ap);
  if (n > 0) {
    g_report.len += static_cast<size_t>(n);
    if (g_report.len >= sizeof(g_report.text)) g_report.len = sizeof(g_report.text) - 1;
  }
  g_report.text[g_report.len] = '\0';
}

// Records that one path of the attack succeeded.
void Escaped(const char* what) {
  g_report.escaped = true;
  Note("ESCAPED:%s", what);
}

// Records that a path failed with errno `err`.
void Denied(const char* what, int err) {
  const char* name = strerrorname_np(err);
  Note("%s:%s", what, name != nullptr ? name : "E?");
}

int Finish() {
  dprintf(1, "RESULT %s %s\n", g_report.escaped ? "escaped" : "blocked", g_report.text);
  return g_report.escaped ? 1 : 0;
}

int Error(const char* what, int err) {
  const char* name = strerrorname_np(err);
  dprintf(1, "RESULT error %s:%s %s\n", what, name != nullptr ? name : "E?", g_report.text);
  return 2;
}

int Info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int Info(const char* fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  dprintf(1, "RESULT info %s\n", buf);
  return 0;
}

// Runs fn in a forked child and returns its exit status (0..255), or 256+sig
// when it was killed. Keeps namespace changes out of the attacking process.
int InChild(int (*fn)(void*), void* arg) {
  pid_t pid = fork();
  if (pid < 0) return -errno - 1000;
  if (pid == 0) _exit(fn(arg));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 256 + WTERMSIG(status);
}

// Child exit codes below 200 carry an errno; 0 means the call succeeded.
int ErrnoExit(long rc) { return rc >= 0 ? 0 : (errno > 0 && errno < 200 ? errno : 199); }

void NoteChild(const char* what, int status) {
  if (status == 0) {
    Escaped(what);
  } else if (status >= 256) {
    Note("%s:killed-by-signal-%d", what, status - 256);
  } else if (status < 0) {
    Note("%s:fork-failed", what);
  } else {
    Denied(what, status);
  }
}

bool WriteString(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == static_cast<ssize_t>(strlen(text));
}

// Enters a new user + mount namespace and maps the current ids to 0. This is
// what an unprivileged process does to gain capabilities over fresh
// namespaces; the sandbox must not allow it. Returns 0 or an errno.
int EnterUserNamespace() {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return errno;
  char map[64];
  WriteString("/proc/self/setgroups", "deny");
  snprintf(map, sizeof(map), "0 %u 1", static_cast<unsigned>(uid));
  if (!WriteString("/proc/self/uid_map", map)) return errno != 0 ? errno : EIO;
  snprintf(map, sizeof(map), "0 %u 1", static_cast<unsigned>(gid));
  if (!WriteString("/proc/self/gid_map", map)) return errno != 0 ? errno : EIO;
  return 0;
}

// ---------------------------------------------------------------- attacks

// ptrace of a sibling: child B waits; child A attaches to B. Without a
// seccomp rule (and with no Yama on this host) a same-uid sibling is
// traceable.
int AttackPtrace(int, char**) {
  pid_t victim = fork();
  if (victim < 0) return Error("fork", errno);
  if (victim == 0) {
    for (;;) pause();
  }
  struct Args {
    pid_t victim;
    long request;
  };
  auto attach = [](void* p) -> int {
    auto* a = static_cast<Args*>(p);
    long rc = ptrace(static_cast<__ptrace_request>(a->request), a->victim, nullptr, nullptr);
    return ErrnoExit(rc);
  };
  Args attach_args{victim, PTRACE_ATTACH};
  NoteChild("sibling-PTRACE_ATTACH", InChild(attach, &attach_args));
  Args seize_args{victim, PTRACE_SEIZE};
  NoteChild("sibling-PTRACE_SEIZE", InChild(attach, &seize_args));
  // The parent attaching to its own child as well (the easiest case).
  long rc = ptrace(PTRACE_SEIZE, victim, nullptr, nullptr);
  if (rc == 0) {
    Escaped("child-PTRACE_SEIZE");
  } else {
    Denied("child-PTRACE_SEIZE", errno);
  }
  kill(victim, SIGKILL);
  waitpid(victim, nullptr, 0);
  return Finish();
}

int MountTmpfsOnTmp(void*) { return ErrnoExit(mount("kavach", "/tmp", "tmpfs", 0, "size=1m")); }

int MountAfterUserns(void*) {
  int err = EnterUserNamespace();
  if (err != 0) return err;
  return MountTmpfsOnTmp(nullptr);
}

int AttackMount(int, char**) {
  NoteChild("mount(tmpfs)", InChild(MountTmpfsOnTmp, nullptr));
  NoteChild("unshare(NEWUSER|NEWNS)+mount(tmpfs)", InChild(MountAfterUserns, nullptr));
  return Finish();
}

// The new mount API: fsopen/fsconfig/fsmount, and open_tree(OPEN_TREE_CLONE).
int FsopenMount(void*) {
  int fs = static_cast<int>(syscall(SYS_fsopen, "tmpfs", 0));
  if (fs < 0) return ErrnoExit(-1);
  if (syscall(SYS_fsconfig, fs, 6 /*FSCONFIG_CMD_CREATE*/, nullptr, nullptr, 0) != 0) {
    return ErrnoExit(-1);
  }
  return ErrnoExit(syscall(SYS_fsmount, fs, 0, 0));
}

int FsopenAfterUserns(void*) {
  int err = EnterUserNamespace();
  if (err != 0) return err;
  return FsopenMount(nullptr);
}

int OpenTreeClone(void*) {
  return ErrnoExit(syscall(SYS_open_tree, AT_FDCWD, "/tmp", 1 /*OPEN_TREE_CLONE*/));
}

int AttackFsopen(int, char**) {
  NoteChild("fsopen+fsmount", InChild(FsopenMount, nullptr));
  NoteChild("unshare(NEWUSER|NEWNS)+fsopen+fsmount", InChild(FsopenAfterUserns, nullptr));
  NoteChild("open_tree(CLONE)", InChild(OpenTreeClone, nullptr));
  return Finish();
}

struct CloneArgs {  // struct clone_args of clone3(2), version 0
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

int AttackUnshare(int, char**) {
  static const struct {
    int flag;
    const char* name;
  } kFlags[] = {
      {CLONE_NEWUSER, "unshare(NEWUSER)"},     {CLONE_NEWNS, "unshare(NEWNS)"},
      {CLONE_NEWNET, "unshare(NEWNET)"},       {CLONE_NEWPID, "unshare(NEWPID)"},
      {CLONE_NEWUTS, "unshare(NEWUTS)"},       {CLONE_NEWIPC, "unshare(NEWIPC)"},
      {CLONE_NEWCGROUP, "unshare(NEWCGROUP)"},
  };
  for (const auto& f : kFlags) {
    int flag = f.flag;
    NoteChild(f.name,
              InChild([](void* p) { return ErrnoExit(unshare(*static_cast<int*>(p))); }, &flag));
  }
  // unshare(NEWUSER) and then the rest: the classic privilege-gain sequence.
  NoteChild("unshare(NEWUSER)+unshare(NEWNET)", InChild(
                                                    [](void*) {
                                                      int err = EnterUserNamespace();
                                                      if (err != 0) return err;
                                                      return ErrnoExit(unshare(CLONE_NEWNET));
                                                    },
                                                    nullptr));
  // clone(2) and clone3(2) with a namespace flag.
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  if (pid == 0) _exit(0);
  if (pid > 0) {
    waitpid(pid, nullptr, 0);
    Escaped("clone(NEWUSER)");
  } else {
    Denied("clone(NEWUSER)", errno);
  }
  CloneArgs args;
  memset(&args, 0, sizeof(args));
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  pid = static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof(args)));
  if (pid == 0) _exit(0);
  if (pid > 0) {
    waitpid(pid, nullptr, 0);
    Escaped("clone3(NEWUSER)");
  } else {
    Denied("clone3(NEWUSER)", errno);
  }
  return Finish();
}

int AttackSetns(int, char**) {
  static const char* kNs[] = {"user", "mnt", "net", "pid", "uts", "ipc", "cgroup", "time"};
  for (const char* ns : kNs) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/1/ns/%s", ns);
    char what[96];
    snprintf(what, sizeof(what), "setns(%s)", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(what, sizeof(what), "open(%s)", path);
      Denied(what, errno);
      continue;
    }
    NoteChild(what,
              InChild([](void* p) { return ErrnoExit(setns(*static_cast<int*>(p), 0)); }, &fd));
    close(fd);
  }
  return Finish();
}

int AttackBpf(int, char**) {
  struct bpf_insn insns[2];
  memset(insns, 0, sizeof(insns));
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[1].code = BPF_JMP | BPF_EXIT;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insn_cnt = 2;
  attr.insns = reinterpret_cast<uintptr_t>(insns);
  attr.license = reinterpret_cast<uintptr_t>("GPL");
  long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
  if (fd >= 0) {
    Escaped("bpf(PROG_LOAD)");
  } else {
    Denied("bpf(PROG_LOAD)", errno);
  }
  memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
  if (fd >= 0) {
    Escaped("bpf(MAP_CREATE)");
  } else {
    Denied("bpf(MAP_CREATE)", errno);
  }
  return Finish();
}

// Kernel keyrings are not namespaced: a key added here could be seen or
// used by the same uid outside.
int AttackKeyctl(int, char**) {
  long id = syscall(SYS_add_key, "user", "kavach-adversarial", "x", 1, KEY_SPEC_PROCESS_KEYRING);
  if (id >= 0) {
    Escaped("add_key");
  } else {
    Denied("add_key", errno);
  }
  id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "kavach-adversarial");
  if (id >= 0) {
    Escaped("keyctl(JOIN_SESSION_KEYRING)");
  } else {
    Denied("keyctl(JOIN_SESSION_KEYRING)", errno);
  }
  id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
  if (id >= 0) {
    Escaped("keyctl(GET_KEYRING_ID,user)");
  } else {
    Denied("keyctl(GET_KEYRING_ID,user)", errno);
  }
  return Finish();
}

// perf_event_paranoid=2 on this host lets an unprivileged process count its
// own user-space events, so this succeeds unless the filter stops it.
int AttackPerf(int, char**) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof(attr);
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
  if (fd >= 0) {
    Escaped("perf_event_open(self)");
  } else {
    Denied("perf_event_open(self)", errno);
  }
  return Finish();
}

int AttackModule(int, char**) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (syscall(SYS_finit_module, fd, "", 0) == 0) {
    Escaped("finit_module");
  } else {
    Denied("finit_module", errno);
  }
  static char image[64] = "\177ELF";
  if (syscall(SYS_init_module, image, sizeof(image), "") == 0) {
    Escaped("init_module");
  } else {
    Denied("init_module", errno);
  }
  if (syscall(SYS_delete_module, "kavach_none", O_NONBLOCK) == 0) {
    Escaped("delete_module");
  } else {
    Denied("delete_module", errno);
  }
  if (syscall(SYS_kexec_load, 0, 0, nullptr, 0) == 0) {
    Escaped("kexec_load");
  } else {
    Denied("kexec_load", errno);
  }
  return Finish();
}

// Each argument is a path that must not be readable (file) or listable
// (directory) inside.
int AttackRead(int argc, char** argv) {
  if (argc < 1) return Error("usage", EINVAL);
  for (int i = 0; i < argc; ++i) {
    const char* path = argv[i];
    char what[512];
    snprintf(what, sizeof(what), "read(%s)", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Denied(what, errno);
      continue;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      DIR* d = fdopendir(fd);
      int entries = 0;
      if (d != nullptr) {
        while (struct dirent* e = readdir(d)) {
          if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) ++entries;
        }
        closedir(d);
      } else {
        close(fd);
      }
      snprintf(what, sizeof(what), "listed(%s,%d-entries)", path, entries);
      Escaped(what);
      continue;
    }
    char buf[33];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
      Denied(what, errno);
      continue;
    }
    buf[n] = '\0';
    for (ssize_t j = 0; j < n; ++j) {
      if (buf[j] <= ' ' || buf[j] > '~') buf[j] = '_';
    }
    snprintf(what, sizeof(what), "read(%s,%zd-bytes,%s)", path, n, buf);
    Escaped(what);
  }
  return Finish();
}

// Each argument is a path to create (O_EXCL). A leading '=' means an existing
// file to open for writing; it is opened but never written, so the host is
// not damaged even if the attack escapes.
int AttackWrite(int argc, char** argv) {
  if (argc < 1) return Error("usage", EINVAL);
  for (int i = 0; i < argc; ++i) {
    const char* path = argv[i];
    bool existing = path[0] == '=';
    if (existing) ++path;
    char what[512];
    snprintf(what, sizeof(what), "%s(%s)", existing ? "open-wr" : "create", path);
    int fd = existing ? open(path, O_WRONLY | O_CLOEXEC)
                      : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      Denied(what, errno);
      continue;
    }
    if (!existing && write(fd, "kavach-adversarial\n", 19) != 19) Note("short-write");
    close(fd);
    Escaped(what);
  }
  return Finish();
}

// Arguments: pairs of IPv4 address and TCP port. Reads what the listener
// sends, to prove which side answered.
int AttackConnect(int argc, char** argv) {
  if (argc < 2 || argc % 2 != 0) return Error("usage", EINVAL);
  for (int i = 0; i + 1 < argc; i += 2) {
    char what[128];
    snprintf(what, sizeof(what), "connect(%s:%s)", argv[i], argv[i + 1]);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      snprintf(what, sizeof(what), "socket(for %s:%s)", argv[i], argv[i + 1]);
      Denied(what, errno);
      continue;
    }
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(atoi(argv[i + 1])));
    if (inet_pton(AF_INET, argv[i], &sa.sin_addr) != 1) return Error("address", EINVAL);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      Denied(what, errno);
      close(fd);
      continue;
    }
    char buf[65];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    for (char* c = buf; *c != '\0'; ++c) {
      if (*c <= ' ' || *c > '~') *c = '_';
    }
    snprintf(what, sizeof(what), "connect(%s:%s,read=%s)", argv[i], argv[i + 1], buf);
    Escaped(what);
    close(fd);
  }
  return Finish();
}

// Argument: an abstract unix socket name the host listens on.
int AttackUnixConnect(int argc, char** argv) {
  if (argc != 1) return Error("usage", EINVAL);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Denied("socket(AF_UNIX)", errno);
    return Finish();
  }
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  size_t len = strlen(argv[0]);
  if (len + 1 > sizeof(sa.sun_path)) return Error("name", ENAMETOOLONG);
  memcpy(sa.sun_path + 1, argv[0], len);
  socklen_t salen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + len);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), salen) == 0) {
    Escaped("connect(abstract-unix)");
  } else {
    Denied("connect(abstract-unix)", errno);
  }
  close(fd);
  return Finish();
}

bool ReadSmall(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n < 0) return false;
  buf[n] = '\0';
  for (ssize_t i = 0; i < n; ++i) {
    if (buf[i] == '\0') buf[i] = ' ';
  }
  return true;
}

// Arguments: a host pid, a marker string (reversed) that appears in the host
// test's command line, and optionally a victim host pid to SIGKILL. Tries to
// signal the pids, to read them in /proc, and counts what /proc shows. (The
// test checks on the host that the victim survived.)
int AttackHostProc(int argc, char** argv) {
  if (argc != 2 && argc != 3) return Error("usage", EINVAL);
  pid_t pid = static_cast<pid_t>(atoi(argv[0]));
  // The marker arrives reversed so that our own command line does not match
  // it; reverse a copy (editing argv would change /proc/self/cmdline).
  char marker[256];
  size_t mlen = strlen(argv[1]);
  if (mlen == 0 || mlen >= sizeof(marker)) return Error("marker", EINVAL);
  for (size_t i = 0; i < mlen; ++i) marker[i] = argv[1][mlen - 1 - i];
  marker[mlen] = '\0';
  if (argc == 3) {
    // A host process the test keeps alive: SIGKILL it if we can reach it.
    pid_t victim = static_cast<pid_t>(atoi(argv[2]));
    if (kill(victim, SIGKILL) == 0) {
      Note("kill(victim,SIGKILL):delivered-to-pid-%d-in-our-namespace", victim);
    } else {
      Denied("kill(victim,SIGKILL)", errno);
    }
  }
  char path[64], cmdline[4096];
  snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
  if (kill(pid, 0) == 0) {
    // Only an escape if it is really the host process, not a sandbox process
    // that happens to have the same number.
    if (!ReadSmall(path, cmdline, sizeof(cmdline)) || strstr(cmdline, marker) != nullptr) {
      Escaped("kill(hostpid,0)");
    } else {
      Note("kill(hostpid,0):same-number-sandbox-process");
    }
  } else {
    Denied("kill(hostpid,0)", errno);
  }
  DIR* d = opendir("/proc");
  if (d == nullptr) return Error("opendir(/proc)", errno);
  int count = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    ++count;
    char p[300];
    snprintf(p, sizeof(p), "/proc/%s/cmdline", e->d_name);
    if (ReadSmall(p, cmdline, sizeof(cmdline)) && strstr(cmdline, marker) != nullptr) {
      char what[300];
      snprintf(what, sizeof(what), "saw-host-process(%s)", e->d_name);
      Escaped(what);
    }
  }
  closedir(d);
  Note("visible-processes=%d", count);
  // A host /proc shows every process on the machine; a sandbox shows a few.
  if (count > 16) Escaped("too-many-processes-visible");
  return Finish();
}

// Reports who we are; escaped when running as uid 0 or with any capability.
int AttackEuid(int, char**) {
  uid_t r, e, s;
  getresuid(&r, &e, &s);
  char status[8192];
  if (!ReadSmall("/proc/self/status", status, sizeof(status))) return Error("status", errno);
  auto field = [&](const char* name, char* out, size_t size) {
    const char* p = strstr(status, name);
    out[0] = '\0';
    if (p == nullptr) return;
    p += strlen(name);
    while (*p == ' ' || *p == '\t') ++p;
    size_t i = 0;
    while (p[i] != '\n' && p[i] != '\0' && i + 1 < size) {
      out[i] = p[i];
      ++i;
    }
    out[i] = '\0';
  };
  char capeff[32], capprm[32], nnp[8];
  field("CapEff:", capeff, sizeof(capeff));
  field("CapPrm:", capprm, sizeof(capprm));
  field("NoNewPrivs:", nnp, sizeof(nnp));
  Note("ruid=%u euid=%u suid=%u CapEff=%s CapPrm=%s NoNewPrivs=%s", r, e, s, capeff, capprm, nnp);
  if (e == 0 || r == 0 || s == 0) Escaped("uid0");
  if (strtoull(capeff, nullptr, 16) != 0) Escaped("CapEff");
  if (strtoull(capprm, nullptr, 16) != 0) Escaped("CapPrm");
  if (e != 0) {
    if (setuid(0) == 0) {
      Escaped("setuid(0)");
    } else {
      Denied("setuid(0)", errno);
    }
  }
  return Finish();
}

// Opens kernel tunables for writing; never writes, so an escape does no harm.
int AttackProcSys(int, char**) {
  static const char* kPaths[] = {"/proc/sys/kernel/hostname",     "/proc/sys/vm/drop_caches",
                                 "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                                 "/proc/sysrq-trigger",           "/proc/sys/net/ipv4/ip_forward"};
  for (const char* path : kPaths) {
    char what[128];
    snprintf(what, sizeof(what), "open-wr(%s)", path);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      Escaped(what);
    } else {
      Denied(what, errno);
    }
  }
  return Finish();
}

// Forks until fork fails or `max` children exist, then kills them all.
int AttackForkBomb(int argc, char** argv) {
  int max = argc > 0 ? atoi(argv[0]) : 1000;
  if (max <= 0 || max > 8192) return Error("usage", EINVAL);
  static pid_t pids[8192];
  int n = 0, err = 0;
  for (; n < max; ++n) {
    pid_t pid = fork();
    if (pid < 0) {
      err = errno;
      break;
    }
    if (pid == 0) {
      for (;;) pause();
    }
    pids[n] = pid;
  }
  for (int i = 0; i < n; ++i) kill(pids[i], SIGKILL);
  for (int i = 0; i < n; ++i) waitpid(pids[i], nullptr, 0);
  Note("forked=%d", n);
  if (n == max) {
    Escaped("all-forks-succeeded");
  } else {
    Denied("fork", err);
  }
  return Finish();
}

// Allocates and touches `mib` MiB; an OOM kill ends it with SIGKILL and no
// output.
int AttackMemHog(int argc, char** argv) {
  long mib = argc > 0 ? atol(argv[0]) : 1024;
  for (long i = 0; i < mib; ++i) {
    void* p = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      Note("allocated=%ldMiB", i);
      Denied("mmap", errno);
      return Finish();
    }
    memset(p, 0x5a, 1 << 20);
  }
  Note("allocated=%ldMiB", mib);
  Escaped("memory-not-limited");
  return Finish();
}

// Arguments: FILE and `linger` or `exit`. Double-forks a detached grandchild
// that ignores SIGTERM/SIGHUP and appends to FILE every 10 ms forever. With
// `linger` the command then sleeps (for the timeout to kill); with `exit` it
// returns as soon as the grandchild has written once.
int Grandchild(int argc, char** argv) {
  if (argc != 2) return Error("usage", EINVAL);
  const char* file = argv[0];
  bool linger = strcmp(argv[1], "linger") == 0;
  pid_t child = fork();
  if (child < 0) return Error("fork", errno);
  if (child == 0) {
    setsid();
    pid_t grandchild = fork();
    if (grandchild != 0) _exit(grandchild > 0 ? 0 : 1);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    close(0);
    close(1);
    close(2);
    for (;;) {
      int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
      if (fd >= 0) {
        if (write(fd, "x\n", 2) != 2) {
        }
        close(fd);
      }
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, nullptr);
    }
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Error("double-fork", ECHILD);
  // Wait until the grandchild has surely run.
  for (;;) {
    struct stat st;
    if (stat(file, &st) == 0 && st.st_size > 0) break;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  dprintf(1, "GRANDCHILD started\n");
  if (!linger) return Info("grandchild left running");
  for (;;) pause();
}

// Lists every fd above 2 that is open; escaped if there is any.
int AttackFds(int, char**) {
  for (int fd = 3; fd < 65536; ++fd) {
    if (fcntl(fd, F_GETFD) == -1) continue;
    char link[64], target[512];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = '\0';
    char buf[33];
    ssize_t got = pread(fd, buf, sizeof(buf) - 1, 0);
    char what[700];
    snprintf(what, sizeof(what), "open-fd(%d,%s,readable=%zd)", fd, target, got);
    Escaped(what);
  }
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) {
    Denied("opendir(/proc/self/fd)", errno);
    return Finish();
  }
  int own = dirfd(d);
  int listed = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    ++listed;
    if (fd > 2 && fd != own) {
      char what[64];
      snprintf(what, sizeof(what), "listed-fd(%d)", fd);
      Escaped(what);
    }
  }
  closedir(d);
  Note("fds-listed=%d", listed);
  return Finish();
}

int AttackIoUring(int, char**) {
  struct io_uring_params params;
  memset(&params, 0, sizeof(params));
  long fd = syscall(SYS_io_uring_setup, 4, &params);
  if (fd >= 0) {
    Escaped("io_uring_setup");
  } else {
    Denied("io_uring_setup", errno);
  }
  return Finish();
}

int AttackUserfaultfd(int, char**) {
  // UFFD_USER_MODE_ONLY (1) is allowed to unprivileged processes.
  long fd = syscall(SYS_userfaultfd, O_CLOEXEC | 1);
  if (fd >= 0) {
    Escaped("userfaultfd(USER_MODE_ONLY)");
  } else {
    Denied("userfaultfd(USER_MODE_ONLY)", errno);
  }
  fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    Escaped("open(/dev/userfaultfd)");
  } else {
    Denied("open(/dev/userfaultfd)", errno);
  }
  return Finish();
}

// The "shocker" escape: open a file by handle, bypassing the mount view.
int AttackOpenByHandle(int, char**) {
  struct {
    struct file_handle fh;
    unsigned char bytes[128];
  } h;
  memset(&h, 0, sizeof(h));
  h.fh.handle_bytes = sizeof(h.bytes);
  int mount_id = 0;
  if (name_to_handle_at(AT_FDCWD, "/etc/passwd", &h.fh, &mount_id, 0) != 0) {
    Denied("name_to_handle_at", errno);
    // Craft a handle for inode 2 (a file system's root) as shocker does.
    memset(&h, 0, sizeof(h));
    h.fh.handle_bytes = 8;
    h.fh.handle_type = 1;  // FILEID_INO32_GEN
    uint32_t ino = 2;
    memcpy(h.fh.f_handle, &ino, sizeof(ino));
  }
  int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int fd = open_by_handle_at(root, &h.fh, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    Escaped("open_by_handle_at");
  } else {
    Denied("open_by_handle_at", errno);
  }
  return Finish();
}

char g_secret[32] = "kavach-vm-secret";

int AttackVmRead(int, char**) {
  pid_t victim = fork();
  if (victim < 0) return Error("fork", errno);
  if (victim == 0) {
    for (;;) pause();
  }
  char buf[sizeof(g_secret)];
  memset(buf, 0, sizeof(buf));
  struct iovec local = {buf, sizeof(buf)};
  struct iovec remote = {g_secret, sizeof(g_secret)};
  ssize_t n = process_vm_readv(victim, &local, 1, &remote, 1, 0);
  if (n > 0 && strcmp(buf, g_secret) == 0) {
    Escaped("process_vm_readv");
  } else if (n >= 0) {
    Note("process_vm_readv:read-%zd-unexpected-bytes", n);
    Escaped("process_vm_readv");
  } else {
    Denied("process_vm_readv", errno);
  }
  struct iovec src = {g_secret, sizeof(g_secret)};
  n = process_vm_writev(victim, &src, 1, &remote, 1, 0);
  if (n >= 0) {
    Escaped("process_vm_writev");
  } else {
    Denied("process_vm_writev", errno);
  }
  kill(victim, SIGKILL);
  waitpid(victim, nullptr, 0);
  return Finish();
}

int AttackChroot(int, char**) {
  NoteChild("chroot(/tmp)", InChild([](void*) { return ErrnoExit(chroot("/tmp")); }, nullptr));
  NoteChild("unshare(NEWUSER)+chroot(/tmp)", InChild(
                                                 [](void*) {
                                                   int err = EnterUserNamespace();
                                                   if (err != 0) return err;
                                                   return ErrnoExit(chroot("/tmp"));
                                                 },
                                                 nullptr));
  return Finish();
}

// Pushing characters into a terminal's input queue (TIOCSTI) types commands
// into the host shell that started us.
int AttackTiocsti(int, char**) {
  char c = ' ';
  int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty >= 0) {
    if (ioctl(tty, TIOCSTI, &c) == 0) {
      Escaped("TIOCSTI(/dev/tty)");
    } else {
      Denied("TIOCSTI(/dev/tty)", errno);
    }
    close(tty);
  } else {
    Denied("open(/dev/tty)", errno);
  }
  for (int fd = 0; fd <= 2; ++fd) {
    char what[32];
    snprintf(what, sizeof(what), "TIOCSTI(fd%d)", fd);
    if (ioctl(fd, TIOCSTI, &c) == 0) {
      Escaped(what);
    } else {
      Denied(what, errno);
    }
  }
  return Finish();
}

int AttackRawSocket(int, char**) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd >= 0) {
    Escaped("socket(AF_PACKET)");
    close(fd);
  } else {
    Denied("socket(AF_PACKET)", errno);
  }
  fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd >= 0) {
    Escaped("socket(AF_INET,RAW)");
    close(fd);
  } else {
    Denied("socket(AF_INET,RAW)", errno);
  }
  // With a user namespace of its own, a process owns a fresh netns and may
  // open raw sockets there (and from there attack the kernel's packet code).
  NoteChild("unshare(NEWUSER|NEWNET)+socket(AF_PACKET)",
            InChild(
                [](void*) {
                  int err = EnterUserNamespace();
                  if (err != 0) return err;
                  if (unshare(CLONE_NEWNET) != 0) return ErrnoExit(-1);
                  return ErrnoExit(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
                },
                nullptr));
  return Finish();
}

// Argument: the new host name to try.
int AttackHostname(int argc, char** argv) {
  if (argc != 1) return Error("usage", EINVAL);
  struct utsname u;
  uname(&u);
  Note("nodename=%s", u.nodename);
  if (sethostname(argv[0], strlen(argv[0])) == 0) {
    Escaped("sethostname");
  } else {
    Denied("sethostname", errno);
  }
  int fd = open("/proc/sys/kernel/hostname", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (write(fd, argv[0], strlen(argv[0])) >= 0) {
      Escaped("write(/proc/sys/kernel/hostname)");
    } else {
      Denied("write(/proc/sys/kernel/hostname)", errno);
    }
    close(fd);
  } else {
    Denied("open(/proc/sys/kernel/hostname)", errno);
  }
  return Finish();
}

// ---------------------------------------------------------------- helpers

// Argument: a file name; writes /tmp/NAME inside.
int TmpWrite(int argc, char** argv) {
  if (argc != 1) return Error("usage", EINVAL);
  char path[512];
  snprintf(path, sizeof(path), "/tmp/%s", argv[0]);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Error("create", errno);
  bool ok = write(fd, "kavach\n", 7) == 7;
  close(fd);
  struct stat st;
  if (!ok || stat(path, &st) != 0) return Error("write", errno);
  return Info("wrote %s", path);
}

// Lists every process visible in /proc as "PROC <pid> <cmdline>".
int Ps(int, char**) {
  DIR* d = opendir("/proc");
  if (d == nullptr) return Error("opendir(/proc)", errno);
  int count = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char p[300], cmdline[1024];
    snprintf(p, sizeof(p), "/proc/%s/cmdline", e->d_name);
    if (!ReadSmall(p, cmdline, sizeof(cmdline))) snprintf(cmdline, sizeof(cmdline), "?");
    dprintf(1, "PROC %s %s\n", e->d_name, cmdline);
    ++count;
  }
  closedir(d);
  return Info("count=%d", count);
}

// Argument: FILE. Writes an increasing counter to FILE every millisecond,
// forever.
int Counter(int argc, char** argv) {
  if (argc != 1) return Error("usage", EINVAL);
  int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error("open", errno);
  dprintf(1, "COUNTER started\n");
  for (unsigned long long n = 1;; ++n) {
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%020llu\n", n);
    if (pwrite(fd, buf, static_cast<size_t>(len), 0) != len) return Error("pwrite", errno);
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

int Uname(int, char**) {
  struct utsname u;
  if (uname(&u) != 0) return Error("uname", errno);
  return Info("nodename=%s", u.nodename);
}

struct Command {
  const char* name;
  int (*fn)(int, char**);
};

const Command kCommands[] = {
    {"ptrace", AttackPtrace},
    {"mount", AttackMount},
    {"fsopen", AttackFsopen},
    {"unshare", AttackUnshare},
    {"setns", AttackSetns},
    {"bpf", AttackBpf},
    {"keyctl", AttackKeyctl},
    {"perf", AttackPerf},
    {"module", AttackModule},
    {"read", AttackRead},
    {"write", AttackWrite},
    {"connect", AttackConnect},
    {"unixconnect", AttackUnixConnect},
    {"hostproc", AttackHostProc},
    {"euid", AttackEuid},
    {"procsys", AttackProcSys},
    {"forkbomb", AttackForkBomb},
    {"memhog", AttackMemHog},
    {"grandchild", Grandchild},
    {"fds", AttackFds},
    {"iouring", AttackIoUring},
    {"userfaultfd", AttackUserfaultfd},
    {"open_by_handle", AttackOpenByHandle},
    {"vmread", AttackVmRead},
    {"chroot", AttackChroot},
    {"tiocsti", AttackTiocsti},
    {"rawsock", AttackRawSocket},
    {"hostname", AttackHostname},
    {"tmpwrite", TmpWrite},
    {"ps", Ps},
    {"counter", Counter},
    {"uname", Uname},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2) {
    for (const Command& c : kCommands) {
      // START proves the binary got as far as main(): a SIGSYS after it is
      // the filter stopping the attack, not the loader failing.
      if (strcmp(argv[1], c.name) == 0) {
        dprintf(1, "START %s\n", c.name);
        return c.fn(argc - 2, argv + 2);
      }
    }
  }
  dprintf(2, "usage: kavach_attack <command> [args...]; commands:");
  for (const Command& c : kCommands) dprintf(2, " %s", c.name);
  dprintf(2, "\n");
  dprintf(1, "RESULT error usage\n");
  return 2;
}
