import PFlowCore
import XCTest
@testable import PFlowFlows
@testable import PFlowEngine
@testable import PFlowOutput
import PFlowCapture
import PFlowWire

/// The NDJSON line, written cell by cell with a cursor, against the line
/// built from the columns' typed values (`FlowColumn.value`) and
/// `JSONWriter.escape`, the definition it must keep matching.
final class NDJSONLineTests: XCTestCase {
    /// The line as the typed values say it.
    private func reference(_ f: FlowRecord, digits: Int) -> String {
        var parts: [String] = []
        for column in FlowCSV.flowColumns {
            let value: String
            switch column.type {
            case .int64, .uint64, .double:
                let out = ByteText(capacity: 8)
                out.cell(column, f, digits: digits)
                value = out.count == 0 ? "null" : String(decoding: out.bytes, as: UTF8.self)
            case .timestampNs, .text:
                switch column.value(f) {
                case .null: value = "null"
                case .timestampNs:
                    let out = ByteText(capacity: 8)
                    out.cell(column, f, digits: digits)
                    value = "\"" + String(decoding: out.bytes, as: UTF8.self) + "\""
                case .word(let w): value = "\"\(w)\""
                case .address(let a): value = "\"" + a.description + "\""
                case .text(let s): value = JSONWriter.escape(s)
                case .int(let v): value = String(v)
                case .uint(let v): value = String(v)
                case .double(let v): value = String(v)
                }
            }
            parts.append(JSONWriter.escape(column.name) + ":" + value)
        }
        return "{" + parts.joined(separator: ",") + "}\n"
    }

    private func line(_ f: FlowRecord, digits: Int) -> String {
        let out = ByteText(capacity: 8)  // small: growth is exercised too
        NDJSONExporter.append(f, digits: digits, to: out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    private func record(_ proto: IPProtocol, v6: Bool) -> FlowRecord {
        let a = v6 ? IPAddress(high: 0x2001_0db8_0000_0000, low: 1) : IPAddress(ipv4: 0x0A00_0001)
        let b = v6 ? IPAddress(high: 0x2001_0db8_0000_0000, low: 2) : IPAddress(ipv4: 0xC0A8_0102)
        let key = FlowKey(addressA: a, addressB: b, portA: 40000, portB: 443, proto: proto, vlan: FlowKey.noVLAN)
        let state = FlowState(key: key, ipVersion: v6 ? 6 : 4, timestampNs: 1_700_000_000_123_456_789, direction: 0)
        return FlowRecord(state, endReason: .idle, registry: .standard, knowledge: TrafficKnowledge())
    }

    /// Names with what JSON escapes (quotes, backslashes, controls), what
    /// it doesn't (DEL, C1 controls, other Unicode), and the empty name.
    func testLinesMatchTheTypedValues() {
        let names = ["https", "", "a \"quoted\", name", "back\\slash", "tab\there\nnew\rline",
                     "\u{1}\u{1f}\u{7f}", "caf\u{e9} \u{85} \u{2028} \u{1F600}", "-1", "=x"]
        for proto in [IPProtocol.tcp, .udp, .icmp, .icmpv6, IPProtocol(rawValue: 47)] {
            for v6 in [false, true] {
                var f = record(proto, v6: v6)
                f.uid = 12345
                for digits in [0, 3, 6, 9] {
                    XCTAssertEqual(line(f, digits: digits), reference(f, digits: digits))
                }
                for name in names {
                    f.service = name
                    f.portName = name.isEmpty ? nil : name + "-port"
                    f.serverName = name
                    f.nameSource = .sni
                    f.serverLatencyNs = 1_234_567
                    f.clientRetransmissions = 3
                    XCTAssertEqual(line(f, digits: 6), reference(f, digits: 6), "\(proto.name) \(name)")
                }
            }
        }
    }

    /// The widest line fits the room made for it (the assert in `append`
    /// checks in debug builds) and still matches.
    func testWidestLineMatches() {
        let a = IPAddress(high: 0x1111_2222_3333_4444, low: 0x5555_6666_7777_8888)
        let b = IPAddress(high: 0xFFFF_EEEE_DDDD_CCCC, low: 0xBBBB_AAAA_9999_1234)
        let key = FlowKey(addressA: a, addressB: b, portA: 65535, portB: 65534, proto: .tcp, vlan: 4095)
        let limit = CaptureRecord.timestampLimitNs
        let state = FlowState(key: key, ipVersion: 6, timestampNs: -limit, direction: 0)
        var f = FlowRecord(state, endReason: .capacity, registry: .standard, knowledge: TrafficKnowledge())
        f.vlan = 4095
        f.startNs = -limit
        f.endNs = limit
        f.clientToServer = .max
        f.serverToClient = .max
        f.service = String(repeating: "\u{1}", count: 64)
        f.tcpHistory.codes = .max
        f.appProtocol = .smtpOrFTP
        f.icmpErrors = .max
        f.uid = .max
        f.serverName = String(repeating: "\"", count: 253)
        f.nameSource = .httpHost
        f.serverLatencyNs = .max; f.clientLatencyNs = .max; f.appLatencyNs = 0
        f.clientRetransmissions = UInt64(UInt32.max); f.serverRetransmissions = UInt64(UInt32.max)
        f.clientZeroWindows = UInt64(UInt16.max); f.serverZeroWindows = UInt64(UInt16.max)
        XCTAssertEqual(line(f, digits: 9), reference(f, digits: 9))
    }
}
