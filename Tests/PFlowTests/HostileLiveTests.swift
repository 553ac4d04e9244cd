import XCTest
@testable import PFlowLive

/// Live-capture set-up under bad input: sizes that overflow, filters libpcap
/// rejects, names that aren't interfaces. The capture cases need capture
/// rights and skip without them.
final class HostileLiveTests: XCTestCase {
    func testBufferSizeIsComputedIn64BitsAndClamped() {
        XCTAssertEqual(CaptureBufferSize(kib: 8192).bytes, 8 << 20)
        XCTAssertNil(CaptureBufferSize(kib: 8192).clampedFrom)
        XCTAssertEqual(CaptureBufferSize(kib: 2_097_151).bytes, 2_097_151 * 1024)
        XCTAssertNil(CaptureBufferSize(kib: 2_097_151).clampedFrom)
        // 2^31 bytes wrapped to Int32.min before; libpcap then kept its default.
        let two = CaptureBufferSize(kib: 2_097_152)
        XCTAssertEqual(two.bytes, 2_147_482_624, "the largest whole KiB below 2 GiB")
        XCTAssertEqual(two.clampedFrom, 2_147_483_648)
        XCTAssertEqual(CaptureBufferSize(kib: Int32.max).clampedFrom, Int64(Int32.max) * 1024)
        XCTAssertEqual(CaptureBufferSize(kib: Int32.max).bytes, 2_147_482_624)
    }

    func testStatisticsSeenCountsInterfaceDrops() {
        let s = CaptureStatistics(received: 10, dropped: 3, interfaceDropped: 2, delivered: 7, kernelReceived: 20)
        XCTAssertEqual(s.seen, 12)
    }

    func testInterfaceExistence() {
        XCTAssertEqual(LiveCapture.interfaceExists("lo"), true)
        XCTAssertEqual(LiveCapture.interfaceExists("pflow-nosuch9"), false)
    }

    func testNoSuchInterfaceListsTheInterfaces() {
        XCTAssertThrowsError(try LiveCapture(interface: "pflow-nosuch9", options: LiveOptions())) { error in
            guard let e = error as? LiveError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.message, "pflow-nosuch9: no such interface")
            XCTAssertTrue(e.detail.contains { $0.hasSuffix(".lo [Up, Running, Loopback]") || $0.contains(".lo") }, "\(e.detail)")
        }
    }

    /// A filter libpcap can't compile used to close the handle twice (on the
    /// error path and again in deinit): `free(): double free detected`.
    func testBadFilterThrowsOnce() throws {
        var options = LiveOptions()
        options.filter = "port 99999"
        do {
            _ = try LiveCapture(interface: "lo", options: options)
            XCTFail("a bad filter was accepted")
        } catch {
            if error.message.contains("needs root") { throw XCTSkip("no capture rights here: \(error.message)") }
            XCTAssertTrue(error.message.hasPrefix("bad filter 'port 99999': "), error.message)
        }
        options.filter = "tcp and"
        options.promiscuous = false
        XCTAssertThrowsError(try LiveCapture(interface: "lo", options: options))
    }

    func testGoodCaptureCountsWhatItDelivers() throws {
        let capture: LiveCapture
        do { capture = try LiveCapture(interface: "lo", options: LiveOptions()) } catch {
            throw XCTSkip("no capture rights here: \(error.message)")
        }
        _ = try capture.dispatch { _, _, _ in }
        let s = capture.statistics
        XCTAssertEqual(s.received, s.delivered + s.dropped)
    }
}
