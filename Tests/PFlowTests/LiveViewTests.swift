import PFlowCore
@testable import PFlowWire
import XCTest
@testable import PFlowCapture
@testable import PFlowFlows
@testable import PFlowEngine
@testable import PFlowOutput

/// The live view's running totals (issue 17 item 3, issue 14's redraw cost).
final class LiveViewTests: XCTestCase {
    typealias F = Fixture
    static let t0: Int64 = 1_767_225_600 * 1_000_000_000

    /// Client i (10.1.x.y:1024+i) asks 10.2.0.1:53 with `ask` payload bytes,
    /// or the server answers with `answer` bytes.
    func frame(_ i: Int, reply: Bool, payload: Int) -> [UInt8] {
        let client: [UInt8] = [10, 1, UInt8((i >> 8) & 0xFF), UInt8(i & 0xFF)], server: [UInt8] = [10, 2, 0, 1]
        let port = UInt16(1024 + i % 60000)
        let body = [UInt8](repeating: 7, count: payload)
        let l4 = reply ? F.udp(sport: 53, dport: port, payload: body) : F.udp(sport: port, dport: 53, payload: body)
        return F.ethernet(type: 0x0800, reply ? F.ipv4(src: server, dst: client, proto: 17, l4) : F.ipv4(src: client, dst: server, proto: 17, l4))
    }

    func take(_ analyzer: Analyzer, _ bytes: [UInt8], at ns: Int64) {
        bytes.withUnsafeBytes { raw in
            analyzer.take(CaptureRecord(bytes: raw, originalLength: UInt32(raw.count), timestampNs: ns,
                                        linkType: LinkType(rawValue: 1), interface: 0))
        }
    }

    func dnsBucket(_ totals: LiveTotals) -> Int? {
        totals.buckets.firstIndex { $0.port == 53 && $0.proto == .udp && $0.answered }
    }

    /// Every byte lands in its service's bucket, split by who sent it, both
    /// before the flow is sorted (moved when it is) and after (per packet).
    func testMeterSplitsBytesByRole() {
        let analyzer = Analyzer()
        analyzer.keepFlows = false
        analyzer.beginLive(timestampDigits: 9)
        let totals = analyzer.startLiveTotals()
        var up: UInt64 = 0, down: UInt64 = 0
        for i in 0..<50 {
            let ask = frame(i, reply: false, payload: 20), answer = frame(i, reply: true, payload: 200)
            take(analyzer, ask, at: Self.t0 + Int64(i)); up += UInt64(ask.count)
            take(analyzer, answer, at: Self.t0 + Int64(i) + 1); down += UInt64(answer.count)
        }
        XCTAssertEqual(totals.totals(0).upBytes &+ totals.totals(0).downBytes, up + down, "unsorted: bucket 0")
        analyzer.refresh(totals)
        guard let dns = dnsBucket(totals) else { return XCTFail("no dns bucket: \(totals.buckets)") }
        XCTAssertEqual(totals.totals(dns).upBytes, up)
        XCTAssertEqual(totals.totals(dns).downBytes, down)
        XCTAssertEqual(totals.totals(dns).upPackets, 50)
        XCTAssertEqual(totals.totals(0).upBytes &+ totals.totals(0).downBytes, 0, "moved out of bucket 0")
        XCTAssertEqual(totals.buckets[dns].flows, 50)
        XCTAssertEqual(totals.buckets[dns].clients, 50)
        // Later packets of sorted flows count straight into the bucket.
        let more = frame(3, reply: true, payload: 500)
        take(analyzer, more, at: Self.t0 + 1000)
        XCTAssertEqual(totals.totals(dns).downBytes, down + UInt64(more.count))
        // Hosts: the server took part in every byte.
        let server = totals.hostAddresses.firstIndex(of: IPAddress(ipv4: 0x0A02_0001))
        XCTAssertEqual(server.map { totals.hostBytes($0) }, up + down + UInt64(more.count))
        XCTAssertTrue(totals.events.contains { $0.text.hasPrefix("new listener 10.2.0.1 udp/53") }, "\(totals.events)")
    }

