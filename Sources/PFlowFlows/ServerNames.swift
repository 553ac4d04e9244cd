import PFlowCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a server's name came from, weakest first: a stronger source
/// replaces a weaker one on the same flow.
public enum NameSource: UInt8, Sendable {
    case none = 0, dns, httpHost, sni

    public var label: StaticString? {
        switch self {
        case .none: return nil
        case .dns: return "dns"
        case .httpHost: return "http-host"
        case .sni: return "sni"
        }
    }
}

/// 32 words of name bytes: a fixed-size, reference-free buffer.
public typealias NameBytes = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                              UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                              UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                              UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
public typealias NameAddresses = (IPAddress, IPAddress, IPAddress, IPAddress,
                                  IPAddress, IPAddress, IPAddress, IPAddress)

/// A server's name as the tracker keeps it and an ended flow carries it:
/// up to 253 bytes, already made safe for every output (no references).
public struct ServerName: Sendable {
    public var length: UInt8 = 0
    public var bytes: NameBytes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    public init() {}

    public var text: String {
        var copy = self
        return withUnsafePointer(to: &copy) { Self.text(of: $0) }
    }

    // Read in place: a copy of the 256-byte buffer per flow cost more than the hash.
    @inline(__always)
    static func bytes(of name: UnsafePointer<ServerName>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: UnsafeRawPointer(name) + MemoryLayout<ServerName>.offset(of: \ServerName.bytes)!,
                               count: min(Int(name.pointee.length), MemoryLayout<NameBytes>.size))
    }

    /// The name's bytes hashed a word at a time under the run's seed (for
    /// tallies keyed by name: cheaper than hashing the String).
    public static func hash(of name: UnsafePointer<ServerName>) -> UInt64 {
        let raw = bytes(of: name)
        let n = raw.count, seed = HashSeed.run
        var h = seed.hash(UInt64(n))
        var at = 0
        while at + 8 <= n {
            h = seed.hash(h, raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
            at += 8
        }
        if at < n {
            var word: UInt64 = 0
            for k in at..<n { word |= UInt64(raw[k]) << UInt64(8 * (k - at)) }
            h = seed.hash(h, word)
        }
        return h
    }

    public static func text(of name: UnsafePointer<ServerName>) -> String {
        String(decoding: bytes(of: name), as: UTF8.self)
    }
}

/// A name the reader side found in one packet's payload (it has the whole
/// frame; the tracker gets only the first 32 payload bytes): a TLS SNI or
/// HTTP Host for the packet's flow, or a DNS answer (the name asked for and
/// up to `maxAddresses` of the A/AAAA addresses it resolved to). Travels
/// beside the packet, in order, like an ICMP error's quote; no references.
public struct NameNote: Sendable {
    public static let maxLength = 253
    public static let maxAddresses = 8
    public var source = NameSource.none
    public var length: UInt8 = 0
    public var addressCount: UInt8 = 0
    public var bytes: NameBytes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    public var addresses: NameAddresses = (IPAddress(high: 0, low: 0), IPAddress(high: 0, low: 0),
                                           IPAddress(high: 0, low: 0), IPAddress(high: 0, low: 0),
                                           IPAddress(high: 0, low: 0), IPAddress(high: 0, low: 0),
                                           IPAddress(high: 0, low: 0), IPAddress(high: 0, low: 0))
    public init() {}

    public var name: String {
        var b = bytes
        let n = Int(length)
        return withUnsafeBytes(of: &b) { String(decoding: UnsafeRawBufferPointer(rebasing: $0[0..<n]), as: UTF8.self) }
    }

    public func address(_ i: Int) -> IPAddress {
        var a = addresses
        return withUnsafeBytes(of: &a) { $0.loadUnaligned(fromByteOffset: i * MemoryLayout<IPAddress>.stride, as: IPAddress.self) }
    }

    mutating func addAddress(_ a: IPAddress) {
        guard Int(addressCount) < Self.maxAddresses else { return }
        let i = Int(addressCount)
        withUnsafeMutableBytes(of: &addresses) { $0.storeBytes(of: a, toByteOffset: i * MemoryLayout<IPAddress>.stride, as: IPAddress.self) }
        addressCount += 1
    }

    /// Appends one byte of a name, made safe for every output: ASCII
    /// letters lower-cased, control characters, DEL and non-ASCII bytes as
    /// `?`, and a first character that a spreadsheet would take for a
    /// formula (`=`, `+`, `-`, `@`) as `_`. Past 253 bytes the name is cut.
    @inline(__always)
    mutating func append(_ byte: UInt8) {
        guard Int(length) < Self.maxLength else { return }
        var b = byte
        if b >= 0x41 && b <= 0x5A { b |= 0x20 }
        if b < 0x20 || b >= 0x7F { b = 0x3F }
        if length == 0 && (b == 0x3D || b == 0x2B || b == 0x2D || b == 0x40) { b = 0x5F }
        let at = Int(length)
        withUnsafeMutableBytes(of: &bytes) { $0[at] = b }
        length += 1
    }

