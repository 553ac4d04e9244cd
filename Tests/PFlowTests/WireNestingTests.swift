import Foundation
import PFlowCore
import XCTest
@testable import PFlowWire

/// Nesting is a loop with counters, not a recursion: a record of 256 KB of
/// nested headers decodes in the debug build (`swift test`), whose frames are
/// large, without overflowing the stack, and the counters give the outcome.
final class WireNestingTests: XCTestCase {
    typealias F = Fixture
    static let recordSize = 256 * 1024
    static let innerTCP = WireEncapsulationTests.innerTCP

    /// Decodes on a thread with a 256 KB stack, a 32nd of the main thread's:
    /// a decoder that recursed once per header would overflow it within a
    /// few thousand headers of a 256 KB record; the loop needs a few frames.
    static func decodeOnSmallStack(_ frame: [UInt8], linkType: UInt32 = 1) -> DecodeOutcome {
        final class Result: @unchecked Sendable {  // written by the thread before `done` is signalled
            var outcome = DecodeOutcome.notIP
        }
        let result = Result()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            result.outcome = Fixture.decode(frame, linkType: linkType).0
            done.signal()
        }
        thread.stackSize = 256 * 1024
        thread.start()
        done.wait()
        return result.outcome
    }

    /// An Ethernet header of `type`, then `unit` repeated to fill a record.
    static func record(type: UInt16, repeating unit: [UInt8]) -> [UInt8] {
        var frame = F.ethernet(type: type, [])
        while frame.count + unit.count <= recordSize { frame += unit }
        return frame + [UInt8](repeating: 0, count: recordSize - frame.count)
    }

    /// VLAN 1, then another tag: after Ethernet, after a Linux cooked
    /// header and after an Arista header.
    func testChained8021QTags() {
        let tag: [UInt8] = [0x00, 0x01, 0x81, 0x00]
        let frame = Self.record(type: 0x8100, repeating: tag)
        XCTAssertEqual(frame.count, Self.recordSize)
        XCTAssertEqual(Self.decodeOnSmallStack(frame), .error(.tooDeeplyNested))
        var cooked = [0, 0, 0, 1, 0, 6] + F.macA + [0, 0] + F.be16(0x8100)
        while cooked.count < Self.recordSize { cooked += tag }
        XCTAssertEqual(Self.decodeOnSmallStack(cooked, linkType: 113), .error(.tooDeeplyNested))
        var arista = F.ethernet(type: 0xD28B, [0, 1, 0, 0x10] + [UInt8](repeating: 0x5A, count: 8) + [0x81, 0x00])
        while arista.count < Self.recordSize { arista += tag }
        XCTAssertEqual(Self.decodeOnSmallStack(arista), .error(.tooDeeplyNested))
    }

    func testChainedAristaHeaders() {
        let header: [UInt8] = [0, 1, 0, 0x10] + [UInt8](repeating: 0x5A, count: 8) + [0xD2, 0x8B]  // then another one
        XCTAssertEqual(Self.decodeOnSmallStack(Self.record(type: 0xD28B, repeating: header)), .error(.tooDeeplyNested))
    }

    func testMPLSPseudowireEthernetNesting() {
        // Label (bottom of stack), control word, an Ethernet header whose type is MPLS again.
        let unit: [UInt8] = [0, 0x10, 0x01, 0x40] + [0, 0, 0, 0] + F.ethernet(type: 0x8847, [])
        XCTAssertEqual(Self.decodeOnSmallStack(Self.record(type: 0x8847, repeating: unit)), .error(.tooDeeplyNested))
    }

    /// Neither a label stack without a bottom nor a long IPv6 extension
    /// chain is nesting: both are walked to the end of their bytes.
    func testLongStacksAreWalked() {
        XCTAssertEqual(F.decode(Self.record(type: 0x8847, repeating: [0, 0x10, 0x00, 0x40])).0, .error(.mplsTruncated))
        var options = [UInt8]()
        for _ in 0..<8000 { options += [60, 0, 1, 4, 0, 0, 0, 0] }  // destination options, each 8 bytes
        options[options.count - 8] = 17
        let v6 = F.ipv6(src: F.v6addr(1), dst: F.v6addr(2), next: 60, options + F.udp(sport: 1, dport: 2, payload: []))
        let (outcome, p) = F.decode(v6, linkType: 229)
        XCTAssertEqual(outcome, .packet)
        XCTAssertEqual(p.proto, .udp)
        XCTAssertEqual(p.destinationPort, 2)
    }

    /// Up to `maximumShims` shims of any kind decode; one more fails.
    func testShimBound() {
        let bound = PacketDecoder.maximumShims
        for shims in [bound, bound + 1] {
            let tags = [(UInt16, UInt16)](repeating: (0x8100, 9), count: shims - 2)
            let frame = F.ethernet(type: 0x8864, vlans: [(0x88A8, 8)] + tags,
                                   [0x11, 0, 0, 1, 0, 53, 0, 0x21] + Self.innerTCP)  // PPPoE carrying IPv4
            let (outcome, p) = F.decode(frame)
            if shims <= bound {
                XCTAssertEqual(outcome, .packet, "\(shims) shims")
                XCTAssertEqual(p.vlan, 8)
                XCTAssertEqual(p.sourcePort, WireEncapsulationTests.innerSourcePort)
            } else {
                XCTAssertEqual(outcome, .error(.tooDeeplyNested), "\(shims) shims")
            }
        }
    }

    /// Each link layer counts its own shims: a tunnel's inner frame starts
    /// from zero. One with too many fails, and the outer packet stands.
    func testShimsCountPerLinkLayer() {
        let bound = PacketDecoder.maximumShims
        func vxlan(innerTags: Int) -> [UInt8] {
            let tags = [(UInt16, UInt16)](repeating: (0x8100, 2), count: innerTags)
            let inner = F.ethernet(type: 0x0800, vlans: tags, Self.innerTCP)
            let udp = F.udp(sport: 51000, dport: 4789, payload: [0x08, 0, 0, 0, 0, 0, 0x2A, 0] + inner)
            return F.ethernet(type: 0x0800, vlans: [(UInt16, UInt16)](repeating: (0x8100, 1), count: bound),
                              F.ipv4(src: [198, 51, 100, 1], dst: [198, 51, 100, 2], proto: 17, udp))
        }
        let (fits, p) = F.decode(vxlan(innerTags: bound))
        XCTAssertEqual(fits, .packet)
        XCTAssertEqual(p.tunnel, .vxlan)
        XCTAssertEqual(p.sourcePort, WireEncapsulationTests.innerSourcePort)
        let (stands, q) = F.decode(vxlan(innerTags: bound + 1))
        XCTAssertEqual(stands, .packet)
        XCTAssertNil(q.tunnel)
        XCTAssertEqual(q.destinationPort, 4789)
    }

    /// A chain of inner shims inside a tunnel: the inner packet fails as too
    /// deeply nested, so the outer one stands.
    func testChainedTagsInsideATunnel() {
        var inner = F.ethernet(type: 0x8100, [])
        while inner.count < 60_000 { inner += [0x00, 0x01, 0x81, 0x00] }
        let frame = F.ethernet(type: 0x0800, F.ipv4(src: [198, 51, 100, 1], dst: [198, 51, 100, 2], proto: 47,
                                                    [0, 0, 0x65, 0x58] + inner))
        XCTAssertEqual(Self.decodeOnSmallStack(frame), .packet)
        let (_, p) = F.decode(frame)
        XCTAssertNil(p.tunnel)
        XCTAssertEqual(p.proto.rawValue, 47)
    }

    /// Tunnels open `maximumTunnelDepth` deep; the next one stands as the
    /// payload of the last one opened, and is not an error.
    func testTunnelDepthBound() {
        let depth = Int(PacketDecoder.maximumTunnelDepth)
        func ipInIP(_ levels: Int) -> [UInt8] {
            var packet = Self.innerTCP
            for _ in 0..<levels { packet = F.ipv4(src: [198, 51, 100, 1], dst: [198, 51, 100, 2], proto: 4, packet) }
            return F.ethernet(type: 0x0800, packet)
        }
        let (reached, p) = F.decode(ipInIP(depth))
        XCTAssertEqual(reached, .packet)
        XCTAssertEqual(p.tunnelDepth, PacketDecoder.maximumTunnelDepth)
        XCTAssertEqual(p.proto, .tcp)
        XCTAssertEqual(p.sourcePort, WireEncapsulationTests.innerSourcePort)
        let (stopped, q) = F.decode(ipInIP(depth + 1))
        XCTAssertEqual(stopped, .packet)
        XCTAssertEqual(q.tunnel, .ipip)
        XCTAssertEqual(q.tunnelDepth, PacketDecoder.maximumTunnelDepth)
        XCTAssertEqual(q.proto.rawValue, 4)
    }

    /// A thousand GRE tunnels, one inside the other, in one record.
    func testDeepGRENesting() {
        var packet = Self.innerTCP
        for _ in 0..<1000 {
            packet = F.ipv4(src: [198, 51, 100, 1], dst: [198, 51, 100, 2], proto: 47, [0, 0, 0x08, 0x00] + packet)
        }
        XCTAssertEqual(Self.decodeOnSmallStack(F.ethernet(type: 0x0800, packet)), .packet)
        let (_, p) = F.decode(F.ethernet(type: 0x0800, packet))
        XCTAssertEqual(p.tunnel, .gre)
        XCTAssertEqual(p.tunnelDepth, PacketDecoder.maximumTunnelDepth)
        XCTAssertEqual(p.proto.rawValue, 47)
    }
}
