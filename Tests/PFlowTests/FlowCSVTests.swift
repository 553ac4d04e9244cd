import PFlowCore
import XCTest
@testable import PFlowFlows
@testable import PFlowEngine
@testable import PFlowOutput
import PFlowCapture
import PFlowWire
import PFlowExport

/// The CSV writer's byte-level formatting against plain Swift formatting.
final class FlowCSVTests: XCTestCase {
    private func text(_ write: (ByteText) -> Void) -> String {
        let out = ByteText(capacity: 8)  // small: growth is exercised too
        write(out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    func testDecimalsAndPadding() {
        let values: [UInt64] = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 1_000_000_007,
                                UInt64(UInt32.max), UInt64.max - 1, UInt64.max]
        for v in values {
            XCTAssertEqual(text { $0.decimal(v) }, String(v))
        }
        XCTAssertEqual(text { $0.decimal(Int64.min) }, String(Int64.min))
        XCTAssertEqual(text { $0.decimal(Int64(-42)) }, "-42")
        XCTAssertEqual(text { $0.padded(7, width: 2) }, "07")
        XCTAssertEqual(text { $0.padded(7, width: 1) }, "7")
        XCTAssertEqual(text { $0.padded(123, width: 2) }, "23")
        XCTAssertEqual(text { $0.padded(5, width: 9) }, "000000005")
        XCTAssertEqual(text { $0.padded(123_456_789, width: 9) }, "123456789")
    }

    /// Every octet value in every position of a dotted quad.
    func testEveryOctet() {
        for v in 0..<UInt32(256) {
            for shift: UInt32 in [0, 8, 16, 24] {
                let a = IPAddress(ipv4: v << shift | (shift == 0 ? 0x0A00_0000 : 7))
                XCTAssertEqual(text { $0.address(a); $0.byte(0x2C) }, a.description + ",")
            }
        }
    }

    func testCachedSecondsAndAddresses() {
        // Nanosecond counts share whole seconds between rows: the cached
        // digits must follow every change.
        let values: [Int64] = [1_700_000_000_000_000_001, 1_700_000_000_999_999_999, 1_700_000_001_000_000_000,
                               999_999_999, 1_700_000_001_000_000_005, 1_000_000_000, -1_700_000_000_000_000_001,
                               Int64.max, 1_700_000_001_000_000_006]
        XCTAssertEqual(text { t in for v in values { t.decimal(v); t.byte(0x20) } },
                       values.map { String($0) + " " }.joined())
        for v: UInt16 in [0, 1, 0xf, 0x10, 0xab, 0x100, 0xfff, 0x1000, 0xbeef, 0xffff] {
            XCTAssertEqual(text { $0.hex(v) }, String(v, radix: 16))
        }
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Sparse groups, so runs of zero groups (::) come up often.
            let high = seed & 0xFFFF_0000_0000_FFFF, low = (seed >> 7) & 0x0000_FFFF_0000_FFFF
            for a in [IPAddress(high: high, low: low), IPAddress(ipv4: UInt32(truncatingIfNeeded: seed >> 13))] {
                XCTAssertEqual(text { $0.address(a) }, a.description)
            }
        }
    }

    func testTimestampsAcrossDays() {
        // The date prefix is cached per day: alternate days must not leak.
        let out = text { t in
            t.rfc3339(ns: 0, digits: 6); t.byte(0x20)
            t.rfc3339(ns: 86_399_999_999_999, digits: 9); t.byte(0x20)
            t.rfc3339(ns: 86_400_000_000_000, digits: 0); t.byte(0x20)
            t.rfc3339(ns: -1, digits: 3); t.byte(0x20)
            t.rfc3339(ns: 1_700_000_000_123_456_789, digits: 6)
        }
        XCTAssertEqual(out, "1970-01-01T00:00:00.000000Z 1970-01-01T23:59:59.999999999Z 1970-01-02T00:00:00Z "
                          + "1969-12-31T23:59:59.999Z 2023-11-14T22:13:20.123456Z")
    }

    func testFieldsAreQuotedOnlyWhenNeeded() {
        XCTAssertEqual(text { $0.field("http") }, "http")
        XCTAssertEqual(text { $0.field("a,b") }, "\"a,b\"")
        XCTAssertEqual(text { $0.field("say \"hi\"") }, "\"say \"\"hi\"\"\"")
        XCTAssertEqual(text { $0.field("") }, "")
    }

