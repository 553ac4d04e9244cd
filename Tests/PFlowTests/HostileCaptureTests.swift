import PFlowCore
import Foundation
import XCTest
@testable import PFlowCapture

/// The reader under files built to hurt it: many link types and interfaces,
/// millions of bad sections, records over the size limit, names that are not
/// UTF-8, clocks that jump. Work must stay linear and memory bounded.
final class HostileCaptureTests: XCTestCase {
    typealias F = Fixture
    static let frame = F.ethernet(type: 0x0800, F.ipv4(src: [10, 0, 0, 1], dst: [10, 0, 0, 2], proto: 17,
                                                        F.udp(sport: 5000, dport: 53, payload: [1, 2, 3])))

    /// A file of `count` IDBs with link types 0, 1, 2, … (wrapping at 65,536),
    /// then one packet on the first and one on the last interface.
    func idbFile(count: Int) -> [UInt8] {
        var bytes = F.shb(bigEndian: false)
        let idb = F.idb(linkType: 0, bigEndian: false)
        bytes.reserveCapacity(bytes.count + count * idb.count + 200)
        for i in 0..<count {
            var b = idb
            b[8] = UInt8(i & 0xFF); b[9] = UInt8((i >> 8) & 0xFF)
            bytes += b
        }
        bytes += F.epb(interface: 0, units: 1, Self.frame, bigEndian: false)
        bytes += F.epb(interface: UInt32(count - 1), units: 2, Self.frame, bigEndian: false)
        return bytes
    }

    func testEveryLinkTypeOnceAndInterfacesCappedPerSection() throws {
        let cap = CaptureFile.maximumInterfacesPerSection
        let path = F.file(idbFile(count: cap + 1000), name: "idbs.pcapng")
        let file = try CaptureFile(path: path)
        var records = 0
        let summary = try file.forEachRecord { _ in records += 1 }
        XCTAssertNil(summary.damage)
        XCTAssertEqual(file.linkTypes.count, 65_536, "each 16-bit link type once")
        XCTAssertEqual(file.linkTypes.first?.rawValue, 0)
        XCTAssertEqual(file.linkTypes.last?.rawValue, 65_535)
        XCTAssertEqual(summary.ignoredInterfaces, 1000)
        XCTAssertEqual(summary.ignoredInterfaceRecords, 1)
        XCTAssertEqual(records, 1, "the packet on an interface past the limit is skipped")
        XCTAssertEqual(summary.notes.count, 1)
        XCTAssertTrue(summary.notes[0].hasSuffix("1,000 interface description(s) beyond the 65,536 one section may declare were ignored, and the 1 packet block(s) on them skipped"),
                      summary.notes[0])
        // A new section starts counting again.
        var two = idbFile(count: 3)
        two += F.shb(bigEndian: false) + F.idb(linkType: 1, bigEndian: false)
            + F.epb(interface: 0, units: 3, Self.frame, bigEndian: false)
        let (r, s) = try F.records(F.file(two, name: "two.pcapng"))
        XCTAssertEqual(r.count, 3)
        XCTAssertEqual(s.ignoredInterfaces, 0)
    }

