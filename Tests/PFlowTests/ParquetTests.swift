import CZlib
import Foundation
import XCTest
@testable import PFlowParquet

// MARK: - Encoders, byte by byte

/// Thrift compact protocol and RLE/bit-packed hybrid bytes, computed by hand
/// from the specifications (Thrift's compact protocol, Parquet's Encodings.md).
final class ParquetEncodingTests: XCTestCase {
    private func thrift(_ body: (inout ThriftCompactWriter) -> Void) -> [UInt8] {
        let out = ByteBuffer(capacity: 4)  // small: growth is exercised too
        var t = ThriftCompactWriter(into: out)
        body(&t)
        return out.array
    }

    func testZigzagVarints() {
        XCTAssertEqual(ThriftCompactWriter.zigzag(Int32(0)), 0)
        XCTAssertEqual(ThriftCompactWriter.zigzag(Int32(-1)), 1)
        XCTAssertEqual(ThriftCompactWriter.zigzag(Int32(1)), 2)
        XCTAssertEqual(ThriftCompactWriter.zigzag(Int32(-2)), 3)
        XCTAssertEqual(ThriftCompactWriter.zigzag(Int32.max), 0xFFFF_FFFE)
        XCTAssertEqual(ThriftCompactWriter.zigzag(Int32.min), 0xFFFF_FFFF)
        XCTAssertEqual(ThriftCompactWriter.zigzag(Int64.min), UInt64.max)
        XCTAssertEqual(ThriftCompactWriter.zigzag(Int64(-64)), 127)
        // i32 field 1 = 1: header 0x15 (delta 1, type 5), zigzag 2.
        XCTAssertEqual(thrift { $0.field(1, i32: 1) }, [0x15, 0x02])
        // 300 → zigzag 600 = 0b100_1011000 → 0xD8 0x04.
        XCTAssertEqual(thrift { $0.field(1, i32: 300) }, [0x15, 0xD8, 0x04])
        XCTAssertEqual(thrift { $0.field(1, i32: -1) }, [0x15, 0x01])
        XCTAssertEqual(thrift { $0.field(1, i32: Int32.max) }, [0x15, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F])
        // i64 (type 6), i16 (type 4), i8 (type 3: one raw byte, no zigzag).
        XCTAssertEqual(thrift { $0.field(1, i64: Int64.min) },
                       [0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        XCTAssertEqual(thrift { $0.field(1, i64: 1 << 32) }, [0x16, 0x80, 0x80, 0x80, 0x80, 0x20])
        XCTAssertEqual(thrift { $0.field(1, i16: -3) }, [0x14, 0x05])
        XCTAssertEqual(thrift { $0.field(1, i8: 64) }, [0x13, 0x40])
        XCTAssertEqual(thrift { $0.field(1, i8: -1) }, [0x13, 0xFF])
        // double (type 7): eight bytes little-endian.
        XCTAssertEqual(thrift { $0.field(1, double: 1.0) }, [0x17, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
    }

    func testFieldHeaders() {
        // Deltas 1..15 fit in the header's high nibble.
        XCTAssertEqual(thrift { t in t.field(1, i32: 0); t.field(5, i32: 0); t.field(20, i32: 0) },
                       [0x15, 0x00, 0x45, 0x00, 0xF5, 0x00])
        // Delta 16 and more, or a smaller id: type byte, then the id as a zigzag varint.
        XCTAssertEqual(thrift { t in t.field(1, i32: 0); t.field(17, i32: 7) }, [0x15, 0x00, 0x05, 0x22, 0x0E])
        XCTAssertEqual(thrift { t in t.field(5, i32: 0); t.field(2, i32: 0) }, [0x55, 0x00, 0x05, 0x04, 0x00])
        // The first field with an id above 15.
        XCTAssertEqual(thrift { $0.field(16, i64: 1) }, [0x06, 0x20, 0x02])
        XCTAssertEqual(thrift { $0.field(300, i32: 1) }, [0x05, 0xD8, 0x04, 0x02])
    }

    func testBoolsLiveInTheTypeNibble() {
        // true is type 1, false type 2; no value byte.
        XCTAssertEqual(thrift { t in t.field(1, bool: true); t.field(2, bool: false) }, [0x11, 0x12])
        XCTAssertEqual(thrift { t in t.field(1, bool: false); t.field(20, bool: true) }, [0x12, 0x01, 0x28])
    }

    func testBinaryAndStrings() {
        XCTAssertEqual(thrift { $0.field(4, string: "abc") }, [0x48, 0x03, 0x61, 0x62, 0x63])
        XCTAssertEqual(thrift { $0.field(1, string: "") }, [0x18, 0x00])
        // "é" is two UTF-8 bytes.
        XCTAssertEqual(thrift { $0.field(1, string: "é") }, [0x18, 0x02, 0xC3, 0xA9])
        let long = [UInt8](repeating: 0x7A, count: 200)
        let bytes = thrift { t in long.withUnsafeBytes { t.field(1, binary: $0) } }
        XCTAssertEqual(Array(bytes.prefix(3)), [0x18, 0xC8, 0x01])
        XCTAssertEqual(bytes.count, 3 + 200)
    }

    func testLists() {
        // Fewer than 15 elements: size in the header's high nibble.
        XCTAssertEqual(thrift { t in
            t.beginList(1, of: .i32, count: 3)
            for v: Int32 in [1, 2, 3] { t.element(i32: v) }
        }, [0x19, 0x35, 0x02, 0x04, 0x06])
        XCTAssertEqual(thrift { $0.beginList(2, of: .structure, count: 0) }, [0x29, 0x0C])
        XCTAssertEqual(thrift { t in t.beginList(3, of: .binary, count: 1); t.element(string: "ab") },
                       [0x39, 0x18, 0x02, 0x61, 0x62])
        XCTAssertEqual(thrift { t in t.beginList(1, of: .i32, count: 14) }, [0x19, 0xE5])
        // 15 or more: nibble 15, then the size as a varint.
        XCTAssertEqual(thrift { t in
            t.beginList(1, of: .i32, count: 15)
            for _ in 0..<15 { t.element(i32: 0) }
        }, [0x19, 0xF5, 0x0F] + [UInt8](repeating: 0, count: 15))
        XCTAssertEqual(thrift { $0.beginList(1, of: .i64, count: 200) }, [0x19, 0xF6, 0xC8, 0x01])
    }

    func testStructsNestAndStop() {
        // Field ids restart inside a struct and resume after it; each struct ends with 0.
        XCTAssertEqual(thrift { t in
            t.field(1, i32: 1)
            t.beginStruct(2)
            t.field(1, i32: 5)
            t.emptyStruct(3)
            t.endStruct()
            t.field(3, i32: 7)
            t.endStruct()
        }, [0x15, 0x02, 0x1C, 0x15, 0x0A, 0x2C, 0x00, 0x00, 0x15, 0x0E, 0x00])
        // Structs as list elements have no header; the field after the list
        // counts from the list's id.
        var depth = -1
        XCTAssertEqual(thrift { t in
            t.beginList(1, of: .structure, count: 2)
            t.beginStructElement(); t.field(1, i32: 1); t.endStruct()
            t.beginStructElement(); t.field(2, i32: 2); t.endStruct()
            t.field(2, i32: 0)
            t.endStruct()
            depth = t.depth
        }, [0x19, 0x2C, 0x15, 0x02, 0x00, 0x25, 0x04, 0x00, 0x15, 0x00, 0x00])
        XCTAssertEqual(depth, 0)
    }

    func testPageHeaders() {
        // PageHeader{type DATA_PAGE, uncompressed 100, compressed 90,
        // data_page_header{num_values 10, PLAIN, RLE, RLE}}.
        let data = ByteBuffer()
        Format.dataPageHeader(into: data, uncompressed: 100, compressed: 90, values: 10, encoding: .plain)
        XCTAssertEqual(data.array, [0x15, 0x00, 0x15, 0xC8, 0x01, 0x15, 0xB4, 0x01,
                                    0x2C, 0x15, 0x14, 0x15, 0x00, 0x15, 0x06, 0x15, 0x06, 0x00, 0x00])
        // PageHeader{type DICTIONARY_PAGE (2), 7: dictionary_page_header{num_values 3, PLAIN}}.
        let dictionary = ByteBuffer()
        Format.dictionaryPageHeader(into: dictionary, uncompressed: 20, compressed: 20, values: 3)
        XCTAssertEqual(dictionary.array, [0x15, 0x04, 0x15, 0x28, 0x15, 0x28,
                                          0x4C, 0x15, 0x06, 0x15, 0x00, 0x00, 0x00])
        let rleDictionary = ByteBuffer()
        Format.dataPageHeader(into: rleDictionary, uncompressed: 1, compressed: 1, values: 1, encoding: .rleDictionary)
        XCTAssertEqual(rleDictionary.array[10], 0x10)  // encoding 8, zigzag 16
    }

    func testSchemaElements() {
        func element(_ c: ParquetColumn) -> [UInt8] {
            thrift { Format.schemaElement(&$0, column: c) }
        }
        // 1 type INT64 (2), 3 OPTIONAL (1), 4 name "a"; no annotation.
        XCTAssertEqual(element(ParquetColumn("a", .int64)), [0x15, 0x04, 0x25, 0x02, 0x18, 0x01, 0x61, 0x00])
        XCTAssertEqual(element(ParquetColumn("a", .double)), [0x15, 0x0A, 0x25, 0x02, 0x18, 0x01, 0x61, 0x00])
        // + 6 converted_type UINT_64 (14), 10 logicalType{10 INTEGER{1 bitWidth 64, 2 isSigned false}}.
        XCTAssertEqual(element(ParquetColumn("a", .uint64)),
                       [0x15, 0x04, 0x25, 0x02, 0x18, 0x01, 0x61, 0x25, 0x1C,
                        0x4C, 0xAC, 0x13, 0x40, 0x12, 0x00, 0x00, 0x00])
        // BYTE_ARRAY (6), UTF8 (0), logicalType{1 STRING{}}.
        XCTAssertEqual(element(ParquetColumn("a", .string)),
                       [0x15, 0x0C, 0x25, 0x02, 0x18, 0x01, 0x61, 0x25, 0x00, 0x4C, 0x1C, 0x00, 0x00, 0x00])
        // logicalType{8 TIMESTAMP{1 isAdjustedToUTC true, 2 unit{3 NANOS{}}}}, no converted type.
        XCTAssertEqual(element(ParquetColumn("a", .timestampNanos)),
                       [0x15, 0x04, 0x25, 0x02, 0x18, 0x01, 0x61, 0x6C, 0x8C, 0x11, 0x1C, 0x3C, 0x00, 0x00,
                        0x00, 0x00, 0x00])
    }

    private func hybrid<T: FixedWidthInteger & UnsignedInteger>(_ values: [T], width: Int) -> [UInt8] {
        let out = ByteBuffer(capacity: 4)
        values.withUnsafeBufferPointer { HybridEncoder.encode($0, bitWidth: width, into: out) }
        return out.array
    }

    func testHybridEncodingBytes() {
        // A repeat: header count << 1, then the value in one byte.
        XCTAssertEqual(hybrid([UInt8](repeating: 1, count: 10), width: 1), [0x14, 0x01])
        XCTAssertEqual(hybrid([UInt8](repeating: 0, count: 300), width: 1), [0xD8, 0x04, 0x00])
        // A short stretch: one bit-packed group (header 1 << 1 | 1), LSB first, zero-padded.
        XCTAssertEqual(hybrid([UInt8]([1, 0, 1]), width: 1), [0x03, 0x05])
        // A literal stretch before a repeat borrows its first values to fill the group.
        XCTAssertEqual(hybrid([UInt8]([1, 0, 1, 0, 1]) + [UInt8](repeating: 1, count: 20), width: 1),
                       [0x03, 0xF5, 0x22, 0x01])
        XCTAssertEqual(hybrid([UInt8]((0..<64).map { UInt8($0 & 1) }), width: 1),
                       [0x11] + [UInt8](repeating: 0xAA, count: 8))
        // Encodings.md's example: 0..7 with bit width 3 packs to 10001000 11000110 11111010.
        XCTAssertEqual(hybrid([UInt32](0..<8), width: 3), [0x03, 0x88, 0xC6, 0xFA])
        // Wider than a byte: the repeated value takes ceil(9 / 8) = 2 bytes.
        XCTAssertEqual(hybrid([UInt32](repeating: 300, count: 10), width: 9), [0x14, 0x2C, 0x01])
        XCTAssertEqual(hybrid([UInt8](), width: 1), [])
        XCTAssertEqual(HybridEncoder.bitWidth(forMax: 0), 1)
        XCTAssertEqual(HybridEncoder.bitWidth(forMax: 1), 1)
        XCTAssertEqual(HybridEncoder.bitWidth(forMax: 2), 2)
        XCTAssertEqual(HybridEncoder.bitWidth(forMax: 255), 8)
        XCTAssertEqual(HybridEncoder.bitWidth(forMax: 256), 9)
        XCTAssertEqual(HybridEncoder.bitWidth(forMax: 65_535), 16)
    }

    func testHybridRoundTripsThroughAReferenceDecoder() {
        var rng = ParquetRandom(seed: 7)
        for trial in 0..<300 {
            let width = 1 + trial % 20
            let limit = UInt32(truncatingIfNeeded: (UInt64(1) << UInt64(width)) - 1)
            var values: [UInt32] = []
            let n = Int(rng.next() % 600)
            while values.count < n {
                let v = UInt32(truncatingIfNeeded: rng.next()) & limit
                // Mixed repeats and noise, so runs meet stretches at every alignment.
                let repeats = rng.next() % 3 == 0 ? Int(rng.next() % 40) : 1
                values += [UInt32](repeating: v, count: min(repeats, n - values.count))
            }
            let bytes = hybrid(values, width: width)
            XCTAssertEqual(ParquetReader.decodeHybrid(bytes[...], bitWidth: width, count: n), values.map { UInt64($0) },
                           "width \(width), trial \(trial)")
        }
    }

    /// DELTA_BINARY_PACKED: the spec's own example's bytes, then random runs
    /// (steady steps, noise, 64-bit extremes whose deltas wrap) of every
    /// length around the block and miniblock sizes, through the reference decoder.
    func testDeltaEncodingBytesAndRoundTrips() throws {
        func encode(_ values: [Int64]) -> [UInt8] {
            let out = ByteBuffer()
            values.map { UInt64(bitPattern: $0).littleEndian }.withUnsafeBytes {
                DeltaEncoder.encode(plain: $0.baseAddress ?? UnsafeRawPointer(out.base), count: values.count, into: out)
            }
            return out.array
        }
        // Encodings.md: 1 2 3 4 5 -> header (128, 4, 5, zigzag 1), min delta 1
        // (zigzag 2), widths 0 0 0 0, no bodies.
        XCTAssertEqual(encode([1, 2, 3, 4, 5]), [0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0])
        XCTAssertEqual(encode([]), [0x80, 0x01, 0x04, 0x00, 0x00])
        XCTAssertEqual(encode([7]), [0x80, 0x01, 0x04, 0x01, 0x0E])
        var rng = ParquetRandom(seed: 11)
        for trial in 0..<200 {
            let n = [0, 1, 2, 31, 32, 33, 127, 128, 129, 130, 257, 1000][trial % 12] + Int(rng.next() % 3)
            var values: [Int64] = []
            var v = Int64(bitPattern: rng.next())
            for _ in 0..<n {
                switch trial % 4 {
                case 0: v = v &+ 1_000_000
                case 1: v = Int64(bitPattern: rng.next() % 70_000)
                case 2: v = rng.next() % 2 == 0 ? .min : .max
                default: v = Int64(bitPattern: rng.next())
                }
                values.append(v)
            }
            let got = try ParquetReader.decodeDelta(encode(values), count: n)
            XCTAssertEqual(got, values.map { UInt64(bitPattern: $0) }, "trial \(trial), \(n) values")
        }
    }

    func testUTF8Check() {
        func valid(_ b: [UInt8]) -> Bool { b.withUnsafeBytes { UTF8Check.isValid($0) } }
        XCTAssertTrue(valid([]))
        XCTAssertTrue(valid(Array("plain ascii, longer than eight bytes".utf8)))
        XCTAssertTrue(valid(Array("héllo wörld ✓ 𝄞".utf8)))
        XCTAssertFalse(valid([0x80]))
        XCTAssertFalse(valid([0xC0, 0x80]))  // overlong
        XCTAssertFalse(valid([0xE0, 0x80, 0x80]))  // overlong
        XCTAssertFalse(valid([0xED, 0xA0, 0x80]))  // surrogate
        XCTAssertFalse(valid([0xF4, 0x90, 0x80, 0x80]))  // above U+10FFFF
        XCTAssertFalse(valid([0x61, 0x62, 0xE2, 0x9C]))  // cut short
        XCTAssertTrue(valid([0xF4, 0x8F, 0xBF, 0xBF]))
        // Agrees with Swift's own validation on random bytes.
        var rng = ParquetRandom(seed: 11)
        for _ in 0..<5000 {
            // Mostly bytes that can start or continue a sequence, some ASCII.
            let bytes = (0..<Int(rng.next() % 12)).map { _ -> UInt8 in
                let r = rng.next()
                return r % 4 == 0 ? UInt8(r >> 8 & 0x7F) : UInt8(0x80 | (r >> 8 & 0x7F))
            }
            XCTAssertEqual(valid(bytes), String(validating: bytes, as: UTF8.self) != nil, "\(bytes)")
        }
    }
}

/// A small deterministic generator (ParquetRandom64), so test data is the same every run.
struct ParquetRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - A reference reader

/// A minimal Parquet reader written from the specification, for files as
/// this writer makes them (flat, OPTIONAL, PLAIN/RLE_DICTIONARY, data page
/// v1, uncompressed or GZIP). It checks the layout and every cell on
/// machines without pyarrow, and reads what the footer says field by field.
struct ParquetReader {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A decoded Thrift compact value: structs by field id.
    indirect enum Value {
        case bool(Bool), int(Int64), double(Double), binary([UInt8]), list([Value]), structure([Int16: Value])

        subscript(_ id: Int16) -> Value? {
            if case .structure(let fields) = self { return fields[id] }
            return nil
        }
        var int: Int64? { if case .int(let v) = self { return v }; return nil }
        var bool: Bool? { if case .bool(let v) = self { return v }; return nil }
        var bytes: [UInt8]? { if case .binary(let v) = self { return v }; return nil }
        var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
        var items: [Value] { if case .list(let v) = self { return v }; return [] }
        var fieldIDs: [Int16] { if case .structure(let f) = self { return f.keys.sorted() }; return [] }
    }

    /// Thrift compact protocol, decoding side.
    struct Thrift {
        let bytes: [UInt8]
        var pos: Int

        mutating func byte() throws -> UInt8 {
            guard pos < bytes.count else { throw Failure(description: "thrift: ran off the end at \(pos)") }
            defer { pos += 1 }
            return bytes[pos]
        }

        mutating func varint() throws -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try byte()
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
                if shift > 63 { throw Failure(description: "thrift: varint too long") }
            }
        }

        mutating func zigzag() throws -> Int64 {
            let v = try varint()
            return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
        }

        mutating func structure() throws -> Value {
            var fields: [Int16: Value] = [:]
            var last: Int16 = 0
            while true {
                let header = try byte()
                if header == 0 { return .structure(fields) }
                let type = header & 0x0F
                let delta = Int16(header >> 4)
                let id = delta != 0 ? last + delta : Int16(truncatingIfNeeded: try zigzag())
                if fields[id] != nil { throw Failure(description: "thrift: field \(id) twice") }
                fields[id] = try value(type)
                last = id
            }
        }

        mutating func value(_ type: UInt8) throws -> Value {
            switch type {
            case 1: return .bool(true)
            case 2: return .bool(false)
            case 3: return .int(Int64(Int8(bitPattern: try byte())))
            case 4, 5, 6: return .int(try zigzag())
            case 7:
                var bits: UInt64 = 0
                for k in 0..<8 { bits |= UInt64(try byte()) << UInt64(8 * k) }
                return .double(Double(bitPattern: bits))
            case 8:
                let n = Int(try varint())
                guard pos + n <= bytes.count else { throw Failure(description: "thrift: binary past the end") }
                defer { pos += n }
                return .binary(Array(bytes[pos..<(pos + n)]))
            case 9:
                let header = try byte()
                var n = Int(header >> 4)
                if n == 15 { n = Int(try varint()) }
                let element = header & 0x0F
                var items: [Value] = []
                for _ in 0..<n {
                    if element == 1 || element == 2 {
                        items.append(.bool(try byte() == 1))
                    } else {
                        items.append(try value(element))
                    }
                }
                return .list(items)
            case 12: return try structure()
            default: throw Failure(description: "thrift: type \(type) at \(pos - 1)")
            }
        }
    }

    /// DELTA_BINARY_PACKED as Encodings.md describes it, read bit by bit
    /// (no shortcuts shared with the writer); checks the header's count and
    /// that the page holds no bytes past the last block.
    static func decodeDelta(_ b: [UInt8], count: Int) throws -> [UInt64] {
        let (values, used) = try decodeDelta(b, count: count, from: 0)
        guard used == b.count else { throw Failure(description: "delta: \(b.count - used) bytes left") }
        return values
    }

    /// One DELTA_BINARY_PACKED run starting at `start`; also returns where it ends
    /// (DELTA_BYTE_ARRAY puts two runs and the suffix bytes one after another).
    static func decodeDelta(_ b: [UInt8], count: Int, from start: Int) throws -> ([UInt64], Int) {
        var p = start
        func varint() throws -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard p < b.count, shift < 64 else { throw Failure(description: "delta: varint") }
                let x = b[p]
                p += 1
                v |= UInt64(x & 0x7F) << shift
                if x < 0x80 { return v }
                shift += 7
            }
        }
        func unzigzag(_ v: UInt64) -> UInt64 { (v >> 1) ^ (0 &- (v & 1)) }
        let blockSize = Int(try varint()), miniblocks = Int(try varint())
        let total = Int(try varint())
        guard blockSize % 128 == 0, miniblocks > 0, (blockSize / miniblocks) % 32 == 0 else {
            throw Failure(description: "delta: block \(blockSize) / \(miniblocks)")
        }
        guard total == count else { throw Failure(description: "delta: \(total) values for \(count)") }
        var out: [UInt64] = []
        var last = unzigzag(try varint())
        if total > 0 { out.append(last) }
        let perMini = blockSize / miniblocks
        while out.count < total {
            let minDelta = unzigzag(try varint())
            guard p + miniblocks <= b.count else { throw Failure(description: "delta: widths") }
            let widths = Array(b[p..<(p + miniblocks)])
            p += miniblocks
            for m in 0..<miniblocks where out.count < total {
                let w = Int(widths[m])
                guard w <= 64 else { throw Failure(description: "delta: width \(w)") }
                var bitPos = 0
                for _ in 0..<perMini {
                    var v: UInt64 = 0
                    for k in 0..<w {
                        let at = p * 8 + bitPos + k
                        guard at / 8 < b.count else { throw Failure(description: "delta: past the end") }
                        if b[at / 8] >> UInt8(at % 8) & 1 == 1 { v |= 1 << UInt64(k) }
                    }
                    bitPos += w
                    if out.count < total {
                        last = last &+ minDelta &+ v
                        out.append(last)
                    }
                }
                p += perMini * w / 8
            }
        }
        return (out, p)
    }

