import PFlowCore
import PFlowEngine
#if canImport(Glibc)
import Glibc
#endif

/// What the live view shows, from `LiveTotals`' running counters: per
/// service the rate to servers (↑, bytes clients sent) and to clients (↓)
/// over the last interval and the last minute, a sparkline of the last 60
/// intervals; the top hosts; the ticker; a health line. `sample` is called
/// once per interval and costs O(services · 60 + hosts kept), bounded by
/// `LiveTotals`' limits whatever the number of live flows.
public final class LiveView {
    public static let sparkIntervals = 60
    public static let sorts: [ServiceSort] = [.bytes, .packets, .flows, .clients]

    public let totals: LiveTotals
    public var sort: ServiceSort
    public var paused = false
    public var showHelp = false
    public let ascii: Bool

    /// Per interval, per bucket: bytes up, bytes down, packets; kept for
    /// `ring` intervals (at least 60, and at least a minute's worth).
    private let ring: Int
    private var history: [[(up: UInt64, down: UInt64, packets: UInt64)]] = []
    private var durations: [Int64]
    private var position = -1
    private var filled = 0
    private var previous: [(UInt64, UInt64, UInt64, UInt64)] = []
    private var previousHosts: [UInt64] = []
    /// Bytes per host in the last interval, for the top list.
    private var hostRates: [(host: Int, bytes: UInt64)] = []
    private var lastSampleNs: Int64?
    private var health = (packets: UInt64(0), rate: 0.0, bitRate: 0.0)

    public init(totals: LiveTotals, intervalNs: Int64, sort: ServiceSort, ascii: Bool) {
        self.totals = totals
        self.sort = sort
        self.ascii = ascii
        let perMinute = Int((60_000_000_000 + max(1, intervalNs) - 1) / max(1, intervalNs))
        ring = min(1200, max(Self.sparkIntervals, perMinute))
        durations = [Int64](repeating: 0, count: ring)
    }

    /// The next sort key (the `s` key).
    public func cycleSort() {
        let i = Self.sorts.firstIndex(of: sort) ?? 0
        sort = Self.sorts[(i + 1) % Self.sorts.count]
    }

    /// Takes the counters' differences since the last call as one interval.
    public func sample(nowNs: Int64, packets: UInt64, bytes: UInt64) {
        let n = totals.buckets.count
        let durationNs = lastSampleNs.map { max(1, nowNs - $0) } ?? 0
        lastSampleNs = nowNs
        position = (position + 1) % ring
        filled = min(ring, filled + 1)
        durations[position] = durationNs
        while previous.count < n { previous.append((0, 0, 0, 0)) }
        while history.count < n { history.append(Array(repeating: (0, 0, 0), count: ring)) }
        for b in 0..<n {
            let t = totals.totals(b)
            let p = previous[b]
            // Wrapping differences: a flow sorted out of a bucket takes its
            // bytes with it, which may leave a bucket's difference negative
            // for an interval; shown as nothing rather than as 18 EB.
            let up = t.upBytes &- p.0, down = t.downBytes &- p.1
            let packets = (t.upPackets &+ t.downPackets) &- (p.2 &+ p.3)
            history[b][position] = (Self.clamp(up), Self.clamp(down), Self.clamp(packets))
            previous[b] = (t.upBytes, t.downBytes, t.upPackets, t.downPackets)
        }
        let hosts = totals.hostAddresses.count
        while previousHosts.count < hosts { previousHosts.append(0) }
        hostRates.removeAll(keepingCapacity: true)
        for h in 0..<hosts {
            let now = totals.hostBytes(h)
            let d = Self.clamp(now &- previousHosts[h])
            previousHosts[h] = now
            if d > 0 { hostRates.append((h, d)) }
        }
        if durationNs > 0 {
            let seconds = Double(durationNs) / 1e9
            health.rate = Double(packets &- health.packets) / seconds
            health.bitRate = Double(bytes &- healthBytes) * 8 / seconds
        }
        health.packets = packets
        healthBytes = bytes
    }
    private var healthBytes: UInt64 = 0

    static func clamp(_ v: UInt64) -> UInt64 { v > UInt64(Int64.max) ? 0 : v }

