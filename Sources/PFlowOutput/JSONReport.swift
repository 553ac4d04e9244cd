import PFlowCore
import PFlowEngine
import PFlowCapture
import PFlowFlows
import PFlowWire

/// The JSON report: one object, keys in a fixed order, as DESIGN.md lists.
public enum JSONReport {
    public static func render(_ result: AnalysisResult) -> String {
        let result = result.arrangedCopy()
        var w = JSONWriter()
        w.open("{")
        // DESIGN.md's contract: 2 since services are named from traffic and
        // failed ports, hosts and the timeline joined the report.
        w.key("schema_version"); w.number(2)
        for section in ReportSections.all { section.json(result, &w) }
        w.close("}")
        return w.text + "\n"
    }
}

/// A minimal pretty-printing JSON writer that keeps keys in insertion order.
public struct JSONWriter {
    public private(set) var text = ""
    private var depth = 0
    private var needsComma = false
    private var afterKey = false

    private mutating func beforeValue() {
        if afterKey {
            afterKey = false
            return
        }
        if needsComma { text += "," }
        if depth > 0 { text += "\n" + String(repeating: "  ", count: depth) }
    }

    public mutating func open(_ bracket: String) {
        beforeValue()
        text += bracket
        depth += 1
        needsComma = false
    }

    public mutating func close(_ bracket: String) {
        depth -= 1
        if needsComma { text += "\n" + String(repeating: "  ", count: depth) }
        text += bracket
        needsComma = true
    }

    public mutating func key(_ k: String) {
        beforeValue()
        text += Self.escape(k) + ": "
        afterKey = true
        needsComma = true
    }

    public mutating func string(_ v: String) { beforeValue(); text += Self.escape(v); needsComma = true }
    public mutating func number(_ v: UInt64) { beforeValue(); text += String(v); needsComma = true }
    public mutating func raw(_ v: String) { beforeValue(); text += v; needsComma = true }
    /// An array of numbers on one line (bins: hundreds of them).
    public mutating func numbers(_ values: [UInt64]) {
        beforeValue()
        text += "["
        for (i, v) in values.enumerated() { text += i == 0 ? String(v) : ", " + String(v) }
        text += "]"
        needsComma = true
    }
    public mutating func null() { beforeValue(); text += "null"; needsComma = true }

    static func escape(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
