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
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { w in
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

    /// One 64-byte block (§6.1.2), with `w` as the message schedule: a
    /// rolling window of 16 words (w[t] is needed only until t + 16), the
    /// words loaded whole, and the four 20-round stages as loops of their
    /// own (a switch per round cost about twice the whole hash).
    @inline(__always)
    static func compress(_ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32),
                         _ block: UnsafeRawBufferPointer, _ w: UnsafeMutableBufferPointer<UInt32>) {
        guard let base = block.baseAddress, block.count >= 64, w.count >= 16, let wp = w.baseAddress else { return }
        for t in 0..<16 { wp[t] = UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self)) }
        var a = h.0, b = h.1, c = h.2, d = h.3, e = h.4
        // No nested functions: capturing the working variables kept them in memory.
        for t in 0..<20 {
            let temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ word(wp, t)
            e = d; d = c; c = rotl(b, 30); b = a; a = temp
        }
        for t in 20..<40 {
            let temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ word(wp, t)
            e = d; d = c; c = rotl(b, 30); b = a; a = temp
        }
        for t in 40..<60 {
            let temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ word(wp, t)
            e = d; d = c; c = rotl(b, 30); b = a; a = temp
        }
        for t in 60..<80 {
            let temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ word(wp, t)
            e = d; d = c; c = rotl(b, 30); b = a; a = temp
        }
        h.0 &+= a; h.1 &+= b; h.2 &+= c; h.3 &+= d; h.4 &+= e
    }

    /// Word `t` of the schedule, made in place in the 16-word window.
    @inline(__always)
    static func word(_ wp: UnsafeMutablePointer<UInt32>, _ t: Int) -> UInt32 {
        if t < 16 { return wp[t] }
        let v = rotl(wp[(t - 3) & 15] ^ wp[(t - 8) & 15] ^ wp[(t - 14) & 15] ^ wp[t & 15], 1)
        wp[t & 15] = v
        return v
    }

    @inline(__always)
    static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x &<< n) | (x &>> (32 &- n)) }
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
