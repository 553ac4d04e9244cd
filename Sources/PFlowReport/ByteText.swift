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
        if buffer.count <= 16 {
            // Short names: a byte loop beats a memmove call.
            for i in 0..<buffer.count { base[count + i] = from[i] }
        } else {
            (base + count).update(from: from, count: buffer.count)
        }
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

    /// A CSV field (RFC 4180): as is, or quoted with quotes doubled when it
    /// holds a comma, quote or line break; one pass over the bytes.
    public func field(_ s: String) {
        var s = s
        let plain = s.withUTF8 { bytes -> Bool in
            for b in bytes where b == 0x2C || b == 0x22 || b == 0x0A || b == 0x0D { return false }
            reserve(bytes.count)
            put(bytes)
            return true
        }
        if plain { return }
        byte(0x22)
        s.withUTF8 { bytes in
            for b in bytes {
                if b == 0x22 { byte(0x22) }
                byte(b)
            }
        }
        byte(0x22)
    }

    public func text(_ s: String) {
        var s = s
        s.withUTF8 { reserve($0.count); put($0) }
    }

    /// "00" to "99": numbers are written two digits per division.
    private static let pairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// The pairs' bytes (a literal's, valid for the whole run).
    private let digitPairs = ByteText.pairs.utf8Start

    @inline(__always)
    private func putPair(_ v: Int, at i: Int) {
        base[i] = digitPairs[2 * v]
        base[i + 1] = digitPairs[2 * v + 1]
    }

    /// Writes `v` in exactly `n` digits ending at `count + n`, two at a time.
    @inline(__always)
    private func putDigits(_ v: UInt64, _ n: Int) {
        var x = v
        var at = count + n
        while at - count >= 2 {
            at -= 2
            putPair(Int(x % 100), at: at)
            x /= 100
        }
        if at > count { base[count] = 0x30 + UInt8(x % 10) }
        count += n
    }

    public func decimal(_ v: UInt64) {
        reserve(20)
        if v < 10 {
            put(0x30 + UInt8(v))
            return
        }
        var n = 2
        var limit: UInt64 = 100
        while v >= limit {
            n += 1
            if n == 20 { break }
            limit &*= 10
        }
        putDigits(v, n)
    }

    public func decimal(_ v: Int64) {
        if v < 0 { byte(0x2D) }
        let m = v.magnitude
        // Nanosecond timestamps have 19 digits: the whole seconds (the same
        // for many rows: the last one's digits are kept) and exactly nine.
        if m >= 1_000_000_000 {
            let seconds = m / 1_000_000_000
            if !secondsCache.put(Int64(bitPattern: seconds), into: self) {
                let start = count
                decimal(seconds)
                secondsCache.remember(Int64(bitPattern: seconds), from: base + start, length: count - start)
            }
            reserve(9)
            putDigits(m % 1_000_000_000, 9)
        } else {
            decimal(m)
        }
    }

    /// Up to 24 bytes of text for the two keys written last (a row's start
    /// and end share their minute and second with the rows around them).
    private struct RecentTexts {
        struct Entry {
            var key = Int64.min
            var bytes: (UInt64, UInt64, UInt64) = (0, 0, 0)
            var length = 0
        }
        var entries = (Entry(), Entry())
        var next = 0

        /// Writes the text for `key` into `out` if it is kept; false if not.
        @inline(__always)
        func put(_ key: Int64, into out: ByteText) -> Bool {
            if entries.0.key == key { out.putWords(entries.0.bytes, entries.0.length); return true }
            if entries.1.key == key { out.putWords(entries.1.bytes, entries.1.length); return true }
            return false
        }

        /// Keeps `length` (at most 24) bytes at `text` for `key`.
        mutating func remember(_ key: Int64, from text: UnsafePointer<UInt8>, length: Int) {
            var entry = Entry(key: key)
            entry.length = min(length, 24)
            withUnsafeMutableBytes(of: &entry.bytes) { raw in
                raw.copyMemory(from: UnsafeRawBufferPointer(start: text, count: entry.length))
            }
            if next == 0 { entries.0 = entry } else { entries.1 = entry }
            next ^= 1
        }
    }
    /// Whole seconds of `decimal(_: Int64)`, "YYYY-MM-DDTHH:MM:" of `rfc3339`.
    @exclusivity(unchecked) private var secondsCache = RecentTexts()
    @exclusivity(unchecked) private var minuteCache = RecentTexts()

    /// The first `length` of 24 bytes: three word stores rather than a
    /// memmove call (the bytes past `length` are overwritten later).
    @inline(__always)
    fileprivate func putWords(_ words: (UInt64, UInt64, UInt64), _ length: Int) {
        reserve(24)
        let at = UnsafeMutableRawPointer(base + count)
        at.storeBytes(of: words.0, as: UInt64.self)
        (at + 8).storeBytes(of: words.1, as: UInt64.self)
        (at + 16).storeBytes(of: words.2, as: UInt64.self)
        count += length
    }

    /// 0-255 without the general digit count.
    @inline(__always)
    private func octet(_ v: UInt32) {
        if v < 10 {
            base[count] = 0x30 + UInt8(v)
            count += 1
        } else if v < 100 {
            putPair(Int(v), at: count)
            count += 2
        } else {
            base[count] = 0x30 + UInt8(v / 100)
            putPair(Int(v % 100), at: count + 1)
            count += 3
        }
    }

    /// `v` zero-padded to `width` digits.
    public func padded(_ v: UInt64, width: Int) {
        let n = max(1, min(19, width))
        reserve(n)
        putDigits(v, n)
    }

    private let hexDigits = ("0123456789abcdef" as StaticString).utf8Start

    /// Lower-case hex without leading zeros (an IPv6 group).
    public func hex(_ v: UInt16) {
        reserve(4)
        var shift: UInt16 = 12
        while shift > 0 && (v >> shift) & 0xF == 0 { shift -= 4 }
        while true {
            put(hexDigits[Int((v >> shift) & 0xF)])
            if shift == 0 { break }
            shift -= 4
        }
    }

    /// Dotted quad or RFC 5952 IPv6, as `IPAddress.description` writes it.
    public func address(_ a: IPAddress) {
        if a.isIPv4Mapped {
            let v = UInt32(truncatingIfNeeded: a.low)
            reserve(15)
            octet(v >> 24); put(0x2E)
            octet((v >> 16) & 0xFF); put(0x2E)
            octet((v >> 8) & 0xFF); put(0x2E)
            octet(v & 0xFF)
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
        var minute = seconds / 60
        var second = seconds % 60
        if second < 0 { second += 60; minute -= 1 }
        if !minuteCache.put(minute, into: self) {
            let start = count
            minuteText(minute)
            minuteCache.remember(minute, from: base + start, length: count - start)
        }
        reserve(2)
        putPair(Int(second), at: count)
        count += 2
        fractionDigits(UInt64(fraction), digits)
        byte(0x5A)
    }

    /// Writes "YYYY-MM-DDTHH:MM:" for `minute` (minutes since 1970).
    private func minuteText(_ minute: Int64) {
        var days = minute / 1440
        var minuteOfDay = minute % 1440
        if minuteOfDay < 0 { minuteOfDay += 1440; days -= 1 }
        let (y, m, d) = Formatting.civil(fromDays: days)
        if y < 0 { byte(0x2D) }
        padded(y.magnitude, width: 4); byte(0x2D)  // a year keeps four digits
        padded(UInt64(m), width: 2); byte(0x2D)
        padded(UInt64(d), width: 2); byte(0x54)
        padded(UInt64(minuteOfDay / 60), width: 2); byte(0x3A)
        padded(UInt64(minuteOfDay % 60), width: 2); byte(0x3A)
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
        let f: UInt64
        switch n {  // constant divisors: multiplications, not divisions
        case 9: f = nanoseconds
        case 6: f = nanoseconds / 1000
        case 3: f = nanoseconds / 1_000_000
        default:
            var x = nanoseconds
            for _ in 0..<(9 - n) { x /= 10 }
            f = x
        }
        reserve(n + 1)
        put(0x2E)
        putDigits(f, n)
    }
}
