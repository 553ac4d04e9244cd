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
}
