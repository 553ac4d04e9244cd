import PFlowCore
import PFlowEngine
import PFlowCapture
import PFlowFlows
import PFlowWire

/// The terminal report: a capture summary, then traffic by service.
public struct TableReport {
    /// ANSI styling; off unless writing to a terminal without NO_COLOR.
    public var color = false
    /// Rows in the services table; the rest are summed in one line.
    public var top = 20

    public init(color: Bool = false, top: Int = 20) {
        self.color = color
        self.top = top
    }

    func bold(_ s: String) -> String { color ? "\u{1B}[1m" + s + "\u{1B}[0m" : s }
    func dim(_ s: String) -> String { color ? "\u{1B}[2m" + s + "\u{1B}[0m" : s }
    func cyan(_ s: String) -> String { color ? "\u{1B}[36m" + s + "\u{1B}[0m" : s }

    public func render(_ result: AnalysisResult) -> String {
        ReportSections.all.map { $0.table(result, self) }.joined()
    }

    /// The Capture section.
    func capture(_ result: AnalysisResult) -> String {
        let s = result.summary
        let d = s.timestampDigits
        var out = bold("Capture") + "\n"
        var facts: [(String, String)] = []
        for f in s.files {
            let types = f.linkTypes.map(\.name).joined(separator: ", ")
            facts.append(("file", "\(f.path) (\(f.format), \(types.isEmpty ? "no interfaces" : types), \(Formatting.grouped(UInt64(f.records))) records)"))
        }
        let linkTypes = s.linkTypes.sorted { $0.key < $1.key }
            .map { "\($0.key.name) \(Formatting.grouped($0.value))" }.joined(separator: ", ")
        facts.append(("link types", linkTypes.isEmpty ? "none" : linkTypes))
        facts.append(("packets", Formatting.grouped(s.packets)))
        facts.append(("bytes", "\(Formatting.humanBytes(s.bytes)) (\(Formatting.grouped(s.bytes)) on the wire)"))
        if let first = s.firstNs, let last = s.lastNs {
            facts.append(("first", Formatting.rfc3339(ns: first, digits: d)))
            facts.append(("last", Formatting.rfc3339(ns: last, digits: d)))
            facts.append(("duration", Formatting.seconds(ns: s.durationNs, digits: min(d, 3)) + " s"))
        }
        let byProto = result.tally.byProto
            .sorted { $0.key < $1.key }.map { "\($0.key) \(Formatting.grouped($0.value.flows))" }
        facts.append(("flows", Formatting.grouped(result.tally.flows)
                      + (byProto.isEmpty ? "" : " (" + byProto.joined(separator: ", ") + ")")))
        if let drops = s.kernelDrops { facts.append(("kernel drops", Formatting.grouped(drops))) }
        if s.nonIPPackets > 0 { facts.append(("non-IP", Formatting.grouped(s.nonIPPackets) + " packets")) }
        if s.truncatedPackets > 0 {
            facts.append(("snaplen-cut", Formatting.grouped(s.truncatedPackets) + " packets (headers complete, counted at wire length)"))
        }
        let errors = s.decodeErrorCounts
        facts.append(("decode errors", errors.isEmpty ? "none"
                      : errors.map { "\($0.0) \(Formatting.grouped($0.1))" }.joined(separator: ", ")))
        let labelWidth = facts.map(\.0.count).max() ?? 0
        for (label, value) in facts {
            out += "  " + dim(label.padding(labelWidth)) + "  " + value + "\n"
        }
        for w in s.warnings { out += "  " + bold("warning") + "  " + w + "\n" }

        return out
    }

    /// The Services section.
    func services(_ rows: [ServiceRow]) -> String {
        var out = ""
        out += "\n" + bold("Services") + dim(" by bytes") + "\n"
        if rows.isEmpty {
            out += "  no flows\n"
            return out
        }
        let shown = rows.prefix(max(0, top))
        out += servicesTable(rows, limit: top)
        if rows.count > shown.count {
            let rest = rows.dropFirst(shown.count)
            let bytes = rest.reduce(0) { $0 + $1.bytes }
            let flows = rest.reduce(0) { $0 + $1.flows }
            out += "  … \(rest.count) more (\(Formatting.grouped(flows)) flows, \(Formatting.humanBytes(bytes))); --top shows more\n"
        }
        return out
    }

