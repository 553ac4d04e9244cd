/// PPP protocol numbers (RFC 1661, IANA's PPP DLL protocol numbers): what a
/// PPP frame carries. Only the two that are IP matter to pflow; LCP, IPCP,
/// authentication and the rest are not IP.
struct PPPProtocol: RawRepresentable, Equatable {
    var rawValue: UInt16
    @inline(__always) init(rawValue: UInt16) { self.rawValue = rawValue }

    static let ipv4 = PPPProtocol(rawValue: 0x0021)
    static let ipv6 = PPPProtocol(rawValue: 0x0057)
}

/// A PPP frame's header in HDLC-like framing (RFC 1662), as PPTP sends it
/// over GRE:
///
///     +----------+----------+----------------------+-----------
///     | Address  | Control  | Protocol             | Payload ...
///     | 0xFF     | 0x03     | 1 or 2 bytes         |
///     +----------+----------+----------------------+-----------
///
/// Address and control may be left out (address-and-control-field
/// compression, RFC 1661 §6.6), and the protocol may be sent in one byte
/// (protocol-field compression, §6.5): protocol numbers have an odd low byte
/// and an even high byte, so an odd first byte is a compressed protocol.
///
/// `init` reads all it needs and is the only bounds check: nothing is read
/// after it.
struct PPPFrame {
    enum Field {
        static let address = 0..<1
        static let control = 1..<2
        static let addressAndControlLength = control.upperBound
        static let compressedProtocolLength = 1
        static let protocolLength = 2
    }

    static let allStationsAddress: UInt8 = 0xFF
    static let unnumberedInformation: UInt8 = 0x03

    let pppProtocol: PPPProtocol
    let payloadOffset: Int

    /// Nil when the frame is too short to name its protocol (a PPTP packet
    /// that only acknowledges has no payload at all).
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        var at = offset
        if bytes.holds(Field.addressAndControlLength, at: at),
           bytes.byte(Field.address, of: at) == Self.allStationsAddress,
           bytes.byte(Field.control, of: at) == Self.unnumberedInformation {
            at += Field.addressAndControlLength
        }
        guard bytes.holds(Field.compressedProtocolLength, at: at) else { return nil }
        let first = bytes[at]
        if first & 1 == 1 {
            pppProtocol = PPPProtocol(rawValue: UInt16(first))
            at += Field.compressedProtocolLength
        } else {
            guard bytes.holds(Field.protocolLength, at: at) else { return nil }
            pppProtocol = PPPProtocol(rawValue: bytes.be16(at: at))
            at += Field.protocolLength
        }
        payloadOffset = at
    }
}
