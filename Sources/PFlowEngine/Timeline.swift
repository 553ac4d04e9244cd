import PFlowCore
import PFlowFlows

/// Bins of time from a fixed origin (the first record read). Bin `i` covers
/// `[origin + i·width, origin + (i+1)·width)`; `low` is the index of the
/// first bin kept (below 0 when a record is dated before the first one).
/// When the bins would outgrow `limit`, the width steps up the ladder and
/// whole bins merge: every width on it divides the next, and the origin
/// never moves, so merged bins hold exactly what finer ones held.
public struct TimeGrid: Sendable, Equatable {
    public private(set) var originNs: Int64 = 0
    public private(set) var widthNs: Int64
    public private(set) var low: Int64 = 0
    public private(set) var count = 0
    /// The most bins kept; the width grows instead of the bins.
    public let limit: Int
    /// The width was given (`--bin`): it only doubles, and only when
    /// `limit` would be passed.
    public let fixed: Bool
    /// The width at the start (`--bin`'s, or the ladder's first).
    public let requestedWidthNs: Int64

    /// Human widths, each a whole multiple of the one before: 1 µs … 1 day.
    public static let ladder: [Int64] = [
        1_000, 5_000, 10_000, 50_000, 100_000, 500_000,
        1_000_000, 5_000_000, 10_000_000, 50_000_000, 100_000_000, 500_000_000,
        1_000_000_000, 5_000_000_000, 10_000_000_000, 30_000_000_000, 60_000_000_000,
        300_000_000_000, 600_000_000_000, 1_800_000_000_000, 3_600_000_000_000,
        10_800_000_000_000, 21_600_000_000_000, 43_200_000_000_000, 86_400_000_000_000,
    ]
    /// Default: at most 200 bins. A step on the ladder multiplies the width
    /// by at most 5, so a capture that outgrew a width gets at least 40.
    public static let defaultLimit = 200
    /// With `--bin`: at most this many (memory is bins × services).
    public static let fixedLimit = 10_000

    /// `widthNs` nil: chosen from the ladder as the capture grows.
    public init(widthNs: Int64? = nil) {
        if let w = widthNs, w > 0 {
            self.widthNs = w
            fixed = true
            limit = Self.fixedLimit
        } else {
            self.widthNs = Self.ladder[0]
            fixed = false
            limit = Self.defaultLimit
        }
        requestedWidthNs = self.widthNs
    }

    public var isEmpty: Bool { count == 0 }
    /// Start of the first bin kept.
    public var startNs: Int64 { originNs &+ low &* widthNs }

    /// Floor division: records before the origin fall in negative bins.
    @inline(__always)
    func index(_ ts: Int64) -> Int64 {
        let d = ts.subtractingReportingOverflow(originNs)
        // Beyond ±292 years of the origin nothing is representable: clamp.
        let delta = d.overflow ? (ts < originNs ? Int64.min / 2 : Int64.max / 2) : d.partialValue
        let q = delta / widthNs
        return delta % widthNs < 0 ? q - 1 : q
    }

    func next(after w: Int64) -> Int64 {
        if !fixed, let step = Self.ladder.first(where: { $0 > w }) { return step }
        return w.multipliedReportingOverflow(by: 2).overflow ? w : w * 2
    }

    /// How the bins change so that `index` (at the current width) has one:
    /// the new grid, and by how much each old index is divided. Nil: it has.
    func grown(toCover i: Int64) -> (grid: TimeGrid, factor: Int64)? {
        if count == 0 {
            var g = self
            g.low = i; g.count = 1
            return (g, 1)
        }
        if i >= low && i < low + Int64(count) { return nil }
        var g = self
        var lo = min(low, i), hi = max(low + Int64(count) - 1, i)
        var factor: Int64 = 1
        while hi - lo + 1 > Int64(limit) {
            let w = g.next(after: g.widthNs)
            guard w > g.widthNs else { break }
            let k = w / g.widthNs
            factor *= k
            g.widthNs = w
            lo = Self.floorDiv(lo, k); hi = Self.floorDiv(hi, k)
        }
        g.low = lo
        g.count = Int(hi - lo + 1)
        return (g, factor)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return a % b < 0 ? q - 1 : q
    }

