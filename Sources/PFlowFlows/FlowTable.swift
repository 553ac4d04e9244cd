import PFlowCore
import PFlowWire
import CPlatform

/// A bidirectional flow's name: protocol, both endpoints in canonical order
/// (lower address:port first), and the outermost VLAN. A packet travels
/// "forward" when it goes from endpoint A to endpoint B.
public struct FlowKey: Hashable, Sendable {
    public var addressA: IPAddress
    public var addressB: IPAddress
    public var portA: UInt16
    public var portB: UInt16
    /// VLAN id, or `FlowKey.noVLAN`.
    public var vlan: UInt16
    // Last, so the key is 39 bytes and a flow's next byte fills its tail.
    public var proto: IPProtocol

    public static let noVLAN: UInt16 = 0xFFFF

    public init(addressA: IPAddress, addressB: IPAddress, portA: UInt16, portB: UInt16, proto: IPProtocol, vlan: UInt16) {
        self.addressA = addressA
        self.addressB = addressB
        self.portA = portA
        self.portB = portB
        self.proto = proto
        self.vlan = vlan
    }

    /// The key from a packet's endpoints as sent (source first), and whether
    /// the packet travels from A to B; `isICMPReply` settles a flow whose
    /// two ends are the same socket.
    @inlinable @inline(__always)
    public static func canonical(_ sent: FlowKey, isICMPReply: Bool) -> (key: FlowKey, forward: Bool) {
        let sourceFirst = sent.addressA < sent.addressB
            || (sent.addressA == sent.addressB && sent.portA <= sent.portB)
        var key = sent
        if !sourceFirst {
            key.addressA = sent.addressB; key.portA = sent.portB
            key.addressB = sent.addressA; key.portB = sent.portA
        }
        let forward = sent.addressA == sent.addressB && sent.portA == sent.portB ? !isICMPReply : sourceFirst
        return (key, forward)
    }

    /// The key of `p` and whether `p` travels from A to B.
    @inline(__always)
    public init(packet p: DecodedPacket, forward: inout Bool) {
        let sourceFirst = p.source < p.destination
            || (p.source == p.destination && p.sourcePort <= p.destinationPort)
        if sourceFirst {
            addressA = p.source; portA = p.sourcePort
            addressB = p.destination; portB = p.destinationPort
        } else {
            addressA = p.destination; portA = p.destinationPort
            addressB = p.source; portB = p.sourcePort
        }
        // Both ends the same socket (ping 127.0.0.1): addresses can't tell the
        // direction, but an ICMP reply travels back.
        forward = p.source == p.destination && p.sourcePort == p.destinationPort
            ? !p.isICMPReply : sourceFirst
        proto = p.proto
        vlan = p.vlan ?? FlowKey.noVLAN
    }

    // A direction-free hash over the fixed-size fields, cheaper than hashing
    // each field through Hasher separately.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(addressA.high ^ addressA.low &* 0x9E37_79B9_7F4A_7C15)
        hasher.combine(addressB.high ^ addressB.low &* 0xC2B2_AE3D_27D4_EB4F)
        hasher.combine(UInt64(portA) << 40 | UInt64(portB) << 24 | UInt64(proto.rawValue) << 16 | UInt64(vlan))
    }
}

/// Why a flow's record was written.
public enum EndReason: String, Sendable {
    case fin, rst, idle, active, end, capacity
}

/// When flows end in packet time. Idle defaults follow Zeek's inactivity
/// timeouts (TCP 5 min, UDP and ICMP 1 min), so conversation boundaries
/// match what its users know; a closed TCP connection lingers 5 s (Zeek's
/// tcp_close_delay) for stragglers. No active timeout unless asked for.
public struct ExpiryPolicy: Sendable, Equatable {
    public var tcpIdleNs: Int64 = 300_000_000_000
    public var udpIdleNs: Int64 = 60_000_000_000
    public var otherIdleNs: Int64 = 60_000_000_000
    /// How long a TCP flow that closed (FIN both ways, or RST) waits for stragglers.
    public var closeLingerNs: Int64 = 5_000_000_000
    /// Split a flow that has lasted this long (nil: never).
    public var activeNs: Int64? = nil
    /// Most live flows; beyond it the least recently seen one ends (nil: no limit).
    public var maxFlows: Int? = nil
    /// How often idle flows are swept out (nil: a quarter of the shortest
    /// timeout). Live capture sweeps every second so ended flows reach the
    /// CSV promptly.
    public var sweepIntervalNs: Int64? = nil

    public init() {}

