import PFlowCore
import Foundation
import XCTest
@testable import PFlowFlows
@testable import PFlowEngine
@testable import PFlowOutput
@testable import PFlowWire

/// The report's rules one at a time (issue 13): how a service is named,
/// what is a service, a failure or a probe, each finding rule, each
/// ephemeral-range label, and the bounded address tables.
final class ReportTruthTests: XCTestCase {
    static let t0: Int64 = 1_767_225_600_000_000_000
    static let server = IPAddress(ipv4: 0x0A62_0002)

    /// A flow record from `client`:`clientPort` to `server`:`port`, `second`
    /// seconds in (µs steps allowed), answered or not.
    func flow(_ client: UInt32, _ clientPort: UInt16, to port: UInt16, proto: IPProtocol = .tcp,
              server: IPAddress = ReportTruthTests.server, at ns: Int64, answered: Bool,
              icmp: Bool = false, app: AppProtocol? = nil) -> FlowRecord {
        let key = FlowKey(addressA: IPAddress(ipv4: client), addressB: server, portA: clientPort, portB: port,
                          proto: proto, vlan: FlowKey.noVLAN)
        var f = FlowRecord(FlowState(key: key, ipVersion: 4, timestampNs: Self.t0 + ns, direction: 0),
                           endReason: .fin, registry: .standard, knowledge: TrafficKnowledge())
        f.clientAddress = IPAddress(ipv4: client)
        f.clientPort = clientPort
        f.serverAddress = server
        f.serverPort = port
        f.startNs = Self.t0 + ns
        f.endNs = f.startNs + 1000
        f.clientToServer.packets = 1
        f.clientToServer.bytes = 60
        f.appProtocol = app
        f.portName = ServiceRegistry.standard.name(port: port, proto: proto)
        f.service = ServiceNames.name(app: app, port: port, proto: proto, portName: f.portName)
        if proto == .tcp {
            f.roleSource = .syn
            f.clientToServer.tcpFlags = .syn
            if answered {
                f.connState = .SF
                f.serverToClient.packets = 1
                f.serverToClient.bytes = 60
                f.serverToClient.tcpFlags = [.syn, .ack]
            } else {
                f.connState = .REJ
                f.serverToClient.packets = 1
                f.serverToClient.bytes = 54
                f.serverToClient.tcpFlags = [.rst, .ack]
            }
        } else {
            f.roleSource = .signature
            f.connState = answered ? .SF : .S0
            if answered { f.serverToClient.packets = 1; f.serverToClient.bytes = 80 }
            f.icmpErrors = icmp ? 1 : 0
        }
        return f
    }

    static let second: Int64 = 1_000_000_000

    // MARK: naming

    func testServicesAreNamedByTheirTrafficFirst() {
        func name(_ app: AppProtocol?, _ port: UInt16, _ proto: IPProtocol = .tcp) -> String? {
            ServiceNames.name(app: app, port: port, proto: proto,
                              portName: ServiceRegistry.standard.name(port: port, proto: proto))
        }
        XCTAssertEqual(name(.ssh, 2222), "ssh")
        XCTAssertEqual(name(nil, 2222), "EtherNet-IP-1")
        XCTAssertEqual(name(.http, 8000), "http")
        XCTAssertEqual(name(.http, 8765), "http")
        XCTAssertEqual(name(.tls, 443), "https")
        XCTAssertEqual(name(.tls, 8443), "https")
        XCTAssertEqual(name(.tls, 50443), "tls")
        XCTAssertEqual(name(.tls, 993), "imaps")
        XCTAssertEqual(name(.dns, 53, .udp), "dns")
        XCTAssertEqual(name(.dns, 53), "dns")
        XCTAssertEqual(name(nil, 53, .udp), "dns", "users say dns, not the registry's domain")
        XCTAssertEqual(name(.dns, 5353, .udp), "mdns")
        XCTAssertEqual(name(.dns, 9953, .udp), "dns")
        XCTAssertEqual(name(.smtpOrFTP, 21), "ftp")
        XCTAssertEqual(name(.smtpOrFTP, 2121), "smtp/ftp")
        XCTAssertEqual(name(nil, 65000), nil)
    }

