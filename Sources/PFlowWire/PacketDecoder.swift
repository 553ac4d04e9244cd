import PFlowCore

/// Decodes frames by link type down to the transport header.
///
/// Sniffer rules: every header must be complete in the captured bytes, the
/// IP total length trims link-layer padding, and a payload cut short by the
/// snaplen marks the packet `truncated` instead of failing it. No length from
/// the wire is used before it is checked against the bytes at hand: that is
/// each protocol's view (one file per protocol); this file only dispatches.
///
/// The layers are a loop, not a recursion, so that no frame can exhaust the
/// stack: the link header, then link-layer shims (VLAN tags, MPLS, PPPoE,
/// Arista headers) up to IP, then the transport; a tunnel found there starts
/// the loop again on its inner packet. Two counters bound the nesting:
/// `maximumShims` per link layer and `maximumTunnelDepth` tunnels.
public enum PacketDecoder {
    /// Tunnels inside tunnels are opened this deep, and no deeper: a fifth
    /// tunnel's packet stands as the payload of the fourth (not an error).
    static let maximumTunnelDepth: UInt8 = 4
    /// Link-layer shims before IP in one link layer (a tunnel's inner frame
    /// counts its own). QinQ, an MPLS stack with a pseudowire and the
    /// pseudowire's own QinQ make 5; a frame with more than 8 counts as
    /// `tooDeeplyNested`.
    static let maximumShims = 8

    /// Decodes one frame of `linkType` (a LINKTYPE_ value) into `p`, which
    /// the caller reuses from packet to packet.
    public static func decode(_ frame: UnsafeRawBufferPointer, linkType: UInt32,
                              into p: inout DecodedPacket) -> DecodeOutcome {
        if linkType == LinkType.ethernet.rawValue && ethernetIP(frame, &p) { return .packet }
        return decodeLayers(frame, linkType: linkType, into: &p)
    }

