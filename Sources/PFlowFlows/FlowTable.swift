import PFlowWire

/// A bidirectional flow's name: protocol, both endpoints in canonical order
/// (lower address:port first), and the outermost VLAN. A packet travels
/// "forward" when it goes from endpoint A to endpoint B.
public struct FlowKey: Hashable, Sendable {
    public var addressA: IPAddress
    public var addressB: IPAddress
    public var portA: UInt16
    public var portB: UInt16
    public var proto: IPProtocol
    /// VLAN id, or `FlowKey.noVLAN`.
    public var vlan: UInt16

    public static let noVLAN: UInt16 = 0xFFFF

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

/// Live flows by key. A flow ends when it has been idle longer than its
/// protocol's timeout (a closed TCP flow: longer than the linger), when it
/// outlives the active timeout, when a new SYN arrives on a TCP key whose
/// connection has closed (port reuse), when the table is full and it is the
/// least recently seen, or when the capture ends. Ended flows go to `onEnd`
/// in the order they end; `knowledge` learns from each first.
public final class FlowTable {
    private var index: [FlowKey: Int] = [:]
    private var flows: [FlowState] = []
    private var free: [Int] = []
    // Least-recently-seen order, kept only when there is a capacity limit.
    private var oldest: Int32 = -1
    private var newest: Int32 = -1
    public private(set) var flowsCreated = 0
    public let expiry: ExpiryPolicy
    public let knowledge: TrafficKnowledge
    /// Packet time of the next sweep for idle flows.
    private var nextSweepNs = Int64.min
    private let sweepIntervalNs: Int64
    /// Ports of fragmented datagrams, from their first fragment, so later
    /// fragments (which carry no transport header) join the same flow.
    private var fragmentPorts: [FragmentKey: FragmentPorts] = [:]
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
        let shortest = min(expiry.tcpIdleNs, expiry.udpIdleNs, expiry.otherIdleNs, expiry.closeLingerNs,
                           expiry.activeNs ?? .max)
        sweepIntervalNs = max(1_000_000, shortest / 4)
        index.reserveCapacity(min(expectedFlows, expiry.maxFlows ?? expectedFlows))
        flows.reserveCapacity(min(expectedFlows, expiry.maxFlows ?? expectedFlows))
    }

    public var liveCount: Int { index.count }

    /// Accounts `p` (decoded from `frame`) to its flow, creating or restarting it as needed.
    @inline(__always)
    public func add(_ packet: DecodedPacket, frame: UnsafeRawBufferPointer, timestampNs: Int64, wireLength: UInt32,
                    onEnd: (FlowState, EndReason) -> Void) {
        if timestampNs >= nextSweepNs {
            if nextSweepNs != Int64.min { sweep(now: timestampNs, onEnd: onEnd) }
            nextSweepNs = timestampNs &+ sweepIntervalNs
        }
        var p = packet
        if p.fragmented && p.proto.hasPorts { joinFragments(&p, timestampNs) }
        if p.hasQuote { countICMPError(p) }
        var forward = true
        let key = FlowKey(packet: p, forward: &forward)
        let direction: UInt8 = forward ? 0 : 1
        let isSYN = p.proto == .tcp && p.tcpFlags.contains(.syn) && !p.tcpFlags.contains(.ack)
        if let slot = index[key] {
            // Exact expiry on lookup; the sweep only frees memory.
            var reason: EndReason? = nil
            let old = flows[slot]
            if timestampNs - old.lastNs > expiry.idleNs(old) {
                reason = old.isClosed ? old.closeReason : .idle
            } else if let active = expiry.activeNs, timestampNs - old.firstNs >= active {
                reason = .active
            } else if p.proto == .tcp, p.tcpFlags.contains(.syn), !p.tcpFlags.contains(.ack), old.isClosed {
                reason = old.closeReason
            }
            if let reason {
                end(old, reason, onEnd)
                let (older, newer) = (old.older, old.newer)
                flows[slot] = FlowState(key: key, ipVersion: p.ipVersion, timestampNs: timestampNs, direction: direction)
                flows[slot].older = older
                flows[slot].newer = newer
                flowsCreated += 1
            }
            // One connection attempt per flow, not per retransmitted SYN.
            if isSYN && flows[slot].synDirection < 0 {
                knowledge.sawConnectionAttempt(from: p.source, port: p.sourcePort)
            }
            flows[slot].add(p, frame: frame, direction: direction, timestampNs: timestampNs, wireLength: wireLength)
            if expiry.maxFlows != nil { touch(slot) }
            return
        }
        if let limit = expiry.maxFlows, index.count >= max(1, limit), oldest >= 0 {
            let victim = Int(oldest)
            end(flows[victim], .capacity, onEnd)
            release(victim)
        }
        if isSYN { knowledge.sawConnectionAttempt(from: p.source, port: p.sourcePort) }
        var state = FlowState(key: key, ipVersion: p.ipVersion, timestampNs: timestampNs, direction: direction)
        state.add(p, frame: frame, direction: direction, timestampNs: timestampNs, wireLength: wireLength)
        let slot: Int
        if let reused = free.popLast() {
            flows[reused] = state
            slot = reused
        } else {
            slot = flows.count
            flows.append(state)
        }
        index[key] = slot
        if expiry.maxFlows != nil { link(slot) }
        flowsCreated += 1
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
        if let slot = index[FlowKey(packet: quoted, forward: &forward)] {
            flows[slot].icmpErrors &+= 1
        }
    }

    @inline(__always)
    private func end(_ s: FlowState, _ reason: EndReason, _ onEnd: (FlowState, EndReason) -> Void) {
        knowledge.learn(from: s)
        onEnd(s, reason)
    }

    private func release(_ slot: Int) {
        if expiry.maxFlows != nil { unlink(slot) }
        index[flows[slot].key] = nil
        free.append(slot)
    }

    // MARK: least-recently-seen list

    private func link(_ slot: Int) {
        flows[slot].older = newest
        flows[slot].newer = -1
        if newest >= 0 { flows[Int(newest)].newer = Int32(slot) } else { oldest = Int32(slot) }
        newest = Int32(slot)
    }

    private func unlink(_ slot: Int) {
        let older = flows[slot].older, newer = flows[slot].newer
        if older >= 0 { flows[Int(older)].newer = newer } else { oldest = newer }
        if newer >= 0 { flows[Int(newer)].older = older } else { newest = older }
        flows[slot].older = -1
        flows[slot].newer = -1
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
        var expired: [Int] = []
        for (_, slot) in index where now - flows[slot].lastNs > expiry.idleNs(flows[slot]) {
            expired.append(slot)
        }
        if !fragmentPorts.isEmpty {
            fragmentPorts = fragmentPorts.filter { now - $0.value.seenNs <= Self.fragmentLifetimeNs }
        }
        guard !expired.isEmpty else { return }
        expired.sort { FlowRecord.startsBefore(flows[$0], flows[$1]) }
        for slot in expired {
            let f = flows[slot]
            end(f, f.isClosed ? f.closeReason : .idle, onEnd)
            release(slot)
        }
    }

    /// Ends every live flow (capture end), oldest first. Every live flow is
    /// learned from before any is reported, so each is judged with all the
    /// capture knows.
    public func finish(onEnd: (FlowState, EndReason) -> Void) {
        var live = index.values.map { flows[$0] }
        live.sort { FlowRecord.startsBefore($0, $1) }
        for f in live { knowledge.learn(from: f) }
        for f in live { onEnd(f, f.closeReason) }
        index.removeAll()
        flows.removeAll()
        free.removeAll()
        oldest = -1
        newest = -1
    }
}
