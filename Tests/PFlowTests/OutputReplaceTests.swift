import CPlatform
import Foundation
@testable import PFlowExport
@testable import PFlowOutput
import XCTest

/// Opening an output path that holds a file, as the command does when it
/// reads files (`pflow_replace_big_outputs(1)`): a big regular file of ours
/// is replaced by a new one with its permissions (its blocks are freed off
/// the caller's path), anything else is truncated in place, as `>` does.
/// Live capture leaves replacing off: everything is truncated in place.
final class OutputReplaceTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "pflow-replace-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        pflow_replace_big_outputs(1)
    }

    override func tearDownWithError() throws {
        pflow_replace_big_outputs(0)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ path: String, bytes: Int, mode: mode_t = 0o644) throws {
        try Data(repeating: 0x41, count: bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(chmod(path, mode), 0)
    }

    private func info(_ path: String, follow: Bool = true) -> stat {
        var s = stat()
        XCTAssertEqual(follow ? stat(path, &s) : lstat(path, &s), 0, path)
        return s
    }

    private func contents(_ path: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    }

    /// Writes `text` through an OutputSink opened on `path`, then closes it.
    private func sink(_ path: String, _ text: String) throws {
        let sink = try OutputSink(path: path)
        sink.write(text)
        sink.flush()
        XCTAssertFalse(sink.failed)
    }

    func testABigFileIsReplacedWithItsPermissions() throws {
        let path = directory + "/flows.csv"
        try write(path, bytes: 2 << 20, mode: 0o640)
        let before = info(path)
        try sink(path, "new\n")
        let after = info(path)
        XCTAssertEqual(try contents(path), "new\n")
        XCTAssertNotEqual(after.st_ino, before.st_ino, "a big file is replaced, not truncated")
        XCTAssertEqual(after.st_mode & 0o7777, 0o640)
        XCTAssertEqual(after.st_nlink, 1)
        // Nothing is left beside it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["flows.csv"])
    }

    func testWithReplacingOffABigFileIsTruncatedInPlace() throws {
        pflow_replace_big_outputs(0)
        let path = directory + "/live.csv"
        try write(path, bytes: 2 << 20, mode: 0o640)
        let before = info(path)
        try sink(path, "live\n")
        XCTAssertEqual(try contents(path), "live\n")
        XCTAssertEqual(info(path).st_ino, before.st_ino, "live capture's outputs are truncated, as tail -f expects")
    }

    func testASmallFileIsTruncatedInPlace() throws {
        let path = directory + "/small.csv"
        try write(path, bytes: 100, mode: 0o600)
        let before = info(path)
        try sink(path, "x\n")
        XCTAssertEqual(try contents(path), "x\n")
        XCTAssertEqual(info(path).st_ino, before.st_ino)
        XCTAssertEqual(info(path).st_mode & 0o7777, 0o600)
    }

    func testAFileWithAnotherLinkIsTruncatedForBoth() throws {
        let path = directory + "/linked.csv", other = directory + "/other-name.csv"
        try write(path, bytes: 2 << 20)
        XCTAssertEqual(link(path, other), 0)
        try sink(path, "both\n")
        XCTAssertEqual(try contents(path), "both\n")
        XCTAssertEqual(try contents(other), "both\n", "a hard link still names the output")
        XCTAssertEqual(info(path).st_ino, info(other).st_ino)
    }

    func testASymlinkIsWrittenThrough() throws {
        let target = directory + "/target.csv", path = directory + "/via-link.csv"
        try write(target, bytes: 2 << 20)
        XCTAssertEqual(symlink(target, path), 0)
        try sink(path, "through\n")
        XCTAssertEqual(info(path, follow: false).st_mode & S_IFMT, S_IFLNK, "the link stays a link")
        XCTAssertEqual(try contents(target), "through\n")
    }

    func testAMissingFileIsCreated() throws {
        let path = directory + "/fresh.csv"
        try sink(path, "fresh\n")
        XCTAssertEqual(try contents(path), "fresh\n")
    }

    func testTheExportFileSinkReplacesToo() throws {
        let path = directory + "/conn.log"
        try write(path, bytes: 2 << 20, mode: 0o604)
        let before = info(path)
        do {
            let sink = try FileSink(path: path)
            try "log\n".utf8CString.dropLast().withUnsafeBytes { try sink.write($0) }
        }
        XCTAssertEqual(try contents(path), "log\n")
        XCTAssertNotEqual(info(path).st_ino, before.st_ino)
        XCTAssertEqual(info(path).st_mode & 0o7777, 0o604)
    }

    func testADirectoryOrUnwritablePathStillFails() throws {
        XCTAssertThrowsError(try OutputSink(path: directory))
        XCTAssertThrowsError(try OutputSink(path: directory + "/no/such/dir/out.csv"))
    }
}
