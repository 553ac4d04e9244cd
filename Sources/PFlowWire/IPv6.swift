import PFlowCore

/// IPv6 header (RFC 8200 §3):
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |Version| Traffic Class |           Flow Label                  |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |         Payload Length        |  Next Header  |   Hop Limit   |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                  Source Address (16 bytes)                    |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |               Destination Address (16 bytes)                  |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// The payload length covers the extension headers and the upper layer.
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct IPv6Header {
    enum Field {
        static let versionClassAndFlowLabel = 0..<4
        /// The first byte, whose high nibble is the version.
        static let version = 0..<1
        static let payloadLength = 4..<6
        static let nextHeader = 6..<7
        static let hopLimit = 7..<8
        static let source = 8..<24
        static let destination = 24..<40
        static let headerLength = destination.upperBound
    }

    static let version: UInt8 = 6

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// A packet's header: throws `ipv6Truncated` when it is cut short,
    /// `ipv6BadVersion` for another version.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(DecodeError) {
        guard bytes.holds(Field.headerLength, at: offset) else { throw .ipv6Truncated }
        guard IPVersionNibble.version(of: bytes.byte(Field.version, of: offset)) == Self.version else {
            throw .ipv6BadVersion
        }
        self.bytes = bytes
        self.offset = offset
    }

    /// A header another protocol vouches for (an ICMPv6 quote, Teredo): nil
    /// when it is cut short; the version is the caller's to check.
    @inline(__always)
    init?(carriedIn bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.headerLength, at: offset) else { return nil }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var versionNibble: UInt8 { IPVersionNibble.version(of: bytes.byte(Field.version, of: offset)) }
    @inline(__always) var payloadLength: Int { Int(bytes.be16(Field.payloadLength, of: offset)) }
    @inline(__always) var nextHeader: IPProtocol { IPProtocol(rawValue: bytes.byte(Field.nextHeader, of: offset)) }
    @inline(__always) var source: IPAddress { address(Field.source) }
    @inline(__always) var destination: IPAddress { address(Field.destination) }
    @inline(__always) var payloadOffset: Int { offset + Field.headerLength }

    @inline(__always)
    private func address(_ field: Range<Int>) -> IPAddress {
        IPAddress(high: bytes.be64(at: offset + field.lowerBound), low: bytes.be64(at: offset + field.lowerBound + 8))
    }
}

/// Extension headers by their next-header numbers (IANA's IPv6 extension
/// header types). ESP is absent: nothing after it can be read.
extension IPProtocol {
    static var hopByHopOptions: IPProtocol { IPProtocol(rawValue: 0) }
    static var routing: IPProtocol { IPProtocol(rawValue: 43) }
    static var fragment: IPProtocol { IPProtocol(rawValue: 44) }
    static var authentication: IPProtocol { IPProtocol(rawValue: 51) }
    static var destinationOptions: IPProtocol { IPProtocol(rawValue: 60) }
    static var mobility: IPProtocol { IPProtocol(rawValue: 135) }
    static var hostIdentity: IPProtocol { IPProtocol(rawValue: 139) }
    static var shim6: IPProtocol { IPProtocol(rawValue: 140) }
}

/// The generic extension header form (RFC 8200 §4; RFC 6564): next header,
/// then the length in 8-byte units not counting the first 8. The
/// authentication header counts 4-byte units not counting the first two
/// (RFC 4302 §2.2). Every extension header is at least 8 bytes.
///
///     +---------------+---------------+-------------------------------
///     |  Next Header  |  Hdr Ext Len  |  options, routing data, …
///     +---------------+---------------+-------------------------------
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct IPv6ExtensionHeader {
    enum Field {
        static let nextHeader = 0..<1
        static let length = 1..<2
        static let minimumLength = 8
    }

    static let lengthUnit = 8
    static let authenticationLengthUnit = 4
    static let authenticationUncountedUnits = 2

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Nil when the first 8 bytes are cut short.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.minimumLength, at: offset) else { return nil }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var nextHeader: IPProtocol { IPProtocol(rawValue: bytes.byte(Field.nextHeader, of: offset)) }
    /// The whole header in bytes, for the generic form.
    @inline(__always) var length: Int { (Int(bytes.byte(Field.length, of: offset)) + 1) * Self.lengthUnit }
    /// The whole header in bytes, for the authentication header.
    @inline(__always) var authenticationLength: Int {
        (Int(bytes.byte(Field.length, of: offset)) + Self.authenticationUncountedUnits) * Self.authenticationLengthUnit
    }
}

