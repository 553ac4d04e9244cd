// PFlowWire's contract, after smoltcp's `check_len`: every protocol has a
// view over the captured bytes (the frame and the offset of its header)
// whose initializer is its only bounds check. Once the initializer succeeds,
// no accessor can read out of bounds, so the loads below check nothing in a
// release build. A debug build still checks every load (the standard
// library's debug preconditions on `UnsafeRawBufferPointer`), which is what
// the truncation sweeps in WireTests rely on.
//
// Each protocol names its offsets once, in a `Field` table: a field is the
// range of its bytes from the start of the header, and every length derives
// from the table (`headerLength` for fixed headers, `minimumLength` for
// headers that grow by options or extensions).
import PFlowCore

// A field's place is `header &+ field.lowerBound`: the sum is inside the
// buffer (the view's initializer checked it), so it can't overflow and
// needs no overflow check on the per-packet path.
extension UnsafeRawBufferPointer {
    /// The byte of a one-byte `field` in the header that starts at `header`.
    @inline(__always)
    func byte(_ field: Range<Int>, of header: Int) -> UInt8 {
        assert(field.count == 1, "field table entry is not one byte wide")
        return self[header &+ field.lowerBound]
    }

    /// The big-endian value of a two-byte `field` (loaded unaligned).
    @inline(__always)
    func be16(_ field: Range<Int>, of header: Int) -> UInt16 {
        assert(field.count == 2, "field table entry is not two bytes wide")
        return UInt16(bigEndian: loadUnaligned(fromByteOffset: header &+ field.lowerBound, as: UInt16.self))
    }

    /// The big-endian value of the two bytes at `offset`, for a field whose
    /// place depends on what precedes it.
    @inline(__always)
    func be16(at offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// The big-endian value of a four-byte `field`.
    @inline(__always)
    func be32(_ field: Range<Int>, of header: Int) -> UInt32 {
        assert(field.count == 4, "field table entry is not four bytes wide")
        return UInt32(bigEndian: loadUnaligned(fromByteOffset: header &+ field.lowerBound, as: UInt32.self))
    }

    /// The big-endian value of the eight bytes at `offset` (IPv6 address halves).
    @inline(__always)
    func be64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Whether `length` bytes from `offset` are all at hand. Offsets are sums
    /// of lengths, never negative; one past the end leaves negative room, so
    /// it holds nothing, and no sum is formed that could overflow.
    @inline(__always)
    func holds(_ length: Int, at offset: Int) -> Bool {
        count - offset >= length
    }

    /// The same bytes cut at `end`, so that what follows (an IP payload, a
    /// tunnel's inner packet) can't read past the packet that carries it.
    @inline(__always)
    func cut(at end: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: baseAddress, count: Swift.max(0, Swift.min(end, count)))
    }
}