    /// Services whose connection attempts went unanswered or were rejected.
    func failedConnections(_ rows: [ServiceRow]) -> String {
        // Most failures first; ties keep the services table's order.
        let failing = rows.enumerated().filter { $0.element.unanswered + $0.element.rejected > 0 }
            .sorted { a, b in
                let x = a.element.unanswered + a.element.rejected, y = b.element.unanswered + b.element.rejected
                return x != y ? x > y : a.offset < b.offset
            }.map(\.element)
        guard !failing.isEmpty else { return "" }
        var out = "\n" + bold("Failed connections") + dim(" by service (S0 unanswered, REJ rejected)") + "\n"
        var table = [["SERVICE", "PORT", "ATTEMPTS", "UNANSWERED", "REJECTED"]]
        for r in failing.prefix(max(0, top)) {
            table.append([r.service.isEmpty ? "-" : r.service, r.port.map { "\($0)/\(r.proto.name)" } ?? r.proto.name,
                          Formatting.grouped(r.flows), Formatting.grouped(r.unanswered), Formatting.grouped(r.rejected)])
        }
        out += columns(table, rightAligned: [2, 3, 4], accent: nil)
        if failing.count > top { out += "  … \(failing.count - top) more services\n" }
        return out
    }

    /// Scans, knocks, services on unexpected ports, likely NATs.
    func findings(_ list: [Finding], digits: Int) -> String {
        guard !list.isEmpty else { return "" }
        var out = "\n" + bold("Findings") + "\n"
        for f in list.prefix(max(0, top)) {
            var who = f.source.map { $0.description } ?? ""
            if let t = f.target { who += (who.isEmpty ? "" : " -> ") + t.description }
            if f.target == nil, !f.targets.isEmpty { who += " -> \(f.targets.count) hosts" }
            if let p = f.proto, !f.ports.isEmpty, f.kind == "nonstandard-port" { who += ":\(f.ports[0])/\(p.name)" }
            let when = f.firstNs.map { " at " + Formatting.rfc3339(ns: $0, digits: 0) } ?? ""
            out += "  " + bold(f.kind) + "  " + who + when + "\n      " + f.detail + "\n"
        }
        if list.count > top { out += "  … \(list.count - top) more findings\n" }
        return out
    }

    /// The services table alone, at most `rows` rows (for the live view).
    public func servicesTable(_ rows: [ServiceRow], limit: Int) -> String {
        guard !rows.isEmpty else { return "  no flows yet\n" }
        let total = max(1, rows.reduce(0) { $0 + $1.bytes })
        var table: [[String]] = [["SERVICE", "PORT", "FLOWS", "PACKETS", "BYTES", "SHARE", "", "CLIENTS", "SERVERS"]]
        for r in rows.prefix(max(0, limit)) {
            let share = Double(r.bytes) / Double(total)
            table.append([
                r.service.isEmpty ? "-" : r.service,
                r.port.map { "\($0)/\(r.proto.name)" } ?? r.proto.name,
                Formatting.grouped(r.flows), Formatting.grouped(r.packets), Formatting.humanBytes(r.bytes),
                Formatting.fixed(share * 100, 1) + "%", bar(share),
                Formatting.grouped(UInt64(r.clients)), Formatting.grouped(UInt64(r.servers)),
            ])
        }
        return columns(table, rightAligned: [2, 3, 4, 5, 7, 8], accent: 6)
    }

