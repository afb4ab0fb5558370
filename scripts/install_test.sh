#!/bin/bash
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# Installs a kavach build tree into a temporary prefix and builds a small
# consumer project against it with find_package(kavach), then runs it.
#
#   scripts/install_test.sh BUILD_DIR [SANITIZE]
# SANITIZE is the build's KAVACH_SANITIZE ("address,undefined", ...): a
# consumer of a sanitized libkavach must be built with the same flags.
set -euo pipefail

build="$(cd "$1" && pwd)"
sanitize="${2:-}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
prefix="${work}/prefix"

fail() { echo "install_test: FAIL: $*" >&2; exit 1; }

cmake --install "${build}" --prefix "${prefix}" >"${work}/install.log" \
  || { cat "${work}/install.log"; fail "cmake --install"; }

[[ -f "${prefix}/include/kavach/kavach.h" ]] || fail "include/kavach/kavach.h not installed"
[[ -x "${prefix}/bin/kavach" ]] || fail "bin/kavach not installed"
lib="$(find "${prefix}" -name 'libkavach.so*' -type f | head -n1)"
[[ -n "${lib}" ]] || fail "libkavach.so not installed"
config="$(find "${prefix}" -name kavachConfig.cmake | head -n1)"
[[ -n "${config}" ]] || fail "kavachConfig.cmake not installed"
# Only public headers: nothing from src/ may leak into the install.
headers="$(find "${prefix}/include" -name '*.h')"
if [[ -n "$(grep -v '/include/kavach/' <<<"${headers}")" ]]; then
  fail "non-public headers installed"
fi

version="$("${prefix}/bin/kavach" --version)" || fail "installed kavach --version exited $?"
grep -q '^kavach ' <<<"${version}" || fail "installed kavach --version printed '${version}'"

mkdir -p "${work}/consumer"
cat >"${work}/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(kavach_consumer LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(kavach 0.1 REQUIRED)
add_executable(consumer main.cc)
target_link_libraries(consumer PRIVATE kavach::kavach)
CMAKE
cat >"${work}/consumer/main.cc" <<'CC'
#include <iostream>
#include "kavach/kavach.h"
int main() {
  auto kind = kavach::ParseBackendKind("PROCESS");
  if (!kind.ok()) return 1;
  kavach::StrengthScore s = kavach::DeclaredScore(*kind, kavach::SandboxPolicy::Strict());
  std::cout << kavach::BackendKindName(*kind) << " " << kavach::BaseScore(*kind) << " "
            << s.value << "\n";
  return 0;
}
CC

flags=""
[[ -n "${sanitize}" ]] && flags="-fsanitize=${sanitize} -fno-omit-frame-pointer"
cmake -S "${work}/consumer" -B "${work}/consumer/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="${prefix}" -DCMAKE_CXX_FLAGS="${flags}" \
  >"${work}/configure.log" 2>&1 || { cat "${work}/configure.log"; fail "consumer configure"; }
cmake --build "${work}/consumer/build" >"${work}/build.log" 2>&1 \
  || { cat "${work}/build.log"; fail "consumer build"; }

out="$("${work}/consumer/build/consumer")" || fail "consumer exited $?"
declared="$("${prefix}/bin/kavach" score --backend process --policy strict --json |
  sed -n 's/.*"value":\([0-9]*\).*/\1/p')"
expected="process 50 ${declared}"
[[ "${out}" == "${expected}" ]] || fail "consumer printed '${out}', want '${expected}'"
# The consumer must have used the installed library, not the build tree's.
# (ldd's output is taken whole first: with pipefail, `ldd | grep -q` fails
# whenever grep exits at its match before ldd has written everything.)
libs="$(ldd "${work}/consumer/build/consumer")"
grep -qF "${prefix}" <<<"${libs}" || fail "consumer is not linked against the installed libkavach"
echo "install_test: OK (${out})"
