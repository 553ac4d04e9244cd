import PFlowCore
import PFlowEngine
import PFlowFlows
import PFlowWire

/// One flow column: its name, the most bytes its cell can take, and how to
/// write it at a cursor with that much room. The CSV (and every output that
/// shares its columns) is this list: a new column is one more entry.
public struct FlowColumn: Sendable {
    public let name: String
    /// Bytes the cell takes at most (quoting included) for fixed-size values.
    let room: Int
    /// For text cells: the room this record's value needs.
    let textRoom: (@Sendable (FlowRecord) -> Int)?
    let write: @Sendable (FlowRecord, inout TextCursor, ByteText, Int) -> Void

    init(_ name: String, room: Int, textRoom: (@Sendable (FlowRecord) -> Int)? = nil,
         _ write: @escaping @Sendable (FlowRecord, inout TextCursor, ByteText, Int) -> Void) {
        self.name = name
        self.room = room
        self.textRoom = textRoom
        self.write = write
    }
}

/// One row per flow, RFC 4180 quoting, `\n` line ends. Column names and
/// order are the contract in DESIGN.md; new columns go at the end.
public enum FlowCSV {
    /// Every column, in order (`digits`: the capture's fractional digits).
    public static let flowColumns: [FlowColumn] = [
        FlowColumn("start", room: TextCursor.rfc3339Room) { f, c, out, d in out.rfc3339(ns: f.startNs, digits: d, &c) },
        FlowColumn("end", room: TextCursor.rfc3339Room) { f, c, out, d in out.rfc3339(ns: f.endNs, digits: d, &c) },
        FlowColumn("start_ns", room: TextCursor.int64Room) { f, c, out, _ in out.decimal(f.startNs, &c) },
        FlowColumn("end_ns", room: TextCursor.int64Room) { f, c, out, _ in out.decimal(f.endNs, &c) },
        FlowColumn("duration_s", room: TextCursor.secondsRoom) { f, c, _, d in c.seconds(ns: f.durationNs, digits: d) },
        FlowColumn("proto", room: 6) { f, c, _, _ in
            switch f.proto {
            case .tcp: c.ascii("tcp")
            case .udp: c.ascii("udp")
            case .icmp: c.ascii("icmp")
            case .icmpv6: c.ascii("icmpv6")
            default: c.decimal(UInt64(f.proto.rawValue))
            }
        },
        FlowColumn("ip_version", room: 1) { f, c, _, _ in c.decimal(UInt64(f.ipVersion)) },
        FlowColumn("vlan", room: 5) { f, c, _, _ in if let v = f.vlan { c.decimal(UInt64(v)) } },
        FlowColumn("client_ip", room: TextCursor.addressRoom) { f, c, _, _ in c.address(f.clientAddress) },
        FlowColumn("client_port", room: 5) { f, c, _, _ in if f.hasServicePort { c.decimal(UInt64(f.clientPort)) } },
        FlowColumn("server_ip", room: TextCursor.addressRoom) { f, c, _, _ in c.address(f.serverAddress) },
        FlowColumn("server_port", room: 5) { f, c, _, _ in if f.hasServicePort { c.decimal(UInt64(f.serverPort)) } },
        FlowColumn("service", room: 0, textRoom: { f in f.service.map(TextCursor.fieldRoom) ?? 0 }) { f, c, _, _ in
            if let service = f.service { c.field(service) }
        },
        FlowColumn("server_port_range", room: 10) { f, c, _, _ in if f.hasServicePort { c.ascii(rangeName(f.serverPort)) } },
        FlowColumn("client_port_range", room: 10) { f, c, _, _ in if f.hasServicePort { c.ascii(rangeName(f.clientPort)) } },
        FlowColumn("role_source", room: 15) { f, c, _, _ in c.ascii(roleName(f.roleSource)) },
        FlowColumn("state", room: 6) { f, c, _, _ in c.ascii(stateName(f.connState)) },
        FlowColumn("c2s_packets", room: 20) { f, c, _, _ in c.decimal(f.clientToServer.packets) },
        FlowColumn("c2s_bytes", room: 20) { f, c, _, _ in c.decimal(f.clientToServer.bytes) },
        FlowColumn("s2c_packets", room: 20) { f, c, _, _ in c.decimal(f.serverToClient.packets) },
        FlowColumn("s2c_bytes", room: 20) { f, c, _, _ in c.decimal(f.serverToClient.bytes) },
        FlowColumn("c2s_payload_bytes", room: 20) { f, c, _, _ in c.decimal(f.clientToServer.payloadBytes) },
        FlowColumn("s2c_payload_bytes", room: 20) { f, c, _, _ in c.decimal(f.serverToClient.payloadBytes) },
        FlowColumn("end_reason", room: 8) { f, c, _, _ in c.ascii(reasonName(f.endReason)) },
        FlowColumn("history", room: 24) { f, c, _, _ in
            let history = f.tcpHistory.letterBytes(clientDirection: f.clientDirection)
            c.words((history.bytes.0, history.bytes.1, 0), history.count)
        },
        // The app words need no quoting (FlowCSVTests checks).
        FlowColumn("app", room: 10) { f, c, _, _ in if let app = f.appProtocol { c.ascii(app.staticName) } },
        FlowColumn("icmp_errors", room: 10) { f, c, _, _ in c.decimal(UInt64(f.icmpErrors)) },
    ]

    public static let columns = flowColumns.map(\.name)

    public static var header: String { columns.joined(separator: ",") + "\n" }

    /// The row for `f`; times with `digits` fractional digits.
    public static func row(_ f: FlowRecord, digits: Int) -> String {
        let out = ByteText(capacity: 512)
        append(f, digits: digits, to: out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// Room for a row besides its text cells: every cell's bound, a comma
    /// each and the line end.
    static let rowRoom = flowColumns.reduce(0) { $0 + $1.room + 1 }
    static let textColumns = flowColumns.filter { $0.textRoom != nil }

    /// Appends the row for `f` to `out`, without building Strings: room for
    /// the whole row is made once, then a cursor writes every field.
    public static func append(_ f: FlowRecord, digits: Int, to out: ByteText) {
        var room = rowRoom
        for column in textColumns { room += column.textRoom?(f) ?? 0 }
        out.reserve(room)
        var c = out.cursor()
        let start = c.p
        var first = true
        for column in flowColumns {
            if !first { c.byte(0x2C) }
            first = false
            column.write(f, &c, out, digits)
        }
        c.byte(0x0A)
        assert(c.p - start <= room, "a CSV row overran its room")
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
