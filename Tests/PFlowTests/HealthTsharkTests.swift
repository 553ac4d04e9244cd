import Foundation
import XCTest
import PFlowCore
import PFlowEngine
import PFlowFlows

/// Latency and retransmissions against tshark over ../shared/corpus (tshark
/// run here; `make unit` installs it best effort, the test skips without it).
///
/// For every TCP stream tshark shows with a SYN, a SYN-ACK and an
/// `initial_rtt`, pflow's flow on that socket pair starting at that time has
/// `server_latency + client_latency == initial_rtt` to the microsecond; and
/// per matched TCP flow, its retransmissions (both directions) equal the
/// frames tshark marks `tcp.analysis.retransmission` or
/// `fast_retransmission` on at least 99% of the flows. Where they differ,
/// the reason is tshark's out-of-order rule: a segment below the highest
/// sequence number sent within an RTT (3 ms without a handshake) of it is
/// "out of order" to tshark, a retransmission to pflow (which keeps no time
/// per direction to tell them apart: 8 more bytes per live flow). Flows are
/// compared where both tools see the same packets (see the match below).
/// The few handshakes that differ: a pure ACK tshark takes for the
/// handshake's end where pflow waits for the client's, or roles that
/// disagree with the SYN's sender.
final class HealthTsharkTests: XCTestCase {
    struct Stream {
        var a = "", b = "", firstNs: Int64 = 0
        var syn = false, synAck = false
        var rttNs: Int64?
        var retransmissions = 0
        var outOfOrder = 0
        var packets: UInt64 = 0
    }

    static func tshark() -> String? {
        for p in ["/usr/bin/tshark", "/usr/local/bin/tshark"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return nil
    }

    static func ns(_ s: Substring) -> Int64? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard let whole = Int64(parts[0]) else { return nil }
        var frac = parts.count > 1 ? String(parts[1]) : ""
        frac = String((frac + "000000000").prefix(9))
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? nil : scaled &+ (Int64(frac) ?? 0)
    }

    func streams(_ path: String, tshark: String) throws -> [Int: Stream] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tshark)
        p.arguments = ["-n", "-r", path, "-Y", "tcp", "-T", "fields", "-E", "separator=/t",
                       "-e", "tcp.stream", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
                       "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack",
                       "-e", "tcp.analysis.initial_rtt", "-e", "tcp.analysis.retransmission",
                       "-e", "tcp.analysis.fast_retransmission", "-e", "tcp.analysis.out_of_order"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        var streams: [Int: Stream] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count >= 14, let id = Int(f[0].split(separator: ",").last ?? "") else { continue }
            let last = { (s: Substring) in String(s.split(separator: ",").last ?? "") }
            let src = last(f[2]).isEmpty ? last(f[3]) : last(f[2])
            let dst = last(f[5]).isEmpty ? last(f[6]) : last(f[5])
            var s = streams[id] ?? Stream()
            if s.a.isEmpty {
                s.a = "\(src)|\(last(f[4]))"; s.b = "\(dst)|\(last(f[7]))"
                s.firstNs = Self.ns(f[1]) ?? 0
            }
            s.packets += 1
            let syn = f[8].contains("1"), ack = f[9].contains("1")
            if syn && !ack { s.syn = true }
            if syn && ack { s.synAck = true }
            if s.rttNs == nil, !f[10].isEmpty { s.rttNs = Self.ns(f[10]) }
            if !f[11].isEmpty || !f[12].isEmpty { s.retransmissions += 1 }
            if !f[13].isEmpty { s.outOfOrder += 1 }
            streams[id] = s
        }
        return streams
    }

    func testLatencyAndRetransmissionsMatchTshark() throws {
        guard let shared = Fixture.sharedDirectory else { throw XCTSkip("../shared is absent: no corpus") }
        guard let tshark = Self.tshark() else { throw XCTSkip("tshark is not installed (apt-get install tshark)") }
        let pcaps = shared.appendingPathComponent("corpus/pcaps")
        let files = try FileManager.default.contentsOfDirectory(atPath: pcaps.path).sorted()
        var handshakes = 0, rttMatched = 0, flows = 0, retransmissionsMatched = 0
        var misses: [String] = []
        for name in files {
            let path = pcaps.appendingPathComponent(name).path
            guard let result = try? Analyzer.analyze(paths: [path]) else { continue }
            let streams = try self.streams(path, tshark: tshark)
            // pflow's TCP flows by (unordered socket pair, start).
            var byKey: [String: [FlowRecord]] = [:]
            for f in result.flows where f.proto == .tcp {
                let c = "\(f.clientAddress.description)|\(f.clientPort)", s = "\(f.serverAddress.description)|\(f.serverPort)"
                byKey[[c, s].sorted().joined(separator: "/"), default: []].append(f)
            }
            for (_, s) in streams.sorted(by: { $0.key < $1.key }) {
                let key = [s.a, s.b].sorted().joined(separator: "/")
                // The same flow in both: pflow ends a flow where tshark's stream
                // goes on after a SYN on a closed connection (port reuse) or
                // after packets more than the linger (5 s) past its close.
                guard let f = byKey[key]?.first(where: { abs($0.startNs - s.firstNs) < 1000 }),
                      f.packets == s.packets else { continue }
                flows += 1
                let ours = Int((f.clientRetransmissions ?? 0) + (f.serverRetransmissions ?? 0))
                if ours == s.retransmissions { retransmissionsMatched += 1 } else {
                    misses.append("\(name) \(key): retransmissions pflow \(ours), tshark \(s.retransmissions) (out of order \(s.outOfOrder))")
                }
                if s.syn && s.synAck, let rtt = s.rttNs {
                    handshakes += 1
                    if let a = f.serverLatencyNs, let b = f.clientLatencyNs, abs(a + b - rtt) < 1000 {
                        rttMatched += 1
                    } else {
                        misses.append("\(name) \(key): rtt pflow \(String(describing: f.serverLatencyNs)) + \(String(describing: f.clientLatencyNs)), tshark \(rtt)")
                    }
                }
            }
        }
        print("health vs tshark: \(rttMatched)/\(handshakes) handshakes, \(retransmissionsMatched)/\(flows) flows' retransmissions")
        for m in misses.prefix(40) { print("  " + m) }
        XCTAssertGreaterThan(handshakes, 50)
        XCTAssertGreaterThanOrEqual(Double(rttMatched), Double(handshakes) * 0.99)
        XCTAssertGreaterThanOrEqual(Double(retransmissionsMatched), Double(flows) * 0.99)
    }
}
