import PFlowCore
@testable import PFlowWire
import Foundation
import XCTest
@testable import PFlowCapture
@testable import PFlowFlows
@testable import PFlowEngine
@testable import PFlowOutput

/// Issue 14, part 2: packet time that jumps, tables that must stay bounded,
/// fragments that must not look like retransmissions.
final class HostileBoundsTests: XCTestCase {
    typealias F = Fixture
    static let t2026: UInt32 = 1_767_225_600

    func udp(_ i: Int, seconds: UInt32, fraction: UInt32 = 0) -> F.Packet {
        let src: [UInt8] = [10, 1, UInt8((i >> 8) & 0xFF), UInt8(i & 0xFF)]
        let frame = F.ethernet(type: 0x0800, F.ipv4(src: src, dst: [10, 2, 0, 1], proto: 17,
                                                   F.udp(sport: UInt16(1024 + i % 60000), dport: 53, payload: [1])))
        return F.Packet(seconds: seconds, fraction: fraction, bytes: frame)
    }

    /// A record dated 2106, then one-packet flows a millisecond apart over
    /// 40 s: with a 5 s idle timeout the sweep must go on after the jump
    /// back, so live flows peak near 5 s worth, not at every flow.
    func testSweepFollowsTheClockBackAfterARecordDated2106() throws {
        var packets = [udp(0, seconds: 4_290_000_000)]
        for i in 1...40_000 { packets.append(udp(i, seconds: Self.t2026 + UInt32(i / 1000), fraction: UInt32(i % 1000) * 1000)) }
        let path = F.file(F.pcap(packets))
        let result = try Analyzer.analyze(paths: [path], expiry: ExpiryPolicy(idleNs: 5_000_000_000), keepFlows: false)
        XCTAssertEqual(result.tally.flows, 40_001)
        XCTAssertLessThan(result.summary.peakLiveFlows, 10_000, "peak \(result.summary.peakLiveFlows)")
        // The lone record is damage: said once.
        XCTAssertEqual(result.summary.warnings.filter { $0.contains("dated more than a day away") }.count, 1,
                       "\(result.summary.warnings)")
    }

    /// The clock back by an hour (under the day of a "jump"), or running
    /// backwards all along: the sweep follows packet time back, so live
    /// flows stay near the idle timeout's worth (they were every flow).
    func testSweepFollowsAClockThatRunsBackwards() throws {
        let n = 40_000
        let backwards = (0..<n).map { i in udp(i, seconds: Self.t2026 + UInt32((n - i) / 1000), fraction: UInt32((n - i) % 1000) * 1000) }
        let hourBack = (0..<n).map { i in
            let t = i < n / 2 ? 3600 + i : i - n / 2
            return udp(i, seconds: Self.t2026 + UInt32(t / 1000), fraction: UInt32(t % 1000) * 1000)
        }
        for (name, packets) in [("backwards", backwards), ("an hour back", hourBack)] {
            let result = try Analyzer.analyze(paths: [F.file(F.pcap(packets))], expiry: ExpiryPolicy(idleNs: 5_000_000_000), keepFlows: false)
            XCTAssertEqual(result.tally.flows, UInt64(n), name)
            XCTAssertLessThan(result.summary.peakLiveFlows, 10_000, "\(name): peak \(result.summary.peakLiveFlows)")
        }
    }

    /// Merged files jump by days but are no damage: no warning.
    func testMergedFilesJumpWithoutAWarning() throws {
        var packets: [F.Packet] = []
        for i in 0..<10 { packets.append(udp(i, seconds: Self.t2026 + 10 * 86_400 + UInt32(i))) }
        for i in 0..<10 { packets.append(udp(i, seconds: Self.t2026 + UInt32(i))) }
        let (_, summary) = try F.records(F.file(F.pcap(packets)))
        XCTAssertEqual(summary.clockJumps, 1)
        XCTAssertEqual(summary.clockOutliers, 0)
        XCTAssertNil(summary.clockOutlierNote)
        // One record jumping away and back is one outlier.
        var damaged = packets
        damaged.insert(udp(99, seconds: 4_290_000_000), at: 15)
        let (_, bad) = try F.records(F.file(F.pcap(damaged)))
        XCTAssertEqual(bad.clockOutliers, 1)
        XCTAssertNotNil(bad.clockOutlierNote)
    }

