import PFlowCore
import XCTest
@testable import PFlowWire

/// Link-layer shims (VLAN stacks, MPLS, PPPoE, Arista) and tunnels (GRE,
/// PPTP, VXLAN, Geneve, GTP-U, Teredo, IP in IP), each spelled out byte by
/// byte around the same inner packet, 172.16.0.1:45000 -> 172.16.0.2:22.
final class WireEncapsulationTests: XCTestCase {
    typealias F = Fixture
    static let innerSourcePort: UInt16 = 45000

    static let innerTCP = F.ipv4(src: [172, 16, 0, 1], dst: [172, 16, 0, 2], proto: 6,
                                 F.tcp(sport: innerSourcePort, dport: 22, flags: 0x18, payload: Array("SSH-2.0-x\r\n".utf8)))
    static let innerSYN6 = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 6,
                                  F.tcp(sport: innerSourcePort, dport: 22, flags: 0x02))
    static let innerEthernet = F.ethernet(type: 0x0800, innerTCP)
    static let outerSource: [UInt8] = [198, 51, 100, 1]
    static let outerDestination: [UInt8] = [198, 51, 100, 2]

    static func outer(proto: UInt8, _ payload: [UInt8]) -> [UInt8] {
        F.ethernet(type: 0x0800, F.ipv4(src: outerSource, dst: outerDestination, proto: proto, payload))
    }

    static func outerUDP(sport: UInt16 = 51000, dport: UInt16, _ payload: [UInt8]) -> [UInt8] {
        outer(proto: 17, F.udp(sport: sport, dport: dport, payload: payload))
    }

    /// Inner headers: Ethernet 14, IPv4 20, TCP 20; the IPv6 SYN is 40 + 20.
    static let v4Headers = 20 + 20, v6Headers = 40 + 20, ethernetHeaders = 14 + v4Headers
    /// Outer Ethernet, IPv4 and UDP headers end here.
    static let ethernetEnd = 14, ipEnd = 34, udpEnd = 42

    /// Link-layer shims: a cut anywhere fails, with the cut header's error.
    static var shims: [WireCase] {
        let tcp = innerTCP
        let ip: [(end: Int, error: DecodeError)] = [(20, .ipv4Truncated), (40, .tcpTruncated)]
        func after(_ offset: Int, _ inner: [(end: Int, error: DecodeError)]) -> [(end: Int, error: DecodeError)] {
            inner.map { ($0.end + offset, $0.error) }
        }
        let ip6 = [(end: 40, error: DecodeError.ipv6Truncated), (60, .tcpTruncated)]
        return [
            WireCase("802.1Q/ipv4", 1, F.ethernet(type: 0x0800, vlans: [(0x8100, 7)], tcp),
                     [(14, .linkTruncated), (18, .vlanTruncated)] + after(18, ip)),
            WireCase("QinQ 0x9100/802.1Q/ipv4", 1, F.ethernet(type: 0x0800, vlans: [(0x9100, 10), (0x8100, 20)], tcp),
                     [(14, .linkTruncated), (22, .vlanTruncated)] + after(22, ip)),
            WireCase("QinQ 0x9200/ipv4", 1, F.ethernet(type: 0x0800, vlans: [(0x9200, 30)], tcp),
                     [(14, .linkTruncated), (18, .vlanTruncated)] + after(18, ip)),
            WireCase("three tags/ipv6", 1, F.ethernet(type: 0x86DD, vlans: [(0x88A8, 1), (0x8100, 2), (0x8100, 3)], innerSYN6),
                     [(14, .linkTruncated), (26, .vlanTruncated)] + after(26, ip6)),
            WireCase("mpls two labels/ipv4", 1, F.ethernet(type: 0x8847, [0, 0x10, 0x00, 0x40] + [0, 0x20, 0x01, 0x40] + tcp),
                     [(14, .linkTruncated), (23, .mplsTruncated)] + after(22, ip)),
            WireCase("mpls multicast/ipv6", 1, F.ethernet(type: 0x8848, [0, 0x10, 0x01, 0x40] + innerSYN6),
                     [(14, .linkTruncated), (19, .mplsTruncated)] + after(18, ip6)),
            WireCase("mpls pseudowire/ethernet/ipv4", 1,
                     F.ethernet(type: 0x8847, [0, 0x10, 0x01, 0x40] + [0, 0, 0, 0] + innerEthernet),
                     [(14, .linkTruncated), (36, .mplsTruncated)] + after(36, ip)),
            WireCase("pppoe/ipv4", 1,
                     F.ethernet(type: 0x8864, [0x11, 0, 0x12, 0x34] + F.be16(UInt16(tcp.count + 2)) + [0, 0x21] + tcp),
                     [(14, .linkTruncated), (22, .pppoeTruncated)] + after(22, ip)),
            WireCase("pppoe/ipv6", 1, F.ethernet(type: 0x8864, [0x11, 0, 0x12, 0x34] + F.be16(62) + [0, 0x57] + innerSYN6),
                     [(14, .linkTruncated), (22, .pppoeTruncated)] + after(22, ip6)),
            WireCase("arista 64-bit/802.1Q/ipv4", 1,
                     F.ethernet(type: 0xD28B, [0, 1, 0, 0x10] + [UInt8](repeating: 9, count: 8) + [0x81, 0]
                                + [0, 7, 0x08, 0] + tcp),
                     [(14, .linkTruncated), (28, .linkTruncated), (32, .vlanTruncated)] + after(32, ip)),
            WireCase("arista 48-bit UTC/ipv4", 1,
                     F.ethernet(type: 0xD28B, [0, 1, 0x01, 0x20] + [UInt8](repeating: 9, count: 6) + [0x08, 0] + tcp),
                     [(14, .linkTruncated), (26, .linkTruncated)] + after(26, ip)),
        ]
    }

    /// Tunnels: a cut in the outer headers fails; a cut in the tunnel header
    /// or the inner headers leaves the outer packet standing.
    static var tunnels: [WireCase] {
        let tcp = innerTCP, (e, ip, udp) = (ethernetEnd, ipEnd, udpEnd)
        let ipHeaders: [(end: Int, error: DecodeError)] = [(e, .linkTruncated), (ip, .ipv4Truncated)]
        let udpHeaders = ipHeaders + [(udp, .udpTruncated)]
        let pptpKey = F.be16(UInt16(tcp.count + 4)) + [0, 7]
        let teredo = F.udp(sport: 3544, dport: 51000, payload: [0, 0, 0x12, 0x34, 1, 2, 3, 4] + innerSYN6)
        // Indicator with a 2-byte client identifier and a 3-byte value, then nonce and confirmation.
        let authentication: [UInt8] = [0, 1, 2, 3] + [0xC1, 0xC2] + [0xA1, 0xA2, 0xA3]
            + [UInt8](repeating: 0x4E, count: 8) + [0]
        return [
            WireCase("ip-in-ip 4in4", 1, outer(proto: 4, tcp), ipHeaders, tunnel: .ipip, innerEnd: ip + v4Headers),
            WireCase("6in4", 101, F.ipv4(src: outerSource, dst: outerDestination, proto: 41, innerSYN6),
                     [(1, .linkTruncated), (20, .ipv4Truncated)], tunnel: .ipip, innerEnd: 20 + v6Headers),
            WireCase("4in6", 1, F.ethernet(type: 0x86DD, F.ipv6(src: F.v6addr(9), dst: F.v6addr(10), next: 4, tcp)),
                     [(e, .linkTruncated), (e + 40, .ipv6Truncated)], tunnel: .ipip, innerEnd: e + 40 + v4Headers),
            WireCase("6in6", 229, F.ipv6(src: F.v6addr(9), dst: F.v6addr(10), next: 41, innerSYN6),
                     [(40, .ipv6Truncated)], tunnel: .ipip, innerEnd: 40 + v6Headers),
            WireCase("gre key/ipv4", 1, outer(proto: 47, [0x20, 0, 0x08, 0] + [0, 0, 0, 1] + tcp),
                     ipHeaders, tunnel: .gre, innerEnd: ip + 8 + v4Headers),
            WireCase("gre checksum, key, sequence/ipv4", 1,
                     outer(proto: 47, [0xB0, 0, 0x08, 0] + [UInt8](repeating: 0, count: 12) + tcp),
                     ipHeaders, tunnel: .gre, innerEnd: ip + 16 + v4Headers),
            WireCase("gre/ethernet", 1, outer(proto: 47, [0, 0, 0x65, 0x58] + innerEthernet),
                     ipHeaders, tunnel: .gre, innerEnd: ip + 4 + ethernetHeaders),
            WireCase("gre/mpls/ipv4", 1, outer(proto: 47, [0, 0, 0x88, 0x47] + [0, 0x10, 0x01, 0x40] + tcp),
                     ipHeaders, tunnel: .gre, innerEnd: ip + 8 + v4Headers),
            WireCase("pptp gre, sequence, ack/ppp/ipv4", 1,
                     outer(proto: 47, [0x30, 0x81, 0x88, 0x0B] + pptpKey + F.be32(5) + F.be32(4)
                           + [0xFF, 0x03, 0x00, 0x21] + tcp),
                     ipHeaders, tunnel: .pptp, innerEnd: ip + 16 + 4 + v4Headers),
            WireCase("pptp gre/compressed ppp/ipv4", 1, outer(proto: 47, [0x20, 0x01, 0x88, 0x0B] + pptpKey + [0x21] + tcp),
                     ipHeaders, tunnel: .pptp, innerEnd: ip + 8 + 1 + v4Headers),
            WireCase("vxlan", 1, outerUDP(dport: 4789, [0x08, 0, 0, 0, 0, 0, 0x2A, 0] + innerEthernet),
                     udpHeaders, tunnel: .vxlan, innerEnd: udp + 8 + ethernetHeaders),
            WireCase("geneve option/ethernet", 1,
                     outerUDP(dport: 6081, [0x01, 0, 0x65, 0x58, 0, 0, 0x2A, 0] + [0, 0, 0, 0] + innerEthernet),
                     udpHeaders, tunnel: .geneve, innerEnd: udp + 12 + ethernetHeaders),
            WireCase("geneve/ipv4", 1, outerUDP(dport: 6081, [0x00, 0, 0x08, 0x00, 0, 0, 0x2A, 0] + tcp),
                     udpHeaders, tunnel: .geneve, innerEnd: udp + 8 + v4Headers),
            WireCase("gtp-u", 1, outerUDP(sport: 2152, dport: 2152, [0x30, 0xFF] + F.be16(UInt16(tcp.count)) + F.be32(1) + tcp),
                     udpHeaders, tunnel: .gtpu, innerEnd: udp + 8 + v4Headers),
            WireCase("gtp-u extension header", 1,
                     outerUDP(sport: 2152, dport: 40000, [0x34, 0xFF] + F.be16(UInt16(tcp.count + 8)) + F.be32(1)
                              + [0, 0, 0, 0x85] + [1, 0xAA, 0xBB, 0] + tcp),
                     udpHeaders, tunnel: .gtpu, innerEnd: udp + 16 + v4Headers),
            // Teredo opens only a payload that is exactly one IPv6 packet: no cut is opened.
            WireCase("teredo origin indication", 1, outer(proto: 17, teredo),
                     udpHeaders, tunnel: .teredo, innerEnd: udp + 8 + v6Headers),
            WireCase("teredo", 1, outerUDP(sport: 3544, dport: 3544, innerSYN6),
                     udpHeaders, tunnel: .teredo, innerEnd: udp + v6Headers),
            WireCase("teredo authentication, origin indication", 1,
                     outerUDP(sport: 40000, dport: 3544, authentication + [0, 0, 0x12, 0x34, 1, 2, 3, 4] + innerSYN6),
                     udpHeaders, tunnel: .teredo, innerEnd: udp + authentication.count + 8 + v6Headers),
        ]
    }

    func testTruncationSweeps() {
        for c in Self.shims + Self.tunnels { c.sweep() }
    }

    func testEncapsulationsReachTheInnerPacket() {
        for c in Self.shims + Self.tunnels {
            let (outcome, p) = F.decode(c.frame, linkType: c.link)
            XCTAssertEqual(outcome, .packet, c.name)
            XCTAssertEqual(p.proto, .tcp, c.name)
            XCTAssertEqual(p.sourcePort, Self.innerSourcePort, c.name)
            XCTAssertEqual(p.destinationPort, 22, c.name)
            XCTAssertEqual(p.tunnel, c.tunnel, c.name)
            XCTAssertEqual(p.tunnelDepth, c.tunnel == nil ? 0 : 1, c.name)
            if c.tunnel != nil, c.link == 1, c.frame[12] == 0x08 {
                XCTAssertEqual(p.tunnelSource.description, "198.51.100.1", c.name)
                XCTAssertEqual(p.tunnelDestination.description, "198.51.100.2", c.name)
            }
        }
    }

    /// The outermost tag names the VLAN, whatever its tag protocol.
    func testOutermostTagIsTheVLAN() {
        let expected: [String: UInt16] = ["802.1Q/ipv4": 7, "QinQ 0x9100/802.1Q/ipv4": 10, "QinQ 0x9200/ipv4": 30,
                                          "three tags/ipv6": 1, "arista 64-bit/802.1Q/ipv4": 7]
        for c in Self.shims {
            XCTAssertEqual(F.decode(c.frame, linkType: c.link).1.vlan, expected[c.name], c.name)
        }
    }

    func testNoDecapKeepsTheOuterPacket() {
        for c in Self.tunnels {
            var p = DecodedPacket()
            p.decapsulate = false
            let outcome = c.frame.withUnsafeBytes { PacketDecoder.decode($0, linkType: c.link, into: &p) }
            XCTAssertEqual(outcome, .packet, c.name)
            XCTAssertNil(p.tunnel, c.name)
            XCTAssertNotEqual(p.sourcePort, Self.innerSourcePort, c.name)
        }
    }

    /// Link-layer shims that carry something other than IP.
    func testShimsThatCarryNoIP() {
        let lcp = F.ethernet(type: 0x8864, [0x11, 0, 0x12, 0x34, 0, 6, 0xC0, 0x21, 1, 1, 0, 4])
        XCTAssertEqual(F.decode(lcp).0, .notIP)
        let mplsOther = F.ethernet(type: 0x8847, [0, 0x10, 0x01, 0x40, 0x20, 0, 0, 0])  // first nibble 2
        XCTAssertEqual(F.decode(mplsOther).0, .notIP)
        let aristaSubtype = F.ethernet(type: 0xD28B, [0, 2, 0, 0x10] + [UInt8](repeating: 0, count: 10))
        XCTAssertEqual(F.decode(aristaSubtype).0, .notIP)
        let aristaFormat = F.ethernet(type: 0xD28B, [0, 1, 0, 0x30] + [UInt8](repeating: 0, count: 10))
        XCTAssertEqual(F.decode(aristaFormat).0, .notIP)
        let arp = F.ethernet(type: 0x0806, vlans: [(0x8100, 5)], [UInt8](repeating: 0, count: 28))
        XCTAssertEqual(F.decode(arp).0, .notIP)
    }

    /// A tunnel header pflow doesn't open, or an inner packet it can't
    /// decode, leaves the outer packet as it was: still outer traffic.
    func testUnopenedTunnelsLeaveTheOuterPacket() {
        let tcp = Self.innerTCP
        let cases: [(String, [UInt8], UInt8)] = [
            ("gre source routing", Self.outer(proto: 47, [0x40, 0, 0x08, 0] + [0, 0, 0, 0] + tcp), 47),
            ("gre version 2", Self.outer(proto: 47, [0, 2, 0x08, 0] + tcp), 47),
            ("gre carrying ARP", Self.outer(proto: 47, [0, 0, 0x08, 0x06] + [UInt8](repeating: 0, count: 28)), 47),
            ("pptp without key", Self.outer(proto: 47, [0x00, 0x01, 0x88, 0x0B, 0, 40, 0, 7] + [0x21] + tcp), 47),
            ("pptp acknowledgment only", Self.outer(proto: 47, [0x20, 0x81, 0x88, 0x0B, 0, 0, 0, 7] + F.be32(4)), 47),
            ("pptp carrying LCP", Self.outer(proto: 47, [0x20, 0x01, 0x88, 0x0B, 0, 8, 0, 7]
                                             + [0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4]), 47),
            ("vxlan without I flag", Self.outerUDP(dport: 4789, [0, 0, 0, 0, 0, 0, 0x2A, 0] + Self.innerEthernet), 17),
            ("vxlan carrying ARP", Self.outerUDP(dport: 4789, [0x08, 0, 0, 0, 0, 0, 0x2A, 0]
                                                 + F.ethernet(type: 0x0806, [UInt8](repeating: 0, count: 28))), 17),
            ("vxlan carrying a bad IPv4 version", Self.outerUDP(dport: 4789, [0x08, 0, 0, 0, 0, 0, 0x2A, 0]
                                                                + F.ethernet(type: 0x0800, [0x55] + tcp.dropFirst())), 17),
            ("geneve version 1", Self.outerUDP(dport: 6081, [0x40, 0, 0x08, 0x00, 0, 0, 0x2A, 0] + tcp), 17),
            ("geneve options past the end", Self.outerUDP(dport: 6081, [0x3F, 0, 0x08, 0x00, 0, 0, 0x2A, 0] + tcp), 17),
            ("gtp-u echo request", Self.outerUDP(dport: 2152, [0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]), 17),
            ("gtp prime", Self.outerUDP(dport: 2152, [0x20, 0xFF] + F.be16(UInt16(tcp.count)) + F.be32(1) + tcp), 17),
            ("gtp-u extension of length 0", Self.outerUDP(dport: 2152, [0x34, 0xFF, 0, 12] + F.be32(1)
                                                          + [0, 0, 0, 0x85, 0, 0, 0, 0] + tcp), 17),
            ("gtp-u carrying no IP", Self.outerUDP(dport: 2152, [0x30, 0xFF, 0, 4] + F.be32(1) + [0x50, 0, 0, 0]), 17),
            ("teredo with bytes after the IPv6 packet", Self.outerUDP(dport: 3544, Self.innerSYN6 + [0]), 17),
            ("teredo carrying IPv4", Self.outerUDP(dport: 3544, tcp), 17),
        ]
        for (name, frame, proto) in cases {
            let (outcome, p) = F.decode(frame)
            XCTAssertEqual(outcome, .packet, name)
            XCTAssertNil(p.tunnel, name)
            XCTAssertEqual(p.tunnelDepth, 0, name)
            XCTAssertEqual(p.proto.rawValue, proto, name)
            XCTAssertEqual(p.source.description, "198.51.100.1", name)
            XCTAssertNotEqual(p.sourcePort, Self.innerSourcePort, name)
        }
    }

    /// A fragment's payload is not a whole inner packet: not opened.
    func testFragmentedOuterPacketIsNotOpened() {
        let gre = F.ethernet(type: 0x0800, F.ipv4(src: Self.outerSource, dst: Self.outerDestination, proto: 47,
                                                 [0, 0, 0x08, 0] + Self.innerTCP, moreFragments: true))
        let (outcome, p) = F.decode(gre)
        XCTAssertEqual(outcome, .packet)
        XCTAssertNil(p.tunnel)
        XCTAssertTrue(p.fragmented)
    }

    /// The inner frame's VLAN counts when the outer frame has none; an inner
    /// packet that fails takes its VLAN with it.
    func testInnerVLAN() {
        let tagged = F.ethernet(type: 0x0800, vlans: [(0x8100, 33)], Self.innerTCP)
        let (_, p) = F.decode(Self.outerUDP(dport: 4789, [0x08, 0, 0, 0, 0, 0, 0x2A, 0] + tagged))
        XCTAssertEqual(p.tunnel, .vxlan)
        XCTAssertEqual(p.vlan, 33)
        let taggedARP = F.ethernet(type: 0x0806, vlans: [(0x8100, 33)], [UInt8](repeating: 0, count: 28))
        let (_, q) = F.decode(Self.outerUDP(dport: 4789, [0x08, 0, 0, 0, 0, 0, 0x2A, 0] + taggedARP))
        XCTAssertNil(q.tunnel)
        XCTAssertNil(q.vlan)
    }
}
