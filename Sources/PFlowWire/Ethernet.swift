/// Ethernet II (IEEE 802.3 with an EtherType in place of a length).
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                    Destination MAC address                    |
///     +                               +-------------------------------+
///     |                               |                               |
///     +-------------------------------+                               +
///     |                      Source MAC address                       |
///     +-------------------------------+-------------------------------+
///     |           EtherType           |  Payload ...
///     +-------------------------------+
///
/// The frame check sequence is not captured; link-layer padding after the
/// payload is trimmed later, by the IP total length.
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct EthernetHeader {
    enum Field {
        static let destination = 0..<6
        static let source = 6..<12
        static let etherType = 12..<14
        static let headerLength = etherType.upperBound
    }

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Nil when the header is cut short.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.headerLength, at: offset) else { return nil }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var etherType: EtherType { EtherType(rawValue: bytes.be16(Field.etherType, of: offset)) }
    @inline(__always) var payloadOffset: Int { offset + Field.headerLength }
}