    /// Appends the `count` bytes at `source` as `append(_:)` would one by
    /// one (the same bytes, the same cut at 253), eight at a time: the
    /// parsers' per-byte appends were most of their instructions. `readable`
    /// is how many bytes from `source` may be read (the caller's bound, at
    /// least `count`): when a whole word is readable the last few bytes are
    /// loaded as one too. The note's bytes past the new length are left as
    /// they were (a partial word is merged, not stored over them).
    @inline(__always)
    mutating func append(_ source: UnsafeRawPointer, count: Int, readable: Int) {
        let at = Int(length)
        // `readable` bounds every load even if a caller passed a longer count.
        let n = min(count, readable, Self.maxLength - at)
        guard n > 0 else { return }
        withUnsafeMutableBytes(of: &bytes) { buffer in
            guard let out = buffer.baseAddress else { return }
            var k = 0
            // at + n <= 253, so every whole word stored here is inside the 256 bytes.
            while k + 8 <= n {
                let word = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: k, as: UInt64.self))
                out.storeBytes(of: Self.safeWord(word).littleEndian, toByteOffset: at + k, as: UInt64.self)
                k += 8
            }
            let rest = n - k
            if rest > 0 {
                if at + k + 8 <= buffer.count && (k + 8 <= readable || k >= 8) {
                    // The last 1-7 bytes: a word read and made safe, merged into the word there.
                    // The word from `k` if readable, else the one ending at `n`
                    // (the run is 8 bytes or more), its last `rest` bytes brought down.
                    let keep: UInt64 = (1 << UInt64(8 * rest)) &- 1
                    let word = k + 8 <= readable
                        ? UInt64(littleEndian: source.loadUnaligned(fromByteOffset: k, as: UInt64.self))
                        : UInt64(littleEndian: source.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)) >> UInt64(8 * (8 - rest))
                    let there = UInt64(littleEndian: out.loadUnaligned(fromByteOffset: at + k, as: UInt64.self))
                    out.storeBytes(of: (Self.safeWord(word) & keep | there & ~keep).littleEndian,
                                   toByteOffset: at + k, as: UInt64.self)
                } else {
                    // Near the end of the source or of the note: byte by byte.
                    for i in k..<n {
                        let b = UInt8(truncatingIfNeeded: Self.safeWord(UInt64(source.load(fromByteOffset: i, as: UInt8.self))))
                        out.storeBytes(of: b, toByteOffset: at + i, as: UInt8.self)
                    }
                }
            }
            // The formula rule, on the made-safe first byte (as `append(_:)` tests it).
            if at == 0 {
                let b = out.load(as: UInt8.self)
                if b == 0x3D || b == 0x2B || b == 0x2D || b == 0x40 { out.storeBytes(of: 0x5F, as: UInt8.self) }
            }
        }
        length = UInt8(truncatingIfNeeded: at + n)
    }

    /// Makes byte `offset` of the name a dot, if the name (cut at 253) reaches it.
    @inline(__always)
    mutating func putDot(at offset: Int) {
        guard offset >= 0 && offset < Int(length) else { return }
        withUnsafeMutableBytes(of: &bytes) { $0[offset] = 0x2E }
    }

    /// Eight bytes (byte k in bits 8k..<8k+8) made safe as `append(_:)`
    /// makes each, bar the first-character rule: A-Z lower-cased; below
    /// 0x20, 0x7F and above as `?`. Every per-byte sum below is at most
    /// 0x7F + 0x60 < 0x100 (the top bits are masked off first), so no carry
    /// crosses into the next byte; each test leaves its answer in a byte's top bit.
    @inline(__always)
    static func safeWord(_ w: UInt64) -> UInt64 {
        let top: UInt64 = 0x8080_8080_8080_8080
        let low = w & ~top
        let atLeastA = (low &+ 0x3F3F_3F3F_3F3F_3F3F) & top        // low >= 0x41
        let pastZ = (low &+ 0x2525_2525_2525_2525) & top           // low >= 0x5B
        let atLeastSpace = (low &+ 0x6060_6060_6060_6060) & top    // low >= 0x20
        let del = (low &+ 0x0101_0101_0101_0101) & top             // low == 0x7F
        // Non-ASCII (top bit set), control or DEL; such a byte is replaced
        // whole, so `upper` need not exclude the non-ASCII ones.
        let bad = (w & top) | (atLeastSpace ^ top) | del
        let upper = atLeastA & ~pastZ
        let badBytes = (bad >> 7) &* 0xFF                          // 0x01 -> 0xFF per byte, no carries
        return (w | upper >> 2) & ~badBytes | 0x3F3F_3F3F_3F3F_3F3F & badBytes
    }
}

