import PFlowCore
import XCTest
@testable import PFlowCapture

final class CaptureTests: XCTestCase {
    typealias F = Fixture
    static let frameA = F.ethernet(type: 0x0800, F.ipv4(src: [10, 0, 0, 1], dst: [10, 0, 0, 2], proto: 17,
                                                         F.udp(sport: 5000, dport: 53, payload: [1, 2, 3])))
    static let frameB = F.ethernet(type: 0x0806, [UInt8](repeating: 7, count: 28))

    func testPcapAllMagicsAndByteOrders() throws {
        for bigEndian in [false, true] {
            for nanos in [false, true] {
                let packets = [F.Packet(seconds: 1_767_225_600, fraction: nanos ? 123_456_789 : 123_456, bytes: Self.frameA),
                               F.Packet(seconds: 1_767_225_601, fraction: 5, bytes: Self.frameB, originalLength: 1514)]
                let path = F.file(F.pcap(packets, bigEndian: bigEndian, nanos: nanos))
                let file = try CaptureFile(path: path)
                XCTAssertEqual(file.format, .pcap)
                XCTAssertEqual(file.timestampDigits, nanos ? 9 : 6)
                let (records, summary) = try F.records(path)
                XCTAssertNil(summary.damage)
                XCTAssertEqual(records.count, 2)
                XCTAssertEqual(records[0].ts, 1_767_225_600_123_456_789 - (nanos ? 0 : 789))
                XCTAssertEqual(records[0].bytes, Self.frameA)
                XCTAssertEqual(records[1].ts, 1_767_225_601_000_000_000 + (nanos ? 5 : 5000))
                XCTAssertEqual(records[1].len, 1514)
                XCTAssertEqual(records[1].link, 1)
            }
        }
    }

    func testPcapngBothByteOrdersInterfacesSectionsAndSkippedBlocks() throws {
        for be in [false, true] {
            var bytes = F.shb(bigEndian: be)
            bytes += F.idb(linkType: 1, bigEndian: be)                  // interface 0: Ethernet, µs
            bytes += F.idb(linkType: 101, tsresol: 9, bigEndian: be)    // interface 1: raw IP, ns
            bytes += F.block(0x0000_0BAD, [1, 2, 3, 4, 5], bigEndian: be)  // custom block
            bytes += F.epb(interface: 0, units: 1_767_225_600_000_001, Self.frameA, bigEndian: be)
            bytes += F.block(0x0000_0005, [UInt8](repeating: 0, count: 16), bigEndian: be)  // ISB
            bytes += F.epb(interface: 1, units: 1_767_225_600_000_000_002, Array(Self.frameA[14...]),
                           originalLength: 9000, bigEndian: be)
            bytes += F.spb(Self.frameB, bigEndian: be)
            // A second section, the other byte order, one interface of its own.
            bytes += F.shb(bigEndian: !be)
            bytes += F.idb(linkType: 113, bigEndian: !be)
            bytes += F.epb(interface: 0, units: 1_767_225_700_000_000, [UInt8](repeating: 0, count: 16), bigEndian: !be)
            let path = F.file(bytes, name: "f.pcapng")
            let file = try CaptureFile(path: path)
            XCTAssertEqual(file.format, .pcapng)
            _ = try file.forEachRecord { _ in }
            let (records, summary) = try F.records(path)
            XCTAssertNil(summary.damage, "\(be)")
            XCTAssertEqual(records.count, 4)
            XCTAssertEqual(records.map(\.link), [1, 101, 1, 113])
            XCTAssertEqual(records[0].ts, 1_767_225_600_000_001_000)
            XCTAssertEqual(records[1].ts, 1_767_225_600_000_000_002)
            XCTAssertEqual(records[1].len, 9000)
            XCTAssertEqual(records[2].ts, records[1].ts, "a simple packet block inherits the last timestamp")
            XCTAssertEqual(records[2].bytes, Self.frameB)
            XCTAssertEqual(records[3].ts, 1_767_225_700_000_000_000)
            XCTAssertEqual(file.timestampDigits, 9)
            XCTAssertEqual(file.linkTypes.map(\.rawValue), [1, 101, 113])
        }
    }

