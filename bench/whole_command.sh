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
