#!/usr/bin/env bash
# Records the sample captures in this folder from real programs talking over
# the loopback interface. Needs root (packet capture), tcpdump, dumpcap
# (wireshark-common), python3, curl, dig (dnsutils), dnsmasq (dnsmasq-base),
# ping and nc (netcat-openbsd). Timestamps and ports differ on every run, so
# re-recording means re-recording the golden files too (make golden).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/www"
printf 'hello from pflow\n' > "$work/www/index.html"
head -c 200000 /dev/urandom | base64 > "$work/www/big.txt"

# 1. http-dns-lo.pcap: classic pcap, Ethernet-framed loopback (EN10MB).
#    curl fetches pages from python's http.server on 127.0.0.1:8000 and
#    dig asks dnsmasq on 127.0.0.1:53.
(cd "$work/www" && exec python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1) &
dnsmasq -k --no-resolv --no-hosts --port=53 --listen-address=127.0.0.1 --bind-interfaces \
        --address=/pflow.test/192.0.2.80 --pid-file="$work/dnsmasq.pid" >/dev/null 2>&1 &
sleep 1
tcpdump -i lo -w http-dns-lo.pcap -U 'port 8000 or port 53' >/dev/null 2>&1 &
tcpdump_pid=$!
sleep 1
for i in 1 2 3; do curl -s -o /dev/null http://127.0.0.1:8000/index.html; done
curl -s -o /dev/null http://127.0.0.1:8000/big.txt
curl -s -o /dev/null http://127.0.0.1:8000/missing
for name in www.pflow.test api.pflow.test mail.pflow.test; do dig +short +tries=1 @127.0.0.1 "$name" A >/dev/null; done
dig +short +tries=1 +tcp @127.0.0.1 www.pflow.test A >/dev/null
sleep 1
kill -INT $tcpdump_pid; wait $tcpdump_pid 2>/dev/null || true

# 2. any-mixed.pcapng: pcapng from dumpcap on the "any" pseudo-interface
#    (LINUX_SLL2). IPv6 HTTP to [::1]:8080, a refused TCP connection, UDP
#    datagrams to a listener, and ICMP echo.
(cd "$work/www" && exec python3 -m http.server 8080 --bind ::1 >/dev/null 2>&1) &
nc -u -l 127.0.0.1 5514 >/dev/null 2>&1 &
sleep 1
dumpcap -q -i any -y LINUX_SLL2 -w any-mixed.pcapng -f 'port 8080 or port 5514 or port 9 or icmp' >/dev/null 2>&1 &
dumpcap_pid=$!
sleep 2
curl -s -o /dev/null 'http://[::1]:8080/index.html'
curl -s -o /dev/null 'http://[::1]:8080/index.html'
curl -s -o /dev/null --max-time 2 http://127.0.0.1:9/ || true
for i in 1 2 3; do echo "<13>pflow sample message $i" | nc -u -w1 127.0.0.1 5514; done
ping -c 3 -i 0.2 127.0.0.1 >/dev/null
sleep 1
kill -INT $dumpcap_pid; wait $dumpcap_pid 2>/dev/null || true
chmod 644 http-dns-lo.pcap any-mixed.pcapng
ls -l http-dns-lo.pcap any-mixed.pcapng
