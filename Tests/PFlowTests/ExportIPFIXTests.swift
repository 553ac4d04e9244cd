import Foundation
import PFlowCore
@testable import PFlowExport
import XCTest

/// IPFIX: the message layout byte by byte (RFC 7011 §3, RFC 5103), and a
/// real collector (nfdump's nfcapd) receiving thousands of flows over UDP.
final class ExportIPFIXTests: XCTestCase {
    private let ip = ExportTestSupport.ip

    static func flow(uid: UInt64 = 7, client: String = "10.0.0.1", clientPort: UInt16 = 40000,
                     server: String = "10.0.0.2", serverPort: UInt16 = 443, proto: IPProtocol = .tcp) -> ExportFlow {
        let c = ExportTestSupport.ip(client), s = ExportTestSupport.ip(server)
        return ExportFlow(uid: uid, startNs: 1_700_000_000_123_456_789, endNs: 1_700_000_002_500_000_000, proto: proto,
                          ipVersion: c.isIPv4Mapped ? 4 : 6,
                          clientAddress: c, clientPort: clientPort, serverAddress: s, serverPort: serverPort, vlan: 42,
                          clientToServer: ExportCounters(packets: 10, wireBytes: 1140, ipBytes: 1000, payloadBytes: 600, tcpFlags: 0x1B),
                          serverToClient: ExportCounters(packets: 8, wireBytes: 5112, ipBytes: 5000, payloadBytes: 4680, tcpFlags: 0x12),
                          connState: "SF", history: "ShADadFf", endReason: .fin)
    }

    private func messages(_ flows: [ExportFlow], options: IPFIXOptions = IPFIXOptions(), now: UInt32 = 1_700_000_100) -> [[UInt8]] {
        var enc = IPFIXEncoder(options: options)
        var out: [[UInt8]] = []
        for f in flows { enc.add(f, now: now) { out.append(Array($0)) } }
        enc.flush(now: now) { out.append(Array($0)) }
        return out
    }

