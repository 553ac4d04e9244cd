import PFlowCore
import XCTest
@testable import PFlowWire

final class WireTests: XCTestCase {
    typealias F = Fixture
    static let a4: [UInt8] = [10, 0, 0, 1]
    static let b4: [UInt8] = [192, 0, 2, 80]

    /// Every fixture with its link type and the number of bytes up to the end
    /// of its last header (shorter prefixes must fail, longer ones decode).
    static var fixtures: [(name: String, link: UInt32, frame: [UInt8], headers: Int)] {
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
            ("ethernet/ipv4/tcp syn", 1, F.ethernet(type: 0x0800, v4syn), 14 + 20 + 20),
            ("ethernet/ipv4 options/tcp data", 1, F.ethernet(type: 0x0800, v4opts), 14 + 24 + 20),
            ("qinq/ipv6/udp", 1, F.ethernet(type: 0x86DD, vlans: [(0x88A8, 100), (0x8100, 200)], v6dns), 14 + 8 + 40 + 8),
            ("ethernet/ipv6 ext/udp", 1, F.ethernet(type: 0x86DD, v6ext), 14 + 40 + 16 + 8),
            ("sll/ipv4/icmp echo", 113, sll + F.ipv4(src: a4, dst: b4, proto: 1, ping), 16 + 20 + 8),
            ("sll2/ipv6/icmpv6 echo reply", 276, sll2 + v6ping, 20 + 40 + 8),
            ("raw/ipv4/udp", 101, F.ipv4(src: a4, dst: b4, proto: 17, dns), 20 + 8),
            ("raw228/ipv4/tcp", 228, v4syn, 20 + 20),
            ("raw229/ipv6/udp", 229, v6dns, 40 + 8),
            ("null le/ipv4/tcp", 0, F.le32(2) + v4syn, 4 + 20 + 20),
            ("null be/ipv6 af30/udp", 0, F.be32(30) + v6dns, 4 + 40 + 8),
            ("loop/ipv6 af24/udp", 108, F.be32(24) + v6dns, 4 + 40 + 8),
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
        for (name, link, frame, _) in Self.fixtures[4...] {
            let (outcome, p) = F.decode(frame, linkType: link)
            XCTAssertEqual(outcome, .packet, name)
            XCTAssertNotEqual(p.ipVersion, 0, name)
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
    /// headers cut short fail with a counted error, longer prefixes decode
    /// (TCP options are not needed: a cut in them only flags the packet).
    func testTruncationSweep() {
        for (name, link, frame, headers) in Self.fixtures {
            for n in 0...frame.count {
                let prefix = Array(frame[0..<n])
                let (outcome, p) = F.decode(prefix, linkType: link)
                if n < headers {
                    if case .error = outcome {} else { XCTFail("\(name) prefix \(n): \(outcome)") }
                } else {
                    XCTAssertEqual(outcome, .packet, "\(name) prefix \(n)")
                    XCTAssertEqual(p.truncated, n < frame.count, "\(name) prefix \(n)")
                }
            }
        }
    }

    func testIPv6Text() {
        XCTAssertEqual(IPAddress(high: 0, low: 1).description, "::1")
        XCTAssertEqual(IPAddress(high: 0x2001_0db8_0000_0000, low: 0x0000_0000_0000_0001).description, "2001:db8::1")
        XCTAssertEqual(IPAddress(high: 0x2001_0db8_0000_0001, low: 0x0000_0001_0000_0001).description, "2001:db8:0:1:0:1:0:1")
        XCTAssertEqual(IPAddress(high: 0xfe80_0000_0000_0000, low: 0x00fc_00ff_fe00_0001).description, "fe80::fc:ff:fe00:1")
        XCTAssertEqual(IPAddress(ipv4: 0xC000_0250).description, "192.0.2.80")
    }

    // MARK: encapsulations

    static let innerTCP = F.ipv4(src: [172, 16, 0, 1], dst: [172, 16, 0, 2], proto: 6,
                                 F.tcp(sport: 45000, dport: 22, flags: 0x18, payload: Array("SSH-2.0-x\r\n".utf8)))
    static let outer = (src: [UInt8]([198, 51, 100, 1]), dst: [UInt8]([198, 51, 100, 2]))

    /// Tunnelled fixtures: the inner packet is 172.16.0.1:45000 -> 172.16.0.2:22.
    static var tunnels: [(name: String, link: UInt32, frame: [UInt8], kind: TunnelKind?)] {
        let innerEthernet = F.ethernet(type: 0x0800, innerTCP)
        let o = outer
        return [
            ("mpls/ipv4", 1, F.ethernet(type: 0x8847, [0, 0x10, 0x00, 0x40] + [0, 0x20, 0x01, 0x40] + innerTCP), nil),
            ("mpls pseudowire/ethernet", 1, F.ethernet(type: 0x8847, [0, 0x10, 0x01, 0x40, 0, 0, 0, 0] + innerEthernet), nil),
            ("pppoe/ipv4", 1, F.ethernet(type: 0x8864, [0x11, 0, 0x12, 0x34] + F.be16(UInt16(innerTCP.count + 2)) + [0, 0x21] + innerTCP), nil),
            ("arista/vlan/ipv4", 1, F.ethernet(type: 0xD28B, [0, 1, 0, 0x10] + [UInt8](repeating: 9, count: 8) + [0x81, 0, 0, 7, 0x08, 0] + innerTCP), nil),
            ("ipip", 1, F.ethernet(type: 0x0800, F.ipv4(src: o.src, dst: o.dst, proto: 4, innerTCP)), .ipip),
            ("6in4", 101, F.ipv4(src: o.src, dst: o.dst, proto: 41,
                                 F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 6, F.tcp(sport: 45000, dport: 22, flags: 0x02))), .ipip),
            ("gre/ipv4", 1, F.ethernet(type: 0x0800, F.ipv4(src: o.src, dst: o.dst, proto: 47,
                                                            [0x20, 0, 0x08, 0] + [0, 0, 0, 1] + innerTCP)), .gre),
            ("gre/ethernet", 1, F.ethernet(type: 0x0800, F.ipv4(src: o.src, dst: o.dst, proto: 47, [0, 0, 0x65, 0x58] + innerEthernet)), .gre),
            ("pptp gre/ppp/ipv4", 1, F.ethernet(type: 0x0800, F.ipv4(src: o.src, dst: o.dst, proto: 47,
                [0x30, 0x81, 0x88, 0x0B] + F.be16(UInt16(innerTCP.count + 4)) + [0, 7] + F.be32(5) + F.be32(4)
                + [0xFF, 0x03, 0x00, 0x21] + innerTCP)), .pptp),
            ("vxlan", 1, F.ethernet(type: 0x0800, F.ipv4(src: o.src, dst: o.dst, proto: 17,
                F.udp(sport: 51000, dport: 4789, payload: [0x08, 0, 0, 0, 0, 0, 0x2A, 0] + innerEthernet))), .vxlan),
            ("geneve", 1, F.ethernet(type: 0x0800, F.ipv4(src: o.src, dst: o.dst, proto: 17,
                F.udp(sport: 51000, dport: 6081, payload: [0x01, 0, 0x65, 0x58, 0, 0, 0x2A, 0] + [0, 0, 0, 0] + innerEthernet))), .geneve),
            ("gtp-u", 1, F.ethernet(type: 0x0800, F.ipv4(src: o.src, dst: o.dst, proto: 17,
                F.udp(sport: 2152, dport: 2152, payload: [0x30, 0xFF] + F.be16(UInt16(innerTCP.count)) + F.be32(1) + innerTCP))), .gtpu),
            ("teredo", 1, F.ethernet(type: 0x0800, F.ipv4(src: o.src, dst: o.dst, proto: 17,
                F.udp(sport: 3544, dport: 51000, payload: [0, 0, 0x12, 0x34, 1, 2, 3, 4]
                      + F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 6, F.tcp(sport: 45000, dport: 22, flags: 0x02))))), .teredo),
        ]
    }

