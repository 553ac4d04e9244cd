/// IANA's three port ranges.
public enum PortRange: String, Sendable {
    case wellKnown = "well-known"   // 0-1023
    case registered                 // 1024-49151
    case dynamic                    // 49152-65535

    public init(port: UInt16) {
        switch port {
        case 0...1023: self = .wellKnown
        case 1024...49151: self = .registered
        default: self = .dynamic
        }
    }
}

/// The ranges operating systems draw client (ephemeral) ports from by
/// default, and the parts only one of them uses: what a host's source ports
/// can and can't say about its allocator.
public enum EphemeralPorts {
    /// Linux's default `ip_local_port_range`.
    public static let linux: ClosedRange<UInt16> = 32768...60999
    /// IANA's dynamic range, which Windows (Vista on) and macOS use.
    public static let iana: ClosedRange<UInt16> = 49152...65535
    /// Ports Linux picks and Windows/macOS never do.
    public static let linuxOnly: ClosedRange<UInt16> = linux.lowerBound...(iana.lowerBound - 1)
    /// Ports Windows/macOS pick and Linux never does.
    public static let ianaOnly: ClosedRange<UInt16> = (linux.upperBound + 1)...iana.upperBound
    /// The lowest port either default range holds.
    public static let lowest: UInt16 = min(linux.lowerBound, iana.lowerBound)

    /// `a-b`, as the report writes a range.
    public static func text(_ r: ClosedRange<UInt16>) -> String { "\(r.lowerBound)-\(r.upperBound)" }
}