    /// One service row's numbers.
    public struct Row {
        public var bucket: Int
        public var name: String
        public var port: String
        public var up: Double, down: Double          // bytes/s, last interval
        public var upMinute: Double, downMinute: Double
        public var packets: Double                   // packets/s, last interval
        public var flows: UInt64
        public var clients: Int
        public var spark: [UInt64]
        public var total: UInt64
    }

    /// The rows, in the current sort order (rows with no traffic at all left out).
    public func rows() -> [Row] {
        guard filled > 0, position >= 0 else { return [] }
        let last = Double(max(1, durations[position])) / 1e9
        var out: [Row] = []
        for (b, bucket) in totals.buckets.enumerated() where b < history.count {
            let h = history[b]
            var minute = (up: UInt64(0), down: UInt64(0)), spanNs: Int64 = 0
            var spark = [UInt64](repeating: 0, count: Self.sparkIntervals)
            for k in 0..<filled {
                let i = (position - k + ring) % ring
                if spanNs < 60_000_000_000 && durations[i] > 0 {
                    minute.up &+= h[i].up; minute.down &+= h[i].down
                    spanNs += durations[i]
                }
                if k < Self.sparkIntervals { spark[Self.sparkIntervals - 1 - k] = h[i].up &+ h[i].down }
            }
            let t = totals.totals(b)
            let total = t.upBytes &+ t.downBytes
            if total == 0 || Self.clamp(total) == 0 { continue }
            let span = Double(max(1, spanNs)) / 1e9
            let port: String
            if b == 0 || b == totals.otherBucket { port = "" }
            else if let p = bucket.port { port = "\(bucket.proto.name)/\(p)" }
            else { port = bucket.proto.name }
            out.append(Row(bucket: b, name: bucket.service, port: port,
                           up: Double(h[position].up) / last, down: Double(h[position].down) / last,
                           upMinute: Double(minute.up) / span, downMinute: Double(minute.down) / span,
                           packets: Double(h[position].packets) / last,
                           flows: bucket.flows, clients: bucket.clients, spark: spark, total: total))
        }
        let key: (Row) -> Double
        switch sort {
        case .bytes: key = { $0.up + $0.down }
        case .packets: key = { $0.packets }
        case .flows: key = { Double($0.flows) }
        case .clients: key = { Double($0.clients) }
        }
        return out.sorted { a, b in
            let ka = key(a), kb = key(b)
            if ka != kb { return ka > kb }
            if a.upMinute + a.downMinute != b.upMinute + b.downMinute { return a.upMinute + a.downMinute > b.upMinute + b.downMinute }
            return a.bucket < b.bucket
        }
    }

    /// The hosts that moved the most bytes in the last interval.
    public func topHosts(_ n: Int) -> [(address: IPAddress, rate: Double, total: UInt64)] {
        guard position >= 0 else { return [] }
        let last = Double(max(1, durations[position])) / 1e9
        var top = Array(hostRates.sorted { ($0.bytes, $1.host) > ($1.bytes, $0.host) }.prefix(n))
        if top.count < n {
            // Quiet now: then the busiest hosts so far (one pass over the hosts kept).
            let shown = Set(top.map(\.host))
            var rest: [(host: Int, bytes: UInt64)] = []
            for h in 0..<totals.hostAddresses.count where !shown.contains(h) {
                let b = totals.hostBytes(h)
                if b > 0 && Self.clamp(b) > 0 { rest.append((h, b)) }
            }
            rest.sort { ($0.bytes, $1.host) > ($1.bytes, $0.host) }
            top += rest.prefix(n - top.count).map { ($0.host, 0) }
        }
        return top.map { (totals.hostAddresses[$0.host], Double($0.bytes) / last, totals.hostBytes($0.host)) }
    }

    public var packetRate: Double { health.rate }
    public var bitRate: Double { health.bitRate }

