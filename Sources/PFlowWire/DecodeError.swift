/// Why a packet could not be decoded. Counted per kind, shown in the report.
/// The raw values index the report's counters: new kinds go at the end.
public enum DecodeError: Int, CaseIterable, Sendable, Error {
    case unsupportedLinkType
    case linkTruncated
    case vlanTruncated
    case unknownAddressFamily
    case rawBadVersion
    case ipv4Truncated
    case ipv4BadVersion
    case ipv4BadHeaderLength
    case ipv4BadTotalLength
    case ipv6Truncated
    case ipv6BadVersion
    case ipv6ExtensionTruncated
    case ipv6BadExtensionLength
    case tcpTruncated
    case tcpBadLength
    case udpTruncated
    case udpBadLength
    case icmpTruncated
    case mplsTruncated
    case pppoeTruncated
    /// More link-layer shims (VLAN tags, MPLS stacks, PPPoE, Arista headers)
    /// before IP than `PacketDecoder.maximumShims`.
    case tooDeeplyNested

    /// The key used in the report and in JSON `capture.decode_errors`.
    public var name: String {
        switch self {
        case .unsupportedLinkType: return "unsupported_link_type"
        case .linkTruncated: return "link_truncated"
        case .vlanTruncated: return "vlan_truncated"
        case .unknownAddressFamily: return "unknown_address_family"
        case .rawBadVersion: return "raw_ip_bad_version"
        case .ipv4Truncated: return "ipv4_truncated"
        case .ipv4BadVersion: return "ipv4_bad_version"
        case .ipv4BadHeaderLength: return "ipv4_bad_header_length"
        case .ipv4BadTotalLength: return "ipv4_bad_total_length"
        case .ipv6Truncated: return "ipv6_truncated"
        case .ipv6BadVersion: return "ipv6_bad_version"
        case .ipv6ExtensionTruncated: return "ipv6_extension_truncated"
        case .ipv6BadExtensionLength: return "ipv6_bad_extension_length"
        case .tcpTruncated: return "tcp_truncated"
        case .tcpBadLength: return "tcp_bad_length"
        case .udpTruncated: return "udp_truncated"
        case .udpBadLength: return "udp_bad_length"
        case .icmpTruncated: return "icmp_truncated"
        case .mplsTruncated: return "mpls_truncated"
        case .pppoeTruncated: return "pppoe_truncated"
        case .tooDeeplyNested: return "too_deeply_nested"
        }
    }
}
