import PFlowCore
#if canImport(Glibc)
import Glibc
#endif

/// A row of marks, one per group of bins, each as tall as its share of the
/// row's peak: eighth blocks (▁…█) on a terminal that shows UTF-8, eight
/// ASCII marks (`.:-=+*#@`) elsewhere. An empty group is a space, so a
/// quiet stretch reads as a gap, and any traffic at all gets a mark.
public enum Sparkline {
    static let blocks: [String] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    static let asciiMarks: [String] = [".", ":", "-", "=", "+", "*", "#", "@"]

    /// Bins per mark so that `count` bins fit in `width` marks.
    public static func group(count: Int, width: Int) -> Int {
        guard width > 0, count > width else { return 1 }
        return (count + width - 1) / width
    }

    /// `values` summed `group` at a time.
    public static func grouped(_ values: [UInt64], group: Int) -> [UInt64] {
        guard group > 1 else { return values }
        var out: [UInt64] = []
        out.reserveCapacity((values.count + group - 1) / group)
        var i = 0
        while i < values.count {
            out.append(values[i..<min(values.count, i + group)].reduce(0, &+))
            i += group
        }
        return out
    }

    /// The marks of `values` (already grouped), scaled to their own peak.
    public static func render(_ values: [UInt64], ascii: Bool) -> String {
        let peak = values.max() ?? 0
        let marks = ascii ? asciiMarks : blocks
        var out = ""
        for v in values {
            if v == 0 || peak == 0 { out += " "; continue }
            // Ceiling, so the smallest non-zero value still gets the lowest mark.
            let level = Int((Double(v) * 8 / Double(peak)).rounded(.up))
            out += marks[max(1, min(8, level)) - 1]
        }
        return out
    }

    /// Whether the table report may use UTF-8 marks: standard output is a
    /// terminal, `TERM` is not `dumb`, and the locale (the first of
    /// `LC_ALL`, `LC_CTYPE`, `LANG` that is set) names UTF-8.
    public static func terminalShowsUTF8(isTerminal: Bool, environment: (String) -> String?) -> Bool {
        guard isTerminal else { return false }
        if let term = environment("TERM"), term == "dumb" { return false }
        for name in ["LC_ALL", "LC_CTYPE", "LANG"] {
            guard let value = environment(name), !value.isEmpty else { continue }
            // "en_US.UTF-8", "C.utf8": the codeset after the dot.
            let v = value.lowercased().split(separator: ".", maxSplits: 1).last.flatMap { $0.split(separator: "@").first } ?? ""
            return value.contains(".") && (v == "utf-8" || v == "utf8")
        }
        return false
    }

    /// `terminalShowsUTF8` for this process's standard output.
    public static func stdoutShowsUTF8() -> Bool {
        terminalShowsUTF8(isTerminal: isatty(1) == 1) { name in getenv(name).map { String(cString: $0) } }
    }
}
