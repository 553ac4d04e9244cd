import PFlowCore
import Foundation
import XCTest
@testable import PFlowFlows
@testable import PFlowEngine
@testable import PFlowOutput
@testable import PFlowWire

/// Findings on captures recorded with real programs (Samples/record-findings.sh:
/// nmap, nc, sshd, curl in network namespaces), and none on normal traffic.
final class FindingsTests: XCTestCase {
    func sample(_ name: String) throws -> AnalysisResult {
        try Analyzer.analyze(paths: [Fixture.repositoryRoot.appendingPathComponent("Samples/" + name).path])
    }

    func testPlantedFindingsAreReported() throws {
        let r = try sample("findings-netns.pcap")
        let scanner = "10.99.0.1", knocker = "10.99.0.3", server = "10.99.0.2"
        let scans = r.findings.filter { $0.kind == "port-scan" }
        XCTAssertEqual(scans.count, 2, "\(scans.map(\.detail))")
        let tcpScan = scans.first { $0.proto == .tcp }
        XCTAssertEqual(tcpScan?.source?.description, scanner)
        XCTAssertEqual(tcpScan?.target?.description, server)
        XCTAssertEqual(tcpScan?.ports, Array(1...100).map(UInt16.init) + [8000])
        XCTAssertTrue(tcpScan?.detail.hasPrefix("101 ports probed, 1 open (8000)") ?? false)
        let udpScan = scans.first { $0.proto == .udp }
        XCTAssertEqual(udpScan?.ports, Array(500...520).map(UInt16.init))
        XCTAssertEqual(udpScan?.source?.description, scanner)

        let knocks = r.findings.filter { $0.kind == "port-knock" }
        XCTAssertEqual(knocks.count, 1)
        XCTAssertEqual(knocks.first?.source?.description, knocker)
        XCTAssertEqual(knocks.first?.target?.description, server)
        XCTAssertEqual(knocks.first?.ports, [7001, 7002, 7003])
        XCTAssertTrue(knocks.first?.detail.hasSuffix("then port 2222 opened") ?? false)

        let odd = r.findings.filter { $0.kind == "nonstandard-port" }
        XCTAssertEqual(odd.map { $0.ports }, [[2222], [8000]])
        XCTAssertEqual(odd.map { $0.target?.description }, [server, server])
        XCTAssertTrue(odd[0].detail.hasPrefix("ssh on port 2222 (registry: EtherNet-IP-1)"))
        XCTAssertTrue(odd[1].detail.hasPrefix("http on port 8000 (registry: irdmi)"))

        // The scan's rejected probes are counted in its tally row, but the
        // failed list leaves them to the scan's finding.
        let closed = r.rows.first { $0.port == 1 && $0.proto == .tcp }
        XCTAssertEqual(closed?.rejected, 1)
        XCTAssertEqual(closed?.kind, .failed)
        XCTAssertFalse(r.failed.contains { $0.port == 1 && $0.proto == .tcp })
        XCTAssertFalse(r.services.contains { $0.port == 1 && $0.proto == .tcp })
    }

    func testNormalTrafficHasNoScanOrKnock() throws {
        for name in ["http-dns-lo.pcap", "any-mixed.pcapng"] {
            let r = try sample(name)
            XCTAssertTrue(r.findings.allSatisfy { $0.kind != "port-scan" && $0.kind != "port-knock" }, name)
        }
        // http.server on 8000 in the normal sample is a service on a port the registry gives to irdmi.
        XCTAssertEqual(try sample("http-dns-lo.pcap").findings.map(\.kind), ["nonstandard-port"])
    }

