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

/// Counters for one direction of a flow.
public struct DirectionCounters: Sendable, Equatable {
    public var packets: UInt64 = 0
    /// Frame bytes on the wire (pcap `len`).
    public var bytes: UInt64 = 0
    /// Transport payload bytes, from the IP lengths.
    public var payloadBytes: UInt64 = 0
    /// Every TCP flag seen in this direction.
    public var tcpFlags = TCPFlags()
    public init() {}
}

/// What the tracker keeps per live flow. Directions are canonical: index 0
/// is A→B, index 1 is B→A.
public struct FlowState: Sendable {
    public var key: FlowKey
    public var ipVersion: UInt8
    public var firstNs: Int64
    public var lastNs: Int64
    public var counters: (DirectionCounters, DirectionCounters)
    /// Direction of the first packet seen.
    public var firstDirection: UInt8
    /// Direction of the first SYN without ACK, SYN-ACK, RST and ICMP request (-1: none).
    public var synDirection: Int8 = -1
    public var synAckDirection: Int8 = -1
    public var rstDirection: Int8 = -1
    public var requestDirection: Int8 = -1
    public var truncatedPackets: UInt32 = 0

    init(key: FlowKey, ipVersion: UInt8, timestampNs: Int64, direction: UInt8) {
        self.key = key
        self.ipVersion = ipVersion
        firstNs = timestampNs
        lastNs = timestampNs
        counters = (DirectionCounters(), DirectionCounters())
        firstDirection = direction
    }

    /// TCP: both sides sent FIN, or someone sent RST. A SYN after this starts
    /// a new flow on the same key (port reuse).
    public var isClosed: Bool {
        guard key.proto == .tcp else { return false }
        if rstDirection >= 0 { return true }
        return counters.0.tcpFlags.contains(.fin) && counters.1.tcpFlags.contains(.fin)
    }

    /// Why the flow ended, given that the capture ended now or it was reused.
    public var closeReason: EndReason {
        guard key.proto == .tcp else { return .end }
        if rstDirection >= 0 { return .rst }
        if counters.0.tcpFlags.contains(.fin) && counters.1.tcpFlags.contains(.fin) { return .fin }
        return .end
    }

    @inline(__always)
    mutating func add(_ p: DecodedPacket, direction: UInt8, timestampNs: Int64, wireLength: UInt32) {
        if timestampNs < firstNs { firstNs = timestampNs }
        if timestampNs > lastNs { lastNs = timestampNs }
        let d = Int8(direction)
        if direction == 0 {
            Self.count(&counters.0, p, wireLength)
        } else {
            Self.count(&counters.1, p, wireLength)
        }
        if p.truncated { truncatedPackets &+= 1 }
        if p.proto == .tcp {
            let f = p.tcpFlags
            if f.contains(.syn) {
                if f.contains(.ack) {
                    if synAckDirection < 0 { synAckDirection = d }
                } else if synDirection < 0 {
                    synDirection = d
                }
            }
            if f.contains(.rst), rstDirection < 0 { rstDirection = d }
        } else if requestDirection < 0, p.isICMPRequest {
            requestDirection = d
        }
    }

    @inline(__always)
    static func count(_ c: inout DirectionCounters, _ p: DecodedPacket, _ wireLength: UInt32) {
        c.packets &+= 1
        c.bytes &+= UInt64(wireLength)
        c.payloadBytes &+= UInt64(p.payloadLength)
        c.tcpFlags.formUnion(p.tcpFlags)
    }
}

/// When flows end in packet time. Defaults follow Zeek's inactivity
/// timeouts (TCP 5 min, UDP and ICMP 1 min): the same conversation boundaries
/// its users know. No active timeout unless asked for.
public struct ExpiryPolicy: Sendable, Equatable {
    public var tcpIdleNs: Int64 = 300_000_000_000
    public var udpIdleNs: Int64 = 60_000_000_000
    public var otherIdleNs: Int64 = 60_000_000_000
    /// Split a flow that has lasted this long (nil: never).
    public var activeNs: Int64? = nil

    public init() {}

    /// One idle timeout for every protocol.
    public init(idleNs: Int64, activeNs: Int64? = nil) {
        tcpIdleNs = idleNs
        udpIdleNs = idleNs
        otherIdleNs = idleNs
        self.activeNs = activeNs
    }

