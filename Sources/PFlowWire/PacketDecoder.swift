/// Why a packet could not be decoded. Counted per kind, shown in the report.
import PFlowCore

public enum DecodeError: Int, CaseIterable, Sendable {
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
        }
    }
}

/// The result of decoding one frame.
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
    public var icmpType: UInt8 = 0
    public var icmpCode: UInt8 = 0
    /// Outermost VLAN id, or nil.
    public var vlan: UInt16? = nil
    /// Transport payload length according to the IP header (not the capture).
    public var payloadLength: Int = 0
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
    public var hasQuote = false
    public var quotedProto = IPProtocol(rawValue: 0)
    public var quotedSource = IPAddress(high: 0, low: 0)
    public var quotedDestination = IPAddress(high: 0, low: 0)
    public var quotedSourcePort: UInt16 = 0
    public var quotedDestinationPort: UInt16 = 0

    public init() {}

    /// ICMP/ICMPv6 error that quotes the packet which caused it.
    @inlinable public var isICMPError: Bool {
        (proto == .icmp && (icmpType == 3 || icmpType == 4 || icmpType == 5 || icmpType == 11 || icmpType == 12))
            || (proto == .icmpv6 && icmpType >= 1 && icmpType <= 4)
    }

    /// ICMP/ICMPv6 echo request (or other query that asks for a reply).
    @inlinable public var isICMPRequest: Bool {
        (proto == .icmp && (icmpType == 8 || icmpType == 13 || icmpType == 15 || icmpType == 17))
            || (proto == .icmpv6 && icmpType == 128)
    }

    @inlinable public var isICMPReply: Bool {
        (proto == .icmp && (icmpType == 0 || icmpType == 14 || icmpType == 16 || icmpType == 18))
            || (proto == .icmpv6 && icmpType == 129)
    }
}

/// Decodes frames by link type down to the transport header.
///
/// Sniffer rules: every header must be complete in the captured bytes, the
/// IP total length trims link-layer padding, and a payload cut short by the
/// snaplen marks the packet `truncated` instead of failing it. No length from
/// the wire is used before it is checked against the bytes at hand.
public enum PacketDecoder {
    public static func decode(_ frame: UnsafeRawBufferPointer, linkType: UInt32,
                              into p: inout DecodedPacket) -> DecodeOutcome {
        p.vlan = nil
        p.truncated = false
        p.laterFragment = false
        p.tcpFlags = []
        p.sourcePort = 0
        p.destinationPort = 0
        p.icmpType = 0
        p.icmpCode = 0
        p.payloadLength = 0
        p.payloadOffset = 0
        p.capturedPayloadLength = 0
        p.fragmented = false
        p.fragmentID = 0
        p.tunnel = nil
        p.tunnelDepth = 0
        p.hasQuote = false
        switch linkType {
        case 1:
            return ethernet(frame, &p)
        case 113:  // Linux cooked v1: 16-byte header, protocol last
            guard frame.count >= 16 else { return .error(.linkTruncated) }
            return etherType(be16(frame, 14), frame, at: 16, &p)
        case 276:  // Linux cooked v2: 20-byte header, protocol first
            guard frame.count >= 20 else { return .error(.linkTruncated) }
            return etherType(be16(frame, 0), frame, at: 20, &p)
        case 12, 14, 101:
            guard frame.count >= 1 else { return .error(.linkTruncated) }
            switch frame[0] >> 4 {
            case 4: return ipv4(frame, at: 0, &p)
            case 6: return ipv6(frame, at: 0, &p)
            default: return .error(.rawBadVersion)
            }
        case 228:
            return ipv4(frame, at: 0, &p)
        case 229:
            return ipv6(frame, at: 0, &p)
        case 0, 108:
            // BSD loopback: a 4-byte address family, in the writer's byte order
            // for NULL and in network order for LOOP. Families fit in 16 bits,
            // so a value with the low half zero is the other byte order.
            guard frame.count >= 4 else { return .error(.linkTruncated) }
            var family = frame.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            family = linkType == 108 ? UInt32(bigEndian: family) : UInt32(littleEndian: family)
            if family > 0xFFFF { family = family.byteSwapped }
            switch family {
            case 2: return ipv4(frame, at: 4, &p)
            case 10, 24, 28, 30: return ipv6(frame, at: 4, &p)
            default: return .error(.unknownAddressFamily)
            }
        default:
            return .error(.unsupportedLinkType)
        }
    }

