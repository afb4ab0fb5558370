#!/bin/bash
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# Whole-command start-up, measured with hyperfine in one run (issue 2, §7):
#   (d) kavach exec --policy strict -- /bin/true      (the issue's command: gate on)
#   (d') kavach exec --policy strict --no-gate -- /bin/true
#   (e) bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true
#       (Debian's bubblewrap, which enforces less: no seccomp, no Landlock,
#       no cgroup limits, the whole host root visible)
#   and /bin/true alone for scale. Prints d/e (target <= 1) and d'/e.
#
#   bench/whole_command.sh [BUILD_DIR] [RUNS]      (default build, 200)
set -euo pipefail

build="${1:-build}"
runs="${2:-200}"
kavach="${build}/bin/kavach"
[[ -x "${kavach}" ]] || { echo "whole_command: ${kavach} not built" >&2; exit 1; }
for tool in hyperfine bwrap python3; do
  command -v "${tool}" >/dev/null || { echo "whole_command: ${tool} missing (scripts/bootstrap)" >&2; exit 1; }
done

# Fail early and clearly if kavach cannot run the command at all.
"${kavach}" exec --policy strict --no-gate -- /bin/true \
  || { echo "whole_command: kavach exec failed (status $?)" >&2; exit 1; }

out="$(mktemp)"
trap 'rm -f "${out}"' EXIT
hyperfine -N --warmup 10 --runs "${runs}" --export-json "${out}" \
  -n "d: kavach exec strict" "${kavach} exec --policy strict -- /bin/true" \
  -n "d': kavach exec strict --no-gate" "${kavach} exec --policy strict --no-gate -- /bin/true" \
  -n "e: bwrap --unshare-all" "bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true" \
  -n "/bin/true" "/bin/true"

python3 - "${out}" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
d = r["d: kavach exec strict"]["median"]
dn = r["d': kavach exec strict --no-gate"]["median"]
e = r["e: bwrap --unshare-all"]["median"]
t = r["/bin/true"]["median"]
print(f"\nmedians: kavach {d*1e3:.2f} ms (--no-gate {dn*1e3:.2f} ms), bwrap {e*1e3:.2f} ms, /bin/true {t*1e3:.2f} ms")
print(f"d/e   {d/e:6.2f}   (target <= 1.0: {'met' if d/e <= 1.0 else 'MISSED'})")
print(f"d'/e  {dn/e:6.2f}   (the same without the output gate)")
PY

# Where d' goes beyond e: the steps kavach reports for each sandbox it makes
# (kavach exec --json: create_setup), medians over the same number of runs,
# grouped into the controls bwrap does not apply and the rest (the same kind
# of work as bwrap's: namespaces, the root, pivot_root, the command's exec).
steps="$(mktemp)"
trap 'rm -f "${out}" "${steps}"' EXIT
for _ in $(seq "${runs}"); do
  "${kavach}" exec --policy strict --no-gate --json -- /bin/true >>"${steps}"
  echo >>"${steps}"
done
python3 - "${out}" "${steps}" <<'PY'
import json, statistics, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
dn = r["d': kavach exec strict --no-gate"]["median"] * 1e3
e = r["e: bwrap --unshare-all"]["median"] * 1e3
runs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
per = {}
for run in runs:
    for s in run["create_setup"] + run.get("setup", []):
        per.setdefault(s["step"], []).append(s["us"] / 1e3)
med = {k: statistics.median(v) for k, v in per.items()}
# Controls bwrap does not apply, each on the sandbox's critical path: the
# seccomp program (host: from the per-process cache; init: installing it),
# the cgroup (made and limits written), Landlock (the ruleset), the probe
# (a child that reports every control) and the evidence check.
extra = ["seccomp", "cgroup", "init.landlock", "init.seccomp", "init.probe", "evidence"]
print("\nmedian per step (ms, kavach exec --no-gate --json, %d runs):" % len(runs))
for k, v in sorted(med.items(), key=lambda kv: -kv[1]):
    print(f"  {k:16s} {v:6.3f}{'   (control bwrap does not apply)' if k in extra else ''}")
x = sum(med.get(k, 0) for k in extra)
print(f"controls bwrap does not apply: {x:.2f} ms; d' - e = {dn - e:.2f} ms; "
      f"the rest of d' - e: {dn - e - x:.2f} ms")
print(f"d'/e without those controls' cost: {(dn - x) / e:.2f}")
PY
