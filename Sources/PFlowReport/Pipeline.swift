import PFlowCore
import PFlowCapture
import PFlowFlows
import PFlowWire
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One decoded packet on its way from the reader thread to the tracker: its
/// key, hash and facts, plus the first payload bytes (all a flow reads of
/// the frame), so the frame itself may be gone by the time it is tracked.
/// 112 bytes; the rare packet the tracker must see whole (a fragment, an
/// ICMP error quoting a flow) also travels in full beside it.
struct PipelineSlot {
    /// As sent (source first) until the tracker makes it canonical and
    /// works out `forward` and `hash` (`prepared`), a few slots ahead of its
    /// turn: that work sits on the tracker's side of the pipeline, whose
    /// reader has more to do.
    var key = FlowKey(addressA: IPAddress(high: 0, low: 0), addressB: IPAddress(high: 0, low: 0),
                      portA: 0, portB: 0, proto: IPProtocol(rawValue: 0), vlan: 0)
    var forward = true
    var prepared = false
    var isICMPReply = false
    /// Key and facts are set (otherwise the full packet is).
    var keyed = false
    var hash: UInt64 = 0
    var timestampNs: Int64 = 0
    var facts = PacketFacts()
    var wireLength: UInt32 = 0
    var head: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
}

/// A single-producer, single-consumer ring of slots. Indices only grow;
/// the producer publishes `written`, the consumer publishes `taken`.
final class PacketRing: @unchecked Sendable {
    /// 16,384 slots (1.8 MB): room for the reader to run on while the
    /// tracker ends a sweep's worth of flows at once. Measured on the 1M
    /// bench capture, alternating 15 runs: 4,096 slots 0.316 s median,
    /// 8,192 0.290 s, 16,384 0.256 s, 32,768 0.249 s, 65,536 0.266 s.
    static let capacity = 16384
    let slots: UnsafeMutablePointer<PipelineSlot>
    /// Whole packets for the slots that are not `keyed`; initialized only
    /// where one is written (DecodedPacket holds no references), so the
    /// 3 MB stay untouched when no packet needs them.
    let whole: UnsafeMutablePointer<DecodedPacket>
    let written = Atomic<Int>(0)
    let taken = Atomic<Int>(0)
    let finished = Atomic<Bool>(false)

    init() {
        // Zeroed by calloc, which for blocks this size maps fresh zero pages
        // instead of writing 1.8 MB: a small capture touches a few of them.
        // A slot is only integers and booleans, for which all-zero bytes are
        // a valid value (the test of the layouts checks it holds no references).
        let bytes = calloc(Self.capacity, MemoryLayout<PipelineSlot>.stride)
        slots = bytes?.bindMemory(to: PipelineSlot.self, capacity: Self.capacity) ?? {
            let p = UnsafeMutablePointer<PipelineSlot>.allocate(capacity: Self.capacity)
            p.initialize(repeating: PipelineSlot(), count: Self.capacity)
            return p
        }()
        callocated = bytes != nil
        whole = .allocate(capacity: Self.capacity)
    }
    private let callocated: Bool

