/// Why a packet could not be decoded. Counted per kind, shown in the report.
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

    public init() {}

    /// ICMP/ICMPv6 echo request (or other query that asks for a reply).
    public var isICMPRequest: Bool {
        (proto == .icmp && (icmpType == 8 || icmpType == 13 || icmpType == 15 || icmpType == 17))
            || (proto == .icmpv6 && icmpType == 128)
    }

    public var isICMPReply: Bool {
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
    static func ethernet(_ f: UnsafeRawBufferPointer, _ p: inout DecodedPacket) -> DecodeOutcome {
        guard f.count >= 14 else { return .error(.linkTruncated) }
        var type = be16(f, 12)
        var at = 14
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
        default: return .notIP
        }
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
        let fragmentOffset = be16(f, o + 6) & 0x1FFF
        let transportLength = totalLength - headerLength
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
    /// captured bytes of this IP packet stop.
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
        case .icmp, .icmpv6:
            guard captured >= 4, length >= 4 else { return .error(.icmpTruncated) }
            p.icmpType = f[o]
            p.icmpCode = f[o + 1]
            if p.isICMPRequest || p.isICMPReply {
                guard captured >= 8, length >= 8 else { return .error(.icmpTruncated) }
                let identifier = be16(f, o + 4)
                p.sourcePort = identifier
                p.destinationPort = identifier
            }
            let headerLength = min(8, length)
            setPayload(at: o + headerLength, length: length - headerLength, end: end, &p)
        default:
            setPayload(at: o, length: length, end: end, &p)
        }
        return .packet
    }

    @inline(__always)
    static func setPayload(at o: Int, length: Int, end: Int, _ p: inout DecodedPacket) {
        p.payloadLength = length
        p.payloadOffset = o
        p.capturedPayloadLength = max(0, min(length, end - o))
    }
}
