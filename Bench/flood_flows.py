# Bench/live_view_flood.sh's sender. Sends N UDP datagrams over a raw socket, each from its own (source address,
# port): N one-packet flows. Usage: flood_flows.py N dst [first index]
import socket, struct, sys, time
n, dst = int(sys.argv[1]), sys.argv[2]
base = int(sys.argv[3]) if len(sys.argv) > 3 else 0
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
d = socket.inet_aton(dst)
payload = b"x" * 18
t = time.time()
for i in range(base, base + n):
    src = bytes((10, 98, (i >> 16) & 0xFF, (i >> 8) & 0xFF))
    sport = 1024 + (i & 0xFF) * 200 + (i >> 24)
    udp = struct.pack("!HHHH", sport, 9999, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, d) + udp
    s.sendto(ip, (dst, 0))
print(f"sent {n} in {time.time() - t:.1f} s", file=sys.stderr)
