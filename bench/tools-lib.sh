# Shell helpers shared by the scripts that measure with the peers' own tools
# (dnsperf-kill.sh, peer-tools.sh). Source it from the repository's root, then call setup.

# setup NAME TOOL...: exits unless every TOOL is installed; makes $dir, a scratch folder, and
# $pids, the processes to end; both are cleaned up when the script exits.
setup() {
  local name=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: $tool is not installed" >&2; exit 1; }
  done
  dir=$(mktemp -d)
  chmod 755 "$dir"
  pids=()
  trap cleanup EXIT
}

cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}

# N loopback ports free for both TCP and UDP, read back from port-0 binds (all held until the last is found).
free_ports() {
  node -e '
    const net = require("node:net"); const dgram = require("node:dgram");
    const n = Number(process.argv[1]); const held = []; const ports = [];
    (function next() {
      if (ports.length === n) {
        console.log(ports.join(" "));
        for (const s of held) s.close();
        return;
      }
      const t = net.createServer().listen(0, "127.0.0.1", () => {
        const port = t.address().port;
        const u = dgram.createSocket("udp4");
        held.push(t);
        u.once("error", () => { u.close(); next(); });
        u.bind(port, "127.0.0.1", () => { held.push(u); ports.push(port); next(); });
      });
    })();' "$1"
}

# Starts a dnsmasq on port $1 that answers example.test with 127.0.0.2; prints its PID.
dnsmasq_on() {
  dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll --port="$1" \
    --listen-address=127.0.0.1 --bind-interfaces --address=/example.test/127.0.0.2 \
    --pid-file="$dir/dnsmasq-$1.pid" --log-facility=/dev/null >/dev/null 2>&1 &
  echo $!
}

# Waits up to 5 s until the admin API on port $1 reports at least $2 members up.
wait_members_up() {
  for _ in $(seq 50); do
    [ "$(curl -sf "http://127.0.0.1:$1/status" | grep -o '"state": *"up"' | wc -l)" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "Switchyard did not report $2 members up on 127.0.0.1:$1" >&2
  return 1
}

NGINX_STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so

# start_nginx_stream NAME BLOCK: NGINX `stream` (2 workers) serving BLOCK, in $dir/NAME;
# its PID goes into $pids and $nginx_pid. Returns once it listens: NGINX writes its pid file
# after binding its sockets.
start_nginx_stream() {
  mkdir -p "$dir/$1"
  cat > "$dir/$1/nginx.conf" <<CONF
load_module $NGINX_STREAM_MODULE;
worker_processes 2;
pid $dir/$1/nginx.pid;
error_log $dir/$1/error.log;
events { worker_connections 8192; }
stream {
$2
}
CONF
  nginx -p "$dir/$1" -c "$dir/$1/nginx.conf" -g 'daemon off;' 2>/dev/null &
  nginx_pid=$!
  pids+=("$nginx_pid")
  for _ in $(seq 50); do
    [ -s "$dir/$1/nginx.pid" ] && return 0
    sleep 0.1
  done
  echo "NGINX did not start within 5 s; its error log:" >&2
  cat "$dir/$1/error.log" >&2 2>/dev/null || true
  return 1
}
