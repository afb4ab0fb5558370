#!/usr/bin/env bash
# Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#
# The egress proxy under load (issue 4, "Benchmark"): wrk against an nginx
# upstream on loopback, in one run,
#   a) direct to the upstream,
#   b) through `kavach proxy` (plain HTTP, absolute URI, allow-list checked),
#   c) through tinyproxy (Debian's, default settings),
# with wrk's HTTP/1.1 keep-alive connections (the kavach proxy keeps client
# and upstream connections open; tinyproxy answers each request with a close,
# and wrk reconnects; `kavach proxy` runs one thread per CPU by default).
# MODE=close sends "Connection: close" on every request
# instead, so that all three open a connection per request. Prints p50
# latency and requests/s of each and the ratios b/a (p50, target <= 1.3) and
# b/c (throughput, target >= 1), each with met/MISSED.
#
# Usage: [MODE=keepalive|close] bench/egress_bench.sh BUILD_DIR [SECONDS] [CONNECTIONS]
# Needs: wrk, tinyproxy, nginx-light (scripts/packages.txt).
set -euo pipefail
build=${1:?usage: egress_bench.sh BUILD_DIR [SECONDS] [CONNECTIONS]}
secs=${2:-5}
conns=${3:-16}
kavach="$build/bin/kavach"
for tool in wrk tinyproxy nginx; do
  command -v "$tool" >/dev/null || { echo "egress_bench: $tool is not installed" >&2; exit 2; }
done
[ -x "$kavach" ] || { echo "egress_bench: no $kavach" >&2; exit 2; }

dir=$(mktemp -d)
chmod 755 "$dir"  # nginx workers run as www-data
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

up=18480 kp=18481 tp=18482
mkdir -p "$dir/www" "$dir/nginx"
head -c 1024 /dev/zero | tr '\0' 'x' > "$dir/www/1k"
cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/nginx;
  proxy_temp_path $dir/nginx;
  fastcgi_temp_path $dir/nginx;
  uwsgi_temp_path $dir/nginx;
  scgi_temp_path $dir/nginx;
  server { listen 127.0.0.1:$up; root $dir/www; }
}
EOF
nginx -c "$dir/nginx.conf" -p "$dir" &
pids+=($!)
cat > "$dir/tinyproxy.conf" <<EOF
Port $tp
Listen 127.0.0.1
Timeout 60
MaxClients 1024
LogLevel Critical
Allow 127.0.0.1
EOF
tinyproxy -d -c "$dir/tinyproxy.conf" >/dev/null 2>&1 &
pids+=($!)
"$kavach" proxy --listen "127.0.0.1:$kp" --allow-host 127.0.0.1 --allow-port "$up" \
  --max-connections 1024 >/dev/null 2>"$dir/kavach.err" &
pids+=($!)
sleep 1

mode=${MODE:-keepalive}
close_header=""
[ "$mode" = close ] && close_header='wrk.headers["Connection"] = "close"'
cat > "$dir/abs.lua" <<EOF
wrk.path = "http://127.0.0.1:$up/1k"
$close_header
EOF
cat > "$dir/close.lua" <<EOF
$close_header
EOF

# wrk wants at least one connection per thread; the same flags for all three.
wrk_threads=$((conns < 2 ? 1 : 2))

# p50 in microseconds and requests/s from wrk's --latency output.
measure() {
  local out
  out=$(wrk -t"$wrk_threads" -c"$conns" -d"${secs}s" --latency "$@")
  local p50 rps
  p50=$(awk '/Latency Distribution/{f=1} f && $1=="50%"{print $2; exit}' <<<"$out")
  rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  local errs
  errs=$(awk '/Non-2xx|Socket errors/' <<<"$out")
  [ -n "$errs" ] && echo "  ${*: -1}: $(tr '\n' ' ' <<<"$errs")" >&2
  # wrk prints 123.45us / 1.23ms / 1.00s
  python3 - "$p50" "$rps" <<'PY'
import sys
v, rps = sys.argv[1], float(sys.argv[2])
scale = {"us": 1, "ms": 1e3, "s": 1e6}
for unit in ("us", "ms", "s"):
    if v.endswith(unit):
        print(f"{float(v[:-len(unit)]) * scale[unit]:.1f} {rps:.1f}")
        break
PY
}

read -r a_p50 a_rps < <(measure -s "$dir/close.lua" "http://127.0.0.1:$up/1k")
read -r b_p50 b_rps < <(measure -s "$dir/abs.lua" "http://127.0.0.1:$kp")
read -r c_p50 c_rps < <(measure -s "$dir/abs.lua" "http://127.0.0.1:$tp")

echo "mode $mode, $conns connections, ${secs}s each"
printf '%-28s %12s %12s\n' "" "p50 (us)" "requests/s"
printf '%-28s %12s %12s\n' "a) direct (nginx)" "$a_p50" "$a_rps"
printf '%-28s %12s %12s\n' "b) kavach proxy" "$b_p50" "$b_rps"
printf '%-28s %12s %12s\n' "c) tinyproxy" "$c_p50" "$c_rps"
python3 - "$a_p50" "$b_p50" "$b_rps" "$c_rps" <<'PY'
import sys
a, b, brps, crps = map(float, sys.argv[1:])
lat, thr = b / a, brps / crps
print(f"p50 b/a = {lat:.2f} (target <= 1.3: {'met' if lat <= 1.3 else 'MISSED'})")
print(f"throughput b/c = {thr:.2f} (target >= 1: {'met' if thr >= 1 else 'MISSED'})")
PY
