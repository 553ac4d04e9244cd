import Foundation
import XCTest
@testable import PFlowParquet

/// The encoders as they were before their fast paths (a byte, a value, a
/// branch at a time), kept here as the reference: the fast ones must give
/// the same bytes for every input, so files stay byte-identical.
private enum ReferenceHybrid {
    /// Repeats shorter than this stay in the bit-packed stretch around them:
    /// a separate run costs a header and breaks the stretch.
    static let minimumRepeat = 8

    static func encode<T: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<T>, bitWidth: Int, into out: ByteBuffer
    ) {
        precondition(bitWidth >= 1 && bitWidth <= 32)
        let n = values.count
        var i = 0
        var literalStart = 0
        while i < n {
            let v = values[i]
            var j = i + 1
            while j < n && values[j] == v { j += 1 }
            let repeatCount = j - i
            if repeatCount >= minimumRepeat {
                let pending = i - literalStart
                let lend = (8 - pending % 8) % 8
                if repeatCount - lend >= minimumRepeat {
                    if pending + lend > 0 {
                        bitPacked(values, literalStart..<(i + lend), bitWidth: bitWidth, into: out)
                    }
                    repeated(UInt64(v), count: repeatCount - lend, bitWidth: bitWidth, into: out)
                    literalStart = j
                }
            }
            i = j
        }
        if literalStart < n {
            bitPacked(values, literalStart..<n, bitWidth: bitWidth, into: out)
        }
    }

    static func repeated(_ value: UInt64, count: Int, bitWidth: Int, into out: ByteBuffer) {
        out.appendVarint(UInt64(count) << 1)
        var v = value
        for _ in 0..<((bitWidth + 7) / 8) {
            out.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }

    /// The values in `range`, padded with zeros to whole groups of eight.
    /// The bytes go through a local pointer into room reserved once: a
    /// ByteBuffer append per byte (its room check and count) cost more
    /// than the packing.
    static func bitPacked<T: FixedWidthInteger & UnsignedInteger>(
        _ values: UnsafeBufferPointer<T>, _ range: Range<Int>, bitWidth: Int, into out: ByteBuffer
    ) {
        let groups = (range.count + 7) / 8
        out.appendVarint(UInt64(groups) << 1 | 1)
        // groups * 8 * bitWidth bits is a whole number of bytes: nothing is left in acc.
        let total = groups * bitWidth
        let dst = out.tail(reserving: total)
        let mask: UInt64 = (1 << UInt64(bitWidth)) - 1
        var acc: UInt64 = 0
        var bits = 0
        var o = 0
        for index in range.lowerBound..<(range.lowerBound + groups * 8) {
            let v = index < range.upperBound ? UInt64(values[index]) & mask : 0
            acc |= v << UInt64(bits)
            bits += bitWidth
            while bits >= 8 {
                dst.storeBytes(of: UInt8(truncatingIfNeeded: acc), toByteOffset: o, as: UInt8.self)
                o += 1
                acc >>= 8
                bits -= 8
            }
        }
        out.didWrite(o)
    }

}

private enum ReferenceDelta {
    static let blockSize = 128
    static let miniblocks = 4
    static let miniblockSize = blockSize / miniblocks

    @inline(__always)
    static func zigzag(_ v: Int64) -> UInt64 {
        UInt64(bitPattern: (v &<< 1) ^ (v >> 63))
    }

