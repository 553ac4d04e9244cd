#!/usr/bin/env python3
"""make bench: pflow against the C flow tracker in ../shared/bench.

Generates the 1,000,000-packet capture (synthtraffic.py --seed 7) and the
5,000,000-packet one (--seed 8) once, in a cache outside the repository,
builds ../shared/bench/flowtrack.c, then runs pflow (report), pflow --csv and
flowtrack -m alternately and prints median wall time, the ratio to
flowtrack, packets/s, MB/s and peak RSS; on the 1M capture also
pflow --parquet and pflow --ipfix to a local nfcapd (started here when
nfdump's nfcapd is installed, else that row is skipped with a message); then the memory each extra live
flow costs (the 1M capture with default timeouts against one-hour ones).
Skips with a message when ../shared is absent.

    Bench/bench.py path/to/pflow [--runs 5] [--no-5m]
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("pflow")
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--no-5m", action="store_true", help="skip the 5,000,000-packet capture")
args = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
shared = os.path.abspath(os.environ.get("SHARED", os.path.join(here, "..", "..", "shared")))
if not os.path.exists(os.path.join(shared, "tools", "synthtraffic.py")):
    print(f"bench: skipped: {shared} is absent (it holds synthtraffic.py and the C reference)")
    sys.exit(0)
cache = os.environ.get("PFLOW_BENCH_CACHE", os.path.expanduser("~/.cache/pflow-bench"))
os.makedirs(cache, exist_ok=True)

def capture(packets, seed):
    path = os.path.join(cache, f"synth-{packets}-seed{seed}.pcap")
    if not os.path.exists(path):
        print(f"bench: generating {path} (once)", flush=True)
        subprocess.run([sys.executable, os.path.join(shared, "tools", "synthtraffic.py"), "--packets", str(packets),
                        "--seed", str(seed), "--out", path + ".tmp"], check=True)
        os.rename(path + ".tmp", path)
    return path

flowtrack = os.path.join(cache, "flowtrack")
subprocess.run(["cc", "-O2", "-o", flowtrack, os.path.join(shared, "bench", "flowtrack.c"), "-lpcap"], check=True)
pflow = os.path.abspath(args.pflow)
csv_out = os.path.join(cache, "flows.csv")
parquet_out = os.path.join(cache, "flows.parquet")

def start_nfcapd():
    """A local nfcapd (4 MB socket buffer, as the interop test and the README
    use) on a free UDP port: (process, port, directory), or None."""
    nfcapd = shutil.which("nfcapd")
    if not nfcapd:
        print("bench: nfcapd not installed (apt-get install nfdump): the --ipfix row is skipped")
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tempfile.mkdtemp(prefix="bench-nfcapd-")
    p = subprocess.Popen([nfcapd, "-p", str(port), "-b", "127.0.0.1", "-w", d, "-B", "4194304"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    if p.poll() is not None:
        print("bench: nfcapd did not start: the --ipfix row is skipped")
        shutil.rmtree(d, ignore_errors=True)
        return None
    return p, port, d

def run(cmd):
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({status})")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime

def measure(path, runs, with_csv=True, exports=None):
    commands = {"pflow (report)": [pflow, path], "pflow --threads 1": [pflow, "--threads", "1", path]}
    if with_csv:
        commands["pflow --csv"] = [pflow, "--csv", csv_out, path]
    if exports is not None:
        commands["pflow --parquet"] = [pflow, "--parquet", parquet_out, path]
        if exports:
            commands["pflow --ipfix"] = [pflow, "--ipfix", f"127.0.0.1:{exports[1]}", path]
    commands["flowtrack -m"] = [flowtrack, "-m", path]
    # Warm the page cache, then alternate so drift hits every tool alike.
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL)
    results = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            results[name].append(run(cmd))
    return {name: (statistics.median(w for w, _, _ in r), max(m for _, m, _ in r), statistics.median(c for _, _, c in r))
            for name, r in results.items()}

def table(title, path, packets, results, runs):
    size_mb = os.path.getsize(path) / 1e6
    ref = results["flowtrack -m"][0]
    print(f"\n{title}: {os.path.basename(path)}, {packets:,} packets, {size_mb:.0f} MB, median of {runs} alternating runs")
    print(f"{'command':<18} {'wall s':>8} {'vs C':>6} {'Mpkt/s':>7} {'MB/s':>7} {'peak RSS MB':>12} {'CPU s':>6} {'CPU/2 vs C':>10}")
    # CPU/2 vs C: half the run's CPU over flowtrack's wall, the least the
    # ratio could be on two cores however well the threads shared the work.
    for name, (wall, rss, cpu) in results.items():
        print(f"{name:<18} {wall:8.3f} {wall / ref:6.2f} {packets / wall / 1e6:7.2f} {size_mb / wall:7.0f} {rss:12.0f}"
              f" {cpu:6.3f} {cpu / 2 / ref:10.2f}")

one = capture(1_000_000, 7)
collector = start_nfcapd()
try:
    r1 = measure(one, args.runs, exports=collector or ())
finally:
    if collector:
        collector[0].terminate()
        collector[0].wait()
        shutil.rmtree(collector[2], ignore_errors=True)
table("1M", one, 1_000_000, r1, args.runs)
if os.path.exists(parquet_out) and os.path.exists(csv_out):
    print(f"Parquet {os.path.getsize(parquet_out) / 1e6:.1f} MB, CSV {os.path.getsize(csv_out) / 1e6:.1f} MB "
          f"({os.path.getsize(parquet_out) / os.path.getsize(csv_out):.2f} of it)")
if not args.no_5m:
    five = capture(5_000_000, 8)
    runs5 = max(3, args.runs // 2)
    r5 = measure(five, runs5, with_csv=False)
    table("5M", five, 5_000_000, r5, runs5)
    print(f"\npflow 5M / 1M wall: {r5['pflow (report)'][0] / r1['pflow (report)'][0]:.2f} (linear: 5.0)")
print(f"two threads against one (1M): {r1['pflow --threads 1'][0] / r1['pflow (report)'][0]:.2f}x")

# Memory per live flow: the same 1M capture with the default idle timeouts
# and with one of an hour, so every flow stays live to the end. Same flows,
# same report; only the number of flows live at once differs. One thread,
# so the pipeline's fixed rings (freed before the capture-end flush, where
# the one-hour run peaks) don't blur the difference.
def peak(extra):
    proc = subprocess.Popen([pflow, "--threads", "1", "--json", *extra, one], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    out, _ = proc.communicate()
    totals = json.loads(out)["totals"]
    return totals["peak_live_flows"], totals["flows"]
def rss_of(extra):
    best = []
    for _ in range(3):
        _, rss, _ = run([pflow, "--threads", "1", *extra, one])
        best.append(rss)
    return min(best)
short, long_ = [], ["--idle-timeout", "3600"]
(live_a, flows_a), (live_b, flows_b) = peak(short), peak(long_)
rss_a, rss_b = rss_of(short), rss_of(long_)
per_flow = (rss_b - rss_a) * 1024 * 1024 / max(1, live_b - live_a)
print(f"\nlive flows: peak {live_a:,} (default timeouts) vs {live_b:,} (--idle-timeout 3600), "
      f"{flows_a:,} and {flows_b:,} flows; peak RSS {rss_a:.1f} vs {rss_b:.1f} MB (least of 3): "
      f"{per_flow:.0f} bytes per extra live flow (--threads 1)")
# What each live flow holds in the table itself, whatever the timing of
# peaks: its state (FlowTests pins 160 bytes) and an 8-byte index entry in an
# index kept between 3/8 and 3/4 full.
print("table per live flow: 160-byte state + 8-byte index entry / load 3/8-3/4 = 171-181 bytes")
