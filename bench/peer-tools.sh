#!/usr/bin/env bash
# Issue 6's table measured the way the issue measured it, with the peers' own tools:
# wrk -t1 -c64 (keep-alive requests/s and p99; then one request per connection with
# "Connection: close"), iperf3 (bulk, 1 stream up) and dnsperf (UDP DNS queries/s),
# against nginx, iperf3 and dnsmasq backends on loopback. Each figure straight to the
# backend, through Switchyard, HAProxy `mode tcp` (nbthread 2) and NGINX `stream`
# (2 workers); the targets take turns within each round, and each figure is the median
# of ROUNDS runs of SECS seconds. CPU per operation is the proxy's whole process tree
# (user + system, /proc) over the run, divided by the requests, connections or queries.
#
# `npm run bench` measures with its own Node.js generators and backends (which also
# take CPU on the same box, so they narrow the gaps between proxies); this script is
# the cross-check with the tools the peers are usually measured with.
#
#   bash bench/peer-tools.sh       WORKERS=1: one Switchyard process (default: auto)
#                                  ROUNDS=3 SECS=5 by default
# Needs wrk, iperf3, dnsperf, dnsmasq and nginx (apt-get install wrk iperf3 dnsperf dnsmasq
# nginx-light libnginx-mod-stream), a built tree (npm run build); HAProxy if installed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/tools-lib.sh
. bench/tools-lib.sh
setup peer-tools wrk iperf3 dnsperf dnsmasq nginx curl
rounds=${ROUNDS:-3} secs=${SECS:-5} workers=${WORKERS:-auto}

read -r http bulk dns sy_http sy_bulk sy_dns sy_admin hap_http hap_bulk ng_http ng_bulk ng_dns < <(free_ports 12)

# ── backends ────────────────────────────────────────────────────────────────
mkdir -p "$dir/backend"
cat > "$dir/backend/nginx.conf" <<CONF
worker_processes 2;
pid $dir/backend/nginx.pid;
error_log $dir/backend/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$http; location / { return 200 "hello\n"; } }
}
CONF
nginx -p "$dir/backend" -c "$dir/backend/nginx.conf" -g 'daemon off;' 2>/dev/null &
pids+=($!)
iperf3 -s -B 127.0.0.1 -p "$bulk" >/dev/null 2>&1 &
pids+=($!)
pids+=("$(dnsmasq_on "$dns")")
printf 'example.test A\n' > "$dir/queries"

# ── proxies ─────────────────────────────────────────────────────────────────
cat > "$dir/switchyard.yaml" <<YAML
workers: $workers
log: { level: warn, access: false }
admin: { listen: 127.0.0.1:$sy_admin }
services:
  - { name: http, protocol: tcp, listen: 127.0.0.1:$sy_http, healthCheck: { type: tcp, interval: 2s }, members: [127.0.0.1:$http] }
  - { name: bulk, protocol: tcp, listen: 127.0.0.1:$sy_bulk, healthCheck: { type: tcp, interval: 2s }, members: [127.0.0.1:$bulk] }
  - name: dns
    protocol: udp
    listen: 127.0.0.1:$sy_dns
    healthCheck: { type: dns, query: example.test, interval: 2s }
    members: [127.0.0.1:$dns]
YAML
node dist/cli.js -c "$dir/switchyard.yaml" > "$dir/switchyard.log" 2>&1 &
sy_pid=$!
pids+=("$sy_pid")
targets=(direct switchyard)
declare -A pid_of=([switchyard]=$sy_pid)
declare -A http_port=([direct]=$http [switchyard]=$sy_http) bulk_port=([direct]=$bulk [switchyard]=$sy_bulk)
declare -A dns_port=([direct]=$dns [switchyard]=$sy_dns)

if command -v haproxy >/dev/null; then
  cat > "$dir/haproxy.cfg" <<CFG
global
  nbthread 2
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen http
  bind 127.0.0.1:$hap_http
  server m0 127.0.0.1:$http check inter 2s
listen bulk
  bind 127.0.0.1:$hap_bulk
  server m0 127.0.0.1:$bulk check inter 2s
CFG
  haproxy -db -f "$dir/haproxy.cfg" > "$dir/haproxy.log" 2>&1 &
  pids+=($!)
  targets+=(haproxy)
  pid_of[haproxy]=$!
  http_port[haproxy]=$hap_http bulk_port[haproxy]=$hap_bulk
else
  echo "peer-tools: HAProxy is not installed (apt-get install haproxy): no HAProxy column" >&2
fi

if [ -f "$NGINX_STREAM_MODULE" ]; then
  start_nginx_stream nginx "  server { listen 127.0.0.1:$ng_http; proxy_pass 127.0.0.1:$http; }
  server { listen 127.0.0.1:$ng_bulk; proxy_pass 127.0.0.1:$bulk; }
  server { listen 127.0.0.1:$ng_dns udp; proxy_pass 127.0.0.1:$dns; proxy_responses 1; proxy_timeout 1s; }"
  targets+=(nginx)
  pid_of[nginx]=$nginx_pid
  http_port[nginx]=$ng_http bulk_port[nginx]=$ng_bulk dns_port[nginx]=$ng_dns
else
  echo "peer-tools: NGINX has no stream module ($NGINX_STREAM_MODULE; apt-get install libnginx-mod-stream): no NGINX column" >&2
fi

wait_members_up "$sy_admin" 3

