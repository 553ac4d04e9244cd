#!/usr/bin/env python3
"""Latency and names on a capture with a known added delay (issue 16).

Usage: Tests/latency.py PFLOW [SAMPLES_DIR]

Runs `PFLOW --csv -` on Samples/latency-netns.pcap (recorded by
Samples/record-latency.sh: 5 ms each way on the client side of the capture
point, 20 ms on the server side, servers that think a known time) and checks
it against Samples/latency-netns.truth.md:
  - every flow's server_latency_ms, client_latency_ms, app_latency_ms within
    the tolerance (1 ms) of the delays added ("Expected" table);
  - every flow as recorded, to the microsecond, with its server_name and
    name_source ("Flows" table);
  - with tshark (skipped with a message without it): per TCP flow,
    server + client latency == tcp.analysis.initial_rtt and per DNS flow
    app_latency == dns.time, to the microsecond; and every flow that carried
    an SNI or a Host header, or went to an address a DNS answer gave before
    it started, has a server_name (the one tshark read, for SNI and Host).
  - the JSON report's hosts[].names as the truth lists them.
Exits non-zero on any failure.
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def tables(path):
    """The markdown tables under each '## ' heading: {heading: [row dicts]}."""
    out, heading, header = {}, None, None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("## "):
            heading, header = line[3:].strip(), None
            continue
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif set("".join(cells)) <= set("- "):
            continue
        else:
            out.setdefault(heading, []).append(dict(zip(header, cells)))
    return out


def us(ms):
    """Decimal milliseconds (µs precision) as integer microseconds, or None."""
    if ms in ("", None):
        return None
    whole, _, frac = ms.partition(".")
    return int(whole) * 1000 + int((frac + "000")[:3])


def tshark_us(s):
    """tshark seconds ('0.050214000') as integer microseconds."""
    whole, _, frac = s.partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def main():
    pflow = sys.argv[1]
    samples = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Samples")
    pcap = os.path.join(samples, "latency-netns.pcap")
    truth = tables(os.path.join(samples, "latency-netns.truth.md"))
    expected = {(r["port"], r["proto"]): r for r in truth["Expected (machine-read)"]}
    recorded = {r["client_port"]: r for r in truth["Flows (machine-read; as recorded, µs exact)"]}

    rows = list(csv.DictReader(io.StringIO(subprocess.run([pflow, "--csv", "-", pcap], check=True,
                                                           capture_output=True, text=True).stdout)))
    check(len(rows) == len(recorded), f"flows: pflow {len(rows)}, truth {len(recorded)}")
    columns = ("server_latency_ms", "client_latency_ms", "app_latency_ms")
    for f in rows:
        name = f"{f['client_ip']}:{f['client_port']} -> {f['server_ip']}:{f['server_port']}/{f['proto']}"
        e = expected.get((f["server_port"], f["proto"]))
        check(e is not None, f"{name}: not in the Expected table")
        if e:
            tol = us(e["tolerance_ms"])
            for c in columns:
                want, got = us(e[c]), us(f[c])
                if want is None:
                    check(got is None, f"{name}: {c} is {f[c]}, expected empty")
                else:
                    check(got is not None and abs(got - want) <= tol,
                          f"{name}: {c} {f[c] or 'empty'}, expected {e[c]} ± {e['tolerance_ms']} ms")
        r = recorded.get(f["client_port"])
        check(r is not None, f"{name}: not in the Flows table")
        if r:
            check(r["server"] == f"{f['server_ip']}:{f['server_port']}" and r["proto"] == f["proto"],
                  f"{name}: truth says {r['server']}/{r['proto']}")
            for c in columns + ("server_name", "name_source"):
                check(f[c] == r[c], f"{name}: {c} {f[c]!r}, recorded {r[c]!r}")
            check(f["c2s_retransmissions"] in ("", "0") and f["s2c_retransmissions"] in ("", "0"),
                  f"{name}: retransmissions {f['c2s_retransmissions']}/{f['s2c_retransmissions']}, expected none")

    # hosts[].names in the JSON report.
    report = json.loads(subprocess.run([pflow, "--json", pcap], check=True, capture_output=True, text=True).stdout)
    names = {h["ip"]: h.get("names") for h in report["hosts"]}
    want_names = {"10.97.0.2": ["www.latency.test:8080", "tls.latency.test", "split.latency.test", "www.latency.test"],
                  "10.97.0.3": ["db.latency.test"], "10.97.0.1": []}
    for ip, want in want_names.items():
        check(names.get(ip) == want, f"hosts {ip}: names {names.get(ip)}, expected {want}")

    tshark = shutil.which("tshark")
    if not tshark:
        print("latency.py: tshark is not installed (apt-get install tshark): the tshark comparison is skipped")
    else:
        compare_tshark(tshark, pcap, rows)

    for m in failures:
        print("FAIL " + m)
    print(f"latency.py: {len(rows)} flows, {len(failures)} failures")
    return 1 if failures else 0


def compare_tshark(tshark, pcap, rows):
    out = subprocess.run([tshark, "-n", "-r", pcap, "-T", "fields", "-E", "separator=/t",
                          "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst",
                          "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport",
                          "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.analysis.initial_rtt",
                          "-e", "dns.time", "-e", "dns.a", "-e", "dns.qry.name",
                          "-e", "tls.handshake.extensions_server_name", "-e", "http.host"],
                         check=True, capture_output=True, text=True).stdout
    by_socket = {}
    for f in rows:
        by_socket[(f["client_ip"], f["client_port"], f["server_ip"], f["server_port"])] = f
    rtt, dns_time, told = {}, {}, {}  # socket -> µs / name
    answers = []  # (time µs, address, name): DNS answers in capture order
    start = {}
    for line in out.splitlines():
        t, src, dst, tsp, tdp, usp, udp_, syn, ack, irtt, dtime, dnsa, qname, sni, host = (line.split("\t") + [""] * 15)[:15]
        sp, dp = tsp or usp, tdp or udp_
        when = tshark_us(t)
        for key in ((src, sp, dst, dp), (dst, dp, src, sp)):
            if key in by_socket:
                start.setdefault(key, when)
                if irtt and key not in rtt:
                    rtt[key] = tshark_us(irtt)
                if dtime:
                    dns_time[key] = tshark_us(dtime)
                if sni or host:
                    told[key] = sni or host
        if dnsa and qname:
            for a in dnsa.split(","):
                answers.append((when, a, qname.split(",")[0].lower()))
    compared = 0
    for key, f in by_socket.items():
        name = f"{key[0]}:{key[1]} -> {key[2]}:{key[3]}"
        if key in rtt:
            compared += 1
            got = (us(f["server_latency_ms"]) or 0) + (us(f["client_latency_ms"]) or 0)
            check(got == rtt[key], f"{name}: server + client latency {got} µs, tshark initial_rtt {rtt[key]} µs")
        elif f["proto"] == "tcp":
            check(False, f"{name}: tshark shows no initial_rtt")
        if key in dns_time:
            compared += 1
            check(us(f["app_latency_ms"]) == dns_time[key],
                  f"{name}: app latency {f['app_latency_ms']} ms, tshark dns.time {dns_time[key]} µs")
        # A name pflow must give: the SNI or Host tshark read, else the last
        # DNS answer for the server's address seen before the flow started.
        want = told.get(key)
        if want is None:
            before = [n for (w, a, n) in answers if a == key[2] and w < start.get(key, 0)]
            if before:
                want = before[-1]
        if want is not None:
            check(f["server_name"] == want.lower(), f"{name}: server_name {f['server_name']!r}, the capture gives {want!r}")
            check(f["name_source"] != "", f"{name}: name_source empty")
    print(f"latency.py: tshark: {compared} latencies compared to the microsecond")


if __name__ == "__main__":
    sys.exit(main())
