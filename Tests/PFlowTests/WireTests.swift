import PFlowCore
import XCTest
@testable import PFlowWire

final class WireTests: XCTestCase {
    typealias F = Fixture
    static let a4: [UInt8] = [10, 0, 0, 1]
    static let b4: [UInt8] = [192, 0, 2, 80]

    /// Every fixture with its link type and where each header ends, with the
    /// error a cut before that end must give (shorter prefixes fail with it,
    /// longer ones decode).
    static var fixtures: [WireCase] {
        let syn = F.tcp(sport: 40000, dport: 443, flags: 0x02, options: [2, 4, 5, 0xB4])
        let get = F.tcp(sport: 40000, dport: 80, flags: 0x18, payload: Array("GET / HTTP/1.1\r\n\r\n".utf8))
        let dns = F.udp(sport: 53000, dport: 53, payload: [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        let ping = F.icmpEcho(request: true, id: 0x4242, seq: 1, payload: [UInt8](repeating: 0xAB, count: 16))
        let ping6 = F.icmpEcho(request: false, id: 7, seq: 2, v6: true, payload: [1, 2, 3, 4])
        let v4syn = F.ipv4(src: a4, dst: b4, proto: 6, syn)
        let v4opts = F.ipv4(src: a4, dst: b4, proto: 6, get, options: [0x94, 0x04, 0, 0])  // router alert
        let v6dns = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 17, dns)
        // Hop-by-hop (8 bytes) then fragment header (first fragment), then UDP.
        let hbh: [UInt8] = [44, 0, 1, 4, 0, 0, 0, 0]
        let frag: [UInt8] = [17, 0, 0, 1, 0, 0, 0, 9]  // offset 0, M=1
        let v6ext = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 0, hbh + frag + dns)
        let v6ping = F.ipv6(src: F.v6addr(3), dst: F.v6addr(4), next: 58, ping6)
        let sll = [0, 0, 0, 1, 0, 6] + F.macA + [0, 0] + F.be16(0x0800)
        let sll2 = F.be16(0x86DD) + [0, 0] + F.be32(1) + [0, 1, 4, 6] + F.macA + [0, 0]
        return [
            WireCase("ethernet/ipv4/tcp syn", 1, F.ethernet(type: 0x0800, v4syn),
                     [(14, .linkTruncated), (34, .ipv4Truncated), (54, .tcpTruncated)]),
            WireCase("ethernet/ipv4 options/tcp data", 1, F.ethernet(type: 0x0800, v4opts),
                     [(14, .linkTruncated), (38, .ipv4Truncated), (58, .tcpTruncated)]),
            WireCase("qinq/ipv6/udp", 1, F.ethernet(type: 0x86DD, vlans: [(0x88A8, 100), (0x8100, 200)], v6dns),
                     [(14, .linkTruncated), (22, .vlanTruncated), (62, .ipv6Truncated), (70, .udpTruncated)]),
            WireCase("ethernet/ipv6 ext/udp", 1, F.ethernet(type: 0x86DD, v6ext),
                     [(14, .linkTruncated), (54, .ipv6Truncated), (70, .ipv6ExtensionTruncated), (78, .udpTruncated)]),
            WireCase("sll/ipv4/icmp echo", 113, sll + F.ipv4(src: a4, dst: b4, proto: 1, ping),
                     [(16, .linkTruncated), (36, .ipv4Truncated), (44, .icmpTruncated)]),
            WireCase("sll2/ipv6/icmpv6 echo reply", 276, sll2 + v6ping,
                     [(20, .linkTruncated), (60, .ipv6Truncated), (68, .icmpTruncated)]),
            WireCase("raw/ipv4/udp", 101, F.ipv4(src: a4, dst: b4, proto: 17, dns),
                     [(1, .linkTruncated), (20, .ipv4Truncated), (28, .udpTruncated)]),
            WireCase("raw228/ipv4/tcp", 228, v4syn, [(20, .ipv4Truncated), (40, .tcpTruncated)]),
            WireCase("raw229/ipv6/udp", 229, v6dns, [(40, .ipv6Truncated), (48, .udpTruncated)]),
            WireCase("null le/ipv4/tcp", 0, F.le32(2) + v4syn, [(4, .linkTruncated), (24, .ipv4Truncated), (44, .tcpTruncated)]),
            WireCase("null be/ipv6 af30/udp", 0, F.be32(30) + v6dns,
                     [(4, .linkTruncated), (44, .ipv6Truncated), (52, .udpTruncated)]),
            WireCase("loop/ipv6 af24/udp", 108, F.be32(24) + v6dns,
                     [(4, .linkTruncated), (44, .ipv6Truncated), (52, .udpTruncated)]),
            WireCase("raw12/ipv6 icmpv6 echo", 12, v6ping, [(1, .linkTruncated), (40, .ipv6Truncated), (48, .icmpTruncated)]),
            WireCase("raw14/ipv4 options", 14, v4opts, [(1, .linkTruncated), (24, .ipv4Truncated), (44, .tcpTruncated)]),
            WireCase("null af10 (linux)/ipv6", 0, F.le32(10) + v6dns,
                     [(4, .linkTruncated), (44, .ipv6Truncated), (52, .udpTruncated)]),
            WireCase("null af28 (freebsd), swapped/ipv6", 0, F.be32(28) + v6dns,
                     [(4, .linkTruncated), (44, .ipv6Truncated), (52, .udpTruncated)]),
        ]
    }

