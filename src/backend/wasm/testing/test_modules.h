// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// Test helper: builds the WASM backend's C test modules
// (src/backend/wasm/testdata/*.c) with clang --target=wasm32-wasi (Debian's
// clang, wasi-libc and libclang-rt-*-dev-wasm32). Each is built once per
// source digest into a private cache directory, so the many test processes
// ctest starts share one build.
//
//   absl::StatusOr<std::string> hello = testing::WasmTestModule("hello");
//   if (absl::IsUnavailable(hello.status())) GTEST_SKIP() << hello.status();
#ifndef KAVACH_BACKEND_WASM_TESTING_TEST_MODULES_H_
#define KAVACH_BACKEND_WASM_TESTING_TEST_MODULES_H_

#include <glob.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "backend/wasm/fuel_meter.h"
#include "linux/file_util.h"

extern char** environ;

namespace kavach::internal::testing {

// The path of testdata/NAME.c built as a WASI command module. Unavailable
// when the toolchain is not installed (the caller skips); any other error is
// a real failure.
inline absl::StatusOr<std::string> WasmTestModule(const std::string& name) {
  std::string src = absl::StrCat(KAVACH_SOURCE_DIR, "/src/backend/wasm/testdata/", name, ".c");
  absl::StatusOr<std::string> text = sys::ReadFile(src);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> clang = sys::FindInPath("clang");
  if (!clang.ok()) return absl::UnavailableError("clang not installed");
  if (::access("/usr/include/wasm32-wasi/stdio.h", R_OK) != 0) {
    return absl::UnavailableError("wasi-libc not installed (/usr/include/wasm32-wasi)");
  }
  glob_t g;
  bool have_rt = ::glob("/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a", 0,
                        nullptr, &g) == 0;
  if (have_rt) ::globfree(&g);
  if (!have_rt) return absl::UnavailableError("libclang-rt-*-dev-wasm32 not installed");
  std::string dir = absl::StrCat("/tmp/kavach-wasm-testmodules-", ::geteuid());
  ::mkdir(dir.c_str(), 0755);
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 022) != 0) {
    return absl::PermissionDeniedError(dir + " is not a directory private to us");
  }
  std::string out = absl::StrCat(dir, "/", name, "-", Sha256Hex(*text).substr(0, 16), ".wasm");
  if (::access(out.c_str(), R_OK) == 0) return out;
  std::string tmp = absl::StrCat(out, ".tmp", ::getpid());
  std::vector<std::string> argv = {
      *clang, "--target=wasm32-wasi", "-O2", "-Wall", "-Werror", "-o", tmp, src};
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid;
  if (::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) {
    return absl::InternalError("cannot run clang");
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("clang --target=wasm32-wasi failed for ", src, " (its stderr says why)"));
  }
  ::chmod(tmp.c_str(), 0644);
  if (::rename(tmp.c_str(), out.c_str()) != 0) return sys::ErrnoStatus(errno, out);
  return out;
}

}  // namespace kavach::internal::testing

#endif  // KAVACH_BACKEND_WASM_TESTING_TEST_MODULES_H_
