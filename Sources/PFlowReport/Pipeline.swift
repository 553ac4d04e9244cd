import Dispatch
import PFlowCapture
import PFlowFlows
import PFlowWire
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One decoded packet on its way from the reader thread to the tracker:
/// the decoded value plus the first payload bytes (all a flow reads of the
/// frame), so the frame itself may be gone by the time it is tracked.
struct PipelineSlot {
    var packet = DecodedPacket()
    var head: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    var timestampNs: Int64 = 0
    var wireLength: UInt32 = 0
    /// The flow key and hash, worked out by the reader when the packet needs
    /// nothing the tracker keeps (fragment ports, quoted flows).
    var key = FlowKey(addressA: IPAddress(high: 0, low: 0), addressB: IPAddress(high: 0, low: 0),
                      portA: 0, portB: 0, proto: IPProtocol(rawValue: 0), vlan: 0)
    var hash: UInt64 = 0
    var forward = true
    var keyed = false
}

/// A single-producer, single-consumer ring of slots. Indices only grow;
/// the producer publishes `written`, the consumer publishes `taken`.
final class PacketRing: @unchecked Sendable {
    static let capacity = 4096
    let slots: UnsafeMutablePointer<PipelineSlot>
    let written = Atomic<Int>(0)
    let taken = Atomic<Int>(0)
    let finished = Atomic<Bool>(false)

    init() {
        slots = .allocate(capacity: Self.capacity)
        slots.initialize(repeating: PipelineSlot(), count: Self.capacity)
    }

    deinit { slots.deallocate() }

    /// Spins briefly, then sleeps a little: the other side is one core away.
    static func pause(_ round: inout Int) {
        round += 1
        if round < 64 { sched_yield() } else { usleep(50) }
    }
}

/// What the reader thread hands back when it is done.
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
    /// this thread tracks flows and reports them, in packet order, so the
    /// answer is the one a single thread gives.
    func addPipelined(_ file: CaptureFile) throws(CaptureError) {
        let ring = PacketRing()
        let outcome = ReaderOutcome(ingest: Ingest(summary: summary, tunnels: tunnels, decapsulate: decapsulate),
                                    file: file, filter: recordFilter)
        let done = DispatchSemaphore(value: 0)
        let reader = DispatchQueue(label: "pflow.reader")
        reader.async {
            Self.read(outcome, into: ring)
            done.signal()
        }
        let registry = self.registry
        let knowledge = table.knowledge
        let onEnd: (FlowState, EndReason) -> Void = { [unowned self] state, reason in
            self.report(FlowRecord(state, endReason: reason, registry: registry, knowledge: knowledge))
        }
        var next = 0, round = 0
        while true {
            let available = ring.written.load(ordering: .acquiring)
            if next == available {
                if ring.finished.load(ordering: .acquiring) && ring.written.load(ordering: .acquiring) == next { break }
                PacketRing.pause(&round)
                continue
            }
            round = 0
            while next < available {
                let mask = PacketRing.capacity - 1
                if next + 16 < available {
                    let ahead = ring.slots + ((next + 16) & mask)
                    if ahead.pointee.keyed { table.prefetchIndex(hash: ahead.pointee.hash) }
                }
                if next + 8 < available {
                    let ahead = ring.slots + ((next + 8) & mask)
                    if ahead.pointee.keyed { table.prefetchState(hash: ahead.pointee.hash) }
                }
                let slot = ring.slots + (next & mask)
                withUnsafeBytes(of: &slot.pointee.head) { head in
                    if slot.pointee.keyed {
                        table.add(slot.pointee.packet, key: slot.pointee.key, forward: slot.pointee.forward,
                                  hash: slot.pointee.hash, frame: head, timestampNs: slot.pointee.timestampNs,
                                  wireLength: slot.pointee.wireLength, onEnd: onEnd)
                    } else {
                        table.add(slot.pointee.packet, frame: head, timestampNs: slot.pointee.timestampNs,
                                  wireLength: slot.pointee.wireLength, onEnd: onEnd)
                    }
                }
                next += 1
                if next & 63 == 0 { ring.taken.store(next, ordering: .releasing) }
            }
            ring.taken.store(next, ordering: .releasing)
        }
        done.wait()
        if let error = outcome.error { throw error }
        finishFile(file, ingest: &outcome.ingest, read: outcome.read)
    }

    /// The reader thread's loop: filter, count, decode, hand over.
    private static func read(_ outcome: ReaderOutcome, into ring: PacketRing) {
        var written = 0, round = 0
        var taken = 0
        let filter = outcome.filter
        do throws(CaptureError) {
            outcome.read = try outcome.file.forEachRecord { record in
                if let filter, !filter(record) { return }
                guard outcome.ingest.decode(record) else { return }
                while written - taken >= PacketRing.capacity {
                    taken = ring.taken.load(ordering: .acquiring)
                    if written - taken >= PacketRing.capacity { PacketRing.pause(&round) }
                }
                round = 0
                let slot = ring.slots + (written & (PacketRing.capacity - 1))
                let p = outcome.ingest.packet
                slot.pointee.packet = p
                // The first payload bytes travel in the slot; offsets now point into it.
                let copied = max(0, min(PayloadHead.capacity, p.capturedPayloadLength, record.bytes.count - p.payloadOffset))
                withUnsafeMutableBytes(of: &slot.pointee.head) { head in
                    if copied > 0 {
                        head.copyMemory(from: UnsafeRawBufferPointer(rebasing: record.bytes[p.payloadOffset..<(p.payloadOffset + copied)]))
                    }
                }
                slot.pointee.packet.payloadOffset = 0
                slot.pointee.packet.capturedPayloadLength = copied
                slot.pointee.timestampNs = record.timestampNs
                slot.pointee.wireLength = record.originalLength
                slot.pointee.keyed = !p.hasQuote && !(p.fragmented && p.proto.hasPorts)
                if slot.pointee.keyed {
                    var forward = true
                    slot.pointee.key = FlowKey(packet: p, forward: &forward)
                    slot.pointee.forward = forward
                    slot.pointee.hash = slot.pointee.key.fastHash
                }
                written += 1
                if written & 63 == 0 { ring.written.store(written, ordering: .releasing) }
            }
        } catch {
            outcome.error = error
        }
        ring.written.store(written, ordering: .releasing)
        ring.finished.store(true, ordering: .releasing)
    }
}
