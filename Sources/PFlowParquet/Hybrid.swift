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
    /// The bytes go through a local pointer into room reserved once: a
    /// ByteBuffer append per byte (its room check and count) cost more
    /// than the packing.
    static func bitPacked<T: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<T>, _ range: Range<Int>, bitWidth: Int, into out: ByteBuffer
    ) {
        let groups = (range.count + 7) / 8
        out.appendVarint(UInt64(groups) << 1 | 1)
        // groups * 8 * bitWidth bits is a whole number of bytes: nothing is left in acc.
        let total = groups * bitWidth
        let dst = out.tail(reserving: total)
        let mask: UInt64 = (1 << UInt64(bitWidth)) - 1
        var acc: UInt64 = 0
        var bits = 0
        var o = 0
        for index in range.lowerBound..<(range.lowerBound + groups * 8) {
            let v = index < range.upperBound ? UInt64(values[index]) & mask : 0
            acc |= v << UInt64(bits)
            bits += bitWidth
            while bits >= 8 {
                dst.storeBytes(of: UInt8(truncatingIfNeeded: acc), toByteOffset: o, as: UInt8.self)
                o += 1
                acc >>= 8
                bits -= 8
            }
        }
        out.didWrite(o)
    }

    /// The smallest width that holds `maxValue` (at least 1).
    static func bitWidth(forMax maxValue: UInt64) -> Int {
        max(1, 64 - maxValue.leadingZeroBitCount)
    }
}
