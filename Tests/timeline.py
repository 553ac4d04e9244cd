#!/usr/bin/env python3
"""Issue 17's checks against the binary:

- the timeline's bins add up to the capture's packets and bytes, and each
  service's bytes_per_bin to its bytes, on every sample and corpus capture
  (one and two threads, default and given bin widths);
- each bin equals tshark's `-z io,stat,<bin>` on the samples (skipped, with a
  message, without tshark);
- the --html page: well-formed (html.parser, every element closed), no
  external reference (no http:, https:, //, src=, @import, url(, script),
  every number it tags (data-json) equal to the JSON's (rounded bytes within
  their rounding), the hosts table's rows the JSON's hosts[], every cell of
  who-talks-to-whom (data-pair) equal to the CSV's flows summed per client
  and server pair and to hosts[], under 400 KB; and
  rendered by headless Chromium into a PNG that is not blank (skipped, with
  a message, without Chromium).

usage: timeline.py <pflow> <shared dir> [--screenshot out.png]
"""
import glob, html.parser, json, os, re, shutil, struct, subprocess, sys, tempfile, zlib

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def report(pflow, args):
    p = subprocess.run([pflow, "--json", *args], capture_output=True)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def check_sums(pflow, path, extra):
    d = report(pflow, extra + [path])
    if d is None:
        return 0  # not a capture pflow opens: nothing to sum
    t, c = d["timeline"], d["capture"]
    name = f"{os.path.basename(path)} {' '.join(extra)}"
    if sum(t["packets"]) != c["packets"]:
        fail(f"{name}: timeline packets {sum(t['packets'])} != capture packets {c['packets']}")
    if sum(t["bytes"]) != c["bytes"]:
        fail(f"{name}: timeline bytes {sum(t['bytes'])} != capture bytes {c['bytes']}")
    if not (len(t["packets"]) == len(t["bytes"]) == len(t["other_bytes_per_bin"])):
        fail(f"{name}: bin arrays differ in length")
    flows_bytes = 0
    for s in d["services"]:
        flows_bytes += s["bytes"]
        b = s.get("bytes_per_bin")
        if b is None:
            continue
        if len(b) != len(t["bytes"]):
            fail(f"{name}: {s['service']} {s['port']}: {len(b)} bins, timeline has {len(t['bytes'])}")
        if sum(b) != s["bytes"]:
            fail(f"{name}: {s['service']} {s['port']}: bytes_per_bin sums to {sum(b)}, bytes {s['bytes']}")
    kept = sum(sum(s.get("bytes_per_bin", [])) for s in d["services"])
    # Every flow's bytes: the services and what isn't listed as one (failed
    # ports, scan probes), which the timeline counts as other.
    flows_bytes = sum(p["bytes"] for p in d["totals"]["by_proto"].values())
    if kept + sum(t["other_bytes_per_bin"]) != flows_bytes:
        fail(f"{name}: services' bins + other = {kept + sum(t['other_bytes_per_bin'])}, flows' bytes {flows_bytes}")
    if c["packets"] and not 1 <= len(t["bytes"]) <= 200 and not extra:
        fail(f"{name}: {len(t['bytes'])} bins by default")
    return 1


def tshark_bins(path, width):
    p = subprocess.run(["tshark", "-r", path, "-q", "-z", f"io,stat,{width}"], capture_output=True, text=True)
    rows = []
    for line in p.stdout.splitlines():
        m = re.match(r"\|\s*([\d.]+)\s*<>\s*([\d.]+|Dur)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", line)
        if m:
            rows.append((int(m.group(3)), int(m.group(4))))
    return rows


def check_tshark(pflow, samples):
    if not shutil.which("tshark"):
        print("skip: tshark not installed (apt-get install tshark): bins not compared with io,stat")
        return
    for path in samples:
        for width in ["0.01", "0.1", "1"]:
            d = report(pflow, ["--bin", width, path])
            ours = list(zip(d["timeline"]["packets"], d["timeline"]["bytes"]))
            theirs = tshark_bins(path, width)
            # tshark stops at the last packet's interval; so do we.
            if ours != theirs:
                diff = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
                fail(f"{os.path.basename(path)} --bin {width}: bin {diff} differs from tshark io,stat "
                     f"(ours {ours[diff:diff+1]}, tshark {theirs[diff:diff+1]}; {len(ours)} vs {len(theirs)} bins)")
            else:
                print(f"ok: {os.path.basename(path)} --bin {width}: {len(ours)} bins equal tshark io,stat")


