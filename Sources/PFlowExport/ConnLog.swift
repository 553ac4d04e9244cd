import PFlowCore

/// Zeek's two forms of a log: its TSV ("ASCII writer") with header lines,
/// or one JSON object per line (`LogAscii::use_json=T`), no header.
public enum ConnLogFormat: String, Sendable, CaseIterable {
    case tsv
    case json
}

public struct ConnLogOptions: Sendable {
    public var format: ConnLogFormat
    /// Zeek 6+ appends `ip_proto` (count, the IP header's protocol). Off by
    /// default: the classic field list, which every Zeek reader knows.
    public var includeIPProto: Bool
    /// corelight's community-id package appends `community_id`; set a
    /// Community ID (seed) to add it.
    public var communityID: CommunityID?

    public init(format: ConnLogFormat = .tsv, includeIPProto: Bool = false, communityID: CommunityID? = nil) {
        self.format = format
        self.includeIPProto = includeIPProto
        self.communityID = communityID
    }
}

/// Zeek's conn.log schema.
public enum ConnLog {
    /// Zeek's classic conn fields (name, Zeek type) in log order.
    public static let classicFields: [(name: String, type: String)] = [
        ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
        ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"),
        ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"), ("conn_state", "string"),
        ("local_orig", "bool"), ("local_resp", "bool"), ("missed_bytes", "count"), ("history", "string"),
        ("orig_pkts", "count"), ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
        ("tunnel_parents", "set[string]"),
    ]
}

/// Writes Zeek's conn.log from flows, byte for byte as Zeek's ASCII writer
/// lays it out (zeek/src/logging/writers/ascii/Ascii.cc, threading/
/// formatters/Ascii.cc and JSON.cc), with Zeek's classic conn fields
/// (base/protocols/conn/main.zeek):
///
/// ```
/// #separator \x09
/// #set_separator	,
/// #empty_field	(empty)
/// #unset_field	-
/// #path	conn
/// #open	2019-06-07-14-30-44
/// #fields	ts	uid	id.orig_h	id.orig_p	id.resp_h	id.resp_p	proto	service	duration	…
/// #types	time	string	addr	port	addr	port	enum	string	interval	…
/// 1258531221.486539	C…	192.168.1.102	68	192.168.1.1	67	udp	-	0.163820	301	300	SF	…
/// #close	2019-06-07-14-30-44
/// ```
///
/// As Zeek does: `duration`, `orig_bytes` and `resp_bytes` are unset for a
/// flow of zero duration; optional fields with no value are `-`
/// (`service` when nothing was recognised, `local_orig`/`local_resp`
/// without local networks, `tunnel_parents` when not tunnelled). Unlike
/// Zeek, `#open`/`#close` come from the caller (packet time, UTC), so a
/// capture gives the same file every run.
///
/// Rows are built in one reused buffer and handed to the sink in chunks.
public struct ConnLogWriter<Sink: ByteSink> {
    public private(set) var output: Sink
    public let options: ConnLogOptions
    var buffer: ExportBuffer
    var closed = false
    static var flushThreshold: Int { 1 << 16 }

    /// Starts the log; the TSV header is written with the first flush.
    public init(output: Sink, openNs: Int64, options: ConnLogOptions = ConnLogOptions()) {
        self.output = output
        self.options = options
        buffer = ExportBuffer(capacity: Self.flushThreshold + 4096)
        if options.format == .tsv { writeHeader(openNs: openNs) }
    }

    public mutating func write(_ f: ExportFlow) throws {
        precondition(!closed, "ConnLogWriter.write after close")
        switch options.format {
        case .tsv: tsvRow(f)
        case .json: jsonRow(f)
        }
        if buffer.count >= Self.flushThreshold { try flush() }
    }

    /// Writes `#close` (TSV) and everything buffered.
    public mutating func close(closeNs: Int64) throws {
        guard !closed else { return }
        closed = true
        if options.format == .tsv {
            buffer.append("#close\t")
            Self.appendLogTime(closeNs, to: &buffer)
            buffer.append(0x0A)
        }
        try flush()
    }

