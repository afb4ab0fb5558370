// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/wasm/fuel_meter.h"

#include <binaryen-c.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "linux/file_util.h"
#include "linux/strings.h"
#include "linux/unique_fd.h"

namespace kavach::internal {
namespace {

// Runs in the forked child: meters `in` and writes the binary to `out_fd`.
// Returns the child's exit code; binaryen itself may exit or abort first on
// malformed input, which the parent reports as an invalid module.
int MeterInChild(std::string_view in, int out_fd) {
  ::setenv("BINARYEN_CORES", "1", 1);  // no thread pool in a forked child
  BinaryenSetColorsEnabled(false);
  // Our own copy: BinaryenModuleRead takes a non-const buffer.
  std::string bytes(in);
  BinaryenModuleRef m = BinaryenModuleRead(bytes.data(), bytes.size());
  if (m == nullptr) return 3;
  // Accept what current compilers emit (sign-ext, bulk memory, ...): the
  // engine, not the meter, decides which features run.
  BinaryenModuleSetFeatures(m, BinaryenFeatureAll());
  if (!BinaryenModuleValidate(m)) {
    std::fputs("module does not validate\n", stderr);
    return 4;
  }
  if (BinaryenGetGlobal(m, kFuelGlobal) != nullptr || BinaryenGetExport(m, kFuelGlobal)) {
    std::fprintf(stderr, "module already defines %s\n", kFuelGlobal);
    return 5;
  }
  if (BinaryenGetFunction(m, "log_execution") != nullptr) {
    std::fputs("module already has a function named log_execution\n", stderr);
    return 5;
  }
  const char* log_pass[] = {"log-execution"};
  BinaryenModuleRunPasses(m, log_pass, 1);
  BinaryenFunctionRef hook = BinaryenGetFunction(m, "log_execution");
  if (hook == nullptr || std::strcmp(BinaryenFunctionImportGetModule(hook), "env") != 0) {
    std::fputs("log-execution pass did not add env.log_execution\n", stderr);
    return 6;
  }
  // Replace the import the pass added with the charge itself.
  BinaryenRemoveFunction(m, "log_execution");
  BinaryenAddGlobal(m, kFuelGlobal, BinaryenTypeInt64(), /*mutable=*/true,
                    BinaryenConst(m, BinaryenLiteralInt64(0)));
  BinaryenAddGlobalExport(m, kFuelGlobal, kFuelGlobal);
  BinaryenExpressionRef check = BinaryenIf(
      m,
      BinaryenUnary(m, BinaryenEqZInt64(), BinaryenGlobalGet(m, kFuelGlobal, BinaryenTypeInt64())),
      BinaryenUnreachable(m), nullptr);
  BinaryenExpressionRef charge = BinaryenGlobalSet(
      m, kFuelGlobal,
      BinaryenBinary(m, BinaryenSubInt64(), BinaryenGlobalGet(m, kFuelGlobal, BinaryenTypeInt64()),
                     BinaryenConst(m, BinaryenLiteralInt64(1))));
  BinaryenExpressionRef body[] = {check, charge};
  BinaryenAddFunction(m, "log_execution", BinaryenTypeInt32(), BinaryenTypeNone(), nullptr, 0,
                      BinaryenBlock(m, nullptr, body, 2, BinaryenTypeNone()));
  if (!BinaryenModuleValidate(m)) {
    std::fputs("metered module does not validate\n", stderr);
    return 7;
  }
  // Inline the charge at every site; plain `inlining` (no re-optimisation) is
  // ~8x cheaper to run than inlining-optimizing and as fast at run time.
  BinaryenSetOptimizeLevel(2);
  BinaryenSetShrinkLevel(0);
  BinaryenSetAlwaysInlineMaxSize(20);
  const char* inline_pass[] = {"inlining"};
  BinaryenModuleRunPasses(m, inline_pass, 1);
  BinaryenModuleAllocateAndWriteResult r = BinaryenModuleAllocateAndWrite(m, nullptr);
  absl::Status w =
      sys::WriteAll(out_fd, std::string_view(static_cast<const char*>(r.binary), r.binaryBytes));
  std::free(r.binary);
  BinaryenModuleDispose(m);
  return w.ok() ? 0 : 8;
}

absl::StatusOr<std::string> ReadAllFd(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys::ErrnoStatus(errno, "read");
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", md[i]);
  return hex;
}

absl::StatusOr<std::string> MeterModule(std::string_view wasm) {
  static constexpr char kMagic[] = {'\0', 'a', 's', 'm', 1, 0, 0, 0};
  if (wasm.size() < sizeof kMagic || std::memcmp(wasm.data(), kMagic, sizeof kMagic) != 0) {
    return absl::InvalidArgumentError(
        "not a WebAssembly binary module (missing \\0asm version 1 header)");
  }
  absl::StatusOr<sys::Pipe> out = sys::MakePipe();
  if (!out.ok()) return out.status();
  absl::StatusOr<sys::Pipe> err = sys::MakePipe();
  if (!err.ok()) return err.status();
  pid_t pid = ::fork();
  if (pid < 0) return sys::ErrnoStatus(errno, "fork for the fuel meter");
  if (pid == 0) {
    // Bound what a hostile module can make binaryen do.
    struct rlimit cpu = {60, 60};
    ::setrlimit(RLIMIT_CPU, &cpu);
    ::dup2(err->write.get(), STDERR_FILENO);
    ::dup2(err->write.get(), STDOUT_FILENO);
    out->read.Reset();
    err->read.Reset();
    int rc = MeterInChild(wasm, out->write.get());
    std::fflush(stderr);
    ::_exit(rc);
  }
  out->write.Reset();
  err->write.Reset();
  absl::StatusOr<std::string> bytes = ReadAllFd(out->read.get());
  absl::StatusOr<std::string> diag = ReadAllFd(err->read.get());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return sys::ErrnoStatus(errno, "waitpid fuel meter");
  }
  if (!bytes.ok()) return bytes.status();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string why = diag.ok() ? *diag : "";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    if (why.size() > 400) why.resize(400);
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid WebAssembly module: fuel metering failed (",
                     WIFEXITED(status) ? absl::StrCat("exit ", WEXITSTATUS(status))
                                       : absl::StrCat("signal ", WTERMSIG(status)),
                     why.empty() ? "" : ": ", why, ")"));
  }
  return *std::move(bytes);
}

absl::StatusOr<std::string> MeteredModulePath(const std::string& module_path,
                                              const std::string& cache_dir) {
  absl::StatusOr<std::string> wasm = sys::ReadFile(module_path);
  if (!wasm.ok()) return wasm.status();
  if (::mkdir(cache_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return sys::ErrnoStatus(errno, absl::StrCat("mkdir ", cache_dir));
  }
  std::string path =
      absl::StrCat(cache_dir, "/", Sha256Hex(*wasm), ".", kFuelMeterVersion, ".wasm");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return path;
  absl::StatusOr<std::string> metered = MeterModule(*wasm);
  if (!metered.ok()) return metered.status();
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid(), ".", ::gettid());
  if (absl::Status s = sys::WriteFile(tmp, *metered, 0644); !s.ok()) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return sys::ErrnoStatus(e, absl::StrCat("rename ", tmp));
  }
  return path;
}

}  // namespace kavach::internal
