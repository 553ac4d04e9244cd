#!/usr/bin/env bash
# Records Samples/findings-netns.pcap: two network namespaces joined by a veth
# pair, captured on the server's side with tcpdump. Needs root, iproute2,
# tcpdump, nmap, python3, curl, nc (netcat-openbsd), openssh (sshd, ssh).
#   server  10.99.0.2  python http.server on 8000; later sshd on 2222
#   client  10.99.0.1  two curl requests to :8000, then an nmap SYN scan of
#                      TCP 1-100 and 8000, then a UDP scan of 500-520
#   knocker 10.99.0.3  TCP attempts on 7001, 7002, 7003 (closed), after which
#                      sshd starts on 2222 (as a knock daemon would open it),
#                      then ssh connects to 2222
set -euo pipefail
cd "$(dirname "$0")"
A=pflow-rec-a B=pflow-rec-b
work=$(mktemp -d)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  ip netns pids $B 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns pids $A 2>/dev/null | xargs -r kill 2>/dev/null || true
  wait 2>/dev/null || true
  ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip link add pflow-va type veth peer name pflow-vb
ip link set pflow-va netns $A; ip link set pflow-vb netns $B
ip -n $A addr add 10.99.0.1/24 dev pflow-va; ip -n $A addr add 10.99.0.3/24 dev pflow-va
ip -n $B addr add 10.99.0.2/24 dev pflow-vb
for ns in $A $B; do ip -n $ns link set lo up; done
ip -n $A link set pflow-va up; ip -n $B link set pflow-vb up
# Answer every closed UDP port (no ICMP rate limit), as an unloaded host would.
ip netns exec $B sysctl -qw net.ipv4.icmp_ratelimit=0

mkdir -p "$work/www" /run/sshd && printf 'findings sample\n' > "$work/www/index.html"
ssh-keygen -q -A
(cd "$work/www" && exec ip netns exec $B python3 -m http.server 8000 --bind 10.99.0.2 >/dev/null 2>&1) &
sleep 1
ip netns exec $B tcpdump -i pflow-vb -w findings-netns.pcap -U 'not arp and not icmp6 and not ip6' >/dev/null 2>&1 &
sleep 1
for i in 1 2; do ip netns exec $A curl -s -o /dev/null --interface 10.99.0.1 http://10.99.0.2:8000/index.html; done
ip netns exec $A nmap -n -Pn -sS -T4 --max-retries 0 -S 10.99.0.1 -e pflow-va -p 1-100,8000 10.99.0.2 >/dev/null
ip netns exec $A nmap -n -Pn -sU -T4 --max-retries 0 -S 10.99.0.1 -e pflow-va -p 500-520 10.99.0.2 >/dev/null
sleep 1
for port in 7001 7002 7003; do ip netns exec $A nc -z -w 1 -s 10.99.0.3 10.99.0.2 $port || true; sleep 0.3; done
ip netns exec $B /usr/sbin/sshd -p 2222 -o ListenAddress=10.99.0.2 -o PidFile=$work/sshd.pid
sleep 1
ip netns exec $A ssh -b 10.99.0.3 -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
   -o ConnectTimeout=3 nobody@10.99.0.2 true >/dev/null 2>&1 || true
sleep 1
kill -INT %2 2>/dev/null || pkill -INT -f "tcpdump -i pflow-vb" || true
sleep 1
chmod 644 findings-netns.pcap
ls -l findings-netns.pcap