    func testPcapngUnsupportedSectionIsSkippedWithANote() throws {
        var bytes = F.shb(bigEndian: false, major: 2) + F.idb(linkType: 1, bigEndian: false)
            + F.epb(interface: 0, units: 1, Self.frameA, bigEndian: false)
        bytes += F.shb(bigEndian: false) + F.idb(linkType: 1, bigEndian: false)
            + F.epb(interface: 0, units: 2, Self.frameA, bigEndian: false)
        let (records, summary) = try F.records(F.file(bytes, name: "v2.pcapng"))
        XCTAssertEqual(records.count, 1)
        XCTAssertEqual(records[0].ts, 2000)
        XCTAssertEqual(summary.notes.count, 1)
        XCTAssertTrue(summary.notes[0].contains("unsupported version 2.0"))
    }

    func testFilesThatAreNotCaptures() {
        XCTAssertThrowsError(try CaptureFile(path: "/nonexistent/x.pcap")) { e in
            XCTAssertEqual((e as? CaptureError)?.message, "/nonexistent/x.pcap: No such file or directory")
        }
        let dir = FileManager.default.temporaryDirectory.path
        XCTAssertThrowsError(try CaptureFile(path: dir)) { e in
            XCTAssertEqual(e as? CaptureError, .isDirectory(path: dir))
        }
        let empty = F.file([])
        XCTAssertThrowsError(try CaptureFile(path: empty)) { e in XCTAssertEqual(e as? CaptureError, .empty(path: empty)) }
        let text = F.file(Array("hello, world\n".utf8))
        XCTAssertThrowsError(try CaptureFile(path: text)) { e in
            XCTAssertEqual((e as? CaptureError)?.message, "\(text): not a pcap or pcapng file (starts with 0x68656c6c)")
        }
        let gz = F.file([0x1F, 0x8B, 8, 0, 0, 0, 0, 0])
        XCTAssertThrowsError(try CaptureFile(path: gz)) { e in
            XCTAssertEqual(e as? CaptureError, .badGzip(path: gz, reason: "gzip stream ends early"))
        }
        var v1 = F.pcap([])
        v1[4] = 1
        let v1path = F.file(v1)
        XCTAssertThrowsError(try CaptureFile(path: v1path)) { e in
            XCTAssertEqual(e as? CaptureError, .unsupportedVersion(path: v1path, major: 1, minor: 4))
        }
        let short = F.file(Array(F.pcap([])[0..<10]))
        XCTAssertThrowsError(try CaptureFile(path: short)) { e in XCTAssertEqual(e as? CaptureError, .truncatedHeader(path: short)) }
    }

    func testDamagedPcapIsReadUpToTheDamage() throws {
        let good = F.pcap([F.Packet(seconds: 1, fraction: 0, bytes: Self.frameA),
                           F.Packet(seconds: 2, fraction: 0, bytes: Self.frameA)])
        // Cut inside the second record's data.
        let cut = Array(good[0..<(good.count - 3)])
        let (records, summary) = try F.records(F.file(cut))
        XCTAssertEqual(records.count, 1)
        let secondRecordAt = UInt64(24 + 16 + Self.frameA.count)
        XCTAssertEqual(summary.damage?.offset, secondRecordAt)
        XCTAssertTrue(summary.damage?.description.contains("at byte offset \(secondRecordAt)") ?? false)
        // An impossible captured length in the first record.
        var bogus = good
        bogus[24 + 8] = 0xFF; bogus[24 + 9] = 0xFF; bogus[24 + 10] = 0xFF; bogus[24 + 11] = 0x7F
        let (none, damaged) = try F.records(F.file(bogus))
        XCTAssertEqual(none.count, 0)
        XCTAssertEqual(damaged.damage?.offset, 24)
    }

