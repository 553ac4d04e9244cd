import PFlowCore
import PFlowCapture
import PFlowFlows
import PFlowWire

/// Facts about the capture as a whole: what the report's summary shows.
public struct CaptureSummary: Sendable {
    public struct FileInfo: Sendable {
        public var path: String
        public var format: String
        public var records: Int
        public var linkTypes: [LinkType]
    }

    public var files: [FileInfo] = []
    /// Packets per link type.
    public var linkTypes: [LinkType: UInt64] = [:]
    public var packets: UInt64 = 0
    /// Wire bytes (sum of pcap `len`).
    public var bytes: UInt64 = 0
    public var firstNs: Int64?
    public var lastNs: Int64?
    /// Decode errors, indexed by `DecodeError.rawValue`.
    public var decodeErrors = [UInt64](repeating: 0, count: DecodeError.allCases.count)
    /// Well-formed frames that carry no IP (ARP, STP, LLDP…).
    public var nonIPPackets: UInt64 = 0
    /// IP packets cut short by the snaplen (headers were complete).
    public var truncatedPackets: UInt64 = 0
    /// Damage and other notes, each one line naming the file.
    public var warnings: [String] = []
    /// Decimal digits of the finest timestamp resolution across files.
    public var timestampDigits = 6
    /// Tunnels opened, most bytes first.
    public var tunnels: [TunnelSummary] = []
    /// The most flows tracked at once.
    public var peakLiveFlows = 0
    /// Live capture: packets the kernel (and the interface) dropped.
    public var kernelDrops: UInt64? = nil

    public var durationNs: Int64 {
        guard let f = firstNs, let l = lastNs else { return 0 }
        return l - f
    }

    /// Non-zero decode error counts by name, in a stable order.
    public var decodeErrorCounts: [(String, UInt64)] {
        DecodeError.allCases.compactMap { e in
            let n = decodeErrors[e.rawValue]
            return n > 0 ? (e.name, n) : nil
        }
    }
}

/// One tunnel: its kind and outer endpoints, and what travelled inside.
public struct TunnelSummary: Sendable {
    public var kind: TunnelKind
    public var endpointA: IPAddress
    public var endpointB: IPAddress
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public var innerFlows = 0
}

/// The outcome of analysing a capture: the summary, the service table and,
/// when asked for, every flow.
public struct AnalysisResult: Sendable {
    public var summary: CaptureSummary
    /// Flows in the order they ended (capture end: by start time); empty
    /// unless the analyzer was asked to keep them.
    public var flows: [FlowRecord]
    /// Services, flow counts and per-protocol totals of every flow.
    public var tally: ServiceTally
    /// Hosts seen opening connections, most connections first.
    public var clients: [ClientHost] = []
    /// Scans, knocks, services on unexpected ports, likely NATs.
    public var findings: [Finding] = []
}

/// A host seen as a client, and how it picks its ephemeral ports.
public struct ClientHost: Sendable {
    public var address: IPAddress
    public var range: EphemeralRange

    static func table(_ knowledge: TrafficKnowledge) -> [ClientHost] {
        knowledge.clientRanges.map { ClientHost(address: $0.address, range: $0.range) }
            .sorted { $0.range.connections != $1.range.connections ? $0.range.connections > $1.range.connections
                                                                    : $0.address < $1.address }
    }
}

/// Drives records from capture files through the decoder into the flow table.
public final class Analyzer {
    public let registry: ServiceRegistry
    /// Keeps a record only when this returns true (a BPF filter, say).
    public var recordFilter: ((CaptureRecord) -> Bool)?
    /// Open tunnels and track the inner flows (false: `--no-decap`).
    public var decapsulate = true
    /// 2 or more: read and decode on a thread of their own while this one
    /// tracks flows (a two-stage pipeline; packets keep their order).
    public var threads = 1

    struct TunnelKey: Hashable {
        var kind: TunnelKind, a: IPAddress, b: IPAddress
    }
    /// A tunnel's counts and its distinct inner flows (updated in place).
    struct TunnelEntry {
        var summary: TunnelSummary
        var inner: Set<FlowKey> = []
    }
    var tunnels: [TunnelKey: TunnelEntry] = [:]
    /// Fragment ports, carried from file to file like the table.
    var intake = PacketIntake()