    /// Latency quantiles, retransmissions and names of the services that
    /// have any (issue 16); nothing when none does.
    func health(_ rows: [ServiceRow]) -> String {
        let shown = rows.filter { $0.health.serverLatency.samples > 0 || $0.health.appLatency.samples > 0
                                  || $0.health.retransmissions > 0 || !$0.health.nameCounts.isEmpty }
        guard !shown.isEmpty else { return "" }
        let out = "\n" + bold("Service health") + dim(" (latency p50/p95 in ms; retransmitted segments per TCP packet)") + "\n"
        var table = [["SERVICE", "PORT", "SERVER p50/p95", "APP p50/p95", "RETRANS", "NAMES"]]
        func pair(_ h: LatencyHistogram) -> String {
            guard let a = h.quantileMs(0.5), let b = h.quantileMs(0.95) else { return "-" }
            return Formatting.fixed(a, 1) + "/" + Formatting.fixed(b, 1)
        }
        for r in shown.prefix(max(0, top)) {
            let h = r.health
            let names = h.topNames(2).joined(separator: " ")
            table.append([r.service.isEmpty ? "-" : r.service, r.port.map { "\($0)/\(r.proto.name)" } ?? r.proto.name,
                          pair(h.serverLatency), pair(h.appLatency),
                          h.tcpPackets == 0 ? "-" : Formatting.grouped(h.retransmissions)
                              + " (" + Formatting.fixed(h.retransmissionRate * 100, 2) + "%)",
                          names.count > 40 ? String(names.prefix(39)) + "…" : (names.isEmpty ? "-" : names)])
        }
        return out + columns(table, rightAligned: [2, 3, 4], accent: nil)
    }

    /// Tunnels opened, with what travelled inside them.
    func tunnels(_ list: [TunnelSummary]) -> String {
        guard !list.isEmpty else { return "" }
        var out = "\n" + bold("Tunnels") + dim(" (inner flows are reported as the flows; --no-decap keeps the outer view)") + "\n"
        var table = [["KIND", "ENDPOINTS", "INNER FLOWS", "PACKETS", "BYTES"]]
        for t in list.prefix(max(0, top)) {
            table.append([t.kind.name, "\(t.endpointA.description) <-> \(t.endpointB.description)",
                          Formatting.grouped(UInt64(t.innerFlows)), Formatting.grouped(t.packets), Formatting.humanBytes(t.bytes)])
        }
        out += columns(table, rightAligned: [2, 3, 4], accent: nil)
        if list.count > top { out += "  … \(list.count - top) more tunnels\n" }
        return out
    }

    /// Hosts seen opening connections, and the ephemeral ports they use.
    func clients(_ hosts: [ClientHost]) -> String {
        guard !hosts.isEmpty else { return "" }
        var out = "\n" + bold("Clients") + dim(" by connections opened (SYN)") + "\n"
        var table = [["CLIENT", "CONNECTIONS", "SOURCE PORTS", "PATTERN", "EPHEMERAL RANGE"]]
        for h in hosts.prefix(max(0, top)) {
            let r = h.range
            table.append([h.address.description, Formatting.grouped(UInt64(r.connections)),
                          r.lowest == r.highest ? "\(r.lowest)" : "\(r.lowest)-\(r.highest)",
                          r.pattern.rawValue, r.isLearned ? r.family.rawValue : "unknown (under 4)"])
        }
        out += columns(table, rightAligned: [1], accent: nil)
        if hosts.count > top { out += "  … \(hosts.count - top) more clients\n" }
        return out
    }

    /// Aligned columns; the first row is the header.
    func columns(_ table: [[String]], rightAligned: Set<Int>, accent: Int?) -> String {
        var widths = [Int](repeating: 0, count: table.first?.count ?? 0)
        for row in table { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for (n, row) in table.enumerated() {
            var line = " "
            for (i, cell) in row.enumerated() where i < widths.count {
                let padded = rightAligned.contains(i) ? cell.padding(left: widths[i]) : cell.padding(widths[i])
                line += " " + (n == 0 ? dim(padded) : (i == accent ? cyan(padded) : padded))
            }
            while line.last == " " { line.removeLast() }
            out += line + "\n"
        }
        return out
    }

    /// A 10-cell bar of eighths for a share in 0...1.
    func bar(_ share: Double) -> String {
        let eighths = Int((max(0, min(1, share)) * 80).rounded())
        let blocks = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        var s = String(repeating: "█", count: eighths / 8) + blocks[eighths % 8]
        if s.isEmpty && share > 0 { s = "▏" }
        return s
    }
}

extension String {
    /// Left-aligned in `width` columns (counting characters).
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    /// Right-aligned in `width` columns.
    func padding(left width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
