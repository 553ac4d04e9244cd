import CPlatform
import PFlowCore
import PFlowCapture
import PFlowFlows
import PFlowLive
import PFlowEngine
import PFlowOutput
#if canImport(Glibc)
import Glibc
#endif

/// The command: its version, and what it does with the parsed options.
enum PFlowCommand {
    static let version = "0.1.0"
    static var versionText: String { "pflow \(PFlowCommand.version) (\(Libpcap.version))" }

    /// Seconds to nanoseconds, or nil when out of range.
    static func nanoseconds(_ seconds: Double) -> Int64? {
        guard seconds.isFinite, seconds > 0, seconds <= 1e9 else { return nil }
        return Int64(seconds * 1e9)
    }
}

/// Checks the options against each other, then hands off to the library.
extension Options {
    /// Every file output asked for (as given: `-` is standard output).
    var outputPaths: [[UInt8]] {
        var paths: [[UInt8]] = []
        if let csv { paths.append(csvBytes ?? Array(csv.utf8)) }
        if let parquet { paths.append(Array(parquet.utf8)) }
        if let html { paths.append(Array(html.utf8)) }
        return paths
    }

    var expiry: ExpiryPolicy {
        var policy = ExpiryPolicy()
        if let s = idleTimeout, let ns = PFlowCommand.nanoseconds(s) { policy = ExpiryPolicy(idleNs: ns) }
        if let s = activeTimeout { policy.activeNs = PFlowCommand.nanoseconds(s) }
        policy.maxFlows = maxFlows
        return policy
    }

    func validate() throws(Options.UsageError) {
        if let s = idleTimeout, PFlowCommand.nanoseconds(s) == nil {
            throw Options.UsageError("--idle-timeout must be a number of seconds above 0")
        }
        if let s = activeTimeout, PFlowCommand.nanoseconds(s) == nil {
            throw Options.UsageError("--active-timeout must be a number of seconds above 0")
        }
        if listInterfaces { return }
        if let interface {
            if !files.isEmpty { throw Options.UsageError("give capture files or -i \(interface), not both") }
            if let d = duration, PFlowCommand.nanoseconds(d) == nil { throw Options.UsageError("--duration must be a number of seconds above 0") }
            if let n = count, n < 1 { throw Options.UsageError("--count must be 1 or more") }
            if PFlowCommand.nanoseconds(interval) == nil || interval < 0.05 { throw Options.UsageError("--interval must be at least 0.05 seconds") }
            if let n = snaplen, n < 64 || n > 262_144 { throw Options.UsageError("--snaplen must be 64 to 262144") }
            if let n = bufferSize, n < 64 || n > 4_194_304 { throw Options.UsageError("--buffer-size must be 64 to 4194304 KiB") }
        } else {
            let liveOnly = [("--duration", duration != nil), ("--count", count != nil), ("--snaplen", snaplen != nil),
                            ("--no-promisc", noPromisc), ("--buffer-size", bufferSize != nil), ("--interval", interval != 1)]
            if let (name, _) = liveOnly.first(where: { $0.1 }) {
                throw Options.UsageError("\(name) applies to live capture: add -i <interface>")
            }
            if files.isEmpty { throw Options.UsageError("no capture file given (try: pflow capture.pcap, or pflow -i eth0)") }
        }
        if top < 0 { throw Options.UsageError("--top must be 0 or more") }
        if ServiceSort(rawValue: sort) == nil { throw Options.UsageError("--sort must be bytes, packets, flows or clients") }
        if let n = threads, n < 1 || n > 1024 { throw Options.UsageError("--threads must be 1 to 1024") }
        if let n = maxFlows, n < 1 { throw Options.UsageError("--max-flows must be 1 or more") }
        if parquet == "-" { throw Options.UsageError("--parquet needs a file: a Parquet file is written whole, not streamed") }
        if !["gzip", "none"].contains(parquetCompression) {
            throw Options.UsageError("--parquet-compression must be gzip or none")
        }
        if let s = bin, PFlowCommand.nanoseconds(s) == nil || s < 0.000_001 {
            throw Options.UsageError("--bin must be a number of seconds, at least 0.000001")
        }
        if html == "-" { throw Options.UsageError("--html needs a file") }
        if json && csv == "-" { throw Options.UsageError("--json and --csv - both want stdout; give --csv a file") }
        try validateInterop()
        if files.filter({ $0 == "-" }).count > 1 { throw Options.UsageError("standard input (-) can be read only once") }
    }

