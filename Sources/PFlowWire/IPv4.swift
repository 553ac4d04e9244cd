import PFlowCore

/// IPv4 header (RFC 791 §3.1):
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |Version|  IHL  |Type of Service|          Total Length         |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |         Identification        |Flags|      Fragment Offset    |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |  Time to Live |    Protocol   |         Header Checksum       |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                       Source Address                          |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                    Destination Address                        |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                    Options (IHL > 5)                          |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Options are skipped by the header length, not read.
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct IPv4Header {
    enum Field {
        /// Version in the high nibble, header length (IHL) in the low one.
        static let versionAndHeaderLength = 0..<1
        static let typeOfService = 1..<2
        static let totalLength = 2..<4
        static let identification = 4..<6
        /// Reserved, don't-fragment and more-fragments bits, then the
        /// fragment offset in 8-byte units.
        static let flagsAndFragmentOffset = 6..<8
        static let timeToLive = 8..<9
        static let nextProtocol = 9..<10
        static let checksum = 10..<12
        static let source = 12..<16
        static let destination = 16..<20
        static let minimumLength = destination.upperBound
    }

    static let version: UInt8 = 4
    static let headerLengthMask: UInt8 = 0x0F
    /// IHL counts 32-bit words.
    static let headerLengthUnit = 4
    static let moreFragmentsFlag: UInt16 = 0x2000
    static let fragmentOffsetMask: UInt16 = 0x1FFF

    let bytes: UnsafeRawBufferPointer
    let offset: Int
    /// In bytes, options included; at least `Field.minimumLength`.
    let headerLength: Int

    /// A packet's header: throws `ipv4Truncated` when it is cut short (the
    /// fixed part or the options), `ipv4BadVersion`, `ipv4BadHeaderLength`
    /// when IHL is below 5 words, `ipv4BadTotalLength` when the total length
    /// is below the header's.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(DecodeError) {
        guard bytes.holds(Field.minimumLength, at: offset) else { throw .ipv4Truncated }
        let first = bytes.byte(Field.versionAndHeaderLength, of: offset)
        guard IPVersionNibble.version(of: first) == Self.version else { throw .ipv4BadVersion }
        headerLength = Int(first & Self.headerLengthMask) * Self.headerLengthUnit
        guard headerLength >= Field.minimumLength else { throw .ipv4BadHeaderLength }
        guard bytes.holds(headerLength, at: offset) else { throw .ipv4Truncated }
        self.bytes = bytes
        self.offset = offset
        guard totalLength >= headerLength else { throw .ipv4BadTotalLength }
    }

    /// A header another protocol vouches for (an ICMP error's quote): only the
    /// fixed part has to be there (a quote needs no options), and the version
    /// is the caller's to check.
    /// Nil when the fixed part is cut short or IHL is below 5 words.
    @inline(__always)
    init?(carriedIn bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.minimumLength, at: offset) else { return nil }
        headerLength = Int(bytes.byte(Field.versionAndHeaderLength, of: offset) & Self.headerLengthMask)
            * Self.headerLengthUnit
        guard headerLength >= Field.minimumLength else { return nil }
        self.bytes = bytes
        self.offset = offset
    }

    @inline(__always) var totalLength: Int { Int(bytes.be16(Field.totalLength, of: offset)) }
    @inline(__always) var identification: UInt16 { bytes.be16(Field.identification, of: offset) }
    @inline(__always) var fragmentOffset: UInt16 {
        bytes.be16(Field.flagsAndFragmentOffset, of: offset) & Self.fragmentOffsetMask
    }
    @inline(__always) var moreFragments: Bool {
        bytes.be16(Field.flagsAndFragmentOffset, of: offset) & Self.moreFragmentsFlag != 0
    }
    @inline(__always) var nextProtocol: IPProtocol { IPProtocol(rawValue: bytes.byte(Field.nextProtocol, of: offset)) }
    @inline(__always) var source: IPAddress { IPAddress(ipv4: bytes.be32(Field.source, of: offset)) }
    @inline(__always) var destination: IPAddress { IPAddress(ipv4: bytes.be32(Field.destination, of: offset)) }
    /// Where the transport header starts, after the options.
    @inline(__always) var payloadOffset: Int { offset + headerLength }
}
