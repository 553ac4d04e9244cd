import PFlowCore
import PFlowEngine
import PFlowFlows

/// The capture over time (JSON `timeline`; the table's "Over time" lines:
/// a sparkline for the total and for each of the top services).
struct TimelineSection: ReportSection {
    func table(_ result: AnalysisResult, _ style: TableReport) -> String { style.timeline(result) }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {
        let t = result.timeline
        w.key("timeline"); w.open("{")
        w.key("bin_s"); w.raw(TimelineText.seconds(t.widthNs))
        w.key("start_ns"); if let s = t.startNs { w.raw(String(s)) } else { w.null() }
        w.key("packets"); w.numbers(t.packets)
        w.key("bytes"); w.numbers(t.bytes)
        // Rows the report doesn't list as services (failed ports, scan
        // probes) keep their bins in the timeline: here they are "other",
        // so the services' bins and other add up to every flow's bytes.
        var other = t.other
        let listed = Set(result.services.map { "\($0.proto.rawValue)/\($0.port.map(String.init) ?? "-")" })
        for row in result.rows where !listed.contains("\(row.proto.rawValue)/\(row.port.map(String.init) ?? "-")") {
            guard let bins = t.bytesPerBin(proto: row.proto, port: row.port) else { continue }
            if other.count < bins.count { other += [UInt64](repeating: 0, count: bins.count - other.count) }
            for (i, b) in bins.enumerated() { other[i] &+= b }
        }
        w.key("other_bytes_per_bin"); w.numbers(other)
        w.key("spread_bytes"); w.number(t.spreadBytes)
        w.close("}")
    }
}

enum TimelineText {
    /// A width in seconds, as short as it is exact: `0.005`, `1`, `300`.
    static func seconds(_ ns: Int64) -> String {
        let whole = ns / 1_000_000_000, frac = ns % 1_000_000_000
        guard frac != 0 else { return String(whole) }
        var digits = String(frac)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        while digits.last == "0" { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    /// A width for people: `5 ms`, `1 s`, `5 min`, `1 h`.
    static func human(_ ns: Int64) -> String {
        let units: [(Int64, String)] = [(86_400_000_000_000, "d"), (3_600_000_000_000, "h"), (60_000_000_000, "min"),
                                        (1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "µs")]
        for (size, name) in units where ns >= size && ns % size == 0 { return "\(ns / size) \(name)" }
        return seconds(ns) + " s"
    }
}

extension TableReport {
    /// Marks per sparkline at most.
    static let sparkWidth = 40

    /// The "Over time" lines.
    func timeline(_ result: AnalysisResult) -> String {
        let t = result.timeline
        guard let start = t.startNs, !t.bytes.isEmpty else { return "" }
        let group = Sparkline.group(count: t.bytes.count, width: Self.sparkWidth)
        let mark = t.widthNs &* Int64(group)
        var head = "bins of \(TimelineText.human(t.widthNs).ascii(ascii))"
        if group > 1 { head += ", 1 mark = \(TimelineText.human(mark).ascii(ascii))" }
        head += " from " + Formatting.rfc3339(ns: start, digits: 0) + ", each line to its own peak"
        var out = "\n" + bold("Over time") + dim("  " + head) + "\n"
        var lines: [(String, [UInt64])] = [("total", t.bytes)]
        for row in result.services.prefix(max(0, min(top, 10))) {
            guard let bins = t.bytesPerBin(proto: row.proto, port: row.port) else { continue }
            let name = row.service.isEmpty ? (row.port.map { "\($0)/\(row.proto.name)" } ?? row.proto.name) : row.service
            lines.append((name, bins))
        }
        let width = lines.map { $0.0.count }.max() ?? 0
        for (name, bins) in lines {
            let marks = Sparkline.grouped(bins, group: group)
            let peak = marks.max() ?? 0
            let spark = Sparkline.render(marks, ascii: ascii)
            out += "  " + name.padding(width) + "  " + cyan(spark.padding(Self.sparkWidth))
                + "  " + dim("peak \(Formatting.humanBytes(peak))/\(TimelineText.human(mark).ascii(ascii))") + "\n"
        }
        return out
    }
}

extension String {
    /// `µs` as `us` for an ASCII report.
    func ascii(_ on: Bool) -> String { on ? replacingOccurrences("µ", "u") : self }

    fileprivate func replacingOccurrences(_ a: Character, _ b: Character) -> String {
        String(map { $0 == a ? b : $0 })
    }
}
