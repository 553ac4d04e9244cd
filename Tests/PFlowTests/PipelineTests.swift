import PFlowCore
import Foundation
import XCTest
@testable import PFlowEngine
@testable import PFlowFlows
@testable import PFlowOutput

/// The pipeline (what users run) and the single thread take the same steps,
/// so they must give the same bytes, on a capture long enough to wrap both
/// rings many times over.
final class PipelineTests: XCTestCase {
    func testThreadsGiveByteIdenticalOutputOnAGeneratedCapture() throws {
        guard let shared = Fixture.sharedDirectory else {
            throw XCTSkip("../shared is absent: no synthtraffic.py to generate the capture")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pflow-pipeline-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pcap = dir.appendingPathComponent("wrap.pcap").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", shared.appendingPathComponent("tools/synthtraffic.py").path,
                             "--packets", "200000", "--seed", "21", "--ipv6", "0.3", "--vlan", "0.2", "--out", pcap]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)

        func outputs(threads: Int) throws -> (csv: String, json: String, result: AnalysisResult) {
            let rows = CollectingExporter()
            let result = try Analyzer.analyze(paths: [pcap], exporters: [rows], keepFlows: false, threads: threads)
            var csv = FlowCSV.header
            for f in rows.flows { csv += FlowCSV.row(f, digits: result.summary.timestampDigits) }
            return (csv, JSONReport.render(result), result)
        }
        let one = try outputs(threads: 1)
        let two = try outputs(threads: 2)
        // Both rings wrap: packets through the 16,384-slot packet ring, and
        // events (attempts and ended flows) through the 16,384-slot event ring.
        XCTAssertGreaterThan(one.result.summary.packets, UInt64(PacketRing.capacity) * 10)
        let events = one.result.tally.flows + UInt64(one.result.clients.reduce(0) { $0 + $1.range.connections })
        XCTAssertGreaterThan(events, UInt64(EventRing.capacity))
        XCTAssertEqual(one.csv.count, two.csv.count)
        XCTAssertTrue(one.csv == two.csv, "CSV differs between --threads 1 and 2")
        XCTAssertTrue(one.json == two.json, "JSON differs between --threads 1 and 2")
        XCTAssertEqual(one.csv.split(separator: "\n").count - 1, Int(one.result.tally.flows))
    }

    /// The run's hash seed is drawn from the OS and differs between runs,
    /// so output cannot depend on it; two seeds must spread keys differently.
    func testHashesAreSeeded() {
        let a = HashSeed(fixed: (1, 3, 5, 7, 9, 11)), b = HashSeed(fixed: (13, 15, 17, 19, 21, 23))
        let key = FlowKey(addressA: IPAddress(ipv4: 0x0A00_0001), addressB: IPAddress(ipv4: 0x0A00_0002),
                          portA: 1234, portB: 80, proto: .tcp, vlan: FlowKey.noVLAN)
        XCTAssertNotEqual(key.fastHash(a), key.fastHash(b))
        // Keys built to collide under an unkeyed fold (same high ^ low) don't under a seed.
        var homes = Set<UInt64>()
        for i in 0..<1000 {
            let addr = IPAddress(high: UInt64(i), low: UInt64(i) ^ 0xDEAD_BEEF)
            homes.insert(addr.fastHash(HashSeed.run) >> 54)
        }
        XCTAssertGreaterThan(homes.count, 500, "1000 crafted addresses fell into few of 1024 buckets")
    }
}
