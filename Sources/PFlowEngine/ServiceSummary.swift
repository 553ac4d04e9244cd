import PFlowCore
import PFlowFlows
import PFlowWire

/// One address's share of a service: flows it took part in and their bytes.
public struct AddressShare: Sendable, Equatable {
    public var address: IPAddress
    public var flows: UInt64
    public var bytes: UInt64
}

/// What a (protocol, port) is to the report (DESIGN.md "Naming a service").
public enum ServiceKind: String, Sendable {
    /// The server answered at least once (and every portless protocol).
    case service
    /// Never answered, but it takes traffic one way by design (syslog,
    /// SNMP traps, flow export, multicast and broadcast destinations).
    case oneWay = "one-way"
    /// Never answered: its attempts are failed connections.
    case failed
}

/// Traffic of one service port (or, for ICMP and other portless protocols,
/// of the protocol): one row of the services table.
public struct ServiceRow: Sendable {
    /// What the service is: the protocol most of its recognised flows
    /// showed, else the registry's name in users' words; "" if neither.
    public var service: String
    /// The registry's name of the port, or nil.
    public var portName: String?
    /// The protocol its payloads showed most often, or nil.
    public var app: String?
    public var proto: IPProtocol
    /// The server port; nil for protocols without ports.
    public var port: UInt16?
    public var flows: UInt64 = 0
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    /// Distinct client and server addresses (estimates when `approximate`).
    public var clients = 0
    public var servers = 0
    /// Connection attempts left unanswered (TCP S0, SH, RSTOS0; UDP with no
    /// reply and no ICMP error) and rejected (TCP REJ; UDP answered only by
    /// an ICMP error).
    public var unanswered: UInt64 = 0
    public var rejected: UInt64 = 0
    /// Flows the server answered in.
    public var answered: UInt64 = 0
    /// Unanswered flows that were one-way by design.
    public var oneWayFlows: UInt64 = 0
    /// The leading servers and clients by bytes (all of them when few).
    public var topServers: [AddressShare] = []
    public var topClients: [AddressShare] = []
    /// Too many addresses to keep exactly: `clients`, `servers` are
    /// estimates and the top lists hold the addresses kept.
    public var approximate = false
    /// Latency quantiles, retransmissions and names (issue 16).
    public var health = ServiceHealth()

    public var kind: ServiceKind {
        if port == nil || answered > 0 { return .service }
        return oneWayFlows > 0 ? .oneWay : .failed
    }
}

/// A server port that never answered: its connection attempts, less the
/// probes of port scans (which their findings count).
public struct FailedPort: Sendable {
    public var service: String
    public var portName: String?
    public var proto: IPProtocol
    public var port: UInt16
    public var attempts: UInt64
    public var unanswered: UInt64
    public var rejected: UInt64
}

/// One address as client and as server.
public struct HostRow: Sendable {
    public var address: IPAddress
    public var clientFlows: UInt64 = 0
    public var clientBytesSent: UInt64 = 0
    public var clientBytesReceived: UInt64 = 0
    public var serverFlows: UInt64 = 0
    public var serverBytesSent: UInt64 = 0
    public var serverBytesReceived: UInt64 = 0
    public var packets: UInt64 = 0
    /// Services it answered on, as `port/proto` (or the protocol's name).
    public var services: [String] = []
    /// The names its flows gave it as the server (up to `ServiceTally.hostNames`).
    public var names: [String] = []
    public var bytes: UInt64 { clientBytesSent + clientBytesReceived + serverBytesSent + serverBytesReceived }
    public var flows: UInt64 { clientFlows + serverFlows }
}

/// How the services (and hosts) are ordered: `--sort`.
public enum ServiceSort: String, Sendable, CaseIterable {
    case bytes, packets, flows, clients
}

/// Flows, packets and bytes of one protocol.
public struct ProtocolTotals: Sendable {
    public var flows: UInt64 = 0
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
}

