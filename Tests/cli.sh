#!/usr/bin/env bash
# Command-line checks: exit statuses, one-line errors, outputs on the samples.
# Usage: bash Tests/cli.sh path/to/pflow
set -u
pflow=${1:?usage: cli.sh path/to/pflow}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "     $2"; }

# expect_error NAME STATUS STDERR-PATTERN -- ARGS...: exit STATUS, exactly one stderr line matching.
expect_error() {
  local name=$1 want=$2 pattern=$3; shift 4
  "$pflow" "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$got" = "$want" ] && [ "$lines" = 1 ] && grep -qE "$pattern" "$tmp/err" && [ ! -s "$tmp/out" ]; then ok "$name"
  else fail "$name" "status $got (want $want), stderr: $(head -c 300 "$tmp/err")"; fi
}

: >"$tmp/empty.pcap"
printf 'this is not a capture\n' >"$tmp/text.pcap"
head -c 100 Samples/http-dns-lo.pcap >"$tmp/cut.pcap"
expect_error "missing file"   1 '^pflow: error: .*nope.pcap: No such file or directory$' -- "$tmp/nope.pcap"
expect_error "directory"      1 '^pflow: error: .*: is a directory, not a capture file$' -- "$tmp"
expect_error "empty file"     1 '^pflow: error: .*empty.pcap: empty file, not a capture file$' -- "$tmp/empty.pcap"
expect_error "text file"      1 '^pflow: error: .*text.pcap: not a pcap or pcapng file' -- "$tmp/text.pcap"
expect_error "no file"        64 '^pflow: error: no capture file given' --
expect_error "unknown option" 64 '^pflow: error: Unknown option' -- --frobnicate Samples/http-dns-lo.pcap
expect_error "bad top"        64 '^pflow: error: .*top' -- --top -3 Samples/http-dns-lo.pcap
expect_error "bad timeout"    64 '^pflow: error: --idle-timeout' -- --idle-timeout 0 Samples/http-dns-lo.pcap
expect_error "bad filter"     1 "^pflow: error: bad filter 'port banana'" -- -f 'port banana' Samples/http-dns-lo.pcap
expect_error "json and csv stdout" 64 '^pflow: error: --json and --csv -' -- --json --csv - Samples/http-dns-lo.pcap
# The parser's own rules (Sources/pflow/Options.swift).
expect_error "missing value"  64 "^pflow: error: Missing value for '--top <n>'" -- Samples/http-dns-lo.pcap --top
expect_error "bad number"     64 "^pflow: error: The value 'x' is invalid for '--threads <n>'" -- --threads x Samples/http-dns-lo.pcap
expect_error "flag with value" 64 "^pflow: error: The option '--json' does not take any value" -- --json=yes Samples/http-dns-lo.pcap
expect_error "unknown short"  64 "^pflow: error: Unknown option '-x'" -- -Dx
# --name=value, -fvalue and -- (then a file named like an option would be) mean what they say.
"$pflow" --json --top 3 -f 'udp port 53' Samples/http-dns-lo.pcap >"$tmp/p1.json"
"$pflow" --json --top=3 '-fudp port 53' -- Samples/http-dns-lo.pcap >"$tmp/p2.json"
if cmp -s "$tmp/p1.json" "$tmp/p2.json" && grep -q '"packets"' "$tmp/p1.json"; then ok "--name=value, -fvalue, --"; else fail "--name=value, -fvalue, --"; fi
printf 'svc 99999/tcp\n' >"$tmp/bad.services"
expect_error "bad services file" 1 '^pflow: error: .*bad.services: line 1: bad port' -- --services "$tmp/bad.services" Samples/http-dns-lo.pcap

# A file cut part-way: analysed up to the damage, a warning naming the offset, exit 0.
if "$pflow" "$tmp/cut.pcap" >"$tmp/out" 2>"$tmp/err" && grep -q 'cut.pcap: file ends inside a record.*at byte offset 24' "$tmp/err" \
   && grep -q 'warning' "$tmp/out"; then ok "damaged file warns and exits 0"; else fail "damaged file" "$(cat "$tmp/err")"; fi

