import PFlowCore
import PFlowCapture
import Foundation
import XCTest
import Synchronization
@testable import PFlowEngine
@testable import PFlowFlows
@testable import PFlowOutput

/// The pipeline (what users run) and the single thread take the same steps,
/// so they must give the same bytes, on a capture long enough to wrap both
/// rings many times over.
final class PipelineTests: XCTestCase {
    /// A generated capture of 200,000 packets, made once for the tests that
    /// need one (in a directory removed at the process's end).
    nonisolated(unsafe) private static var generated: String?
    private func generatedCapture() throws -> String {
        if let pcap = Self.generated { return pcap }
        guard let shared = Fixture.sharedDirectory else {
            throw XCTSkip("../shared is absent: no synthtraffic.py to generate the capture")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pflow-pipeline-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir); Self.generated = nil }
        let pcap = dir.appendingPathComponent("wrap.pcap").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", shared.appendingPathComponent("tools/synthtraffic.py").path,
                             "--packets", "200000", "--seed", "21", "--ipv6", "0.3", "--vlan", "0.2", "--out", pcap]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        Self.generated = pcap
        return pcap
    }

    func testThreadsGiveByteIdenticalOutputOnAGeneratedCapture() throws {
        let pcap = try generatedCapture()

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

    /// Exporters on their own thread (what `pflow` does with a file) get
    /// every flow once, in the order a single thread reports them, from one
    /// thread that is not the caller's; a flush reaches them in its place in
    /// the stream; `finish` runs once, after the last flow, whether started
    /// by `finish(overlappingExporters:)` or by `finishExporters`, and its
    /// error comes back from `finishExporters`.
    func testExportersOnTheirOwnThreadGetEveryFlowInOrder() throws {
        let pcap = try generatedCapture()
        final class Recorder: FlowExporter, @unchecked Sendable {
            var uids: [UInt64] = []
            var threads = Set<UInt>()
            var flushedAt: [Int] = []
            var calledAt: [Int] = []
            var finishes = 0
            var finishedAt = -1
            let failing: Bool
            init(failing: Bool = false) { self.failing = failing }
            func export(_ flow: FlowRecord) {
                uids.append(flow.uid)
                threads.insert(UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))))
            }
            func flush() { flushedAt.append(uids.count) }
            func finish(_ summary: CaptureSummary) throws(ExportError) {
                finishes += 1
                finishedAt = uids.count
                if failing { throw ExportError("the disk is full") }
            }
        }
        let file = try CaptureFile(path: pcap)
        let single = Analyzer(registry: .standard, expiry: ExpiryPolicy(), binNs: nil)
        let expected = CollectingExporter()
        single.export(expected)
        single.keepFlows = false
        try single.add(file)
        let endedInFile = expected.flows.count
        _ = single.finish()
        let order = expected.flows.map(\.uid)
        XCTAssertGreaterThan(order.count, ExportQueue.capacity * 2, "the queue must wrap")
        let caller = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
        for (overlapping, failing) in [(false, false), (true, false), (true, true)] {
            let analyzer = Analyzer(registry: .standard, expiry: ExpiryPolicy(), binNs: nil)
            let recorder = Recorder(failing: failing)
            analyzer.export(recorder)
            analyzer.keepFlows = false
            analyzer.threads = 2
            analyzer.exportOnThread = true
            try analyzer.add(try CaptureFile(path: pcap))
            // A settings change falls between the flows the file ended and
            // those its end does, as on one thread.
            analyzer.inExportOrder { recorder.calledAt.append(recorder.uids.count) }
            analyzer.flushExporters()
            let result = analyzer.finish(overlappingExporters: overlapping)
            if !overlapping {
                // Every flow is out when finish returns; the exporters aren't finished.
                XCTAssertEqual(recorder.uids.count, Int(result.tally.flows))
                XCTAssertEqual(recorder.finishes, 0)
            }
            do {
                try analyzer.finishExporters()
                XCTAssertFalse(failing, "the exporter's failure must come back")
            } catch {
                XCTAssertTrue(failing)
                XCTAssertEqual(error.message, "the disk is full")
            }
            // (Compared whole, reported by the first difference.)
            let differs = zip(recorder.uids, order).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(recorder.uids.count, order.count)
            XCTAssertTrue(recorder.uids == order,
                          "overlapping: \(overlapping): \(recorder.uids.count) flows against \(order.count), first difference at \(differs)")
            XCTAssertEqual(recorder.threads.count, 1)
            XCTAssertFalse(recorder.threads.contains(caller), "exported on the caller's thread")
            XCTAssertEqual(recorder.finishes, 1)
            XCTAssertEqual(recorder.finishedAt, order.count)
            // The flush came after every flow the file ended (those still
            // live at its end are reported by finish).
            XCTAssertEqual(recorder.calledAt, [endedInFile])
            XCTAssertEqual(recorder.flushedAt, [endedInFile])
            XCTAssertLessThan(recorder.flushedAt.first ?? .max, order.count)
            // Finishing again finishes nothing again.
            try? analyzer.finishExporters()
            XCTAssertEqual(recorder.finishes, 1)
        }
    }

    /// The run's hash seed is drawn from the OS and differs between runs,
    /// so output cannot depend on it; two seeds must spread keys differently.
    /// inParallel runs both halves, each once, on two threads; the kept
    /// helper thread serves call after call, and a half that asks for two
    /// halves of its own (the helper busy) gets a thread of its own.
    func testInParallelRunsBothHalvesEveryTimeAndNests() {
        let threads = UnsafeMutablePointer<pthread_t>.allocate(capacity: 4)
        defer { threads.deallocate() }
        for round in 0..<200 {
            var first = 0, second = 0, inner = 0
            inParallel({
                first += round
                threads[0] = pthread_self()
            }, {
                second += round + 1
                threads[1] = pthread_self()
                if round % 10 == 0 {
                    inParallel({ inner += 1; threads[2] = pthread_self() }, { inner += 2; threads[3] = pthread_self() })
                    XCTAssertEqual(pthread_equal(threads[2], threads[3]), 0, "nested halves on two threads")
                }
            })
            XCTAssertEqual(first, round)
            XCTAssertEqual(second, round + 1)
            XCTAssertEqual(inner, round % 10 == 0 ? 3 : 0)
            XCTAssertEqual(pthread_equal(threads[0], pthread_self()), 1, "the first half runs on the caller's thread")
            XCTAssertEqual(pthread_equal(threads[1], threads[0]), 0, "the second half on another")
        }
    }

    /// The event ring's names ring wraps and fills many times over (names
    /// of 1 to 253 bytes, some flows without one): every name reaches the
    /// report whole, with its own flow, in order, whichever thread drains.
    func testEventRingNamesWrapAndFill() {
        final class Seen: @unchecked Sendable {
            var starts: [Int64] = []
            var names: [[UInt8]?] = []
        }
        let seen = Seen()
        let count = 60_000
        // 253 names, 1 to 253 bytes long, each its own letters; made once,
        // so the producer outruns the slowed drainer.
        var table: [ServerName] = []
        for n in 1...253 {
            var name = ServerName()
            name.length = UInt8(n)
            withUnsafeMutableBytes(of: &name.bytes) { raw in
                for k in 0..<n { raw[k] = UInt8(97 + (k &+ n) % 26) }
            }
            table.append(name)
        }
        let names = table
        func nameIndex(_ i: Int) -> Int? { i % 7 == 3 ? nil : (i &* 37) % 253 }
        func nameBytes(_ i: Int) -> [UInt8]? {
            nameIndex(i).map { n in (0...n).map { UInt8(97 + ($0 &+ n + 1) % 26) } }
        }
        let events = EventRing(knowledge: TrafficKnowledge()) { state, _, name in
            seen.starts.append(state.firstNs)
            seen.names.append(name.map { [UInt8](ServerName.bytes(of: $0)) })
            // Now and then a slow report, so the producer runs ahead until
            // the names ring (1 MiB: fewer than 16,384 of these names) is full.
            if seen.starts.count % 16384 == 0 { usleep(300_000) }
        }
        let key = FlowKey(addressA: IPAddress(ipv4: 1), addressB: IPAddress(ipv4: 2),
                          portA: 40000, portB: 443, proto: .tcp, vlan: FlowKey.noVLAN)
        let producer = WorkerThread {
            names.withUnsafeBufferPointer { names in
            for i in 0..<count {
                let state = FlowState(key: key, ipVersion: 4, timestampNs: Int64(i), direction: 0)
                if let n = nameIndex(i), let name = names.baseAddress {
                    events.ended(state, .fin, name: name + n)
                } else {
                    events.ended(state, .fin, name: nil)
                }
            }
            }
            events.finished.store(true, ordering: .releasing)
        }
        XCTAssertNotNil(producer)
        while !events.finished.load(ordering: .acquiring) { events.drain(limit: 64) }
        producer?.join()
        events.drain()
        XCTAssertEqual(seen.starts, (0..<count).map { Int64($0) })
        XCTAssertEqual(seen.names.count, count)
        for i in 0..<min(count, seen.names.count) where seen.names[i] != nameBytes(i) {
            XCTFail("flow \(i): name \(seen.names[i].map { String(decoding: $0, as: UTF8.self) } ?? "none")")
            break
        }
    }

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
