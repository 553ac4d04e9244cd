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

public enum ServiceSummary {
    /// Rows for every flow, largest byte count first.
    public static func rows(_ flows: [FlowRecord]) -> [ServiceRow] {
        struct Key: Hashable { var proto: UInt8; var port: Int32 }
        var rows: [Key: ServiceRow] = [:]
        var clients: [Key: Set<IPAddress>] = [:]
        var servers: [Key: Set<IPAddress>] = [:]
        for f in flows {
            let key = Key(proto: f.proto.rawValue, port: f.hasServicePort ? Int32(f.serverPort) : -1)
            var row = rows[key] ?? ServiceRow(service: f.service ?? "", proto: f.proto,
                                              port: f.hasServicePort ? f.serverPort : nil)
            row.flows += 1
            row.packets += f.packets
            row.bytes += f.bytes
            rows[key] = row
            clients[key, default: []].insert(f.clientAddress)
            servers[key, default: []].insert(f.serverAddress)
        }
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
