# pflow: make run (build and analyse a sample), make test (everything CI runs),
# make install (PREFIX=/usr/local, DESTDIR) and make uninstall.
SWIFT   ?= swift
SHARED  ?= ../shared
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SAMPLE  ?= Samples/http-dns-lo.pcap
# make install: $(DESTDIR)$(PREFIX)/bin/pflow and .../share/man/man1/pflow.1.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
# The binary installed and documented; another one (BIN=.build/debug/pflow)
# must exist already, only the release one is built here.
BIN     ?= .build/release/pflow
MANPAGE ?= .build/pflow.1

.PHONY: all deps pydeps interopdeps interop parquet build run test unit cli live alloc timeline screenshot golden fuzz fuzz-smoke bench bench-features load hostile hostile-full clean install uninstall man

all: build

# $(call best_effort,command,package,what happens without it): installs the
# Debian package that gives `command` when it is missing, and says so; a
# failed install is a message, not an error (the tests that need it skip).
best_effort = command -v $(1) >/dev/null || { echo "installing $(2) (apt-get)"; \
  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(2) >/dev/null 2>&1 || echo "$(1) not installed: $(3)"; }

# libpcap's and zlib's headers and pkg-config files; installed once on a fresh machine.
deps:
	@pkg-config --exists libpcap zlib 2>/dev/null || { \
	  echo "installing libpcap-dev and zlib1g-dev (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libpcap-dev zlib1g-dev pkg-config; }
	@# tmux drives the live view's test (make live); ping floods lo for the
	@# live drop count's check (make hostile). Without them those skip.
	@$(call best_effort,tmux,tmux,the live view test will skip)
	@$(call best_effort,ping,iputils-ping,the live drop count check will skip)

# pyarrow and duckdb, the independent readers the Parquet tests check files
# with; best effort: without them those tests skip, and the build goes on.
# (A Debian system python refuses plain pip installs: PEP 668.)
PIP_INSTALL = timeout 600 python3 -m pip install --quiet --disable-pip-version-check pyarrow duckdb
pydeps:
	@python3 -c "import pyarrow, duckdb" 2>/dev/null || { \
	  echo "installing pyarrow and duckdb (pip)"; \
	  $(PIP_INSTALL) 2>/dev/null || $(PIP_INSTALL) --break-system-packages || \
	  echo "pyarrow/duckdb not installed: the Parquet reader tests will be skipped"; }

# The collectors and readers the interop tests check exports with (nfdump's
# nfcapd, pmacct's nfacctd, tshark; pycommunityid, zat); best effort:
# without them those parts skip with a message.
INTEROP_PIP = timeout 600 python3 -m pip install --quiet --disable-pip-version-check communityid zat
interopdeps:
	@command -v nfcapd >/dev/null && command -v nfacctd >/dev/null && command -v tshark >/dev/null || { \
	  echo "installing nfdump, pmacct and tshark (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 $(SUDO) apt-get install -y -qq nfdump pmacct tshark \
	  || echo "nfdump/pmacct/tshark not installed: the collector checks will be skipped"; }
	@python3 -c "import communityid, zat" 2>/dev/null || { \
	  $(INTEROP_PIP) 2>/dev/null || $(INTEROP_PIP) --break-system-packages || \
	  echo "communityid/zat not installed: those checks will be skipped"; }

# community_id, --ndjson, --conn-log and --ipfix checked by other tools over
# the corpus, the samples and a generated capture (Tests/interop.py; about
# 40 s). PFLOW_RECORD_GOLDEN=1 re-records Tests/conn-log.golden.txt.
interop: build interopdeps
	python3 Tests/interop.py .build/release/pflow $(abspath $(SHARED))

# The Swift runtime linked in (no FoundationEssentials to pull in any more):
# no shared Swift libraries to load, 1.3 ms less start-up per run.
build: deps
	$(SWIFT) build -c release --static-swift-stdlib

# The release binary as a file, so that install and man rebuild it only when
# it is missing or older than a source (make build always asks swift build).
# The touch: swift build may find nothing to relink after a touched source,
# which would leave the binary older and ask again every time.
.build/release/pflow: Package.swift $(shell find Sources -type f) | deps
	$(SWIFT) build -c release --static-swift-stdlib
	@touch $@

# pflow(1), generated from the binary's --help so the two can't disagree;
# dated by the last commit, so the same tree gives the same page.
man: $(MANPAGE)

$(MANPAGE): $(BIN) Scripts/gen-man.py
	@mkdir -p $(dir $@)
	python3 Scripts/gen-man.py --date "$$(git log -1 --format=%cs 2>/dev/null)" $(BIN) >$@.tmp \
	  || { rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@

install: $(BIN) $(MANPAGE)
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1"
	install -m 755 $(BIN) "$(DESTDIR)$(BINDIR)/pflow"
	install -m 644 $(MANPAGE) "$(DESTDIR)$(MANDIR)/man1/pflow.1"

# The two files only: the directories are shared with everything else there.
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/pflow" "$(DESTDIR)$(MANDIR)/man1/pflow.1"

run: build
	.build/release/pflow $(SAMPLE)

# Unit, golden, truth and corpus tests (XCTest), the command-line checks,
# live capture on lo, the allocation check, Parquet, the timeline and the other formats read back, and the hostile-input suite.
test: unit cli live alloc parquet timeline interop hostile fuzz-smoke

unit: deps pydeps
	PFLOW_SHARED=$(abspath $(SHARED)) $(SWIFT) test

cli: deps
	$(SWIFT) build
	bash Tests/cli.sh .build/debug/pflow
	python3 Tests/latency.py .build/debug/pflow

# Live capture on lo with real connections (skips without capture rights),
# and the live view in tmux on a veth between two network namespaces (~15 s;
# skips without root or tmux).
live: deps
	$(SWIFT) build
	bash Tests/live.sh .build/debug/pflow
	bash Tests/live-view.sh .build/debug/pflow

# Loopback load, pflow and tcpdump side by side (root; not part of test).
load: build
	@$(call best_effort,tcpdump,tcpdump,pflow alone)
	bash Bench/live_load.sh .build/release/pflow 10

# --parquet read back by pyarrow and duckdb, cell by cell against the CSV
# (skips with a message when they can't be installed).
parquet: build pydeps
	python3 Tests/parquet.py .build/release/pflow $(abspath $(SHARED))

# Heap allocations per packet (must be 0) and per new flow, with an interposed malloc counter.
alloc: build
	python3 Bench/alloc_check.py .build/release/pflow

# pflow against ../shared/bench/flowtrack.c on generated captures (cached in ~/.cache/pflow-bench).
bench: build
	SHARED=$(abspath $(SHARED)) python3 Bench/bench.py .build/release/pflow

# What each part of the analysis costs (not in make test; after make bench,
# which makes the capture): a switchable copy of HEAD, built aside, run with
# the parts switched on one at a time against flowtrack -m. RUNS=11 default.
bench-features:
	python3 Bench/feature_cost.py --runs $(or $(RUNS),11) --instructions

# Hostile inputs against the release binary: captures built to make work or
# memory grow faster than the input (N against 4N), outputs that are inputs,
# failing writes, escapes in names and paths; then live set-up errors (skip
# without capture rights, saying so). Under two minutes; the last line sums
# both parts: "N passed, M failed".
hostile: build
	@bash Tests/hostile/run.sh .build/release/pflow | tee .build/hostile.log; \
	bash Tests/hostile/live-errors.sh .build/release/pflow | tee -a .build/hostile.log; \
	awk '/^[0-9]+ passed, [0-9]+ failed$$/ { p += $$1; f += $$3 } END { print p " passed, " f " failed"; exit f > 0 }' .build/hostile.log

# Issue 14's cases at the issue's full sizes (slow: 2 GB of inputs, about 7
# minutes; not in make test): time and peak RSS per case, a Markdown table.
hostile-full: build
	$(SWIFT) build
	bash Tests/hostile/full-size.sh .build/release/pflow .build/debug/pflow

# Issue 17: timeline sums on every sample and corpus capture, bins against
# tshark's io,stat, the --html page (well-formed, self-contained, its numbers
# the JSON's) rendered by headless Chromium; tshark and Chromium are
# installed best effort (the checks that need them skip without).
timeline: build
	@command -v tshark >/dev/null && command -v chromium >/dev/null || { \
	  echo "installing tshark and chromium (apt-get, best effort)"; \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq tshark chromium; } \
	    >/dev/null 2>&1 || echo "tshark/chromium not installed: those checks will be skipped"; }
	python3 Tests/timeline.py .build/release/pflow $(abspath $(SHARED))

# The README's picture of the HTML report, from the project's own sample.
screenshot: build
	python3 Tests/timeline.py .build/release/pflow $(abspath $(SHARED)) --screenshot Docs/html-report.png

# Re-record the golden outputs after an intended change; review the diff.
golden: deps
	PFLOW_RECORD_GOLDEN=1 $(SWIFT) test --filter GoldenTests

# libFuzzer + AddressSanitizer over the reader, decoder, flow tracker,
# reports and flow outputs, seeded from the samples and the corpus; bounded.
FUZZ_SECONDS ?= 120
FUZZ_RUNS ?= 0
fuzz: deps
	bash Scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_RUNS)

# Part of make test (about 1.5 minutes, most of it the build): the fuzz
# target built as above and run for 10 s, the samples and corpus seeds
# first, so the target can't fall behind the sources unnoticed; skips with
# a message where the toolchain can't build libFuzzer targets.
fuzz-smoke: deps
	FUZZ_OUT=.build/fuzz-smoke FUZZ_SMOKE=1 bash Scripts/fuzz.sh 10 0

clean:
	rm -rf .build fuzz-out
