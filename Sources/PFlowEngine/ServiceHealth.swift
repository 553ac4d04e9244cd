import PFlowCore
import PFlowFlows

/// Latencies of one service as a log-scale histogram of microseconds:
/// values below 16 µs exactly, above that 8 buckets per power of two, so a
/// quantile (read as its bucket's middle) is within 1/16 (6.25%) of the
/// true sample value. Memory: at most 496 counters (2 KB), grown as needed.
public struct LatencyHistogram: Sendable {
    var counts: [UInt32] = []
    public private(set) var samples: UInt64 = 0

    public init() {}

    static func bucket(_ us: UInt64) -> Int {
        if us < 16 { return Int(us) }
        let e = 63 - us.leadingZeroBitCount
        return 16 + (e - 4) * 8 + Int((us >> UInt64(e - 3)) & 7)
    }

    /// The middle of bucket `i`, in microseconds.
    static func middle(_ i: Int) -> Double {
        if i < 16 { return Double(i) }
        let e = (i - 16) / 8 + 4, m = (i - 16) % 8
        let width = Double(UInt64(1) << UInt64(e - 3))
        return Double(8 + m) * width + width / 2
    }

    @inline(__always)
    public mutating func add(ns: Int64) {
        let i = Self.bucket(UInt64(max(0, ns)) / 1000)
        if counts.count <= i { grow(to: i) }
        counts.withUnsafeMutableBufferPointer { $0[i] &+= 1 }
        samples &+= 1
    }

    /// Room for bucket `i` (at most the 496th): a histogram grows to its
    /// largest latency only.
    @inline(never)
    mutating func grow(to i: Int) {
        counts.append(contentsOf: repeatElement(0, count: i + 1 - counts.count))
    }

    /// The nearest-rank quantile `q` (0...1) in milliseconds, nil without samples.
    public func quantileMs(_ q: Double) -> Double? {
        guard samples > 0 else { return nil }
        let rank = max(1, UInt64((q * Double(samples)).rounded(.up)))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() {
            seen += UInt64(c)
            if seen >= rank { return Self.middle(i) / 1000 }
        }
        return nil
    }
}

/// How fast and how lossy one service is, and the names its servers go by.
public struct ServiceHealth: Sendable {
    public var serverLatency = LatencyHistogram()
    public var appLatency = LatencyHistogram()
    /// TCP segments resent (both directions) and TCP packets in all.
    public var retransmissions: UInt64 = 0
    public var tcpPackets: UInt64 = 0
    /// Flows per server name, for the first `maxNames` distinct names
    /// (a map hashed by the name's words: Swift's String hashing cost
    /// more than the rest of the flow's tally). An entry's index is the
    /// name's slot (the order it came in, 0 first), which the hosts' name
    /// masks index.
    var names = FastMap<NameKey, UInt64>()
    /// A name's flows, and its slot.
    public struct NameCount: Sendable {
        public var flows: UInt64
        public var slot: UInt8
    }
    public static let maxNames = 64

    struct NameKey: FastHashable, Sendable {
        var text: String
        var hash: UInt64
        /// `hash`: `ServerName.hash` of the name, or any hash of `text`
        /// used for every key of one map.
        init(_ text: String, hash: UInt64) {
            self.text = text
            self.hash = hash
        }
        func fastHash(_ seed: HashSeed) -> UInt64 { hash }
        static func == (a: NameKey, b: NameKey) -> Bool { a.hash == b.hash && a.text == b.text }
    }

    public var hasNames: Bool { !names.isEmpty }
    /// Flows per server name kept, with its slot.
    public var nameCounts: [String: NameCount] {
        var out: [String: NameCount] = [:]
        for (i, (k, v)) in zip(names.keys, names.values).enumerated() { out[k.text] = NameCount(flows: v, slot: UInt8(i)) }
        return out
    }

    public init() {}

    /// Counts `f`; returns its name's slot, or -1 (no name, or past `maxNames`).
    @inline(__always) @discardableResult
    public mutating func add(_ f: FlowRecord) -> Int {
        // (Sums with &+=: what a capture holds can't reach 2^64.)
        if let ns = f.serverLatencyNs { serverLatency.add(ns: ns) }
        if let ns = f.appLatencyNs { appLatency.add(ns: ns) }
        if f.proto == .tcp {
            retransmissions &+= (f.clientRetransmissions ?? 0) &+ (f.serverRetransmissions ?? 0)
            tcpPackets &+= f.clientToServer.packets &+ f.serverToClient.packets
        }
        guard let name = f.serverName else { return -1 }
        return count(name, hash: f.serverNameHash)
    }

    /// Counts a flow of `name`; its slot, or -1 past `maxNames`.
    mutating func count(_ name: String, hash: UInt64) -> Int {
        // One probe of the name whether it is known or new.
        let key = NameKey(name, hash: hash)
        if let i = names.index(of: key) {
            names[entry: i] &+= 1
            return i
        }
        guard names.count < Self.maxNames else { return -1 }
        let slot = names.insert(key) { 1 }.index
        if names.count == Self.maxNames {
            // Full: from now on most names are new ones, each probed to an
            // empty slot; a table a quarter full keeps those walks short.
            var roomy = FastMap<NameKey, UInt64>(capacity: 2 * Self.maxNames)
            for (k, v) in zip(names.keys, names.values) { roomy.insert(k) { v } }
            names = roomy
        }
        return slot
    }

    /// The names by slot.
    public var namesBySlot: [String] { names.keys.map(\.text) }
    /// The flows of each slot's name.
    public var flowsBySlot: [UInt64] { names.values }

    /// Retransmitted segments per TCP packet.
    public var retransmissionRate: Double { tcpPackets == 0 ? 0 : Double(retransmissions) / Double(tcpPackets) }

    /// Up to `n` names, most flows first (then by name).
    public func topNames(_ n: Int = 10) -> [String] {
        zip(names.keys, names.values).sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.text < $1.0.text }.prefix(n).map(\.0.text)
    }
}