    /// Encodes `count` values stored PLAIN (8 bytes little-endian each) at `plain`.
    static func encode(plain: UnsafeRawPointer, count: Int, into out: ByteBuffer) {
        out.appendVarint(UInt64(blockSize))
        out.appendVarint(UInt64(miniblocks))
        out.appendVarint(UInt64(count))
        guard count > 0 else {
            out.appendVarint(0)
            return
        }
        @inline(__always) func value(_ i: Int) -> Int64 {
            Int64(littleEndian: plain.loadUnaligned(fromByteOffset: i &* 8, as: Int64.self))
        }
        out.appendVarint(zigzag(value(0)))
        // One block's deltas, then (in place) each minus the block's minimum.
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: blockSize) { block in
            var previous = value(0)
            var next = 1
            while next < count {
                let n = min(blockSize, count - next)
                var minDelta = Int64.max
                for k in 0..<n {
                    let v = value(next + k)
                    let d = v &- previous
                    previous = v
                    block[k] = UInt64(bitPattern: d)
                    if d < minDelta { minDelta = d }
                }
                next += n
                out.appendVarint(zigzag(minDelta))
                // Widths first (they precede the bodies), then the bodies.
                let widthsAt = out.count
                out.reserve(miniblocks + blockSize * 8)
                for _ in 0..<miniblocks { out.append(0) }
                let used = (n + miniblockSize - 1) / miniblockSize
                for m in 0..<used {
                    let lo = m * miniblockSize
                    let hi = min(lo + miniblockSize, n)
                    var all: UInt64 = 0
                    for k in lo..<hi {
                        let a = block[k] &- UInt64(bitPattern: minDelta)
                        block[k] = a
                        all |= a
                    }
                    let width = 64 - all.leadingZeroBitCount
                    out.setByte(UInt8(width), at: widthsAt + m)
                    guard width > 0 else { continue }
                    pack(block, lo, hi, width: width, into: out)
                }
            }
        }
    }

    /// One miniblock: `miniblockSize` values of `width` bits (those past
    /// `hi` are zeros), 4 × width bytes in all, stored through a local
    /// pointer into room reserved once (not an append per word).
    @inline(__always)
    static func pack(_ block: UnsafeMutableBufferPointer<UInt64>, _ lo: Int, _ hi: Int, width: Int,
                     into out: ByteBuffer) {
        let dst = out.tail(reserving: 4 * width)
        var o = 0
        var acc: UInt64 = 0
        var bits = 0
        for k in lo..<(lo + miniblockSize) {
            let v = k < hi ? block[k] : 0
            acc |= v &<< UInt64(bits)
            if bits + width >= 64 {
                dst.storeBytes(of: acc.littleEndian, toByteOffset: o, as: UInt64.self)
                o += 8
                acc = bits == 0 ? 0 : v &>> UInt64(64 - bits)
                bits = bits + width - 64
            } else {
                bits += width
            }
        }
        // 32 × width bits: a whole number of 32-bit words, so 0 or 4 bytes are left.
        if bits > 0 {
            dst.storeBytes(of: UInt32(truncatingIfNeeded: acc).littleEndian, toByteOffset: o, as: UInt32.self)
            o += 4
        }
        out.didWrite(o)
    }

}

final class ParquetFastPathTests: XCTestCase {
    private func bytes(_ body: (ByteBuffer) -> Void) -> [UInt8] {
        let out = ByteBuffer(capacity: 16)
        body(out)
        return out.array
    }

    func testHybridMatchesTheReference() {
        var rng = ParquetRandom(seed: 23)
        for trial in 0..<2000 {
            let width = trial % 3 == 0 ? 1 : 1 + Int(rng.next() % 32)
            let limit = width == 32 ? UInt64(UInt32.max) : (UInt64(1) << UInt64(width)) - 1
            let n = Int(rng.next() % 700)
            var values: [UInt32] = []
            while values.count < n {
                let v = UInt32(truncatingIfNeeded: rng.next() & limit)
                let repeats = rng.next() % 3 == 0 ? Int(rng.next() % 40) : 1
                values += [UInt32](repeating: v, count: min(repeats, n - values.count))
            }
            values.withUnsafeBufferPointer { p in
                XCTAssertEqual(bytes { HybridEncoder.encode(p, bitWidth: width, into: $0) },
                               bytes { ReferenceHybrid.encode(p, bitWidth: width, into: $0) }, "trial \(trial)")
            }
            if width == 1 {
                // Levels: bytes 0 and 1, in long and short runs.
                let levels = values.map { UInt8($0 & 1) }
                levels.withUnsafeBufferPointer { p in
                    XCTAssertEqual(bytes { HybridEncoder.encode(p, bitWidth: 1, into: $0) },
                                   bytes { ReferenceHybrid.encode(p, bitWidth: 1, into: $0) }, "levels, trial \(trial)")
                }
            }
        }
    }

