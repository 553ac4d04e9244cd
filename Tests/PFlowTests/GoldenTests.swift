import PFlowCore
import Foundation
import XCTest
@testable import PFlowEngine
@testable import PFlowOutput

/// Whole-capture golden outputs for the recorded Samples. After an intended
/// change, `make golden` re-records them; review the diff before committing.
final class GoldenTests: XCTestCase {
    static let samples = ["http-dns-lo.pcap", "any-mixed.pcapng", "findings-netns.pcap", "report-netns.pcap",
                          "latency-netns.pcap"]

    /// `threads` 2 is what users run (the pipeline); 1 the same steps on one thread.
    func render(_ sample: String, threads: Int) throws -> [(String, String)] {
        let path = Fixture.repositoryRoot.appendingPathComponent("Samples").appendingPathComponent(sample).path
        let result = try Analyzer.analyze(paths: [path], threads: threads)
        var csv = FlowCSV.header
        for f in result.flows { csv += FlowCSV.row(f, digits: result.summary.timestampDigits) }
        // Paths relative to the checkout, so outputs don't depend on where it is.
        let root = Fixture.repositoryRoot.path + "/"
        return [
            (sample + ".table.txt", TableReport(color: false, top: 20).render(result)),
            (sample + ".csv", csv),
            (sample + ".json", JSONReport.render(result)),
        ].map { ($0.0, $0.1.replacingOccurrences(of: root, with: "")) }
    }

    func testSamplesMatchGoldenOutputs() throws {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
        let record = ProcessInfo.processInfo.environment["PFLOW_RECORD_GOLDEN"] != nil
        for sample in Self.samples {
            for threads in [2, 1] {
            for (name, text) in try render(sample, threads: threads) {
                let url = golden.appendingPathComponent(name)
                if record {
                    try text.write(to: url, atomically: true, encoding: .utf8)
                    continue
                }
                let expected = try String(contentsOf: url, encoding: .utf8)
                if expected != text {
                    let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
                    let b = text.split(separator: "\n", omittingEmptySubsequences: false)
                    let line = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
                    XCTFail("""
                        \(name) (--threads \(threads)) differs from the golden file at line \(line + 1):
                          golden: \(line < a.count ? String(a[line]) : "<end>")
                          now:    \(line < b.count ? String(b[line]) : "<end>")
                        (make golden re-records after an intended change)
                        """)
                }
            }
            }
        }
    }

    /// The samples hold what Samples/README.md says they hold.
    func testSamplesContent() throws {
        let samples = Fixture.repositoryRoot.appendingPathComponent("Samples")
        let web = try Analyzer.analyze(paths: [samples.appendingPathComponent("http-dns-lo.pcap").path])
        let tcp8000 = web.flows.filter { $0.proto.name == "tcp" && $0.serverPort == 8000 }
        XCTAssertEqual(tcp8000.count, 5, "five curl requests to http.server")
        XCTAssertTrue(tcp8000.allSatisfy { $0.roleSource == .syn && $0.state == "SF" && $0.endReason == .fin })
        let dnsUDP = web.flows.filter { $0.proto.name == "udp" && $0.serverPort == 53 }
        XCTAssertEqual(dnsUDP.count, 3)
        XCTAssertTrue(dnsUDP.allSatisfy { $0.service == "dns" && $0.portName == "domain" && $0.state == "SF" })
        XCTAssertEqual(web.flows.filter { $0.proto.name == "tcp" && $0.serverPort == 53 }.count, 1)

        let mixed = try Analyzer.analyze(paths: [samples.appendingPathComponent("any-mixed.pcapng").path])
        XCTAssertEqual(mixed.summary.linkTypes.keys.map(\.name), ["LINUX_SLL2"])
        XCTAssertEqual(mixed.flows.filter { $0.ipVersion == 6 && $0.serverPort == 8080 && $0.state == "SF" }.count, 2)
        XCTAssertEqual(mixed.flows.filter { $0.serverPort == 9 && $0.state == "REJ" }.count, 1)
        let echo = mixed.flows.filter { $0.roleSource == .signature }
        XCTAssertEqual(echo.count, 1)
        XCTAssertEqual(echo.first?.clientToServer.packets, 3)
        XCTAssertEqual(echo.first?.serverToClient.packets, 3)
    }
}
