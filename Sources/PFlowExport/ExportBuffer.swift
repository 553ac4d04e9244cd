import PFlowCore

/// A growable byte buffer that encoders append to and callers reuse:
/// `removeAll()` keeps the storage, so once it has grown to a row's or a
/// message's size, encoding allocates nothing.
public struct ExportBuffer: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 4096) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable public var count: Int { bytes.count }
    @inlinable public var isEmpty: Bool { bytes.isEmpty }

    /// Empties the buffer, keeping its storage.
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    /// Drops everything from `index` on (an encoder undoing a partial write).
    public mutating func truncate(to index: Int) {
        if index < bytes.count { bytes.removeSubrange(index...) }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes(body)
    }

    // MARK: raw bytes

    @inline(__always)
    public mutating func append(_ byte: UInt8) { bytes.append(byte) }

    public mutating func append(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }

    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// The string's UTF-8 bytes as they are (no escaping).
    public mutating func append(utf8 text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// `count` copies of `byte`.
    public mutating func append(repeating byte: UInt8, count: Int) {
        bytes.append(contentsOf: repeatElement(byte, count: count))
    }

    // MARK: big-endian integers (network byte order, RFC 7011 §6.1)

    @inline(__always)
    public mutating func appendBE(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always)
    public mutating func appendBE(_ v: UInt32) {
        appendBE(UInt16(truncatingIfNeeded: v >> 16))
        appendBE(UInt16(truncatingIfNeeded: v))
    }

    @inline(__always)
    public mutating func appendBE(_ v: UInt64) {
        appendBE(UInt32(truncatingIfNeeded: v >> 32))
        appendBE(UInt32(truncatingIfNeeded: v))
    }

    @inline(__always)
    public mutating func setByte(_ byte: UInt8, at offset: Int) { bytes[offset] = byte }

    /// Overwrites two bytes at `offset` (a length field filled in once known).
    public mutating func setBE(_ v: UInt16, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: v >> 8)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: v)
    }

    public mutating func setBE(_ v: UInt32, at offset: Int) {
        setBE(UInt16(truncatingIfNeeded: v >> 16), at: offset)
        setBE(UInt16(truncatingIfNeeded: v), at: offset + 2)
    }

    // MARK: text

    /// Decimal digits of `v`.
    public mutating func appendDecimal(_ v: UInt64) {
        if v < 10 { bytes.append(0x30 &+ UInt8(truncatingIfNeeded: v)); return }
        // Count the digits, then write them in place from the right.
        var n = 0
        var t = v
        while t > 0 { n += 1; t /= 10 }
        appendPadded(v, width: n)
    }

    public mutating func appendDecimal(_ v: Int64) {
        if v < 0 {
            bytes.append(0x2D)
            appendDecimal(v.magnitude)
        } else {
            appendDecimal(UInt64(v))
        }
    }

    /// `v` in `width` digits, zero-padded (only the low `width` digits if longer).
    public mutating func appendPadded(_ v: UInt64, width: Int) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0x30, count: width))
        var rest = v
        var i = start + width - 1
        while i >= start {
            bytes[i] = 0x30 &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
            i -= 1
        }
    }

    /// Nanoseconds as seconds with six decimals (`1258531221.486539`), rounded
    /// to the nearest microsecond: how Zeek renders `time` and `interval`
    /// (`%.6f`).
    public mutating func appendSeconds6(nanoseconds ns: Int64) {
        // Round half up on microseconds, floor-divide so negative values
        // stay consistent (-0.5 µs rounds to 0).
        let us = ns >= Int64.max - 500 ? Int64.max / 1000 : floorDiv(ns + 500, 1000)
        let seconds = floorDiv(us, 1_000_000)
        let fraction = us - seconds * 1_000_000
        if seconds < 0 && fraction != 0 {
            // -1.25 s is (-2, 750000) in floor form; print it as -1.250000.
            bytes.append(0x2D)
            appendDecimal(UInt64(-(seconds + 1)))
            bytes.append(0x2E)
            appendPadded(UInt64(1_000_000 - fraction), width: 6)
            return
        }
        appendDecimal(seconds)
        bytes.append(0x2E)
        appendPadded(UInt64(fraction), width: 6)
    }

    /// The address as `IPAddress.description` writes it (dotted quad for
    /// IPv4-mapped, RFC 5952 otherwise), without building a String.
    public mutating func appendAddress(_ a: IPAddress) {
        if a.isIPv4Mapped {
            let v = UInt32(truncatingIfNeeded: a.low)
            appendDecimal(UInt64(v >> 24)); bytes.append(0x2E)
            appendDecimal(UInt64((v >> 16) & 0xFF)); bytes.append(0x2E)
            appendDecimal(UInt64((v >> 8) & 0xFF)); bytes.append(0x2E)
            appendDecimal(UInt64(v & 0xFF))
            return
        }
        let (bestStart, bestLength) = a.compressedRun
        var i = 0
        while i < 8 {
            if i == bestStart {
                bytes.append(0x3A); bytes.append(0x3A)
                i += bestLength
                continue
            }
            if i > 0 && i != bestStart + bestLength { bytes.append(0x3A) }
            appendHex(a.group(i))
            i += 1
        }
    }

    /// Lowercase hex without leading zeros (RFC 5952 §4.1, §4.3).
    mutating func appendHex(_ v: UInt16) {
        var started = false
        var shift = 12
        while shift >= 0 {
            let nibble = UInt8(truncatingIfNeeded: v >> UInt16(shift)) & 0xF
            if nibble != 0 || started || shift == 0 {
                bytes.append(hexDigit(nibble))
                started = true
            }
            shift -= 4
        }
    }
}

@inline(__always)
func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 &+ nibble : 0x57 &+ nibble }

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