    func testDeltaMatchesTheReference() {
        var rng = ParquetRandom(seed: 29)
        for trial in 0..<2000 {
            let n = [0, 1, 2, 31, 32, 33, 127, 128, 129, 130, 257, 1000][trial % 12] + Int(rng.next() % 70)
            var values: [UInt64] = []
            var v = rng.next()
            let bits = UInt64(rng.next() % 65)
            for _ in 0..<n {
                switch trial % 5 {
                case 0: v = v &+ rng.next() % 1000
                case 1: v = rng.next() % 70_000
                case 2: v = rng.next() % 2 == 0 ? UInt64(bitPattern: .min) : UInt64(bitPattern: .max)
                case 3: v = bits == 64 ? rng.next() : rng.next() & ((1 << bits) - 1)
                default: v = rng.next()
                }
                values.append(v.littleEndian)
            }
            values.append(0)  // so that even no values have an address
            values.withUnsafeBytes { p in
                guard let base = p.baseAddress else { return XCTFail("no address") }
                XCTAssertEqual(bytes { DeltaEncoder.encode(plain: base, count: n, into: $0) },
                               bytes { ReferenceDelta.encode(plain: base, count: n, into: $0) }, "trial \(trial)")
            }
        }
    }

    /// A row is checked by its count and a bit a column (up to 64 columns),
    /// else by every column's count: a column given twice while another is
    /// left out keeps the count right and must still be caught.
    func testRowChecksCatchATwiceAndAMissingColumn() throws {
        let dir = NSTemporaryDirectory() + "pflow-fastpath-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for width in [3, 64, 70] {
            let path = dir + "/rows-\(width).parquet"
            let columns = (0..<width).map { ParquetColumn("c\($0)", .int64) }
            let w = try ParquetWriter(path: path, columns: columns)
            for row in 0..<3 {
                for c in 0..<width { w.append(Int64(row * c), column: c) }
                try w.endRow()
            }
            for c in 0..<width { w.append(Int64(c == 1 ? 0 : 1), column: c == width - 1 ? 1 : c) }
            var thrown: ParquetError?
            do { try w.endRow() } catch { thrown = error }
            XCTAssertEqual(thrown, .usage(path: path, reason: "row 3: column 'c1' given two values"), "\(width) columns")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path))

            let v = try ParquetWriter(path: path, columns: columns)
            for c in 0..<(width - 1) { v.append(Int64(c), column: c) }
            thrown = nil
            do { try v.endRow() } catch { thrown = error }
            XCTAssertEqual(thrown, .usage(path: path, reason: "row 0: column 'c\(width - 1)' has no value"))
        }
    }

    /// The statistics' byte order, a word at a time, against Array's
    /// lexicographic order on strings sharing prefixes of every length.
    func testByteCompareMatchesLexicographicOrder() {
        var rng = ParquetRandom(seed: 31)
        for trial in 0..<5000 {
            let shared = (0..<Int(rng.next() % 20)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 4) }
            let a = shared + (0..<Int(rng.next() % 12)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 4) }
            let b = shared + (0..<Int(rng.next() % 12)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 4) }
            let want = a == b ? 0 : (a.lexicographicallyPrecedes(b) ? -1 : 1)
            let got = a.withUnsafeBytes { x in b.withUnsafeBytes { y in ByteBuffer.compare(x, y) } }
            XCTAssertEqual(got, want, "trial \(trial): \(a) \(b)")
        }
    }
}
