# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# Writes OUT, a C++ file holding the default rule packs (PACKS, a
# ;-list of names, read from RULES_DIR/<name>.toml) as raw string literals, so
# an installed kavach scans without the source tree (see
# LoadDefaultRulePacks in src/scan/rule_pack.h).
# Run as: cmake -DOUT=... -DRULES_DIR=... -DPACKS=secrets,code,data -P embed.cmake
string(REPLACE "," ";" PACKS "${PACKS}")
set(names "")
set(bodies "")
foreach(pack IN LISTS PACKS)
  file(READ "${RULES_DIR}/${pack}.toml" text)
  string(FIND "${text}" ")kavach_rules\"" bad)
  if(NOT bad EQUAL -1)
    message(FATAL_ERROR "${pack}.toml contains the raw-string delimiter")
  endif()
  string(APPEND names "    \"${pack}\",\n")
  string(APPEND bodies "    R\"kavach_rules(${text})kavach_rules\",\n")
endforeach()
list(LENGTH PACKS count)
file(WRITE "${OUT}.tmp"
"// Generated from rules/*.toml by rules/embed.cmake. Do not edit.
#include <cstddef>
namespace kavach::internal {
extern const char* const kEmbeddedRulePackNames[] = {
${names}};
extern const char* const kEmbeddedRulePacks[] = {
${bodies}};
extern const size_t kEmbeddedRulePackCount = ${count};
}  // namespace kavach::internal
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