    /// One idle timeout for every protocol.
    public init(idleNs: Int64, activeNs: Int64? = nil) {
        tcpIdleNs = idleNs
        udpIdleNs = idleNs
        otherIdleNs = idleNs
        closeLingerNs = min(closeLingerNs, idleNs)
        self.activeNs = activeNs
    }

    @inline(__always)
    func idleNs(_ s: FlowState) -> Int64 {
        switch s.key.proto {
        case .tcp: return s.isClosed ? closeLingerNs : tcpIdleNs
        case .udp: return udpIdleNs
        default: return otherIdleNs
        }
    }
}

/// Knowledge updates in the order a table makes them, for a table whose
/// knowledge (and reporting) is applied on another thread: applying them
/// in this order gives exactly what the table would have learned itself.
public protocol KnowledgeLog: AnyObject {
    /// A SYN without ACK opened a connection from `client`:`port`.
    func sawConnectionAttempt(from client: IPAddress, port: UInt16)
    /// `state` ended for `reason`: learn from it, then report it.
    func ended(_ state: FlowState, _ reason: EndReason)
}

/// Live flows by key. A flow ends when it has been idle longer than its
/// protocol's timeout (a closed TCP flow: longer than the linger), when it
/// outlives the active timeout, when a new SYN arrives on a TCP key whose
/// connection has closed (port reuse), when the table is full and it is the
/// least recently seen, or when the capture ends. Ended flows go to `onEnd`
/// in the order they end; `knowledge` learns from each first.
///
/// The per-packet path touches one index probe and one flow slot in place:
/// no allocation, no reference counting, no copy of the flow.
///
/// The table is used from one thread and never re-entered from `onEnd`, so
/// its per-packet state skips the runtime's dynamic exclusivity checks
/// (`@exclusivity(unchecked)`), which otherwise cost more than a lookup.
public final class FlowTable {
    @exclusivity(unchecked) private var index: FlowIndex
    @exclusivity(unchecked) private var store: FlowStore
    // Least-recently-seen order, kept only when there is a capacity limit:
    // links per store slot, beside the states so they cost nothing otherwise.
    struct Link { var older: Int32 = -1; var newer: Int32 = -1 }
    @exclusivity(unchecked) private var links: [Link] = []
    @exclusivity(unchecked) private var oldest: Int32 = -1
    @exclusivity(unchecked) private var newest: Int32 = -1
    public let expiry: ExpiryPolicy
    public let knowledge: TrafficKnowledge
    /// When set, the table leaves `knowledge` alone: attempts and ended
    /// flows go to the log instead (and `onEnd` is not called).
    @exclusivity(unchecked) public var knowledgeLog: KnowledgeLog?
    /// Packet time of the next sweep for idle flows.
    @exclusivity(unchecked) private var nextSweepNs = Int64.min
    private let sweepIntervalNs: Int64
    /// Ports of fragmented datagrams, from their first fragment, so later
    /// fragments (which carry no transport header) join the same flow.
    @exclusivity(unchecked) private var fragmentPorts: [FragmentKey: FragmentPorts] = [:]
    /// How long a datagram's fragments are awaited (as Linux's ipfrag_time).
    static let fragmentLifetimeNs: Int64 = 30_000_000_000

    struct FragmentKey: Hashable {
        var source: IPAddress, destination: IPAddress, proto: UInt8, id: UInt32
    }
    struct FragmentPorts {
        var source: UInt16, destination: UInt16, seenNs: Int64
    }

    public init(expiry: ExpiryPolicy = ExpiryPolicy(), knowledge: TrafficKnowledge = TrafficKnowledge(),
                expectedFlows: Int = 1 << 16) {
        self.expiry = expiry
        self.knowledge = knowledge
        // Exact expiry happens on lookup; the sweep only frees slots, so it
        // can run a few times per idle timeout rather than per linger.
        let shortest = min(expiry.tcpIdleNs, expiry.udpIdleNs, expiry.otherIdleNs, expiry.activeNs ?? .max)
        sweepIntervalNs = expiry.sweepIntervalNs ?? max(1_000_000_000, shortest / 4)
        let capacity = min(expectedFlows, expiry.maxFlows ?? expectedFlows)
        index = FlowIndex(capacity: capacity)
        store = FlowStore(capacity: capacity)
    }

    deinit {
        index.deallocate()
        store.deallocate()
    }

    public var liveCount: Int { index.count }
    /// The most flows live at once so far.
    @exclusivity(unchecked) public private(set) var peakLiveCount = 0