    /// Room to keep in a row of bins so that it grows without moving.
    var reserve: Int { Swift.max(count, Swift.min(limit, 256)) }

    /// A row of `from`'s bins laid out on `self` (a coarser or wider grid
    /// with the same origin): each old bin adds into the bin containing it.
    func relay(_ row: [UInt64], from old: TimeGrid) -> [UInt64] {
        var out = [UInt64](repeating: 0, count: count)
        out.reserveCapacity(reserve)
        guard !row.isEmpty else { return out }
        let k = widthNs / old.widthNs
        for (n, v) in row.enumerated() where v != 0 {
            let j = Self.floorDiv(old.low + Int64(n), k) - low
            if j >= 0 && j < Int64(count) { out[Int(j)] &+= v }
        }
        return out
    }

    /// `relay` between rows in place: `old.count` bins from `row` added
    /// into `out`, which has room for `count`.
    func relay(_ row: UnsafePointer<UInt64>, from old: TimeGrid, into out: UnsafeMutablePointer<UInt64>) {
        guard old.count > 0 else { return }
        let k = widthNs / old.widthNs
        for n in 0..<old.count where row[n] != 0 {
            let j = Self.floorDiv(old.low + Int64(n), k) - low
            if j >= 0 && j < Int64(count) { out[Int(j)] &+= row[n] }
        }
    }

    /// The grid at a (coarser) width from the same ladder, covering the same span.
    func coarsened(to width: Int64) -> TimeGrid {
        guard width > widthNs, width % widthNs == 0 else { return self }
        var g = self
        let k = width / widthNs
        g.widthNs = width
        if count > 0 {
            let lo = Self.floorDiv(low, k), hi = Self.floorDiv(low + Int64(count) - 1, k)
            g.low = lo; g.count = Int(hi - lo + 1)
        }
        return g
    }

    /// Sets the origin (before the first bin exists).
    mutating func start(at ts: Int64) {
        if count == 0 { originNs = ts }
    }
}

/// Packets and wire bytes per bin of every record read: counted on the
/// reading side, per record, in the bin of its own timestamp, so the bins
/// add up to the capture's totals and each equals `tshark -z io,stat` for
/// the same interval.
public struct TimelineCounts: Sendable {
    public private(set) var grid: TimeGrid
    /// Counts per bin, the last record's bin included.
    public var packets: [UInt64] { withPending(storedPackets, toldPackets &- markPackets) }
    public var bytes: [UInt64] { withPending(storedBytes, toldBytes &- markBytes) }
    private var storedPackets: [UInt64] = []
    private var storedBytes: [UInt64] = []
    // The bin the last record fell in: most records fall in it again, and
    // are counted there by the caller's running totals alone (the capture's
    // packets and bytes), folded in as the difference from `mark` when a
    // record falls elsewhere or the totals are settled. Indexing the arrays
    // per record cost ~80 instructions a packet, two counters of its own 3.
    private var binStart = Int64.max
    private var binEnd = Int64.min
    private var position = 0
    /// The running totals when the last record's bin was entered, and as
    /// last told.
    private var markPackets: UInt64 = 0
    private var markBytes: UInt64 = 0
    private var toldPackets: UInt64 = 0
    private var toldBytes: UInt64 = 0

    private func withPending(_ bins: [UInt64], _ pending: UInt64) -> [UInt64] {
        guard pending > 0, position < bins.count else { return bins }
        var b = bins
        b[position] &+= pending
        return b
    }

    public init(widthNs: Int64? = nil) { grid = TimeGrid(widthNs: widthNs) }

