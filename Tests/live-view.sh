#!/usr/bin/env bash
# The live view of `pflow -i`, driven in tmux: pflow captures on one end of a
# veth pair between two private network namespaces while this script makes
# traffic (an HTTP download and upload, pings, a small port scan); the test
# reads the screen with `tmux capture-pane` and presses keys with
# `tmux send-keys`. Needs root (namespaces, capture) and tmux, curl, python3;
# skips with a message without them.
# Usage: bash Tests/live-view.sh path/to/pflow
set -u
pflow=$(cd "$(dirname "${1:?usage: live-view.sh path/to/pflow}")" && pwd)/$(basename "$1")
name=live-view
skip() { echo "$name: skipped: $1"; echo "$name: 0 passed, 0 failed, 1 skipped"; exit 0; }
for tool in tmux curl python3 ip; do command -v $tool >/dev/null || skip "$tool is not installed"; done
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces and capture)"

tmp=$(mktemp -d)
C=pflowlvc$$ S=pflowlvs$$ VC=lvc$$ VS=lvs$$ SOCK=pflowlv$$
ip netns add $C 2>/dev/null || { rm -rf "$tmp"; skip "can't create a network namespace here"; }
ip netns add $S
cleanup() {
  tmux -L $SOCK kill-server 2>/dev/null >&2
  for ns in $C $S; do ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null; done
  sleep 0.2
  ip netns del $C 2>/dev/null; ip netns del $S 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; }

ip link add $VC type veth peer name $VS
ip link set $VC netns $C; ip link set $VS netns $S
ip -n $C addr add 10.97.0.1/24 dev $VC; ip -n $S addr add 10.97.0.2/24 dev $VS
ip -n $C link set $VC up; ip -n $S link set $VS up
ip -n $C link set lo up; ip -n $S link set lo up

mkdir -p "$tmp/www"
head -c 300000 /dev/urandom >"$tmp/www/big.bin"
(cd "$tmp/www" && exec ip netns exec $S python3 -m http.server 8080 --bind 10.97.0.2 >/dev/null 2>&1) &
for _ in $(seq 50); do ip netns exec $C curl -s -o /dev/null --max-time 1 http://10.97.0.2:8080/ && break; sleep 0.1; done

# The pane runs pflow, then records its status and the terminal's settings
# (to compare with those before it), then waits to be read.
cat >"$tmp/run.sh" <<EOF
stty -g >"$tmp/stty.before"
ip netns exec $C "$pflow" -i $VC --interval 0.5 --csv "$tmp/flows.csv" \$@
echo \$? >"$tmp/rc"
stty -g >"$tmp/stty.after"
sleep 60
EOF
tmux -L $SOCK new-session -d -x 200 -y 50 -e LANG=C.UTF-8 -e TERM=xterm-256color "bash $tmp/run.sh"
screen() { tmux -L $SOCK capture-pane -p -t 0 2>/dev/null; }
# wait_for TEXT [tries]: until the screen shows TEXT (0.1 s a try).
wait_for() { for _ in $(seq "${2:-50}"); do screen | grep -qF -- "$1" && return 0; sleep 0.1; done; return 1; }

wait_for "health:" 80 || fail "the view starts" "$(screen | head -5)"
# Traffic: downloads (mostly to clients), an upload (to servers), pings, a scan of closed ports.
for _ in 1 2 3 4 5 6; do
  ip netns exec $C curl -s -o /dev/null http://10.97.0.2:8080/big.bin
  ip netns exec $C curl -s -o /dev/null -X POST --data-binary @"$tmp/www/big.bin" http://10.97.0.2:8080/ 2>/dev/null
  sleep 0.3
done &
traffic=$!
ip netns exec $C ping -c 6 -i 0.3 10.97.0.2 >/dev/null 2>&1 &
for port in $(seq 7001 7020); do ip netns exec $C bash -c "exec 3<>/dev/tcp/10.97.0.2/$port" 2>/dev/null; done
sleep 1.5
during=$(screen | grep -E 'tcp/8080' | head -1)
wait $traffic
sleep 1.2
view=$(screen)
printf '%s\n' "$view" >"$tmp/view.txt"
# PFLOW_VIEW_OUT=file keeps the screen (the README's example is one).
[ -n "${PFLOW_VIEW_OUT:-}" ] && cp "$tmp/view.txt" "$PFLOW_VIEW_OUT"

