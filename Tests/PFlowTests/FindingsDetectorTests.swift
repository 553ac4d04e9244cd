import XCTest
@testable import PFlowEngine
@testable import PFlowFlows
import PFlowCore

/// The detector against the straightforward one it replaced (addresses in
/// a FastMap, one growing array per kind of evidence, sets and
/// dictionaries of ports for each scan): the same findings, word for word,
/// on generated flows with scans (vertical, fixed source port, UDP),
/// horizontal scans, knocks, services off their ports, working
/// connections arriving before and after the failures, and more working
/// attempts than one chunk holds.
final class FindingsDetectorTests: XCTestCase {
    static func text(_ f: Finding) -> String {
        let probes = f.probes.map { "\($0.proto.rawValue)/\($0.port):\($0.flows),\($0.unanswered),\($0.rejected)" }
        return [f.kind, "\(String(describing: f.source))", "\(String(describing: f.target))", "\(f.targets)",
                "\(String(describing: f.proto?.rawValue))", "\(f.ports)", "\(String(describing: f.firstNs))",
                "\(String(describing: f.lastNs))", f.detail, "\(probes)"].joined(separator: " | ")
    }

    func flows(seed: UInt64, count: Int) -> [FlowRecord] {
        let base = FlowRecord(FlowState(key: FlowKey(addressA: IPAddress(ipv4: 1), addressB: IPAddress(ipv4: 2),
                                                     portA: 40000, portB: 80, proto: .tcp, vlan: FlowKey.noVLAN),
                                        ipVersion: 4, timestampNs: 0, direction: 0),
                              endReason: .fin, registry: .standard, knowledge: TrafficKnowledge())
        var rng = SplitMix(seed: seed)
        let t0: Int64 = 1_767_225_600_000_000_000
        let states: [ConnState] = [.S0, .SH, .REJ, .RSTOS0, .S1, .SF, .S2, .S3, .RSTO, .RSTR, .RSTRH, .SHR, .OTH]
        let apps: [AppProtocol?] = [nil, nil, .tls, .http, .dns, .ssh, .quic, .ntp, .smtp, .redis]
        var out: [FlowRecord] = []
        func flow(client: UInt32, server: UInt32, proto: IPProtocol, port: UInt16, clientPort: UInt16,
                  at second: Int64, outcome: Int) -> FlowRecord {
            var f = base
            f.proto = proto
            f.clientAddress = client > 0xFFFF_0000 ? IPAddress(high: UInt64(client), low: 7) : IPAddress(ipv4: client)
            f.serverAddress = IPAddress(ipv4: server)
            f.serverPort = port
            f.clientPort = clientPort
            f.startNs = t0 + second * 1_000_000_000 + Int64(rng.below(1_000_000_000))
            f.endNs = f.startNs + Int64(rng.below(5_000_000_000))
            f.roleSource = rng.below(10) == 0 ? .lowerPort : .syn
            if proto == .tcp {
                // 0: failed, 1: worked, else anything.
                f.connState = outcome == 0 ? rng.pick([.S0, .REJ, .RSTOS0, .SH]) : outcome == 1 ? .SF : rng.pick(states)
            } else {
                f.serverToClient.packets = outcome == 1 ? 1 + rng.below(3) : outcome == 0 ? 0 : rng.below(2)
                f.icmpErrors = f.serverToClient.packets == 0 && rng.below(2) == 0 ? 1 : 0
            }
            f.appProtocol = rng.pick(apps)
            return f
        }
        var second: Int64 = 0
        while out.count < count {
            second += Int64(rng.below(3))
            let client = UInt32(0x0A00_0000) | UInt32(rng.below(300)) | (rng.below(20) == 0 ? 0xFFFF_FF00 : 0)
            let server = UInt32(0xC000_0200) | UInt32(rng.below(60))
            switch rng.below(40) {
            case 0:  // a vertical scan, from one source port or many, TCP or UDP
                let proto: IPProtocol = rng.below(3) == 0 ? .udp : .tcp
                let fixed = rng.below(2) == 0
                for i in 0..<Int(8 + rng.below(40)) {
                    out.append(flow(client: client, server: server, proto: proto, port: UInt16(1 + rng.below(1200)),
                                    clientPort: fixed ? 61000 : UInt16(40000 + i), at: second + Int64(i / 4),
                                    outcome: rng.below(8) == 0 ? 1 : 0))
                }
            case 1:  // a horizontal scan
                let port = rng.pick([22, 445, 3389, 23] as [UInt16])
                for i in 0..<Int(20 + rng.below(20)) {
                    out.append(flow(client: client, server: 0xC633_6400 | UInt32(i), proto: .tcp, port: port,
                                    clientPort: UInt16(50000 + i), at: second + Int64(i / 5), outcome: 0))
                }
            case 2:  // a knock: a few failures, then the port that opens (often reported first)
                var knock: [FlowRecord] = []
                let ports = (0..<Int(2 + rng.below(4))).map { _ in UInt16(7000 + rng.below(50)) }
                for (i, p) in ports.enumerated() {
                    knock.append(flow(client: client, server: server, proto: .tcp, port: p, clientPort: UInt16(41000 + i),
                                      at: second + Int64(i), outcome: 0))
                }
                let open = flow(client: client, server: server, proto: .tcp, port: 2222, clientPort: 42000,
                                at: second + Int64(ports.count), outcome: 1)
                if rng.below(2) == 0 { out.append(open); out += knock } else { out += knock; out.append(open) }
            default:  // ordinary traffic: mostly working
                let proto: IPProtocol = rng.below(4) == 0 ? .udp : rng.below(30) == 0 ? .icmp : .tcp
                let port = rng.pick([443, 80, 53, 22, 8080, 123, 3306, 50443, 9090, 25] as [UInt16])
                out.append(flow(client: client, server: server, proto: proto, port: port,
                                clientPort: UInt16(32768 + rng.below(28000)), at: second,
                                outcome: rng.below(12) == 0 ? 0 : rng.below(20) == 0 ? 2 : 1))
            }
        }
        return out
    }

