#!/usr/bin/env bash
# Installs the servers the protocol health-check tests start themselves
# (test/helpers/servers.ts): redis-server, postgresql, mariadb-server, dnsmasq;
# and HAProxy and NGINX (with its stream module), whose generated bench configs
# the bench tests check with `haproxy -c` and `nginx -t`.
# The tests run their own instances on free loopback ports, so the distro's
# services are not wanted: they are kept from starting during the install, and
# any that start anyway are stopped by their pid files. Safe to run again:
# nothing is installed or stopped when everything is already in place.
set -euo pipefail

packages=(redis-server postgresql mariadb-server dnsmasq haproxy nginx-light libnginx-mod-stream)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

# The distro services' pid files, as Debian and Ubuntu configure them (globbed at each call).
live_pids() {
  for f in /run/redis/redis-server.pid /run/postgresql/*.pid /run/mysqld/mysqld.pid /run/dnsmasq/dnsmasq.pid /run/haproxy.pid /run/nginx.pid; do
    [ -f "$f" ] || continue
    pid=$(as_root cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && as_root kill -0 "$pid" 2>/dev/null; then echo "$pid $f"; fi
  done
}

# Services already running were not started by us and are left alone.
before=$(live_pids)

# policy-rc.d exit 101 tells invoke-rc.d and deb-systemd-invoke not to start services
# (dnsmasq would also fail to start where systemd-resolved holds port 53, failing the install).
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
  as_root chmod 755 "$policy"
  own_policy=true
fi
log=$(mktemp)
cleanup() {
  if [ "$own_policy" = true ]; then as_root rm -f "$policy"; fi
  rm -f "$log"
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
if ! {
  as_root apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
} >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-servers: apt-get failed installing ${missing[*]}" >&2
  exit 1
fi

# Stop what the install started anyway, by PID, and wait for it to go.
while read -r pid file; do
  [ -n "${pid:-}" ] || continue
  if printf '%s\n' "$before" | grep -qx "$pid $file"; then continue; fi
  as_root kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    as_root kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if as_root kill -0 "$pid" 2>/dev/null; then as_root kill -KILL "$pid" 2>/dev/null || true; fi
  echo "install-servers: stopped the distro's service (pid $pid, $file)"
done < <(live_pids)

echo "install-servers: installed ${missing[*]}"