    func testEncapsulationsReachTheInnerPacket() {
        for (name, link, frame, kind) in Self.tunnels {
            let (outcome, p) = F.decode(frame, linkType: link)
            XCTAssertEqual(outcome, .packet, name)
            XCTAssertEqual(p.proto, .tcp, name)
            XCTAssertEqual(p.sourcePort, 45000, name)
            XCTAssertEqual(p.destinationPort, 22, name)
            XCTAssertEqual(p.tunnel, kind, name)
            if kind != nil {
                XCTAssertEqual(p.tunnelSource.description, "198.51.100.1", name)
                XCTAssertEqual(p.tunnelDestination.description, "198.51.100.2", name)
            }
        }
        let (_, arista) = F.decode(Self.tunnels[3].frame)
        XCTAssertEqual(arista.vlan, 7)
    }

    func testNoDecapKeepsTheOuterPacket() {
        var p = DecodedPacket()
        p.decapsulate = false
        let vxlan = Self.tunnels[9].frame
        let outcome = vxlan.withUnsafeBytes { PacketDecoder.decode($0, linkType: 1, into: &p) }
        XCTAssertEqual(outcome, .packet)
        XCTAssertEqual(p.proto, .udp)
        XCTAssertEqual(p.destinationPort, 4789)
        XCTAssertNil(p.tunnel)
    }

    /// Every prefix of every tunnelled fixture: never a trap, never an
    /// inner packet read past the outer one; a cut inner packet leaves the
    /// outer one standing.
    func testEncapsulationTruncationSweep() {
        for (name, link, frame, kind) in Self.tunnels {
            for n in 0...frame.count {
                let (outcome, p) = F.decode(Array(frame[0..<n]), linkType: link)
                if outcome == .packet, kind != nil, p.tunnel == nil {
                    XCTAssertNotEqual(p.sourcePort, 45000, "\(name) prefix \(n)")
                }
                if p.tunnel != nil { XCTAssertEqual(p.sourcePort, 45000, "\(name) prefix \(n)") }
            }
        }
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