    func testFieldsHoldNoControlsAndNoFormulas() {
        // Line breaks and other controls are escaped, never written raw.
        XCTAssertEqual(text { $0.field("two\nlines") }, "two\\x0Alines")
        XCTAssertEqual(text { $0.field("\u{1B}]0;x\u{07}\u{1B}[31mevil") }, "\\x1B]0;x\\x07\\x1B[31mevil")
        XCTAssertEqual(text { $0.field("del\u{7F}\u{85}x") }, "del\\x7F\\xC2\\x85x")
        XCTAssertEqual(text { $0.field("café") }, "café")
        // Formulas get a leading quote (OWASP); negative numbers stay numbers.
        XCTAssertEqual(text { $0.field("=HYPERLINK(\"http://x/\",\"x\")") }, "\"'=HYPERLINK(\"\"http://x/\"\",\"\"x\"\")\"")
        XCTAssertEqual(text { $0.field("+cmd") }, "'+cmd")
        XCTAssertEqual(text { $0.field("@SUM(1+1)") }, "'@SUM(1+1)")
        XCTAssertEqual(text { $0.field("-cmd") }, "'-cmd")
        XCTAssertEqual(text { $0.field("-") }, "'-")
        XCTAssertEqual(text { $0.field("-12") }, "-12")
        // The worst case fits the room reserved.
        for s in ["\u{1}\u{2}", "=\u{85}\u{85}", "=,\u{1}\"", String(repeating: "\u{1F}", count: 50)] {
            XCTAssertLessThanOrEqual(text { $0.field(s) }.utf8.count, TextCursor.fieldRoom(s), s)
        }
    }

    func testStaticNamesMatchRawValues() {
        for r in RoleSource.allCases {
            XCTAssertEqual(FlowCSV.roleName(r).description, r.rawValue)
        }
        for c in ConnState.allCases {
            XCTAssertEqual(FlowCSV.stateName(c).description, c.rawValue)
        }
        for r in [EndReason.fin, .rst, .idle, .active, .end, .capacity] {
            XCTAssertEqual(FlowCSV.reasonName(r).description, r.rawValue)
        }
        for p: UInt16 in [0, 1023, 1024, 49151, 49152, 65535] {
            XCTAssertEqual(FlowCSV.rangeName(p).description, PortRange(port: p).rawValue)
        }
    }

    /// The row writer makes room once per row: the widest row there can be
    /// (longest addresses, largest counters, negative nine-digit times, a
    /// full history, a quoted service name) must fit it and read back right.
    func testWidestRowFitsItsRoom() {
        let a = IPAddress(high: 0x1111_2222_3333_4444, low: 0x5555_6666_7777_8888)
        let b = IPAddress(high: 0xFFFF_EEEE_DDDD_CCCC, low: 0xBBBB_AAAA_9999_1234)
        let key = FlowKey(addressA: a, addressB: b, portA: 65535, portB: 65534, proto: .tcp, vlan: 4095)
        let limit = CaptureRecord.timestampLimitNs  // the widest span a reader hands out
        let state = FlowState(key: key, ipVersion: 6, timestampNs: -limit, direction: 0)
        var f = FlowRecord(state, endReason: .capacity, registry: .standard, knowledge: TrafficKnowledge())
        f.vlan = 4095
        f.startNs = -limit
        f.endNs = limit
        let most = DirectionCounters.max
        f.clientToServer = most
        f.serverToClient = most
        f.service = "a \"quoted\", name"
        f.roleSource = .ephemeralRange
        f.connState = .RSTOS0
        f.tcpHistory.codes = .max  // 16 events, all retransmissions by the responder
        f.clientDirection = 0
        f.appProtocol = .smtpOrFTP
        f.icmpErrors = .max
        f.uid = .max
        // Health: the longest name, the widest latencies and counters.
        f.serverName = String(repeating: "a,", count: 126) + "a"
        f.nameSource = .httpHost
        f.serverLatencyNs = .max; f.clientLatencyNs = .max; f.appLatencyNs = 0
        f.clientRetransmissions = UInt64(UInt32.max); f.serverRetransmissions = UInt64(UInt32.max)
        f.clientZeroWindows = UInt64(UInt16.max); f.serverZeroWindows = UInt64(UInt16.max)
        let row = FlowCSV.row(f, digits: 9)
        XCTAssertLessThanOrEqual(row.utf8.count, FlowCSV.fixedRoom + 2 * f.service!.utf8.count + 2
                                 + 2 * f.serverName!.utf8.count + 2)
        XCTAssertEqual(row, [
            "1823-11-12T00:06:21.572612097Z", "2116-02-20T23:53:38.427387903Z",
            "-4611686018427387903", "4611686018427387903", "9223372036.854775806", "tcp", "6", "4095",
            f.clientAddress.description, String(f.clientPort), f.serverAddress.description, String(f.serverPort),
            "\"a \"\"quoted\"\", name\"", FlowCSV.rangeName(f.serverPort).description,
            FlowCSV.rangeName(f.clientPort).description, "ephemeral-range", "RSTOS0",
        ].joined(separator: ",") + "," + Array(repeating: String(UInt64.max), count: 6).joined(separator: ",")
            + ",capacity," + String(repeating: "t", count: 16) + ",smtp/ftp," + String(UInt32.max)
            + "," + (f.portName ?? "") + ",C" + "LygHa16AHYF" + "," + f.communityID + "," + String(UInt64.max) + "," + String(UInt64.max)
            + ",\"" + f.serverName! + "\",http-host,9223372036854.775,9223372036854.775,0.000,"
            + "\(UInt32.max),\(UInt32.max),65535,65535\n")
        XCTAssertEqual(f.communityID.utf8.count, 30)
    }
}