    let table: FlowTable
    /// Events applied on this thread (the pipeline swaps in its ring).
    let direct: DirectFlowEvents
    var summary = CaptureSummary()
    // Touched per ended flow by one thread at a time (the pipeline hands
    // them over with acquire/release) and never re-entered: no dynamic
    // exclusivity checks, which cost more than the updates themselves.
    @exclusivity(unchecked) private var flows: [FlowRecord] = []
    /// Keep every FlowRecord in the result (tests, small captures); the CLI
    /// streams them to exporters instead, so memory holds only live flows.
    @exclusivity(unchecked) public var keepFlows = true
    /// The built-in observers, whose results make the analysis result.
    public let tally = TallyObserver()
    public let detector = FindingsObserver()
    /// Every observer, in order (the built-in ones first).
    @exclusivity(unchecked) private var observers: [FlowObserver]
    @exclusivity(unchecked) private(set) var exporters: [FlowExporter] = []

    /// Adds an observer of every ended flow.
    public func observe(_ observer: FlowObserver) { observers.append(observer) }
    /// Adds an exporter of every ended flow.
    public func export(_ exporter: FlowExporter) { exporters.append(exporter) }

    public init(registry: ServiceRegistry = .standard, expiry: ExpiryPolicy = ExpiryPolicy()) {
        self.registry = registry
        observers = [tally, detector]
        let knowledge = TrafficKnowledge()
        direct = DirectFlowEvents(knowledge: knowledge)
        table = FlowTable(expiry: expiry, knowledge: knowledge, events: direct)
        direct.report = { [unowned self] state, reason in self.report(self.record(state, reason)) }
    }

    /// The one place an ended flow's state becomes its record (roles decided).
    @inline(__always)
    func record(_ state: FlowState, _ reason: EndReason) -> FlowRecord {
        FlowRecord(state, endReason: reason, registry: registry, knowledge: table.knowledge)
    }

    /// Hands an ended flow to the exporters, the kept list and the observers.
    func report(_ f: FlowRecord) {
        write(f)
        for o in observers { o.observe(f) }
    }

    /// The part of `report` that writes the flow out.
    private func write(_ f: FlowRecord) {
        for e in exporters { e.export(f) }
        if keepFlows { flows.append(f) }
    }

    /// Live capture: pushes every exporter's buffered output out.
    public func flushExporters() {
        for e in exporters { e.flush() }
    }

    /// Ends every exporter; the first one that failed says why.
    public func finishExporters() throws(ExportError) {
        var failure: ExportError?
        for e in exporters {
            do throws(ExportError) { try e.finish(summary) } catch { if failure == nil { failure = error } }
        }
        if let failure { throw failure }
    }

    /// Reads `file` to its end (or its damage) into the running analysis.
    public func add(_ file: CaptureFile) throws(CaptureError) {
        if threads > 1 { return try addPipelined(file) }
        try addSerially(file)
    }

    /// `add` on this thread alone: the pipeline's steps on one slot.
    func addSerially(_ file: CaptureFile) throws(CaptureError) {
        var ingest = Ingest(summary: summary, tunnels: tunnels, intake: intake, decapsulate: decapsulate)
        let filter = recordFilter
        let table = self.table
        let slot = OneSlot()
        let read = try file.forEachRecord { record in
            if let filter, !filter(record) { return }
            ingest.take(record, into: slot, table: table)
        }
        finishFile(file, ingest: &ingest, read: read)
    }

    /// Folds one file's counts, warnings and identity into the summary.
    func finishFile(_ file: CaptureFile, ingest: inout Ingest, read: ReadSummary) {
        ingest.close(table: table)
        var s = ingest.summary
        tunnels = ingest.tunnels
        intake = ingest.intake
        s.files.append(.init(path: file.path, format: file.format.rawValue, records: read.records,
                             linkTypes: file.linkTypes))
        s.timestampDigits = s.files.count == 1 ? file.timestampDigits : max(s.timestampDigits, file.timestampDigits)
        s.warnings.append(contentsOf: read.notes)
        if let damage = read.damage { s.warnings.append(damage.description) }
        summary = s
    }

    // MARK: live capture

    private var live: Ingest?
    private let liveSlot = OneSlot()

    /// Starts taking records one at a time (live capture).
    public func beginLive(timestampDigits: Int) {
        summary.timestampDigits = timestampDigits
        live = Ingest(summary: summary, tunnels: tunnels, intake: intake, decapsulate: decapsulate)
    }

    /// Takes one live record (after `beginLive`).
    public func take(_ record: CaptureRecord) {
        live?.take(record, into: liveSlot, table: table)
    }