/// Bounded parsers for the names a capture gives its servers. Each takes
/// the captured payload bytes and never reads outside them; work is
/// bounded by the payload's size (and, for DNS, by fixed caps).
public enum ServerNameParser {
    /// Finds a name in a payload if its first bytes say it may hold one:
    /// a TLS ClientHello, an HTTP request, or a DNS response (UDP or TCP
    /// from port 53). Returns false when there is none: the note is then
    /// not to be read (a DNS response is parsed into it in place, so one
    /// without addresses leaves a name there). The tests on the first bytes are a few compares, so this is cheap
    /// on every other packet.
    @inline(__always)
    public static func find(_ payload: UnsafeRawBufferPointer, tcp: Bool, sourcePort: UInt16,
                            into note: inout NameNote) -> Bool {
        guard payload.count >= 6 else { return false }
        let first = payload[0]
        if tcp {
            if first == 0x16 { return tlsServerName(payload, into: &note) }
            if first >= 0x41 && first <= 0x5A { return httpHost(payload, into: &note) }
            if sourcePort == 53 {
                let n = Int(payload[0]) << 8 | Int(payload[1])
                return dnsAnswer(UnsafeRawBufferPointer(rebasing: payload[2..<min(payload.count, 2 + n)]), into: &note)
            }
            return false
        }
        if sourcePort == 53 { return dnsAnswer(payload, into: &note) }
        return false
    }

    // MARK: TLS

    /// The SNI host_name of a ClientHello (RFC 8446 §4.1.2, RFC 6066 §3),
    /// TLS 1.0-1.3. The handshake may span several records of the segment;
    /// a name beyond the captured bytes is not found here (one beyond the
    /// segment is, by a `ClientHelloScanner` fed the next ones: `PacketIntake`).
    public static func tlsServerName(_ p: UnsafeRawBufferPointer, into note: inout NameNote) -> Bool {
        // Most handshake records are not a ClientHello (type 1): the
        // server's hello, certificates and the like end here.
        guard p.count > 5, p[5] == 1 else { return false }
        // Nearly always the ClientHello is the segment's only handshake
        // record: its handshake bytes are then one run (the record's
        // captured fragment), read directly. Exactly when the gathering
        // below would find one piece: the record is cut by the capture, or
        // what follows it is not a whole handshake record header.
        if p[0] == 0x16 && p[1] == 3 {
            let length = Int(p[3]) << 8 | Int(p[4])
            let next = 5 + length
            if next + 5 > p.count || p[next] != 0x16 || p[next + 1] != 3 {
                return helloServerName(UnsafeRawBufferPointer(rebasing: p[5..<min(next, p.count)]), into: &note)
            }
        }
        // Gather the handshake bytes of up to 8 consecutive handshake records
        // (the offsets of their fragments), without copying them.
        var starts: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
        var counts: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
        var pieces = 0, total = 0, at = 0
        while pieces < 8, at + 5 <= p.count, p[at] == 0x16, p[at + 1] == 3 {
            let length = Int(p[at + 3]) << 8 | Int(p[at + 4])
            let start = at + 5
            let available = max(0, min(length, p.count - start))
            withUnsafeMutableBytes(of: &starts) { $0.storeBytes(of: start, toByteOffset: pieces * 8, as: Int.self) }
            withUnsafeMutableBytes(of: &counts) { $0.storeBytes(of: available, toByteOffset: pieces * 8, as: Int.self) }
            pieces += 1
            total += available
            if available < length { break }
            at = start + length
        }
        guard pieces > 0 else { return false }
        let s = starts, c = counts
        let firstStart = starts.0, firstCount = counts.0
        // The logical handshake byte i, or nil past what was captured.
        func byte(_ i: Int) -> UInt8? {
            guard i >= 0, i < total else { return nil }
            // Most ClientHellos fit their first record: read it directly.
            if i < firstCount { return p[firstStart + i] }
            var i = i
            return withUnsafeBytes(of: s) { sb in
                withUnsafeBytes(of: c) { cb in
                    for k in 0..<pieces {
                        let n = cb.load(fromByteOffset: k * 8, as: Int.self)
                        if i < n { return p[sb.load(fromByteOffset: k * 8, as: Int.self) + i] }
                        i -= n
                    }
                    return nil
                }
            }
        }
        func u16(_ i: Int) -> Int? {
            guard let a = byte(i), let b = byte(i + 1) else { return nil }
            return Int(a) << 8 | Int(b)
        }
        guard byte(0) == 1, let l0 = byte(1), let l1 = byte(2), let l2 = byte(3) else { return false }
        let end = 4 + (Int(l0) << 16 | Int(l1) << 8 | Int(l2))   // the message's end, as it says
        var i = 4 + 2 + 32                                        // version, random
        guard let sessionLength = byte(i) else { return false }
        i += 1 + Int(sessionLength)
        guard let suites = u16(i) else { return false }
        i += 2 + suites
        guard let compressions = byte(i) else { return false }
        i += 1 + Int(compressions)
        guard let extensionsLength = u16(i) else { return false }
        i += 2
        let extensionsEnd = min(end, i + extensionsLength)
        // Each extension moves `i` forward by at least 4: bounded by the length.
        while i + 4 <= extensionsEnd {
            guard let type = u16(i), let length = u16(i + 2) else { return false }
            i += 4
            guard i + length <= extensionsEnd else { return false }
            if type == 0 {
                // server_name_list: (name_type, length, name)…; host_name is type 0.
                guard let listLength = u16(i) else { return false }
                var j = i + 2
                let listEnd = min(i + length, j + listLength)
                while j + 3 <= listEnd {
                    guard let nameType = byte(j), let nameLength = u16(j + 1) else { return false }
                    j += 3
                    guard j + nameLength <= listEnd else { return false }
                    // The whole name must have been captured: a cut one is not its name.
                    if nameType == 0 && nameLength > 0 && byte(j + nameLength - 1) != nil {
                        note = NameNote()
                        for k in 0..<min(nameLength, NameNote.maxLength) {
                            guard let b = byte(j + k) else { break }
                            note.append(b)
                        }
                        guard note.length > 0 else { return false }
                        note.source = .sni
                        return true
                    }
                    j += nameLength
                }
                return false
            }
            i += length
        }
        return false
    }

