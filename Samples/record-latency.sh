#!/usr/bin/env bash
# Records Samples/latency-netns.pcap: real traffic over a path with a known
# added delay on each side of the capture point, to servers with a known
# think time (issue 16). Needs root, iproute2, ethtool, tcpdump, python3,
# dig, curl, openssl, chrt (util-linux). Samples/latency-netns.truth.md says
# what the capture shows; Tests/latency.py checks pflow against it.
#
# This kernel has no sch_netem (`tc qdisc add ... netem` fails: "Specified
# qdisc kind is unknown"), so the delay is a relay: a python program in a
# middle namespace that reads every frame from one veth with an AF_PACKET
# socket and writes it to the next one a fixed time after the kernel
# received it (the SO_TIMESTAMPNS receive stamp, timer slack 1 µs, the last
# 300 µs spun), in both directions.
#
#   client ns   pflow-lat-c   pflow-lc  10.97.0.1/24
#   middle ns   pflow-lat-m   pflow-m1 (peer of pflow-lc)
#                             pflow-m2 ── pflow-m3 (a veth pair inside it)
#                             pflow-m4 (peer of pflow-ls)
#   server ns   pflow-lat-s   pflow-ls  10.97.0.2/24, 10.97.0.3/24
#
#   client ─ m1 ══ 5 ms ══ m2 ─┬─ m3 ══ 20 ms ══ m4 ─ server
#                              └ capture point (tcpdump -i pflow-m2)
#
# The relay delays m1→m2 and m2→m1 by 5 ms (the client side, each way) and
# m3→m4 and m4→m3 by 20 ms (the server side, each way). tcpdump on pflow-m2
# sees a client's frame when the relay writes it (5 ms after the client sent
# it) and a server's frame when it arrives from m3 (20 ms after the server
# sent it). So at the capture point, for every TCP flow:
#
#   server_latency_ms = SYN → SYN-ACK  = 20 + 20 + the server kernel's SYN-ACK
#                                        time (µs)               ≈ 40 ms
#   client_latency_ms = SYN-ACK → ACK  = 5 + 5 + the client kernel's ACK time
#                                                                ≈ 10 ms
#   server + client   = tshark's tcp.analysis.initial_rtt      ≈ 50 ms
#   app_latency_ms    = request → first response payload
#                     = 20 + think time + 20                   (ms)
#       DNS   :53   UDP, 10 ms think                            ≈ 50 ms
#       ping  :9000 20 ms think                                 ≈ 60 ms
#       TLS   :8443 30 ms think (ClientHello → ServerHello)     ≈ 70 ms
#             :8444 the same, MSS 100 (the think time counts from
#                   the ClientHello's last segment, µs after its first)
#       HTTP  :8080 50 ms think                                 ≈ 90 ms
# The servers (one python program) answer the think time after the kernel
# received the request (its SO_TIMESTAMPNS stamp), their own work done
# before they wait (the TLS server makes its first flight with a memory BIO,
# then waits, then sends it). The relay and the servers run SCHED_FIFO
# (chrt), so a busy machine delays them by microseconds, not milliseconds.
# What is left beyond the nominal values is the kernels' and the relay's
# own time: 0.1-0.3 ms in the recording (the truth file lists every flow).
#
# Traffic, 0.5 s apart, all from 10.97.0.1:
#   1 dig @10.97.0.2 www.latency.test A (UDP)  → 10.97.0.2
#   2 dig @10.97.0.2 db.latency.test A (UDP)   → 10.97.0.3 (this flow is
#     itself named www.latency.test by the answer of 1: name_source dns)
#   3 TCP to 10.97.0.3:9000: "PING\n", 20 ms, "PONG\n" (no name in it: its
#     name is the DNS answer of 2, name_source dns)
#   4 curl http://www.latency.test:8080/ three times (--resolve: no lookup;
#     Host www.latency.test:8080, name_source http-host); the server reads
#     the request, waits 50 ms, answers and closes
#   5 openssl s_client -servername tls.latency.test to 10.97.0.2:8443 twice
#     (SNI, name_source sni); TLS 1.3 with a self-signed P-256 certificate;
#     the server writes a line, the client closes
#   6 the same once to 8444, whose server offers an MSS of 100 bytes: the
#     client's ClientHello comes in several segments, its SNI
#     split.latency.test past the first one (name_source sni)
# Offloads are off on every veth (full-size frames, correct checksums); IPv6
# is off in the namespaces and ARP is left out of the capture.
set -euo pipefail
cd "$(dirname "$0")"
out=$PWD/latency-netns.pcap
C=pflow-lat-c M=pflow-lat-m S=pflow-lat-s
CLIENT_MS=5 SERVER_MS=20

work= pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for ns in $C $M $S; do ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in $C $M $S; do ip netns del $ns 2>/dev/null || true; done
  [ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT
for t in ip ethtool tcpdump python3 dig curl openssl chrt; do
  command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "record-latency: $t is missing" >&2; exit 1; }
done
work=$(mktemp -d)