# Outputs.
"$pflow" Samples/http-dns-lo.pcap >"$tmp/table" 2>"$tmp/err"
if [ $? = 0 ] && [ ! -s "$tmp/err" ] && grep -q '^Services' "$tmp/table" && ! grep -q $'\e' "$tmp/table"; then
  ok "table on a pipe has no colour"; else fail "table" "$(head -3 "$tmp/err")"; fi
if "$pflow" --csv - Samples/http-dns-lo.pcap >"$tmp/csv" && head -1 "$tmp/csv" | grep -q '^start,end,start_ns,end_ns,duration_s,proto,ip_version,vlan,client_ip,client_port,server_ip,server_port,service,server_port_range,client_port_range,role_source,state,c2s_packets,c2s_bytes,s2c_packets,s2c_bytes,c2s_payload_bytes,s2c_payload_bytes,end_reason,history,app,icmp_errors,port_name,uid,community_id,c2s_ip_bytes,s2c_ip_bytes,server_name,name_source,server_latency_ms,client_latency_ms,app_latency_ms,c2s_retransmissions,s2c_retransmissions,c2s_zero_windows,s2c_zero_windows$' \
   && [ "$(wc -l <"$tmp/csv")" = 10 ] && ! grep -q '^Services' "$tmp/csv"; then ok "csv to stdout replaces the table"; else fail "csv to stdout"; fi
if "$pflow" --json --csv "$tmp/flows.csv" Samples/http-dns-lo.pcap >"$tmp/json" \
   && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["totals"]["flows"]==9 and d["services"][0]["port"]==8000 and d["capture"]["packets"]==91' "$tmp/json" \
   && cmp -s "$tmp/flows.csv" "$tmp/csv"; then ok "json to stdout with csv to a file"; else fail "json + csv file"; fi
