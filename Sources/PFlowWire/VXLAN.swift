/// VXLAN (RFC 7348 §5): an 8-byte header over UDP, then an Ethernet frame.
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |R|R|R|R|I|R|R|R|            Reserved                           |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                VXLAN Network Identifier (VNI) |   Reserved    |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct VXLANHeader {
    enum Field {
        static let flags = 0..<1
        static let reserved = 1..<4
        static let networkIdentifier = 4..<7
        static let reservedLast = 7..<8
        static let headerLength = reservedLast.upperBound
    }

    /// IANA's port; VXLAN is recognised by the destination port alone.
    static let port: UInt16 = 4789
    /// I: the network identifier is valid. Without it the packet isn't VXLAN.
    static let validIdentifierFlag: UInt8 = 0x08

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Nil when the header is cut short or lacks the I flag.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.headerLength, at: offset),
              bytes.byte(Field.flags, of: offset) & Self.validIdentifierFlag != 0 else { return nil }
        self.bytes = bytes
        self.offset = offset
    }

    /// Where the inner Ethernet frame starts.
    @inline(__always) var payloadOffset: Int { offset + Field.headerLength }
}
