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
    /// Latency quantiles, retransmissions and names (issue 16).
    public var health = ServiceHealth()
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
        rows[i].health.add(f)
        if parties.insert(Party(address: f.clientAddress, row: UInt32(i), side: 0)) { rows[i].clients += 1 }
        if parties.insert(Party(address: f.serverAddress, row: UInt32(i), side: 1)) { rows[i].servers += 1 }
        let p = Int(f.proto.rawValue)
        protocols[p].flows += 1
        protocols[p].packets += f.packets
        protocols[p].bytes += f.bytes
    }

    /// Every row, largest byte count first.
    public var sortedRows: [ServiceRow] {
        var out = rows
        out.sort { a, b in
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            if a.flows != b.flows { return a.flows > b.flows }
            if a.proto.rawValue != b.proto.rawValue { return a.proto.rawValue < b.proto.rawValue }
            return (a.port.map { Int($0) } ?? -1) < (b.port.map { Int($0) } ?? -1)
        }
        return out
    }
}
