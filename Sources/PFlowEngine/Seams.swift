import PFlowCore
import PFlowFlows

/// Receives every flow record as it ends, in the order flows end, one call
/// at a time: the service tally, the findings detector, and whatever else
/// summarises flows for a report section. Add one with `Analyzer.observe`.
public protocol FlowObserver: AnyObject {
    func observe(_ flow: FlowRecord)
}

/// A stream of flows leaving pflow as they end: the CSV today, and each
/// further format (NDJSON, conn.log, IPFIX, Parquet) as one more type.
/// Add one with `Analyzer.export`. Called in order, one call at a time.
public protocol FlowExporter: AnyObject {
    /// Takes one ended flow (cheaply: buffer, don't block).
    func export(_ flow: FlowRecord)
    /// Pushes buffered output out: live capture calls it about once a second.
    func flush()
    /// The capture is over: write what remains (a footer, a closing line)
    /// and say whether everything reached its destination.
    func finish(_ summary: CaptureSummary) throws(ExportError)
}

/// An exporter that could not deliver its output: one line for the user.
public struct ExportError: Error, Sendable {
    public var message: String
    /// The reader of a pipe went away (`| head`): not worth an error line.
    public var brokenPipe = false
    /// The report and the other outputs are still worth writing (an IPFIX
    /// collector that stopped taking records): the error comes after them,
    /// and the exit status says the export failed.
    public var afterReport = false
    public init(_ message: String) { self.message = message }
}

/// The service table's observer: flows, packets and bytes per server port.
public final class TallyObserver: FlowObserver {
    // Touched by one thread at a time (handed over with acquire/release).
    @exclusivity(unchecked) public private(set) var tally = ServiceTally()
    public init() {}
    /// `partyLimit`: distinct client/server addresses counted exactly (`ServiceTally.partyLimit`).
    public init(partyLimit: Int) { tally.partyLimit = partyLimit }
    public func observe(_ flow: FlowRecord) { tally.add(flow) }
}

/// The findings' observer: scans, knocks, services on unexpected ports.
public final class FindingsObserver: FlowObserver {
    @exclusivity(unchecked) var detector = FindingsDetector()
    public init() {}
    /// `evidenceLimit`: connection attempts kept as scan and knock evidence.
    public init(evidenceLimit: Int) { detector.evidenceLimit = evidenceLimit }
    /// Attempts past the limit, not judged.
    public var unjudged: Int { detector.unjudged }
    public func observe(_ flow: FlowRecord) { detector.add(flow) }
    public func findings(clients: [ClientHost]) -> [Finding] { detector.findings(clients: clients) }
}
