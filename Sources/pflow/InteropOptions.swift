import PFlowExport
import PFlowOutput
import PFlowEngine

/// The options of other tools' formats (issue 15): NDJSON, conn.log, IPFIX.
extension Options {
    /// Some output takes standard output, so the table isn't printed.
    var flowsToStdout: Bool { csv == "-" || ndjson == "-" || connLog == "-" }

    func validateInterop() throws(Options.UsageError) {
        let stdoutUsers = [("--csv -", csv == "-"), ("--ndjson -", ndjson == "-"), ("--conn-log -", connLog == "-"),
                           ("--json", json)].filter(\.1).map(\.0)
        if stdoutUsers.count > 1 {
            throw Options.UsageError("\(stdoutUsers.joined(separator: " and ")) all want stdout; give files to all but one")
        }
        if ipfixFile == "-" { throw Options.UsageError("--ipfix-file needs a file") }
        if !["tsv", "json"].contains(connLogFormat) { throw Options.UsageError("--conn-log-format must be tsv or json") }
        if IPFIXMode(rawValue: ipfixMode) == nil { throw Options.UsageError("--ipfix-mode must be biflow or uniflow") }
        if ipfixMTU < 512 || ipfixMTU > 65535 { throw Options.UsageError("--ipfix-mtu must be 512 to 65535") }
        if let ipfix {
            do { _ = try IPFIXEndpoint.parse(ipfix) } catch { throw Options.UsageError("--ipfix: \(error.description)") }
        }
    }

    /// Adds the NDJSON, conn.log and IPFIX exporters asked for (after the
    /// CSV, in that order); returns the NDJSON one, whose times follow the
    /// capture's precision.
    func interopExporters(_ exporters: inout [FlowExporter]) throws -> NDJSONExporter? {
        var ndjsonExporter: NDJSONExporter?
        if let path = ndjson {
            let sink: OutputSink
            do { sink = path == "-" ? OutputSink(fd: 1) : try OutputSink(path: path) } catch { throw Failure(error.message) }
            let e = NDJSONExporter(sink: sink, name: path == "-" ? "standard output" : path)
            exporters.append(e)
            ndjsonExporter = e
        }
        do throws(ExportError) {
            if let path = connLog {
                exporters.append(try ConnLogExporter(path: path, format: ConnLogFormat(rawValue: connLogFormat) ?? .tsv))
            }
            if ipfix != nil || ipfixFile != nil {
                var options = IPFIXOptions(mode: IPFIXMode(rawValue: ipfixMode) ?? .biflow, maxMessageSize: ipfixMTU)
                // One byte, as nfdump and pmacct read it (RFC 7011 §6.2
                // reduced-size encoding of the 16-bit element).
                options.tcpControlBitsLength = 1
                // Parsed in validate: a bad host:port is a usage error.
                let collector = ipfix.flatMap { try? IPFIXEndpoint.parse($0) }
                exporters.append(try IPFIXFlowExporter(collector: collector, file: ipfixFile, options: options,
                                                       warn: { writeStderr("pflow: warning: \($0)\n") }))
            }
        } catch {
            throw Failure(error.message)
        }
        return ndjsonExporter
    }
}
