import PFlowCore
import PFlowCapture
import PFlowFlows
import PFlowWire

/// Facts about the capture as a whole: what the report's summary shows.
public struct CaptureSummary: Sendable {
    public struct FileInfo: Sendable {
        public var path: String
        public var format: String
        public var records: Int
        public var linkTypes: [LinkType]
    }

    public var files: [FileInfo] = []
    /// Packets per link type.
    public var linkTypes: [LinkType: UInt64] = [:]
    public var packets: UInt64 = 0
    /// Wire bytes (sum of pcap `len`).
    public var bytes: UInt64 = 0
    public var firstNs: Int64?
    public var lastNs: Int64?
    /// Decode errors, indexed by `DecodeError.rawValue`.
    public var decodeErrors = [UInt64](repeating: 0, count: DecodeError.allCases.count)
    /// Well-formed frames that carry no IP (ARP, STP, LLDP…).
    public var nonIPPackets: UInt64 = 0
    /// IP packets cut short by the snaplen (headers were complete).
    public var truncatedPackets: UInt64 = 0
    /// Damage and other notes, each one line naming the file.
    public var warnings: [String] = []
    /// Decimal digits of the finest timestamp resolution across files.
    public var timestampDigits = 6
    /// Tunnels opened, most bytes first.
    public var tunnels: [TunnelSummary] = []
    /// Tunnels past the most tracked one by one (`TunnelTable.limit`), summed.
    public var otherTunnels: OtherTunnels?
    /// The most flows tracked at once.
    public var peakLiveFlows = 0
    /// Live capture: packets the kernel (and the interface) dropped.
    public var kernelDrops: UInt64? = nil
    /// Packets and bytes per bin of time (the report's timeline).
    public var timeline = TimelineCounts()

    public var durationNs: Int64 {
        guard let f = firstNs, let l = lastNs else { return 0 }
        return l - f
    }

    /// Non-zero decode error counts by name, in a stable order.
    public var decodeErrorCounts: [(String, UInt64)] {
        DecodeError.allCases.compactMap { e in
            let n = decodeErrors[e.rawValue]
            return n > 0 ? (e.name, n) : nil
        }
    }
}

/// One tunnel: its kind and outer endpoints, and what travelled inside.
public struct TunnelSummary: Sendable {
    public var kind: TunnelKind
    public var endpointA: IPAddress
    public var endpointB: IPAddress
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public var innerFlows = 0
    /// More inner flows than the exact budget: `innerFlows` is an estimate.
    public var innerFlowsEstimated = false
}

/// The tunnels past the most tracked one by one: how many (an estimate) and
/// what they carried.
public struct OtherTunnels: Sendable {
    public init() {}
    public var tunnels = 0
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
}

/// The outcome of analysing a capture: the summary, the service table and,
/// when asked for, every flow.
public struct AnalysisResult: Sendable {
    public var summary: CaptureSummary
    /// Flows in the order they ended (capture end: by start time); empty
    /// unless the analyzer was asked to keep them.
    public var flows: [FlowRecord]
    /// Services, flow counts and per-protocol totals of every flow.
    public var tally: ServiceTally { didSet { arranged = nil } }
    /// Hosts seen opening connections, most connections first.
    public var clients: [ClientHost] = []
    /// Scans, knocks, services on unexpected ports, likely NATs.
    public var findings: [Finding] = [] { didSet { arranged = nil } }
    /// The capture over time: every record per bin, and each service's bytes.
    public var timeline = Timeline()
    /// How services and hosts are ordered (`--sort`).
    public var sort: ServiceSort = .bytes { didSet { arranged = nil } }

    /// The tally's rows with their names and top addresses, made once.
    public var namedRows: [ServiceRow] = [] { didSet { arranged = nil } }
    /// Every row of the tally (services, one-way ports and failed ones), named, in `sort` order.
    public var rows: [ServiceRow] { arranged?.rows ?? ServiceTally.sorted(namedRows, by: sort) }
    /// The services: ports that answered, one-way ports, portless protocols.
    public var services: [ServiceRow] {
        arranged?.services ?? ServiceTally.services(rows, scanProbes: findings.flatMap(\.probes))
    }
    /// Ports that never answered, less the probes of port scans.
    public var failed: [FailedPort] {
        arranged?.failed ?? ServiceTally.failedPorts(rows, scanProbes: findings.flatMap(\.probes))
    }
    /// Every address as client and as server.
    public var hosts: [HostRow] { arranged?.hosts ?? tally.hostRows(by: sort) }

    /// The lists above, made once for a report that reads each several
    /// times (each is a sort of every row or host); dropped when what they
    /// are made from changes.
    struct Arranged: Sendable {
        var rows: [ServiceRow], services: [ServiceRow], failed: [FailedPort], hosts: [HostRow]
    }
    var arranged: Arranged?

    /// Makes the lists once (the reports call it before reading them).
    public mutating func arrange() {
        guard arranged == nil else { return }
        arrange(hosts: tally.hostRows(by: sort))
    }

    /// `arrange`, with the host list already made in `sort` order (the
    /// analyzer makes it beside the findings).
    mutating func arrange(hosts: [HostRow]) {
        let rows = ServiceTally.sorted(namedRows, by: sort)
        let probes = findings.flatMap(\.probes)
        arranged = Arranged(rows: rows, services: ServiceTally.services(rows, scanProbes: probes),
                            failed: ServiceTally.failedPorts(rows, scanProbes: probes), hosts: hosts)
    }
    /// A copy with the lists made.
    public func arrangedCopy() -> AnalysisResult {
        var r = self
        r.arrange()
        return r
    }
}

/// A host seen as a client, and how it picks its ephemeral ports.
public struct ClientHost: Sendable {
    public var address: IPAddress
    public var range: EphemeralRange

    static func table(_ knowledge: TrafficKnowledge) -> [ClientHost] {
        knowledge.clientRanges.map { ClientHost(address: $0.address, range: $0.range) }
            .sorted { $0.range.connections != $1.range.connections ? $0.range.connections > $1.range.connections
                                                                    : $0.address < $1.address }
    }
}
