import PFlowCore
import XCTest
@testable import PFlowWire

/// Each protocol's view on its own: deconstruct a fixture, then the contract
/// (the initializer is the only bounds check): over every prefix, the view
/// exists exactly from its header's length on, and then every accessor reads
/// (the debug build traps on a read past the buffer). Headers sit 3 bytes
/// into the buffer so that offsets are honoured.
final class WireViewTests: XCTestCase {
    typealias F = Fixture
    static let padding: [UInt8] = [0xEE, 0xEE, 0xEE]

    /// The shortest prefix of `header` (after the padding) from which `view`
    /// makes the view and reads its accessors (nil: no view), and every longer one.
    func shortestAccepted<T>(_ header: [UInt8], file: StaticString = #filePath, line: UInt = #line,
                             _ view: (UnsafeRawBufferPointer, Int) -> T?) -> Int? {
        let buffer = Self.padding + header
        var shortest: Int?
        for n in 0...buffer.count {
            let accepted = Array(buffer[0..<n]).withUnsafeBytes { view($0, Self.padding.count) } != nil
            if accepted, shortest == nil { shortest = n - Self.padding.count }
            if !accepted, shortest != nil { XCTFail("rejected \(n) after accepting fewer bytes", file: file, line: line) }
        }
        return shortest
    }

    /// The error a throwing view gives for each prefix length of `header`.
    func errors(_ header: [UInt8], _ view: (UnsafeRawBufferPointer, Int) throws(DecodeError) -> Void) -> [DecodeError?] {
        let buffer = Self.padding + header
        return (Self.padding.count...buffer.count).map { n in
            Array(buffer[0..<n]).withUnsafeBytes { bytes -> DecodeError? in
                do throws(DecodeError) { try view(bytes, Self.padding.count); return nil } catch { return error }
            }
        }
    }

    func thrown<T>(_ body: () throws -> T) -> DecodeError? {
        do { _ = try body(); return nil } catch { return error as? DecodeError }
    }

