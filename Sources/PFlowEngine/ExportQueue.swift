import CPlatform
import PFlowCore
import PFlowFlows
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Ended flows on their way to the exporters, which run on a thread of
/// their own (`Analyzer.exportOnThread`): formatting a flow as CSV, Parquet
/// cells or an IPFIX record is about as much work as tracking it, and on
/// the reporting threads it ran in line with everything else, alone at the
/// capture's end (the flows still live, a Parquet file's last row group).
/// Records reach the exporters in the order they were reported, one call at
/// a time, so every output is the one a single thread writes.
///
/// One producer at a time (whichever thread reports: the pipeline's token,
/// or the caller, hands that role over with acquire/release), one consumer:
/// the queue's thread.
final class ExportQueue: @unchecked Sendable {
    /// 4,096 records: room for a sweep's burst of ended flows while the
    /// exporters catch up (1M capture, `--parquet`, alternating: 256 slots
    /// 1.80 times flowtrack, 1,024 1.72, 4,096 1.61, 16,384 1.64).
    static let capacity = 4096
    enum Item: UInt8 {
        case flow
        /// Live capture's once-a-second push of buffered output.
        case flush
        /// A change to the exporters' settings that must fall between the
        /// flows before it and those after (`Analyzer.inExportOrder`).
        case call
        /// No more flows: finish every exporter, then stop.
        case finish
        /// No more flows: stop, leaving the exporters unfinished.
        case stop
    }
    private let items: UnsafeMutablePointer<Item>
    private let records: UnsafeMutablePointer<FlowRecord>
    /// The closures of `.call` items (nil elsewhere).
    private let calls: UnsafeMutablePointer<(() -> Void)?>
    private let written = Atomic<Int>(0)
    private let taken = Atomic<Int>(0)
    // Producer side.
    @exclusivity(unchecked) private var next = 0
    @exclusivity(unchecked) private var knownTaken = 0
    private let exporters: [FlowExporter]
    /// What `finish` said: set by the queue's thread before it ends.
    @exclusivity(unchecked) private(set) var failure: ExportError?
    /// The exporters were finished (a `finish` item was reached).
    @exclusivity(unchecked) private(set) var finished = false
    private var thread: WorkerThread?
    private var summary: CaptureSummary?
    /// `.finish` or `.stop` was sent (producer side): nothing more may be.
    private(set) var ended = false

    /// Starts the queue's thread; nil when no thread can be had.
    init?(exporters: [FlowExporter]) {
        self.exporters = exporters
        items = .allocate(capacity: Self.capacity)
        records = .allocate(capacity: Self.capacity)
        calls = .allocate(capacity: Self.capacity)
        calls.initialize(repeating: nil, count: Self.capacity)
        let queue = Unmanaged.passUnretained(self)
        // Joined in `end` (or deinit), before the queue goes.
        guard let thread = WorkerThread({ queue._withUnsafeGuaranteedRef { $0.run() } }) else {
            items.deallocate()
            records.deallocate()
            calls.deinitialize(count: Self.capacity)
            calls.deallocate()
            return nil
        }
        self.thread = thread
    }

    deinit {
        if thread != nil { end(.stop, summary: nil) }
        // Flows not taken (none once the thread has ended) are released here.
        for n in taken.load(ordering: .acquiring)..<written.load(ordering: .acquiring)
            where items[n & (Self.capacity - 1)] == .flow {
            (records + (n & (Self.capacity - 1))).deinitialize(count: 1)
        }
        items.deallocate()
        records.deallocate()
        calls.deinitialize(count: Self.capacity)
        calls.deallocate()
    }

    /// Every cache line of the record slot at `slot`, a hint: the slots
    /// were last touched on the other thread's core, and a record spans
    /// six lines.
    @inline(__always)
    static func prefetch(_ slot: UnsafeMutablePointer<FlowRecord>) {
        let p = UnsafeRawPointer(slot)
        var offset = 0
        while offset < MemoryLayout<FlowRecord>.stride {
            pflow_prefetch(p + offset)
            offset += 64
        }
    }

    /// A slot to fill, once the consumer has freed it.
    @inline(__always)
    private func claim() -> Int {
        var round = 0
        while next - knownTaken >= Self.capacity {
            knownTaken = taken.load(ordering: .acquiring)
            if next - knownTaken >= Self.capacity { PacketRing.pause(&round) }
        }
        return next & (Self.capacity - 1)
    }

    @inline(__always)
    private func publish() {
        next += 1
        written.store(next, ordering: .releasing)
    }

    func push(_ flow: FlowRecord) {
        assert(!ended, "a flow pushed after the queue was ended")
        let i = claim()
        items[i] = .flow
        (records + i).initialize(to: flow)
        Self.prefetch(records + ((i + 2) & (Self.capacity - 1)))
        publish()
    }

    func pushFlush() {
        let i = claim()
        items[i] = .flush
        publish()
    }

    func pushCall(_ body: @escaping () -> Void) {
        assert(!ended, "a call pushed after the queue was ended")
        let i = claim()
        items[i] = .call
        calls[i] = body
        publish()
    }

    /// Sends `item` (`.finish` or `.stop`) and waits for the thread to end:
    /// every flow pushed before has been exported by then.
    func end(_ item: Item, summary: CaptureSummary?) {
        guard let thread else { return }
        if !ended {
            self.summary = summary
            ended = true
            let i = claim()
            items[i] = item
            publish()
        }
        thread.join()
        self.thread = nil
    }

    /// Sends `.finish` without waiting: `join` waits.
    func startFinishing(_ summary: CaptureSummary) {
        guard thread != nil, !ended else { return }
        self.summary = summary
        ended = true
        let i = claim()
        items[i] = .finish
        publish()
    }

    /// Waits for the thread (after `startFinishing`).
    func join() {
        thread?.join()
        thread = nil
    }

    /// The queue's thread: exports what arrives, in order, until told to stop.
    private func run() {
        var at = 0, round = 0
        let mask = Self.capacity - 1
        while true {
            let available = written.load(ordering: .acquiring)
            if at == available {
                PacketRing.pause(&round)
                continue
            }
            round = 0
            while at < available {
                let i = at & mask
                switch items[i] {
                case .flow:
                    Self.prefetch(records + ((i + 2) & mask))
                    let flow = (records + i).move()
                    for e in exporters { e.export(flow) }
                case .flush:
                    for e in exporters { e.flush() }
                case .call:
                    let body = calls[i]
                    calls[i] = nil
                    body?()
                case .finish:
                    var first: ExportError?
                    for e in exporters {
                        do throws(ExportError) {
                            try e.finish(summary ?? CaptureSummary())
                        } catch {
                            if first == nil { first = error }
                        }
                    }
                    failure = first
                    finished = true
                    taken.store(at + 1, ordering: .releasing)
                    return
                case .stop:
                    taken.store(at + 1, ordering: .releasing)
                    return
                }
                at += 1
                if at & 31 == 0 { taken.store(at, ordering: .releasing) }
            }
            taken.store(at, ordering: .releasing)
        }
    }
}