    func testGeneratedTrafficWithoutScansHasNoScanOrKnock() throws {
        guard let shared = Fixture.sharedDirectory else { throw XCTSkip("../shared is absent: no synthtraffic.py") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pflow-findings-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        func findings(_ args: [String]) throws -> [Finding] {
            let pcap = dir.appendingPathComponent("s\(args.joined()).pcap").path
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", shared.appendingPathComponent("tools/synthtraffic.py").path, "--out", pcap] + args
            try p.run()
            p.waitUntilExit()
            return try Analyzer.analyze(paths: [pcap], keepFlows: false).findings
        }
        let clean = try findings(["--packets", "60000", "--seed", "21", "--scans", "0"])
        XCTAssertTrue(clean.allSatisfy { $0.kind != "port-scan" && $0.kind != "port-knock" },
                      clean.filter { $0.kind == "port-scan" || $0.kind == "port-knock" }.map(\.detail).joined(separator: "\n"))
        // The generator's own scan (1000 ports of one server) is found.
        let scanned = try findings(["--packets", "60000", "--seed", "21", "--scans", "1"])
        XCTAssertEqual(scanned.filter { $0.kind == "port-scan" }.count, 1)
        // Services it runs off their registered ports: SSH on 2222, TLS on 50443.
        XCTAssertTrue(clean.contains { $0.kind == "nonstandard-port" && $0.ports == [2222] && $0.detail.hasPrefix("ssh") })
        XCTAssertTrue(clean.contains { $0.kind == "nonstandard-port" && $0.ports == [50443] && $0.detail.hasPrefix("tls") })
    }

    /// Flows are reported as they end, not as they start: a connection
    /// that worked may arrive before the failed attempts that came before
    /// it. Working attempts are kept apart from the failed ones and merged
    /// back in arrival order; knocks and scans must come out the same.
    func testKnockAndScanWhenWorkingConnectionsArriveFirst() {
        let base = FlowRecord(FlowState(key: FlowKey(addressA: IPAddress(ipv4: 1), addressB: IPAddress(ipv4: 2),
                                                     portA: 40000, portB: 80, proto: .tcp, vlan: FlowKey.noVLAN),
                                        ipVersion: 4, timestampNs: 0, direction: 0),
                              endReason: .fin, registry: .standard, knowledge: TrafficKnowledge())
        func attempt(_ client: UInt32, _ server: UInt32, port: UInt16, second: Int64, worked: Bool) -> FlowRecord {
            var f = base
            // Knocks and ordinary connections come from ephemeral ports; the
            // scanner sends every probe from one raw port.
            if client != 0x0A00_0001 { f.clientPort = 40000 + UInt16(truncatingIfNeeded: second) }
            f.clientAddress = IPAddress(ipv4: client)
            f.serverAddress = IPAddress(ipv4: server)
            f.serverPort = port
            f.startNs = 1_767_225_600_000_000_000 + second * 1_000_000_000
            f.endNs = f.startNs + 1_000_000
            f.roleSource = .syn
            f.connState = worked ? .SF : .REJ
            return f
        }
        let knocker: UInt32 = 0x0A00_0003, scanner: UInt32 = 0x0A00_0001, other: UInt32 = 0x0A00_0009
        let server: UInt32 = 0x0A00_0002
        var detector = FindingsDetector()
        // Working connections first: the knocked port, the scan's one open
        // port, and other clients' traffic to the same server.
        detector.add(attempt(knocker, server, port: 2222, second: 10, worked: true))
        detector.add(attempt(scanner, server, port: 80, second: 100, worked: true))
        for i in 0..<50 { detector.add(attempt(other, server, port: 443, second: Int64(i), worked: true)) }
        // Then the knocks, and the scan's refused ports.
        for (i, port) in [7001, 7002, 7003].enumerated() {
            detector.add(attempt(knocker, server, port: UInt16(port), second: Int64(7 + i), worked: false))
        }
        for port in 1...15 { detector.add(attempt(scanner, server, port: UInt16(port), second: 100 + Int64(port), worked: false)) }
        let findings = detector.findings(clients: [])
        let knocks = findings.filter { $0.kind == "port-knock" }
        XCTAssertEqual(knocks.count, 1)
        XCTAssertEqual(knocks.first?.source, IPAddress(ipv4: knocker))
        XCTAssertEqual(knocks.first?.ports, [7001, 7002, 7003])
        XCTAssertEqual(knocks.first?.detail, "knocked on 7001, 7002, 7003, then port 2222 opened")
        let scans = findings.filter { $0.kind == "port-scan" }
        XCTAssertEqual(scans.count, 1)
        XCTAssertEqual(scans.first?.source, IPAddress(ipv4: scanner))
        XCTAssertEqual(scans.first?.ports, Array(1...15).map(UInt16.init) + [80])
        XCTAssertTrue(scans.first?.detail.hasPrefix("16 ports probed, 1 open (80)") ?? false, scans.first?.detail ?? "")
    }

    /// One port on many hosts: a horizontal scan, with `targets` listed.
    func testHorizontalScan() {
        var detector = FindingsDetector()
        let table = PacketFeeder { s, r, knowledge in
            detector.add(FlowRecord(s, endReason: r, registry: .standard, knowledge: knowledge))
        }
        let scanner = IPAddress(ipv4: 0x0A00_0063)
        var ts: Int64 = 1_767_225_600_000_000_000
        for host in 1...30 {
            var syn = DecodedPacket()
            syn.ipVersion = 4
            syn.proto = .tcp
            syn.source = scanner
            syn.destination = IPAddress(ipv4: 0xC000_0200 | UInt32(host))
            syn.sourcePort = 50000
            syn.destinationPort = 445
            syn.tcpFlags = .syn
            var rst = syn
            swap(&rst.source, &rst.destination)
            swap(&rst.sourcePort, &rst.destinationPort)
            rst.tcpFlags = [.rst, .ack]
            for p in [syn, rst] {
                table.add(p, frame: UnsafeRawBufferPointer(start: nil, count: 0), timestampNs: ts, wireLength: 60)
                ts += 1_000_000
            }
        }
        table.finish { s, r in detector.add(FlowRecord(s, endReason: r, registry: .standard, knowledge: table.knowledge)) }
        let scans = detector.findings(clients: []).filter { $0.kind == "port-scan" }
        XCTAssertEqual(scans.count, 1)
        XCTAssertNil(scans.first?.target)
        XCTAssertEqual(scans.first?.targets.count, 30)
        XCTAssertEqual(scans.first?.ports, [445])
    }

    func testTwoAllocatorsLookLikeANAT() {
        var r = EphemeralRange()
        for port: UInt16 in [33000, 35000, 40000, 62000, 63000, 64000] { r.add(port) }
        XCTAssertTrue(r.looksLikeTwoAllocators)
        var linux = EphemeralRange()
        for port: UInt16 in [33000, 35000, 40000, 52000, 58000, 60000] { linux.add(port) }
        XCTAssertFalse(linux.looksLikeTwoAllocators)
    }
}
