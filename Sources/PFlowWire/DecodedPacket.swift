import PFlowCore

/// Encapsulations pflow opens.
public enum TunnelKind: UInt8, Sendable, CaseIterable {
    case gre, pptp, ipip, vxlan, geneve, gtpu, teredo

    public var name: String {
        switch self {
        case .gre: return "gre"
        case .pptp: return "gre-pptp"
        case .ipip: return "ip-in-ip"
        case .vxlan: return "vxlan"
        case .geneve: return "geneve"
        case .gtpu: return "gtp-u"
        case .teredo: return "teredo"
        }
    }
}

/// The result of decoding one frame.
public enum DecodeOutcome: Equatable, Sendable {
    /// An IP packet: the `DecodedPacket` holds it.
    case packet
    /// A well-formed frame that carries no IP (ARP, STP, LLDP, …).
    case notIP
    case error(DecodeError)
}

/// What the flow tracker needs from one IP packet: a small value, filled in
/// place by `PacketDecoder.decode` so that no packet allocates.
public struct DecodedPacket: Sendable {
    public var ipVersion: UInt8 = 0
    public var source = IPAddress(high: 0, low: 0)
    public var destination = IPAddress(high: 0, low: 0)
    public var proto = IPProtocol(rawValue: 0)
    /// TCP/UDP ports; ICMP echo: the identifier on both; other ICMP: 0.
    public var sourcePort: UInt16 = 0
    public var destinationPort: UInt16 = 0
    public var tcpFlags = TCPFlags()
    public var tcpSequence: UInt32 = 0
    /// TCP window field as sent (unscaled).
    public var tcpWindow: UInt16 = 0
    public var icmpType: UInt8 = 0
    public var icmpCode: UInt8 = 0
    /// Outermost VLAN id, or nil.
    public var vlan: UInt16? = nil
    /// Transport payload length according to the IP header (not the capture).
    public var payloadLength: Int = 0
    /// The IP packet's length according to its header: IPv4 total length,
    /// IPv6 40 + payload length (Zeek's and IPFIX's IP-layer bytes). Set by
    /// every IP header decoded, so a tunnel's inner packet has the last word.
    public var ipLength: Int = 0
    /// Where the captured part of the transport payload sits in the frame.
    public var payloadOffset: Int = 0
    public var capturedPayloadLength: Int = 0
    /// The IP packet extends past the captured bytes (snaplen cut).
    public var truncated = false
    /// A fragment other than the first: it carries no transport header.
    public var laterFragment = false
    /// Part of a fragmented datagram (first or later), with its identification.
    public var fragmented = false
    public var fragmentID: UInt32 = 0

    /// The outermost tunnel the packet came through, if any: its kind and
    /// outer endpoints. The rest of the value describes the inner packet.
    public var tunnel: TunnelKind? = nil
    public var tunnelSource = IPAddress(high: 0, low: 0)
    public var tunnelDestination = IPAddress(high: 0, low: 0)
    /// Tunnels opened so far (bounded, so nested tunnels can't recurse forever).
    public var tunnelDepth: UInt8 = 0
    /// Open tunnels (GRE, IP-in-IP, VXLAN, Geneve, GTP-U, Teredo)?
    public var decapsulate = true

    /// ICMP errors: the transport header they quote (sent by `quotedSource`).
    /// The quoted fields mean something only when `hasQuote` is set.
    public var hasQuote = false
    public var quotedProto = IPProtocol(rawValue: 0)
    public var quotedSource = IPAddress(high: 0, low: 0)
    public var quotedDestination = IPAddress(high: 0, low: 0)
    public var quotedSourcePort: UInt16 = 0
    public var quotedDestinationPort: UInt16 = 0

    public init() {}

    /// What a previous packet left in the fields that not every packet sets.
    @inline(__always)
    mutating func clearPerPacketFields() {
        vlan = nil
        truncated = false
        laterFragment = false
        tcpFlags = []
        sourcePort = 0
        destinationPort = 0
        icmpType = 0
        icmpCode = 0
        payloadLength = 0
        payloadOffset = 0
        capturedPayloadLength = 0
        fragmented = false
        fragmentID = 0
        tunnel = nil
        tunnelDepth = 0
        hasQuote = false
    }

    // ICMP types (RFC 792, 950; RFC 4443 for ICMPv6), spelled as numbers
    // because these accessors are inlined into the flow tracker's module.

    /// ICMP/ICMPv6 error that quotes the packet which caused it: destination
    /// unreachable 3, source quench 4, redirect 5, time exceeded 11, parameter
    /// problem 12; ICMPv6 unreachable 1, packet too big 2, time exceeded 3,
    /// parameter problem 4.
    @inlinable public var isICMPError: Bool {
        (proto == .icmp && (icmpType == 3 || icmpType == 4 || icmpType == 5 || icmpType == 11 || icmpType == 12))
            || (proto == .icmpv6 && icmpType >= 1 && icmpType <= 4)
    }

    /// ICMP/ICMPv6 echo request (or other query that asks for a reply): echo 8,
    /// timestamp 13, information 15, address mask 17; ICMPv6 echo 128.
    @inlinable public var isICMPRequest: Bool {
        (proto == .icmp && (icmpType == 8 || icmpType == 13 || icmpType == 15 || icmpType == 17))
            || (proto == .icmpv6 && icmpType == 128)
    }

    /// The replies to those queries: 0, 14, 16, 18; ICMPv6 echo reply 129.
    @inlinable public var isICMPReply: Bool {
        (proto == .icmp && (icmpType == 0 || icmpType == 14 || icmpType == 16 || icmpType == 18))
            || (proto == .icmpv6 && icmpType == 129)
    }
}

