/// Geneve (RFC 8926 §3.4): an 8-byte header and options over UDP, then
/// whatever the protocol type (an EtherType) names.
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |        Virtual Network Identifier (VNI)       |    Reserved   |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                    Variable-Length Options                    |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct GeneveHeader {
    enum Field {
        /// Version in the top two bits, options length (in 4-byte words)
        /// in the other six.
        static let versionAndOptionsLength = 0..<1
        static let flags = 1..<2
        static let protocolType = 2..<4
        static let networkIdentifier = 4..<7
        static let reserved = 7..<8
        static let minimumLength = reserved.upperBound
    }

    /// IANA's port; Geneve is recognised by the destination port alone.
    static let port: UInt16 = 6081
    static let versionShift: UInt8 = 6
    static let version: UInt8 = 0
    static let optionsLengthMask: UInt8 = 0x3F
    static let optionsLengthUnit = 4

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Nil when the fixed header is cut short or of another version. The
    /// options are skipped, not read: the payload's own view checks where
    /// they end.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.minimumLength, at: offset),
              bytes.byte(Field.versionAndOptionsLength, of: offset) >> Self.versionShift == Self.version else {
            return nil
        }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var protocolType: EtherType { EtherType(rawValue: bytes.be16(Field.protocolType, of: offset)) }
    @inline(__always) var payloadOffset: Int {
        let words = Int(bytes.byte(Field.versionAndOptionsLength, of: offset) & Self.optionsLengthMask)
        return offset + Field.minimumLength + words * Self.optionsLengthUnit
    }
}
