import PFlowFlows
import PFlowWire

/// Text appended straight into a byte buffer: the CSV writer formats each
/// row without building Strings.
public struct ByteText {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 1 << 16) { bytes.reserveCapacity(capacity) }

    @inline(__always)
    public mutating func byte(_ b: UInt8) { bytes.append(b) }

    @inline(__always)
    public mutating func ascii(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func text(_ s: String) {
        var s = s
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    public mutating func decimal(_ v: UInt64) {
        if v < 10 {
            bytes.append(0x30 + UInt8(v))
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes of scratch
        let n = withUnsafeMutableBytes(of: &digits) { scratch -> Int in
            var x = v, i = 32
            while x > 0 {
                i -= 1
                scratch[i] = 0x30 + UInt8(x % 10)
                x /= 10
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[i..<32]))
            return 32 - i
        }
        _ = n
    }

    public mutating func decimal(_ v: Int64) {
        if v < 0 { bytes.append(0x2D) }
        decimal(v.magnitude)
    }

    /// `v` zero-padded to `width` digits.
    public mutating func padded(_ v: UInt64, width: Int) {
        var divisor: UInt64 = 1
        for _ in 1..<max(1, width) { divisor *= 10 }
        var x = v % (divisor * 10)
        while divisor > 0 {
            bytes.append(0x30 + UInt8(x / divisor))
            x %= divisor
            divisor /= 10
        }
    }

    public mutating func hex(_ v: UInt16) {
        let digits: StaticString = "0123456789abcdef"
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let d = Int((v >> UInt16(shift)) & 0xF)
            if d != 0 || started || shift == 0 {
                started = true
                digits.withUTF8Buffer { bytes.append($0[d]) }
            }
        }
    }

    /// Dotted quad or RFC 5952 IPv6, as `IPAddress.description` writes it.
    public mutating func address(_ a: IPAddress) {
        if a.isIPv4Mapped {
            let v = UInt32(truncatingIfNeeded: a.low)
            decimal(UInt64(v >> 24)); byte(0x2E)
            decimal(UInt64((v >> 16) & 0xFF)); byte(0x2E)
            decimal(UInt64((v >> 8) & 0xFF)); byte(0x2E)
            decimal(UInt64(v & 0xFF))
            return
        }
        func group(_ i: Int) -> UInt16 {
            UInt16(truncatingIfNeeded: (i < 4 ? a.high : a.low) >> UInt64(48 - 16 * (i % 4)))
        }
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
        i = 0
        while i < 8 {
            if i == bestStart {
                bytes.append(0x3A); bytes.append(0x3A)
                i += bestLength
                continue
            }
            if i > 0 && i != bestStart + bestLength { bytes.append(0x3A) }
            hex(group(i))
            i += 1
        }
    }

    /// RFC 3339 UTC with `digits` fractional digits.
    public mutating func rfc3339(ns: Int64, digits: Int) {
        var seconds = ns / 1_000_000_000
        var fraction = ns % 1_000_000_000
        if fraction < 0 { fraction += 1_000_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (y, m, d) = Formatting.civil(fromDays: days)
        if y < 0 { bytes.append(0x2D) }
        padded(y.magnitude, width: 4); byte(0x2D)
        padded(UInt64(m), width: 2); byte(0x2D)
        padded(UInt64(d), width: 2); byte(0x54)
        padded(UInt64(secondOfDay / 3600), width: 2); byte(0x3A)
        padded(UInt64(secondOfDay / 60 % 60), width: 2); byte(0x3A)
        padded(UInt64(secondOfDay % 60), width: 2)
        fractionDigits(UInt64(fraction), digits)
        byte(0x5A)
    }

    /// Seconds as a decimal with `digits` fractional digits.
    public mutating func seconds(ns: Int64, digits: Int) {
        if ns < 0 { bytes.append(0x2D) }
        let m = ns.magnitude
        decimal(m / 1_000_000_000)
        fractionDigits(m % 1_000_000_000, digits)
    }

    private mutating func fractionDigits(_ nanoseconds: UInt64, _ digits: Int) {
        let n = max(0, min(9, digits))
        guard n > 0 else { return }
        var f = nanoseconds
        for _ in 0..<(9 - n) { f /= 10 }
        byte(0x2E)
        padded(f, width: n)
    }
}
