import PFlowCore
import PFlowCapture
import PFlowFlows
import PFlowWire

/// One `TrackedPacket` and its quote slot, for the single-threaded run
/// (the pipeline's ring without the ring).
final class OneSlot {
    let packet = UnsafeMutablePointer<TrackedPacket>.allocate(capacity: 1)
    let quote = UnsafeMutablePointer<FlowKey>.allocate(capacity: 1)
    let note = UnsafeMutablePointer<NameNote>.allocate(capacity: 1)
    init() {
        note.initialize(to: NameNote())
        packet.initialize(to: TrackedPacket())
        quote.initialize(to: FlowKey(addressA: IPAddress(high: 0, low: 0), addressB: IPAddress(high: 0, low: 0),
                                     portA: 0, portB: 0, proto: IPProtocol(rawValue: 0), vlan: 0))
    }
    deinit {
        packet.deallocate()
        quote.deallocate()
        note.deallocate()
    }
}

/// The per-record work shared by files and live capture, on the reading
/// side: count, decode, fill a slot for the tracker. Kept in a local value
/// while a file is read, so the hot loop works on the stack.
struct Ingest {
    var packet = DecodedPacket()
    var summary: CaptureSummary
    var tunnels: TunnelTable
    var intake: PacketIntake
    var first: Int64
    var last: Int64
    var runType = LinkType(rawValue: 0)
    var runCount: UInt64 = 0
    /// Where the timeline starts, for the services' bins.
    let origin: TimelineOrigin

    init(summary: CaptureSummary, tunnels: TunnelTable, intake: PacketIntake,
         decapsulate: Bool, origin: TimelineOrigin) {
        self.origin = origin
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
        fill(slot.packet, quote: slot.quote, note: slot.note, record: record)
        table.add(slot.packet, quote: slot.quote, notes: slot.note)
    }

    /// Hands the packet just decoded to a slot; the decoded packet is read
    /// where it lies (copying it out, about 200 bytes, cost a memmove).
    @inline(__always)
    mutating func fill(_ slot: UnsafeMutablePointer<TrackedPacket>, quote: UnsafeMutablePointer<FlowKey>,
                       note: UnsafeMutablePointer<NameNote>, record: CaptureRecord) {
        intake.fill(slot, quote: quote, note: note, packet: &packet, frame: record.bytes, timestampNs: record.timestampNs,
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
        // Every record, in the bin of its own time (as tshark's io,stat
        // counts): one in the last record's bin is counted by the totals above.
        if !summary.timeline.holds(ts) {
            summary.timeline.enter(ts, bytes: UInt64(record.originalLength), packets: summary.packets, bytes: summary.bytes)
            origin.ns = summary.timeline.grid.originNs
        }
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
        tunnels.add(key, inner: inner, wireLength: wireLength)
    }

    /// Folds the running counts into the summary.
    mutating func close(table: FlowTable) {
        if runCount > 0 { summary.linkTypes[runType, default: 0] &+= runCount }
        runCount = 0
        summary.timeline.settle(packets: summary.packets, bytes: summary.bytes)
        summary.peakLiveFlows = table.peakLiveCount
        (summary.tunnels, summary.otherTunnels) = tunnels.summaries()
        if first <= last { summary.firstNs = first; summary.lastNs = last }
    }
}

/// The tunnels seen, bounded: the first `limit` tunnels are kept one by one;
/// packets of tunnels past it are summed in `other` (their number sketched).
/// Inner flows are counted exactly until `innerBudget` keys are held over
/// all tunnels; a tunnel that would go past it counts its inner flows in a
/// sketch from then on. So 1M IP-in-IP tunnels, or one VXLAN tunnel with
/// millions of inner flows, cost bounded memory.
struct TunnelTable {
    static let limit = 10_000
    static let innerBudget = 1 << 18
    var entries: [Analyzer.TunnelKey: Analyzer.TunnelEntry] = [:]
    /// Inner keys held in the exact sets.
    var innerKept = 0
    var other = OtherTunnels()
    var otherSketch = DistinctSketch()

    mutating func add(_ key: Analyzer.TunnelKey, inner: FlowKey, wireLength: UInt32) {
        if entries.count >= Self.limit && entries[key] == nil {
            other.packets &+= 1
            other.bytes &+= UInt64(wireLength)
            otherSketch.add(hash: HashSeed.run.hash(key.a.high ^ UInt64(key.kind.rawValue), key.a.low, key.b.high ^ key.b.low))
            return
        }
        let budgetLeft = innerKept < Self.innerBudget
        // In place: copying the entry out and back copied its whole set per packet.
        let added = entries[key, default: Analyzer.TunnelEntry(summary: TunnelSummary(kind: key.kind, endpointA: key.a, endpointB: key.b))]
            .add(inner, wireLength: wireLength, exact: budgetLeft)
        if added { innerKept += 1 }
    }

    /// Every tunnel kept, most bytes first, and the sum of the rest.
    func summaries() -> ([TunnelSummary], OtherTunnels?) {
        let list = entries.values.map { entry in
            var t = entry.summary
            t.innerFlows = entry.inner.count + (entry.sketch?.estimate ?? 0)
            t.innerFlowsEstimated = entry.sketch != nil
            return t
        }.sorted {
            $0.bytes != $1.bytes ? $0.bytes > $1.bytes
                : ($0.endpointA, $0.endpointB, $0.kind.rawValue) < ($1.endpointA, $1.endpointB, $1.kind.rawValue)
        }
        guard other.packets > 0 else { return (list, nil) }
        var rest = other
        rest.tunnels = max(1, otherSketch.estimate)
        return (list, rest)
    }
}

extension Analyzer.TunnelEntry {
    /// Counts a packet; true when its inner flow was added to the exact set.
    mutating func add(_ inner: FlowKey, wireLength: UInt32, exact: Bool) -> Bool {
        summary.packets &+= 1
        summary.bytes &+= UInt64(wireLength)
        if sketch == nil && (exact || self.inner.contains(inner)) {
            return self.inner.insert(inner).inserted
        }
        if sketch == nil {
            // Past the budget: this tunnel's new inner flows go to a sketch
            // (the exact ones stay exact; the sum is an estimate).
            sketch = DistinctSketch()
        }
        if !self.inner.contains(inner) { sketch?.add(hash: inner.fastHash(HashSeed.run)) }
        return false
    }
}
