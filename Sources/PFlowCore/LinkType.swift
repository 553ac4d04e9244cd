/// A link-layer header type as carried in pcap headers and pcapng IDBs
/// (tcpdump.org's LINKTYPE_ values). Open: unknown values pass through.
public struct LinkType: RawRepresentable, Hashable, Sendable, Comparable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let null = LinkType(rawValue: 0)
    public static let ethernet = LinkType(rawValue: 1)
    public static let rawIP12 = LinkType(rawValue: 12)
    public static let rawIP14 = LinkType(rawValue: 14)
    public static let raw = LinkType(rawValue: 101)
    public static let loop = LinkType(rawValue: 108)
    public static let linuxSLL = LinkType(rawValue: 113)
    public static let ipv4 = LinkType(rawValue: 228)
    public static let ipv6 = LinkType(rawValue: 229)
    public static let linuxSLL2 = LinkType(rawValue: 276)

    public static func < (a: LinkType, b: LinkType) -> Bool { a.rawValue < b.rawValue }

    /// The name tcpdump and Wireshark use for the link type.
    public var name: String {
        switch rawValue {
        case 0: return "NULL"
        case 1: return "EN10MB"
        case 12, 14, 101: return "RAW"
        case 108: return "LOOP"
        case 113: return "LINUX_SLL"
        case 228: return "IPV4"
        case 229: return "IPV6"
        case 276: return "LINUX_SLL2"
        default: return "LINKTYPE_\(rawValue)"
        }
    }
}