    /// 1M IDBs took 22 s when every one searched the link-type list; the
    /// work per IDB must not grow with the number of link types.
    func testManyInterfacesReadInLinearTime() throws {
        func seconds(_ count: Int) throws -> Double {
            let path = F.file(idbFile(count: count), name: "n.pcapng")
            defer { try? FileManager.default.removeItem(atPath: path) }
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try CaptureFile(path: path).forEachRecord { _ in }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        _ = try seconds(20_000)  // warm up
        let small = try seconds(65_536), big = try seconds(4 * 65_536)
        XCTAssertLessThan(big, max(0.05, small) * 8, "65,536 IDBs: \(small) s; 4x: \(big) s")
    }

    func testRepeatedWarningsAreSummarisedPerFile() throws {
        var bytes: [UInt8] = []
        for _ in 0..<1000 { bytes += F.shb(bigEndian: false, major: 3) + F.idb(linkType: 1, bigEndian: false) }
        bytes += F.shb(bigEndian: false) + F.idb(linkType: 1, bigEndian: false)
            + F.epb(interface: 0, units: 1, Self.frame, bigEndian: false)
        let path = F.file(bytes, name: "v3.pcapng")
        let (records, summary) = try F.records(path)
        XCTAssertEqual(records.count, 1)
        XCTAssertEqual(summary.notes.count, 6, "\(summary.notes.prefix(8))")
        XCTAssertTrue(summary.notes[0].hasSuffix(": section at byte offset 0 has unsupported version 3.0; skipped"))
        XCTAssertEqual(summary.notes[5], "\(path): … and 995 more sections of unsupported versions skipped")
    }

    func testRecordOverTheLimitSaysSo() throws {
        // The bytes are all there: the reason is the size, not the file's end.
        let big = [UInt8](repeating: 0, count: (64 << 20) + 1)
        let pcap = F.pcap([F.Packet(seconds: 1, fraction: 0, bytes: Self.frame),
                           F.Packet(seconds: 2, fraction: 0, bytes: big)], snaplen: 0xFFFF_FFFF)
        let (records, summary) = try F.records(F.file(pcap))
        XCTAssertEqual(records.count, 1)
        let at = UInt64(24 + 16 + Self.frame.count)
        XCTAssertEqual(summary.damage?.offset, at)
        XCTAssertEqual(summary.damage?.reason, "record of 67,108,881 bytes is over the 64 MiB limit of one record")
        XCTAssertFalse(summary.damage?.reason.contains("ends") ?? true)

        let ng = F.shb(bigEndian: false) + F.idb(linkType: 1, bigEndian: false)
            + F.epb(interface: 0, units: 1, big, bigEndian: false)
        let (none, damaged) = try F.records(F.file(ng, name: "big.pcapng"))
        XCTAssertEqual(none.count, 0)
        XCTAssertEqual(damaged.damage?.reason, "block of type 0x6 of 67,108,900 bytes is over the 64 MiB limit of one record")
        // Lengths no block can have are still called impossible.
        var odd = F.shb(bigEndian: false) + F.idb(linkType: 1, bigEndian: false)
        odd += F.le32(6) + F.le32(13) + [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(try F.records(F.file(odd, name: "odd.pcapng")).1.damage?.reason, "block of type 0x6 has impossible length 13")
    }

    func testDisplayNames() {
        func shown(_ bytes: [UInt8]) -> String { CaptureFile.displayName(bytes) }
        XCTAssertEqual(shown(Array("plain/ä€😀.pcap".utf8)), "plain/ä€😀.pcap")
        XCTAssertEqual(shown(Array("cap".utf8) + [0xFF] + Array(".pcap".utf8)), "cap\\xFF.pcap")
        XCTAssertEqual(shown([0x1B, 0x5D, 0x30, 0x3B, 0x78, 0x07, 0x1B, 0x5B, 0x33, 0x31, 0x6D]), "\\x1B]0;x\\x07\\x1B[31m")
        XCTAssertEqual(shown([0x61, 0x7F, 0x0A, 0x09]), "a\\x7F\\x0A\\x09")
        XCTAssertEqual(shown([0xC2, 0x9B, 0x32, 0x4A]), "\\xC2\\x9B2J", "C1 CSI")
        XCTAssertEqual(shown([0xC0, 0xAF]), "\\xC0\\xAF", "overlong /")
        XCTAssertEqual(shown([0xED, 0xA0, 0x80]), "\\xED\\xA0\\x80", "a surrogate")
        XCTAssertEqual(shown([0xF4, 0x90, 0x80, 0x80]), "\\xF4\\x90\\x80\\x80", "past U+10FFFF")
        XCTAssertEqual(shown([0xE2, 0x82]), "\\xE2\\x82", "cut short")
        XCTAssertEqual(shown([0xE2, 0x82, 0x41]), "\\xE2\\x82A")
    }

    /// A file whose name is not UTF-8 is opened by its bytes; a String
    /// conversion would have turned 0xFF into U+FFFD and named another file.
    func testPathThatIsNotUTF8() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pflow-tests-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let name = Array((dir + "/cap").utf8) + [0xFF] + Array(".pcap".utf8)
        let bytes = F.pcap([F.Packet(seconds: 1, fraction: 0, bytes: Self.frame)])
        let fd = open(name.map { CChar(bitPattern: $0) } + [0], O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, bytes.count)
        close(fd)
        defer { _ = unlink(name.map { CChar(bitPattern: $0) } + [0]) }
        let file = try CaptureFile(pathBytes: name)
        XCTAssertEqual(file.pathBytes, name)
        XCTAssertEqual(file.path, dir + "/cap\\xFF.pcap")
        var count = 0
        _ = try file.forEachRecord { _ in count += 1 }
        XCTAssertEqual(count, 1)
        XCTAssertNotNil(file.identity)
        // The repaired name is another file: not found.
        XCTAssertThrowsError(try CaptureFile(path: String(decoding: name, as: UTF8.self))) { e in
            XCTAssertEqual((e as? CaptureError)?.message, dir + "/cap\u{FFFD}.pcap: No such file or directory")
        }
        // Errors show the escaped name; a NUL can't be passed to open().
        XCTAssertThrowsError(try CaptureFile(pathBytes: Array("/nonexistent/\u{1B}[2J".utf8))) { e in
            XCTAssertEqual((e as? CaptureError)?.message, "/nonexistent/\\x1B[2J: No such file or directory")
        }
        XCTAssertThrowsError(try CaptureFile(pathBytes: name + [0]))
        // Two names of one file have one identity.
        XCTAssertEqual(try CaptureFile(pathBytes: Array((dir + "/./").utf8) + Array(name[(dir.utf8.count + 1)...])).identity,
                       file.identity)
    }

    func testClockJumpsAreCountedWithOneLine() throws {
        let t2026: UInt32 = 1_767_225_600, t2106: UInt32 = 4_294_000_000
        let packets = [t2026, t2026 + 1, t2106, t2026 + 2, t2026 + 3].map {
            F.Packet(seconds: $0, fraction: 0, bytes: Self.frame)
        }
        let path = F.file(F.pcap(packets))
        let (records, summary) = try F.records(path)
        XCTAssertEqual(records.count, 5)
        XCTAssertEqual(records[2].ts, Int64(t2106) * 1_000_000_000, "read as it is")
        XCTAssertEqual(summary.clockJumps, 2)
        XCTAssertEqual(summary.clockJumpsBackward, 1)
        let at = 24 + 2 * (16 + Self.frame.count)
        XCTAssertEqual(summary.clockJumpNote, "\(path): record times jump by more than a day 2 times, 1 of them backwards "
                       + "(first at byte offset \(at): 29,245 days later than the record before); the records are analysed with the times they have")
        XCTAssertTrue(summary.notes.isEmpty, "merged captures jump too: the line is offered, not a note")
        // Steady captures, and a jump of exactly a day, are no jump.
        let day = F.pcap([F.Packet(seconds: t2026, fraction: 0, bytes: Self.frame),
                          F.Packet(seconds: t2026 + 86_400, fraction: 0, bytes: Self.frame)])
        let (_, steady) = try F.records(F.file(day))
        XCTAssertEqual(steady.clockJumps, 0)
        XCTAssertNil(steady.clockJumpNote)
    }

    func testDisplayNameOfStrings() {
        let plain = "an ordinary name ä"
        XCTAssertEqual(CaptureFile.displayName(plain), plain)
        XCTAssertEqual(CaptureFile.displayName("\u{1B}]0;x\u{07}\u{1B}[31mevil"), "\\x1B]0;x\\x07\\x1B[31mevil")
        XCTAssertEqual(CaptureFile.displayName("a\u{9B}2J"), "a\\xC2\\x9B2J")
        XCTAssertEqual(CaptureFile.displayName("=HYPERLINK(\"x\")"), "=HYPERLINK(\"x\")", "formulas are the CSV writer's business")
    }

    /// An output path onto an input, or onto another capture, is refused;
    /// a new path, a CSV, a tiny file and a device are fine.
    func testOutputProblems() throws {
        let capture = F.file(F.pcap([F.Packet(seconds: 1, fraction: 0, bytes: Self.frame)]))
        let input = try CaptureFile(path: capture)
        let ids = [try XCTUnwrap(input.identity)]
        XCTAssertEqual(CaptureFile.outputProblem(pathBytes: Array(capture.utf8), inputs: ids),
                       OutputProblem(path: capture, isInput: true))
        XCTAssertEqual(CaptureFile.outputProblem(pathBytes: Array(capture.utf8), inputs: ids)?.message,
                       "\(capture) is an input; not writing over it")
        XCTAssertEqual(FileIdentity(pathBytes: Array(capture.utf8)), input.identity)
        XCTAssertNil(FileIdentity(pathBytes: Array("/nonexistent/x".utf8)))
        XCTAssertNil(FileIdentity(pathBytes: Array("/dev/null".utf8)))
        // Another name of the same file is the same input.
        let other = capture + ".link"
        try FileManager.default.linkItem(atPath: capture, toPath: other)
        XCTAssertEqual(CaptureFile.outputProblem(pathBytes: Array(other.utf8), inputs: ids)?.isInput, true)
        // A capture that is not an input: refused too (pcapng, gzip, an odd version).
        XCTAssertEqual(CaptureFile.outputProblem(pathBytes: Array(capture.utf8), inputs: [])?.message,
                       "\(capture) looks like a capture; not overwriting it")
        let ng = F.file(F.shb(bigEndian: false) + F.idb(linkType: 1, bigEndian: false), name: "x.pcapng")
        XCTAssertEqual(CaptureFile.outputProblem(pathBytes: Array(ng.utf8), inputs: [])?.isInput, false)
        var odd = F.pcap([])
        odd[4] = 9
        XCTAssertEqual(CaptureFile.outputProblem(pathBytes: Array(F.file(odd).utf8), inputs: [])?.isInput, false)
        // Not captures: a CSV, a 2-byte file, a new path, a device, a directory.
        for path in [F.file(Array("start,end\n1,2\n".utf8), name: "x.csv"), F.file([0xD4, 0xC3], name: "tiny"),
                     capture + ".new", "/dev/null", FileManager.default.temporaryDirectory.path] {
            XCTAssertNil(CaptureFile.outputProblem(pathBytes: Array(path.utf8), inputs: ids), path)
        }
    }

    func testCommandLineBytes() {
        let bytes = CaptureFile.commandLineBytes()
        XCTAssertEqual(bytes.count, CommandLine.arguments.count - 1)
        for (raw, text) in zip(bytes, CommandLine.arguments.dropFirst()) where !text.contains("\u{FFFD}") {
            XCTAssertEqual(raw, Array(text.utf8))
        }
    }
}
