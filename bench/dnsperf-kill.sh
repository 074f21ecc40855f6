#!/usr/bin/env bash
# Issue 4's loss figure with the tools NGINX was measured with: dnsperf (4 client
# sockets) against two dnsmasq members behind the proxy, one SIGKILLed 2 s into
# 8 s; the same dnsperf straight to one dnsmasq; and, where NGINX and its stream
# module are installed, the same kill through NGINX `stream` — all in one run.
#   bash bench/dnsperf-kill.sh            (WORKERS=1 for one Switchyard process; default: auto)
# Needs dnsperf and dnsmasq (apt-get install dnsperf dnsmasq) and a built tree (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/tools-lib.sh
. bench/tools-lib.sh
setup dnsperf-kill dnsperf dnsmasq

printf 'example.test A\n' > "$dir/queries"
summary() { grep -E 'Queries (sent|completed|lost)|Queries per second'; }
perf() { dnsperf -s 127.0.0.1 -p "$1" -d "$dir/queries" -c 4 -l 8 2>&1 | summary; }

# Runs dnsperf through the proxy on port $1 while member PID $2 is SIGKILLed at 2 s.
kill_run() {
  ( sleep 2; kill -9 "$2" 2>/dev/null ) &
  perf "$1"
}

read -r d1 d2 lb admin n1 n2 nlb < <(free_ports 7)
v1=$(dnsmasq_on "$d1"); v2=$(dnsmasq_on "$d2"); pids+=("$v1" "$v2")
cat > "$dir/switchyard.yaml" <<YAML
workers: ${WORKERS:-auto}
log: { level: warn, access: false }
admin: { listen: 127.0.0.1:$admin }
services:
  - name: dns
    protocol: udp
    listen: 127.0.0.1:$lb
    balance: roundrobin
    healthCheck: { type: dns, query: example.test, interval: 1s, timeout: 500ms, fall: 2, rise: 2 }
    members: [127.0.0.1:$d1, 127.0.0.1:$d2]
YAML
node dist/cli.js -c "$dir/switchyard.yaml" > "$dir/switchyard.log" 2>&1 &
pids+=($!)
wait_members_up "$admin" 2

echo "== straight to one dnsmasq, 8 s"
perf "$d2"
echo "== through Switchyard (workers: ${WORKERS:-auto}), one member SIGKILLed at 2 s"
kill_run "$lb" "$v1"

if command -v nginx >/dev/null && [ -f "$NGINX_STREAM_MODULE" ]; then
  w1=$(dnsmasq_on "$n1"); w2=$(dnsmasq_on "$n2"); pids+=("$w1" "$w2")
  start_nginx_stream nginx "  upstream dns { server 127.0.0.1:$n1; server 127.0.0.1:$n2; }
  server { listen 127.0.0.1:$nlb udp; proxy_pass dns; proxy_responses 1; proxy_timeout 1s; }"
  echo "== through NGINX stream (2 workers), one member SIGKILLed at 2 s"
  kill_run "$nlb" "$w1"
else
  echo "== NGINX with its stream module is not installed (apt-get install nginx-light libnginx-mod-stream): no NGINX run"
fi
