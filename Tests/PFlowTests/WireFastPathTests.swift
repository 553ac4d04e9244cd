import PFlowCore
import XCTest
@testable import PFlowWire

/// The decoder's straight line for Ethernet/IPv4-or-IPv6/TCP-or-UDP against its
/// general path by layers: on generated frames near the fast path's edges
/// (header lengths, total lengths past and short of the capture, fragment
/// bits, data offsets, UDP tunnel ports, other protocols and EtherTypes),
/// each also cut at random, both must give the same outcome and leave the
/// same packet value, starting from the same state the previous frame left.
final class WireFastPathTests: XCTestCase {
    static func frame(_ r: inout SplitMix) -> [UInt8] {
        var f = (0..<12).map { _ in r.byte() }
        let etherType: UInt16 = r.chance(90) ? r.pick([0x0800, 0x0800, 0x86DD]) : r.pick([0x8100, 0x0806, 0x0000])
        f += [UInt8(etherType >> 8), UInt8(etherType & 0xFF)]
        let proto: UInt8 = r.chance(90) ? r.pick([6, 17]) : r.pick([1, 4, 41, 47, 58, 132, 0, 44, 43, 60])
        var transport: [UInt8] = []
        let sport: UInt16 = r.chance(10) ? r.pick([4789, 6081, 2152, 3544]) : UInt16(truncatingIfNeeded: r.next())
        let dport: UInt16 = r.chance(10) ? r.pick([4789, 6081, 2152, 3544]) : UInt16(truncatingIfNeeded: r.next())
        transport += [UInt8(sport >> 8), UInt8(sport & 0xFF), UInt8(dport >> 8), UInt8(dport & 0xFF)]
        if proto == 6 {
            transport += (0..<8).map { _ in r.byte() }           // sequence, acknowledgment
            let offsetWords = r.chance(80) ? r.pick([5, 8]) : r.below(16)
            transport.append(UInt8(offsetWords << 4))
            transport += (0..<7).map { _ in r.byte() }           // flags, window, checksum, urgent
            transport += (0..<max(0, offsetWords * 4 - 20)).map { _ in r.byte() }
        } else {
            transport += (0..<4).map { _ in r.byte() }
        }
        transport += (0..<r.below(64)).map { _ in r.byte() }
        if etherType == 0x86DD {
            let version: UInt8 = r.chance(95) ? 6 : r.pick([0, 4])
            var length = transport.count
            if r.chance(20) { length = r.below(length + 40) }    // short of or past the bytes
            f += [version << 4 | r.byte() & 0x0F, r.byte(), r.byte(), r.byte()]
            f += [UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), proto, r.byte()]
            f += (0..<32).map { _ in r.byte() }                  // addresses
        } else {
            let ihlWords = r.chance(80) ? 5 : r.pick([0, 4, 6, 7, 15])
            let version: UInt8 = r.chance(95) ? 4 : r.pick([0, 6, 5])
            let header = ihlWords * 4
            var total = 20 + max(0, header - 20) + transport.count
            if r.chance(20) { total = r.below(total + 40) }
            f += [version << 4 | UInt8(ihlWords & 0x0F), r.byte(), UInt8(total >> 8 & 0xFF), UInt8(total & 0xFF)]
            f += [r.byte(), r.byte()]                            // identification
            let fragment: UInt16 = r.chance(85) ? (r.chance(50) ? 0x4000 : 0)
                : r.pick([0x2000, 0x0001, 0x1FFF, 0x6000, 0x8000])
            f += [UInt8(fragment >> 8), UInt8(fragment & 0xFF), r.byte(), proto, r.byte(), r.byte()]
            f += (0..<8).map { _ in r.byte() }                   // addresses
            f += (0..<max(0, header - 20)).map { _ in r.byte() } // options
        }
        f += transport
        if r.chance(15) { f += (0..<r.below(20)).map { _ in 0 } }  // link padding
        if r.chance(25) { f = Array(f.prefix(r.below(f.count + 1))) }
        return f
    }

    func testFastPathMatchesTheLayers() {
        var r = SplitMix(seed: 0x5EED_F457)  // seeded: every run tests the same frames
        var fast = DecodedPacket(), layered = DecodedPacket()
        var taken = 0
        for i in 0..<20_000 {
            let f = Self.frame(&r)
            if i % 1000 == 0 {   // decapsulation off now and then, as --no-decapsulate does
                let on = r.chance(70)
                fast.decapsulate = on
                layered.decapsulate = on
            }
            let (a, b, tookFast): (DecodeOutcome, DecodeOutcome, Bool) = f.withUnsafeBytes { bytes in
                var probe = fast
                let took = PacketDecoder.ethernetIP(bytes, &probe)
                return (PacketDecoder.decode(bytes, linkType: 1, into: &fast),
                        PacketDecoder.decodeLayers(bytes, linkType: 1, into: &layered), took)
            }
            if tookFast { taken += 1 }
            XCTAssertEqual(a, b, "frame \(i): \(f)")
            XCTAssertEqual(String(describing: fast), String(describing: layered), "frame \(i): \(f)")
            if a != b || String(describing: fast) != String(describing: layered) { return }
        }
        // The generator must reach the fast path often and miss it often.
        XCTAssertGreaterThan(taken, 6_000)
        XCTAssertLessThan(taken, 18_000)
    }
}
