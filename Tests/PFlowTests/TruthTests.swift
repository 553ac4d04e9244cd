import PFlowCore
import Foundation
import XCTest
@testable import PFlowEngine
@testable import PFlowOutput
@testable import PFlowFlows

/// pflow's flows against the truth CSV of a capture written by
/// ../shared/tools/synthtraffic.py: who is client and server, and exact
/// per-direction packets and bytes.
final class TruthTests: XCTestCase {
    struct TruthRow {
        var proto: String, client: String, clientPort: String, server: String, serverPort: String
        var vlan: String, counts: [UInt64], firstNs: Int64, lastNs: Int64, midstream: Bool
    }

    func generate(_ args: [String], name: String) throws -> (String, [TruthRow]) {
        guard let shared = Fixture.sharedDirectory else {
            throw XCTSkip("../shared is absent: no synthtraffic.py to compare against")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pflow-truth-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let pcap = dir.appendingPathComponent(name + ".pcap").path
        let truth = dir.appendingPathComponent(name + ".csv").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", shared.appendingPathComponent("tools/synthtraffic.py").path,
                             "--out", pcap, "--truth", truth] + args
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let text = try String(contentsOfFile: truth, encoding: .utf8)
        var rows: [TruthRow] = []
        for line in text.split(whereSeparator: \.isNewline).dropFirst() {
            let c = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard c.count >= 18 else { continue }
            rows.append(TruthRow(proto: c[1], client: c[4], clientPort: c[5], server: c[6], serverPort: c[7],
                                 vlan: c[3], counts: [c[11], c[12], c[13], c[14]].compactMap { UInt64($0) },
                                 firstNs: Int64(c[15]) ?? 0, lastNs: Int64(c[16]) ?? 0, midstream: c[17].hasPrefix("1")))
        }
        return (pcap, rows)
    }

    /// Python's ipaddress prints IPv6 in RFC 5952 form, as pflow does.
    func key(_ proto: String, _ client: String, _ cport: String, _ server: String, _ sport: String, _ vlan: String) -> String {
        "\(proto)|\(client)|\(cport)|\(server)|\(sport)|\(vlan)"
    }

    struct Outcome {
        var total = 0, exact = 0, reused = 0
        var midstream = 0, midstreamRolesRight = 0
        var failures: [String] = []
    }

    /// Matches every truth flow to pflow's by its two sockets, whichever way round.
    func compare(_ args: [String], name: String, threads: Int = 1) throws -> Outcome {
        var (pcap, truth) = try generate(args, name: name)
        // The generator tags frames with 802.1Q only on Ethernet; its truth keeps the tag anyway.
        if args.contains("--linktype") && !args.contains("en10mb") {
            for i in truth.indices { truth[i].vlan = "0" }
        }
        let result = try Analyzer.analyze(paths: [pcap], threads: threads)
        func pairKey(_ proto: String, _ a: String, _ ap: String, _ b: String, _ bp: String, _ vlan: String) -> String {
            let x = a + "|" + ap, y = b + "|" + bp
            return "\(proto)|\(min(x, y))|\(max(x, y))|\(vlan)"
        }
        var ours: [String: [FlowRecord]] = [:]
        for f in result.flows {
            let proto = f.proto.name == "icmpv6" ? "icmp" : f.proto.name
            let ports = f.hasServicePort
            let k = pairKey(proto, f.clientAddress.description, ports ? String(f.clientPort) : "0",
                            f.serverAddress.description, ports ? String(f.serverPort) : "0", f.vlan.map(String.init) ?? "0")
            ours[k, default: []].append(f)
        }
        // A 5-tuple the truth uses for more than one UDP flow, with less than the
        // idle timeout between them, is one flow to pflow (as to Zeek): no
        // handshake separates the two. Those are counted apart.
        var uses: [String: Int] = [:]
        for t in truth { uses[key(t.proto, t.client, t.clientPort, t.server, t.serverPort, t.vlan), default: 0] += 1 }
        var out = Outcome()
        out.total = truth.count
        for t in truth {
            var candidates = ours[pairKey(t.proto, t.client, t.clientPort, t.server, t.serverPort, t.vlan)] ?? []
            if t.proto == "icmp" {
                candidates = candidates.filter { $0.startNs / 1000 == t.firstNs / 1000 }
            }
            let rolesRight = candidates.contains {
                $0.clientAddress.description == t.client && (t.proto == "icmp" || String($0.clientPort) == t.clientPort)
            }
            let exact = candidates.contains {
                $0.clientAddress.description == t.client
                    && [$0.clientToServer.packets, $0.clientToServer.bytes, $0.serverToClient.packets, $0.serverToClient.bytes] == t.counts
            }
            if t.midstream {
                out.midstream += 1
                if rolesRight { out.midstreamRolesRight += 1 }
                continue
            }
            if exact {
                out.exact += 1
            } else if t.proto == "udp", (uses[key(t.proto, t.client, t.clientPort, t.server, t.serverPort, t.vlan)] ?? 0) > 1 {
                out.reused += 1
            } else if out.failures.count < 10 {
                out.failures.append("\(t.proto) \(t.client):\(t.clientPort) -> \(t.server):\(t.serverPort) truth \(t.counts) ours "
                                    + candidates.map { "\($0.clientAddress.description):\($0.clientPort) \($0.roleSource.rawValue) \([$0.clientToServer.packets, $0.clientToServer.bytes, $0.serverToClient.packets, $0.serverToClient.bytes])" }.joined(separator: "; "))
            }
        }
        let complete = out.total - out.midstream
        XCTAssertEqual(out.exact + out.reused, complete, "flows wrong:\n" + out.failures.joined(separator: "\n"))
        XCTAssertLessThanOrEqual(Double(out.reused), Double(complete) * 0.001, "same-5-tuple UDP reuse should be rare")
        return out
    }

    /// The end-to-end issue's bar: 300,000 packets, every flow right.
    func testThreeHundredThousandPackets() throws {
        let o = try compare(["--packets", "300000", "--seed", "3"], name: "t300k")
        print("truth: \(o.exact) of \(o.total) flows exact; \(o.reused) on a reused UDP 5-tuple")
        XCTAssertGreaterThan(o.total, 25_000)
    }

    /// Other encodings of the same kind of traffic.
    func testPcapngNanosecondsCookedAndRaw() throws {
        // The two-thread pipeline (--threads 2) must give the same flows.
        _ = try compare(["--packets", "20000", "--seed", "11", "--format", "pcapng", "--nanos", "--linktype", "sll"], name: "ng-sll",
                        threads: 2)
        _ = try compare(["--packets", "20000", "--seed", "12", "--linktype", "raw", "--ipv6", "0.6"], name: "raw")
        _ = try compare(["--packets", "20000", "--seed", "13", "--vlan", "0.5", "--snaplen", "96"], name: "snap")
    }

    /// A capture that starts mid-stream: flows already under way at the cut
    /// have no handshake; listeners, signatures, the registry and ephemeral
    /// ranges must still find the roles for 95% of them.
    func testMidstreamRoles() throws {
        let o = try compare(["--packets", "200000", "--skip", "50000", "--seed", "5"], name: "mid")
        let share = Double(o.midstreamRolesRight) / Double(max(1, o.midstream))
        print("midstream: \(o.midstreamRolesRight) of \(o.midstream) flows under way at the cut have the right roles (\(Formatting.fixed(share * 100, 2))%)")
        XCTAssertGreaterThan(o.midstream, 1000)
        XCTAssertGreaterThanOrEqual(share, 0.95)
    }
}