    /// Ethernet, then IPv4 that is not a fragment or IPv6 with no extension
    /// header, then a TCP or UDP header (no tunnel): most packets of most
    /// captures, decoded in one straight line. The general path's layers,
    /// steps and typed errors took 245M instructions for the 1M bench
    /// capture's packets; with this line first, 160M, 30M of them for the
    /// 12% of packets it leaves to the general path (callgrind). It makes the same
    /// checks and sets the same fields (a test holds the two to each other
    /// on generated and cut frames); anything else (VLAN tags, fragments,
    /// extension headers, ICMP, a short or bad header, a UDP tunnel's port)
    /// returns false before `p` is touched and takes the general path,
    /// which reports it.
    @inline(__always)
    static func ethernetIP(_ frame: UnsafeRawBufferPointer, _ p: inout DecodedPacket) -> Bool {
        let count = frame.count
        let ip = EthernetHeader.Field.headerLength
        guard count >= ip + IPv4Header.Field.minimumLength else { return false }
        let etherType = frame.be16(at: EthernetHeader.Field.etherType.lowerBound)
        let version = IPVersionNibble.version(of: frame.byte(IPv4Header.Field.versionAndHeaderLength, of: ip))
        let proto: IPProtocol, offset: Int, length: Int, ipEnd: Int, ipLength: Int
        if etherType == EtherType.ipv4.rawValue {
            guard version == IPv4Header.version else { return false }
            let headerLength = Int(frame.byte(IPv4Header.Field.versionAndHeaderLength, of: ip) & IPv4Header.headerLengthMask)
                &* IPv4Header.headerLengthUnit
            let totalLength = Int(frame.be16(IPv4Header.Field.totalLength, of: ip))
            guard headerLength >= IPv4Header.Field.minimumLength, frame.holds(headerLength, at: ip),
                  totalLength >= headerLength,
                  frame.be16(IPv4Header.Field.flagsAndFragmentOffset, of: ip)
                    & (IPv4Header.moreFragmentsFlag | IPv4Header.fragmentOffsetMask) == 0 else { return false }
            proto = IPProtocol(rawValue: frame.byte(IPv4Header.Field.nextProtocol, of: ip))
            ipEnd = ip &+ totalLength
            offset = ip &+ headerLength
            length = totalLength &- headerLength
            ipLength = totalLength
        } else if etherType == EtherType.ipv6.rawValue {
            guard version == IPv6Header.version, frame.holds(IPv6Header.Field.headerLength, at: ip) else { return false }
            // TCP or UDP right after the fixed header: any other next header
            // (an extension, a fragment) is the general path's.
            proto = IPProtocol(rawValue: frame.byte(IPv6Header.Field.nextHeader, of: ip))
            length = Int(frame.be16(IPv6Header.Field.payloadLength, of: ip))
            offset = ip &+ IPv6Header.Field.headerLength
            ipEnd = offset &+ length
            ipLength = IPv6Header.Field.headerLength &+ length
        } else {
            return false
        }
        // What the general path calls the cut packet: its bytes end here.
        let end = Swift.min(ipEnd, count)
        let held = end &- offset   // never negative: the IP header is within the capture
        if proto == .tcp {
            guard length >= TCPHeader.Field.minimumLength, held >= TCPHeader.Field.minimumLength else { return false }
            let tcpLength = Int(frame.byte(TCPHeader.Field.dataOffset, of: offset) >> TCPHeader.dataOffsetShift)
                &* TCPHeader.dataOffsetUnit
            guard tcpLength >= TCPHeader.Field.minimumLength, tcpLength <= length else { return false }
            p.clearPerPacketFields()
            p.truncated = ipEnd > count || held < tcpLength
            p.sourcePort = frame.be16(TCPHeader.Field.sourcePort, of: offset)
            p.destinationPort = frame.be16(TCPHeader.Field.destinationPort, of: offset)
            p.tcpFlags = TCPFlags(rawValue: frame.byte(TCPHeader.Field.flags, of: offset))
            p.tcpSequence = frame.be32(TCPHeader.Field.sequenceNumber, of: offset)
            p.tcpWindow = frame.be16(TCPHeader.Field.window, of: offset)
            setPayload(at: offset &+ tcpLength, length: length &- tcpLength, end: end, &p)
        } else if proto == .udp {
            let udpLength = UDPHeader.Field.headerLength
            guard length >= udpLength, held >= udpLength else { return false }
            let sourcePort = frame.be16(UDPHeader.Field.sourcePort, of: offset)
            let destinationPort = frame.be16(UDPHeader.Field.destinationPort, of: offset)
            if p.decapsulate, udpTunnel(frame.cut(at: end).cut(at: offset &+ length), at: offset &+ udpLength,
                                        sourcePort: sourcePort, destinationPort: destinationPort) != nil {
                return false
            }
            p.clearPerPacketFields()
            p.truncated = ipEnd > count
            p.sourcePort = sourcePort
            p.destinationPort = destinationPort
            setPayload(at: offset &+ udpLength, length: length &- udpLength, end: end, &p)
        } else {
            return false
        }
        if etherType == EtherType.ipv4.rawValue {
            p.ipVersion = IPv4Header.version
            p.source = IPAddress(ipv4: frame.be32(IPv4Header.Field.source, of: ip))
            p.destination = IPAddress(ipv4: frame.be32(IPv4Header.Field.destination, of: ip))
        } else {
            p.ipVersion = IPv6Header.version
            p.source = IPAddress(high: frame.be64(at: ip &+ IPv6Header.Field.source.lowerBound),
                                 low: frame.be64(at: ip &+ IPv6Header.Field.source.lowerBound &+ 8))
            p.destination = IPAddress(high: frame.be64(at: ip &+ IPv6Header.Field.destination.lowerBound),
                                      low: frame.be64(at: ip &+ IPv6Header.Field.destination.lowerBound &+ 8))
        }
        p.ipLength = ipLength
        p.proto = proto
        return true
    }

