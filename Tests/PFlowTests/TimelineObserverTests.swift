import XCTest
@testable import PFlowEngine
@testable import PFlowFlows
import PFlowCore

/// The services' timeline against the straightforward observer it
/// replaced (rows as arrays of arrays, a hash map from service to row, a
/// running share per bin): the same bins, `other` and spread bytes, on
/// many generated flows, at chosen and at growing widths, with evictions;
/// and the reading side's counts against counting every record.
final class TimelineObserverTests: XCTestCase {
    func flows(seed: UInt64, count: Int, services: UInt64, spanNs: UInt64, uniform: Bool = false) -> [FlowRecord] {
        let base = FlowRecord(FlowState(key: FlowKey(addressA: IPAddress(ipv4: 1), addressB: IPAddress(ipv4: 2),
                                                     portA: 40000, portB: 80, proto: .tcp, vlan: FlowKey.noVLAN),
                                        ipVersion: 4, timestampNs: 0, direction: 0),
                              endReason: .fin, registry: .standard, knowledge: TrafficKnowledge())
        var rng = SplitMix(seed: seed)
        let origin: Int64 = 1_700_000_000_000_000_000
        var out: [FlowRecord] = []
        for i in 0..<count {
            var f = base
            let kind = rng.below(10)
            f.proto = kind < 6 ? .tcp : kind < 9 ? .udp : IPProtocol(rawValue: UInt8(1 + rng.below(3)))
            // A few big services and a long tail: rows fill up and the small ones make way.
            let s = rng.below(4) == 0 ? rng.below(4) : rng.below(services)
            f.serverPort = UInt16(truncatingIfNeeded: 1 + s * 37)
            // The capture's span grows with the flows, so the width steps up.
            let reach = max(1, spanNs * UInt64(i + 1) / UInt64(count))
            var start = origin + Int64(rng.below(reach))
            if rng.below(50) == 0 { start = origin - Int64(rng.below(spanNs / 4 + 1)) }  // before the first record
            let length: Int64
            switch rng.below(5) {
            case 0: length = 0
            case 1: length = Int64(rng.below(1_000_000))
            case 2: length = Int64(rng.below(spanNs / 100 + 1))
            default: length = Int64(rng.below(spanNs / 3 + 1))
            }
            f.startNs = start
            f.endNs = start + length
            switch rng.below(20) {
            case 0: f.clientToServer.bytes = 0; f.serverToClient.bytes = 0
            case 1: f.clientToServer.bytes = UInt64.max / 4 + rng.below(1 << 40); f.serverToClient.bytes = rng.below(1 << 40)
            case 2: f.clientToServer.bytes = rng.below(1 << 50); f.serverToClient.bytes = 0
            default: f.clientToServer.bytes = rng.below(100_000); f.serverToClient.bytes = rng.below(1_000_000)
            }
            // Equal flows: rows tie on bytes, and the first of equals makes way.
            if uniform { f.clientToServer.bytes = 60; f.serverToClient.bytes = 40 }
            out.append(f)
        }
        return out
    }

    func check(seed: UInt64, widthNs: Int64?, count: Int, services: UInt64, spanNs: UInt64, uniform: Bool = false,
               file: StaticString = #filePath, line: UInt = #line) {
        let list = flows(seed: seed, count: count, services: services, spanNs: spanNs, uniform: uniform)
        let origin = TimelineOrigin()
        var counts = TimelineCounts(widthNs: widthNs)
        // The records: the first one sets the origin; the flows' ends widen the grid.
        counts.add(1_700_000_000_000_000_000, bytes: 1)
        origin.ns = counts.grid.originNs
        let fast = TimelineObserver(origin: origin, widthNs: widthNs)
        let plain = ReferenceTimelineObserver(origin: origin, widthNs: widthNs)
        for f in list {
            counts.add(f.startNs, bytes: 1)
            counts.add(f.endNs, bytes: 1)
            fast.observe(f)
            plain.observe(f)
        }
        let a = fast.result(counts), b = plain.result(counts)
        XCTAssertEqual(a.widthNs, b.widthNs, file: file, line: line)
        XCTAssertEqual(a.startNs, b.startNs, file: file, line: line)
        XCTAssertEqual(a.services, b.services, file: file, line: line)
        XCTAssertEqual(a.other, b.other, file: file, line: line)
        XCTAssertEqual(a.spreadBytes, b.spreadBytes, file: file, line: line)
        XCTAssertEqual(a.widened, b.widened, file: file, line: line)
        XCTAssertEqual(fast.keys, plain.keys, file: file, line: line)
        XCTAssertFalse(a.services.isEmpty, file: file, line: line)
    }

