import PFlowCore

/// ICMP (RFC 792) and ICMPv6 (RFC 4443) share the first 8 bytes:
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |     Type      |     Code      |          Checksum             |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |  Rest of header: echo identifier and sequence; for errors     |
///     |  unused, a pointer or an MTU                                  |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |  Errors: as much of the offending IP packet as fits            |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct ICMPHeader {
    enum Field {
        static let type = 0..<1
        static let code = 1..<2
        static let checksum = 2..<4
        static let minimumLength = checksum.upperBound
        static let identifier = 4..<6
        static let sequenceNumber = 6..<8
        /// The header with its rest-of-header word; an error's quote follows.
        static let headerLength = sequenceNumber.upperBound
    }

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Over `bytes` cut at the IP packet's captured end; `messageLength` is
    /// the transport length per the IP header. Throws `icmpTruncated` unless
    /// type, code and checksum are there.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int, messageLength: Int) throws(DecodeError) {
        guard bytes.holds(Field.minimumLength, at: offset), messageLength >= Field.minimumLength else {
            throw .icmpTruncated
        }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var type: UInt8 { bytes.byte(Field.type, of: offset) }
    @inline(__always) var code: UInt8 { bytes.byte(Field.code, of: offset) }
    /// Where an error's quote starts.
    @inline(__always) var quoteOffset: Int { offset + Field.headerLength }
}

/// An echo request or reply (and the other ICMP queries): the identifier
/// pairs replies with requests, so it stands in for both ports.
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct ICMPEcho {
    typealias Field = ICMPHeader.Field

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Throws `icmpTruncated` unless the whole 8-byte header is there.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int, messageLength: Int) throws(DecodeError) {
        guard bytes.holds(Field.headerLength, at: offset), messageLength >= Field.headerLength else {
            throw .icmpTruncated
        }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var identifier: UInt16 { bytes.be16(Field.identifier, of: offset) }
}

/// The ports TCP and UDP headers both start with.
///
/// `init` reads all it needs and is the only bounds check: nothing is read
/// after it.
struct TransportPorts {
    enum Field {
        static let sourcePort = 0..<2
        static let destinationPort = 2..<4
        static let length = destinationPort.upperBound
    }

    let source: UInt16
    let destination: UInt16

    /// Nil when the ports are cut short.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.length, at: offset) else { return nil }
        source = bytes.be16(Field.sourcePort, of: offset)
        destination = bytes.be16(Field.destinationPort, of: offset)
    }
}

/// What an ICMP error quotes (RFC 792: the IP header and at least 8 bytes of
/// the datagram; RFC 4443: as much as fits): the offending packet's protocol,
/// addresses and ports, sent by the quoted source. Only a complete quote of
/// a TCP or UDP header counts; a quoted fragment other than the first has no
/// ports to quote.
///
/// `init` reads all it needs and is the only bounds check: nothing is read
/// after it.
struct ICMPQuote {
    let nextProtocol: IPProtocol
    let source: IPAddress
    let destination: IPAddress
    let ports: TransportPorts

    /// Over `bytes` cut at the ICMP message's end. Nil for anything short of
    /// a complete quote with ports.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard let first = IPVersionNibble(bytes, at: offset) else { return nil }
        let transportOffset: Int
        switch first.version {
        case IPv4Header.version:
            guard let ip = IPv4Header(carriedIn: bytes, at: offset), ip.fragmentOffset == 0 else { return nil }
            nextProtocol = ip.nextProtocol
            source = ip.source
            destination = ip.destination
            transportOffset = ip.payloadOffset
        case IPv6Header.version:
            guard let ip = IPv6Header(carriedIn: bytes, at: offset) else { return nil }
            nextProtocol = ip.nextHeader
            source = ip.source
            destination = ip.destination
            transportOffset = ip.payloadOffset
        default:
            return nil
        }
        guard nextProtocol.hasPorts, let ports = TransportPorts(bytes, at: transportOffset) else { return nil }
        self.ports = ports
    }
}
