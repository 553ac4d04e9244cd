#!/usr/bin/env python3
"""The flows in other tools' formats, checked by other tools (issue 15):
    Tests/interop.py path/to/pflow path/to/shared

- community_id of every TCP/UDP flow over the corpus and the samples equals
  pycommunityid's for the CSV's tuple; every ICMP flow's equals
  pycommunityid's for one of its packets (read by tshark);
- --ndjson equals the CSV row for row, cell for cell (numbers as numbers,
  empty as null);
- --conn-log: the sample's file equals Tests/conn-log.golden.txt; every row's
  uid, endpoints, packets and IP bytes per direction, payload bytes and history
  equal the CSV's; zat reads it; --conn-log-format json holds the same rows;
- --ipfix: a real nfcapd on 127.0.0.1 receives the samples and a generated
  capture of ~5,000 flows; nfdump -R reads back every flow once, client as
  source, packets and IP bytes both ways equal to the CSV's; nfcapd reports
  0 sequence errors; --ipfix-mode uniflow into pmacct's nfacctd gives each
  direction's counters; a refusing collector: one warning, the report, exit 1;
  a bad host:port: usage error.
Each independent tool that is missing skips its part with a message.
"""
import csv, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

pflow = os.path.abspath(sys.argv[1])
shared = os.path.abspath(sys.argv[2])
here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
work = tempfile.mkdtemp(prefix="pflow-interop-")
passed = failed = 0


def ok(msg):
    global passed
    passed += 1
    print(f"ok   {msg}")


def fail(msg, detail=""):
    global failed
    failed += 1
    print(f"FAIL {msg}" + (f"\n     {detail}" if detail else ""))


def skip(msg):
    print(f"skip {msg}")


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


try:
    import communityid
    cid = communityid.CommunityID()
except ImportError:
    cid = None
tshark = shutil.which("tshark")

# ---------------------------------------------------------------- files ----
captures = sorted(os.path.join(shared, "corpus", "pcaps", n) for n in os.listdir(os.path.join(shared, "corpus", "pcaps")))
captures += sorted(os.path.join(repo, "Samples", n) for n in os.listdir(os.path.join(repo, "Samples"))
                   if n.endswith((".pcap", ".pcapng")))


def icmp_ids(path):
    """pycommunityid's IDs of every ICMP/ICMPv6 packet in `path` (outermost
    and innermost addresses, so tunnels and quoted headers both count)."""
    fields = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code"]
    ids = set()
    for occurrence in ("f", "l"):
        r = run([tshark, "-n", "-r", path, "-Y", "icmp or icmpv6", "-T", "fields", "-E", f"occurrence={occurrence}",
                 *sum((["-e", f] for f in fields), [])])
        for line in r.stdout.splitlines():
            c = line.split("\t")
            if len(c) < 8:
                continue
            try:
                if c[6]:
                    src, dst = (c[2], c[3]) if c[2] else (c[0], c[1])
                    t = communityid.FlowTuple.make_icmp6(src, dst, int(c[6]), int(c[7] or 0))
                elif c[4]:
                    t = communityid.FlowTuple.make_icmp(c[0], c[1], int(c[4]), int(c[5] or 0))
                else:
                    continue
                ids.add(cid.calc(t))
            except Exception:
                continue
    return ids


def number_equal(cell, value):
    if cell == "":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return str(value) == cell
    return float(cell) == value


