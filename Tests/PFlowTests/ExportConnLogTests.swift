import Foundation
import PFlowCore
@testable import PFlowExport
import XCTest

/// Zeek conn.log: the header byte for byte, rows for fixtures covering
/// every field rule, the JSON form, and a reading by zat (a Zeek log
/// reader) when it can be installed.
final class ExportConnLogTests: XCTestCase {
    private let ip = ExportTestSupport.ip
    /// 2009-11-18 08:00:21.486539 UTC, the ts of Zeek's own docs' example.
    static let t0: Int64 = 1_258_531_221_486_539_000

    static func fixtures() -> [ExportFlow] {
        let ip = ExportTestSupport.ip
        var tls = ExportFlow(uid: 1, startNs: t0, endNs: t0 + 1_500_000_000, proto: .tcp, ipVersion: 4,
                             clientAddress: ip("192.168.1.102"), clientPort: 51514, serverAddress: ip("93.184.216.34"), serverPort: 443,
                             clientToServer: ExportCounters(packets: 12, wireBytes: 1500, ipBytes: 1332, payloadBytes: 517, tcpFlags: 0x1B),
                             serverToClient: ExportCounters(packets: 10, wireBytes: 6000, ipBytes: 5860, payloadBytes: 5340, tcpFlags: 0x1B),
                             connState: "SF", history: "ShADadFf", service: "https", app: "tls", endReason: .fin)
        tls.localOrig = true
        tls.localResp = false
        // One DNS query, no answer: zero duration, so Zeek leaves duration and the byte counts unset.
        let dns = ExportFlow(uid: 2, startNs: t0 + 1_000, endNs: t0 + 1_000, proto: .udp, ipVersion: 4,
                             clientAddress: ip("10.0.0.5"), clientPort: 40000, serverAddress: ip("10.0.0.6"), serverPort: 53,
                             clientToServer: ExportCounters(packets: 1, wireBytes: 82, ipBytes: 68, payloadBytes: 40),
                             serverToClient: ExportCounters(),
                             connState: "S0", service: "dns", app: "dns", endReason: .idle)
        let ping = ExportFlow(uid: 3, startNs: t0 + 2_000_000, endNs: t0 + 1_002_000_500, proto: .icmp, ipVersion: 4,
                              clientAddress: ip("10.0.0.5"), clientPort: 0, serverAddress: ip("8.8.8.8"), serverPort: 0,
                              clientToServer: ExportCounters(packets: 2, wireBytes: 196, ipBytes: 168, payloadBytes: 112),
                              serverToClient: ExportCounters(packets: 2, wireBytes: 196, ipBytes: 168, payloadBytes: 112),
                              connState: "SF", endReason: .idle, icmpType: 8, icmpCode: 0)
        let ping6 = ExportFlow(uid: 4, startNs: t0 + 3_000_000, endNs: t0 + 3_500_000, proto: .icmpv6, ipVersion: 6,
                               clientAddress: ip("2001:db8::1"), clientPort: 0, serverAddress: ip("2001:db8::2"), serverPort: 0,
                               clientToServer: ExportCounters(packets: 1, wireBytes: 118, ipBytes: 104, payloadBytes: 64),
                               serverToClient: ExportCounters(packets: 1, wireBytes: 118, ipBytes: 104, payloadBytes: 64),
                               connState: "SF", endReason: .idle, icmpType: 128, icmpCode: 0)
        // Roles decided against the first packet (Zeek's "^"), tunnelled,
        // a tunnel uid with the set separator in it.
        let flipped = ExportFlow(uid: 5, startNs: t0 + 4_000_000, endNs: t0 + 4_250_000, proto: .tcp, ipVersion: 6,
                                 clientAddress: ip("fe80::1"), clientPort: 5555, serverAddress: ip("fe80::2"), serverPort: 22,
                                 clientToServer: ExportCounters(packets: 3, wireBytes: 300, ipBytes: 240, payloadBytes: 0),
                                 serverToClient: ExportCounters(packets: 2, wireBytes: 200, ipBytes: 160, payloadBytes: 21),
                                 connState: "OTH", history: "hADa", app: "ssh", endReason: .end,
                                 rolesFlipped: true, tunnelParents: ["CAbCdEfGhIjK", "C,x"])
        let gre = ExportFlow(uid: 6, startNs: t0 + 5_000_000, endNs: t0 + 6_000_000, proto: IPProtocol(rawValue: 47), ipVersion: 4,
                             clientAddress: ip("192.0.2.1"), clientPort: 0, serverAddress: ip("192.0.2.2"), serverPort: 0,
                             clientToServer: ExportCounters(packets: 5, wireBytes: 700, ipBytes: 630, payloadBytes: 530),
                             serverToClient: ExportCounters(), connState: "S0", endReason: .end)
        // Strings that need Zeek's escaping: a value that reads as unset, a
        // tab, a backslash, a control byte; UTF-8 passes.
        let odd = ExportFlow(uid: 7, startNs: t0 + 7_000_000, endNs: t0 + 8_000_000, proto: .udp, ipVersion: 4,
                             clientAddress: ip("10.9.9.9"), clientPort: 1234, serverAddress: ip("10.9.9.10"), serverPort: 9999,
                             clientToServer: ExportCounters(packets: 1, wireBytes: 60, ipBytes: 46, payloadBytes: 18),
                             serverToClient: ExportCounters(packets: 1, wireBytes: 60, ipBytes: 46, payloadBytes: 18),
                             connState: "-", history: "a\tb\\c\u{1}é", app: "smtp/ftp", endReason: .end)
        return [tls, dns, ping, ping6, flipped, gre, odd]
    }

