#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One column chunk's Statistics (parquet.thrift), in the sort order that
/// ColumnOrder's TYPE_ORDER gives each type: signed for INT64 and
/// TIMESTAMP, unsigned for INTEGER(64, false), bytewise unsigned for
/// STRING, the represented value for DOUBLE with NaN left out (and counted
/// in nan_count), a zero minimum written as -0.0 and a zero maximum as +0.0.
final class ColumnStatistics {
    let type: ParquetType
    private(set) var nullCount: Int64 = 0
    private(set) var nanCount: Int64 = 0
    private(set) var hasMinMax = false
    /// Numbers: the bit patterns of the smallest and largest value.
    private var minBits: UInt64 = 0
    private var maxBits: UInt64 = 0
    /// Strings: copies of the smallest and largest value.
    private let minBytes = ByteBuffer(capacity: 64)
    private let maxBytes = ByteBuffer(capacity: 64)

    init(type: ParquetType) { self.type = type }

    func reset() {
        nullCount = 0
        nanCount = 0
        hasMinMax = false
        minBytes.removeAll()
        maxBytes.removeAll()
    }

    @inline(__always) func addNull() { nullCount += 1 }

    @inline(__always)
    func add(signed v: Int64) {
        if !hasMinMax {
            minBits = UInt64(bitPattern: v); maxBits = minBits; hasMinMax = true
        } else if v < Int64(bitPattern: minBits) {
            minBits = UInt64(bitPattern: v)
        } else if v > Int64(bitPattern: maxBits) {
            maxBits = UInt64(bitPattern: v)
        }
    }

    @inline(__always)
    func add(unsigned v: UInt64) {
        if !hasMinMax {
            minBits = v; maxBits = v; hasMinMax = true
        } else if v < minBits {
            minBits = v
        } else if v > maxBits {
            maxBits = v
        }
    }

    @inline(__always)
    func add(double v: Double) {
        if v.isNaN {
            nanCount += 1
        } else if !hasMinMax {
            minBits = v.bitPattern; maxBits = minBits; hasMinMax = true
        } else if v < Double(bitPattern: minBits) {
            minBits = v.bitPattern
        } else if v > Double(bitPattern: maxBits) {
            maxBits = v.bitPattern
        }
    }

    /// A page's INT64 values (PLAIN, 8 bytes little-endian each), signed
    /// order: kept in registers over the page, merged once (per value
    /// through the class, ~12 instructions a cell).
    func add(signed p: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        let (lo, hi) = Self.bounds(p, count, as: Int64.self)
        add(signed: lo)
        add(signed: hi)
    }

    /// As `add(signed:count:)`, unsigned order.
    func add(unsigned p: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        let (lo, hi) = Self.bounds(p, count, as: UInt64.self)
        add(unsigned: lo)
        add(unsigned: hi)
    }

    /// The least and greatest of `count` (at least 1) little-endian words at `p`.
    @inline(__always)
    private static func bounds<T: FixedWidthInteger>(_ p: UnsafeRawPointer, _ count: Int, as: T.Type) -> (T, T) {
        var lo = T(littleEndian: p.loadUnaligned(as: T.self)), hi = lo
        for i in 1..<count {
            let v = T(littleEndian: p.loadUnaligned(fromByteOffset: i &* MemoryLayout<T>.size, as: T.self))
            lo = min(lo, v)
            hi = max(hi, v)
        }
        return (lo, hi)
    }

    /// A page's DOUBLE values: NaNs counted, the rest as `add(double:)`
    /// takes them one by one (which of two zeros is kept doesn't matter:
    /// `write` gives a zero bound its sign).
    func add(doubles p: UnsafeRawPointer, count: Int) {
        var lo = Double(bitPattern: minBits), hi = Double(bitPattern: maxBits)
        var has = hasMinMax
        var nans: Int64 = 0
        for i in 0..<count {
            let v = Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self)))
            if v.isNaN {
                nans += 1
            } else if !has {
                lo = v; hi = v; has = true
            } else if v < lo {
                lo = v
            } else if v > hi {
                hi = v
            }
        }
        nanCount += nans
        if has {
            minBits = lo.bitPattern; maxBits = hi.bitPattern; hasMinMax = true
        }
    }

    @inline(__always)
    func add(bytes v: UnsafeRawBufferPointer) {
        if !hasMinMax {
            minBytes.append(v); maxBytes.append(v); hasMinMax = true
        } else if Self.compare(v, minBytes.bytes) < 0 {
            minBytes.removeAll(); minBytes.append(v)
        } else if Self.compare(v, maxBytes.bytes) > 0 {
            maxBytes.removeAll(); maxBytes.append(v)
        }
    }

    /// Bytewise unsigned order, a prefix before its extensions.
    @inline(__always)
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        ByteBuffer.compare(a, b)
    }

    /// Writes ColumnMetaData's field 12, a Statistics struct: 1 max and 2 min
    /// (deprecated, signed order only, so just for INT64, TIMESTAMP and
    /// DOUBLE), 3 null_count, 5 max_value, 6 min_value, 7 is_max_value_exact,
    /// 8 is_min_value_exact, 9 nan_count (DOUBLE, where TYPE_ORDER requires it).
    func write(_ t: inout ThriftCompactWriter, field: Int16) {
        t.beginStruct(field)
        var lo = minBits, hi = maxBits
        if type == .double {
            if Double(bitPattern: lo) == 0 { lo = (-0.0 as Double).bitPattern }
            if Double(bitPattern: hi) == 0 { hi = (0.0 as Double).bitPattern }
        }
        let legacy = type == .int64 || type == .timestampNanos || type == .double
        withBounds(lo, hi) { low, high in
            if hasMinMax && legacy {
                t.field(1, binary: high)
                t.field(2, binary: low)
            }
            t.field(3, i64: nullCount)
            if hasMinMax {
                t.field(5, binary: high)
                t.field(6, binary: low)
                t.field(7, bool: true)
                t.field(8, bool: true)
            }
        }
        if type == .double { t.field(9, i64: nanCount) }
        t.endStruct()
    }

    /// The PLAIN bytes of the bounds (BYTE_ARRAY without its length prefix).
    private func withBounds(_ lo: UInt64, _ hi: UInt64,
                            _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        if type == .string {
            body(minBytes.bytes, maxBytes.bytes)
            return
        }
        withUnsafeBytes(of: lo.littleEndian) { low in
            withUnsafeBytes(of: hi.littleEndian) { high in body(low, high) }
        }
    }
}