    func testSameFindingsAsTheStraightforwardDetector() {
        for seed in UInt64(1)...6 {
            let list = flows(seed: seed, count: seed == 1 ? 12_000 : 3_000)
            var fast = FindingsDetector(), plain = ReferenceFindingsDetector()
            for f in list {
                fast.add(f)
                plain.add(f)
            }
            let a = fast.findings(clients: []).map(Self.text), b = plain.findings(clients: []).map(Self.text)
            XCTAssertEqual(a.count, b.count, "seed \(seed)")
            if let i = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) {
                XCTAssertEqual(a[i], b[i], "seed \(seed), finding \(i)")
            }
            XCTAssertTrue(a.contains { $0.hasPrefix("port-scan") }, "seed \(seed)")
            XCTAssertTrue(a.contains { $0.hasPrefix("nonstandard-port") }, "seed \(seed)")
            XCTAssertTrue(a.contains { $0.hasPrefix("port-knock") }, "seed \(seed)")
            XCTAssertTrue(a.contains { $0.contains("hosts without success") }, "seed \(seed)")
        }
    }

    /// Past the evidence limit, the same attempts are left unjudged.
    func testSameFindingsPastTheEvidenceLimit() {
        let list = flows(seed: 99, count: 3_000)
        var fast = FindingsDetector(), plain = ReferenceFindingsDetector()
        fast.evidenceLimit = 1_000
        plain.evidenceLimit = 1_000
        for f in list {
            fast.add(f)
            plain.add(f)
        }
        XCTAssertEqual(fast.unjudged, plain.unjudged)
        XCTAssertGreaterThan(fast.unjudged, 0)
        XCTAssertEqual(fast.findings(clients: []).map(Self.text), plain.findings(clients: []).map(Self.text))
    }
}

