// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "backend/wasm/fuel_meter.h"

#include <binaryen-c.h>
#include <dlfcn.h>
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
// libbinaryen is loaded only here, in the meter's child process: linked
// into kavach it cost every command's start-up more than the rest of the
// dynamic loading together (17k symbol relocations and its static
// initialisers), for a library only the first run of a new module needs.
#define KAVACH_BINARYEN_FUNCTIONS(X) \
  X(BinaryenAddFunction)             \
  X(BinaryenAddGlobal)               \
  X(BinaryenAddGlobalExport)         \
  X(BinaryenBinary)                  \
  X(BinaryenBlock)                   \
  X(BinaryenConst)                   \
  X(BinaryenEqZInt64)                \
  X(BinaryenFeatureAll)              \
  X(BinaryenFunctionImportGetModule) \
  X(BinaryenGetExport)               \
  X(BinaryenGetFunction)             \
  X(BinaryenGetGlobal)               \
  X(BinaryenGlobalGet)               \
  X(BinaryenGlobalSet)               \
  X(BinaryenIf)                      \
  X(BinaryenLiteralInt64)            \
  X(BinaryenModuleAllocateAndWrite)  \
  X(BinaryenModuleDispose)           \
  X(BinaryenModuleRead)              \
  X(BinaryenModuleRunPasses)         \
  X(BinaryenModuleSetFeatures)       \
  X(BinaryenModuleValidate)          \
  X(BinaryenRemoveFunction)          \
  X(BinaryenSetAlwaysInlineMaxSize)  \
  X(BinaryenSetColorsEnabled)        \
  X(BinaryenSetOptimizeLevel)        \
  X(BinaryenSetShrinkLevel)          \
  X(BinaryenSubInt64)                \
  X(BinaryenTypeInt32)               \
  X(BinaryenTypeInt64)               \
  X(BinaryenTypeNone)                \
  X(BinaryenUnary)                   \
  X(BinaryenUnreachable)

struct BinaryenApi {
#define KAVACH_BINARYEN_POINTER(name) decltype(&::name) name;
  KAVACH_BINARYEN_FUNCTIONS(KAVACH_BINARYEN_POINTER)
#undef KAVACH_BINARYEN_POINTER
};

// Fills `api` from Debian's libbinaryen; false (with the reason on stderr)
// when the library or one of its functions is missing.
bool LoadBinaryen(BinaryenApi& api) {
  void* lib = ::dlopen("libbinaryen.so", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::fprintf(stderr, "cannot load libbinaryen.so (package binaryen): %s\n", ::dlerror());
    return false;
  }
#define KAVACH_BINARYEN_LOAD(name)                                              \
  api.name = reinterpret_cast<decltype(api.name)>(::dlsym(lib, #name));         \
  if (api.name == nullptr) {                                                    \
    std::fprintf(stderr, "libbinaryen.so has no %s: %s\n", #name, ::dlerror()); \
    return false;                                                               \
  }
  KAVACH_BINARYEN_FUNCTIONS(KAVACH_BINARYEN_LOAD)
#undef KAVACH_BINARYEN_LOAD
  return true;
}

int MeterInChild(std::string_view in, int out_fd) {
  ::setenv("BINARYEN_CORES", "1", 1);  // no thread pool in a forked child
  BinaryenApi api;
  if (!LoadBinaryen(api)) return 9;
  api.BinaryenSetColorsEnabled(false);
  // Our own copy: BinaryenModuleRead takes a non-const buffer.
  std::string bytes(in);
  BinaryenModuleRef m = api.BinaryenModuleRead(bytes.data(), bytes.size());
  if (m == nullptr) return 3;
  // Accept what current compilers emit (sign-ext, bulk memory, ...): the
  // engine, not the meter, decides which features run.
  api.BinaryenModuleSetFeatures(m, api.BinaryenFeatureAll());
  if (!api.BinaryenModuleValidate(m)) {
    std::fputs("module does not validate\n", stderr);
    return 4;
  }
  if (api.BinaryenGetGlobal(m, kFuelGlobal) != nullptr || api.BinaryenGetExport(m, kFuelGlobal)) {
    std::fprintf(stderr, "module already defines %s\n", kFuelGlobal);
    return 5;
  }
  if (api.BinaryenGetFunction(m, "log_execution") != nullptr) {
    std::fputs("module already has a function named log_execution\n", stderr);
    return 5;
  }
  const char* log_pass[] = {"log-execution"};
  api.BinaryenModuleRunPasses(m, log_pass, 1);
  BinaryenFunctionRef hook = api.BinaryenGetFunction(m, "log_execution");
  if (hook == nullptr || std::strcmp(api.BinaryenFunctionImportGetModule(hook), "env") != 0) {
    std::fputs("log-execution pass did not add env.log_execution\n", stderr);
    return 6;
  }
  // Replace the import the pass added with the charge itself.
  api.BinaryenRemoveFunction(m, "log_execution");
  api.BinaryenAddGlobal(m, kFuelGlobal, api.BinaryenTypeInt64(), /*mutable=*/true,
                        api.BinaryenConst(m, api.BinaryenLiteralInt64(0)));
  api.BinaryenAddGlobalExport(m, kFuelGlobal, kFuelGlobal);
  BinaryenExpressionRef check = api.BinaryenIf(
      m,
      api.BinaryenUnary(m, api.BinaryenEqZInt64(),
                        api.BinaryenGlobalGet(m, kFuelGlobal, api.BinaryenTypeInt64())),
      api.BinaryenUnreachable(m), nullptr);
  BinaryenExpressionRef charge = api.BinaryenGlobalSet(
      m, kFuelGlobal,
      api.BinaryenBinary(m, api.BinaryenSubInt64(),
                         api.BinaryenGlobalGet(m, kFuelGlobal, api.BinaryenTypeInt64()),
                         api.BinaryenConst(m, api.BinaryenLiteralInt64(1))));
  BinaryenExpressionRef body[] = {check, charge};
  api.BinaryenAddFunction(m, "log_execution", api.BinaryenTypeInt32(), api.BinaryenTypeNone(),
                          nullptr, 0,
                          api.BinaryenBlock(m, nullptr, body, 2, api.BinaryenTypeNone()));
  if (!api.BinaryenModuleValidate(m)) {
    std::fputs("metered module does not validate\n", stderr);
    return 7;
  }
  // Inline the charge at every site; plain `inlining` (no re-optimisation) is
  // ~8x cheaper to run than inlining-optimizing and as fast at run time.
  api.BinaryenSetOptimizeLevel(2);
  api.BinaryenSetShrinkLevel(0);
  api.BinaryenSetAlwaysInlineMaxSize(20);
  const char* inline_pass[] = {"inlining"};
  api.BinaryenModuleRunPasses(m, inline_pass, 1);
  BinaryenModuleAllocateAndWriteResult r = api.BinaryenModuleAllocateAndWrite(m, nullptr);
  absl::Status w =
      sys::WriteAll(out_fd, std::string_view(static_cast<const char*>(r.binary), r.binaryBytes));
  std::free(r.binary);
  api.BinaryenModuleDispose(m);
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
    if (WIFEXITED(status) && WEXITSTATUS(status) == 9) {
      return absl::FailedPreconditionError(
          absl::StrCat("wasm.fuel: the fuel meter is unavailable: ", why));
    }
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
