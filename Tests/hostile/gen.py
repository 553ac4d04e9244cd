#!/usr/bin/env python3
"""Hostile captures for pflow, each at size N and 4N (Python 3 standard library).

Each class is a shape of input that once made pflow's work grow faster than
the input, or its memory without bound, or its output without limit. Writing
every class at two sizes lets Tests/hostile/run.sh compare the runs: 4x the
input should take about 4x the time (not 16x) and, where memory is bounded
(--max-flows, idle expiry), about the same memory.

    gen.py DIR [CLASS ...]      write DIR/<class>-n.<ext> and DIR/<class>-4n.<ext>
    gen.py DIR CLASS=N ...      write DIR/<class>.<ext> at size N (the issue's
                                full sizes: Tests/hostile/full-size.sh)

Classes (sizes are the N of each; run.sh's checks rely on them):
  a-collide   IPv6 SYNs whose FlowKey.fastHash is one and the same 64-bit value
  b-vxlan     one VXLAN tunnel carrying N inner flows
  c-knock     N unanswered SYNs from one client on 14 ports, then one success
  d-idbs      pcapng: 16,384 (4N: 65,536) IDBs of distinct link types, then N IDBs
  e-sections  pcapng: N sections of an unknown version, gzip-compressed
  f-2106      one record dated 2106, then N one-packet flows a millisecond apart
  f-hour      N one-packet flows a millisecond apart, the clock back 1 hour halfway
  f-reverse   N one-packet flows a millisecond apart, newest first
  g-syns      N SYN flows (run with --max-flows 1000)
  h-ipip      N IP-in-IP tunnels, one packet each
  i-chains    N records of 256 KB of chained 802.1Q / Arista / MPLS-pseudowire headers
  j-pairs     N one-packet UDP flows, each between its own client and server
  services    a small capture with answered connections to ports 8081-8086 (name checks)
Only at a size given (CLASS=N):
  f-back      N one-packet flows, a jump back by 2 days halfway, N/2 each side
  f-plain     N one-packet flows a millisecond apart, in order
  d-idbs-gz   d-idbs (65,536 link types), gzip-compressed (20M IDBs: 400 MB raw)
  big-record  one 65 MiB record (snaplen 0xFFFFFFFF) after an ordinary one
  frags       a TCP handshake, then a 64-byte segment in two IP fragments
"""
import gzip
import os
import struct
import sys

M64 = (1 << 64) - 1

# --- capture files ---------------------------------------------------------


class Pcap:
    """A classic pcap writer (little-endian, microseconds) that buffers records."""

    def __init__(self, path, snaplen=262144, linktype=1):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
        self.chunks = []
        self.size = 0

    def add(self, ts_us, frame):
        self.chunks.append(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame)))
        self.chunks.append(frame)
        self.size += len(frame)
        if self.size > 1 << 22:
            self.flush()

    def flush(self):
        self.f.write(b"".join(self.chunks))
        self.chunks = []
        self.size = 0

    def close(self):
        self.flush()
        self.f.close()


def ng_block(btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def shb(major=1, minor=0):
    return ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, major, minor, -1))


def idb(linktype, snaplen=262144):
    return ng_block(1, struct.pack("<HHI", linktype, 0, snaplen))


def epb(iface, ts_us, frame):
    return ng_block(6, struct.pack("<IIIII", iface, ts_us >> 32, ts_us & 0xFFFFFFFF, len(frame), len(frame)) + frame)


# --- frames ----------------------------------------------------------------

MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("02000000000b")


def eth(etype, payload, dst=MAC_B, src=MAC_A):
    return dst + src + struct.pack("!H", etype) + payload


def ipv4(src, dst, proto, l4):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, src, dst) + l4


def ipv6(src, dst, nxt, l4):
    return struct.pack("!IHBB", 0x60000000, len(l4), nxt, 64) + src + dst + l4


