import PFlowCore
import PFlowEngine
import PFlowCapture
import PFlowFlows
import PFlowWire

/// One part of the report, rendered both for the terminal (the table
/// report) and as keys of the JSON report's object. Both reports are the
/// list `ReportSections.all` in order: a new section is one type here and
/// one entry there.
public protocol ReportSection: Sendable {
    /// The section's text for the table report ("" when it has nothing to say).
    func table(_ result: AnalysisResult, _ style: TableReport) -> String
    /// Writes the section's keys (none: it has no JSON form) into the report object.
    func json(_ result: AnalysisResult, _ w: inout JSONWriter)
}

public enum ReportSections {
    public static let all: [any ReportSection] = [
        CaptureSection(), TotalsSection(), ServicesSection(), HealthSection(), FailedSection(), HostsSection(),
        TunnelsSection(), TimelineSection(),
        FindingsSection(), ClientsSection(),
    ]
}

/// Files, link types, packets, times, flows, drops, decode errors, warnings
/// (JSON: `capture`, tunnels included).
struct CaptureSection: ReportSection {
    func table(_ result: AnalysisResult, _ style: TableReport) -> String { style.capture(result) }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {
        let s = result.summary
        let d = s.timestampDigits
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
        for t in s.tunnels.prefix(TunnelsSection.jsonLimit) {
            w.open("{")
            w.key("kind"); w.string(t.kind.name)
            w.key("endpoints"); w.open("[")
            w.string(t.endpointA.description); w.string(t.endpointB.description)
            w.close("]")
            w.key("inner_flows"); w.number(UInt64(t.innerFlows))
            if t.innerFlowsEstimated { w.key("inner_flows_estimated"); w.raw("true") }
            w.key("packets"); w.number(t.packets)
            w.key("bytes"); w.number(t.bytes)
            w.close("}")
        }
        w.close("]")
        // Only when the list is cut: how many tunnels there were, and what
        // those not listed carried (the count an estimate past the limit).
        let unlisted = s.tunnels.dropFirst(TunnelsSection.jsonLimit)
        if !unlisted.isEmpty || s.otherTunnels != nil {
            let other = s.otherTunnels ?? OtherTunnels()
            w.key("tunnels_total"); w.number(UInt64(s.tunnels.count + other.tunnels))
            w.key("tunnels_unlisted"); w.open("{")
            w.key("tunnels"); w.number(UInt64(unlisted.count + other.tunnels))
            w.key("packets"); w.number(unlisted.reduce(other.packets) { $0 + $1.packets })
            w.key("bytes"); w.number(unlisted.reduce(other.bytes) { $0 + $1.bytes })
            w.key("estimated"); w.raw(other.tunnels > 0 ? "true" : "false")
            w.close("}")
        }
        if let drops = s.kernelDrops { w.key("kernel_drops"); w.number(drops) }
        w.key("non_ip_packets"); w.number(s.nonIPPackets)
        w.key("truncated_packets"); w.number(s.truncatedPackets)
        w.close("}")

    }
}

/// Flow counts per protocol (JSON `totals`; the table says them under Capture).
struct TotalsSection: ReportSection {
    func table(_ result: AnalysisResult, _ style: TableReport) -> String { "" }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {
        let s = result.summary
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

    }
}

/// Traffic by service (JSON `services`): ports that answered, one-way
/// ports, portless protocols, each with its leading addresses.
struct ServicesSection: ReportSection {
    func table(_ result: AnalysisResult, _ style: TableReport) -> String {
        style.services(result.services, sort: result.sort,
                       totalBytes: result.tally.byProto.values.reduce(0) { $0 + $1.bytes })
    }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {
        w.key("services"); w.open("[")
        for row in result.services {
            w.open("{")
            w.key("service"); w.string(row.service)
            w.key("port_name"); if let n = row.portName { w.string(n) } else { w.null() }
            w.key("app"); if let a = row.app { w.string(a) } else { w.null() }
            w.key("kind"); w.string(row.kind.rawValue)
            w.key("proto"); w.string(row.proto.name)
            w.key("port"); if let p = row.port { w.number(UInt64(p)) } else { w.null() }
            w.key("flows"); w.number(row.flows)
            w.key("packets"); w.number(row.packets)
            w.key("bytes"); w.number(row.bytes)
            w.key("clients"); w.number(UInt64(row.clients))
            w.key("servers"); w.number(UInt64(row.servers))
            w.key("unanswered"); w.number(row.unanswered)
            w.key("rejected"); w.number(row.rejected)
            // The row's bins (issue 17), when it kept a row in the timeline.
            if let bins = result.timeline.bytesPerBin(proto: row.proto, port: row.port) {
                w.key("bytes_per_bin"); w.numbers(bins)
            }
            w.key("top_servers"); Self.shares(row.topServers, &w)
            w.key("top_clients"); Self.shares(row.topClients, &w)
            if row.approximate { w.key("approximate"); w.raw("true") }
            HealthSection.json(row.health, &w)
            w.close("}")
        }
        w.close("]")
    }