# ASCII: --ascii, or standard output not a terminal, gives a table with no
# byte >= 0x80 (share bars, sparklines, punctuation); on a UTF-8 terminal
# (script(1) gives one) the bars are blocks unless --ascii says otherwise.
nonascii() { LC_ALL=C grep -c $'[\x80-\xff]' "$1"; }
ascii_ok=1
for f in Samples/*.pcap*; do
  "$pflow" --ascii "$f" >"$tmp/ascii" 2>/dev/null && [ "$(nonascii "$tmp/ascii")" = 0 ] || { ascii_ok=0; fail "--ascii $f" "$(LC_ALL=C grep -m2 $'[\x80-\xff]' "$tmp/ascii")"; }
  LANG=C.UTF-8 "$pflow" "$f" >"$tmp/ascii" 2>/dev/null && [ "$(nonascii "$tmp/ascii")" = 0 ] || { ascii_ok=0; fail "pipe $f is ASCII" "$(LC_ALL=C grep -m2 $'[\x80-\xff]' "$tmp/ascii")"; }
done
[ "$ascii_ok" = 1 ] && ok "--ascii and a pipe give ASCII only"
if command -v script >/dev/null; then
  LC_ALL= LC_CTYPE= LANG=C.UTF-8 TERM=xterm script -qec "$pflow Samples/http-dns-lo.pcap" /dev/null >"$tmp/tty" 2>&1
  LC_ALL= LC_CTYPE= LANG=C.UTF-8 TERM=xterm script -qec "$pflow --ascii Samples/http-dns-lo.pcap" /dev/null >"$tmp/tty-ascii" 2>&1
  LC_ALL= LC_CTYPE= LANG=C.UTF-8 TERM=dumb script -qec "$pflow Samples/http-dns-lo.pcap" /dev/null >"$tmp/tty-dumb" 2>&1
  if grep -q '█' "$tmp/tty" && [ "$(nonascii "$tmp/tty-ascii")" = 0 ] && grep -q '99.5%.*##########' "$tmp/tty-ascii" \
     && [ "$(nonascii "$tmp/tty-dumb")" = 0 ]; then ok "UTF-8 terminal: blocks; --ascii or TERM=dumb: ASCII"
  else fail "terminal bars" "$(grep -a '99.5%' "$tmp/tty" "$tmp/tty-ascii" "$tmp/tty-dumb")"; fi
else
  echo "skip terminal bar check: script(1) not installed"
fi
# Several files are one capture; stdin works.
if "$pflow" --json Samples/http-dns-lo.pcap - <Samples/any-mixed.pcapng | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["capture"]["packets"]==130 and len(d["capture"]["files"])==2'; then
  ok "several files and stdin"; else fail "several files and stdin"; fi
# BPF filter on files.
if [ "$("$pflow" --csv - -f 'udp port 53' Samples/http-dns-lo.pcap | tail -n +2 | wc -l)" = 3 ]; then ok "bpf filter on a file"; else fail "bpf filter"; fi
# --services names a port (the traffic's protocol still names the service:
# port_name keeps the file's name); --top limits rows.
printf 'pyhttp 8000/tcp\nmysyslog 5514/udp\n' >"$tmp/my.services"
if "$pflow" --services "$tmp/my.services" --top 1 Samples/any-mixed.pcapng | grep -q 'mysyslog .*5514/udp' \
   && "$pflow" --services "$tmp/my.services" --csv - Samples/http-dns-lo.pcap | grep -q ',http,0,pyhttp,' \
   && "$pflow" --top 1 Samples/http-dns-lo.pcap | grep -q '\.\.\. 2 more'; then ok "--services and --top"; else fail "--services/--top"; fi
# Colour only on a terminal, never with NO_COLOR (script(1) gives a pty).
if command -v script >/dev/null; then
  script -qc "$pflow Samples/http-dns-lo.pcap" /dev/null >"$tmp/tty" </dev/null
  NO_COLOR=1 script -qc "$pflow Samples/http-dns-lo.pcap" /dev/null >"$tmp/tty-nc" </dev/null
  if grep -q $'\e\[' "$tmp/tty" && ! grep -q $'\e\[' "$tmp/tty-nc"; then ok "colour on a tty, not with NO_COLOR"; else fail "colour"; fi
else
  echo "skip colour check: script(1) not installed"
fi
# --max-flows ends the least recently seen flow when the table is full.
if [ "$("$pflow" --csv - --max-flows 2 Samples/http-dns-lo.pcap | grep -c ',capacity,')" -ge 1 ]; then ok "--max-flows"; else fail "--max-flows"; fi
expect_error "bad max-flows" 64 '^pflow: error: --max-flows' -- --max-flows 0 Samples/http-dns-lo.pcap
# The same file gives the same answer every run (hash seeds differ per process).
"$pflow" --json --csv "$tmp/r1.csv" Samples/findings-netns.pcap >"$tmp/r1.json"
"$pflow" --json --csv "$tmp/r2.csv" Samples/findings-netns.pcap >"$tmp/r2.json"
cmp -s "$tmp/r1.json" "$tmp/r2.json" && cmp -s "$tmp/r1.csv" "$tmp/r2.csv" && ok "same answer every run" || fail "same answer every run"
# The two-thread pipeline gives the single thread's answer, byte for byte.
same=1
for f in Samples/*.pcap Samples/*.pcapng "$tmp/cut.pcap"; do
  "$pflow" --threads 1 --json --csv "$tmp/t1.csv" "$f" >"$tmp/t1.json" 2>"$tmp/t1.err"
  "$pflow" --threads 2 --json --csv "$tmp/t2.csv" "$f" >"$tmp/t2.json" 2>"$tmp/t2.err"
  cmp -s "$tmp/t1.json" "$tmp/t2.json" && cmp -s "$tmp/t1.csv" "$tmp/t2.csv" && cmp -s "$tmp/t1.err" "$tmp/t2.err" || same=0
done
[ $same = 1 ] && ok "--threads 2 gives the --threads 1 answer" || fail "--threads 2 differs from --threads 1"
"$pflow" --version | grep -q '^pflow [0-9].*libpcap' && ok "--version" || fail "--version"
# --help is a contract too: a change to it shows up here (re-record with
# .build/debug/pflow --help > Tests/help.golden.txt after an intended change).
if "$pflow" --help | diff -u Tests/help.golden.txt - >"$tmp/help.diff"; then ok "--help matches Tests/help.golden.txt"
else fail "--help differs from Tests/help.golden.txt" "$(head -5 "$tmp/help.diff")"; fi

# The man page, generated from this binary's --help (Scripts/gen-man.py).
# The long options --help lists: the terms of its entries, not mentions in the text.
"$pflow" --help | sed -nE 's/^ {1,8}(-[^ ].*)$/\1/p' | sed -E 's/  .*//' \
  | grep -oE -- '--[A-Za-z0-9][A-Za-z0-9-]*' | sort -u >"$tmp/longs"
