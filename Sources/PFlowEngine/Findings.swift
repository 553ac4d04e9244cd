import PFlowCore
import PFlowFlows
import PFlowWire

/// Something in the traffic a user should look at, with the evidence to
/// check it. Kinds: `port-scan`, `port-knock`, `nonstandard-port`, `possible-nat`.
public struct Finding: Sendable {
    public var kind: String
    public var source: IPAddress?
    /// The one target; nil for a horizontal scan (then `targets`).
    public var target: IPAddress?
    public var targets: [IPAddress] = []
    public var proto: IPProtocol?
    public var ports: [UInt16]
    public var firstNs: Int64?
    public var lastNs: Int64?
    public var detail: String
    /// A port scan's failed probes per port, a knock's knocks (the failed
    /// list leaves them out: the finding explains them).
    public var probes: [ScanProbes] = []
}

/// Finds scans, knocks, services on unexpected ports and likely NATs in the
/// flows as they end. Thresholds follow Zeek's scan detection: a vertical
/// scan is at least 15 distinct ports of one target failing for one source
/// within 5 minutes; a horizontal scan is one port failing on at least 25
/// targets within 5 minutes.
public struct FindingsDetector: Sendable {
    public static let scanWindowNs: Int64 = 300_000_000_000
    public static let verticalPorts = 15
    public static let horizontalTargets = 25
    /// A knock: 2 to 10 failed attempts on other ports within 30 s, then a
    /// connection that succeeds within 30 s of the last of them.
    public static let knockWindowNs: Int64 = 30_000_000_000
    public static let knockPorts = 2...10
    /// A raw scanner (nmap -sS, -sU) sends every probe from one source
    /// port, which no connect() allocator does to one target: that many
    /// distinct ports from one source port, at least half failing, is a
    /// scan even below Zeek's 15 (a UDP scan of a few ports).
    public static let fixedPortScanPorts = 10
    /// A pause this long between a source's attempts ends one scan: what
    /// follows (a knock, a later connection) is judged on its own.
    public static let scanPauseNs: Int64 = 30_000_000_000

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
        /// Links in the attempt that will be at `at` (index + 1); the one
        /// before it in the chain.
        @inline(__always)
        mutating func link(_ at: Int) -> UInt32 {
            defer { last = UInt32(truncatingIfNeeded: at); failures &+= 1 }
            return last
        }
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
        /// Links in the hit that will be at `at` (index + 1); the one before it.
        @inline(__always)
        mutating func link(_ at: Int) -> UInt32 {
            defer { last = UInt32(truncatingIfNeeded: at); count &+= 1 }
            return last
        }
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
    struct Unexpected: Sendable {
        var flows: Int; var first: Int64; var last: Int64; var registry: String?
        mutating func count(_ f: FlowRecord) {
            flows += 1
            first = min(first, f.startNs)
            last = max(last, f.endNs)
        }
    }

    /// Addresses numbered in order of appearance, each kept with its
    /// number in its slot of an open-addressing table: a working attempt
    /// numbers both its addresses, and FastMap's slots lead to the key
    /// through a tag and a second array (about 40 instructions a lookup,
    /// this about half).
    struct AddressNumbers: Sendable {
        struct Slot: Sendable {
            var high: UInt64 = 0, low: UInt64 = 0
            /// The number + 1; 0: empty.
            var numberPlusOne: UInt32 = 0
        }
        private var slots = [Slot](repeating: Slot(), count: 64)
        private var mask = 63
        private(set) var count = 0
        private let seed = HashSeed.run

        /// The number of `a`, numbering it if it has none.
        @inline(__always)
        mutating func number(_ a: IPAddress) -> UInt32 {
            let (numberPlusOne, at) = find(a)
            return numberPlusOne != 0 ? numberPlusOne &- 1 : add(a, at: at)
        }

        /// The number of `a`, if it has one.
        func number(of a: IPAddress) -> Int? {
            let numberPlusOne = find(a).numberPlusOne
            return numberPlusOne != 0 ? Int(numberPlusOne) - 1 : nil
        }

