#!/usr/bin/env bash
# Live load check (not part of make test): UDP datagrams on loopback as fast
# as this machine sends them, captured side by side by pflow and by
# tcpdump -w /dev/null; prints each one's kernel drop count.
# Needs root (capture), tcpdump, python3. Usage: Bench/live_load.sh path/to/pflow [seconds]
set -u
pflow=${1:?usage: live_load.sh path/to/pflow [seconds]}
seconds=${2:-10}
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
filter="udp port $port"

"$pflow" -i lo -f "$filter" --duration "$((seconds + 2))" --json >"$tmp/pflow.json" 2>"$tmp/pflow.err" &
p1=$!
p2=
if command -v tcpdump >/dev/null; then
  tcpdump -i lo -w /dev/null "$filter" 2>"$tmp/tcpdump.err" &
  p2=$!
fi
sleep 1
# The load: one sender process per core, each in a tight sendto() loop of
# 64-byte datagrams from rotating source ports (many flows).
python3 - "$port" "$seconds" <<'PY' &
import os, socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
def send(worker):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]
    payload = bytes(64)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        for s in socks:
            for _ in range(16):
                s.sendto(payload, ("127.0.0.1", port))
            n += 16
    print(f"sender {worker}: {n} datagrams, {n / seconds:,.0f}/s", flush=True)
kids = []
for w in range(max(1, os.cpu_count() or 1)):
    pid = os.fork()
    if pid == 0:
        send(w); os._exit(0)
    kids.append(pid)
for k in kids: os.waitpid(k, 0)
PY
wait $!
sleep 1
wait $p1
[ -n "$p2" ] && { kill -INT $p2; wait $p2; }
pflow_drops=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["capture"]; print(d.get("kernel_drops", "?"), "of", d["packets"] + d.get("kernel_drops", 0))' "$tmp/pflow.json")
echo "pflow:   kernel drops $pflow_drops packets"
if [ -n "$p2" ]; then
  echo "tcpdump: $(grep -E 'captured|received by filter|dropped by kernel' "$tmp/tcpdump.err" | tr '\n' ' ')"
else
  echo "tcpdump: not installed (apt-get install tcpdump): pflow alone"
fi
