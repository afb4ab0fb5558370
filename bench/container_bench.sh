#!/bin/bash
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# Container backends against their raw runtimes, in hyperfine runs
# (issue 5, benchmark):
#   A  kavach exec --backend oci -- /bin/true      vs  crun run of the same bundle
#   B  kavach exec --backend gvisor -- /bin/true   vs  runsc run of the same bundle
#   C  exec in a prepared container (crun exec, runsc exec) vs a cold run
# "The same bundle" is the one kavach generated for the policy, copied while
# kavach ran, with /bin/true as its process instead of kavach-oci-probe (its
# read-only bind stays, so both runs set up the same mounts). kavach's command
# is one `<runtime> run` too (SandboxConfig::single_exec), plus what the raw
# run does not do: the policy, the bundle, the probe's report of every control
# and its verification before the command starts, and the clean-up. Both
# sides call the runtime with the same flags (runsc: the same --platform,
# --network=none, --oci-seccomp).
# crun 1.8 refuses this host's hybrid cgroup layout unless
# /sys/fs/cgroup/unified is detached in a private mount namespace (kavach
# does so for each crun call when it sees that layout). So that the raw crun
# pays no wrapper (sh, unshare) kavach does not pay, the whole benchmark runs
# in one private mount namespace with that mount detached: neither side then
# needs the detour.
# File descriptors: kavach starts runsc holding /dev/null at fd 1023 (see
# OciRuntime::fd_table_headroom in src/backend/oci/runtime.h: runsc's gofer
# and sandbox then skip the fd-table growths that each wait for an RCU grace
# period, ~45 ms of its start on this host), and crun with fds 0-2 only. The
# raw runs get exactly that: every fd the benchmark inherits above 2 is
# closed (a stray inherited fd, e.g. a harness's pipe at fd 251, silently
# gave the raw runsc the same speed-up before), and the runsc group runs with
# /dev/null at fd 1023.
# Prints the ratios kavach/raw of the medians with met/MISSED (targets
# <= 1.1), and those of the fastest runs (least disturbed by other load).
# Where the rest of kavach's time goes: src/backend/oci/oci_backend.h.
#
#   bench/container_bench.sh [BUILD_DIR] [RUNS]      (default build, 20; needs root)
set -euo pipefail

unified=/sys/fs/cgroup/unified
if [[ -z "${KAVACH_BENCH_PRIVATE_NS:-}" && -f "${unified}/cgroup.controllers" ]] &&
   ! grep -qwE 'memory|pids|cpu' "${unified}/cgroup.controllers"; then
  exec env KAVACH_BENCH_PRIVATE_NS=1 unshare -m --propagation private "$0" "$@"
fi
if [[ -n "${KAVACH_BENCH_PRIVATE_NS:-}" ]]; then umount -l "${unified}"; fi

