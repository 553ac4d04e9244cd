/// The RLE / bit-packing hybrid (Parquet's Encodings.md, "RLE"), used for
/// definition levels (bit width 1) and for RLE_DICTIONARY indices.
///
/// A sequence of runs, each starting with a ULEB128 header:
/// - RLE run: header `count << 1`, then the repeated value in
///   ceil(bitWidth / 8) bytes, little-endian;
/// - bit-packed run: header `groups << 1 | 1`, then `groups` groups of eight
///   values, each packed in `bitWidth` bits, least significant bit first.
/// Only the last bit-packed run may end with padding: a reader stops at the
/// page's value count. So a literal stretch followed by a repeat run is
/// rounded up to whole groups by lending it the repeat's first values.
enum HybridEncoder {
    /// Repeats shorter than this stay in the bit-packed stretch around them:
    /// a separate run costs a header and breaks the stretch.
    static let minimumRepeat = 8

    static func encode<T: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<T>, bitWidth: Int, into out: ByteBuffer
    ) {
        precondition(bitWidth >= 1 && bitWidth <= 32)
        let n = values.count
        var i = 0
        var literalStart = 0
        while i < n {
            let v = values[i]
            var j = i + 1
            if T.bitWidth == 8, let base = values.baseAddress {
                // Bytes (levels): a run is skipped eight at a time.
                let splat = UInt64(truncatingIfNeeded: v) &* 0x0101_0101_0101_0101
                while j + 8 <= n && UnsafeRawPointer(base + j).loadUnaligned(as: UInt64.self) == splat { j += 8 }
            }
            while j < n && values[j] == v { j += 1 }
            let repeatCount = j - i
            if repeatCount >= minimumRepeat {
                let pending = i - literalStart
                let lend = (8 - pending % 8) % 8
                if repeatCount - lend >= minimumRepeat {
                    if pending + lend > 0 {
                        bitPacked(values, literalStart..<(i + lend), bitWidth: bitWidth, into: out)
                    }
                    repeated(UInt64(v), count: repeatCount - lend, bitWidth: bitWidth, into: out)
                    literalStart = j
                }
            }
            i = j
        }
        if literalStart < n {
            bitPacked(values, literalStart..<n, bitWidth: bitWidth, into: out)
        }
    }

    static func repeated(_ value: UInt64, count: Int, bitWidth: Int, into out: ByteBuffer) {
        out.appendVarint(UInt64(count) << 1)
        var v = value
        for _ in 0..<((bitWidth + 7) / 8) {
            out.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }

    /// The values in `range`, padded with zeros to whole groups of eight.
    /// Values are shifted into a 64-bit word stored 8 bytes at a time
    /// through a local pointer into room reserved once (a ByteBuffer append
    /// per byte cost more than the packing; a byte at a time, ~11
    /// instructions a value, callgrind on the 1M capture's dictionary ids).
    static func bitPacked<T: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<T>, _ range: Range<Int>, bitWidth: Int, into out: ByteBuffer
    ) {
        let groups = (range.count + 7) / 8
        out.appendVarint(UInt64(groups) << 1 | 1)
        // groups * 8 * bitWidth bits is a whole number of bytes; 8 more
        // bytes of room let the last word be stored whole.
        let total = groups * bitWidth
        let dst = out.tail(reserving: total + 8)
        let width = UInt64(bitWidth)
        let mask: UInt64 = (1 << width) - 1
        var acc: UInt64 = 0
        var bits: UInt64 = 0
        var o = 0
        guard let base = values.baseAddress else { return out.didWrite(0) }
        if T.bitWidth == 8 && bitWidth == 1 {
            // Levels (bytes 0 or 1): eight at a time, the multiply gathers
            // byte i's low bit into bit 56 + i (no two products overlap).
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let x = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self) & 0x0101_0101_0101_0101
                dst.storeBytes(of: UInt8(truncatingIfNeeded: (x &* 0x0102_0408_1020_4080) >> 56),
                               toByteOffset: o, as: UInt8.self)
                o += 1
                i += 8
            }
            var last: UInt8 = 0
            var shift: UInt8 = 0
            while i < range.upperBound {
                last |= (UInt8(truncatingIfNeeded: base[i]) & 1) << shift
                shift += 1
                i += 1
            }
            if shift > 0 {
                dst.storeBytes(of: last, toByteOffset: o, as: UInt8.self)
                o += 1
            }
            return out.didWrite(o)
        }
        for index in range {
            let v = UInt64(truncatingIfNeeded: base[index]) & mask
            acc |= v &<< bits
            bits += width
            if bits >= 64 {
                dst.storeBytes(of: acc.littleEndian, toByteOffset: o, as: UInt64.self)
                o += 8
                bits -= 64
                // The value's bits that didn't fit (none when bits is 0: v >> width is 0).
                acc = v &>> (width - bits)
            }
        }
        // Padding: zeros, so only the count of bits moves on.
        bits += width * UInt64(groups * 8 - range.count)
        while bits >= 64 {
            dst.storeBytes(of: acc.littleEndian, toByteOffset: o, as: UInt64.self)
            o += 8
            bits -= 64
            acc = 0
        }
        dst.storeBytes(of: acc.littleEndian, toByteOffset: o, as: UInt64.self)
        o += Int(bits / 8)
        out.didWrite(o)
    }

    /// The smallest width that holds `maxValue` (at least 1).
    static func bitWidth(forMax maxValue: UInt64) -> Int {
        max(1, 64 - maxValue.leadingZeroBitCount)
    }
}
