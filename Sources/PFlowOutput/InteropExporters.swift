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
    public var digits = 6
    let columns = FlowCSV.flowColumns
    /// `"name":` per column, made once.
    let keys: [String]

    public init(sink: OutputSink, name: String) {
        self.sink = sink
        self.name = name
        keys = FlowCSV.flowColumns.map { JSONWriter.escape($0.name) + ":" }
    }

    public func export(_ flow: FlowRecord) {
        sink.withText { out in NDJSONExporter.append(flow, digits: digits, columns: columns, keys: keys, to: out) }
    }

    /// One line for `f`.
    static func append(_ f: FlowRecord, digits: Int, columns: [FlowColumn], keys: [String], to out: ByteText) {
        out.byte(0x7B)  // {
        for (i, column) in columns.enumerated() {
            if i > 0 { out.byte(0x2C) }
            out.text(keys[i])
            switch column.type {
            case .int64, .uint64, .double:
                // The CSV's own digits; an empty cell is null.
                let before = out.count
                out.cell(column, f, digits: digits)
                if out.count == before { out.ascii("null") }
            case .timestampNs, .text:
                switch column.value(f) {
                case .null: out.ascii("null")
                case .timestampNs:
                    out.byte(0x22); out.cell(column, f, digits: digits); out.byte(0x22)
                case .word(let w):
                    // Fixed names (letters, digits, `-`, `/`): nothing to escape.
                    out.byte(0x22); out.ascii(w); out.byte(0x22)
                case .address(let a):
                    out.byte(0x22); out.address(a); out.byte(0x22)
                case .text(let s): out.text(JSONWriter.escape(s))
                case .int(let v): out.decimal(v)
                case .uint(let v): out.decimal(v)
                case .double(let v): out.text(String(v))
                }
            }
        }
        out.byte(0x7D)  // }
        out.byte(0x0A)
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
