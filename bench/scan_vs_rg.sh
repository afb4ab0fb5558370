#!/bin/bash
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# kavach's gate scan vs ripgrep on the same file and the same secret patterns.
# Writes the benchmark corpus (KAVACH_BENCH_MB, default 100) to a temp file,
# clean and with one finding per KiB, then times, best of RUNS (default 5):
#   rg -c -f <the secrets pack's patterns> FILE   (37 patterns, one scanner)
#   kavach_scan_bench --count FILE                 (all 76 rules: secrets, code,
#        data, with RE2 confirmation and validators; rules from the database
#        cache as `kavach scan` loads them; every byte scanned, in 1 MiB outputs)
#   kavach_scan_bench --count-pack secrets FILE    (the secrets pack alone:
#        the same 37 patterns rg runs, with RE2 confirmation and validators)
#   kavach scan FILE                               (the CLI, for context: it
#        stops at 10,000 findings, so on the findings file it reads less)
# Target (issue 3): faster than rg on the same patterns, i.e. rg/kavach CPU
# time > 1 for the secrets-pack row; printed as met/MISSED for both the
# same-pattern row and the all-scanners row.
# Both wall time and CPU time (user + sys) are reported: on a shared machine
# the wall time mostly measures the other jobs, the CPU time the work done.
# Usage: bench/scan_vs_rg.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
runs=${RUNS:-5}
bench=$build/bin/kavach_scan_bench
kavach=$build/bin/kavach
[[ -x $bench ]] || { echo "missing $bench (ninja -C $build kavach_scan_bench)" >&2; exit 2; }
if [[ ! -x $kavach ]]; then
  echo "note: no $kavach (ninja -C $build kavach_cli): the CLI rows are left out" >&2
  kavach=
fi
command -v rg >/dev/null || { echo "ripgrep (rg) not installed" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The secrets pack's patterns, one per line, as rg reads them with -f.
python3 - "$root/rules/secrets.toml" > "$tmp/patterns" <<'PY'
import sys, tomllib
for r in tomllib.load(open(sys.argv[1], "rb"))["rules"]:
    print(r["pattern"])
PY

# best WALL CPU over $runs runs of "$@" (output discarded).
best_of() {
  local bw= bc=
  for _ in $(seq "$runs"); do
    local out w c
    /usr/bin/time -o "$tmp/time" -f '%e %U %S' "$@" >/dev/null 2>&1 || true
    out=$(tail -1 "$tmp/time")
    w=$(echo "$out" | awk '{print $1}')
    c=$(echo "$out" | awk '{print $2 + $3}')
    if [[ -z $bw ]] || (( $(echo "$w < $bw" | bc -l) )); then bw=$w; fi
    if [[ -z $bc ]] || (( $(echo "$c < $bc" | bc -l) )); then bc=$c; fi
  done
  echo "$bw $bc"
}
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "inf" }'; }
verdict() { echo "$1" | awk '{ print ($1 == "inf" || $1 > 1) ? "met" : "MISSED" }'; }

: > "$tmp/empty"
read -r kv0_w kv0_c < <(best_of "$bench" --count "$tmp/empty")
echo "startup (rules from the cache, empty input): wall ${kv0_w}s, cpu ${kv0_c}s"
for kind in clean finding-per-kb; do
  f=$tmp/$kind.txt
  if [[ $kind == clean ]]; then "$bench" --write-corpus "$f"; else "$bench" --write-corpus "$f" --finding-per-kb; fi
  mb=$(echo "$(stat -c %s "$f") / 1048576" | bc -l)
  n_rg=$(rg -c -f "$tmp/patterns" "$f" || true)
  n_kv=$("$bench" --count "$f")
  read -r rg_w rg_c < <(best_of rg -c -f "$tmp/patterns" "$f")
  n_sec=$("$bench" --count-pack secrets "$f")
  read -r kv_w kv_c < <(best_of "$bench" --count "$f")
  read -r sec_w sec_c < <(best_of "$bench" --count-pack secrets "$f")
  if [[ -n $kavach ]]; then read -r cli_w cli_c < <(best_of "$kavach" scan "$f"); fi
  printf '%-15s %6.1f MB  rg: %ss wall %ss cpu (%s matching lines)\n' "$kind" "$mb" "$rg_w" "$rg_c" "${n_rg:-0}"
  r_sec=$(ratio "$rg_c" "$sec_c")
  r_all=$(ratio "$rg_c" "$kv_c")
  printf '%-15s %9s  kavach, secrets pack (same patterns): %ss wall %ss cpu (%s findings)  rg/kavach: wall %s, cpu %s: %s\n' \
    "" "" "$sec_w" "$sec_c" "$n_sec" "$(ratio "$rg_w" "$sec_w")" "$r_sec" "$(verdict "$r_sec")"
  printf '%-15s %9s  kavach gate, all three scanners: %ss wall %ss cpu (%s findings)  rg/kavach: wall %s, cpu %s: %s\n' \
    "" "" "$kv_w" "$kv_c" "$n_kv" "$(ratio "$rg_w" "$kv_w")" "$r_all" "$(verdict "$r_all")"
  if [[ -n $kavach ]]; then
    printf '%-15s %9s  kavach scan (CLI): %ss wall %ss cpu  rg/kavach: wall %s, cpu %s\n' \
      "" "" "$cli_w" "$cli_c" "$(ratio "$rg_w" "$cli_w")" "$(ratio "$rg_c" "$cli_c")"
  fi
done
echo "(ratio > 1: kavach faster. Scan-only throughput per core: $bench)"
