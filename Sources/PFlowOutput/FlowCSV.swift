import PFlowCore
import PFlowEngine
import PFlowExport
import PFlowFlows
import PFlowWire

/// A flow column's value, typed, for outputs that keep types (NDJSON,
/// Parquet); the CSV writes the same value as text.
public enum FlowValue: Equatable, Sendable, CustomStringConvertible {
    case null
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case timestampNs(Int64)
    case text(String)
    /// Text that needs no String: a fixed word, an address.
    case word(StaticString)
    case address(IPAddress)

    public static func == (a: FlowValue, b: FlowValue) -> Bool { a.description == b.description }

    /// The value as text (what the CSV cell holds, unquoted; empty for null).
    public var description: String {
        switch self {
        case .null: return ""
        case .int(let v), .timestampNs(let v): return String(v)
        case .uint(let v): return String(v)
        case .double(let v): return String(v)
        case .text(let s): return s
        case .word(let w): return w.description
        case .address(let a): return a.description
        }
    }
}

/// What kind of values a column holds (every column may be empty).
public enum FlowColumnType: Sendable {
    case timestampNs, int64, uint64, double, text
}

/// The flow columns, in order: the CSV's, and every output that shares
/// them (NDJSON, Parquet). A new column is one new case here; the compiler
/// then asks for its type, its room, its CSV writer and its typed value in
/// the switches below (all in this type), and one line in `FlowCSV.append`'s
/// straight-line row (FlowCSVTests fails until it is there). Exhaustive switches rather than a
/// list of closures: a row then costs no indirect call and no retain per
/// cell (closures cost ~1,500 instructions a row, callgrind).
public enum FlowColumn: String, CaseIterable, Sendable {
    case start, end
    case startNs = "start_ns", endNs = "end_ns", durationS = "duration_s"
    case proto
    case ipVersion = "ip_version", vlan
    case clientIP = "client_ip", clientPort = "client_port", serverIP = "server_ip", serverPort = "server_port"
    case service
    case serverPortRange = "server_port_range", clientPortRange = "client_port_range"
    case roleSource = "role_source", state
    case c2sPackets = "c2s_packets", c2sBytes = "c2s_bytes", s2cPackets = "s2c_packets", s2cBytes = "s2c_bytes"
    case c2sPayloadBytes = "c2s_payload_bytes", s2cPayloadBytes = "s2c_payload_bytes"
    case endReason = "end_reason", history, app
    case icmpErrors = "icmp_errors"
    /// The registry's name of the server port (`service` names what it is).
    case portName = "port_name"
    case uid, communityID = "community_id", c2sIPBytes = "c2s_ip_bytes", s2cIPBytes = "s2c_ip_bytes"
    // Health (issue 16): names, latencies, retransmissions, zero windows.
    case serverName = "server_name", nameSource = "name_source"
    case serverLatencyMs = "server_latency_ms", clientLatencyMs = "client_latency_ms", appLatencyMs = "app_latency_ms"
    case c2sRetransmissions = "c2s_retransmissions", s2cRetransmissions = "s2c_retransmissions"
    case c2sZeroWindows = "c2s_zero_windows", s2cZeroWindows = "s2c_zero_windows"

    public var name: String { rawValue }

    public var type: FlowColumnType {
        switch self {
        case .start, .end: return .timestampNs
        case .startNs, .endNs: return .int64
        case .durationS: return .double
        case .ipVersion, .vlan, .clientPort, .serverPort, .c2sPackets, .c2sBytes, .s2cPackets, .s2cBytes,
             .c2sPayloadBytes, .s2cPayloadBytes, .icmpErrors: return .uint64
        case .proto, .clientIP, .serverIP, .service, .serverPortRange, .clientPortRange, .roleSource, .state,
             .endReason, .history, .app, .portName: return .text
        case .uid, .communityID: return .text
        case .c2sIPBytes, .s2cIPBytes: return .uint64
        case .serverName, .nameSource: return .text
        case .serverLatencyMs, .clientLatencyMs, .appLatencyMs: return .double
        case .c2sRetransmissions, .s2cRetransmissions, .c2sZeroWindows, .s2cZeroWindows: return .uint64
        }
    }

