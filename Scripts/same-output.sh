#!/usr/bin/env bash
# Refactoring check: the table, CSV and JSON of every sample, every corpus
# capture and (when cached) the bench captures, with --threads 1 and 2, as
# written by one binary (recorded once into a folder), compared with another.
#   Scripts/same-output.sh record BINARY DIR     # e.g. the commit a refactor starts from
#   Scripts/same-output.sh check  BINARY DIR     # the refactored binary; exit 1 on any difference
# BIG=1 adds the bench captures; MORE=1 adds --ndjson and --conn-log (record
# and check with the same setting).
set -uo pipefail
mode=$1 bin=$2 dir=$3
shared=${SHARED:-../shared}
cache=${PFLOW_BENCH_CACHE:-$HOME/.cache/pflow-bench}
inputs=(Samples/*.pcap Samples/*.pcapng)
for f in "$shared"/corpus/pcaps/*; do [ -f "$f" ] && inputs+=("$f"); done
[ -n "${BIG:-}" ] && for f in "$cache"/synth-*.pcap; do [ -f "$f" ] && inputs+=("$f"); done
mkdir -p "$dir"
fail=0 n=0
for f in "${inputs[@]}"; do
  name=$(basename "$f")
  for t in 1 2; do
    for kind in table csv json ${MORE:+ndjson connlog}; do
      case $kind in
        table) args=() ;;
        csv) args=(--csv -) ;;
        json) args=(--json) ;;
        ndjson) args=(--ndjson -) ;;
        connlog) args=(--conn-log -) ;;
      esac
      out="$dir/$name.t$t.$kind"
      # conn.log's #open and #close lines carry the wall clock: left out.
      run() { "$bin" --threads $t "${args[@]}" "$f" 2> "$2" | grep -av '^#open\|^#close' > "$1"; echo "${PIPESTATUS[0]}" >> "$2"; }
      if [ "$mode" = record ]; then
        run "$out" "$out.err"
      else
        run /tmp/same-output.$$ /tmp/same-output.$$.err
        n=$((n + 1))
        if ! cmp -s /tmp/same-output.$$ "$out" || ! cmp -s /tmp/same-output.$$.err "$out.err"; then
          echo "DIFFERS: $f --threads $t $kind"; fail=1
        fi
      fi
    done
  done
done
rm -f /tmp/same-output.$$ /tmp/same-output.$$.err
[ "$mode" = check ] && echo "same-output: $n outputs compared, $([ $fail = 0 ] && echo 'all identical' || echo 'some differ')"
exit $fail
