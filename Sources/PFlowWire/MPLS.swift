/// An MPLS label stack (RFC 3032): 4-byte entries until the one with the
/// bottom-of-stack bit.
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                Label                  | TC  |S|      TTL      |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Nothing names the payload: its first nibble is the IP version, or 0 for
/// the pseudowire control word (RFC 4385) before an Ethernet frame (RFC 4448).
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct MPLSLabelStack {
    /// Offsets within one stack entry.
    enum Field {
        static let labelTrafficClassAndBottom = 0..<3
        /// The entry's third byte, whose lowest bit is bottom-of-stack (S).
        static let bottomOfStack = 2..<3
        static let timeToLive = 3..<4
        static let entryLength = timeToLive.upperBound
    }

    static let bottomOfStackBit: UInt8 = 0x01

    /// What the stack carries, by the payload's first nibble.
    enum Payload { case ipv4, ipv6, pseudowire, unknown }

    /// The payload's first byte, after the bottom entry: it says what follows.
    let payloadStart: IPVersionNibble

    /// Walks the stack (every entry is checked, each one 4 bytes further, so
    /// the walk ends with the bytes); throws `mplsTruncated` when an entry or
    /// the payload's first byte is cut off.
    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(DecodeError) {
        var at = offset
        while true {
            guard bytes.holds(Field.entryLength, at: at) else { throw .mplsTruncated }
            let bottom = bytes.byte(Field.bottomOfStack, of: at) & Self.bottomOfStackBit != 0
            at += Field.entryLength
            if bottom { break }
        }
        guard let payloadStart = IPVersionNibble(bytes, at: at) else { throw .mplsTruncated }
        self.payloadStart = payloadStart
    }

    @inline(__always) var payloadOffset: Int { payloadStart.offset }

    @inline(__always) var payload: Payload {
        switch payloadStart.version {
        case IPv4Header.version: return .ipv4
        case IPv6Header.version: return .ipv6
        case PseudowireControlWord.firstNibble: return .pseudowire
        default: return .unknown
        }
    }
}

/// The pseudowire MPLS control word (RFC 4385 §3), before the Ethernet frame
/// of an Ethernet pseudowire (RFC 4448). Its first nibble is 0 so that it
/// can't pass for an IP header.
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |0 0 0 0| Flags |FRG|  Length   |        Sequence number        |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Once `init` succeeds no accessor can read out of bounds: `init` is the
/// only bounds check.
struct PseudowireControlWord {
    enum Field {
        static let flagsAndLength = 0..<2
        static let sequenceNumber = 2..<4
        static let headerLength = sequenceNumber.upperBound
    }

    static let firstNibble: UInt8 = 0

    let bytes: UnsafeRawBufferPointer
    let offset: Int

    /// Nil when the control word, or the Ethernet header it announces, is cut
    /// short: a pseudowire is opened only whole, so that a cut one counts as
    /// `mplsTruncated`.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.headerLength + EthernetHeader.Field.headerLength, at: offset) else { return nil }
        self.bytes = bytes
        self.offset = offset
    }

    /// Where the pseudowire's Ethernet frame starts.
    @inline(__always) var payloadOffset: Int { offset + Field.headerLength }
}
