#!/bin/bash
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# kavach scan vs ripgrep on the same file and the same secret patterns.
# Writes the benchmark corpus (KAVACH_BENCH_MB, default 100) to a temp file,
# clean and with one finding per KiB, then times:
#   rg -c -f <the secrets pack's patterns>   (37 patterns, one scanner)
#   kavach scan FILE                         (all 76 rules: secrets, code, data,
#                                             with RE2 confirmation, validators)
# and prints the ratios. Usage: bench/scan_vs_rg.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
bench=$build/bin/kavach_scan_bench
kavach=$build/bin/kavach
for b in "$bench" "$kavach"; do
  [[ -x $b ]] || { echo "missing $b (ninja -C $build kavach_scan_bench kavach_cli)" >&2; exit 2; }
done
command -v rg >/dev/null || { echo "ripgrep (rg) not installed" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The secrets pack's patterns, one per line, as rg reads them with -f.
python3 - "$root/rules/secrets.toml" > "$tmp/patterns" <<'PY'
import sys, tomllib
for r in tomllib.load(open(sys.argv[1], "rb"))["rules"]:
    print(r["pattern"])
PY

now() { date +%s.%N; }
best_of() {  # best wall time of 3 runs of "$@", output discarded
  local best=
  for _ in 1 2 3; do
    local t0 t1 d
    t0=$(now); "$@" >/dev/null 2>&1 || true; t1=$(now)
    d=$(echo "$t1 - $t0" | bc -l)
    if [[ -z $best ]] || (( $(echo "$d < $best" | bc -l) )); then best=$d; fi
  done
  echo "$best"
}

for kind in clean finding-per-kb; do
  f=$tmp/$kind.txt
  if [[ $kind == clean ]]; then "$bench" --write-corpus "$f"; else "$bench" --write-corpus "$f" --finding-per-kb; fi
  bytes=$(stat -c %s "$f")
  mb=$(echo "$bytes / 1048576" | bc -l)
  rg_t=$(best_of rg -c -f "$tmp/patterns" "$f")
  kv_t=$(best_of "$kavach" scan "$f")
  # kavach's fixed cost (rule compilation) on an empty input, for context.
  : > "$tmp/empty"
  kv0=$(best_of "$kavach" scan "$tmp/empty")
  printf '%-15s %6.1f MB  rg: %6.3fs (%7.1f MB/s)  kavach scan: %6.3fs (%7.1f MB/s, %.3fs of it startup)  rg/kavach time ratio: %.2f\n' \
    "$kind" "$mb" "$rg_t" "$(echo "$mb / $rg_t" | bc -l)" "$kv_t" "$(echo "$mb / $kv_t" | bc -l)" "$kv0" \
    "$(echo "$rg_t / $kv_t" | bc -l)"
done
echo "(ratio > 1: kavach faster. Scan-only throughput without startup: $bench)"