struct ReferenceFindingsDetector {
    static let scanWindowNs: Int64 = 300_000_000_000
    static let verticalPorts = 15
    static let horizontalTargets = 25
    /// A knock: 2 to 10 failed attempts on other ports within 30 s, then a
    /// connection that succeeds within 30 s of the last of them.
    static let knockWindowNs: Int64 = 30_000_000_000
    static let knockPorts = 2...10
    /// A raw scanner (nmap -sS, -sU) sends every probe from one source
    /// port, which no connect() allocator does to one target: that many
    /// distinct ports from one source port, at least half failing, is a
    /// scan even below Zeek's 15 (a UDP scan of a few ports).
    static let fixedPortScanPorts = 10
    /// A pause this long between a source's attempts ends one scan: what
    /// follows (a knock, a later connection) is judged on its own.
    static let scanPauseNs: Int64 = 30_000_000_000

    /// Whether `port` is one `app` is registered or customary on.
    static func isCustomary(_ port: UInt16, for app: AppProtocol) -> Bool { app.isCustomary(port) }

    enum Outcome: UInt8 { case failed, open, silent }

    struct Attempt {
        var startNs: Int64
        /// The pair's failed attempt added before this one (index + 1; 0: none).
        var previous: UInt32
        /// Arrival order among all attempts.
        var sequence: UInt32
        var port: UInt16
        var clientPort: UInt16
        var outcome: Outcome
        /// `ServiceTally.failureKind`: 1 unanswered, 2 rejected.
        var kind: UInt8
    }
    /// An attempt that worked: kept in arrival order with its pair (as
    /// numbers of its addresses: 24 bytes), and matched to the pairs that
    /// failed only when findings are made.
    struct OpenAttempt {
        var startNs: Int64
        var sequence: UInt32
        var pair: NumberedPair
        var port: UInt16
        var clientPort: UInt16
    }
    /// A client-server pair by the numbers `addressNumbers` gave its addresses.
    struct NumberedPair: FastHashable {
        var source: UInt32; var target: UInt32; var proto: UInt8
        func fastHash(_ seed: HashSeed) -> UInt64 { seed.hash(UInt64(source) << 32 | UInt64(target), UInt64(proto)) }
    }
    /// One client-server pair's failed attempts: a chain through `attempts`.
    struct PairEvidence {
        var last: UInt32 = 0
        var failures: UInt32 = 0
    }
    struct Hit {
        var target: IPAddress
        var startNs: Int64
        var previous: UInt32
        var kind: UInt8
    }
    struct HitChain {
        var last: UInt32 = 0
        var count: UInt32 = 0
    }

    struct PairKey: FastHashable, Hashable, Sendable {
        var source: IPAddress; var target: IPAddress; var proto: UInt8
        func fastHash(_ seed: HashSeed) -> UInt64 {
            seed.hash(source.high, source.low, target.high, target.low, UInt64(proto))
        }
    }
    struct PortKey: FastHashable, Sendable {
        var source: IPAddress; var port: UInt16; var proto: UInt8
        func fastHash(_ seed: HashSeed) -> UInt64 {
            seed.hash(source.high, source.low, UInt64(port) << 8 | UInt64(proto))
        }
    }
    struct ServiceKey: FastHashable, Sendable {
        var server: IPAddress; var port: UInt16; var proto: UInt8; var app: AppProtocol
        func fastHash(_ seed: HashSeed) -> UInt64 {
            seed.hash(server.high, server.low, UInt64(port) << 16 | UInt64(proto) << 8 | UInt64(app.rawValue))
        }
    }
    struct Unexpected: Sendable { var flows: Int; var first: Int64; var last: Int64; var registry: String? }