    func testSameBinsAsTheStraightforwardObserver() {
        for seed in UInt64(1)...6 {
            // Growing widths: from 1 µs to minutes, with rows evicted.
            check(seed: seed, widthNs: nil, count: 4_000, services: 300, spanNs: 3_600_000_000_000)
            // Few services: no eviction; short spans: fine widths.
            check(seed: seed &* 31, widthNs: nil, count: 2_000, services: 20, spanNs: 50_000_000)
            // A chosen width: rows grow past their first room, and the width doubles past the limit.
            check(seed: seed &* 77, widthNs: 1_000_000, count: 3_000, services: 120, spanNs: 2_000_000_000)
            check(seed: seed &* 91, widthNs: 1_000, count: 3_000, services: 120, spanNs: 60_000_000_000)
            check(seed: seed &* 13, widthNs: nil, count: 2_000, services: 400, spanNs: 600_000_000_000, uniform: true)
        }
    }

    /// The reading side's counts: records in the last one's bin left to the
    /// capture's running totals (from a base already counted, settled at
    /// each file's end) give the same bins as counting each record.
    func testCountsFromRunningTotalsAreTheSame() {
        for seed in UInt64(1)...20 {
            var rng = SplitMix(seed: seed)
            let width: Int64? = seed % 3 == 0 ? 1_000_000 : nil
            var plain = ReferenceTimelineCounts(widthNs: width), own = TimelineCounts(widthNs: width)
            var told = TimelineCounts(widthNs: width)
            var packets: UInt64 = rng.below(1_000), bytes: UInt64 = rng.below(100_000)
            var ts: Int64 = 1_700_000_000_000_000_000
            for i in 0..<20_000 {
                switch rng.below(100) {
                case 0: ts -= Int64(rng.below(5_000_000_000))  // an earlier record
                case 1: ts += Int64(rng.below(600_000_000_000))  // a gap
                default: ts += Int64(rng.below(2_000_000))
                }
                let wire: UInt64 = rng.below(1_500)
                plain.add(ts, bytes: wire)
                own.add(ts, bytes: wire)
                packets &+= 1; bytes &+= wire
                if !told.holds(ts) { told.enter(ts, bytes: wire, packets: packets, bytes: bytes) }
                if i % 7_000 == 0 { told.settle(packets: packets, bytes: bytes) }  // a file's end
            }
            told.settle(packets: packets, bytes: bytes)
            XCTAssertEqual(told.packets, plain.packets, "seed \(seed)")
            XCTAssertEqual(told.bytes, plain.bytes, "seed \(seed)")
            XCTAssertEqual(own.packets, plain.packets, "seed \(seed)")
            XCTAssertEqual(own.bytes, plain.bytes, "seed \(seed)")
            XCTAssertEqual(told.grid, plain.grid, "seed \(seed)")
            let coarser = TimeGrid.ladder.first { $0 > told.grid.widthNs } ?? told.grid.widthNs
            XCTAssertEqual(told.coarsened(to: coarser).packets, plain.coarsened(to: coarser).packets, "seed \(seed)")
            XCTAssertEqual(told.coarsened(to: coarser).bytes, plain.coarsened(to: coarser).bytes, "seed \(seed)")
        }
    }
}

