import PFlowCore
import PFlowEngine
import PFlowExport
import PFlowFlows
#if canImport(Glibc)
import Glibc
#endif

// The flows in other tools' formats (issue 15): NDJSON, Zeek's conn.log and
// IPFIX, each one `FlowExporter` over PFlowExport's encoders.

/// `--ndjson`: one JSON object per flow, as it ends, with the CSV's columns
/// as keys in the CSV's order. Numbers are the CSV's cells written as JSON
/// numbers (the same digits), text is a JSON string, an empty cell is
/// `null`; so a line holds exactly what its CSV row holds.
public final class NDJSONExporter: FlowExporter {
    let sink: OutputSink
    let name: String
    /// As `CSVExporter.digits` (read per line, without the runtime's check).
    @exclusivity(unchecked) public var digits = 6

    public init(sink: OutputSink, name: String) {
        self.sink = sink
        self.name = name
    }

    public func export(_ flow: FlowRecord) {
        sink.withText { out in NDJSONExporter.append(flow, digits: digits, to: out) }
    }

    /// Every column's key, `"name":` (after a comma from the second on),
    /// each after its length byte: made once, copied as bytes per row.
    static let keyText: [UInt8] = FlowCSV.flowColumns.enumerated().flatMap { i, column -> [UInt8] in
        let key = Array(((i > 0 ? "," : "") + JSONWriter.escape(column.name) + ":").utf8)
        return [UInt8(key.count)] + key
    }
    /// Room for a line besides its free text: the keys, each cell's CSV
    /// bound and two quotes (or `null`), the braces and the line end.
    static let fixedRoom = keyText.count + FlowCSV.flowColumns.reduce(0) { $0 + max($1.room + 2, 4) } + 3

    /// One line for `f`, written like a CSV row: room made once, then a
    /// cursor writes every cell. A number is its CSV cell (the same digits),
    /// a fixed word, address, time or id is its CSV cell in quotes (none
    /// holds anything JSON escapes), an empty cell is `null`; the free text
    /// (service, port and server names) is JSON-escaped from the String.
    static func append(_ f: FlowRecord, digits: Int, to out: ByteText) {
        var room = fixedRoom
        if let s = f.service { room += TextCursor.jsonRoom(s) }
        if let s = f.portName { room += TextCursor.jsonRoom(s) }
        if let s = f.serverName { room += TextCursor.jsonRoom(s) }
        out.reserve(room)
        var c = out.cursor()
        let start = c.p
        c.byte(0x7B)  // {
        keyText.withUnsafeBufferPointer { keys in
            var k = 0
            for column in FlowCSV.flowColumns {
                let n = Int(keys[k])
                c.bytes(UnsafeBufferPointer(rebasing: keys[(k + 1)..<(k + 1 + n)]))
                k += 1 + n
                switch column {
                case .service: c.json(f.service)
                case .portName: c.json(f.portName)
                case .serverName: c.json(f.serverName)
                default:
                    switch column.type {
                    case .int64, .uint64, .double:
                        let before = c.p
                        column.write(f, &c, out, digits: digits)
                        if c.p == before { c.null() }
                    case .timestampNs, .text:
                        let open = c.p
                        c.byte(0x22)
                        column.write(f, &c, out, digits: digits)
                        if c.p == open + 1 { c.p = open; c.null() } else { c.byte(0x22) }
                    }
                }
            }
        }
        c.byte(0x7D)  // }
        c.byte(0x0A)
        assert(c.p - start <= room, "an NDJSON line overran its room")
        out.commit(c)
    }

    public func flush() { sink.flush() }

    public func finish(_ summary: CaptureSummary) throws(ExportError) {
        sink.flush()
        if sink.failed { throw ExportError.writing(name, errno: sink.failure) }
    }
}

extension ByteText {
    /// Appends `column`'s CSV cell of `f` (numbers and times need no quoting).
    func cell(_ column: FlowColumn, _ f: FlowRecord, digits: Int) {
        reserve(column.room + column.textRoom(f))
        var c = cursor()
        column.write(f, &c, self, digits: digits)
        commit(c)
    }
}

/// A PFlowExport sink over an `OutputSink`'s descriptor would need two
/// buffers; this one writes through `FileSink` and remembers the first
/// failure, so the exporters can drop later output and report it once.
final class CheckedSink: ByteSink {
    let file: FileSink
    var failure: Int32 = 0
    init(_ file: FileSink) { self.file = file }
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard failure == 0 else { return }
        do { try file.write(bytes) } catch { failure = (error as? ExportIOError)?.code ?? EIO }
    }
}

/// Opens `path` for an exporter (`-`: standard output).
func exportSink(_ path: String) throws(ExportError) -> CheckedSink {
    if path == "-" { return CheckedSink(FileSink(fileDescriptor: 1, name: "standard output")) }
    do { return CheckedSink(try FileSink(path: path)) } catch { throw ExportError("\(path): \(errnoText(error.code))") }
}