    static let header = """
    #separator \\x09
    #set_separator\t,
    #empty_field\t(empty)
    #unset_field\t-
    #path\tconn
    #open\t2009-11-18-08-00-21
    #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
    #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]

    """

    static let rows = [
        "1258531221.486539\tC00000000001\t192.168.1.102\t51514\t93.184.216.34\t443\ttcp\tssl\t1.500000\t517\t5340\tSF\tT\tF\t0\tShADadFf\t12\t1332\t10\t5860\t-",
        "1258531221.486540\tC00000000002\t10.0.0.5\t40000\t10.0.0.6\t53\tudp\tdns\t-\t-\t-\tS0\t-\t-\t0\t-\t1\t68\t0\t0\t-",
        "1258531221.488539\tC00000000003\t10.0.0.5\t8\t8.8.8.8\t0\ticmp\t-\t1.000001\t112\t112\tSF\t-\t-\t0\t-\t2\t168\t2\t168\t-",
        "1258531221.489539\tC00000000004\t2001:db8::1\t128\t2001:db8::2\t129\ticmp\t-\t0.000500\t64\t64\tSF\t-\t-\t0\t-\t1\t104\t1\t104\t-",
        "1258531221.490539\tC00000000005\tfe80::1\t5555\tfe80::2\t22\ttcp\tssh\t0.000250\t0\t21\tOTH\t-\t-\t0\t^hADa\t3\t240\t2\t160\tCAbCdEfGhIjK,C\\x2cx",
        "1258531221.491539\tC00000000006\t192.0.2.1\t0\t192.0.2.2\t0\tunknown_transport\t-\t0.001000\t530\t0\tS0\t-\t-\t0\t-\t5\t630\t0\t0\t-",
        "1258531221.493539\tC00000000007\t10.9.9.9\t1234\t10.9.9.10\t9999\tudp\t-\t0.001000\t18\t18\t\\x2d\t-\t-\t0\ta\\x09b\\x5cc\\x01é\t1\t46\t1\t46\t-",
    ]

    private func tsv(_ flows: [ExportFlow], options: ConnLogOptions = ConnLogOptions()) throws -> String {
        var w = ConnLogWriter(output: MemorySink(), openNs: Self.t0, options: options)
        for f in flows { try w.write(f) }
        try w.close(closeNs: Self.t0 + 3_600_000_000_000)
        return w.output.text
    }

    func testGoldenHeaderAndRows() throws {
        let text = try tsv(Self.fixtures())
        let expected = Self.header + Self.rows.joined(separator: "\n") + "\n#close\t2009-11-18-09-00-21\n"
        XCTAssertEqual(text, expected)
        if text != expected {
            for (a, b) in zip(text.split(separator: "\n"), expected.split(separator: "\n")) where a != b {
                print("got:  \(a.debugDescription)\nwant: \(b.debugDescription)")
            }
        }
    }