    /// The SNI of a ClientHello whose handshake bytes are the one run `h`:
    /// the walk of `tlsServerName`, field for field, where "byte i, or nil
    /// past what was captured" is a bound check against `h.count` and a
    /// direct load (every read below is guarded by the check before it).
    static func helloServerName(_ h: UnsafeRawBufferPointer, into note: inout NameNote) -> Bool {
        let n = h.count
        // Big-endian 16 bits at `i`; the caller has checked i + 2 <= n.
        @inline(__always) func u16(_ i: Int) -> Int { Int(h[i]) << 8 | Int(h[i + 1]) }
        guard n >= 4, h[0] == 1 else { return false }
        let end = 4 + (Int(h[1]) << 16 | Int(h[2]) << 8 | Int(h[3]))   // the message's end, as it says
        var i = 4 + 2 + 32                                                // version, random
        guard i < n else { return false }
        i += 1 + Int(h[i])                                                // session id
        guard i + 2 <= n else { return false }
        i += 2 + u16(i)                                                   // cipher suites
        guard i < n else { return false }
        i += 1 + Int(h[i])                                                // compression methods
        guard i + 2 <= n else { return false }
        let extensionsLength = u16(i)
        i += 2
        let extensionsEnd = min(end, i + extensionsLength)
        // Each extension moves `i` forward by at least 4: bounded by the length.
        while i + 4 <= extensionsEnd {
            guard i + 4 <= n else { return false }
            let type = u16(i), length = u16(i + 2)
            i += 4
            guard i + length <= extensionsEnd else { return false }
            if type == 0 {
                // server_name_list: (name_type, length, name)…; host_name is type 0.
                guard i + 2 <= n else { return false }
                let listLength = u16(i)
                var j = i + 2
                let listEnd = min(i + length, j + listLength)
                while j + 3 <= listEnd {
                    guard j + 3 <= n else { return false }
                    let nameType = h[j], nameLength = u16(j + 1)
                    j += 3
                    guard j + nameLength <= listEnd else { return false }
                    // The whole name must have been captured: a cut one is not its name.
                    if nameType == 0 && nameLength > 0 && j + nameLength <= n, let base = h.baseAddress {
                        note = NameNote()
                        note.append(base + j, count: min(nameLength, NameNote.maxLength), readable: n - j)
                        guard note.length > 0 else { return false }
                        note.source = .sni
                        return true
                    }
                    j += nameLength
                }
                return false
            }
            i += length
        }
        return false
    }

    // MARK: HTTP

    /// How far into a request the Host header is looked for.
    public static let httpHeaderLimit = 8192