/// Aggregates flows as they end, so the report needs no list of flows:
/// per service, its traffic and its addresses; per host, its traffic.
/// Exact up to `partyLimit` (service, side, address) entries, from which
/// the hosts are made too (no second lookup per flow); past the limit,
/// distinct counts come from sketches and the lists hold the addresses
/// kept (the report says so).
public struct ServiceTally: Sendable {
    struct Key: FastHashable, Sendable {
        var proto: UInt8; var port: Int32
        func fastHash(_ seed: HashSeed) -> UInt64 { seed.hash(UInt64(proto) << 32 | UInt64(UInt32(bitPattern: port))) }
    }
    /// An address in one row's client (side 0) or server (side 1) column.
    struct Party: FastHashable, Sendable {
        var address: IPAddress; var row: UInt32; var side: UInt8
        func fastHash(_ seed: HashSeed) -> UInt64 { seed.hash(address.high, address.low, UInt64(row) << 1 | UInt64(side)) }
    }
    /// One address's flows on one side of one service; bytes it sent and
    /// received in them.
    struct PartyStats: Sendable {
        var flows: UInt64 = 0
        var sent: UInt64 = 0
        var received: UInt64 = 0
        var packets: UInt64 = 0
        var answered: UInt32 = 0
        /// Server side: which of the row's first 32 names (`ServiceHealth`
        /// slots) its flows carried; in what was padding (stride stays 40).
        var names: UInt32 = 0
        var bytes: UInt64 { sent + received }
    }
    /// Entry i is row i.
    private var rowIndex = FastMap<Key, Void>()
    private var rows: [ServiceRow] = []
    /// Flows per row and `AppProtocol.rawValue`: 16 counters a row, flat
    /// (no array inside each row to copy on write).
    private var appFlows: [UInt32] = []
    private var parties = FastMap<Party, PartyStats>()
    /// Two per row (clients, servers), made when `parties` first fills.
    private var sketches: [DistinctSketch] = []
    /// Every flow's two addresses, once `parties` is full.
    private var hostSketch: DistinctSketch?
    /// Every flow's ends, summed as the hosts are (what `untrackedHosts`
    /// subtracts the kept ones from).
    private var allEnds = HostRow(address: IPAddress(high: 0, low: 0))
    private var protocols = [ProtocolTotals](repeating: ProtocolTotals(), count: 256)
    public private(set) var flows: UInt64 = 0
    /// Most (service, side, address) entries kept exactly (about 90 bytes
    /// each with their share of the index).
    public var partyLimit = 1 << 21

    public init() {}

    /// Totals per protocol name (`tcp`, `udp`, `icmp`, …).
    public var byProto: [String: ProtocolTotals] {
        var out: [String: ProtocolTotals] = [:]
        for (number, t) in protocols.enumerated() where t.flows > 0 {
            out[IPProtocol(rawValue: UInt8(number)).name] = t
        }
        return out
    }

    /// Whether the server answered: a TCP SYN-ACK or payload (or, seen
    /// mid-stream, anything but a reset), a UDP or other datagram back.
    static func answered(_ f: FlowRecord) -> Bool {
        let r = f.serverToClient
        guard r.packets > 0 else { return false }
        guard f.proto == .tcp else { return true }
        if r.tcpFlags.contains(.syn) || r.payloadBytes > 0 { return true }
        if f.roleSource == .syn { return false }  // a SYN answered by a reset alone
        return !r.tcpFlags.contains(.rst)
    }

    /// 1: an attempt left unanswered, 2: rejected, 0: neither (answered,
    /// or not an attempt).
    static func failureKind(_ f: FlowRecord) -> UInt8 {
        switch f.proto {
        case .tcp:
            switch f.connState {
            case .S0, .SH, .RSTOS0: return 1
            case .REJ: return 2
            default: return 0
            }
        case .udp:
            guard f.serverToClient.packets == 0 else { return 0 }
            return f.icmpErrors > 0 ? 2 : 1
        default:
            return 0
        }
    }

