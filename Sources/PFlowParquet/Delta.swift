/// DELTA_BINARY_PACKED (Parquet's Encodings.md, encoding 5) for INT64
/// columns: why it is here is cost, not size alone. PLAIN writes 8 bytes
/// per value and deflate then spends ~70 instructions a byte finding that
/// most of them are zeros (a port, a packet count, a timestamp 1 ms after
/// the last); deltas bit-packed per miniblock take ~2 bytes a value for
/// ~15 instructions, and leave deflate a fifth of the bytes.
///
/// Layout: a header (block size, miniblocks per block, value count, the
/// first value zigzag-encoded, all ULEB128), then for each block of
/// `blockSize` deltas its smallest delta (zigzag ULEB128), one bit-width
/// byte per miniblock, and each miniblock's `delta - minDelta` values
/// bit-packed LSB first, padded with zeros to a whole miniblock. Miniblocks
/// past the last value keep their width byte (0) and have no body.
/// Arithmetic wraps, as the spec allows: an unsigned counter's bit pattern
/// round-trips through the readers' wrapping sums.
enum DeltaEncoder {
    static let blockSize = 128
    static let miniblocks = 4
    static let miniblockSize = blockSize / miniblocks

    @inline(__always)
    static func zigzag(_ v: Int64) -> UInt64 {
        UInt64(bitPattern: (v &<< 1) ^ (v >> 63))
    }

    /// Encodes `count` values stored PLAIN (8 bytes little-endian each) at `plain`.
    static func encode(plain: UnsafeRawPointer, count: Int, into out: ByteBuffer) {
        out.appendVarint(UInt64(blockSize))
        out.appendVarint(UInt64(miniblocks))
        out.appendVarint(UInt64(count))
        guard count > 0 else {
            out.appendVarint(0)
            return
        }
        @inline(__always) func value(_ i: Int) -> Int64 {
            Int64(littleEndian: plain.loadUnaligned(fromByteOffset: i &* 8, as: Int64.self))
        }
        out.appendVarint(zigzag(value(0)))
        // One block's deltas, then (in place) each minus the block's minimum.
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: blockSize) { block in
            var previous = value(0)
            var next = 1
            while next < count {
                let n = min(blockSize, count - next)
                var minDelta = Int64.max
                for k in 0..<n {
                    let v = value(next + k)
                    let d = v &- previous
                    previous = v
                    block[k] = UInt64(bitPattern: d)
                    if d < minDelta { minDelta = d }
                }
                next += n
                out.appendVarint(zigzag(minDelta))
                // Widths first (they precede the bodies), then the bodies.
                let widthsAt = out.count
                out.reserve(miniblocks + blockSize * 8 + 8)
                for _ in 0..<miniblocks { out.append(0) }
                let used = (n + miniblockSize - 1) / miniblockSize
                // The last miniblock's padding is zeros (after the minimum is taken off).
                for k in n..<(used * miniblockSize) { block[k] = UInt64(bitPattern: minDelta) }
                for m in 0..<used {
                    let lo = m * miniblockSize
                    var all: UInt64 = 0
                    for k in lo..<(lo + miniblockSize) {
                        let a = block[k] &- UInt64(bitPattern: minDelta)
                        block[k] = a
                        all |= a
                    }
                    let width = 64 - all.leadingZeroBitCount
                    out.setByte(UInt8(width), at: widthsAt + m)
                    guard width > 0 else { continue }
                    pack(block, lo, width: width, into: out)
                }
            }
        }
    }

    /// One miniblock: `miniblockSize` values of `width` bits, 4 × width
    /// bytes in all, shifted into a 64-bit word stored 8 bytes at a time
    /// through a local pointer into room reserved once (not an append per
    /// word). Without a branch per value for the padding or the word's
    /// carry (~30 instructions a value before, callgrind on the 1M capture).
    @inline(__always)
    static func pack(_ block: UnsafeMutableBufferPointer<UInt64>, _ lo: Int, width: Int,
                     into out: ByteBuffer) {
        let dst = out.tail(reserving: 4 * width + 8)
        guard let values = block.baseAddress.map({ $0 + lo }) else { return }
        if width == 64 {
            for k in 0..<miniblockSize {
                dst.storeBytes(of: values[k].littleEndian, toByteOffset: k &* 8, as: UInt64.self)
            }
            return out.didWrite(8 * miniblockSize)
        }
        let w = UInt64(width)
        var o = 0
        var acc: UInt64 = 0
        var bits: UInt64 = 0
        for k in 0..<miniblockSize {
            let v = values[k]
            acc |= v &<< bits
            bits += w
            if bits >= 64 {
                dst.storeBytes(of: acc.littleEndian, toByteOffset: o, as: UInt64.self)
                o += 8
                bits -= 64
                // The bits of v that didn't fit; none when bits is 0 (v >> w is 0 below 64 bits).
                acc = v &>> (w - bits)
            }
        }
        // 32 × width bits: a whole number of 32-bit words, so 0 or 4 bytes are left.
        if bits > 0 {
            dst.storeBytes(of: UInt32(truncatingIfNeeded: acc).littleEndian, toByteOffset: o, as: UInt32.self)
            o += 4
        }
        out.didWrite(o)
    }

    /// DELTA_BYTE_ARRAY (encoding 7) of the BYTE_ARRAY values stored PLAIN
    /// (4-byte LE length, bytes) in `plain`: each value's prefix length
    /// shared with the one before (the first's is 0), DELTA_BINARY_PACKED;
    /// then the suffixes as DELTA_LENGTH_BYTE_ARRAY: their lengths
    /// DELTA_BINARY_PACKED, then their bytes one after another.
    static func encodeByteArray(plain: ByteBuffer,
                                into out: ByteBuffer,
                                scratch: (lengths: ByteBuffer, suffixLengths: ByteBuffer, suffixes: ByteBuffer)) {
        let (prefixes, suffixLengths, suffixes) = scratch
        prefixes.removeAll()
        suffixLengths.removeAll()
        suffixes.removeAll()
        let p = UnsafeRawPointer(plain.base)
        let end = plain.count
        var at = 0
        var previous = 0
        var previousLength = 0
        var count = 0
        while at + 4 <= end {
            let length = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
            let start = at + 4
            let limit = min(length, previousLength)
            // The shared prefix a word at a time (a uid shares 10 of its 12
            // bytes): the first differing byte is the lowest set byte of the
            // XOR read little-endian.
            var shared = 0
            var differs = false
            while shared + 8 <= limit {
                let x = p.loadUnaligned(fromByteOffset: start + shared, as: UInt64.self)
                    ^ p.loadUnaligned(fromByteOffset: previous + shared, as: UInt64.self)
                if x != 0 {
                    shared += UInt64(littleEndian: x).trailingZeroBitCount / 8
                    differs = true
                    break
                }
                shared += 8
            }
            while !differs && shared < limit
                && p.load(fromByteOffset: start + shared, as: UInt8.self)
                    == p.load(fromByteOffset: previous + shared, as: UInt8.self) {
                shared += 1
            }
            prefixes.appendLE(UInt64(shared))
            suffixLengths.appendLE(UInt64(length - shared))
            suffixes.append(UnsafeRawBufferPointer(start: p + start + shared, count: length - shared))
            previous = start
            previousLength = length
            at = start + length
            count += 1
        }
        encode(plain: prefixes.base, count: count, into: out)
        encode(plain: suffixLengths.base, count: count, into: out)
        out.append(suffixes)
    }
}