final class ReferenceTimelineObserver {
    static let maxRows = 64
    let origin: TimelineOrigin
    var grid: TimeGrid
    var keys: [ServiceBinsKey] = []
    var rows: [[UInt64]] = []
    var totals: [UInt64] = []
    /// Row of each key seen; -1: its row was evicted into `other`.
    var index = FastMap<ServiceBinsKey, Int>()
    // No flow has port -2: the first lookup always misses.
    var lastKey: ServiceBinsKey = {
        var k = ServiceBinsKey(proto: IPProtocol(rawValue: 0), port: nil)
        k.port = -2
        return k
    }()
    var lastRow = -1
    var other: [UInt64] = []
    var spreadBytes: UInt64 = 0

    init(origin: TimelineOrigin, widthNs: Int64?) {
        self.origin = origin
        grid = TimeGrid(widthNs: widthNs)
    }

    func observe(_ f: FlowRecord) {
        let bytes = f.bytes
        guard bytes > 0, let o = origin.ns else { return }
        grid.start(at: o)
        var first = grid.index(f.startNs), last = grid.index(f.endNs)
        // One at a time: growing for the start may change the width.
        if first < grid.low || last >= grid.low + Int64(grid.count) {
            if let (g, _) = grid.grown(toCover: first) { regrid(g) }
            if let (g, _) = grid.grown(toCover: grid.index(f.endNs)) { regrid(g) }
            first = grid.index(f.startNs); last = grid.index(f.endNs)
        }
        let r = row(for: ServiceBinsKey(proto: f.proto, port: f.hasServicePort ? f.serverPort : nil))
        if first == last {
            let at = Int(first - grid.low)
            if r >= 0 {
                rows[r][at] &+= bytes
                totals[r] &+= bytes
            } else {
                other[at] &+= bytes
            }
            return
        }
        spreadBytes &+= bytes
        let spread = Spread(bytes: bytes, startNs: f.startNs, endNs: f.endNs, first: first, last: last, grid: grid)
        if r >= 0 {
            rows[r].withUnsafeMutableBufferPointer { spread.add(into: $0) }
            totals[r] &+= bytes
        } else {
            other.withUnsafeMutableBufferPointer { spread.add(into: $0) }
        }
    }

    /// A flow's bytes over the bins `first...last` it overlaps, in
    /// proportion to the time it spends in each: the cumulative share at a
    /// bin's end is floor(bytes · elapsed / duration), and each bin gets
    /// the difference, so the bins add up to `bytes` exactly. Whole bins
    /// between the first and the last all add `width` to `elapsed`, so the
    /// share steps by a fixed quotient and remainder: one division per
    /// flow, not one per bin (a 128-bit one only when a product passes 64 bits).
    struct Spread {
        let bytes: UInt64, startNs: Int64, endNs: Int64, first: Int64, last: Int64
        let originNs: Int64, widthNs: Int64, low: Int64

        init(bytes: UInt64, startNs: Int64, endNs: Int64, first: Int64, last: Int64, grid: TimeGrid) {
            self.bytes = bytes; self.startNs = startNs; self.endNs = endNs
            self.first = first; self.last = last
            originNs = grid.originNs; widthNs = grid.widthNs; low = grid.low
        }

        /// floor(a · b / d), exactly.
        @inline(__always)
        static func share(_ a: UInt64, _ b: UInt64, _ d: UInt64) -> UInt64 {
            let (p, overflow) = a.multipliedReportingOverflow(by: b)
            if !overflow { return p / d }
            return d.dividingFullWidth(a.multipliedFullWidth(by: b)).quotient
        }