    func run() throws {
        if listInterfaces {
            do {
                let list = try CaptureInterface.all()
                if list.isEmpty { throw Failure("no interfaces to capture on (capture may need root)") }
                // Interface names and descriptions are shown with controls escaped.
                writeStdout(CaptureInterface.listing(list).map(TableReport.safe).joined(separator: "\n") + "\n")
            } catch let error as LiveError { throw Failure(error.message) }
            return
        }
        // An output that would destroy an input or another capture is
        // refused before any work (the --csv of `pflow --csv *.pcap`).
        let inputs = fileBytes.compactMap { FileIdentity(pathBytes: $0) }
        for bytes in outputPaths where bytes != [0x2D] {
            if let problem = CaptureFile.outputProblem(pathBytes: bytes, inputs: inputs) { throw Failure(problem.message) }
        }
        var registry = ServiceRegistry.standard
        if let path = services {
            let text: String
            do { text = try readTextFile(servicesBytes ?? Array(path.utf8)) } catch { throw Failure(error.message) }
            do { registry = try registry.overriding(withServicesText: text, source: path) } catch { throw Failure(error.message) }
        }
        var recordFilter: ((CaptureRecord) -> Bool)?
        var bpf: BPFFilter?
        if let expression = filter, interface == nil {
            do { bpf = try BPFFilter(expression: expression) } catch { throw Failure(error.message) }
            if let bpf {
                recordFilter = { r in bpf.matches(r.bytes, originalLength: r.originalLength, linkType: r.linkType.rawValue) }
            }
        }
        // Reading files, a big output file is replaced rather than truncated
        // (pflow_open_replacing); live, where the output may be watched as
        // it grows, it is truncated.
        pflow_replace_big_outputs(interface == nil ? 1 : 0)
        // Open the CSV first: an unwritable path should fail before the work.
        var csvSink: OutputSink?
        if let path = csv {
            do {
                csvSink = path == "-" ? OutputSink(fd: 1)
                    : try OutputSink(pathBytes: csvBytes ?? Array(path.utf8), displayName: CaptureFile.displayName(csvBytes ?? Array(path.utf8)))
            } catch { throw Failure(error.message) }
        }
        // Rows stream out as flows end; memory holds only live flows.
        var exporters: [FlowExporter] = []
        let csvExporter = csvSink.map {
            CSVExporter(sink: $0, name: csv == "-" ? "standard output" : CaptureFile.displayName(csvBytes ?? Array((csv ?? "-").utf8)))
        }
        if let csvExporter { exporters.append(csvExporter) }
        if let path = parquet {
            do { exporters.append(try ParquetExporter(path: path, compressed: parquetCompression == "gzip")) } catch {
                throw Failure(error.message)
            }
        }
        let ndjsonExporter = try interopExporters(&exporters)
        let digits = DigitsBox { value in
            csvExporter?.digits = value
            ndjsonExporter?.digits = value
        }
        var result: AnalysisResult
        var analyzed: Analyzer?
        var exitCode: Int32 = 0
        var liveFailure: String?
        // Who talks to whom, for the HTML page only (nothing else pays for it).
        let talk = html == nil ? nil : TalkPairs()
        if let interface {
            var options = LiveOptions()
            if let n = snaplen { options.snaplen = n }
            if let n = bufferSize { options.bufferKiB = n }
            options.promiscuous = !noPromisc
            options.filter = filter
            let noColor = getenv("NO_COLOR").map { $0.pointee != 0 } ?? false
            let session = LiveSession(interface: interface, options: options,
                                      durationNs: duration.flatMap { PFlowCommand.nanoseconds($0) }, count: count,
                                      intervalNs: PFlowCommand.nanoseconds(interval) ?? 1_000_000_000, top: top,
                                      color: !noColor, view: isatty(1) == 1 && !json && !flowsToStdout,
                                      ascii: ascii || !Sparkline.stdoutShowsUTF8(), sort: ServiceSort(rawValue: sort) ?? .bytes,
                                      maxFlows: maxFlows)
            var liveExpiry = expiry
            liveExpiry.sweepIntervalNs = 1_000_000_000
            let analyzer = Analyzer(registry: registry, expiry: liveExpiry, binNs: binNs)
            analyzer.decapsulate = !noDecap
            for e in exporters { analyzer.export(e) }
            if let talk { analyzer.observe(talk) }
            analyzer.keepFlows = false
            analyzer.sort = ServiceSort(rawValue: sort) ?? .bytes
            do {
                if let failure = try session.run(analyzer, onStart: { digits.value = $0 }) {
                    liveFailure = failure.message
                    exitCode = 1
                }
            } catch {
                writeStderr("pflow: error: \(error.message)\n")
                for line in error.detail { writeStderr(line + "\n") }
                throw ExitStatus(1)
            }
            result = analyzer.finish(overlappingExporters: true)
            analyzed = analyzer
        } else {
        do {
            var files: [CaptureFile] = []
            for path in fileBytes { files.append(try CaptureFile(pathBytes: path)) }
            digits.value = files.map(\.timestampDigits).max() ?? 6
            let analyzer = Analyzer(registry: registry, expiry: expiry, binNs: binNs)
            analyzer.decapsulate = !noDecap
            let progress = quiet || isatty(2) != 1 ? nil : ProgressLine(files: files)
            analyzer.progress = progress.map { line in { file, position in line.update(file, position) } }
            defer { progress?.erase() }
            analyzer.threads = threads ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
            analyzer.exportOnThread = true
            analyzer.recordFilter = recordFilter
            for e in exporters { analyzer.export(e) }
            if let talk { analyzer.observe(talk) }
            analyzer.keepFlows = false
            analyzer.sort = ServiceSort(rawValue: sort) ?? .bytes
            // A file may show finer timestamps as it is read (a pcapng
            // interface of its own resolution): the CSV and NDJSON columns
            // widen from the flows reported after it, on the exporters'
            // thread in their place among the flows (`widest` keeps the
            // value this thread knows, so it never reads theirs).
            var widest = digits.value
            for file in files {
                try analyzer.add(file)
                if file.timestampDigits > widest {
                    let wider = file.timestampDigits
                    widest = wider
                    analyzer.inExportOrder { digits.value = wider }
                }
            }
            result = analyzer.finish(overlappingExporters: true)
            analyzed = analyzer
        } catch {
            throw Failure(error.message)
        }
        }
        var warnings = result.summary.warnings
        if let bpf {
            for (type, error) in bpf.failedLinkTypes.sorted(by: { $0.key < $1.key }) {
                warnings.append("filter does not apply to link type \(type) (\(error)); its packets were left out")
            }
        }
        for w in warnings where w != liveFailure { writeStderr("pflow: warning: \(w)\n") }
        // (The analyzer ordered the result so already; setting it again
        // would throw away the lists it made.)
        let order = ServiceSort(rawValue: sort) ?? .bytes
        if result.sort != order { result.sort = order }
        // The report is made while the exporters finish on their thread (a
        // Parquet file's last row group and rename), and written once they
        // have: a failed export still means no report.
        var report: String?
        if !flowsToStdout {
            if json {
                report = JSONReport.render(result)
            } else {
                let noColor = getenv("NO_COLOR").map { $0.pointee != 0 } ?? false
                var table = TableReport(color: isatty(1) == 1 && !noColor, top: top)
                table.ascii = ascii || !Sparkline.stdoutShowsUTF8()
                report = table.render(result)
            }
        }
        var exportFailure: String?
        do throws(ExportError) {
            try analyzed?.finishExporters()
        } catch {
            // A reader that went away early (`| head`) is no error.
            if error.brokenPipe { return }
            // An IPFIX collector that stopped listening: the report still stands.
            guard error.afterReport else { throw Failure("\(error.message): write failed") }
            exportFailure = error.message
        }
        if let path = html { try writeHTML(result, to: path, pairs: talk) }
        guard let report else {
            if let exportFailure { throw Failure(exportFailure) }
            return
        }
        let out = OutputSink(fd: 1)
        out.write(report)
        out.flush()
        if out.failed && out.failure != EPIPE {
            throw Failure("standard output: \(String(cString: strerror(out.failure))): the report was not written")
        }
        // The report of what was seen comes first; then why it ended early.
        if let liveFailure { writeStderr("pflow: error: \(liveFailure)\n") }
        if let exportFailure {
            writeStderr("pflow: error: \(exportFailure)\n")
            exitCode = 1
        }
        if exitCode != 0 { throw ExitStatus(exitCode) }
        // Everything is written and flushed: the process ends here rather
        // than free every table and map first, which the kernel does at
        // once on exit (freeing them cost ~3 ms on the 1M bench capture).
        exit(0)
    }
}

