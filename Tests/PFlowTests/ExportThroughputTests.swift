import Foundation
import PFlowCore
@testable import PFlowExport
import XCTest

/// How fast the encoders run, printed (the figures mean something in a
/// release build: `swift test -c release -Xswiftc -enable-testing --filter
/// ExportThroughput`). Sanity bounds only: a debug build on a shared CI
/// core is an order of magnitude slower.
final class ExportThroughputTests: XCTestCase {
    private func measure(_ name: String, flows n: Int, _ body: () throws -> Void) rethrows {
        let start = ExportClock.monotonicNanoseconds()
        try body()
        let seconds = Double(ExportClock.monotonicNanoseconds() - start) / 1e9
        print("\(name): \(n) flows in \(String(format: "%.3f", seconds)) s = \(Int(Double(n) / seconds)) flows/s")
    }

    func testEncoderThroughput() throws {
        let flows = ExportNfcapdTests.syntheticFlows(20_000)
        // A debug build is slow: one round there keeps the suite quick.
        let rounds = Int(ProcessInfo.processInfo.environment["PFLOW_BENCH_ROUNDS"] ?? "") ?? (_isDebugAssertConfiguration() ? 1 : 10)
        let n = flows.count * rounds

        var encoder = IPFIXEncoder()
        var bytes = 0
        measure("IPFIX biflow encoder", flows: n) {
            for _ in 0..<rounds { for f in flows { encoder.add(f, now: 1) { bytes += $0.count } } }
            encoder.flush(now: 1) { bytes += $0.count }
        }
        XCTAssertEqual(encoder.recordsEmitted, UInt64(n))
        XCTAssertGreaterThan(bytes, n * 74)

        var uniflow = IPFIXEncoder(options: IPFIXOptions(mode: .uniflow))
        measure("IPFIX uniflow encoder", flows: n) {
            for _ in 0..<rounds { for f in flows { uniflow.add(f, now: 1) { bytes += $0.count } } }
        }

        let cid = CommunityID()
        var out = ExportBuffer(capacity: 64)
        var total = 0
        measure("Community ID", flows: n) {
            for _ in 0..<rounds {
                for f in flows {
                    out.removeAll()
                    cid.append(f, to: &out)
                    total += out.count
                }
            }
        }
        XCTAssertEqual(total, n * 30)

        final class NullSink: ByteSink {
            var bytes = 0
            func write(_ b: UnsafeRawBufferPointer) throws { bytes += b.count }
        }
        var tsv = ConnLogWriter(output: NullSink(), openNs: 0)
        try measure("conn.log TSV", flows: n) {
            for _ in 0..<rounds { for f in flows { try tsv.write(f) } }
            try tsv.close(closeNs: 0)
        }
        var json = ConnLogWriter(output: NullSink(), openNs: 0, options: ConnLogOptions(format: .json))
        try measure("conn.log JSON", flows: n) {
            for _ in 0..<rounds { for f in flows { try json.write(f) } }
            try json.close(closeNs: 0)
        }
    }
}
