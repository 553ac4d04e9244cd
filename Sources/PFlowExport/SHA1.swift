import CPlatform

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
        let full = data.count / 64
        for block in 0..<full {
            compress(&h, UnsafeRawBufferPointer(rebasing: data[(block * 64)..<(block * 64 + 64)]))
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
                compress(&h, UnsafeRawBufferPointer(rebasing: raw[(b * 64)..<(b * 64 + 64)]))
            }
        }
        func put(_ word: UInt32, _ i: Int) {
            for j in 0..<4 { digest[i * 4 + j] = UInt8(truncatingIfNeeded: word >> UInt32(24 - 8 * j)) }
        }
        put(h.0, 0); put(h.1, 1); put(h.2, 2); put(h.3, 3); put(h.4, 4)
    }

    /// The digest of a message of at most 55 bytes (one block, as every
    /// Community ID input is) that the caller wrote at the start of `block`
    /// (64 bytes, zero past the message): padded in place and compressed
    /// once, with no copy into a padding buffer and no digest bytes (the
    /// words are returned, big-endian order being the caller's business).
    @inline(__always)
    static func hashOneBlock(_ block: UnsafeMutableRawPointer, count: Int) -> (UInt32, UInt32, UInt32, UInt32, UInt32) {
        precondition(count <= 55, "a one-block SHA-1 message holds at most 55 bytes")
        block.storeBytes(of: 0x80, toByteOffset: count, as: UInt8.self)
        block.storeBytes(of: (UInt64(count) &* 8).bigEndian, toByteOffset: 56, as: UInt64.self)
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        compress(&h, UnsafeRawBufferPointer(start: block, count: 64))
        return h
    }

    /// The digest of the 16-byte message `m0 m1 m2 m3` (big-endian words),
    /// an IPv4 Community ID input with ports: its padding is constant, so
    /// a quarter of the schedule's words are known when compiling.
    @inline(__always)
    static func hash16(_ m0: UInt32, _ m1: UInt32, _ m2: UInt32, _ m3: UInt32) -> (UInt32, UInt32, UInt32, UInt32, UInt32) {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        compress(&h, (m0, m1, m2, m3, 0x8000_0000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16 * 8))
        return h
    }

    /// Convenience for tests and one-off use.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: digestLength)
        bytes.withUnsafeBytes { input in out.withUnsafeMutableBytes { hash(input, into: $0) } }
        return out
    }

    /// One 64-byte block (§6.1.2), unrolled: the 16-word schedule window in
    /// locals (registers) and the 80 rounds written out (Scripts/gen-sha1.py
    /// wrote them; loops with a switch per round cost about 3,000
    /// instructions per Community ID, these about a third of that).
    @inline(__always)
    static func compress(_ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32),
                         _ block: UnsafeRawBufferPointer) {
        guard let base = block.baseAddress, block.count >= 64 else { return }
        compress(&h, (
            UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 0, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 4, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 12, as: UInt32.self)),
            UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 20, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 28, as: UInt32.self)),
            UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 32, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 36, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 40, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 44, as: UInt32.self)),
            UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 48, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 52, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 56, as: UInt32.self)), UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 60, as: UInt32.self))))
    }

    /// Whether this CPU has SHA-1 instructions (x86-64 SHA-NI): asked once per run.
    static let hardwareAvailable = pflow_sha1_hardware() != 0

    /// Whether `compress` uses them: where the CPU has them, unless a test
    /// turned them off (`withPortableRounds`) to run the Swift rounds, the
    /// path of a CPU without them, on this one too.
    nonisolated(unsafe) static var hardware = hardwareAvailable

    /// Runs `body` with the Swift rounds only (tests: both paths on one CPU).
    /// Not for concurrent use with other hashing that must take a given path;
    /// either path gives the same digests, so other hashing stays correct.
    static func withPortableRounds<R>(_ body: () throws -> R) rethrows -> R {
        let saved = hardware
        hardware = false
        defer { hardware = saved }
        return try body()
    }

    /// One block given as its 16 big-endian words: by the CPU's SHA-1
    /// instructions where it has them (a Community ID cost about 1,150
    /// instructions in the rounds below, about 150 that way), else by the
    /// rounds below, where a caller whose words are mostly constants (the
    /// padding of a short message) has them folded in.
    @inline(__always)
    static func compress(_ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32),
                         _ words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                                   UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)) {
        if hardware {
            compressInHardware(&h, words)
        } else {
            compressInSoftware(&h, words)
        }
    }

    /// `compress` by the SHA-NI instructions (only where `hardware`).
    @inline(never)
    static func compressInHardware(_ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32),
                                   _ words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                                             UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)) {
        var w = words
        withUnsafeMutablePointer(to: &h) { state in
            state.withMemoryRebound(to: UInt32.self, capacity: 5) { state in
                withUnsafePointer(to: &w) { message in
                    message.withMemoryRebound(to: UInt32.self, capacity: 16) { pflow_sha1_compress(state, $0) }
                }
            }
        }
    }

    /// `compress` in Swift: the FIPS rounds, unrolled.
    @inline(__always)
    static func compressInSoftware(_ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32),
                                   _ words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                                             UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)) {
        var (w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15) = words
        var a = h.0, b = h.1, c = h.2, d = h.3, e = h.4, temp: UInt32 = 0
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w0; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w1; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w2; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w3; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w4; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w5; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w6; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w7; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w8; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w9; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w10; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w11; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w12; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w13; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w14; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w15; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w0 = rotl(w13 ^ w8 ^ w2 ^ w0, 1)
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w0; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w1 = rotl(w14 ^ w9 ^ w3 ^ w1, 1)
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w1; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w2 = rotl(w15 ^ w10 ^ w4 ^ w2, 1)
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w2; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w3 = rotl(w0 ^ w11 ^ w5 ^ w3, 1)
        temp = rotl(a, 5) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A82_7999 &+ w3; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w4 = rotl(w1 ^ w12 ^ w6 ^ w4, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w4; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w5 = rotl(w2 ^ w13 ^ w7 ^ w5, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w5; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w6 = rotl(w3 ^ w14 ^ w8 ^ w6, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w6; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w7 = rotl(w4 ^ w15 ^ w9 ^ w7, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w7; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w8 = rotl(w5 ^ w0 ^ w10 ^ w8, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w8; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w9 = rotl(w6 ^ w1 ^ w11 ^ w9, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w9; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w10 = rotl(w7 ^ w2 ^ w12 ^ w10, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w10; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w11 = rotl(w8 ^ w3 ^ w13 ^ w11, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w11; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w12 = rotl(w9 ^ w4 ^ w14 ^ w12, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w12; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w13 = rotl(w10 ^ w5 ^ w15 ^ w13, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w13; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w14 = rotl(w11 ^ w6 ^ w0 ^ w14, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w14; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w15 = rotl(w12 ^ w7 ^ w1 ^ w15, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w15; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w0 = rotl(w13 ^ w8 ^ w2 ^ w0, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w0; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w1 = rotl(w14 ^ w9 ^ w3 ^ w1, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w1; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w2 = rotl(w15 ^ w10 ^ w4 ^ w2, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w2; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w3 = rotl(w0 ^ w11 ^ w5 ^ w3, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w3; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w4 = rotl(w1 ^ w12 ^ w6 ^ w4, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w4; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w5 = rotl(w2 ^ w13 ^ w7 ^ w5, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w5; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w6 = rotl(w3 ^ w14 ^ w8 ^ w6, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w6; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w7 = rotl(w4 ^ w15 ^ w9 ^ w7, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w7; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w8 = rotl(w5 ^ w0 ^ w10 ^ w8, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w8; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w9 = rotl(w6 ^ w1 ^ w11 ^ w9, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w9; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w10 = rotl(w7 ^ w2 ^ w12 ^ w10, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w10; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w11 = rotl(w8 ^ w3 ^ w13 ^ w11, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w11; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w12 = rotl(w9 ^ w4 ^ w14 ^ w12, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w12; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w13 = rotl(w10 ^ w5 ^ w15 ^ w13, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w13; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w14 = rotl(w11 ^ w6 ^ w0 ^ w14, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w14; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w15 = rotl(w12 ^ w7 ^ w1 ^ w15, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w15; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w0 = rotl(w13 ^ w8 ^ w2 ^ w0, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w0; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w1 = rotl(w14 ^ w9 ^ w3 ^ w1, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w1; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w2 = rotl(w15 ^ w10 ^ w4 ^ w2, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w2; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w3 = rotl(w0 ^ w11 ^ w5 ^ w3, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w3; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w4 = rotl(w1 ^ w12 ^ w6 ^ w4, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w4; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w5 = rotl(w2 ^ w13 ^ w7 ^ w5, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w5; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w6 = rotl(w3 ^ w14 ^ w8 ^ w6, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w6; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w7 = rotl(w4 ^ w15 ^ w9 ^ w7, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w7; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w8 = rotl(w5 ^ w0 ^ w10 ^ w8, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w8; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w9 = rotl(w6 ^ w1 ^ w11 ^ w9, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w9; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w10 = rotl(w7 ^ w2 ^ w12 ^ w10, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w10; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w11 = rotl(w8 ^ w3 ^ w13 ^ w11, 1)
        temp = rotl(a, 5) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1B_BCDC &+ w11; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w12 = rotl(w9 ^ w4 ^ w14 ^ w12, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w12; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w13 = rotl(w10 ^ w5 ^ w15 ^ w13, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w13; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w14 = rotl(w11 ^ w6 ^ w0 ^ w14, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w14; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w15 = rotl(w12 ^ w7 ^ w1 ^ w15, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w15; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w0 = rotl(w13 ^ w8 ^ w2 ^ w0, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w0; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w1 = rotl(w14 ^ w9 ^ w3 ^ w1, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w1; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w2 = rotl(w15 ^ w10 ^ w4 ^ w2, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w2; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w3 = rotl(w0 ^ w11 ^ w5 ^ w3, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w3; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w4 = rotl(w1 ^ w12 ^ w6 ^ w4, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w4; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w5 = rotl(w2 ^ w13 ^ w7 ^ w5, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w5; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w6 = rotl(w3 ^ w14 ^ w8 ^ w6, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w6; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w7 = rotl(w4 ^ w15 ^ w9 ^ w7, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w7; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w8 = rotl(w5 ^ w0 ^ w10 ^ w8, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w8; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w9 = rotl(w6 ^ w1 ^ w11 ^ w9, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w9; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w10 = rotl(w7 ^ w2 ^ w12 ^ w10, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w10; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w11 = rotl(w8 ^ w3 ^ w13 ^ w11, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w11; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w12 = rotl(w9 ^ w4 ^ w14 ^ w12, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w12; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w13 = rotl(w10 ^ w5 ^ w15 ^ w13, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w13; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w14 = rotl(w11 ^ w6 ^ w0 ^ w14, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w14; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        w15 = rotl(w12 ^ w7 ^ w1 ^ w15, 1)
        temp = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w15; e = d; d = c; c = rotl(b, 30); b = a; a = temp
        h.0 &+= a; h.1 &+= b; h.2 &+= c; h.3 &+= d; h.4 &+= e
    }

    @inline(__always)
    static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x &<< n) | (x &>> (32 &- n)) }
}

/// Base64 with the standard alphabet and `=` padding (RFC 4648 §4).
public enum Base64 {
    static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// The encoded length of `count` bytes.
    public static func encodedLength(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    public static func encode(_ data: UnsafeRawBufferPointer, into out: inout ExportBuffer) {
        // Encoded on the stack and appended once (an append per character
        // cost more than the encoding).
        let length = encodedLength(data.count)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(1, length)) { text in
            guard let base = text.baseAddress else { return }
            out.append(UnsafeRawBufferPointer(start: base, count: encode(data, into: base)))
        }
    }

    /// Writes the encoding (`encodedLength(data.count)` bytes) at `text`;
    /// returns its length.
    @discardableResult
    public static func encode(_ data: UnsafeRawBufferPointer, into text: UnsafeMutablePointer<UInt8>) -> Int {
        alphabet.withUTF8Buffer { table in
            var i = 0, o = 0
            while i + 3 <= data.count {
                let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
                text[o] = table[Int(v >> 18)]
                text[o + 1] = table[Int((v >> 12) & 63)]
                text[o + 2] = table[Int((v >> 6) & 63)]
                text[o + 3] = table[Int(v & 63)]
                i += 3; o += 4
            }
            let rest = data.count - i
            if rest == 1 {
                let v = UInt32(data[i]) << 16
                text[o] = table[Int(v >> 18)]
                text[o + 1] = table[Int((v >> 12) & 63)]
                text[o + 2] = 0x3D; text[o + 3] = 0x3D
                o += 4
            } else if rest == 2 {
                let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
                text[o] = table[Int(v >> 18)]
                text[o + 1] = table[Int((v >> 12) & 63)]
                text[o + 2] = table[Int((v >> 6) & 63)]
                text[o + 3] = 0x3D
                o += 4
            }
            return o
        }
    }

    /// Writes the 28 characters of a SHA-1 digest given as its five words
    /// (the Community ID's case): seven groups of three bytes taken from
    /// the words by shifts, so no digest bytes are stored and read back.
    @inline(__always)
    static func encodeDigest(_ h: (UInt32, UInt32, UInt32, UInt32, UInt32), into text: UnsafeMutablePointer<UInt8>) {
        alphabet.withUTF8Buffer { table in
            @inline(__always) func group(_ v: UInt64, _ o: Int) {
                text[o] = table[Int((v >> 18) & 63)]
                text[o + 1] = table[Int((v >> 12) & 63)]
                text[o + 2] = table[Int((v >> 6) & 63)]
                text[o + 3] = table[Int(v & 63)]
            }
            let a = UInt64(h.0) << 32 | UInt64(h.1)  // bytes 0-7
            let b = UInt64(h.2) << 32 | UInt64(h.3)  // bytes 8-15
            let c = UInt64(h.4)                      // bytes 16-19
            group(a >> 40, 0)
            group(a >> 16, 4)
            group((a & 0xFFFF) << 8 | b >> 56, 8)
            group(b >> 32, 12)
            group(b >> 8, 16)
            group((b & 0xFF) << 16 | c >> 16, 20)
            group((c & 0xFFFF) << 8, 24)  // two bytes left: three characters and a pad
            text[27] = 0x3D
        }
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = ExportBuffer(capacity: (bytes.count + 2) / 3 * 4)
        bytes.withUnsafeBytes { encode($0, into: &out) }
        return String(decoding: out.bytes, as: UTF8.self)
    }
}