    private func be16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }
    private func be32(_ b: [UInt8], _ i: Int) -> UInt32 { UInt32(be16(b, i)) << 16 | UInt32(be16(b, i + 2)) }
    private func be64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(be32(b, i)) << 32 | UInt64(be32(b, i + 4)) }

    /// One IPv4 biflow, every byte: header, template set, data set.
    func testBiflowMessageLayout() {
        let m = messages([Self.flow()])
        XCTAssertEqual(m.count, 1)
        let b = m[0]
        // Header (RFC 7011 §3.1).
        XCTAssertEqual(be16(b, 0), 10, "version")
        XCTAssertEqual(be16(b, 2), b.count, "length")
        XCTAssertEqual(be32(b, 4), 1_700_000_100, "export time")
        XCTAssertEqual(be32(b, 8), 0, "sequence: no data records before")
        XCTAssertEqual(be32(b, 12), 0, "observation domain")
        // Template set (§3.3.2, §3.4.1): both templates.
        var at = 16
        XCTAssertEqual(be16(b, at), 2, "template set id")
        let templateSetLength = be16(b, at + 2)
        XCTAssertEqual(templateSetLength, 4 + 2 * (4 + 13 * 4 + 2 * 8))
        at += 4
        let expectedV4: [(Int, Int, UInt32?)] = [(8, 4, nil), (12, 4, nil), (7, 2, nil), (11, 2, nil), (4, 1, nil), (6, 2, nil),
                                                 (152, 8, nil), (153, 8, nil), (136, 1, nil), (148, 8, nil), (58, 2, nil),
                                                 (2, 8, nil), (1, 8, nil), (2, 8, 29305), (1, 8, 29305)]
        for (templateID, expected) in [(256, expectedV4),
                                       (257, expectedV4.map { ($0.0 == 8 ? 27 : $0.0 == 12 ? 28 : $0.0, $0.0 == 8 || $0.0 == 12 ? 16 : $0.1, $0.2) })] {
            XCTAssertEqual(be16(b, at), templateID)
            XCTAssertEqual(be16(b, at + 2), expected.count, "field count")
            at += 4
            for (id, length, pen) in expected {
                let raw = be16(b, at)
                XCTAssertEqual(raw & 0x7FFF, id)
                XCTAssertEqual(raw & 0x8000 != 0, pen != nil, "enterprise bit of \(id)")
                XCTAssertEqual(be16(b, at + 2), length, "length of \(id)")
                at += 4
                if let pen {
                    XCTAssertEqual(be32(b, at), pen)
                    at += 4
                }
            }
        }
        XCTAssertEqual(at, 16 + templateSetLength)
        // Data set (§3.3.2): one 74-byte record of template 256.
        XCTAssertEqual(be16(b, at), 256)
        XCTAssertEqual(be16(b, at + 2), 4 + 74)
        at += 4
        XCTAssertEqual(Array(b[at..<(at + 4)]), [10, 0, 0, 1], "source = client")
        XCTAssertEqual(Array(b[(at + 4)..<(at + 8)]), [10, 0, 0, 2], "destination = server")
        XCTAssertEqual(be16(b, at + 8), 40000)
        XCTAssertEqual(be16(b, at + 10), 443)
        XCTAssertEqual(b[at + 12], 6)
        XCTAssertEqual(be16(b, at + 13), 0x1B, "the client's TCP flags")
        XCTAssertEqual(be64(b, at + 15), 1_700_000_000_123, "flowStartMilliseconds")
        XCTAssertEqual(be64(b, at + 23), 1_700_000_002_500)
        XCTAssertEqual(b[at + 31], 3, "flowEndReason: end of flow detected")
        XCTAssertEqual(be64(b, at + 32), 7, "flowId = uid")
        XCTAssertEqual(be16(b, at + 40), 42, "vlanId")
        XCTAssertEqual(be64(b, at + 42), 10, "packets client → server")
        XCTAssertEqual(be64(b, at + 50), 1000, "IP bytes client → server")
        XCTAssertEqual(be64(b, at + 58), 8, "reverse packets")
        XCTAssertEqual(be64(b, at + 66), 5000, "reverse IP bytes")
        XCTAssertEqual(at + 74, b.count)
    }

    func testIPv6RecordAndOneByteFlags() {
        var options = IPFIXOptions()
        options.tcpControlBitsLength = 1
        let m = messages([Self.flow(client: "2001:db8::1", server: "2001:db8::2")], options: options)
        let b = m[0]
        let templateSetLength = be16(b, 18)
        let at = 16 + templateSetLength
        XCTAssertEqual(be16(b, at), 257)
        XCTAssertEqual(be16(b, at + 2), 4 + 73 + 24, "IPv6 record with a one-byte flags field")
        XCTAssertEqual(Array(b[(at + 4)..<(at + 20)]), [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1])
        XCTAssertEqual(b[at + 4 + 32 + 5], 0x1B, "one-byte tcpControlBits")
    }

    /// Messages stay within the limit, templates come first and again
    /// every N messages, sequence numbers count the data records before.
    func testMessagesSequenceAndTemplateRefresh() {
        var options = IPFIXOptions()
        options.templateRefreshMessages = 5
        var flows: [ExportFlow] = []
        for i in 0..<1000 {
            let v6 = i % 3 == 0
            let client: String = v6 ? "2001:db8::\(i % 50 + 1)" : "10.0.\(i % 200).1"
            let server: String = v6 ? "2001:db8::ffff" : "10.1.0.1"
            flows.append(Self.flow(uid: UInt64(i), client: client, server: server))
        }
        let m = messages(flows, options: options)
        var records = 0
        for (i, b) in m.enumerated() {
            XCTAssertLessThanOrEqual(b.count, 1400)
            XCTAssertEqual(be16(b, 2), b.count)
            XCTAssertEqual(Int(be32(b, 8)), records, "sequence number of message \(i)")
            var at = 16
            var sawTemplates = false
            while at < b.count {
                let id = be16(b, at), length = be16(b, at + 2)
                XCTAssertGreaterThanOrEqual(length, 4)
                if id == 2 { sawTemplates = true } else { records += (length - 4) / (id == 256 ? 74 : 98) }
                XCTAssertTrue(id == 2 || (length - 4) % (id == 256 ? 74 : 98) == 0)
                at += length
            }
            XCTAssertEqual(at, b.count)
            XCTAssertEqual(sawTemplates, i % 5 == 0, "templates in message \(i)")
        }
        XCTAssertEqual(records, 1000)
        // A time-based refresh: 60 s later the next message carries templates.
        var enc = IPFIXEncoder()
        var out: [[UInt8]] = []
        enc.add(Self.flow(), now: 1000) { out.append(Array($0)) }
        enc.flush(now: 1000) { out.append(Array($0)) }
        enc.add(Self.flow(), now: 1059) { out.append(Array($0)) }
        enc.flush(now: 1059) { out.append(Array($0)) }
        enc.add(Self.flow(), now: 1060) { out.append(Array($0)) }
        enc.flush(now: 1060) { out.append(Array($0)) }
        XCTAssertEqual(out.map { be16($0, 16) }, [2, 256, 2])
        XCTAssertEqual(out.map { be32($0, 8) }, [0, 1, 2])
    }

    func testUniflowRecords() {
        var options = IPFIXOptions()
        options.mode = .uniflow
        var oneWay = Self.flow(uid: 9)
        oneWay.serverToClient = ExportCounters()
        let b = messages([Self.flow(), oneWay], options: options)[0]
        let templateSetLength = be16(b, 18)
        XCTAssertEqual(templateSetLength, 4 + 2 * (4 + 13 * 4))
        XCTAssertEqual(be16(b, 20), 258)
        var at = 16 + templateSetLength
        XCTAssertEqual(be16(b, at), 258)
        XCTAssertEqual(be16(b, at + 2), 4 + 3 * 58, "two records for the two-way flow, one for the one-way flow")
        at += 4
        // Client → server.
        XCTAssertEqual(Array(b[at..<(at + 8)]), [10, 0, 0, 1, 10, 0, 0, 2])
        XCTAssertEqual(be64(b, at + 42), 10)
        XCTAssertEqual(be64(b, at + 50), 1000)
        at += 58
        // Server → client, ends swapped, the server's flags.
        XCTAssertEqual(Array(b[at..<(at + 8)]), [10, 0, 0, 2, 10, 0, 0, 1])
        XCTAssertEqual(be16(b, at + 8), 443)
        XCTAssertEqual(be16(b, at + 10), 40000)
        XCTAssertEqual(be16(b, at + 13), 0x12)
        XCTAssertEqual(be64(b, at + 32), 7, "same flowId")
        XCTAssertEqual(be64(b, at + 42), 8)
        XCTAssertEqual(be64(b, at + 50), 5000)
    }

    func testEndpointParser() throws {
        XCTAssertEqual(try IPFIXEndpoint.parse("127.0.0.1:4739"), IPFIXEndpoint(host: "127.0.0.1", port: 4739))
        XCTAssertEqual(try IPFIXEndpoint.parse("[::1]:4739"), IPFIXEndpoint(host: "::1", port: 4739))
        XCTAssertEqual(try IPFIXEndpoint.parse("collector.example:2055"), IPFIXEndpoint(host: "collector.example", port: 2055))
        let bad: [(String, IPFIXEndpointError)] = [
            ("", .empty), ("host", .missingPort("host")), ("host:", .missingPort("host:")), (":4739", .missingHost(":4739")),
            ("host:0", .badPort("host:0")), ("host:65536", .badPort("host:65536")), ("host:47x", .badPort("host:47x")),
            ("host:-1", .badPort("host:-1")), ("::1:4739", .unbracketedIPv6("::1:4739")), ("[::1", .unclosedBracket("[::1")),
            ("[::1]", .missingPort("[::1]")), ("[::1]4739", .unexpectedText("[::1]4739")), ("[]:4739", .missingHost("[]:4739")),
            ("host:٤٧٣٩", .badPort("host:٤٧٣٩")),
        ]
        for (text, expected) in bad {
            XCTAssertThrowsError(try IPFIXEndpoint.parse(text), text) { XCTAssertEqual($0 as? IPFIXEndpointError, expected, text) }
        }
    }

    func testResolveErrors() {
        XCTAssertThrowsError(try IPFIXExporter(host: "no-such-host.invalid", port: 4739)) { error in
            guard case .resolve = error as? IPFIXExporterError else { return XCTFail("\(error)") }
        }
    }

    /// A collector that isn't there: the kernel reports the ICMP port
    /// unreachable as ECONNREFUSED on a later send; it is counted, not fatal.
    func testSendErrorsAreCountedNotFatal() throws {
        let port = ExportTestSupport.freeUDPPort()
        let exporter = try IPFIXExporter(host: "127.0.0.1", port: port, pacing: .unpaced)
        for i in 0..<200 {
            exporter.export(Self.flow(uid: UInt64(i)))
            exporter.flush()
        }
        exporter.close()
        XCTAssertGreaterThan(exporter.errors, 0)
        XCTAssertEqual(exporter.firstError?.code, ECONNREFUSED)
        XCTAssertEqual(exporter.messagesSent + exporter.errors, 200)
        // IPv6 loopback by name resolution, if this machine has it.
        if let v6 = try? IPFIXExporter(host: "::1", port: port) { XCTAssertEqual(v6.remoteAddress, "::1") }
        XCTAssertEqual(try IPFIXExporter(host: "localhost", port: port).endpoint.host, "localhost")
    }

    /// The messages leave through the send batch (sendmmsg) exactly as
    /// the encoder made them, in order: every datagram a loopback socket
    /// receives equals the file writer's message for the same flows and
    /// clock, with flushes in between (a partial batch) and messages of
    /// other lengths (the flows' IPv6 ones, the last short one).
    func testBatchedDatagramsEqualTheFileWritersMessages() throws {
        for pacing in [IPFIXPacing.unpaced, .default, IPFIXPacing(messagesPerSecond: 100_000, burst: 3)] {
            let receiver = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(receiver) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, length) } }
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(receiver, $0, &length) } }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            _ = setsockopt(receiver, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

            let flows = ExportNfcapdTests.syntheticFlows(700, seed: 3)
            let exporter = try IPFIXExporter(host: "127.0.0.1", port: UInt16(bigEndian: address.sin_port),
                                             pacing: pacing, clock: { 1234 })
            let writer = IPFIXFileWriter(output: MemorySink(), clock: { 1234 })
            var expected: [[UInt8]] = []
            var got: [[UInt8]] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            // Received as they come, so the default receive buffer holds them.
            func receive(upTo count: Int) {
                while got.count < count {
                    let n = buffer.withUnsafeMutableBytes { recv(receiver, $0.baseAddress, $0.count, 0) }
                    guard n > 0 else { return XCTFail("datagram \(got.count + 1) of \(count) didn't arrive") }
                    got.append(Array(buffer[..<n]))
                }
            }
            for (i, f) in flows.enumerated() {
                exporter.export(f)
                try writer.write(f)
                if i % 250 == 249 {
                    exporter.flush()
                    try writer.close()
                    receive(upTo: writer.messagesWritten)
                }
            }
            exporter.close()
            try writer.close()
            receive(upTo: writer.messagesWritten)
            var at = 0
            let bytes = writer.output.bytes
            while at + 4 <= bytes.count {
                let n = be16(bytes, at + 2)
                expected.append(Array(bytes[at..<(at + n)]))
                at += n
            }
            XCTAssertEqual(exporter.errors, 0)
            XCTAssertEqual(exporter.messagesSent, expected.count)
            XCTAssertEqual(exporter.bytesSent, bytes.count)
            XCTAssertEqual(got.count, expected.count)
            XCTAssertTrue(got == expected, "pacing \(pacing.messagesPerSecond)/\(pacing.burst): datagrams differ from the messages")
        }
    }

    /// The token bucket: `burst` messages go at once, the rest at the rate.
    func testPacingKeepsToTheRate() throws {
        let port = ExportTestSupport.freeUDPPort()
        // 1,000 messages/s, 8 at once: 48 messages need at least 40 ms.
        let exporter = try IPFIXExporter(host: "127.0.0.1", port: port, pacing: IPFIXPacing(messagesPerSecond: 1000, burst: 8))
        let start = ExportClock.monotonicNanoseconds()
        for i in 0..<48 {
            exporter.export(Self.flow(uid: UInt64(i)))
            exporter.flush()
        }
        let elapsed = ExportClock.monotonicNanoseconds() - start
        XCTAssertEqual(exporter.messagesSent + exporter.errors, 48)
        XCTAssertGreaterThanOrEqual(elapsed, 39_000_000)
        XCTAssertLessThan(elapsed, 1_000_000_000)
    }


    func testFileWriterWritesMessagesBackToBack() throws {
        let writer = IPFIXFileWriter(output: MemorySink(), clock: { 1234 })
        for i in 0..<100 { try writer.write(Self.flow(uid: UInt64(i))) }
        try writer.close()
        let bytes = writer.output.bytes
        var at = 0, messages = 0
        while at < bytes.count {
            XCTAssertEqual(be16(bytes, at), 10)
            at += be16(bytes, at + 2)
            messages += 1
        }
        XCTAssertEqual(at, bytes.count)
        XCTAssertEqual(messages, writer.messagesWritten)
        XCTAssertEqual(writer.recordsWritten, 100)
    }
}

