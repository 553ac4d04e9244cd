# pflow: make run (build and analyse a sample), make test (everything CI runs).
SWIFT   ?= swift
SHARED  ?= ../shared
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SAMPLE  ?= Samples/http-dns-lo.pcap

.PHONY: all deps build run test unit cli live alloc golden fuzz bench load hostile clean

all: build

# libpcap's and zlib's headers and pkg-config files; installed once on a fresh machine.
deps:
	@pkg-config --exists libpcap zlib 2>/dev/null || { \
	  echo "installing libpcap-dev and zlib1g-dev (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libpcap-dev zlib1g-dev pkg-config; }

# The Swift runtime linked in (no FoundationEssentials to pull in any more):
# no shared Swift libraries to load, 1.3 ms less start-up per run.
build: deps
	$(SWIFT) build -c release --static-swift-stdlib

run: build
	.build/release/pflow $(SAMPLE)

# Unit, golden, truth and corpus tests (XCTest), the command-line checks,
# live capture on lo, and the allocation check.
test: unit cli live alloc

unit: deps
	PFLOW_SHARED=$(abspath $(SHARED)) $(SWIFT) test

cli: deps
	$(SWIFT) build
	bash Tests/cli.sh .build/debug/pflow

# Live capture on lo with real connections (skips without capture rights).
live: deps
	$(SWIFT) build
	bash Tests/live.sh .build/debug/pflow

# Loopback load, pflow and tcpdump side by side (root; not part of test).
load: build
	bash Bench/live_load.sh .build/release/pflow 10

# Heap allocations per packet (must be 0) and per new flow, with an interposed malloc counter.
alloc: build
	python3 Bench/alloc_check.py .build/release/pflow

# pflow against ../shared/bench/flowtrack.c on generated captures (cached in ~/.cache/pflow-bench).
bench: build
	SHARED=$(abspath $(SHARED)) python3 Bench/bench.py .build/release/pflow

# Hostile inputs against the release binary: captures built to make work or
# memory grow faster than the input (N against 4N), outputs that are inputs,
# failing writes, escapes in names and paths; then live set-up errors (skip
# without capture rights). Not part of test until the fixes it checks land.
hostile: build
	bash Tests/hostile/run.sh .build/release/pflow; a=$$?; \
	bash Tests/hostile/live-errors.sh .build/release/pflow; b=$$?; [ $$a = 0 ] && [ $$b = 0 ]

# Re-record the golden outputs after an intended change; review the diff.
golden: deps
	PFLOW_RECORD_GOLDEN=1 $(SWIFT) test --filter GoldenTests

# libFuzzer + AddressSanitizer over the reader, decoder, flow tracker and
# reports, seeded from the samples and the corpus; bounded, not part of test.
FUZZ_SECONDS ?= 120
FUZZ_RUNS ?= 0
fuzz: deps
	bash Scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_RUNS)

clean:
	rm -rf .build fuzz-out