class Page(html.parser.HTMLParser):
    void = {"meta", "br", "img", "input", "link", "hr", "area", "base", "col", "embed", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tagged, self.text_of = [], [], [], None
        self.cells = {}  # who talks to whom: data-pair -> (bytes, flows)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k, v in attrs:
            if k in ("src", "href", "xlink:href") or (v and re.search(r"(https?:|//|url\()", v)):
                self.errors.append(f"reference {k}={v!r} in <{tag}>")
        if tag == "script":
            self.errors.append("a <script>")
        if "data-json" in a:
            self.tagged.append([a["data-json"], a.get("data-value"), "", a.get("data-shown")])
            self.text_of = len(self.stack)
        if "data-pair" in a:
            if a["data-pair"] in self.cells:
                self.errors.append(f"matrix cell {a['data-pair']!r} twice")
            self.cells[a["data-pair"]] = (int(a["data-value"]), int(a["data-flows"]))
        if tag not in self.void:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.void:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in self.void:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()
        if self.text_of is not None and len(self.stack) == self.text_of:
            self.text_of = None

    def handle_data(self, data):
        if self.text_of is not None and self.tagged:
            self.tagged[-1][2] += data


def human_bytes_ok(shown, want):
    """`shown` is Formatting.humanBytes of `want`: exact below 1000, else one
    decimal of kB, MB, ... (decimal units)."""
    m = re.fullmatch(r"\s*([\d.]+) (B|kB|MB|GB|TB|PB|EB)\s*", shown)
    if not m:
        return False
    scale = 1000 ** ["B", "kB", "MB", "GB", "TB", "PB", "EB"].index(m.group(2))
    if scale == 1:
        return int(m.group(1)) == want
    return abs(float(m.group(1)) * scale - want) <= 0.05 * scale + 1e-6 * want


def check_matrix(name, d, cells, csv_path):
    """Who talks to whom against the CSV (the same flows, one row each) and
    the JSON's hosts[]: every cell, the other cells, the totals, the choice
    of the leading clients and servers."""
    import csv
    pairs, clients, servers = {}, {}, {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            b = int(row["c2s_bytes"]) + int(row["s2c_bytes"])
            c, s = row["client_ip"], row["server_ip"]
            pb, pf = pairs.get((c, s), (0, 0))
            pairs[(c, s)] = (pb + b, pf + 1)
            for m, k in ((clients, c), (servers, s)):
                mb, mf = m.get(k, (0, 0))
                m[k] = (mb + b, mf + 1)
    total = (sum(v[0] for v in pairs.values()), sum(v[1] for v in pairs.values()))
    if total[0] != sum(p["bytes"] for p in d["totals"]["by_proto"].values()):
        fail(f"{name}: the CSV's bytes {total[0]} differ from the JSON's totals")
    rows = [k.split(" ")[0] for k in cells if k.endswith(" +") and not k.startswith(("*", "+"))]
    cols = [k.split(" ")[1] for k in cells if k.startswith("+ ") and k not in ("+ *", "+ +")]
    if not rows or not cols:
        fail(f"{name}: no matrix on the page")
        return
    def add(a, b):
        return (a[0] + b[0], a[1] + b[1])
    def sub(a, b):
        return (a[0] - b[0], a[1] - b[1])
    want = {}
    shown = (0, 0)
    for c in rows:
        rest = clients[c]
        for s in cols:
            v = pairs.get((c, s), (0, 0))
            want[f"{c} {s}"] = v
            rest = sub(rest, v)
            shown = add(shown, v)
        want[f"{c} *"] = rest
        want[f"{c} +"] = clients[c]
    for s in cols:
        rest = servers[s]
        for c in rows:
            rest = sub(rest, pairs.get((c, s), (0, 0)))
        want[f"* {s}"] = rest
        want[f"+ {s}"] = servers[s]
    row_rest = [want[f"{c} *"] for c in rows]
    col_rest = [want[f"* {s}"] for s in cols]
    other = total
    for v in [shown] + row_rest + col_rest:
        other = sub(other, v)
    want["* *"] = other
    want["* +"] = sub(total, (sum(clients[c][0] for c in rows), sum(clients[c][1] for c in rows)))
    want["+ *"] = sub(total, (sum(servers[s][0] for s in cols), sum(servers[s][1] for s in cols)))
    want["+ +"] = total
    for k, v in want.items():
        if cells.get(k) != v:
            fail(f"{name}: matrix cell {k!r} is {cells.get(k)} on the page, the CSV gives {v}")
    for k in cells:
        if k not in want:
            fail(f"{name}: matrix cell {k!r} is not one the CSV explains")
    # The leading ones by bytes: none left out moved more than one shown.
    for side, chosen, m in (("clients", rows, clients), ("servers", cols, servers)):
        if len(chosen) != min(12, len(m)):
            fail(f"{name}: {len(chosen)} {side} in the matrix, of {len(m)}")
        left = [v[0] for k, v in m.items() if k not in chosen]
        if left and max(left) > min(m[k][0] for k in chosen):
            fail(f"{name}: a {side[:-1]} left out of the matrix moved more bytes than one shown")
    # And the JSON's hosts[] say the same of each row and column.
    if "hosts_untracked" not in d:
        hosts = {h["ip"]: h for h in d["hosts"]}
        for c in rows:
            h = hosts[c]["as_client"]
            if (h["bytes_sent"] + h["bytes_received"], h["flows"]) != clients[c]:
                fail(f"{name}: client {c}: the matrix says {clients[c]}, hosts[] {h}")
        for s in cols:
            h = hosts[s]["as_server"]
            if (h["bytes_sent"] + h["bytes_received"], h["flows"]) != servers[s]:
                fail(f"{name}: server {s}: the matrix says {servers[s]}, hosts[] {h}")
    print(f"ok: {name}: who talks to whom, {len(rows)} x {len(cols)} and {len(cells)} cells, equal to the CSV's pairs and hosts[]")


def json_at(d, path):
    for part in path.split("."):
        d = d[int(part)] if part.isdigit() else d[part]
    return d


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of a non-interlaced 8-bit PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = {2: 3, 6: 4, 0: 1, 4: 2}[color]
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows, bpp


def chromium():
    for name in ["chromium", "chromium-browser", "google-chrome"]:
        if shutil.which(name):
            return shutil.which(name)
    return None


def screenshot(page, png, width=1100, height=1500):
    exe = chromium()
    if not exe:
        return False
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png}", "file://" + os.path.abspath(page)],
                   capture_output=True, timeout=120)
    return os.path.exists(png)


