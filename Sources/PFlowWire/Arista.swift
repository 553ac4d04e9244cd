/// Arista's timestamp header (vendor EtherType 0xD28B, subtype 1), which
/// Arista switches insert after the source MAC address when they timestamp
/// mirrored traffic:
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |        Subtype (0x0001)       |            Version            |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |           Timestamp: 64 bits (8 bytes) or 48 bits (6 bytes)   |
///     +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                               |      Original EtherType       |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// The version says the timestamp's width (0x0010 and 0x0110: 64 bits, TAI
/// and UTC; 0x0020 and 0x0120: 48 bits); the original frame follows.
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct AristaHeader {
    enum Field {
        static let subtype = 0..<2
        static let version = 2..<4
        /// The version's low byte, whose high nibble is the timestamp width.
        static let timestampFormat = 3..<4
        /// Where the timestamp starts; its width varies, and the original
        /// EtherType follows it.
        static let timestamp = version.upperBound
        static let etherTypeLength = 2
        static let minimumLength = version.upperBound
    }

    static let timestampSubtype: UInt16 = 0x0001
    static let timestampFormatMask: UInt8 = 0xF0
    static let format64Bit: UInt8 = 0x10
    static let format48Bit: UInt8 = 0x20
    static let timestamp64Length = 8
    static let timestamp48Length = 6

    let bytes: UnsafeRawBufferPointer
    let offset: Int
    /// Bytes of timestamp: 8 or 6.
    let timestampLength: Int

    /// Throws `linkTruncated` when the header is cut short; nil for another
    /// subtype or an unknown timestamp format, which pflow doesn't open (the
    /// frame counts as not IP).
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(DecodeError) {
        guard bytes.holds(Field.minimumLength, at: offset) else { throw .linkTruncated }
        guard bytes.be16(Field.subtype, of: offset) == Self.timestampSubtype else { return nil }
        switch bytes.byte(Field.timestampFormat, of: offset) & Self.timestampFormatMask {
        case Self.format64Bit: timestampLength = Self.timestamp64Length
        case Self.format48Bit: timestampLength = Self.timestamp48Length
        default: return nil
        }
        guard bytes.holds(Field.timestamp + timestampLength + Field.etherTypeLength, at: offset) else {
            throw .linkTruncated
        }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var etherType: EtherType {
        EtherType(rawValue: bytes.be16(at: offset + Field.timestamp + timestampLength))
    }

    @inline(__always) var payloadOffset: Int { offset + Field.timestamp + timestampLength + Field.etherTypeLength }
}