# --- namespaces, veths ------------------------------------------------------
for ns in $C $M $S; do ip netns del $ns 2>/dev/null || true; done  # left by an aborted run
for ns in $C $M $S; do
  ip netns add $ns
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $ns link set lo up
done
ip link add pflow-lc address 02:97:00:00:00:01 type veth peer name pflow-m1
ip link add pflow-ls address 02:97:00:00:00:02 type veth peer name pflow-m4
ip link set pflow-lc netns $C; ip link set pflow-m1 netns $M
ip link set pflow-ls netns $S; ip link set pflow-m4 netns $M
ip -n $M link add pflow-m2 type veth peer name pflow-m3
for dev in pflow-m1 pflow-m2 pflow-m3 pflow-m4; do
  ip netns exec $M sysctl -qw net.ipv6.conf.$dev.disable_ipv6=1 2>/dev/null || true
done
ip -n $C addr add 10.97.0.1/24 dev pflow-lc
ip -n $S addr add 10.97.0.2/24 dev pflow-ls
ip -n $S addr add 10.97.0.3/24 dev pflow-ls
for pair in "$C pflow-lc" "$S pflow-ls" "$M pflow-m1" "$M pflow-m2" "$M pflow-m3" "$M pflow-m4"; do
  set -- $pair
  ip netns exec $1 ethtool -K $2 tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip -n $1 link set $2 up
done

cs() { ip netns exec $C "$@"; }
bg() { local ns=$1; shift; ip netns exec $ns "$@" & pids+=($!); }

# --- the delaying relay -----------------------------------------------------
cat > "$work/relay.py" <<'EOF'
# relay.py IN:OUT:MS ...: every frame received on IN is written to OUT MS ms
# after the kernel received it.
import ctypes, heapq, select, socket, struct, sys, time
ctypes.CDLL(None).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK: 1 µs, not 50
SO_TIMESTAMPNS, PACKET_OUTGOING = 35, 4
socks = {}
def sock(name):
    if name not in socks:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        s.bind((name, 0))
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setblocking(False)
        socks[name] = s
    return socks[name]
route = {}
for arg in sys.argv[1:]:
    a, b, ms = arg.split(":")
    route[sock(a).fileno()] = (sock(a), sock(b), int(float(ms) * 1e6))
queue, seq = [], 0
def drain(fd):
    global seq
    s, to, delay = route[fd]
    while True:
        try:
            data, anc, _, addr = s.recvmsg(65536, 64)
        except BlockingIOError:
            return
        if addr[2] == PACKET_OUTGOING:
            continue
        rx = time.time_ns()
        for level, kind, val in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", val[:16]); rx = sec * 1_000_000_000 + nsec
        seq += 1
        heapq.heappush(queue, (rx + delay, seq, to, data))
fds = list(route)
while True:
    now = time.time_ns()
    while queue and queue[0][0] <= now:
        _, _, to, data = heapq.heappop(queue)
        to.send(data)
        now = time.time_ns()
    wait = None if not queue else (queue[0][0] - now) / 1e9
    spin = wait is not None and wait < 300e-6
    ready, _, _ = select.select(fds, [], [], 0 if spin else (None if wait is None else wait - 250e-6))
    for fd in ready:
        drain(fd)
EOF
bg $M chrt -f 50 python3 "$work/relay.py" pflow-m1:pflow-m2:$CLIENT_MS pflow-m2:pflow-m1:$CLIENT_MS \
  pflow-m3:pflow-m4:$SERVER_MS pflow-m4:pflow-m3:$SERVER_MS

# --- servers: think a known time, then answer ---------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
  -subj /CN=tls.latency.test -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
cat > "$work/servers.py" <<'EOF'
# Each server answers a known time after the kernel received the request
# (the SO_TIMESTAMPNS stamp of its last segment), its own work done before
# it waits: the capture sees the path and the think time, nothing else.
import ctypes, socket, ssl, struct, sys, threading, time
ctypes.CDLL(None).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK: 1 µs, not 50
SO_TIMESTAMPNS = 35
cert, key = sys.argv[1], sys.argv[2]
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); tls.load_cert_chain(cert, key)
def recv(c):  # (bytes, kernel receive time in ns)
    data, anc, _, _ = c.recvmsg(65536, 64)
    rx = time.time_ns()
    for level, kind, val in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", val[:16]); rx = sec * 1_000_000_000 + nsec
    return data, rx
def read_until(c, end):
    buf, rx = b"", 0
    while end not in buf:
        got, rx = recv(c)
        if not got: break
        buf += got
    return buf, rx
def at(deadline_ns):  # sleep to 1 ms before, spin the rest
    left = (deadline_ns - time.time_ns()) / 1e9
    if left > 0.001: time.sleep(left - 0.001)
    while time.time_ns() < deadline_ns: pass
def http(c):   # the request, 50 ms, the answer, close
    _, rx = read_until(c, b"\r\n\r\n")
    body = b"latency sample\n"
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    at(rx + 50_000_000); c.sendall(reply)
def ping(c):   # a line, 20 ms, one line back
    _, rx = read_until(c, b"\n"); at(rx + 20_000_000); c.sendall(b"PONG\n")