extension Options {
    /// `--bin` in nanoseconds (validated above).
    var binNs: Int64? { bin.flatMap { PFlowCommand.nanoseconds($0) } }

    /// `--html`: the page, written whole (a temporary file, then renamed).
    func writeHTML(_ result: AnalysisResult, to path: String, pairs: TalkPairs?) throws {
        let sink: OutputSink
        do { sink = try OutputSink(path: path) } catch { throw Failure(error.message) }
        sink.write(HTMLReport(top: top).render(result, pairs: pairs))
        sink.flush()
        if sink.failed { throw Failure("\(path): \(String(cString: strerror(sink.failure))): the HTML report was not written") }
    }
}

/// The outputs' timestamp precision, known once the files are open.
final class DigitsBox {
    var value = 6 { didSet { onChange(value) } }
    let onChange: (Int) -> Void
    init(_ onChange: @escaping (Int) -> Void) {
        self.onChange = onChange
        onChange(value)
    }
}

/// An error already phrased for the user.
struct Failure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The most a `--services` file may hold, and the longest line: far above
/// /etc/services (about 13 KB, lines under 100 bytes), and a bound on what
/// a file without end (/dev/zero, a FIFO) can make pflow read or keep.
let servicesFileLimit = 16 << 20
let servicesLineLimit = 4096

