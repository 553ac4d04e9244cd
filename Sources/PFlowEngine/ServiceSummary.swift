import PFlowCore
import PFlowFlows
import PFlowWire

/// Traffic of one service port (or, for ICMP and other portless protocols,
/// of the protocol): one row of the services table.
public struct ServiceRow: Sendable {
    public var service: String
    public var proto: IPProtocol
    /// The server port; nil for protocols without ports.
    public var port: UInt16?
    public var flows: UInt64 = 0
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    /// Distinct client and server addresses.
    public var clients = 0
    public var servers = 0
    /// Connection attempts left unanswered (S0) and rejected (REJ).
    public var unanswered: UInt64 = 0
    public var rejected: UInt64 = 0
}

/// Flows, packets and bytes of one protocol.
public struct ProtocolTotals: Sendable {
    public var flows: UInt64 = 0
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
}

/// Aggregates flows as they end, so the report needs no list of flows.
public struct ServiceTally: Sendable {
    struct Key: FastHashable, Sendable {
        var proto: UInt8; var port: Int32
        func fastHash(_ seed: HashSeed) -> UInt64 { seed.hash(UInt64(proto) << 32 | UInt64(UInt32(bitPattern: port))) }
    }
    /// An address in one row's client (side 0) or server (side 1) column.
    struct Party: FastHashable, Sendable {
        var address: IPAddress; var row: UInt32; var side: UInt8
        func fastHash(_ seed: HashSeed) -> UInt64 { seed.hash(address.high, address.low, UInt64(row) << 1 | UInt64(side)) }
    }
    /// Entry i is row i.
    private var rowIndex = FastMap<Key, Void>()
    private var rows: [ServiceRow] = []
    /// Distinct (row, side, address) triples: counted into the rows as added.
    private var parties = FastSet<Party>()
    /// The most triples counted exactly; past it every row's clients and
    /// servers are counted in sketches (`DistinctSketch`, about ±3%), so a
    /// flood of addresses can't grow the tally without bound.
    public var partyLimit = 1 << 20
    /// Per row, once past `partyLimit`: the sketches of its clients and servers.
    private var sketches: [(clients: DistinctSketch, servers: DistinctSketch)] = []
    /// The client and server counts are estimates (past `partyLimit`).
    public private(set) var estimated = false
    private var protocols = [ProtocolTotals](repeating: ProtocolTotals(), count: 256)
    public private(set) var flows: UInt64 = 0

    public init() {}

    /// Totals per protocol name (`tcp`, `udp`, `icmp`, …).
    public var byProto: [String: ProtocolTotals] {
        var out: [String: ProtocolTotals] = [:]
        for (number, t) in protocols.enumerated() where t.flows > 0 {
            out[IPProtocol(rawValue: UInt8(number)).name] = t
        }
        return out
    }

    public mutating func add(_ f: FlowRecord) {
        flows += 1
        let key = Key(proto: f.proto.rawValue, port: f.hasServicePort ? Int32(f.serverPort) : -1)
        let (i, inserted) = rowIndex.insert(key) { () }
        if inserted {
            rows.append(ServiceRow(service: f.service ?? "", proto: f.proto, port: f.hasServicePort ? f.serverPort : nil))
        }
        rows[i].flows += 1
        rows[i].packets += f.packets
        rows[i].bytes += f.bytes
        if f.connState == .S0 { rows[i].unanswered += 1 }
        if f.connState == .REJ { rows[i].rejected += 1 }
        if estimated {
            countSketched(f, row: i)
        } else {
            if parties.insert(Party(address: f.clientAddress, row: UInt32(i), side: 0)) { rows[i].clients += 1 }
            if parties.insert(Party(address: f.serverAddress, row: UInt32(i), side: 1)) { rows[i].servers += 1 }
            if parties.count >= partyLimit { startSketches() }
        }
        let p = Int(f.proto.rawValue)
        protocols[p].flows += 1
        protocols[p].packets += f.packets
        protocols[p].bytes += f.bytes
    }

    /// Moves every exact triple into its row's sketch and drops the set.
    private mutating func startSketches() {
        estimated = true
        sketches = Array(repeating: (DistinctSketch(), DistinctSketch()), count: rows.count)
        for p in parties.keys {
            let h = Self.hash(p.address)
            if p.side == 0 { sketches[Int(p.row)].clients.add(hash: h) } else { sketches[Int(p.row)].servers.add(hash: h) }
        }
        parties = FastSet<Party>()
    }

    private mutating func countSketched(_ f: FlowRecord, row i: Int) {
        while sketches.count < rows.count { sketches.append((DistinctSketch(), DistinctSketch())) }
        sketches[i].clients.add(hash: Self.hash(f.clientAddress))
        sketches[i].servers.add(hash: Self.hash(f.serverAddress))
    }

    private static func hash(_ a: IPAddress) -> UInt64 { HashSeed.run.hash(a.high, a.low) }

    /// The rows of this tally and `other` together (flows in neither
    /// twice), largest byte count first: for the live view, ended flows
    /// plus live ones without copying either tally's address sets. A row's
    /// clients and servers are the sums of both sides' (an address in both
    /// counts twice: a view's approximation; the report is exact).
    public func sortedRows(adding other: ServiceTally) -> [ServiceRow] {
        var sum = self
        sum.parties = FastSet<Party>()  // not needed: the counts are in the rows
        let extra = other.sortedRows
        for r in extra {
            let key = Key(proto: r.proto.rawValue, port: r.port.map { Int32($0) } ?? -1)
            let (i, inserted) = sum.rowIndex.insert(key) { () }
            if inserted {
                sum.rows.append(ServiceRow(service: r.service, proto: r.proto, port: r.port))
                if sum.estimated { sum.sketches.append((DistinctSketch(), DistinctSketch())) }
            }
            sum.rows[i].flows += r.flows
            sum.rows[i].packets += r.packets
            sum.rows[i].bytes += r.bytes
            sum.rows[i].unanswered += r.unanswered
            sum.rows[i].rejected += r.rejected
            sum.extraParties[i, default: (0, 0)].0 += r.clients
            sum.extraParties[i, default: (0, 0)].1 += r.servers
        }
        return sum.sortedRows
    }
    /// `sortedRows(adding:)`'s client and server counts to add per row.
    private var extraParties: [Int: (Int, Int)] = [:]

    /// Every row, largest byte count first.
    public var sortedRows: [ServiceRow] {
        var out = rows
        if estimated {
            // Estimated once per report, not per flow (an estimate reads 1,024 registers).
            for i in out.indices where i < sketches.count {
                out[i].clients = max(1, sketches[i].clients.estimate)
                out[i].servers = max(1, sketches[i].servers.estimate)
            }
        }
        for (i, extra) in extraParties where i < out.count {
            out[i].clients += extra.0
            out[i].servers += extra.1
        }
        out.sort { a, b in
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            if a.flows != b.flows { return a.flows > b.flows }
            if a.proto.rawValue != b.proto.rawValue { return a.proto.rawValue < b.proto.rawValue }
            return (a.port.map { Int($0) } ?? -1) < (b.port.map { Int($0) } ?? -1)
        }
        return out
    }
}