    @inline(__always)
    func idleNs(_ proto: IPProtocol) -> Int64 {
        proto == .tcp ? tcpIdleNs : proto == .udp ? udpIdleNs : otherIdleNs
    }
}

/// Live flows by key. A flow ends when it has been idle longer than its
/// protocol's timeout, when it outlives the active timeout, when a new SYN
/// arrives on a TCP key whose connection has closed (port reuse), or when the
/// capture ends. Ended flows go to `onEnd` in the order they end.
public final class FlowTable {
    private var index: [FlowKey: Int] = [:]
    private var flows: [FlowState] = []
    private var free: [Int] = []
    public private(set) var flowsCreated = 0
    public let expiry: ExpiryPolicy
    /// Packet time of the next sweep for idle flows.
    private var nextSweepNs = Int64.min
    private let sweepIntervalNs: Int64

    public init(expiry: ExpiryPolicy = ExpiryPolicy(), expectedFlows: Int = 1 << 16) {
        self.expiry = expiry
        let shortest = min(expiry.tcpIdleNs, expiry.udpIdleNs, expiry.otherIdleNs, expiry.activeNs ?? .max)
        sweepIntervalNs = max(1_000_000, shortest / 8)
        index.reserveCapacity(expectedFlows)
        flows.reserveCapacity(expectedFlows)
    }

    public var liveCount: Int { index.count }

    /// Accounts `p` to its flow, creating or restarting it as needed.
    @inline(__always)
    public func add(_ p: DecodedPacket, timestampNs: Int64, wireLength: UInt32,
                    onEnd: (FlowState, EndReason) -> Void) {
        if timestampNs >= nextSweepNs {
            if nextSweepNs != Int64.min { sweep(now: timestampNs, onEnd: onEnd) }
            nextSweepNs = timestampNs &+ sweepIntervalNs
        }
        var forward = true
        let key = FlowKey(packet: p, forward: &forward)
        let direction: UInt8 = forward ? 0 : 1
        if let slot = index[key] {
            // Exact expiry on lookup; the sweep only frees memory.
            var reason: EndReason? = nil
            let old = flows[slot]
            if timestampNs - old.lastNs > expiry.idleNs(p.proto) {
                reason = old.isClosed ? old.closeReason : .idle
            } else if let active = expiry.activeNs, timestampNs - old.firstNs >= active {
                reason = .active
            } else if p.proto == .tcp, p.tcpFlags.contains(.syn), !p.tcpFlags.contains(.ack), old.isClosed {
                reason = old.closeReason
            }
            if let reason {
                onEnd(old, reason)
                flows[slot] = FlowState(key: key, ipVersion: p.ipVersion, timestampNs: timestampNs, direction: direction)
                flowsCreated += 1
            }
            flows[slot].add(p, direction: direction, timestampNs: timestampNs, wireLength: wireLength)
            return
        }
        var state = FlowState(key: key, ipVersion: p.ipVersion, timestampNs: timestampNs, direction: direction)
        state.add(p, direction: direction, timestampNs: timestampNs, wireLength: wireLength)
        let slot: Int
        if let reused = free.popLast() {
            flows[reused] = state
            slot = reused
        } else {
            slot = flows.count
            flows.append(state)
        }
        index[key] = slot
        flowsCreated += 1
    }

    /// Ends flows idle for longer than their timeout at packet time `now`,
    /// oldest first. A closed TCP flow ends as `fin`/`rst`, others as `idle`.
    private func sweep(now: Int64, onEnd: (FlowState, EndReason) -> Void) {
        var expired: [Int] = []
        for (_, slot) in index where now - flows[slot].lastNs > expiry.idleNs(flows[slot].key.proto) {
            expired.append(slot)
        }
        guard !expired.isEmpty else { return }
        expired.sort { FlowRecord.startsBefore(flows[$0], flows[$1]) }
        for slot in expired {
            let f = flows[slot]
            onEnd(f, f.isClosed ? f.closeReason : .idle)
            index[f.key] = nil
            free.append(slot)
        }
    }

    /// Ends every live flow (capture end), oldest first.
    public func finish(onEnd: (FlowState, EndReason) -> Void) {
        var live = index.values.map { flows[$0] }
        live.sort { FlowRecord.startsBefore($0, $1) }
        for f in live { onEnd(f, f.closeReason) }
        index.removeAll()
        flows.removeAll()
        free.removeAll()
    }
}
