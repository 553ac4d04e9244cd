#!/usr/bin/env bash
# Live capture checks on the loopback interface, with real connections made
# by this script (python's http.server and curl). They need capture rights
# (root, or CAP_NET_RAW and CAP_NET_ADMIN) and skip with a message without.
# Usage: bash Tests/live.sh path/to/pflow
set -u
pflow=$(cd "$(dirname "${1:?usage: live.sh path/to/pflow}")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; }

# Can we capture here at all?
if ! "$pflow" -i lo --count 1 --duration 1 --json >"$tmp/probe" 2>"$tmp/probe.err"; then
  if grep -qiE 'needs root|permission|not permitted|no such interface' "$tmp/probe.err"; then
    echo "live: skipped: capture on lo is not permitted here ($(head -1 "$tmp/probe.err"))"
    echo "live: 0 passed, 0 failed, 1 skipped"
    exit 0
  fi
fi
command -v curl >/dev/null || { echo "live: skipped: curl is not installed"; echo "live: 0 passed, 0 failed, 1 skipped"; exit 0; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/www" && printf 'hello from the pflow live test\n' >"$tmp/www/index.html"
(cd "$tmp/www" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

requests() { for _ in $(seq "$1"); do curl -s -o /dev/null "http://127.0.0.1:$port/index.html"; done; }
# check_csv FILE N: exactly N flows to the server, each opened by a SYN and finished (SF).
check_csv() {
  python3 - "$1" "$2" "$port" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["server_port"] == sys.argv[3]]
want = int(sys.argv[2])
bad = [r for r in rows if r["role_source"] != "syn" or r["state"] != "SF" or r["proto"] != "tcp"]
if len(rows) != want or bad:
    sys.exit(f"{len(rows)} flows (want {want}); not syn/SF: {[(r['client_port'], r['role_source'], r['state']) for r in bad]}")
PY
}

# 1. --duration stop.
"$pflow" -i lo -f "tcp port $port" --duration 4 --csv "$tmp/d.csv" --json >"$tmp/d.json" 2>"$tmp/d.err" &
pid=$!
sleep 1; requests 5
wait $pid; rc=$?
if [ $rc = 0 ] && out=$(check_csv "$tmp/d.csv" 5 2>&1) && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["capture"]["kernel_drops"] == 0 and d["totals"]["flows"] == 5' "$tmp/d.json"; then
  ok "--duration stop: 5 connections, syn/SF, in the CSV and the JSON"
else fail "--duration stop" "rc=$rc ${out:-} $(head -3 "$tmp/d.err")"; fi

# 2. SIGINT stop: flows still open close with end_reason end; exit 0.
"$pflow" -i lo -f "tcp port $port" --csv "$tmp/i.csv" >"$tmp/i.out" 2>"$tmp/i.err" &
pid=$!
sleep 1; requests 3
exec 3<>/dev/tcp/127.0.0.1/$port   # one connection left open
sleep 0.5
kill -INT $pid; wait $pid; rc=$?
exec 3>&-
open_rows=$(python3 -c 'import csv,sys; print(sum(1 for r in csv.DictReader(open(sys.argv[1])) if r["state"]=="S1" and r["end_reason"]=="end"))' "$tmp/i.csv")
if [ $rc = 0 ] && out=$(python3 - "$tmp/i.csv" "$port" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["server_port"] == sys.argv[2]]
done = [r for r in rows if r["state"] == "SF" and r["role_source"] == "syn"]
assert len(done) == 3, rows
PY
) && [ "$open_rows" = 1 ] && grep -q '^Services' "$tmp/i.out"; then
  ok "SIGINT stop: exit 0, final report, 3 finished connections and the open one as S1/end"
else fail "SIGINT stop" "rc=$rc open=$open_rows ${out:-} $(head -3 "$tmp/i.err")"; fi

# 3. --count stops after exactly that many packets.
"$pflow" -i lo -f "tcp port $port" --count 7 --json >"$tmp/c.json" 2>"$tmp/c.err" &
pid=$!
sleep 1; requests 3
wait $pid; rc=$?
if [ $rc = 0 ] && python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["capture"]["packets"] == 7' "$tmp/c.json"; then
  ok "--count 7 stops after 7 packets"
else fail "--count" "rc=$rc $(head -3 "$tmp/c.err")"; fi

# 4. The CSV streams: ended flows reach the file while pflow still runs (tail -f).
"$pflow" -i lo -f "tcp port $port" --csv "$tmp/s.csv" >/dev/null 2>"$tmp/s.err" &
pid=$!
sleep 1; requests 2
sleep 9   # the 5 s close linger, then the once-a-second sweep and flush
if out=$(check_csv "$tmp/s.csv" 2 2>&1); then ok "CSV rows stream out while capturing"; else fail "CSV streaming" "$out"; fi
kill -INT $pid; wait $pid

# 4b. --ipfix live: each connection's record reaches a local nfcapd as it
# ends (the filter keeps the export's own UDP out of the capture), client as
# source, 0 sequence errors. Skips without nfdump's nfcapd.
if command -v nfcapd >/dev/null && command -v nfdump >/dev/null; then
  nfport=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$tmp/nf"
  nfcapd -p "$nfport" -b 127.0.0.1 -w "$tmp/nf" -B 4194304 >"$tmp/nf.log" 2>&1 &
  nf_pid=$!
  for _ in $(seq 100); do grep -q Startup "$tmp/nf.log" && break; sleep 0.05; done
  "$pflow" -i lo -f "tcp port $port" --duration 4 --ipfix "127.0.0.1:$nfport" --csv "$tmp/x.csv" >/dev/null 2>"$tmp/x.err" &
  pid=$!
  sleep 1; requests 4
  wait $pid; rc=$?
  sleep 0.5; kill -TERM $nf_pid; wait $nf_pid
  got=$(nfdump -R "$tmp/nf" -o csv -N 2>/dev/null | python3 -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
print(sum(1 for r in rows if (r.get("dp") or "").strip() == sys.argv[1] and (r.get("sa") or "").strip() == "127.0.0.1"))' "$port")
  if [ $rc = 0 ] && [ "$got" = 4 ] && out=$(check_csv "$tmp/x.csv" 4 2>&1) && grep -q "Sequence Errors: 0" "$tmp/nf.log"; then
    ok "--ipfix live: 4 connections reach nfcapd once each, client as source, 0 sequence errors"
  else fail "--ipfix live" "rc=$rc nfcapd flows=$got ${out:-} $(head -3 "$tmp/x.err") $(grep -i 'sequence' "$tmp/nf.log" | head -2)"; fi
else
  echo "skip --ipfix live check: nfcapd/nfdump not installed (apt-get install nfdump)"
fi

# 5. A bad interface: one error line, the list of interfaces, exit 1.
"$pflow" -i nosuchif0 >"$tmp/n.out" 2>"$tmp/n.err"; rc=$?
if [ $rc = 1 ] && head -1 "$tmp/n.err" | grep -q '^pflow: error: nosuchif0: no such interface$' && grep -q 'lo' "$tmp/n.err"; then
  ok "unknown interface lists the interfaces"; else fail "unknown interface" "rc=$rc $(cat "$tmp/n.err")"; fi

# 6. The interface goes down mid-capture: the report of what was seen, then exit 1.
if ip link add pflow-live0 type veth peer name pflow-live1 2>/dev/null; then
  ip link set pflow-live0 up; ip link set pflow-live1 up
  "$pflow" -i pflow-live0 --json >"$tmp/down.json" 2>"$tmp/down.err" &
  pid=$!
  sleep 1.5; ip link set pflow-live0 down
  wait $pid; rc=$?
  ip link del pflow-live0 2>/dev/null
  if [ $rc = 1 ] && grep -q 'pflow: error: pflow-live0: the interface went down' "$tmp/down.err" \
     && python3 -c 'import json,sys; json.load(open(sys.argv[1]))["capture"]' "$tmp/down.json"; then
    ok "interface down: report, then exit 1"
  else fail "interface down" "rc=$rc $(cat "$tmp/down.err")"; fi
else
  echo "skip interface-down check: cannot create a veth pair here"
fi

# 7. Without capture rights: one line naming root, the capabilities and setcap; exit 1.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  cp "$pflow" "$tmp/pflow-unprivileged" && chmod 755 "$tmp" "$tmp/pflow-unprivileged"
  su nobody -s /bin/sh -c "$tmp/pflow-unprivileged -i lo --duration 1" >"$tmp/np.out" 2>"$tmp/np.err"; rc=$?
  if [ $rc = 1 ] && [ "$(wc -l <"$tmp/np.err")" = 1 ] \
     && grep -q '^pflow: error: capturing on lo needs root, or the CAP_NET_RAW and CAP_NET_ADMIN capabilities (grant them once with: sudo setcap cap_net_raw,cap_net_admin=eip ' "$tmp/np.err"; then
    ok "no capture rights: one line with the setcap command"
  else fail "no capture rights" "rc=$rc $(cat "$tmp/np.err")"; fi
else
  echo "skip no-permission check: needs root and a 'nobody' user"
fi

"$pflow" -D | grep -qE '^[0-9]+\.lo( |$)' && ok "-D lists lo" || fail "-D"

echo "live: $passed passed, $failed failed"
[ "$failed" = 0 ]
