/// GTP-U version 1 (3GPP TS 29.281 §5): the user plane of mobile networks,
/// over UDP. G-PDU messages carry a subscriber's IP packet.
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |Ver=1|P|R|E|S|N| Message Type  |            Length             |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                Tunnel Endpoint Identifier (TEID)              |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |  Sequence Number (E|S|N)      | N-PDU Number  | Next Ext. Type|
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// The last word is present when any of E, S, N is set. Extension headers
/// follow while the next type is not 0: each a length in 4-byte units (at
/// least 1), contents, and the next type in its last byte.
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct GTPUHeader {
    enum Field {
        static let flags = 0..<1
        static let messageType = 1..<2
        static let length = 2..<4
        static let tunnelEndpointID = 4..<8
        static let minimumLength = tunnelEndpointID.upperBound
        static let sequenceNumber = 8..<10
        static let nPDUNumber = 10..<11
        static let nextExtensionType = 11..<12
        static let optionalFieldsEnd = nextExtensionType.upperBound
    }

    /// Extension header layout, from its own start.
    enum Extension {
        static let length = 0..<1
        static let lengthUnit = 4
        /// The next type is the last byte of the extension.
        static let nextTypeFromEnd = 1
        static let noMoreExtensions: UInt8 = 0
    }

    /// IANA's port, on either side.
    static let port: UInt16 = 2152
    static let versionShift: UInt8 = 5
    static let version: UInt8 = 1
    /// PT: GTP proper, not GTP' (charging).
    static let protocolTypeFlag: UInt8 = 0x10
    /// E, S, N: any of them adds the optional word.
    static let optionalFieldFlags: UInt8 = 0x07
    /// G-PDU: the message carries a user packet.
    static let gPDU: UInt8 = 0xFF

    /// The user packet's first byte.
    let payloadStart: IPVersionNibble

    /// Nil unless this is a complete G-PDU header (with its optional word
    /// and extension headers) followed by at least one payload byte.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.minimumLength, at: offset) else { return nil }
        let flags = bytes.byte(Field.flags, of: offset)
        guard flags >> Self.versionShift == Self.version, flags & Self.protocolTypeFlag != 0,
              bytes.byte(Field.messageType, of: offset) == Self.gPDU else { return nil }
        var at = offset + Field.minimumLength
        if flags & Self.optionalFieldFlags != 0 {
            guard bytes.holds(Field.optionalFieldsEnd, at: offset) else { return nil }
            var next = bytes.byte(Field.nextExtensionType, of: offset)
            at = offset + Field.optionalFieldsEnd
            // Each extension is at least 4 bytes, so the walk ends with the bytes.
            while next != Extension.noMoreExtensions {
                guard bytes.holds(Extension.length.upperBound, at: at) else { return nil }
                let length = Int(bytes.byte(Extension.length, of: at)) * Extension.lengthUnit
                guard length > 0, bytes.holds(length, at: at) else { return nil }
                next = bytes[at + length - Extension.nextTypeFromEnd]
                at += length
            }
        }
        guard let payloadStart = IPVersionNibble(bytes, at: at) else { return nil }
        self.payloadStart = payloadStart
    }

    @inline(__always) var payloadOffset: Int { payloadStart.offset }
}
