import PFlowFlows
import PFlowWire

/// Something in the traffic a user should look at, with the evidence to
/// check it. Kinds: `port-scan`, `port-knock`, `nonstandard-port`, `possible-nat`.
public struct Finding: Sendable {
    public var kind: String
    public var source: IPAddress?
    /// The one target; nil for a horizontal scan (then `targets`).
    public var target: IPAddress?
    public var targets: [IPAddress] = []
    public var proto: IPProtocol?
    public var ports: [UInt16]
    public var firstNs: Int64?
    public var lastNs: Int64?
    public var detail: String
}

/// Finds scans, knocks, services on unexpected ports and likely NATs in the
/// flows as they end. Thresholds follow Zeek's scan detection: a vertical
/// scan is at least 15 distinct ports of one target failing for one source
/// within 5 minutes; a horizontal scan is one port failing on at least 25
/// targets within 5 minutes.
public struct FindingsDetector: Sendable {
    public static let scanWindowNs: Int64 = 300_000_000_000
    public static let verticalPorts = 15
    public static let horizontalTargets = 25
    /// A knock: 2 to 10 failed attempts on other ports within 30 s, then a
    /// connection that succeeds within 30 s of the last of them.
    public static let knockWindowNs: Int64 = 30_000_000_000
    public static let knockPorts = 2...10

    /// Whether `port` is one `app` is registered or customary on; elsewhere
    /// it is a finding.
    static func isCustomary(_ port: UInt16, for app: AppProtocol) -> Bool {
        switch app {
        case .tls: return [443, 8443, 993, 995, 465, 636, 853, 990, 5061, 5223, 6697, 8883].contains(port)
        case .http: return [80, 8080, 3128, 8008, 591].contains(port)
        case .ssh: return port == 22
        case .smtp: return [25, 587, 465, 2525].contains(port)
        case .ftp: return port == 21
        case .smtpOrFTP: return [21, 25, 587, 2525].contains(port)
        case .pop3: return port == 110
        case .imap: return port == 143
        case .redis: return port == 6379
        case .dns: return [53, 137, 5353, 5355].contains(port)  // NetBIOS names use DNS's format
        case .ntp: return port == 123
        case .quic: return port == 443
        }
    }

    enum Outcome: UInt8 { case failed, open, silent }

    struct Attempt {
        var port: UInt16
        var startNs: Int64
        var outcome: Outcome
    }

    struct PairKey: Hashable {
        var source: IPAddress; var target: IPAddress; var proto: UInt8
        // One pre-mixed word through Hasher instead of five fields.
        func hash(into hasher: inout Hasher) {
            hasher.combine((source.high ^ source.low &* 0x9E37_79B9_7F4A_7C15)
                           ^ (target.high ^ target.low &* 0xC2B2_AE3D_27D4_EB4F) &* 0xBF58_476D_1CE4_E5B9
                           ^ UInt64(proto))
        }
    }
    struct PortKey: Hashable {
        var source: IPAddress; var port: UInt16; var proto: UInt8
        func hash(into hasher: inout Hasher) {
            hasher.combine((source.high ^ source.low &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(port) << 8 | UInt64(proto)) &* 0xC2B2_AE3D_27D4_EB4F)
        }
    }
    struct ServiceKey: Hashable { var server: IPAddress; var port: UInt16; var proto: UInt8; var app: AppProtocol }

    private var pairs: [PairKey: [Attempt]] = [:]
    private var horizontal: [PortKey: [(target: IPAddress, startNs: Int64)]] = [:]
    private var unexpected: [ServiceKey: (flows: Int, first: Int64, last: Int64, registry: String?)] = [:]

    public init() {}

