#!/usr/bin/env python3
"""Roles of flows seen mid-stream (issue 13): every corpus capture and sample
cut at 30% and 60% of its packets (editcap), each flow whose roles the whole
capture decided from its handshake (the truth) compared with what the cut
capture decided, per role_source; for the weak sources, also what "the first
packet's sender is the client" would have said. Needs editcap, capinfos and
tshark.

    Scripts/midstream-roles.py PFLOW SHARED [extra captures...]
"""
import csv, subprocess, sys, os, glob, io, collections, tempfile
pflow = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
files = sorted(glob.glob(os.path.join(sys.argv[2], "corpus/pcaps/*"))) + sorted(glob.glob(os.path.join(here, "../Samples/*.pcap*"))) + sys.argv[3:]
tmp = tempfile.mkdtemp()
def flows(path):
    out = subprocess.run([pflow, "--threads", "1", "--csv", "-", path], capture_output=True, text=True).stdout
    res = {}
    for r in csv.DictReader(io.StringIO(out)):
        if r["proto"] not in ("tcp", "udp"): continue
        a = (r["client_ip"], r["client_port"]); b = (r["server_ip"], r["server_port"])
        key = (r["proto"], frozenset([a, b]))
        res.setdefault(key, []).append((a, r["role_source"], r["start_ns"]))
    return res
def first_senders(path):
    out = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "udp.srcport",
                          "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "udp.dstport"], capture_output=True, text=True).stdout
    first = {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 8: continue
        src = (f[0] or f[1]).split(",")[-1]; dst = (f[4] or f[5]).split(",")[-1]
        sp = (f[2] or f[3]).split(",")[-1]; dp = (f[6] or f[7]).split(",")[-1]
        if not sp or not dp or not src: continue
        proto = "tcp" if f[2] else "udp"
        key = (proto, frozenset([(src, sp), (dst, dp)]))
        first.setdefault(key, (src, sp))
    return first
stats = collections.Counter()
examples = []
for path in files:
    try:
        n = int(subprocess.run(["capinfos", "-c", "-M", "-T", path], capture_output=True, text=True).stdout.strip().split("\n")[-1].split("\t")[-1])
    except Exception:
        continue
    if n < 20: continue
    full = flows(path)
    for frac in (0.3, 0.6):
        cut = os.path.join(tmp, "cut.pcapng")
        subprocess.run(["editcap", "-r", "-F", "pcapng", path, cut, f"{int(n*frac)+1}-{n}"], capture_output=True)
        part = flows(cut)
        fs = first_senders(cut)
        for key, rows in part.items():
            if key not in full or len(full[key]) != 1 or len(rows) != 1: continue
            tclient, tsrc, _ = full[key][0]
            if tsrc not in ("syn", "syn-ack"): continue
            client, src, _ = rows[0]
            ports = [int(p) for _, p in key[1]]
            both_eph = all(p >= 32768 for p in ports)
            first = fs.get(key)
            stats[(src, "correct" if client == tclient else "wrong", "both-ephemeral" if both_eph else "")] += 1
            if src in ("lower-port", "first-packet", "ephemeral-range") and first:
                stats[(src, "first-packet-alt", "correct" if first == tclient else "wrong", "both-ephemeral" if both_eph else "")] += 1
                if client != tclient: examples.append((os.path.basename(path), frac, src, sorted(key[1]), tclient, first))
for k, v in sorted(stats.items()): print(k, v)
for e in examples[:20]: print(e)
