import PFlowCore

/// Community ID v1 (corelight community-id-spec): `1:` + base64(SHA-1(seed
/// (2 bytes) . saddr . daddr . proto . 0 . sport . dport)), the endpoints
/// ordered so the smaller (address, port) comes first, all big-endian;
/// addresses 4 bytes for IPv4, 16 for IPv6. Ports are hashed for TCP, UDP,
/// SCTP, ICMP and ICMPv6 (ICMP type and counter-type or code as ports);
/// other protocols hash the addresses and protocol only.
public struct CommunityID: Sendable {
    public var seed: UInt16

    public init(seed: UInt16 = 0) { self.seed = seed }

    static let sctp = IPProtocol(rawValue: 132)

    /// Whether the spec hashes ports for `proto`.
    public static func hasPorts(_ proto: IPProtocol) -> Bool {
        proto == .tcp || proto == .udp || proto == sctp || proto == .icmp || proto == .icmpv6
    }

    /// ICMP's "ports" as Zeek maps them (the spec defers to Zeek's and
    /// pycommunityid's tables): a request/reply type is paired with its
    /// counterpart so both directions hash alike; any other type is
    /// one-way, its code as the second port, and is never reordered.
    public static func icmpPorts(type: UInt8, code: UInt8, v6: Bool) -> (source: UInt16, destination: UInt16, oneWay: Bool) {
        if let counterpart = v6 ? icmpv6Counterpart(type) : icmpv4Counterpart(type) {
            return (UInt16(type), UInt16(counterpart), false)
        }
        return (UInt16(type), UInt16(code), true)
    }

    /// RFC 792/950/1256: echo, timestamp, information, router
    /// solicitation/advertisement, address mask.
    static func icmpv4Counterpart(_ type: UInt8) -> UInt8? {
        switch type {
        case 8: return 0     // echo request → echo reply
        case 0: return 8
        case 13: return 14   // timestamp
        case 14: return 13
        case 15: return 16   // information
        case 16: return 15
        case 10: return 9    // router solicitation → advertisement
        case 9: return 10
        case 17: return 18   // address mask
        case 18: return 17
        default: return nil
        }
    }

    /// RFC 4443/2710/4861/4620/6275: echo, MLD query/report, router and
    /// neighbor solicitation/advertisement, node information (who-are-you),
    /// home agent address discovery.
    static func icmpv6Counterpart(_ type: UInt8) -> UInt8? {
        switch type {
        case 128: return 129
        case 129: return 128
        case 130: return 131
        case 131: return 130
        case 133: return 134
        case 134: return 133
        case 135: return 136
        case 136: return 135
        case 139: return 140
        case 140: return 139
        case 144: return 145
        case 145: return 144
        default: return nil
        }
    }

    /// The length of an ID's text: `1:` and 28 base64 characters.
    public static let textLength = 30

