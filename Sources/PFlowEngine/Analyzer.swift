import PFlowCore
import PFlowCapture
import PFlowFlows
import PFlowWire

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
    /// How the result orders services and hosts (`--sort`); set before
    /// `finish`, which makes the host list in this order.
    public var sort: ServiceSort = .bytes

    struct TunnelKey: Hashable {
        var kind: TunnelKind, a: IPAddress, b: IPAddress
    }
    /// A tunnel's counts and its distinct inner flows (updated in place):
    /// exact while the table's budget of inner keys lasts, then sketched.
    struct TunnelEntry {
        var summary: TunnelSummary
        var inner: Set<FlowKey> = []
        var sketch: DistinctSketch?
    }
    var tunnels = TunnelTable()
    /// Fragment ports, carried from file to file like the table.
    var intake = PacketIntake()

    let table: FlowTable
    /// Events applied on this thread (the pipeline swaps in its ring).
    let direct: DirectFlowEvents
    /// Who is the client of each flow, from what the table has learned.
    let roles: RoleDecider
    var summary = CaptureSummary()
    // Touched per ended flow by one thread at a time (the pipeline hands
    // them over with acquire/release) and never re-entered: no dynamic
    // exclusivity checks, which cost more than the updates themselves.
    @exclusivity(unchecked) private var flows: [FlowRecord] = []
    /// The server names' Strings, for the thread that reports (as `flows`).
    let nameTexts = ServerNameTexts()
    /// Keep every FlowRecord in the result (tests, small captures); the CLI
    /// streams them to exporters instead, so memory holds only live flows.
    @exclusivity(unchecked) public var keepFlows = true
    /// The built-in observers, whose results make the analysis result.
    public let tally: TallyObserver
    public let detector: FindingsObserver
    /// Bytes per bin of time of each service (the reading side counts the totals).
    public let timeline: TimelineObserver
    let timelineOrigin = TimelineOrigin()
    /// The observers added to the built-in ones, in order (the built-in
    /// ones are called directly: a call through the array cost a retain,
    /// a release and a dynamic dispatch each, per flow).
    @exclusivity(unchecked) private var observers: [FlowObserver] = []
    @exclusivity(unchecked) private(set) var exporters: [FlowExporter] = []
    /// `finish(overlappingExporters: true)`: the exporters' own finish (a
    /// Parquet file's last row group, footer and rename; the last datagrams)
    /// runs on this thread while the findings, rows and report are made.
    /// `finishExporters` joins it and says how it went.
    private var exportersFinishing: WorkerThread?
    /// The last file's pipeline rings (about 9.5 MB), kept from being freed
    /// where the file ended: unmapping their pages took ~2 ms that the
    /// capture's end waited for, alone on one core. `finish` frees them on
    /// another thread while it works; the next file, or `deinit`, here.
    private var retiredRings: Unmanaged<AnyObject>?

    /// Keeps `rings` until `finish` or the next file (see `retiredRings`).
    func retire(_ rings: AnyObject) {
        freeRetiredRings()
        retiredRings = Unmanaged.passRetained(rings)
    }

    /// Frees the retired rings on this thread.
    private func freeRetiredRings() {
        retiredRings?.release()
        retiredRings = nil
    }

    deinit { freeRetiredRings() }
    /// The exporters run on a thread of their own (`ExportQueue`), fed in
    /// the order flows are reported. Set before the first `add`; used with
    /// threads to spare and an exporter to feed.
    @exclusivity(unchecked) public var exportOnThread = false
    @exclusivity(unchecked) private var exportQueue: ExportQueue?
    private var exportersFinished = false
    private var exporterFailure: ExportError?

    /// Called every `progressEvery` records while a file is read, with the
    /// file and the records read from it so far (on the reading thread).
    public var progress: ((CaptureFile, UInt64) -> Void)?
    static let progressEvery: UInt64 = 1 << 15

    /// Adds an observer of every ended flow.
    public func observe(_ observer: FlowObserver) { observers.append(observer) }
    /// Adds an exporter of every ended flow.
    public func export(_ exporter: FlowExporter) { exporters.append(exporter) }

    /// `binNs`: the timeline's bin width (nil: chosen as the capture grows).
    public init(registry: ServiceRegistry = .standard, expiry: ExpiryPolicy = ExpiryPolicy(), binNs: Int64? = nil) {
        self.registry = registry
        let limit = Self.stateLimit(expiry)
        tally = TallyObserver(partyLimit: limit)
        // Scan and knock evidence: one entry per attempt, so bounded as the
        // tables are under --max-flows (and at 8M attempts without it).
        detector = FindingsObserver(evidenceLimit: expiry.maxFlows == nil ? 8 << 20 : limit)
        timeline = TimelineObserver(origin: timelineOrigin, widthNs: binNs)
        summary.timeline = TimelineCounts(widthNs: binNs)
        let knowledge = TrafficKnowledge(limit: limit)
        direct = DirectFlowEvents(knowledge: knowledge)
        table = FlowTable(expiry: expiry, knowledge: knowledge, events: direct)
        roles = RoleDecider(registry: registry, knowledge: knowledge)
        // `direct` is this analyzer's alone and only its table calls it, so
        // the analyzer outlives every call: borrowed unretained, it spares
        // the checked strong retains and releases per flow (three) that
        // `[unowned self]` cost (`unowned(unsafe)` still retained it per
        // call: 1,584.0M instructions against 1,579.1M on the 1M capture).
        let analyzer = Unmanaged.passUnretained(self)
        direct.report = { state, reason in
            analyzer._withUnsafeGuaranteedRef { $0.ended(state, reason, name: nil) }
        }
        direct.reportNamed = { state, reason, name in
            analyzer._withUnsafeGuaranteedRef { $0.ended(state, reason, name: name) }
        }
    }

    /// The last uid given: flows are numbered from 1 in the order they end,
    /// which the pipeline keeps, so every output of a run (and any thread
    /// count) names a flow alike.
    @exclusivity(unchecked) private var lastUID: UInt64 = 0
    @inline(__always)
    func nextUID() -> UInt64 {
        lastUID &+= 1
        return lastUID
    }

    /// The most entries the per-host and per-service tables keep exactly:
    /// a million, or with --max-flows four times the limit (at least 65,536),
    /// so that --max-flows bounds all of memory, not only the live flows.
    static func stateLimit(_ expiry: ExpiryPolicy) -> Int {
        guard let n = expiry.maxFlows else { return 1 << 20 }
        return min(1 << 20, max(1 << 16, n.multipliedReportingOverflow(by: 4).overflow ? Int.max : 4 * n))
    }

    /// A flow the table ended: recorded, numbered and reported.
    @inline(__always)
    func ended(_ state: FlowState, _ reason: EndReason, name: UnsafePointer<ServerName>?) {
        report(record(state, reason, uid: nextUID(), name: name))
    }

    /// The one place an ended flow's state becomes its record (roles
    /// decided), on the thread that reports.
    @inline(__always)
    func record(_ state: FlowState, _ reason: EndReason, uid: UInt64,
                name: UnsafePointer<ServerName>? = nil) -> FlowRecord {
        record(state, reason, uid: uid, name: name, texts: nameTexts)
    }

    /// As above, the name's String looked for in `texts` first.
    @inline(__always)
    func record(_ state: FlowState, _ reason: EndReason, uid: UInt64,
                name: UnsafePointer<ServerName>?, texts: ServerNameTexts) -> FlowRecord {
        orientedRecord(state, endReason: reason, decider: roles, name: name, uid: uid, texts: texts)
    }

    /// A flow still live at capture end: its name is read from the table
    /// (the tracker is done with it, so any thread may, with `texts` of its own).
    func finalRecord(_ state: FlowState, uid: UInt64, texts: ServerNameTexts) -> FlowRecord {
        record(state, state.closeReason, uid: uid,
               name: state.nameSerial == 0 ? nil : table.names.name(state.nameSerial), texts: texts)
    }

    /// Hands an ended flow to the exporters, the kept list and the observers.
    func report(_ f: FlowRecord) {
        write(f)
        observeAll(f)
    }

    /// Every observer sees `f`: the built-in ones first, in a fixed order.
    @inline(__always)
    private func observeAll(_ f: FlowRecord) {
        tally.observe(f)
        observeAllButTally(f)
    }

    /// The observers after the tally, in their order.
    @inline(__always)
    private func observeAllButTally(_ f: FlowRecord) {
        detector.observe(f)
        timeline.observe(f)
        if !observers.isEmpty { for o in observers { o.observe(f) } }
    }

    /// The part of `report` that writes the flow out.
    private func write(_ f: FlowRecord) {
        if let exportQueue {
            exportQueue.push(f)
        } else {
            for e in exporters { e.export(f) }
        }
        if keepFlows { flows.append(f) }
    }

    /// Live capture: pushes every exporter's buffered output out.
    public func flushExporters() {
        if let exportQueue {
            exportQueue.pushFlush()
        } else {
            for e in exporters { e.flush() }
        }
    }

    /// Runs `body` (a change to an exporter's settings) between the flows
    /// reported so far and those to come: on the exporters' thread, in its
    /// place among the flows, when they have one; here and now otherwise.
    public func inExportOrder(_ body: @escaping () -> Void) {
        if let exportQueue { exportQueue.pushCall(body) } else { body() }
    }

    /// Starts the exporters' thread if it is wanted and not running yet.
    private func startExportQueue() {
        guard exportQueue == nil, exportOnThread, threads > 1, !exporters.isEmpty, !exportersFinished else { return }
        exportQueue = ExportQueue(exporters: exporters)
    }

    /// Ends every exporter; the first one that failed says why.
    public func finishExporters() throws(ExportError) {
        if let queue = exportQueue {
            // Started finishing by `finish(overlappingExporters: true)`, or not at all.
            if !queue.ended { queue.startFinishing(summary) }
            queue.join()
            exporterFailure = queue.failure
            exportQueue = nil
        } else if let finishing = exportersFinishing {
            finishing.join()
            exportersFinishing = nil
        } else if !exportersFinished {
            exporterFailure = finishEachExporter()
        }
        exportersFinished = true
        if let failure = exporterFailure { throw failure }
    }

    /// Every exporter's `finish`, in order; the first failure.
    private func finishEachExporter() -> ExportError? {
        var failure: ExportError?
        for e in exporters {
            do throws(ExportError) { try e.finish(summary) } catch { if failure == nil { failure = error } }
        }
        return failure
    }

    /// Reads `file` to its end (or its damage) into the running analysis.
    public func add(_ file: CaptureFile) throws(CaptureError) {
        startExportQueue()
        if threads > 1 { return try addPipelined(file) }
        try addSerially(file)
    }

    /// `add` on this thread alone: the pipeline's steps on one slot.
    func addSerially(_ file: CaptureFile) throws(CaptureError) {
        var ingest = Ingest(summary: summary, tunnels: tunnels, intake: intake, decapsulate: decapsulate,
                            origin: timelineOrigin)
        let filter = recordFilter
        let table = self.table
        let slot = OneSlot()
        let progress = self.progress
        var records: UInt64 = 0
        let read = try file.forEachRecord { record in
            records &+= 1
            if records % Self.progressEvery == 0, let progress { progress(file, records) }
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
        // Clock jumps are merged files as often as damage: only records out
        // of time with both neighbours are warned about.
        if let note = read.clockOutlierNote { s.warnings.append(note) }
        if let damage = read.damage { s.warnings.append(damage.description) }
        summary = s
    }

    // MARK: live capture

    private var live: Ingest?
    private let liveSlot = OneSlot()

    /// Starts taking records one at a time (live capture).
    public func beginLive(timestampDigits: Int) {
        summary.timestampDigits = timestampDigits
        live = Ingest(summary: summary, tunnels: tunnels, intake: intake, decapsulate: decapsulate,
                            origin: timelineOrigin)
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

    /// Ends every live flow and returns the analysis.
    /// `overlappingExporters`: the exporters are finished on another thread
    /// while the rest is made (every flow has been reported to them by
    /// then); the caller must call `finishExporters` before it reads what
    /// they wrote or writes anything that must follow them.
    public func finish(overlappingExporters: Bool = false) -> AnalysisResult {
        let knowledge = table.knowledge
        // The flows still live at capture end: with threads to spare, their
        // records are worked out two halves at a time (they only read what
        // has been learned), then reported in order.
        let split = threads > 1
        // The rings go on a thread of their own (joined below); only it
        // holds them, so their memory is freed there.
        var freeing: WorkerThread?
        if let rings = retiredRings {
            retiredRings = nil
            freeing = WorkerThread { rings.release() }
            if freeing == nil { rings.release() }
        }
        // The second thread's own name Strings, kept over every batch; made
        // there, on the first batch split in two (295 KB to initialize).
        var secondTexts: ServerNameTexts?
        // The two halves' records, kept over every batch: fresh arrays of
        // 2,048 records (780 KB each) took page faults and zeroing per batch.
        var first: [FlowRecord] = [], second: [FlowRecord] = []
        if split {
            first.reserveCapacity(2048)
            second.reserveCapacity(2048)
        }
        table.finish(batch: split ? 4096 : 1) { states, slots in
            if split && slots.count >= 256 {
                let middle = slots.count / 2
                first.removeAll(keepingCapacity: true)
                second.removeAll(keepingCapacity: true)
                // uids in the order reported, as on one thread.
                let base = self.lastUID
                self.lastUID &+= UInt64(slots.count)
                inParallel({
                    for i in 0..<middle {
                        first.append(self.finalRecord(states[Int(slots[i])], uid: base &+ UInt64(i) &+ 1,
                                                      texts: self.nameTexts))
                    }
                }, {
                    let texts = secondTexts ?? ServerNameTexts()
                    secondTexts = texts
                    for i in middle..<slots.count {
                        second.append(self.finalRecord(states[Int(slots[i])], uid: base &+ UInt64(i) &+ 1,
                                                       texts: texts))
                    }
                })
                // The exporters (with the kept list) and the observers are
                // independent: two threads feed them, each in order. With
                // no exporter here (none, or their own thread's), the tally
                // (the costliest observer) takes one thread and the other
                // observers the other. The records are read in place
                // (buffer pointers: no copy, retain and release per record
                // and thread).
                first.withUnsafeBufferPointer { first in
                    second.withUnsafeBufferPointer { second in
                        if self.exporters.isEmpty || self.exportQueue != nil {
                            inParallel({
                                for i in first.indices { self.write(first[i]); self.observeAllButTally(first[i]) }
                                for i in second.indices { self.write(second[i]); self.observeAllButTally(second[i]) }
                            }, {
                                for i in first.indices { self.tally.observe(first[i]) }
                                for i in second.indices { self.tally.observe(second[i]) }
                            })
                        } else {
                            inParallel({
                                for i in first.indices { self.write(first[i]) }
                                for i in second.indices { self.write(second[i]) }
                            }, {
                                for i in first.indices { self.observeAll(first[i]) }
                                for i in second.indices { self.observeAll(second[i]) }
                            })
                        }
                    }
                }
            } else {
                for slot in slots {
                    self.report(self.finalRecord(states[Int(slot)], uid: self.nextUID(), texts: self.nameTexts))
                }
            }
        }
        freeing?.join()
        // Every flow has been reported: nothing the exporters hold changes now.
        if let queue = exportQueue {
            // The queue's thread finishes them after the last flow, while the
            // rest is made; otherwise every flow is out before this returns.
            if overlappingExporters {
                queue.startFinishing(summary)
            } else {
                queue.end(.stop, summary: nil)
                exportQueue = nil
            }
        } else if overlappingExporters && threads > 1 && !exporters.isEmpty && !exportersFinished {
            // Joined by finishExporters, which the caller promises to call
            // (the closure holds the analyzer until the thread is done).
            exportersFinishing = WorkerThread { [self] in exporterFailure = finishEachExporter() }
        }
        let clients = ClientHost.table(knowledge)
        var summary = self.summary
        if table.names.dropped > 0 {
            summary.warnings.append("\(table.names.dropped) flows lost their server name: the names table keeps the last \(NameTable.capacity) names")
        }
        let limit = grouped(Self.stateLimit(table.expiry))
        if detector.unjudged > 0 {
            summary.warnings.append("more than \(grouped(detector.detector.evidenceLimit)) connection attempts: "
                                    + "\(grouped(detector.unjudged)) later ones were not judged for scans and knocks")
        }
        let unlearned = knowledge.unlearned + knowledge.unlearnedAnswered
        if unlearned > 0 {
            summary.warnings.append("more than \(limit) sockets or client hosts: \(grouped(unlearned)) "
                                    + "flows taught nothing about listeners and ephemeral ranges past it")
        }
        // The findings (from the detector) and the named rows and host list
        // (from the tally) are independent: with threads to spare, made side
        // by side.
        let tallied = tally.tally
        var findings: [Finding] = [], named: [ServiceRow] = [], hosts: [HostRow] = []
        let order = sort
        let makeFindings = { findings = self.detector.findings(clients: clients) }
        let makeRows = {
            named = tallied.namedRows()
            hosts = tallied.hostRows(by: order)
        }
        if threads > 1 { inParallel(makeFindings, makeRows) } else { makeFindings(); makeRows() }
        var result = AnalysisResult(summary: summary, flows: flows, tally: tallied, clients: clients,
                                    findings: findings, namedRows: named)
        result.sort = order
        result.timeline = timeline.result(summary.timeline)
        result.arrange(hosts: hosts)
        return result
    }

    /// Opens and analyses `paths` in order as one capture. Every file is
    /// opened (and its header checked) before any is read.
    public static func analyze(paths: [String], registry: ServiceRegistry = .standard,
                               expiry: ExpiryPolicy = ExpiryPolicy(), decapsulate: Bool = true,
                               recordFilter: ((CaptureRecord) -> Bool)? = nil,
                               exporters: [FlowExporter] = [], keepFlows: Bool = true,
                               threads: Int = 1, binNs: Int64? = nil) throws(CaptureError) -> AnalysisResult {
        var files: [CaptureFile] = []
        for path in paths { files.append(try CaptureFile(path: path)) }
        let analyzer = Analyzer(registry: registry, expiry: expiry, binNs: binNs)
        analyzer.recordFilter = recordFilter
        analyzer.decapsulate = decapsulate
        for e in exporters { analyzer.export(e) }
        analyzer.keepFlows = keepFlows
        analyzer.threads = threads
        for file in files { try analyzer.add(file) }
        return analyzer.finish()
    }
}
