// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// kavach-oci-probe: the first process of a one-command OCI or gVisor
// container (`kavach exec --backend oci|gvisor`, SandboxConfig::single_exec).
// The runtime starts it with exactly the process attributes a command gets
// (user, capabilities, no_new_privs, seccomp, rlimits, namespaces, root), so
// what it sees of itself is the evidence for the command:
//
//   1. it writes a report of what it sees (the same sections as the shell
//      probe of a prepared container, backend/oci/oci_backend.cc) to stderr,
//      framed as "KAVACH-PROBE1 <length>\n" + <length> bytes;
//   2. it reads the command from stdin, framed as "KAVACH-GO <length>\n"
//      (the length in ten zero-padded digits, so the header is one read) +
//      NUL-separated fields: cwd, argc, argv..., envc, env...; kavach sends it
//      only after the report has been verified, so a control that is not in
//      force stops the command before it starts (stdin closed: exit 125);
//   3. OCI (crun, runc): it spawns the command (vfork: the child inherits
//      every attribute, and stdin after the frame) and stays pid 1 of the
//      container, because Linux protects a pid namespace's init from the
//      signals it sends itself (a command's `kill -TERM $$` must end it): it
//      reaps orphans and exits with the command's status (128+N when killed
//      by signal N). gVisor: it execs the command in its own place (see main),
//      which saves a task, and exit and signal statuses stay the same.
//
// The report is written before any byte of the command's: the command cannot
// forge it. Statically linked, libc only, so that it runs on any root.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

constexpr size_t kMaxCommandBytes = 4 << 20;
// "KAVACH-GO " + ten digits + "\n".
constexpr size_t kHeaderBytes = 21;

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// The whole of a /proc file, or "" when it cannot be read. Few system
// calls, as each one is a trap into gVisor's Sentry (~36 us with its ptrace
// platform): the fd is not closed (O_CLOEXEC: exec closes it, and the fds
// are listed before any is opened), and with `short_read_ends` a short read
// ends the file (gVisor's procfs fills the buffer up to the file's end;
// Linux's seq_file may stop at a page with more to come).
std::string ReadFile(const char* path, bool short_read_ends = false) {
  std::string out;
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[16384];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (short_read_ends && static_cast<size_t>(n) < sizeof buf) break;
  }
  return out;
}

// Appends `text` as a section: newline-terminated, then the separator.
void Section(std::string& report, const std::string& text, bool last = false) {
  report += text;
  if (!text.empty() && text.back() != '\n') report += '\n';
  if (!last) report += "@@\n";
}

// This process's open fds, one a line (the directory's own fd left out);
// `min` drops the lower ones.
std::string OpenFds(int min) {
  std::string out;
  // getdents64 on the directory's fd: opendir would add an fstat.
  const int own = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (own < 0) return "unreadable\n";
  alignas(8) char buf[8192];
  while (true) {
    const long n = ::syscall(SYS_getdents64, own, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const auto* e = reinterpret_cast<const struct dirent64*>(buf + off);
      off += e->d_reclen;
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      const int fd = atoi(e->d_name);
      if (fd == own || fd < min) continue;
      out += e->d_name;
      out += '\n';
    }
  }
  ::close(own);
  return out;
}

std::string Namespaces() {
  std::string out;
  for (const char* ns : {"user", "pid", "mnt", "ipc", "uts", "cgroup", "net"}) {
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/self/ns/%s", ns);
    ssize_t n = ::readlink(path, buf, sizeof buf - 1);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    out += '\n';
  }
  return out;
}

