import CPlatform
import PFlowCore
import PFlowCapture
import PFlowFlows
import PFlowWire
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A single-producer, single-consumer ring of slots. Indices only grow;
/// the producer publishes `written`, the consumer publishes `taken`.
final class PacketRing: @unchecked Sendable {
    /// 16,384 slots (1.8 MB): room for the reader to run on while the
    /// tracker ends a sweep's worth of flows at once. Measured on the 1M
    /// bench capture, alternating 15 runs: 4,096 slots 0.316 s median,
    /// 8,192 0.290 s, 16,384 0.256 s, 32,768 0.249 s, 65,536 0.266 s.
    static let capacity = 16384
    let slots: UnsafeMutablePointer<TrackedPacket>
    /// The quoted flow key of the slots that hold an ICMP error; written
    /// only there (FlowKey holds no references), so the pages stay
    /// untouched when no packet needs them.
    let quotes: UnsafeMutablePointer<FlowKey>
    let written = Atomic<Int>(0)
    let taken = Atomic<Int>(0)
    let finished = Atomic<Bool>(false)
    /// Server names found by the reader (few packets carry one): a smaller
    /// ring of its own, used in order by the slots with `hasNote`. Entry `i` is
    /// reused only once the tracker has taken the slot that carried it
    /// (`noteOwners`, reader side).
    static let noteCapacity = 1024
    let notes: UnsafeMutablePointer<NameNote>
    @exclusivity(unchecked) var noteOwners: [Int]
    @exclusivity(unchecked) var nextNote = 0

    init() {
        notes = .allocate(capacity: Self.noteCapacity)
        notes.initialize(repeating: NameNote(), count: Self.noteCapacity)
        noteOwners = [Int](repeating: -1, count: Self.noteCapacity)
        // Zeroed by calloc, which for blocks this size maps fresh zero pages
        // instead of writing 1.8 MB: a small capture touches a few of them.
        // A slot is only integers and booleans, for which all-zero bytes are
        // a valid value (the test of the layouts checks it holds no references).
        assert(_isPOD(TrackedPacket.self) && _isPOD(FlowKey.self), "ring slots are never deinitialized")
        let bytes = calloc(Self.capacity, MemoryLayout<TrackedPacket>.stride)
        slots = bytes?.bindMemory(to: TrackedPacket.self, capacity: Self.capacity) ?? {
            let p = UnsafeMutablePointer<TrackedPacket>.allocate(capacity: Self.capacity)
            p.initialize(repeating: TrackedPacket(), count: Self.capacity)
            return p
        }()
        callocated = bytes != nil
        quotes = .allocate(capacity: Self.capacity)
    }
    private let callocated: Bool

    deinit {
        if callocated { free(slots) } else { slots.deallocate() }
        quotes.deallocate()
        notes.deallocate()
    }

    /// Spins briefly, then sleeps a little: the other side is one core away.
    static func pause(_ round: inout Int) {
        round += 1
        if round < 64 { sched_yield() } else { usleep(50) }
    }
}

/// Knowledge updates and ended flows from the tracker, learned from and
/// reported in exactly the order the tracker made them (so every flow is
/// judged with the same knowledge a single thread would have had). Either
/// thread drains the ring when it would otherwise wait: the reader while
/// the tracker is behind, the tracker while the reader is; a token makes
/// sure only one does at a time, and its acquire/release hands the
/// knowledge, tally and sinks over between them.
///
/// Slots hold trivial values only (enums, integers, `FlowState` and
/// `IPAddress`, which own nothing): each is overwritten in place and the
/// buffers are freed without deinitializing (asserted in debug builds).
final class EventRing: FlowEvents, @unchecked Sendable {
    static let capacity = 16384
    /// The most events one turn of draining applies before the token is
    /// given back, so a thread that runs out of its own work waits at most
    /// this many reports for its share of the rest. (Turns of any length
    /// left the tracker idle 30-50 ms at a time while the reader reported
    /// a sweep's backlog; 1M capture, `--parquet`, 9 alternating rounds:
    /// 1.92 -> 1.83 times flowtrack.)
    static let chunk = 64
    enum Kind: UInt8 { case attempt, ended }
    let kinds: UnsafeMutablePointer<Kind>
    let reasons: UnsafeMutablePointer<EndReason>
    let states: UnsafeMutablePointer<FlowState>
    let clients: UnsafeMutablePointer<IPAddress>
    let ports: UnsafeMutablePointer<UInt16>
    let written = Atomic<Int>(0)
    let taken = Atomic<Int>(0)
    /// The tracker has sent its last event.
    let finished = Atomic<Bool>(false)
    // Producer-side cursors (tracker thread only).
    @exclusivity(unchecked) private var next = 0
    @exclusivity(unchecked) private var knownTaken = 0
    /// Held by the thread draining the ring.
    private let token = Atomic<Bool>(false)
    private let knowledge: TrafficKnowledge
    private let report: (FlowState, EndReason, UnsafePointer<ServerName>?) -> Void
    /// The server names of ended flows that have one (`hasName`), back to
    /// back in a ring of bytes: each in `ServerName`'s layout but only as
    /// long as its length says (a header word, then the name's bytes), at
    /// `nameAt` of its event, never across the ring's end. A whole slot of
    /// 264 bytes per event (4.3 MB) took about 1,060 page faults on the 1M
    /// bench capture, on the tracker, at ~3.4 µs each; names of a few dozen
    /// bytes fill a quarter of this one's pages.
    static let nameBytes = 1 << 20
    let nameRing: UnsafeMutablePointer<UInt8>
    let nameAt: UnsafeMutablePointer<Int>
    let hasName: UnsafeMutablePointer<Bool>
    /// Producer side: where the next name goes (grows without bound; the
    /// ring position is this modulo `nameBytes`), and how far the drainer
    /// had read when last asked.
    @exclusivity(unchecked) private var nextName = 0
    @exclusivity(unchecked) private var knownNamesTaken = 0
    /// Drainer side: the end of the last name applied (published with `taken`).
    let namesTaken = Atomic<Int>(0)

