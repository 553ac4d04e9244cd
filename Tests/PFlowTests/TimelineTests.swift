import XCTest
@testable import PFlowEngine
@testable import PFlowFlows
import PFlowCore
@testable import PFlowOutput

final class TimelineTests: XCTestCase {
    func testSparklineUTF8AndASCII() {
        XCTAssertEqual(Sparkline.render([0, 1, 4, 8], ascii: false), " ▁▄█")
        XCTAssertEqual(Sparkline.render([0, 1, 4, 8], ascii: true), " .=@")
        XCTAssertEqual(Sparkline.render([0, 0], ascii: false), "  ")
        XCTAssertEqual(Sparkline.render([1, 2, 3, 4, 5, 6, 7, 8], ascii: false), "▁▂▃▄▅▆▇█")
        XCTAssertEqual(Sparkline.render([1, 2, 3, 4, 5, 6, 7, 8], ascii: true), ".:-=+*#@")
        XCTAssertEqual(Sparkline.grouped([1, 2, 3, 4, 5], group: 2), [3, 7, 5])
        XCTAssertEqual(Sparkline.group(count: 200, width: 40), 5)
        XCTAssertEqual(Sparkline.group(count: 30, width: 40), 1)
    }

    /// The share bar follows the sparklines' rule: blocks on a UTF-8
    /// terminal, ASCII halves elsewhere; the whole table is ASCII then.
    func testShareBarUTF8AndASCII() {
        var t = TableReport()
        t.ascii = false
        XCTAssertEqual(t.bar(1), "██████████")
        XCTAssertEqual(t.bar(0.25), "██▌")
        XCTAssertEqual(t.bar(0.001), "▏")
        XCTAssertEqual(t.bar(0), "")
        t.ascii = true
        XCTAssertEqual(t.bar(1), "##########")
        XCTAssertEqual(t.bar(0.25), "##+")
        XCTAssertEqual(t.bar(0.001), ".")
        XCTAssertEqual(t.bar(0), "")
        XCTAssertEqual(TableReport.asciiOnly("a · b … 3 µs caf\u{E9}"), "a | b ... 3 us caf?")
        XCTAssertEqual(TableReport.asciiOnly("plain"), "plain")
    }

    /// Who talks to whom (--html): per pair flows, bytes and up to four
    /// services; past the limit, later pairs are summed, not kept.
    func testTalkPairsBoundedAndExact() {
        let base = FlowRecord(FlowState(key: FlowKey(addressA: IPAddress(ipv4: 1), addressB: IPAddress(ipv4: 2),
                                                     portA: 40000, portB: 80, proto: .tcp, vlan: FlowKey.noVLAN),
                                        ipVersion: 4, timestampNs: 0, direction: 0),
                              endReason: .fin, registry: .standard, knowledge: TrafficKnowledge())
        func flow(_ c: UInt32, _ s: UInt32, port: UInt16, bytes: UInt64) -> FlowRecord {
            var f = base
            f.clientAddress = IPAddress(ipv4: c)
            f.serverAddress = IPAddress(ipv4: s)
            f.serverPort = port
            f.clientToServer.bytes = bytes
            f.serverToClient.bytes = 1
            return f
        }
        let t = TalkPairs(limit: 3)
        t.observe(flow(1, 2, port: 80, bytes: 9))
        t.observe(flow(1, 2, port: 80, bytes: 9))
        for port in UInt16(1)...10 { t.observe(flow(1, 3, port: port, bytes: 0)) }
        t.observe(flow(4, 2, port: 22, bytes: 99))
        t.observe(flow(5, 2, port: 22, bytes: 99))  // a fourth pair: past the limit
        XCTAssertEqual(t.pairs.count, 3)
        XCTAssertEqual(t.pairs[0].flows, 2)
        XCTAssertEqual(t.pairs[0].bytes, 20)
        XCTAssertEqual(t.pairs[0].services.map(\.bytes), [20])
        XCTAssertEqual(t.pairs[1].flows, 10)
        XCTAssertEqual(t.pairs[1].services.count, TalkPairs.slots)
        XCTAssertEqual(t.pairs[1].moreServicesFlows, 6)
        XCTAssertEqual(t.untrackedFlows, 1)
        XCTAssertEqual(t.untrackedBytes, 100)
    }

    func testUTF8Detection() {
        func env(_ d: [String: String]) -> (String) -> String? { { d[$0] } }
        XCTAssertTrue(Sparkline.terminalShowsUTF8(isTerminal: true, environment: env(["LANG": "en_US.UTF-8"])))
        XCTAssertTrue(Sparkline.terminalShowsUTF8(isTerminal: true, environment: env(["LC_ALL": "C.utf8", "LANG": "C"])))
        XCTAssertFalse(Sparkline.terminalShowsUTF8(isTerminal: false, environment: env(["LANG": "en_US.UTF-8"])))
        XCTAssertFalse(Sparkline.terminalShowsUTF8(isTerminal: true, environment: env(["LANG": "C"])))
        XCTAssertFalse(Sparkline.terminalShowsUTF8(isTerminal: true, environment: env([:])))
        XCTAssertFalse(Sparkline.terminalShowsUTF8(isTerminal: true, environment: env(["LANG": "en_US.UTF-8", "TERM": "dumb"])))
        XCTAssertFalse(Sparkline.terminalShowsUTF8(isTerminal: true, environment: env(["LC_ALL": "POSIX", "LANG": "en_US.UTF-8"])))
    }

    /// Bins merge whole as the capture grows, and every count stays.
    func testCountsCoarsenExactly() {
        var c = TimelineCounts()
        var packets: UInt64 = 0, bytes: UInt64 = 0
        var ts: Int64 = 1_700_000_000_000_000_000
        for i in 0..<100_000 {
            ts += Int64((i * 7919) % 3_000_000)  // up to 3 ms apart: about 150 s in all
            c.add(ts, bytes: UInt64(60 + i % 1400))
            packets += 1; bytes += UInt64(60 + i % 1400)
        }
        c.add(ts - 5_000_000_000, bytes: 1)  // an earlier record: a bin before the first
        XCTAssertEqual(c.packets.reduce(0, +), packets + 1)
        XCTAssertEqual(c.bytes.reduce(0, +), bytes + 1)
        XCTAssertLessThanOrEqual(c.packets.count, 200)
        XCTAssertGreaterThanOrEqual(c.packets.count, 20)
        XCTAssertTrue(TimeGrid.ladder.contains(c.grid.widthNs))
    }

    func testWidths() {
        XCTAssertEqual(TimelineText.seconds(5_000_000), "0.005")
        XCTAssertEqual(TimelineText.seconds(60_000_000_000), "60")
        XCTAssertEqual(TimelineText.human(300_000_000_000), "5 min")
        for (a, b) in zip(TimeGrid.ladder, TimeGrid.ladder.dropFirst()) { XCTAssertEqual(b % a, 0) }
        var g = TimeGrid(widthNs: 1_000_000)
        g.start(at: 0)
        XCTAssertEqual(g.index(-1), -1)
        XCTAssertEqual(g.index(999_999), 0)
        XCTAssertEqual(g.index(1_000_000), 1)
    }
}