extension FlowCSVTests {
    /// The row's uid (zeros, then only the digits the uid has) as FlowUID spells it.
    func testUIDMatchesFlowUID() {
        var uids: [UInt64] = [0, 1, 61, 62, 63, 3843, 3844, 238_327, 238_328, 1 << 32, .max - 1, .max]
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<200 { x = x &* 6364136223846793005 &+ 1442695040888963407; uids.append(x >> (x & 63)) }
        for uid in uids {
            let out = ByteText(capacity: 8)
            out.reserve(FlowUID.length)
            var c = out.cursor()
            FlowCSV.writeUID(uid, &c)
            out.commit(c)
            XCTAssertEqual(String(decoding: out.bytes, as: UTF8.self), FlowUID.string(uid), "\(uid)")
        }
    }

    /// The word-at-a-time tests for bytes a CSV cell or a JSON string can't
    /// hold as they are, against the byte-at-a-time ones: every byte value at every position
    /// of texts of 0 to 20 bytes (the rest letters, and the rest 0xFF).
    func testPlainTestMatchesTheByteTest() {
        func reference(_ b: [UInt8]) -> Bool {
            !b.contains { $0 < 0x20 || $0 == 0x2C || $0 == 0x22 || $0 == 0x7F || $0 == 0xC2 }
        }
        func jsonReference(_ b: [UInt8]) -> Bool { !b.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C } }
        for filler: UInt8 in [0x61, 0xFF, 0x80] {
            for n in 0...20 {
                var text = [UInt8](repeating: filler, count: n)
                XCTAssertEqual(text.withUnsafeBufferPointer(TextCursor.csvPlain), reference(text))
                for at in 0..<n {
                    for v in 0...255 {
                        text[at] = UInt8(v)
                        XCTAssertEqual(text.withUnsafeBufferPointer(TextCursor.csvPlain), reference(text), "\(n) \(at) \(v)")
                        XCTAssertEqual(text.withUnsafeBufferPointer(TextCursor.jsonPlain), jsonReference(text), "\(n) \(at) \(v)")
                    }
                    text[at] = filler
                }
            }
        }
    }

    /// The straight-line row writer against the column list, cell by cell:
    /// every column, in order, for records of each protocol and shape.
    func testRowMatchesTheColumnList() {
        XCTAssertEqual(FlowCSV.textColumns, [.service, .portName, .serverName])
        func rows(_ f: FlowRecord, digits: Int) -> (String, String) {
            let a = ByteText(capacity: 8), b = ByteText(capacity: 8)
            FlowCSV.append(f, digits: digits, to: a)
            FlowCSV.appendByColumns(f, digits: digits, to: b)
            return (String(decoding: a.bytes, as: UTF8.self), String(decoding: b.bytes, as: UTF8.self))
        }
        for proto in [IPProtocol.tcp, .udp, .icmp, .icmpv6, IPProtocol(rawValue: 47)] {
            for v6 in [false, true] {
                let a = v6 ? IPAddress(high: 0x2001_0db8_0000_0000, low: 1) : IPAddress(ipv4: 0x0A00_0001)
                let b = v6 ? IPAddress(high: 0x2001_0db8_0000_0000, low: 2) : IPAddress(ipv4: 0xC0A8_0102)
                let key = FlowKey(addressA: a, addressB: b, portA: 40000, portB: 443, proto: proto, vlan: FlowKey.noVLAN)
                let state = FlowState(key: key, ipVersion: v6 ? 6 : 4, timestampNs: 1_700_000_000_123_456_789, direction: 0)
                var f = FlowRecord(state, endReason: .idle, registry: .standard, knowledge: TrafficKnowledge())
                f.uid = 77
                for digits in [0, 6, 9] {
                    let (row, reference) = rows(f, digits: digits)
                    XCTAssertEqual(row, reference)
                    XCTAssertEqual(row.split(separator: ",", omittingEmptySubsequences: false).count,
                                   FlowColumn.allCases.count)
                }
                f.vlan = 12
                f.service = "=a, \"name\""
                f.serverName = "host\u{1}"
                f.nameSource = .sni
                f.serverLatencyNs = 1_500_000; f.clientLatencyNs = 0; f.appLatencyNs = 99
                f.clientRetransmissions = 1; f.serverRetransmissions = 2
                f.clientZeroWindows = 3; f.serverZeroWindows = 4
                f.appProtocol = .tls
                let (row, reference) = rows(f, digits: 6)
                XCTAssertEqual(row, reference)
            }
        }
    }
}

extension DirectionCounters {
    static var max: DirectionCounters {
        var c = DirectionCounters()
        c.packets = .max
        c.bytes = .max
        c.payloadBytes = .max
        c.ipBytes = .max
        return c
    }
}
