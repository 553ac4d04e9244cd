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
    struct Key: Hashable { var proto: UInt8; var port: Int32 }
    private var rowIndex: [Key: Int] = [:]
    private var rows: [ServiceRow] = []
    private var clients: [Set<IPAddress>] = []
    private var servers: [Set<IPAddress>] = []
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
        let i: Int
        if let known = rowIndex[key] {
            i = known
        } else {
            i = rows.count
            rowIndex[key] = i
            rows.append(ServiceRow(service: f.service ?? "", proto: f.proto, port: f.hasServicePort ? f.serverPort : nil))
            clients.append([])
            servers.append([])
        }
        rows[i].flows += 1
        rows[i].packets += f.packets
        rows[i].bytes += f.bytes
        if f.state == "S0" { rows[i].unanswered += 1 }
        if f.state == "REJ" { rows[i].rejected += 1 }
        clients[i].insert(f.clientAddress)
        servers[i].insert(f.serverAddress)
        let p = Int(f.proto.rawValue)
        protocols[p].flows += 1
        protocols[p].packets += f.packets
        protocols[p].bytes += f.bytes
    }

    /// Every row, largest byte count first.
    public var sortedRows: [ServiceRow] {
        var out = rows
        for i in out.indices {
            out[i].clients = clients[i].count
            out[i].servers = servers[i].count
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
