/// UDP header (RFC 768):
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |          Source Port          |       Destination Port        |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |            Length             |           Checksum            |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// The length field is not used: the IP header's length says how long the
/// datagram is (a sniffer trusts one length, the outer one).
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct UDPHeader {
    enum Field {
        static let sourcePort = 0..<2
        static let destinationPort = 2..<4
        static let length = 4..<6
        static let checksum = 6..<8
        static let headerLength = checksum.upperBound
    }

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Over `bytes` cut at the IP packet's captured end; `datagramLength` is
    /// the transport length per the IP header. Throws `udpBadLength` when it
    /// can't hold the header, `udpTruncated` when the header is cut short.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int, datagramLength: Int) throws(DecodeError) {
        guard datagramLength >= Field.headerLength else { throw .udpBadLength }
        guard bytes.holds(Field.headerLength, at: offset) else { throw .udpTruncated }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var sourcePort: UInt16 { bytes.be16(Field.sourcePort, of: offset) }
    @inline(__always) var destinationPort: UInt16 { bytes.be16(Field.destinationPort, of: offset) }
    @inline(__always) var payloadOffset: Int { offset + Field.headerLength }
}
