/// PPPoE session stage (RFC 2516 §4): a 6-byte header, then the PPP frame,
/// whose 2-byte protocol field is read here with it (PPPoE sends no address
/// and control bytes, and the protocol uncompressed).
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |  VER  | TYPE  |      CODE     |          SESSION_ID           |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |            LENGTH             |         PPP protocol          |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct PPPoESession {
    enum Field {
        static let versionAndType = 0..<1
        static let code = 1..<2
        static let sessionID = 2..<4
        static let length = 4..<6
        static let pppProtocol = 6..<8
        static let headerLength = pppProtocol.upperBound
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

    @inline(__always) var pppProtocol: PPPProtocol { PPPProtocol(rawValue: bytes.be16(Field.pppProtocol, of: offset)) }
    @inline(__always) var payloadOffset: Int { offset + Field.headerLength }
}