    /// The attempt a flow represents, if its client clearly opened it.
    static func outcome(_ f: FlowRecord) -> Outcome? {
        switch f.proto {
        case .tcp:
            guard f.roleSource == .syn else { return nil }
            switch f.state {
            case "S0", "SH": return .silent
            case "REJ", "RSTOS0": return .failed
            case "S1", "SF", "S2", "S3", "RSTO", "RSTR": return .open
            default: return nil
            }
        case .udp:
            if f.serverToClient.packets > 0 { return .open }
            return f.icmpErrors > 0 ? .failed : .silent
        default:
            return nil
        }
    }

    public mutating func add(_ f: FlowRecord) {
        let app = f.appProtocol
        if let app, f.hasServicePort, !Self.isCustomary(f.serverPort, for: app) {
            let key = ServiceKey(server: f.serverAddress, port: f.serverPort, proto: f.proto.rawValue, app: app)
            var entry = unexpected[key] ?? (0, f.startNs, f.endNs, f.service)
            entry.flows += 1
            entry.first = min(entry.first, f.startNs)
            entry.last = max(entry.last, f.endNs)
            unexpected[key] = entry
        }
        guard let outcome = Self.outcome(f) else { return }
        let pair = PairKey(source: f.clientAddress, target: f.serverAddress, proto: f.proto.rawValue)
        pairs[pair, default: []].append(Attempt(port: f.serverPort, startNs: f.startNs, outcome: outcome))
        if outcome != .open {
            let key = PortKey(source: f.clientAddress, port: f.serverPort, proto: f.proto.rawValue)
            horizontal[key, default: []].append((f.serverAddress, f.startNs))
        }
    }

    /// The most distinct values seen within any scan window, for items in
    /// time order (a sliding window over the times).
    static func mostDistinctInWindow<T: Hashable>(_ items: [(T, Int64)]) -> Int {
        var best = 0, lo = 0
        var counts: [T: Int] = [:]
        for hi in items.indices {
            counts[items[hi].0, default: 0] += 1
            while items[hi].1 - items[lo].1 > scanWindowNs {
                counts[items[lo].0, default: 1] -= 1
                if counts[items[lo].0] == 0 { counts[items[lo].0] = nil }
                lo += 1
            }
            best = max(best, counts.count)
        }
        return best
    }