    /// Appends the ID of a tuple. `sourcePort`/`destinationPort` are used
    /// only when the protocol has ports; for ICMP use `appendICMP`.
    /// `ipv6`: hash 16-byte addresses (else the low 32 bits of IPv4-mapped ones).
    public func append(proto: IPProtocol, source: IPAddress, destination: IPAddress,
                       sourcePort: UInt16, destinationPort: UInt16, ipv6: Bool,
                       oneWay: Bool = false, to out: inout ExportBuffer) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.textLength) { text in
            guard let base = text.baseAddress else { return }
            let n = write(proto: proto, source: source, destination: destination, sourcePort: sourcePort,
                          destinationPort: destinationPort, ipv6: ipv6, oneWay: oneWay, into: base)
            out.append(UnsafeRawBufferPointer(start: base, count: n))
        }
    }

    /// Writes the ID's text (`textLength` bytes) at `text`, for callers
    /// that keep no buffer (a CSV cell); returns how many bytes it wrote.
    public func write(proto: IPProtocol, source: IPAddress, destination: IPAddress,
                      sourcePort: UInt16, destinationPort: UInt16, ipv6: Bool,
                      oneWay: Bool = false, into text: UnsafeMutablePointer<UInt8>) -> Int {
        let ports = CommunityID.hasPorts(proto)
        // The spec orders by address, then port, unless the flow is one-way.
        var swap = false
        if !oneWay {
            if destination < source {
                swap = true
            } else if source == destination {
                swap = !(ports && sourcePort < destinationPort)
            }
        }
        let (sa, da) = swap ? (destination, source) : (source, destination)
        let (sp, dp) = swap ? (destinationPort, sourcePort) : (sourcePort, destinationPort)
        if !ipv6 && ports {
            // The common case, 16 bytes (seed, addresses, protocol, zero,
            // ports) as four words, hashed with its padding folded in.
            let s = UInt32(truncatingIfNeeded: sa.low), d = UInt32(truncatingIfNeeded: da.low)
            let h = SHA1.hash16(UInt32(seed) << 16 | s >> 16, s << 16 | d >> 16,
                                d << 16 | UInt32(proto.rawValue) << 8, UInt32(sp) << 16 | UInt32(dp))
            text[0] = 0x31; text[1] = 0x3A   // "1:"
            Base64.encodeDigest(h, into: text + 2)
            return Self.textLength
        }
        // The input (at most 2 + 16 + 16 + 2 + 4 = 40 bytes) is written
        // straight into the one SHA-1 block, zeroed first, in big-endian
        // stores: no byte buffer copied into a padding buffer.
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 8) { words in
            guard let block = UnsafeMutableRawPointer(words.baseAddress) else { return 0 }
            for i in 0..<8 { words[i] = 0 }
            var n = 0
            func put16(_ v: UInt16) { block.storeBytes(of: v.bigEndian, toByteOffset: n, as: UInt16.self); n += 2 }
            func putAddress(_ a: IPAddress) {
                if ipv6 {
                    block.storeBytes(of: a.high.bigEndian, toByteOffset: n, as: UInt64.self)
                    block.storeBytes(of: a.low.bigEndian, toByteOffset: n + 8, as: UInt64.self)
                    n += 16
                } else {
                    block.storeBytes(of: UInt32(truncatingIfNeeded: a.low).bigEndian, toByteOffset: n, as: UInt32.self)
                    n += 4
                }
            }
            put16(seed)
            putAddress(sa)
            putAddress(da)
            block.storeBytes(of: proto.rawValue, toByteOffset: n, as: UInt8.self)
            n += 2  // and a zero byte of padding, which keeps the input 32-bit aligned
            if ports { put16(sp); put16(dp) }
            let h = SHA1.hashOneBlock(block, count: n)
            text[0] = 0x31; text[1] = 0x3A   // "1:"
            Base64.encodeDigest(h, into: text + 2)
            return Self.textLength
        }
    }

    /// Appends the ID of an ICMP (proto 1) or ICMPv6 (proto 58) message
    /// from `source` to `destination`.
    public func appendICMP(source: IPAddress, destination: IPAddress, type: UInt8, code: UInt8,
                           v6: Bool, to out: inout ExportBuffer) {
        let p = CommunityID.icmpPorts(type: type, code: code, v6: v6)
        append(proto: v6 ? .icmpv6 : .icmp, source: source, destination: destination,
               sourcePort: p.source, destinationPort: p.destination, ipv6: v6, oneWay: p.oneWay, to: &out)
    }

    /// Appends the flow's ID, client as source. An ICMP flow without a type
    /// appends nothing (the spec's "empty string" for what can't be hashed).
    public func append(_ f: ExportFlow, to out: inout ExportBuffer) {
        let v6 = !f.isIPv4
        if f.isICMP {
            guard let type = f.icmpType else { return }
            let p = CommunityID.icmpPorts(type: type, code: f.icmpCode ?? 0, v6: f.proto == .icmpv6)
            append(proto: f.proto, source: f.clientAddress, destination: f.serverAddress,
                   sourcePort: p.source, destinationPort: p.destination, ipv6: v6, oneWay: p.oneWay, to: &out)
            return
        }
        append(proto: f.proto, source: f.clientAddress, destination: f.serverAddress,
               sourcePort: f.clientPort, destinationPort: f.serverPort, ipv6: v6, to: &out)
    }

    /// The flow's ID as a String ("" for an ICMP flow without a type).
    public func string(for f: ExportFlow) -> String {
        var out = ExportBuffer(capacity: 32)
        append(f, to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// The ID of a tuple as a String; `sourcePort`/`destinationPort` nil for
    /// protocols without ports. For ICMP, the ports are type and code.
    public func string(proto: IPProtocol, source: IPAddress, destination: IPAddress,
                       sourcePort: UInt16? = nil, destinationPort: UInt16? = nil) -> String {
        var out = ExportBuffer(capacity: 32)
        let v6 = !(source.isIPv4Mapped && destination.isIPv4Mapped)
        if proto == .icmp || proto == .icmpv6 {
            appendICMP(source: source, destination: destination,
                       type: UInt8(truncatingIfNeeded: sourcePort ?? 0), code: UInt8(truncatingIfNeeded: destinationPort ?? 0),
                       v6: proto == .icmpv6, to: &out)
            return String(decoding: out.bytes, as: UTF8.self)
        }
        append(proto: proto, source: source, destination: destination,
               sourcePort: sourcePort ?? 0, destinationPort: destinationPort ?? 0, ipv6: v6, to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }
}
