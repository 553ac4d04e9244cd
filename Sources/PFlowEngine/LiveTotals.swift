import PFlowCore
import PFlowFlows

/// One row of the live view: a service port that answered, a protocol
/// without ports, or every unanswered attempt of a protocol together (a
/// scan would otherwise make a row per probed port).
public struct LiveBucket: Sendable {
    public var proto: IPProtocol
    /// The server port; nil for portless protocols and the unanswered rows.
    public var port: UInt16?
    /// What the service is (FlowRecord's `service`), else "".
    public var service: String
    public var answered: Bool
    /// Flows sorted into it, and their distinct clients (counted exactly up
    /// to `LiveTotals.clientLimit` pairs in all, then no more).
    public var flows: UInt64 = 0
    public var clients: Int = 0
}

/// Something the view's ticker reports, at the packet time it happened.
public struct LiveEvent: Sendable {
    public var ns: Int64
    public var text: String
}

/// The live view's running totals (see `LiveMeter`) and what names them:
/// buckets, hosts, a ticker of new listeners, scans and knocks. Fed by the
/// meter per packet and by `refresh`, which looks at a bounded number of
/// store slots per call and sorts the flows it has not sorted yet; nothing
/// here walks all live flows, so a redraw costs the same with a hundred or
/// a million of them.
public final class LiveTotals {
    public static let bucketLimit = 1024
    public static let hostLimit = 1 << 16
    public static let clientLimit = 1 << 18
    /// Distinct (client, target, port) attempts kept for the ticker.
    public static let attemptLimit = 1 << 18
    public static let eventLimit = 64

    public let meter = LiveMeter(buckets: LiveTotals.bucketLimit, hosts: LiveTotals.hostLimit)
    /// Bucket 0: flows not sorted yet; the last: every service past the limit.
    public private(set) var buckets: [LiveBucket]
    /// Host i + 1 of the meter (its index 0 holds hosts not kept).
    public private(set) var hostAddresses: [IPAddress] = []
    /// The latest events, oldest first (at most `eventLimit`).
    public private(set) var events: [LiveEvent] = []
    /// Events in all since the start.
    public private(set) var eventCount = 0

    struct BucketKey: FastHashable {
        var proto: UInt8; var port: Int32
        func fastHash(_ seed: HashSeed) -> UInt64 { seed.hash(UInt64(proto) << 32 | UInt64(UInt32(bitPattern: port))) }
    }
    struct ClientKey: FastHashable {
        var address: IPAddress; var bucket: UInt32
        func fastHash(_ seed: HashSeed) -> UInt64 { seed.hash(address.high, address.low, UInt64(bucket)) }
    }
    struct ListenerKey: FastHashable {
        var address: IPAddress; var port: UInt16; var proto: UInt8
        func fastHash(_ seed: HashSeed) -> UInt64 { seed.hash(address.high, address.low, UInt64(port) << 8 | UInt64(proto)) }
    }
    struct AttemptKey: FastHashable {
        var client: IPAddress; var target: IPAddress; var port: UInt16; var proto: UInt8
        func fastHash(_ seed: HashSeed) -> UInt64 {
            seed.hash(client.high, client.low, target.high, target.low, UInt64(port) << 8 | UInt64(proto))
        }
    }
    /// Failed attempts of one client on one target (vertical scans, knocks).
    struct PairState {
        var ports = 0
        var reported = false
        /// The latest failed attempts (port, time), at most the most knocks.
        var recent: [(port: UInt16, ns: Int64)] = []
    }
    /// Targets one client failed on at one port (horizontal scans).
    struct SweepState { var targets = 0; var reported = false }

    private var bucketIndex = FastMap<BucketKey, Void>()
    private var hostIndex = FastMap<IPAddress, Void>()
    private var clientPairs = FastMap<ClientKey, Void>()
    private var listeners = FastMap<ListenerKey, Void>()
    private var attempts = FastMap<AttemptKey, Void>()
    /// (client, target, port 0): failures of a client on a target.
    private var pairs = FastMap<AttemptKey, PairState>()
    /// (client, no target, port): failures of a client on a port.
    private var sweeps = FastMap<AttemptKey, SweepState>()
    /// Where the next `refresh` starts in the store.
    private var cursor = 0