cid_checked = {"tcp": 0, "udp": 0, "icmp": 0}
cid_bad, ndjson_bad, conn_bad, files_done = [], [], [], 0
for path in captures:
    name = os.path.basename(path)
    out = os.path.join(work, name)
    r = run([pflow, "--csv", out + ".csv", "--ndjson", out + ".ndjson", "--conn-log", out + ".log", path])
    if r.returncode != 0 or not os.path.exists(out + ".csv"):
        continue  # not a capture pflow opens (the corpus holds a few on purpose)
    files_done += 1
    rows = read_csv(out + ".csv")
    # --ndjson, row for row.
    with open(out + ".ndjson") as f:
        lines = f.read().splitlines()
    if len(lines) != len(rows):
        ndjson_bad.append(f"{name}: {len(lines)} lines, {len(rows)} rows")
    for line, row in zip(lines, rows):
        obj = json.loads(line)
        if list(obj) != list(row):
            ndjson_bad.append(f"{name}: keys {list(obj)[:3]}… differ from the CSV's")
            break
        for k, cell in row.items():
            v = obj[k]
            good = number_equal(cell, v) if (v is None or isinstance(v, (int, float))) and k != "uid" else v == cell
            if not good and not (v is None and cell == ""):
                ndjson_bad.append(f"{name}: {row['uid']} {k}: json {v!r}, csv {cell!r}")
    # --conn-log, row for row against the CSV.
    with open(out + ".log") as f:
        log = [l.rstrip("\n").split("\t") for l in f if not l.startswith("#")]
    with open(out + ".log") as f:
        names = next(l for l in f if l.startswith("#fields")).rstrip("\n").split("\t")[1:]
    if len(log) != len(rows):
        conn_bad.append(f"{name}: {len(log)} conn.log rows, {len(rows)} CSV rows")
    for cells, row in zip(log, rows):
        z = dict(zip(names, cells))
        want = {"uid": row["uid"], "id.orig_h": row["client_ip"], "id.resp_h": row["server_ip"],
                "orig_pkts": row["c2s_packets"], "orig_ip_bytes": row["c2s_ip_bytes"],
                "resp_pkts": row["s2c_packets"], "resp_ip_bytes": row["s2c_ip_bytes"],
                "conn_state": row["state"], "community_id": row["community_id"] or "-"}
        if row["proto"] in ("tcp", "udp"):
            want["id.orig_p"], want["id.resp_p"] = row["client_port"], row["server_port"]
        if z.get("duration", "-") != "-":
            want["orig_bytes"], want["resp_bytes"] = row["c2s_payload_bytes"], row["s2c_payload_bytes"]
        history = z.get("history", "-").lstrip("^")
        if (history if history != "-" else "") != row["history"]:
            conn_bad.append(f"{name}: {row['uid']} history {z.get('history')!r}, csv {row['history']!r}")
        for k, v in want.items():
            if z.get(k) != v:
                conn_bad.append(f"{name}: {row['uid']} {k}: conn.log {z.get(k)!r}, csv {v!r}")
    # community_id: TCP/UDP from the CSV's tuple, ICMP among its packets'.
    if cid is None:
        continue
    icmp_rows = [row for row in rows if row["proto"] in ("icmp", "icmpv6")]
    for row in rows:
        if row["proto"] in ("tcp", "udp"):
            make = communityid.FlowTuple.make_tcp if row["proto"] == "tcp" else communityid.FlowTuple.make_udp
            want = cid.calc(make(row["client_ip"], row["server_ip"], int(row["client_port"]), int(row["server_port"])))
            cid_checked[row["proto"]] += 1
            if row["community_id"] != want:
                cid_bad.append(f"{name}: {row['uid']} {row['proto']} {row['client_ip']}:{row['client_port']} → "
                               f"{row['server_ip']}:{row['server_port']}: {row['community_id']} want {want}")
    if icmp_rows and tshark:
        ids = icmp_ids(path)
        for row in icmp_rows:
            cid_checked["icmp"] += 1
            if row["community_id"] not in ids:
                cid_bad.append(f"{name}: {row['uid']} {row['proto']} {row['client_ip']} → {row['server_ip']}: "
                               f"{row['community_id']!r} is no packet's ID")

print(f"     {files_done} captures analysed")
if cid is None:
    skip("community_id: pycommunityid not installed (pip install communityid)")
elif cid_bad:
    fail(f"community_id: {len(cid_bad)} flows differ from pycommunityid", "\n     ".join(cid_bad[:8]))
else:
    ok(f"community_id equals pycommunityid's: {cid_checked['tcp']} TCP, {cid_checked['udp']} UDP flows"
       + (f", {cid_checked['icmp']} ICMP flows (tshark's packets)" if tshark else " (ICMP skipped: no tshark)"))
