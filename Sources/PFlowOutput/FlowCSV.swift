import PFlowCore
import PFlowEngine
import PFlowFlows
import PFlowWire

/// A flow column's value, typed, for outputs that keep types (NDJSON,
/// Parquet); the CSV writes the same value as text.
public enum FlowValue: Equatable, Sendable {
    case null
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case timestampNs(Int64)
    case text(String)
}

/// What kind of values a column holds (every column may be empty).
public enum FlowColumnType: Sendable {
    case timestampNs, int64, uint64, double, text
}

/// One flow column: its name, its type, the most bytes its CSV cell can
/// take, how to write that cell at a cursor with that much room, and its
/// typed value. The CSV (and every output that shares its columns: NDJSON,
/// Parquet) is the list `FlowCSV.flowColumns`: a new column is one entry.
public struct FlowColumn: Sendable {
    public let name: String
    public let type: FlowColumnType
    /// Bytes the cell takes at most (quoting included) for fixed-size values.
    let room: Int
    /// For text cells: the room this record's value needs.
    let textRoom: (@Sendable (FlowRecord) -> Int)?
    let write: @Sendable (FlowRecord, inout TextCursor, ByteText, Int) -> Void
    /// The cell's typed value (`digits` matters only to the text form).
    public let value: @Sendable (FlowRecord) -> FlowValue

    init(_ name: String, _ type: FlowColumnType, room: Int, textRoom: (@Sendable (FlowRecord) -> Int)? = nil,
         value: @escaping @Sendable (FlowRecord) -> FlowValue,
         _ write: @escaping @Sendable (FlowRecord, inout TextCursor, ByteText, Int) -> Void) {
        self.name = name
        self.type = type
        self.room = room
        self.textRoom = textRoom
        self.value = value
        self.write = write
    }

    /// An RFC 3339 time (typed: nanoseconds since the epoch).
    static func time(_ name: String, _ ns: @escaping @Sendable (FlowRecord) -> Int64) -> FlowColumn {
        FlowColumn(name, .timestampNs, room: TextCursor.rfc3339Room, value: { .timestampNs(ns($0)) }) { f, c, out, d in
            out.rfc3339(ns: ns(f), digits: d, &c)
        }
    }

    /// A signed integer.
    static func int(_ name: String, _ v: @escaping @Sendable (FlowRecord) -> Int64) -> FlowColumn {
        FlowColumn(name, .int64, room: TextCursor.int64Room, value: { .int(v($0)) }) { f, c, out, _ in
            out.decimal(v(f), &c)
        }
    }

    /// An unsigned integer, empty when nil.
    static func uint(_ name: String, room: Int = 20, _ v: @escaping @Sendable (FlowRecord) -> UInt64?) -> FlowColumn {
        FlowColumn(name, .uint64, room: room, value: { v($0).map { .uint($0) } ?? .null }) { f, c, _, _ in
            if let x = v(f) { c.decimal(x) }
        }
    }

    /// A fixed word (no quoting needed), empty when nil.
    static func word(_ name: String, room: Int, _ v: @escaping @Sendable (FlowRecord) -> StaticString?) -> FlowColumn {
        FlowColumn(name, .text, room: room, value: { v($0).map { .text($0.description) } ?? .null }) { f, c, _, _ in
            if let x = v(f) { c.ascii(x) }
        }
    }

    /// Free text, quoted as RFC 4180 needs, empty when nil.
    static func text(_ name: String, _ v: @escaping @Sendable (FlowRecord) -> String?) -> FlowColumn {
        FlowColumn(name, .text, room: 0, textRoom: { v($0).map(TextCursor.fieldRoom) ?? 0 },
                   value: { v($0).map { .text($0) } ?? .null }) { f, c, _, _ in
            if let x = v(f) { c.field(x) }
        }
    }

    /// A duration in milliseconds with microsecond precision (`40.112`,
    /// truncated toward zero), empty when nil.
    static func milliseconds(_ name: String, _ v: @escaping @Sendable (FlowRecord) -> Int64?) -> FlowColumn {
        FlowColumn(name, .double, room: 24, value: { f in v(f).map { .double(Double($0 / 1000) / 1000) } ?? .null }) { f, c, _, _ in
            guard let ns = v(f) else { return }
            let us = max(0, ns) / 1000
            c.decimal(UInt64(us / 1000))
            c.byte(0x2E)
            let frac = us % 1000
            c.byte(UInt8(0x30 + frac / 100)); c.byte(UInt8(0x30 + frac / 10 % 10)); c.byte(UInt8(0x30 + frac % 10))
        }
    }