        func add(into bins: UnsafeMutableBufferPointer<UInt64>) {
            let duration = UInt64(endNs - startNs)
            // The first bin: from the start to its end.
            let firstEnd = originNs &+ (first + 1) &* widthNs
            var elapsed = min(UInt64(max(0, firstEnd - startNs)), duration)
            var given = Self.share(bytes, elapsed, duration)
            bins[Int(first - low)] &+= given
            if last > first + 1 {
                // The whole bins: each adds `widthNs` to `elapsed`.
                let (stepProduct, overflow) = bytes.multipliedReportingOverflow(by: UInt64(widthNs))
                if !overflow {
                    let q = stepProduct / duration, rStep = stepProduct % duration
                    // The remainder of bytes · elapsed / duration so far.
                    var rem = bytes &* elapsed % duration
                    if bytes.multipliedReportingOverflow(by: elapsed).overflow {
                        rem = duration.dividingFullWidth(bytes.multipliedFullWidth(by: elapsed)).remainder
                    }
                    for i in (first + 1)..<last {
                        var add = q
                        rem &+= rStep
                        if rem >= duration { rem &-= duration; add &+= 1 }
                        bins[Int(i - low)] &+= add
                        given &+= add
                    }
                } else {
                    for i in (first + 1)..<last {
                        elapsed = min(UInt64(max(0, originNs &+ (i + 1) &* widthNs - startNs)), duration)
                        let upTo = Self.share(bytes, elapsed, duration)
                        bins[Int(i - low)] &+= upTo &- given
                        given = upTo
                    }
                }
            }
            // The last bin: the rest, so the row adds up exactly.
            bins[Int(last - low)] &+= bytes &- given
        }
    }

    /// The row of `key`, made if there is room (or room is made); -1: other.
    /// The last key asked for is kept: flows of one service end together.
    @inline(__always)
    private func row(for key: ServiceBinsKey) -> Int {
        if key == lastKey { return lastRow }
        let r = lookUp(key)
        lastKey = key
        lastRow = r
        return r
    }

    private func lookUp(_ key: ServiceBinsKey) -> Int {
        // An evicted key stays in `index` with -1: its flows go to `other`.
        if let i = index.index(of: key) { return index[entry: i] }
        if rows.count < Self.maxRows {
            keys.append(key)
            var row = [UInt64](repeating: 0, count: grid.count)
            row.reserveCapacity(grid.reserve)
            rows.append(row)
            totals.append(0)
            index.insert(key) { rows.count - 1 }
            return rows.count - 1
        }
        // Full: the smallest row so far makes way, into `other`.
        guard let smallest = totals.indices.min(by: { totals[$0] < totals[$1] }) else { return -1 }
        for (n, v) in rows[smallest].enumerated() { other[n] &+= v }
        if let old = index.index(of: keys[smallest]) { index[entry: old] = -1 }
        keys[smallest] = key
        rows[smallest] = [UInt64](repeating: 0, count: grid.count)
        totals[smallest] = 0
        index.insert(key) { smallest }
        return smallest
    }

    private func regrid(_ g: TimeGrid) {
        if g.widthNs == grid.widthNs && g.low == grid.low && !grid.isEmpty {
            // Later bins at the same width: appended in place.
            let more = g.count - grid.count
            for r in rows.indices { rows[r].append(contentsOf: repeatElement(0, count: more)) }
            other.append(contentsOf: repeatElement(0, count: more))
        } else {
            for r in rows.indices { rows[r] = g.relay(rows[r], from: grid) }
            other = g.relay(other, from: grid)
            other.reserveCapacity(g.reserve)
        }
        grid = g
    }

    /// The services' bins on `counts`' grid (which covers every record,
    /// hence every flow), and the counts at the width both can show.
    func result(_ counts: TimelineCounts) -> Timeline {
        let width = max(grid.widthNs, counts.grid.widthNs)
        let totals = counts.coarsened(to: width)
        let target = totals.grid
        var services: [ServiceBinsKey: [UInt64]] = [:]
        let mine = grid.isEmpty ? grid : grid.coarsened(to: width)
        for (n, key) in keys.enumerated() {
            services[key] = target.relay(mine.relay(rows[n], from: grid), from: mine)
        }
        let rest = other.isEmpty ? [UInt64](repeating: 0, count: target.count)
            : target.relay(mine.relay(other, from: grid), from: mine)
        return Timeline(widthNs: target.widthNs, startNs: target.isEmpty ? nil : target.startNs,
                        packets: totals.packets, bytes: totals.bytes, services: services, other: rest,
                        spreadBytes: spreadBytes, widened: target.fixed && target.widthNs != target.requestedWidthNs)
    }
}

