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
        let out = ByteText(capacity: 512)
        append(f, digits: digits, to: out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// Appends the row for `f` to `out`, without building Strings.
    public static func append(_ f: FlowRecord, digits: Int, to out: ByteText) {
        let ports = f.hasServicePort
        let comma: UInt8 = 0x2C
        out.rfc3339(ns: f.startNs, digits: digits); out.byte(comma)
        out.rfc3339(ns: f.endNs, digits: digits); out.byte(comma)
        out.decimal(f.startNs); out.byte(comma)
        out.decimal(f.endNs); out.byte(comma)
        out.seconds(ns: f.durationNs, digits: digits); out.byte(comma)
        switch f.proto {
        case .tcp: out.ascii("tcp")
        case .udp: out.ascii("udp")
        case .icmp: out.ascii("icmp")
        case .icmpv6: out.ascii("icmpv6")
        default: out.decimal(UInt64(f.proto.rawValue))
        }
        out.byte(comma)
        out.decimal(UInt64(f.ipVersion)); out.byte(comma)
        if let v = f.vlan { out.decimal(UInt64(v)) }
        out.byte(comma)
        out.address(f.clientAddress); out.byte(comma)
        if ports { out.decimal(UInt64(f.clientPort)) }
        out.byte(comma)
        out.address(f.serverAddress); out.byte(comma)
        if ports { out.decimal(UInt64(f.serverPort)) }
        out.byte(comma)
        if let service = f.service { out.field(service) }
        out.byte(comma)
        if ports { out.ascii(rangeName(f.serverPort)) }
        out.byte(comma)
        if ports { out.ascii(rangeName(f.clientPort)) }
        out.byte(comma)
        out.ascii(roleName(f.roleSource)); out.byte(comma)
        out.ascii(stateName(f.connState)); out.byte(comma)
        out.decimal(f.clientToServer.packets); out.byte(comma)
        out.decimal(f.clientToServer.bytes); out.byte(comma)
        out.decimal(f.serverToClient.packets); out.byte(comma)
        out.decimal(f.serverToClient.bytes); out.byte(comma)
        out.decimal(f.clientToServer.payloadBytes); out.byte(comma)
        out.decimal(f.serverToClient.payloadBytes); out.byte(comma)
        out.ascii(reasonName(f.endReason)); out.byte(comma)
        out.text(f.history); out.byte(comma)
        if let app = f.app { out.field(app) }
        out.byte(comma)
        out.decimal(UInt64(f.icmpErrors))
        out.byte(0x0A)
    }

    // The fixed names as static text: no String per row. Each matches the
    // type's raw value (FlowCSVTests checks them all).
    static func rangeName(_ port: UInt16) -> StaticString {
        switch PortRange(port: port) {
        case .wellKnown: return "well-known"
        case .registered: return "registered"
        case .dynamic: return "dynamic"
        }
    }

    static func roleName(_ r: RoleSource) -> StaticString {
        switch r {
        case .syn: return "syn"
        case .synAck: return "syn-ack"
        case .listener: return "listener"
        case .signature: return "signature"
        case .portTable: return "port-table"
        case .ephemeralRange: return "ephemeral-range"
        case .lowerPort: return "lower-port"
        case .firstPacket: return "first-packet"
        }
    }

    static func stateName(_ s: ConnState) -> StaticString {
        switch s {
        case .S0: return "S0"
        case .S1: return "S1"
        case .SF: return "SF"
        case .REJ: return "REJ"
        case .S2: return "S2"
        case .S3: return "S3"
        case .RSTO: return "RSTO"
        case .RSTR: return "RSTR"
        case .RSTOS0: return "RSTOS0"
        case .RSTRH: return "RSTRH"
        case .SH: return "SH"
        case .SHR: return "SHR"
        case .OTH: return "OTH"
        }
    }

    static func reasonName(_ r: EndReason) -> StaticString {
        switch r {
        case .fin: return "fin"
        case .rst: return "rst"
        case .idle: return "idle"
        case .active: return "active"
        case .end: return "end"
        case .capacity: return "capacity"
        }
    }
}
