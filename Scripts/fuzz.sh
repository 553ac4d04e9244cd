#!/usr/bin/env bash
# Builds the libFuzzer target (reader + decoder + flow tracker + reports) with
# address sanitizer, seeds it from the corpus and the samples, and runs it for
# a bounded time. Usage: Scripts/fuzz.sh [seconds] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
runs=${2:-0}
out=${FUZZ_OUT:-fuzz-out}
shared=${SHARED:-../shared}
# make test's short run: a toolchain without libFuzzer is a skip, not a failure.
if [ "${FUZZ_SMOKE:-0}" = 1 ]; then
  probe=$(mktemp -d)
  printf '@_cdecl("LLVMFuzzerTestOneInput")\npublic func probe(_ d: UnsafePointer<UInt8>, _ n: Int) -> CInt { 0 }\n' > "$probe/probe.swift"
  if ! swiftc -sanitize=fuzzer,address -parse-as-library "$probe/probe.swift" -o "$probe/probe" >"$probe/log" 2>&1; then
    echo "fuzz: skipped: this toolchain cannot build a libFuzzer target ($(head -1 "$probe/log"))"
    rm -rf "$probe"
    exit 0
  fi
  rm -rf "$probe"
fi
mkdir -p "$out/src" "$out/corpus"
# One module: the library sources with their inter-module imports removed,
# named PFlowCore so that a name qualified by that module still resolves.
for dir in PFlowCore PFlowCapture PFlowWire PFlowFlows PFlowEngine PFlowExport PFlowParquet PFlowOutput; do
  for f in Sources/$dir/*.swift; do
    sed -E '/^import PFlow(Core|Capture|Wire|Flows|Engine|Export|Parquet|Output)$/d' "$f" > "$out/src/${dir}_$(basename "$f")"
  done
done
# CPlatform (prefetch, mremap) is C: compiled on its own, seen through a module map.
mkdir -p "$out/cplatform"
cp Sources/CPlatform/include/CPlatform.h "$out/cplatform/"
printf 'module CPlatform {\n  header "CPlatform.h"\n  export *\n}\n' > "$out/cplatform/module.modulemap"
clang -O1 -g -fsanitize=fuzzer-no-link,address -c Sources/CPlatform/platform.c -I Sources/CPlatform/include -o "$out/platform.o"
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -swift-version 6 -module-name PFlowCore \
  -Xcc -fmodule-map-file=Sources/CZlib/module.modulemap -I Sources/CZlib \
  -Xcc -fmodule-map-file="$out/cplatform/module.modulemap" -I "$out/cplatform" \
  "$out"/src/*.swift Fuzz/FuzzTarget.swift "$out/platform.o" -lz -o "$out/pflow-fuzz"
cp Samples/*.pcap* "$out/corpus/" 2>/dev/null || true
if [ -d "$shared/corpus/pcaps" ]; then
  find "$shared/corpus/pcaps" -type f -size -200k -exec cp {} "$out/corpus/" \;
fi
# A crashing input is kept in $out (crash-*), not in the working directory.
args=(-max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$out/")
[ "$runs" != 0 ] && args+=(-runs="$runs")
"$out/pflow-fuzz" "${args[@]}" "$out/corpus"