    /// A refresh looks at no more store slots than its budget: with more
    /// live flows, the rest are sorted by the next refreshes, and their
    /// bytes wait in bucket 0 meanwhile (nothing lost, nothing counted twice).
    func testRefreshIsBoundedByItsBudget() {
        let analyzer = Analyzer()
        analyzer.keepFlows = false
        analyzer.beginLive(timestampDigits: 9)
        let totals = analyzer.startLiveTotals()
        var all: UInt64 = 0
        for i in 0..<5000 {
            let a = frame(i, reply: false, payload: 10), b = frame(i, reply: true, payload: 30)
            take(analyzer, a, at: Self.t0 + Int64(2 * i)); take(analyzer, b, at: Self.t0 + Int64(2 * i + 1))
            all += UInt64(a.count + b.count)
        }
        analyzer.refresh(totals, budget: 1000)
        guard let dns = dnsBucket(totals) else { return XCTFail("no dns bucket") }
        XCTAssertEqual(totals.buckets[dns].flows, 1000, "one budget's worth sorted")
        for _ in 0..<4 { analyzer.refresh(totals, budget: 1000) }
        XCTAssertEqual(totals.buckets[dns].flows, 5000)
        let t = totals.totals(dns)
        XCTAssertEqual(t.upBytes + t.downBytes, all)
        // A pass over sorted flows changes nothing.
        analyzer.refresh(totals, budget: 100_000)
        XCTAssertEqual(totals.buckets[dns].flows, 5000)
        XCTAssertEqual(totals.totals(dns).upBytes + totals.totals(dns).downBytes, all)
    }

    /// Unanswered attempts share one row; 15 ports of one target make a scan
    /// in the ticker (FindingsDetector's threshold).
    func testScanInTicker() {
        let analyzer = Analyzer()
        analyzer.keepFlows = false
        analyzer.beginLive(timestampDigits: 9)
        let totals = analyzer.startLiveTotals()
        for port in 1...20 {
            let syn = F.ethernet(type: 0x0800, F.ipv4(src: [10, 0, 0, 9], dst: [10, 0, 0, 1], proto: 6,
                                                     F.tcp(sport: 40000, dport: UInt16(port), flags: 0x02)))
            take(analyzer, syn, at: Self.t0 + Int64(port) * 1000)
        }
        analyzer.refresh(totals)
        let unanswered = totals.buckets.filter { !$0.answered }
        XCTAssertEqual(unanswered.count, 1)
        XCTAssertEqual(unanswered.first?.flows, 20)
        XCTAssertEqual(totals.events.filter { $0.text.hasPrefix("scan 10.0.0.9 → 10.0.0.1 tcp: 15 ports") }.count, 1,
                       "\(totals.events.map(\.text))")
    }

    /// The view: rates from the counters' differences, sort cycling, ASCII marks.
    func testViewRatesAndSort() {
        let analyzer = Analyzer()
        analyzer.keepFlows = false
        analyzer.beginLive(timestampDigits: 9)
        let totals = analyzer.startLiveTotals()
        let view = LiveView(totals: totals, intervalNs: 1_000_000_000, sort: .bytes, ascii: true)
        view.sample(nowNs: 0, packets: 0, bytes: 0)
        let ask = frame(1, reply: false, payload: 100), answer = frame(1, reply: true, payload: 900)
        take(analyzer, ask, at: Self.t0); take(analyzer, answer, at: Self.t0 + 1)
        analyzer.refresh(totals)
        view.sample(nowNs: 1_000_000_000, packets: 2, bytes: UInt64(ask.count + answer.count))
        let row = view.rows().first { $0.port == "udp/53" }
        XCTAssertEqual(row?.up, Double(ask.count))
        XCTAssertEqual(row?.down, Double(answer.count))
        XCTAssertEqual(view.packetRate, 2)
        let lines = view.lines(width: 200, height: 40, healthLine: "health")
        XCTAssertTrue(lines.contains { $0.contains("^ now") && $0.contains("v 1 min") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("udp/53") && $0.hasSuffix("@") }, "\(lines)")
        XCTAssertFalse(lines.joined().contains("█"))
        for expected in [ServiceSort.packets, .flows, .clients, .bytes] {
            view.cycleSort()
            XCTAssertEqual(view.sort, expected)
        }
        XCTAssertEqual(LiveView.rate(125_000), "1.0 Mb/s")
        XCTAssertEqual(LiveView.rate(0), "0")
    }
}