    public mutating func add(_ f: FlowRecord) {
        flows += 1
        let key = Key(proto: f.proto.rawValue, port: f.hasServicePort ? Int32(f.serverPort) : -1)
        let (i, inserted) = rowIndex.insert(key) { () }
        if inserted {
            rows.append(ServiceRow(service: "", portName: f.portName, proto: f.proto,
                                   port: f.hasServicePort ? f.serverPort : nil))
            appFlows.append(contentsOf: repeatElement(0, count: 16))
            if !sketches.isEmpty { sketches.append(DistinctSketch()); sketches.append(DistinctSketch()) }
        }
        let answered = Self.answered(f)
        let oneWay = !answered && (ServiceNames.isOneWayByDesign(port: f.serverPort, proto: f.proto)
                                   || ServiceNames.isGroupAddress(f.serverAddress))
        let failure = Self.failureKind(f)
        var nameSlot = -1
        // One uniqueness check for the row's counters, not one per field.
        rows.withUnsafeMutableBufferPointer { r in
            r[i].flows += 1
            r[i].packets += f.packets
            r[i].bytes += f.bytes
            if answered { r[i].answered += 1 }
            if oneWay { r[i].oneWayFlows += 1 }
            if failure == 1 { r[i].unanswered += 1 }
            if failure == 2 { r[i].rejected += 1 }
            nameSlot = r[i].health.add(f)
        }
        if let app = f.appProtocol { appFlows[16 * i + Int(app.rawValue & 15)] &+= 1 }
        let c = f.clientToServer, r = f.serverToClient
        addParty(Party(address: f.clientAddress, row: UInt32(i), side: 0), f, sent: c.bytes, received: r.bytes, answered: false)
        addParty(Party(address: f.serverAddress, row: UInt32(i), side: 1), f, sent: r.bytes, received: c.bytes,
                 answered: answered, nameSlot: nameSlot)
        allEnds.clientFlows += 1
        allEnds.clientBytesSent += c.bytes
        allEnds.clientBytesReceived += r.bytes
        allEnds.serverFlows += 1
        allEnds.serverBytesSent += r.bytes
        allEnds.serverBytesReceived += c.bytes
        let p = Int(f.proto.rawValue)
        protocols[p].flows += 1
        protocols[p].packets += f.packets
        protocols[p].bytes += f.bytes
    }

    private mutating func addParty(_ party: Party, _ f: FlowRecord, sent: UInt64, received: UInt64, answered: Bool,
                                   nameSlot: Int = -1) {
        let row = Int(party.row), side = Int(party.side)
        if !sketches.isEmpty {
            let hash = party.address.fastHash(HashSeed.run)
            sketches[2 * row + side].add(hash: hash)
            hostSketch?.add(hash: hash)
        }
        let i: Int
        if parties.count < partyLimit {
            // One probe whether the address is new or not.
            let (at, inserted) = parties.insert(party) { PartyStats() }
            i = at
            if inserted { if side == 0 { rows[row].clients += 1 } else { rows[row].servers += 1 } }
        } else if let known = parties.index(of: party) {
            i = known
        } else {
            if sketches.isEmpty {
                startSketches()
                let hash = party.address.fastHash(HashSeed.run)
                sketches[2 * row + side].add(hash: hash)
                hostSketch?.add(hash: hash)
            }
            rows[row].approximate = true
            return
        }
        var stats = parties[entry: i]
        stats.flows += 1
        stats.sent += sent
        stats.received += received
        stats.packets += f.packets
        if answered { stats.answered &+= 1 }
        if nameSlot >= 0 && nameSlot < 32 { stats.names |= 1 << UInt32(nameSlot) }
        parties[entry: i] = stats
    }

    /// `parties` is full: from now on every row counts its addresses in
    /// sketches, seeded with every address kept so far.
    private mutating func startSketches() {
        sketches = [DistinctSketch](repeating: DistinctSketch(), count: 2 * rows.count)
        var hosts = DistinctSketch()
        for party in parties.keys {
            let hash = party.address.fastHash(HashSeed.run)
            sketches[2 * Int(party.row) + Int(party.side)].add(hash: hash)
            hosts.add(hash: hash)
        }
        hostSketch = hosts
    }

    /// Whether addresses were too many to keep each one.
    public var hostsApproximate: Bool { hostSketch != nil }

    /// Distinct hosts seen (an estimate once past the limit).
    public var distinctHosts: Int {
        var kept = FastSet<IPAddress>(capacity: parties.count / 2)
        for p in parties.keys { _ = kept.insert(p.address) }
        return max(kept.count, hostSketch?.estimate ?? 0)
    }

    /// The flow ends of addresses not kept (past the limit), summed.
    public var untrackedHosts: HostRow {
        var out = allEnds
        for (party, stats) in zip(parties.keys, parties.values) {
            if party.side == 0 {
                out.clientFlows -= stats.flows
                out.clientBytesSent -= stats.sent
                out.clientBytesReceived -= stats.received
            } else {
                out.serverFlows -= stats.flows
                out.serverBytesSent -= stats.sent
                out.serverBytesReceived -= stats.received
            }
        }
        return out
    }

    /// How many addresses each top list holds.
    public static let topAddresses = 10

    /// Every row with its name, kind and top addresses, in `sort` order.
    public func sortedRows(by sort: ServiceSort = .bytes) -> [ServiceRow] {
        Self.sorted(namedRows(), by: sort)
    }

