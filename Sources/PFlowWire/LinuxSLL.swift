/// Linux "cooked" capture header, version 1 (LINKTYPE_LINUX_SLL, 113): what
/// `tcpdump -i any` writes in place of each device's own link header.
///
///     +---------------------------+
///     |  Packet type              |  2 bytes (to us, broadcast, outgoing…)
///     |  ARPHRD_ device type      |  2
///     |  Link-layer address length|  2
///     |  Link-layer address       |  8 (padded or cut to 8)
///     |  Protocol type            |  2: an EtherType
///     +---------------------------+
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct LinuxSLLHeader {
    enum Field {
        static let packetType = 0..<2
        static let deviceType = 2..<4
        static let addressLength = 4..<6
        static let address = 6..<14
        static let protocolType = 14..<16
        static let headerLength = protocolType.upperBound
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
