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
    private var rows: [Key: ServiceRow] = [:]
    private var clients: [Key: Set<IPAddress>] = [:]
    private var servers: [Key: Set<IPAddress>] = [:]
    /// Totals per protocol name (`tcp`, `udp`, `icmp`, …).
    public private(set) var byProto: [String: ProtocolTotals] = [:]
    public private(set) var flows: UInt64 = 0

    public init() {}

    public mutating func add(_ f: FlowRecord) {
        flows += 1
        let key = Key(proto: f.proto.rawValue, port: f.hasServicePort ? Int32(f.serverPort) : -1)
        if rows[key] == nil {
            rows[key] = ServiceRow(service: f.service ?? "", proto: f.proto, port: f.hasServicePort ? f.serverPort : nil)
        }
        rows[key]?.flows += 1
        rows[key]?.packets += f.packets
        rows[key]?.bytes += f.bytes
        clients[key, default: []].insert(f.clientAddress)
        servers[key, default: []].insert(f.serverAddress)
        byProto[f.proto.name, default: ProtocolTotals()].flows += 1
        byProto[f.proto.name, default: ProtocolTotals()].packets += f.packets
        byProto[f.proto.name, default: ProtocolTotals()].bytes += f.bytes
    }

    /// Every row, largest byte count first.
    public var sortedRows: [ServiceRow] {
        var out = Array(rows.values)
        for i in out.indices {
            let key = Key(proto: out[i].proto.rawValue, port: out[i].port.map { Int32($0) } ?? -1)
            out[i].clients = clients[key]?.count ?? 0
            out[i].servers = servers[key]?.count ?? 0
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
