import PFlowCore

/// TCP header (RFC 9293 §3.1):
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |          Source Port          |       Destination Port        |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                        Sequence Number                        |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                    Acknowledgment Number                      |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |  Data |       |C|E|U|A|P|R|S|F|                               |
///     | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |           Checksum            |         Urgent Pointer        |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                    Options (data offset > 5)                  |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct TCPHeader {
    enum Field {
        static let sourcePort = 0..<2
        static let destinationPort = 2..<4
        static let sequenceNumber = 4..<8
        static let acknowledgmentNumber = 8..<12
        /// The data offset (header length in 32-bit words) in the high nibble.
        static let dataOffset = 12..<13
        static let flags = 13..<14
        static let window = 14..<16
        static let checksum = 16..<18
        static let urgentPointer = 18..<20
        static let minimumLength = urgentPointer.upperBound
    }

    static let dataOffsetShift: UInt8 = 4
    static let dataOffsetUnit = 4

    let bytes: UnsafeRawBufferPointer
    let offset: Int
    /// In bytes, options included: at least `Field.minimumLength`, at most
    /// the segment's length.
    let headerLength: Int

    /// Over `bytes` cut at the IP packet's captured end; `segmentLength` is
    /// the transport length per the IP header. Throws `tcpBadLength` when the
    /// segment or the data offset can't hold a header, `tcpTruncated` when
    /// the fixed header is cut short. Options may be cut (`optionsCut`):
    /// the fixed header holds all a flow needs.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int, segmentLength: Int) throws(DecodeError) {
        guard segmentLength >= Field.minimumLength else { throw .tcpBadLength }
        guard bytes.holds(Field.minimumLength, at: offset) else { throw .tcpTruncated }
        headerLength = Int(bytes.byte(Field.dataOffset, of: offset) >> Self.dataOffsetShift) * Self.dataOffsetUnit
        guard headerLength >= Field.minimumLength, headerLength <= segmentLength else { throw .tcpBadLength }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var sourcePort: UInt16 { bytes.be16(Field.sourcePort, of: offset) }
    @inline(__always) var destinationPort: UInt16 { bytes.be16(Field.destinationPort, of: offset) }
    @inline(__always) var sequenceNumber: UInt32 { bytes.be32(Field.sequenceNumber, of: offset) }
    @inline(__always) var flags: TCPFlags { TCPFlags(rawValue: bytes.byte(Field.flags, of: offset)) }
    /// The advertised window, unscaled (zero means zero at any scale).
    @inline(__always) var window: UInt16 { bytes.be16(Field.window, of: offset) }
    /// The snaplen cut into the options.
    @inline(__always) var optionsCut: Bool { !bytes.holds(headerLength, at: offset) }
    @inline(__always) var payloadOffset: Int { offset + headerLength }
}
