#!/usr/bin/env python3
"""Allocation check: heap allocations per packet in the steady state must be
zero, and per new flow bounded. Writes UDP captures with K flows of N
packets each (interleaved round-robin, so every flow stays live), runs pflow
under an interposed malloc counter, and compares counts.

    Bench/alloc_check.py path/to/pflow
"""
import os, struct, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
pflow = os.path.abspath(sys.argv[1])
work = tempfile.mkdtemp(prefix="pflow-alloc-")
lib = os.path.join(work, "malloc_count.so")
subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", lib, os.path.join(here, "malloc_count.c"), "-ldl"], check=True)

def capture(path, flows, packets_per_flow):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        ts = 1_767_225_600_000_000
        for round_ in range(packets_per_flow):
            for k in range(flows):
                ts += 10
                client = bytes([10, 1, (k >> 8) & 255, k & 255])
                server = bytes([192, 0, 2, 1 + k % 50])
                sport, dport = 40000 + k % 20000, 53
                if round_ % 2:
                    client, server, sport, dport = server, client, dport, sport
                payload = bytes(32)
                udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
                ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, client, server) + udp
                frame = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip
                f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)) + frame)

def allocations(flows, packets_per_flow, *extra):
    path = os.path.join(work, f"c{flows}x{packets_per_flow}.pcap")
    capture(path, flows, packets_per_flow)
    env = dict(os.environ, LD_PRELOAD=lib)
    out = subprocess.run([pflow, *extra, path], env=env, capture_output=True, text=True)
    counts = [int(l.split()[1]) for l in out.stderr.splitlines() if l.startswith("malloc_count ")]
    if out.returncode != 0 or not counts:
        sys.exit(f"alloc check: pflow failed: {out.stderr.strip()[:300]}")
    return counts[-1]

failed = 0
for mode in ([], ["--csv", os.devnull]):
    name = "report" if not mode else "--csv"
    base = allocations(2000, 10, *mode)
    more_packets = allocations(2000, 50, *mode)
    more_flows = allocations(4000, 10, *mode)
    per_packet = (more_packets - base) / (2000 * 40)
    per_flow = (more_flows - base) / 2000
    print(f"alloc check ({name}): {base} allocations for 2000 flows x 10 packets; "
          f"{more_packets - base:+d} for 80,000 more packets ({per_packet:.4f}/packet); "
          f"{more_flows - base:+d} for 2,000 more flows ({per_flow:.2f}/flow)")
    if per_packet > 0.001:
        print(f"FAIL ({name}): packets in the steady state allocate"); failed += 1
    if per_flow > 16:
        print(f"FAIL ({name}): more than 16 allocations per new flow"); failed += 1
print(f"alloc: {2 - min(2, failed)} passed, {min(2, failed)} failed")
sys.exit(1 if failed else 0)
