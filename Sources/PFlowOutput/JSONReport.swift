import PFlowCore
import PFlowEngine
import PFlowCapture
import PFlowFlows
import PFlowWire

/// The JSON report: one object, keys in a fixed order, as DESIGN.md lists.
public enum JSONReport {
    public static func render(_ result: AnalysisResult) -> String {
        let s = result.summary
        let d = s.timestampDigits
        var w = JSONWriter()
        w.open("{")
        w.key("capture"); w.open("{")
        w.key("packets"); w.number(s.packets)
        w.key("bytes"); w.number(s.bytes)
        w.key("first"); if let f = s.firstNs { w.string(Formatting.rfc3339(ns: f, digits: d)) } else { w.null() }
        w.key("last"); if let l = s.lastNs { w.string(Formatting.rfc3339(ns: l, digits: d)) } else { w.null() }
        w.key("duration_s"); w.raw(Formatting.seconds(ns: s.durationNs, digits: d))
        w.key("link_types"); w.open("[")
        for (type, _) in s.linkTypes.sorted(by: { $0.key < $1.key }) { w.string(type.name) }
        w.close("]")
        w.key("decode_errors"); w.open("{")
        for (name, n) in s.decodeErrorCounts { w.key(name); w.number(n) }
        w.close("}")
        w.key("warnings"); w.open("[")
        for warning in s.warnings { w.string(warning) }
        w.close("]")
        w.key("files"); w.open("[")
        for file in s.files {
            w.open("{")
            w.key("path"); w.string(file.path)
            w.key("format"); w.string(file.format)
            w.key("records"); w.number(UInt64(file.records))
            w.key("link_types"); w.open("[")
            for t in file.linkTypes { w.string(t.name) }
            w.close("]")
            w.close("}")
        }
        w.close("]")
        w.key("tunnels"); w.open("[")
        for t in s.tunnels {
            w.open("{")
            w.key("kind"); w.string(t.kind.name)
            w.key("endpoints"); w.open("[")
            w.string(t.endpointA.description); w.string(t.endpointB.description)
            w.close("]")
            w.key("inner_flows"); w.number(UInt64(t.innerFlows))
            w.key("packets"); w.number(t.packets)
            w.key("bytes"); w.number(t.bytes)
            w.close("}")
        }
        w.close("]")
        if let drops = s.kernelDrops { w.key("kernel_drops"); w.number(drops) }
        w.key("non_ip_packets"); w.number(s.nonIPPackets)
        w.key("truncated_packets"); w.number(s.truncatedPackets)
        w.close("}")

        w.key("totals"); w.open("{")
        w.key("flows"); w.number(result.tally.flows)
        w.key("peak_live_flows"); w.number(UInt64(s.peakLiveFlows))
        w.key("by_proto"); w.open("{")
        for (name, t) in result.tally.byProto.sorted(by: { $0.key < $1.key }) {
            w.key(name); w.open("{")
            w.key("flows"); w.number(t.flows)
            w.key("packets"); w.number(t.packets)
            w.key("bytes"); w.number(t.bytes)
            w.close("}")
        }
        w.close("}")
        w.close("}")

        w.key("services"); w.open("[")
        for row in result.tally.sortedRows {
            w.open("{")
            w.key("service"); w.string(row.service)
            w.key("proto"); w.string(row.proto.name)
            w.key("port"); if let p = row.port { w.number(UInt64(p)) } else { w.null() }
            w.key("flows"); w.number(row.flows)
            w.key("packets"); w.number(row.packets)
            w.key("bytes"); w.number(row.bytes)
            w.key("clients"); w.number(UInt64(row.clients))
            w.key("servers"); w.number(UInt64(row.servers))
            w.key("unanswered"); w.number(row.unanswered)
            w.key("rejected"); w.number(row.rejected)
            w.close("}")
        }
        w.close("]")

        w.key("findings"); w.open("[")
        for f in result.findings {
            w.open("{")
            w.key("kind"); w.string(f.kind)
            w.key("source"); w.string(f.source?.description ?? "")
            w.key("target"); w.string(f.target?.description ?? "")
            if f.target == nil && !f.targets.isEmpty {
                w.key("targets"); w.open("[")
                for t in f.targets { w.string(t.description) }
                w.close("]")
            }
            w.key("proto"); w.string(f.proto?.name ?? "")
            w.key("ports"); w.open("[")
            for p in f.ports { w.number(UInt64(p)) }
            w.close("]")
            w.key("first"); if let t = f.firstNs { w.string(Formatting.rfc3339(ns: t, digits: d)) } else { w.null() }
            w.key("last"); if let t = f.lastNs { w.string(Formatting.rfc3339(ns: t, digits: d)) } else { w.null() }
            w.key("detail"); w.string(f.detail)
            w.close("}")
        }
        w.close("]")

        w.key("clients"); w.open("[")
        for c in result.clients {
            let r = c.range
            w.open("{")
            w.key("address"); w.string(c.address.description)
            w.key("connections"); w.number(UInt64(r.connections))
            w.key("port_min"); w.number(UInt64(r.lowest))
            w.key("port_max"); w.number(UInt64(r.highest))
            w.key("pattern"); w.string(r.pattern.rawValue)
            w.key("range"); w.string(r.isLearned ? r.family.rawValue : "unknown")
            w.close("}")
        }
        w.close("]")
        w.close("}")
        return w.text + "\n"
    }
}

/// A minimal pretty-printing JSON writer that keeps keys in insertion order.
struct JSONWriter {
    private(set) var text = ""
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

    mutating func open(_ bracket: String) {
        beforeValue()
        text += bracket
        depth += 1
        needsComma = false
    }

    mutating func close(_ bracket: String) {
        depth -= 1
        if needsComma { text += "\n" + String(repeating: "  ", count: depth) }
        text += bracket
        needsComma = true
    }

    mutating func key(_ k: String) {
        beforeValue()
        text += Self.escape(k) + ": "
        afterKey = true
        needsComma = true
    }

    mutating func string(_ v: String) { beforeValue(); text += Self.escape(v); needsComma = true }
    mutating func number(_ v: UInt64) { beforeValue(); text += String(v); needsComma = true }
    mutating func raw(_ v: String) { beforeValue(); text += v; needsComma = true }
    mutating func null() { beforeValue(); text += "null"; needsComma = true }

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