if ndjson_bad:
    fail(f"--ndjson differs from the CSV ({len(ndjson_bad)} cells)", "\n     ".join(ndjson_bad[:8]))
else:
    ok("--ndjson equals the CSV row for row, cell for cell, on every capture")
if conn_bad:
    fail(f"--conn-log differs from the CSV ({len(conn_bad)} fields)", "\n     ".join(conn_bad[:8]))
else:
    ok("--conn-log: every row's uid, endpoints, packets, IP and payload bytes, state, history equal the CSV's")

# ---------------------------------------------------------- conn.log ----
sample = os.path.join(repo, "Samples", "http-dns-lo.pcap")
golden = os.path.join(here, "conn-log.golden.txt")
log = os.path.join(work, "http-dns-lo.pcap.log")
if os.environ.get("PFLOW_RECORD_GOLDEN"):
    shutil.copyfile(log, golden)
with open(log) as a, open(golden) as b:
    got, want = a.read(), b.read()
if got == want:
    ok("--conn-log on the sample equals Tests/conn-log.golden.txt (header lines byte-exact)")
else:
    fail("--conn-log golden", f"got:\n{got[:600]}")
try:
    from zat import zeek_log_reader
    big = max((p for p in captures if os.path.exists(os.path.join(work, os.path.basename(p)) + ".log")),
              key=lambda p: os.path.getsize(os.path.join(work, os.path.basename(p)) + ".log"))
    bad = []
    for p in (sample, big):
        base = os.path.join(work, os.path.basename(p))
        zrows = list(zeek_log_reader.ZeekLogReader(base + ".log").readrows())
        crows = read_csv(base + ".csv")
        if len(zrows) != len(crows) or any(z["uid"] != c["uid"] or int(z["orig_pkts"]) != int(c["c2s_packets"])
                                           for z, c in zip(zrows, crows)):
            bad.append(f"{os.path.basename(p)}: zat read {len(zrows)} rows, CSV {len(crows)}")
    if bad:
        fail("zat reads conn.log", "; ".join(bad))
    else:
        ok(f"zat reads conn.log (the sample and {os.path.basename(big)}): every row, uids and packets as the CSV's")
except ImportError:
    skip("zat not installed (pip install zat): conn.log not read by zat")
r = run([pflow, "--conn-log", "-", "--conn-log-format", "json", sample])
try:
    objs = [json.loads(l) for l in r.stdout.splitlines()]
    crows = read_csv(os.path.join(work, "http-dns-lo.pcap.csv"))
    good = r.returncode == 0 and len(objs) == len(crows) and all(
        o["uid"] == c["uid"] and o["orig_ip_bytes"] == int(c["c2s_ip_bytes"]) and o["resp_pkts"] == int(c["s2c_packets"])
        for o, c in zip(objs, crows))
except (ValueError, KeyError) as e:
    good, objs = False, [str(e)]
if good:
    ok("--conn-log - --conn-log-format json: Zeek's JSON lines, the same rows, on stdout instead of the table")
else:
    fail("--conn-log-format json", (r.stderr + str(objs[:2]))[:400])

# ------------------------------------------------------------- IPFIX ----
r = run([pflow, "--ipfix", "nohost", sample])
r2 = run([pflow, "--ipfix", "127.0.0.1:70000", sample])
if r.returncode == 64 and r2.returncode == 64 and "--ipfix" in r.stderr:
    ok("--ipfix with a host:port that doesn't parse: usage error (64)")
else:
    fail("--ipfix bad host:port", f"{r.returncode} {r.stderr.strip()} / {r2.returncode}")

port = free_udp_port()
r = run([pflow, "--ipfix", f"127.0.0.1:{port}", sample], timeout=60)
warnings = [l for l in r.stderr.splitlines() if "warning" in l]
if r.returncode == 1 and len(warnings) == 1 and "IPFIX" in warnings[0] and "Services" in r.stdout \
        and "error: IPFIX export" in r.stderr:
    ok("a refusing collector: one warning, the report still printed, exit 1 saying the export failed")
