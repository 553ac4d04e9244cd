#!/usr/bin/env python3
"""Prints the unrolled body of SHA1.compress(_:_ words:) (Sources/PFlowExport/SHA1.swift):
the 16 schedule words as locals and the 80 rounds of FIPS 180-4 §6.1.2
written out. Paste it before the final additions."""
lines = []
lines.append("        var (" + ", ".join(f"w{i}" for i in range(16)) + ") = words")
lines.append("        var a = h.0, b = h.1, c = h.2, d = h.3, e = h.4, temp: UInt32 = 0")
for t in range(80):
    if t >= 16:
        i = t % 16
        lines.append(f"        w{i} = rotl(w{(t - 3) % 16} ^ w{(t - 8) % 16} ^ w{(t - 14) % 16} ^ w{i}, 1)")
    if t < 20: f, k = "((b & c) | (~b & d))", "0x5A82_7999"
    elif t < 40: f, k = "(b ^ c ^ d)", "0x6ED9_EBA1"
    elif t < 60: f, k = "((b & c) | (b & d) | (c & d))", "0x8F1B_BCDC"
    else: f, k = "(b ^ c ^ d)", "0xCA62_C1D6"
    lines.append(f"        temp = rotl(a, 5) &+ {f} &+ e &+ {k} &+ w{t % 16}; e = d; d = c; c = rotl(b, 30); b = a; a = temp")
print("\n".join(lines))
