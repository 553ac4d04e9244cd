/// An IP address in 128 bits; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) so
/// that both versions share one fixed-size key.
public struct IPAddress: Hashable, Sendable, Comparable {
    public var high: UInt64
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    // Inlinable so other modules' flow keys compare without a call.
    @inlinable
    public static func == (a: IPAddress, b: IPAddress) -> Bool { a.high == b.high && a.low == b.low }

    public init(ipv4 value: UInt32) {
        high = 0
        low = 0x0000_FFFF_0000_0000 | UInt64(value)
    }

    public var isIPv4Mapped: Bool { high == 0 && (low >> 32) == 0x0000_FFFF }

    @inlinable
    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }

    /// 16-bit group `i` (0...7) of the IPv6 form.
    @inlinable @inline(__always)
    public func group(_ i: Int) -> UInt16 {
        UInt16(truncatingIfNeeded: (i < 4 ? high : low) >> UInt64(48 - 16 * (i & 3)))
    }

    /// RFC 5952 §4.2: the longest run of two or more zero groups, written
    /// "::" (the first one wins a tie); start -1 when there is none. Every
    /// writer of IPv6 text (this type's, the CSV's, the export formats') uses it.
    @inlinable
    public var compressedRun: (start: Int, length: Int) {
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            if group(i) == 0 {
                var j = i
                while j < 8 && group(j) == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 { bestStart = i; bestLength = j - i }
                i = j
            } else {
                i += 1
            }
        }
        return (bestStart, bestLength)
    }

    /// Text form: dotted quad for IPv4, RFC 5952 for IPv6.
    public var description: String {
        if isIPv4Mapped {
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        }
        let (bestStart, bestLength) = compressedRun
        func hex(_ range: Range<Int>) -> String {
            range.map { String(group($0), radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}