    /// Ethernet II with any number of 802.1Q / 802.1ad / QinQ tags.
    static func ethernet(_ f: UnsafeRawBufferPointer, at o: Int = 0, _ p: inout DecodedPacket) -> DecodeOutcome {
        guard f.count >= o + 14 else { return .error(.linkTruncated) }
        var type = be16(f, o + 12)
        var at = o + 14
        while type == 0x8100 || type == 0x88A8 || type == 0x9100 || type == 0x9200 {
            guard f.count >= at + 4 else { return .error(.vlanTruncated) }
            if p.vlan == nil { p.vlan = be16(f, at) & 0x0FFF }
            type = be16(f, at + 2)
            at += 4
        }
        return etherType(type, f, at: at, &p)
    }

    @inline(__always)
    static func etherType(_ type: UInt16, _ f: UnsafeRawBufferPointer, at: Int,
                          _ p: inout DecodedPacket) -> DecodeOutcome {
        switch type {
        case 0x0800: return ipv4(f, at: at, &p)
        case 0x86DD: return ipv6(f, at: at, &p)
        case 0x8847, 0x8848: return mpls(f, at: at, &p)
        case 0x8864: return pppoe(f, at: at, &p)
        case 0x8100, 0x88A8, 0x9100, 0x9200:  // a tag after a vendor header
            guard f.count >= at + 4 else { return .error(.vlanTruncated) }
            if p.vlan == nil { p.vlan = be16(f, at) & 0x0FFF }
            return etherType(be16(f, at + 2), f, at: at + 4, &p)
        case 0xD28B: return arista(f, at: at, &p)
        default: return .notIP
        }
    }

    /// MPLS label stack (RFC 3032): labels until bottom-of-stack, then the
    /// payload's version nibble: 4 or 6 is IP, 0 a pseudowire control word
    /// before an Ethernet frame (RFC 4448).
    static func mpls(_ f: UnsafeRawBufferPointer, at o: Int, _ p: inout DecodedPacket) -> DecodeOutcome {
        var at = o
        while true {
            guard f.count >= at + 4 else { return .error(.mplsTruncated) }
            let bottom = f[at + 2] & 0x01 != 0
            at += 4
            if bottom { break }
        }
        guard f.count > at else { return .error(.mplsTruncated) }
        switch f[at] >> 4 {
        case 4: return ipv4(f, at: at, &p)
        case 6: return ipv6(f, at: at, &p)
        case 0:
            guard f.count >= at + 4 + 14 else { return .error(.mplsTruncated) }
            return ethernet(f, at: at + 4, &p)
        default: return .notIP
        }
    }

    /// PPPoE session stage (RFC 2516): 6-byte header, then a PPP protocol.
    static func pppoe(_ f: UnsafeRawBufferPointer, at o: Int, _ p: inout DecodedPacket) -> DecodeOutcome {
        guard f.count >= o + 8 else { return .error(.pppoeTruncated) }
        switch be16(f, o + 6) {
        case 0x0021: return ipv4(f, at: o + 8, &p)
        case 0x0057: return ipv6(f, at: o + 8, &p)
        default: return .notIP  // LCP, IPCP, authentication…
        }
    }

    /// Arista's timestamp header (EtherType 0xD28B): subtype, version, a 64-
    /// or 48-bit timestamp, then the original EtherType.
    static func arista(_ f: UnsafeRawBufferPointer, at o: Int, _ p: inout DecodedPacket) -> DecodeOutcome {
        guard f.count >= o + 4 else { return .error(.linkTruncated) }
        guard be16(f, o) == 1 else { return .notIP }
        let length: Int
        switch f[o + 3] & 0xF0 {
        case 0x10: length = 8
        case 0x20: length = 6
        default: return .notIP
        }
        guard f.count >= o + 4 + length + 2 else { return .error(.linkTruncated) }
        return etherType(be16(f, o + 4 + length), f, at: o + 6 + length, &p)
    }

