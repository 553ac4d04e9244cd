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
    /// Flows per `AppProtocol.rawValue`.
    var appFlows = [UInt32](repeating: 0, count: 16)

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
/// Exact up to `partyLimit` (service, side, address) entries and
/// `hostLimit` hosts; past them, distinct counts come from sketches and
/// the lists hold the addresses kept (the report says so).
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
    struct PartyStats: Sendable {
        var flows: UInt64 = 0
        var bytes: UInt64 = 0
        var answered: UInt32 = 0
    }
    struct HostStats: Sendable {
        var clientFlows: UInt64 = 0, clientSent: UInt64 = 0, clientReceived: UInt64 = 0
        var serverFlows: UInt64 = 0, serverSent: UInt64 = 0, serverReceived: UInt64 = 0
        var packets: UInt64 = 0
    }
    /// Entry i is row i.
    private var rowIndex = FastMap<Key, Void>()
    private var rows: [ServiceRow] = []
    private var parties = FastMap<Party, PartyStats>()
    /// Two per row (clients, servers), made when `parties` first fills.
    private var sketches: [DistinctSketch] = []
    private var hosts = FastMap<IPAddress, HostStats>()
    private var hostSketch: DistinctSketch?
    /// Hosts past `hostLimit`: their traffic, summed.
    public private(set) var untrackedHosts = HostRow(address: IPAddress(high: 0, low: 0))
    private var protocols = [ProtocolTotals](repeating: ProtocolTotals(), count: 256)
    public private(set) var flows: UInt64 = 0
    /// Most (service, side, address) entries kept exactly (about 60 bytes each).
    public var partyLimit = 1 << 21
    /// Most hosts kept exactly (about 100 bytes each).
    public var hostLimit = 1 << 20

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
            if !sketches.isEmpty { sketches.append(DistinctSketch()); sketches.append(DistinctSketch()) }
        }
        let answered = Self.answered(f)
        rows[i].flows += 1
        rows[i].packets += f.packets
        rows[i].bytes += f.bytes
        if answered {
            rows[i].answered += 1
        } else if ServiceNames.isOneWayByDesign(port: f.serverPort, proto: f.proto) || ServiceNames.isGroupAddress(f.serverAddress) {
            rows[i].oneWayFlows += 1
        }
        switch Self.failureKind(f) {
        case 1: rows[i].unanswered += 1
        case 2: rows[i].rejected += 1
        default: break
        }
        if let app = f.appProtocol { rows[i].appFlows[Int(app.rawValue) & 15] &+= 1 }
        addParty(Party(address: f.clientAddress, row: UInt32(i), side: 0), f, answered: false)
        addParty(Party(address: f.serverAddress, row: UInt32(i), side: 1), f, answered: answered)
        addHost(f)
        let p = Int(f.proto.rawValue)
        protocols[p].flows += 1
        protocols[p].packets += f.packets
        protocols[p].bytes += f.bytes
    }

    private mutating func addParty(_ party: Party, _ f: FlowRecord, answered: Bool) {
        let row = Int(party.row), side = Int(party.side)
        if !sketches.isEmpty {
            sketches[2 * row + side].add(hash: party.address.fastHash(HashSeed.run))
        }
        let i: Int
        if let known = parties.index(of: party) {
            i = known
        } else if parties.count < partyLimit {
            i = parties.insert(party) { PartyStats() }.index
            if side == 0 { rows[row].clients += 1 } else { rows[row].servers += 1 }
        } else {
            if sketches.isEmpty { startSketches() ; sketches[2 * row + side].add(hash: party.address.fastHash(HashSeed.run)) }
            rows[row].approximate = true
            return
        }
        parties[entry: i].flows += 1
        parties[entry: i].bytes += f.bytes
        if answered { parties[entry: i].answered &+= 1 }
    }

    /// `parties` is full: from now on every row counts its addresses in
    /// sketches, seeded with every address kept so far.
    private mutating func startSketches() {
        sketches = [DistinctSketch](repeating: DistinctSketch(), count: 2 * rows.count)
        for party in parties.keys {
            sketches[2 * Int(party.row) + Int(party.side)].add(hash: party.address.fastHash(HashSeed.run))
        }
    }

    private mutating func addHost(_ f: FlowRecord) {
        if hostSketch != nil {
            hostSketch?.add(hash: f.clientAddress.fastHash(HashSeed.run))
            hostSketch?.add(hash: f.serverAddress.fastHash(HashSeed.run))
        }
        let c = f.clientToServer, s = f.serverToClient
        if let i = host(f.clientAddress) {
            hosts[entry: i].clientFlows += 1
            hosts[entry: i].clientSent += c.bytes
            hosts[entry: i].clientReceived += s.bytes
            hosts[entry: i].packets += f.packets
        } else {
            untrackedHosts.clientFlows += 1
            untrackedHosts.clientBytesSent += c.bytes
            untrackedHosts.clientBytesReceived += s.bytes
            untrackedHosts.packets += f.packets
        }
        guard f.serverAddress != f.clientAddress else {
            // One host talking to itself (loopback) is both ends of the flow.
            if let i = hosts.index(of: f.serverAddress) {
                hosts[entry: i].serverFlows += 1
                hosts[entry: i].serverSent += s.bytes
                hosts[entry: i].serverReceived += c.bytes
            }
            return
        }
        if let i = host(f.serverAddress) {
            hosts[entry: i].serverFlows += 1
            hosts[entry: i].serverSent += s.bytes
            hosts[entry: i].serverReceived += c.bytes
            hosts[entry: i].packets += f.packets
        } else {
            untrackedHosts.serverFlows += 1
            untrackedHosts.serverBytesSent += s.bytes
            untrackedHosts.serverBytesReceived += c.bytes
            untrackedHosts.packets += f.packets
        }
    }

    /// The entry of `address`, made while there is room.
    private mutating func host(_ address: IPAddress) -> Int? {
        if let i = hosts.index(of: address) { return i }
        guard hosts.count < hostLimit else {
            if hostSketch == nil {
                var sketch = DistinctSketch()
                for a in hosts.keys { sketch.add(hash: a.fastHash(HashSeed.run)) }
                sketch.add(hash: address.fastHash(HashSeed.run))
                hostSketch = sketch
            }
            return nil
        }
        return hosts.insert(address) { HostStats() }.index
    }

    /// Distinct hosts seen (an estimate once past `hostLimit`).
    public var distinctHosts: Int { hostSketch.map { max($0.estimate, hosts.count) } ?? hosts.count }
    /// Whether hosts were too many to keep each one.
    public var hostsApproximate: Bool { hostSketch != nil }

    /// How many addresses each top list holds.
    public static let topAddresses = 10

    /// Every row with its name, kind and top addresses, in `sort` order.
    public func sortedRows(by sort: ServiceSort = .bytes) -> [ServiceRow] {
        var out = rows
        var servers = [[AddressShare]](repeating: [], count: rows.count)
        var clients = [[AddressShare]](repeating: [], count: rows.count)
        for (party, stats) in zip(parties.keys, parties.values) {
            let share = AddressShare(address: party.address, flows: stats.flows, bytes: stats.bytes)
            if party.side == 0 { clients[Int(party.row)].append(share) } else { servers[Int(party.row)].append(share) }
        }
        func top(_ list: [AddressShare]) -> [AddressShare] {
            Array(list.sorted { a, b in
                if a.bytes != b.bytes { return a.bytes > b.bytes }
                if a.flows != b.flows { return a.flows > b.flows }
                return a.address < b.address
            }.prefix(Self.topAddresses))
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
            for (app, n) in out[i].appFlows.enumerated() where n > bestFlows { best = app; bestFlows = n }
            let app = bestFlows > 0 ? AppProtocol(rawValue: UInt8(best)) : nil
            out[i].app = app?.name
            out[i].service = ServiceNames.name(app: app, port: out[i].port ?? 0, proto: out[i].proto,
                                               portName: out[i].portName) ?? ""
        }
        out.sort { a, b in
            switch sort {
            case .bytes: if a.bytes != b.bytes { return a.bytes > b.bytes }
            case .packets: if a.packets != b.packets { return a.packets > b.packets }
            case .flows: if a.flows != b.flows { return a.flows > b.flows }
            case .clients: if a.clients != b.clients { return a.clients > b.clients }
            }
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            if a.flows != b.flows { return a.flows > b.flows }
            if a.proto.rawValue != b.proto.rawValue { return a.proto.rawValue < b.proto.rawValue }
            return (a.port.map { Int($0) } ?? -1) < (b.port.map { Int($0) } ?? -1)
        }
        return out
    }

    /// Every host kept, with the services it answered on, in `sort` order
    /// (`clients`: the most flows served first).
    public func hostRows(by sort: ServiceSort = .bytes) -> [HostRow] {
        var out: [HostRow] = []
        out.reserveCapacity(hosts.count)
        for (address, s) in zip(hosts.keys, hosts.values) {
            out.append(HostRow(address: address, clientFlows: s.clientFlows, clientBytesSent: s.clientSent,
                               clientBytesReceived: s.clientReceived, serverFlows: s.serverFlows,
                               serverBytesSent: s.serverSent, serverBytesReceived: s.serverReceived, packets: s.packets))
        }
        var position = FastMap<IPAddress, Void>(capacity: out.count)
        for h in out { _ = position.insert(h.address) { () } }
        for (party, stats) in zip(parties.keys, parties.values) where party.side == 1 && stats.answered > 0 {
            guard let i = position.index(of: party.address) else { continue }
            let row = rows[Int(party.row)]
            out[i].services.append(row.port.map { "\($0)/\(row.proto.name)" } ?? row.proto.name)
        }
        for i in out.indices { out[i].services.sort { a, b in a.count != b.count ? a.count < b.count : a < b } }
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
