import Foundation
import PFlowCore
@testable import PFlowExport
import XCTest

/// Helpers shared by the Export*Tests (address parsing, running outside
/// tools, installing them best effort), and the byte buffer's own tests.
enum ExportTestSupport {
    /// An address from its text form (inet_pton), IPv4 stored mapped.
    static func ip(_ text: String) -> IPAddress {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return IPAddress(ipv4: UInt32(bigEndian: v4.s_addr))
        }
        var v6 = in6_addr()
        precondition(inet_pton(AF_INET6, text, &v6) == 1, "bad address \(text)")
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
        return IPAddress(high: high, low: low)
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion (stdin closed), with a time limit.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 300) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Read both pipes while it runs, so a chatty tool can't block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        group.wait()
        return Run(status: p.terminationStatus,
                   stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
    }

    /// The path of `name` on PATH (or in the sbin directories), or nil.
    static func which(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/local/sbin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static var python: String? { which("python3") }

    /// SIGKILLs a process this test started and its children (their pids
    /// from /proc, so nothing else is touched).
    static func killTree(_ pid: Int32) {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { killTree(child) }
        kill(pid, SIGKILL)
    }

    /// Makes `import module` work, installing `package` with pip if needed;
    /// skips the test (with the reason) when it can't.
    static func requirePythonModule(_ module: String, package: String) throws -> String {
        guard let python else { throw XCTSkip("python3 is not installed") }
        if try run(python, ["-c", "import \(module)"]).status == 0 { return python }
        let install = try run(python, ["-m", "pip", "install", "--quiet", package], timeout: 240)
        if try run(python, ["-c", "import \(module)"]).status == 0 { return python }
        throw XCTSkip("python module \(module) unavailable (pip install \(package): \(install.stderr.suffix(300)))")
    }

    /// Makes `tool` available, installing the Debian `package` if needed
    /// (as root, best effort); skips the test when it can't.
    static func requireTool(_ tool: String, debianPackage package: String) throws -> String {
        if let path = which(tool) { return path }
        if getuid() == 0, let apt = which("apt-get") {
            var install = try run(apt, ["install", "-y", "-q", package], timeout: 300)
            if install.status != 0 {
                _ = try run(apt, ["update", "-q"], timeout: 300)
                install = try run(apt, ["install", "-y", "-q", package], timeout: 300)
            }
            if let path = which(tool) { return path }
            throw XCTSkip("\(tool) unavailable: apt-get install \(package) failed: \(install.stderr.suffix(300))")
        }
        throw XCTSkip("\(tool) is not installed and can't be installed here (package \(package))")
    }

    static func temporaryDirectory(_ name: String) throws -> String {
        let dir = NSTemporaryDirectory() + "pflow-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A free UDP port on the loopback address (bound and released).
    static func freeUDPPort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = 0
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return UInt16(bigEndian: a.sin_port)
    }
}

final class ExportHelpersTests: XCTestCase {
    private func text(_ body: (inout ExportBuffer) -> Void) -> String {
        var b = ExportBuffer(capacity: 4)  // small: growth is exercised too
        body(&b)
        return String(decoding: b.bytes, as: UTF8.self)
    }

    func testDecimals() {
        for v: UInt64 in [0, 1, 9, 10, 99, 100, 65535, 1_000_000_007, UInt64(UInt32.max), UInt64.max] {
            XCTAssertEqual(text { $0.appendDecimal(v) }, String(v))
        }
        XCTAssertEqual(text { $0.appendDecimal(Int64.min) }, String(Int64.min))
        XCTAssertEqual(text { $0.appendDecimal(Int64(-42)) }, "-42")
        XCTAssertEqual(text { $0.appendPadded(7, width: 6) }, "000007")
    }

    func testSecondsWithSixDecimals() {
        XCTAssertEqual(text { $0.appendSeconds6(nanoseconds: 1_258_531_221_486_539_000) }, "1258531221.486539")
        XCTAssertEqual(text { $0.appendSeconds6(nanoseconds: 1_258_531_221_486_539_499) }, "1258531221.486539")
        XCTAssertEqual(text { $0.appendSeconds6(nanoseconds: 1_258_531_221_486_539_500) }, "1258531221.486540")
        XCTAssertEqual(text { $0.appendSeconds6(nanoseconds: 999_999_999) }, "1.000000")
        XCTAssertEqual(text { $0.appendSeconds6(nanoseconds: 0) }, "0.000000")
        XCTAssertEqual(text { $0.appendSeconds6(nanoseconds: 163_820_000) }, "0.163820")
        XCTAssertEqual(text { $0.appendSeconds6(nanoseconds: -1_250_000_000) }, "-1.250000")
        XCTAssertEqual(text { $0.appendSeconds6(nanoseconds: -2_000_000_000) }, "-2.000000")
    }

    /// The buffer's address text is `IPAddress.description`, byte for byte.
    func testAddressesMatchDescription() {
        var fixed = ["0.0.0.0", "255.255.255.255", "10.0.0.1", "::", "::1", "1::", "fe80::1", "2001:db8::1:0:0:1",
                     "2001:db8:0:0:1::1", "1:0:0:2:0:0:0:3", "fe80:1:203:405:607:809:a0b:c0d", "ff02::2",
                     "3ffe:507:0:1:200:86ff:fe05:80da"].map(ExportTestSupport.ip)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            // Sparse groups, so runs of zeros of every length occur.
            var high: UInt64 = 0, low: UInt64 = 0
            for i in 0..<4 where Bool.random(using: &rng) { high |= UInt64.random(in: 0...0xFFFF, using: &rng) << UInt64(16 * i) }
            for i in 0..<4 where Bool.random(using: &rng) { low |= UInt64.random(in: 0...0xFFFF, using: &rng) << UInt64(16 * i) }
            fixed.append(IPAddress(high: high, low: low))
            fixed.append(IPAddress(ipv4: UInt32.random(in: 0...UInt32.max, using: &rng)))
        }
        for a in fixed {
            XCTAssertEqual(text { $0.appendAddress(a) }, a.description)
        }
    }

    func testFlowUID() {
        XCTAssertEqual(FlowUID.string(0), "C00000000000")
        XCTAssertEqual(FlowUID.string(61), "C0000000000z")
        XCTAssertEqual(FlowUID.string(62), "C00000000010")
        XCTAssertEqual(FlowUID.string(UInt64.max).count, FlowUID.length)
        XCTAssertLessThan(FlowUID.string(1000), FlowUID.string(1001))
    }
}