    // Evidence in flat arrays chained per key, no allocation per pair. Only
    // pairs with a failed attempt get an entry: most connections work, and
    // a table of every pair (one lookup per flow, all over memory) cost
    // more than the rest of the detector.
    private var pairs = FastMap<PairKey, PairEvidence>()
    private var attempts: [Attempt] = []
    private var opens: [OpenAttempt] = []
    private var sequence: UInt32 = 0
    /// Addresses of working attempts, numbered in order of appearance
    /// (a few thousand even in big captures: the table stays in cache).
    private var addressNumbers = FastMap<IPAddress, Void>()
    private var horizontal = FastMap<PortKey, HitChain>()
    private var hits: [Hit] = []
    private var unexpected = FastMap<ServiceKey, Unexpected>()

    init() {}

    /// The attempt a flow represents, if its client clearly opened it.
    static func outcome(_ f: FlowRecord) -> Outcome? {
        switch f.proto {
        case .tcp:
            guard f.roleSource == .syn else { return nil }
            switch f.connState {
            case .S0, .SH: return .silent
            case .REJ, .RSTOS0: return .failed
            case .S1, .SF, .S2, .S3, .RSTO, .RSTR: return .open
            case .RSTRH, .SHR, .OTH: return nil
            }
        case .udp:
            if f.serverToClient.packets > 0 { return .open }
            return f.icmpErrors > 0 ? .failed : .silent
        default:
            return nil
        }
    }

    /// The most attempts kept as evidence (failed and working together);
    /// past it later attempts are counted in `unjudged` and not judged, so
    /// a flood of attempts can't grow memory without bound.
    var evidenceLimit = 8 << 20
    private(set) var unjudged = 0

    mutating func add(_ f: FlowRecord) {
        let app = f.appProtocol
        if let app, f.hasServicePort, !Self.isCustomary(f.serverPort, for: app) {
            let key = ServiceKey(server: f.serverAddress, port: f.serverPort, proto: f.proto.rawValue, app: app)
            let i = unexpected.insert(key) { Unexpected(flows: 0, first: f.startNs, last: f.endNs, registry: f.portName) }.index
            unexpected[entry: i].flows += 1
            unexpected[entry: i].first = min(unexpected[entry: i].first, f.startNs)
            unexpected[entry: i].last = max(unexpected[entry: i].last, f.endNs)
        }
        guard let outcome = Self.outcome(f) else { return }
        if attempts.count + opens.count >= evidenceLimit {
            unjudged += 1
            return
        }
        let pair = PairKey(source: f.clientAddress, target: f.serverAddress, proto: f.proto.rawValue)
        sequence &+= 1
        if outcome == .open {
            let numbered = NumberedPair(source: UInt32(truncatingIfNeeded: addressNumbers.insert(f.clientAddress) { () }.index),
                                        target: UInt32(truncatingIfNeeded: addressNumbers.insert(f.serverAddress) { () }.index),
                                        proto: f.proto.rawValue)
            opens.append(OpenAttempt(startNs: f.startNs, sequence: sequence, pair: numbered, port: f.serverPort,
                                     clientPort: f.clientPort))
        } else {
            let p = pairs.insert(pair) { PairEvidence() }.index
            let kind = ServiceTally.failureKind(f)
            attempts.append(Attempt(startNs: f.startNs, previous: pairs[entry: p].last, sequence: sequence,
                                    port: f.serverPort, clientPort: f.clientPort, outcome: outcome, kind: kind))
            pairs[entry: p].last = UInt32(truncatingIfNeeded: attempts.count)
            pairs[entry: p].failures &+= 1
            let key = PortKey(source: f.clientAddress, port: f.serverPort, proto: f.proto.rawValue)
            let h = horizontal.insert(key) { HitChain() }.index
            hits.append(Hit(target: f.serverAddress, startNs: f.startNs, previous: horizontal[entry: h].last, kind: kind))
            horizontal[entry: h].last = UInt32(truncatingIfNeeded: hits.count)
            horizontal[entry: h].count &+= 1
        }
    }