    /// Hands the buffered bytes to the sink.
    public mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll() }
        try buffer.withUnsafeBytes { try output.write($0) }
    }

    // MARK: fields

    /// (name, Zeek type) in log order.
    public var fields: [(name: String, type: String)] {
        var f = ConnLog.classicFields
        if options.includeIPProto { f.append(("ip_proto", "count")) }
        if options.communityID != nil { f.append(("community_id", "string")) }
        return f
    }

    mutating func writeHeader(openNs: Int64) {
        // Ascii::WriteHeader: "#separator " then the separator escaped,
        // the other lines "#key" TAB value.
        buffer.append("#separator \\x09\n")
        buffer.append("#set_separator\t,\n")
        buffer.append("#empty_field\t(empty)\n")
        buffer.append("#unset_field\t-\n")
        buffer.append("#path\tconn\n")
        buffer.append("#open\t")
        Self.appendLogTime(openNs, to: &buffer)
        buffer.append("\n#fields")
        for field in fields { buffer.append(0x09); buffer.append(utf8: field.name) }
        buffer.append("\n#types")
        for field in fields { buffer.append(0x09); buffer.append(utf8: field.type) }
        buffer.append(0x0A)
    }

    // MARK: values shared by both forms

    /// Zeek's transport_proto enum: ICMPv6 is `icmp` too.
    static func protoName(_ p: IPProtocol) -> StaticString {
        switch p {
        case .tcp: return "tcp"
        case .udp: return "udp"
        case .icmp, .icmpv6: return "icmp"
        default: return "unknown_transport"
        }
    }

    /// Zeek's ports: for ICMP the type and the counterpart type (or code),
    /// as Zeek's ICMP analyzer makes the connection id.
    static func ports(_ f: ExportFlow) -> (UInt16, UInt16) {
        if f.isICMP {
            guard let type = f.icmpType else { return (0, 0) }
            let p = CommunityID.icmpPorts(type: type, code: f.icmpCode ?? 0, v6: f.proto == .icmpv6)
            return (p.source, p.destination)
        }
        return (f.clientPort, f.serverPort)
    }

    /// `service` in Zeek's analyzer names, from the protocol recognised in
    /// the traffic: TLS is `ssl`; nothing recognised (or pflow's unsure
    /// `smtp/ftp`) is unset.
    static func service(_ f: ExportFlow) -> String? {
        guard let app = f.app, !app.isEmpty else { return nil }
        switch app {
        case "tls", "https", "ssl": return "ssl"
        case "smtp/ftp": return nil
        default: return app
        }
    }

    /// Zeek only sets duration and the payload byte counts when the
    /// duration is positive (Conn::set_conn).
    static func hasDuration(_ f: ExportFlow) -> Bool { f.endNs > f.startNs }

    // MARK: TSV

    mutating func tsvRow(_ f: ExportFlow) {
        buffer.appendSeconds6(nanoseconds: f.startNs)
        tab(); FlowUID.append(f.uid, to: &buffer)
        let (op, rp) = Self.ports(f)
        tab(); buffer.appendAddress(f.clientAddress)
        tab(); buffer.appendDecimal(UInt64(op))
        tab(); buffer.appendAddress(f.serverAddress)
        tab(); buffer.appendDecimal(UInt64(rp))
        tab(); buffer.append(Self.protoName(f.proto))
        tab(); tsvString(Self.service(f))
        if Self.hasDuration(f) {
            tab(); buffer.appendSeconds6(nanoseconds: f.endNs - f.startNs)
            tab(); buffer.appendDecimal(f.clientToServer.payloadBytes)
            tab(); buffer.appendDecimal(f.serverToClient.payloadBytes)
        } else {
            tab(); unset(); tab(); unset(); tab(); unset()
        }
        tab(); tsvString(f.connState.isEmpty ? nil : f.connState)
        tab(); tsvBool(f.localOrig)
        tab(); tsvBool(f.localResp)
        tab(); buffer.appendDecimal(f.missedBytes)
        tab(); tsvHistory(f)
        tab(); buffer.appendDecimal(f.clientToServer.packets)
        tab(); buffer.appendDecimal(f.clientToServer.ipBytes)
        tab(); buffer.appendDecimal(f.serverToClient.packets)
        tab(); buffer.appendDecimal(f.serverToClient.ipBytes)
        tab()
        if f.tunnelParents.isEmpty {
            unset()
        } else {
            for (i, parent) in f.tunnelParents.enumerated() {
                if i > 0 { buffer.append(0x2C) }
                escapeTSV(parent, inSet: true)
            }
        }
        if options.includeIPProto { tab(); buffer.appendDecimal(UInt64(f.proto.rawValue)) }
        if let cid = options.communityID {
            tab()
            let start = buffer.count
            cid.append(f, to: &buffer)
            if buffer.count == start { buffer.append("(empty)") }
        }
        buffer.append(0x0A)
    }

    @inline(__always) mutating func tab() { buffer.append(0x09) }
    @inline(__always) mutating func unset() { buffer.append(0x2D) }

    mutating func tsvString(_ s: String?) {
        guard let s else { return unset() }
        escapeTSV(s, inSet: false)
    }

    mutating func tsvBool(_ b: Bool?) {
        guard let b else { return unset() }
        buffer.append(b ? 0x54 : 0x46)  // T / F
    }

    mutating func tsvHistory(_ f: ExportFlow) {
        if f.history.isEmpty && !f.rolesFlipped { return unset() }
        if f.rolesFlipped { buffer.append(0x5E) }  // "^": Zeek flipped the direction
        escapeTSV(f.history, inSet: false, allowReserved: f.rolesFlipped)
    }

    /// A string as Zeek's ASCII formatter writes it: empty is `(empty)`; a
    /// value that is exactly `-` or `(empty)` gets its first byte escaped so
    /// it can't be read as unset/empty; otherwise bytes pass through except
    /// `\`, the separator (TAB), the set separator inside sets, and
    /// non-printable ASCII, which become `\xNN` (ODesc::AddBytes with
    /// escaping on; valid UTF-8 passes, LogAscii::enable_utf_8 = T).
    mutating func escapeTSV(_ s: String, inSet: Bool, allowReserved: Bool = false) {
        var s = s
        s.withUTF8 { bytes in
            if bytes.isEmpty {
                if !allowReserved { buffer.append("(empty)") }
                return
            }
            var from = 0
            if !allowReserved && (bytes.elementsEqual("-".utf8) || bytes.elementsEqual("(empty)".utf8)) {
                escapeByte(bytes[0])
                from = 1
            }
            for i in from..<bytes.count {
                let b = bytes[i]
                if b < 0x20 || b == 0x7F || b == 0x5C || (inSet && b == 0x2C) {
                    escapeByte(b)
                } else {
                    buffer.append(b)
                }
            }
        }
    }

    mutating func escapeByte(_ b: UInt8) {
        buffer.append(0x5C); buffer.append(0x78)  // \x
        buffer.append(hexDigit(b >> 4)); buffer.append(hexDigit(b & 0xF))
    }

    // MARK: JSON

    mutating func jsonRow(_ f: ExportFlow) {
        // JSON::Describe: fields in log order, unset ones left out.
        buffer.append("{\"ts\":")
        jsonSeconds(f.startNs)
        buffer.append(",\"uid\":\"")
        FlowUID.append(f.uid, to: &buffer)
        let (op, rp) = Self.ports(f)
        buffer.append("\",\"id.orig_h\":\"")
        buffer.appendAddress(f.clientAddress)
        buffer.append("\",\"id.orig_p\":")
        buffer.appendDecimal(UInt64(op))
        buffer.append(",\"id.resp_h\":\"")
        buffer.appendAddress(f.serverAddress)
        buffer.append("\",\"id.resp_p\":")
        buffer.appendDecimal(UInt64(rp))
        buffer.append(",\"proto\":\"")
        buffer.append(Self.protoName(f.proto))
        buffer.append(0x22)
        if let service = Self.service(f) {
            buffer.append(",\"service\":")
            jsonString(service)
        }
        if Self.hasDuration(f) {
            buffer.append(",\"duration\":")
            jsonSeconds(f.endNs - f.startNs)
            buffer.append(",\"orig_bytes\":")
            buffer.appendDecimal(f.clientToServer.payloadBytes)
            buffer.append(",\"resp_bytes\":")
            buffer.appendDecimal(f.serverToClient.payloadBytes)
        }
        if !f.connState.isEmpty {
            buffer.append(",\"conn_state\":")
            jsonString(f.connState)
        }
        if let b = f.localOrig { buffer.append(",\"local_orig\":"); buffer.append(b ? "true" : "false") }
        if let b = f.localResp { buffer.append(",\"local_resp\":"); buffer.append(b ? "true" : "false") }
        buffer.append(",\"missed_bytes\":")
        buffer.appendDecimal(f.missedBytes)
        if !f.history.isEmpty || f.rolesFlipped {
            buffer.append(",\"history\":")
            jsonString(f.history, prefix: f.rolesFlipped ? 0x5E : nil)
        }
        buffer.append(",\"orig_pkts\":")
        buffer.appendDecimal(f.clientToServer.packets)
        buffer.append(",\"orig_ip_bytes\":")
        buffer.appendDecimal(f.clientToServer.ipBytes)
        buffer.append(",\"resp_pkts\":")
        buffer.appendDecimal(f.serverToClient.packets)
        buffer.append(",\"resp_ip_bytes\":")
        buffer.appendDecimal(f.serverToClient.ipBytes)
        if !f.tunnelParents.isEmpty {
            buffer.append(",\"tunnel_parents\":[")
            for (i, parent) in f.tunnelParents.enumerated() {
                if i > 0 { buffer.append(0x2C) }
                jsonString(parent)
            }
            buffer.append(0x5D)
        }
        if options.includeIPProto {
            buffer.append(",\"ip_proto\":")
            buffer.appendDecimal(UInt64(f.proto.rawValue))
        }
        if let cid = options.communityID {
            let mark = buffer.count
            buffer.append(",\"community_id\":\"")
            let start = buffer.count
            cid.append(f, to: &buffer)
            if buffer.count == start { buffer.truncate(to: mark) } else { buffer.append(0x22) }
        }
        buffer.append("}\n")
    }

    /// A time or interval as Zeek's JSON writes a double (rapidjson's
    /// shortest round-trip form): microseconds, trailing zeros dropped,
    /// at least one decimal (`1258531221.486539`, `0.16382`, `2.0`).
    /// Shortest because below 2^33 s, doubles are closer than 1 µs apart.
    mutating func jsonSeconds(_ ns: Int64) {
        let start = buffer.count
        buffer.appendSeconds6(nanoseconds: ns)
        var end = buffer.count
        while end - start > 1, buffer.bytes[end - 1] == 0x30, buffer.bytes[end - 2] != 0x2E { end -= 1 }
        buffer.truncate(to: end)
    }

    /// A JSON string as rapidjson writes it: `"` and `\` escaped, control
    /// characters as \b \f \n \r \t or \u00XX (upper-case hex).
    mutating func jsonString(_ s: String, prefix: UInt8? = nil) {
        buffer.append(0x22)
        if let prefix { buffer.append(prefix) }
        var s = s
        s.withUTF8 { bytes in
            for b in bytes {
                switch b {
                case 0x22: buffer.append("\\\"")
                case 0x5C: buffer.append("\\\\")
                case 0x08: buffer.append("\\b")
                case 0x0C: buffer.append("\\f")
                case 0x0A: buffer.append("\\n")
                case 0x0D: buffer.append("\\r")
                case 0x09: buffer.append("\\t")
                case 0..<0x20:
                    buffer.append("\\u00")
                    buffer.append(b >> 4 == 0 ? 0x30 : 0x31)
                    let low = b & 0xF
                    buffer.append(low < 10 ? 0x30 + low : 0x41 + low - 10)
                default: buffer.append(b)
                }
            }
        }
        buffer.append(0x22)
    }

    // MARK: time

    /// `YYYY-MM-DD-HH-MM-SS` (Ascii::Timestamp's "%Y-%m-%d-%H-%M-%S"), UTC.
    static func appendLogTime(_ ns: Int64, to out: inout ExportBuffer) {
        let seconds = floorDiv(ns, 1_000_000_000)
        let days = floorDiv(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = civilDate(daysSinceEpoch: days)
        if y < 0 { out.append(0x2D) }
        out.appendPadded(UInt64(y.magnitude), width: 4)
        out.append(0x2D); out.appendPadded(UInt64(m), width: 2)
        out.append(0x2D); out.appendPadded(UInt64(d), width: 2)
        out.append(0x2D); out.appendPadded(UInt64(secondOfDay / 3600), width: 2)
        out.append(0x2D); out.appendPadded(UInt64(secondOfDay / 60 % 60), width: 2)
        out.append(0x2D); out.appendPadded(UInt64(secondOfDay % 60), width: 2)
    }
}

/// The proleptic Gregorian date of a day count from 1970-01-01: shift to
/// years starting in March (so the leap day is last), split into 400-year
/// eras of 146,097 days, then year of era, day of year, month.
func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = daysSinceEpoch + 719_468            // days since 0000-03-01
    let era = floorDiv(z, 146_097)
    let dayOfEra = z - era * 146_097                                     // 0...146096
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365  // 0...399
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)              // 0...365
    let monthFromMarch = (5 * dayOfYear + 2) / 153                       // 0...11
    let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
    let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (year, month, day)
}