    /// Flows stamped in the far future (before a jump back) end at the next
    /// sweep rather than stay live for ever.
    func testFlowsFromBeforeABackwardJumpEnd() {
        var ended: [EndReason] = []
        let feeder = PacketFeeder(expiry: ExpiryPolicy(idleNs: 5_000_000_000)) { _, r, _ in ended.append(r) }
        let future: Int64 = 4_290_000_000 * 1_000_000_000, now: Int64 = Int64(Self.t2026) * 1_000_000_000
        for (i, ts) in [(0, future), (1, future), (2, now), (3, now + 2_000_000_000), (4, now + 4_000_000_000)] {
            let frame = udp(i, seconds: 0).bytes
            let (_, packet) = F.decode(frame)
            frame.withUnsafeBytes { feeder.add(packet, frame: $0, timestampNs: ts, wireLength: UInt32(frame.count)) }
        }
        XCTAssertEqual(ended.count, 2, "the two flows dated 2106 end at the first sweep after the jump back")
        XCTAssertEqual(feeder.table.liveCount, 3)
    }

    /// Later IP fragments carry no TCP header: their payload continues the
    /// first fragment's, and must not count as a retransmission.
    func testLaterFragmentsAreNoRetransmission() {
        var history = ""
        let feeder = PacketFeeder { s, r, _ in
            history = FlowRecord(s, endReason: r, roles: RoleDecider(registry: .standard, knowledge: TrafficKnowledge()).decide(s),
                                 registry: .standard).history
        }
        let a: [UInt8] = [10, 0, 0, 1], b: [UInt8] = [10, 0, 0, 2]
        let syn = F.tcp(sport: 40000, dport: 80, flags: 0x02, seq: 1000)
        let synAck = F.tcp(sport: 80, dport: 40000, flags: 0x12, seq: 5000, ack: 1001)
        let ack = F.tcp(sport: 40000, dport: 80, flags: 0x10, seq: 1001, ack: 5001)
        // A 64-byte segment in two fragments: TCP header + 24 bytes, then 40 more bytes.
        let segment = F.tcp(sport: 40000, dport: 80, flags: 0x18, seq: 1001, ack: 5001, payload: [UInt8](repeating: 0x41, count: 64))
        let first = F.ipv4(src: a, dst: b, proto: 6, Array(segment[0..<48]), moreFragments: true, id: 7)
        let later = F.ipv4(src: a, dst: b, proto: 6, Array(segment[48...]), fragmentOffset: 6, id: 7)
        let frames = [F.ipv4(src: a, dst: b, proto: 6, syn), F.ipv4(src: b, dst: a, proto: 6, synAck),
                      F.ipv4(src: a, dst: b, proto: 6, ack), first, later].map { F.ethernet(type: 0x0800, $0) }
        for (i, frame) in frames.enumerated() {
            let (_, packet) = F.decode(frame)
            frame.withUnsafeBytes { feeder.add(packet, frame: $0, timestampNs: 1_000_000 * Int64(i + 1), wireLength: UInt32(frame.count)) }
        }
        feeder.finish { s, r in
            history = FlowRecord(s, endReason: r, roles: RoleDecider(registry: .standard, knowledge: feeder.knowledge).decide(s),
                                 registry: .standard).history
        }
        XCTAssertFalse(history.contains("T"), history)
        XCTAssertTrue(history.hasPrefix("ShAD"), history)
    }

    func testDistinctSketchEstimates() {
        let seed = HashSeed(fixed: (1, 2, 3, 4, 5, 6))
        for n in [0, 1, 10, 1000, 100_000] {
            var s = DistinctSketch()
            for i in 0..<n { s.add(hash: seed.hash(UInt64(i))); s.add(hash: seed.hash(UInt64(i))) }
            let e = s.estimate
            XCTAssertLessThanOrEqual(abs(e - n), max(1, n / 10), "n \(n): estimate \(e)")
        }
    }