    /// Every row with its name, kind and top addresses, in the order rows were made.
    public func namedRows() -> [ServiceRow] {
        var out = rows
        var servers = [[AddressShare]](repeating: [], count: rows.count)
        var clients = [[AddressShare]](repeating: [], count: rows.count)
        for (party, stats) in zip(parties.keys, parties.values) {
            let share = AddressShare(address: party.address, flows: stats.flows, bytes: stats.bytes)
            if party.side == 0 { clients[Int(party.row)].append(share) } else { servers[Int(party.row)].append(share) }
        }
        func before(_ a: AddressShare, _ b: AddressShare) -> Bool {
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            if a.flows != b.flows { return a.flows > b.flows }
            return a.address < b.address
        }
        // The leading few by insertion into a short sorted list: linear in
        // a service's addresses, not n log n.
        func top(_ list: [AddressShare]) -> [AddressShare] {
            var best: [AddressShare] = []
            best.reserveCapacity(Self.topAddresses + 1)
            for s in list {
                if best.count == Self.topAddresses, let last = best.last, !before(s, last) { continue }
                var at = best.count
                while at > 0, before(s, best[at - 1]) { at -= 1 }
                best.insert(s, at: at)
                if best.count > Self.topAddresses { best.removeLast() }
            }
            return best
        }
        for i in out.indices {
            out[i].topServers = top(servers[i])
            out[i].topClients = top(clients[i])
            if !sketches.isEmpty {
                out[i].clients = max(out[i].clients, sketches[2 * i].estimate)
                out[i].servers = max(out[i].servers, sketches[2 * i + 1].estimate)
            }
            // The name: the protocol most of its recognised flows showed.
            var best = 0, bestFlows: UInt32 = 0
            for app in 0..<16 where appFlows[16 * i + app] > bestFlows { best = app; bestFlows = appFlows[16 * i + app] }
            let app = bestFlows > 0 ? AppProtocol(rawValue: UInt8(best)) : nil
            out[i].app = app?.name
            out[i].service = ServiceNames.name(app: app, port: out[i].port ?? 0, proto: out[i].proto,
                                               portName: out[i].portName) ?? ""
        }
        return out
    }

    /// `rows` in `sort` order (ties: bytes, flows, protocol, port).
    public static func sorted(_ rows: [ServiceRow], by sort: ServiceSort) -> [ServiceRow] {
        // Row numbers are sorted by the rows' keys, not the rows: a row
        // carries its health and names (several hundred bytes), and moving
        // those was most of the cost.
        struct SortKey { var first: UInt64, bytes: UInt64, flows: UInt64, proto: UInt8, port: Int }
        let keys = rows.map { r in
            let first: UInt64
            switch sort {
            case .bytes: first = r.bytes
            case .packets: first = r.packets
            case .flows: first = r.flows
            case .clients: first = UInt64(clamping: r.clients)
            }
            return SortKey(first: first, bytes: r.bytes, flows: r.flows, proto: r.proto.rawValue, port: r.port.map { Int($0) } ?? -1)
        }
        let order = keys.indices.sorted { i, j in
            let a = keys[i], b = keys[j]
            if a.first != b.first { return a.first > b.first }
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            if a.flows != b.flows { return a.flows > b.flows }
            if a.proto != b.proto { return a.proto < b.proto }
            return a.port < b.port
        }
        return order.map { rows[$0] }
    }

    /// How many names a host lists.
    public static let hostNames = 5

