import PFlowCore

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