    /// Bytes the CSV cell takes at most (quoting included); for free text
    /// (0 here), `textRoom` says what this record's needs.
    var room: Int {
        switch self {
        case .start, .end: return TextCursor.rfc3339Room
        case .startNs, .endNs: return TextCursor.int64Room
        case .durationS: return TextCursor.secondsRoom
        case .proto, .state: return 6
        case .ipVersion: return 1
        case .vlan, .clientPort, .serverPort: return 5
        case .clientIP, .serverIP: return TextCursor.addressRoom
        case .service, .portName: return 0
        case .serverPortRange, .clientPortRange, .app, .icmpErrors: return 10
        case .roleSource: return 15
        case .c2sPackets, .c2sBytes, .s2cPackets, .s2cBytes, .c2sPayloadBytes, .s2cPayloadBytes: return 20
        case .endReason: return 8
        case .history: return 24
        case .uid: return FlowUID.length
        // "1:" and the base64 of a SHA-1 (28 characters), nothing to quote.
        case .communityID: return 30
        case .c2sIPBytes, .s2cIPBytes: return 20
        case .serverName: return 0
        case .nameSource: return 9
        case .serverLatencyMs, .clientLatencyMs, .appLatencyMs: return 24
        case .c2sRetransmissions, .s2cRetransmissions: return 10
        case .c2sZeroWindows, .s2cZeroWindows: return 5
        }
    }

    /// The room a free-text cell needs for `f` (0 for the others).
    @inline(__always)
    func textRoom(_ f: FlowRecord) -> Int {
        switch self {
        case .service: return f.service.map(TextCursor.fieldRoom) ?? 0
        case .portName: return f.portName.map(TextCursor.fieldRoom) ?? 0
        case .serverName: return f.serverName.map(TextCursor.fieldRoom) ?? 0
        default: return 0
        }
    }

    /// Writes the CSV cell of `f` at a cursor with `room + textRoom(f)` bytes of room.
    @inline(__always)
    func write(_ f: FlowRecord, _ c: inout TextCursor, _ out: ByteText, digits d: Int) {
        switch self {
        case .start: out.rfc3339(ns: f.startNs, digits: d, &c)
        case .end: out.rfc3339(ns: f.endNs, digits: d, &c)
        case .startNs: out.decimal(f.startNs, &c)
        case .endNs: out.decimal(f.endNs, &c)
        case .durationS: c.seconds(ns: f.durationNs, digits: d)
        case .proto:
            switch f.proto {
            case .tcp: c.ascii("tcp")
            case .udp: c.ascii("udp")
            case .icmp: c.ascii("icmp")
            case .icmpv6: c.ascii("icmpv6")
            default: c.decimal(UInt64(f.proto.rawValue))
            }
        case .ipVersion: c.decimal(UInt64(f.ipVersion))
        case .vlan: if let v = f.vlan { c.decimal(UInt64(v)) }
        case .clientIP: c.address(f.clientAddress)
        case .clientPort: if f.hasServicePort { c.decimal(UInt64(f.clientPort)) }
        case .serverIP: c.address(f.serverAddress)
        case .serverPort: if f.hasServicePort { c.decimal(UInt64(f.serverPort)) }
        case .service: if let service = f.service { c.field(service) }
        case .serverPortRange: if f.hasServicePort { c.ascii(FlowCSV.rangeName(f.serverPort)) }
        case .clientPortRange: if f.hasServicePort { c.ascii(FlowCSV.rangeName(f.clientPort)) }
        case .roleSource: c.ascii(FlowCSV.roleName(f.roleSource))
        case .state: c.ascii(FlowCSV.stateName(f.connState))
        case .c2sPackets: c.decimal(f.clientToServer.packets)
        case .c2sBytes: c.decimal(f.clientToServer.bytes)
        case .s2cPackets: c.decimal(f.serverToClient.packets)
        case .s2cBytes: c.decimal(f.serverToClient.bytes)
        case .c2sPayloadBytes: c.decimal(f.clientToServer.payloadBytes)
        case .s2cPayloadBytes: c.decimal(f.serverToClient.payloadBytes)
        case .endReason: c.ascii(FlowCSV.reasonName(f.endReason))
        case .history:
            let history = f.tcpHistory.letterBytes(clientDirection: f.clientDirection)
            c.words((history.bytes.0, history.bytes.1, 0), history.count)
        // The app words need no quoting (FlowCSVTests checks).
        case .app: if let app = f.appProtocol { c.ascii(app.staticName) }
        case .icmpErrors: c.decimal(UInt64(f.icmpErrors))
        case .portName: if let name = f.portName { c.field(name) }
        case .uid: FlowCSV.writeUID(f.uid, &c)
        case .communityID:
            f.withCommunityID { id in c.bytes(id.bindMemory(to: UInt8.self)) }
        case .c2sIPBytes: c.decimal(f.clientToServer.ipBytes)
        case .s2cIPBytes: c.decimal(f.serverToClient.ipBytes)
        case .serverName: if let name = f.serverName { c.field(name) }
        case .nameSource: if let label = f.nameSource.label { c.ascii(label) }
        case .serverLatencyMs: FlowCSV.writeMilliseconds(f.serverLatencyNs, &c)
        case .clientLatencyMs: FlowCSV.writeMilliseconds(f.clientLatencyNs, &c)
        case .appLatencyMs: FlowCSV.writeMilliseconds(f.appLatencyNs, &c)
        case .c2sRetransmissions: if let v = f.clientRetransmissions { c.decimal(v) }
        case .s2cRetransmissions: if let v = f.serverRetransmissions { c.decimal(v) }
        case .c2sZeroWindows: if let v = f.clientZeroWindows { c.decimal(v) }
        case .s2cZeroWindows: if let v = f.serverZeroWindows { c.decimal(v) }
        }
    }