    func testEmptyLogAndTrailingFields() throws {
        let empty = try tsv([])
        XCTAssertEqual(empty, Self.header + "#close\t2009-11-18-09-00-21\n")
        let text = try tsv([Self.fixtures()[0], Self.fixtures()[2]], options: ConnLogOptions(includeIPProto: true, communityID: CommunityID()))
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[6].hasSuffix("\ttunnel_parents\tip_proto\tcommunity_id"))
        XCTAssertTrue(lines[7].hasSuffix("\tset[string]\tcount\tstring"))
        let cid = CommunityID().string(for: Self.fixtures()[0])
        XCTAssertTrue(lines[8].hasSuffix("\t-\t6\t\(cid)"), lines[8])
        XCTAssertTrue(lines[9].hasSuffix("\t-\t1\t\(CommunityID().string(for: Self.fixtures()[2]))"), lines[9])
    }

    func testLogTimes() {
        func text(_ ns: Int64) -> String {
            var b = ExportBuffer()
            ConnLogWriter<MemorySink>.appendLogTime(ns, to: &b)
            return String(decoding: b.bytes, as: UTF8.self)
        }
        XCTAssertEqual(text(0), "1970-01-01-00-00-00")
        XCTAssertEqual(text(951_782_400_000_000_000), "2000-02-29-00-00-00")
        XCTAssertEqual(text(1_709_164_799_999_999_999), "2024-02-28-23-59-59")
        XCTAssertEqual(text(4_107_542_400_000_000_000), "2100-03-01-00-00-00")
        XCTAssertEqual(text(-1), "1969-12-31-23-59-59")
        // Against the C library over many days.
        for day in stride(from: Int64(-800), to: 80_000, by: 37) {
            var t = time_t(day * 86_400 + 3_723)
            var tm = Glibc.tm()
            gmtime_r(&t, &tm)
            let want = String(format: "%04d-%02d-%02d-01-02-03", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday))
            XCTAssertEqual(text((day * 86_400 + 3_723) * 1_000_000_000), want)
        }
    }

    func testJSONForm() throws {
        var w = ConnLogWriter(output: MemorySink(), openNs: Self.t0, options: ConnLogOptions(format: .json))
        for f in Self.fixtures() { try w.write(f) }
        try w.close(closeNs: Self.t0)
        let lines = w.output.text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, Self.fixtures().count, "no header, one object a line")
        XCTAssertEqual(lines[0], #"{"ts":1258531221.486539,"uid":"C00000000001","id.orig_h":"192.168.1.102","id.orig_p":51514,"#
                       + #""id.resp_h":"93.184.216.34","id.resp_p":443,"proto":"tcp","service":"ssl","duration":1.5,"#
                       + #""orig_bytes":517,"resp_bytes":5340,"conn_state":"SF","local_orig":true,"local_resp":false,"#
                       + #""missed_bytes":0,"history":"ShADadFf","orig_pkts":12,"orig_ip_bytes":1332,"resp_pkts":10,"resp_ip_bytes":5860}"#)
        XCTAssertEqual(lines[1], #"{"ts":1258531221.48654,"uid":"C00000000002","id.orig_h":"10.0.0.5","id.orig_p":40000,"#
                       + #""id.resp_h":"10.0.0.6","id.resp_p":53,"proto":"udp","service":"dns","conn_state":"S0","#
                       + #""missed_bytes":0,"orig_pkts":1,"orig_ip_bytes":68,"resp_pkts":0,"resp_ip_bytes":0}"#)
        XCTAssertTrue(lines[4].contains(#""history":"^hADa""#))
        XCTAssertTrue(lines[4].hasSuffix(#""tunnel_parents":["CAbCdEfGhIjK","C,x"]}"#))
        XCTAssertTrue(lines[6].contains(#""conn_state":"-""#))
        XCTAssertTrue(lines[6].contains(#""history":"a\tb\\c\u0001é""#), lines[6])
        // Every line is JSON, and the numbers read back as the values.
        for (line, f) in zip(lines, Self.fixtures()) {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            XCTAssertEqual(object["ts"] as? Double ?? 0, Double(f.startNs) / 1e9, accuracy: 1e-6)
            XCTAssertEqual(object["orig_pkts"] as? Int, Int(f.clientToServer.packets))
            XCTAssertEqual(object["id.orig_h"] as? String, f.clientAddress.description)
        }
    }

    /// zat (Zeek Analysis Tools) reads the TSV with its Zeek header:
    /// column names and types from #fields/#types, '-' as missing.
    func testZatReadsTheLog() throws {
        let python = try ExportTestSupport.requirePythonModule("zat.log_to_dataframe", package: "zat")
        let dir = try ExportTestSupport.temporaryDirectory("zat")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var flows = Self.fixtures()
        flows.removeLast()  // pandas' read_csv has no notion of Zeek's \x escapes
        var w = ConnLogWriter(output: try FileSink(path: dir + "/conn.log"), openNs: Self.t0)
        for f in flows { try w.write(f) }
        try w.close(closeNs: Self.t0)
        let script = """
        import sys, json
        from zat.log_to_dataframe import LogToDataFrame
        df = LogToDataFrame().create_dataframe(sys.argv[1])
        out = {"columns": list(df.columns), "rows": []}
        for ts, r in df.iterrows():
            out["rows"].append({"ts": ts.value, "uid": r["uid"], "orig_h": str(r["id.orig_h"]), "orig_p": int(r["id.orig_p"]),
                                "resp_p": int(r["id.resp_p"]), "proto": str(r["proto"]),
                                "duration": None if str(r["duration"]) == "NaT" else r["duration"].value,
                                "orig_bytes": None if str(r["orig_bytes"]) == "<NA>" else int(r["orig_bytes"]),
                                "resp_ip_bytes": int(r["resp_ip_bytes"]), "history": str(r["history"])})
        print(json.dumps(out))
        """
        try script.write(toFile: dir + "/read.py", atomically: true, encoding: .utf8)
        let r = try ExportTestSupport.run(python, [dir + "/read.py", dir + "/conn.log"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
        let columns = try XCTUnwrap(out["columns"] as? [String])
        XCTAssertEqual(columns, ConnLog.classicFields.map(\.name).filter { $0 != "ts" })
        let rows = try XCTUnwrap(out["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.count, flows.count)
        for (row, f) in zip(rows, flows) {
            // pandas reads ts as a float of seconds: microseconds survive.
            XCTAssertEqual(Double((row["ts"] as? Int64) ?? 0) / 1e3, Double(f.startNs) / 1e3, accuracy: 2)
            XCTAssertEqual(row["uid"] as? String, FlowUID.string(f.uid))
            XCTAssertEqual(row["orig_h"] as? String, f.clientAddress.description)
            XCTAssertEqual(row["resp_ip_bytes"] as? Int, Int(f.serverToClient.ipBytes))
            if f.endNs > f.startNs {
                XCTAssertEqual(row["orig_bytes"] as? Int, Int(f.clientToServer.payloadBytes))
                XCTAssertEqual(Double((row["duration"] as? Int64) ?? 0), Double(f.endNs - f.startNs), accuracy: 1000)
            } else {
                XCTAssertTrue(row["orig_bytes"] is NSNull, "unset reads as missing")
            }
        }
        XCTAssertEqual(rows[2]["proto"] as? String, "icmp")
        XCTAssertEqual(rows[2]["orig_p"] as? Int, 8)
        XCTAssertEqual(rows[4]["history"] as? String, "^hADa")
    }

    /// Rows reuse one buffer: after the first rows, writing allocates no
    /// new storage (checked by the buffer's capacity staying put).
    func testStreamingFlushesInChunks() throws {
        final class CountingSink: ByteSink {
            var writes = 0, bytes = 0
            func write(_ b: UnsafeRawBufferPointer) throws { writes += 1; bytes += b.count }
        }
        let sink = CountingSink()
        var w = ConnLogWriter(output: sink, openNs: Self.t0)
        let f = Self.fixtures()[0]
        for _ in 0..<10_000 { try w.write(f) }
        try w.close(closeNs: Self.t0)
        XCTAssertGreaterThan(sink.writes, 10)
        XCTAssertLessThan(sink.writes, 100, "chunks of about 64 KiB, not a write per row")
        XCTAssertEqual(sink.bytes, Self.header.utf8.count + 10_000 * (Self.rows[0].utf8.count + 1) + "#close\t2009-11-18-08-00-21\n".utf8.count)
    }
}