    /// `decode` by layers, for every frame (the tests call it to check the fast path).
    static func decodeLayers(_ frame: UnsafeRawBufferPointer, linkType: UInt32,
                             into p: inout DecodedPacket) -> DecodeOutcome {
        p.clearPerPacketFields()
        let step: Step
        do throws(DecodeError) {
            let (first, offset) = try linkHeader(frame, LinkType(rawValue: linkType))
            step = try layers(frame, from: first, at: offset, &p)
        } catch {
            return .error(error)
        }
        switch step {
        case .finished(let outcome): return outcome
        case .tunnel(let tunnel): return decapsulate(frame, tunnel, &p)
        }
    }

    /// Opens `tunnel` and the tunnels inside it: one round per inner link
    /// layer. `transport` offers a tunnel only below `maximumTunnelDepth`, and
    /// opening one raises `p.tunnelDepth`, so the rounds are bounded.
    static func decapsulate(_ frame: UnsafeRawBufferPointer, _ tunnel: Tunnel,
                            _ p: inout DecodedPacket) -> DecodeOutcome {
        var bytes = frame
        var tunnel = tunnel
        while true {
            let outer = p
            open(tunnel.kind, &p)
            bytes = bytes.cut(at: tunnel.end)
            let step: Step
            do throws(DecodeError) {
                step = try layers(bytes, from: tunnel.first, at: tunnel.offset, &p)
            } catch {
                step = .finished(.error(error))
            }
            switch step {
            case .finished(.packet):
                return .packet
            case .finished:
                p = outer  // an undecodable inner packet is still outer traffic
                return .packet
            case .tunnel(let inner):
                tunnel = inner
            }
        }
    }

    /// The first header of a link layer: Ethernet, or what an EtherType names.
    enum FirstHeader {
        case ethernet
        case etherType(EtherType)
    }

    /// A tunnel found in a packet's payload, about to be opened.
    struct Tunnel {
        var kind: TunnelKind
        var first: FirstHeader
        var offset: Int
        /// Where the outer payload ends: the inner packet can't read past it.
        var end: Int
    }

    enum Step {
        case finished(DecodeOutcome)
        case tunnel(Tunnel)
    }

    /// Where the link header says the first header is.
    @inline(__always)
    static func linkHeader(_ frame: UnsafeRawBufferPointer,
                           _ linkType: LinkType) throws(DecodeError) -> (FirstHeader, Int) {
        switch linkType {
        case .ethernet:
            return (.ethernet, 0)
        case .linuxSLL:
            guard let cooked = LinuxSLLHeader(frame, at: 0) else { throw .linkTruncated }
            return (.etherType(cooked.protocolType), cooked.payloadOffset)
        case .linuxSLL2:
            guard let cooked = LinuxSLL2Header(frame, at: 0) else { throw .linkTruncated }
            return (.etherType(cooked.protocolType), cooked.payloadOffset)
        case .raw, .rawIP12, .rawIP14:
            guard let start = IPVersionNibble(frame, at: 0) else { throw .linkTruncated }
            guard let type = start.etherType else { throw .rawBadVersion }
            return (.etherType(type), 0)
        case .ipv4:
            return (.etherType(.ipv4), 0)
        case .ipv6:
            return (.etherType(.ipv6), 0)
        case .null, .loop:
            guard let loopback = BSDLoopbackHeader(frame, networkOrder: linkType == .loop) else {
                throw .linkTruncated
            }
            switch loopback.family {
            case .inet:
                return (.etherType(.ipv4), loopback.payloadOffset)
            case .inet6Linux, .inet6NetBSD, .inet6FreeBSD, .inet6Darwin:
                return (.etherType(.ipv6), loopback.payloadOffset)
            default:
                throw .unknownAddressFamily
            }
        default:
            throw .unsupportedLinkType
        }
    }