std::string OciReport() {
  // The fds first: ReadFile leaves its own open.
  const std::string fds = OpenFds(0);
  std::string r;
  Section(r, ReadFile("/proc/self/status"));
  Section(r, Namespaces());
  Section(r, ReadFile("/proc/self/mountinfo"));
  struct stat st;
  char line[256] = "";
  if (::stat("/", &st) == 0) {
    snprintf(line, sizeof line, "%llu:%llu\n", static_cast<unsigned long long>(st.st_dev),
             static_cast<unsigned long long>(st.st_ino));
  }
  Section(r, line);
  Section(r, fds);
  Section(r, ReadFile("/proc/net/dev"));
  std::string masked;
  for (const char* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list"}) {
    if (::stat(p, &st) != 0) continue;
    snprintf(line, sizeof line, "%s %x:%x\n", p, major(st.st_rdev), minor(st.st_rdev));
    masked += line;
  }
  Section(r, masked);
  snprintf(line, sizeof line, "%u\n", static_cast<unsigned>(::geteuid()));
  Section(r, line, /*last=*/true);
  return r;
}

std::string GVisorReport() {
  const std::string fds = OpenFds(3);  // first: ReadFile leaves its own open
  std::string r;
  Section(r, ReadFile("/proc/self/status", true));
  Section(r, ReadFile("/proc/version", true));
  Section(r, ReadFile("/proc/self/mountinfo", true));
  Section(r, fds);
  Section(r, ReadFile("/proc/net/dev", true));
  char line[64];
  snprintf(line, sizeof line, "%u\n", static_cast<unsigned>(::geteuid()));
  Section(r, line);
  int nnp = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (nnp < 0) {
    Section(r, "unknown", /*last=*/true);
  } else {
    snprintf(line, sizeof line, "%d\n", nnp);
    Section(r, line, /*last=*/true);
  }
  return r;
}