# Nothing inherited above stderr (see the header). Close-on-exec fds (bash's
# own, e.g. the script at 255) reach no child and stay.
for fd in $(ls /proc/$$/fd); do
  (( fd > 2 )) || continue
  flags="$(awk '/^flags:/ {print $2}' "/proc/$$/fdinfo/${fd}" 2>/dev/null || true)"
  [[ -n "${flags}" ]] || continue
  if (( (8#${flags} & 8#2000000) == 0 )); then eval "exec ${fd}>&-"; fi
done

build="${1:-build}"
runs="${2:-20}"
kavach="$(realpath "${build}/bin/kavach")"
[[ -x "${kavach}" ]] || { echo "container_bench: ${kavach} not built" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "container_bench: run as root (cgroup limits)" >&2; exit 1; }
for tool in hyperfine crun runsc python3; do
  command -v "${tool}" >/dev/null || { echo "container_bench: ${tool} missing" >&2; exit 1; }
done

work="$(mktemp -d /tmp/kavach-container-bench-XXXXXX)"
chmod 0711 "${work}"  # the containers' ids traverse it
cleanup() {
  crun --root "${work}/crun-state" delete -f kb-prepared >/dev/null 2>&1 || true
  crun --root "${work}/crun-state" delete -f kb-oci >/dev/null 2>&1 || true
  runsc --root "${work}/runsc-state" delete -force kb-prepared >/dev/null 2>&1 || true
  [[ -n "${KEEP_BENCH_DIR:-}" ]] || rm -rf "${work}"
}
trap cleanup EXIT

# Strict without what the runtimes cannot apply (Landlock; for runsc also the
# pids cgroup), so both backends run it.
cat > "${work}/oci.json" <<'EOF'
{"seccomp":"strict","filesystem":{"read_only_root":true},
 "limits":{"memory_bytes":536870912,"max_pids":64,"cpu_cores":1.0,
           "max_open_files":1024,"max_file_size_bytes":1073741824}}
EOF
cat > "${work}/gvisor.json" <<'EOF'
{"seccomp":"strict","filesystem":{"read_only_root":true},
 "limits":{"memory_bytes":536870912,"max_pids":64,"cpu_cores":1.0,
           "max_open_files":1024,"max_file_size_bytes":1073741824},
 "optional_controls":["cgroup.pids"]}
EOF

# Copies the bundle kavach generates for backend $1 (policy $2) into $3,
# with /bin/true as the process and paths pointing into the copy.
grab_bundle() {
  local backend="$1" policy="$2" dest="$3"
  local before
  # kavach puts bundles in /dev/shm when it is a tmpfs, else in /tmp.
  before="$( (ls -d /dev/shm/kavach-oci-* /tmp/kavach-oci-* 2>/dev/null || true) | sort)"
  "${kavach}" exec --backend "${backend}" --policy "${policy}" --no-gate -- /bin/sleep 20 \
    >/dev/null 2>&1 &
  local pid=$! dir=""
  for _ in $(seq 1 300); do
    dir="$(comm -13 <(echo "${before}") \
      <( (ls -d /dev/shm/kavach-oci-* /tmp/kavach-oci-* 2>/dev/null || true) | grep -v -- '-work$' \
      | sort) | head -1)"
    [[ -n "${dir}" && -f "${dir}/bundle/config.json" ]] && break
    sleep 0.02
  done
  [[ -n "${dir}" ]] || { echo "container_bench: no bundle from kavach ${backend}" >&2; exit 1; }
  sleep 0.3
  local workdir="/tmp/$(basename "${dir}")-work"
  [[ -d "${workdir}" ]] || workdir="${dir}/work"
  cp -a "${dir}/bundle" "${dest}"
  mkdir -p "${dest}/work"
  chown --reference="${workdir}" "${dest}/work"
  kill -TERM "${pid}"; wait "${pid}" || true
  python3 - "${dest}" "${dir}" "${workdir}" <<'PY'
import json, sys
dest, src, work = sys.argv[1], sys.argv[2], sys.argv[3]
c = json.load(open(dest + "/config.json"))
c["process"]["args"] = ["/bin/true"]
for m in c["mounts"]:
    if m["source"].startswith(src + "/bundle"):
        m["source"] = dest + m["source"][len(src + "/bundle"):]
    elif m["source"] == work:
        m["source"] = dest + "/work"
if "cgroupsPath" in c.get("linux", {}):
    c["linux"]["cgroupsPath"] = "/kavach-bench/" + dest.rsplit("/", 1)[1]
json.dump(c, open(dest + "/config.json", "w"))
PY
}

grab_bundle oci "${work}/oci.json" "${work}/oci-bundle"
grab_bundle gvisor "${work}/gvisor.json" "${work}/gvisor-bundle"
platform="$("${kavach}" backends --json | python3 -c '
import json, re, sys
for b in json.load(sys.stdin):
    if b["backend"] == "gvisor":
        m = re.search(r"platform (\w+)", b["reason"]); print(m.group(1) if m else "ptrace")')"
runsc_cmd="runsc --root ${work}/runsc-state --network=none --platform=${platform} --oci-seccomp"
crun_cmd="crun --root ${work}/crun-state"

# Prepared containers for C (their first process just waits).
python3 - "${work}" <<'PY'
import json, sys
w = sys.argv[1]
for b in ("oci-bundle", "gvisor-bundle"):
    c = json.load(open(f"{w}/{b}/config.json"))
    c["process"]["args"] = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"]
    json.dump(c, open(f"{w}/{b}/prepared.json", "w"))
PY
mkdir -p "${work}/prep-oci" "${work}/prep-gvisor"
for b in oci gvisor; do
  cp -a "${work}/${b}-bundle/." "${work}/prep-${b}/"
  mv "${work}/prep-${b}/prepared.json" "${work}/prep-${b}/config.json"
  python3 - "${work}/prep-${b}" "${work}/${b}-bundle" <<'PY'
import json, sys
d, s = sys.argv[1], sys.argv[2]
c = json.load(open(d + "/config.json"))
for m in c["mounts"]:
    if m["source"].startswith(s):
        m["source"] = d + m["source"][len(s):]
c["linux"].pop("cgroupsPath", None); c["linux"].pop("resources", None)
json.dump(c, open(d + "/config.json", "w"))
PY
done
${crun_cmd} run -d --bundle "${work}/prep-oci" kb-prepared </dev/null >/dev/null 2>&1
${runsc_cmd} run -detach --bundle "${work}/prep-gvisor" kb-prepared </dev/null >"${work}/runsc-prep.log" 2>&1 \
  || { echo "container_bench: runsc run -detach failed: $(tail -c 400 "${work}/runsc-prep.log")" >&2; exit 1; }
python3 - "${work}" <<'PY'
import json, sys
# The process object kavach writes for `exec --process`, running /bin/true.
p = json.load(open(sys.argv[1] + "/prep-oci/config.json"))["process"]
p["args"] = ["/bin/true"]
json.dump(p, open(sys.argv[1] + "/true.json", "w"))
PY

# Each command once, loudly, so a failure says why.
${crun_cmd} exec --process "${work}/true.json" kb-prepared \
  || { echo "container_bench: crun exec failed" >&2; exit 1; }
${runsc_cmd} exec --process "${work}/true.json" kb-prepared \
  || { echo "container_bench: runsc exec failed" >&2; exit 1; }

out="$(mktemp)"
out_gvisor="$(mktemp)"
trap 'rm -f "${out}" "${out_gvisor}"; cleanup' EXIT
hyperfine -N --warmup 3 --runs "${runs}" --export-json "${out}" \
  -n "A: kavach exec --backend oci" \
  "${kavach} exec --backend oci --policy ${work}/oci.json --no-gate -- /bin/true" \
  -n "A: crun run (same bundle)" \
  "${crun_cmd} run --bundle ${work}/oci-bundle kb-oci" \
  -n "C: crun exec (prepared)" \
  "${crun_cmd} exec --process ${work}/true.json kb-prepared"
# runsc as kavach starts it: /dev/null at fd 1023 (see the header).
hyperfine -N --warmup 3 --runs "${runs}" --export-json "${out_gvisor}" \
  -n "B: kavach exec --backend gvisor" \
  "${kavach} exec --backend gvisor --policy ${work}/gvisor.json --no-gate -- /bin/true" \
  -n "B: runsc run (same bundle)" \
  "${runsc_cmd} run --bundle ${work}/gvisor-bundle kb-gvisor" \
  -n "C: runsc exec (prepared)" \
  "${runsc_cmd} exec --process ${work}/true.json kb-prepared" 1023</dev/null

python3 - "${out}" "${out_gvisor}" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"] + json.load(open(sys.argv[2]))["results"]
r = {x["command"]: x["median"] for x in res}
lo = {x["command"]: x["min"] for x in res}
ko, co = r["A: kavach exec --backend oci"], r["A: crun run (same bundle)"]
kg, rg = r["B: kavach exec --backend gvisor"], r["B: runsc run (same bundle)"]
ce, re_ = r["C: crun exec (prepared)"], r["C: runsc exec (prepared)"]
def verdict(x):
    return "met" if x <= 1.1 else "MISSED"
print(f"A  kavach oci / crun run        = {ko*1e3:.1f} / {co*1e3:.1f} ms = {ko/co:.2f}x "
      f"(target <= 1.1: {verdict(ko/co)})")
print(f"B  kavach gvisor / runsc run    = {kg*1e3:.1f} / {rg*1e3:.1f} ms = {kg/rg:.2f}x "
      f"(target <= 1.1: {verdict(kg/rg)})")
# The fastest runs are the least disturbed by other load on the machine.
print(f"   fastest runs: A {lo['A: kavach exec --backend oci']*1e3:.1f} / "
      f"{lo['A: crun run (same bundle)']*1e3:.1f} ms = "
      f"{lo['A: kavach exec --backend oci']/lo['A: crun run (same bundle)']:.2f}x, "
      f"B {lo['B: kavach exec --backend gvisor']*1e3:.1f} / "
      f"{lo['B: runsc run (same bundle)']*1e3:.1f} ms = "
      f"{lo['B: kavach exec --backend gvisor']/lo['B: runsc run (same bundle)']:.2f}x")
print(f"C  crun exec / crun run         = {ce*1e3:.1f} / {co*1e3:.1f} ms = {ce/co:.2f}x")
print(f"C  runsc exec / runsc run       = {re_*1e3:.1f} / {rg*1e3:.1f} ms = {re_/rg:.2f}x")
PY
