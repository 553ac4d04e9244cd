/// The version nibble every IP header starts with. Links and tunnels that
/// carry IP without naming it (raw IP link types, MPLS, GTP-U) tell IPv4 from
/// IPv6 by it.
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct IPVersionNibble {
    enum Field {
        /// The first byte, whose high nibble is the version.
        static let version = 0..<1
        static let minimumLength = version.upperBound
    }

    static let shift: UInt8 = 4

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Nil when not even the first byte is there.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.minimumLength, at: offset) else { return nil }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always)
    static func version(of firstByte: UInt8) -> UInt8 { firstByte >> shift }

    @inline(__always) var version: UInt8 { Self.version(of: bytes.byte(Field.version, of: offset)) }

    /// The EtherType that names this version, or nil when it is neither 4 nor 6.
    @inline(__always) var etherType: EtherType? {
        switch version {
        case IPv4Header.version: return .ipv4
        case IPv6Header.version: return .ipv6
        default: return nil
        }
    }
}