row=$(grep -E 'tcp/8080' "$tmp/view.txt" | head -1)
if grep -qF '↑ now' "$tmp/view.txt" && grep -qF '↓ 1 min' "$tmp/view.txt" && [ -n "$row" ] \
   && echo "$row" | grep -qE '[0-9.]+ [kMG]b/s'; then
  ok "a service row for tcp/8080 with ↑/↓ rates: $(echo "$row" | tr -s ' ' | cut -c1-90)"
else fail "service row with ↑/↓ rates" "$(head -12 "$tmp/view.txt")"; fi
# rates ROW: the row's ↑ now, ↓ now, ↑ 1 min, ↓ 1 min in bits/s.
rates() {
  python3 - "$1" <<'PY'
import re, sys
after = sys.argv[1].split('tcp/8080', 1)[1]
cells = re.findall(r'(?:^|\s)(0|[0-9.]+ [kMGT]?b/s)(?=\s|$)', after)[:4]
scale = {'': 1, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12}
def bits(c):
    if c == '0': return 0.0
    n, u = c.split(' ')
    return float(n) * scale[u[:-3]]
print(' '.join(str(bits(c)) for c in cells))
PY
}
read -r up_now down_now up_min down_min <<<"$(rates "$during")"
if python3 -c "import sys; u,d=map(float,sys.argv[1:3]); assert u+d > 0" "${up_now:-0}" "${down_now:-0}" 2>/dev/null; then
  ok "rates now while the transfers run: ↑ ${up_now} b/s, ↓ ${down_now} b/s"
else fail "rates now during traffic" "$during"; fi
# The minute's split, checked after the capture against the CSV (below).
read -r up_now down_now up_min down_min <<<"$(rates "$row")"
if echo "$row" | grep -q '[▁▂▃▄▅▆▇█]'; then ok "sparkline on the row"
else fail "sparkline" "$row"; fi
if grep -E '^health: [0-9,]+ packets/s .*kernel drops [0-9,]+ \([0-9.]+%\) .*live flows [0-9,]+ of no limit' "$tmp/view.txt" >/dev/null; then
  ok "health line: $(grep '^health:' "$tmp/view.txt" | tr -s ' ')"
else fail "health line" "$(grep health "$tmp/view.txt")"; fi
if grep -qE 'top hosts' "$tmp/view.txt" && grep -qE '^ 10\.97\.0\.[12] ' "$tmp/view.txt"; then ok "top hosts list the two ends"
else fail "top hosts" "$(grep -A3 'top hosts' "$tmp/view.txt")"; fi
if grep -qE '[0-9]{2}:[0-9]{2}:[0-9]{2}  new listener 10\.97\.0\.2 tcp/8080' "$tmp/view.txt" \
   && grep -qE '[0-9]{2}:[0-9]{2}:[0-9]{2}  scan 10\.97\.0\.1 → 10\.97\.0\.2 tcp: 15 ports' "$tmp/view.txt"; then
  ok "ticker: the new listener and the scan, with times"
else fail "ticker" "$(grep -A6 ' events' "$tmp/view.txt")"; fi

grep -qF 'sort: bytes' "$tmp/view.txt" || fail "initial sort label" "$(head -1 "$tmp/view.txt")"
tmux -L $SOCK send-keys -t 0 s
if wait_for "sort: packets" 20; then ok "s: sort bytes -> packets"; else fail "s key" "$(screen | head -1)"; fi
tmux -L $SOCK send-keys -t 0 s
if wait_for "sort: flows" 20; then ok "s again: -> flows"; else fail "s key twice" "$(screen | head -1)"; fi
tmux -L $SOCK send-keys -t 0 p
if wait_for "PAUSED" 20; then
  before=$(screen | md5sum); sleep 1.2; after=$(screen | md5sum)
  if [ "$before" = "$after" ]; then ok "p: paused, the screen stays as it was"; else fail "p: screen changed while paused"; fi