    init() {
        buckets = [LiveBucket(proto: IPProtocol(rawValue: 0), port: nil, service: "(not sorted yet)", answered: true)]
    }

    public var otherBucket: Int { Self.bucketLimit - 1 }

    /// Bytes to servers, to clients, packets to servers, to clients of bucket `i`.
    public func totals(_ i: Int) -> (upBytes: UInt64, downBytes: UInt64, upPackets: UInt64, downPackets: UInt64) {
        let c = meter.counters + i * LiveMeter.countersPerBucket
        return (c[0], c[1], c[2], c[3])
    }

    /// Bytes host `i` (0-based in `hostAddresses`) sent and received.
    public func hostBytes(_ i: Int) -> UInt64 { meter.hostBytes[i + 1] }

    private func bucket(for f: FlowRecord, answered: Bool) -> Int {
        let port: Int32 = !answered ? -2 : (f.hasServicePort ? Int32(f.serverPort) : -1)
        let key = BucketKey(proto: f.proto.rawValue, port: port)
        if let i = bucketIndex.index(of: key) { return i + 1 }
        guard buckets.count < Self.bucketLimit - 1 else {
            if buckets.count == Self.bucketLimit - 1 {
                buckets.append(LiveBucket(proto: IPProtocol(rawValue: 0), port: nil, service: "(other services)", answered: true))
            }
            return otherBucket
        }
        _ = bucketIndex.insert(key) { () }
        let name = answered ? (f.service ?? f.portName ?? "") : "(unanswered attempts)"
        buckets.append(LiveBucket(proto: f.proto, port: answered && f.hasServicePort ? f.serverPort : nil,
                                  service: name, answered: answered))
        return buckets.count - 1
    }

    private func host(_ a: IPAddress) -> Int {
        if let i = hostIndex.index(of: a) { return i + 1 }
        guard hostIndex.count < Self.hostLimit - 1 else { return 0 }
        let i = hostIndex.insert(a) { () }.index
        hostAddresses.append(a)
        return i + 1
    }

    private func note(_ ns: Int64, _ text: String) {
        eventCount += 1
        if events.count >= Self.eventLimit { events.removeFirst(events.count - Self.eventLimit + 1) }
        events.append(LiveEvent(ns: ns, text: text))
    }

    /// Sorts the flow in `slot` into a bucket (new flows, and unanswered
    /// ones that may have been answered since).
    func sort(slot: Int, stamp: Int64, state: UnsafePointer<FlowState>, analyzer: Analyzer) {
        let current = meter.bucket(slot: slot, stamp: stamp)
        if let current, current == otherBucket || buckets[current].answered { return }
        let s = state.pointee
        // Sorted as unanswered and still one-way: it can't have been answered
        // (a scan's probes would otherwise be judged anew at every visit).
        if let current, current > 0 {
            let c = s.counters
            if c.0.packets == 0 || c.1.packets == 0 { return }
        }
        let f = analyzer.record(s, .end, uid: 0)
        let answered = f.hasServicePort ? ServiceTally.answered(f) : true
        let b = bucket(for: f, answered: answered)
        if current == b { return }
        let c = s.counters
        let clientIsA = f.clientDirection == 0
        meter.assign(slot: slot, stamp: stamp, bucket: b, clientIsA: clientIsA,
                     clientHost: host(f.clientAddress), serverHost: host(f.serverAddress),
                     bytes: (c.0.bytes, c.1.bytes), packets: (c.0.packets, c.1.packets))
        if let current, current > 0 { buckets[current].flows &-= 1 }
        buckets[b].flows &+= 1
        if clientPairs.count < Self.clientLimit,
           clientPairs.insert(ClientKey(address: f.clientAddress, bucket: UInt32(b)), { () }).inserted {
            buckets[b].clients += 1
        }
        if current == nil || current == 0 { watch(f, answered: answered) }
    }