    /// Whether a record at `ts` falls in the last record's bin: then the
    /// running totals count it, and nothing more is to be done.
    @inline(__always)
    public func holds(_ ts: Int64) -> Bool { ts >= binStart && ts < binEnd }

    /// Counts one record, keeping running totals of its own.
    public mutating func add(_ ts: Int64, bytes wire: UInt64) {
        let packets = toldPackets &+ 1, bytes = toldBytes &+ wire
        if holds(ts) { settle(packets: packets, bytes: bytes) } else { enter(ts, bytes: wire, packets: packets, bytes: bytes) }
    }

    /// A record outside the last one's bin (`holds` was false), of `wire`
    /// bytes; `packets` and `bytes`: the running totals with it counted.
    public mutating func enter(_ ts: Int64, bytes wire: UInt64, packets: UInt64, bytes total: UInt64) {
        // What the totals gained before this record was the last bin's.
        let before = (packets: packets &- 1, bytes: total &- wire)
        if position < storedPackets.count {
            storedPackets[position] &+= before.packets &- markPackets
            storedBytes[position] &+= before.bytes &- markBytes
        }
        markPackets = before.packets; markBytes = before.bytes
        toldPackets = packets; toldBytes = total
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
        let start = grid.originNs &+ i &* grid.widthNs
        binStart = start
        binEnd = start &+ grid.widthNs
    }

    /// The running totals now (with every record `holds` took): `packets`
    /// and `bytes` are read after this.
    public mutating func settle(packets: UInt64, bytes: UInt64) {
        toldPackets = packets; toldBytes = bytes
    }

    /// The counts at a coarser width (the services' bins may have needed one).
    public func coarsened(to width: Int64) -> TimelineCounts {
        guard width > grid.widthNs else { return self }
        var c = self
        let g = grid.coarsened(to: width)
        c.storedPackets = g.relay(packets, from: grid)
        c.storedBytes = g.relay(bytes, from: grid)
        c.markPackets = toldPackets; c.markBytes = toldBytes
        c.grid = g
        c.binStart = .max; c.binEnd = .min
        return c
    }
}

/// The origin of the timeline, set by the reading side at the first record
/// and read by the services' observer when flows end (always after their
/// records were read: the pipeline's rings order the two).
public final class TimelineOrigin: @unchecked Sendable {
    @exclusivity(unchecked) public var ns: Int64?
    public init() {}
}

/// The key of a services-table row: (protocol, server port or -1).
public struct ServiceBinsKey: Hashable, Sendable, FastHashable {
    public var proto: UInt8
    public var port: Int32
    public init(proto: IPProtocol, port: UInt16?) {
        self.proto = proto.rawValue
        self.port = port.map { Int32($0) } ?? -1
    }
    @inline(__always)
    public func fastHash(_ seed: HashSeed) -> UInt64 {
        seed.hash(UInt64(proto) << 32 | UInt64(UInt32(bitPattern: port)))
    }
}

