/// A VLAN tag: IEEE 802.1Q (TPID 0x8100), 802.1ad's service tag (0x88A8)
/// and the pre-standard QinQ identifiers (0x9100, 0x9200). The tag protocol
/// identifier is the EtherType that announced the tag; the tag itself is the
/// tag control information and the EtherType of what follows:
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     | PCP |D|      VLAN identifier  |           EtherType           |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Tags stack (QinQ and deeper); the first one on the wire is the outer one.
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct VLANTag {
    enum Field {
        static let tagControl = 0..<2
        static let etherType = 2..<4
        static let headerLength = etherType.upperBound
    }

    /// The VLAN identifier is the tag control's low 12 bits; priority (PCP)
    /// and drop eligibility (DEI) sit above it.
    static let identifierMask: UInt16 = 0x0FFF

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Nil when the tag is cut short.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.headerLength, at: offset) else { return nil }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var identifier: UInt16 { bytes.be16(Field.tagControl, of: offset) & Self.identifierMask }
    @inline(__always) var etherType: EtherType { EtherType(rawValue: bytes.be16(Field.etherType, of: offset)) }
    @inline(__always) var payloadOffset: Int { offset + Field.headerLength }
}
