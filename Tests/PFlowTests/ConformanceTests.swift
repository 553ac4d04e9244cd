import PFlowCore
import Foundation
import XCTest
@testable import PFlowEngine
@testable import PFlowOutput

/// pflow against tshark over ../shared/corpus: for every TCP/UDP conversation
/// in the oracle's per-packet dump (innermost transport; frames carrying ICMP
/// errors left out), pflow's flows on that socket pair hold tshark's packet
/// count.
final class ConformanceTests: XCTestCase {
    /// Where pflow differs from tshark on purpose. For these files a
    /// conversation may hold more packets in pflow than in tshark, never fewer.
    static let deliberate: [String: String] = [
        "pcapplusplus__ip-frag.pcap": "tshark reassembles IP fragments and counts a datagram once; pflow counts every fragment on the wire",
        "pcapplusplus__ip4_fragments.pcap": "IPv4 fragments: tshark counts reassembled datagrams, pflow every fragment",
        "pcapplusplus__ip6_fragments.pcap": "IPv6 fragments: tshark counts reassembled datagrams, pflow every fragment",
        "ndpi__dns_fragmented.pcap": "fragmented DNS responses: tshark counts reassembled datagrams, pflow every fragment",
        "gopacket__le_test901.pcapng": "tshark stops at the section with version 2.0; pflow skips that section and reads the next",
    ]

    struct Conversation: Hashable {
        var proto: String, a: String, b: String
    }

    /// tshark's conversations and packet counts from a fields.tsv dump.
    static func oracle(_ tsv: String) -> [Conversation: (packets: Int, streams: Set<String>)] {
        var out: [Conversation: (packets: Int, streams: Set<String>)] = [:]
        let lines = tsv.split(whereSeparator: \.isNewline)
        guard let header = lines.first?.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) else { return out }
        func column(_ name: String) -> Int? { header.firstIndex(of: name) }
        guard let protocols = column("frame.protocols"), let ipSrc = column("ip.src"), let ipDst = column("ip.dst"),
              let ip6Src = column("ipv6.src"), let ip6Dst = column("ipv6.dst") else { return out }
        for line in lines.dropFirst() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == header.count else { continue }
            let layers = f[protocols].split(separator: ":").map(String.init)
            if layers.contains("icmp") || layers.contains("icmpv6") { continue }
            for proto in ["tcp", "udp"] {
                guard let sp = column(proto + ".srcport"), let dp = column(proto + ".dstport"),
                      let st = column(proto + ".stream"), !f[sp].isEmpty,
                      let transportLayer = layers.lastIndex(of: proto) else { continue }
                // The innermost transport only: no IP layer after it.
                guard let ipLayer = layers.lastIndex(where: { $0 == "ip" || $0 == "ipv6" }), ipLayer < transportLayer else { break }
                let v6 = layers[ipLayer] == "ipv6"
                let last: (Int) -> String = { String(f[$0].split(separator: ",").last ?? "") }
                let src = canonical(last(v6 ? ip6Src : ipSrc)), dst = canonical(last(v6 ? ip6Dst : ipDst))
                let x = src + "|" + last(sp), y = dst + "|" + last(dp)
                let key = Conversation(proto: proto, a: min(x, y), b: max(x, y))
                var entry = out[key] ?? (0, [])
                entry.packets += 1
                entry.streams.insert(last(st))
                out[key] = entry
                break
            }
        }
        return out
    }

    /// tshark prints IPv6 in RFC 5952 form already; IPv4 is dotted quad. Kept
    /// as a hook should a dump differ.
    static func canonical(_ address: String) -> String { address.lowercased() }

    func testTCPAndUDPConversationsMatchTshark() throws {
        guard let shared = Fixture.sharedDirectory else { throw XCTSkip("../shared is absent: no corpus") }
        let corpus = shared.appendingPathComponent("corpus")
        let names = try FileManager.default.contentsOfDirectory(atPath: corpus.appendingPathComponent("pcaps").path).sorted()
        var total = 0, exact = 0, explained = 0
        var unexplained: [String] = []
        var differences: Set<String> = []
        for name in names {
            let tsvPath = corpus.appendingPathComponent("oracle/\(name).fields.tsv").path
            guard let tsv = try? String(contentsOfFile: tsvPath, encoding: .utf8) else { continue }
            let expected = Self.oracle(tsv)
            guard !expected.isEmpty else { continue }
            guard let result = try? Analyzer.analyze(paths: [corpus.appendingPathComponent("pcaps/\(name)").path]) else {
                unexplained.append("\(name): pflow could not open it")
                continue
            }
            var ours: [Conversation: Int] = [:]
            for f in result.flows where f.proto.name == "tcp" || f.proto.name == "udp" {
                let x = f.clientAddress.description + "|" + String(f.clientPort)
                let y = f.serverAddress.description + "|" + String(f.serverPort)
                ours[Conversation(proto: f.proto.name, a: min(x, y), b: max(x, y)), default: 0] += Int(f.packets)
            }
            for (conversation, oracle) in expected {
                let n = oracle.streams.count
                total += n
                let got = ours[conversation] ?? 0
                if got == oracle.packets {
                    exact += n
                } else if let reason = Self.deliberate[name], got > oracle.packets {
                    explained += n
                    differences.insert("\(name): \(reason)")
                } else if unexplained.count < 20 {
                    unexplained.append("\(name) \(conversation.proto) \(conversation.a) <-> \(conversation.b): tshark \(oracle.packets), pflow \(got)")
                }
            }
        }
        let share = Double(exact) / Double(max(1, total))
        print("conformance: \(exact) of \(total) tshark conversations have tshark's packet count (\(Formatting.fixed(share * 100, 2))%); \(explained) differ on purpose")
        for d in differences.sorted() { print("  " + d) }
        XCTAssertTrue(unexplained.isEmpty, "unexplained differences:\n" + unexplained.joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(share, 0.98)
        XCTAssertGreaterThan(total, 4000)
    }
}