else:
    fail("refusing collector", f"rc {r.returncode}: {r.stderr.strip()[:300]}")

nfcapd, nfdump = shutil.which("nfcapd"), shutil.which("nfdump")


def nfcapd_run(capture, extra=()):
    """Exports `capture` to a fresh nfcapd; returns (csv rows, nfdump rows, nfcapd log)."""
    d = tempfile.mkdtemp(prefix="nfcapd-", dir=work)
    port = free_udp_port()
    logpath = d + ".log"
    with open(logpath, "w") as logf:
        p = subprocess.Popen([nfcapd, "-p", str(port), "-b", "127.0.0.1", "-w", d, "-B", "4194304"],
                             stdout=logf, stderr=logf)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and "Startup" not in open(logpath).read():
            time.sleep(0.02)
        out = os.path.join(work, os.path.basename(capture) + ".ipfix.csv")
        r = run([pflow, "--ipfix", f"127.0.0.1:{port}", "--csv", out, *extra, capture], timeout=300)
        if r.returncode != 0:
            fail(f"pflow --ipfix {os.path.basename(capture)}", r.stderr[:300])
    finally:
        # Let nfcapd read the last datagrams before it is told to stop.
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    r = run([nfdump, "-R", d, "-o", "csv", "-N"])
    lines = r.stdout.splitlines()
    got = []
    if lines:
        names = lines[0].split(",")
        for line in lines[1:]:
            c = [x.strip() for x in line.split(",")]
            if len(c) == len(names):
                got.append(dict(zip(names, c)))
    return read_csv(out), got, open(logpath).read()


def ipfix_key(proto, sa, da, sp, dp):
    proto = {"TCP": "tcp", "UDP": "udp", "ICMP": "icmp", "ICMP6": "icmpv6"}.get(proto, proto).lower()
    if proto not in ("tcp", "udp"):
        sp = dp = ""  # ICMP's type/code in nfdump's dp; the CSV has no ports
    return (proto, socket.inet_pton(socket.AF_INET6 if ":" in sa else socket.AF_INET, sa),
            socket.inet_pton(socket.AF_INET6 if ":" in da else socket.AF_INET, da), sp, dp)


def check_nfcapd(capture, label):
    rows, got, logtext = nfcapd_run(capture)
    want = {}
    for row in rows:
        k = ipfix_key(row["proto"], row["client_ip"], row["server_ip"], row["client_port"], row["server_port"])
        v = want.setdefault(k, [0, 0, 0, 0, 0])
        for i, c in enumerate(("c2s_packets", "c2s_ip_bytes", "s2c_packets", "s2c_ip_bytes")):
            v[i] += int(row[c])
        v[4] += 1
    have = {}
    for g in got:
        k = ipfix_key(g["pr"], g["sa"], g["da"], g["sp"], g["dp"])
        v = have.setdefault(k, [0, 0, 0, 0, 0])
        for i, c in enumerate(("ipkt", "ibyt", "opkt", "obyt")):
            v[i] += int(g[c])
        v[4] += 1
    summary = next((l for l in logtext.splitlines() if "Sequence Errors" in l), "")
    diffs = [f"{k[0]} {socket.inet_ntop(socket.AF_INET6 if len(k[1]) == 16 else socket.AF_INET, k[1])}:{k[3]} → "
             f"{socket.inet_ntop(socket.AF_INET6 if len(k[2]) == 16 else socket.AF_INET, k[2])}:{k[4]}: "
             f"nfdump {have.get(k)} csv {want.get(k)}" for k in set(want) | set(have) if want.get(k) != have.get(k)]
    if len(got) == len(rows) and not diffs and "Sequence Errors: 0," in summary and f"Flows: {len(rows)}," in summary:
        ok(f"nfcapd received {label}: {len(rows)} flows once each, client as source, packets and IP bytes both ways "
           f"as the CSV's; {summary.strip()}")
    else:
        fail(f"nfcapd {label}: {len(got)} flows read back for {len(rows)} rows, {len(diffs)} differ",
             summary + "\n     " + "\n     ".join(diffs[:6]))