    func testDNSOverTCPIsRecognised() {
        // A query for example.com (A, IN) behind its two-byte length.
        let message: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                                7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
        let framed = [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
        var head = PayloadHead()
        framed.withUnsafeBytes { head.fill(from: $0, offset: 0, captured: $0.count, payloadLength: $0.count) }
        XCTAssertEqual(Signatures.classify(head, proto: .tcp), SignatureVerdict(app: .dns, senderIsClient: true))
        // A length that falls short of the segment is not DNS.
        var short = framed
        short[1] = 10
        var other = PayloadHead()
        short.withUnsafeBytes { other.fill(from: $0, offset: 0, captured: $0.count, payloadLength: $0.count) }
        XCTAssertNil(Signatures.classify(other, proto: .tcp))
    }

    func testNamesFromAServicesFileAreSafeToPrint() throws {
        let text = "evil\u{1B}[31m 7777/tcp\n=cmd|calc 7778/tcp\n-x 7779/tcp\n-1 7780/tcp\nfine 7781-7790/udp\n"
        let r = try ServiceRegistry.standard.overriding(withServicesText: text, source: "t")
        XCTAssertEqual(r.name(port: 7777, proto: .tcp), "evil\\x1B[31m")
        XCTAssertEqual(r.name(port: 7778, proto: .tcp), "'=cmd|calc")
        XCTAssertEqual(r.name(port: 7779, proto: .tcp), "'-x")
        XCTAssertEqual(r.name(port: 7780, proto: .tcp), "-1")
        XCTAssertEqual(r.name(port: 7790, proto: .udp), "fine")
    }

    // MARK: services, failures, one-way, addresses

    func testServicesFailuresAndOneWay() {
        var t = ServiceTally()
        let client: UInt32 = 0x0A62_0001
        for i in 0..<3 { t.add(flow(client, 40000 + UInt16(i), to: 2222, at: Int64(i), answered: true, app: .ssh)) }
        t.add(flow(client, 40010, to: 2222, at: 5, answered: false))
        for i in 0..<5 { t.add(flow(client, 45000 + UInt16(i), to: 514, proto: .udp, at: Int64(i), answered: false)) }
        t.add(flow(client, 5353, to: 5353, proto: .udp, server: IPAddress(ipv4: 0xE000_00FB), at: 1, answered: false))
        t.add(flow(client, 41000, to: 81, at: 1, answered: false))
        t.add(flow(client, 41001, to: 81, at: 2, answered: false))
        let rows = t.sortedRows()
        let ssh = rows.first { $0.port == 2222 }
        XCTAssertEqual(ssh?.service, "ssh")
        XCTAssertEqual(ssh?.portName, "EtherNet-IP-1")
        XCTAssertEqual(ssh?.app, "ssh")
        XCTAssertEqual(ssh?.kind, .service)
        XCTAssertEqual(ssh?.flows, 4, "a service counts every flow on it, answered or not")
        XCTAssertEqual(ssh?.rejected, 1)
        XCTAssertEqual(ssh?.topClients, [AddressShare(address: IPAddress(ipv4: client), flows: 4, bytes: 3 * 120 + 114)])
        XCTAssertEqual(rows.first { $0.port == 514 }?.kind, .oneWay)
        XCTAssertEqual(rows.first { $0.port == 5353 }?.kind, .oneWay)
        XCTAssertEqual(rows.first { $0.port == 81 }?.kind, .failed)
        let failed = ServiceTally.failedPorts(rows, scanProbes: [])
        XCTAssertEqual(failed.map(\.port), [81])
        XCTAssertEqual(failed.first?.attempts, 2)
        XCTAssertEqual(failed.first?.rejected, 2)
        // Probes of a scan are the scan's, not failures; a one-way port only
        // probed is no service.
        let probes = [ScanProbes(proto: .tcp, port: 81, flows: 2, unanswered: 0, rejected: 2),
                      ScanProbes(proto: .udp, port: 5353, flows: 1, unanswered: 1, rejected: 0)]
        XCTAssertTrue(ServiceTally.failedPorts(rows, scanProbes: probes).isEmpty)
        XCTAssertEqual(ServiceTally.services(rows, scanProbes: probes).compactMap(\.port).sorted(), [514, 2222])
        // Hosts: the client opened every flow; the server answered on 2222.
        let hosts = t.hostRows()
        let s = hosts.first { $0.address == Self.server }
        XCTAssertEqual(s?.services, ["2222/tcp"])
        XCTAssertEqual(hosts.first { $0.address == IPAddress(ipv4: client) }?.clientFlows, 12)
        XCTAssertEqual(hosts.first { $0.address == IPAddress(ipv4: 0xE000_00FB) }?.serverFlows, 1)
    }

    func testUDPAnsweredOnlyByICMPIsRejected() {
        var t = ServiceTally()
        t.add(flow(1, 40000, to: 161, proto: .udp, at: 0, answered: false, icmp: true))
        t.add(flow(1, 40001, to: 161, proto: .udp, at: 1, answered: false))
        let row = t.sortedRows().first
        XCTAssertEqual(row?.rejected, 1)
        XCTAssertEqual(row?.unanswered, 1)
    }

    func testAddressTablesStayBoundedWithSketchesPastTheirLimit() {
        var t = ServiceTally()
        t.partyLimit = 64
        for i in 0..<5000 {
            t.add(flow(0x0B00_0000 + UInt32(i), 40000, to: 443, at: Int64(i), answered: true, app: .tls))
        }
        let row = t.sortedRows().first
        XCTAssertEqual(row?.flows, 5000)
        XCTAssertEqual(row?.approximate, true)
        XCTAssertEqual(row?.servers, 1)
        let clients = Double(row?.clients ?? 0)
        XCTAssertEqual(clients, 5000, accuracy: 5000 * 0.2, "HyperLogLog with 256 registers: about 6.5% error")
        XCTAssertLessThanOrEqual(row?.topClients.count ?? 99, ServiceTally.topAddresses)
        XCTAssertTrue(t.hostsApproximate)
        XCTAssertEqual(Double(t.distinctHosts), 5001, accuracy: 5001 * 0.2)
        let kept = t.hostRows()
        XCTAssertLessThanOrEqual(kept.count, 64)
        // Every flow's client end is either kept or summed as untracked.
        XCTAssertEqual(kept.reduce(0) { $0 + $1.clientFlows } + t.untrackedHosts.clientFlows, 5000)
    }

    func testDistinctSketchIsCloseOnSmallAndLargeCounts() {
        for n in [1, 10, 100, 1000, 100_000] {
            var s = DistinctSketch()
            for i in 0..<n { s.add(hash: IPAddress(ipv4: UInt32(i)).fastHash(HashSeed.run)) }
            XCTAssertEqual(Double(s.estimate), Double(n), accuracy: max(1, Double(n) * 0.2), "\(n)")
        }
    }

    // MARK: findings

    /// nmap -sS over 1-100 from one raw port, then a knock from the same
    /// source (ordinary connections) that opens 2222.
    func testScanThenKnockFromTheSameSource() {
        var d = FindingsDetector()
        let scanner: UInt32 = 0x0A62_0042
        for port in 1...100 { d.add(flow(scanner, 53098, to: UInt16(port), at: Int64(port) * 10_000, answered: port == 53)) }
        for (i, port) in [7000, 8000, 9000].enumerated() {
            d.add(flow(scanner, 44000 + UInt16(i) * 2, to: UInt16(port), at: 6 * Self.second + Int64(i) * Self.second / 3, answered: false))
        }
        d.add(flow(scanner, 44010, to: 2222, at: 8 * Self.second, answered: true, app: .ssh))
        let findings = d.findings(clients: [])
        let scans = findings.filter { $0.kind == "port-scan" }
        XCTAssertEqual(scans.count, 1)
        XCTAssertEqual(scans.first?.ports, Array(1...100).map(UInt16.init), "the scan's probes, not the knock")
        XCTAssertTrue(scans.first?.detail.hasPrefix("100 ports probed, 1 open (53)") ?? false, scans.first?.detail ?? "")
        XCTAssertEqual(scans.first?.probes.reduce(0) { $0 + $1.flows }, 99)
        let knocks = findings.filter { $0.kind == "port-knock" }
        XCTAssertEqual(knocks.map(\.ports), [[7000, 8000, 9000]])
        XCTAssertEqual(knocks.first?.detail, "knocked on 7000, 8000, 9000, then port 2222 opened")
    }

    /// nmap -sU: probes microseconds apart from one port, closed ports
    /// answered by ICMP, 53 answered: one scan, no knock.
    func testUDPScanIsAScanNotAKnock() {
        var d = FindingsDetector()
        let ports: [UInt16] = [53, 123, 161] + Array(500...510)
        for (i, port) in ports.enumerated() {
            d.add(flow(0x0A62_0042, 40776, to: port, proto: .udp, at: Int64(i) * 121_000, answered: port == 53, icmp: port != 53))
        }
        let findings = d.findings(clients: [])
        XCTAssertEqual(findings.filter { $0.kind == "port-knock" }.count, 0)
        let scans = findings.filter { $0.kind == "port-scan" }
        XCTAssertEqual(scans.count, 1, "a raw scanner's fixed port: a scan below Zeek's 15 ports")
        XCTAssertEqual(scans.first?.ports, ports.sorted())
        XCTAssertEqual(scans.first?.proto, .udp)
    }

    /// Three UDP probes from one port (too few for a scan) are no knock either.
    func testProbesFromTheSuccessSourcePortAreNoKnock() {
        var d = FindingsDetector()
        d.add(flow(0x0A62_0042, 40776, to: 123, proto: .udp, at: 0, answered: false, icmp: true))
        d.add(flow(0x0A62_0042, 40776, to: 161, proto: .udp, at: 121_000, answered: false, icmp: true))
        d.add(flow(0x0A62_0042, 40776, to: 53, proto: .udp, at: 242_000, answered: true))
        XCTAssertTrue(d.findings(clients: []).isEmpty)
    }

    /// A connect() scan (a new port per probe): Zeek's 15 ports in 5 minutes.
    func testConnectScanEndsAtAPause() {
        var d = FindingsDetector()
        for port in 1...20 { d.add(flow(7, 40000 + UInt16(port) * 2, to: UInt16(port), at: Int64(port) * 1000, answered: false)) }
        // A minute later, one more refused port: not part of that scan.
        d.add(flow(7, 41000, to: 6000, at: 60 * Self.second, answered: false))
        let scans = d.findings(clients: []).filter { $0.kind == "port-scan" }
        XCTAssertEqual(scans.count, 1)
        XCTAssertEqual(scans.first?.ports, Array(1...20).map(UInt16.init))
    }

    /// A scanner's one raw source port, counted once per probe, is not a
    /// second allocator.
    func testScannerFixedPortIsNotANAT() {
        var r = EphemeralRange()
        for port: UInt16 in [33001, 35002, 40003, 41004] { r.add(port) }
        for _ in 0..<2000 { r.add(62000) }
        XCTAssertEqual(r.ianaOnly, 1)
        XCTAssertFalse(r.looksLikeTwoAllocators)
        r.add(63000); r.add(64000)
        XCTAssertTrue(r.looksLikeTwoAllocators)
    }

    // MARK: ephemeral-range labels

    func testEphemeralRangeLabels() {
        func range(_ ports: [UInt16]) -> EphemeralRange {
            var r = EphemeralRange()
            for p in ports { r.add(p) }
            return r
        }
        // Both ranges hold 49152-60999: without more, say so.
        let both = range([50001, 52000, 55003, 58000, 60001])
        XCTAssertEqual(both.family, .linuxOrIANA)
        XCTAssertEqual(both.family.rawValue, "linux or windows/iana")
        XCTAssertTrue(both.covers(40000), "either system's range: Linux's reaches 32768")
        XCTAssertTrue(both.covers(64000))
        // Linux's connect(): even ports stepping by 2 per destination.
        let linux = range([50000, 50002, 50004, 50006, 53000])
        XCTAssertEqual(linux.family, .linux)
        XCTAssertEqual(linux.pattern, .evenSteps)
        XCTAssertFalse(linux.covers(62000))
        // A port above 60999 only Windows/macOS pick.
        let windows = range([61000, 61001, 61002, 61003])
        XCTAssertEqual(windows.family, .windowsIANA)
        XCTAssertEqual(windows.pattern, .sequential)
        XCTAssertEqual(range([33001, 40003, 45000, 52007]).family, .linux)
        XCTAssertEqual(range([1025, 1027, 1029, 1031]).family, .other)
    }

    // MARK: the recorded sample (Samples/report-netns.truth.md)

    func testReportNetnsTellsWhatTheTruthFileSays() throws {
        let path = Fixture.repositoryRoot.appendingPathComponent("Samples/report-netns.pcap").path
        let r = try Analyzer.analyze(paths: [path])
        let services = r.services.map { "\($0.service) \($0.port.map(String.init) ?? "")/\($0.proto.name)" }
        XCTAssertEqual(Set(services), ["https 8443/tcp", "ssh 2222/tcp", "ssh 2022/tcp", "http 8765/tcp", " /icmp",
                                       "dns 53/udp", "dns 53/tcp", "syslog 514/udp", "redis 6379/tcp", " /icmpv6",
                                       "mdns 5353/udp", "discard 9/udp"])
        XCTAssertEqual(r.services.filter { $0.kind == .oneWay }.compactMap(\.port).sorted(), [9, 514, 5353])
        XCTAssertTrue(r.failed.isEmpty, r.failed.map { "\($0.port)/\($0.proto.name)" }.joined(separator: " "))
        let scans = r.findings.filter { $0.kind == "port-scan" }
        XCTAssertEqual(scans.map(\.ports), [Array(1...2000).map(UInt16.init), [53, 123, 161] + Array(500...510)])
        XCTAssertTrue(scans.allSatisfy { $0.detail.contains("1 open (53)") })
        let knocks = r.findings.filter { $0.kind == "port-knock" }
        XCTAssertEqual(Set(knocks.map(\.detail)), ["knocked on 7000, 8000, 9000, then port 2022 opened",
                                                   "knocked on 7100, 7200, 7300, then port 2222 opened"])
        XCTAssertFalse(r.findings.contains { $0.kind == "possible-nat" })
        XCTAssertTrue(r.clients.allSatisfy { $0.range.family != .windowsIANA })
        // Per service and per host, what a GROUP BY over the flows gives.
        for row in r.services {
            let flows = r.flows.filter { $0.proto == row.proto && ($0.hasServicePort ? $0.serverPort == row.port : row.port == nil) }
            XCTAssertEqual(UInt64(flows.count), row.flows)
            XCTAssertEqual(flows.reduce(0) { $0 + $1.bytes }, row.bytes)
            for c in row.topClients {
                let mine = flows.filter { $0.clientAddress == c.address }
                XCTAssertEqual(UInt64(mine.count), c.flows)
                XCTAssertEqual(mine.reduce(0) { $0 + $1.bytes }, c.bytes)
            }
            for s in row.topServers {
                XCTAssertEqual(flows.filter { $0.serverAddress == s.address }.reduce(0) { $0 + $1.bytes }, s.bytes)
            }
        }
        for h in r.hosts {
            let opened = r.flows.filter { $0.clientAddress == h.address }
            let served = r.flows.filter { $0.serverAddress == h.address }
            XCTAssertEqual(UInt64(opened.count), h.clientFlows)
            XCTAssertEqual(opened.reduce(0) { $0 + $1.clientToServer.bytes }, h.clientBytesSent)
            XCTAssertEqual(UInt64(served.count), h.serverFlows)
            XCTAssertEqual(served.reduce(0) { $0 + $1.serverToClient.bytes }, h.serverBytesSent)
        }
        XCTAssertEqual(r.hosts.count, 10)
    }
}
