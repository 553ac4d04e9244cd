#!/usr/bin/env bash
# Records Samples/report-netns.pcap, the capture of the "truthful report"
# issue: two network namespaces joined by a veth pair, captured with tcpdump
# on the server's side. Run as root on Debian 12; it installs with apt-get
# whatever of its tools is missing. Only the two namespaces it creates carry
# traffic. Samples/report-netns.truth.md says what a report must show.
#
#   server   pflow-rep-s  pflow-rs 02:98:00:00:00:02  10.98.0.2/24  fd98::2/64
#   client   pflow-rep-c  pflow-rc 02:98:00:00:00:01  10.98.0.1/24  fd98::1/64
#            and on the same veth  10.98.0.66 (scanner), 10.98.0.77 (knocker)
#
# Phases, 2 s apart:
#  1 services   10.98.0.1 and fd98::1: curl http://:8765/ (python http.server)
#               3x over IPv4, 2x over IPv6; curl -k https://:8443/ (openssl
#               s_server -www, self-signed) once over each; dig A/AAAA to
#               dnsmasq on 53 over UDP (2 over IPv4, 2 over IPv6) and one A
#               over TCP (IPv4); one ssh login attempt to sshd on 2222 (auth
#               fails by design); redis-cli PING to redis-server on 6379 (only
#               when redis installs)
#  2 syslog     5 logger invocations, UDP 10.98.0.1 -> 10.98.0.2:514; the
#               server drops them (nft) or a socket reads them, never a reply
#  3 scans      10.98.0.66: nmap SYN scan of TCP 1-2000, then a UDP scan of
#               53,123,161,500-510
#  4 knocks     10.98.0.77: nc -z to 7000, 8000, 9000 (refused), then sshd
#               starts on 2022 and ssh from 10.98.0.77 connects to it;
#               10.98.0.66: nc -z to 7100, 7200, 7300 (refused), then ssh
#               connects to 2222
#  5 one-way    mDNS queries to 224.0.0.251:5353 (2, one socket) and
#    and ping   [ff02::fb]:5353 (1), a Wake-on-LAN magic packet to
#               10.98.0.255:9, ping -c 3 10.98.0.2 and ping -c 2 fd98::2
# The capture filter leaves out ARP, IGMP, MLD and IPv6 neighbour discovery
# (router/neighbour solicitations and advertisements, redirects).
# Checksum and segmentation offloads are off on both veth ends, so the
# capture holds wire-sized segments with correct checksums.
set -euo pipefail
cd "$(dirname "$0")"
out=$PWD/report-netns.pcap
C=pflow-rep-c S=pflow-rep-s VC=pflow-rc VS=pflow-rs

work= made_policy= pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for ns in $C $S; do ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del $C 2>/dev/null || true; ip netns del $S 2>/dev/null || true
  ip link del $VC 2>/dev/null || true
  [ -z "$work" ] || rm -rf "$work"
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
}
trap cleanup EXIT