    /// The view's lines below the title, for a screen `width` × `height`.
    /// `healthLine` is the session's (packets/s, drops, live flows).
    public func lines(width: Int, height: Int, top: Int = 20, healthLine: String) -> [String] {
        var out = [healthLine]
        if showHelp {
            out += ["", "help (h closes it):",
                    "  q          quit (as Ctrl-C: the report and the files are still written)",
                    "  s          sort services by bytes/s, packets/s, flows, clients (now: \(sort.rawValue))",
                    "  p          pause the display (capture goes on); p again resumes",
                    "  h          this help; h again goes back",
                    "",
                    "  \(up) to servers: bytes clients sent; \(down) to clients: bytes servers sent.",
                    "  now: the last interval; 1 min: the last minute; the marks: the last 60 intervals.",
                    "  (not sorted yet): new flows' traffic until the view names their service."]
            return out
        }
        let rows = self.rows()
        let hosts = max(3, min(8, (height - 12) / 4))
        let events = max(2, min(6, (height - 12) / 4))
        let room = max(1, min(top, height - 1 - out.count - 3 - hosts - 2 - events - 2))
        let sparkWidth = max(10, min(Self.sparkIntervals, width - 96))
        var table: [[String]] = [["service", "port", "\(up) now", "\(down) now", "\(up) 1 min", "\(down) 1 min",
                                  "flows", "clients", "last \(Self.sparkIntervals) intervals"]]
        for r in rows.prefix(room) {
            let g = Sparkline.group(count: r.spark.count, width: sparkWidth)
            table.append([r.name.isEmpty ? r.port : r.name, r.port, Self.rate(r.up), Self.rate(r.down), Self.rate(r.upMinute), Self.rate(r.downMinute),
                          Formatting.grouped(r.flows), Formatting.grouped(UInt64(max(0, r.clients))),
                          Sparkline.render(Sparkline.grouped(r.spark, group: g), ascii: ascii)])
        }
        out.append("")
        out += Self.columns(table, right: [2, 3, 4, 5, 6, 7])
        if rows.count > room { out.append(" … \(rows.count - room) more services") }
        out.append("")
        var hostTable: [[String]] = [["top hosts", "now", "total"]]
        for h in topHosts(hosts) {
            hostTable.append([TableReport.safe(h.address.description), Self.rate(h.rate), Formatting.humanBytes(h.total)])
        }
        out += Self.columns(hostTable, right: [1, 2])
        out.append("")
        out.append(" events" + (totals.eventCount > 0 ? " (\(totals.eventCount))" : ""))
        for e in totals.events.suffix(events) { out.append("  " + Self.clock(e.ns) + "  " + TableReport.safe(e.text)) }
        if totals.events.isEmpty { out.append("  none yet (new listeners, scans, knocks show here)") }
        return out
    }

    var up: String { ascii ? "^" : "↑" }
    var down: String { ascii ? "v" : "↓" }

    /// Bytes per second as bits per second, in SI units.
    public static func rate(_ bytesPerSecond: Double) -> String {
        var v = bytesPerSecond * 8, i = 0
        if v < 0.5 { return "0" }
        let units = ["b/s", "kb/s", "Mb/s", "Gb/s", "Tb/s"]
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return Formatting.fixed(v, v < 10 && i > 0 ? 1 : 0) + " " + units[i]
    }

    /// Local time of day of `ns` (packet time of a live capture is the clock).
    static func clock(_ ns: Int64) -> String {
        var t = time_t(ns / 1_000_000_000)
        var parts = tm()
        guard localtime_r(&t, &parts) != nil else { return "--:--:--" }
        return Formatting.pad(Int64(parts.tm_hour), 2) + ":" + Formatting.pad(Int64(parts.tm_min), 2) + ":"
            + Formatting.pad(Int64(parts.tm_sec), 2)
    }

    /// Aligned columns (cells escaped), one leading space.
    static func columns(_ table: [[String]], right: Set<Int>) -> [String] {
        let table = table.map { $0.map(TableReport.safe) }
        var widths = [Int](repeating: 0, count: table.first?.count ?? 0)
        for row in table { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        return table.map { row in
            var line = ""
            for (i, c) in row.enumerated() where i < widths.count {
                let pad = String(repeating: " ", count: widths[i] - c.count)
                line += " " + (right.contains(i) ? pad + c : (i == row.count - 1 ? c : c + pad))
            }
            return line
        }
    }
}