    /// Accounts `packet` (decoded from `frame`) to its flow, creating or restarting it as needed.
    @inline(__always)
    public func add(_ packet: DecodedPacket, frame: UnsafeRawBufferPointer, timestampNs: Int64, wireLength: UInt32,
                    onEnd: (FlowState, EndReason) -> Void) {
        if timestampNs >= nextSweepNs {
            if nextSweepNs != Int64.min { sweep(now: timestampNs, onEnd: onEnd) }
            nextSweepNs = timestampNs &+ sweepIntervalNs
        }
        if packet.hasQuote { countICMPError(packet) }
        if packet.fragmented && packet.proto.hasPorts {
            var p = packet
            joinFragments(&p, timestampNs)
            account(p, frame: frame, timestampNs: timestampNs, wireLength: wireLength, onEnd: onEnd)
        } else {
            account(packet, frame: frame, timestampNs: timestampNs, wireLength: wireLength, onEnd: onEnd)
        }
    }

    /// `add` for a packet whose key and hash another thread already worked
    /// out (not a fragment, not an ICMP error with a quote), from its facts
    /// alone; `frame` holds its first payload bytes where the facts say.
    ///
    /// `lookahead` names the hashes of packets further on (0: none): the
    /// index entry of the first and, that entry having been fetched for an
    /// earlier call, the flow state of the second are prefetched, so their
    /// lookups find both in cache.
    @inline(__always)
    public func add(_ facts: PacketFacts, key: FlowKey, forward: Bool, hash: UInt64, frame: UnsafeRawBufferPointer,
                    timestampNs: Int64, wireLength: UInt32, lookahead: (index: UInt64, state: UInt64),
                    onEnd: (FlowState, EndReason) -> Void) {
        if lookahead.index != 0 { index.prefetchEntry(hash: lookahead.index) }
        if lookahead.state != 0 { index.prefetchState(hash: lookahead.state, in: store) }
        if timestampNs >= nextSweepNs {
            if nextSweepNs != Int64.min { sweep(now: timestampNs, onEnd: onEnd) }
            nextSweepNs = timestampNs &+ sweepIntervalNs
        }
        account(facts, key: key, forward: forward, hash: hash, frame: frame, timestampNs: timestampNs,
                wireLength: wireLength, onEnd: onEnd)
    }

    @inline(__always)
    private func account(_ p: DecodedPacket, frame: UnsafeRawBufferPointer, timestampNs: Int64, wireLength: UInt32,
                         onEnd: (FlowState, EndReason) -> Void) {
        var forward = true
        let key = FlowKey(packet: p, forward: &forward)
        account(PacketFacts(p), key: key, forward: forward, hash: key.fastHash, frame: frame, timestampNs: timestampNs,
                wireLength: wireLength, onEnd: onEnd)
    }

    @inline(__always)
    private func account(_ p: PacketFacts, key: FlowKey, forward: Bool, hash: UInt64, frame: UnsafeRawBufferPointer,
                         timestampNs: Int64, wireLength: UInt32, onEnd: (FlowState, EndReason) -> Void) {
        let direction: UInt8 = forward ? 0 : 1
        let isSYN = p.proto == .tcp && p.tcpFlags.contains(.syn) && !p.tcpFlags.contains(.ack)
        if let slot = index.find(key, hash: hash, in: store) {
            let flow = store.base + slot
            // Exact expiry on lookup; the sweep only frees memory.
            var reason: EndReason? = nil
            if timestampNs - flow.pointee.lastNs > expiry.idleNs(flow.pointee) {
                reason = flow.pointee.isClosed ? flow.pointee.closeReason : .idle
            } else if let active = expiry.activeNs, timestampNs - flow.pointee.firstNs >= active {
                reason = .active
            } else if isSYN, flow.pointee.isClosed {
                reason = flow.pointee.closeReason
            } else if flow.pointee.packetCountFull {
                reason = .active
            }
            if let reason {
                end(flow.pointee, reason, onEnd)
                flow.pointee = FlowState(key: key, ipVersion: p.ipVersion, timestampNs: timestampNs, direction: direction)
            }
            // One connection attempt per flow, not per retransmitted SYN.
            if isSYN && flow.pointee.synDirection < 0 { sawConnectionAttempt(key, forward: forward) }
            flow.pointee.add(p, frame: frame, direction: direction, timestampNs: timestampNs, wireLength: wireLength)
            if expiry.maxFlows != nil { touch(slot) }
            return
        }
        if let limit = expiry.maxFlows, index.count >= max(1, limit), oldest >= 0 {
            let victim = Int(oldest)
            end(store[victim], .capacity, onEnd)
            release(victim)
        }
        if isSYN { sawConnectionAttempt(key, forward: forward) }
        var state = FlowState(key: key, ipVersion: p.ipVersion, timestampNs: timestampNs, direction: direction)
        state.add(p, frame: frame, direction: direction, timestampNs: timestampNs, wireLength: wireLength)
        let slot = store.insert(state)
        index.insert(hash: hash, slot: slot)
        if index.count > peakLiveCount { peakLiveCount = index.count }
        if expiry.maxFlows != nil { link(slot) }
    }

