#!/usr/bin/env bash
# The live view under many live flows (root; not part of make test): pflow
# captures on a veth between two network namespaces while two senders make
# N one-packet UDP flows (Bench/flood_flows.py), with the view (in tmux) or
# without it (stdout to a file); prints pflow's CPU after the flood, the CPU
# of 8 quiet seconds after it (PERF=1: perf-records 6 s of them into
# /tmp/live_view_flood.perf), the view's health line and the kernel drops.
# Usage: bash Bench/live_view_flood.sh path/to/pflow N view|noview
set -u
pflow=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") n=$2 mode=$3
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)/$mode.$n
me="$(basename "$pflow") -i"
C=lvfc$$ S=lvfs$$ VC=fc$$ VS=fs$$ SOCK=lvf$$
ip netns add $C; ip netns add $S
ip link add $VC type veth peer name $VS; ip link set $VC netns $C; ip link set $VS netns $S
ip -n $C addr add 10.96.0.1/24 dev $VC; ip -n $S addr add 10.96.0.2/24 dev $VS
ip -n $C link set $VC up; ip -n $S link set $VS up
cmd="ip netns exec $C $pflow -i $VC --duration 32 --interval 0.5 --idle-timeout 300"
if [ $mode = view ]; then
  tmux -L $SOCK new-session -d -x 200 -y 50 -e LANG=C.UTF-8 "$cmd 2>$out.err; echo \$? >$out.rc; sleep 30"
else
  $cmd >$out.txt 2>$out.err &
fi
sleep 2
ip netns exec $C python3 $here/flood_flows.py $((n / 2)) 10.96.0.2 0 & sp=$!
ip netns exec $C python3 $here/flood_flows.py $((n / 2)) 10.96.0.2 8388608
wait $sp
sleep 1.5
cpu() { for p in $(pgrep -f "$me $VC"); do awk '{print ($14+$15)}' /proc/$p/stat; done | tail -1; }
a=$(cpu); [ -n "${PERF:-}" ] && perf record -q -g -o /tmp/live_view_flood.perf -p $(pgrep -f "$me $VC" | tail -1) -- sleep 6 >/dev/null 2>&1; sleep 2; b=$(cpu); echo "idle 8 s after the flood: $(( (b - a) * 10 )) ms of CPU"
for p in $(pgrep -f "$me $VC"); do grep -q pflow /proc/$p/cmdline 2>/dev/null && echo "pflow cpu: $(awk '{print ($14+$15)/100 " s (user " $14/100 ", sys " $15/100 ")"}' /proc/$p/stat), rss $(awk '/VmRSS/{print $2 " kB"}' /proc/$p/status)"; done
[ $mode = view ] && tmux -L $SOCK capture-pane -p -t 0 | head -3 | cut -c1-150
for _ in $(seq 200); do { [ -s $out.rc ] || [ -s $out.txt ]; } && break; sleep 0.1; done
sleep 1
echo "stderr: $(cat $out.err)"
[ $mode = noview ] && grep -i "drops\|packets" $out.txt | head -3
tmux -L $SOCK kill-server 2>/dev/null
ip netns del $C; ip netns del $S
