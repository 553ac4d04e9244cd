import XCTest
import PFlowCore
@testable import PFlowFlows

/// Byte-level fixtures for the server-name parsers, each cut at every
/// length: a cut payload gives the whole name or nothing, never a crash.
final class ServerNameTests: XCTestCase {
    func parse(_ bytes: [UInt8], tcp: Bool = true, sourcePort: UInt16 = 40000) -> NameNote? {
        var note = NameNote()
        let found = bytes.withUnsafeBytes { ServerNameParser.find($0, tcp: tcp, sourcePort: sourcePort, into: &note) }
        return found ? note : nil
    }

    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 255), UInt8(v & 255)] }

    /// A ClientHello handshake message with extensions (SNI after another one).
    static func clientHello(_ name: String) -> [UInt8] {
        let host = Array(name.utf8)
        let sni = be16(host.count + 3) + [0] + be16(host.count) + host
        let extensions = be16(0x000a) + be16(4) + [0, 2, 0, 0x1d]      // supported_groups
            + be16(0) + be16(sni.count) + sni
        var body: [UInt8] = [3, 3] + [UInt8](repeating: 7, count: 32) + [0] + be16(2) + [0x13, 0x01] + [1, 0]
        body += be16(extensions.count) + extensions
        return [1, 0] + be16(body.count) + body
    }

    static func records(_ handshake: [UInt8], split: Int? = nil) -> [UInt8] {
        guard let split else { return [0x16, 3, 1] + be16(handshake.count) + handshake }
        let a = Array(handshake[..<split]), b = Array(handshake[split...])
        return [0x16, 3, 1] + be16(a.count) + a + [0x16, 3, 3] + be16(b.count) + b
    }

    func testTLSServerName() {
        let hello = Self.clientHello("WWW.Example.com")
        XCTAssertEqual(parse(Self.records(hello))?.name, "www.example.com")
        XCTAssertEqual(parse(Self.records(hello))?.source, .sni)
        // Fragmented over two records, at every split point.
        for split in 1..<hello.count { XCTAssertEqual(parse(Self.records(hello, split: split))?.name, "www.example.com") }
        // Every prefix: the whole name or nothing.
        let full = Self.records(hello, split: 20)
        for n in 0...full.count {
            let got = parse(Array(full[..<n]))?.name
            XCTAssertTrue(got == nil || got == "www.example.com", "cut at \(n): \(got ?? "")")
        }
        // Lengths beyond the record or the handshake: nothing, no crash.
        var bad = Self.records(hello)
        bad[bad.count - 17] = 0xFF   // the SNI list length
        _ = parse(bad)
        var huge = Self.records(hello)
        huge[6] = 0xFF; huge[7] = 0xFF; huge[8] = 0xFF
        _ = parse(huge)
        // Control characters and formula starts are made safe; 253 bytes at most.
        XCTAssertEqual(parse(Self.records(Self.clientHello("=a\u{1}b")))?.name, "_a?b")
        XCTAssertEqual(parse(Self.records(Self.clientHello(String(repeating: "x", count: 300))))?.name.utf8.count, 253)
    }

    func testHTTPHost() {
        let request = Array("GET / HTTP/1.1\r\nUser-Agent: t\r\nhOsT:  Example.org:8080 \r\n\r\n".utf8)
        XCTAssertEqual(parse(request)?.name, "example.org:8080")
        XCTAssertEqual(parse(request)?.source, .httpHost)
        for n in 0...request.count {
            let got = parse(Array(request[..<n]))?.name
            XCTAssertTrue(got == nil || got == "example.org:8080", "cut at \(n): \(got ?? "")")
        }
        XCTAssertNil(parse(Array("GET / HTTP/1.1\r\nAccept: */*\r\n\r\nHost: late\r\n".utf8)))
        XCTAssertNil(parse(Array("HTTP/1.1 200 OK\r\nHost: x\r\n\r\n".utf8)))
        let long = Array(("POST / HTTP/1.1\r\nHost: " + String(repeating: "h", count: 100_000) + "\r\n\r\n").utf8)
        XCTAssertEqual(parse(long)?.name.utf8.count, 253)
    }

    /// A DNS response: question `name`, then a CNAME (compressed) and the addresses.
    static func dnsResponse(_ name: String, answers: Int = 2, extra: [UInt8] = []) -> [UInt8] {
        var m: [UInt8] = [0x12, 0x34, 0x81, 0x80] + be16(1) + be16(answers + 1) + be16(0) + be16(0)
        for label in name.split(separator: ".") { m += [UInt8(label.utf8.count)] + Array(label.utf8) }
        m += [0] + be16(1) + be16(1)
        // CNAME: owner = pointer to the question (offset 12), target "cdn" + pointer.
        m += [0xC0, 12] + be16(5) + be16(1) + [0, 0, 0, 60] + be16(6) + [3] + Array("cdn".utf8) + [0xC0, 12]
        for i in 0..<answers {
            m += [0xC0, 12] + be16(1) + be16(1) + [0, 0, 0, 60] + be16(4) + [192, 0, 2, UInt8(1 + i % 250)]
        }
        return m + extra
    }

    func testDNSAnswers() {
        let m = Self.dnsResponse("api.example.net")
        let note = parse(m, tcp: false, sourcePort: 53)
        XCTAssertEqual(note?.name, "api.example.net")
        XCTAssertEqual(note?.source, .dns)
        XCTAssertEqual(note?.addressCount, 2)
        XCTAssertEqual(note?.address(1), IPAddress(ipv4: 0xC000_0202))
        // Over TCP: a two-byte length first.
        XCTAssertEqual(parse(Self.be16(m.count) + m, tcp: true, sourcePort: 53)?.addressCount, 2)
        // A query (QR clear), or from another port: nothing.
        var query = m; query[2] = 0x01
        XCTAssertNil(parse(query, tcp: false, sourcePort: 53))
        XCTAssertNil(parse(m, tcp: false, sourcePort: 5300))
        for n in 0...m.count {
            let got = parse(Array(m[..<n]), tcp: false, sourcePort: 53)
            XCTAssertTrue(got == nil || got?.name == "api.example.net", "cut at \(n)")
        }
        // Thousands of answers: at most 64 read, 8 kept.
        let many = Self.dnsResponse("many.example", answers: 3000)
        XCTAssertEqual(parse(many, tcp: false, sourcePort: 53)?.addressCount, UInt8(NameNote.maxAddresses))
    }

    func testDNSCompressionLoopsAndOutOfBounds() {
        // The question's name is a pointer to itself, to later bytes, past the end.
        for pointer: [UInt8] in [[0xC0, 12], [0xC0, 14], [0xC0, 0xFF], [0xFF, 0xFF], [0x40, 1]] {
            let m: [UInt8] = [0, 1, 0x81, 0x80] + Self.be16(1) + Self.be16(1) + [0, 0, 0, 0] + pointer + [0, 1, 0, 1]
                + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]
            XCTAssertNil(parse(m, tcp: false, sourcePort: 53))
        }
        // Chains of backward pointers: 3 jumps are read, more than 16 refused.
        for (jumps, ok) in [(3, true), (20, false)] {
            var m: [UInt8] = [1, 0x61, 0]
            var previous = 0
            for _ in 0..<jumps { let here = m.count; m += [0xC0, UInt8(previous)]; previous = here }
            var note = NameNote()
            let end = m.withUnsafeBytes { ServerNameParser.readName($0, at: previous, into: &note) }
            XCTAssertEqual(end != nil, ok)
            if ok { XCTAssertEqual(note.name, "a") }
        }
        var empty = NameNote()
        XCTAssertNil(ServerNameParser.readName(UnsafeRawBufferPointer(start: nil, count: 0), at: 0, into: &empty))
    }

    func testNameTableKeepsTheLastNames() {
        let table = NameTable()
        var first = NameNote(); for b in "first".utf8 { first.append(b) }
        let s = table.intern(&first)
        XCTAssertEqual(table.intern(&first), s, "the same name keeps its serial")
        XCTAssertEqual(table.name(s)?.pointee.text, "first")
        for i in 0..<NameTable.capacity {
            var n = NameNote(); for b in "n\(i)".utf8 { n.append(b) }
            _ = table.intern(&n)
        }
        XCTAssertNil(table.name(s), "dropped once capacity newer names came")
    }

    /// The names lie back to back in a ring of bytes: with names of every
    /// length up to 253 bytes (many of the longest), written round the ring
    /// several times, each of the last `capacity` names is still held whole
    /// and the one before them is not.
    func testNameTableRingHoldsTheLastNamesWhole() {
        let table = NameTable()
        func text(_ i: Int) -> String {
            let length = i % 3 == 0 ? NameNote.maxLength : 1 + (i &* 31) % NameNote.maxLength
            let stem = "n\(i)."
            return stem + String(repeating: Character(UnicodeScalar(UInt8(97 + i % 26))), count: max(0, length - stem.utf8.count))
        }
        let total = 3 * NameTable.capacity + 123
        var serials: [UInt32] = []
        for i in 0..<total {
            var n = NameNote(); for b in text(i).utf8 { n.append(b) }
            serials.append(table.intern(&n))
        }
        XCTAssertNil(table.name(serials[total - NameTable.capacity - 1]), "dropped once capacity newer names came")
        for i in (total - NameTable.capacity)..<total {
            guard let held = table.name(serials[i]) else { XCTFail("name \(i) lost"); break }
            guard held.pointee.text == text(i) else { XCTFail("name \(i): \(held.pointee.text.prefix(20))"); break }
        }
    }

    /// Interning through the index that holds short names itself: names of
    /// up to 32 bytes and longer ones keep their serial while held, names
    /// that differ only past byte 32 or in length stay apart, and a name
    /// comes back under its serial across a generation flip of the index
    /// (every `capacity` new names) until the table drops it.
    func testNameTableInternShortAndLongNames() {
        let table = NameTable()
        func note(_ text: String) -> NameNote { var n = NameNote(); for b in text.utf8 { n.append(b) }; return n }
        let short = "svc1.example.com"                                   // 16 bytes: inline in the index
        let exact = String(repeating: "a", count: 32)                    // exactly 32: inline
        let long1 = String(repeating: "b", count: 40) + ".example.com"   // 52 bytes: the table's copy
        let long2 = String(repeating: "b", count: 40) + ".example.net"   // differs past byte 32 only
        var serials: [String: UInt32] = [:]
        for name in [short, exact, long1, long2, exact + "a", String(exact.dropLast())] {
            var n = note(name)
            let s = table.intern(&n)
            XCTAssertNil(serials.values.first { $0 == s }, "\(name): a serial of its own")
            serials[name] = s
        }
        for (name, s) in serials {
            var n = note(name)
            XCTAssertEqual(table.intern(&n), s, "\(name) keeps its serial")
            XCTAssertEqual(table.name(s)?.pointee.text, name)
        }
        // Past a generation flip: half the capacity of new names, then the
        // short one again (its serial is then too old to reuse, so it is
        // stored anew), then enough for the index to flip.
        var fresh = note(short)
        let before = table.intern(&fresh)
        for i in 0..<(NameTable.capacity / 2 + 1) { var n = note("x\(i).test"); _ = table.intern(&n) }
        var again = note(short)
        let renewed = table.intern(&again)
        XCTAssertNotEqual(renewed, before, "an old serial is not handed out again")
        XCTAssertEqual(table.name(renewed)?.pointee.text, short)
        for i in 0..<(NameTable.capacity / 2) { var n = note("y\(i).test"); _ = table.intern(&n) }
        var third = note(short)
        XCTAssertEqual(table.name(table.intern(&third))?.pointee.text, short)
    }

    /// The index alone: one entry per hash (a second name under the same
    /// hash takes it over), probes past other hashes, emptied whole.
    func testNameIndexEntries() {
        let index = NameIndex(capacity: 64)
        let w1: (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4), w2: (UInt64, UInt64, UInt64, UInt64) = (5, 6, 7, 8)
        // Hashes that share their home entry (the low bits), so they probe.
        index.set(hash: 0x1_0000_0007, serial: 10, length: 5, words: w1)
        index.set(hash: 0x2_0000_0007, serial: 11, length: 6, words: w2)
        XCTAssertEqual(index.count, 2)
        XCTAssertEqual(index.find(0x1_0000_0007)?.pointee.serial, 10)
        XCTAssertEqual(index.find(0x2_0000_0007)?.pointee.serial, 11)
        XCTAssertEqual(index.find(0x2_0000_0007)?.pointee.length, 6)
        XCTAssertNil(index.find(0x3_0000_0007))
        index.set(hash: 0x1_0000_0007, serial: 12, length: 7, words: w2)
        XCTAssertEqual(index.count, 2, "the same hash takes its entry over")
        XCTAssertEqual(index.find(0x1_0000_0007)?.pointee.serial, 12)
        XCTAssertTrue(index.find(0x1_0000_0007)!.pointee.words == w2)
        index.removeAll()
        XCTAssertEqual(index.count, 0)
        XCTAssertNil(index.find(0x1_0000_0007))
        XCTAssertNil(index.find(0x2_0000_0007))
    }

    /// DNS answers' addresses through two generations and the filter in
    /// front of them: every address of the two newest generations is
    /// found, with the latest name that gave it; the generation before is
    /// gone; addresses never answered are not found (filter or no filter).
    func testNameTableAddressGenerations() {
        let table = NameTable()
        func answer(_ name: String, _ addresses: [IPAddress]) {
            var note = NameNote()
            note.source = .dns
            for b in name.utf8 { note.append(b) }
            for a in addresses { note.addAddress(a) }
            table.learnAnswer(&note)
        }
        func v4(_ i: Int) -> IPAddress { IPAddress(high: 0, low: 0xFFFF_0000_0000 | UInt64(i)) }
        let perAnswer = NameNote.maxAddresses
        let total = NameTable.addressCapacity * 3
        // Names repeat (one per 4,096 addresses) so the names table keeps them all.
        for start in stride(from: 0, to: total, by: perAnswer) {
            answer("n\(start / 4096)", (start..<start + perAnswer).map(v4))
        }
        let cap = NameTable.addressCapacity
        for i in stride(from: 0, to: total, by: 97) {
            let found = table.nameOf(v4(i)).flatMap { table.name($0)?.pointee.text }
            // Generations turn when the newer one is full: [0, cap) is the first,
            // dropped when the third began at 2 * cap.
            if i < cap {
                XCTAssertNil(found, "address \(i) of the dropped generation")
            } else {
                XCTAssertEqual(found, "n\(i / 4096)", "address \(i)")
            }
        }
        for i in 0..<20_000 { XCTAssertNil(table.nameOf(IPAddress(high: 1, low: UInt64(i))), "never answered") }
        answer("later", [v4(cap + 5)])
        XCTAssertEqual(table.nameOf(v4(cap + 5)).flatMap { table.name($0)?.pointee.text }, "later",
                       "the latest answer names the address")
    }
}

