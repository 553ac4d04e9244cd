import PFlowCore
import PFlowEngine
import PFlowFlows
import PFlowWire

/// Text appended straight into a byte buffer: the CSV writer formats each
/// row without building Strings. Room is made once (per call here, per row
/// in the CSV writer), then a `TextCursor`, a bare pointer kept in a local
/// variable, stores the bytes: no capacity check, and no reload of the
/// buffer's fields, per byte.
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
    func reserve(_ n: Int) {
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

    /// A cursor at the end of the text; `reserve` first, `commit` after.
    @inline(__always)
    func cursor() -> TextCursor { TextCursor(at: base + count) }

    /// Takes what `c` wrote (within the room reserved) into the text.
    @inline(__always)
    func commit(_ c: TextCursor) { count = c.p - base }

    /// Reserves `room`, writes with a cursor, commits.
    @inline(__always)
    private func write(_ room: Int, _ body: (inout TextCursor) -> Void) {
        reserve(room)
        var c = cursor()
        body(&c)
        commit(c)
    }

    @inline(__always)
    public func byte(_ b: UInt8) { write(1) { $0.byte(b) } }

    @inline(__always)
    public func ascii(_ s: StaticString) { write(s.utf8CodeUnitCount) { $0.ascii(s) } }

    /// A CSV field: `TextCursor.field` (RFC 4180 quoting, controls
    /// escaped, formulas neutralised).
    public func field(_ s: String) { write(TextCursor.fieldRoom(s)) { $0.field(s) } }

    public func text(_ s: String) {
        var s = s
        s.withUTF8 { b in write(b.count) { $0.bytes(b) } }
    }

    public func decimal(_ v: UInt64) { write(20) { $0.decimal(v) } }

    public func decimal(_ v: Int64) { write(TextCursor.int64Room) { decimal(v, &$0) } }

    /// `v` zero-padded to `width` digits (1...19; the lowest digits of a
    /// longer number).
    public func padded(_ v: UInt64, width: Int) {
        let n = max(1, min(19, width))
        write(n) { $0.digits(v, n) }
    }

    /// Lower-case hex without leading zeros (an IPv6 group).
    public func hex(_ v: UInt16) { write(4) { $0.hex(v) } }

    /// Dotted quad or RFC 5952 IPv6, as `IPAddress.description` writes it.
    public func address(_ a: IPAddress) { write(TextCursor.addressRoom) { $0.address(a) } }

    /// RFC 3339 UTC with `digits` fractional digits.
    public func rfc3339(ns: Int64, digits: Int) { write(TextCursor.rfc3339Room) { rfc3339(ns: ns, digits: digits, &$0) } }

    /// Seconds as a decimal with `digits` fractional digits.
    public func seconds(ns: Int64, digits: Int) { write(TextCursor.secondsRoom) { $0.seconds(ns: ns, digits: digits) } }

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

        /// Writes the text for `key` if it is kept; false if not.
        @inline(__always)
        func put(_ key: Int64, into c: inout TextCursor) -> Bool {
            if entries.0.key == key { c.words(entries.0.bytes, entries.0.length); return true }
            if entries.1.key == key { c.words(entries.1.bytes, entries.1.length); return true }
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

    /// `decimal(_: Int64)` at a cursor with `TextCursor.int64Room` bytes of room.
    @inline(__always)
    func decimal(_ v: Int64, _ c: inout TextCursor) {
        if v < 0 { c.byte(0x2D) }
        let m = v.magnitude
        // Nanosecond timestamps have 19 digits: the whole seconds (the same
        // for many rows: the last one's digits are kept) and exactly nine.
        if m >= 1_000_000_000 {
            let seconds = m / 1_000_000_000
            if !secondsCache.put(Int64(bitPattern: seconds), into: &c) {
                let start = c.p
                c.decimal(seconds)
                secondsCache.remember(Int64(bitPattern: seconds), from: start, length: c.p - start)
            }
            c.digits(m % 1_000_000_000, 9)
        } else {
            c.decimal(m)
        }
    }

    /// `rfc3339(ns:digits:)` at a cursor with `TextCursor.rfc3339Room` bytes of room.
    @inline(__always)
    func rfc3339(ns: Int64, digits: Int, _ c: inout TextCursor) {
        var seconds = ns / 1_000_000_000
        var fraction = ns % 1_000_000_000
        if fraction < 0 { fraction += 1_000_000_000; seconds -= 1 }
        var minute = seconds / 60
        var second = seconds % 60
        if second < 0 { second += 60; minute -= 1 }
        if !minuteCache.put(minute, into: &c) {
            let start = c.p
            c.minuteText(minute)
            minuteCache.remember(minute, from: start, length: c.p - start)
        }
        c.pair(Int(second))
        c.fraction(UInt64(fraction), digits)
        c.byte(0x5A)
    }
}

/// A write position in a `ByteText` whose room was reserved beforehand.
/// Each method's room is bounded (the constants below, or what it says).
struct TextCursor {
    var p: UnsafeMutablePointer<UInt8>

    /// Room for: a signed 64-bit decimal; an address; a timestamp (the
    /// cached minute is stored as 24 bytes, some overwritten after); seconds.
    static let int64Room = 1 + 24 + 9
    static let addressRoom = 39
    static let rfc3339Room = 24 + 2 + 10 + 1
    static let secondsRoom = 1 + 20 + 10

    /// "00" to "99": numbers are written two digits per division.
    private static let pairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """
    private static let hexDigits: StaticString = "0123456789abcdef"

    @inline(__always)
    init(at p: UnsafeMutablePointer<UInt8>) { self.p = p }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        p.pointee = b
        p += 1
    }

    /// Short texts (names, keys, ids: most are 4 to 32 bytes) are copied
    /// as two to four possibly overlapping word loads and stores, which
    /// beat both a byte loop and a memmove call; `buffer` never overlaps
    /// the text being written.
    @inline(__always)
    mutating func bytes(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let from = buffer.baseAddress else { return }
        let n = buffer.count
        let src = UnsafeRawPointer(from), dst = UnsafeMutableRawPointer(p)
        if n >= 8 {
            if n <= 16 {
                let a = src.loadUnaligned(as: UInt64.self)
                let b = src.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
                dst.storeBytes(of: a, as: UInt64.self)
                dst.storeBytes(of: b, toByteOffset: n - 8, as: UInt64.self)
            } else if n <= 32 {
                let a = src.loadUnaligned(as: UInt64.self)
                let b = src.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                let c = src.loadUnaligned(fromByteOffset: n - 16, as: UInt64.self)
                let d = src.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
                dst.storeBytes(of: a, as: UInt64.self)
                dst.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
                dst.storeBytes(of: c, toByteOffset: n - 16, as: UInt64.self)
                dst.storeBytes(of: d, toByteOffset: n - 8, as: UInt64.self)
            } else {
                p.update(from: from, count: n)
            }
        } else if n >= 4 {
            let a = src.loadUnaligned(as: UInt32.self)
            let b = src.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
            dst.storeBytes(of: a, as: UInt32.self)
            dst.storeBytes(of: b, toByteOffset: n - 4, as: UInt32.self)
        } else {
            for i in 0..<n { p[i] = from[i] }
        }
        p += n
    }

    @inline(__always)
    mutating func ascii(_ s: StaticString) {
        s.withUTF8Buffer { bytes($0) }
    }

    /// Room `field` needs for `s`: every byte as `\xNN`, two quotes and a
    /// leading `'`.
    static func fieldRoom(_ s: String) -> Int { 4 * s.utf8.count + 3 }

    /// A CSV field (RFC 4180): as is, or quoted with quotes doubled when it
    /// holds a comma or quote; `fieldRoom(s)` bytes of room. A cell never
    /// holds a control character: C0 controls (line breaks too), DEL and C1
    /// controls are written as `\xNN`. A cell that a spreadsheet would take
    /// for a formula (starting with `=`, `+`, `@`, or `-` not followed by a
    /// digit) gets a leading `'`, as OWASP advises for CSV injection. The
    /// text columns hold names (a --services file may say anything), so
    /// only they pay for the checks, one pass over their bytes.
    mutating func field(_ s: String) {
        var s = s
        s.withUTF8 { b in
            guard let first = b.first else { return }
            let special = !Self.csvPlain(b)
            let formula = first == 0x3D || first == 0x2B || first == 0x40
                || (first == 0x2D && !(b.count > 1 && b[1] >= 0x30 && b[1] <= 0x39))
            if !special && !formula { bytes(b); return }
            var quoted = false
            for x in b where x == 0x2C || x == 0x22 { quoted = true; break }
            if quoted { byte(0x22) }
            if formula { byte(0x27) }
            var i = 0
            while i < b.count {
                let x = b[i]
                if x < 0x20 || x == 0x7F {
                    escape(x)
                } else if x == 0xC2 && i + 1 < b.count && b[i + 1] >= 0x80 && b[i + 1] < 0xA0 {
                    // U+0080-U+009F: C1 controls, which some terminals obey.
                    escape(x)
                    escape(b[i + 1])
                    i += 1
                } else {
                    if x == 0x22 { byte(0x22) }
                    byte(x)
                }
                i += 1
            }
            if quoted { byte(0x22) }
        }
    }

    /// Room `json` needs for `s`: every byte as `\u00XX`, and two quotes.
    static func jsonRoom(_ s: String) -> Int { 6 * s.utf8.count + 2 }

    mutating func null() {
        ascii("null")
    }

    /// A JSON string, as `JSONWriter.escape` writes it (quotes, backslash
    /// and C0 controls escaped, the rest as is), or `null` for nil;
    /// `jsonRoom(s)` bytes of room. One pass to see whether anything needs
    /// escaping (names rarely do), then a copy.
    mutating func json(_ s: String?) {
        guard var s else { null(); return }
        s.withUTF8 { b in
            byte(0x22)
            if Self.jsonPlain(b) {
                bytes(b)
            } else {
                for x in b {
                    switch x {
                    case 0x22: byte(0x5C); byte(0x22)
                    case 0x5C: byte(0x5C); byte(0x5C)
                    case 0x0A: byte(0x5C); byte(0x6E)
                    case 0x0D: byte(0x5C); byte(0x72)
                    case 0x09: byte(0x5C); byte(0x74)
                    case 0..<0x20:
                        Self.hexDigits.withUTF8Buffer { hex in
                            ascii("\\u00"); byte(hex[Int(x >> 4)]); byte(hex[Int(x & 0xF)])
                        }
                    default: byte(x)
                    }
                }
            }
            byte(0x22)
        }
    }

    /// Whether no byte of `b` needs more than a copy in a CSV cell (none is
    /// a C0 control, `,`, `"`, DEL or 0xC2, which starts a C1 control).
    @inline(__always)
    static func csvPlain(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        allPlain(b, { x in
            below0x20(x) | zeroByte(x ^ (ones &* 0x2C)) | zeroByte(x ^ (ones &* 0x22))
                | zeroByte(x ^ (ones &* 0x7F)) | zeroByte(x ^ (ones &* 0xC2)) == 0
        }, { x in !(x < 0x20 || x == 0x2C || x == 0x22 || x == 0x7F || x == 0xC2) })
    }

    /// Whether no byte of `b` needs escaping in a JSON string (none is a C0
    /// control, `"` or a backslash).
    @inline(__always)
    static func jsonPlain(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        allPlain(b, { x in
            below0x20(x) | zeroByte(x ^ (ones &* 0x22)) | zeroByte(x ^ (ones &* 0x5C)) == 0
        }, { x in !(x < 0x20 || x == 0x22 || x == 0x5C) })
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
    /// Nonzero iff some byte of `v` is zero (exact for "some").
    @inline(__always) private static func zeroByte(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
    /// Nonzero iff some byte is below 0x20 (`~x` drops the bytes from 0x80).
    @inline(__always) private static func below0x20(_ x: UInt64) -> UInt64 { (x &- ones &* 0x20) & ~x & highs }

    /// Whether `word` holds for every eight bytes of `b` (a text's last word
    /// overlaps the one before; 4 to 7 bytes are two overlapping halves),
    /// or `byte` for each of a shorter one's: a byte-at-a-time test with
    /// several comparisons costs about 9 instructions a byte.
    @inline(__always)
    private static func allPlain(_ b: UnsafeBufferPointer<UInt8>, _ word: (UInt64) -> Bool,
                                 _ byte: (UInt8) -> Bool) -> Bool {
        guard let from = b.baseAddress else { return true }
        let n = b.count
        let raw = UnsafeRawPointer(from)
        if n >= 8 {
            var i = 0
            while i + 8 < n {
                if !word(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { return false }
                i += 8
            }
            return word(raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
        }
        if n >= 4 {
            return word(UInt64(raw.loadUnaligned(as: UInt32.self))
                        | UInt64(raw.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)) << 32)
        }
        for x in b where !byte(x) { return false }
        return true
    }

    /// `\xNN`, upper-case hex (as file names are shown).
    @inline(__always)
    private mutating func escape(_ x: UInt8) {
        let hex: StaticString = "0123456789ABCDEF"
        hex.withUTF8Buffer { h in
            byte(0x5C); byte(0x78)
            byte(h[Int(x >> 4)]); byte(h[Int(x & 0xF)])
        }
    }

    /// Two digits, "00" to "99".
    @inline(__always)
    mutating func pair(_ v: Int) {
        Self.pairs.withUTF8Buffer { pairs in
            p[0] = pairs[2 * v]
            p[1] = pairs[2 * v + 1]
        }
        p += 2
    }

    /// `v` in exactly `n` digits (its lowest), two per division.
    @inline(__always)
    mutating func digits(_ v: UInt64, _ n: Int) {
        Self.pairs.withUTF8Buffer { pairs in
            var x = v
            var at = n
            while at >= 2 {
                at -= 2
                let d = Int(x % 100)
                p[at] = pairs[2 * d]
                p[at + 1] = pairs[2 * d + 1]
                x /= 100
            }
            if at > 0 { p[0] = 0x30 + UInt8(x % 10) }
        }
        p += n
    }

    /// Up to 20 bytes. Small numbers (ports, packet counts) take a short way.
    @inline(__always)
    mutating func decimal(_ v: UInt64) {
        if v < 10 {
            byte(0x30 + UInt8(v))
        } else if v < 100 {
            pair(Int(v))
        } else if v < 10_000 {
            digits(v, v < 1000 ? 3 : 4)
        } else if v < 1_000_000 {
            digits(v, v < 100_000 ? 5 : 6)
        } else {
            var n = 7
            var limit: UInt64 = 10_000_000
            while v >= limit {
                n += 1
                if n == 20 { break }
                limit &*= 10
            }
            digits(v, n)
        }
    }

    /// The first `length` of 24 bytes: three word stores rather than a
    /// memmove call (the bytes past `length` are overwritten later).
    @inline(__always)
    mutating func words(_ words: (UInt64, UInt64, UInt64), _ length: Int) {
        let at = UnsafeMutableRawPointer(p)
        at.storeBytes(of: words.0, as: UInt64.self)
        (at + 8).storeBytes(of: words.1, as: UInt64.self)
        (at + 16).storeBytes(of: words.2, as: UInt64.self)
        p += length
    }

    /// Lower-case hex without leading zeros; up to 4 bytes.
    @inline(__always)
    mutating func hex(_ v: UInt16) {
        Self.hexDigits.withUTF8Buffer { hex in
            var shift: UInt16 = 12
            while shift > 0 && (v >> shift) & 0xF == 0 { shift -= 4 }
            while true {
                byte(hex[Int((v >> shift) & 0xF)])
                if shift == 0 { break }
                shift -= 4
            }
        }
    }

    /// Dotted quad or RFC 5952 IPv6 (the longest run of two or more zero
    /// groups as ::); up to 39 bytes.
    mutating func address(_ a: IPAddress) {
        if a.isIPv4Mapped {
            let v = UInt32(truncatingIfNeeded: a.low)
            decimal(UInt64(v >> 24)); byte(0x2E)
            decimal(UInt64((v >> 16) & 0xFF)); byte(0x2E)
            decimal(UInt64((v >> 8) & 0xFF)); byte(0x2E)
            decimal(UInt64(v & 0xFF))
            return
        }
        let (bestStart, bestLength) = a.compressedRun
        var i = 0
        while i < 8 {
            if i == bestStart {
                byte(0x3A); byte(0x3A)
                i += bestLength
                continue
            }
            if i > 0 && i != bestStart + bestLength { byte(0x3A) }
            hex(a.group(i))
            i += 1
        }
    }

    /// "YYYY-MM-DDTHH:MM:" for `minute` (minutes since 1970); up to 18 bytes.
    mutating func minuteText(_ minute: Int64) {
        var days = minute / 1440
        var minuteOfDay = minute % 1440
        if minuteOfDay < 0 { minuteOfDay += 1440; days -= 1 }
        let (y, m, d) = Formatting.civil(fromDays: days)
        if y < 0 { byte(0x2D) }
        digits(y.magnitude, 4); byte(0x2D)  // a year keeps four digits
        pair(Int(m)); byte(0x2D)
        pair(Int(d)); byte(0x54)
        pair(Int(minuteOfDay / 60)); byte(0x3A)
        pair(Int(minuteOfDay % 60)); byte(0x3A)
    }

    /// Seconds as a decimal with `digits` fractional digits; up to 31 bytes.
    @inline(__always)
    mutating func seconds(ns: Int64, digits: Int) {
        if ns < 0 { byte(0x2D) }
        let m = ns.magnitude
        decimal(m / 1_000_000_000)
        fraction(m % 1_000_000_000, digits)
    }

    /// "." and `digits` (0-9) digits of a nanosecond fraction; up to 10 bytes.
    @inline(__always)
    mutating func fraction(_ nanoseconds: UInt64, _ digits: Int) {
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
        byte(0x2E)
        self.digits(f, n)
    }
}