    /// One link layer and the IP packet it carries, in three phases: the
    /// shims up to IP, the IP header (and IPv6's extension headers), the
    /// transport header.
    static func layers(_ bytes: UnsafeRawBufferPointer, from first: FirstHeader, at offset: Int,
                       _ p: inout DecodedPacket) throws(DecodeError) -> Step {
        var type: EtherType
        var at: Int
        switch first {
        case .ethernet:
            guard let ethernet = EthernetHeader(bytes, at: offset) else { throw .linkTruncated }
            (type, at) = (ethernet.etherType, ethernet.payloadOffset)
        case .etherType(let named):
            (type, at) = (named, offset)
        }
        var shims = 0
        while type != .ipv4 && type != .ipv6 {
            switch type {
            case .vlanTag, .serviceTag, .qinq, .qinqAlternate:
                guard let tag = VLANTag(bytes, at: at) else { throw .vlanTruncated }
                if p.vlan == nil { p.vlan = tag.identifier }
                (type, at) = (tag.etherType, tag.payloadOffset)
            case .mplsUnicast, .mplsMulticast:
                let stack = try MPLSLabelStack(bytes, at: at)
                switch stack.payload {
                case .ipv4:
                    (type, at) = (.ipv4, stack.payloadOffset)
                case .ipv6:
                    (type, at) = (.ipv6, stack.payloadOffset)
                case .pseudowire:
                    guard let word = PseudowireControlWord(bytes, at: stack.payloadOffset),
                          let ethernet = EthernetHeader(bytes, at: word.payloadOffset) else { throw .mplsTruncated }
                    (type, at) = (ethernet.etherType, ethernet.payloadOffset)
                case .unknown:
                    return .finished(.notIP)
                }
            case .pppoeSession:
                guard let session = PPPoESession(bytes, at: at) else { throw .pppoeTruncated }
                switch session.pppProtocol {
                case .ipv4: (type, at) = (.ipv4, session.payloadOffset)
                case .ipv6: (type, at) = (.ipv6, session.payloadOffset)
                default: return .finished(.notIP)  // LCP, IPCP, authentication…
                }
            case .arista:
                guard let header = try AristaHeader(bytes, at: at) else { return .finished(.notIP) }
                (type, at) = (header.etherType, header.payloadOffset)
            default:
                return .finished(.notIP)
            }
            shims += 1
            guard shims <= maximumShims else { throw .tooDeeplyNested }
        }
        let payload = type == .ipv4 ? try ipv4(bytes, at: at, &p) : try ipv6(bytes, at: at, &p)
        guard let payload else { return .finished(.packet) }  // a later fragment: no transport header
        return try transport(payload.bytes, at: payload.offset, length: payload.length, &p)
    }

    /// An IP packet's payload: the bytes cut where the captured packet ends,
    /// where the transport header starts, and the transport length per the
    /// IP header.
    struct IPPayload {
        var bytes: UnsafeRawBufferPointer
        var offset: Int
        var length: Int
    }

    /// Nil for a fragment other than the first, which has no transport header.
    @inline(__always)
    static func ipv4(_ bytes: UnsafeRawBufferPointer, at offset: Int,
                     _ p: inout DecodedPacket) throws(DecodeError) -> IPPayload? {
        let ip = try IPv4Header(bytes, at: offset)
        var end = offset + ip.totalLength
        if end > bytes.count {
            p.truncated = true
            end = bytes.count
        }
        p.ipVersion = IPv4Header.version
        p.ipLength = ip.totalLength
        p.source = ip.source
        p.destination = ip.destination
        p.proto = ip.nextProtocol
        let fragmentOffset = ip.fragmentOffset
        if fragmentOffset != 0 || ip.moreFragments {
            p.fragmented = true
            p.fragmentID = UInt32(ip.identification)
        }
        let transportLength = ip.totalLength - ip.headerLength
        if fragmentOffset != 0 {
            p.laterFragment = true
            p.payloadLength = transportLength
            return nil
        }
        return IPPayload(bytes: bytes.cut(at: end), offset: ip.payloadOffset, length: transportLength)
    }

