import PFlowCore
import XCTest
@testable import PFlowEngine
@testable import PFlowFlows

/// The tally keeps its rows and addresses in tables of its own (an entry
/// holding an address's key and counts together, a row index holding the
/// key in its slot, protocol and host totals summed from the rows at the
/// end): checked against the tally as it was before, with maps and arrays
/// kept apart, on many generated flows, with and without party limits
/// small enough for the sketches to take over.
final class ServiceTallyDifferentialTests: XCTestCase {
    static let names = (0..<90).map { "host\($0).example" }

    func flow(_ g: inout SplitMix, hosts: Int) -> FlowRecord {
        let protos: [IPProtocol] = [.tcp, .tcp, .tcp, .udp, .udp, .icmp, IPProtocol(rawValue: 47), IPProtocol(rawValue: 58)]
        let proto = protos[g.below(protos.count)]
        let ports: [UInt16] = [443, 80, 53, 22, 514, 161, 123, 5353, 8080, 6881]
        let port = g.chance(80) ? ports[g.below(ports.count)] : UInt16(1024 + g.below(4000))
        func address() -> IPAddress {
            let n = UInt32(g.below(hosts))
            if g.chance(10) { return IPAddress(high: 0x2001_0DB8_0000_0000, low: UInt64(n)) }
            if g.chance(2) { return IPAddress(ipv4: 0xE000_0000 | n) }
            return IPAddress(ipv4: 0x0A00_0000 | n)
        }
        let c = address(), s = address()
        let key = FlowKey(addressA: c, addressB: s, portA: UInt16(40000 + g.below(20000)), portB: port,
                          proto: proto, vlan: FlowKey.noVLAN)
        var f = FlowRecord(FlowState(key: key, ipVersion: 4, timestampNs: 1_767_225_600_000_000_000, direction: 0),
                           endReason: .fin, registry: .standard, knowledge: TrafficKnowledge())
        f.proto = proto
        f.clientAddress = c; f.clientPort = key.portA
        f.serverAddress = s; f.serverPort = port
        f.portName = g.chance(50) ? "p\(port)" : nil
        f.roleSource = RoleSource.allCases[g.below(RoleSource.allCases.count)]
        f.connState = ConnState.allCases[g.below(ConnState.allCases.count)]
        f.clientToServer.packets = UInt64(1 + g.below(20))
        f.clientToServer.bytes = UInt64(60 + g.below(50_000))
        f.clientToServer.payloadBytes = UInt64(g.below(2) * g.below(1000))
        f.clientToServer.tcpFlags = TCPFlags(rawValue: UInt8(truncatingIfNeeded: g.next()))
        if g.chance(75) {
            f.serverToClient.packets = UInt64(1 + g.below(20))
            f.serverToClient.bytes = UInt64(60 + g.below(90_000))
            f.serverToClient.payloadBytes = UInt64(g.below(2) * g.below(1000))
            f.serverToClient.tcpFlags = TCPFlags(rawValue: UInt8(truncatingIfNeeded: g.next()))
        }
        f.icmpErrors = UInt32(g.below(3) == 0 ? 1 : 0)
        f.appProtocol = g.chance(60) ? AppProtocol(rawValue: UInt8(1 + g.below(12))) : nil
        if g.chance(60) {
            let name = Self.names[g.below(Self.names.count)]
            f.serverName = name
            f.serverNameHash = name.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
        }
        f.serverLatencyNs = g.chance(70) ? Int64(g.below(3_000_000_000)) - 1000 : nil
        f.appLatencyNs = g.chance(50) ? Int64(g.below(40_000_000)) : nil
        f.clientRetransmissions = g.chance(50) ? UInt64(g.below(5)) : nil
        f.serverRetransmissions = g.chance(50) ? UInt64(g.below(5)) : nil
        return f
    }