/// The fragment header (RFC 8200 §4.5), always 8 bytes:
///
///     +---------------+---------------+-------------------------+--+-+
///     |  Next Header  |   Reserved    |  Fragment Offset (13)   |Res|M|
///     +---------------+---------------+-------------------------+--+-+
///     |                        Identification                        |
///     +---------------+---------------+---------------+--------------+
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct IPv6FragmentHeader {
    enum Field {
        static let nextHeader = 0..<1
        static let reserved = 1..<2
        /// The offset in 8-byte units, above two reserved bits and M.
        static let offsetAndFlags = 2..<4
        static let identification = 4..<8
        static let headerLength = identification.upperBound
    }

    static let offsetShift: UInt16 = 3

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Nil when the header is cut short.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.headerLength, at: offset) else { return nil }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var nextHeader: IPProtocol { IPProtocol(rawValue: bytes.byte(Field.nextHeader, of: offset)) }
    @inline(__always) var fragmentOffset: UInt16 { bytes.be16(Field.offsetAndFlags, of: offset) >> Self.offsetShift }
    @inline(__always) var identification: UInt32 { bytes.be32(Field.identification, of: offset) }
}

/// Where the extension headers of an IPv6 packet lead: the upper-layer
/// protocol and its place, or a fragment other than the first (which carries
/// no upper-layer header).
struct IPv6UpperLayer {
    var nextProtocol: IPProtocol
    var offset: Int
    /// Bytes from `offset` to the end of the payload, per the payload length.
    var length: Int
    /// The identification of the fragment header crossed, if any.
    var fragmentID: UInt32?
    var laterFragment = false

    /// Walks the chain after `header` over `bytes` (cut at the packet's
    /// captured end). Each header is at least 8 bytes and must fit in the
    /// payload length, so the walk ends. Throws `ipv6ExtensionTruncated`
    /// when a header is cut short, `ipv6BadExtensionLength` when one claims
    /// more than the payload length leaves.
    @inline(__always)
    init(after header: IPv6Header, in bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        nextProtocol = header.nextHeader
        offset = header.payloadOffset
        length = header.payloadLength
        while true {
            let headerLength: Int, next: IPProtocol
            switch nextProtocol {
            case .hopByHopOptions, .routing, .destinationOptions, .mobility, .hostIdentity, .shim6:
                guard let extensionHeader = IPv6ExtensionHeader(bytes, at: offset) else {
                    throw .ipv6ExtensionTruncated
                }
                headerLength = extensionHeader.length
                next = extensionHeader.nextHeader
            case .fragment:
                guard let fragment = IPv6FragmentHeader(bytes, at: offset) else { throw .ipv6ExtensionTruncated }
                headerLength = IPv6FragmentHeader.Field.headerLength
                next = fragment.nextHeader
                fragmentID = fragment.identification
                if fragment.fragmentOffset != 0 {
                    guard length >= headerLength else { throw .ipv6BadExtensionLength }
                    nextProtocol = next
                    offset += headerLength
                    length -= headerLength
                    laterFragment = true
                    return
                }
            case .authentication:
                guard let authentication = IPv6ExtensionHeader(bytes, at: offset) else {
                    throw .ipv6ExtensionTruncated
                }
                headerLength = authentication.authenticationLength
                next = authentication.nextHeader
            default:
                return
            }
            guard headerLength <= length else { throw .ipv6BadExtensionLength }
            nextProtocol = next
            offset += headerLength
            length -= headerLength
        }
    }
}
