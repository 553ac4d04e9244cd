#!/usr/bin/env bash
# Live capture set-up errors, on the release binary: a filter libpcap can't
# compile, a mistyped interface (as root and, where setpriv can drop to
# nobody, unprivileged), a --buffer-size whose byte count overflows 32 bits,
# and the drop warning's "of N" on loopback. Needs capture rights on lo;
# skips with a message without them.
# Usage: bash Tests/hostile/live-errors.sh path/to/pflow
set -u
pflow=$(cd "$(dirname "${1:?usage: live-errors.sh path/to/pflow}")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; }

if ! "$pflow" -i lo --count 1 --duration 1 --json >"$tmp/probe" 2>"$tmp/probe.err"; then
  if grep -qiE 'needs root|permission|not permitted' "$tmp/probe.err"; then
    echo "live-errors: skipped: capture on lo is not permitted here ($(head -1 "$tmp/probe.err"))"
    echo "0 passed, 0 failed"
    exit 0
  fi
fi

# A filter libpcap rejects: one error line, exit 1, no abort (was: double free, 134).
for expr in 'port 99999' 'tcp and' 'host'; do
  "$pflow" -i lo -f "$expr" --duration 1 >"$tmp/f.out" 2>"$tmp/f.err"; rc=$?
  if [ $rc = 1 ] && [ "$(wc -l <"$tmp/f.err")" = 1 ] && grep -q "^pflow: error: bad filter '$expr': " "$tmp/f.err"; then
    ok "live bad filter '$expr': one error line, exit 1"
  else fail "live bad filter '$expr'" "rc=$rc $(head -2 "$tmp/f.err")"; fi
done

# A mistyped interface as root: no such interface, then the list.
"$pflow" -i pflow-nosuch9 --duration 1 >"$tmp/n.out" 2>"$tmp/n.err"; rc=$?
if [ $rc = 1 ] && head -1 "$tmp/n.err" | grep -qx 'pflow: error: pflow-nosuch9: no such interface' && grep -qE '^  [0-9]+\.lo ' "$tmp/n.err"; then
  ok "unknown interface (root): no such interface, with the list"
else fail "unknown interface (root)" "rc=$rc $(head -3 "$tmp/n.err")"; fi

# Unprivileged: a mistyped name is still "no such interface"; lo needs rights.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
  cp "$pflow" "$tmp/pflow-np" && chmod 755 "$tmp" "$tmp/pflow-np"
  np() { setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups --inh-caps=-all "$tmp/pflow-np" "$@"; }
  np -i pflow-nosuch9 --duration 1 >"$tmp/u.out" 2>"$tmp/u.err"; rc=$?
  if [ $rc = 1 ] && head -1 "$tmp/u.err" | grep -qx 'pflow: error: pflow-nosuch9: no such interface' && grep -qE '^  [0-9]+\.lo ' "$tmp/u.err"; then
    ok "unknown interface (unprivileged): no such interface, not 'needs root'"
  else fail "unknown interface (unprivileged)" "rc=$rc $(head -3 "$tmp/u.err")"; fi
  np -i lo --duration 1 >"$tmp/p.out" 2>"$tmp/p.err"; rc=$?
  if [ $rc = 1 ] && grep -q '^pflow: error: capturing on lo needs root' "$tmp/p.err"; then
    ok "existing interface (unprivileged): needs root"
  else fail "existing interface (unprivileged)" "rc=$rc $(head -3 "$tmp/p.err")"; fi
else
  echo "skip unprivileged checks: needs root, setpriv and a 'nobody' user"
fi

# 2097152 KiB is 2^31 bytes: it wrapped Int32 and libpcap kept 2 MiB. Now
# clamped, with a warning (the ring is really allocated: 2 GiB for a second).
"$pflow" -i lo --buffer-size 2097152 --duration 1 --json >"$tmp/b.json" 2>"$tmp/b.err"; rc=$?
if [ $rc = 0 ] && grep -q '^pflow: warning: --buffer-size 2097152 KiB (2147483648 bytes) is more than libpcap takes; using 2097151 KiB$' "$tmp/b.err"; then
  ok "--buffer-size 2097152: clamped with a warning"
else fail "--buffer-size 2097152" "rc=$rc $(head -3 "$tmp/b.err")"; fi

# Drops on lo: "dropped D of N" where N is what pflow got plus D (libpcap's
# ps_recv counts each loopback packet twice). Needs drops: a 64 KiB buffer
# and a ping flood; skipped when none happen.
if command -v ping >/dev/null; then
  "$pflow" -i lo -f icmp --buffer-size 64 --duration 3 --json >"$tmp/d.json" 2>"$tmp/d.err" &
  pid=$!
  sleep 0.5
  ping -q -f -s 1400 -w 2 127.0.0.1 >/dev/null 2>&1
  wait $pid; rc=$?
  line=$(grep -o 'dropped [0-9]* of [0-9]* packets' "$tmp/d.err")
  if [ -z "$line" ]; then
    echo "skip loopback drop count: no drops happened"
  else
    out=$(python3 - "$tmp/d.json" "$line" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
words = sys.argv[2].split()
dropped, seen = int(words[1]), int(words[3])
delivered = d["capture"]["packets"]
if seen != delivered + dropped:
    sys.exit(f"seen {seen} != delivered {delivered} + dropped {dropped}")
PY
); prc=$?
    if [ $rc = 0 ] && [ $prc = 0 ]; then ok "loopback drop warning: of N = delivered + dropped ($line)"
    else fail "loopback drop warning" "rc=$rc $out $line"; fi
  fi
else
  echo "skip loopback drop count: no ping here (apt-get install iputils-ping)"
fi

# libpcap is loaded when first used: reading a file without a filter never
# maps it; where it can't be loaded (hidden here by a bind mount over the
# library, in a private mount namespace), live capture, -f and -D fail with
# one line that says why, and files without a filter still read.
lib=$(readlink -f /lib/x86_64-linux-gnu/libpcap.so.0.8 2>/dev/null || true)
if [ -n "$lib" ] && [ -f "$lib" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null \
   && unshare -m true 2>/dev/null; then
  printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' >"$tmp/empty.pcap"
  # Mapped libraries of a run that reads a file: libpcap is not among them.
  maps=$(LD_DEBUG=libs "$pflow" "$tmp/empty.pcap" 2>&1 >/dev/null | grep -c 'libpcap' || true)
  if [ "$maps" = 0 ]; then ok "reading a file without -f does not load libpcap"
  else fail "reading a file without -f loads libpcap" "$maps LD_DEBUG lines name it"; fi
  unshare -m sh -c 'mount --bind /dev/null "$1" && shift && "$@"' sh "$lib" \
    "$pflow" -i lo --duration 1 >"$tmp/l.out" 2>"$tmp/l.err"; rc=$?
  if [ $rc = 1 ] && [ "$(wc -l <"$tmp/l.err")" = 1 ] && grep -q '^pflow: error: lo: libpcap could not be loaded: ' "$tmp/l.err"; then
    ok "no libpcap: live capture fails with one line that says why"
  else fail "no libpcap: live capture" "rc=$rc $(head -2 "$tmp/l.err")"; fi
  unshare -m sh -c 'mount --bind /dev/null "$1" && shift && "$@"' sh "$lib" \
    "$pflow" -f tcp "$tmp/empty.pcap" >"$tmp/l.out" 2>"$tmp/l.err"; rc=$?
  if [ $rc = 1 ] && grep -q "^pflow: error: bad filter 'tcp': libpcap could not be loaded: " "$tmp/l.err"; then
    ok "no libpcap: -f fails with one line that says why"
  else fail "no libpcap: -f" "rc=$rc $(head -2 "$tmp/l.err")"; fi
  unshare -m sh -c 'mount --bind /dev/null "$1" && shift && "$@"' sh "$lib" \
    "$pflow" --json "$tmp/empty.pcap" >"$tmp/l.out" 2>"$tmp/l.err"; rc=$?
  if [ $rc = 0 ] && grep -q '"capture"' "$tmp/l.out"; then
    ok "no libpcap: a file without -f still reads"
  else fail "no libpcap: a file without -f" "rc=$rc $(head -2 "$tmp/l.err")"; fi
else
  echo "skip missing-libpcap checks: needs root, unshare and /lib/x86_64-linux-gnu/libpcap.so.0.8"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