/// nfdump's nfcapd as the collector: every flow must arrive, with its
/// addresses, ports, protocol and both directions' packets and bytes.
final class ExportNfcapdTests: XCTestCase {
    /// Deterministic synthetic flows: IPv4 and IPv6; TCP, UDP, ICMP, ICMPv6.
    static func syntheticFlows(_ n: Int, seed: UInt64 = 0x5EED) -> [ExportFlow] {
        var state = seed
        func next() -> UInt64 {  // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var flows: [ExportFlow] = []
        let base: Int64 = 1_700_000_000_000_000_000
        for i in 0..<n {
            let v6 = i % 4 == 3
            let kind = Int(next() % 10)
            let proto: IPProtocol = kind < 5 ? .tcp : kind < 8 ? .udp : (v6 ? .icmpv6 : .icmp)
            let client: IPAddress, server: IPAddress
            if v6 {
                client = IPAddress(high: 0x2001_0db8_0000_0000 | next() % 0x10000, low: next())
                server = IPAddress(high: 0x2001_0db8_ffff_0000, low: next() % 1000)
            } else {
                client = IPAddress(ipv4: 0x0A00_0000 | UInt32(truncatingIfNeeded: next() % 0x100_0000))
                server = IPAddress(ipv4: 0xC0A8_0000 | UInt32(truncatingIfNeeded: next() % 0x1_0000))
            }
            let start = base + Int64(i) * 1_000_000 + Int64(next() % 1_000_000)
            let c2sPackets = 1 + next() % 5000, s2cPackets = next() % 3 == 0 ? 0 : 1 + next() % 5000
            let c2s = ExportCounters(packets: c2sPackets, wireBytes: 0, ipBytes: c2sPackets * (40 + next() % 1460),
                                     payloadBytes: 0, tcpFlags: proto == .tcp ? 0x1B : 0)
            let s2c = ExportCounters(packets: s2cPackets, wireBytes: 0, ipBytes: s2cPackets * (40 + next() % 1460),
                                     payloadBytes: 0, tcpFlags: proto == .tcp ? 0x12 : 0)
            let icmp = proto == .icmp || proto == .icmpv6
            flows.append(ExportFlow(uid: UInt64(i + 1), startNs: start, endNs: start + Int64(next() % 60_000_000_000),
                                    proto: proto, ipVersion: v6 ? 6 : 4,
                                    clientAddress: client, clientPort: icmp ? 0 : UInt16(1024 + next() % 64000),
                                    serverAddress: server, serverPort: icmp ? 0 : UInt16(1 + next() % 1023),
                                    vlan: i % 5 == 0 ? UInt16(next() % 4094 + 1) : nil,
                                    clientToServer: c2s, serverToClient: s2c,
                                    endReason: ExportEndReason.allCases[Int(next() % 6)],
                                    icmpType: icmp ? (proto == .icmp ? 8 : 128) : nil, icmpCode: icmp ? 0 : nil))
        }
        return flows
    }

    /// A running nfcapd on a loopback port, writing into its own directory.
    final class Collector {
        let process = Process()
        let dir: String
        let port: UInt16
        var logPath: String { dir + ".log" }

        init(nfcapd: String) throws {
            dir = try ExportTestSupport.temporaryDirectory("nfcapd")
            port = ExportTestSupport.freeUDPPort()
            process.executableURL = URL(fileURLWithPath: nfcapd)
            // nfdump 1.7: -w dir, -p port, -b bind address, -B socket buffer.
            process.arguments = ["-p", String(port), "-b", "127.0.0.1", "-w", dir, "-B", "4194304"]
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.standardOutput = log
            process.standardError = log
            try process.run()
            // Ready once it says so (it binds before printing this).
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, !((try? String(contentsOfFile: logPath, encoding: .utf8))?.contains("Startup") ?? false) {
                usleep(20_000)
            }
        }

        /// SIGTERM makes nfcapd write out and rename its current file.
        func stop() -> String {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: logPath)
        }
    }