    /// The ticker: a listener seen answering for the first time; a client
    /// failing on many ports of one target (FindingsDetector's thresholds)
    /// or on one port of many targets; a few failures, then success.
    private func watch(_ f: FlowRecord, answered: Bool) {
        guard f.hasServicePort else { return }
        let proto = f.proto.rawValue
        let what = "\(f.proto.name)/\(f.serverPort)"
        let pairKey = AttemptKey(client: f.clientAddress, target: f.serverAddress, port: 0, proto: proto)
        if answered {
            guard listeners.count < Self.attemptLimit else { return }
            let l = ListenerKey(address: f.serverAddress, port: f.serverPort, proto: proto)
            guard listeners.insert(l, { () }).inserted else { return }
            note(f.startNs, "new listener \(f.serverAddress.description) \(what)" + (f.service.map { " (\($0))" } ?? ""))
            // A knock: failed attempts on 2 to 10 other ports of this
            // server just before (within the detector's window).
            guard let p = pairs.index(of: pairKey) else { return }
            let pair = pairs[entry: p]
            // (Flows are sorted in store order, not time order: only failures
            // that came before the success count.)
            let knocks = pair.recent.filter {
                $0.ns < f.startNs && f.startNs - $0.ns <= FindingsDetector.knockWindowNs && $0.port != f.serverPort
            }
            if !pair.reported, FindingsDetector.knockPorts.contains(knocks.count) {
                note(f.startNs, "knock \(f.clientAddress.description) → \(f.serverAddress.description): "
                     + knocks.map { String($0.port) }.joined(separator: ", ") + ", then \(what) opened")
            }
            return
        }
        guard attempts.count < Self.attemptLimit,
              attempts.insert(AttemptKey(client: f.clientAddress, target: f.serverAddress, port: f.serverPort, proto: proto), { () }).inserted
        else { return }
        let p = pairs.insert(pairKey) { PairState() }.index
        var pair = pairs[entry: p]
        pair.ports += 1
        pair.recent.append((f.serverPort, f.startNs))
        if pair.recent.count > FindingsDetector.knockPorts.upperBound { pair.recent.removeFirst() }
        if !pair.reported && pair.ports >= FindingsDetector.verticalPorts {
            pair.reported = true
            note(f.startNs, "scan \(f.clientAddress.description) → \(f.serverAddress.description) \(f.proto.name): \(pair.ports) ports unanswered")
        }
        pairs[entry: p] = pair
        let s = sweeps.insert(AttemptKey(client: f.clientAddress, target: IPAddress(high: 0, low: 0),
                                         port: f.serverPort, proto: proto)) { SweepState() }.index
        var sweep = sweeps[entry: s]
        sweep.targets += 1
        if !sweep.reported && sweep.targets >= FindingsDetector.horizontalTargets {
            sweep.reported = true
            note(f.startNs, "sweep \(f.clientAddress.description) → \(what) on \(sweep.targets) hosts unanswered")
        }
        sweeps[entry: s] = sweep
    }

    /// Sorts the new flows among the next `budget` store slots.
    func refresh(_ analyzer: Analyzer, budget: Int) {
        let (next, _) = analyzer.table.forEachLiveSlot(from: cursor, limit: budget) { slot, stamp, s in
            sort(slot: slot, stamp: stamp, state: s, analyzer: analyzer)
        }
        cursor = next
    }
}

extension Analyzer {
    /// Starts counting the live view's running totals (one nil check per
    /// packet while none are counted).
    public func startLiveTotals() -> LiveTotals {
        let totals = LiveTotals()
        table.meter = totals.meter
        return totals
    }

    /// Sorts new flows for `totals`, visiting at most `budget` store slots.
    public func refresh(_ totals: LiveTotals, budget: Int = 32_768) {
        totals.refresh(self, budget: budget)
    }
}