    /// `body` over the padded header.
    func with(_ header: [UInt8], _ body: (UnsafeRawBufferPointer, Int) -> Void) {
        (Self.padding + header).withUnsafeBytes { body($0, Self.padding.count) }
    }
    func withThrowing(_ header: [UInt8], _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws {
        try (Self.padding + header).withUnsafeBytes { try body($0, Self.padding.count) }
    }

    // MARK: link layer

    func testEthernet() {
        let frame = F.ethernet(type: 0x86DD, [1, 2, 3])
        with(frame) { b, at in
            XCTAssertEqual(EthernetHeader(b, at: at)?.etherType, .ipv6)
            XCTAssertEqual(EthernetHeader(b, at: at)?.payloadOffset, at + 14)
        }
        XCTAssertEqual(shortestAccepted(frame) { EthernetHeader($0, at: $1).map { $0.etherType } }, 14)
    }

    func testVLANTag() {
        let tag: [UInt8] = [0xB0, 0x64, 0x08, 0x00]  // PCP 5, DEI 1, VLAN 100, then IPv4
        with(tag) { b, at in
            XCTAssertEqual(VLANTag(b, at: at)?.identifier, 100)
            XCTAssertEqual(VLANTag(b, at: at)?.etherType, .ipv4)
        }
        XCTAssertEqual(shortestAccepted(tag) { VLANTag($0, at: $1).map { ($0.identifier, $0.etherType) } }, 4)
    }

    func testAristaTimestampFormats() throws {
        for (version, width) in [(0x0010, 8), (0x0110, 8), (0x0020, 6), (0x0120, 6)] {
            let header = [0, 1] + F.be16(UInt16(version)) + [UInt8](repeating: 0x77, count: width) + [0x86, 0xDD]
            try withThrowing(header) { b, at in
                let arista = try XCTUnwrap(try AristaHeader(b, at: at))
                XCTAssertEqual(arista.etherType, .ipv6)
                XCTAssertEqual(arista.payloadOffset, at + header.count)
            }
            let cut = errors(header) { (b, at) throws(DecodeError) in _ = try AristaHeader(b, at: at)?.etherType }
            XCTAssertEqual(cut, [DecodeError?](repeating: .linkTruncated, count: header.count) + [nil], "version \(version)")
        }
        for other in [[0, 2, 0, 0x10], [0, 1, 0, 0x30]] as [[UInt8]] {
            try withThrowing(other + [UInt8](repeating: 0, count: 10)) { b, at in
                XCTAssertNil(try AristaHeader(b, at: at), "\(other)")
            }
        }
    }

    func testMPLSLabelStack() throws {
        let stack: [UInt8] = [0, 0x10, 0x00, 0x40, 0, 0x20, 0x00, 0x40, 0, 0x30, 0x01, 0x40, 0x45]
        with(stack) { b, at in
            let labels = try? MPLSLabelStack(b, at: at)
            XCTAssertEqual(labels?.payloadOffset, at + 12)
            XCTAssertEqual(labels?.payload, .ipv4)
        }
        let cut = errors(stack) { (b, at) throws(DecodeError) in _ = try MPLSLabelStack(b, at: at).payload }
        XCTAssertEqual(cut, [DecodeError?](repeating: .mplsTruncated, count: 13) + [nil])
        // No entry with bottom-of-stack: the walk ends with the bytes.
        let endless = [UInt8](repeating: 0, count: 4000)
        try withThrowing(endless) { b, at in XCTAssertThrowsError(try MPLSLabelStack(b, at: at)) }
        for (nibble, payload) in [(0x60, MPLSLabelStack.Payload.ipv6), (0x00, .pseudowire), (0x10, .unknown)] {
            with([0, 0, 1, 0, UInt8(nibble)]) { b, at in XCTAssertEqual(try? MPLSLabelStack(b, at: at).payload, payload) }
        }
    }

    func testPseudowireControlWordNeedsItsEthernetHeader() {
        let word = [0, 0, 0, 0] + F.ethernet(type: 0x0800, [])
        XCTAssertEqual(shortestAccepted(word) { PseudowireControlWord($0, at: $1).map { $0.payloadOffset } }, 18)
    }

    func testPPPoESession() {
        let session: [UInt8] = [0x11, 0, 0x12, 0x34, 0, 42, 0, 0x57]
        with(session) { b, at in
            XCTAssertEqual(PPPoESession(b, at: at)?.pppProtocol, .ipv6)
            XCTAssertEqual(PPPoESession(b, at: at)?.payloadOffset, at + 8)
        }
        XCTAssertEqual(shortestAccepted(session) { PPPoESession($0, at: $1).map { $0.pppProtocol } }, 8)
    }

    /// Address and control may be left out, the protocol sent in one byte.
    func testPPPFrameCompression() {
        let frames: [([UInt8], UInt16, Int)] = [([0xFF, 0x03, 0x00, 0x21], 0x0021, 4), ([0x00, 0x57], 0x0057, 2),
                                                ([0x21], 0x0021, 1), ([0xFF, 0x03, 0x57], 0x0057, 3), ([0xC0, 0x21], 0xC021, 2)]
        for (frame, proto, length) in frames {
            with(frame) { b, at in
                XCTAssertEqual(PPPFrame(b, at: at)?.pppProtocol.rawValue, proto, "\(frame)")
                XCTAssertEqual(PPPFrame(b, at: at)?.payloadOffset, at + length, "\(frame)")
            }
        }
        with([]) { b, at in XCTAssertNil(PPPFrame(b, at: at)) }
        with([0x00]) { b, at in XCTAssertNil(PPPFrame(b, at: at), "an even first byte needs a second") }
    }

    func testLinuxCookedHeaders() {
        let v1 = [0, 4, 0, 1, 0, 6] + F.macA + [0, 0] + F.be16(0x86DD)
        let v2 = F.be16(0x0800) + [0, 0] + F.be32(3) + [0, 1, 4, 6] + F.macA + [0, 0]
        with(v1) { b, at in XCTAssertEqual(LinuxSLLHeader(b, at: at)?.protocolType, .ipv6) }
        with(v2) { b, at in XCTAssertEqual(LinuxSLL2Header(b, at: at)?.protocolType, .ipv4) }
        XCTAssertEqual(shortestAccepted(v1) { LinuxSLLHeader($0, at: $1).map { $0.protocolType } }, 16)
        XCTAssertEqual(shortestAccepted(v2) { LinuxSLL2Header($0, at: $1).map { $0.protocolType } }, 20)
    }

    /// Either byte order is read back as the family (they fit in 16 bits).
    func testBSDLoopbackFamilies() {
        for family: UInt32 in [2, 10, 24, 28, 30] {
            for bytes in [F.le32(family), F.be32(family)] {
                for order in [false, true] {
                    XCTAssertEqual(bytes.withUnsafeBytes { BSDLoopbackHeader($0, networkOrder: order)?.family.rawValue }, family)
                }
            }
        }
        [UInt8]([2, 0, 0]).withUnsafeBytes { XCTAssertNil(BSDLoopbackHeader($0, networkOrder: false)) }
    }

    // MARK: IP

    func testIPv4Deconstruct() throws {
        let packet = F.ipv4(src: [10, 0, 0, 1], dst: [192, 0, 2, 80], proto: 17, [UInt8](repeating: 0, count: 8),
                            options: [0x94, 0x04, 0, 0], fragmentOffset: 3, moreFragments: true, id: 0xBEEF)
        try withThrowing(packet) { b, at in
            let ip = try IPv4Header(b, at: at)
            XCTAssertEqual(ip.headerLength, 24)
            XCTAssertEqual(ip.totalLength, 32)
            XCTAssertEqual(ip.identification, 0xBEEF)
            XCTAssertEqual(ip.fragmentOffset, 3)
            XCTAssertTrue(ip.moreFragments)
            XCTAssertEqual(ip.nextProtocol, .udp)
            XCTAssertEqual(ip.source.description, "10.0.0.1")
            XCTAssertEqual(ip.destination.description, "192.0.2.80")
            XCTAssertEqual(ip.payloadOffset, at + 24)
        }
        // Cut options are a cut header; the payload is not the header's concern.
        let cut = errors(packet) { (b, at) throws(DecodeError) in _ = try IPv4Header(b, at: at).destination }
        XCTAssertEqual(cut, [DecodeError?](repeating: .ipv4Truncated, count: 24) + [DecodeError?](repeating: nil, count: 9))
    }

    func testIPv4ImpossibleHeaders() {
        let good = F.ipv4(src: [10, 0, 0, 1], dst: [10, 0, 0, 2], proto: 6, [])
        for (change, error) in [({ (h: inout [UInt8]) in h[0] = 0x65 }, DecodeError.ipv4BadVersion),
                                ({ (h: inout [UInt8]) in h[0] = 0x44 }, .ipv4BadHeaderLength),
                                ({ (h: inout [UInt8]) in h[0] = 0x46 }, .ipv4Truncated),  // options claimed, not there
                                ({ (h: inout [UInt8]) in h[2] = 0; h[3] = 19 }, .ipv4BadTotalLength)] {
            var header = good
            change(&header)
            XCTAssertEqual(errors(header) { (b, at) throws(DecodeError) in _ = try IPv4Header(b, at: at) }.last, error)
        }
    }

    func testIPv6Deconstruct() throws {
        let packet = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 58, [1, 2, 3, 4])
        try withThrowing(packet) { b, at in
            let ip = try IPv6Header(b, at: at)
            XCTAssertEqual(ip.payloadLength, 4)
            XCTAssertEqual(ip.nextHeader, .icmpv6)
            XCTAssertEqual(ip.source.description, "2001:db8::1")
            XCTAssertEqual(ip.destination.description, "2001:db8::2")
            XCTAssertEqual(ip.payloadOffset, at + 40)
        }
        let cut = errors(packet) { (b, at) throws(DecodeError) in _ = try IPv6Header(b, at: at).destination }
        XCTAssertEqual(cut, [DecodeError?](repeating: .ipv6Truncated, count: 40) + [nil, nil, nil, nil, nil])
        var v4 = packet
        v4[0] = 0x45
        XCTAssertEqual(errors(v4) { (b, at) throws(DecodeError) in _ = try IPv6Header(b, at: at) }.last, .ipv6BadVersion)
    }