    /// The most distinct values seen within any scan window, for items in
    /// time order (a sliding window over the times).
    static func mostDistinctInWindow<T: Hashable>(_ items: [(T, Int64)]) -> Int {
        var best = 0, lo = 0
        var counts: [T: Int] = [:]
        for hi in items.indices {
            counts[items[hi].0, default: 0] += 1
            while items[hi].1 - items[lo].1 > scanWindowNs {
                counts[items[lo].0, default: 1] -= 1
                if counts[items[lo].0] == 0 { counts[items[lo].0] = nil }
                lo += 1
            }
            best = max(best, counts.count)
        }
        return best
    }

    /// A key's items in the order they were added, from its chain through `items`.
    static func chain<T>(from last: UInt32, in items: [T], previous: KeyPath<T, UInt32>) -> [T] {
        var out: [T] = []
        var at = Int(last)
        while at > 0 {
            out.append(items[at - 1])
            at = Int(items[at - 1][keyPath: previous])
        }
        return out.reversed()
    }

    /// A vertical scan's finding from its probes (in time order).
    static func scanFinding(_ pair: PairKey, _ probes: [Attempt], sourcePort: UInt16?) -> Finding {
        let proto = IPProtocol(rawValue: pair.proto)
        let open = Set(probes.filter { $0.outcome == .open }.map(\.port)).sorted()
        let probed = Set(probes.map(\.port)).sorted()
        var perPort: [UInt16: ScanProbes] = [:]
        for p in probes where p.outcome != .open {
            var e = perPort[p.port] ?? ScanProbes(proto: proto, port: p.port, flows: 0, unanswered: 0, rejected: 0)
            e.flows += 1
            if p.kind == 1 { e.unanswered += 1 }
            if p.kind == 2 { e.rejected += 1 }
            perPort[p.port] = e
        }
        let how = proto == .udp ? "UDP probes, closed ports answered by ICMP port unreachable or silent"
            : "SYN probes, closed ports rejected or unanswered"
        let from = sourcePort.map { ", all from source port \($0)" } ?? ""
        return Finding(kind: "port-scan", source: pair.source, target: pair.target, proto: proto,
                       ports: probed, firstNs: probes.first?.startNs ?? 0, lastNs: probes.last?.startNs ?? 0,
                       detail: "\(probed.count) ports probed, \(open.count) open"
                           + (open.isEmpty ? "" : " (" + open.map(String.init).joined(separator: ", ") + ")")
                           + "; \(how)\(from)",
                       probes: perPort.keys.sorted().compactMap { perPort[$0] })
    }