    func testEthernetIPv4TCP() {
        let (outcome, p) = F.decode(Self.fixtures[0].frame)
        XCTAssertEqual(outcome, .packet)
        XCTAssertEqual(p.ipVersion, 4)
        XCTAssertEqual(p.source, IPAddress(ipv4: 0x0A00_0001))
        XCTAssertEqual(p.destination.description, "192.0.2.80")
        XCTAssertEqual(p.proto, .tcp)
        XCTAssertEqual(p.sourcePort, 40000)
        XCTAssertEqual(p.destinationPort, 443)
        XCTAssertEqual(p.tcpFlags, .syn)
        XCTAssertEqual(p.payloadLength, 0)
        XCTAssertNil(p.vlan)
        XCTAssertFalse(p.truncated)
    }

    func testIPv4OptionsAndPayload() {
        let (outcome, p) = F.decode(Self.fixtures[1].frame)
        XCTAssertEqual(outcome, .packet)
        XCTAssertEqual(p.destinationPort, 80)
        XCTAssertEqual(p.tcpFlags, [.psh, .ack])
        XCTAssertEqual(p.payloadLength, 18)
        XCTAssertEqual(p.capturedPayloadLength, 18)
        XCTAssertEqual(p.payloadOffset, 14 + 24 + 20)
    }

    func testQinQTakesOuterVLANAndIPv6() {
        let (outcome, p) = F.decode(Self.fixtures[2].frame)
        XCTAssertEqual(outcome, .packet)
        XCTAssertEqual(p.vlan, 100)
        XCTAssertEqual(p.ipVersion, 6)
        XCTAssertEqual(p.source.description, "2001:db8::1")
        XCTAssertEqual(p.proto, .udp)
        XCTAssertEqual(p.destinationPort, 53)
        XCTAssertEqual(p.payloadLength, 12)
    }

    func testIPv6ExtensionChainFirstFragment() {
        let (outcome, p) = F.decode(Self.fixtures[3].frame)
        XCTAssertEqual(outcome, .packet)
        XCTAssertEqual(p.proto, .udp)
        XCTAssertEqual(p.sourcePort, 53000)
        XCTAssertFalse(p.laterFragment)
        XCTAssertEqual(p.payloadLength, 12)
    }