        /// The slot holding `a`, or the empty one where it would go.
        @inline(__always)
        private func find(_ a: IPAddress) -> (numberPlusOne: UInt32, at: Int) {
            let mask = mask
            var at = Int(truncatingIfNeeded: a.fastHash(seed)) & mask
            // Every place is masked into the table: no bounds to check.
            return slots.withUnsafeBufferPointer { slots in
                while true {
                    let s = slots[at]
                    if s.numberPlusOne == 0 || (s.high == a.high && s.low == a.low) { return (s.numberPlusOne, at) }
                    at = (at &+ 1) & mask
                }
            }
        }

        @inline(never)
        private mutating func add(_ a: IPAddress, at: Int) -> UInt32 {
            let n = UInt32(truncatingIfNeeded: count)
            slots[at] = Slot(high: a.high, low: a.low, numberPlusOne: n &+ 1)
            count += 1
            if count * 2 > slots.count { grow() }
            return n
        }

        private mutating func grow() {
            var bigger = [Slot](repeating: Slot(), count: slots.count * 2)
            let newMask = bigger.count - 1
            for s in slots where s.numberPlusOne != 0 {
                var at = Int(truncatingIfNeeded: IPAddress(high: s.high, low: s.low).fastHash(seed)) & newMask
                while bigger[at].numberPlusOne != 0 { at = (at + 1) & newMask }
                bigger[at] = s
            }
            slots = bigger
            mask = newMask
        }
    }

    // Evidence in flat arrays chained per key, no allocation per pair. Only
    // pairs with a failed attempt get an entry: most connections work, and
    // a table of every pair (one lookup per flow, all over memory) cost
    // more than the rest of the detector. The failures' tables start with
    // room for thousands (64 KB of slots each): a scan fails that often,
    // and growing from 16 rehashed each key twice over on the way.
    private var pairs = FastMap<PairKey, PairEvidence>(capacity: 1 << 12)
    private var attempts = Chunks<Attempt>()
    private var opens = Chunks<OpenAttempt>()
    /// Attempts kept, failed and working (the last one's `sequence`).
    private var kept = 0
    /// Addresses of working attempts, numbered in order of appearance
    /// (a few thousand even in big captures: the table stays in cache).
    private var addressNumbers = AddressNumbers()
    private var horizontal = FastMap<PortKey, HitChain>(capacity: 1 << 12)
    private var hits = Chunks<Hit>()
    private var unexpected = FastMap<ServiceKey, Unexpected>()
    /// Per app (at twice its raw value), 1 << 16 | the two ports it was
    /// last found customary on, the latest first; 0: none yet.
    private var lastCustomary = [UInt32](repeating: 0, count: 512)

    public init() {}

    /// The attempt a flow represents, if its client clearly opened it.
    @inline(__always)
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
    public var evidenceLimit = 8 << 20
    public private(set) var unjudged = 0

    public mutating func add(_ f: FlowRecord) {
        if let app = f.appProtocol, f.hasServicePort, !isCustomary(f.serverPort, for: app) {
            addUnexpected(f, app)
        }
        guard let outcome = Self.outcome(f) else { return }
        if kept >= evidenceLimit {
            unjudged += 1
            return
        }
        kept &+= 1
        let sequence = UInt32(truncatingIfNeeded: kept)
        guard outcome == .open else { return addFailed(f, outcome, sequence: sequence) }
        // Nearly every attempt works: numbered and kept, nothing else.
        let numbered = NumberedPair(source: addressNumbers.number(f.clientAddress),
                                    target: addressNumbers.number(f.serverAddress), proto: f.proto.rawValue)
        opens.append(OpenAttempt(startNs: f.startNs, sequence: sequence, pair: numbered, port: f.serverPort,
                                 clientPort: f.clientPort))
    }

    /// `Self.isCustomary`, answered at once for the two ports the app was
    /// last found customary on (TLS's 443, DNS's 53, HTTP's 80 and 8080:
    /// nearly every flow).
    @inline(__always)
    private mutating func isCustomary(_ port: UInt16, for app: AppProtocol) -> Bool {
        let mark = UInt32(port) | 1 << 16, at = Int(app.rawValue) << 1
        // Every raw value has its places: read without a bounds check.
        let known = lastCustomary.withUnsafeBufferPointer { $0[at] == mark || $0[at + 1] == mark }
        if known { return true }
        guard Self.isCustomary(port, for: app) else { return false }
        lastCustomary[at + 1] = lastCustomary[at]
        lastCustomary[at] = mark
        return true
    }