if not (nfcapd and nfdump):
    skip("nfcapd/nfdump not installed (apt-get install nfdump): IPFIX not checked against a collector")
else:
    for s in ("http-dns-lo.pcap", "any-mixed.pcapng", "findings-netns.pcap"):
        check_nfcapd(os.path.join(repo, "Samples", s), s)
    synth = os.path.join(work, "synth-5k.pcap")
    r = run([sys.executable, os.path.join(shared, "tools", "synthtraffic.py"), "--packets", "37000", "--seed", "15",
             "--out", synth])
    if r.returncode != 0:
        fail("synthtraffic.py", r.stderr[:300])
    else:
        check_nfcapd(synth, "a generated capture")

nfacctd = shutil.which("nfacctd")
if not nfacctd:
    skip("nfacctd not installed (apt-get install pmacct): uniflow not checked against a collector")
else:
    d = tempfile.mkdtemp(prefix="nfacctd-", dir=work)
    port = free_udp_port()
    with open(d + "/nfacctd.conf", "w") as f:
        f.write(f"daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nplugins: print[p]\n"
                "aggregate[p]: src_host, dst_host, src_port, dst_port, proto\nprint_output[p]: csv\n"
                f"print_output_file[p]: {d}/out.csv\nprint_output_file_append[p]: true\nprint_refresh_time[p]: 1\n")
    with open(d + "/log", "w") as logf:
        p = subprocess.Popen([nfacctd, "-f", d + "/nfacctd.conf"], stdout=logf, stderr=logf, start_new_session=True)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            t = open(d + "/log").read()
            if "waiting for" in t and "cache entries" in t:
                break
            time.sleep(0.02)
        time.sleep(1)
        capture = os.path.join(repo, "Samples", "findings-netns.pcap")
        r = run([pflow, "--ipfix", f"127.0.0.1:{port}", "--ipfix-mode", "uniflow", "--csv", d + "/flows.csv", capture])
        text, last, give = "", time.time(), time.time() + 30
        while time.time() < give and (not text or time.time() - last < 2.5):
            time.sleep(0.2)
            now = open(d + "/out.csv").read() if os.path.exists(d + "/out.csv") else ""
            if now != text:
                text, last = now, time.time()
    finally:
        # nfacctd's core may wait for its plugin on SIGTERM: end the group this test started.
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    sums, header = {}, []
    for line in text.splitlines():
        c = line.split(",")
        if c[0] == "SRC_IP":
            header = c
            continue
        if len(c) != len(header):
            continue
        z = dict(zip(header, c))
        k = (z["SRC_IP"], z["SRC_PORT"], z["DST_IP"], z["DST_PORT"], z["PROTOCOL"].lower())
        old = sums.get(k, (0, 0))
        sums[k] = (old[0] + int(z["PACKETS"]), old[1] + int(z["BYTES"]))
    want = {}
    for row in read_csv(d + "/flows.csv"):
        if row["proto"] not in ("tcp", "udp"):
            continue
        for a, ap, b, bp, pk, by in ((row["client_ip"], row["client_port"], row["server_ip"], row["server_port"],
                                      "c2s_packets", "c2s_ip_bytes"),
                                     (row["server_ip"], row["server_port"], row["client_ip"], row["client_port"],
                                      "s2c_packets", "s2c_ip_bytes")):
            if int(row[pk]) == 0:
                continue
            k = (a, ap, b, bp, row["proto"])
            old = want.get(k, (0, 0))
            want[k] = (old[0] + int(row[pk]), old[1] + int(row[by]))
    diffs = [f"{k}: nfacctd {sums.get(k)} csv {v}" for k, v in want.items() if sums.get(k) != v]
    if r.returncode == 0 and want and not diffs:
        ok(f"nfacctd (uniflow): {len(want)} directions of TCP/UDP flows, each one's packets and IP bytes as the CSV's")
    else:
        fail(f"nfacctd uniflow: {len(diffs)} of {len(want)} directions differ", "\n     ".join(diffs[:6]) + r.stderr[:200])

shutil.rmtree(work, ignore_errors=True)
print(f"interop: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
