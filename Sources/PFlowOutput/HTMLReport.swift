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

    public func render(_ r: AnalysisResult) -> String {
        let r = r.arrangedCopy()
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
        h += services(r)
        h += portRanges(r)
        h += findings(r)
        h += "<p class=\"foot\">Made by pflow. The numbers are the JSON report's (<code>pflow --json</code>): bytes are bytes on the wire.</p>\n</body></html>\n"
        return h
    }

    static let css = """
    body{font:14px/1.4 system-ui,sans-serif;color:#222;background:#fff;max-width:1100px;margin:1.5em auto;padding:0 1em}
    h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
    table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;vertical-align:middle}
    th{font-weight:600;color:#555;border-bottom:1px solid #ccc}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
    tr:nth-child(even) td{background:#f6f7f9}.facts td:first-child{color:#666}
    .legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-1px}
    svg text{font:11px system-ui,sans-serif;fill:#555}.foot{color:#777;margin-top:2em;font-size:.9em}
    .bar{display:inline-block;height:.8em;background:#2f6db5}
    @media print{body{max-width:none;margin:0}tr{break-inside:avoid}}
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
        var h = "<h2>Services over time</h2>\n<p>Bytes per \(TimelineText.human(mark)) (bins of <span data-json=\"timeline.bin_s\" data-value=\"\(TimelineText.seconds(t.widthNs))\">\(TimelineText.human(t.widthNs))</span>) from \(Formatting.rfc3339(ns: start, digits: 0)); peak \(Formatting.humanBytes(peak)) per \(TimelineText.human(mark)).</p>\n"
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

    func services(_ r: AnalysisResult) -> String {
        let rows = r.services
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
    func portRanges(_ r: AnalysisResult) -> String {
        var sums: [(String, UInt64)] = [("well-known (0-1023)", 0), ("registered (1024-49151)", 0), ("dynamic (49152-65535)", 0), ("no port", 0)]
        for row in r.services {
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
