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