    deinit {
        if callocated { free(slots) } else { slots.deallocate() }
        whole.deallocate()
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
final class EventRing: KnowledgeLog, @unchecked Sendable {
    static let capacity = 16384
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
    private let report: (FlowState, EndReason) -> Void

    init(knowledge: TrafficKnowledge, report: @escaping (FlowState, EndReason) -> Void) {
        self.knowledge = knowledge
        self.report = report
        kinds = .allocate(capacity: Self.capacity)
        reasons = .allocate(capacity: Self.capacity)
        states = .allocate(capacity: Self.capacity)
        clients = .allocate(capacity: Self.capacity)
        ports = .allocate(capacity: Self.capacity)
    }

    deinit {
        kinds.deallocate()
        reasons.deallocate()
        states.deallocate()
        clients.deallocate()
        ports.deallocate()
    }

    /// The next free slot; a full ring is drained here and now.
    @inline(__always)
    private func claim() -> Int {
        var round = 0
        while next - knownTaken >= Self.capacity {
            knownTaken = taken.load(ordering: .acquiring)
            if next - knownTaken >= Self.capacity && drain() == 0 { PacketRing.pause(&round) }
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

    func ended(_ state: FlowState, _ reason: EndReason) {
        let i = claim()
        kinds[i] = .ended
        (states + i).initialize(to: state)
        (reasons + i).initialize(to: reason)
        publish()
    }

    /// Applies every event published so far, in order, unless the other
    /// thread is doing so. Returns how many were applied.
    @discardableResult
    func drain() -> Int {
        guard written.load(ordering: .acquiring) > taken.load(ordering: .acquiring) else { return 0 }
        guard token.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return 0 }
        defer { token.store(false, ordering: .releasing) }
        let start = taken.load(ordering: .relaxed)
        let end = written.load(ordering: .acquiring)
        guard end > start else { return 0 }
        for n in start..<end {
            let i = n & (Self.capacity - 1)
            switch kinds[i] {
            case .attempt:
                knowledge.sawConnectionAttempt(from: clients[i], port: ports[i])
            case .ended:
                knowledge.learn(from: states[i])
                report(states[i], reasons[i])
            }
        }
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
        let registry = self.registry
        let knowledge = table.knowledge
        let events = EventRing(knowledge: knowledge) { [unowned self] state, reason in
            self.report(FlowRecord(state, endReason: reason, registry: registry, knowledge: knowledge))
        }
        let outcome = ReaderOutcome(ingest: Ingest(summary: summary, tunnels: tunnels, decapsulate: decapsulate),
                                    file: file, filter: recordFilter)
        guard let reader = WorkerThread({ Self.read(outcome, into: ring, events: events) }) else {
            // No second thread to be had: read on this one.
            return try addSerially(file)
        }
        table.knowledgeLog = events
        let onEnd: (FlowState, EndReason) -> Void = { _, _ in }  // ended flows go to `events`
        var next = 0, round = 0
        let mask = PacketRing.capacity - 1
        while true {
            let available = ring.written.load(ordering: .acquiring)
            if next == available {
                if ring.finished.load(ordering: .acquiring) && ring.written.load(ordering: .acquiring) == next { break }
                // The reader is behind: take reporting off its hands meanwhile.
                if events.drain() == 0 { PacketRing.pause(&round) }
                continue
            }
            round = 0
            while next < available {
                // The flows of packets a few places ahead: their index entries
                // first, their states once the entries have arrived.
                var lookahead: (index: UInt64, state: UInt64) = (0, 0)
                if next + 16 < available {
                    let ahead = ring.slots + ((next + 16) & mask)
                    if ahead.pointee.keyed {
                        Self.prepare(ahead)
                        lookahead.index = ahead.pointee.hash
                    }
                }
                if next + 8 < available {
                    let ahead = ring.slots + ((next + 8) & mask)
                    if ahead.pointee.keyed && ahead.pointee.prepared { lookahead.state = ahead.pointee.hash }
                }
                let slot = ring.slots + (next & mask)
                if slot.pointee.keyed && !slot.pointee.prepared { Self.prepare(slot) }
                withUnsafeBytes(of: &slot.pointee.head) { head in
                    if slot.pointee.keyed {
                        table.add(slot.pointee.facts, key: slot.pointee.key, forward: slot.pointee.forward,
                                  hash: slot.pointee.hash, frame: head, timestampNs: slot.pointee.timestampNs,
                                  wireLength: slot.pointee.wireLength, lookahead: lookahead, onEnd: onEnd)
                    } else {
                        table.add(ring.whole[next & mask], frame: head, timestampNs: slot.pointee.timestampNs,
                                  wireLength: slot.pointee.wireLength, onEnd: onEnd)
                    }
                }
                next += 1
                if next & 63 == 0 { ring.taken.store(next, ordering: .releasing) }
            }
            ring.taken.store(next, ordering: .releasing)
        }
        table.knowledgeLog = nil
        events.finished.store(true, ordering: .releasing)
        reader.join()
        events.drain()
        if let error = outcome.error { throw error }
        finishFile(file, ingest: &outcome.ingest, read: outcome.read)
    }

    /// Makes a slot's key canonical and works out its direction and hash.
    @inline(__always)
    private static func prepare(_ slot: UnsafeMutablePointer<PipelineSlot>) {
        let (key, forward) = FlowKey.canonical(slot.pointee.key, isICMPReply: slot.pointee.isICMPReply)
        slot.pointee.key = key
        slot.pointee.forward = forward
        slot.pointee.hash = key.fastHash
        slot.pointee.prepared = true
    }

    /// The reader thread's loop: filter, count, decode, hand over; and, while
    /// it would wait (or the events pile up), learn from and report the flows
    /// that ended.
    private static func read(_ outcome: ReaderOutcome, into ring: PacketRing, events: EventRing) {
        var written = 0, round = 0
        var taken = 0
        let filter = outcome.filter
        do throws(CaptureError) {
            outcome.read = try outcome.file.forEachRecord { record in
                if let filter, !filter(record) { return }
                guard outcome.ingest.decode(record) else { return }
                while written - taken >= PacketRing.capacity {
                    taken = ring.taken.load(ordering: .acquiring)
                    if written - taken >= PacketRing.capacity, events.drain() == 0 {
                        PacketRing.pause(&round)
                    }
                }
                round = 0
                let at = written & (PacketRing.capacity - 1)
                outcome.ingest.fill(ring.slots + at, whole: ring.whole + at, record: record)
                written += 1
                if written & 63 == 0 {
                    ring.written.store(written, ordering: .releasing)
                    // The tracker is behind (half the ring waits for it), or
                    // events pile up: report here instead of leaving it to it.
                    taken = ring.taken.load(ordering: .relaxed)
                    if written - taken >= PacketRing.capacity / 2 || events.pending >= EventRing.capacity / 2 {
                        events.drain()
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
            if events.drain() > 0 { round = 0; continue }
            PacketRing.pause(&round)
        }
    }
}

extension Ingest {
    /// Hands the packet just decoded to a ring slot (`whole` when the
    /// tracker needs all of it). The decoded packet is read where it lies:
    /// copying it out (about 200 bytes) cost a memmove per packet.
    @inline(__always)
    mutating func fill(_ slot: UnsafeMutablePointer<PipelineSlot>, whole: UnsafeMutablePointer<DecodedPacket>,
                       record: CaptureRecord) {
        // The first payload bytes travel in the slot; offsets now point into it.
        let copied = max(0, min(PayloadHead.capacity, packet.capturedPayloadLength, record.bytes.count - packet.payloadOffset))
        if copied == PayloadHead.capacity {
            // The common case: four word loads instead of a memmove call.
            slot.pointee.head = record.bytes.loadUnaligned(fromByteOffset: packet.payloadOffset,
                                                           as: (UInt64, UInt64, UInt64, UInt64).self)
        } else if copied > 0 {
            let from = packet.payloadOffset
            withUnsafeMutableBytes(of: &slot.pointee.head) { head in
                head.copyMemory(from: UnsafeRawBufferPointer(rebasing: record.bytes[from..<(from + copied)]))
            }
        }
        slot.pointee.timestampNs = record.timestampNs
        slot.pointee.wireLength = record.originalLength
        slot.pointee.keyed = !packet.hasQuote && !(packet.fragmented && packet.proto.hasPorts)
        if slot.pointee.keyed {
            slot.pointee.key = FlowKey(addressA: packet.source, addressB: packet.destination, portA: packet.sourcePort,
                                       portB: packet.destinationPort, proto: packet.proto, vlan: packet.vlan ?? FlowKey.noVLAN)
            slot.pointee.isICMPReply = packet.isICMPReply
            slot.pointee.prepared = false
            slot.pointee.facts = PacketFacts(packet)
            slot.pointee.facts.payloadOffset = 0
            slot.pointee.facts.capturedPayload = UInt32(copied)
        } else {
            whole.initialize(to: packet)
            whole.pointee.payloadOffset = 0
            whole.pointee.capturedPayloadLength = copied
        }
    }
}