    func assertSame(_ a: [ServiceRow], _ b: [ServiceRow], _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.service, y.service, what); XCTAssertEqual(x.portName, y.portName, what)
            XCTAssertEqual(x.app, y.app, what); XCTAssertEqual(x.proto, y.proto, what); XCTAssertEqual(x.port, y.port, what)
            XCTAssertEqual([x.flows, x.packets, x.bytes, x.unanswered, x.rejected, x.answered, x.oneWayFlows],
                           [y.flows, y.packets, y.bytes, y.unanswered, y.rejected, y.answered, y.oneWayFlows], what)
            XCTAssertEqual(x.clients, y.clients, what); XCTAssertEqual(x.servers, y.servers, what)
            XCTAssertEqual(x.topServers, y.topServers, what); XCTAssertEqual(x.topClients, y.topClients, what)
            XCTAssertEqual(x.approximate, y.approximate, what); XCTAssertEqual(x.kind, y.kind, what)
            XCTAssertEqual(x.health.serverLatency.counts, y.health.serverLatency.counts, what)
            XCTAssertEqual(x.health.appLatency.counts, y.health.appLatency.counts, what)
            XCTAssertEqual(x.health.serverLatency.samples, y.health.serverLatency.samples, what)
            XCTAssertEqual(x.health.appLatency.samples, y.health.appLatency.samples, what)
            XCTAssertEqual(x.health.retransmissions, y.health.retransmissions, what)
            XCTAssertEqual(x.health.tcpPackets, y.health.tcpPackets, what)
            XCTAssertEqual(x.health.namesBySlot, y.health.namesBySlot, what)
            XCTAssertEqual(x.health.flowsBySlot, y.health.flowsBySlot, what)
        }
    }

    func assertSame(_ a: [HostRow], _ b: [HostRow], _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.address, y.address, what)
            XCTAssertEqual([x.clientFlows, x.clientBytesSent, x.clientBytesReceived, x.serverFlows,
                            x.serverBytesSent, x.serverBytesReceived, x.packets],
                           [y.clientFlows, y.clientBytesSent, y.clientBytesReceived, y.serverFlows,
                            y.serverBytesSent, y.serverBytesReceived, y.packets], what)
            XCTAssertEqual(x.services, y.services, what)
            XCTAssertEqual(x.names, y.names, what)
        }
    }

    func testTallyMatchesTheStraightforwardOne() {
        var g = SplitMix(seed: 7)
        for (round, (limit, hosts, count)) in [(1 << 21, 40, 3000), (1 << 21, 3000, 6000), (64, 200, 4000),
                                                (500, 2000, 6000), (8, 30, 2000), (1, 5, 500), (0, 5, 300),
                                                (3000, 5000, 9000)].enumerated() {
            var fast = ServiceTally(), plain = ReferenceTally()
            fast.partyLimit = limit; plain.partyLimit = limit
            for _ in 0..<count {
                let f = flow(&g, hosts: hosts)
                fast.add(f); plain.add(f)
            }
            let what = "round \(round), limit \(limit)"
            XCTAssertEqual(fast.flows, plain.flows, what)
            assertSame(fast.namedRows(), plain.namedRows(), what)
            for sort in ServiceSort.allCases {
                assertSame(fast.sortedRows(by: sort), ServiceTally.sorted(plain.namedRows(), by: sort), what + " \(sort)")
                assertSame(fast.hostRows(by: sort), plain.hostRows(by: sort), what + " \(sort)")
            }
            let (fastProto, plainProto) = (fast.byProto, plain.byProto)
            XCTAssertEqual(fastProto.keys.sorted(), plainProto.keys.sorted(), what)
            for (k, v) in plainProto {
                XCTAssertEqual([fastProto[k]?.flows, fastProto[k]?.packets, fastProto[k]?.bytes], [v.flows, v.packets, v.bytes], what)
            }
            assertSame([fast.untrackedHosts], [plain.untrackedHosts], what)
            XCTAssertEqual(fast.hostsApproximate, plain.hostsApproximate, what)
            XCTAssertEqual(fast.distinctHosts, plain.distinctHosts, what)
            if limit < 100 { XCTAssertTrue(fast.hostsApproximate, what) }
        }
    }
}

/// The tally before its tables were its own (`ServiceTally` at d6dffdd,
/// its per-flow work as it was), to check the new one against.
struct ReferenceTally {
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
    private(set) var flows: UInt64 = 0
    /// Most (service, side, address) entries kept exactly (about 90 bytes
    /// each with their share of the index).
    var partyLimit = 1 << 21

    init() {}

    /// Totals per protocol name (`tcp`, `udp`, `icmp`, …).
    var byProto: [String: ProtocolTotals] {
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

    mutating func add(_ f: FlowRecord) {
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
    var hostsApproximate: Bool { hostSketch != nil }

    /// Distinct hosts seen (an estimate once past the limit).
    var distinctHosts: Int {
        var kept = FastSet<IPAddress>(capacity: parties.count / 2)
        for p in parties.keys { _ = kept.insert(p.address) }
        return max(kept.count, hostSketch?.estimate ?? 0)
    }

    /// The flow ends of addresses not kept (past the limit), summed.
    var untrackedHosts: HostRow {
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
    static let topAddresses = 10

    /// Every row with its name, kind and top addresses, in `sort` order.
    func sortedRows(by sort: ServiceSort = .bytes) -> [ServiceRow] {
        Self.sorted(namedRows(), by: sort)
    }

    /// Every row with its name, kind and top addresses, in the order rows were made.
    func namedRows() -> [ServiceRow] {
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
    static func sorted(_ rows: [ServiceRow], by sort: ServiceSort) -> [ServiceRow] {
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
    static let hostNames = 5

    /// Every host kept, with the services it answered on and its names, in
    /// `sort` order (`clients`: the most flows served first). A host's names
    /// are those of its services' first 32 names its flows carried as the
    /// server, ranked by the service's flows under each name (summed over
    /// its services): per (host, name) counts are not kept, so where servers
    /// share a name the order among one host's names follows the service's.
    func hostRows(by sort: ServiceSort = .bytes) -> [HostRow] {
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
}