/// Bytes per bin of each service, attributed when its flows end. A flow
/// whose packets all fall in one bin is exact there. A flow spanning bins
/// is spread over them in proportion to the time it overlaps each (as
/// SiLK's rwcount does by default): a flow record says how much and from
/// when to when, not how its packets fell in between; `spreadBytes` says
/// how much was spread. Each service's bins add up to its bytes exactly.
///
/// Memory is bins × rows: at most `maxRows` services keep rows; when a new
/// one would pass that, the row with the fewest bytes so far goes into
/// `other` for good (so a row, once kept, is never partial).
public final class TimelineObserver: FlowObserver {
    public static let maxRows = 64
    let origin: TimelineOrigin
    @exclusivity(unchecked) var grid: TimeGrid
    /// The service of each row, in the order rows were made (an evicted
    /// row's place goes to the service that evicted it).
    @exclusivity(unchecked) var keys: [ServiceBinsKey] = []
    // Every row's bins in one block, `stride` apart, `other` last (row
    // `maxRows`): a flow adds to its row through one pointer (an array of
    // arrays cost three uniqueness checks a flow). The bins of a row past
    // `grid.count` are kept zero, so a grid growing at the same width
    // needs no work until it outgrows `stride`.
    @exclusivity(unchecked) var bins: UnsafeMutablePointer<UInt64>
    @exclusivity(unchecked) var stride: Int
    /// Bytes of each row so far (what eviction goes by), and one more for
    /// `other`, never read: a flow adds to its row's without asking which.
    let totals: UnsafeMutablePointer<UInt64>
    /// Each service's row + 1 (0: not seen yet; `otherMark`: evicted, its
    /// flows go to `other`), at `slot(proto:port:)`. Every possible key
    /// has a place, so a flow finds its row in one load: a hash lookup
    /// cost ~100 instructions, for two flows in three.
    let rowOf: UnsafeMutablePointer<UInt8>
    static let otherMark = UInt8(maxRows + 1)
    /// TCP's ports, UDP's, then one per protocol without ports.
    static let slots = 2 << 16 + 256
    @exclusivity(unchecked) public private(set) var spreadBytes: UInt64 = 0

    public init(origin: TimelineOrigin, widthNs: Int64?) {
        self.origin = origin
        grid = TimeGrid(widthNs: widthNs)
        stride = grid.reserve
        bins = .allocate(capacity: (Self.maxRows + 1) * stride)
        // Rows are zeroed when made; `other` is there from the start.
        (bins + Self.maxRows * stride).initialize(repeating: 0, count: stride)
        totals = .allocate(capacity: Self.maxRows + 1)
        totals.initialize(repeating: 0, count: Self.maxRows + 1)
        rowOf = .allocate(capacity: Self.slots)
        rowOf.initialize(repeating: 0, count: Self.slots)
    }

    deinit {
        bins.deallocate()
        totals.deallocate()
        rowOf.deallocate()
    }

    /// Where a service's row is noted in `rowOf`.
    @inline(__always)
    static func slot(proto: UInt8, port: UInt16) -> Int {
        switch proto {
        case IPProtocol.tcp.rawValue: return Int(port)
        case IPProtocol.udp.rawValue: return 1 << 16 | Int(port)
        default: return 2 << 16 | Int(proto)
        }
    }

    static func slot(of key: ServiceBinsKey) -> Int {
        key.port < 0 ? 2 << 16 | Int(key.proto) : slot(proto: key.proto, port: UInt16(truncatingIfNeeded: key.port))
    }

    /// The bins of row `r` (`maxRows`: other), bin 0 at `grid.low`.
    @inline(__always)
    func row(_ r: Int) -> UnsafeMutablePointer<UInt64> { bins + r &* stride }

    public func observe(_ f: FlowRecord) {
        let bytes = f.bytes
        guard bytes > 0, let o = origin.ns else { return }
        grid.start(at: o)
        var first = grid.index(f.startNs), last = grid.index(f.endNs)
        if first < grid.low || last >= grid.low + Int64(grid.count) { (first, last) = cover(f) }
        let at = Int(truncatingIfNeeded: first &- grid.low)
        var r = Int(rowOf[Self.slot(proto: f.proto.rawValue, port: f.serverPort)]) &- 1
        if r < 0 { r = newRow(f) }
        totals[r] &+= bytes
        let bins = row(r)
        // A flow that ends before it starts (not one the tracker makes) stays
        // in the bin of its start.
        guard last > first else {
            bins[at] &+= bytes
            return
        }
        spreadBytes &+= bytes
        Self.spread(bytes, startNs: f.startNs, endNs: f.endNs, first: first, last: last, grid: grid, into: bins)
    }

    /// Grows the grid to hold `f`'s bins; they are returned as they are then.
    @inline(never)
    private func cover(_ f: FlowRecord) -> (first: Int64, last: Int64) {
        // One at a time: growing for the start may change the width.
        if let (g, _) = grid.grown(toCover: grid.index(f.startNs)) { regrid(g) }
        if let (g, _) = grid.grown(toCover: grid.index(f.endNs)) { regrid(g) }
        return (grid.index(f.startNs), grid.index(f.endNs))
    }