# ── measuring ───────────────────────────────────────────────────────────────
# Clock ticks of user + system time of a target's process and its children (a proxy's whole
# tree); 0 for direct, which has no process of its own.
ticks() {
  local t=0 p pid=${pid_of[$1]:-}
  if [ -n "$pid" ]; then
    for p in "$pid" $(pgrep -P "$pid" || true); do
      [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
  fi
  echo "$t"
}
hz=$(getconf CLK_TCK)

# Where samples go: one file per figure and target. The warm-up sends its own elsewhere.
samples=$dir/samples

# record FIGURE TARGET VALUE: one sample.
record() { echo "$3" >> "$samples.$1.$2"; }

# record_cpu FIGURE TARGET TICKS OPS: µs of the target's CPU per operation (not for direct).
record_cpu() {
  [ -n "${pid_of[$2]:-}" ] || return 0
  awk -v t="$3" -v n="$4" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.1f\n", t / hz * 1e6 / n }' >> "$samples.cpu-$1.$2"
}

wrk_run() { # TARGET FIGURE [header...]
  local target=$1 figure=$2 out t0 t1
  shift 2
  t0=$(ticks "$target")
  out=$(wrk -t1 -c64 -d"${secs}s" --latency "$@" "http://127.0.0.1:${http_port[$target]}/")
  t1=$(ticks "$target")
  local requests rps p99 errors
  requests=$(awk '/requests in/ { print $1 }' <<< "$out")
  rps=$(awk '/Requests\/sec/ { print $2 }' <<< "$out")
  # wrk prints p99 with its unit: us, ms or s.
  p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else v = v * 1000; print v }' <<< "$out")
  errors=$(awk '/Socket errors|Non-2xx/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i } END { print s + 0 }' <<< "$out")
  record "$figure" "$target" "$rps"
  [ "$figure" = keepalive ] && record p99 "$target" "$p99"
  record "errors-$figure" "$target" "$errors"
  record_cpu "$figure" "$target" "$((t1 - t0))" "$requests"
}

iperf_run() { # TARGET
  local gbits
  gbits=$(iperf3 -c 127.0.0.1 -p "${bulk_port[$1]}" -t "$secs" -f g 2>&1 | awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Gbits/sec") print $i }')
  record bulk "$1" "${gbits:-0}"
}

dnsperf_run() { # TARGET
  local port=${dns_port[$1]:-} out t0 t1
  [ -n "$port" ] || return 0
  t0=$(ticks "$1")
  out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$dir/queries" -c 16 -q 128 -l "$secs" 2>&1)
  t1=$(ticks "$1")
  record udp "$1" "$(awk '/Queries per second/ { print $4 }' <<< "$out")"
  record lost-udp "$1" "$(awk '/Queries lost/ { print $3 }' <<< "$out")"
  record_cpu udp "$1" "$((t1 - t0))" "$(awk '/Queries completed/ { print $3 }' <<< "$out")"
}

# round TARGET: every figure once.
round() {
  wrk_run "$1" keepalive
  wrk_run "$1" connrate -H "Connection: close"
  iperf_run "$1"
  dnsperf_run "$1"
}

# Warm-up of every path (JIT, caches): 2 s each, samples thrown away.
for target in "${targets[@]}"; do
  echo "peer-tools: warming up $target" >&2
  samples=$dir/warm-up secs=2 round "$target"
done

for r in $(seq "$rounds"); do
  for target in "${targets[@]}"; do
    echo "peer-tools: round $r/$rounds, $target" >&2
    round "$target"
  done
done

# ── the table ───────────────────────────────────────────────────────────────
# The median of a sample file, to 3 significant digits (whole numbers from 1000 up); — when there is none.
median() {
  [ -s "$1" ] || { echo '—'; return; }
  sort -g "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; if (m >= 1000) printf "%.0f\n", m; else printf "%.3g\n", m }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f×", a / b; else printf "—" }'; }
sum_of() { [ -s "$1" ] && awk '{ s += $1 } END { print s }' "$1" || echo '—'; }

node_version=$(node --version)
echo "## Issue 6's figures with the peers' tools ($(date -u '+%Y-%m-%d %H:%M UTC'), Node.js $node_version, Switchyard workers: $workers, $(nproc) cores)"
echo
echo "Medians of $rounds run(s) of $secs s each. Ratios: Switchyard against HAProxy (UDP: against NGINX)."
echo
printf '| figure | %s | switchyard ÷ peer |\n' "$(IFS='|'; echo "${targets[*]}" | sed 's/|/ | /g')"
printf '|---|%s---|\n' "$(printf -- '---|%.0s' "${targets[@]}")"
row() { # LABEL FIGURE PEER
  local cells=() t
  for t in "${targets[@]}"; do cells+=("$(median "$dir/samples.$2.$t")"); done
  printf '| %s | %s | %s |\n' "$1" "$(IFS='|'; echo "${cells[*]}" | sed 's/|/ | /g')" \
    "$(ratio "$(median "$dir/samples.$2.switchyard")" "$(median "$dir/samples.$2.$3")")"
}
row 'keep-alive requests/s (wrk -t1 -c64)' keepalive haproxy
row 'keep-alive p99 (ms)' p99 haproxy
row 'new connections/s (wrk, Connection: close)' connrate haproxy
row 'bulk, iperf3 1 stream (Gbit/s)' bulk haproxy
row 'UDP DNS queries/s (dnsperf -c16 -q128)' udp nginx
row 'CPU µs per keep-alive request' cpu-keepalive haproxy
row 'CPU µs per new connection' cpu-connrate haproxy
row 'CPU µs per UDP query' cpu-udp nginx
echo
for t in "${targets[@]}"; do
  echo "- $t: wrk errors, keep-alive $(sum_of "$dir/samples.errors-keepalive.$t"), new connections $(sum_of "$dir/samples.errors-connrate.$t"); dnsperf queries lost $(sum_of "$dir/samples.lost-udp.$t")"
done
