#!/usr/bin/env python3
"""--parquet read back by two independent readers (pyarrow and duckdb):
the row count, the schema's types and every cell equal to the CSV of the
same run, on the samples and on a generated 1M-packet capture (87k flows);
the Parquet file smaller than the CSV; an unwritable path fails cleanly.
Usage: Tests/parquet.py BINARY [SHARED]   (skips with a message without pyarrow/duckdb)"""
import csv, os, subprocess, sys, tempfile, glob

binary = sys.argv[1]
shared = sys.argv[2] if len(sys.argv) > 2 else "../shared"
try:
    import pyarrow.parquet as pq
    import pyarrow as pa
    import duckdb
except ImportError as e:
    print(f"parquet: skipped: {e} (make pydeps installs pyarrow and duckdb)")
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(0)

passed = failed = 0
def check(ok, what):
    global passed, failed
    if ok: passed += 1; print("ok  ", what)
    else: failed += 1; print("FAIL", what)

TYPES = {"start": "timestamp[ns, tz=UTC]", "end": "timestamp[ns, tz=UTC]", "start_ns": "int64", "end_ns": "int64",
         "duration_s": "double", "ip_version": "uint64", "vlan": "uint64", "client_port": "uint64",
         "server_port": "uint64", "c2s_packets": "uint64", "c2s_bytes": "uint64", "s2c_packets": "uint64",
         "s2c_bytes": "uint64", "c2s_payload_bytes": "uint64", "s2c_payload_bytes": "uint64", "icmp_errors": "uint64",
         "c2s_ip_bytes": "uint64", "s2c_ip_bytes": "uint64",
         "server_latency_ms": "double", "client_latency_ms": "double", "app_latency_ms": "double",
         "c2s_retransmissions": "uint64", "s2c_retransmissions": "uint64",
         "c2s_zero_windows": "uint64", "s2c_zero_windows": "uint64"}

def same(column, text, value, row):
    if text == "":
        return value is None
    if value is None:
        return False
    if column in ("start", "end"):
        return int(row[column + "_ns"]) == value   # compared as nanoseconds (value given as int below)
    if column == "duration_s" or isinstance(value, float):
        return abs(float(text) - value) <= 1e-9 * max(1.0, abs(value))
    if isinstance(value, int):
        return int(text) == value
    return text == value

def compare(capture, name):
    tmp = tempfile.mkdtemp()
    pq_path, csv_path = os.path.join(tmp, "f.parquet"), os.path.join(tmp, "f.csv")
    r = subprocess.run([binary, "--threads", "2", "--csv", csv_path, "--parquet", pq_path, capture],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    check(r.returncode == 0, f"{name}: pflow --parquet exit 0 ({r.stderr.decode().strip()[:80]})")
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    table = pq.read_table(pq_path)
    check(table.num_rows == len(rows), f"{name}: pyarrow reads {table.num_rows} rows, CSV has {len(rows)}")
    check(table.column_names == list(rows[0].keys()) if rows else True, f"{name}: columns named and ordered as the CSV's")
    types_ok = all(str(table.schema.field(c).type) == t for c, t in TYPES.items())
    types_ok = types_ok and all(str(table.schema.field(c).type) == "string"
                                for c in table.column_names if c not in TYPES)
    check(types_ok, f"{name}: schema types (timestamps ns UTC, unsigned counters, double, strings)")
    columns = {}
    for c in table.column_names:
        col = table.column(c)
        if c in ("start", "end"):
            col = col.cast(pa.int64())
        columns[c] = col.to_pylist()
    bad = []
    for i, row in enumerate(rows):
        for c, text in row.items():
            if not same(c, text, columns[c][i], row):
                bad.append((i, c, text, columns[c][i]))
    check(not bad, f"{name}: every cell equals the CSV's ({len(rows) * len(TYPES and rows[0] if rows else [])} cells)"
          + (f"; first difference {bad[0]}" if bad else ""))
    con = duckdb.connect()
    n, packets, bytes_ = con.execute(
        f"select count(*), sum(c2s_packets + s2c_packets), sum(c2s_bytes + s2c_bytes) from '{pq_path}'").fetchone()
    want_packets = sum(int(r["c2s_packets"]) + int(r["s2c_packets"]) for r in rows)
    want_bytes = sum(int(r["c2s_bytes"]) + int(r["s2c_bytes"]) for r in rows)
    check((n, packets or 0, bytes_ or 0) == (len(rows), want_packets, want_bytes),
          f"{name}: duckdb count and sums ({n} rows, {packets} packets, {bytes_} bytes)")
    services = con.execute(f"select service, count(*) from '{pq_path}' group by all order by all").fetchall()
    want = {}
    for r in rows: want[r["service"] or None] = want.get(r["service"] or None, 0) + 1
    check(sorted(services, key=lambda x: (x[0] is None, x[0] or "")) ==
          sorted(want.items(), key=lambda x: (x[0] is None, x[0] or "")), f"{name}: duckdb group by service")
    return os.path.getsize(pq_path), os.path.getsize(csv_path)

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sample in sorted(glob.glob(os.path.join(root, "Samples", "*.pcap*"))):
    compare(sample, os.path.basename(sample))

generator = os.path.join(shared, "tools", "synthtraffic.py")
if os.path.exists(generator):
    tmp = tempfile.mkdtemp()
    big = os.path.join(tmp, "1m.pcap")
    subprocess.run([sys.executable, generator, "--packets", "1000000", "--seed", "7", "--out", big], check=True)
    pq_size, csv_size = compare(big, "1M-packet capture")
    check(pq_size < csv_size, f"1M-packet capture: Parquet {pq_size:,} bytes < CSV {csv_size:,} bytes")
    os.remove(big)
else:
    print(f"parquet: the 1M-packet check skipped: {generator} is absent")

# An unwritable path: one error line, exit 1, nothing left behind.
tmp = tempfile.mkdtemp()
target = os.path.join(tmp, "missing-dir", "f.parquet")
r = subprocess.run([binary, "--parquet", target, os.path.join(root, "Samples", "http-dns-lo.pcap")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = r.stderr.decode()
check(r.returncode == 1 and err.startswith("pflow: error:") and err.count("\n") == 1,
      f"unwritable path: one error line, exit 1 ({err.strip()})")
r = subprocess.run([binary, "--parquet", "-", os.path.join(root, "Samples", "http-dns-lo.pcap")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
check(r.returncode == 64, "--parquet - is a usage error")
none = os.path.join(tmp, "n.parquet")
r = subprocess.run([binary, "--parquet", none, "--parquet-compression", "none",
                    os.path.join(root, "Samples", "findings-netns.pcap")], stdout=subprocess.DEVNULL)
check(r.returncode == 0 and pq.read_table(none).num_rows > 0, "--parquet-compression none reads back")
check(sorted(os.listdir(tmp)) == ["n.parquet"], f"no temporaries left behind ({sorted(os.listdir(tmp))})")
print(f"parquet: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