    struct Received: Hashable {
        var src: IPAddress, dst: IPAddress, sport: UInt16, dport: UInt16, proto: UInt8
    }

    /// nfdump's CSV rows (nfdump 1.7: ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,...,svln,...).
    static func readBack(nfdump: String, dir: String) throws -> (rows: [Received: [UInt64]], header: String) {
        let r = try ExportTestSupport.run(nfdump, ["-R", dir, "-o", "csv", "-N"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var lines = r.stdout.split(separator: "\n").map(String.init)
        guard !lines.isEmpty else { return ([:], "") }
        let header = lines.removeFirst()
        let names = header.split(separator: ",").map(String.init)
        func column(_ name: String) -> Int { names.firstIndex(of: name) ?? -1 }
        let sa = column("sa"), da = column("da"), sp = column("sp"), dp = column("dp"), pr = column("pr")
        let ipkt = column("ipkt"), ibyt = column("ibyt"), opkt = column("opkt"), obyt = column("obyt"), flg = column("flg")
        let svln = column("svln")
        var rows: [Received: [UInt64]] = [:]
        guard [sa, da, sp, dp, pr, ipkt, ibyt, opkt, obyt, flg, svln].allSatisfy({ $0 >= 0 }) else {
            XCTFail("nfdump's CSV header lacks a column: \(header)")
            return ([:], header)
        }
        let protos: [String: UInt8] = ["TCP": 6, "UDP": 17, "ICMP": 1, "ICMP6": 58]
        for line in lines {
            let c = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard c.count == names.count, let proto = protos[c[pr]] ?? UInt8(c[pr]) else { continue }
            let key = Received(src: ExportTestSupport.ip(c[sa]), dst: ExportTestSupport.ip(c[da]),
                               sport: UInt16(c[sp]) ?? 0, dport: UInt16(c[dp]) ?? 0, proto: proto)
            let flags = UInt64(c[flg].contains("S") ? 1 : 0)
            rows[key] = [UInt64(c[ipkt]) ?? 0, UInt64(c[ibyt]) ?? 0, UInt64(c[opkt]) ?? 0, UInt64(c[obyt]) ?? 0,
                         UInt64(c[svln]) ?? 0, flags]
        }
        return (rows, header)
    }

    /// How many flows, how fast: 5,000 by default; PFLOW_IPFIX_FLOWS and
    /// PFLOW_IPFIX_RATE (messages/s, 0 = unpaced) to measure.
    func testNfcapdReceivesEveryFlow() throws {
        let nfcapd = try ExportTestSupport.requireTool("nfcapd", debianPackage: "nfdump")
        let nfdump = try ExportTestSupport.requireTool("nfdump", debianPackage: "nfdump")
        let env = ProcessInfo.processInfo.environment
        let n = Int(env["PFLOW_IPFIX_FLOWS"] ?? "") ?? 5000
        let pacing = env["PFLOW_IPFIX_RATE"].flatMap(Int.init).map { IPFIXPacing(messagesPerSecond: $0) } ?? .default
        let flows = Self.syntheticFlows(n)
        let collector = try Collector(nfcapd: nfcapd)
        let exporter = try IPFIXExporter(host: "127.0.0.1", port: collector.port, pacing: pacing)
        let start = Date()
        for f in flows { exporter.export(f) }
        exporter.close()
        let seconds = Date().timeIntervalSince(start)
        usleep(500_000)
        let log = collector.stop()
        print("nfcapd: \(n) flows in \(exporter.messagesSent) messages, \(exporter.bytesSent) bytes, "
              + "\(String(format: "%.3f", seconds)) s = \(Int(Double(n) / seconds)) flows/s "
              + "(pacing \(pacing.messagesPerSecond) messages/s), send errors \(exporter.errors)")
        XCTAssertEqual(exporter.errors, 0)
        // nfcapd's own count at shutdown: "Flows: N, ... Sequence Errors: 0".
        let summary = log.split(separator: "\n").first { $0.contains("Sequence Errors") }.map(String.init) ?? ""
        print("nfcapd says: \(summary)")
        XCTAssertTrue(summary.contains("Flows: \(n),"), log)
        XCTAssertTrue(summary.contains("Sequence Errors: 0,"), log)
        let stats = try ExportTestSupport.run(nfdump, ["-I", "-R", collector.dir]).stdout
        XCTAssertTrue(stats.contains("Sequence failures: 0"), stats)
        XCTAssertTrue(stats.contains("Flows: \(n)\n"), stats)

        let (rows, header) = try Self.readBack(nfdump: nfdump, dir: collector.dir)
        XCTAssertEqual(rows.count, n, header)
        var mismatches = 0
        for f in flows {
            let icmp = f.isICMP
            let key = Received(src: f.clientAddress, dst: f.serverAddress,
                               sport: icmp ? 0 : f.clientPort,
                               dport: icmp ? UInt16(f.icmpType ?? 0) << 8 | UInt16(f.icmpCode ?? 0) : f.serverPort,
                               proto: f.proto.rawValue)
            let want: [UInt64] = [f.clientToServer.packets, f.clientToServer.ipBytes,
                                  f.serverToClient.packets, f.serverToClient.ipBytes, UInt64(f.vlan ?? 0),
                                  f.proto == .tcp ? 1 : 0]
            if rows[key] != want {
                mismatches += 1
                if mismatches <= 5 { XCTFail("flow \(f.uid) \(key): nfdump \(rows[key] ?? []) want \(want)") }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// tcpControlBits in reduced-size encoding (1 byte) reads the same.
    func testNfcapdOneByteFlags() throws {
        let nfcapd = try ExportTestSupport.requireTool("nfcapd", debianPackage: "nfdump")
        let nfdump = try ExportTestSupport.requireTool("nfdump", debianPackage: "nfdump")
        let flows = Self.syntheticFlows(500, seed: 5)
        let collector = try Collector(nfcapd: nfcapd)
        var options = IPFIXOptions()
        options.tcpControlBitsLength = 1
        let exporter = try IPFIXExporter(host: "127.0.0.1", port: collector.port, options: options)
        for f in flows { exporter.export(f) }
        exporter.close()
        usleep(300_000)
        _ = collector.stop()
        let (rows, _) = try Self.readBack(nfdump: nfdump, dir: collector.dir)
        XCTAssertEqual(rows.count, flows.count)
        let tcp = flows.filter { $0.proto == .tcp }
        XCTAssertEqual(tcp.filter { f in
            rows[Received(src: f.clientAddress, dst: f.serverAddress, sport: f.clientPort, dport: f.serverPort, proto: 6)]?[5] == 1
        }.count, tcp.count, "SYN seen in every TCP flow's flags")
    }

    /// Uniflow: every direction a record of its own, reverse ends swapped.
    func testNfcapdUniflow() throws {
        let nfcapd = try ExportTestSupport.requireTool("nfcapd", debianPackage: "nfdump")
        let nfdump = try ExportTestSupport.requireTool("nfdump", debianPackage: "nfdump")
        let flows = Self.syntheticFlows(1000, seed: 77).filter { !$0.isICMP }
        let collector = try Collector(nfcapd: nfcapd)
        var options = IPFIXOptions()
        options.mode = .uniflow
        let exporter = try IPFIXExporter(host: "127.0.0.1", port: collector.port, options: options)
        for f in flows { exporter.export(f) }
        exporter.close()
        usleep(300_000)
        _ = collector.stop()
        let (rows, _) = try Self.readBack(nfdump: nfdump, dir: collector.dir)
        let expected = flows.reduce(0) { $0 + 1 + ($1.serverToClient.packets > 0 ? 1 : 0) }
        XCTAssertEqual(rows.count, expected)
        for f in flows {
            let forward = Received(src: f.clientAddress, dst: f.serverAddress, sport: f.clientPort, dport: f.serverPort, proto: f.proto.rawValue)
            XCTAssertEqual(rows[forward]?[0...3], [f.clientToServer.packets, f.clientToServer.ipBytes, 0, 0])
            if f.serverToClient.packets > 0 {
                let back = Received(src: f.serverAddress, dst: f.clientAddress, sport: f.serverPort, dport: f.clientPort, proto: f.proto.rawValue)
                XCTAssertEqual(rows[back]?[0...3], [f.serverToClient.packets, f.serverToClient.ipBytes, 0, 0])
            }
        }
    }
}

/// Other IPFIX readers: libfixbuf's ipfixDump decodes the RFC 5655 file,
/// pmacct's nfacctd collects the uniflow records.
final class ExportIPFIXReadersTests: XCTestCase {
    /// ipfixDump knows every IANA element and RFC 5103's reverse ones: it
    /// names our template fields and decodes every record from the file.
    func testIpfixDumpDecodesTheFile() throws {
        let ipfixDump = try ExportTestSupport.requireTool("ipfixDump", debianPackage: "libfixbuf-tools")
        // PFLOW_KEEP_IPFIX=dir keeps the files there, to replay or inspect.
        let keep = ProcessInfo.processInfo.environment["PFLOW_KEEP_IPFIX"]
        let dir = try keep ?? ExportTestSupport.temporaryDirectory("ipfixdump")
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let flows = ExportNfcapdTests.syntheticFlows(300)
        for mode in IPFIXMode.allCases {
            let path = dir + "/\(mode).ipfix"
            let writer = IPFIXFileWriter(output: try FileSink(path: path), options: IPFIXOptions(mode: mode), clock: { 1_700_000_100 })
            for f in flows { try writer.write(f) }
            try writer.close()
            let r = try ExportTestSupport.run(ipfixDump, ["--in", path])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertFalse(r.stderr.localizedCaseInsensitiveContains("error"), r.stderr)
            let names = ["sourceIPv4Address", "destinationIPv4Address", "sourceIPv6Address", "destinationIPv6Address",
                         "sourceTransportPort", "destinationTransportPort", "protocolIdentifier", "tcpControlBits",
                         "flowStartMilliseconds", "flowEndMilliseconds", "flowEndReason", "flowId", "vlanId",
                         "packetDeltaCount", "octetDeltaCount"]
            for name in names { XCTAssertTrue(r.stdout.contains(name), "\(mode): ipfixDump doesn't show \(name)") }
            XCTAssertEqual(r.stdout.contains("reversePacketDeltaCount"), mode == .biflow)
            XCTAssertEqual(r.stdout.contains("reverseOctetDeltaCount"), mode == .biflow)
            let records = writer.recordsWritten
            let stats = try ExportTestSupport.run(ipfixDump, ["--in", path, "--stats"]).stdout
            print("ipfixDump --stats (\(mode)):\n\(stats)")
            XCTAssertTrue(stats.contains("\(records) Data Record"), stats)
            XCTAssertTrue(stats.contains("\(writer.messagesWritten) Message"), stats)
            // The first record's values, as ipfixDump prints them.
            let f = flows[0]
            XCTAssertTrue(r.stdout.contains(f.clientAddress.description), "client address")
            XCTAssertTrue(r.stdout.contains("\(f.clientToServer.ipBytes)"), "octets")
        }
    }

    /// pmacct's nfacctd (no RFC 5103 biflows): the uniflow records, summed
    /// per 5-tuple by its print plugin, are each direction's counters.
    func testNfacctdCollectsUniflow() throws {
        let nfacctd = try ExportTestSupport.requireTool("nfacctd", debianPackage: "pmacct")
        let dir = try ExportTestSupport.temporaryDirectory("nfacctd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = ExportTestSupport.freeUDPPort()
        let config = """
        daemonize: false
        nfacctd_ip: 127.0.0.1
        nfacctd_port: \(port)
        plugins: print[p]
        debug: \(ProcessInfo.processInfo.environment["PFLOW_DEBUG_NFACCTD"] != nil)
        aggregate[p]: src_host, dst_host, src_port, dst_port, proto
        print_output[p]: csv
        print_output_file[p]: \(dir)/out.csv
        print_output_file_append[p]: true
        print_refresh_time[p]: 1
        """
        try config.write(toFile: dir + "/nfacctd.conf", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: nfacctd)
        p.arguments = ["-f", dir + "/nfacctd.conf"]
        _ = FileManager.default.createFile(atPath: dir + "/log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/log"))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        defer { if p.isRunning { ExportTestSupport.killTree(p.processIdentifier) } }
        let deadline = Date().addingTimeInterval(10)
        // Ready when both the core listens and the print plugin has its
        // cache; data sent before that is dropped.
        while Date() < deadline, !((try? String(contentsOfFile: dir + "/log", encoding: .utf8)).map {
            $0.contains("waiting for") && $0.contains("cache entries")
        } ?? false) {
            usleep(20_000)
        }
        usleep(1_000_000)
        let flows = ExportNfcapdTests.syntheticFlows(1000, seed: 99).filter { !$0.isICMP }
        let exporter = try IPFIXExporter(host: "127.0.0.1", port: port, options: IPFIXOptions(mode: .uniflow))
        for f in flows { exporter.export(f) }
        exporter.close()
        // Its print plugin writes what it counted every refresh interval
        // (1 s), a few intervals after the records arrive: wait for output,
        // then for two quiet intervals.
        var text = ""
        var lastChange = Date()
        let give = Date().addingTimeInterval(30)
        while Date() < give && (text.isEmpty || Date().timeIntervalSince(lastChange) < 2.5) {
            usleep(200_000)
            let now = (try? String(contentsOfFile: dir + "/out.csv", encoding: .utf8)) ?? ""
            if now != text { text = now; lastChange = Date() }
        }
        // nfacctd 1.7.7 doesn't always end on SIGTERM here (its core waits
        // for the plugin): end both processes, which this test started.
        ExportTestSupport.killTree(p.processIdentifier)
        p.waitUntilExit()
        if ProcessInfo.processInfo.environment["PFLOW_DEBUG_NFACCTD"] != nil {
            print((try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? "", text.prefix(2000))
        }
        var sums: [String: (UInt64, UInt64)] = [:]
        var header: [String] = []
        for line in text.split(separator: "\n") {
            let c = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if c.first == "SRC_IP" { header = c; continue }
            guard c.count == header.count, let pk = header.firstIndex(of: "PACKETS"), let by = header.firstIndex(of: "BYTES"),
                  let si = header.firstIndex(of: "SRC_IP"), let di = header.firstIndex(of: "DST_IP"),
                  let sp = header.firstIndex(of: "SRC_PORT"), let dp = header.firstIndex(of: "DST_PORT"),
                  let pr = header.firstIndex(of: "PROTOCOL") else { continue }
            let key = "\(ExportTestSupport.ip(c[si]).description) \(c[sp]) \(ExportTestSupport.ip(c[di]).description) \(c[dp]) \(c[pr].lowercased())"
            let old = sums[key] ?? (0, 0)
            sums[key] = (old.0 + (UInt64(c[pk]) ?? 0), old.1 + (UInt64(c[by]) ?? 0))
        }
        XCTAssertFalse(sums.isEmpty, "nfacctd wrote nothing: " + ((try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? ""))
        var missing = 0
        for f in flows {
            let fwd = "\(f.clientAddress.description) \(f.clientPort) \(f.serverAddress.description) \(f.serverPort) \(f.proto.name)"
            if let got = sums[fwd] {
                XCTAssertEqual(got.0, f.clientToServer.packets, fwd)
                XCTAssertEqual(got.1, f.clientToServer.ipBytes, fwd)
            } else { missing += 1 }
            guard f.serverToClient.packets > 0 else { continue }
            let back = "\(f.serverAddress.description) \(f.serverPort) \(f.clientAddress.description) \(f.clientPort) \(f.proto.name)"
            if let got = sums[back] {
                XCTAssertEqual(got.0, f.serverToClient.packets, back)
                XCTAssertEqual(got.1, f.serverToClient.ipBytes, back)
            } else { missing += 1 }
        }
        XCTAssertEqual(missing, 0, "directions nfacctd didn't report")
    }
}