    /// floor(a · b / d), exactly.
    @inline(__always)
    static func share(_ a: UInt64, _ b: UInt64, _ d: UInt64) -> UInt64 {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        if !overflow { return p / d }
        return d.dividingFullWidth(a.multipliedFullWidth(by: b)).quotient
    }

    /// A flow's bytes over the bins `first...last` it overlaps, in
    /// proportion to the time it spends in each: the cumulative share at a
    /// bin's end is floor(bytes · elapsed / duration), and each bin gets
    /// the difference, so the bins add up to `bytes` exactly. Whole bins
    /// between the first and the last all add `width` to `elapsed`, so the
    /// share steps by a fixed quotient and remainder: one division per
    /// flow, not one per bin (a 128-bit one only when a product passes 64
    /// bits). `bins`: the row, bin 0 at `grid.low`.
    @inline(__always)
    static func spread(_ bytes: UInt64, startNs: Int64, endNs: Int64, first: Int64, last: Int64, grid: TimeGrid,
                       into bins: UnsafeMutablePointer<UInt64>) {
        let duration = UInt64(endNs - startNs)
        let widthNs = grid.widthNs, originNs = grid.originNs
        // The first bin: from the start to its end.
        let firstEnd = originNs &+ (first &+ 1) &* widthNs
        let elapsed = min(UInt64(max(0, firstEnd - startNs)), duration)
        let given = share(bytes, elapsed, duration)
        let firstBin = bins + Int(truncatingIfNeeded: first &- grid.low)
        firstBin.pointee &+= given
        let lastBin = bins + Int(truncatingIfNeeded: last &- grid.low)
        guard last > first &+ 1 else {
            // The last bin: the rest, so the row adds up exactly.
            lastBin.pointee &+= bytes &- given
            return
        }
        // The whole bins: each adds `widthNs` to `elapsed`.
        let (stepProduct, overflow) = bytes.multipliedReportingOverflow(by: UInt64(widthNs))
        if !overflow {
            let q = stepProduct / duration, rStep = stepProduct % duration
            // The remainder of bytes · elapsed / duration so far.
            let (product, productOverflow) = bytes.multipliedReportingOverflow(by: elapsed)
            var rem = productOverflow ? duration.dividingFullWidth(bytes.multipliedFullWidth(by: elapsed)).remainder
                : product &- given &* duration
            let q1 = q &+ 1
            var bin = firstBin + 1
            while bin < lastBin {
                rem &+= rStep
                let carry = rem >= duration, over = rem &- duration
                rem = carry ? over : rem
                bin.pointee &+= carry ? q1 : q
                bin += 1
            }
            // The last bin: the rest (bytes less the share at its start).
            let lastStart = originNs &+ last &* widthNs
            lastBin.pointee &+= bytes &- share(bytes, UInt64(lastStart - startNs), duration)
        } else {
            var upTo = given
            for i in (first + 1)..<last {
                let before = upTo
                let end = min(UInt64(max(0, originNs &+ (i + 1) &* widthNs - startNs)), duration)
                upTo = share(bytes, end, duration)
                bins[Int(i - grid.low)] &+= upTo &- before
            }
            lastBin.pointee &+= bytes &- upTo
        }
    }