    /// Each extension header's own length rule, and the chain's errors.
    func testIPv6ExtensionChain() throws {
        let udp = F.udp(sport: 1, dport: 2, payload: [])
        let routing: [UInt8] = [60, 1] + [UInt8](repeating: 0, count: 14)       // 16 bytes: (1 + 1) * 8
        let destination: [UInt8] = [51, 0] + [UInt8](repeating: 0, count: 6)   // 8 bytes
        let authentication: [UInt8] = [44, 2] + [UInt8](repeating: 0, count: 14)  // 16 bytes: (2 + 2) * 4
        let fragment: [UInt8] = [17, 0, 0, 0, 0, 0, 0x12, 0x34]                  // first fragment
        let chain = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 43,
                           routing + destination + authentication + fragment + udp)
        try withThrowing(chain) { b, at in
            let ip = try IPv6Header(b, at: at)
            let upper = try IPv6UpperLayer(after: ip, in: b)
            XCTAssertEqual(upper.nextProtocol, .udp)
            XCTAssertEqual(upper.offset, at + 40 + 48)
            XCTAssertEqual(upper.length, 8)
            XCTAssertEqual(upper.fragmentID, 0x1234)
            XCTAssertFalse(upper.laterFragment)
        }
        let upperLayer = { (b: UnsafeRawBufferPointer, at: Int) throws(DecodeError) in
            _ = try IPv6UpperLayer(after: try IPv6Header(b, at: at), in: b)
        }
        let walk = errors(chain, upperLayer)
        XCTAssertTrue(walk[..<40].allSatisfy { $0 == .ipv6Truncated })
        XCTAssertTrue(walk[40..<88].allSatisfy { $0 == .ipv6ExtensionTruncated })
        XCTAssertTrue(walk[88...].allSatisfy { $0 == nil }, "the upper layer is not the chain's concern")
        // A header longer than the payload length leaves.
        let long = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 0, [17, 2] + [UInt8](repeating: 0, count: 6) + udp)
        XCTAssertEqual(errors(long, upperLayer).last, .ipv6BadExtensionLength)
        // A later fragment stops the walk at the fragment header.
        let laterFragment: [UInt8] = [6, 0, 0x00, 0x09, 0, 0, 0, 7]  // offset 1 (8 bytes), M
        let later = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 44, laterFragment + [UInt8](repeating: 0, count: 24))
        try withThrowing(later) { b, at in
            let upper = try IPv6UpperLayer(after: try IPv6Header(b, at: at), in: b)
            XCTAssertTrue(upper.laterFragment)
            XCTAssertEqual(upper.nextProtocol, .tcp)
            XCTAssertEqual(upper.length, 24)
            XCTAssertEqual(upper.fragmentID, 7)
        }
    }

    // MARK: transport

    func testTCPHeader() throws {
        let segment = F.tcp(sport: 40000, dport: 443, flags: 0x12, seq: 0xDEADBEEF, options: [2, 4, 5, 0xB4],
                            payload: [1, 2])
        try withThrowing(segment) { b, at in
            let tcp = try TCPHeader(b, at: at, segmentLength: segment.count)
            XCTAssertEqual(tcp.sourcePort, 40000)
            XCTAssertEqual(tcp.destinationPort, 443)
            XCTAssertEqual(tcp.sequenceNumber, 0xDEADBEEF)
            XCTAssertEqual(tcp.flags, [.syn, .ack])
            XCTAssertEqual(tcp.headerLength, 24)
            XCTAssertFalse(tcp.optionsCut)
            XCTAssertEqual(tcp.payloadOffset, at + 24)
        }
        let cut = errors(segment) { (b, at) throws(DecodeError) in
            let tcp = try TCPHeader(b, at: at, segmentLength: segment.count)
            XCTAssertEqual(tcp.optionsCut, b.count - at < 24)
        }
        XCTAssertEqual(cut, [DecodeError?](repeating: .tcpTruncated, count: 20) + [DecodeError?](repeating: nil, count: 7))
        with(segment) { b, at in
            XCTAssertEqual(thrown { try TCPHeader(b, at: at, segmentLength: 19) }, .tcpBadLength)
            XCTAssertEqual(thrown { try TCPHeader(b, at: at, segmentLength: 23) }, .tcpBadLength, "options past the segment")
        }
        var short = segment
        short[12] = 0x40  // a data offset of 16 bytes can't hold the header
        with(short) { b, at in XCTAssertEqual(thrown { try TCPHeader(b, at: at, segmentLength: short.count) }, .tcpBadLength) }
    }

    func testUDPHeader() throws {
        let datagram = F.udp(sport: 5353, dport: 53, payload: [9, 9])
        try withThrowing(datagram) { b, at in
            let udp = try UDPHeader(b, at: at, datagramLength: datagram.count)
            XCTAssertEqual(udp.sourcePort, 5353)
            XCTAssertEqual(udp.destinationPort, 53)
            XCTAssertEqual(udp.payloadOffset, at + 8)
            XCTAssertEqual(thrown { try UDPHeader(b, at: at, datagramLength: 7) }, .udpBadLength)
        }
        let cut = errors(datagram) { (b, at) throws(DecodeError) in
            _ = try UDPHeader(b, at: at, datagramLength: 10).destinationPort
        }
        XCTAssertEqual(cut, [DecodeError?](repeating: .udpTruncated, count: 8) + [nil, nil, nil])
    }

    func testICMPHeaders() throws {
        let echo = F.icmpEcho(request: true, id: 0x1234, seq: 9)
        try withThrowing(echo) { b, at in
            let icmp = try ICMPHeader(b, at: at, messageLength: 8)
            XCTAssertEqual(icmp.type, 8)
            XCTAssertEqual(icmp.code, 0)
            XCTAssertEqual(icmp.quoteOffset, at + 8)
            XCTAssertEqual(try ICMPEcho(b, at: at, messageLength: 8).identifier, 0x1234)
            XCTAssertEqual(thrown { try ICMPHeader(b, at: at, messageLength: 3) }, .icmpTruncated)
            XCTAssertEqual(thrown { try ICMPEcho(b, at: at, messageLength: 7) }, .icmpTruncated)
        }
        let header = errors(echo) { (b, at) throws(DecodeError) in _ = try ICMPHeader(b, at: at, messageLength: 8).code }
        XCTAssertEqual(header, [DecodeError?](repeating: .icmpTruncated, count: 4) + [nil, nil, nil, nil, nil])
        let identifier = errors(echo) { (b, at) throws(DecodeError) in
            _ = try ICMPEcho(b, at: at, messageLength: 8).identifier
        }
        XCTAssertEqual(identifier, [DecodeError?](repeating: .icmpTruncated, count: 8) + [nil])
    }

    /// A quote counts only whole: IP header, then both ports of TCP or UDP.
    func testICMPQuote() {
        let tcp = F.tcp(sport: 40000, dport: 80, flags: 0x02)
        let quoted4 = F.ipv4(src: [10, 0, 0, 1], dst: [10, 0, 0, 2], proto: 6, tcp, options: [1, 1, 1, 0])
        let quoted6 = F.ipv6(src: F.v6addr(5), dst: F.v6addr(6), next: 17, F.udp(sport: 5000, dport: 33434, payload: []))
        for (quoted, length) in [(quoted4, 24 + 4), (quoted6, 40 + 4)] {
            with(quoted) { b, at in
                let quote = ICMPQuote(b, at: at)
                XCTAssertEqual(quote?.ports.source, quoted == quoted4 ? 40000 : 5000)
                XCTAssertEqual(quote?.ports.destination, quoted == quoted4 ? 80 : 33434)
                XCTAssertEqual(quote?.source.description, quoted == quoted4 ? "10.0.0.1" : "2001:db8::5")
                XCTAssertEqual(quote?.nextProtocol, quoted == quoted4 ? .tcp : .udp)
            }
            XCTAssertEqual(shortestAccepted(quoted) { ICMPQuote($0, at: $1) }, length)
        }
        let later = F.ipv4(src: [10, 0, 0, 1], dst: [10, 0, 0, 2], proto: 6, tcp, fragmentOffset: 2)
        let icmp = F.ipv4(src: [10, 0, 0, 1], dst: [10, 0, 0, 2], proto: 1, F.icmpEcho(request: true, id: 1, seq: 1))
        var badLength = quoted4
        badLength[0] = 0x43
        for quoted in [later, icmp, badLength, [0x50] + quoted4.dropFirst()] {
            with(quoted) { b, at in XCTAssertNil(ICMPQuote(b, at: at)) }
        }
    }

    // MARK: tunnels

    func testGREHeaders() {
        let cases: [([UInt8], TunnelKind, EtherType, Int)] = [
            ([0x00, 0x00, 0x08, 0x00], .gre, .ipv4, 4),
            ([0x80, 0x00, 0x86, 0xDD], .gre, .ipv6, 8),
            ([0xB0, 0x00, 0x65, 0x58], .gre, .transparentEthernetBridging, 16),
            ([0x20, 0x01, 0x88, 0x0B], .pptp, .ppp, 8),
            ([0x30, 0x81, 0x88, 0x0B], .pptp, .ppp, 16),
        ]
        for (header, kind, type, length) in cases {
            with(header) { b, at in
                let gre = GREHeader(b, at: at)
                XCTAssertEqual(gre?.kind, kind, "\(header)")
                XCTAssertEqual(gre?.protocolType, type, "\(header)")
                XCTAssertEqual(gre?.payloadOffset, at + length, "\(header)")
            }
            XCTAssertEqual(shortestAccepted(header) { GREHeader($0, at: $1) }, 4)
        }
        for refused: [UInt8] in [[0x40, 0, 8, 0], [0, 2, 8, 0], [0x00, 0x01, 0x88, 0x0B], [0x20, 0x01, 0x08, 0x00]] {
            with(refused) { b, at in XCTAssertNil(GREHeader(b, at: at), "\(refused)") }
        }
    }

    func testVXLANAndGeneveHeaders() {
        let vxlan: [UInt8] = [0x08, 0, 0, 0, 0, 0, 0x2A, 0]
        with(vxlan) { b, at in XCTAssertEqual(VXLANHeader(b, at: at)?.payloadOffset, at + 8) }
        XCTAssertEqual(shortestAccepted(vxlan) { VXLANHeader($0, at: $1) }, 8)
        with([0, 0, 0, 0, 0, 0, 0x2A, 0]) { b, at in XCTAssertNil(VXLANHeader(b, at: at)) }
        let geneve: [UInt8] = [0x02, 0, 0x86, 0xDD, 0, 0, 0x2A, 0] + [UInt8](repeating: 0, count: 8)
        with(geneve) { b, at in
            XCTAssertEqual(GeneveHeader(b, at: at)?.protocolType, .ipv6)
            XCTAssertEqual(GeneveHeader(b, at: at)?.payloadOffset, at + 16)
        }
        XCTAssertEqual(shortestAccepted(geneve) { GeneveHeader($0, at: $1).map { $0.protocolType } }, 8)
    }

    func testGTPUHeader() {
        let extended: [UInt8] = [0x34, 0xFF, 0, 30, 0, 0, 0, 1] + [0, 0, 0, 0x85] + [2, 1, 2, 3, 4, 5, 6, 0] + [0x45]
        with(extended) { b, at in
            XCTAssertEqual(GTPUHeader(b, at: at)?.payloadOffset, at + 20)
            XCTAssertEqual(GTPUHeader(b, at: at)?.payloadStart.etherType, .ipv4)
        }
        XCTAssertEqual(shortestAccepted(extended) { GTPUHeader($0, at: $1) }, extended.count)
        let plain: [UInt8] = [0x30, 0xFF, 0, 40, 0, 0, 0, 1, 0x60]
        with(plain) { b, at in XCTAssertEqual(GTPUHeader(b, at: at)?.payloadStart.etherType, .ipv6) }
        XCTAssertEqual(shortestAccepted(plain) { GTPUHeader($0, at: $1) }, 9)
    }

    /// RFC 4380's authentication indicator is 4 bytes, the client identifier
    /// and authentication value, then a nonce and a confirmation byte.
    func testTeredoIndicators() {
        let ipv6 = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 59, [])
        for (identifier, value) in [(0, 0), (3, 0), (0, 5), (7, 11)] {
            let authentication = [0, 1, UInt8(identifier), UInt8(value)]
                + [UInt8](repeating: 0xA5, count: identifier + value)  // client identifier, authentication value
                + [UInt8](repeating: 0x4E, count: 8) + [1]  // nonce, confirmation
            for origin in [[], [0, 0, 0x12, 0x34, 1, 2, 3, 4]] as [[UInt8]] {
                let payload = authentication + origin + ipv6
                with(payload) { b, at in
                    XCTAssertEqual(TeredoPacket(b, at: at)?.ipv6Offset, at + authentication.count + origin.count,
                                   "\(identifier) \(value)")
                }
                XCTAssertEqual(shortestAccepted(payload) { TeredoPacket($0, at: $1) }, payload.count)
            }
        }
        with(ipv6) { b, at in XCTAssertEqual(TeredoPacket(b, at: at)?.ipv6Offset, at) }
    }
}