    /// The RLE/bit-packed hybrid, decoding `count` values.
    static func decodeHybrid(_ bytes: ArraySlice<UInt8>, bitWidth: Int, count: Int) -> [UInt64] {
        var out: [UInt64] = []
        var p = bytes.startIndex
        func varint() -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while p < bytes.endIndex {
                let b = bytes[p]
                p += 1
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { break }
                shift += 7
            }
            return v
        }
        while out.count < count && p < bytes.endIndex {
            let header = varint()
            if header & 1 == 1 {
                let values = Int(header >> 1) * 8
                var acc: UInt64 = 0
                var bits = 0
                for _ in 0..<values {
                    while bits < bitWidth && p < bytes.endIndex {
                        acc |= UInt64(bytes[p]) << UInt64(bits)
                        p += 1
                        bits += 8
                    }
                    if out.count < count { out.append(acc & ((1 << UInt64(bitWidth)) - 1)) }
                    acc >>= UInt64(bitWidth)
                    bits -= bitWidth
                }
            } else {
                var v: UInt64 = 0
                for k in 0..<((bitWidth + 7) / 8) where p < bytes.endIndex {
                    v |= UInt64(bytes[p]) << UInt64(8 * k)
                    p += 1
                }
                out += [UInt64](repeating: v, count: min(Int(header >> 1), count - out.count))
            }
        }
        return out
    }

    static func inflate(_ input: ArraySlice<UInt8>, size: Int) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: gzip wrapper only, so a zlib or raw stream fails here.
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: size + 1)
        var input = Array(input)
        let rc = input.withUnsafeMutableBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                stream.next_in = src.baseAddress
                stream.avail_in = uInt(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = uInt(dst.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END, stream.avail_in == 0, Int(stream.total_out) == size else {
            throw Failure(description: "gzip page: inflate \(rc), \(stream.total_out) of \(size) bytes")
        }
        return Array(out.prefix(size))
    }

    let data: [UInt8]
    let meta: Value
    let footerLength: Int
    /// The leaf SchemaElements.
    var leaves: [Value] { Array(meta[2]?.items.dropFirst() ?? []) }
    var rowGroups: [Value] { meta[4]?.items ?? [] }

    init(path: String) throws {
        data = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let magic: [UInt8] = Array("PAR1".utf8)
        guard data.count >= 12, Array(data.prefix(4)) == magic, Array(data.suffix(4)) == magic else {
            throw Failure(description: "no PAR1 at both ends")
        }
        let n = data.count
        footerLength = Int(data[n - 8]) | Int(data[n - 7]) << 8 | Int(data[n - 6]) << 16 | Int(data[n - 5]) << 24
        guard footerLength + 12 <= n else { throw Failure(description: "footer length \(footerLength)") }
        var t = Thrift(bytes: Array(data[(n - 8 - footerLength)..<(n - 8)]), pos: 0)
        meta = try t.structure()
        guard t.pos == footerLength else { throw Failure(description: "footer has \(footerLength - t.pos) bytes left over") }
    }

    /// A page: its header and its body, decompressed.
    struct Page {
        var header: Value
        var headerSize: Int
        var compressedSize: Int
        var body: [UInt8]
    }

    func page(at offset: Int, codec: Int64) throws -> Page {
        var t = Thrift(bytes: Array(data[offset..<min(data.count, offset + 1024)]), pos: 0)
        let header = try t.structure()
        guard let size = header[2]?.int, let compressed = header[3]?.int else { throw Failure(description: "page header") }
        let start = offset + t.pos
        guard start + Int(compressed) <= data.count else { throw Failure(description: "page past the end") }
        let raw = data[start..<(start + Int(compressed))]
        let body = codec == 2 ? try Self.inflate(raw, size: Int(size)) : Array(raw)
        guard body.count == Int(size) else { throw Failure(description: "page size \(body.count) != \(size)") }
        return Page(header: header, headerSize: t.pos, compressedSize: Int(compressed), body: body)
    }

    /// Every cell of column `j` as text (nil for null), over all row groups,
    /// checking each chunk's metadata against its pages on the way.
    func cells(_ j: Int) throws -> [String?] {
        let leaf = leaves[j]
        let physical = leaf[1]?.int ?? -1
        let unsigned = leaf[10]?[10]?[2]?.bool == false
        var out: [String?] = []
        for group in rowGroups {
            guard let meta = group[1]?.items[j][3], let codec = meta[4]?.int, let count = meta[5]?.int,
                  let dataOffset = meta[9]?.int else { throw Failure(description: "column chunk metadata") }
            var offset = Int(meta[11]?.int ?? dataOffset)
            var dictionary: [[UInt8]] = []
            var values = 0
            var compressedTotal = 0
            var uncompressedTotal = 0
            while values < Int(count) {
                let page = try self.page(at: offset, codec: codec)
                compressedTotal += page.headerSize + page.compressedSize
                uncompressedTotal += page.headerSize + page.body.count
                offset += page.headerSize + page.compressedSize
                let body = page.body
                if page.header[1]?.int == 2 {
                    guard let n = page.header[7]?[1]?.int, page.header[7]?[2]?.int == 0 else {
                        throw Failure(description: "dictionary page header")
                    }
                    var p = 0
                    for _ in 0..<n {
                        let length = Int(body[p]) | Int(body[p + 1]) << 8 | Int(body[p + 2]) << 16 | Int(body[p + 3]) << 24
                        dictionary.append(Array(body[(p + 4)..<(p + 4 + length)]))
                        p += 4 + length
                    }
                    guard p == body.count else { throw Failure(description: "dictionary page has bytes left") }
                    continue
                }
                guard page.header[1]?.int == 0, let dph = page.header[5], let n = dph[1]?.int,
                      dph[3]?.int == 3 else { throw Failure(description: "data page header") }
                let levelBytes = Int(body[0]) | Int(body[1]) << 8 | Int(body[2]) << 16 | Int(body[3]) << 24
                let levels = Self.decodeHybrid(body[4..<(4 + levelBytes)], bitWidth: 1, count: Int(n))
                guard levels.count == Int(n) else { throw Failure(description: "definition levels") }
                let present = levels.filter { $0 == 1 }.count
                var p = 4 + levelBytes
                var decoded: [String] = []
                switch dph[2]?.int {
                case 0:  // PLAIN
                    for _ in 0..<present {
                        if physical == 6 {
                            let length = Int(body[p]) | Int(body[p + 1]) << 8 | Int(body[p + 2]) << 16 | Int(body[p + 3]) << 24
                            decoded.append(String(decoding: body[(p + 4)..<(p + 4 + length)], as: UTF8.self))
                            p += 4 + length
                        } else {
                            var bits: UInt64 = 0
                            for k in 0..<8 { bits |= UInt64(body[p + k]) << UInt64(8 * k) }
                            p += 8
                            decoded.append(physical == 5 || !unsigned ? String(Int64(bitPattern: bits)) : String(bits))
                        }
                    }
                    guard p == body.count else { throw Failure(description: "PLAIN page has bytes left") }
                case 8:  // RLE_DICTIONARY
                    let width = Int(body[p])
                    let ids = Self.decodeHybrid(body[(p + 1)...], bitWidth: width, count: present)
                    guard ids.count == present, ids.allSatisfy({ $0 < dictionary.count }) else {
                        throw Failure(description: "dictionary ids")
                    }
                    decoded = ids.map { String(decoding: dictionary[Int($0)], as: UTF8.self) }
                case 5:  // DELTA_BINARY_PACKED (INT64 only)
                    guard physical == 2 else { throw Failure(description: "DELTA on physical type \(physical)") }
                    let raw = try Self.decodeDelta(Array(body[p...]), count: present)
                    decoded = raw.map { physical == 5 || !unsigned ? String(Int64(bitPattern: $0)) : String($0) }
                case 7:  // DELTA_BYTE_ARRAY (strings): prefix lengths, suffix lengths, suffix bytes
                    guard physical == 6 else { throw Failure(description: "DELTA_BYTE_ARRAY on physical type \(physical)") }
                    let rest = Array(body[p...])
                    let (prefixes, afterPrefixes) = try Self.decodeDelta(rest, count: present, from: 0)
                    let (suffixLengths, afterLengths) = try Self.decodeDelta(rest, count: present, from: afterPrefixes)
                    var q = afterLengths
                    var previous: [UInt8] = []
                    for k in 0..<present {
                        let shared = Int(prefixes[k]), length = Int(suffixLengths[k])
                        guard shared <= previous.count, q + length <= rest.count else {
                            throw Failure(description: "DELTA_BYTE_ARRAY value \(k)")
                        }
                        let value = Array(previous[0..<shared]) + Array(rest[q..<(q + length)])
                        q += length
                        decoded.append(String(decoding: value, as: UTF8.self))
                        previous = value
                    }
                    guard q == rest.count else { throw Failure(description: "DELTA_BYTE_ARRAY page has bytes left") }
                default:
                    throw Failure(description: "encoding \(String(describing: dph[2]?.int))")
                }
                var next = 0
                for level in levels {
                    if level == 1 { out.append(decoded[next]); next += 1 } else { out.append(nil) }
                }
                values += Int(n)
            }
            guard values == Int(count), meta[7]?.int == Int64(compressedTotal),
                  meta[6]?.int == Int64(uncompressedTotal) else {
                throw Failure(description: "column \(j): sizes in ColumnMetaData don't match its pages")
            }
        }
        return out
    }
}

