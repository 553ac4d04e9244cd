import PFlowCore
import PFlowWire

/// One decoded packet as the flow table takes it: its key, facts and first
/// payload bytes (all a flow reads of the frame), so the frame itself may be
/// gone by the time the packet is tracked. 120 bytes, no references.
///
/// Every packet takes the same steps, on one thread or two: `PacketIntake`
/// fills the slot (reader side), `prepare` makes the key canonical and
/// hashes it, `FlowTable.add` accounts it. The pipeline runs them with a
/// ring of slots between the threads; a single thread runs them on one slot.
public struct TrackedPacket {
    /// As sent (source first) until `prepare` makes it canonical.
    public var key = FlowKey(addressA: IPAddress(high: 0, low: 0), addressB: IPAddress(high: 0, low: 0),
                             portA: 0, portB: 0, proto: IPProtocol(rawValue: 0), vlan: 0)
    public var forward = true
    public var prepared = false
    public var isICMPReply = false
    /// An ICMP error whose quoted header (`PacketIntake`'s quote slot) names
    /// the flow to count it on.
    public var hasQuote = false
    /// The reader found a server name in the payload: the next note (in
    /// order: the tracker counts them) holds it.
    public var hasNote = false
    public var wireLength: UInt32 = 0
    public var hash: UInt64 = 0
    public var timestampNs: Int64 = 0
    public var facts = PacketFacts()
    /// The first `PayloadHead.capacity` payload bytes; `facts` points into them.
    public var head: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init() {}

    /// Makes the key canonical and works out the direction and the hash.
    @inlinable @inline(__always)
    public mutating func prepare(_ seed: HashSeed) {
        let (canonical, forward) = FlowKey.canonical(key, isICMPReply: isICMPReply)
        key = canonical
        self.forward = forward
        hash = canonical.fastHash(seed)
        prepared = true
    }
}

/// The reader side of tracking: lends the ports of a datagram's first
/// fragment to its later ones (which carry no transport header), then fills
/// a `TrackedPacket`. Runs in packet order on the thread that decodes.
public struct PacketIntake {
    // Dictionary keys: Swift's Hasher is seeded per process.
    @usableFromInline struct FragmentKey: Hashable {
        var source: IPAddress, destination: IPAddress, proto: UInt8, id: UInt32
    }
    @usableFromInline struct FragmentPorts {
        var source: UInt16, destination: UInt16, seenNs: Int64
    }
    /// Ports of fragmented datagrams by their first fragment.
    @usableFromInline var fragmentPorts: [FragmentKey: FragmentPorts] = [:]
    /// ClientHellos longer than their first segment, awaiting the next one.
    @usableFromInline var hellos = PendingHellos()
    @usableFromInline var nextFragmentSweepNs = Int64.min
    /// How long a datagram's fragments are awaited (as Linux's ipfrag_time).
    public static let fragmentLifetimeNs: Int64 = 30_000_000_000
    /// The most datagrams awaited at once (Linux keeps about 4 MB of
    /// fragments): a flood of first fragments can't grow the map further.
    public static let fragmentLimit = 65_536

    public init() {}

    /// Fills `slot` (and, for an ICMP error, `quote` with the quoted flow's
    /// key as sent; for a payload that names a server, `note`) from
    /// `packet`, just decoded from `frame`.
    @inlinable @inline(__always)
    public mutating func fill(_ slot: UnsafeMutablePointer<TrackedPacket>, quote: UnsafeMutablePointer<FlowKey>,
                              note: UnsafeMutablePointer<NameNote>,
                              packet: inout DecodedPacket, frame: UnsafeRawBufferPointer,
                              timestampNs: Int64, wireLength: UInt32) {
        if packet.fragmented && packet.proto.hasPorts { joinFragments(&packet, timestampNs) }
        // The first payload bytes travel in the slot; offsets now point into it.
        let copied = max(0, min(PayloadHead.capacity, packet.capturedPayloadLength, frame.count - packet.payloadOffset))
        if copied == PayloadHead.capacity {
            // The common case: four word loads instead of a memmove call.
            slot.pointee.head = frame.loadUnaligned(fromByteOffset: packet.payloadOffset,
                                                    as: (UInt64, UInt64, UInt64, UInt64).self)
        } else if copied > 0 {
            let from = packet.payloadOffset
            withUnsafeMutableBytes(of: &slot.pointee.head) { head in
                head.copyMemory(from: UnsafeRawBufferPointer(rebasing: frame[from..<(from + copied)]))
            }
        }
        slot.pointee.timestampNs = timestampNs
        slot.pointee.wireLength = wireLength
        slot.pointee.key = FlowKey(sentBy: packet)
        slot.pointee.isICMPReply = packet.isICMPReply
        slot.pointee.prepared = false
        slot.pointee.facts = PacketFacts(packet)
        slot.pointee.facts.payloadOffset = 0
        slot.pointee.facts.capturedPayload = UInt32(copied)
        slot.pointee.hasQuote = packet.hasQuote
        // Names are read here, where the whole frame is: only payloads whose
        // first bytes could start a ClientHello, an HTTP request or a DNS
        // response are parsed (bounded by their captured length).
        slot.pointee.hasNote = false
        var resumed = false
        if hellos.waiting > 0 && packet.proto == .tcp && packet.capturedPayloadLength > 0 && !packet.laterFragment {
            resumed = resumeHello(slot, note, packet, frame, timestampNs)
        }
        if !resumed && packet.capturedPayloadLength >= 6 && !packet.laterFragment
            && (packet.proto == .tcp || packet.proto == .udp) {
            let from = packet.payloadOffset
            let to = min(frame.count, from + packet.capturedPayloadLength)
            if from < to {
                slot.pointee.hasNote = ServerNameParser.find(UnsafeRawBufferPointer(rebasing: frame[from..<to]),
                                                             tcp: packet.proto == .tcp, sourcePort: packet.sourcePort,
                                                             into: &note.pointee)
                if !slot.pointee.hasNote && packet.proto == .tcp && frame[from] == 0x16 {
                    holdHello(packet, UnsafeRawBufferPointer(rebasing: frame[from..<to]), timestampNs)
                }
            }
        }
        if packet.hasQuote {
            quote.pointee = FlowKey(addressA: packet.quotedSource, addressB: packet.quotedDestination,
                                    portA: packet.quotedSourcePort, portB: packet.quotedDestinationPort,
                                    proto: packet.quotedProto, vlan: packet.vlan ?? FlowKey.noVLAN)
        }
    }