// MARK: The parsers against a reference copy

/// A seeded generator (SplitMix64), so every run tests the same inputs.
private struct Mix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ z >> 30) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ z >> 27) &* 0x94D0_49BB_1331_11EB
        return z ^ z >> 31
    }
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in byte() } }
    mutating func pick<T>(_ a: [T]) -> T { a[below(a.count)] }
}

/// Hostile payloads (generated ClientHellos, HTTP requests and DNS
/// responses, cut and corrupted) through the parsers and through the copy
/// below of the ones they replaced (byte-at-a-time reads and appends):
/// the same answers, the same notes, byte for byte.
final class ServerNameDifferentialTests: XCTestCase {
    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 255), UInt8(v & 255)] }

    static let plain = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:".utf8)
    static let special: [UInt8] = [0, 9, 0x0A, 0x0D, 0x1F, 0x20, 0x3D, 0x2B, 0x2D, 0x40, 0x41, 0x5A, 0x5B, 0x60,
                                   0x61, 0x7A, 0x7B, 0x7E, 0x7F, 0x80, 0xC1, 0xDA, 0xFA, 0xFF, 0x3F, 0x2E]

    /// A name: plain, mostly plain, odd bytes or any bytes; now and then
    /// longer than the 253 kept.
    fileprivate static func name(_ r: inout Mix, maxLength: Int = 40) -> [UInt8] {
        let n = r.chance(4) ? 240 + r.below(80) : r.below(maxLength + 1)
        let mode = r.below(5)
        var out: [UInt8] = []
        for _ in 0..<n {
            switch mode {
            case 0, 1: out.append(r.pick(plain))
            case 2: out.append(r.chance(85) ? r.pick(plain) : r.pick(special))
            case 3: out.append(r.pick(special))
            default: out.append(r.byte())
            }
        }
        return out
    }

    fileprivate static func clientHello(_ r: inout Mix) -> [UInt8] {
        func other(_ r: inout Mix) -> [UInt8] {
            let length = r.chance(10) ? r.below(1500) : r.below(40)
            return be16(1 + r.below(0xFFFE)) + be16(length) + r.bytes(length)
        }
        var extensions: [UInt8] = []
        for _ in 0..<r.below(6) { extensions += other(&r) }
        if r.chance(90) {
            var list: [UInt8] = []
            for _ in 0..<(r.chance(20) ? 1 + r.below(3) : 1) {
                let host = name(&r)
                list += [r.chance(80) ? 0 : UInt8(r.below(3))] + be16(host.count) + host
            }
            let sni = be16(list.count) + list
            extensions += be16(0) + be16(sni.count) + sni
        }
        for _ in 0..<r.below(3) { extensions += other(&r) }
        let session = r.chance(50) ? 32 : r.below(33)
        let suites = 2 * (1 + r.below(20))
        let compressions = 1 + r.below(2)
        var body: [UInt8] = [3, 3] + r.bytes(32) + [UInt8(session)] + r.bytes(session) + be16(suites) + r.bytes(suites)
        body += [UInt8(compressions)] + [UInt8](repeating: 0, count: compressions)
        body += be16(extensions.count) + extensions
        return [1, UInt8(body.count >> 16 & 255), UInt8(body.count >> 8 & 255), UInt8(body.count & 255)] + body
    }

    /// The handshake in one record or fragmented over up to 10 (more than
    /// the 8 the parser gathers), maybe another record after.
    fileprivate static func records(_ handshake: [UInt8], _ r: inout Mix) -> [UInt8] {
        var out: [UInt8] = []
        var rest = handshake[...]
        let pieces = r.chance(60) ? 1 : 2 + r.below(9)
        for k in 0..<pieces {
            let take = k == pieces - 1 ? rest.count : r.below(rest.count + 1)
            out += [0x16, 3, UInt8(r.below(5))] + be16(take) + rest.prefix(take)
            rest = rest.dropFirst(take)
        }
        if r.chance(25) { out += [r.chance(50) ? 0x17 : 0x16, 3, 3] + be16(20) + r.bytes(20) }
        return out
    }

    fileprivate static func request(_ r: inout Mix) -> [UInt8] {
        let methods = ["GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
                       "GET ", "POST ", "GEX ", "DELET ", "DELETEX", "HTTP/1.1 200 OK", "get ", "OPTIONS", "PATCHY ",
                       "TRACE", "CONNECTS", "PUTS ", "HEADS"]
        let eol: [UInt8] = r.chance(80) ? [0x0D, 0x0A] : [0x0A]
        var s = Array(r.pick(methods).utf8) + Array("/\(r.below(100_000)) HTTP/1.1".utf8) + eol
        if r.chance(3) { s += Array("X-Pad: ".utf8) + [UInt8](repeating: 0x61, count: 8100 + r.below(200)) + eol }
        func header(_ r: inout Mix) -> [UInt8] {
            Array("X-H\(r.below(100)): ".utf8) + name(&r, maxLength: 30).filter { $0 != 0x0A && $0 != 0x0D } + eol
        }
        for _ in 0..<r.below(4) { s += header(&r) }
        if r.chance(85) {
            let key = r.chance(60) ? "Host:" : r.pick(["host:", "HOST:", "hOsT:", "Host :", "Hos:", "Hostx:", "Host"])
            let lead = r.pick([" ", "", "  ", "\t", " \t ", "\r\n"])
            let trail = r.pick(["", "", " ", "\t", "  ", " \t", "\t "])
            s += Array(key.utf8) + Array(lead.utf8) + name(&r) + Array(trail.utf8) + (r.chance(90) ? eol : [])
        }
        for _ in 0..<r.below(3) { s += header(&r) }
        if r.chance(70) { s += eol + r.bytes(r.below(30)) }
        return s
    }

    fileprivate static func dnsResponse(_ r: inout Mix) -> [UInt8] {
        var m: [UInt8] = r.bytes(2) + [r.chance(90) ? 0x81 : r.byte(), r.chance(90) ? 0x80 : r.byte()]
        let questions = r.chance(85) ? 1 : r.below(4)
        let answers = r.chance(5) ? 60 + r.below(20) : r.below(6)
        m += be16(questions) + be16(answers) + be16(0) + be16(0)
        var names: [Int] = []
        // Labels, ending in a zero or (now and then) a pointer to an earlier name.
        func name(_ r: inout Mix, _ m: inout [UInt8]) {
            names.append(m.count)
            let labels = r.chance(5) ? 8 + r.below(10) : r.below(5)
            for _ in 0..<labels {
                let label = Array(Self.name(&r, maxLength: r.chance(10) ? 63 : 12).prefix(63))
                m += [UInt8(label.count)] + label
            }
            if names.count > 1 && r.chance(40) {
                let to = r.pick(names.dropLast())
                m += [0xC0 | UInt8(to >> 8 & 0x3F), UInt8(to & 255)]
            } else {
                m += [0]
            }
        }
        for _ in 0..<questions { name(&r, &m); m += be16(r.chance(50) ? 1 : 28) + be16(1) }
        for _ in 0..<answers {
            if r.chance(70) { m += [0xC0, 12] } else { name(&r, &m) }
            let type = r.pick([1, 1, 28, 5, 16, r.below(0x10000)])
            m += be16(type) + be16(r.chance(90) ? 1 : r.below(5)) + [0, 0, 0, 60]
            switch type {
            case 1: let n = r.chance(90) ? 4 : r.below(8); m += be16(n) + r.bytes(n)
            case 28: let n = r.chance(90) ? 16 : r.below(20); m += be16(n) + r.bytes(n)
            default: let n = r.below(20); m += be16(n) + r.bytes(n)
            }
        }
        return m
    }

    /// Cut, corrupted (more often in the first bytes, where the lengths
    /// are), both, or as made.
    fileprivate static func mutate(_ bytes: [UInt8], _ r: inout Mix) -> [UInt8] {
        var b = bytes
        let kind = r.below(5)
        if (kind == 1 || kind == 3) && !b.isEmpty {
            for _ in 0..<(1 + r.below(3)) {
                let at = r.chance(50) ? r.below(min(b.count, 64)) : r.below(b.count)
                b[at] = r.chance(30) ? r.pick([0, 1, 3, 0x16, 0x3F, 0x80, 0xC0, 0xFF]) : r.byte()
            }
        }
        if (kind == 2 || kind == 3) && !b.isEmpty { b = Array(b[..<r.below(b.count + 1)]) }
        return b
    }

    /// The new result and note against the reference's. The new parser
    /// starts from a note full of leftovers (the reader's notes ring is
    /// reused), the reference from a fresh one: a found name must not
    /// depend on what was there.
    fileprivate func same(_ payload: [UInt8], _ what: String, _ r: inout Mix, found: inout Int,
                          _ new: (UnsafeRawBufferPointer, inout NameNote) -> Bool,
                          _ old: (UnsafeRawBufferPointer, inout NameNote) -> Bool) -> Bool {
        var fresh = NameNote()
        var used = Self.leftovers(&r)
        let a = payload.withUnsafeBytes { new($0, &used) }
        let b = payload.withUnsafeBytes { old($0, &fresh) }
        if a { found += 1 }
        guard a == b, !a || Self.equal(used, fresh) else {
            XCTFail("\(what) differs (\(a) vs \(b)) on \(payload.count) bytes: \(payload.prefix(96).map { String($0, radix: 16) })")
            return false
        }
        return true
    }

    fileprivate static func leftovers(_ r: inout Mix) -> NameNote {
        var note = NameNote()
        withUnsafeMutableBytes(of: &note.bytes) { for i in 0..<$0.count { $0[i] = r.byte() } }
        note.length = UInt8(r.below(254))
        note.source = .sni
        for _ in 0..<r.below(9) { note.addAddress(IPAddress(high: r.next(), low: r.next())) }
        return note
    }

    static func equal(_ a: NameNote, _ b: NameNote) -> Bool {
        var a = a, b = b
        guard a.source == b.source, a.length == b.length, a.addressCount == b.addressCount else { return false }
        let x = withUnsafeBytes(of: &a.bytes) { Array($0) }, y = withUnsafeBytes(of: &b.bytes) { Array($0) }
        return x == y && (0..<NameNote.maxAddresses).allSatisfy { a.address($0) == b.address($0) }
    }

    func testSameAsReferenceOnGeneratedPayloads() {
        var r = Mix(state: 0x5EED)
        var found = [0, 0, 0, 0, 0]
        var failures = 0
        for round in 0..<60_000 where failures < 5 {
            let made: [UInt8]
            switch round % 4 {
            case 0: made = Self.records(Self.clientHello(&r), &r)
            case 1: made = Self.request(&r)
            case 2: made = Self.dnsResponse(&r)
            default:
                // Any bytes after a first byte that sends them to a parser.
                made = [r.pick([0x16, 0x47, 0x50, 0x44]), r.pick([3, 0x45, 0x4F])] + r.bytes(r.below(80))
            }
            let p = Self.mutate(made, &r)
            var ok = true
            for (tcp, port): (Bool, UInt16) in [(true, 443), (true, 53), (false, 53), (false, 443)] {
                ok = ok && same(p, "find tcp \(tcp) port \(port)", &r, found: &found[0],
                                { ServerNameParser.find($0, tcp: tcp, sourcePort: port, into: &$1) },
                                { ReferenceNameParser.find($0, tcp: tcp, sourcePort: port, into: &$1) })
            }
            ok = ok && same(p, "tlsServerName", &r, found: &found[1],
                            { ServerNameParser.tlsServerName($0, into: &$1) }, { ReferenceNameParser.tlsServerName($0, into: &$1) })
            ok = ok && same(p, "httpHost", &r, found: &found[2],
                            { ServerNameParser.httpHost($0, into: &$1) }, { ReferenceNameParser.httpHost($0, into: &$1) })
            ok = ok && same(p, "dnsAnswer", &r, found: &found[3],
                            { ServerNameParser.dnsAnswer($0, into: &$1) }, { ReferenceNameParser.dnsAnswer($0, into: &$1) })
            // DNS over TCP: a length first (sometimes a wrong one).
            let framed = Self.be16(r.chance(80) ? p.count : r.below(p.count + 10)) + p
            ok = ok && same(framed, "find tcp dns", &r, found: &found[4],
                            { ServerNameParser.find($0, tcp: true, sourcePort: 53, into: &$1) },
                            { ReferenceNameParser.find($0, tcp: true, sourcePort: 53, into: &$1) })
            // readName anywhere, onto a fresh note or one holding a name already.
            let at = r.chance(50) ? 12 : r.below(p.count + 2)
            var before = NameNote()
            for b in Self.name(&r, maxLength: 20) where r.chance(30) { before.append(b) }
            var x = before, y = before
            let ex = p.withUnsafeBytes { ServerNameParser.readName($0, at: at, into: &x) }
            let ey = p.withUnsafeBytes { ReferenceNameParser.readName($0, at: at, into: &y) }
            if ex != ey || (ex != nil && !Self.equal(x, y)) {
                XCTFail("readName at \(at) differs on \(p.map { String($0, radix: 16) })"); ok = false
            }
            if !ok { failures += 1 }
        }
        // The inputs reach the names, not only the early exits.
        XCTAssertGreaterThan(found[1], 4000, "ClientHellos with a name")
        XCTAssertGreaterThan(found[2], 2000, "requests with a Host")
        XCTAssertGreaterThan(found[3], 2000, "DNS answers")
    }

    /// The real ClientHellos, requests and responses of the tests above,
    /// each cut at every length and with every byte of its first 64 set to
    /// a few values.
    func testSameAsReferenceOnFixtures() {
        var r = Mix(state: 7)
        var found = 0
        var fixtures: [[UInt8]] = [
            ServerNameTests.records(ServerNameTests.clientHello("WWW.Example.com")),
            ServerNameTests.records(ServerNameTests.clientHello("www.example.com"), split: 20),
            ServerNameTests.records(ServerNameTests.clientHello("=a\u{1}b")),
            ServerNameTests.records(ServerNameTests.clientHello(String(repeating: "X", count: 300))),
            Array("GET / HTTP/1.1\r\nUser-Agent: t\r\nhOsT:  Example.org:8080 \r\n\r\n".utf8),
            Array("POST / HTTP/1.1\r\nHost: \(String(repeating: "h", count: 300))\r\n\r\n".utf8),
            ServerNameTests.dnsResponse("api.example.net"),
            ServerNameTests.dnsResponse("many.example", answers: 100),
        ]
        fixtures.append(ServerNameTests.be16(fixtures[6].count) + fixtures[6])
        for f in fixtures {
            var variants: [[UInt8]] = (0...f.count).map { Array(f[..<$0]) }
            for at in 0..<min(64, f.count) {
                for v: UInt8 in [0, 1, 0x16, 0x7F, 0xC0, 0xFF] { var g = f; g[at] = v; variants.append(g) }
            }
            for p in variants {
                for (tcp, port): (Bool, UInt16) in [(true, 443), (true, 53), (false, 53)] {
                    _ = same(p, "find tcp \(tcp) port \(port)", &r, found: &found,
                             { ServerNameParser.find($0, tcp: tcp, sourcePort: port, into: &$1) },
                             { ReferenceNameParser.find($0, tcp: tcp, sourcePort: port, into: &$1) })
                }
            }
        }
        XCTAssertGreaterThan(found, 1000)
    }

    /// A run appended at once is the same as its bytes appended one by one,
    /// onto any note (a name there or none, leftovers past its length),
    /// from any source (what may be read past the run or not).
    func testRunAppendIsByteByByteAppend() {
        var r = Mix(state: 99)
        func check(_ source: [UInt8], count: Int, readable: Int, onto start: NameNote) {
            var a = start, b = start
            for k in 0..<count { a.referenceAppend(source[k]) }
            source.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                b.append(base, count: count, readable: readable)
            }
            XCTAssertTrue(Self.equal(a, b), "count \(count) readable \(readable) onto \(start.length): \(source.prefix(count))")
        }
        // Every byte value at every place in a word, and in the tail.
        for value in 0...255 {
            for place in 0..<19 {
                var source = [UInt8](repeating: 0x61, count: 24)
                source[place] = UInt8(value)
                for count in [place + 1, 8, 16, 19] where count > place {
                    check(source, count: count, readable: count, onto: NameNote())
                    check(source, count: count, readable: 24, onto: NameNote())
                }
            }
        }
        for _ in 0..<40_000 {
            let count = r.chance(10) ? 240 + r.below(80) : r.below(40)
            let extra = r.pick([0, 0, 1, 7, 8, 20])
            let source = r.chance(50) ? Self.name(&r, maxLength: count) + r.bytes(count + extra) : r.bytes(count + extra)
            let n = min(count, source.count)
            var start = r.chance(30) ? NameNote() : Self.leftovers(&r)
            if r.chance(20) { start.length = UInt8(250 + r.below(4)) }
            check(source, count: n, readable: min(source.count, n + extra), onto: start)
        }
    }
}