    /// Nil for a fragment other than the first, which has no transport header.
    @inline(__always)
    static func ipv6(_ bytes: UnsafeRawBufferPointer, at offset: Int,
                     _ p: inout DecodedPacket) throws(DecodeError) -> IPPayload? {
        let ip = try IPv6Header(bytes, at: offset)
        var end = ip.payloadOffset + ip.payloadLength
        if end > bytes.count {
            p.truncated = true
            end = bytes.count
        }
        p.ipVersion = IPv6Header.version
        p.ipLength = IPv6Header.Field.headerLength + ip.payloadLength
        p.source = ip.source
        p.destination = ip.destination
        let packet = bytes.cut(at: end)
        let upper = try IPv6UpperLayer(after: ip, in: packet)
        if let id = upper.fragmentID {
            p.fragmented = true
            p.fragmentID = id
        }
        p.proto = upper.nextProtocol
        if upper.laterFragment {
            p.laterFragment = true
            p.payloadLength = upper.length
            return nil
        }
        return IPPayload(bytes: packet, offset: upper.offset, length: upper.length)
    }

    /// TCP, UDP, ICMP, ICMPv6 headers; other protocols pass with no ports.
    /// `bytes` is cut where the captured IP packet ends; `length` is the
    /// transport length per the IP header. Tunnels are found here.
    @inline(__always)
    static func transport(_ bytes: UnsafeRawBufferPointer, at offset: Int, length: Int,
                          _ p: inout DecodedPacket) throws(DecodeError) -> Step {
        switch p.proto {
        case .tcp:
            let tcp = try TCPHeader(bytes, at: offset, segmentLength: length)
            if tcp.optionsCut { p.truncated = true }
            p.sourcePort = tcp.sourcePort
            p.destinationPort = tcp.destinationPort
            p.tcpFlags = tcp.flags
            p.tcpSequence = tcp.sequenceNumber
            p.tcpWindow = tcp.window
            setPayload(at: tcp.payloadOffset, length: length - tcp.headerLength, end: bytes.count, &p)
        case .udp:
            let udp = try UDPHeader(bytes, at: offset, datagramLength: length)
            p.sourcePort = udp.sourcePort
            p.destinationPort = udp.destinationPort
            setPayload(at: udp.payloadOffset, length: length - UDPHeader.Field.headerLength, end: bytes.count, &p)
            if mayOpenTunnel(p), let tunnel = udpTunnel(bytes.cut(at: offset + length), at: udp.payloadOffset,
                                                        sourcePort: p.sourcePort, destinationPort: p.destinationPort) {
                return .tunnel(tunnel)
            }
        case .icmp, .icmpv6:
            let icmp = try ICMPHeader(bytes, at: offset, messageLength: length)
            p.icmpType = icmp.type
            p.icmpCode = icmp.code
            if p.isICMPRequest || p.isICMPReply {
                let echo = try ICMPEcho(bytes, at: offset, messageLength: length)
                p.sourcePort = echo.identifier
                p.destinationPort = echo.identifier
            } else if p.isICMPError, let quote = ICMPQuote(bytes.cut(at: offset + length), at: icmp.quoteOffset) {
                p.quotedProto = quote.nextProtocol
                p.quotedSource = quote.source
                p.quotedDestination = quote.destination
                p.quotedSourcePort = quote.ports.source
                p.quotedDestinationPort = quote.ports.destination
                p.hasQuote = true
            }
            let headerLength = min(ICMPHeader.Field.headerLength, length)
            setPayload(at: offset + headerLength, length: length - headerLength, end: bytes.count, &p)
        case .ipv4Encapsulation, .ipv6Encapsulation, .gre:
            setPayload(at: offset, length: length, end: bytes.count, &p)
            if mayOpenTunnel(p), let tunnel = ipTunnel(p.proto, bytes.cut(at: offset + length), at: offset) {
                return .tunnel(tunnel)
            }
        default:
            setPayload(at: offset, length: length, end: bytes.count, &p)
        }
        return .finished(.packet)
    }