else fail "p key" "$(screen | head -1)"; fi
tmux -L $SOCK send-keys -t 0 p
resumed=no
for _ in $(seq 20); do screen | head -1 | grep -qF PAUSED || { resumed=yes; break; }; sleep 0.1; done
if [ $resumed = yes ]; then ok "p again: resumed"; else fail "p again" "$(screen | head -1)"; fi
tmux -L $SOCK send-keys -t 0 h
if wait_for "help (h closes it):" 20 && screen | grep -qE '^  q +quit'; then ok "h: help"; else fail "h key" "$(screen | head -8)"; fi
tmux -L $SOCK send-keys -t 0 h
if wait_for "top hosts" 20; then ok "h again: back to the view"; else fail "h again"; fi
tmux -L $SOCK send-keys -t 0 q
for _ in $(seq 100); do [ -s "$tmp/rc" ] && [ -s "$tmp/stty.after" ] && break; sleep 0.1; done
rc=$(cat "$tmp/rc" 2>/dev/null)
if [ "$rc" = 0 ] && cmp -s "$tmp/stty.before" "$tmp/stty.after"; then ok "q: exit 0, terminal settings restored"
else fail "q exit" "rc=$rc before=$(cat "$tmp/stty.before") after=$(cat "$tmp/stty.after" 2>/dev/null)"; fi
final=$(screen)
if echo "$final" | grep -q '^Services' && ! echo "$final" | grep -qF 'health:' \
   && grep -q ',8080,' "$tmp/flows.csv" 2>/dev/null; then ok "q: the report follows on the normal screen and the CSV is written"
else fail "q: final outputs" "$(echo "$final" | head -5)"; fi

# ↑/↓ over the minute (all of this run's traffic) split as the CSV's
# c2s_bytes/s2c_bytes of the tcp/8080 flows (the view rounds to 2 digits).
if python3 - "$tmp/flows.csv" "${up_min:-0}" "${down_min:-0}" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["server_port"] == "8080"]
c2s = sum(int(r["c2s_bytes"]) for r in rows); s2c = sum(int(r["s2c_bytes"]) for r in rows)
up, down = float(sys.argv[2]), float(sys.argv[3])
assert up > 0 and down > 0 and c2s > 0 and s2c > 0, (up, down, c2s, s2c)
assert abs((up / down) / (c2s / s2c) - 1) < 0.1, (up / down, c2s / s2c)
print(f"{up / down:.3f} vs {c2s / s2c:.3f}")
PY
then ok "1 min ↑/↓ (${up_min}/${down_min} b/s) split as the CSV's c2s/s2c bytes"
else fail "↑/↓ split against the CSV" "$row"; fi

# Ctrl-C with the view: the same restore.
rm -f "$tmp/rc" "$tmp/stty.after"
tmux -L $SOCK kill-server 2>/dev/null
sleep 0.2
tmux -L $SOCK new-session -d -x 120 -y 40 -e LANG=C -e TERM=xterm "bash $tmp/run.sh"
if wait_for "health:" 80; then
  ip netns exec $C curl -s -o /dev/null http://10.97.0.2:8080/big.bin; sleep 1.2
  if screen | grep -E 'tcp/8080' | grep -q '[.:=+*#@-]' && screen | grep -qF '^ now'; then ok "ASCII fallback with LANG=C (^/v, .:-=+*#@)"
  else fail "ASCII fallback" "$(screen | head -8)"; fi
fi
tmux -L $SOCK send-keys -t 0 C-c
for _ in $(seq 100); do [ -s "$tmp/rc" ] && [ -s "$tmp/stty.after" ] && break; sleep 0.1; done
rc=$(cat "$tmp/rc" 2>/dev/null)
if [ "$rc" = 0 ] && cmp -s "$tmp/stty.before" "$tmp/stty.after"; then ok "Ctrl-C: exit 0, terminal settings restored"
else fail "Ctrl-C exit" "rc=$rc"; fi

# --duration's end: the same restore, then the report.
rm -f "$tmp/rc" "$tmp/stty.after"
tmux -L $SOCK kill-server 2>/dev/null
sleep 0.2
tmux -L $SOCK new-session -d -x 120 -y 40 -e LANG=C.UTF-8 "bash $tmp/run.sh --duration 2"
for _ in $(seq 100); do [ -s "$tmp/rc" ] && [ -s "$tmp/stty.after" ] && break; sleep 0.1; done
rc=$(cat "$tmp/rc" 2>/dev/null)
if [ "$rc" = 0 ] && cmp -s "$tmp/stty.before" "$tmp/stty.after" && tmux -L $SOCK capture-pane -p -t 0 -S -300 | grep -q "^Services"; then
  ok "--duration 2 ends the view: exit 0, terminal settings restored, the report shown"
else fail "--duration end" "rc=$rc $(screen | head -3)"; fi

echo "$name: $passed passed, $failed failed"
[ $failed = 0 ]