    /// A row for the service of `f`, seen for the first time: made if there
    /// is room (or room is made, the smallest row going into `other`).
    private func newRow(_ f: FlowRecord) -> Int {
        let key = ServiceBinsKey(proto: f.proto, port: f.hasServicePort ? f.serverPort : nil)
        let r: Int
        if keys.count < Self.maxRows {
            r = keys.count
            keys.append(key)
        } else {
            // Full: the smallest row so far (the first of equals) makes way.
            var smallest = 0
            for n in 1..<Self.maxRows where totals[n] < totals[smallest] { smallest = n }
            let other = row(Self.maxRows), old = row(smallest)
            for n in 0..<grid.count { other[n] &+= old[n] }
            rowOf[Self.slot(of: keys[smallest])] = Self.otherMark
            keys[smallest] = key
            r = smallest
        }
        row(r).initialize(repeating: 0, count: stride)
        totals[r] = 0
        rowOf[Self.slot(of: key)] = UInt8(r + 1)
        return r
    }

    private func regrid(_ g: TimeGrid) {
        defer { grid = g }
        // Later bins at the same width are there already, and zero.
        if g.widthNs == grid.widthNs && g.low == grid.low && !grid.isEmpty && g.count <= stride { return }
        var wider = stride
        while wider < g.count { wider = Swift.min(wider * 2, Swift.max(g.count, g.limit)) }
        let block = UnsafeMutablePointer<UInt64>.allocate(capacity: (Self.maxRows + 1) * wider)
        for r in Array(0..<keys.count) + [Self.maxRows] {
            let out = block + r * wider
            out.initialize(repeating: 0, count: wider)
            g.relay(row(r), from: grid, into: out)
        }
        bins.deallocate()
        bins = block
        stride = wider
    }

    /// The services' bins on `counts`' grid (which covers every record,
    /// hence every flow), and the counts at the width both can show.
    func result(_ counts: TimelineCounts) -> Timeline {
        let width = max(grid.widthNs, counts.grid.widthNs)
        let totals = counts.coarsened(to: width)
        let target = totals.grid
        var services: [ServiceBinsKey: [UInt64]] = [:]
        let mine = grid.isEmpty ? grid : grid.coarsened(to: width)
        func bins(_ r: Int) -> [UInt64] { Array(UnsafeBufferPointer(start: row(r), count: grid.count)) }
        for (n, key) in keys.enumerated() {
            services[key] = target.relay(mine.relay(bins(n), from: grid), from: mine)
        }
        let rest = grid.isEmpty ? [UInt64](repeating: 0, count: target.count)
            : target.relay(mine.relay(bins(Self.maxRows), from: grid), from: mine)
        return Timeline(widthNs: target.widthNs, startNs: target.isEmpty ? nil : target.startNs,
                        packets: totals.packets, bytes: totals.bytes, services: services, other: rest,
                        spreadBytes: spreadBytes, widened: target.fixed && target.widthNs != target.requestedWidthNs)
    }
}

/// The capture over time, as the reports show it.
public struct Timeline: Sendable {
    public var widthNs: Int64
    /// Start of bin 0 (nil: nothing was read).
    public var startNs: Int64?
    /// Every record read, per bin.
    public var packets: [UInt64]
    public var bytes: [UInt64]
    /// Bytes per bin of the services that kept a row.
    public var services: [ServiceBinsKey: [UInt64]]
    /// Bytes per bin of the services that did not.
    public var other: [UInt64]
    /// Bytes of flows that spanned more than one bin (spread by time).
    public var spreadBytes: UInt64
    /// `--bin` asked for more bins than are kept: the width was doubled.
    public var widened: Bool

    public init(widthNs: Int64 = TimeGrid.ladder[0], startNs: Int64? = nil, packets: [UInt64] = [],
                bytes: [UInt64] = [], services: [ServiceBinsKey: [UInt64]] = [:], other: [UInt64] = [],
                spreadBytes: UInt64 = 0, widened: Bool = false) {
        self.widthNs = widthNs; self.startNs = startNs; self.packets = packets; self.bytes = bytes
        self.services = services; self.other = other; self.spreadBytes = spreadBytes; self.widened = widened
    }

    /// The bins of the service row (proto, port), if it kept a row.
    public func bytesPerBin(proto: IPProtocol, port: UInt16?) -> [UInt64]? {
        services[ServiceBinsKey(proto: proto, port: port)]
    }
}