    /// Live capture: packet time has reached `nowNs` even if no packet says
    /// so (a quiet link); flows idle since then end.
    public func tick(nowNs: Int64) {
        table.tick(now: nowNs)
    }

    /// Ends live intake, folding what it counted into the summary.
    public func endLive(interface: String, linkType: LinkType, warnings: [String]) {
        guard var ingest = live else { return }
        ingest.close(table: table)
        var s = ingest.summary
        tunnels = ingest.tunnels
        intake = ingest.intake
        s.files.append(.init(path: interface, format: "live", records: Int(s.packets), linkTypes: [linkType]))
        s.warnings.append(contentsOf: warnings)
        summary = s
        live = nil
    }

    /// Records the kernel's drop count of a live capture.
    public func setKernelDrops(_ drops: UInt64) { summary.kernelDrops = drops }

    /// Timestamp precision of what has been read.
    public var timestampDigits: Int { summary.timestampDigits }

    /// Flows live now and the totals so far, for a refreshing view.
    public var liveFlows: Int { table.liveCount }
    public var packetsSoFar: UInt64 { live?.summary.packets ?? summary.packets }
    public var bytesSoFar: UInt64 { live?.summary.bytes ?? summary.bytes }

    /// Services of the flows that ended and of those still live, right now.
    public func servicesNow() -> [ServiceRow] {
        var now = tally.tally
        table.forEachLive { state in now.add(record(state, .end)) }
        return now.sortedRows
    }

    /// Ends every live flow and returns the analysis.
    public func finish() -> AnalysisResult {
        let knowledge = table.knowledge
        // The flows still live at capture end: with threads to spare, their
        // records are worked out two halves at a time (they only read what
        // has been learned), then reported in order.
        let split = threads > 1
        table.finish(batch: split ? 4096 : 1) { states in
            if split && states.count >= 256 {
                let middle = states.count / 2
                var first: [FlowRecord] = [], second: [FlowRecord] = []
                inParallel({ first = states[..<middle].map { self.record($0, $0.closeReason) } },
                           { second = states[middle...].map { self.record($0, $0.closeReason) } })
                // The exporters (with the kept list) and the observers are
                // independent: two threads feed them, each in order.
                let observers = self.observers
                inParallel({
                    for r in first { self.write(r) }
                    for r in second { self.write(r) }
                }, {
                    for r in first { for o in observers { o.observe(r) } }
                    for r in second { for o in observers { o.observe(r) } }
                })
            } else {
                for s in states { self.report(self.record(s, s.closeReason)) }
            }
        }
        let clients = ClientHost.table(knowledge)
        return AnalysisResult(summary: summary, flows: flows, tally: tally.tally, clients: clients,
                              findings: detector.findings(clients: clients))
    }

    /// Opens and analyses `paths` in order as one capture. Every file is
    /// opened (and its header checked) before any is read.
    public static func analyze(paths: [String], registry: ServiceRegistry = .standard,
                               expiry: ExpiryPolicy = ExpiryPolicy(), decapsulate: Bool = true,
                               recordFilter: ((CaptureRecord) -> Bool)? = nil,
                               exporters: [FlowExporter] = [], keepFlows: Bool = true,
                               threads: Int = 1) throws(CaptureError) -> AnalysisResult {
        var files: [CaptureFile] = []
        for path in paths { files.append(try CaptureFile(path: path)) }
        let analyzer = Analyzer(registry: registry, expiry: expiry)
        analyzer.recordFilter = recordFilter
        analyzer.decapsulate = decapsulate
        for e in exporters { analyzer.export(e) }
        analyzer.keepFlows = keepFlows
        analyzer.threads = threads
        for file in files { try analyzer.add(file) }
        return analyzer.finish()
    }
}

/// One `TrackedPacket` and its quote slot, for the single-threaded run
/// (the pipeline's ring without the ring).
final class OneSlot {
    let packet = UnsafeMutablePointer<TrackedPacket>.allocate(capacity: 1)
    let quote = UnsafeMutablePointer<FlowKey>.allocate(capacity: 1)
    init() {
        packet.initialize(to: TrackedPacket())
        quote.initialize(to: FlowKey(addressA: IPAddress(high: 0, low: 0), addressB: IPAddress(high: 0, low: 0),
                                     portA: 0, portB: 0, proto: IPProtocol(rawValue: 0), vlan: 0))
    }
    deinit {
        packet.deallocate()
        quote.deallocate()
    }
}