    init(knowledge: TrafficKnowledge, report: @escaping (FlowState, EndReason, UnsafePointer<ServerName>?) -> Void) {
        assert(_isPOD(FlowState.self) && _isPOD(IPAddress.self) && _isPOD(EndReason.self) && _isPOD(ServerName.self),
               "event slots are freed without deinitializing them")
        self.knowledge = knowledge
        self.report = report
        kinds = .allocate(capacity: Self.capacity)
        reasons = .allocate(capacity: Self.capacity)
        states = .allocate(capacity: Self.capacity)
        clients = .allocate(capacity: Self.capacity)
        ports = .allocate(capacity: Self.capacity)
        // Zeroed (calloc: pages touched as names arrive), and a whole
        // `ServerName` of slack past the end, so a name read as one (its
        // words past the length included) never reads outside the block.
        guard let ring = calloc(Self.nameBytes + MemoryLayout<ServerName>.stride, 1) else { fatalError("out of memory") }
        nameRing = ring.bindMemory(to: UInt8.self, capacity: Self.nameBytes + MemoryLayout<ServerName>.stride)
        nameAt = .allocate(capacity: Self.capacity)
        hasName = .allocate(capacity: Self.capacity)
    }

    deinit {
        kinds.deallocate()
        reasons.deallocate()
        states.deallocate()
        clients.deallocate()
        ports.deallocate()
        free(nameRing)
        nameAt.deallocate()
        hasName.deallocate()
    }

    /// The next free slot; a full ring is drained here and now.
    @inline(__always)
    private func claim() -> Int {
        var round = 0
        while next - knownTaken >= Self.capacity {
            knownTaken = taken.load(ordering: .acquiring)
            if next - knownTaken >= Self.capacity && drain(limit: Self.chunk) == 0 { PacketRing.pause(&round) }
        }
        return next & (Self.capacity - 1)
    }

    /// Events published and not yet applied (a hint: either side may move).
    var pending: Int { written.load(ordering: .relaxed) - taken.load(ordering: .relaxed) }

    private func publish() {
        next += 1
        written.store(next, ordering: .releasing)
    }

    func sawConnectionAttempt(from client: IPAddress, port: UInt16) {
        let i = claim()
        kinds[i] = .attempt
        (clients + i).initialize(to: client)
        ports[i] = port
        publish()
    }

    func ended(_ state: FlowState, _ reason: EndReason, name: UnsafePointer<ServerName>?) {
        let i = claim()
        kinds[i] = .ended
        (states + i).initialize(to: state)
        // The state slot after next, for writing (a hint: it was last read
        // on the other core).
        let ahead = UnsafeRawPointer(states + ((i + 2) & (Self.capacity - 1)))
        pflow_prefetch(ahead)
        pflow_prefetch(ahead + 64)
        pflow_prefetch(ahead + 128)
        (reasons + i).initialize(to: reason)
        hasName[i] = name != nil
        if let name {
            // Only the bytes in use: the length and the name, not the whole
            // 256-byte buffer (read through `ServerName.bytes(of:)`, which
            // stops at the length).
            let used = MemoryLayout<ServerName>.offset(of: \ServerName.bytes)! + Int(name.pointee.length)
            let at = claimName(used)
            nameAt[i] = at
            UnsafeMutableRawPointer(nameRing + at % Self.nameBytes).copyMemory(from: name, byteCount: used)
        }
        publish()
    }