    /// Past the limit the tally's address sets become sketches: counts stay
    /// close, the flag says they are estimates.
    func testTallyPastItsPartyLimit() throws {
        var packets: [F.Packet] = []
        for i in 0..<3000 { packets.append(udp(i, seconds: Self.t2026 + UInt32(i / 100))) }
        let path = F.file(F.pcap(packets))
        let exact = try Analyzer.analyze(paths: [path], keepFlows: false)
        XCTAssertFalse(exact.tally.sortedRows().contains { $0.approximate })
        var tally = ServiceTally()
        tally.partyLimit = 500
        for f in try Analyzer.analyze(paths: [path]).flows { tally.add(f) }
        XCTAssertTrue(tally.sortedRows().contains { $0.approximate })
        let exactRow = try XCTUnwrap(exact.tally.sortedRows().first), row = try XCTUnwrap(tally.sortedRows().first)
        XCTAssertEqual(row.flows, exactRow.flows)
        XCTAssertEqual(exactRow.clients, 3000)
        XCTAssertLessThanOrEqual(abs(row.clients - 3000), 300, "\(row.clients)")
        XCTAssertEqual(row.servers, 1)
    }

    /// Tunnels past the limit are summed, the JSON lists the top ones and a total.
    func testTunnelTableIsBounded() {
        var table = TunnelTable()
        let inner = FlowKey(addressA: IPAddress(high: 0, low: 1), addressB: IPAddress(high: 0, low: 2),
                            portA: 1, portB: 2, proto: .udp, vlan: 0)
        for i in 0..<(TunnelTable.limit + 5000) {
            table.add(Analyzer.TunnelKey(kind: .ipip, a: IPAddress(high: 0, low: UInt64(i)), b: IPAddress(high: 0, low: 1 << 40)),
                      inner: inner, wireLength: 100)
        }
        let (list, other) = table.summaries()
        XCTAssertEqual(list.count, TunnelTable.limit)
        let rest = try? XCTUnwrap(other)
        XCTAssertEqual(rest?.packets, 5000)
        XCTAssertLessThanOrEqual(abs((rest?.tunnels ?? 0) - 5000), 500)
        var summary = CaptureSummary()
        summary.tunnels = list
        summary.otherTunnels = other
        let json = JSONReport.render(AnalysisResult(summary: summary, flows: [], tally: ServiceTally()))
        XCTAssertTrue(json.contains("\"tunnels_total\""))
        XCTAssertLessThan(json.count, 400_000, "the JSON lists the top tunnels only")
    }

    /// One tunnel with more inner flows than the budget: a sketch past it.
    func testInnerFlowsPastTheBudgetAreSketched() {
        var table = TunnelTable()
        let key = Analyzer.TunnelKey(kind: .vxlan, a: IPAddress(high: 0, low: 1), b: IPAddress(high: 0, low: 2))
        let n = TunnelTable.innerBudget + 20_000
        for i in 0..<n {
            let inner = FlowKey(addressA: IPAddress(high: 0, low: UInt64(i)), addressB: IPAddress(high: 0, low: 2),
                                portA: 1, portB: 2, proto: .udp, vlan: 0)
            table.add(key, inner: inner, wireLength: 100)
        }
        XCTAssertEqual(table.innerKept, TunnelTable.innerBudget)
        let (list, _) = table.summaries()
        XCTAssertTrue(list[0].innerFlowsEstimated)
        XCTAssertLessThanOrEqual(abs(list[0].innerFlows - n), n / 20, "\(list[0].innerFlows)")
    }

    /// Terminal text: every table cell and warning is shown with controls escaped.
    func testTableEscapesControls() {
        XCTAssertEqual(TableReport.safe("\u{1B}]0;x\u{07}evil"), "\\x1B]0;x\\x07evil")
        XCTAssertEqual(TableReport.safe("del\u{7F}\u{9B}"), "del\\x7F\\xC2\\x9B")
        XCTAssertEqual(TableReport().columns([["A"], ["\u{1B}[31mx"]], rightAligned: [], accent: nil), "  A\n  \\x1B[31mx\n")
    }
}
