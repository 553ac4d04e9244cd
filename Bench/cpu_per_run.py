#!/usr/bin/env python3
"""CPU (user + system) and wall time per run, medians over alternating runs.

On two cores a run's wall time is at least half its CPU: this shows how
far balancing the threads could ever take a command, whatever its wall
time does on a noisy machine. After `make bench` (it makes the capture):

    python3 Bench/cpu_per_run.py 9 ".build/release/pflow" \\
        ".build/release/pflow --csv /tmp/x.csv" "$HOME/.cache/pflow-bench/flowtrack -m"

Each command gets the 1M bench capture as its last argument.
"""
import os, resource, statistics, subprocess, sys, time

capture = os.path.join(os.environ.get("PFLOW_BENCH_CACHE", os.path.expanduser("~/.cache/pflow-bench")),
                       "synth-1000000-seed7.pcap")
if len(sys.argv) < 3 or not os.path.exists(capture):
    sys.exit(__doc__ if len(sys.argv) < 3 else "cpu_per_run: run make bench once first (it makes the capture)")
runs = int(sys.argv[1])
commands = [c.split() for c in sys.argv[2:]]
cpu = [[] for _ in commands]
wall = [[] for _ in commands]
for _ in range(runs):
    for i, command in enumerate(commands):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command + [capture], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall[i].append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[i].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
for i, command in enumerate(commands):
    c = statistics.median(cpu[i])
    print("%-60s CPU %.3f s (at best %.3f on two cores)  wall median %.3f min %.3f"
          % (" ".join(command)[-60:], c, c / 2, statistics.median(wall[i]), min(wall[i])))