    /// A TLS record in a whole segment with no name found: if it starts a
    /// ClientHello that goes on past the segment, it waits for the next one.
    @usableFromInline @inline(never)
    mutating func holdHello(_ packet: DecodedPacket, _ payload: UnsafeRawBufferPointer, _ now: Int64) {
        guard packet.capturedPayloadLength == packet.payloadLength, !packet.tcpFlags.contains(.syn) else { return }
        var scanner = ClientHelloScanner()
        guard scanner.feed(payload) == .needMore else { return }
        hellos.hold(scanner, key: FlowKey(sentBy: packet),
                    nextSequence: packet.tcpSequence &+ UInt32(truncatingIfNeeded: packet.payloadLength), now: now)
    }

    /// The next segment of a ClientHello held: true if it was (its name, if
    /// it completes one, in `note`), false to read it as any other payload.
    @usableFromInline @inline(never)
    mutating func resumeHello(_ slot: UnsafeMutablePointer<TrackedPacket>, _ note: UnsafeMutablePointer<NameNote>,
                              _ packet: DecodedPacket, _ frame: UnsafeRawBufferPointer, _ now: Int64) -> Bool {
        let from = packet.payloadOffset
        let to = min(frame.count, from + packet.capturedPayloadLength)
        guard from < to else { return false }
        switch hellos.resume(key: FlowKey(sentBy: packet), sequence: packet.tcpSequence,
                             payload: UnsafeRawBufferPointer(rebasing: frame[from..<to]),
                             complete: packet.capturedPayloadLength == packet.payloadLength && to - from == packet.payloadLength,
                             now: now, into: &note.pointee) {
        case .notHeld: return false
        case .held(let found):
            slot.pointee.hasNote = found
            return true
        }
    }

    /// First fragments lend their ports to the later ones of the same datagram.
    @usableFromInline
    mutating func joinFragments(_ p: inout DecodedPacket, _ now: Int64) {
        // Datagrams whose fragments are overdue are forgotten now and then;
        // a clock that jumped back (more than a day) starts the round again.
        if now >= nextFragmentSweepNs || now < nextFragmentSweepNs &- FlowTable.clockJumpNs {
            forgetOverdue(now)
        }
        let key = FragmentKey(source: p.source, destination: p.destination, proto: p.proto.rawValue, id: p.fragmentID)
        if !p.laterFragment {
            if fragmentPorts.count >= Self.fragmentLimit && fragmentPorts[key] == nil {
                forgetOverdue(now)
                // Still full: a flood; the datagrams awaited are given up.
                if fragmentPorts.count >= Self.fragmentLimit { fragmentPorts.removeAll(keepingCapacity: true) }
            }
            fragmentPorts[key] = FragmentPorts(source: p.sourcePort, destination: p.destinationPort, seenNs: now)
        } else if let ports = fragmentPorts[key], now - ports.seenNs <= Self.fragmentLifetimeNs {
            p.sourcePort = ports.source
            p.destinationPort = ports.destination
        }
    }

    /// Drops the datagrams last seen more than a fragment lifetime from `now`
    /// (either way: after a backward jump, the old ones are in the future).
    @usableFromInline
    mutating func forgetOverdue(_ now: Int64) {
        if !fragmentPorts.isEmpty {
            fragmentPorts = fragmentPorts.filter {
                now - $0.value.seenNs <= Self.fragmentLifetimeNs && $0.value.seenNs - now <= Self.fragmentLifetimeNs
            }
        }
        nextFragmentSweepNs = now &+ Self.fragmentLifetimeNs / 2
    }
}