// MARK: The parsers as they were (reads and appends byte by byte), for the tests above

private extension NameNote {
    mutating func referenceAppend(_ byte: UInt8) {
        guard Int(length) < Self.maxLength else { return }
        var b = byte
        if b >= 0x41 && b <= 0x5A { b |= 0x20 }
        if b < 0x20 || b >= 0x7F { b = 0x3F }
        if length == 0 && (b == 0x3D || b == 0x2B || b == 0x2D || b == 0x40) { b = 0x5F }
        let at = Int(length)
        withUnsafeMutableBytes(of: &bytes) { $0[at] = b }
        length += 1
    }
}

private enum ReferenceNameParser {
    static func find(_ payload: UnsafeRawBufferPointer, tcp: Bool, sourcePort: UInt16,
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

    static func tlsServerName(_ p: UnsafeRawBufferPointer, into note: inout NameNote) -> Bool {
        // Most handshake records are not a ClientHello (type 1): the
        // server's hello, certificates and the like end here.
        guard p.count > 5, p[5] == 1 else { return false }
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
                            note.referenceAppend(b)
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

    // MARK: HTTP

    static let methods: [StaticString] = ["GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ",
                                          "CONNECT ", "TRACE "]
    static let httpHeaderLimit = 8192

    static func httpHost(_ p: UnsafeRawBufferPointer, into note: inout NameNote) -> Bool {
        // The first letters of the methods: responses ("HTTP/…") and other
        // text fail on the first or second byte, before any method is tried.
        guard p.count >= 4 else { return false }
        switch (p[0], p[1]) {
        case (0x47, 0x45), (0x50, 0x4F), (0x48, 0x45), (0x50, 0x55), (0x44, 0x45), (0x4F, 0x50),
             (0x50, 0x41), (0x43, 0x4F), (0x54, 0x52):   // GE PO HE PU DE OP PA CO TR
            break
        default:
            return false
        }
        var isRequest = false
        for m in methods where !isRequest {
            m.withUTF8Buffer { mb in
                guard p.count >= mb.count else { return }
                for k in 0..<mb.count where p[k] != mb[k] { return }
                isRequest = true
            }
        }
        guard isRequest else { return false }
        let limit = min(p.count, httpHeaderLimit)
        // Line by line; a header line starts after a line feed.
        var i = 0
        while i < limit {
            while i < limit && p[i] != 0x0A { i += 1 }
            i += 1
            guard i < limit else { return false }
            if p[i] == 0x0D || p[i] == 0x0A { return false }   // end of the headers
            guard i + 5 <= limit,
                  p[i] | 0x20 == 0x68, p[i + 1] | 0x20 == 0x6F, p[i + 2] | 0x20 == 0x73, p[i + 3] | 0x20 == 0x74,
                  p[i + 4] == 0x3A else { continue }
            var j = i + 5
            while j < limit && (p[j] == 0x20 || p[j] == 0x09) { j += 1 }
            note = NameNote()
            while j < limit && p[j] != 0x0D && p[j] != 0x0A && note.length < NameNote.maxLength {
                note.referenceAppend(p[j]); j += 1
            }
            // A value cut by the capture (no line end) is not the name, unless it is past 253 bytes anyway.
            guard j < limit || Int(note.length) >= NameNote.maxLength else { return false }
            // Trailing blanks are not part of the value.
            while note.length > 0 {
                var last: UInt8 = 0
                let n = Int(note.length) - 1
                withUnsafeBytes(of: note.bytes) { last = $0[n] }
                guard last == 0x20 || last == 0x09 else { break }
                note.length -= 1
            }
            guard note.length > 0 else { return false }
            note.source = .httpHost
            return true
        }
        return false
    }

    // MARK: DNS

    static let maxAnswers = 64
    static let maxJumps = 16

    static func dnsAnswer(_ p: UnsafeRawBufferPointer, into note: inout NameNote) -> Bool {
        guard p.count >= 12, p[2] & 0x80 != 0, p[2] & 0x78 == 0 else { return false }   // a response to a query
        let questions = Int(p[4]) << 8 | Int(p[5])
        let answers = Int(p[6]) << 8 | Int(p[7])
        guard questions >= 1, answers >= 1 else { return false }
        var found = NameNote()
        guard var i = readName(p, at: 12, into: &found), found.length > 0 else { return false }
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
                found.addAddress(IPAddress(ipv4: UInt32(p[data]) << 24 | UInt32(p[data + 1]) << 16
                                           | UInt32(p[data + 2]) << 8 | UInt32(p[data + 3])))
            } else if klass == 1 && type == 28 && length == 16 {
                var high: UInt64 = 0, low: UInt64 = 0
                for k in 0..<8 { high = high << 8 | UInt64(p[data + k]) }
                for k in 8..<16 { low = low << 8 | UInt64(p[data + k]) }
                found.addAddress(IPAddress(high: high, low: low))
            }
            i = data + length
        }
        guard found.addressCount > 0 else { return false }
        found.source = .dns
        note = found
        return true
    }

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
                guard i + 1 + length <= p.count else { return nil }
                if note.length > 0 { note.referenceAppend(0x2E) }
                for k in 0..<length { note.referenceAppend(p[i + 1 + k]) }
                i += 1 + length
            default:
                return nil
            }
        }
    }

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