// MARK: - Test tables

/// A cell as the tests hold it.
enum Cell: Equatable {
    case null, int(Int64), uint(UInt64), double(Double), string(String), time(Int64)

    /// The text every reader's output is compared in: integers in decimal,
    /// doubles as the decimal of their bit pattern (exact, NaN and -0.0 too),
    /// strings as themselves, timestamps as nanoseconds; nil for null.
    var text: String? {
        switch self {
        case .null: return nil
        case .int(let v), .time(let v): return String(v)
        case .uint(let v): return String(v)
        case .double(let v): return String(Int64(bitPattern: v.bitPattern))
        case .string(let s): return s
        }
    }
}

struct Table {
    var columns: [ParquetColumn]
    var rows: [[Cell]]

    func column(_ j: Int) -> [String?] { rows.map { $0[j].text } }

    /// Writes the table through a ParquetWriter.
    func write(to path: String, compression: ParquetCompression = .gzip, rowGroupRows: Int = 1000) throws {
        let w = try ParquetWriter(path: path, columns: columns, compression: compression, rowGroupRows: rowGroupRows)
        for row in rows {
            for (j, cell) in row.enumerated() {
                switch cell {
                case .null: w.appendNull(column: j)
                case .int(let v), .time(let v): w.append(v, column: j)
                case .uint(let v): w.append(v, column: j)
                case .double(let v): w.append(v, column: j)
                case .string(let s): w.append(s, column: j)
                }
            }
            try w.endRow()
        }
        try w.close()
    }

    /// Every type, nulls in every column, dictionary and PLAIN strings,
    /// extremes (Int64.min/max, UInt64 above Int64.max, ±0.0, ±inf, NaN,
    /// empty and long and non-ASCII strings, times before 1970).
    static func allTypes(rows n: Int, seed: UInt64 = 1) -> Table {
        let columns = [
            ParquetColumn("i64", .int64), ParquetColumn("u64", .uint64), ParquetColumn("f64", .double),
            ParquetColumn("proto", .string, dictionary: true), ParquetColumn("note", .string),
            ParquetColumn("start", .timestampNanos), ParquetColumn("host", .string, dictionary: true),
            ParquetColumn("only_nulls", .string, dictionary: true),
        ]
        var rng = ParquetRandom(seed: seed)
        let protos = ["tcp", "udp", "icmp", "icmpv6", "47", ""]
        let hosts = ["example.com", "é.example", "zz.example", "a", "ünïcødé ✓", "日本.jp"]
        let specialInts: [Int64] = [Int64.min, Int64.max, 0, -1, 1]
        let specialUInts: [UInt64] = [UInt64.max, UInt64(Int64.max) + 1, 0, 1, 65535]
        let specialDoubles: [Double] = [-0.0, 0.0, .infinity, -.infinity, .nan, 1e-300, -1.5e300, 0.1]
        var rows: [[Cell]] = []
        for i in 0..<n {
            let r = rng.next()
            var row: [Cell] = [
                i % 97 == 3 ? .int(specialInts[(i / 97) % specialInts.count]) : .int(Int64(bitPattern: r) >> 20),
                i % 89 == 5 ? .uint(specialUInts[(i / 89) % specialUInts.count]) : .uint(r >> UInt64(i % 64)),
                i % 83 == 7 ? .double(specialDoubles[(i / 83) % specialDoubles.count])
                    : .double(Double(Int64(bitPattern: r) >> 11) / 1024),
                .string(protos[Int(r >> 40) % protos.count]),
                .string(i % 211 == 0 ? String(repeating: "long ✓ ", count: 400) : "row \(i) \(r >> 50)"),
                .time(1_700_000_000_123_456_789 + Int64(i) * 1_000_003 - (i % 500 == 1 ? 1_800_000_000_000_000_000 : 0)),
                .string(hosts[Int(r >> 20) % hosts.count] + (i % 3 == 0 ? "" : String(i % 17))),
                .null,
            ]
            // Nulls in every column, at rows that differ per column.
            for j in 0..<row.count where (i + 3 * j) % 13 == 0 || r % 31 == UInt64(j) { row[j] = .null }
            rows.append(row)
        }
        return Table(columns: columns, rows: rows)
    }
}

