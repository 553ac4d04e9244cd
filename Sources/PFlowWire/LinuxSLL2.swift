/// Linux "cooked" capture header, version 2 (LINKTYPE_LINUX_SLL2, 276): the
/// protocol first, and the interface index that version 1 lacked.
///
///     +---------------------------+
///     |  Protocol type            |  2 bytes: an EtherType
///     |  Reserved (zero)          |  2
///     |  Interface index          |  4
///     |  ARPHRD_ device type      |  2
///     |  Packet type              |  1
///     |  Link-layer address length|  1
///     |  Link-layer address       |  8 (padded or cut to 8)
///     +---------------------------+
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct LinuxSLL2Header {
    enum Field {
        static let protocolType = 0..<2
        static let reserved = 2..<4
        static let interfaceIndex = 4..<8
        static let deviceType = 8..<10
        static let packetType = 10..<11
        static let addressLength = 11..<12
        static let address = 12..<20
        static let headerLength = address.upperBound
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

    @inline(__always) var protocolType: EtherType { EtherType(rawValue: bytes.be16(Field.protocolType, of: offset)) }
    @inline(__always) var payloadOffset: Int { offset + Field.headerLength }
}