    /// An address (dotted quad or RFC 5952).
    static func address(_ name: String, _ v: @escaping @Sendable (FlowRecord) -> IPAddress) -> FlowColumn {
        FlowColumn(name, .text, room: TextCursor.addressRoom, value: { .text(v($0).description) }) { f, c, _, _ in
            c.address(v(f))
        }
    }
}

/// One row per flow, RFC 4180 quoting, `\n` line ends. Column names and
/// order are the contract in DESIGN.md; new columns go at the end.
public enum FlowCSV {
    /// Every column, in order.
    public static let flowColumns: [FlowColumn] = [
        .time("start") { $0.startNs },
        .time("end") { $0.endNs },
        .int("start_ns") { $0.startNs },
        .int("end_ns") { $0.endNs },
        FlowColumn("duration_s", .double, room: TextCursor.secondsRoom,
                   value: { .double(Double($0.durationNs) / 1e9) }) { f, c, _, d in c.seconds(ns: f.durationNs, digits: d) },
        FlowColumn("proto", .text, room: 6, value: { .text($0.proto.name) }) { f, c, _, _ in
            switch f.proto {
            case .tcp: c.ascii("tcp")
            case .udp: c.ascii("udp")
            case .icmp: c.ascii("icmp")
            case .icmpv6: c.ascii("icmpv6")
            default: c.decimal(UInt64(f.proto.rawValue))
            }
        },
        .uint("ip_version", room: 1) { UInt64($0.ipVersion) },
        .uint("vlan", room: 5) { $0.vlan.map { UInt64($0) } },
        .address("client_ip") { $0.clientAddress },
        .uint("client_port", room: 5) { $0.hasServicePort ? UInt64($0.clientPort) : nil },
        .address("server_ip") { $0.serverAddress },
        .uint("server_port", room: 5) { $0.hasServicePort ? UInt64($0.serverPort) : nil },
        .text("service") { $0.service },
        .word("server_port_range", room: 10) { $0.hasServicePort ? rangeName($0.serverPort) : nil },
        .word("client_port_range", room: 10) { $0.hasServicePort ? rangeName($0.clientPort) : nil },
        .word("role_source", room: 15) { roleName($0.roleSource) },
        .word("state", room: 6) { stateName($0.connState) },
        .uint("c2s_packets") { $0.clientToServer.packets },
        .uint("c2s_bytes") { $0.clientToServer.bytes },
        .uint("s2c_packets") { $0.serverToClient.packets },
        .uint("s2c_bytes") { $0.serverToClient.bytes },
        .uint("c2s_payload_bytes") { $0.clientToServer.payloadBytes },
        .uint("s2c_payload_bytes") { $0.serverToClient.payloadBytes },
        .word("end_reason", room: 8) { reasonName($0.endReason) },
        FlowColumn("history", .text, room: 24, value: { f in
            let h = f.history
            return h.isEmpty ? .null : .text(h)
        }) { f, c, _, _ in
            let history = f.tcpHistory.letterBytes(clientDirection: f.clientDirection)
            c.words((history.bytes.0, history.bytes.1, 0), history.count)
        },
        // The app words need no quoting (FlowCSVTests checks).
        .word("app", room: 10) { $0.appProtocol?.staticName },
        .uint("icmp_errors", room: 10) { UInt64($0.icmpErrors) },
        // Health (issue 16): names, latencies, retransmissions, zero windows.
        .text("server_name") { $0.serverName },
        .word("name_source", room: 9) { $0.nameSource.label },
        .milliseconds("server_latency_ms") { $0.serverLatencyNs },
        .milliseconds("client_latency_ms") { $0.clientLatencyNs },
        .milliseconds("app_latency_ms") { $0.appLatencyNs },
        .uint("c2s_retransmissions", room: 10) { $0.clientRetransmissions },
        .uint("s2c_retransmissions", room: 10) { $0.serverRetransmissions },
        .uint("c2s_zero_windows", room: 5) { $0.clientZeroWindows },
        .uint("s2c_zero_windows", room: 5) { $0.serverZeroWindows },
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
