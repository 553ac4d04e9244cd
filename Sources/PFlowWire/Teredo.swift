/// Teredo (RFC 4380 §5.1.1): IPv6 over UDP through NATs. Before the IPv6
/// packet may come an authentication indicator and an origin indication,
/// each recognised by its first two bytes (an IPv6 header can't start with
/// zero, its version being 6):
///
///     Authentication:
///     +--------+--------+--------+--------+
///     |  0x00  |  0x01  | ID-len | AU-len |
///     +--------+--------+--------+--------+
///     |  Client identifier (ID-len bytes) |
///     |  Authentication value (AU-len)    |
///     |  Nonce (8 bytes)                  |
///     |  Confirmation (1 byte)            |
///     +-----------------------------------+
///     Origin indication:
///     +--------+--------+-----------------+
///     |  0x00  |  0x00  | Origin port     |
///     +--------+--------+-----------------+
///     |  Origin IPv4 address              |
///     +-----------------------------------+
///
/// `init` reads all it needs and is the only bounds check: nothing is read
/// after it.
struct TeredoPacket {
    enum Authentication {
        static let indicator = 0..<2
        static let clientIdentifierLength = 2..<3
        static let authenticationValueLength = 3..<4
        static let fixedLength = authenticationValueLength.upperBound
        /// The 8-byte nonce and the 1-byte confirmation after the two
        /// variable fields: the "+ 9" of the indicator's length.
        static let nonceAndConfirmationLength = 8 + 1
        static let marker: UInt16 = 0x0001
    }

    enum OriginIndication {
        static let indicator = 0..<2
        static let port = 2..<4
        static let address = 4..<8
        static let length = address.upperBound
        static let marker: UInt16 = 0x0000
    }

    /// IANA's port, on either side.
    static let port: UInt16 = 3544

    /// Where the IPv6 packet starts.
    let ipv6Offset: Int

    /// Over the UDP payload, cut at its end. Nil unless an IPv6 header (after
    /// the optional indicators) fills the payload exactly: Teredo carries
    /// nothing else, which tells it from other traffic on port 3544.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        var at = offset
        if bytes.holds(Authentication.fixedLength, at: at),
           bytes.be16(Authentication.indicator, of: at) == Authentication.marker {
            let identifierLength = Int(bytes.byte(Authentication.clientIdentifierLength, of: at))
            let valueLength = Int(bytes.byte(Authentication.authenticationValueLength, of: at))
            at += Authentication.fixedLength + identifierLength + valueLength
                + Authentication.nonceAndConfirmationLength
        }
        if bytes.holds(OriginIndication.length, at: at),
           bytes.be16(OriginIndication.indicator, of: at) == OriginIndication.marker {
            at += OriginIndication.length
        }
        guard let ip = IPv6Header(carriedIn: bytes, at: at), ip.versionNibble == IPv6Header.version,
              ip.payloadOffset + ip.payloadLength == bytes.count else { return nil }
        ipv6Offset = at
    }
}