    func testIPv6LaterFragmentHasNoPorts() {
        let frag: [UInt8] = [17, 0, 0x05, 0x00, 0, 0, 0, 9]  // offset 160 bytes
        let frame = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 44, frag + [UInt8](repeating: 0, count: 100))
        let (outcome, p) = F.decode(frame, linkType: 101)
        XCTAssertEqual(outcome, .packet)
        XCTAssertTrue(p.laterFragment)
        XCTAssertEqual(p.proto, .udp)
        XCTAssertEqual(p.sourcePort, 0)
        XCTAssertEqual(p.payloadLength, 100)
    }

    func testIPv4LaterFragmentHasNoPorts() {
        let frame = F.ipv4(src: Self.a4, dst: Self.b4, proto: 17, [UInt8](repeating: 0, count: 40), fragmentOffset: 185)
        let (outcome, p) = F.decode(frame, linkType: 101)
        XCTAssertEqual(outcome, .packet)
        XCTAssertTrue(p.laterFragment)
        XCTAssertEqual(p.sourcePort, 0)
        XCTAssertEqual(p.payloadLength, 40)
    }

    func testCookedAndLoopbackLinkTypes() {
        for c in Self.fixtures[4...] {
            let (outcome, p) = F.decode(c.frame, linkType: c.link)
            XCTAssertEqual(outcome, .packet, c.name)
            XCTAssertNotEqual(p.ipVersion, 0, c.name)
        }
        let (_, echo) = F.decode(Self.fixtures[4].frame, linkType: 113)
        XCTAssertEqual(echo.proto, .icmp)
        XCTAssertTrue(echo.isICMPRequest)
        XCTAssertEqual(echo.sourcePort, 0x4242)
        XCTAssertEqual(echo.destinationPort, 0x4242)
        let (_, reply6) = F.decode(Self.fixtures[5].frame, linkType: 276)
        XCTAssertEqual(reply6.proto, .icmpv6)
        XCTAssertTrue(reply6.isICMPReply)
        XCTAssertEqual(reply6.sourcePort, 7)
    }

    func testEthernetPaddingIsTrimmedByIPLength() {
        let syn = F.ipv4(src: Self.a4, dst: Self.b4, proto: 6, F.tcp(sport: 1, dport: 2, flags: 0x02))
        let frame = F.ethernet(type: 0x0800, syn) + [0, 0, 0, 0, 0, 0]  // 60-byte minimum frame padding
        let (outcome, p) = F.decode(frame)
        XCTAssertEqual(outcome, .packet)
        XCTAssertEqual(p.payloadLength, 0)
        XCTAssertEqual(p.capturedPayloadLength, 0)
        XCTAssertFalse(p.truncated)
    }

    func testNonIPAndUnsupported() {
        let arp = F.ethernet(type: 0x0806, [UInt8](repeating: 0, count: 28))
        XCTAssertEqual(F.decode(arp).0, .notIP)
        XCTAssertEqual(F.decode(arp, linkType: 147).0, .error(.unsupportedLinkType))
        XCTAssertEqual(F.decode(F.le32(99) + [0x45], linkType: 0).0, .error(.unknownAddressFamily))
        XCTAssertEqual(F.decode([0x50, 0, 0, 0], linkType: 101).0, .error(.rawBadVersion))
    }

    func testImpossibleLengths() {
        var bad = Self.fixtures[6].frame  // raw ipv4/udp
        bad[0] = 0x44  // IHL 4 words
        XCTAssertEqual(F.decode(bad, linkType: 101).0, .error(.ipv4BadHeaderLength))
        bad = Self.fixtures[6].frame
        bad[2] = 0; bad[3] = 10  // total length below the header
        XCTAssertEqual(F.decode(bad, linkType: 101).0, .error(.ipv4BadTotalLength))
        var tcp = Self.fixtures[7].frame  // raw228 ipv4/tcp
        tcp[20 + 12] = 0x40  // data offset 16 bytes
        XCTAssertEqual(F.decode(tcp, linkType: 228).0, .error(.tcpBadLength))
        tcp[20 + 12] = 0xF0  // data offset 60 bytes, beyond the IP length
        XCTAssertEqual(F.decode(tcp, linkType: 228).0, .error(.tcpBadLength))
        var ext = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 0, [17, 200, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(F.decode(ext, linkType: 229).0, .error(.ipv6BadExtensionLength))
        ext[40 + 1] = 0
        XCTAssertEqual(F.decode(ext, linkType: 229).0, .error(.udpBadLength))
    }

    /// Snaplen-cut payloads are flagged, not failed; the IP length still counts.
    func testSnaplenCutPayloadIsFlagged() {
        let full = Self.fixtures[1].frame
        let cut = Array(full[0..<(full.count - 5)])
        let (outcome, p) = F.decode(cut)
        XCTAssertEqual(outcome, .packet)
        XCTAssertTrue(p.truncated)
        XCTAssertEqual(p.payloadLength, 18)
        XCTAssertEqual(p.capturedPayloadLength, 13)
    }

    func testCutTCPOptionsAreFlaggedNotFailed() {
        let frame = Self.fixtures[0].frame
        let (outcome, p) = F.decode(Array(frame[0..<(frame.count - 2)]))
        XCTAssertEqual(outcome, .packet)
        XCTAssertTrue(p.truncated)
        XCTAssertEqual(p.tcpFlags, .syn)
        XCTAssertEqual(p.capturedPayloadLength, 0)
    }

    /// Every prefix of every fixture, from a buffer of exactly that length:
    /// a cut header fails with its own error kind, longer prefixes decode
    /// (TCP options are not needed: a cut in them only flags the packet).
    func testTruncationSweep() {
        for c in Self.fixtures { c.sweep() }
    }

    func testIPv6Text() {
        XCTAssertEqual(IPAddress(high: 0, low: 1).description, "::1")
        XCTAssertEqual(IPAddress(high: 0x2001_0db8_0000_0000, low: 0x0000_0000_0000_0001).description, "2001:db8::1")
        XCTAssertEqual(IPAddress(high: 0x2001_0db8_0000_0001, low: 0x0000_0001_0000_0001).description, "2001:db8:0:1:0:1:0:1")
        XCTAssertEqual(IPAddress(high: 0xfe80_0000_0000_0000, low: 0x00fc_00ff_fe00_0001).description, "fe80::fc:ff:fe00:1")
        XCTAssertEqual(IPAddress(ipv4: 0xC000_0250).description, "192.0.2.80")
    }

    func testICMPErrorQuotesTheOffendingHeader() {
        let probe = F.ipv4(src: Self.a4, dst: Self.b4, proto: 17, F.udp(sport: 40000, dport: 33434, payload: [1, 2, 3, 4]))
        let unreachable = F.ipv4(src: Self.b4, dst: Self.a4, proto: 1, [3, 3, 0, 0, 0, 0, 0, 0] + probe)
        let (outcome, p) = F.decode(unreachable, linkType: 101)
        XCTAssertEqual(outcome, .packet)
        XCTAssertTrue(p.isICMPError)
        XCTAssertTrue(p.hasQuote)
        XCTAssertEqual(p.quotedProto, .udp)
        XCTAssertEqual(p.quotedSource, IPAddress(ipv4: 0x0A00_0001))
        XCTAssertEqual(p.quotedSourcePort, 40000)
        XCTAssertEqual(p.quotedDestinationPort, 33434)
        XCTAssertEqual(p.sourcePort, 0, "an ICMP error is ICMP traffic between the two hosts")
        // A quote cut before the ports is no quote.
        let (_, cut) = F.decode(Array(unreachable[0..<(20 + 8 + 20 + 2)]), linkType: 101)
        XCTAssertFalse(cut.hasQuote)
    }

    func testFragmentIdentification() {
        let first = F.ipv4(src: Self.a4, dst: Self.b4, proto: 17, F.udp(sport: 2049, dport: 789, payload: [UInt8](repeating: 0, count: 64)),
                           moreFragments: true, id: 0x4242)
        let (_, p) = F.decode(first, linkType: 101)
        XCTAssertTrue(p.fragmented)
        XCTAssertFalse(p.laterFragment)
        XCTAssertEqual(p.fragmentID, 0x4242)
        XCTAssertEqual(p.sourcePort, 2049)
    }
}