    /// IPv4 (RFC 791): version/IHL, total length, flags/fragment offset,
    /// protocol, addresses; options skipped by IHL.
    static func ipv4(_ f: UnsafeRawBufferPointer, at o: Int, _ p: inout DecodedPacket) -> DecodeOutcome {
        guard f.count >= o + 20 else { return .error(.ipv4Truncated) }
        let vihl = f[o]
        guard vihl >> 4 == 4 else { return .error(.ipv4BadVersion) }
        let headerLength = Int(vihl & 0x0F) * 4
        guard headerLength >= 20 else { return .error(.ipv4BadHeaderLength) }
        guard f.count >= o + headerLength else { return .error(.ipv4Truncated) }
        let totalLength = Int(be16(f, o + 2))
        guard totalLength >= headerLength else { return .error(.ipv4BadTotalLength) }
        var end = o + totalLength
        if end > f.count {
            p.truncated = true
            end = f.count
        }
        p.ipVersion = 4
        p.source = IPAddress(ipv4: be32(f, o + 12))
        p.destination = IPAddress(ipv4: be32(f, o + 16))
        p.proto = IPProtocol(rawValue: f[o + 9])
        let flagsAndOffset = be16(f, o + 6)
        let fragmentOffset = flagsAndOffset & 0x1FFF
        let transportLength = totalLength - headerLength
        if fragmentOffset != 0 || flagsAndOffset & 0x2000 != 0 {
            p.fragmented = true
            p.fragmentID = UInt32(be16(f, o + 4))
        }
        if fragmentOffset != 0 {
            p.laterFragment = true
            p.payloadLength = transportLength
            return .packet
        }
        return transport(f, at: o + headerLength, length: transportLength, end: end, &p)
    }

    /// IPv6 (RFC 8200) and its extension-header chain up to the transport.
    static func ipv6(_ f: UnsafeRawBufferPointer, at o: Int, _ p: inout DecodedPacket) -> DecodeOutcome {
        guard f.count >= o + 40 else { return .error(.ipv6Truncated) }
        guard f[o] >> 4 == 6 else { return .error(.ipv6BadVersion) }
        var remaining = Int(be16(f, o + 4))
        var end = o + 40 + remaining
        if end > f.count {
            p.truncated = true
            end = f.count
        }
        p.ipVersion = 6
        p.source = IPAddress(high: be64(f, o + 8), low: be64(f, o + 16))
        p.destination = IPAddress(high: be64(f, o + 24), low: be64(f, o + 32))
        var next = f[o + 6]
        var at = o + 40
        // Each extension header is at least 8 bytes, so the walk ends.
        while true {
            let length: Int
            switch next {
            case 0, 43, 60, 135, 139, 140:  // hop-by-hop, routing, dest opts, mobility, HIP, shim6
                guard end >= at + 8 else { return .error(.ipv6ExtensionTruncated) }
                length = (Int(f[at + 1]) + 1) * 8
            case 44:  // fragment
                guard end >= at + 8 else { return .error(.ipv6ExtensionTruncated) }
                length = 8
                p.fragmented = true
                p.fragmentID = be32(f, at + 4)
                if be16(f, at + 2) >> 3 != 0 {
                    guard remaining >= 8 else { return .error(.ipv6BadExtensionLength) }
                    p.proto = IPProtocol(rawValue: f[at])
                    p.laterFragment = true
                    p.payloadLength = remaining - 8
                    return .packet
                }
            case 51:  // authentication header counts 4-byte words
                guard end >= at + 8 else { return .error(.ipv6ExtensionTruncated) }
                length = (Int(f[at + 1]) + 2) * 4
            default:
                p.proto = IPProtocol(rawValue: next)
                return transport(f, at: at, length: remaining, end: end, &p)
            }
            guard length <= remaining else { return .error(.ipv6BadExtensionLength) }
            next = f[at]
            at += length
            remaining -= length
        }
    }