    /// Every finding, scans first, each list in a stable order.
    func findings(clients: [ClientHost]) -> [Finding] {
        var out: [Finding] = []
        // Vertical scans.
        // Only pairs with enough failed attempts can be scans, and only pairs
        // with a failure and a success can be knocks: most pairs are neither.
        // The attempts that worked, of the pairs that failed often enough.
        var failing = FastMap<NumberedPair, PairKey>()
        // Sources with such a pair: most working attempts are passed over
        // after one look here.
        var failingSource = [Bool](repeating: false, count: addressNumbers.count)
        for (key, evidence) in zip(pairs.keys, pairs.values) where evidence.failures >= Self.knockPorts.lowerBound {
            // A pair whose addresses never worked anywhere has no working attempt.
            guard let source = addressNumbers.index(of: key.source), let target = addressNumbers.index(of: key.target) else { continue }
            failing.insert(NumberedPair(source: UInt32(source), target: UInt32(target), proto: key.proto)) { key }
            failingSource[source] = true
        }
        var worked: [PairKey: [Attempt]] = [:]
        if !failing.isEmpty {
            for o in opens where failingSource[Int(o.pair.source)] {
                guard let key = failing[o.pair] else { continue }
                worked[key, default: []].append(Attempt(startNs: o.startNs, previous: 0, sequence: o.sequence,
                                                        port: o.port, clientPort: o.clientPort, outcome: .open, kind: 0))
            }
        }
        var candidates: [(key: PairKey, value: [Attempt])] = []
        for (key, evidence) in zip(pairs.keys, pairs.values) where evidence.failures >= Self.knockPorts.lowerBound {
            let open = worked[key] ?? []
            guard evidence.failures * 2 >= Self.fixedPortScanPorts || !open.isEmpty else { continue }
            // Every attempt of the pair, in the order they came.
            let failed = Self.chain(from: evidence.last, in: attempts, previous: \.previous)
            var all: [Attempt] = []
            all.reserveCapacity(failed.count + open.count)
            var i = 0, j = 0
            while i < failed.count || j < open.count {
                if j == open.count || (i < failed.count && failed[i].sequence < open[j].sequence) {
                    all.append(failed[i]); i += 1
                } else {
                    all.append(open[j]); j += 1
                }
            }
            candidates.append((key, all))
        }
        candidates.sort { ($0.key.source, $0.key.target, $0.key.proto) < ($1.key.source, $1.key.target, $1.key.proto) }
        // Per pair: raw scans (one source port), then scans among the other
        // attempts (runs without a long pause), then knocks among what no
        // scan holds.
        var knockSets: [(PairKey, [Attempt])] = []
        for (pair, attempts) in candidates {
            let sorted = attempts.sorted { ($0.startNs, $0.sequence) < ($1.startNs, $1.sequence) }
            var inScan = [Bool](repeating: false, count: sorted.count)
            var bySourcePort: [UInt16: [Int]] = [:]
            for (i, a) in sorted.enumerated() { bySourcePort[a.clientPort, default: []].append(i) }
            for (sourcePort, members) in bySourcePort.sorted(by: { $0.key < $1.key }) {
                let probes = members.map { sorted[$0] }
                let ports = Set(probes.map(\.port))
                let failedPorts = Set(probes.filter { $0.outcome != .open }.map(\.port))
                guard ports.count >= Self.fixedPortScanPorts, failedPorts.count * 2 >= ports.count else { continue }
                for i in members { inScan[i] = true }
                out.append(Self.scanFinding(pair, probes, sourcePort: sourcePort))
            }
            var run: [Int] = []
            func closeRun() {
                defer { run = [] }
                let probes = run.map { sorted[$0] }
                let failed = probes.filter { $0.outcome != .open }
                guard Set(failed.map(\.port)).count >= Self.verticalPorts,
                      Self.mostDistinctInWindow(failed.map { ($0.port, $0.startNs) }) >= Self.verticalPorts else { return }
                for i in run { inScan[i] = true }
                out.append(Self.scanFinding(pair, probes, sourcePort: nil))
            }
            for i in sorted.indices where !inScan[i] {
                if let last = run.last, sorted[i].startNs - sorted[last].startNs > Self.scanPauseNs { closeRun() }
                run.append(i)
            }
            closeRun()
            knockSets.append((pair, sorted.indices.filter { !inScan[$0] }.map { sorted[$0] }))
        }
        // Horizontal scans.
        var wide: [(key: PortKey, value: [Hit])] = []
        for (key, chain) in zip(horizontal.keys, horizontal.values) where chain.count >= Self.horizontalTargets {
            wide.append((key, Self.chain(from: chain.last, in: hits, previous: \.previous)))
        }
        wide.sort { ($0.key.source, $0.key.port, $0.key.proto) < ($1.key.source, $1.key.port, $1.key.proto) }
        for (key, hits) in wide {
            let sorted = hits.sorted { $0.startNs < $1.startNs }
            guard Set(sorted.map(\.target)).count >= Self.horizontalTargets,
                  Self.mostDistinctInWindow(sorted.map { ($0.target, $0.startNs) }) >= Self.horizontalTargets else { continue }
            let targets = Set(sorted.map(\.target)).sorted()
            let probes = ScanProbes(proto: IPProtocol(rawValue: key.proto), port: key.port, flows: UInt64(sorted.count),
                                    unanswered: UInt64(sorted.filter { $0.kind == 1 }.count),
                                    rejected: UInt64(sorted.filter { $0.kind == 2 }.count))
            out.append(Finding(kind: "port-scan", source: key.source, target: nil, targets: targets,
                               proto: IPProtocol(rawValue: key.proto), ports: [key.port],
                               firstNs: sorted.first?.startNs ?? 0, lastNs: sorted.last?.startNs ?? 0,
                               detail: "port \(key.port) probed on \(targets.count) hosts without success",
                               probes: [probes]))
        }
        // Knocks: failed attempts on a few other ports, then a connection that works.
        for (pair, sorted) in knockSets {
            var reported: Set<UInt16> = []
            for (i, success) in sorted.enumerated() where success.outcome == .open && !reported.contains(success.port) {
                // Walk back over the failed attempts just before it.
                var knocks: [Attempt] = []
                var j = i - 1
                while j >= 0, sorted[j].outcome != .open, success.startNs - sorted[j].startNs <= Self.knockWindowNs {
                    // Probes from the success's own source port are one raw
                    // sender's, not a knock client's separate connections.
                    if sorted[j].port != success.port && sorted[j].clientPort != success.clientPort {
                        knocks.insert(sorted[j], at: 0)
                    }
                    j -= 1
                }
                let distinct = Set(knocks.map(\.port))
                guard Self.knockPorts.contains(distinct.count), distinct.count == knocks.count else { continue }
                // An earlier success on that port means it was open anyway.
                if sorted[..<i].contains(where: { $0.port == success.port && $0.outcome == .open }) { continue }
                reported.insert(success.port)
                out.append(Finding(kind: "port-knock", source: pair.source, target: pair.target,
                                   proto: IPProtocol(rawValue: pair.proto), ports: knocks.map(\.port),
                                   firstNs: knocks.first?.startNs ?? success.startNs, lastNs: success.startNs,
                                   detail: "knocked on " + knocks.map { String($0.port) }.joined(separator: ", ")
                                       + ", then port \(success.port) opened",
                                   probes: knocks.map { k in
                                       ScanProbes(proto: IPProtocol(rawValue: pair.proto), port: k.port, flows: 1,
                                                  unanswered: k.kind == 1 ? 1 : 0, rejected: k.kind == 2 ? 1 : 0)
                                   }))
            }
        }
        // Services on ports the registry gives to something else, or to nothing.
        for (key, entry) in zip(unexpected.keys, unexpected.values).sorted(by: { ($0.0.server, $0.0.port, $0.0.proto, $0.0.app.rawValue) < ($1.0.server, $1.0.port, $1.0.proto, $1.0.app.rawValue) }) {
            out.append(Finding(kind: "nonstandard-port", source: nil, target: key.server,
                               proto: IPProtocol(rawValue: key.proto), ports: [key.port],
                               firstNs: entry.first, lastNs: entry.last,
                               detail: "\(key.app.name) on port \(key.port) (registry: \(entry.registry ?? "unassigned")), \(entry.flows) flow\(entry.flows == 1 ? "" : "s")"))
        }
        // Hosts whose source ports come from two operating systems' allocators.
        for c in clients where c.range.looksLikeTwoAllocators {
            out.append(Finding(kind: "possible-nat", source: c.address, target: nil, proto: .tcp, ports: [],
                               firstNs: nil, lastNs: nil,
                               detail: "source ports from two allocators: \(c.range.linuxOnly) only Linux uses (\(EphemeralPorts.text(EphemeralPorts.linuxOnly))), "
                                   + "\(c.range.ianaOnly) only Windows/macOS use (\(EphemeralPorts.text(EphemeralPorts.ianaOnly))); likely several hosts behind NAT"))
        }
        return out
    }
}