def hello(c):  # the ClientHello; the server's first flight made; 30 ms; sent
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    t = tls.wrap_bio(inc, outg, server_side=True)
    first, rx = True, 0
    while True:
        try:
            t.do_handshake(); break
        except ssl.SSLWantReadError:
            pass
        out = outg.read()
        if out:
            if first: at(rx + 30_000_000); first = False
            c.sendall(out)
        data, rx = recv(c)
        if not data: return
        inc.write(data)
    c.sendall(outg.read())
    t.write(b"latency sample\n"); c.sendall(outg.read())
    c.settimeout(5)  # read to the client's close, so that closing sends FIN, not RST
    while c.recv(4096): pass
def serve(addr, port, handler, mss=0):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # A small MSS: the SYN-ACK offers it, so the client cuts its ClientHello into segments.
    if mss: l.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    l.bind((addr, port)); l.listen(16)
    while True:
        c, _ = l.accept()
        c.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        def run(c=c):
            try: handler(c)
            except Exception: pass
            finally: c.close()
        threading.Thread(target=run, daemon=True).start()
def dns():     # UDP 53: A for the two names (NXDOMAIN else), 10 ms after the query
    names = {b"www.latency.test": "10.97.0.2", b"db.latency.test": "10.97.0.3"}
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1); u.bind(("10.97.0.2", 53))
    while True:
        q, anc, _, peer = u.recvmsg(512, 64)
        rx = time.time_ns()
        for level, kind, val in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", val[:16]); rx = sec * 1_000_000_000 + nsec
        if len(q) < 17: continue
        labels, i = [], 12
        while i < len(q) and q[i]: labels.append(q[i + 1:i + 1 + q[i]]); i += 1 + q[i]
        question = q[12:i + 5]
        addr = names.get(b".".join(labels).lower())
        if addr:
            reply = q[:2] + struct.pack("!5H", 0x8180, 1, 1, 0, 0) + question \
                + struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr)
        else:
            reply = q[:2] + struct.pack("!5H", 0x8183, 1, 0, 0, 0) + question
        at(rx + 10_000_000); u.sendto(reply, peer)
threading.Thread(target=dns, daemon=True).start()
for a, p, h, m in [("10.97.0.2", 8080, http, 0), ("10.97.0.3", 9000, ping, 0), ("10.97.0.2", 8443, hello, 0),
                   ("10.97.0.2", 8444, hello, 100)]:
    threading.Thread(target=serve, args=(a, p, h, m), daemon=True).start()
threading.Event().wait()
EOF
bg $S chrt -f 40 python3 "$work/servers.py" "$work/tls.crt" "$work/tls.key"
for i in $(seq 100); do
  n=$(ip netns exec $S ss -Hln '( sport = :8080 or sport = :9000 or sport = :8443 or sport = :8444 or sport = :53 )' 2>/dev/null | wc -l)
  [ "$n" -ge 5 ] && break; sleep 0.1
done

# Resolve ARP before the capture starts, so that no first SYN waits for it.
cs ping -c 1 -W 2 10.97.0.2 >/dev/null; cs ping -c 1 -W 2 10.97.0.3 >/dev/null

# --- capture at the point between the two delays ------------------------------
ip netns exec $M tcpdump -i pflow-m2 -Z root -U -w "$work/latency.pcap" 'not arp' 2>"$work/tcpdump.log" &
tcpdump_pid=$!; pids+=($tcpdump_pid)
for i in $(seq 100); do grep -q 'listening on' "$work/tcpdump.log" && break; sleep 0.1; done
sleep 1

cs dig +short +tries=1 +time=2 -b 10.97.0.1 @10.97.0.2 www.latency.test A
sleep 0.5
cs dig +short +tries=1 +time=2 -b 10.97.0.1 @10.97.0.2 db.latency.test A
sleep 0.5
cs python3 -c 'import socket
s = socket.create_connection(("10.97.0.3", 9000), source_address=("10.97.0.1", 0))
s.sendall(b"PING\n"); print(s.recv(100).decode().strip()); s.close()'
sleep 0.5
for i in 1 2 3; do
  cs curl -sS --resolve www.latency.test:8080:10.97.0.2 http://www.latency.test:8080/; sleep 0.5
done
for i in 1 2; do
  # stdin ends after 0.5 s (the reply read): s_client then closes first.
  sleep 0.5 | cs openssl s_client -brief -servername tls.latency.test -connect 10.97.0.2:8443 2>/dev/null || true
  sleep 0.5
done
sleep 0.5 | cs openssl s_client -brief -servername split.latency.test -connect 10.97.0.2:8444 2>/dev/null || true
sleep 0.5
sleep 1

kill -INT $tcpdump_pid; wait $tcpdump_pid 2>/dev/null || true
cp "$work/latency.pcap" "$out"; chmod 644 "$out"
tail -n 3 "$work/tcpdump.log" >&2
ls -l "$out"