    /// The Host header of an HTTP/1.x request that starts in this payload
    /// (RFC 9112 §3.2), as sent (a port included); only the captured bytes
    /// of the header block, up to `httpHeaderLimit`, are read.
    public static func httpHost(_ p: UnsafeRawBufferPointer, into note: inout NameNote) -> Bool {
        guard p.count >= 4, let base = p.baseAddress, isRequest(p, base) else { return false }
        let limit = min(p.count, httpHeaderLimit)
        // Line by line; a header line starts after a line feed.
        var i = 0
        while i < limit {
            i = firstOf(0x0A, 0x0A, base, from: i, to: limit)
            i += 1
            guard i < limit else { return false }
            if p[i] == 0x0D || p[i] == 0x0A { return false }   // end of the headers
            // "host:", the name in any case (| 0x20 on each of its letters).
            guard i + 5 <= limit,
                  UInt32(bigEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self)) | 0x2020_2020 == 0x686F_7374,
                  p[i + 4] == 0x3A else { continue }
            var j = i + 5
            while j < limit && (p[j] == 0x20 || p[j] == 0x09) { j += 1 }
            // The value: up to its line's end, the limit, or 253 bytes.
            let start = j, stop = min(limit, start + NameNote.maxLength)
            j = firstOf(0x0D, 0x0A, base, from: start, to: stop)
            // A value cut by the capture (no line end) is not the name, unless
            // it is past 253 bytes anyway; an empty one is none. (Its first
            // byte is not a blank, so trimming below leaves at least one.)
            guard j < limit || j - start >= NameNote.maxLength, j > start else { return false }
            note = NameNote()
            note.append(base + start, count: j - start, readable: limit - start)
            // Trailing blanks are not part of the value (they stay in the
            // bytes past the length, as they always have). Read in place:
            // `withUnsafeBytes(of: note.bytes)` copied all 256 bytes.
            var kept = Int(note.length)
            withUnsafeBytes(of: &note.bytes) { bytes in
                while kept > 0 && (bytes[kept - 1] == 0x20 || bytes[kept - 1] == 0x09) { kept -= 1 }
            }
            note.length = UInt8(truncatingIfNeeded: kept)
            guard note.length > 0 else { return false }
            note.source = .httpHost
            return true
        }
        return false
    }

    /// Where the first byte equal to `a` or `b` is in `base[from..<to]`
    /// (`to` if none), eight bytes at a time: in each word, a byte equal to
    /// `a` is a zero byte of `word ^ a…a`, and the lowest flag of the
    /// zero-byte test below is exact (flags above it can be borrows: unused).
    @inline(__always)
    static func firstOf(_ a: UInt8, _ b: UInt8, _ base: UnsafeRawPointer, from: Int, to: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let top = ones << 7
        let wordA = ones &* UInt64(a), wordB = ones &* UInt64(b)
        var i = from
        while i + 8 <= to {
            let w = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let xa = w ^ wordA, xb = w ^ wordB
            let found = ((xa &- ones) & ~xa | (xb &- ones) & ~xb) & top
            if found != 0 { return i + found.trailingZeroBitCount >> 3 }
            i += 8
        }
        while i < to {
            let c = base.load(fromByteOffset: i, as: UInt8.self)
            if c == a || c == b { return i }
            i += 1
        }
        return i
    }

    /// Whether `p` (at least 4 bytes, at `base`) starts with a request
    /// method and a space: GET, POST, HEAD, PUT, DELETE, OPTIONS, PATCH,
    /// CONNECT or TRACE. The first four bytes as one word tell which method
    /// it can be (responses, "HTTP/…", and other text fail there); the rest
    /// of a longer one is then compared, if the payload holds it.
    @inline(__always)
    static func isRequest(_ p: UnsafeRawBufferPointer, _ base: UnsafeRawPointer) -> Bool {
        // The bytes from 4 on, as sent, if the payload holds all `count` of them.
        func rest(_ tail: UInt32, count: Int) -> Bool {
            guard p.count >= 4 + count else { return false }
            var word: UInt32 = 0
            for k in 0..<count { word = word << 8 | UInt32(p[4 + k]) }
            return word == tail
        }
        switch UInt32(bigEndian: base.loadUnaligned(as: UInt32.self)) {
        case 0x4745_5420, 0x5055_5420: return true                  // "GET ", "PUT "
        case 0x504F_5354, 0x4845_4144: return rest(0x20, count: 1)  // "POST", "HEAD" + " "
        case 0x4445_4C45: return rest(0x54_4520, count: 3)          // "DELE" + "TE "
        case 0x4F50_5449: return rest(0x4F4E_5320, count: 4)        // "OPTI" + "ONS "
        case 0x5041_5443: return rest(0x4820, count: 2)             // "PATC" + "H "
        case 0x434F_4E4E: return rest(0x4543_5420, count: 4)        // "CONN" + "ECT "
        case 0x5452_4143: return rest(0x4520, count: 2)             // "TRAC" + "E "
        default: return false
        }
    }

    // MARK: DNS

    /// Answer records examined per response, and compression pointers
    /// followed per name: caps on the work one packet can ask for.
    public static let maxAnswers = 64
    static let maxJumps = 16

    /// A DNS response (RFC 1035 §4.1): the first question's name and the
    /// A/AAAA addresses in the answer section (CNAME chains included: every
    /// address in the answer to a question is where its name leads).
    public static func dnsAnswer(_ p: UnsafeRawBufferPointer, into note: inout NameNote) -> Bool {
        guard p.count >= 12, p[2] & 0x80 != 0, p[2] & 0x78 == 0 else { return false }   // a response to a query
        let questions = Int(p[4]) << 8 | Int(p[5])
        let answers = Int(p[6]) << 8 | Int(p[7])
        guard questions >= 1, answers >= 1 else { return false }
        // Read into the caller's note in place (no 400-byte copy at the end):
        // on false it holds a part of an answer, and callers read a note only on true.
        note = NameNote()
        guard var i = readName(p, at: 12, into: &note), note.length > 0 else { return false }
        i += 4                                        // type, class
        // Further questions (rare): skipped.
        for _ in 1..<min(questions, 8) {
            guard let next = skipName(p, at: i) else { return false }
            i = next + 4
        }
        for _ in 0..<min(answers, maxAnswers) {
            guard let next = skipName(p, at: i), next + 10 <= p.count else { break }
            let type = Int(p[next]) << 8 | Int(p[next + 1])
            let klass = Int(p[next + 2]) << 8 | Int(p[next + 3])
            let length = Int(p[next + 8]) << 8 | Int(p[next + 9])
            let data = next + 10
            guard data + length <= p.count else { break }
            if klass == 1 && type == 1 && length == 4 {
                note.addAddress(IPAddress(ipv4: UInt32(p[data]) << 24 | UInt32(p[data + 1]) << 16
                                           | UInt32(p[data + 2]) << 8 | UInt32(p[data + 3])))
            } else if klass == 1 && type == 28 && length == 16 {
                var high: UInt64 = 0, low: UInt64 = 0
                for k in 0..<8 { high = high << 8 | UInt64(p[data + k]) }
                for k in 8..<16 { low = low << 8 | UInt64(p[data + k]) }
                note.addAddress(IPAddress(high: high, low: low))
            }
            i = data + length
        }
        guard note.addressCount > 0 else { return false }
        note.source = .dns
        return true
    }

    /// Reads a (possibly compressed) name at `at` into `note`; returns where
    /// the name ends in the message (after its first pointer, if any), or
    /// nil for a name that runs out of the message, loops or uses reserved
    /// label types. A pointer must point backwards, and at most `maxJumps`
    /// are followed.
    static func readName(_ p: UnsafeRawBufferPointer, at start: Int, into note: inout NameNote) -> Int? {
        var i = start, end: Int? = nil, jumps = 0, limit = start
        while true {
            guard i < p.count else { return nil }
            let length = Int(p[i])
            if length == 0 { return end ?? i + 1 }
            switch length & 0xC0 {
            case 0xC0:
                guard i + 1 < p.count, jumps < maxJumps else { return nil }
                let target = (length & 0x3F) << 8 | Int(p[i + 1])
                guard target < limit else { return nil }       // backwards only: no loops
                if end == nil { end = i + 2 }
                jumps += 1
                limit = target
                i = target
            case 0:
                // Labels with no pointer between them lie in the message as
                // one run ("3www7example3com"): each is checked to be there,
                // the run appended at once, and the length bytes inside it
                // (where the name has its dots) made dots. The same bytes as
                // label, dot, label… one by one, cut at 253 the same way.
                var j = i
                while j < p.count {
                    let l = Int(p[j])
                    guard l != 0 && l & 0xC0 == 0 else { break }
                    guard j + 1 + l <= p.count else { return nil }
                    j += 1 + l
                }
                // (A label is in a non-empty message, so its base address is there.)
                guard let base = p.baseAddress else { return nil }
                if note.length > 0 { note.append(0x2E) }
                let at = Int(note.length)
                note.append(base + i + 1, count: j - i - 1, readable: p.count - i - 1)
                var k = i + 1 + length
                while k < j {
                    note.putDot(at: at + k - (i + 1))
                    k += 1 + Int(p[k])
                }
                i = j
            default:
                return nil
            }
        }
    }

    /// Where the name at `at` ends, without reading it.
    static func skipName(_ p: UnsafeRawBufferPointer, at start: Int) -> Int? {
        var i = start
        while true {
            guard i < p.count else { return nil }
            let length = Int(p[i])
            if length == 0 { return i + 1 }
            if length & 0xC0 == 0xC0 { return i + 2 <= p.count ? i + 2 : nil }
            guard length & 0xC0 == 0 else { return nil }
            i += 1 + length
        }
    }
}

