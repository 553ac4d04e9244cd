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
    /// ASCII only (not a UTF-8 terminal, or `--ascii`): sparklines, share
    /// bars and punctuation in ASCII, anything else outside it as `?`.
    public var ascii = true

    public init(color: Bool = false, top: Int = 20) {
        self.color = color
        self.top = top
    }

    func bold(_ s: String) -> String { color ? "\u{1B}[1m" + s + "\u{1B}[0m" : s }
    func dim(_ s: String) -> String { color ? "\u{1B}[2m" + s + "\u{1B}[0m" : s }
    func cyan(_ s: String) -> String { color ? "\u{1B}[36m" + s + "\u{1B}[0m" : s }

    public func render(_ result: AnalysisResult) -> String {
        let result = result.arrangedCopy()
        let out = ReportSections.all.map { $0.table(result, self) }.joined()
        return ascii ? Self.asciiOnly(out) : out
    }

    /// `text` in ASCII: the report's own punctuation spelled out, anything
    /// else (a name from the capture or a --services file) as one `?`, so
    /// columns stay aligned on a terminal that can't show UTF-8.
    static func asciiOnly(_ text: String) -> String {
        var text = text
        return text.withUTF8 { bytes in
            guard bytes.contains(where: { $0 >= 0x80 }) else { return String(decoding: bytes, as: UTF8.self) }
            // Byte by byte (a String appended a scalar at a time cost
            // hundreds of instructions per character of the report).
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                if b < 0x80 { out.append(b); i += 1; continue }
                // The length of this UTF-8 sequence (a stray byte counts as one).
                let n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                let seq = bytes[i..<min(bytes.count, i + n)]
                switch Array(seq) {
                case [0xE2, 0x80, 0xA6]: out += [0x2E, 0x2E, 0x2E]      // … -> ...
                case [0xC2, 0xB7]: out.append(0x7C)                    // · -> |
                case [0xC2, 0xB5]: out.append(0x75)                    // µ -> u
                case [0xE2, 0x86, 0x92]: out += [0x2D, 0x3E]           // → -> ->
                default: out.append(0x3F)                              // anything else -> ?
                }
                i += seq.count
            }
            return String(decoding: out, as: UTF8.self)
        }
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
            out += "  " + dim(label.padding(labelWidth)) + "  " + Self.safe(value) + "\n"
        }
        for w in s.warnings { out += "  " + bold("warning") + "  " + Self.safe(w) + "\n" }

        return out
    }

    /// The Services section: each service, then its leading servers and clients.
    func services(_ rows: [ServiceRow], sort: ServiceSort = .bytes, totalBytes: UInt64? = nil) -> String {
        var out = ""
        out += "\n" + bold("Services") + dim(" by \(sort.rawValue)") + "\n"
        if rows.isEmpty {
            out += "  no flows\n"
            return out
        }
        let shown = rows.prefix(max(0, top))
        out += servicesTable(rows, limit: top, addresses: true, totalBytes: totalBytes)
        if rows.count > shown.count {
            let rest = rows.dropFirst(shown.count)
            let bytes = rest.reduce(0) { $0 + $1.bytes }
            let flows = rest.reduce(0) { $0 + $1.flows }
            out += "  … \(rest.count) more (\(Formatting.grouped(flows)) flows, \(Formatting.humanBytes(bytes))); --top shows more\n"
        }
        return out
    }

    /// Server ports that never answered (scan probes left to their findings).
    func failedConnections(_ failing: [FailedPort]) -> String {
        guard !failing.isEmpty else { return "" }
        var out = "\n" + bold("Failed connections") + dim(" (ports that never answered; port scans' probes are in their findings)") + "\n"
        var table = [["SERVICE", "PORT", "ATTEMPTS", "UNANSWERED", "REJECTED"]]
        for r in failing.prefix(max(0, top)) {
            table.append([r.service.isEmpty ? "-" : r.service, "\(r.port)/\(r.proto.name)",
                          Formatting.grouped(r.attempts), Formatting.grouped(r.unanswered), Formatting.grouped(r.rejected)])
        }
        out += columns(table, rightAligned: [2, 3, 4], accent: nil)
        if failing.count > top { out += "  … \(failing.count - top) more ports\n" }
        return out
    }

    /// Every address as client and as server.
    func hosts(_ list: [HostRow], tally: ServiceTally) -> String {
        guard !list.isEmpty else { return "" }
        var out = "\n" + bold("Hosts") + dim(" (as client: flows it opened; as server: flows it served)") + "\n"
        var table = [["HOST", "AS CLIENT", "AS SERVER", "SENT", "RECEIVED", "SERVES"]]
        for h in list.prefix(max(0, top)) {
            let services = h.services.prefix(6).joined(separator: " ") + (h.services.count > 6 ? " …" : "")
            table.append([h.address.description, Formatting.grouped(h.clientFlows), Formatting.grouped(h.serverFlows),
                          Formatting.humanBytes(h.clientBytesSent + h.serverBytesSent),
                          Formatting.humanBytes(h.clientBytesReceived + h.serverBytesReceived), services])
        }
        out += columns(table, rightAligned: [1, 2, 3, 4], accent: nil)
        if list.count > top { out += "  … \(list.count - top) more hosts\n" }
        if tally.hostsApproximate {
            out += "  (too many hosts to keep each: about \(Formatting.grouped(UInt64(tally.distinctHosts))) distinct; "
                + "\(Formatting.grouped(tally.untrackedHosts.flows)) flow ends of later hosts summed, not listed)\n"
        }
        return out
    }

    /// Most findings the table shows (the JSON has them all).
    public static let findingsShown = 100

    /// Scans, knocks, services on unexpected ports, likely NATs: all of
    /// them (`--top` limits table rows, not findings), up to `findingsShown`.
    func findings(_ list: [Finding], digits: Int) -> String {
        guard !list.isEmpty else { return "" }
        var out = "\n" + bold("Findings") + "\n"
        for f in list.prefix(Self.findingsShown) {
            var who = f.source.map { $0.description } ?? ""
            if let t = f.target { who += (who.isEmpty ? "" : " -> ") + t.description }
            if f.target == nil, !f.targets.isEmpty { who += " -> \(f.targets.count) hosts" }
            if let p = f.proto, !f.ports.isEmpty, f.kind == "nonstandard-port" { who += ":\(f.ports[0])/\(p.name)" }
            let when = f.firstNs.map { " at " + Formatting.rfc3339(ns: $0, digits: 0) } ?? ""
            out += "  " + bold(Self.safe(f.kind)) + "  " + Self.safe(who) + when + "\n      " + Self.safe(f.detail) + "\n"
        }
        if list.count > Self.findingsShown {
            out += "  … \(list.count - Self.findingsShown) more findings (--json lists them all)\n"
        }
        return out
    }

    /// The services table alone, at most `limit` rows (the live view);
    /// `addresses` adds a line under each with its leading servers and
    /// clients, and marks one-way services.
    /// SHARE is of `totalBytes` (every flow's bytes) when given, else of the rows'.
    public func servicesTable(_ rows: [ServiceRow], limit: Int, addresses: Bool = false, totalBytes: UInt64? = nil) -> String {
        guard !rows.isEmpty else { return "  no flows yet\n" }
        let total = max(1, totalBytes ?? rows.reduce(0) { $0 + $1.bytes })
        var table: [[String]] = [["SERVICE", "PORT", "FLOWS", "PACKETS", "BYTES", "SHARE", "", "CLIENTS", "SERVERS"]]
        var notes: [String] = []
        for r in rows.prefix(max(0, limit)) {
            let share = Double(r.bytes) / Double(total)
            table.append([
                r.service.isEmpty ? "-" : r.service,
                r.port.map { "\($0)/\(r.proto.name)" } ?? r.proto.name,
                Formatting.grouped(r.flows), Formatting.grouped(r.packets), Formatting.humanBytes(r.bytes),
                Formatting.fixed(share * 100, 1) + "%", bar(share),
                Formatting.grouped(UInt64(r.clients)) + (r.approximate ? "~" : ""),
                Formatting.grouped(UInt64(r.servers)) + (r.approximate ? "~" : ""),
            ])
            notes.append(addresses ? addressLine(r) : "")
        }
        let lines = columns(table, rightAligned: [2, 3, 4, 5, 7, 8], accent: 6).split(separator: "\n", omittingEmptySubsequences: false)
        var out = ""
        for (n, line) in lines.enumerated() where !(n == lines.count - 1 && line.isEmpty) {
            out += line + "\n"
            if n > 0, n - 1 < notes.count, !notes[n - 1].isEmpty { out += dim(notes[n - 1]) + "\n" }
        }
        return out
    }

    /// `    one-way · servers a (flows, bytes), … · clients b (…), …`: the
    /// three leading addresses of each side.
    func addressLine(_ r: ServiceRow) -> String {
        func list(_ shares: [AddressShare], of count: Int) -> String {
            var parts = shares.prefix(3).map { "\($0.address.description) (\(Formatting.grouped($0.flows)), \(Formatting.humanBytes($0.bytes)))" }
            if count > parts.count { parts.append("+\(Formatting.grouped(UInt64(count - parts.count)))") }
            return parts.joined(separator: ", ")
        }
        var parts: [String] = []
        if r.kind == .oneWay { parts.append("one-way (never answered, by design)") }
        if !r.topServers.isEmpty { parts.append("servers " + list(r.topServers, of: r.servers)) }
        if !r.topClients.isEmpty { parts.append("clients " + list(r.topClients, of: r.clients)) }
        return parts.isEmpty ? "" : "      " + parts.joined(separator: " · ")
    }

    /// Latency quantiles, retransmissions and names of the services that
    /// have any (issue 16); nothing when none does.
    func health(_ rows: [ServiceRow]) -> String {
        let shown = rows.filter { $0.health.serverLatency.samples > 0 || $0.health.appLatency.samples > 0
                                  || $0.health.retransmissions > 0 || $0.health.hasNames }
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
    func tunnels(_ list: [TunnelSummary], other: OtherTunnels? = nil) -> String {
        guard !list.isEmpty else { return "" }
        var out = "\n" + bold("Tunnels") + dim(" (inner flows are reported as the flows; --no-decap keeps the outer view)") + "\n"
        var table = [["KIND", "ENDPOINTS", "INNER FLOWS", "PACKETS", "BYTES"]]
        for t in list.prefix(max(0, top)) {
            table.append([t.kind.name, "\(t.endpointA.description) <-> \(t.endpointB.description)",
                          (t.innerFlowsEstimated ? "~" : "") + Formatting.grouped(UInt64(t.innerFlows)),
                          Formatting.grouped(t.packets), Formatting.humanBytes(t.bytes)])
        }
        out += columns(table, rightAligned: [2, 3, 4], accent: nil)
        if let other {
            // Past the tunnels tracked one by one: only their sum is known.
            out += "  … \(list.count - min(list.count, max(0, top)) + other.tunnels) more tunnels (about \(Formatting.grouped(UInt64(other.tunnels))) "
                + "past the \(Formatting.grouped(UInt64(list.count))) tracked one by one: \(Formatting.grouped(other.packets)) packets, "
                + "\(Formatting.humanBytes(other.bytes)))\n"
        } else if list.count > top { out += "  … \(list.count - top) more tunnels\n" }
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

    /// `text` as a terminal may show it: C0 controls, DEL and C1 controls
    /// as `\\xNN` (a service name from a --services file, a file name, an
    /// interface name could otherwise set the title or the colours).
    public static func safe(_ text: String) -> String { CaptureFile.displayName(text) }

    /// Aligned columns; the first row is the header.
    func columns(_ table: [[String]], rightAligned: Set<Int>, accent: Int?) -> String {
        var widths = [Int](repeating: 0, count: table.first?.count ?? 0)
        // Cells may hold names from a --services file or the capture: shown with controls escaped.
        let table = table.map { $0.map(Self.safe) }
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

    /// A 10-cell bar of eighths for a share in 0...1; in ASCII, of halves
    /// (`#` a tenth, `+` a twentieth, `.` anything less).
    func bar(_ share: Double) -> String {
        if ascii {
            let halves = Int((max(0, min(1, share)) * 20).rounded())
            let s = String(repeating: "#", count: halves / 2) + (halves % 2 == 1 ? "+" : "")
            return s.isEmpty && share > 0 ? "." : s
        }
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