/// A `--services` file (by its bytes as given), read whole within the limits above.
func readTextFile(_ pathBytes: [UInt8]) throws(OutputError) -> String {
    let path = CaptureFile.displayName(pathBytes)
    guard !pathBytes.contains(0) else { throw OutputError(path: path, errno: EINVAL) }
    let fd = open(pathBytes.map { CChar(bitPattern: $0) } + [0], O_RDONLY)
    guard fd >= 0 else { throw OutputError(path: path, errno: errno) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var lineLength = 0
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            for b in chunk[0..<n] {
                if b == 0x0A { lineLength = 0; continue }
                lineLength += 1
                if lineLength > servicesLineLimit {
                    throw OutputError(path: path, reason: "a line is longer than \(servicesLineLimit) bytes; not a services file")
                }
            }
            if bytes.count + n > servicesFileLimit {
                throw OutputError(path: path, reason: "more than \(servicesFileLimit >> 20) MiB; not a services file")
            }
            bytes.append(contentsOf: chunk[0..<n])
        } else if n == 0 { break } else if errno != EINTR {
            throw OutputError(path: path, errno: errno)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes to standard error without touching C's shared `stderr` stream.
/// Every line is shown with its control characters escaped (`\\xNN`): a
/// message may quote a file name, a filter or a service name.
func writeStderr(_ text: String) {
    writeAll(2, text.split(separator: "\n", omittingEmptySubsequences: false)
        .map { CaptureFile.displayName(String($0)) }.joined(separator: "\n"))
}

/// Writes all of `text` to `fd`, retrying short and interrupted writes.
func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var at = 0
    while at < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + at, $0.count - at) }
        if n > 0 { at += n } else if n < 0 && errno == EINTR { continue } else { return }
    }
}

/// Ends the program with this status (after whatever was already written).
struct ExitStatus: Error {
    var code: Int32
    init(_ code: Int32) { self.code = code }
}

@main
enum Main {
    static func main() {
        do {
            let options = try Options.parse(bytes: CaptureFile.commandLineBytes())
            if options.help {
                writeStdout(Options.helpText)
                return
            }
            if options.version {
                writeStdout(PFlowCommand.versionText + "\n")
                return
            }
            try options.validate()
            try options.run()
        } catch let status as ExitStatus {
            exit(status.code)
        } catch let failure as Failure {
            writeStderr("pflow: error: \(failure.message)\n")
            exit(1)
        } catch let usage as Options.UsageError {
            writeStderr("pflow: error: \(usage.message) (pflow --help lists the options)\n")
            exit(64)
        } catch {
            writeStderr("pflow: error: \(error)\n")
            exit(1)
        }
    }
}