    /// Room for a name of `bytes` (header included) in the names' ring:
    /// where it goes, 8-byte aligned and not across the ring's end. The
    /// ring full (only when pending names average over 64 bytes), it is
    /// drained here and now, as `claim` does the events.
    @inline(__always)
    private func claimName(_ bytes: Int) -> Int {
        var at = nextName
        if at % Self.nameBytes + bytes > Self.nameBytes { at += Self.nameBytes - at % Self.nameBytes }
        var round = 0
        while at + bytes - knownNamesTaken > Self.nameBytes {
            knownNamesTaken = namesTaken.load(ordering: .acquiring)
            if at + bytes - knownNamesTaken > Self.nameBytes && drain(limit: Self.chunk) == 0 { PacketRing.pause(&round) }
        }
        nextName = (at + bytes + 7) & ~7
        return at
    }

    /// Applies every event published so far, in order, unless the other
    /// thread is doing so. Returns how many were applied.
    @discardableResult
    func drain(limit: Int = Int.max) -> Int {
        guard written.load(ordering: .acquiring) > taken.load(ordering: .acquiring) else { return 0 }
        guard token.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return 0 }
        defer { token.store(false, ordering: .releasing) }
        let start = taken.load(ordering: .relaxed)
        let published = written.load(ordering: .acquiring)
        // (No `start + limit`: the default limit would overflow it.)
        let end = published - start > limit ? start + limit : published
        guard end > start else { return 0 }
        var namesRead = namesTaken.load(ordering: .relaxed)
        for n in start..<end {
            let i = n & (Self.capacity - 1)
            switch kinds[i] {
            case .attempt:
                knowledge.sawConnectionAttempt(from: clients[i], port: ports[i])
            case .ended:
                knowledge.learn(from: states[i])
                if hasName[i] {
                    let at = nameAt[i]
                    let name = UnsafeRawPointer(nameRing + at % Self.nameBytes).assumingMemoryBound(to: ServerName.self)
                    report(states[i], reasons[i], name)
                    namesRead = at + MemoryLayout<ServerName>.offset(of: \ServerName.bytes)! + Int(name.pointee.length)
                } else {
                    report(states[i], reasons[i], nil)
                }
            }
        }
        namesTaken.store(namesRead, ordering: .releasing)
        taken.store(end, ordering: .releasing)
        return end - start
    }
}

/// What the reader thread needs and hands back.
final class ReaderOutcome: @unchecked Sendable {
    /// Touched only by the reader thread until it signals that it is done.
    @exclusivity(unchecked) var ingest: Ingest
    var read = ReadSummary()
    var error: CaptureError?
    let file: CaptureFile
    let filter: ((CaptureRecord) -> Bool)?
    var progress: ((CaptureFile, UInt64) -> Void)?

    init(ingest: Ingest, file: CaptureFile, filter: ((CaptureRecord) -> Bool)?) {
        self.ingest = ingest
        self.file = file
        self.filter = filter
    }
}

extension Analyzer {
    /// `--threads 2+`: the reader thread walks the file, counts and decodes;
    /// this thread tracks flows; ended flows come back to the reader thread,
    /// which learns from them and reports them between reads. Everything
    /// happens in packet order, so the answer is the one a single thread
    /// gives; the work splits about evenly over two cores.
    func addPipelined(_ file: CaptureFile) throws(CaptureError) {
        let ring = PacketRing()
        // The ring lives only within this call, on `self`, so the analyzer
        // outlives every report: borrowed unretained, as `direct` borrows it
        // (checked `unowned` took an atomic retain and release per use).
        let analyzer = Unmanaged.passUnretained(self)
        let events = EventRing(knowledge: table.knowledge) { state, reason, name in
            analyzer._withUnsafeGuaranteedRef { $0.ended(state, reason, name: name) }
        }
        let outcome = ReaderOutcome(ingest: Ingest(summary: summary, tunnels: tunnels, intake: intake,
                                                   decapsulate: decapsulate, origin: timelineOrigin),
                                    file: file, filter: recordFilter)
        outcome.progress = progress
        guard let reader = WorkerThread({ Self.read(outcome, into: ring, events: events) }) else {
            // No second thread to be had: read on this one.
            return try addSerially(file)
        }
        table.events = events
        // Held here for every packet's `add` (see there).
        let receiver: FlowEvents = events
        table.noteCursor = 0        // the reader numbers this ring's notes from 0
        let seed = table.seed
        var next = 0, round = 0
        let mask = PacketRing.capacity - 1
        while true {
            let available = ring.written.load(ordering: .acquiring)
            if next == available {
                if ring.finished.load(ordering: .acquiring) && ring.written.load(ordering: .acquiring) == next { break }
                // The reader is behind: take reporting off its hands meanwhile.
                if events.drain(limit: EventRing.chunk) == 0 { PacketRing.pause(&round) }
                continue
            }
            round = 0
            while next < available {
                // The flows of packets a few places ahead: their index entries
                // first, their states once the entries have arrived.
                var lookahead: (index: UInt64, state: UInt64) = (0, 0)
                // (Keys are made canonical and hashed here, on the tracker's
                // side, a few slots ahead of their turn: the reader has more to do.)
                if next + 16 < available {
                    let ahead = ring.slots + ((next + 16) & mask)
                    ahead.pointee.prepare(seed)
                    lookahead.index = ahead.pointee.hash
                }
                if next + 8 < available {
                    let ahead = ring.slots + ((next + 8) & mask)
                    if ahead.pointee.prepared { lookahead.state = ahead.pointee.hash }
                }
                table.add(ring.slots + (next & mask), quote: ring.quotes + (next & mask), notes: ring.notes,
                          noteMask: PacketRing.noteCapacity - 1, lookahead: lookahead, to: receiver)
                next += 1
                if next & 63 == 0 {
                    ring.taken.store(next, ordering: .releasing)
                    // Keeping up with the reader (few packets waiting), the
                    // tracker reports ended flows a few at a time rather
                    // than leave them to the reader, usually the busier side
                    // (it reads, decodes and parses names: on the 1M bench
                    // capture it had done 99% of the reporting, in bursts
                    // after each sweep). Behind, it leaves them.
                    if available - next < 512 && events.pending >= 32 { events.drain(limit: 128) }
                }
            }
            ring.taken.store(next, ordering: .releasing)
        }
        table.events = direct
        events.finished.store(true, ordering: .releasing)
        reader.join()
        events.drain()
        // Freed later, while the capture's end goes on (`retire`).
        retire([ring, events] as [AnyObject] as AnyObject)
        if let error = outcome.error { throw error }
        finishFile(file, ingest: &outcome.ingest, read: outcome.read)
    }