    func testDamagedPcapngIsReadUpToTheDamage() throws {
        var bytes = F.shb(bigEndian: false) + F.idb(linkType: 1, bigEndian: false)
        let firstPacketAt = UInt64(bytes.count)
        bytes += F.epb(interface: 0, units: 1, Self.frameA, bigEndian: false)
        let secondPacketAt = UInt64(bytes.count)
        var second = F.epb(interface: 0, units: 2, Self.frameA, bigEndian: false)
        second[20] = 0xFF  // captured length larger than the block
        bytes += second
        let (records, summary) = try F.records(F.file(bytes, name: "d.pcapng"))
        XCTAssertEqual(records.count, 1)
        XCTAssertEqual(summary.damage?.offset, secondPacketAt)
        XCTAssertGreaterThan(secondPacketAt, firstPacketAt)
    }

    /// Every prefix of well-formed files reads cleanly or reports damage; it
    /// never reads out of bounds and never hands out a partial record.
    func testTruncationSweepOverFiles() throws {
        let pcap = F.pcap([F.Packet(seconds: 1, fraction: 0, bytes: Self.frameA),
                           F.Packet(seconds: 2, fraction: 0, bytes: Self.frameB)])
        var ng = F.shb(bigEndian: true) + F.idb(linkType: 1, tsresol: 9, bigEndian: true)
        ng += F.epb(interface: 0, units: 5, Self.frameA, bigEndian: true) + F.spb(Self.frameB, bigEndian: true)
        for (whole, name) in [(pcap, "p.pcap"), (ng, "p.pcapng")] {
            for n in 0..<whole.count {
                let path = F.file(Array(whole[0..<n]), name: name)
                guard let file = try? CaptureFile(path: path) else { continue }  // header incomplete: an error
                var count = 0
                let summary = try file.forEachRecord { r in
                    count += 1
                    XCTAssertTrue(r.bytes.count == Self.frameA.count || r.bytes.count == Self.frameB.count)
                }
                XCTAssertEqual(count, summary.records)
                XCTAssertLessThan(count, 2, "\(name) prefix \(n)")
                // A prefix that ends exactly at a record boundary is simply a shorter file.
                if summary.damage == nil {
                    XCTAssertTrue(n == 24 || n == 24 + 16 + Self.frameA.count || name.hasSuffix("ng"),
                                  "\(name) prefix \(n) read without damage")
                }
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }

    /// gzip-compressed captures are read transparently, concatenated members
    /// too; a cut stream is damage at a decompressed offset.
    func testGzipCaptures() throws {
        let packets = (0..<50).map { F.Packet(seconds: UInt32($0), fraction: 0, bytes: Self.frameA) }
        let plain = F.pcap(packets)
        let path = F.file(plain)
        func gzip(_ input: String, _ output: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "gzip -c '\(input)' > '\(output)'"]
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
        }
        let gz = path + ".gz"
        try gzip(path, gz)
        let file = try CaptureFile(path: gz)
        XCTAssertTrue(file.compressed)
        let (records, summary) = try F.records(gz)
        XCTAssertEqual(records.count, 50)
        XCTAssertNil(summary.damage)
        XCTAssertEqual(records.last?.ts, 49_000_000_000)
        // Two members: the second's bytes continue the first's capture.
        let half = F.file(Array(plain[0..<(24 + 10 * (16 + Self.frameA.count))]))
        let rest = F.file(Array(plain[(24 + 10 * (16 + Self.frameA.count))...]))
        try gzip(half, half + ".gz")
        try gzip(rest, rest + ".gz")
        let joined = F.file(Array(FileManager.default.contents(atPath: half + ".gz")!)
                            + Array(FileManager.default.contents(atPath: rest + ".gz")!), name: "two.pcap.gz")
        XCTAssertEqual(try F.records(joined).0.count, 50)
        // Cut in the middle of the compressed stream.
        let compressed = Array(FileManager.default.contents(atPath: gz)!)
        let cut = F.file(Array(compressed[0..<(compressed.count / 2)]), name: "cut.pcap.gz")
        let (some, damaged) = try F.records(cut)
        XCTAssertLessThan(some.count, 50)
        XCTAssertTrue(damaged.damage?.reason.contains("gzip stream ends early") ?? false, "\(String(describing: damaged.damage))")
        XCTAssertTrue(damaged.damage?.description.contains("of the decompressed data; analysed up to there") ?? false)
    }
}