/// The names table's index: a name's hash to its serial, by open
/// addressing over one array, each entry holding the hash, the serial, the
/// length and a short name's first 32 bytes. A lookup reads one entry: the
/// FastMap it replaces read its slot word, its key array and then the held
/// name (three cache misses a name on the 1M bench capture, where `intern`
/// had 90% of its own perf samples on the held name's length and the map
/// 88% on its two loads). At most half full; one entry per hash (a second
/// name with the same keyed 64-bit hash takes the entry over, as the map's
/// key did), and names are always compared, so a collision costs only a
/// second copy of a name.
final class NameIndex {
    struct Entry {
        var hash: UInt64 = 0
        /// 0: empty (serials start at 1).
        var serial: UInt32 = 0
        var length: UInt32 = 0
        /// The name's first 32 bytes, zero past its length (names longer
        /// than that are compared with the table's copy).
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    }
    static let inlineBytes = 32
    private let entries: UnsafeMutablePointer<Entry>
    private let mask: Int
    private(set) var count = 0

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        mask = size - 1
        assert(_isPOD(Entry.self), "entries are zeroed and freed without deinitializing them")
        // Zero pages: touched only where names land.
        guard let bytes = calloc(size, MemoryLayout<Entry>.stride) else { fatalError("out of memory") }
        entries = bytes.bindMemory(to: Entry.self, capacity: size)
    }

    deinit { free(entries) }

    /// A name's first 32 bytes as words (the bytes past its length are zero).
    @inline(__always)
    static func words(_ bytes: UnsafeRawPointer) -> (UInt64, UInt64, UInt64, UInt64) {
        (bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
         bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    /// The entry of `hash`, if any.
    @inline(__always)
    func find(_ hash: UInt64) -> UnsafeMutablePointer<Entry>? {
        var at = Int(truncatingIfNeeded: hash) & mask
        // At most half full: an empty entry ends every probe.
        while entries[at].serial != 0 {
            if entries[at].hash == hash { return entries + at }
            at = (at + 1) & mask
        }
        return nil
    }

    /// Makes `hash` name `serial` (a new entry, or the one `hash` had).
    func set(hash: UInt64, serial: UInt32, length: Int, words: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(serial != 0, "serial 0 marks an empty entry")
        var at = Int(truncatingIfNeeded: hash) & mask
        while entries[at].serial != 0 && entries[at].hash != hash { at = (at + 1) & mask }
        if entries[at].serial == 0 {
            precondition(count * 2 < mask + 1, "the names index is kept at most half full")
            count += 1
        }
        entries[at] = Entry(hash: hash, serial: serial, length: UInt32(length), words: words)
    }

    /// Forgets every name (the generation that is dropped).
    func removeAll() {
        guard count > 0 else { return }
        (UnsafeMutableRawPointer(entries)).initializeMemory(as: UInt8.self, repeating: 0,
                                                            count: (mask + 1) * MemoryLayout<Entry>.stride)
        count = 0
    }
}

/// The names the tracker has learned: a ring of at most `capacity` names,
/// each under a serial number a flow keeps (oldest dropped: a flow whose
/// name was dropped before it ended loses it, and is counted), and the
/// addresses DNS answers named, each to the latest name that resolved to
/// it. Used by the tracker alone, in packet order, so every run sees the
/// same names; read by the report only once the tracker is done or through
/// the copy an ended flow carries.
public final class NameTable {
    public static let capacity = 16384
    /// Addresses remembered per generation (two generations: the older is
    /// dropped when the newer fills).
    public static let addressCapacity = 65536
    // Tracker-only, never re-entered: no dynamic exclusivity checks.
    /// The names, back to back in a ring of bytes, each in `ServerName`'s
    /// layout but only as long as its length says (a header word, then the
    /// bytes), never across the ring's end; name `serial` starts at
    /// `offsets[serial % capacity]` (a position that only grows; modulo
    /// `ringBytes` in the ring). Room for `capacity` names of the longest
    /// kind, so the last `capacity` names are always held, as a slot per
    /// name held them; but a name of a few dozen bytes touches a few dozen
    /// bytes, not 264 (1M bench capture: the slots' pages took about 1,000
    /// page faults on the tracker, at ~3.4 µs each).
    private let ring: UnsafeMutablePointer<UInt8>
    private let offsets: UnsafeMutablePointer<Int>
    static let ringBytes = capacity * MemoryLayout<ServerName>.stride + 4096
    @exclusivity(unchecked) private var nextByte = 0
    /// Serial of the next name (serials start at 1; 0 means none).
    @exclusivity(unchecked) private(set) var nextSerial: UInt32 = 1
    @exclusivity(unchecked) private var stored = 0
    /// Names by hash, two generations (the older is dropped when the newer
    /// holds `capacity` names).
    @exclusivity(unchecked) private var byHash = NameIndex(capacity: NameTable.capacity)
    @exclusivity(unchecked) private var byHashOld = NameIndex(capacity: NameTable.capacity)
    @exclusivity(unchecked) private var addresses = FastMap<IPAddress, UInt32>()
    @exclusivity(unchecked) private var addressesOld = FastMap<IPAddress, UInt32>()
    /// A filter of the addresses both generations hold: one bit per hashed
    /// address and generation, the two generations' bits in the same word
    /// (`addresses` in the half `newHalf` says, `addressesOld` in the other),
    /// so an address is asked about with one load. Every new flow asks for
    /// both its addresses and nearly every answer is no; the two maps
    /// answered with ~70 instructions (callgrind, 1M bench capture, whose
    /// DNS answers name none of its flows: 12.7M instructions in the maps'
    /// lookups, 3M in the filter's; cachegrind's model of a 512 KB L2 sees
    /// about as many misses in the filter as the maps had). 64 KB: at 65,536
    /// addresses a generation 22% of its bits are set, so an unknown address
    /// still goes to the maps that often; a crafted capture can fill the
    /// filter but not make a lookup cost more than it did without it.
    private let filter: UnsafeMutablePointer<UInt64>
    static let filterWords = 8192
    /// 0 or 32: the bit offset of `addresses`' half in each word.
    @exclusivity(unchecked) private var newHalf: UInt64 = 0
    /// Flows that ended after the table had dropped their name.
    @exclusivity(unchecked) public private(set) var dropped: UInt64 = 0
    /// 24 bits: the rest of the flow's `nameWord` holds its source and latency timing.
    static let serialMask: UInt32 = 0x00FF_FFFF
    let seed = HashSeed.run

    public init() {
        assert(_isPOD(ServerName.self), "slots are freed without deinitializing them")
        // Zero pages from calloc: a slot's bytes past its name's length are
        // never written (`intern` copies the name only), but they are zeros,
        // not uninitialized memory; untouched pages cost nothing.
        // A whole ServerName of slack past the end: a name read as one
        // (words past its length included) stays inside the block.
        guard let bytes = calloc(Self.ringBytes + MemoryLayout<ServerName>.stride, 1) else { fatalError("out of memory") }
        ring = bytes.bindMemory(to: UInt8.self, capacity: Self.ringBytes + MemoryLayout<ServerName>.stride)
        offsets = .allocate(capacity: Self.capacity)
        filter = .allocate(capacity: Self.filterWords)
        filter.initialize(repeating: 0, count: Self.filterWords)
    }

    deinit {
        free(ring)
        offsets.deallocate()
        filter.deallocate()
    }

    /// The filter word of `address` and its bit in the lower half.
    @inline(__always)
    private func filterBit(_ address: IPAddress) -> (word: Int, bit: UInt64) {
        let h = seed.hash(address.high, address.low)
        return (Int(truncatingIfNeeded: h >> 51), 1 &<< ((h >> 40) & 31))
    }

    public var isEmpty: Bool { nextSerial == 1 }
    public var hasAddresses: Bool { !addresses.isEmpty || !addressesOld.isEmpty }

    /// The name under `serial`, if still held (valid until the next `intern`).
    @inline(__always)
    public func name(_ serial: UInt32) -> UnsafePointer<ServerName>? {
        guard serial != 0 else { return nil }
        let age = (nextSerial &- serial) & Self.serialMask
        guard age >= 1, age <= UInt32(stored) else { return nil }
        let at = offsets[Int(serial) % Self.capacity]
        // Written over by later names (only if wrapping wasted more than the
        // ring's spare 4 KB): gone, as a name past `capacity` is.
        guard nextByte - at <= Self.ringBytes else { return nil }
        return UnsafeRawPointer(ring + at % Self.ringBytes).assumingMemoryBound(to: ServerName.self)
    }

    func countDropped() { dropped &+= 1 }

    /// The name's bytes past its length are zero (the parsers start from a
    /// fresh note), so whole words are hashed and compared.
    @inline(__always)
    private func hash(_ bytes: UnsafeRawPointer, _ length: Int) -> UInt64 {
        var h = seed.hash(UInt64(length))
        for w in 0..<((length + 7) / 8) { h = seed.hash(h, bytes.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self)) }
        return h
    }

    /// The serial of `note`'s name, stored now if it isn't held (or is old).
    func intern(_ note: UnsafePointer<NameNote>) -> UInt32 {
        let length = Int(note.pointee.length)
        let bytes = UnsafeRawPointer(note) + MemoryLayout<NameNote>.offset(of: \NameNote.bytes)!
        let h = hash(bytes, length)
        // A name of up to 32 bytes is compared with the copy its index entry
        // holds; a longer one with the table's own copy (another cache miss).
        let short = length <= NameIndex.inlineBytes
        let words = short ? NameIndex.words(bytes) : (0, 0, 0, 0)
        if let e = byHash.find(h) ?? byHashOld.find(h), Int(e.pointee.length) == length {
            let s = e.pointee.serial
            if (nextSerial &- s) & Self.serialMask <= UInt32(Self.capacity / 2), let held = name(s),
               short ? e.pointee.words == words
                     : memcmp(UnsafeRawPointer(held) + MemoryLayout<ServerName>.offset(of: \ServerName.bytes)!, bytes, length) == 0 {
                return s
            }
        }
        let serial = nextSerial
        nextSerial = (nextSerial &+ 1) & Self.serialMask
        if nextSerial == 0 { nextSerial = 1 }
        if stored < Self.capacity { stored += 1 }
        let header = MemoryLayout<ServerName>.offset(of: \ServerName.bytes)!
        let size = header + min(length, MemoryLayout<NameBytes>.size)
        var at = nextByte
        if at % Self.ringBytes + size > Self.ringBytes { at += Self.ringBytes - at % Self.ringBytes }
        nextByte = (at + size + 7) & ~7
        offsets[Int(serial) % Self.capacity] = at
        let slot = UnsafeMutableRawPointer(ring + at % Self.ringBytes)
        slot.storeBytes(of: UInt8(length), as: UInt8.self)
        // The name's bytes only: every reader stops at the length.
        (slot + header).copyMemory(from: bytes, byteCount: size - header)
        if byHash.count >= Self.capacity {
            let emptied = byHashOld
            emptied.removeAll()
            byHashOld = byHash
            byHash = emptied
        }
        byHash.set(hash: h, serial: serial, length: length, words: words)
        return serial
    }

    /// A DNS answer: its name, and each address it resolved to.
    func learnAnswer(_ note: UnsafePointer<NameNote>) {
        let serial = intern(note)
        for i in 0..<Int(note.pointee.addressCount) {
            let a = note.pointee.address(i)
            if addresses.count >= Self.addressCapacity && addresses.index(of: a) == nil {
                addressesOld = addresses
                addresses = FastMap()
                // The old generation's bits go with it; the new half starts empty.
                newHalf ^= 32
                let keep: UInt64 = newHalf == 0 ? 0xFFFF_FFFF_0000_0000 : 0x0000_0000_FFFF_FFFF
                for w in 0..<Self.filterWords { filter[w] &= keep }
            }
            let e = addresses.insert(a) { serial }.index
            addresses[entry: e] = serial
            let (word, bit) = filterBit(a)
            filter[word] |= bit &<< newHalf
        }
    }

    /// The latest name a DNS answer gave `address`, if still held.
    @inline(__always)
    func nameOf(_ address: IPAddress) -> UInt32? {
        let (word, bit) = filterBit(address)
        guard filter[word] & (bit | bit &<< 32) != 0 else { return nil }
        guard let s = addresses[address] ?? addressesOld[address], name(s) != nil else { return nil }
        return s
    }
}