if python3 Scripts/gen-man.py "$pflow" >"$tmp/pflow.1" 2>"$tmp/man.err"; then
  missing=""
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
    grep -qxE "\.SH \"?$section\"?" "$tmp/pflow.1" || missing="$missing '$section'"
  done
  # Each option is an entry's tag: the line after a .TP names it, as \-\-name.
  grep -A1 -x '\.TP' "$tmp/pflow.1" >"$tmp/tags"
  while read -r opt; do
    grep -qF "\\fB$(printf '%s' "$opt" | sed 's/-/\\-/g')\\fR" "$tmp/tags" || missing="$missing $opt"
  done <"$tmp/longs"
  if [ -s "$tmp/longs" ] && [ -z "$missing" ]; then ok "man page: every section, an entry for each of --help's $(wc -l <"$tmp/longs") long options"
  else fail "man page structure" "missing:${missing:- (no long options read from --help)}"; fi
  # Rendering: no warnings, and the options read as typed (--name, not a
  # minus sign or a hyphenation break).
  rendered=""
  if command -v groff >/dev/null; then
    groff -man -ww -z -Tutf8 "$tmp/pflow.1" 2>"$tmp/warn"
    groff -man -Tascii -P-cbou "$tmp/pflow.1" >"$tmp/man.txt" 2>>"$tmp/warn"; rendered=groff
  elif command -v mandoc >/dev/null; then
    mandoc -T lint -W warning "$tmp/pflow.1" >"$tmp/warn" 2>&1
    # Bold and underline are overstrikes (x BS x) in mandoc's ascii: dropped.
    mandoc -T ascii "$tmp/pflow.1" | sed $'s/.\b//g' >"$tmp/man.txt"; rendered=mandoc
  fi
  if [ -n "$rendered" ]; then
    missing=""
    while read -r opt; do grep -qE -- "(^|[^A-Za-z0-9-])$opt([^A-Za-z0-9-]|$)" "$tmp/man.txt" || missing="$missing $opt"; done <"$tmp/longs"
    if [ ! -s "$tmp/warn" ] && [ -z "$missing" ] && grep -q '^EXIT STATUS' "$tmp/man.txt"; then ok "man page renders ($rendered) without warnings, every long option in it"
    else fail "man page rendering ($rendered)" "$(head -3 "$tmp/warn") missing:$missing"; fi
  else
    echo "skip man page rendering: neither groff nor mandoc installed"
  fi
else
  fail "man page generation" "$(head -3 "$tmp/man.err")"
fi
# make install / uninstall put and remove exactly the two files (this binary:
# no release build).
if command -v make >/dev/null; then
  mk() { make -s --no-print-directory "$@" DESTDIR="$tmp/root" PREFIX=/usr BIN="$pflow" MANPAGE="$tmp/gen/pflow.1" >>"$tmp/make.log" 2>&1; }
  if mk install && [ "$(cd "$tmp/root" && find . ! -type d -printf '%m %p\n' | sort)" = "644 ./usr/share/man/man1/pflow.1
755 ./usr/bin/pflow" ] && cmp -s "$pflow" "$tmp/root/usr/bin/pflow"; then ok "make install DESTDIR= PREFIX=/usr"
  else fail "make install" "$(tail -3 "$tmp/make.log"; cd "$tmp/root" 2>/dev/null && find . ! -type d)"; fi
  if mk uninstall && [ -z "$(find "$tmp/root" ! -type d)" ]; then ok "make uninstall removes both"
  else fail "make uninstall" "$(tail -3 "$tmp/make.log"; find "$tmp/root" ! -type d)"; fi
else
  echo "skip make install check: make not installed"
fi

echo "cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
