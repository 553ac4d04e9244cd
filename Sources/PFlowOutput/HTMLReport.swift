import PFlowCore
import PFlowEngine
import PFlowFlows

/// `--html`: the report as one self-contained page. Inline CSS and SVG
/// only (no script, no font, no image or style from anywhere), so it reads
/// the same offline, with JavaScript off and on paper. It renders from the
/// same `AnalysisResult` as the JSON report, and every number it states
/// carries the JSON's value and path (`data-json`, `data-value`), which the
/// tests check against the JSON. Its size is bounded whatever the capture:
/// at most `top` service rows, charts of at most `chartPoints` points.
public struct HTMLReport {
    public var top: Int
    /// Layers of the stacked chart: the biggest services; the rest are one.
    static let layers = 8
    static let chartPoints = 300
    static let sparkPoints = 60
    static let palette = ["#2f6db5", "#e07b28", "#3a9a4a", "#c23b3b", "#8c62b8", "#8a5a44", "#d160a8", "#6f7f8f",
                          "#b8b12a", "#2aa5b8"]

    public init(top: Int = 20) { self.top = top }

    /// `pairs`: who talked to whom (`TalkPairs`, observed during the run);
    /// without it the page says the matrix was not recorded.
    public func render(_ r: AnalysisResult, pairs: TalkPairs? = nil) -> String {
        let r = r.arrangedCopy()
        // Computed properties that sort: made once for the whole page.
        let rows = r.services
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>pflow report</title>
        <style>\(Self.css)</style></head><body>
        <h1>pflow report</h1>

        """
        h += summary(r)
        h += overTime(r)
        h += services(r, rows)
        h += whoTalks(r, pairs)
        h += portRanges(rows)
        h += findings(r)
        h += hosts(r.hosts, tally: r.tally)
        h += "<p class=\"foot\">Made by pflow. The numbers are the JSON report's (<code>pflow --json</code>): bytes are bytes on the wire.</p>\n</body></html>\n"
        return h
    }

    static let css = """
    body{font:14px/1.4 system-ui,sans-serif;color:#222;background:#fff;max-width:1100px;margin:1.5em auto;padding:0 1em}
    h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
    table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:middle}
    th{font-weight:600;color:#555;border-bottom:1px solid #ccc}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.n{white-space:nowrap}
    tr:nth-child(even) td{background:#f6f7f9}.facts td:first-child{color:#666}
    .legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-1px}
    svg text{font:11px system-ui,sans-serif;fill:#555}.foot{color:#777;margin-top:2em;font-size:.9em}
    .bar{display:inline-block;height:.8em;background:#2f6db5}.bar.srv{background:#e07b28}
    .wide{overflow-x:auto}table.mx td,table.mx th{padding:0;border:1px solid #fff}
    table.mx td{min-width:5.2em;height:1.9em;text-align:center;font-size:10.5px;white-space:nowrap;padding:0 2px;color:#123;background:#f3f4f6;
    -webkit-print-color-adjust:exact;print-color-adjust:exact}table.mx td.t{background:#fff;color:#555;font-size:11px}
    table.mx th.v{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:500;padding:4px 0;vertical-align:bottom;text-align:left}
    table.mx th.r{text-align:right;padding-right:6px;font-weight:500;white-space:nowrap}
    table.mx tr:nth-child(even) td{background:#f3f4f6}table.mx tr:nth-child(even) td.t{background:#fff}
    td.svc{font-size:.9em;color:#555}
    @media print{body{max-width:none;margin:0}tr{break-inside:avoid}.wide{overflow:visible}}
    """

    // MARK: pieces

    static func escape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Controls would be invalid in HTML: shown as their code.
                if u.value < 0x20 || (u.value >= 0x7F && u.value < 0xA0) { out += "&#xFFFD;" } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    /// A number as the page shows it, tagged with its JSON path and value.
    static func num(_ path: String, _ v: UInt64, cls: String = "n") -> String {
        "<td class=\"\(cls)\" data-json=\"\(path)\" data-value=\"\(v)\">\(Formatting.grouped(v))</td>"
    }

    func summary(_ r: AnalysisResult) -> String {
        let s = r.summary
        let d = s.timestampDigits
        var h = "<h2>Capture</h2>\n<table class=\"facts\">\n"
        for f in s.files {
            h += "<tr><td>file</td><td>\(Self.escape(f.path)) (\(Self.escape(f.format)), \(Formatting.grouped(UInt64(f.records))) records)</td></tr>\n"
        }
        h += "<tr><td>packets</td>\(Self.num("capture.packets", s.packets, cls: ""))</tr>\n"
        h += "<tr><td>bytes</td>\(Self.num("capture.bytes", s.bytes, cls: ""))</tr>\n"
        if let f = s.firstNs, let l = s.lastNs {
            h += "<tr><td>first</td><td>\(Formatting.rfc3339(ns: f, digits: d))</td></tr>\n"
            h += "<tr><td>last</td><td>\(Formatting.rfc3339(ns: l, digits: d))</td></tr>\n"
            h += "<tr><td>duration</td><td data-json=\"capture.duration_s\" data-value=\"\(Formatting.seconds(ns: s.durationNs, digits: d))\">\(Formatting.seconds(ns: s.durationNs, digits: min(d, 3))) s</td></tr>\n"
        }
        h += "<tr><td>flows</td>\(Self.num("totals.flows", r.tally.flows, cls: ""))</tr>\n"
        let errors = s.decodeErrorCounts
        h += "<tr><td>decode errors</td><td>\(errors.isEmpty ? "none" : Self.escape(errors.map { "\($0.0) \(Formatting.grouped($0.1))" }.joined(separator: ", ")))</td></tr>\n"
        for w in s.warnings { h += "<tr><td>warning</td><td>\(Self.escape(w))</td></tr>\n" }
        return h + "</table>\n"
    }

    static func name(_ row: ServiceRow) -> String {
        row.service.isEmpty ? (row.port.map { "\($0)/\(row.proto.name)" } ?? row.proto.name)
            : row.service + (row.port.map { " \($0)/\(row.proto.name)" } ?? "")
    }

    /// Services over time: a stacked area of the biggest services, with the
    /// findings marked where they began.
    func overTime(_ r: AnalysisResult) -> String {
        let t = r.timeline
        guard let start = t.startNs, !t.bytes.isEmpty else { return "" }
        let group = Sparkline.group(count: t.bytes.count, width: Self.chartPoints)
        let n = (t.bytes.count + group - 1) / group
        var layers: [(String, [UInt64])] = []
        var rest = Sparkline.grouped(t.other, group: group)
        if rest.count < n { rest += [UInt64](repeating: 0, count: n - rest.count) }
        for row in r.rows {
            guard let bins = t.bytesPerBin(proto: row.proto, port: row.port) else { continue }
            let g = Sparkline.grouped(bins, group: group)
            if layers.count < Self.layers { layers.append((Self.name(row), g)) } else {
                for i in 0..<min(n, g.count) { rest[i] &+= g[i] }
            }
        }
        if rest.contains(where: { $0 > 0 }) { layers.append(("other", rest)) }
        let width = 1000.0, height = 260.0, left = 60.0, bottom = 22.0
        var stackTop = [UInt64](repeating: 0, count: n)
        for (_, v) in layers { for i in 0..<min(n, v.count) { stackTop[i] &+= v[i] } }
        let peak = max(1, stackTop.max() ?? 1)
        let plotW = width - left - 10, plotH = height - bottom - 10
        func x(_ i: Int) -> Double { left + plotW * Double(i) / Double(max(1, n)) }
        func y(_ v: UInt64) -> Double { 10 + plotH * (1 - Double(v) / Double(peak)) }
        func f(_ d: Double) -> String { Formatting.fixed(d, 1) }
        let mark = t.widthNs &* Int64(group)
        var h = "<h2>Services over time</h2>\n<p>Bytes per \(TimelineText.human(mark)) (bins of <span data-json=\"timeline.bin_s\" data-value=\"\(TimelineText.seconds(t.widthNs))\" data-shown=\"duration\">\(TimelineText.human(t.widthNs))</span>) from \(Formatting.rfc3339(ns: start, digits: 0)); peak \(Formatting.humanBytes(peak)) per \(TimelineText.human(mark)).</p>\n"
        h += "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"bytes over time by service\">\n"
        h += "<line x1=\"\(f(left))\" y1=\"\(f(10 + plotH))\" x2=\"\(f(width - 10))\" y2=\"\(f(10 + plotH))\" stroke=\"#999\"/>\n"
        h += "<text x=\"\(f(left - 4))\" y=\"14\" text-anchor=\"end\">\(Formatting.humanBytes(peak))</text>\n"
        h += "<text x=\"\(f(left - 4))\" y=\"\(f(10 + plotH))\" text-anchor=\"end\">0</text>\n"
        var base = [UInt64](repeating: 0, count: n)
        for (k, (name, v)) in layers.enumerated() {
            var top = base
            for i in 0..<min(n, v.count) { top[i] &+= v[i] }
            var pts: [String] = []
            for i in 0..<n { pts.append("\(f(x(i))),\(f(y(top[i]))) \(f(x(i + 1))),\(f(y(top[i])))") }
            for i in stride(from: n - 1, through: 0, by: -1) { pts.append("\(f(x(i + 1))),\(f(y(base[i]))) \(f(x(i))),\(f(y(base[i])))") }
            let color = name == "other" ? "#bbb" : Self.palette[k % Self.palette.count]
            h += "<polygon fill=\"\(color)\" points=\"\(pts.joined(separator: " "))\"><title>\(Self.escape(name))</title></polygon>\n"
            base = top
        }
        // Findings where they began.
        for (k, fnd) in r.findings.prefix(20).enumerated() {
            guard let at = fnd.firstNs, mark > 0 else { continue }
            let i = Double(at - start) / Double(mark)
            guard i >= 0, i <= Double(n) else { continue }
            let px = left + plotW * i / Double(max(1, n))
            h += "<line x1=\"\(f(px))\" y1=\"10\" x2=\"\(f(px))\" y2=\"\(f(10 + plotH))\" stroke=\"#c00\" stroke-dasharray=\"3,3\"><title>\(Self.escape(fnd.kind + ": " + fnd.detail))</title></line>\n"
            // Staggered, so findings close in time keep readable labels.
            h += "<text x=\"\(f(px + 3))\" y=\"\(22 + (k % 5) * 13)\" style=\"fill:#c00\">\(Self.escape(fnd.kind))</text>\n"
        }
        h += "<text x=\"\(f(left))\" y=\"\(f(height - 4))\">\(Formatting.rfc3339(ns: start, digits: 0))</text>\n"
        let end = start &+ t.widthNs &* Int64(t.bytes.count)
        h += "<text x=\"\(f(width - 10))\" y=\"\(f(height - 4))\" text-anchor=\"end\">\(Formatting.rfc3339(ns: end, digits: 0))</text>\n"
        h += "</svg>\n<p class=\"legend\">"
        for (k, (name, _)) in layers.enumerated() {
            let color = name == "other" ? "#bbb" : Self.palette[k % Self.palette.count]
            h += "<span><i style=\"background:\(color)\"></i>\(Self.escape(name))</span>"
        }
        return h + "</p>\n"
    }

    /// A small line of a row's bins.
    static func spark(_ bins: [UInt64]) -> String {
        let g = Sparkline.grouped(bins, group: Sparkline.group(count: bins.count, width: sparkPoints))
        let peak = max(1, g.max() ?? 1)
        let w = 120.0, hgt = 18.0
        var pts: [String] = []
        for (i, v) in g.enumerated() {
            let x = g.count > 1 ? w * Double(i) / Double(g.count - 1) : 0
            pts.append(Formatting.fixed(x, 1) + "," + Formatting.fixed(1 + (hgt - 2) * (1 - Double(v) / Double(peak)), 1))
        }
        return "<svg width=\"120\" height=\"18\" viewBox=\"0 0 120 18\"><polyline fill=\"none\" stroke=\"#2f6db5\" stroke-width=\"1.2\" points=\"\(pts.joined(separator: " "))\"/></svg>"
    }

    func services(_ r: AnalysisResult, _ rows: [ServiceRow]) -> String {
        guard !rows.isEmpty else { return "<h2>Services</h2>\n<p>No flows.</p>\n" }
        let total = max(1, rows.reduce(0) { $0 + $1.bytes })
        var h = "<h2>Services</h2>\n<table>\n<tr><th>service</th><th>port</th><th class=\"n\">flows</th><th class=\"n\">packets</th><th class=\"n\">bytes</th><th>share</th><th class=\"n\">clients</th><th class=\"n\">servers</th><th>over time</th></tr>\n"
        for (i, row) in rows.enumerated().prefix(max(0, top)) {
            let p = "services.\(i)."
            let share = Double(row.bytes) / Double(total)
            h += "<tr><td>\(Self.escape(row.service.isEmpty ? "-" : row.service))</td><td>\(row.port.map { "\($0)/\(row.proto.name)" } ?? row.proto.name)</td>"
            h += Self.num(p + "flows", row.flows) + Self.num(p + "packets", row.packets) + Self.num(p + "bytes", row.bytes)
            h += "<td><span class=\"bar\" style=\"width:\(Formatting.fixed(share * 100, 1))px\"></span> \(Formatting.fixed(share * 100, 1))%</td>"
            h += Self.num(p + "clients", UInt64(row.clients)) + Self.num(p + "servers", UInt64(row.servers))
            h += "<td>" + (r.timeline.bytesPerBin(proto: row.proto, port: row.port).map(Self.spark) ?? "") + "</td></tr>\n"
        }
        h += "</table>\n"
        if rows.count > top { h += "<p>… \(rows.count - top) more services (--top shows more).</p>\n" }
        return h
    }

    /// Bytes by the IANA range of the server port: the services' ports
    /// (well-known, registered) against ephemeral ones (dynamic).
    func portRanges(_ rows: [ServiceRow]) -> String {
        var sums: [(String, UInt64)] = [("well-known (0-1023)", 0), ("registered (1024-49151)", 0), ("dynamic (49152-65535)", 0), ("no port", 0)]
        for row in rows {
            guard let p = row.port else { sums[3].1 &+= row.bytes; continue }
            sums[p < 1024 ? 0 : p < 49152 ? 1 : 2].1 &+= row.bytes
        }
        let total = max(1, sums.reduce(0) { $0 + $1.1 })
        var h = "<h2>Server ports by IANA range</h2>\n<table>\n<tr><th>range</th><th class=\"n\">bytes</th><th>share</th></tr>\n"
        for (name, v) in sums {
            let share = Double(v) / Double(total)
            h += "<tr><td>\(name)</td><td class=\"n\">\(Formatting.humanBytes(v))</td><td><span class=\"bar\" style=\"width:\(Formatting.fixed(share * 300, 1))px\"></span> \(Formatting.fixed(share * 100, 1))%</td></tr>\n"
        }
        return h + "</table>\n"
    }

    /// A number of bytes as the page shows it (kB, MB), tagged like `num`;
    /// `data-shown="bytes"` tells the tests it is rounded.
    static func bytesCell(_ path: String, _ v: UInt64) -> String {
        "<td class=\"n\" data-json=\"\(path)\" data-value=\"\(v)\" data-shown=\"bytes\" title=\"\(Formatting.grouped(v)) bytes\">\(Formatting.humanBytes(v))</td>"
    }

    /// Clients and servers the matrix shows (rows, columns).
    static let matrixSide = 12

    /// Who talks to whom: the clients that moved the most bytes against the
    /// servers that moved the most, each cell shaded by the bytes between
    /// the two and naming their service; the rest summed as "other".
    func whoTalks(_ r: AnalysisResult, _ talk: TalkPairs?) -> String {
        var h = "<h2>Who talks to whom</h2>\n"
        guard let talk else { return h + "<p>Not recorded for this page.</p>\n" }
        let pairs = talk.pairs
        guard !pairs.isEmpty else { return h + "<p>No flows.</p>\n" }
        // Each side's bytes and flows over every pair it is in.
        var clientSums: [IPAddress: (bytes: UInt64, flows: UInt64)] = [:], serverSums = clientSums
        clientSums.reserveCapacity(min(pairs.count, 1 << 16)); serverSums.reserveCapacity(min(pairs.count, 1 << 16))
        var total: UInt64 = 0, totalFlows: UInt64 = 0
        for p in pairs {
            clientSums[p.client, default: (0, 0)].bytes &+= p.bytes; clientSums[p.client, default: (0, 0)].flows &+= p.flows
            serverSums[p.server, default: (0, 0)].bytes &+= p.bytes; serverSums[p.server, default: (0, 0)].flows &+= p.flows
            total &+= p.bytes; totalFlows &+= p.flows
        }
        /// The leading few by bytes (then address), by insertion into a
        /// short sorted list: linear in the addresses, nothing as large copied.
        func leading(_ m: [IPAddress: (bytes: UInt64, flows: UInt64)]) -> [IPAddress] {
            func before(_ a: (IPAddress, UInt64), _ b: (IPAddress, UInt64)) -> Bool { a.1 != b.1 ? a.1 > b.1 : a.0 < b.0 }
            var best: [(IPAddress, UInt64)] = []
            for (a, v) in m {
                let e = (a, v.bytes)
                if best.count == Self.matrixSide, let last = best.last, !before(e, last) { continue }
                var at = best.count
                while at > 0, before(e, best[at - 1]) { at -= 1 }
                best.insert(e, at: at)
                if best.count > Self.matrixSide { best.removeLast() }
            }
            return best.map(\.0)
        }
        let clients = leading(clientSums), servers = leading(serverSums)
        func clientBytes(_ a: IPAddress) -> UInt64 { clientSums[a]?.bytes ?? 0 }
        func clientFlows(_ a: IPAddress) -> UInt64 { clientSums[a]?.flows ?? 0 }
        func serverBytes(_ a: IPAddress) -> UInt64 { serverSums[a]?.bytes ?? 0 }
        func serverFlows(_ a: IPAddress) -> UInt64 { serverSums[a]?.flows ?? 0 }
        var row: [IPAddress: Int] = [:], col: [IPAddress: Int] = [:]
        for (i, a) in clients.enumerated() { row[a] = i }
        for (j, a) in servers.enumerated() { col[a] = j }
        var cell = [[TalkPairs.Pair?]](repeating: [TalkPairs.Pair?](repeating: nil, count: servers.count), count: clients.count)
        for p in pairs { if let i = row[p.client], let j = col[p.server] { cell[i][j] = p } }
        // "Other": what each shown client exchanged with servers not shown, and so on.
        var rowOther = clients.map(clientBytes), rowOtherFlows = clients.map(clientFlows)
        var colOther = servers.map(serverBytes), colOtherFlows = servers.map(serverFlows)
        var shown: UInt64 = 0, shownFlows: UInt64 = 0
        for i in clients.indices { for j in servers.indices { if let p = cell[i][j] {
            rowOther[i] -= p.bytes; rowOtherFlows[i] -= p.flows; colOther[j] -= p.bytes; colOtherFlows[j] -= p.flows
            shown += p.bytes; shownFlows += p.flows
        } } }
        let otherOther = total - shown - rowOther.reduce(0, +) - colOther.reduce(0, +)
        let otherOtherFlows = totalFlows - shownFlows - rowOtherFlows.reduce(0, +) - colOtherFlows.reduce(0, +)
        // Names of the services, as the services table has them.
        var names: [UInt32: String] = [:]
        for s in r.rows { names[TalkPairs.serviceKey(s.proto, s.port)] = Self.name(s) }
        func named(_ key: UInt32) -> String {
            if let n = names[key] { return n }
            let proto = IPProtocol(rawValue: UInt8(truncatingIfNeeded: key >> 16))
            return proto.hasPorts ? "\(key & 0xFFFF)/\(proto.name)" : proto.name
        }
        /// The pair's leading service, "+n" for the others; and all of them.
        func service(_ p: TalkPairs.Pair) -> (short: String, long: String) {
            let list = p.services.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.key < $1.key }
            guard let first = list.first else { return ("", "") }
            let more = p.moreServicesFlows > 0
            var short = names[first.key].map { n in n.split(separator: " ").first.map(String.init) ?? n } ?? named(first.key)
            if short.count > 7 { short = String(short.prefix(6)) + "…" }
            if list.count > 1 || more { short += " +\(list.count - 1)\(more ? "…" : "")" }
            let long = list.map { "\(named($0.key)) \(Formatting.humanBytes($0.bytes))" }.joined(separator: ", ")
                + (more ? ", and \(Formatting.grouped(p.moreServicesFlows)) flows to further ports" : "")
            return (short, long)
        }
        // Shades: named cells against the busiest pair shown, "other" cells
        // (grey) against the biggest of them, so a capture spread over many
        // hosts still shows which of the leading pairs matter.
        let peak = max(1, cell.joined().compactMap { $0?.bytes }.max() ?? 1)
        let otherPeak = max(1, (rowOther + colOther + [otherOther]).max() ?? 1)
        func shade(_ v: UInt64, _ of: UInt64, grey: Bool) -> String {
            guard v > 0 else { return "" }
            let a = 0.1 + 0.9 * (Double(v) / Double(of)).squareRoot()
            let rgb = grey ? "110,110,110" : "47,109,181"
            return " style=\"background:rgba(\(rgb),\(Formatting.fixed(a, 2)))\(a > 0.55 ? ";color:#fff" : "")\""
        }
        func td(_ c: String, _ s: String, _ v: UInt64, _ flows: UInt64, label: (short: String, long: String) = ("", ""), peak: UInt64, grey: Bool) -> String {
            let title = "\(c == "*" ? "other clients" : c) → \(s == "*" ? "other servers" : s): \(Formatting.humanBytes(v)) (\(Formatting.grouped(v)) bytes) in \(Formatting.grouped(flows)) flows"
                + (label.long.isEmpty ? "" : "; " + label.long)
            return "<td data-pair=\"\(Self.escape(c)) \(Self.escape(s))\" data-value=\"\(v)\" data-flows=\"\(flows)\"\(shade(v, peak, grey: grey)) title=\"\(Self.escape(title))\">\(Self.escape(label.short))</td>"
        }
        func tdTotal(_ key: String, _ v: UInt64, _ flows: UInt64) -> String {
            "<td class=\"t\" data-pair=\"\(Self.escape(key))\" data-value=\"\(v)\" data-flows=\"\(flows)\" title=\"\(Formatting.grouped(v)) bytes in \(Formatting.grouped(flows)) flows\">\(Formatting.humanBytes(v))</td>"
        }
        h += "<p>Rows: the \(clients.count) clients that moved the most bytes; columns: the \(servers.count) servers that did. "
            + "A cell is the traffic between the two, darker for more bytes, and names its leading service (+n: and n more); "
            + "grey cells sum the clients or servers not shown. Hover a cell for its bytes and flows.</p>\n"
        h += "<div class=\"wide\"><table class=\"mx\">\n<tr><th class=\"r\">client ↓ &nbsp; server →</th>"
        for a in servers { h += "<th class=\"v\">\(Self.escape(a.description))</th>" }
        h += "<th class=\"v\">other servers</th><th class=\"v\">all servers</th></tr>\n"
        for (i, c) in clients.enumerated() {
            let ca = c.description
            h += "<tr><th class=\"r\">\(Self.escape(ca))</th>"
            for j in servers.indices {
                let p = cell[i][j]
                h += td(ca, servers[j].description, p?.bytes ?? 0, p?.flows ?? 0, label: p.map(service) ?? ("", ""), peak: peak, grey: false)
            }
            h += td(ca, "*", rowOther[i], rowOtherFlows[i], peak: otherPeak, grey: true)
            h += tdTotal(ca + " +", clientBytes(c), clientFlows(c)) + "</tr>\n"
        }
        h += "<tr><th class=\"r\">other clients</th>"
        for j in servers.indices { h += td("*", servers[j].description, colOther[j], colOtherFlows[j], peak: otherPeak, grey: true) }
        h += td("*", "*", otherOther, otherOtherFlows, peak: otherPeak, grey: true)
        h += tdTotal("* +", total - clients.reduce(0) { $0 + clientBytes($1) }, totalFlows - clients.reduce(0) { $0 + clientFlows($1) }) + "</tr>\n"
        h += "<tr><th class=\"r\">all clients</th>"
        for s in servers { h += tdTotal("+ " + s.description, serverBytes(s), serverFlows(s)) }
        h += tdTotal("+ *", total - servers.reduce(0) { $0 + serverBytes($1) }, totalFlows - servers.reduce(0) { $0 + serverFlows($1) })
        h += tdTotal("+ +", total, totalFlows) + "</tr>\n</table></div>\n"
        let share = Double(shown) / Double(max(1, total))
        h += "<p>\(Formatting.grouped(UInt64(pairs.count))) client–server pairs; the \(clients.count) × \(servers.count) shown carry \(Formatting.fixed(share * 100, 1))% of the bytes.</p>\n"
        if talk.untrackedFlows > 0 {
            h += "<p>Past the first \(Formatting.grouped(UInt64(talk.limit))) pairs, \(Formatting.grouped(talk.untrackedFlows)) flows (\(Formatting.humanBytes(talk.untrackedBytes))) of later pairs are not in the matrix.</p>\n"
        }
        return h
    }

    /// Every address as client and as server, the leading `top` of them in
    /// the report's order (`--sort`).
    func hosts(_ list: [HostRow], tally: ServiceTally) -> String {
        guard !list.isEmpty else { return "" }
        var h = "<h2>Hosts</h2>\n<p>As client: flows it opened and their bytes; as server: flows it served. "
            + "The bar is the host's bytes, blue as client, orange as server, against the busiest host.</p>\n"
        h += "<div class=\"wide\"><table>\n<tr><th>host</th><th class=\"n\">client flows</th><th class=\"n\">sent</th><th class=\"n\">received</th>"
            + "<th class=\"n\">server flows</th><th class=\"n\">sent</th><th class=\"n\">received</th><th>bytes</th><th>serves</th></tr>\n"
        let shown = list.prefix(max(0, top))
        let peak = max(1, shown.map(\.bytes).max() ?? 1)
        for (i, x) in shown.enumerated() {
            let p = "hosts.\(i)."
            let ip = Self.escape(x.address.description)
            h += "<tr><td data-json=\"\(p)ip\" data-value=\"&quot;\(ip)&quot;\">\(ip)</td>"
            h += Self.num(p + "as_client.flows", x.clientFlows) + Self.bytesCell(p + "as_client.bytes_sent", x.clientBytesSent)
                + Self.bytesCell(p + "as_client.bytes_received", x.clientBytesReceived)
            h += Self.num(p + "as_server.flows", x.serverFlows) + Self.bytesCell(p + "as_server.bytes_sent", x.serverBytesSent)
                + Self.bytesCell(p + "as_server.bytes_received", x.serverBytesReceived)
            let asClient = Double(x.clientBytesSent + x.clientBytesReceived) / Double(peak) * 120
            let asServer = Double(x.serverBytesSent + x.serverBytesReceived) / Double(peak) * 120
            h += "<td><span class=\"bar\" style=\"width:\(Formatting.fixed(asClient, 1))px\"></span><span class=\"bar srv\" style=\"width:\(Formatting.fixed(asServer, 1))px\"></span></td>"
            let serves = x.services.prefix(8).joined(separator: " ") + (x.services.count > 8 ? " +\(x.services.count - 8)" : "")
            h += "<td class=\"svc\">\(Self.escape(serves))</td></tr>\n"
        }
        h += "</table></div>\n"
        if list.count > shown.count { h += "<p>… \(list.count - shown.count) more hosts (--top shows more; the JSON lists them all).</p>\n" }
        if tally.hostsApproximate {
            h += "<p>Too many hosts to keep each: about \(Formatting.grouped(UInt64(tally.distinctHosts))) distinct; "
                + "\(Formatting.grouped(tally.untrackedHosts.flows)) flow ends of later hosts are summed, not listed.</p>\n"
        }
        return h
    }

    func findings(_ r: AnalysisResult) -> String {
        guard !r.findings.isEmpty else { return "" }
        var h = "<h2>Findings</h2>\n<table>\n<tr><th>kind</th><th>who</th><th>first</th><th>detail</th></tr>\n"
        for f in r.findings.prefix(max(0, top)) {
            var who = f.source?.description ?? ""
            if let t = f.target { who += (who.isEmpty ? "" : " → ") + t.description }
            h += "<tr><td>\(Self.escape(f.kind))</td><td>\(Self.escape(who))</td><td>\(f.firstNs.map { Formatting.rfc3339(ns: $0, digits: 0) } ?? "")</td><td>\(Self.escape(f.detail))</td></tr>\n"
        }
        return h + "</table>\n"
    }
}
