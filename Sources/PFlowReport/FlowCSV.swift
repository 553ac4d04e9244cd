import PFlowFlows
import PFlowWire

/// One row per flow, RFC 4180 quoting, `\n` line ends. Column names and
/// order are the contract in DESIGN.md; new columns go at the end.
public enum FlowCSV {
    public static let columns = [
        "start", "end", "start_ns", "end_ns", "duration_s", "proto", "ip_version", "vlan",
        "client_ip", "client_port", "server_ip", "server_port", "service",
        "server_port_range", "client_port_range", "role_source", "state",
        "c2s_packets", "c2s_bytes", "s2c_packets", "s2c_bytes",
        "c2s_payload_bytes", "s2c_payload_bytes", "end_reason", "history", "app", "icmp_errors",
    ]

    public static var header: String { columns.joined(separator: ",") + "\n" }

    /// The row for `f`; times with `digits` fractional digits.
    public static func row(_ f: FlowRecord, digits: Int) -> String {
        let ports = f.hasServicePort
        var s = Formatting.rfc3339(ns: f.startNs, digits: digits)
        s += ","; s += Formatting.rfc3339(ns: f.endNs, digits: digits)
        s += ","; s += String(f.startNs)
        s += ","; s += String(f.endNs)
        s += ","; s += Formatting.seconds(ns: f.durationNs, digits: digits)
        s += ","; s += f.proto.name
        s += ","; s += String(f.ipVersion)
        s += ","; if let v = f.vlan { s += String(v) }
        s += ","; s += f.clientAddress.description
        s += ","; if ports { s += String(f.clientPort) }
        s += ","; s += f.serverAddress.description
        s += ","; if ports { s += String(f.serverPort) }
        s += ","; s += quoted(f.service ?? "")
        s += ","; if ports { s += PortRange(port: f.serverPort).rawValue }
        s += ","; if ports { s += PortRange(port: f.clientPort).rawValue }
        s += ","; s += f.roleSource.rawValue
        s += ","; s += f.state
        s += ","; s += String(f.clientToServer.packets)
        s += ","; s += String(f.clientToServer.bytes)
        s += ","; s += String(f.serverToClient.packets)
        s += ","; s += String(f.serverToClient.bytes)
        s += ","; s += String(f.clientToServer.payloadBytes)
        s += ","; s += String(f.serverToClient.payloadBytes)
        s += ","; s += f.endReason.rawValue
        s += ","; s += f.history
        s += ","; s += quoted(f.app ?? "")
        s += ","; s += String(f.icmpErrors)
        s += "\n"
        return s
    }

    /// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
    static func quoted(_ field: String) -> String {
        guard field.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else {
            return field
        }
        var out = "\""
        for c in field { out += c == "\"" ? "\"\"" : String(c) }
        return out + "\""
    }

    public static func write(_ flows: [FlowRecord], digits: Int, to sink: OutputSink) {
        sink.write(header)
        for f in flows { sink.write(row(f, digits: digits)) }
        sink.flush()
    }
}
