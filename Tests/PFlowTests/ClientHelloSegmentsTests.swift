import Foundation
import PFlowCore
import XCTest
@testable import PFlowEngine
@testable import PFlowFlows

/// The SNI of a ClientHello that spans TCP segments (issue 16: "fragmented
/// across records or segments where the first one says how long it is").
final class ClientHelloSegmentsTests: XCTestCase {
    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 255), UInt8(v & 255)] }

    /// A ClientHello whose SNI comes after `padding` bytes of another
    /// extension (as a post-quantum key share puts it past the first segment).
    static func clientHello(_ name: String, padding: Int) -> [UInt8] {
        let host = Array(name.utf8)
        let sni = be16(host.count + 3) + [0] + be16(host.count) + host
        let extensions = be16(0x0033) + be16(padding) + [UInt8](repeating: 0xAB, count: padding)   // key_share
            + be16(0) + be16(sni.count) + sni
            + be16(0x002b) + be16(3) + [2, 3, 4]                                                  // supported_versions
        var body: [UInt8] = [3, 3] + [UInt8](repeating: 7, count: 32) + [32] + [UInt8](repeating: 9, count: 32)
            + be16(4) + [0x13, 0x01, 0x13, 0x02] + [1, 0]
        body += be16(extensions.count) + extensions
        return [1, 0] + be16(body.count) + body
    }

    static func record(_ handshake: [UInt8]) -> [UInt8] { [0x16, 3, 1] + be16(handshake.count) + handshake }

    func feed(_ parts: [[UInt8]]) -> (ClientHelloScanner.Progress, String) {
        var s = ClientHelloScanner()
        var last = ClientHelloScanner.Progress.needMore
        for p in parts {
            last = p.withUnsafeBytes { s.feed($0) }
            if last != .needMore { break }
        }
        return (last, last == .found ? s.note.name : "")
    }

    func testScannerAcrossSegmentsAtEverySplit() {
        let bytes = Self.record(Self.clientHello("Split.Example.org", padding: 1200))
        XCTAssertEqual(feed([bytes]).1, "split.example.org")
        for cut in 1..<bytes.count {
            let (progress, name) = feed([Array(bytes[..<cut]), Array(bytes[cut...])])
            XCTAssertEqual(progress, .found, "cut at \(cut)")
            XCTAssertEqual(name, "split.example.org", "cut at \(cut)")
        }
        // Three segments, the name itself cut in two.
        let at = bytes.count - 17
        XCTAssertEqual(feed([Array(bytes[..<700]), Array(bytes[700..<at]), Array(bytes[at...])]).1, "split.example.org")
        // Records fragmented as well as segments.
        let hello = Self.clientHello("r.example", padding: 1300)
        let two = [0x16, 3, 1] + Self.be16(900) + Array(hello[..<900]) + [0x16, 3, 3] + Self.be16(hello.count - 900) + Array(hello[900...])
        for cut in stride(from: 1, to: two.count, by: 7) {
            XCTAssertEqual(feed([Array(two[..<cut]), Array(two[cut...])]).1, "r.example", "cut at \(cut)")
        }
        // Not a ClientHello, or no name: none, at once or at the end.
        XCTAssertEqual(feed([[0x17, 3, 3, 0, 5, 1, 2, 3, 4, 5]]).0, .none)
        XCTAssertEqual(feed([[0x16, 3, 3, 0, 5, 2, 0, 0, 1, 0]]).0, .none)
        // Every prefix: still waiting, or the name; never a wrong one.
        for n in 0..<bytes.count {
            let (progress, name) = feed([Array(bytes[..<n])])
            XCTAssertTrue(progress == .needMore || name == "split.example.org", "prefix \(n)")
        }
    }

    func testScannerOnHostileBytesIsBounded() {
        // Lengths beyond the record, the handshake or the extensions; random bytes.
        var bytes = Self.record(Self.clientHello("x.test", padding: 40))
        for i in 5..<bytes.count {
            let saved = bytes[i]
            for v: UInt8 in [0, 1, 0x7F, 0xFF] {
                bytes[i] = v
                _ = feed([Array(bytes[..<(i / 2)]), Array(bytes[(i / 2)...])])
            }
            bytes[i] = saved
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 5..<600, using: &rng)
            var p = [0x16, 3, 1] + [UInt8](repeating: 0, count: n)
            for i in 3..<p.count { p[i] = UInt8.random(in: 0...255, using: &rng) }
            let (progress, name) = feed([p, p])
            if progress == .found { XCTAssertLessThanOrEqual(name.utf8.count, 253) }
        }
    }

    // MARK: through the whole path (reader side, tracker, CSV fields)

    static let client: [UInt8] = [10, 0, 0, 1], server: [UInt8] = [10, 0, 0, 2]

    func frame(_ fromClient: Bool, flags: UInt8, seq: UInt32, ack: UInt32, payload: [UInt8] = []) -> [UInt8] {
        let l4 = Fixture.tcp(sport: fromClient ? 40000 : 443, dport: fromClient ? 443 : 40000, flags: flags,
                             seq: seq, ack: ack, payload: payload)
        return Fixture.ethernet(type: 0x0800, Fixture.ipv4(src: fromClient ? Self.client : Self.server,
                                                           dst: fromClient ? Self.server : Self.client, proto: 6, l4))
    }

    /// A handshake, then the ClientHello in `segments` (client sequence
    /// numbers as given; nil: the next one), then the server's answer.
    func analyze(_ segments: [([UInt8], UInt32?)]) throws -> FlowRecord? {
        var frames = [frame(true, flags: 0x02, seq: 999, ack: 0), frame(false, flags: 0x12, seq: 5000, ack: 1000),
                      frame(true, flags: 0x10, seq: 1000, ack: 5001)]
        var seq: UInt32 = 1000
        for (bytes, at) in segments {
            if let at { seq = at }
            frames.append(frame(true, flags: 0x18, seq: seq, ack: 5001, payload: bytes))
            seq &+= UInt32(bytes.count)
        }
        frames.append(frame(false, flags: 0x18, seq: 5001, ack: seq, payload: [0x16, 3, 3, 0, 1, 2]))
        let packets = frames.enumerated().map { Fixture.Packet(seconds: 1_700_000_000, fraction: UInt32($0.offset * 1000), bytes: $0.element) }
        let path = Fixture.file(Fixture.pcap(packets))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Analyzer.analyze(paths: [path]).flows.first { $0.proto == .tcp }
    }

    func testSNIFromAClientHelloInTwoSegments() throws {
        let bytes = Self.record(Self.clientHello("two.segments.test", padding: 1500))
        let a = Array(bytes[..<1448]), b = Array(bytes[1448...])
        let f = try analyze([(a, nil), (b, nil)])
        XCTAssertEqual(f?.serverName, "two.segments.test")
        XCTAssertEqual(f?.nameSource, .sni)
        // The first segment sent again before the second: still found.
        XCTAssertEqual(try analyze([(a, nil), (a, 1000), (b, nil)])?.serverName, "two.segments.test")
        // Three segments.
        let c = Array(bytes[..<700]), d = Array(bytes[700..<1400]), e = Array(bytes[1400...])
        XCTAssertEqual(try analyze([(c, nil), (d, nil), (e, nil)])?.serverName, "two.segments.test")
        // A gap (the second segment lost before the capture point): no name, no wrong one.
        XCTAssertNil(try analyze([(a, nil), (b, 1000 + 1448 + 100)])?.serverName)
        // The name in the first segment, as before.
        let small = Self.record(Self.clientHello("one.segment.test", padding: 100))
        XCTAssertEqual(try analyze([(small, nil)])?.serverName, "one.segment.test")
    }

    func testPendingTableStaysBounded() {
        var table = PendingHellos()
        let first = Array(Self.record(Self.clientHello("x.test", padding: 1500))[..<100])
        var scanner = ClientHelloScanner()
        XCTAssertEqual(first.withUnsafeBytes { scanner.feed($0) }, .needMore)
        for i in 0..<10_000 {
            let key = FlowKey(addressA: IPAddress(ipv4: UInt32(i)), addressB: IPAddress(ipv4: 1), portA: UInt16(i & 0xFFFF),
                              portB: 443, proto: .tcp, vlan: FlowKey.noVLAN)
            table.hold(scanner, key: key, nextSequence: 100, now: Int64(i))
        }
        XCTAssertLessThanOrEqual(table.waiting, PendingHellos.slots)
        XCTAssertEqual(table.entries.count, PendingHellos.slots)
    }
}