    /// The reader thread's loop: filter, count, decode, hand over; and, while
    /// it would wait (or the events pile up), learn from and report the flows
    /// that ended.
    private static func read(_ outcome: ReaderOutcome, into ring: PacketRing, events: EventRing) {
        var written = 0, round = 0
        var taken = 0
        let filter = outcome.filter
        let progress = outcome.progress
        var records: UInt64 = 0
        do throws(CaptureError) {
            outcome.read = try outcome.file.forEachRecord { record in
                records &+= 1
                if records % Analyzer.progressEvery == 0, let progress { progress(outcome.file, records) }
                if let filter, !filter(record) { return }
                guard outcome.ingest.decode(record) else { return }
                while written - taken >= PacketRing.capacity {
                    taken = ring.taken.load(ordering: .acquiring)
                    if written - taken >= PacketRing.capacity, events.drain(limit: EventRing.chunk) == 0 {
                        PacketRing.pause(&round)
                    }
                }
                round = 0
                let at = written & (PacketRing.capacity - 1)
                // The next note entry must have been read before it may be written.
                let noteAt = ring.nextNote & (PacketRing.noteCapacity - 1)
                while ring.noteOwners[noteAt] >= taken {
                    taken = ring.taken.load(ordering: .acquiring)
                    if ring.noteOwners[noteAt] >= taken, events.drain(limit: EventRing.chunk) == 0 { PacketRing.pause(&round) }
                }
                outcome.ingest.fill(ring.slots + at, quote: ring.quotes + at, note: ring.notes + noteAt, record: record)
                if ring.slots[at].hasNote {
                    ring.noteOwners[noteAt] = written
                    ring.nextNote += 1
                }
                written += 1
                if written & 63 == 0 {
                    ring.written.store(written, ordering: .releasing)
                    // Events pile up: report them all here. The tracker is
                    // behind (half the ring waits for it, as after a sweep
                    // ended a few thousand flows at once): take a few off
                    // its hands and go back to reading. Draining all of them
                    // then left the tracker idle once it had caught up
                    // (1M bench capture: 11,000-34,000 pauses, reader 0.34 s
                    // of CPU against the tracker's 0.30 s; a few at a time:
                    // 1,000-5,000 pauses, 0.32 s against 0.32 s).
                    taken = ring.taken.load(ordering: .relaxed)
                    if events.pending >= EventRing.capacity * 3 / 4 {
                        events.drain(limit: EventRing.chunk)
                    } else if written - taken >= PacketRing.capacity / 2 {
                        events.drain(limit: 32)
                    }
                }
            }
        } catch {
            outcome.error = error
        }
        ring.written.store(written, ordering: .releasing)
        ring.finished.store(true, ordering: .releasing)
        // The tracker still works through the last packets: keep reporting
        // what ends until it says it is done (it drains the rest itself).
        while !events.finished.load(ordering: .acquiring) {
            if events.drain(limit: EventRing.chunk) > 0 { round = 0; continue }
            PacketRing.pause(&round)
        }
    }
}