    /// TCP, UDP, ICMP, ICMPv6 headers; other protocols pass with no ports.
    /// `length` is the transport length per the IP header; `end` is where the
    /// captured bytes of this IP packet stop. Tunnels are opened here.
    static func transport(_ f: UnsafeRawBufferPointer, at o: Int, length: Int, end: Int,
                          _ p: inout DecodedPacket) -> DecodeOutcome {
        let captured = max(0, end - o)
        switch p.proto {
        case .tcp:
            guard length >= 20 else { return .error(.tcpBadLength) }
            guard captured >= 20 else { return .error(.tcpTruncated) }
            let headerLength = Int(f[o + 12] >> 4) * 4
            guard headerLength >= 20, headerLength <= length else { return .error(.tcpBadLength) }
            // Options cut by the snaplen: the fixed header has all a flow needs.
            if captured < headerLength { p.truncated = true }
            p.sourcePort = be16(f, o)
            p.destinationPort = be16(f, o + 2)
            p.tcpFlags = TCPFlags(rawValue: f[o + 13])
            p.tcpSequence = be32(f, o + 4)
            setPayload(at: o + headerLength, length: length - headerLength, end: end, &p)
        case .udp:
            guard length >= 8 else { return .error(.udpBadLength) }
            guard captured >= 8 else { return .error(.udpTruncated) }
            p.sourcePort = be16(f, o)
            p.destinationPort = be16(f, o + 2)
            setPayload(at: o + 8, length: length - 8, end: end, &p)
            if p.decapsulate, p.tunnelDepth < maximumTunnelDepth, !p.fragmented {
                return udpTunnel(f, at: o + 8, end: min(end, o + length), &p)
            }
        case .icmp, .icmpv6:
            guard captured >= 4, length >= 4 else { return .error(.icmpTruncated) }
            p.icmpType = f[o]
            p.icmpCode = f[o + 1]
            if p.isICMPRequest || p.isICMPReply {
                guard captured >= 8, length >= 8 else { return .error(.icmpTruncated) }
                let identifier = be16(f, o + 4)
                p.sourcePort = identifier
                p.destinationPort = identifier
            } else if p.isICMPError, captured >= 8 {
                quote(f, at: o + 8, end: min(end, o + length), &p)
            }
            let headerLength = min(8, length)
            setPayload(at: o + headerLength, length: length - headerLength, end: end, &p)
        case IPProtocol(rawValue: 4), IPProtocol(rawValue: 41), IPProtocol(rawValue: 47):
            setPayload(at: o, length: length, end: end, &p)
            if p.decapsulate, p.tunnelDepth < maximumTunnelDepth, !p.fragmented {
                return ipTunnel(f, at: o, end: min(end, o + length), &p)
            }
        default:
            setPayload(at: o, length: length, end: end, &p)
        }
        return .packet
    }

    /// Tunnels inside tunnels are opened this deep, and no deeper.
    static let maximumTunnelDepth: UInt8 = 4

    /// Decodes an inner packet; if it can't be decoded, the outer packet
    /// stands as it was (an undecodable payload is still outer traffic).
    static func inner(_ kind: TunnelKind, _ p: inout DecodedPacket,
                      _ decodeInner: (inout DecodedPacket) -> DecodeOutcome) -> DecodeOutcome {
        let outer = p
        if p.tunnel == nil {
            p.tunnel = kind
            p.tunnelSource = p.source
            p.tunnelDestination = p.destination
        }
        p.tunnelDepth += 1
        p.sourcePort = 0
        p.destinationPort = 0
        p.tcpFlags = []
        p.truncated = false
        p.fragmented = false
        p.laterFragment = false
        let outcome = decodeInner(&p)
        if outcome != .packet { p = outer }
        return .packet
    }