    /// Every finding, scans first, each list in a stable order.
    public func findings(clients: [ClientHost]) -> [Finding] {
        var out: [Finding] = []
        var scanners: Set<PairKey> = []
        // Vertical scans.
        // Only pairs with enough failed attempts can be scans, and only pairs
        // with a failure and a success can be knocks: most pairs are neither.
        let candidates = pairs.filter { entry in
            let failures = entry.value.reduce(0) { $0 + ($1.outcome == .open ? 0 : 1) }
            return failures >= Self.knockPorts.lowerBound && (failures >= Self.verticalPorts || failures < entry.value.count)
        }.sorted { ($0.key.source, $0.key.target, $0.key.proto) < ($1.key.source, $1.key.target, $1.key.proto) }
        for (pair, attempts) in candidates {
            guard attempts.count >= Self.verticalPorts else { continue }
            let sorted = attempts.sorted { $0.startNs < $1.startNs }
            let failed = sorted.filter { $0.outcome != .open }
            guard Set(failed.map(\.port)).count >= Self.verticalPorts else { continue }
            guard Self.mostDistinctInWindow(failed.map { ($0.port, $0.startNs) }) >= Self.verticalPorts else { continue }
            scanners.insert(pair)
            let first = sorted.first?.startNs ?? 0, last = sorted.last?.startNs ?? 0
            let open = Set(sorted.filter { $0.outcome == .open }.map(\.port)).sorted()
            let probed = Set(sorted.map(\.port)).sorted()
            let proto = IPProtocol(rawValue: pair.proto)
            let how = proto == .udp ? "UDP probes, closed ports answered by ICMP port unreachable"
                : "SYN probes, closed ports rejected or unanswered"
            out.append(Finding(kind: "port-scan", source: pair.source, target: pair.target, proto: proto,
                               ports: probed, firstNs: first, lastNs: last,
                               detail: "\(probed.count) ports probed, \(open.count) open" + (open.isEmpty ? "" : " (" + open.map(String.init).joined(separator: ", ") + ")") + "; \(how)"))
        }
        // Horizontal scans.
        for (key, hits) in horizontal.filter({ $0.value.count >= Self.horizontalTargets })
            .sorted(by: { ($0.key.source, $0.key.port, $0.key.proto) < ($1.key.source, $1.key.port, $1.key.proto) }) {
            let sorted = hits.sorted { $0.startNs < $1.startNs }
            guard Set(sorted.map(\.target)).count >= Self.horizontalTargets,
                  Self.mostDistinctInWindow(sorted.map { ($0.target, $0.startNs) }) >= Self.horizontalTargets else { continue }
            let targets = Set(sorted.map(\.target)).sorted()
            out.append(Finding(kind: "port-scan", source: key.source, target: nil, targets: targets,
                               proto: IPProtocol(rawValue: key.proto), ports: [key.port],
                               firstNs: sorted.first?.startNs ?? 0, lastNs: sorted.last?.startNs ?? 0,
                               detail: "port \(key.port) probed on \(targets.count) hosts without success"))
        }
        // Knocks: failed attempts on a few other ports, then a connection that works.
        for (pair, attempts) in candidates where !scanners.contains(pair) {
            let sorted = attempts.sorted { $0.startNs < $1.startNs }
            var reported: Set<UInt16> = []
            for (i, success) in sorted.enumerated() where success.outcome == .open && !reported.contains(success.port) {
                // Walk back over the failed attempts just before it.
                var knocks: [Attempt] = []
                var j = i - 1
                while j >= 0, sorted[j].outcome != .open, success.startNs - sorted[j].startNs <= Self.knockWindowNs {
                    if sorted[j].port != success.port { knocks.insert(sorted[j], at: 0) }
                    j -= 1
                }
                let distinct = Set(knocks.map(\.port))
                guard Self.knockPorts.contains(distinct.count), distinct.count == knocks.count else { continue }
                // An earlier success on that port means it was open anyway.
                if sorted[..<i].contains(where: { $0.port == success.port && $0.outcome == .open }) { continue }
                reported.insert(success.port)
                out.append(Finding(kind: "port-knock", source: pair.source, target: pair.target,
                                   proto: IPProtocol(rawValue: pair.proto), ports: knocks.map(\.port),
                                   firstNs: knocks.first?.startNs ?? success.startNs, lastNs: success.startNs,
                                   detail: "knocked on " + knocks.map { String($0.port) }.joined(separator: ", ")
                                       + ", then port \(success.port) opened"))
            }
        }
        // Services on ports the registry gives to something else, or to nothing.
        for (key, entry) in unexpected.sorted(by: { ($0.key.server, $0.key.port, $0.key.proto, $0.key.app.rawValue) < ($1.key.server, $1.key.port, $1.key.proto, $1.key.app.rawValue) }) {
            out.append(Finding(kind: "nonstandard-port", source: nil, target: key.server,
                               proto: IPProtocol(rawValue: key.proto), ports: [key.port],
                               firstNs: entry.first, lastNs: entry.last,
                               detail: "\(key.app.name) on port \(key.port) (registry: \(entry.registry ?? "unassigned")), \(entry.flows) flow\(entry.flows == 1 ? "" : "s")"))
        }
        // Hosts whose source ports come from two operating systems' allocators.
        for c in clients where c.range.looksLikeTwoAllocators {
            out.append(Finding(kind: "possible-nat", source: c.address, target: nil, proto: .tcp, ports: [],
                               firstNs: nil, lastNs: nil,
                               detail: "source ports from two allocators: \(c.range.linuxOnly) only Linux uses (32768-49151), "
                                   + "\(c.range.ianaOnly) only Windows/macOS use (61000-65535); likely several hosts behind NAT"))
        }
        return out
    }
}