def tcp(sport, dport, flags, seq=1000, ack=0, payload=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def v4(n):
    return struct.pack("!I", n)


SYN, ACK, SYNACK, PSHACK = 0x02, 0x10, 0x12, 0x18
T0 = 1_767_225_600_000_000  # 2026-01-01, microseconds


# --- the classes -----------------------------------------------------------


def collide(path, n):
    """IPv6 SYNs whose canonical FlowKey hashes alike (pflow's FlowKey.fastHash,
    Sources/PFlowFlows/FlowIndex.swift, unseeded):

        h  = (A.high ^ (A.low * K1)) * K2
        h ^= (B.high ^ (B.low * K3)) * K4
        h ^= (portA << 40 | portB << 24 | proto << 16 | vlan) * K5
        then h ^= h >> 32; h *= K6; h ^= h >> 29   (a bijection)

    With B, the ports and the protocol fixed, every source A whose
    A.high ^ (A.low * K1) is the same constant C gives the same 64-bit hash:
    pick A.high freely, A.low = (C ^ A.high) * K1^-1 mod 2^64. The sources
    sort below the destination, so each is the key's A side. Findings' pair
    and port keys fold the address the same way and collide as well. A hash
    seeded per run makes these ordinary distinct keys."""
    k1 = 0x9E3779B97F4A7C15
    k1_inverse = pow(k1, -1, 1 << 64)
    base_high = 0x20010DB800000000
    c = base_high ^ ((1 * k1) & M64)
    dst = struct.pack("!QQ", 0x20010DB900000000, 1)
    out = Pcap(path)
    for i in range(n):
        high = base_high + i
        low = ((c ^ high) * k1_inverse) & M64
        src = struct.pack("!QQ", high, low)
        out.add(T0 + i * 10, eth(0x86DD, ipv6(src, dst, 6, tcp(40000, 80, SYN))))
    out.close()


def vxlan(path, n):
    """One VXLAN tunnel (10.0.0.1 -> 10.0.0.2:4789) carrying n inner TCP SYN flows."""
    out = Pcap(path)
    outer_src, outer_dst = v4(0x0A000001), v4(0x0A000002)
    for i in range(n):
        inner = eth(0x0800, ipv4(v4(0xC0A80000 | (i >> 14)), v4(0xC0A90001), 6, tcp(1024 + (i & 0x3FFF), 80, SYN)))
        vx = struct.pack("!II", 0x08000000, 42 << 8) + inner
        out.add(T0 + i * 10, eth(0x0800, ipv4(outer_src, outer_dst, 17, udp(50000 + (i & 1023), 4789, vx))))
    out.close()


def knock(path, n):
    """n unanswered SYNs from one client to one server on 14 ports (one under
    the 15 of a vertical scan) within 20 s, then one connection that works:
    the knock search walks back over all of them for the success."""
    out = Pcap(path)
    client, server = v4(0x0A000001), v4(0x0A000002)
    step = max(1, 20_000_000 // n)
    for i in range(n):
        port = 2000 + i % 14
        sport = 1024 + (i // 14) % 64000
        out.add(T0 + i * step, eth(0x0800, ipv4(client, server, 6, tcp(sport, port, SYN, seq=i))))
    t = T0 + n * step + 1000
    out.add(t, eth(0x0800, ipv4(client, server, 6, tcp(65000, 22, SYN, seq=1))))
    out.add(t + 100, eth(0x0800, ipv4(server, client, 6, tcp(22, 65000, SYNACK, seq=7, ack=2))))
    out.add(t + 200, eth(0x0800, ipv4(client, server, 6, tcp(65000, 22, ACK, seq=2, ack=8))))
    out.close()


def idbs(path, n, types):
    """One section: `types` IDBs of link types 0, 1, 2, ..., then n IDBs of
    the last of them, then a packet on the first interface and one on the
    last. A reader that looks each IDB's link type up in a list of those
    seen does types x n steps: 4x both is 16x the work (65,536 types and
    1M IDBs took 22 s). pflow keeps 65,536 interfaces per section; the
    rest are counted."""
    frame = eth(0x0800, ipv4(v4(0x0A000001), v4(0x0A000002), 17, udp(5000, 53, b"abc")))
    with open(path, "wb") as f:
        f.write(shb())
        f.write(b"".join(idb(t) for t in range(types)))
        last = idb(types - 1)
        for _ in range(n // 65536):
            f.write(last * 65536)
        f.write(last * (n % 65536))
        f.write(epb(0, T0, frame))
        f.write(epb(types + n - 1, T0 + 1, frame))


def sections(path, n):
    """n sections of version 9.0 (each a header and one IDB, skipped), then a
    version 1.0 section with one packet; gzip-compressed."""
    frame = eth(0x0800, ipv4(v4(0x0A000001), v4(0x0A000002), 17, udp(5000, 53, b"abc")))
    bad = shb(major=9) + idb(1)
    with gzip.open(path, "wb", compresslevel=6) as f:
        for _ in range(n // 65536):
            f.write(bad * 65536)
        f.write(bad * (n % 65536))
        f.write(shb() + idb(1) + epb(0, T0, frame))


def y2106(path, n):
    """A record dated 2106, then n one-packet TCP flows (an ACK each: no
    handshake, so no scan evidence) a millisecond apart, between few
    addresses: run with --idle-timeout 5, live flows should stay ~5,000."""
    out = Pcap(path)
    a, b = v4(0x0A000001), v4(0x0A000002)
    out.add(4_290_000_000 * 1_000_000, eth(0x0800, ipv4(a, b, 6, tcp(1, 2, ACK))))
    for i in range(n):
        client = v4(0x0A010000 | (i & 0xFF))
        sport = 1024 + (i >> 8) % 64000
        out.add(T0 + i * 1000, eth(0x0800, ipv4(client, v4(0x0A020001), 6, tcp(sport, 443, ACK, ack=1))))
    out.close()


def one_packet_flows(out, times):
    """One-packet TCP flows (an ACK each) at the given times (microseconds)."""
    for i, t in enumerate(times):
        client = v4(0x0A010000 | (i & 0xFF))
        sport = 1024 + (i >> 8) % 64000
        out.add(t, eth(0x0800, ipv4(client, v4(0x0A020001), 6, tcp(sport, 443, ACK, ack=1))))


def back(path, n, jump_us):
    """n one-packet flows a millisecond apart; halfway the clock goes back
    by jump_us (flows of the second half are distinct from the first's)."""
    out = Pcap(path)
    half = n // 2
    start = T0 + jump_us
    one_packet_flows(out, (start + i * 1000 if i < half else start - jump_us + (i - half) * 1000 for i in range(n)))
    out.close()


def plain(path, n):
    """n one-packet flows a millisecond apart, in order (f-*'s baseline)."""
    out = Pcap(path)
    one_packet_flows(out, (T0 + i * 1000 for i in range(n)))
    out.close()


def reverse(path, n):
    """n one-packet flows a millisecond apart, the newest first."""
    out = Pcap(path)
    one_packet_flows(out, (T0 + (n - i) * 1000 for i in range(n)))
    out.close()


def idbs_gz(path, n):
    """d-idbs with 65,536 link types, written through gzip."""
    raw = path + ".raw"
    idbs(raw, n, types=65536)
    with open(raw, "rb") as src, gzip.open(path, "wb", compresslevel=6) as dst:
        while True:
            chunk = src.read(1 << 24)
            if not chunk:
                break
            dst.write(chunk)
    os.remove(raw)


def big_record(path, _n):
    """An ordinary record, then one of 64 MiB + 1 bytes, all of it present."""
    frame = eth(0x0800, ipv4(v4(0x0A000001), v4(0x0A000002), 17, udp(5000, 53, b"abc")))
    out = Pcap(path, snaplen=0xFFFFFFFF)
    out.add(T0, frame)
    out.add(T0 + 1000, frame + b"\0" * ((64 << 20) + 1 - len(frame)))
    out.close()


def frags(path, _n):
    """A handshake, then a 64-byte segment whose IP datagram is in two
    fragments: the later one has no TCP header and is no retransmission."""
    out = Pcap(path)
    a, b = v4(0x0A000001), v4(0x0A000002)
    seg = tcp(40000, 80, PSHACK, seq=1001, ack=5001, payload=b"A" * 64)

    def frag(payload, offset8, more):
        flags = (0x2000 if more else 0) | offset8
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 7, flags, 64, 6, 0, a, b) + payload

    frames = [ipv4(a, b, 6, tcp(40000, 80, SYN, seq=1000)), ipv4(b, a, 6, tcp(80, 40000, SYNACK, seq=5000, ack=1001)),
              ipv4(a, b, 6, tcp(40000, 80, ACK, seq=1001, ack=5001)), frag(seg[:48], 0, True), frag(seg[48:], 6, False)]
    for i, f in enumerate(frames):
        out.add(T0 + i * 1000, eth(0x0800, f))
    out.close()


def syns(path, n):
    """n SYN flows from 256 clients to 16 servers' port 80 (run with --max-flows 1000)."""
    out = Pcap(path)
    for i in range(n):
        client = v4(0x0A010000 | (i & 0xFF))
        server = v4(0x0A020000 | ((i >> 8) & 0xF))
        sport = 1024 + (i >> 12) % 64000
        out.add(T0 + i * 10, eth(0x0800, ipv4(client, server, 6, tcp(sport, 80, SYN))))
    out.close()


def ipip(path, n):
    """n IP-in-IP tunnels (distinct outer sources, one outer destination),
    each one packet carrying the same inner UDP flow."""
    out = Pcap(path)
    inner = ipv4(v4(0xC0A80001), v4(0xC0A80002), 17, udp(5000, 5001, b"x" * 8))
    dst = v4(0xAC100001)
    for i in range(n):
        out.add(T0 + i * 10, eth(0x0800, ipv4(v4(0x0B000000 | i), dst, 4, inner)))
    out.close()


def chains(path, n):
    """n records of 262,144 bytes: Ethernet, then cycles of an 802.1Q tag, an
    Arista timestamp header, another tag and an MPLS label with a pseudowire
    control word before another Ethernet header, to the end of the record."""
    size = 262144
    cycle = (
        struct.pack("!HH", 5, 0xD28B)                       # 802.1Q tag: VLAN 5, next Arista
        + struct.pack("!HBB", 1, 0, 0x10) + b"\0" * 8 + struct.pack("!H", 0x8100)  # Arista, 64-bit time
        + struct.pack("!HH", 6, 0x8847)                     # tag, next MPLS
        + struct.pack("!I", (100 << 12) | 0x100 | 64)       # label 100, bottom of stack
        + b"\0\0\0\0"                                       # pseudowire control word
        + MAC_B + MAC_A + struct.pack("!H", 0x8100)         # inner Ethernet, next a tag
    )
    record = MAC_B + MAC_A + struct.pack("!H", 0x8100) + cycle * (size // len(cycle) + 1)
    record = record[:size]
    out = Pcap(path, snaplen=size)
    for i in range(n):
        out.add(T0 + i * 1000, record)
    out.close()


def services(path, _n):
    """Answered TCP connections from 10.0.0.1 to 10.0.0.2 ports 8081-8086."""
    out = Pcap(path)
    client, server = v4(0x0A000001), v4(0x0A000002)
    t = T0
    for k, port in enumerate(range(8081, 8087)):
        sport = 40000 + k
        for src, dst, sp, dp, flags, seq, ack in [
            (client, server, sport, port, SYN, 100, 0),
            (server, client, port, sport, SYNACK, 500, 101),
            (client, server, sport, port, ACK, 101, 501),
        ]:
            out.add(t, eth(0x0800, ipv4(src, dst, 6, tcp(sp, dp, flags, seq, ack))))
            t += 1000
    out.close()


def pairs(path, n):
    """n one-packet UDP flows, each between its own client and server (run with --html)."""
    out = Pcap(path)
    for i in range(n):
        out.add(T0 + i * 10, eth(0x0800, ipv4(v4(0x0A000000 | i), v4(0xAC000000 | i), 17, udp(40000, 5000, b"x"))))
    out.close()


# name: (writer, N, file extension)
CLASSES = {
    "a-collide": (collide, 6_000, "pcap"),
    "b-vxlan": (vxlan, 8_000, "pcap"),
    "c-knock": (knock, 25_000, "pcap"),
    "d-idbs": (idbs, 250_000, "pcapng"),
    "e-sections": (sections, 250_000, "pcapng.gz"),
    "f-2106": (y2106, 50_000, "pcap"),
    "f-hour": (lambda p, n: back(p, n, 3_600_000_000), 50_000, "pcap"),
    "f-reverse": (reverse, 50_000, "pcap"),
    "g-syns": (syns, 100_000, "pcap"),
    "h-ipip": (ipip, 25_000, "pcap"),
    "i-chains": (chains, 48, "pcap"),
    "j-pairs": (pairs, 25_000, "pcap"),
}


# Classes only full-size.sh writes (CLASS=N): name: (writer, extension).
FULL = {
    "d-idbs": (lambda p, n: idbs(p, n, types=65536), "pcapng"),
    "d-idbs-gz": (idbs_gz, "pcapng.gz"),
    "f-back": (lambda p, n: back(p, n, 2 * 86_400_000_000), "pcap"),
    "f-plain": (plain, "pcap"),
    "big-record": (big_record, "pcap"),
    "frags": (frags, "pcap"),
    "services": (services, "pcap"),
}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    names = sys.argv[2:] or list(CLASSES) + ["services"]
    if all("=" in name for name in sys.argv[2:]) and sys.argv[2:]:
        for spec in names:
            name, size = spec.split("=")
            writer, ext = FULL.get(name) or (CLASSES[name][0], CLASSES[name][2])
            writer(os.path.join(out, f"{name}.{ext}"), int(size))
        return
    for name in names:
        if name == "services":
            services(os.path.join(out, "services.pcap"), 0)
            continue
        writer, n, ext = CLASSES[name]
        for tag, size in (("n", n), ("4n", 4 * n)):
            target = os.path.join(out, f"{name}-{tag}.{ext}")
            if name == "d-idbs":
                writer(target, size, types=16384 if tag == "n" else 65536)
            else:
                writer(target, size)


if __name__ == "__main__":
    main()