    /// First fragments lend their ports to the later ones of the same datagram.
    private func joinFragments(_ p: inout DecodedPacket, _ now: Int64) {
        let key = FragmentKey(source: p.source, destination: p.destination, proto: p.proto.rawValue, id: p.fragmentID)
        if !p.laterFragment {
            fragmentPorts[key] = FragmentPorts(source: p.sourcePort, destination: p.destinationPort, seenNs: now)
        } else if let ports = fragmentPorts[key], now - ports.seenNs <= Self.fragmentLifetimeNs {
            p.sourcePort = ports.source
            p.destinationPort = ports.destination
        }
    }

    /// An ICMP error quoting a live TCP/UDP flow's header is counted on that
    /// flow; it never creates one.
    private func countICMPError(_ p: DecodedPacket) {
        var quoted = DecodedPacket()
        quoted.proto = p.quotedProto
        quoted.source = p.quotedSource
        quoted.destination = p.quotedDestination
        quoted.sourcePort = p.quotedSourcePort
        quoted.destinationPort = p.quotedDestinationPort
        quoted.vlan = p.vlan
        var forward = true
        let key = FlowKey(packet: quoted, forward: &forward)
        if let slot = index.find(key, hash: key.fastHash, in: store) {
            store[slot].icmpErrors &+= 1
        }
    }

    /// The sender of a SYN (on `key`, travelling `forward` or not) opened a connection.
    private func sawConnectionAttempt(_ key: FlowKey, forward: Bool) {
        let client = forward ? key.addressA : key.addressB
        let port = forward ? key.portA : key.portB
        if let log = knowledgeLog {
            log.sawConnectionAttempt(from: client, port: port)
        } else {
            knowledge.sawConnectionAttempt(from: client, port: port)
        }
    }

    @inline(__always)
    private func end(_ s: FlowState, _ reason: EndReason, _ onEnd: (FlowState, EndReason) -> Void) {
        if let log = knowledgeLog {
            log.ended(s, reason)
        } else {
            knowledge.learn(from: s)
            onEnd(s, reason)
        }
    }

    private func release(_ slot: Int) {
        if expiry.maxFlows != nil { unlink(slot) }
        index.remove(hash: store[slot].key.fastHash, slot: slot)
        store.remove(slot)
    }

    // MARK: least-recently-seen list

    private func link(_ slot: Int) {
        while links.count <= slot { links.append(Link()) }
        links[slot].older = newest
        links[slot].newer = -1
        if newest >= 0 { links[Int(newest)].newer = Int32(slot) } else { oldest = Int32(slot) }
        newest = Int32(slot)
    }

    private func unlink(_ slot: Int) {
        let older = links[slot].older, newer = links[slot].newer
        if older >= 0 { links[Int(older)].newer = newer } else { oldest = newer }
        if newer >= 0 { links[Int(newer)].older = older } else { newest = older }
        links[slot].older = -1
        links[slot].newer = -1
    }

    @inline(__always)
    private func touch(_ slot: Int) {
        guard newest != Int32(slot) else { return }
        unlink(slot)
        link(slot)
    }

    /// Ends flows idle for longer than their timeout at packet time `now`,
    /// oldest first. A closed TCP flow ends as `fin`/`rst`, others as `idle`.
    private func sweep(now: Int64, onEnd: (FlowState, EndReason) -> Void) {
        if !fragmentPorts.isEmpty {
            fragmentPorts = fragmentPorts.filter { now - $0.value.seenNs <= Self.fragmentLifetimeNs }
        }
        // Start times sit beside the slot numbers, so the sort compares
        // compact pairs and reads a flow's key only on a tie.
        var expired: [(start: Int64, slot: Int)] = []
        let base = store.base
        for slot in 0..<store.used where base[slot].live && now - base[slot].lastNs > expiry.idleNs(base[slot]) {
            expired.append((base[slot].firstNs, slot))
        }
        guard !expired.isEmpty else { return }
        expired.sort { a, b in
            a.start != b.start ? a.start < b.start : FlowRecord.startsBefore(base[a.slot], base[b.slot])
        }
        let ahead = 8
        for i in 0..<min(ahead, expired.count) { index.prefetchEntry(hash: base[expired[i].slot].key.fastHash) }
        for (i, e) in expired.enumerated() {
            if i + ahead < expired.count { index.prefetchEntry(hash: base[expired[i + ahead].slot].key.fastHash) }
            end(base[e.slot], base[e.slot].isClosed ? base[e.slot].closeReason : .idle, onEnd)
            release(e.slot)
        }
    }

