/// SHA-1 (FIPS 180-4 §6.1), one-shot. Community ID v1 needs it for inputs
/// of at most 40 bytes; written here so the library needs neither
/// Foundation nor a crypto package. Not for security: SHA-1 is broken for
/// collision resistance, which the Community ID does not rely on.
public enum SHA1 {
    public static let digestLength = 20

    /// The digest of `data`, written to the first 20 bytes of `digest`.
    public static func hash(_ data: UnsafeRawBufferPointer, into digest: UnsafeMutableRawBufferPointer) {
        precondition(digest.count >= digestLength)
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            let full = data.count / 64
            for block in 0..<full {
                compress(&h, UnsafeRawBufferPointer(rebasing: data[(block * 64)..<(block * 64 + 64)]), w)
            }
            // §5.1.1 padding: 0x80, zeros, then the length in bits as 64-bit
            // big-endian, making one or two final blocks.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { tail in
                let rest = data.count - full * 64
                for i in 0..<rest { tail[i] = data[full * 64 + i] }
                tail[rest] = 0x80
                let blocks = rest + 9 <= 64 ? 1 : 2
                for i in (rest + 1)..<(blocks * 64 - 8) { tail[i] = 0 }
                let bits = UInt64(data.count) &* 8
                for i in 0..<8 { tail[blocks * 64 - 8 + i] = UInt8(truncatingIfNeeded: bits >> UInt64(56 - 8 * i)) }
                let raw = UnsafeRawBufferPointer(tail)
                for b in 0..<blocks {
                    compress(&h, UnsafeRawBufferPointer(rebasing: raw[(b * 64)..<(b * 64 + 64)]), w)
                }
            }
        }
        func put(_ word: UInt32, _ i: Int) {
            for j in 0..<4 { digest[i * 4 + j] = UInt8(truncatingIfNeeded: word >> UInt32(24 - 8 * j)) }
        }
        put(h.0, 0); put(h.1, 1); put(h.2, 2); put(h.3, 3); put(h.4, 4)
    }

    /// Convenience for tests and one-off use.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: digestLength)
        bytes.withUnsafeBytes { input in out.withUnsafeMutableBytes { hash(input, into: $0) } }
        return out
    }

    /// One 64-byte block (§6.1.2), with `w` as the 80-word message schedule.
    @inline(__always)
    static func compress(_ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32),
                         _ block: UnsafeRawBufferPointer, _ w: UnsafeMutableBufferPointer<UInt32>) {
        for t in 0..<16 {
            w[t] = UInt32(block[4 * t]) << 24 | UInt32(block[4 * t + 1]) << 16
                | UInt32(block[4 * t + 2]) << 8 | UInt32(block[4 * t + 3])
        }
        for t in 16..<80 { w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1) }
        var a = h.0, b = h.1, c = h.2, d = h.3, e = h.4
        for t in 0..<80 {
            let f: UInt32, k: UInt32
            switch t {
            case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
            case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
            case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
            default: f = b ^ c ^ d; k = 0xCA62_C1D6
            }
            let temp = rotl(a, 5) &+ f &+ e &+ k &+ w[t]
            e = d; d = c; c = rotl(b, 30); b = a; a = temp
        }
        h.0 &+= a; h.1 &+= b; h.2 &+= c; h.3 &+= d; h.4 &+= e
    }

    @inline(__always)
    static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
}

/// Base64 with the standard alphabet and `=` padding (RFC 4648 §4).
public enum Base64 {
    static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    public static func encode(_ data: UnsafeRawBufferPointer, into out: inout ExportBuffer) {
        alphabet.withUTF8Buffer { table in
            var i = 0
            while i + 3 <= data.count {
                let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
                out.append(table[Int(v >> 18)])
                out.append(table[Int((v >> 12) & 63)])
                out.append(table[Int((v >> 6) & 63)])
                out.append(table[Int(v & 63)])
                i += 3
            }
            let rest = data.count - i
            if rest == 1 {
                let v = UInt32(data[i]) << 16
                out.append(table[Int(v >> 18)])
                out.append(table[Int((v >> 12) & 63)])
                out.append(0x3D); out.append(0x3D)
            } else if rest == 2 {
                let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
                out.append(table[Int(v >> 18)])
                out.append(table[Int((v >> 12) & 63)])
                out.append(table[Int((v >> 6) & 63)])
                out.append(0x3D)
            }
        }
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = ExportBuffer(capacity: (bytes.count + 2) / 3 * 4)
        bytes.withUnsafeBytes { encode($0, into: &out) }
        return String(decoding: out.bytes, as: UTF8.self)
    }
}