    private mutating func addUnexpected(_ f: FlowRecord, _ app: AppProtocol) {
        let key = ServiceKey(server: f.serverAddress, port: f.serverPort, proto: f.proto.rawValue, app: app)
        let i = unexpected.insert(key) { Unexpected(flows: 0, first: f.startNs, last: f.endNs, registry: f.portName) }.index
        unexpected[entry: i].count(f)
    }

    private mutating func addFailed(_ f: FlowRecord, _ outcome: Outcome, sequence: UInt32) {
        let pair = PairKey(source: f.clientAddress, target: f.serverAddress, proto: f.proto.rawValue)
        let p = pairs.insert(pair) { PairEvidence() }.index
        let kind = ServiceTally.failureKind(f)
        let previous = pairs[entry: p].link(attempts.count + 1)
        attempts.append(Attempt(startNs: f.startNs, previous: previous, sequence: sequence,
                                port: f.serverPort, clientPort: f.clientPort, outcome: outcome, kind: kind))
        let key = PortKey(source: f.clientAddress, port: f.serverPort, proto: f.proto.rawValue)
        let h = horizontal.insert(key) { HitChain() }.index
        let hit = horizontal[entry: h].link(hits.count + 1)
        hits.append(Hit(target: f.serverAddress, startNs: f.startNs, previous: hit, kind: kind))
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

    /// Items appended in chunks that never move once full: a growing array
    /// copies every item at each doubling (2.4M instructions for 80,000
    /// working attempts), and the evidence can run to millions.
    struct Chunks<Element> {
        static var shift: Int { 12 }
        private var full: [[Element]] = []
        private var filling: [Element] = []

        var count: Int { full.count << Self.shift + filling.count }

        @inline(__always)
        mutating func append(_ item: Element) {
            filling.append(item)
            if filling.count == 1 << Self.shift { seal() }
        }

        private mutating func seal() {
            full.append(filling)
            filling = []
            filling.reserveCapacity(1 << Self.shift)
        }

        subscript(i: Int) -> Element {
            let chunk = i >> Self.shift, at = i & (1 << Self.shift - 1)
            return chunk < full.count ? full[chunk][at] : filling[at]
        }

        /// The chunks in order, the one being filled last.
        var chunks: [[Element]] { full + [filling] }
    }

    /// Distinct ports, counted on a bit per port (a Set hashed each port:
    /// ~190 instructions a probe, for scans of thousands).
    struct PortCount {
        private var bits = [UInt64](repeating: 0, count: 1 << 10)
        private(set) var count = 0
        init() {}
        init(_ ports: [UInt16]) { for p in ports { insert(p) } }
        mutating func insert(_ port: UInt16) {
            let word = Int(port >> 6), bit = UInt64(1) << (port & 63)
            if bits[word] & bit == 0 {
                bits[word] |= bit
                count += 1
            }
        }
    }

    /// A key's items in the order they were added, from its chain through `items`.
    static func chain<T>(from last: UInt32, in items: Chunks<T>, previous: (T) -> UInt32) -> [T] {
        var out: [T] = []
        var at = Int(last)
        while at > 0 {
            out.append(items[at - 1])
            at = Int(previous(items[at - 1]))
        }
        return out.reversed()
    }

    /// A vertical scan's finding from its probes (in time order).
    static func scanFinding(_ pair: PairKey, _ probes: [Attempt], sourcePort: UInt16?) -> Finding {
        let proto = IPProtocol(rawValue: pair.proto)
        // Each probe as its port, whether it failed and how, sorted: one pass
        // then gives the ports in order, the open ones and the failures per
        // port (sets and a dictionary of ports cost ~1,500 instructions a probe).
        let marks = probes.map { UInt32($0.port) << 16 | ($0.outcome == .open ? 0 : 1 << 8 | UInt32($0.kind)) }.sorted()
        var probed: [UInt16] = [], open: [UInt16] = [], perPort: [ScanProbes] = []
        for m in marks {
            let port = UInt16(truncatingIfNeeded: m >> 16)
            if probed.last != port { probed.append(port) }
            guard m & 1 << 8 != 0 else {
                if open.last != port { open.append(port) }
                continue
            }
            if perPort.last?.port != port {
                perPort.append(ScanProbes(proto: proto, port: port, flows: 0, unanswered: 0, rejected: 0))
            }
            let kind = m & 0xFF
            perPort[perPort.count - 1].flows += 1
            if kind == 1 { perPort[perPort.count - 1].unanswered += 1 }
            if kind == 2 { perPort[perPort.count - 1].rejected += 1 }
        }
        let how = proto == .udp ? "UDP probes, closed ports answered by ICMP port unreachable or silent"
            : "SYN probes, closed ports rejected or unanswered"
        let from = sourcePort.map { ", all from source port \($0)" } ?? ""
        return Finding(kind: "port-scan", source: pair.source, target: pair.target, proto: proto,
                       ports: probed, firstNs: probes.first?.startNs ?? 0, lastNs: probes.last?.startNs ?? 0,
                       detail: "\(probed.count) ports probed, \(open.count) open"
                           + (open.isEmpty ? "" : " (" + open.map(String.init).joined(separator: ", ") + ")")
                           + "; \(how)\(from)",
                       probes: perPort)
    }

    /// Every finding, scans first, each list in a stable order.
    public func findings(clients: [ClientHost]) -> [Finding] {
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
            guard let source = addressNumbers.number(of: key.source), let target = addressNumbers.number(of: key.target) else { continue }
            failing.insert(NumberedPair(source: UInt32(source), target: UInt32(target), proto: key.proto)) { key }
            failingSource[source] = true
        }
        var worked: [PairKey: [Attempt]] = [:]
        if !failing.isEmpty {
            // Every working attempt is looked at: through buffers, as every
            // source number is below `addressNumbers.count`.
            failingSource.withUnsafeBufferPointer { failingSource in
                for chunk in opens.chunks {
                    chunk.withUnsafeBufferPointer { chunk in
                        for o in chunk where failingSource[Int(o.pair.source)] {
                            guard let key = failing[o.pair] else { continue }
                            worked[key, default: []].append(Attempt(startNs: o.startNs, previous: 0, sequence: o.sequence,
                                                                    port: o.port, clientPort: o.clientPort,
                                                                    outcome: .open, kind: 0))
                        }
                    }
                }
            }
        }
        var candidates: [(key: PairKey, value: [Attempt])] = []
        for (key, evidence) in zip(pairs.keys, pairs.values) where evidence.failures >= Self.knockPorts.lowerBound {
            let open = worked[key] ?? []
            guard evidence.failures * 2 >= Self.fixedPortScanPorts || !open.isEmpty else { continue }
            // Every attempt of the pair, in the order they came.
            let failed = Self.chain(from: evidence.last, in: attempts) { $0.previous }
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
                // Fewer probes than that many ports: not one (most source ports have one).
                guard members.count >= Self.fixedPortScanPorts else { continue }
                let probes = members.map { sorted[$0] }
                var ports = PortCount(), failedPorts = PortCount()
                for p in probes {
                    ports.insert(p.port)
                    if p.outcome != .open { failedPorts.insert(p.port) }
                }
                guard ports.count >= Self.fixedPortScanPorts, failedPorts.count * 2 >= ports.count else { continue }
                for i in members { inScan[i] = true }
                out.append(Self.scanFinding(pair, probes, sourcePort: sourcePort))
            }
            var run: [Int] = []
            func closeRun() {
                defer { run = [] }
                let probes = run.map { sorted[$0] }
                let failed = probes.filter { $0.outcome != .open }
                guard failed.count >= Self.verticalPorts, PortCount(failed.map(\.port)).count >= Self.verticalPorts,
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
            wide.append((key, Self.chain(from: chain.last, in: hits) { $0.previous }))
        }
        wide.sort { ($0.key.source, $0.key.port, $0.key.proto) < ($1.key.source, $1.key.port, $1.key.proto) }
        for (key, hits) in wide {
            let sorted = hits.sorted { $0.startNs < $1.startNs }
            let distinct = Set(sorted.map(\.target))
            guard distinct.count >= Self.horizontalTargets,
                  Self.mostDistinctInWindow(sorted.map { ($0.target, $0.startNs) }) >= Self.horizontalTargets else { continue }
            let targets = distinct.sorted()
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

extension FindingsDetector.Chunks: Sendable where Element: Sendable {}