    /// Decapsulation is on, the tunnel depth allows one more, and the packet
    /// is whole (a fragment's payload is not a whole inner packet).
    @inline(__always)
    static func mayOpenTunnel(_ p: DecodedPacket) -> Bool {
        p.decapsulate && p.tunnelDepth < maximumTunnelDepth && !p.fragmented
    }

    /// IP in IP and GRE, by IP protocol; `bytes` is cut at the payload's end.
    static func ipTunnel(_ proto: IPProtocol, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Tunnel? {
        func inner(_ kind: TunnelKind, _ first: FirstHeader, at offset: Int) -> Tunnel {
            Tunnel(kind: kind, first: first, offset: offset, end: bytes.count)
        }
        switch proto {
        case .ipv4Encapsulation:
            return inner(.ipip, .etherType(.ipv4), at: offset)
        case .ipv6Encapsulation:
            return inner(.ipip, .etherType(.ipv6), at: offset)
        case .gre:
            guard let gre = GREHeader(bytes, at: offset) else { return nil }
            if gre.kind == .pptp {
                guard let ppp = PPPFrame(bytes, at: gre.payloadOffset) else { return nil }
                switch ppp.pppProtocol {
                case .ipv4: return inner(.pptp, .etherType(.ipv4), at: ppp.payloadOffset)
                case .ipv6: return inner(.pptp, .etherType(.ipv6), at: ppp.payloadOffset)
                default: return nil
                }
            }
            switch gre.protocolType {
            case .ipv4, .ipv6, .mplsUnicast: return inner(.gre, .etherType(gre.protocolType), at: gre.payloadOffset)
            case .transparentEthernetBridging: return inner(.gre, .ethernet, at: gre.payloadOffset)
            default: return nil
            }
        default:
            return nil
        }
    }

    /// UDP-borne tunnels by their IANA ports (VXLAN and Geneve by the
    /// destination, GTP-U and Teredo by either); `bytes` is cut at the
    /// datagram's end.
    static func udpTunnel(_ bytes: UnsafeRawBufferPointer, at offset: Int,
                          sourcePort: UInt16, destinationPort: UInt16) -> Tunnel? {
        func either(_ port: UInt16) -> Bool { sourcePort == port || destinationPort == port }
        func inner(_ kind: TunnelKind, _ first: FirstHeader, at offset: Int) -> Tunnel {
            Tunnel(kind: kind, first: first, offset: offset, end: bytes.count)
        }
        if destinationPort == VXLANHeader.port {
            guard let vxlan = VXLANHeader(bytes, at: offset) else { return nil }
            return inner(.vxlan, .ethernet, at: vxlan.payloadOffset)
        }
        if destinationPort == GeneveHeader.port {
            guard let geneve = GeneveHeader(bytes, at: offset) else { return nil }
            switch geneve.protocolType {
            case .transparentEthernetBridging: return inner(.geneve, .ethernet, at: geneve.payloadOffset)
            case .ipv4, .ipv6: return inner(.geneve, .etherType(geneve.protocolType), at: geneve.payloadOffset)
            default: return nil
            }
        }
        if either(GTPUHeader.port) {
            guard let gtp = GTPUHeader(bytes, at: offset), let type = gtp.payloadStart.etherType else { return nil }
            return inner(.gtpu, .etherType(type), at: gtp.payloadOffset)
        }
        if either(TeredoPacket.port) {
            guard let teredo = TeredoPacket(bytes, at: offset) else { return nil }
            return inner(.teredo, .etherType(.ipv6), at: teredo.ipv6Offset)
        }
        return nil
    }

    /// Makes the packet the tunnel's inner one: the outermost tunnel and its
    /// endpoints are kept, what the outer transport said is cleared.
    @inline(__always)
    static func open(_ kind: TunnelKind, _ p: inout DecodedPacket) {
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
    }

    @inline(__always)
    static func setPayload(at offset: Int, length: Int, end: Int, _ p: inout DecodedPacket) {
        p.payloadLength = length
        p.payloadOffset = offset
        p.capturedPayloadLength = max(0, min(length, end - offset))
    }
}