/// The per-record work shared by files and live capture, on the reading
/// side: count, decode, fill a slot for the tracker. Kept in a local value
/// while a file is read, so the hot loop works on the stack.
struct Ingest {
    var packet = DecodedPacket()
    var summary: CaptureSummary
    var tunnels: [Analyzer.TunnelKey: Analyzer.TunnelEntry]
    var intake: PacketIntake
    var first: Int64
    var last: Int64
    var runType = LinkType(rawValue: 0)
    var runCount: UInt64 = 0

    init(summary: CaptureSummary, tunnels: [Analyzer.TunnelKey: Analyzer.TunnelEntry], intake: PacketIntake,
         decapsulate: Bool) {
        self.summary = summary
        self.tunnels = tunnels
        self.intake = intake
        packet.decapsulate = decapsulate
        first = summary.firstNs ?? Int64.max
        last = summary.lastNs ?? Int64.min
    }

    /// Every step of one record on this thread: decode, fill, track.
    @inline(__always)
    mutating func take(_ record: CaptureRecord, into slot: OneSlot, table: FlowTable) {
        guard decode(record) else { return }
        fill(slot.packet, quote: slot.quote, record: record)
        table.add(slot.packet, quote: slot.quote)
    }

    /// Hands the packet just decoded to a slot; the decoded packet is read
    /// where it lies (copying it out, about 200 bytes, cost a memmove).
    @inline(__always)
    mutating func fill(_ slot: UnsafeMutablePointer<TrackedPacket>, quote: UnsafeMutablePointer<FlowKey>,
                       record: CaptureRecord) {
        intake.fill(slot, quote: quote, packet: &packet, frame: record.bytes, timestampNs: record.timestampNs,
                    wireLength: record.originalLength)
    }
    /// Counts and decodes one record; true when `packet` now holds an IP
    /// packet for the flow table.
    @inline(__always)
    mutating func decode(_ record: CaptureRecord) -> Bool {
        summary.packets &+= 1
        summary.bytes &+= UInt64(record.originalLength)
        // Link types change rarely: count runs, not packets, in the dictionary.
        if record.linkType != runType {
            if runCount > 0 { summary.linkTypes[runType, default: 0] &+= runCount }
            runType = record.linkType
            runCount = 0
        }
        runCount &+= 1
        let ts = record.timestampNs
        if ts < first { first = ts }
        if ts > last { last = ts }
        switch PacketDecoder.decode(record.bytes, linkType: record.linkType.rawValue, into: &packet) {
        case .packet:
            if packet.truncated { summary.truncatedPackets &+= 1 }
            if let kind = packet.tunnel { countTunnel(kind, wireLength: record.originalLength) }
            return true
        case .notIP:
            summary.nonIPPackets &+= 1
        case .error(let kind):
            summary.decodeErrors[kind.rawValue] &+= 1
        }
        return false
    }

    mutating func countTunnel(_ kind: TunnelKind, wireLength: UInt32) {
        let (a, b) = packet.tunnelSource < packet.tunnelDestination
            ? (packet.tunnelSource, packet.tunnelDestination) : (packet.tunnelDestination, packet.tunnelSource)
        let key = Analyzer.TunnelKey(kind: kind, a: a, b: b)
        let inner = FlowKey.canonical(FlowKey(sentBy: packet), isICMPReply: packet.isICMPReply).key
        // In place: copying the entry out and back copied its whole set per packet.
        tunnels[key, default: Analyzer.TunnelEntry(summary: TunnelSummary(kind: kind, endpointA: a, endpointB: b))]
            .add(inner, wireLength: wireLength)
    }

    /// Folds the running counts into the summary.
    mutating func close(table: FlowTable) {
        if runCount > 0 { summary.linkTypes[runType, default: 0] &+= runCount }
        runCount = 0
        summary.peakLiveFlows = table.peakLiveCount
        summary.tunnels = tunnels.values.map { entry in
            var t = entry.summary
            t.innerFlows = entry.inner.count
            return t
        }.sorted {
            $0.bytes != $1.bytes ? $0.bytes > $1.bytes
                : ($0.endpointA, $0.endpointB, $0.kind.rawValue) < ($1.endpointA, $1.endpointB, $1.kind.rawValue)
        }
        if first <= last { summary.firstNs = first; summary.lastNs = last }
    }
}

extension Analyzer.TunnelEntry {
    mutating func add(_ inner: FlowKey, wireLength: UInt32) {
        summary.packets &+= 1
        summary.bytes &+= UInt64(wireLength)
        self.inner.insert(inner)
    }
}