struct ReferenceTimelineCounts {
    private(set) var grid: TimeGrid
    /// Counts per bin, the last record's bin included.
    var packets: [UInt64] { withPending(storedPackets, pendingPackets) }
    var bytes: [UInt64] { withPending(storedBytes, pendingBytes) }
    private var storedPackets: [UInt64] = []
    private var storedBytes: [UInt64] = []
    // The bin the last record fell in: most records fall in it again, and
    // are counted in two plain words until one doesn't (indexing the
    // arrays per record cost ~80 instructions a packet).
    private var binStart = Int64.max
    private var binEnd = Int64.min
    private var position = 0
    private var pendingPackets: UInt64 = 0
    private var pendingBytes: UInt64 = 0

    private func withPending(_ bins: [UInt64], _ pending: UInt64) -> [UInt64] {
        guard pending > 0, position < bins.count else { return bins }
        var b = bins
        b[position] &+= pending
        return b
    }

    init(widthNs: Int64? = nil) { grid = TimeGrid(widthNs: widthNs) }

    /// Counts one record; false when it falls outside the last record's
    /// bin, for `addSlowly` to count it (kept apart so this part inlines).
    @inline(__always)
    mutating func addFast(_ ts: Int64, bytes wire: UInt64) -> Bool {
        guard ts >= binStart && ts < binEnd else { return false }
        pendingPackets &+= 1
        pendingBytes &+= wire
        return true
    }

    mutating func add(_ ts: Int64, bytes wire: UInt64) {
        if !addFast(ts, bytes: wire) { addSlowly(ts, wire) }
    }

    mutating func addSlowly(_ ts: Int64, _ wire: UInt64) {
        if pendingPackets > 0 {
            storedPackets[position] &+= pendingPackets
            storedBytes[position] &+= pendingBytes
            pendingPackets = 0
            pendingBytes = 0
        }
        grid.start(at: ts)
        var i = grid.index(ts)
        if let (g, _) = grid.grown(toCover: i) {
            if g.widthNs == grid.widthNs && g.low == grid.low {
                // Later bins at the same width: appended in place (capacity
                // reserved), not laid out anew, so a growing capture
                // doesn't allocate per bin.
                if storedPackets.capacity == 0 {
                    storedPackets.reserveCapacity(g.reserve)
                    storedBytes.reserveCapacity(g.reserve)
                }
                let more = g.count - storedPackets.count
                storedPackets.append(contentsOf: repeatElement(0, count: more))
                storedBytes.append(contentsOf: repeatElement(0, count: more))
            } else {
                storedPackets = g.relay(storedPackets, from: grid)
                storedBytes = g.relay(storedBytes, from: grid)
            }
            grid = g
            i = grid.index(ts)
        }
        position = Int(i - grid.low)
        storedPackets[position] &+= 1
        storedBytes[position] &+= wire
        let start = grid.originNs &+ i &* grid.widthNs
        binStart = start
        binEnd = start &+ grid.widthNs
    }

    /// The counts at a coarser width (the services' bins may have needed one).
    func coarsened(to width: Int64) -> ReferenceTimelineCounts {
        guard width > grid.widthNs else { return self }
        var c = self
        let g = grid.coarsened(to: width)
        c.storedPackets = g.relay(packets, from: grid)
        c.storedBytes = g.relay(bytes, from: grid)
        c.pendingPackets = 0
        c.pendingBytes = 0
        c.grid = g
        c.binStart = .max; c.binEnd = .min
        return c
    }
}