/// `--conn-log`: Zeek's conn.log (TSV with its header lines, or Zeek's
/// JSON), through `ConnLogWriter`. `#open` is the start of the first flow
/// written (packet time; with no flows, the capture's first packet), and
/// `#close` the capture's last packet, so a capture gives the same file
/// every run. Zeek's `community_id` field follows the classic ones.
public final class ConnLogExporter: FlowExporter {
    let sink: CheckedSink
    let name: String
    let options: ConnLogOptions
    var writer: ConnLogWriter<CheckedSink>?

    public init(path: String, format: ConnLogFormat) throws(ExportError) {
        sink = try exportSink(path)
        name = path == "-" ? "standard output" : path
        options = ConnLogOptions(format: format, communityID: CommunityID())
    }

    func open(_ ns: Int64) -> ConnLogWriter<CheckedSink> {
        if let writer { return writer }
        return ConnLogWriter(output: sink, openNs: ns, options: options)
    }

    public func export(_ flow: FlowRecord) {
        var w = open(flow.startNs)
        writer = nil  // one reference to the writer's buffer while it is written
        try? w.write(flow.exportFlow)
        writer = w
    }

    public func flush() {
        guard var w = writer else { return }
        writer = nil
        try? w.flush()
        writer = w
    }

    public func finish(_ summary: CaptureSummary) throws(ExportError) {
        var w = open(summary.firstNs ?? 0)
        writer = nil
        try? w.close(closeNs: summary.lastNs ?? summary.firstNs ?? 0)
        if sink.failure != 0 { throw ExportError.writing(name, errno: sink.failure) }
    }
}

/// `--ipfix` and `--ipfix-file`: IPFIX over UDP to a collector and/or an
/// RFC 5655 file. A collector that can't be reached or refuses (ICMP port
/// unreachable comes back as ECONNREFUSED) gets one warning when it first
/// happens; the analysis goes on, and `finish` reports the failure, after
/// the report (`ExportError.afterReport`), so the exit status says so.
public final class IPFIXFlowExporter: FlowExporter {
    let udp: IPFIXExporter?
    let endpointText: String
    /// Why the collector couldn't even be set up (warned at once).
    let setupFailure: String?
    let file: IPFIXFileWriter<CheckedSink>?
    let fileSink: CheckedSink?
    let filePath: String?
    let warn: (String) -> Void
    var warned = false

    /// 200,000 messages/s in bursts of 256 (360 KB, well inside a 4 MB
    /// socket buffer): measured, a local nfcapd (-B 4194304) received all
    /// 87,243 flows of the 1M-packet bench capture with 0 sequence errors
    /// in every run; the library's 40,000/s default made the pacing alone
    /// cost 0.13 s there (5,141 messages), a third of the whole run.
    static let pacing = IPFIXPacing(messagesPerSecond: 200_000, burst: 256)

    public init(collector: IPFIXEndpoint?, file path: String?, options: IPFIXOptions,
                warn: @escaping (String) -> Void) throws(ExportError) {
        self.warn = warn
        endpointText = collector.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" } ?? ""
        var failure: String? = nil
        var udp: IPFIXExporter? = nil
        if let collector {
            do { udp = try IPFIXExporter(endpoint: collector, options: options, pacing: Self.pacing) } catch {
                failure = error.description
            }
        }
        self.udp = udp
        setupFailure = failure
        if let path {
            let sink = try exportSink(path)
            fileSink = sink
            file = IPFIXFileWriter(output: sink, options: options)
        } else {
            fileSink = nil
            file = nil
        }
        filePath = path
        if let failure {
            warned = true
            warn("\(failure); going on without it")
        }
    }

    public func export(_ flow: FlowRecord) {
        let f = flow.ipfixExportFlow
        if let udp {
            udp.export(f)
            if !warned, udp.errors > 0 { warnSend(udp) }
        }
        if let file { try? file.write(f) }
    }

    func warnSend(_ udp: IPFIXExporter) {
        warned = true
        warn("IPFIX collector \(endpointText): \(udp.firstError?.description ?? "send failed"); "
             + "the analysis goes on, the export is incomplete")
    }

    /// Live: pushes out a message whose first record is a second old.
    public func flush() {
        if let udp {
            udp.tick()
            if !warned, udp.errors > 0 { warnSend(udp) }
        }
    }

    public func finish(_ summary: CaptureSummary) throws(ExportError) {
        var problems: [String] = []
        if let setupFailure { problems.append(setupFailure) }
        if let udp {
            udp.close()
            udp.collectLateError()
            if !warned, udp.errors > 0 { warnSend(udp) }
            if udp.errors > 0 {
                problems.append("IPFIX export to \(endpointText) failed "
                                + "(\(udp.firstError?.description ?? "send failed")): "
                                + "\(udp.errors) send errors, \(udp.messagesSent) messages handed to the network")
            }
        }
        if let file, let fileSink, let filePath {
            try? file.close()
            if fileSink.failure != 0 { problems.append("\(filePath): \(errnoText(fileSink.failure))") }
        }
        guard !problems.isEmpty else { return }
        var e = ExportError(problems.joined(separator: "; "))
        e.afterReport = true
        throw e
    }
}