/// Expected statistics of one chunk, as text (nil: no min/max).
struct ExpectedStats: Equatable {
    var min: String?
    var max: String?
    var nulls: Int

    /// TYPE_ORDER for the column's type: unsigned for uint64, bytewise for
    /// strings, NaN left out of doubles, -0.0 as the smallest zero and +0.0
    /// as the largest.
    init(_ cells: [Cell]) {
        nulls = cells.filter { $0 == .null }.count
        let present = cells.filter { $0 != .null }
        func bounds<T: Comparable>(_ values: [T], _ text: (T) -> String) -> (String?, String?) {
            guard let lo = values.min(), let hi = values.max() else { return (nil, nil) }
            return (text(lo), text(hi))
        }
        switch present.first {
        case .int?, .time?:
            let v = present.compactMap { c -> Int64? in if case .int(let v) = c { return v }; if case .time(let v) = c { return v }; return nil }
            (min, max) = bounds(v) { String($0) }
        case .uint?:
            (min, max) = bounds(present.compactMap { c -> UInt64? in if case .uint(let v) = c { return v }; return nil }) { String($0) }
        case .double?:
            let v = present.compactMap { c -> Double? in if case .double(let v) = c, !v.isNaN { return v }; return nil }
            (min, max) = bounds(v) { String(Int64(bitPattern: $0.bitPattern)) }
            if let lo = v.min(), lo == 0 { min = String(Int64(bitPattern: (-0.0 as Double).bitPattern)) }
            if let hi = v.max(), hi == 0 { max = String(Int64(bitPattern: (0.0 as Double).bitPattern)) }
        case .string?:
            let v = present.compactMap { c -> [UInt8]? in if case .string(let s) = c { return Array(s.utf8) }; return nil }
            let lo = v.min { $0.lexicographicallyPrecedes($1) }, hi = v.max { $0.lexicographicallyPrecedes($1) }
            min = lo.map { String(decoding: $0, as: UTF8.self) }
            max = hi.map { String(decoding: $0, as: UTF8.self) }
        default:
            min = nil
            max = nil
        }
    }

    init(min: String?, max: String?, nulls: Int) {
        self.min = min
        self.max = max
        self.nulls = nulls
    }
}

/// A scratch directory per test, removed afterwards.
class ParquetTestCase: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "pflow-parquet-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        // PFLOW_PARQUET_KEEP=<dir>: keep the files written, to look at them with other tools.
        if let keep = ProcessInfo.processInfo.environment["PFLOW_PARQUET_KEEP"] {
            try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for name in listing() {
                try? FileManager.default.removeItem(atPath: keep + "/" + name)
                try? FileManager.default.moveItem(atPath: dir + "/" + name, toPath: keep + "/" + name)
            }
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    func listing(_ path: String? = nil) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path ?? dir)) ?? []).sorted()
    }
}

// MARK: - Independent readers (pyarrow, duckdb)

/// Runs the Python readers. pyarrow and duckdb are looked for once; if
/// missing, one `pip install` is tried (bounded by `timeout`), and the tests
/// that need them are skipped with the reason if that fails too.
enum PythonReaders {
    /// nil when both import; else why not.
    static let unavailable: String? = probe()

    private static func probe() -> String? {
        if (try? shell(["python3", "-c", "import pyarrow, duckdb"]))?.status == 0 { return nil }
        let install = try? shell(["timeout", "600", "python3", "-m", "pip", "install", "--quiet", "pyarrow", "duckdb"])
        if (try? shell(["python3", "-c", "import pyarrow, duckdb"]))?.status == 0 { return nil }
        let why = install.map { String(decoding: $0.stderr.suffix(300), as: UTF8.self) } ?? "python3 not found"
        return "pyarrow/duckdb not importable and `python3 -m pip install pyarrow duckdb` failed: \(why)"
    }

    static func skipUnlessAvailable() throws {
        if let why = unavailable { throw XCTSkip(why) }
    }

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: Data
    }

    /// Runs `arguments` (through /usr/bin/env), capturing output through
    /// files so that a large output can't fill a pipe and stall.
    static func shell(_ arguments: [String]) throws -> Result {
        let base = NSTemporaryDirectory() + "pflow-py-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        try p.run()
        p.waitUntilExit()
        return Result(status: p.terminationStatus,
                      stdout: (try? Data(contentsOf: URL(fileURLWithPath: base + ".out"))) ?? Data(),
                      stderr: (try? Data(contentsOf: URL(fileURLWithPath: base + ".err"))) ?? Data())
    }

    /// Reads `path` with `reader` ("pyarrow" or "duckdb") and returns the
    /// script's JSON. With `digest`, columns are reduced to CRC-32s.
    static func read(_ path: String, with reader: String, digest: Bool = false) throws -> [String: Any] {
        let script = NSTemporaryDirectory() + "pflow-parquet-read-\(getpid()).py"
        try Data(source.utf8).write(to: URL(fileURLWithPath: script))
        let r = try shell(["python3", script, reader, path, digest ? "digest" : "cells"])
        guard r.status == 0 else {
            throw ParquetReader.Failure(description: "\(reader) failed on \(path): \(String(decoding: r.stderr, as: UTF8.self))")
        }
        guard let json = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any] else {
            throw ParquetReader.Failure(description: "\(reader): no JSON object")
        }
        return json
    }

    /// The cells of `column`, as `Cell.text` would render them.
    static func cells(_ json: [String: Any], _ column: String) -> [String?] {
        ((json["columns"] as? [String: Any])?[column] as? [Any] ?? []).map { $0 as? String }
    }

    static let source = #"""
import json, struct, sys, zlib

reader, path, form = sys.argv[1], sys.argv[2], sys.argv[3]

def bits(v):
    return str(struct.unpack('<q', struct.pack('<d', v))[0])

def texts(values, is_float):
    return [None if v is None else (bits(v) if is_float else str(v)) for v in values]

def column_out(values):
    if form == 'digest':
        joined = '\x1f'.join('\x00' if v is None else v for v in values)
        return {'crc': zlib.crc32(joined.encode('utf-8')), 'count': len(values)}
    return values

out = {}
if reader == 'pyarrow':
    import pyarrow as pa, pyarrow.parquet as pq
    f = pq.ParquetFile(path)
    t = f.read()
    md = f.metadata
    out['schema'] = [[x.name, str(x.type)] for x in t.schema]
    out['rows'] = t.num_rows
    out['row_groups'] = md.num_row_groups
    out['created_by'] = md.created_by
    out['columns'] = {}
    for x in t.schema:
        col = t.column(x.name)
        if pa.types.is_timestamp(x.type):
            col = col.cast(pa.int64())
        out['columns'][x.name] = column_out(texts(col.to_pylist(), pa.types.is_floating(x.type)))
    out['stats'] = []
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        group = []
        for j in range(rg.num_columns):
            c = rg.column(j)
            s = c.statistics
            x = t.schema.field(j)
            e = {'num_values': c.num_values, 'encodings': sorted(c.encodings), 'compression': c.compression,
                 'rows': rg.num_rows, 'nulls': None if s is None else s.null_count,
                 'has_min_max': bool(s is not None and s.has_min_max)}
            if e['has_min_max']:
                lo, hi = (s.min_raw, s.max_raw) if pa.types.is_timestamp(x.type) else (s.min, s.max)
                fl = pa.types.is_floating(x.type)
                e['min'] = bits(lo) if fl else str(lo)
                e['max'] = bits(hi) if fl else str(hi)
            group.append(e)
        out['stats'].append(group)
elif reader == 'duckdb':
    import duckdb
    con = duckdb.connect()
    rel = "read_parquet('" + path.replace("'", "''") + "')"
    desc = con.execute('DESCRIBE SELECT * FROM ' + rel).fetchall()
    names = [d[0] for d in desc]
    types = [d[1] for d in desc]
    quoted = ['"' + n.replace('"', '""') + '"' for n in names]
    out['types'] = [[n, ty] for n, ty in zip(names, types)]
    aggs = ['count(*)']
    for q, ty in zip(quoted, types):
        if ty in ('BIGINT', 'UBIGINT'):
            aggs.append('CAST(sum(%s) AS VARCHAR)' % q)
        elif ty == 'VARCHAR':
            aggs.append('CAST(sum(strlen(%s)) AS VARCHAR)' % q)
        elif ty.startswith('TIMESTAMP'):
            aggs.append('CAST(sum(epoch_ns(%s)) AS VARCHAR)' % q)
        else:
            aggs.append('CAST(count(%s) AS VARCHAR)' % q)
    agg = con.execute('SELECT ' + ', '.join(aggs) + ' FROM ' + rel).fetchone()
    out['count'] = agg[0]
    out['aggregates'] = dict(zip(names, agg[1:]))
    if form == 'cells':
        exprs = ['epoch_ns(%s)' % q if ty.startswith('TIMESTAMP') else q for q, ty in zip(quoted, types)]
        rows = con.execute('SELECT ' + ', '.join(exprs) + ' FROM ' + rel).fetchall()
        out['columns'] = {n: texts([r[j] for r in rows], ty in ('DOUBLE', 'FLOAT'))
                          for j, (n, ty) in enumerate(zip(names, types))}