    /// Lets time pass without a packet (live capture: the clock runs on
    /// while the link is quiet), ending flows that have gone idle.
    public func tick(now: Int64, onEnd: (FlowState, EndReason) -> Void) {
        guard now >= nextSweepNs, nextSweepNs != Int64.min else { return }
        sweep(now: now, onEnd: onEnd)
        nextSweepNs = now &+ sweepIntervalNs
    }

    /// Visits every live flow (for a live view; nothing ends).
    public func forEachLive(_ body: (FlowState) -> Void) {
        for slot in 0..<store.used where store[slot].live { body(store[slot]) }
    }

    /// Ends every live flow (capture end), oldest first. Every live flow is
    /// learned from before any is reported, so each is judged with all the
    /// capture knows.
    public func finish(onEnd: (FlowState, EndReason) -> Void) {
        finish(batch: 1) { states in onEnd(states[0], states[0].closeReason) }
    }

    /// Both cache lines of the state at `slots[i]`, if there is one: the
    /// capture-end flush visits states in time order, all over the store.
    @inline(__always)
    private static func prefetch(_ base: UnsafeMutablePointer<FlowState>, _ slots: [Int32], _ i: Int) {
        guard i < slots.count else { return }
        let p = UnsafeRawPointer(base + Int(slots[i]))
        pflow_prefetch(p)
        pflow_prefetch(p + 64)
    }

    /// `finish`, handing the ended flows over `batch` at a time (oldest
    /// first, each ending for its `closeReason`), so a caller may work on
    /// several at once. Every live flow is learned from before the first
    /// batch (on two threads when `batch` is above 1).
    public func finish(batch: Int, _ body: ([FlowState]) -> Void) {
        // Sort slot numbers, not the (large) states themselves.
        let base = store.base
        // Sorted as (start, slot) pairs, then kept as 4-byte slot numbers
        // while the flows are reported (the report's own memory peaks then).
        let live: [Int32] = {
            var order: [(start: Int64, slot: Int32)] = []
            order.reserveCapacity(index.count)
            for slot in 0..<store.used where base[slot].live { order.append((base[slot].firstNs, Int32(slot))) }
            order.sort { a, b in
                a.start != b.start ? a.start < b.start : FlowRecord.startsBefore(base[Int(a.slot)], base[Int(b.slot)])
            }
            return order.map(\.slot)
        }()
        precondition(knowledgeLog == nil, "finish() reports directly; clear knowledgeLog first")
        if batch > 1 {
            // Two threads: one learns the answered handshakes, one the peers.
            let knowledge = self.knowledge
            inParallel({ for (i, slot) in live.enumerated() {
                            Self.prefetch(base, live, i + 8)
                            knowledge.learnPeers(from: base[Int(slot)])
                         } },
                       { for (i, slot) in live.enumerated() {
                            Self.prefetch(base, live, i + 8)
                            knowledge.learnAnswered(from: base[Int(slot)])
                         } })
        } else {
            for (i, slot) in live.enumerated() {
                Self.prefetch(base, live, i + 8)
                knowledge.learn(from: base[Int(slot)])
            }
        }
        var states: [FlowState] = []
        states.reserveCapacity(min(max(1, batch), live.count))
        // Pages of states already handed over are returned as the flush goes
        // on, so it doesn't hold the whole table while the report grows.
        var pages = store.pageRelease(live)
        for (i, slot) in live.enumerated() {
            Self.prefetch(base, live, i + 8)
            states.append(base[Int(slot)])
            if pages != nil { store.doneWith(Int(slot), &pages!) }
            if states.count >= batch {
                if pages != nil { store.release(&pages!) }
                body(states)
                states.removeAll(keepingCapacity: true)
            }
        }
        if !states.isEmpty { body(states) }
        // Every flow has ended: empty the index and the store at once.
        index.removeAll()
        store.removeAll()
        links.removeAll()
        oldest = -1
        newest = -1
    }
}
