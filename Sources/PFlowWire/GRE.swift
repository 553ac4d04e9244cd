import PFlowCore

extension IPProtocol {
    /// Generic Routing Encapsulation, RFC 2784.
    static var gre: IPProtocol { IPProtocol(rawValue: 47) }
}

/// GRE (RFC 2784, with RFC 2890's key and sequence number) and PPTP's
/// enhanced GRE (RFC 2637 §4.1), told apart by the version:
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |C|R|K|S|s|Recur|A| Flags | Ver |         Protocol Type         |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     version 0, each present only when its bit says so:
///     |      Checksum (C)             |       Reserved1 (C)           |
///     |                         Key (K)                               |
///     |                 Sequence Number (S)                           |
///     version 1 (PPTP), the key always present:
///     |    Key: Payload Length        |       Key: Call ID            |
///     |                 Sequence Number (S)                           |
///     |               Acknowledgment Number (A)                       |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// R (source routing, RFC 1701) is not opened.
///
/// `init` reads all it needs and is the only bounds check: nothing is read
/// after it.
struct GREHeader {
    enum Field {
        static let flagsAndVersion = 0..<2
        static let protocolType = 2..<4
        static let minimumLength = protocolType.upperBound
        /// Every optional field (checksum with reserved, key, sequence and
        /// acknowledgment numbers) is one 32-bit word.
        static let optionalWordLength = 4
    }

    static let checksumPresent: UInt16 = 0x8000
    static let routingPresent: UInt16 = 0x4000
    static let keyPresent: UInt16 = 0x2000
    static let sequencePresent: UInt16 = 0x1000
    /// Version 1 only.
    static let acknowledgmentPresent: UInt16 = 0x0080
    static let versionMask: UInt16 = 0x0007
    static let standardVersion: UInt16 = 0
    static let enhancedVersion: UInt16 = 1  // PPTP

    /// `.gre` or `.pptp`.
    let kind: TunnelKind
    let protocolType: EtherType
    /// After the optional fields; the caller's view of the payload checks it.
    let payloadOffset: Int

    /// Nil when the header is cut short, routed, of another version, or
    /// enhanced GRE that isn't PPTP's (PPP with a key).
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard bytes.holds(Field.minimumLength, at: offset) else { return nil }
        let flags = bytes.be16(Field.flagsAndVersion, of: offset)
        protocolType = EtherType(rawValue: bytes.be16(Field.protocolType, of: offset))
        var at = offset + Field.minimumLength
        switch flags & Self.versionMask {
        case Self.standardVersion:
            guard flags & Self.routingPresent == 0 else { return nil }
            kind = .gre
            if flags & Self.checksumPresent != 0 { at += Field.optionalWordLength }
            if flags & Self.keyPresent != 0 { at += Field.optionalWordLength }
            if flags & Self.sequencePresent != 0 { at += Field.optionalWordLength }
        case Self.enhancedVersion:
            guard protocolType == .ppp, flags & Self.keyPresent != 0 else { return nil }
            kind = .pptp
            at += Field.optionalWordLength  // the key: payload length and call ID
            if flags & Self.sequencePresent != 0 { at += Field.optionalWordLength }
            if flags & Self.acknowledgmentPresent != 0 { at += Field.optionalWordLength }
        default:
            return nil
        }
        payloadOffset = at
    }
}