    /// IP-in-IP (4in4, 6in4, 4in6, 6in6) and GRE, by IP protocol number.
    static func ipTunnel(_ f: UnsafeRawBufferPointer, at o: Int, end: Int, _ p: inout DecodedPacket) -> DecodeOutcome {
        switch p.proto.rawValue {
        case 4: return inner(.ipip, &p) { ipv4(bounded(f, end), at: o, &$0) }
        case 41: return inner(.ipip, &p) { ipv6(bounded(f, end), at: o, &$0) }
        default: return gre(f, at: o, end: end, &p)
        }
    }

    /// The frame cut at `end`, so an inner packet can't read past its outer one.
    @inline(__always)
    static func bounded(_ f: UnsafeRawBufferPointer, _ end: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: f[0..<max(0, min(end, f.count))])
    }

    /// GRE (RFC 2784/2890) and PPTP's enhanced GRE (RFC 2637) carrying PPP.
    static func gre(_ f: UnsafeRawBufferPointer, at o: Int, end: Int, _ p: inout DecodedPacket) -> DecodeOutcome {
        guard end >= o + 4 else { return .packet }
        let flags = be16(f, o)
        let protocolType = be16(f, o + 2)
        let version = flags & 0x0007
        var at = o + 4
        if version == 0 {
            guard flags & 0x4000 == 0 else { return .packet }  // source routing: not opened
            if flags & 0x8000 != 0 { at += 4 }  // checksum and reserved
            if flags & 0x2000 != 0 { at += 4 }  // key
            if flags & 0x1000 != 0 { at += 4 }  // sequence
            let inner = bounded(f, end)
            switch protocolType {
            case 0x0800: return Self.inner(.gre, &p) { ipv4(inner, at: at, &$0) }
            case 0x86DD: return Self.inner(.gre, &p) { ipv6(inner, at: at, &$0) }
            case 0x6558: return Self.inner(.gre, &p) { ethernet(inner, at: at, &$0) }
            case 0x8847: return Self.inner(.gre, &p) { mpls(inner, at: at, &$0) }
            default: return .packet
            }
        }
        guard version == 1, protocolType == 0x880B, flags & 0x2000 != 0 else { return .packet }
        at += 4                                  // payload length and call id
        if flags & 0x1000 != 0 { at += 4 }       // sequence
        if flags & 0x0080 != 0 { at += 4 }       // acknowledgment
        guard end >= at + 1 else { return .packet }  // an ACK-only packet: no payload
        // PPP: optional address/control (FF 03), then a 1- or 2-byte protocol.
        if end >= at + 2, f[at] == 0xFF, f[at + 1] == 0x03 { at += 2 }
        guard end > at else { return .packet }
        var pppProtocol = UInt16(f[at])
        if pppProtocol & 1 == 0 {
            guard end >= at + 2 else { return .packet }
            pppProtocol = be16(f, at)
            at += 2
        } else {
            at += 1
        }
        let inner = bounded(f, end)
        switch pppProtocol {
        case 0x21: return Self.inner(.pptp, &p) { ipv4(inner, at: at, &$0) }
        case 0x57: return Self.inner(.pptp, &p) { ipv6(inner, at: at, &$0) }
        default: return .packet
        }
    }

    /// UDP-borne tunnels by their IANA ports: VXLAN 4789, Geneve 6081,
    /// GTP-U 2152, Teredo 3544.
    static func udpTunnel(_ f: UnsafeRawBufferPointer, at o: Int, end: Int, _ p: inout DecodedPacket) -> DecodeOutcome {
        let inner = bounded(f, end)
        func either(_ port: UInt16) -> Bool { p.sourcePort == port || p.destinationPort == port }
        if p.destinationPort == 4789 {
            // VXLAN (RFC 7348): flags with the I bit, 24-bit VNI, then Ethernet.
            guard end >= o + 8 + 14, f[o] & 0x08 != 0 else { return .packet }
            return Self.inner(.vxlan, &p) { ethernet(inner, at: o + 8, &$0) }
        }
        if p.destinationPort == 6081 {
            // Geneve (RFC 8926): version 0, options length in 4-byte words, protocol type.
            guard end >= o + 8, f[o] >> 6 == 0 else { return .packet }
            let at = o + 8 + Int(f[o] & 0x3F) * 4
            switch be16(f, o + 2) {
            case 0x6558: return Self.inner(.geneve, &p) { ethernet(inner, at: at, &$0) }
            case 0x0800: return Self.inner(.geneve, &p) { ipv4(inner, at: at, &$0) }
            case 0x86DD: return Self.inner(.geneve, &p) { ipv6(inner, at: at, &$0) }
            default: return .packet
            }
        }
        if either(2152) {
            // GTP-U v1 (3GPP TS 29.281): G-PDU messages carry an IP packet.
            guard end >= o + 8, f[o] >> 5 == 1, f[o] & 0x10 != 0, f[o + 1] == 0xFF else { return .packet }
            var at = o + 8
            if f[o] & 0x07 != 0 {
                guard end >= at + 4 else { return .packet }
                var next = f[at + 3]
                at += 4
                // Extension headers: a length in 4-byte units, the next type last.
                while next != 0 {
                    guard end > at, f[at] > 0 else { return .packet }
                    let length = Int(f[at]) * 4
                    guard end >= at + length else { return .packet }
                    next = f[at + length - 1]
                    at += length
                }
            }
            guard end > at else { return .packet }
            switch f[at] >> 4 {
            case 4: return Self.inner(.gtpu, &p) { ipv4(inner, at: at, &$0) }
            case 6: return Self.inner(.gtpu, &p) { ipv6(inner, at: at, &$0) }
            default: return .packet
            }
        }
        if either(3544) {
            // Teredo (RFC 4380): optional authentication and origin indication, then IPv6.
            var at = o
            if end >= at + 4, f[at] == 0, f[at + 1] == 1 {
                at += 4 + Int(f[at + 2]) + Int(f[at + 3]) + 9
            }
            if end >= at + 8, f[at] == 0, f[at + 1] == 0 { at += 8 }
            guard end >= at + 40, f[at] >> 4 == 6, at + 40 + Int(be16(f, at + 4)) == end else { return .packet }
            return Self.inner(.teredo, &p) { ipv6(inner, at: at, &$0) }
        }
        return .packet
    }

    /// The IP header and first 8 transport bytes an ICMP error quotes
    /// (RFC 792, RFC 4443). Only a complete quote is kept.
    static func quote(_ f: UnsafeRawBufferPointer, at o: Int, end: Int, _ p: inout DecodedPacket) {
        guard end >= o + 1 else { return }
        var transportAt: Int
        switch f[o] >> 4 {
        case 4:
            guard end >= o + 20 else { return }
            let headerLength = Int(f[o] & 0x0F) * 4
            guard headerLength >= 20, be16(f, o + 6) & 0x1FFF == 0 else { return }
            p.quotedProto = IPProtocol(rawValue: f[o + 9])
            p.quotedSource = IPAddress(ipv4: be32(f, o + 12))
            p.quotedDestination = IPAddress(ipv4: be32(f, o + 16))
            transportAt = o + headerLength
        case 6:
            guard end >= o + 40 else { return }
            p.quotedProto = IPProtocol(rawValue: f[o + 6])
            p.quotedSource = IPAddress(high: be64(f, o + 8), low: be64(f, o + 16))
            p.quotedDestination = IPAddress(high: be64(f, o + 24), low: be64(f, o + 32))
            transportAt = o + 40
        default:
            return
        }
        guard p.quotedProto.hasPorts, end >= transportAt + 4 else { return }
        p.quotedSourcePort = be16(f, transportAt)
        p.quotedDestinationPort = be16(f, transportAt + 2)
        p.hasQuote = true
    }

    @inline(__always)
    static func setPayload(at o: Int, length: Int, end: Int, _ p: inout DecodedPacket) {
        p.payloadLength = length
        p.payloadOffset = o
        p.capturedPayloadLength = max(0, min(length, end - o))
    }
}
