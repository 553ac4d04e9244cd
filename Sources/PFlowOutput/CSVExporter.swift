import PFlowCore
import PFlowEngine
import PFlowFlows
#if canImport(Glibc)
import Glibc
#endif

/// The flow CSV as an exporter: the header, then a row per flow as it ends,
/// streamed through one buffered sink.
public final class CSVExporter: FlowExporter {
    let sink: OutputSink
    let name: String
    /// Fractional digits of the times: the finest resolution of the files
    /// read so far (set as files are opened, or when live capture starts).
    /// Read per row: the runtime's exclusivity check on it cost more than a
    /// tenth of the row's other work, and it is never accessed re-entrantly.
    @exclusivity(unchecked) public var digits = 6

    public init(sink: OutputSink, name: String) {
        self.sink = sink
        self.name = name
        sink.write(FlowCSV.header)
    }

    public func export(_ flow: FlowRecord) { sink.append(flow, digits: digits) }

    public func flush() { sink.flush() }

    public func finish(_ summary: CaptureSummary) throws(ExportError) {
        sink.flush()
        if sink.failed { throw ExportError.writing(name, errno: sink.failure) }
    }
}

extension ExportError {
    /// `name: reason`; a reader that went away (EPIPE) says so, so the
    /// command line can end quietly as `| head` expects.
    public static func writing(_ name: String, errno: Int32) -> ExportError {
        var e = ExportError("\(name): \(String(cString: strerror(errno)))")
        e.brokenPipe = errno == EPIPE
        return e
    }
}
