/// BSD loopback encapsulation (LINKTYPE_NULL, 0, and LINKTYPE_LOOP, 108): a
/// 4-byte address family before the IP packet.
///
///     +---------------------------+-----------
///     |  Address family (4 bytes) | IP packet ...
///     +---------------------------+-----------
///
/// NULL stores the family in the byte order of the host that wrote the
/// capture, LOOP in network order. Families fit in 16 bits, so a value with
/// its low half zero was written in the other order and is swapped back.
///
/// `init` reads all it needs and is the only bounds check: nothing is read
/// after it.
struct BSDLoopbackHeader {
    enum Field {
        static let family = 0..<4
        static let headerLength = family.upperBound
    }

    let family: AddressFamily

    /// Nil when the header is cut short. `networkOrder` is true for LOOP.
    @inline(__always)
    init?(_ bytes: UnsafeRawBufferPointer, networkOrder: Bool) {
        guard bytes.holds(Field.headerLength, at: 0) else { return nil }
        let stored = bytes.loadUnaligned(fromByteOffset: Field.family.lowerBound, as: UInt32.self)
        var value = networkOrder ? UInt32(bigEndian: stored) : UInt32(littleEndian: stored)
        if value > UInt32(UInt16.max) { value = value.byteSwapped }
        family = AddressFamily(rawValue: value)
    }

    var payloadOffset: Int { Field.headerLength }
}

/// Socket address families as the BSDs number them. IPv4 is 2 everywhere;
/// IPv6 differs by the system that wrote the capture.
struct AddressFamily: RawRepresentable, Equatable {
    var rawValue: UInt32
    @inline(__always) init(rawValue: UInt32) { self.rawValue = rawValue }

    static let inet = AddressFamily(rawValue: 2)
    static let inet6Linux = AddressFamily(rawValue: 10)
    /// NetBSD, OpenBSD and BSD/OS.
    static let inet6NetBSD = AddressFamily(rawValue: 24)
    /// FreeBSD and DragonFly.
    static let inet6FreeBSD = AddressFamily(rawValue: 28)
    /// macOS, iOS and the rest of Darwin.
    static let inet6Darwin = AddressFamily(rawValue: 30)
}