    static func shares(_ list: [AddressShare], _ w: inout JSONWriter) {
        w.open("[")
        for s in list {
            w.open("{")
            w.key("ip"); w.string(s.address.description)
            w.key("flows"); w.number(s.flows)
            w.key("bytes"); w.number(s.bytes)
            w.close("}")
        }
        w.close("]")
    }
}

/// Server ports that never answered, less the probes of port scans (JSON `failed`).
struct FailedSection: ReportSection {
    func table(_ result: AnalysisResult, _ style: TableReport) -> String {
        style.failedConnections(result.failed)
    }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {
        w.key("failed"); w.open("[")
        for f in result.failed {
            w.open("{")
            w.key("service"); w.string(f.service)
            w.key("port_name"); if let n = f.portName { w.string(n) } else { w.null() }
            w.key("proto"); w.string(f.proto.name)
            w.key("port"); w.number(UInt64(f.port))
            w.key("attempts"); w.number(f.attempts)
            w.key("unanswered"); w.number(f.unanswered)
            w.key("rejected"); w.number(f.rejected)
            w.close("}")
        }
        w.close("]")
    }
}

/// Every address as client and as server (JSON `hosts`).
struct HostsSection: ReportSection {
    func table(_ result: AnalysisResult, _ style: TableReport) -> String {
        style.hosts(result.hosts, tally: result.tally)
    }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {
        w.key("hosts"); w.open("[")
        for h in result.hosts {
            w.open("{")
            w.key("ip"); w.string(h.address.description)
            w.key("names"); w.open("[")
            for n in h.names { w.string(n) }
            w.close("]")
            w.key("as_client"); w.open("{")
            w.key("flows"); w.number(h.clientFlows)
            w.key("bytes_sent"); w.number(h.clientBytesSent)
            w.key("bytes_received"); w.number(h.clientBytesReceived)
            w.close("}")
            w.key("as_server"); w.open("{")
            w.key("flows"); w.number(h.serverFlows)
            w.key("bytes_sent"); w.number(h.serverBytesSent)
            w.key("bytes_received"); w.number(h.serverBytesReceived)
            w.key("services"); w.open("[")
            for s in h.services { w.string(s) }
            w.close("]")
            w.close("}")
            w.close("}")
        }
        w.close("]")
        let t = result.tally
        if t.hostsApproximate {
            w.key("hosts_untracked"); w.open("{")
            w.key("distinct_hosts_estimate"); w.number(UInt64(t.distinctHosts))
            w.key("client_flows"); w.number(t.untrackedHosts.clientFlows)
            w.key("server_flows"); w.number(t.untrackedHosts.serverFlows)
            w.key("bytes"); w.number(t.untrackedHosts.bytes)
            w.close("}")
        }
    }
}

/// Tunnels opened (JSON: `capture.tunnels`, written by the capture section).
struct TunnelsSection: ReportSection {
    /// The most tunnels the JSON lists one by one (most bytes first).
    static let jsonLimit = 1000
    func table(_ result: AnalysisResult, _ style: TableReport) -> String { style.tunnels(result.summary.tunnels, other: result.summary.otherTunnels) }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {}
}

/// Scans, knocks, services on unexpected ports, likely NATs (JSON `findings`).
struct FindingsSection: ReportSection {
    func table(_ result: AnalysisResult, _ style: TableReport) -> String {
        style.findings(result.findings, digits: result.summary.timestampDigits)
    }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {
        let d = result.summary.timestampDigits
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

    }
}

/// Hosts seen opening connections and their ephemeral ranges (JSON `clients`).
struct ClientsSection: ReportSection {
    func table(_ result: AnalysisResult, _ style: TableReport) -> String { style.clients(result.clients) }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {
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
    }
}

/// How fast services answer, how lossy they are and what their servers are
/// called (issue 16). The JSON keys go into each service's object.
struct HealthSection: ReportSection {
    func table(_ result: AnalysisResult, _ style: TableReport) -> String { style.health(result.services) }
    func json(_ result: AnalysisResult, _ w: inout JSONWriter) {}

    static func json(_ h: ServiceHealth, _ w: inout JSONWriter) {
        w.key("names"); w.open("[")
        for n in h.topNames() { w.string(n) }
        w.close("]")
        quantiles("server_latency_ms", h.serverLatency, &w)
        quantiles("app_latency_ms", h.appLatency, &w)
        w.key("retransmissions"); w.number(h.retransmissions)
    }

    static func quantiles(_ key: String, _ hist: LatencyHistogram, _ w: inout JSONWriter) {
        w.key(key)
        guard let p50 = hist.quantileMs(0.5), let p95 = hist.quantileMs(0.95) else { return w.null() }
        w.open("{")
        w.key("p50"); w.raw(Formatting.fixed(p50, 3))
        w.key("p95"); w.raw(Formatting.fixed(p95, 3))
        w.close("}")
    }
}