print(json.dumps(out))
"""#
}

// MARK: - Files

final class ParquetTests: ParquetTestCase {
    private func u32(_ b: [UInt8], _ at: Int) -> Int {
        Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24
    }

    func testFileLayoutAndFooterFields() throws {
        let table = Table.allTypes(rows: 2500)
        let path = dir + "/layout.parquet"
        try table.write(to: path, compression: .none, rowGroupRows: 1000)
        let r = try ParquetReader(path: path)
        let bytes = r.data
        // PAR1, row groups, FileMetaData, its 4-byte LE length, PAR1.
        XCTAssertEqual(Array(bytes.prefix(4)), Array("PAR1".utf8))
        XCTAssertEqual(Array(bytes.suffix(4)), Array("PAR1".utf8))
        XCTAssertEqual(u32(bytes, bytes.count - 8), r.footerLength)

        // FileMetaData: 1 version, 2 schema, 3 num_rows, 4 row_groups, 6 created_by, 7 column_orders.
        XCTAssertEqual(r.meta.fieldIDs, [1, 2, 3, 4, 6, 7])
        XCTAssertEqual(r.meta[1]?.int, 1)
        XCTAssertEqual(r.meta[3]?.int, 2500)
        XCTAssertEqual(r.meta[6]?.string, "pflow")
        let schema = r.meta[2]?.items ?? []
        XCTAssertEqual(schema.count, table.columns.count + 1)
        XCTAssertEqual(schema.first?[4]?.string, "schema")
        XCTAssertEqual(schema.first?[5]?.int, Int64(table.columns.count))
        XCTAssertNil(schema.first?[3], "the root has no repetition_type")
        for (leaf, column) in zip(r.leaves, table.columns) {
            XCTAssertEqual(leaf[4]?.string, column.name)
            XCTAssertEqual(leaf[3]?.int, 1, "OPTIONAL")
            XCTAssertNil(leaf[5], "leaves have no num_children")
            switch column.type {
            case .int64:
                XCTAssertEqual(leaf.fieldIDs, [1, 3, 4]); XCTAssertEqual(leaf[1]?.int, 2)
            case .double:
                XCTAssertEqual(leaf.fieldIDs, [1, 3, 4]); XCTAssertEqual(leaf[1]?.int, 5)
            case .uint64:
                XCTAssertEqual(leaf[1]?.int, 2)
                XCTAssertEqual(leaf[6]?.int, 14)  // UINT_64
                XCTAssertEqual(leaf[10]?[10]?[1]?.int, 64)
                XCTAssertEqual(leaf[10]?[10]?[2]?.bool, false)
            case .string:
                XCTAssertEqual(leaf[1]?.int, 6)
                XCTAssertEqual(leaf[6]?.int, 0)  // UTF8
                XCTAssertEqual(leaf[10]?.fieldIDs, [1])
            case .timestampNanos:
                XCTAssertEqual(leaf[1]?.int, 2)
                XCTAssertNil(leaf[6])
                XCTAssertEqual(leaf[10]?[8]?[1]?.bool, true)
                XCTAssertEqual(leaf[10]?[8]?[2]?.fieldIDs, [3])  // NANOS
            }
        }
        XCTAssertEqual(r.meta[7]?.items.count, table.columns.count)
        XCTAssertTrue(r.meta[7]?.items.allSatisfy { $0.fieldIDs == [1] } ?? false, "TYPE_ORDER")

        // Row groups of 1000, 1000, 500 rows, laid end to end from offset 4.
        XCTAssertEqual(r.rowGroups.map { $0[3]?.int }, [1000, 1000, 500])
        var offset = 4
        for (g, group) in r.rowGroups.enumerated() {
            XCTAssertEqual(group[5]?.int, Int64(offset), "RowGroup.file_offset")
            XCTAssertEqual(group[7]?.int, Int64(g), "ordinal")
            let chunks = group[1]?.items ?? []
            XCTAssertEqual(chunks.count, table.columns.count)
            var uncompressed: Int64 = 0
            var compressed: Int64 = 0
            for (j, chunk) in chunks.enumerated() {
                XCTAssertEqual(chunk[2]?.int, 0, "ColumnChunk.file_offset")
                guard let m = chunk[3] else { return XCTFail("no meta_data") }
                XCTAssertEqual(m[1]?.int, Int64(table.columns[j].type.physical.rawValue))
                XCTAssertEqual(m[3]?.items.map { $0.string }, [table.columns[j].name])
                XCTAssertEqual(m[4]?.int, 0, "UNCOMPRESSED")
                XCTAssertEqual(m[5]?.int, group[3]?.int)
                let start = Int(m[11]?.int ?? m[9]?.int ?? -1)
                XCTAssertEqual(start, offset, "chunks follow each other")
                if table.columns[j].dictionary && j != 7 {
                    // The dictionary page comes first, then the data pages.
                    XCTAssertEqual(m[11]?.int, Int64(offset))
                    let dictionaryPage = try r.page(at: offset, codec: 0)
                    XCTAssertEqual(dictionaryPage.header[1]?.int, 2)
                    XCTAssertEqual(m[9]?.int, Int64(offset + dictionaryPage.headerSize + dictionaryPage.compressedSize))
                    XCTAssertEqual(Set(m[2]?.items.compactMap { $0.int } ?? []), [0, 3, 8])
                    XCTAssertEqual(m[13]?.items.map { [$0[1]?.int, $0[2]?.int, $0[3]?.int] }, [[2, 0, 1], [0, 8, 1]])
                } else if table.columns[j].type.physical == .int64 {
                    // INT64 columns: RLE levels, DELTA_BINARY_PACKED values.
                    XCTAssertNil(m[11])
                    XCTAssertEqual(m[2]?.items.compactMap { $0.int }, [3, 5])
                    XCTAssertEqual(m[13]?.items.map { [$0[1]?.int, $0[2]?.int, $0[3]?.int] }, [[0, 5, 1]])
                } else {
                    XCTAssertNil(m[11])
                    XCTAssertEqual(m[2]?.items.compactMap { $0.int }, [0, 3])
                    XCTAssertEqual(m[13]?.items.map { [$0[1]?.int, $0[2]?.int, $0[3]?.int] }, [[0, 0, 1]])
                }
                let first = try r.page(at: Int(m[9]?.int ?? 0), codec: 0)
                XCTAssertEqual(first.header[1]?.int, 0, "a data page at data_page_offset")
                XCTAssertEqual(first.header[5]?[1]?.int, group[3]?.int)
                XCTAssertEqual(m[12]?[3]?.int, Int64(table.rows[(g * 1000)..<min(2500, g * 1000 + 1000)].filter { $0[j] == .null }.count))
                uncompressed += m[6]?.int ?? 0
                compressed += m[7]?.int ?? 0
                offset += Int(m[7]?.int ?? 0)
            }
            XCTAssertEqual(group[2]?.int, uncompressed)
            XCTAssertEqual(group[6]?.int, compressed)
            XCTAssertEqual(compressed, uncompressed, "uncompressed file")
        }
        // Nothing between the last chunk and the footer.
        XCTAssertEqual(offset + r.footerLength + 8, bytes.count)
    }

    func testReferenceReaderRoundTrip() throws {
        let table = Table.allTypes(rows: 2500)
        for compression in [ParquetCompression.none, .gzip] {
            let path = dir + "/ref-\(compression).parquet"
            try table.write(to: path, compression: compression, rowGroupRows: 1000)
            let r = try ParquetReader(path: path)
            for j in table.columns.indices {
                XCTAssertEqual(try r.cells(j), table.column(j), "\(compression) column \(table.columns[j].name)")
            }
            // Statistics, as the footer holds them.
            for (g, group) in r.rowGroups.enumerated() {
                for (j, chunk) in (group[1]?.items ?? []).enumerated() {
                    let cells = table.rows[(g * 1000)..<min(2500, g * 1000 + 1000)].map { $0[j] }
                    let want = ExpectedStats(cells)
                    let s = chunk[3]?[12]
                    XCTAssertEqual(s?[3]?.int, Int64(want.nulls))
                    let got = ExpectedStats(min: s?[6]?.bytes.map { statText($0, table.columns[j].type) },
                                            max: s?[5]?.bytes.map { statText($0, table.columns[j].type) },
                                            nulls: want.nulls)
                    XCTAssertEqual(got, want, "row group \(g) column \(table.columns[j].name)")
                    // The deprecated min/max only where the order is signed.
                    let legacy = [.int64, .double, .timestampNanos].contains(table.columns[j].type) && want.min != nil
                    XCTAssertEqual(s?[1]?.bytes, legacy ? s?[5]?.bytes : nil)
                    XCTAssertEqual(s?[2]?.bytes, legacy ? s?[6]?.bytes : nil)
                    if table.columns[j].type == .double {
                        XCTAssertEqual(s?[9]?.int, Int64(cells.filter { if case .double(let v) = $0 { return v.isNaN }; return false }.count))
                    }
                }
            }
        }
    }

    private func statText(_ b: [UInt8], _ type: ParquetType) -> String {
        if type == .string { return String(decoding: b, as: UTF8.self) }
        var bits: UInt64 = 0
        for (k, byte) in b.enumerated() { bits |= UInt64(byte) << UInt64(8 * k) }
        return type == .uint64 ? String(bits) : String(Int64(bitPattern: bits))
    }

    func testPyarrowReadsEveryCellAndStatistic() throws {
        try PythonReaders.skipUnlessAvailable()
        let table = Table.allTypes(rows: 2500)
        for compression in [ParquetCompression.none, .gzip] {
            let path = dir + "/pa-\(compression).parquet"
            try table.write(to: path, compression: compression, rowGroupRows: 1000)
            let json = try PythonReaders.read(path, with: "pyarrow")
            let schema = (json["schema"] as? [[String]]) ?? []
            XCTAssertEqual(schema.map { $0[0] }, table.columns.map(\.name))
            XCTAssertEqual(schema.map { $0[1] }, ["int64", "uint64", "double", "string", "string",
                                                  "timestamp[ns, tz=UTC]", "string", "string"])
            XCTAssertEqual(json["rows"] as? Int, 2500)
            XCTAssertEqual(json["row_groups"] as? Int, 3)
            XCTAssertEqual(json["created_by"] as? String, "pflow")
            for (j, c) in table.columns.enumerated() {
                XCTAssertEqual(PythonReaders.cells(json, c.name), table.column(j), "\(compression) \(c.name)")
            }
            let stats = (json["stats"] as? [[[String: Any]]]) ?? []
            XCTAssertEqual(stats.count, 3)
            for (g, group) in stats.enumerated() {
                for (j, s) in group.enumerated() {
                    let want = ExpectedStats(table.rows[(g * 1000)..<min(2500, g * 1000 + 1000)].map { $0[j] })
                    let got = ExpectedStats(min: s["min"] as? String, max: s["max"] as? String,
                                            nulls: s["nulls"] as? Int ?? -1)
                    XCTAssertEqual(got, want, "row group \(g) column \(table.columns[j].name)")
                    XCTAssertEqual(s["has_min_max"] as? Bool, want.min != nil)
                    // INT64 chunks (bit-packed deltas) are stored uncompressed under any codec.
                    let stored = table.columns[j].type.physical == .int64 || table.columns[j].noRepeats
                    XCTAssertEqual(s["compression"] as? String, compression == .gzip && !stored ? "GZIP" : "UNCOMPRESSED")
                    XCTAssertEqual(s["num_values"] as? Int, s["rows"] as? Int)
                }
            }
        }
    }

    func testDuckDBReadsEveryCell() throws {
        try PythonReaders.skipUnlessAvailable()
        let table = Table.allTypes(rows: 2500)
        for compression in [ParquetCompression.none, .gzip] {
            let path = dir + "/duck-\(compression).parquet"
            try table.write(to: path, compression: compression, rowGroupRows: 1000)
            let json = try PythonReaders.read(path, with: "duckdb")
            XCTAssertEqual(json["count"] as? Int, 2500)
            let types = (json["types"] as? [[String]]) ?? []
            // DuckDB 1.x reads TIMESTAMP(NANOS, UTC) as TIMESTAMP WITH TIME ZONE,
            // microseconds; 2.x keeps the nanoseconds as TIMESTAMPTZ_NS.
            let timeType = types.count > 5 ? types[5][1] : ""
            XCTAssertEqual(types.map { $0[1] }, ["BIGINT", "UBIGINT", "DOUBLE", "VARCHAR", "VARCHAR",
                                                 timeType, "VARCHAR", "VARCHAR"])
            XCTAssertTrue(["TIMESTAMPTZ_NS", "TIMESTAMP WITH TIME ZONE"].contains(timeType), timeType)
            let microseconds = timeType != "TIMESTAMPTZ_NS"
            func inDuckDB(_ cell: Cell) -> Cell {
                guard microseconds, case .time(let ns) = cell else { return cell }
                let us = ns >= 0 ? ns / 1000 : (ns - 999) / 1000
                return .time(us * 1000)
            }
            let aggregates = (json["aggregates"] as? [String: Any]) ?? [:]
            for (j, c) in table.columns.enumerated() {
                let cells = table.rows.map { inDuckDB($0[j]) }
                let want: String?
                switch c.type {
                case .int64, .timestampNanos:
                    let v = cells.compactMap { c -> Int64? in if case .int(let v) = c { return v }; if case .time(let v) = c { return v }; return nil }
                    want = v.isEmpty ? nil : String(v.reduce(Int128(0)) { $0 + Int128($1) })
                case .uint64:
                    let v = cells.compactMap { c -> UInt64? in if case .uint(let v) = c { return v }; return nil }
                    want = v.isEmpty ? nil : String(v.reduce(Int128(0)) { $0 + Int128($1) })
                case .string:
                    let v = cells.compactMap { c -> Int? in if case .string(let s) = c { return s.utf8.count }; return nil }
                    want = v.isEmpty ? nil : String(v.reduce(0, +))
                case .double:
                    want = String(cells.filter { $0 != .null }.count)
                }
                XCTAssertEqual(aggregates[c.name] as? String, want, "\(compression) aggregate of \(c.name)")
                XCTAssertEqual(PythonReaders.cells(json, c.name), cells.map(\.text), "\(compression) \(c.name)")
            }
        }
    }

    func testZeroRowFile() throws {
        let table = Table.allTypes(rows: 0)
        let path = dir + "/empty.parquet"
        try table.write(to: path)
        let r = try ParquetReader(path: path)
        XCTAssertEqual(r.meta[3]?.int, 0)
        XCTAssertEqual(r.rowGroups.count, 0)
        XCTAssertEqual(r.data.count, 4 + r.footerLength + 8)
        XCTAssertEqual(listing(), ["empty.parquet"])
        try PythonReaders.skipUnlessAvailable()
        let json = try PythonReaders.read(path, with: "pyarrow")
        XCTAssertEqual(json["rows"] as? Int, 0)
        XCTAssertEqual((json["schema"] as? [[String]])?.count, table.columns.count)
        let duck = try PythonReaders.read(path, with: "duckdb")
        XCTAssertEqual(duck["count"] as? Int, 0)
    }
}

// MARK: - Dictionary bounds, text, many rows

final class ParquetEncodingLimitTests: ParquetTestCase {
    /// Reads with every reader there is and compares every cell.
    private func checkAllReaders(_ table: Table, _ path: String) throws {
        let r = try ParquetReader(path: path)
        for j in table.columns.indices {
            XCTAssertEqual(try r.cells(j), table.column(j), "reference reader, \(table.columns[j].name)")
        }
        guard PythonReaders.unavailable == nil else { return }
        let arrow = try PythonReaders.read(path, with: "pyarrow")
        let duck = try PythonReaders.read(path, with: "duckdb")
        for (j, c) in table.columns.enumerated() {
            XCTAssertEqual(PythonReaders.cells(arrow, c.name), table.column(j), "pyarrow, \(c.name)")
            XCTAssertEqual(PythonReaders.cells(duck, c.name), table.column(j), "duckdb, \(c.name)")
        }
    }

    /// The (page type, encoding, count) triples of each chunk of column `j`.
    private func encodingStats(_ r: ParquetReader, _ j: Int) -> [[[Int64?]]] {
        r.rowGroups.map { g in (g[1]?.items[j][3]?[13]?.items ?? []).map { [$0[1]?.int, $0[2]?.int, $0[3]?.int] } }
    }

    func testDictionaryFallsBackToPlainPastItsByteBound() throws {
        // 200 rows of few values, then 1.5 MiB of distinct 1000-byte values:
        // the dictionary stops at 1 MiB, the rest of the chunk is PLAIN, and
        // the next row group starts a new dictionary.
        var rows: [[Cell]] = []
        for i in 0..<3000 {
            let s: Cell
            if i < 200 || i >= 2500 {
                s = i % 11 == 0 ? .null : .string(["GET", "POST", "PUT"][i % 3])
            } else {
                s = .string(String(repeating: Character(UnicodeScalar(UInt8(65 + i % 26))), count: 990) + String(i))
            }
            rows.append([s, .int(Int64(i))])
        }
        let table = Table(columns: [ParquetColumn("s", .string, dictionary: true), ParquetColumn("n", .int64)], rows: rows)
        let path = dir + "/fallback.parquet"
        try table.write(to: path, compression: .gzip, rowGroupRows: 2500)
        let r = try ParquetReader(path: path)
        let stats = encodingStats(r, 0)
        XCTAssertEqual(stats.count, 2)
        // First chunk: dictionary page, dictionary-encoded page(s), then PLAIN pages.
        XCTAssertEqual(stats[0].first, [2, 0, 1])
        XCTAssertEqual(stats[0].dropFirst().first?.prefix(2), [0, 8])
        XCTAssertEqual(stats[0].last?.prefix(2), [0, 0])
        XCTAssertEqual(Set(r.rowGroups[0][1]?.items[0][3]?[2]?.items.compactMap { $0.int } ?? []), [0, 3, 8])
        // Second chunk: a fresh dictionary, dictionary-encoded throughout.
        XCTAssertEqual(stats[1], [[2, 0, 1], [0, 8, 1]])
        try checkAllReaders(table, path)
    }

    func testSharedPrefixesAreDeltaByteArray() throws {
        // A uid-like counter, with nulls, empty values, a value that is a
        // prefix of the one before, non-ASCII and long values: every reader
        // gets each back, the chunks are DELTA_BYTE_ARRAY and stored.
        var rows: [[Cell]] = []
        for i in 0..<5000 {
            let s: Cell
            switch i % 97 {
            case 5: s = .null
            case 11: s = .string("")
            case 23: s = .string("C000")
            case 41: s = .string("é✓ \(i)")
            case 59: s = .string(String(repeating: "x", count: 3000) + String(i))
            default: s = .string("C" + String(repeating: "0", count: 8 - String(i, radix: 36).count) + String(i, radix: 36))
            }
            rows.append([s, .int(Int64(i))])
        }
        let table = Table(columns: [ParquetColumn("uid", .string, sharedPrefixes: true), ParquetColumn("n", .int64)], rows: rows)
        let path = dir + "/prefixes.parquet"
        try table.write(to: path, compression: .gzip, rowGroupRows: 2000)
        let r = try ParquetReader(path: path)
        // (Pages are cut at 64 KiB of values: the long values make two of a chunk.)
        XCTAssertEqual(encodingStats(r, 0).map { $0.map { Array($0.prefix(2)) } }, [[[0, 7]], [[0, 7]], [[0, 7]]])
        for g in r.rowGroups {
            XCTAssertEqual(g[1]?.items[0][3]?[4]?.int, 0, "stored uncompressed")
            XCTAssertEqual(Set(g[1]?.items[0][3]?[2]?.items.compactMap { $0.int } ?? []), [3, 7])
        }
        try checkAllReaders(table, path)
    }

    func testWordsAndKeyedValuesMatchTheirText() throws {
        // Fixed words (found by address) and keyed values (text made only
        // for a key the chunk hasn't seen) read back as the text they stand
        // for: across row groups (each chunk its own dictionary), in a
        // dictionary that falls back to PLAIN (past 65,536 entries) and in
        // a column without a dictionary.
        let path = dir + "/keyed.parquet"
        let columns = [ParquetColumn("word", .string, dictionary: true), ParquetColumn("keyed", .string, dictionary: true),
                       ParquetColumn("plain", .string)]
        let w = try ParquetWriter(path: path, columns: columns, compression: .gzip, rowGroupRows: 70_000)
        let words: [StaticString] = ["tcp", "udp", "S0", "well-known", "é✓"]
        var made = 0
        var rows: [[Cell]] = []
        let n = 140_000
        // Where the text is made: it must stay valid until the next append.
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
        defer { scratch.deallocate() }
        for i in 0..<n {
            let word = words[i % words.count]
            // Rows 0-69,999 (the first group) have 69,000 distinct keys: the dictionary fills up.
            let k = UInt64(i < 70_000 ? i % 69_000 : i % 97)
            func text(_ k: UInt64) -> String { "10.\(k >> 16).\(k >> 8 & 255).\(k & 255)" }
            let key = (k, ~k)
            if i % 13 == 0 { w.appendNull(column: 0) } else { w.append(word: word, column: 0) }
            for j in 1...2 {
                w.append(key: key, column: j) {
                    made += 1
                    let bytes = Array(text(k).utf8)
                    bytes.withUnsafeBytes { if let b = $0.baseAddress { scratch.copyMemory(from: b, byteCount: $0.count) } }
                    return UnsafeRawBufferPointer(start: scratch, count: bytes.count)
                }
            }
            try w.endRow()
            rows.append([i % 13 == 0 ? .null : .string(word.description), .string(text(k)), .string(text(k))])
        }
        try w.close()
        // The keyed column made its text about once per key per chunk (and
        // every time once PLAIN), the plain column every time.
        XCTAssertLessThan(made, 2 * n)
        XCTAssertGreaterThan(made, n)
        let table = Table(columns: columns, rows: rows)
        try checkAllReaders(table, path)
        let r = try ParquetReader(path: path)
        XCTAssertEqual(encodingStats(r, 1)[0].last?.prefix(2), [0, 0], "the first chunk fell back to PLAIN")
        let second = encodingStats(r, 1)[1]
        XCTAssertEqual(second.map { Array($0.prefix(2)) }, [[2, 0], [0, 8]], "the second has a dictionary of its own")
        XCTAssertEqual(second.first?[2], 1, "one dictionary page")
    }

    func testDictionaryFallsBackPastItsEntryBound() throws {
        // 70,000 distinct values in one row group: 65,536 ids, then PLAIN.
        let n = 70_000
        let rows = (0..<n).map { i -> [Cell] in [.string("v\(i)"), i % 5 == 0 ? .null : .uint(UInt64(i))] }
        let table = Table(columns: [ParquetColumn("s", .string, dictionary: true), ParquetColumn("u", .uint64)], rows: rows)
        let path = dir + "/entries.parquet"
        try table.write(to: path, compression: .none, rowGroupRows: 100_000)
        let r = try ParquetReader(path: path)
        let stats = encodingStats(r, 0)
        XCTAssertEqual(stats.count, 1)
        XCTAssertEqual(stats[0].first, [2, 0, 1])
        XCTAssertEqual(stats[0].last?.prefix(2), [0, 0])
        // The dictionary page holds exactly the bound.
        guard let offset = r.rowGroups[0][1]?.items[0][3]?[11]?.int else { return XCTFail("no dictionary page") }
        XCTAssertEqual(try r.page(at: Int(offset), codec: 0).header[7]?[1]?.int, Int64(ParquetWriter.dictionaryMaxEntries))
        try checkAllReaders(table, path)
    }

    func testLongPagesSplitAndInvalidUTF8IsReplaced() throws {
        let path = dir + "/text.parquet"
        let w = try ParquetWriter(path: path, columns: [ParquetColumn("raw", .string), ParquetColumn("d", .string, dictionary: true),
                                                        ParquetColumn("n", .int64)],
                                  compression: .none, rowGroupRows: 300_000)
        let bad: [[UInt8]] = [[0x61, 0xFF, 0x62], [0xC0, 0x80], [0xE2, 0x9C], Array("ok ✓".utf8), []]
        var expected: [[Cell]] = []
        for i in 0..<200_000 {
            let b = bad[i % bad.count]
            b.withUnsafeBytes { w.append($0, column: 0) }
            b.withUnsafeBytes { w.append($0, column: 1) }
            w.append(Int64(i), column: 2)
            try w.endRow()
            let s = String(decoding: b, as: UTF8.self)
            expected.append([.string(s), .string(s), .int(Int64(i))])
        }
        try w.close()
        XCTAssertEqual(expected[0][0], .string("a\u{FFFD}b"))
        let table = Table(columns: w.columns, rows: expected)
        let r = try ParquetReader(path: path)
        // 200,000 int64s are 1.6 MB: more than one 1 MiB page.
        let n = r.rowGroups[0][1]?.items[2][3]
        let first = try r.page(at: Int(n?[9]?.int ?? 0), codec: 0)
        XCTAssertLessThan(first.header[5]?[1]?.int ?? 0, 200_000)
        XCTAssertGreaterThan(n?[13]?.items.first?[3]?.int ?? 0, 1)
        try checkAllReaders(table, path)
    }
}

/// pflow's flow rows: the CSV's ~40 columns, 100,000 flows.
final class ParquetFlowTableTests: ParquetTestCase {
    static let columns: [ParquetColumn] = [
        .init("start", .timestampNanos), .init("end", .timestampNanos), .init("start_ns", .int64), .init("end_ns", .int64),
        .init("duration_s", .double), .init("proto", .string, dictionary: true), .init("ip_version", .uint64),
        .init("vlan", .uint64), .init("client_ip", .string, dictionary: true), .init("client_port", .uint64),
        .init("server_ip", .string, dictionary: true), .init("server_port", .uint64),
        .init("service", .string, dictionary: true), .init("server_port_range", .string, dictionary: true),
        .init("client_port_range", .string, dictionary: true), .init("role_source", .string, dictionary: true),
        .init("state", .string, dictionary: true), .init("c2s_packets", .uint64), .init("c2s_bytes", .uint64),
        .init("s2c_packets", .uint64), .init("s2c_bytes", .uint64), .init("c2s_payload_bytes", .uint64),
        .init("s2c_payload_bytes", .uint64), .init("end_reason", .string, dictionary: true),
        .init("history", .string, dictionary: true), .init("app", .string, dictionary: true), .init("icmp_errors", .uint64),
        .init("port_name", .string, dictionary: true), .init("uid", .string), .init("community_id", .string),
        .init("c2s_ip_bytes", .uint64), .init("s2c_ip_bytes", .uint64), .init("server_name", .string, dictionary: true),
        .init("name_source", .string, dictionary: true), .init("server_latency_ms", .double),
        .init("client_latency_ms", .double), .init("app_latency_ms", .double), .init("c2s_retransmissions", .uint64),
        .init("s2c_retransmissions", .uint64), .init("c2s_zero_windows", .uint64), .init("s2c_zero_windows", .uint64),
    ]

    /// Flows that look like a capture's: a few hundred servers, thousands of
    /// clients, common services, heavy-tailed byte counts.
    static func flows(_ n: Int) -> [[Cell]] {
        var rng = ParquetRandom(seed: 42)
        let services: [(UInt64, String, String, String)] = [
            (443, "tcp", "https", "https"), (80, "tcp", "http", "http"), (53, "udp", "dns", "domain"),
            (22, "tcp", "ssh", "ssh"), (123, "udp", "ntp", "ntp"), (8080, "tcp", "http", "http-alt"),
            (5353, "udp", "mdns", "mdns"), (3478, "udp", "", "stun"),
        ]
        let states = ["SF", "S0", "REJ", "RSTO", "SH", "OTH"]
        let histories = ["ShADadFf", "ShADadfF", "S", "Sr", "ShADadR", "Dd", "D"]
        let names = (0..<400).map { "host\($0).example\($0 % 7).com" }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        func token(_ seed: UInt64, _ count: Int) -> String {
            var g = ParquetRandom(seed: seed)
            return String((0..<count).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] })
        }
        var start: Int64 = 1_767_225_600_000_000_000
        var rows: [[Cell]] = []
        rows.reserveCapacity(n)
        for _ in 0..<n {
            let r = rng.next(), r2 = rng.next(), r3 = rng.next()
            start += Int64(r % 2_000_000)
            let duration = Int64(r2 % 30_000_000_000)
            let (port, proto, service, portName) = services[Int(r % 61) % services.count]
            let tcp = proto == "tcp"
            let c2sPackets = 1 + (r3 % 50), s2cPackets = r3 % 7 == 0 ? 0 : 1 + (r3 >> 8) % 400
            let c2sBytes = c2sPackets * (60 + (r >> 20) % 200), s2cBytes = s2cPackets * (60 + (r2 >> 20) % 1400)
            let uid = "C" + token(r2 ^ r3, 17)
            let community = "1:" + token(r3 ^ r, 27) + "="
            let named = r % 3 != 0
            let latency: Cell = tcp && s2cPackets > 0 ? .double(Double(r2 % 200_000) / 1000) : .null
            rows.append([
                .time(start), .time(start + duration), .int(start), .int(start + duration),
                .double(Double(duration) / 1e9), .string(proto), .uint(r % 10 == 0 ? 6 : 4),
                r % 20 == 0 ? .uint(100 + r % 5) : .null,
                .string("10.0.\((r >> 8) % 20).\((r >> 16) % 250)"), .uint(32768 + (r >> 24) % 28000),
                .string("192.0.2.\((r >> 32) % 250)"), .uint(port),
                service.isEmpty ? .null : .string(service), .string(port < 1024 ? "well-known" : "registered"),
                .string("dynamic"), .string(tcp ? "syn" : "port-table"),
                .string(tcp ? states[Int(r3 % 17) % states.count] : (s2cPackets > 0 ? "SF" : "S0")),
                .uint(c2sPackets), .uint(c2sBytes), .uint(s2cPackets), .uint(s2cBytes),
                .uint(c2sBytes - c2sPackets * 54), .uint(s2cBytes >= s2cPackets * 54 ? s2cBytes - s2cPackets * 54 : 0),
                .string(["fin", "rst", "idle", "end"][Int(r2 % 4)]),
                tcp ? .string(histories[Int(r2 % 13) % histories.count]) : .string("Dd"),
                service.isEmpty ? .null : .string(service), .uint(0), .string(portName), .string(uid), .string(community),
                .uint(c2sBytes - c2sPackets * 14), .uint(s2cBytes - s2cPackets * 14),
                named ? .string(names[Int(r2 % 400)]) : .null, named ? .string(tcp ? "sni" : "dns") : .null,
                latency, tcp ? .double(Double(r3 % 5000) / 1000) : .null, latency,
                .uint(tcp ? r3 % 3 : 0), .uint(tcp ? r2 % 2 : 0), .uint(0), .uint(r % 100 == 0 ? 1 : 0),
            ])
        }
        return rows
    }

    /// RFC 3339 with nanoseconds, as the CSV writes times (civil date from days: Hinnant's algorithm).
    static func rfc3339(_ ns: Int64) -> String {
        let seconds = ns / 1_000_000_000, fraction = ns % 1_000_000_000
        let days = seconds / 86_400, secondOfDay = seconds % 86_400
        let z = days + 719_468, era = z / 146_097, doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(y)-\(pad(m, 2))-\(pad(d, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 9))Z"
    }

    /// The same rows as CSV text (times as RFC 3339 where the CSV has them).
    static func csv(_ rows: [[Cell]]) -> [UInt8] {
        var out = columns.map(\.name).joined(separator: ",") + "\n"
        for row in rows {
            out += row.enumerated().map { j, cell -> String in
                switch cell {
                case .null: return ""
                case .time(let v): return rfc3339(v)
                case .double(let v): return j == 4 ? String(format: "%.9f", v) : String(format: "%.3f", v)
                default: return cell.text ?? ""
                }
            }.joined(separator: ",")
            out += "\n"
        }
        return Array(out.utf8)
    }

    static func gzipSize(_ bytes: [UInt8]) -> Int {
        var size = uLong(compressBound(uLong(bytes.count)))
        var out = [UInt8](repeating: 0, count: Int(size))
        _ = compress2(&out, &size, bytes, uLong(bytes.count), 6)
        return Int(size)
    }

    func testHundredThousandFlows() throws {
        let n = 100_000
        let rows = Self.flows(n)
        XCTAssertEqual(rows[0].count, Self.columns.count)
        let csv = Self.csv(rows)
        // GZIP only: an unoptimized build takes ~10 s per 100k-row write, and
        // uncompressed files are read back in the other tests.
        var sizes: [ParquetCompression: Int] = [:]
        for compression in [ParquetCompression.gzip] {
            let path = dir + "/flows-\(compression).parquet"
            let began = DispatchTime.now().uptimeNanoseconds
            try Table(columns: Self.columns, rows: rows).write(to: path, compression: compression, rowGroupRows: 65_536)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            sizes[compression] = size
            print("parquet \(compression): \(n) rows x \(Self.columns.count) columns, \(size) bytes, "
                  + "\(String(format: "%.2f", seconds)) s, \(Int(Double(n) / seconds)) rows/s (this build)")
            let r = try ParquetReader(path: path)
            XCTAssertEqual(r.rowGroups.map { $0[3]?.int }, [65_536, 34_464])
            for j in [0, 4, 7, 12, 28, 32, 34] {
                XCTAssertEqual(try r.cells(j), rows.map { $0[j].text }, "reference reader, \(Self.columns[j].name)")
            }
        }
        let csvGzip = Self.gzipSize(csv)
        print("csv: \(csv.count) bytes, gzip -6 of it \(csvGzip) bytes; parquet gzip \(sizes[.gzip] ?? 0) bytes")
        XCTAssertLessThan(sizes[.gzip] ?? .max, csv.count / 3, "gzip Parquet well under the CSV")
        XCTAssertLessThan(sizes[.gzip] ?? .max, csvGzip, "and under the gzipped CSV")

        try PythonReaders.skipUnlessAvailable()
        let path = dir + "/flows-gzip.parquet"
        let arrow = try PythonReaders.read(path, with: "pyarrow", digest: true)
        XCTAssertEqual(arrow["rows"] as? Int, n)
        let digests = (arrow["columns"] as? [String: [String: Any]]) ?? [:]
        for (j, c) in Self.columns.enumerated() {
            let joined = rows.map { $0[j].text ?? "\u{0}" }.joined(separator: "\u{1F}")
            let crc = joined.utf8.withContiguousStorageIfAvailable { crc32(0, $0.baseAddress, uInt($0.count)) } ?? 0
            XCTAssertEqual(digests[c.name]?["crc"] as? Int, Int(crc), "pyarrow, every cell of \(c.name)")
        }
        let duck = try PythonReaders.read(path, with: "duckdb", digest: true)
        XCTAssertEqual(duck["count"] as? Int, n)
        let aggregates = (duck["aggregates"] as? [String: Any]) ?? [:]
        for (j, c) in Self.columns.enumerated() where c.type == .uint64 {
            let sum = rows.reduce(UInt64(0)) { if case .uint(let v) = $1[j] { return $0 + v }; return $0 }
            let any = rows.contains { $0[j] != .null }
            XCTAssertEqual(aggregates[c.name] as? String, any ? String(sum) : nil, "duckdb sum(\(c.name))")
        }
    }
}

// MARK: - Failures leave nothing behind

final class ParquetFailureTests: ParquetTestCase {
    private let columns = [ParquetColumn("n", .int64), ParquetColumn("s", .string, dictionary: true),
                           ParquetColumn("d", .double)]

    private func fill(_ w: ParquetWriter, rows: Int) throws {
        for i in 0..<rows {
            w.append(Int64(i), column: 0)
            w.append("v\(i % 10)", column: 1)
            w.append(Double(i), column: 2)
            try w.endRow()
        }
    }

    private func expectError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line)
        -> ParquetError? {
        do {
            try body()
            XCTFail("no error thrown", file: file, line: line)
            return nil
        } catch let error as ParquetError {
            XCTAssertFalse(error.message.contains("\n"), "one line", file: file, line: line)
            return error
        } catch {
            XCTFail("not a ParquetError: \(error)", file: file, line: line)
            return nil
        }
    }

    func testUnwritableDirectories() throws {
        // A directory that doesn't exist.
        let missing = dir + "/missing/flows.parquet"
        let e1 = expectError { _ = try ParquetWriter(path: missing, columns: columns) }
        XCTAssertEqual(e1?.message.hasPrefix(missing + ": cannot create "), true, e1?.message ?? "")
        XCTAssertEqual(e1?.message.hasSuffix(": No such file or directory"), true, e1?.message ?? "")
        if case .io(_, _, let code)? = e1 { XCTAssertEqual(code, ENOENT) } else { XCTFail("\(String(describing: e1))") }
        // A "directory" that is a file.
        _ = FileManager.default.createFile(atPath: dir + "/plain", contents: Data("x".utf8))
        let e2 = expectError { _ = try ParquetWriter(path: dir + "/plain/flows.parquet", columns: columns) }
        XCTAssertEqual(e2?.message.hasSuffix(": Not a directory"), true, e2?.message ?? "")
        XCTAssertEqual(listing(), ["plain"])
        // A directory without write permission (root writes anyway, so only for others).
        let locked = dir + "/locked"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        chmod(locked, 0o555)
        defer { chmod(locked, 0o755) }
        if geteuid() != 0 {
            let e3 = expectError { _ = try ParquetWriter(path: locked + "/flows.parquet", columns: columns) }
            XCTAssertEqual(e3?.message.hasSuffix(": Permission denied"), true, e3?.message ?? "")
        } else {
            // A file system that takes no new files: procfs.
            let e3 = expectError { _ = try ParquetWriter(path: "/proc/pflow-\(getpid()).parquet", columns: columns) }
            XCTAssertEqual(e3?.message.hasPrefix("/proc/pflow-\(getpid()).parquet: cannot create /proc/.pflow-"), true,
                           e3?.message ?? "")
        }
        XCTAssertEqual(listing(locked), [])
    }

    func testAbandonAndDroppingLeaveNothing() throws {
        let path = dir + "/flows.parquet"
        let w = try ParquetWriter(path: path, columns: columns, rowGroupRows: 100)
        try fill(w, rows: 450)
        // Row groups are on disk under the temporary name only.
        XCTAssertEqual(listing(), [".flows.parquet.tmp-\(getpid())"])
        XCTAssertGreaterThan(w.bytesWritten, 1000)
        w.abandon()
        XCTAssertEqual(listing(), [])
        let e = expectError { try w.close() }
        XCTAssertEqual(e, ParquetError.usage(path: path, reason: "the writer was abandoned"))
        XCTAssertEqual(listing(), [])

        do {
            let dropped = try ParquetWriter(path: path, columns: columns, rowGroupRows: 100)
            try fill(dropped, rows: 250)
            XCTAssertEqual(listing().count, 1)
        }
        XCTAssertEqual(listing(), [], "deinit without close removes the temporary")
    }

    func testExistingFileIsReplacedOnlyByClose() throws {
        let path = dir + "/flows.parquet"
        try Data("old contents".utf8).write(to: URL(fileURLWithPath: path))
        let w = try ParquetWriter(path: path, columns: columns, rowGroupRows: 100)
        try fill(w, rows: 350)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data("old contents".utf8))
        try w.close()
        try w.close()  // a second close does nothing
        XCTAssertEqual(listing(), ["flows.parquet"])
        let r = try ParquetReader(path: path)
        XCTAssertEqual(r.meta[3]?.int, 350)
        XCTAssertEqual(try r.cells(1).prefix(3), ["v0", "v1", "v2"])
        // And a file that is abandoned leaves the old one alone.
        let again = try ParquetWriter(path: path, columns: columns)
        try fill(again, rows: 10)
        again.abandon()
        XCTAssertEqual(try ParquetReader(path: path).meta[3]?.int, 350)
        XCTAssertEqual(listing(), ["flows.parquet"])
    }

    func testRenameFailureIsReported() throws {
        // The path is a non-empty directory: the temporary can be written
        // beside it but not renamed onto it.
        let path = dir + "/taken.parquet"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: path + "/inside", contents: nil)
        let w = try ParquetWriter(path: path, columns: columns)
        try fill(w, rows: 10)
        let e = expectError { try w.close() }
        XCTAssertEqual(e?.message.hasPrefix(path + ": cannot rename " + dir + "/.taken.parquet.tmp-"), true, e?.message ?? "")
        XCTAssertEqual(listing(), ["taken.parquet"])
        XCTAssertEqual(listing(path), ["inside"])
    }

    func testWriteErrorsSurface() throws {
        // A file size limit makes write(2) come up short, then fail with
        // EFBIG, as a full disk does with ENOSPC (rename-based writing can't
        // be pointed at /dev/full).
        let path = dir + "/big.parquet"
        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved), 0)
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var small = saved
        small.rlim_cur = 100_000
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small), 0)
        var thrown: ParquetError?
        do {
            defer {
                _ = setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
                _ = signal(SIGXFSZ, previousHandler)
            }
            let w = try ParquetWriter(path: path, columns: columns, compression: .none, rowGroupRows: 1000)
            thrown = expectError { try fill(w, rows: 100_000) }
            // The error sticks.
            XCTAssertEqual(expectError { try w.endRow() }, thrown)
            XCTAssertEqual(expectError { try w.close() }, thrown)
        }
        guard case .io(let p, let operation, let code)? = thrown else { return XCTFail("\(String(describing: thrown))") }
        XCTAssertEqual(p, path)
        XCTAssertEqual(operation, "write failed")
        XCTAssertEqual(code, EFBIG)
        XCTAssertEqual(thrown?.message, path + ": write failed: File too large")
        XCTAssertEqual(listing(), [], "the temporary is gone")
    }

    func testMisuseIsReportedByEndRow() throws {
        let path = dir + "/misuse.parquet"
        func writer() throws -> ParquetWriter { try ParquetWriter(path: path, columns: columns) }

        var w = try writer()
        w.append(1.5, column: 0)
        var e = expectError { try w.endRow() }
        XCTAssertEqual(e, .usage(path: path, reason: "row 0: column 'n' is int64, given a double"))
        XCTAssertEqual(listing(), [])

        w = try writer()
        try fill(w, rows: 3)
        w.append(Int64(1), column: 0)
        w.append("x", column: 1)
        e = expectError { try w.endRow() }
        XCTAssertEqual(e, .usage(path: path, reason: "row 3: column 'd' has no value"))
        XCTAssertEqual(listing(), [])

        w = try writer()
        w.append(Int64(1), column: 0)
        w.append(Int64(2), column: 0)
        e = expectError { try w.endRow() }
        XCTAssertEqual(e, .usage(path: path, reason: "row 0: column 'n' given two values"))

        w = try writer()
        w.appendNull(column: 3)
        e = expectError { try w.endRow() }
        XCTAssertEqual(e, .usage(path: path, reason: "row 0: no column 3 (the file has 3)"))

        w = try writer()
        w.append(UInt64(1), column: 0)
        e = expectError { try w.endRow() }
        XCTAssertEqual(e, .usage(path: path, reason: "row 0: column 'n' is int64, given an unsigned integer"))

        w = try writer()
        w.append(Int64(1), column: 0)
        e = expectError { try w.close() }
        XCTAssertEqual(e, .usage(path: path, reason: "close() in the middle of row 0"))

        w = try writer()
        try w.close()
        w.append(Int64(1), column: 0)
        e = expectError { try w.endRow() }
        XCTAssertEqual(e, .usage(path: path, reason: "value appended after close() or abandon()"))
        try FileManager.default.removeItem(atPath: path)

        e = expectError { _ = try ParquetWriter(path: path, columns: []) }
        XCTAssertEqual(e, .usage(path: path, reason: "a Parquet file needs at least one column"))
        e = expectError { _ = try ParquetWriter(path: path, columns: [columns[0], columns[0]]) }
        XCTAssertEqual(e, .usage(path: path, reason: "column name 'n' is used twice"))
        e = expectError { _ = try ParquetWriter(path: path, columns: columns, rowGroupRows: 0) }
        XCTAssertEqual(e, .usage(path: path, reason: "rowGroupRows must be at least 1"))
        e = expectError { _ = try ParquetWriter(path: dir + "/", columns: columns) }
        XCTAssertEqual(e, .usage(path: dir + "/", reason: "not a file name"))
        XCTAssertEqual(listing(), [])
    }
}

// MARK: - No allocation per row

/// Appending rows allocates nothing once the buffers have grown: counted by
/// running this test again in a child process with an interposed malloc
/// counter (compiled here with cc), which the child reads through dlsym.
final class ParquetAllocationTests: ParquetTestCase {
    static let counter = #"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
static uint64_t count;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static char bootstrap[4096];
static size_t used;
uint64_t pflow_parquet_malloc_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }
static void init(void) {
    real_malloc = dlsym(RTLD_NEXT, "malloc"); real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc"); real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
}
void *malloc(size_t n) { if (!real_malloc) init(); __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED); return real_malloc(n); }
void *calloc(size_t a, size_t b) {
    if (!real_calloc) {
        static int busy;
        if (busy) { size_t n = (a * b + 15) & ~(size_t)15; if (used + n > sizeof bootstrap) return NULL;
                    void *p = bootstrap + used; used += n; memset(p, 0, a * b); return p; }
        busy = 1; init(); busy = 0;
    }
    __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED); return real_calloc(a, b);
}
void *realloc(void *p, size_t n) { if (!real_realloc) init(); __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED); return real_realloc(p, n); }
int posix_memalign(void **o, size_t a, size_t n) { if (!real_posix_memalign) init(); __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED); return real_posix_memalign(o, a, n); }
void *aligned_alloc(size_t a, size_t n) { if (!real_aligned_alloc) init(); __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED); return real_aligned_alloc(a, n); }
void free(void *p) {
    static void (*real_free)(void *);
    if ((char *)p >= bootstrap && (char *)p < bootstrap + sizeof bootstrap) return;
    if (!real_free) real_free = dlsym(RTLD_NEXT, "free");
    real_free(p);
}
"""#

    func testRowsDoNotAllocate() throws {
        typealias Count = @convention(c) () -> UInt64
        if ProcessInfo.processInfo.environment["PFLOW_PARQUET_ALLOC_CHILD"] == "1" {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pflow_parquet_malloc_count") else {
                return XCTFail("no malloc counter preloaded")
            }
            try measure(unsafeBitCast(symbol, to: Count.self))
            return
        }
        guard ProcessInfo.processInfo.environment["PFLOW_PARQUET_NO_ALLOC_CHILD"] == nil else { return }
        let source = dir + "/count.c", library = dir + "/count.so"
        try Data(Self.counter.utf8).write(to: URL(fileURLWithPath: source))
        let cc = try PythonReaders.shell(["cc", "-O2", "-shared", "-fPIC", "-o", library, source, "-ldl"])
        guard cc.status == 0 else { throw XCTSkip("cc could not build the malloc counter: \(String(decoding: cc.stderr, as: UTF8.self))") }
        let bundle = ProcessInfo.processInfo.arguments[0]
        let child = try PythonReaders.shell(["LD_PRELOAD=" + library, "PFLOW_PARQUET_ALLOC_CHILD=1",
                                             bundle, "PFlowTests.ParquetAllocationTests/testRowsDoNotAllocate"])
        let out = String(decoding: child.stdout + child.stderr, as: UTF8.self)
        let report = out.split(separator: "\n").filter { $0.hasPrefix("parquet allocations:") }
        XCTAssertEqual(child.status, 0, out)
        XCTAssertEqual(report.count, 1, out)
        report.forEach { print($0) }
    }

    /// In the child: rows after the first row groups, counted apart from the row-group writes.
    private func measure(_ count: () -> UInt64) throws {
        let columns = [ParquetColumn("t", .timestampNanos), ParquetColumn("n", .int64), ParquetColumn("u", .uint64),
                       ParquetColumn("d", .double), ParquetColumn("proto", .string, dictionary: true),
                       ParquetColumn("uid", .string), ParquetColumn("name", .string, dictionary: true)]
        let w = try ParquetWriter(path: dir + "/alloc.parquet", columns: columns, rowGroupRows: 1000)
        let long = "a server name that is longer than a small string"
        var inRows: UInt64 = 0
        var inGroups: UInt64 = 0
        var groups = 0
        for i in 0..<20_000 {
            let before = count()
            w.append(Int64(i) * 1_000_003, column: 0)
            if i % 7 == 0 { w.appendNull(column: 1) } else { w.append(Int64(i), column: 1) }
            w.append(UInt64(i) &* 0x9E37_79B9, column: 2)
            w.append(Double(i) / 3, column: 3)
            w.append(i % 3 == 0 ? "tcp" : "udp", column: 4)
            let uid: StaticString = "CABCDEFGHIJKLMNOPQ"
            w.append(UnsafeRawBufferPointer(start: uid.utf8Start, count: uid.utf8CodeUnitCount), column: 5)
            if i % 5 == 0 { w.appendNull(column: 6) } else { w.append(long, column: 6) }
            let appended = count()
            try w.endRow()
            let ended = count()
            // The first row groups grow the buffers; count from the fourth on.
            if i >= 3000 {
                inRows += appended - before
                if (i + 1) % 1000 == 0 { inGroups += ended - appended; groups += 1 } else { inRows += ended - appended }
            }
        }
        try w.close()
        print("parquet allocations: \(inRows) in 17,000 rows, \(inGroups) in \(groups) row-group writes")
        XCTAssertEqual(inRows, 0, "appending rows allocates")
        // Only the footer's RowGroup list grows with the file (doubling: a few times in all).
        XCTAssertLessThanOrEqual(inGroups, 6, "writing row groups allocates")
    }
}