/// A frame and its layout: where each header ends and the decode error a cut
/// before that end must give, outermost first. For a tunnel, also where the
/// inner packet's headers end: a cut between the outer headers and there
/// leaves the outer packet standing, unopened.
struct WireCase {
    var name: String
    var link: UInt32
    var frame: [UInt8]
    var headers: [(end: Int, error: DecodeError)]
    var tunnel: TunnelKind?
    var innerEnd: Int

    init(_ name: String, _ link: UInt32, _ frame: [UInt8], _ headers: [(end: Int, error: DecodeError)],
         tunnel: TunnelKind? = nil, innerEnd: Int = 0) {
        self.name = name
        self.link = link
        self.frame = frame
        self.headers = headers
        self.tunnel = tunnel
        self.innerEnd = innerEnd
    }

    /// Every prefix, from a buffer of exactly that length (so the debug
    /// build's bounds checks catch any read past it): the right error while
    /// a header is cut, then the outer packet alone while a tunnel's inner
    /// headers are cut, then the whole packet, flagged truncated until the
    /// last byte.
    func sweep(file: StaticString = #filePath, line: UInt = #line) {
        for n in 0...frame.count {
            let (outcome, p) = Fixture.decode(Array(frame[0..<n]), linkType: link)
            let at = "\(name) prefix \(n)"
            if let cut = headers.first(where: { n < $0.end }) {
                XCTAssertEqual(outcome, .error(cut.error), at, file: file, line: line)
            } else if tunnel != nil, n < innerEnd {
                XCTAssertEqual(outcome, .packet, at, file: file, line: line)
                XCTAssertNil(p.tunnel, at, file: file, line: line)
                XCTAssertTrue(p.truncated, at, file: file, line: line)
                XCTAssertNotEqual(p.sourcePort, WireEncapsulationTests.innerSourcePort, at, file: file, line: line)
            } else {
                XCTAssertEqual(outcome, .packet, at, file: file, line: line)
                XCTAssertEqual(p.truncated, n < frame.count, at, file: file, line: line)
                XCTAssertEqual(p.tunnel, tunnel, at, file: file, line: line)
                if tunnel != nil {
                    XCTAssertEqual(p.sourcePort, WireEncapsulationTests.innerSourcePort, at, file: file, line: line)
                }
            }
        }
    }
}