# --- tools: install what is missing (Debian package names) ----------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || missing+=("$2"); }
need ip iproute2; need ss iproute2; need tcpdump tcpdump; need nmap nmap
need dnsmasq dnsmasq-base; need /usr/sbin/sshd openssh-server; need ssh openssh-client
need ssh-keygen openssh-client; need curl curl; need dig dnsutils; need openssl openssl
need nc netcat-openbsd; need logger bsdutils; need python3 python3
need ethtool ethtool; need ping iputils-ping; need nft nftables
if [ ${#missing[@]} -gt 0 ] || ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  # Keep the packages' own services (sshd, redis) from starting on the host.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    || apt-get install -y -qq --no-install-recommends redis-server redis-tools \
    || echo "redis could not be installed: the redis part is left out" >&2
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; made_policy=; fi
fi

# --- namespaces, veth --------------------------------------------------------
work=$(mktemp -d)
cs() { ip netns exec $C "$@"; }   # run in the client namespace
ss_() { ip netns exec $S "$@"; }  # run in the server namespace

ip netns del $C 2>/dev/null || true; ip netns del $S 2>/dev/null || true  # left by an aborted run
ip netns add $C; ip netns add $S
for ns in $C $S; do
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
    net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0
done
ip link add $VC address 02:98:00:00:00:01 type veth peer name $VS address 02:98:00:00:00:02
ip link set $VC netns $C; ip link set $VS netns $S
ip netns exec $C sysctl -qw net.ipv6.conf.$VC.accept_dad=0
ip netns exec $S sysctl -qw net.ipv6.conf.$VS.accept_dad=0
ip -n $C addr add 10.98.0.1/24 dev $VC
ip -n $C addr add 10.98.0.66/24 dev $VC
ip -n $C addr add 10.98.0.77/24 dev $VC
ip -n $C addr add fd98::1/64 dev $VC nodad
ip -n $S addr add 10.98.0.2/24 dev $VS
ip -n $S addr add fd98::2/64 dev $VS nodad
for ns in $C $S; do ip -n $ns link set lo up; done
cs ethtool -K $VC tx off tso off gso off gro off >/dev/null 2>&1 || true
ss_ ethtool -K $VS tx off tso off gso off gro off >/dev/null 2>&1 || true
ip -n $C link set $VC up; ip -n $S link set $VS up
# Answer every closed UDP port of the UDP scan (no ICMP rate limit).
ss_ sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0

# wait_listen tcp|udp PORT: until something in the server namespace listens there.
wait_listen() {
  local i
  for i in $(seq 100); do
    ss_ ss -Hln --"$1" "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  echo "record-report: nothing listens on $1 $2" >&2; return 1
}
# bgs CMD...: a server-namespace process in the background (its pid is the
# program itself, as ip netns exec execs it), killed at exit.
bgs() { ip netns exec $S "$@" & pids+=($!); }

# --- servers ---------------------------------------------------------------
mkdir -p "$work/www" "$work/ssh/etc/ssh" /run/sshd
printf 'pflow report sample\n' > "$work/www/index.html"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
  -subj /CN=report.test -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
ssh-keygen -q -A -f "$work/ssh"
sshd_conf() {  # PORT -> config file
  {
    echo "Port $1"; echo "ListenAddress 10.98.0.2"
    for k in "$work"/ssh/etc/ssh/ssh_host_*_key; do echo "HostKey $k"; done
    echo "PidFile $work/sshd-$1.pid"; echo "UsePAM no"; echo "PermitRootLogin no"
  } > "$work/sshd-$1.conf"
  echo "$work/sshd-$1.conf"
}

bgs python3 -m http.server 8765 --bind :: --directory "$work/www" >/dev/null 2>&1
bgs openssl s_server -quiet -www -accept 10.98.0.2:8443 -cert "$work/tls.crt" -key "$work/tls.key" >/dev/null 2>&1
bgs openssl s_server -quiet -www -6 -accept '[fd98::2]:8443' -cert "$work/tls.crt" -key "$work/tls.key" >/dev/null 2>&1
bgs dnsmasq -k --no-resolv --no-hosts --port=53 --bind-interfaces \
  --listen-address=10.98.0.2 --listen-address=fd98::2 \
  --address=/report.test/10.98.0.80 --address=/report.test/fd98::80 \
  --pid-file="$work/dnsmasq.pid" >/dev/null 2>&1
bgs /usr/sbin/sshd -D -e -f "$(sshd_conf 2222)" 2>"$work/sshd-2222.log"
redis=
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  redis=1
  bgs redis-server --bind 10.98.0.2 --port 6379 --save '' --appendonly no \
    --protected-mode no --daemonize no --dir "$work" >/dev/null 2>&1
fi
# One-way syslog: drop UDP 514 before it reaches the (absent) socket, so no
# ICMP port unreachable goes back; without nftables, a socket that never answers.
if ss_ nft -f - <<'EOF' 2>/dev/null
table inet pflow {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 514 drop
  }
}
EOF
then echo "syslog: nft drops udp 514" >&2
else
  bgs python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.98.0.2", 514))
while True: s.recv(65535)'
  echo "syslog: a socket reads udp 514 and never answers" >&2
fi
wait_listen tcp 8765; wait_listen tcp 8443; wait_listen tcp 53; wait_listen udp 53; wait_listen tcp 2222
[ -n "$redis" ] && wait_listen tcp 6379

# --- capture ----------------------------------------------------------------
ip netns exec $S tcpdump -i $VS -Z root -U -w "$work/report.pcap" \
  'not arp and not igmp and not (ip6 proto 0) and not (ip6 proto 58 and ip6[40] >= 133 and ip6[40] <= 137)' \
  2>"$work/tcpdump.log" &
tcpdump_pid=$!; pids+=($tcpdump_pid)
for i in $(seq 100); do grep -q 'listening on' "$work/tcpdump.log" && break; sleep 0.1; done
sleep 1

ssh_try() {  # SOURCE PORT: one login attempt; auth fails, the connection and key exchange happen
  cs ssh -F /dev/null -b "$1" -p "$2" -o BatchMode=yes -o StrictHostKeyChecking=no \
     -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no -o ConnectTimeout=3 \
     nobody@10.98.0.2 true >/dev/null 2>&1 || true
}
knock() {  # SOURCE PORT...: one refused TCP attempt to each port
  local src=$1; shift
  for port in "$@"; do cs nc -z -w 1 -s "$src" 10.98.0.2 "$port" || true; sleep 0.3; done
}

# 1. services over IPv4 and IPv6
for i in 1 2 3; do cs curl -sS -o /dev/null --interface 10.98.0.1 http://10.98.0.2:8765/index.html; sleep 0.2; done
for i in 1 2; do cs curl -sS -o /dev/null --interface fd98::1 'http://[fd98::2]:8765/index.html'; sleep 0.2; done
cs curl -sS -k -o /dev/null --interface 10.98.0.1 https://10.98.0.2:8443/
cs curl -sS -k -o /dev/null --interface fd98::1 'https://[fd98::2]:8443/'
cs dig +short +tries=1 +time=2 -b 10.98.0.1 @10.98.0.2 www.report.test A >/dev/null
cs dig +short +tries=1 +time=2 -b 10.98.0.1 @10.98.0.2 www.report.test AAAA >/dev/null
cs dig +short +tries=1 +time=2 -b fd98::1 @fd98::2 api.report.test A >/dev/null
cs dig +short +tries=1 +time=2 -b fd98::1 @fd98::2 api.report.test AAAA >/dev/null
cs dig +short +tries=1 +time=2 +tcp -b 10.98.0.1 @10.98.0.2 mail.report.test A >/dev/null
ssh_try 10.98.0.1 2222
[ -n "$redis" ] && cs redis-cli -h 10.98.0.2 -p 6379 PING >/dev/null
sleep 2

# 2. one-way syslog (nothing answers)
for i in 1 2 3 4 5; do cs logger -n 10.98.0.2 -P 514 -d -t pflow "report sample message $i"; sleep 0.2; done
sleep 2

# 3. scans from 10.98.0.66
cs nmap -n -Pn -sS -T4 --max-retries 0 -S 10.98.0.66 -e $VC -p 1-2000 10.98.0.2 > "$work/nmap-tcp.txt"
sleep 1
cs nmap -n -Pn -sU -T4 --max-retries 0 -S 10.98.0.66 -e $VC -p 53,123,161,500-510 10.98.0.2 > "$work/nmap-udp.txt"
sleep 2

# 4. knocks: 10.98.0.77 opens 2022; then the scanner knocks and uses 2222
knock 10.98.0.77 7000 8000 9000
bgs /usr/sbin/sshd -D -e -f "$(sshd_conf 2022)" 2>"$work/sshd-2022.log"
wait_listen tcp 2022
ssh_try 10.98.0.77 2022
sleep 1
knock 10.98.0.66 7100 7200 7300
ssh_try 10.98.0.66 2222
sleep 2

# 5. one-way multicast and broadcast, then ping
cs python3 - <<'EOF'
import socket, struct
# An mDNS query (PTR _services._dns-sd._udp.local), as a browser sends it.
name = b"".join(bytes([len(p)]) + p for p in [b"_services", b"_dns-sd", b"_udp", b"local"]) + b"\0"
query = struct.pack("!6H", 0, 0, 1, 0, 0, 0) + name + struct.pack("!2H", 12, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.98.0.1"))
s.bind(("10.98.0.1", 5353))
for _ in range(2):
    s.sendto(query, ("224.0.0.251", 5353))
idx = socket.if_nametoindex("pflow-rc")
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s6.bind(("fe80::98:ff:fe00:1", 5353, 0, idx))
s6.sendto(query, ("ff02::fb", 5353, 0, idx))
# Wake-on-LAN magic packet for the server's MAC, broadcast to UDP 9.
mac = bytes.fromhex("029800000002")
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
b.bind(("10.98.0.1", 0))
b.sendto(b"\xff" * 6 + mac * 16, ("10.98.0.255", 9))
EOF
sleep 1
cs ping -c 3 -i 0.2 -I 10.98.0.1 10.98.0.2 >/dev/null
cs ping -6 -c 2 -i 0.2 -I fd98::1 fd98::2 >/dev/null
sleep 1

kill -INT $tcpdump_pid; wait $tcpdump_pid 2>/dev/null || true
grep -h '^[0-9]*/\(tcp\|udp\)' "$work/nmap-tcp.txt" "$work/nmap-udp.txt" | grep -v closed >&2 || true
cp "$work/report.pcap" "$out"; chmod 644 "$out"
tail -n 3 "$work/tcpdump.log" >&2
ls -l "$out"