    /// The cell's typed value (null where the CSV cell is empty).
    public func value(_ f: FlowRecord) -> FlowValue {
        switch self {
        case .start: return .timestampNs(f.startNs)
        case .end: return .timestampNs(f.endNs)
        case .startNs: return .int(f.startNs)
        case .endNs: return .int(f.endNs)
        case .durationS: return .double(Double(f.durationNs) / 1e9)
        case .proto: return .text(f.proto.name)
        case .ipVersion: return .uint(UInt64(f.ipVersion))
        case .vlan: return f.vlan.map { .uint(UInt64($0)) } ?? .null
        case .clientIP: return .address(f.clientAddress)
        case .clientPort: return f.hasServicePort ? .uint(UInt64(f.clientPort)) : .null
        case .serverIP: return .address(f.serverAddress)
        case .serverPort: return f.hasServicePort ? .uint(UInt64(f.serverPort)) : .null
        case .service: return f.service.map { .text($0) } ?? .null
        case .serverPortRange: return f.hasServicePort ? .word(FlowCSV.rangeName(f.serverPort)) : .null
        case .clientPortRange: return f.hasServicePort ? .word(FlowCSV.rangeName(f.clientPort)) : .null
        case .roleSource: return .word(FlowCSV.roleName(f.roleSource))
        case .state: return .word(FlowCSV.stateName(f.connState))
        case .c2sPackets: return .uint(f.clientToServer.packets)
        case .c2sBytes: return .uint(f.clientToServer.bytes)
        case .s2cPackets: return .uint(f.serverToClient.packets)
        case .s2cBytes: return .uint(f.serverToClient.bytes)
        case .c2sPayloadBytes: return .uint(f.clientToServer.payloadBytes)
        case .s2cPayloadBytes: return .uint(f.serverToClient.payloadBytes)
        case .endReason: return .word(FlowCSV.reasonName(f.endReason))
        case .history:
            let h = f.history
            return h.isEmpty ? .null : .text(h)
        case .app: return f.appProtocol.map { .word($0.staticName) } ?? .null
        case .icmpErrors: return .uint(UInt64(f.icmpErrors))
        case .portName: return f.portName.map { .text($0) } ?? .null
        case .uid: return .text(f.uidText)
        case .communityID:
            let id = f.communityID
            return id.isEmpty ? .null : .text(id)
        case .c2sIPBytes: return .uint(f.clientToServer.ipBytes)
        case .s2cIPBytes: return .uint(f.serverToClient.ipBytes)
        case .serverName: return f.serverName.map { .text($0) } ?? .null
        case .nameSource: return f.nameSource.label.map { .word($0) } ?? .null
        case .serverLatencyMs: return FlowColumn.milliseconds(f.serverLatencyNs)
        case .clientLatencyMs: return FlowColumn.milliseconds(f.clientLatencyNs)
        case .appLatencyMs: return FlowColumn.milliseconds(f.appLatencyNs)
        case .c2sRetransmissions: return f.clientRetransmissions.map { .uint($0) } ?? .null
        case .s2cRetransmissions: return f.serverRetransmissions.map { .uint($0) } ?? .null
        case .c2sZeroWindows: return f.clientZeroWindows.map { .uint($0) } ?? .null
        case .s2cZeroWindows: return f.serverZeroWindows.map { .uint($0) } ?? .null
        }
    }

    /// A duration in milliseconds, truncated to the microsecond as the CSV
    /// writes it (null when not measured).
    static func milliseconds(_ ns: Int64?) -> FlowValue {
        ns.map { .double(Double(max(0, $0) / 1000) / 1000) } ?? .null
    }
}

