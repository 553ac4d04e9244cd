#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A growable byte buffer that is cleared, not freed, between uses: every
/// page, column chunk and footer is built in one of these, so that once the
/// buffers have grown to a row group's size no append allocates.
/// A class, not an Array, so that appends need no uniqueness check and the
/// hot paths write through a raw pointer.
@usableFromInline
final class ByteBuffer {
    // Inlined into the exporter's module (--parquet's per-value path), which
    // keeps dynamic exclusivity checks: these are exempt, as in this module.
    @usableFromInline @exclusivity(unchecked) var base: UnsafeMutableRawPointer
    @usableFromInline @exclusivity(unchecked) var count = 0
    @usableFromInline @exclusivity(unchecked) var capacity: Int

    init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        // malloc, not allocate(byteCount:alignment:), so that growing is a
        // realloc: glibc moves a large block by remapping its pages, where
        // allocate-copy-free copied every page buffer on each doubling
        // (callgrind, 1M capture: 505 grows, 23.7M instructions of memcpy).
        guard let p = malloc(self.capacity) else { fatalError("out of memory") }
        base = p
    }

    deinit { free(base) }

    var isEmpty: Bool { count == 0 }

    /// The bytes written so far; valid until the next append.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// A copy, for tests and small values.
    var array: [UInt8] { Array(bytes) }

    func removeAll() { count = 0 }

    /// Makes room for `extra` more bytes.
    @inlinable @inline(__always)
    func reserve(_ extra: Int) {
        // Wrapping: a buffer's count and capacity are far from Int.max (the
        // checked forms' overflow branches were ~3 instructions a cell).
        if capacity &- count < extra { grow(extra) }
    }

    @usableFromInline @inline(never)
    func grow(_ extra: Int) {
        var newCapacity = capacity
        while newCapacity - count < extra { newCapacity *= 2 }
        guard let newBase = realloc(base, newCapacity) else { fatalError("out of memory") }
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Eight bytes, little-endian: Parquet's PLAIN encoding of INT64 and DOUBLE.
    @inlinable @inline(__always)
    func appendLE(_ value: UInt64) {
        reserve(8)
        base.storeBytes(of: value.littleEndian, toByteOffset: count, as: UInt64.self)
        count &+= 8
    }

    /// Four bytes, little-endian: lengths of BYTE_ARRAY values and of the
    /// definition levels in a data page.
    @inline(__always)
    func appendLE(_ value: UInt32) {
        reserve(4)
        base.storeBytes(of: value.littleEndian, toByteOffset: count, as: UInt32.self)
        count += 4
    }

    @inline(__always)
    func append(_ raw: UnsafeRawBufferPointer) {
        guard let src = raw.baseAddress, raw.count > 0 else { return }
        let n = raw.count
        reserve(n)
        let dst = base + count
        if n <= 16 {
            // Most values are short (words, addresses, ids): copied inline,
            // without a call to memcpy (~30 instructions for a few bytes).
            Self.copyShort(dst, src, n)
        } else {
            dst.copyMemory(from: src, byteCount: n)
        }
        count += n
    }

    /// Copies 1...16 bytes: two overlapping words cover 8-16 bytes, two
    /// overlapping halves 4-7, single bytes below that. Reads stay inside
    /// the `n` source bytes.
    @inline(__always)
    static func copyShort(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ n: Int) {
        if n >= 8 {
            let head = src.loadUnaligned(as: UInt64.self)
            let tail = src.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            dst.storeBytes(of: head, as: UInt64.self)
            dst.storeBytes(of: tail, toByteOffset: n - 8, as: UInt64.self)
        } else if n >= 4 {
            let head = src.loadUnaligned(as: UInt32.self)
            let tail = src.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
            dst.storeBytes(of: head, as: UInt32.self)
            dst.storeBytes(of: tail, toByteOffset: n - 4, as: UInt32.self)
        } else {
            for i in 0..<n {
                dst.storeBytes(of: src.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self)
            }
        }
    }

    /// Bytewise unsigned order of two byte strings, a prefix before its
    /// extensions (<0, 0, >0), compared a word at a time: statistics and
    /// dictionary probes compare short values, where a call to memcmp
    /// costs more than the comparison.
    @inline(__always)
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0, let pa = a.baseAddress, let pb = b.baseAddress {
            var i = 0
            while i + 8 <= n {
                let x = pa.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let y = pb.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                if x != y {
                    // Big-endian order is byte order: the first differing byte decides.
                    return UInt64(bigEndian: x) < UInt64(bigEndian: y) ? -1 : 1
                }
                i += 8
            }
            if i < n && n >= 8 {
                // The last 8 bytes, overlapping ones already found equal: the
                // first differing byte is still the first in the word (a uid's
                // 12 bytes are then two compares, not one and four bytes).
                let x = pa.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
                let y = pb.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
                if x != y { return UInt64(bigEndian: x) < UInt64(bigEndian: y) ? -1 : 1 }
                i = n
            }
            while i < n {
                let x = pa.load(fromByteOffset: i, as: UInt8.self)
                let y = pb.load(fromByteOffset: i, as: UInt8.self)
                if x != y { return x < y ? -1 : 1 }
                i += 1
            }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    func append(_ other: ByteBuffer) { append(other.bytes) }

    func append(_ array: [UInt8]) { array.withUnsafeBytes { append($0) } }

    /// Four bytes in the machine's order, for a buffer read back as
    /// UInt32s (dictionary ids) rather than written to the file.
    @inlinable @inline(__always)
    func append(native value: UInt32) {
        reserve(4)
        base.storeBytes(of: value, toByteOffset: count, as: UInt32.self)
        count &+= 4
    }

    /// Unsigned LEB128, as Thrift's compact protocol and the RLE/bit-packed
    /// hybrid's run headers write their counts.
    @inline(__always)
    func appendVarint(_ value: UInt64) {
        var v = value
        reserve(10)
        while v >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: count, as: UInt8.self)
            count += 1
            v >>= 7
        }
        base.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Overwrites a byte already written (a width known only afterwards).
    @inline(__always)
    func setByte(_ value: UInt8, at offset: Int) {
        precondition(offset >= 0 && offset < count)
        base.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }

    /// Overwrites four bytes already written (a length known only afterwards).
    func patchLE(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= count)
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Space for `n` bytes that the caller fills, then commits with `didWrite`.
    func tail(reserving n: Int) -> UnsafeMutableRawPointer {
        reserve(n)
        return base + count
    }

    func didWrite(_ n: Int) {
        precondition(n >= 0 && count + n <= capacity)
        count += n
    }
}
