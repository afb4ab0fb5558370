#!/bin/bash
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# Link launcher for the kavach CLI (RULE_LAUNCH_LINK): runs the link command
# CMake wrote, with the shared libraries named below swapped for their static
# archives where Debian ships one (abseil, Hyperscan, RE2, libseccomp, libcap,
# OpenSSL, liblzma), inside one --start-group so their order does not matter.
#
# Why: every `kavach` command pays the dynamic loader before main(). With ~40
# shared objects that was 12.3M instructions (callgrind on `kavach --version`),
# nearly all of it symbol lookups for relocations; with these archives it is
# 2.3M. libkavach.so and the tests are not affected. libstdc++ and libgcc are
# static too (-static-libstdc++ -static-libgcc in src/cli/CMakeLists.txt; toml++
# is compiled in header-only, so no shared library needs them): `kavach
# --version` then runs 0.66M instructions instead of 2.7M, and ld.so maps only
# libc and libm.
set -euo pipefail
static_names='^lib(absl_[a-z0-9_]+|hs|re2|seccomp|cap|crypto|ssl|lzma)$'
out=()
first=-1
last=-1
for arg in "$@"; do
  if [[ "${arg}" == /*.so* ]]; then
    dir="${arg%/*}"
    base="${arg##*/}"
    name="${base%%.so*}"
    if [[ "${name}" =~ ${static_names} && -f "${dir}/${name}.a" ]]; then
      [[ ${first} -lt 0 ]] && first=${#out[@]}
      out+=("${dir}/${name}.a")
      last=$(( ${#out[@]} - 1 ))
      continue
    fi
  fi
  out+=("${arg}")
done
if [[ ${first} -ge 0 ]]; then
  out=("${out[@]:0:first}" -Wl,--start-group "${out[@]:first:last-first+1}" -Wl,--end-group
       "${out[@]:last+1}")
fi
exec "${out[@]}"