/// One row per flow, RFC 4180 quoting, `\n` line ends. Column names and
/// order are the contract in DESIGN.md; new columns go at the end.
public enum FlowCSV {
    /// Every column, in order.
    public static let flowColumns = FlowColumn.allCases
    /// Room for a row besides its free text: every cell's bound, a comma
    /// each and the line end.
    static let fixedRoom = flowColumns.reduce(0) { $0 + $1.room + 1 }
    static let textColumns = flowColumns.filter { $0.room == 0 }

    public static let columns = flowColumns.map(\.name)

    public static var header: String { columns.joined(separator: ",") + "\n" }

    /// The row for `f`; times with `digits` fractional digits.
    public static func row(_ f: FlowRecord, digits: Int) -> String {
        let out = ByteText(capacity: 512)
        append(f, digits: digits, to: out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// Appends the row for `f` to `out`, without building Strings: room for
    /// the whole row is made once, then a cursor writes every field. The
    /// cells are written in a straight line, each `write` on a constant
    /// column so that its switch folds away (a loop over the columns cost
    /// about 500 instructions a row more, callgrind); FlowCSVTests checks
    /// this row against `appendByColumns`, so a new column must be added
    /// here too.
    public static func append(_ f: FlowRecord, digits: Int, to out: ByteText) {
        // The free-text columns (`textColumns`, which FlowCSVTests checks).
        let room = fixedRoom + FlowColumn.service.textRoom(f) + FlowColumn.portName.textRoom(f)
            + FlowColumn.serverName.textRoom(f)
        out.reserve(room)
        var c = out.cursor()
        let start = c.p
        FlowColumn.start.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.end.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.startNs.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.endNs.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.durationS.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.proto.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.ipVersion.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.vlan.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.clientIP.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.clientPort.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.serverIP.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.serverPort.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.service.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.serverPortRange.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.clientPortRange.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.roleSource.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.state.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.c2sPackets.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.c2sBytes.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.s2cPackets.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.s2cBytes.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.c2sPayloadBytes.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.s2cPayloadBytes.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.endReason.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.history.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.app.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.icmpErrors.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.portName.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.uid.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.communityID.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.c2sIPBytes.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.s2cIPBytes.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.serverName.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.nameSource.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.serverLatencyMs.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.clientLatencyMs.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.appLatencyMs.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.c2sRetransmissions.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.s2cRetransmissions.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.c2sZeroWindows.write(f, &c, out, digits: digits); c.byte(0x2C)
        FlowColumn.s2cZeroWindows.write(f, &c, out, digits: digits); c.byte(0x0A)
        assert(c.p - start <= room, "a CSV row overran its room")
        out.commit(c)
    }

    /// The row as the column list writes it, a cell at a time: what
    /// `append` must match.
    static func appendByColumns(_ f: FlowRecord, digits: Int, to out: ByteText) {
        var room = fixedRoom
        for column in textColumns { room += column.textRoom(f) }
        out.reserve(room)
        var c = out.cursor()
        let start = c.p
        var first = true
        for column in flowColumns {
            if !first { c.byte(0x2C) }
            first = false
            column.write(f, &c, out, digits: digits)
        }
        c.byte(0x0A)
        assert(c.p - start <= room, "a CSV row overran its room")
        out.commit(c)
    }

    /// The uid's text form (as `FlowUID` spells it) straight into the row.
    @inline(__always)
    static func writeUID(_ uid: UInt64, _ c: inout TextCursor) {
        // "C" and eleven zeros as two word stores, then only the digits
        // the uid has (a run's uids are small: three or four digits, not
        // eleven divisions).
        let at = UnsafeMutableRawPointer(c.p)
        at.storeBytes(of: UInt64(0x3030_3030_3030_3043).littleEndian, as: UInt64.self)  // "C0000000"
        at.storeBytes(of: UInt32(0x3030_3030).littleEndian, toByteOffset: 8, as: UInt32.self)
        uidDigits.withUTF8Buffer { digits in
            var rest = uid
            var i = FlowUID.length - 1
            while rest > 0 && i > 0 {
                c.p[i] = digits[Int(rest % 62)]
                rest /= 62
                i -= 1
            }
        }
        c.p += FlowUID.length
    }
    static let uidDigits: StaticString = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

    /// A duration in milliseconds with microsecond precision (`40.112`,
    /// truncated toward zero), empty when nil.
    @inline(__always)
    static func writeMilliseconds(_ ns: Int64?, _ c: inout TextCursor) {
        guard let ns else { return }
        // Unsigned (it is never negative here): divisions without sign fix-ups.
        let us = UInt64(max(0, ns)) / 1000
        c.decimal(us / 1000)
        c.byte(0x2E)
        c.digits(us % 1000, 3)
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
