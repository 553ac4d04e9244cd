#!/usr/bin/env python3
"""make bench-features: what each part of the analysis costs.

Builds a temporary copy of HEAD with Bench/feature-switches.patch applied
(PFLOW_MASK switches parts of the per-flow analysis off; unset, the build
is the normal one), then runs the 1M bench capture with the parts switched
on one at a time: wall time alternating with flowtrack -m as make bench
does (median ratio per step and what the step added), and, with
--instructions, callgrind's instruction count per step (--threads 1;
deterministic, so one run each). A diagnostic, not a test: the patch only
has to apply to the code it was written for (it fails loudly otherwise).

    Bench/feature_cost.py [--runs 11] [--instructions] [--keep DIR]
"""
import argparse, os, re, shutil, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=11)
ap.add_argument("--instructions", action="store_true", help="also count instructions per step with callgrind")
ap.add_argument("--keep", help="build in (and keep) this directory instead of a temporary one")
args = ap.parse_args()

repo = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
cache = os.environ.get("PFLOW_BENCH_CACHE", os.path.expanduser("~/.cache/pflow-bench"))
capture = os.path.join(cache, "synth-1000000-seed7.pcap")
flowtrack = os.path.join(cache, "flowtrack")
if not (os.path.exists(capture) and os.path.exists(flowtrack)):
    print("bench-features: skipped: run make bench once first (it makes the capture and builds flowtrack)")
    sys.exit(0)
if args.instructions and not shutil.which("valgrind"):
    print("bench-features: valgrind not installed: instruction counts skipped")
    args.instructions = False

work = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="pflow-features-")
if not os.path.exists(os.path.join(work, "Package.swift")):
    if os.path.isdir(work): os.rmdir(work)
    subprocess.run(["git", "-C", repo, "worktree", "add", "--detach", work, "HEAD"], check=True, stdout=subprocess.DEVNULL)
    if subprocess.run(["git", "-C", work, "apply", os.path.join(repo, "Bench", "feature-switches.patch")]).returncode != 0:
        # The sources moved under the patch: say so, and leave no worktree behind.
        subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", work], check=False)
        sys.exit("bench-features: Bench/feature-switches.patch no longer applies to HEAD: "
                 "apply it with --reject in a copy, fix the hunks, and save git diff under its header")
print("bench-features: building the switchable copy in", work, flush=True)
subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib"], cwd=work, check=True, stdout=subprocess.DEVNULL)
binary = os.path.join(work, ".build", "release", "pflow")

# Cumulative: each step switches one more part on (bits of PFLOW_MASK).
steps = [
    (0, "decode, track (TCP state, timings), sweep; ended flows dropped"),
    (64, "+ the flows live at capture end reported"),
    (66, "+ roles learned from ended flows"),
    (70, "+ a record per ended flow (roles decided)"),
    (78, "+ services and hosts tally"),
    (94, "+ findings"),
    (126, "+ timeline per service"),
    (127, "+ server names (SNI, Host, DNS): the normal build"),
]

def run(cmd, env=None):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - t

def masked(m):
    return dict(os.environ, PFLOW_MASK=str(m))

ratios = {m: [] for m, _ in steps}
for _ in range(args.runs):
    before = run([flowtrack, "-m", capture])
    walls = {m: run([binary, capture], env=masked(m)) for m, _ in steps}
    after = run([flowtrack, "-m", capture])
    for m, _ in steps:
        ratios[m].append(walls[m] / ((before + after) / 2))

counts = {}
if args.instructions:
    for m, _ in steps:
        out = os.path.join(work, f"callgrind-{m}.out")
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "--threads", "1", capture],
                           env=masked(m), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        found = re.search(r"Collected : (\d+)", r.stderr)
        counts[m] = int(found.group(1)) if found else None

print(f"1M capture: median of {args.runs} alternating runs, wall time against flowtrack -m"
      + ("; instructions with --threads 1 (callgrind)" if counts else ""))
header = f"{'PFLOW_MASK':>10}  {'ratio':>5}  {'step':>5}"
if counts: header += f"  {'instructions':>13}  {'step':>7}"
print(header + "  part")
last = lastCount = None
for m, what in steps:
    r = statistics.median(ratios[m])
    line = f"{m:>10}  {r:5.2f}  {'' if last is None else f'{r - last:+.2f}':>5}"
    if counts:
        c = counts[m]
        line += f"  {c:>13,}  {'' if lastCount is None or c is None else f'{(c - lastCount) / 1e6:+.0f}M':>7}"
        lastCount = c
    print(line + "  " + what)
    last = r
if not args.keep:
    subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", work], check=False)