    /// Every host kept, with the services it answered on and its names, in
    /// `sort` order (`clients`: the most flows served first). A host's names
    /// are those of its services' first 32 names its flows carried as the
    /// server, ranked by the service's flows under each name (summed over
    /// its services): per (host, name) counts are not kept, so where servers
    /// share a name the order among one host's names follows the service's.
    public func hostRows(by sort: ServiceSort = .bytes) -> [HostRow] {
        var out: [HostRow] = []
        var named: [[(name: String, flows: UInt64)]] = []
        var rowNames = [[(name: String, flows: UInt64)]?](repeating: nil, count: rows.count)
        var position = FastMap<IPAddress, Void>(capacity: parties.count / 2)
        for (party, stats) in zip(parties.keys, parties.values) {
            let (i, inserted) = position.insert(party.address) { () }
            if inserted { out.append(HostRow(address: party.address)); named.append([]) }
            out[i].packets += stats.packets
            if party.side == 0 {
                out[i].clientFlows += stats.flows
                out[i].clientBytesSent += stats.sent
                out[i].clientBytesReceived += stats.received
            } else {
                out[i].serverFlows += stats.flows
                out[i].serverBytesSent += stats.sent
                out[i].serverBytesReceived += stats.received
                if stats.answered > 0 {
                    let row = rows[Int(party.row)]
                    out[i].services.append(row.port.map { "\($0)/\(row.proto.name)" } ?? row.proto.name)
                }
                if stats.names != 0 {
                    let r = Int(party.row)
                    if rowNames[r] == nil {
                        let h = rows[r].health
                        rowNames[r] = Array(zip(h.namesBySlot, h.flowsBySlot))
                    }
                    let list = rowNames[r] ?? []
                    for slot in list.indices.prefix(32) where stats.names & (1 << UInt32(slot)) != 0 {
                        named[i].append(list[slot])
                    }
                }
            }
        }
        for i in out.indices where !named[i].isEmpty {
            var flows: [String: UInt64] = [:]
            for n in named[i] { flows[n.name, default: 0] += n.flows }
            out[i].names = flows.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .prefix(Self.hostNames).map(\.key)
        }
        // (Port/protocol text is ASCII: its UTF-8 length is its length, without
        // String.count's walk over grapheme clusters.)
        for i in out.indices { out[i].services.sort { a, b in a.utf8.count != b.utf8.count ? a.utf8.count < b.utf8.count : a < b } }
        out.sort { a, b in
            switch sort {
            case .bytes: if a.bytes != b.bytes { return a.bytes > b.bytes }
            case .packets: if a.packets != b.packets { return a.packets > b.packets }
            case .flows: if a.flows != b.flows { return a.flows > b.flows }
            case .clients: if a.serverFlows != b.serverFlows { return a.serverFlows > b.serverFlows }
            }
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            return a.address < b.address
        }
        return out
    }

    /// The ports that never answered, with the attempts port scans made
    /// taken out (their findings count them), most attempts first.
    public static func failedPorts(_ rows: [ServiceRow], scanProbes: [ScanProbes]) -> [FailedPort] {
        let probes = probeTotals(scanProbes)
        var out: [FailedPort] = []
        for r in rows where r.kind == .failed {
            guard let port = r.port else { continue }
            let p = probes[Int(r.proto.rawValue) << 16 | Int(port)] ?? (0, 0, 0)
            let attempts = r.flows - min(r.flows, p.flows)
            guard attempts > 0 else { continue }
            out.append(FailedPort(service: r.service, portName: r.portName, proto: r.proto, port: port,
                                  attempts: attempts, unanswered: r.unanswered - min(r.unanswered, p.unanswered),
                                  rejected: r.rejected - min(r.rejected, p.rejected)))
        }
        out.sort { a, b in
            if a.attempts != b.attempts { return a.attempts > b.attempts }
            if a.proto.rawValue != b.proto.rawValue { return a.proto.rawValue < b.proto.rawValue }
            return a.port < b.port
        }
        return out
    }
}

extension ServiceTally {
    /// Probes per (protocol << 16 | port), summed over findings.
    static func probeTotals(_ scanProbes: [ScanProbes]) -> [Int: (flows: UInt64, unanswered: UInt64, rejected: UInt64)] {
        var probes: [Int: (flows: UInt64, unanswered: UInt64, rejected: UInt64)] = [:]
        for p in scanProbes {
            let k = Int(p.proto.rawValue) << 16 | Int(p.port)
            var e = probes[k] ?? (0, 0, 0)
            e.flows += p.flows; e.unanswered += p.unanswered; e.rejected += p.rejected
            probes[k] = e
        }
        return probes
    }

    /// The services: rows that answered, portless protocols, and one-way
    /// ports with traffic besides the probes of scans and knocks (a UDP
    /// scan's probe of 514 is no syslog).
    public static func services(_ rows: [ServiceRow], scanProbes: [ScanProbes]) -> [ServiceRow] {
        let probes = probeTotals(scanProbes)
        return rows.filter { r in
            switch r.kind {
            case .service: return true
            case .failed: return false
            case .oneWay:
                guard let port = r.port else { return true }
                return r.flows > (probes[Int(r.proto.rawValue) << 16 | Int(port)]?.flows ?? 0)
            }
        }
    }
}

/// The probes one port scan sent to one port: what the failed list leaves
/// out because the scan's finding counts it.
public struct ScanProbes: Sendable {
    public var proto: IPProtocol
    public var port: UInt16
    public var flows: UInt64
    public var unanswered: UInt64
    public var rejected: UInt64
}
