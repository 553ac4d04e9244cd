import PFlowFlows
import PFlowWire

/// Text appended straight into a byte buffer: the CSV writer formats each
/// row without building Strings. Each method makes room for what it writes
/// with one capacity check, then stores bytes without further checks (no
/// Array uniqueness or growth checks per byte).
///
/// Used from one thread at a time and never re-entered, so its state skips
/// the runtime's dynamic exclusivity checks (they cost more than the writes).
public final class ByteText {
    @exclusivity(unchecked) private var base: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) private var capacity: Int
    @exclusivity(unchecked) public private(set) var count = 0

    public init(capacity: Int = 1 << 16) {
        self.capacity = max(64, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The text so far (valid until the next write).
    public var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    public func removeAll() { count = 0 }

    /// Room for `n` more bytes.
    @inline(__always)
    private func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private func grow(_ needed: Int) {
        var size = capacity * 2
        while size < needed { size *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = size
    }

    /// Stores one byte; the caller reserved room.
    @inline(__always)
    private func put(_ b: UInt8) {
        base[count] = b
        count += 1
    }

    @inline(__always)
    private func put(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let from = buffer.baseAddress, buffer.count > 0 else { return }
        (base + count).update(from: from, count: buffer.count)
        count += buffer.count
    }

    @inline(__always)
    public func byte(_ b: UInt8) {
        reserve(1)
        put(b)
    }

    @inline(__always)
    public func ascii(_ s: StaticString) {
        s.withUTF8Buffer { reserve($0.count); put($0) }
    }

    public func text(_ s: String) {
        var s = s
        s.withUTF8 { reserve($0.count); put($0) }
    }

    public func decimal(_ v: UInt64) {
        reserve(20)
        if v < 10 {
            put(0x30 + UInt8(v))
            return
        }
        var digits = 0
        var x = v
        while x > 0 { digits += 1; x /= 10 }
        x = v
        var at = count + digits
        while x > 0 {
            at -= 1
            base[at] = 0x30 + UInt8(x % 10)
            x /= 10
        }
        count += digits
    }

    public func decimal(_ v: Int64) {
        if v < 0 { byte(0x2D) }
        decimal(v.magnitude)
    }

    /// `v` zero-padded to `width` digits.
    public func padded(_ v: UInt64, width: Int) {
        let n = max(1, min(19, width))
        reserve(n)
        var x = v
        var at = count + n
        while at > count {
            at -= 1
            base[at] = 0x30 + UInt8(x % 10)
            x /= 10
        }
        count += n
    }

    public func hex(_ v: UInt16) {
        let digits: StaticString = "0123456789abcdef"
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let d = Int((v >> UInt16(shift)) & 0xF)
            if d != 0 || started || shift == 0 {
                started = true
                digits.withUTF8Buffer { byte($0[d]) }
            }
        }
    }

    /// Dotted quad or RFC 5952 IPv6, as `IPAddress.description` writes it.
    public func address(_ a: IPAddress) {
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
                byte(0x3A); byte(0x3A)
                i += bestLength
                continue
            }
            if i > 0 && i != bestStart + bestLength { byte(0x3A) }
            hex(group(i))
            i += 1
        }
    }

    /// RFC 3339 UTC with `digits` fractional digits.
    public func rfc3339(ns: Int64, digits: Int) {
        var seconds = ns / 1_000_000_000
        var fraction = ns % 1_000_000_000
        if fraction < 0 { fraction += 1_000_000_000; seconds -= 1 }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        let (y, m, d) = Formatting.civil(fromDays: days)
        if y < 0 { byte(0x2D) }
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
    public func seconds(ns: Int64, digits: Int) {
        if ns < 0 { byte(0x2D) }
        let m = ns.magnitude
        decimal(m / 1_000_000_000)
        fractionDigits(m % 1_000_000_000, digits)
    }

    private func fractionDigits(_ nanoseconds: UInt64, _ digits: Int) {
        let n = max(0, min(9, digits))
        guard n > 0 else { return }
        var f = nanoseconds
        for _ in 0..<(9 - n) { f /= 10 }
        byte(0x2E)
        padded(f, width: n)
    }
}
