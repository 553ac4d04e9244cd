/// The 16-bit protocol number that names what follows an Ethernet header, an
/// 802.1Q tag, a Linux cooked header, an Arista header, GRE and Geneve (the
/// IEEE EtherType registry). Open: any value passes through, and one the
/// decoder doesn't know makes the frame "not IP".
public struct EtherType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }
    @inlinable public static func == (a: EtherType, b: EtherType) -> Bool { a.rawValue == b.rawValue }

    @inlinable public static var ipv4: EtherType { EtherType(rawValue: 0x0800) }
    @inlinable public static var ipv6: EtherType { EtherType(rawValue: 0x86DD) }
    /// IEEE 802.1Q customer VLAN tag.
    @inlinable public static var vlanTag: EtherType { EtherType(rawValue: 0x8100) }
    /// IEEE 802.1ad service tag, the outer tag of standard QinQ.
    @inlinable public static var serviceTag: EtherType { EtherType(rawValue: 0x88A8) }
    /// The outer tag of QinQ before 802.1ad, as switch vendors sent it.
    @inlinable public static var qinq: EtherType { EtherType(rawValue: 0x9100) }
    /// A second pre-standard QinQ tag protocol identifier, seen beside 0x9100.
    @inlinable public static var qinqAlternate: EtherType { EtherType(rawValue: 0x9200) }
    @inlinable public static var mplsUnicast: EtherType { EtherType(rawValue: 0x8847) }
    @inlinable public static var mplsMulticast: EtherType { EtherType(rawValue: 0x8848) }
    /// PPPoE session stage (the discovery stage, 0x8863, carries no IP).
    @inlinable public static var pppoeSession: EtherType { EtherType(rawValue: 0x8864) }
    /// PPP, as PPTP's enhanced GRE names its payload.
    @inlinable public static var ppp: EtherType { EtherType(rawValue: 0x880B) }
    /// Transparent Ethernet bridging: a whole Ethernet frame follows (GRE, Geneve).
    @inlinable public static var transparentEthernetBridging: EtherType { EtherType(rawValue: 0x6558) }
    /// Arista's vendor EtherType; subtype 1 is the timestamp header.
    @inlinable public static var arista: EtherType { EtherType(rawValue: 0xD28B) }
}
