/// A link-layer header type as carried in pcap headers and pcapng IDBs
/// (tcpdump.org's LINKTYPE_ values). Open: unknown values pass through.
public struct LinkType: RawRepresentable, Hashable, Sendable, Comparable {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    // Inlinable computed constants, not stored `static let`s: the decoder
    // dispatches on them per packet, and a global from another module is a call.

    @inlinable public static var null: LinkType { LinkType(rawValue: 0) }
    @inlinable public static var ethernet: LinkType { LinkType(rawValue: 1) }
    @inlinable public static var rawIP12: LinkType { LinkType(rawValue: 12) }
    @inlinable public static var rawIP14: LinkType { LinkType(rawValue: 14) }
    @inlinable public static var raw: LinkType { LinkType(rawValue: 101) }
    @inlinable public static var loop: LinkType { LinkType(rawValue: 108) }
    @inlinable public static var linuxSLL: LinkType { LinkType(rawValue: 113) }
    @inlinable public static var ipv4: LinkType { LinkType(rawValue: 228) }
    @inlinable public static var ipv6: LinkType { LinkType(rawValue: 229) }
    @inlinable public static var linuxSLL2: LinkType { LinkType(rawValue: 276) }

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
