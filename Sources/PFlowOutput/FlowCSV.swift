import PFlowCore
import PFlowEngine
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

    /// Room for a row besides its service name: the sum of its fields'
    /// bounds (`TextCursor`'s), rounded up.
    static let rowRoom = 640

    /// Appends the row for `f` to `out`, without building Strings: room for
    /// the whole row is made once, then a cursor writes every field.
    public static func append(_ f: FlowRecord, digits: Int, to out: ByteText) {
        let ports = f.hasServicePort
        let comma: UInt8 = 0x2C
        out.reserve(rowRoom + (f.service.map(TextCursor.fieldRoom) ?? 0))
        var c = out.cursor()
        let start = c.p
        out.rfc3339(ns: f.startNs, digits: digits, &c); c.byte(comma)
        out.rfc3339(ns: f.endNs, digits: digits, &c); c.byte(comma)
        out.decimal(f.startNs, &c); c.byte(comma)
        out.decimal(f.endNs, &c); c.byte(comma)
        c.seconds(ns: f.durationNs, digits: digits); c.byte(comma)
        switch f.proto {
        case .tcp: c.ascii("tcp")
        case .udp: c.ascii("udp")
        case .icmp: c.ascii("icmp")
        case .icmpv6: c.ascii("icmpv6")
        default: c.decimal(UInt64(f.proto.rawValue))
        }
        c.byte(comma)
        c.decimal(UInt64(f.ipVersion)); c.byte(comma)
        if let v = f.vlan { c.decimal(UInt64(v)) }
        c.byte(comma)
        c.address(f.clientAddress); c.byte(comma)
        if ports { c.decimal(UInt64(f.clientPort)) }
        c.byte(comma)
        c.address(f.serverAddress); c.byte(comma)
        if ports { c.decimal(UInt64(f.serverPort)) }
        c.byte(comma)
        if let service = f.service { c.field(service) }
        c.byte(comma)
        if ports { c.ascii(rangeName(f.serverPort)) }
        c.byte(comma)
        if ports { c.ascii(rangeName(f.clientPort)) }
        c.byte(comma)
        c.ascii(roleName(f.roleSource)); c.byte(comma)
        c.ascii(stateName(f.connState)); c.byte(comma)
        c.decimal(f.clientToServer.packets); c.byte(comma)
        c.decimal(f.clientToServer.bytes); c.byte(comma)
        c.decimal(f.serverToClient.packets); c.byte(comma)
        c.decimal(f.serverToClient.bytes); c.byte(comma)
        c.decimal(f.clientToServer.payloadBytes); c.byte(comma)
        c.decimal(f.serverToClient.payloadBytes); c.byte(comma)
        c.ascii(reasonName(f.endReason)); c.byte(comma)
        let history = f.tcpHistory.letterBytes(clientDirection: f.clientDirection)
        c.words((history.bytes.0, history.bytes.1, 0), history.count)
        c.byte(comma)
        // The app words need no quoting (FlowCSVTests checks).
        if let app = f.appProtocol { c.ascii(app.staticName) }
        c.byte(comma)
        c.decimal(UInt64(f.icmpErrors))
        c.byte(0x0A)
        assert(c.p - start <= rowRoom + (f.service.map(TextCursor.fieldRoom) ?? 0), "a CSV row overran its room")
        out.commit(c)
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