// Reads exactly n bytes from stdin; false on EOF or error.
bool ReadExact(char* p, size_t n) {
  while (n > 0) {
    ssize_t got = ::read(0, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

[[noreturn]] void Fail(const char* what) {
  std::string msg = std::string("kavach-oci-probe: ") + what + "\n";
  WriteAll(2, msg.data(), msg.size());
  _exit(125);
}

// Where argv[0] may be, in order: itself when it holds a slash, else each
// directory of the command's own PATH (as the runtimes resolve it).
std::vector<std::string> Candidates(const std::vector<char*>& argv,
                                    const std::vector<char*>& envp) {
  const char* file = argv[0];
  std::vector<std::string> candidates;
  if (strchr(file, '/') != nullptr) {
    candidates.push_back(file);
    return candidates;
  }
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (char* e : envp) {
    if (e != nullptr && strncmp(e, "PATH=", 5) == 0) path = e + 5;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + file);
    start = end + 1;
  }
  return candidates;
}

// Execs each candidate in turn; returns (only on failure) the errno that
// explains it: the first one other than "not there".
int ExecEach(const std::vector<const char*>& paths, const std::vector<char*>& argv,
             const std::vector<char*>& envp) {
  int first_error = ENOENT;
  for (const char* p : paths) {
    ::execve(p, argv.data(), envp.data());
    if (errno != ENOENT && errno != ENOTDIR && first_error == ENOENT) first_error = errno;
  }
  return first_error;
}

// Replaces this process with the command; returns the errno when it cannot.
int ExecCommand(const std::vector<char*>& argv, const std::vector<char*>& envp) {
  const std::vector<std::string> candidates = Candidates(argv, envp);
  std::vector<const char*> paths;
  for (const std::string& c : candidates) paths.push_back(c.c_str());
  return ExecEach(paths, argv, envp);
}

// Starts the command as a child; its pid, or -1 with errno set as exec
// failed. vfork, not posix_spawn: glibc's posix_spawn tries clone3 first and
// falls back only on ENOSYS, which a seccomp profile may not return. The
// child only calls execve and _exit (the candidates are built beforehand).
pid_t Spawn(const std::vector<char*>& argv, const std::vector<char*>& envp) {
  const std::vector<std::string> candidates = Candidates(argv, envp);
  std::vector<const char*> paths;
  for (const std::string& c : candidates) paths.push_back(c.c_str());
  volatile int exec_error = 0;
  const pid_t pid = ::vfork();
  if (pid == 0) {
    exec_error = ExecEach(paths, argv, envp);
    _exit(127);
  }
  if (pid < 0) return -1;
  if (exec_error != 0) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    errno = exec_error;
    return -1;
  }
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || (strcmp(argv[1], "oci") != 0 && strcmp(argv[1], "gvisor") != 0)) {
    Fail("usage: kavach-oci-probe oci|gvisor (started by kavach, not by hand)");
  }
  const bool gvisor = strcmp(argv[1], "gvisor") == 0;
  const std::string report = gvisor ? GVisorReport() : OciReport();
  char head[64];
  int hn = snprintf(head, sizeof head, "KAVACH-PROBE1 %zu\n", report.size());
  const std::string framed = std::string(head, static_cast<size_t>(hn)) + report;  // one write
  if (!WriteAll(2, framed.data(), framed.size())) {
    _exit(125);
  }

  // The verdict: a command, or EOF (kavach refused the sandbox). The header
  // has a fixed size, so nothing after it (the command's stdin) is consumed.
  char header[kHeaderBytes + 1] = {};
  if (!ReadExact(header, kHeaderBytes)) _exit(125);
  if (memcmp(header, "KAVACH-GO ", 10) != 0 || header[kHeaderBytes - 1] != '\n') {
    Fail("bad command frame");
  }
  size_t len = 0;
  for (size_t i = 10; i < kHeaderBytes - 1; ++i) {
    if (header[i] < '0' || header[i] > '9') Fail("bad command length");
    len = len * 10 + static_cast<size_t>(header[i] - '0');
  }
  if (len == 0 || len > kMaxCommandBytes) Fail("bad command length");
  std::string frame(len, '\0');
  if (!ReadExact(frame.data(), len)) _exit(125);
  std::vector<std::string> fields;
  for (size_t pos = 0; pos < frame.size();) {
    size_t nul = frame.find('\0', pos);
    if (nul == std::string::npos) Fail("unterminated command field");
    fields.push_back(frame.substr(pos, nul - pos));
    pos = nul + 1;
  }
  size_t i = 0;
  auto next = [&]() -> std::string& {
    if (i >= fields.size()) Fail("short command frame");
    return fields[i++];
  };
  const std::string cwd = next();
  std::vector<char*> cargv, cenv;
  for (long n = strtol(next().c_str(), nullptr, 10); n > 0; --n) cargv.push_back(next().data());
  for (long n = strtol(next().c_str(), nullptr, 10); n > 0; --n) cenv.push_back(next().data());
  if (cargv.empty()) Fail("empty argv");
  cargv.push_back(nullptr);
  cenv.push_back(nullptr);
  if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
    std::string msg = "kavach: cwd " + cwd + ": " + strerror(errno) + "\n";
    WriteAll(2, msg.data(), msg.size());
    _exit(126);
  }

  if (gvisor) {
    // Under gVisor the command replaces the probe: no second task, and the
    // probe's address space is released before the command's is built (with
    // the ptrace platform each live address space is a host stub process, so
    // a spawned command would cost a new one). gVisor gives its init no
    // signal protection (a `kill -TERM $$` still ends it) and `runsc run`
    // reports its exit status as for a child, so nothing observable changes.
    const int err = ExecCommand(cargv, cenv);
    std::string msg = std::string("kavach: ") + cargv[0] + ": " + strerror(err) + "\n";
    WriteAll(2, msg.data(), msg.size());
    _exit(err == ENOENT ? 127 : 126);
  }
  const pid_t child = Spawn(cargv, cenv);
  if (child < 0) {
    // Exec-time failures look like a shell's (and the Process backend's).
    const int err = errno;
    std::string msg = std::string("kavach: ") + cargv[0] + ": " + strerror(err) + "\n";
    WriteAll(2, msg.data(), msg.size());
    _exit(err == ENOENT ? 127 : 126);
  }
  // Our stdio belongs to the command now; pid 1 only reaps.
  ::close(0);
  while (true) {
    int status = 0;
    pid_t w = ::wait(&status);
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(125);
    }
    if (w != child) continue;
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    _exit(128 + WTERMSIG(status));
  }
}