def check_html(pflow, path, keep_png=None):
    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, "report.html")
        flows_csv = os.path.join(tmp, "flows.csv")
        # From the project's root, so the page names the sample as Samples/… (the README's picture).
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        rel = os.path.relpath(os.path.abspath(path), root)
        p = subprocess.run([os.path.abspath(pflow), "--html", page, "--json", "--csv", flows_csv,
                            path if rel.startswith("..") else rel], capture_output=True, cwd=root)
        if p.returncode != 0:
            fail(f"--html {path}: exit {p.returncode}: {p.stderr.decode()}")
            return
        d = json.loads(p.stdout)
        text = open(page, encoding="utf-8").read()
        name = os.path.basename(path)
        if len(text) > 400_000:
            fail(f"{name}: the page is {len(text)} bytes")
        for bad in ["http:", "https:", "@import", "url(", "<script", "src="]:
            if bad in text:
                fail(f"{name}: the page holds {bad!r}")
        if re.search(r'="//', text):
            fail(f"{name}: a protocol-relative reference")
        parser = Page()
        parser.feed(text)
        parser.close()
        for e in parser.errors:
            fail(f"{name}: {e}")
        if parser.stack:
            fail(f"{name}: unclosed {parser.stack}")
        if len(parser.tagged) < 5:
            fail(f"{name}: only {len(parser.tagged)} numbers tagged")
        for key, value, shown, kind in parser.tagged:
            want = json_at(d, key)
            got = json.loads(value)
            if isinstance(want, float) or isinstance(got, float):
                ok = abs(float(want) - float(got)) < 1e-9
            else:
                ok = want == got
            if not ok:
                fail(f"{name}: {key} is {value} on the page, {want} in the JSON")
            if kind == "duration":
                pass  # "5 s", "100 ms": the value is checked above
            elif kind == "bytes":
                if not human_bytes_ok(shown, want):
                    fail(f"{name}: {key} shows {shown!r}, the JSON has {want} bytes")
            elif isinstance(want, int) and shown.replace(",", "").strip() != str(want):
                fail(f"{name}: {key} shows {shown!r}, the JSON has {want}")
            elif isinstance(want, str) and shown.strip() != want:
                fail(f"{name}: {key} shows {shown!r}, the JSON has {want!r}")
        # The hosts table: its rows are the JSON's hosts[], first to last,
        # as many as --top (20) allows, the rest counted.
        host_rows = sorted({int(k.split(".")[1]) for k, *_ in parser.tagged if k.startswith("hosts.")})
        if host_rows != list(range(min(20, len(d["hosts"])))):
            fail(f"{name}: hosts table rows {host_rows[:3]}..., the JSON has {len(d['hosts'])} hosts")
        for i in host_rows:
            for k in ("ip", "as_client.flows", "as_client.bytes_sent", "as_client.bytes_received",
                      "as_server.flows", "as_server.bytes_sent", "as_server.bytes_received"):
                if not any(t[0] == f"hosts.{i}.{k}" for t in parser.tagged):
                    fail(f"{name}: hosts table row {i} lacks {k}")
        more = len(d["hosts"]) - len(host_rows)
        if more > 0 and f"… {more} more hosts" not in text:
            fail(f"{name}: the hosts table does not say {more} more hosts")
        check_matrix(name, d, parser.cells, flows_csv)
        print(f"ok: {name}: page {len(text)} bytes, well-formed, no references, {len(parser.tagged)} numbers equal the JSON's")
        png = keep_png or os.path.join(tmp, "report.png")
        # The README's picture reaches down through who talks to whom.
        if not screenshot(page, png, height=2300 if keep_png else 1500):
            print("skip: no headless Chromium (apt-get install chromium): the page was not rendered")
            return
        w, h, rows, bpp = png_pixels(png)
        # Not blank: many pixels differ from the page's background.
        bg = rows[0][:bpp]
        differing = sum(1 for r in rows[::4] for x in range(0, len(r), bpp * 4) if r[x:x + bpp] != bg)
        total = len(rows[::4]) * (len(rows[0]) // (bpp * 4))
        share = differing / max(1, total)
        colors = len({r[x:x + 3] for r in rows[::8] for x in range(0, len(r), bpp * 8)})
        if share < 0.02 or colors < 8:
            fail(f"{name}: the rendered page looks blank ({share:.1%} of pixels drawn, {colors} colours)")
        else:
            print(f"ok: {name}: rendered {w}x{h}, {share:.1%} of pixels drawn, {colors} colours")


def main():
    pflow, shared = sys.argv[1], sys.argv[2]
    keep = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--screenshot" else None
    here = os.path.dirname(os.path.abspath(__file__))
    samples = sorted(glob.glob(os.path.join(here, "..", "Samples", "*.pcap*")))
    corpus = sorted(glob.glob(os.path.join(shared, "corpus", "pcaps", "*")))
    n = 0
    for path in samples + corpus:
        for extra in ([], ["--threads", "1"], ["--bin", "0.5"]):
            n += check_sums(pflow, path, extra)
    print(f"ok: timeline sums checked on {n} runs over {len(samples)} samples and {len(corpus)} corpus files"
          if not failures else f"{len(failures)} failures in the sums")
    check_tshark(pflow, [p for p in samples if p.endswith(".pcap")])
    check_html(pflow, os.path.join(here, "..", "Samples", "report-netns.pcap"), keep)
    check_html(pflow, os.path.join(here, "..", "Samples", "http-dns-lo.pcap"))
    if failures:
        print(f"{len(failures)} failures")
        sys.exit(1)


main()
