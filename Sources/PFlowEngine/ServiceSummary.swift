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
    /// Flows per `AppProtocol`, what `app` is chosen from: kept in the row,
    /// so a flow's count is written with the row's others.
    var appFlows = AppFlows()

    public var kind: ServiceKind {
        if port == nil || answered > 0 { return .service }
        return oneWayFlows > 0 ? .oneWay : .failed
    }
}

/// Flows per `AppProtocol.rawValue` (16 counters): in place, with no array
/// of their own to check for sharing on every write.
struct AppFlows: Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

    subscript(_ app: Int) -> UInt32 {
        withUnsafeBytes(of: words) { $0.load(fromByteOffset: 4 * (app & 15), as: UInt32.self) }
    }

    @inline(__always)
    mutating func count(_ app: AppProtocol) {
        let at = 4 * Int(app.rawValue & 15)
        withUnsafeMutableBytes(of: &words) { w in
            w.storeBytes(of: w.load(fromByteOffset: at, as: UInt32.self) &+ 1, toByteOffset: at, as: UInt32.self)
        }
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
    /// One address on one side of one row, and its flows there: the key and
    /// the counts in one entry, so a flow's visit reads and writes one place
    /// (a key array and a value array beside it cost a cache miss each).
    struct Party: Sendable {
        var address: IPAddress
        /// row << 1 | side (0 client, 1 server), and `answeredBit`.
        var column: UInt32
        /// Server side: which of the row's first 32 names (`ServiceHealth`
        /// slots) its flows carried.
        var names: UInt32 = 0
        var flows: UInt64 = 0
        /// Bytes it sent and received in those flows.
        var sent: UInt64 = 0
        var received: UInt64 = 0
        var packets: UInt64 = 0

        /// Set in `column` once the address answered a flow as the server
        /// (rows number at most 256 × 65,537, far below 2^30, so the bit is
        /// never the row's).
        static let answeredBit: UInt32 = 1 << 31
        var row: Int { Int((column & ~Self.answeredBit) >> 1) }
        var side: Int { Int(column & 1) }
        var answered: Bool { column & Self.answeredBit != 0 }
        var bytes: UInt64 { sent + received }
    }

    /// (protocol, server port) to row number, the key kept in the slot
    /// itself: one load per probe, no key array beside it.
    struct RowIndex: Sendable {
        /// key << 32 | row + 1; 0 is empty. Kept at most half full.
        var slots = [UInt64](repeating: 0, count: 64)
        var count = 0
        let seed = HashSeed.run

        /// The key of `f`'s row: protocol << 17, then the port, or 1 << 16
        /// for protocols without ports (25 bits).
        @inline(__always)
        static func key(_ f: FlowRecord) -> UInt64 {
            UInt64(f.proto.rawValue) << 17 | (f.hasServicePort ? UInt64(f.serverPort) : 1 << 16)
        }

        /// The row of `key`, or -1 and the empty slot it would take.
        @inline(__always)
        func find(_ key: UInt64) -> (row: Int, at: Int) {
            slots.withUnsafeBufferPointer { slots in
                let mask = slots.count - 1
                var at = Int(truncatingIfNeeded: seed.hash(key)) & mask
                while true {
                    let word = slots[at]
                    if word == 0 { return (-1, at) }
                    if word >> 32 == key { return (Int(truncatingIfNeeded: word & 0xFFFF_FFFF) - 1, at) }
                    at = (at + 1) & mask
                }
            }
        }

        /// Adds `key` as row `count` at `at` (from `find`).
        mutating func insert(_ key: UInt64, at: Int) {
            count += 1
            slots[at] = key << 32 | UInt64(count)
            guard count * 2 > slots.count else { return }
            var bigger = [UInt64](repeating: 0, count: slots.count * 2)
            let mask = bigger.count - 1
            for word in slots where word != 0 {
                var at = Int(truncatingIfNeeded: seed.hash(word >> 32)) & mask
                while bigger[at] != 0 { at = (at + 1) & mask }
                bigger[at] = word
            }
            slots = bigger
        }
    }

    /// The parties, in the order they came, found through an open-addressing
    /// table of (hash tag, entry index) words kept at most half full.
    struct PartyTable: Sendable {
        var slots = [UInt64](repeating: 0, count: 16)
        var entries: [Party] = []
        let seed = HashSeed.run

        @inline(__always)
        func hash(_ address: IPAddress, _ column: UInt32) -> UInt64 {
            seed.hash(address.high, address.low, UInt64(column))
        }

        /// The entry of (`address`, `column`) with `hash`, or -1.
        @inline(__always)
        func find(_ address: IPAddress, _ column: UInt32, hash: UInt64) -> Int {
            slots.withUnsafeBufferPointer { slots in
                entries.withUnsafeBufferPointer { entries in
                    let mask = slots.count - 1, tag = hash >> 32
                    var at = Int(truncatingIfNeeded: hash) & mask
                    while true {
                        let word = slots[at]
                        if word == 0 { return -1 }
                        if word >> 32 == tag {
                            let e = Int(truncatingIfNeeded: word & 0xFFFF_FFFF) - 1
                            if entries[e].address == address && entries[e].column & ~Party.answeredBit == column { return e }
                        }
                        at = (at + 1) & mask
                    }
                }
            }
        }

        /// Adds (`address`, `column`), which `find` did not find; its entry.
        mutating func insert(_ address: IPAddress, _ column: UInt32, hash: UInt64) -> Int {
            let e = entries.count
            entries.append(Party(address: address, column: column))
            var mask = slots.count - 1
            var at = Int(truncatingIfNeeded: hash) & mask
            while slots[at] != 0 { at = (at + 1) & mask }
            slots[at] = (hash >> 32) << 32 | UInt64(e + 1)
            guard entries.count * 2 > slots.count else { return e }
            var bigger = [UInt64](repeating: 0, count: slots.count * 2)
            mask = bigger.count - 1
            for (i, p) in entries.enumerated() {
                let h = self.hash(p.address, p.column & ~Party.answeredBit)
                var at = Int(truncatingIfNeeded: h) & mask
                while bigger[at] != 0 { at = (at + 1) & mask }
                bigger[at] = (h >> 32) << 32 | UInt64(i + 1)
            }
            slots = bigger
            return e
        }
    }

    private var rowIndex = RowIndex()
    private var rows: [ServiceRow] = []
    private var parties = PartyTable()
    /// Two per row (clients, servers), made when `parties` first fills.
    private var sketches: [DistinctSketch] = []
    /// Every flow's two addresses, once `parties` is full.
    private var hostSketch: DistinctSketch?
    /// Bytes every flow's client sent, summed: with the rows' bytes, every
    /// flow's ends as the hosts sum them (what `untrackedHosts` subtracts
    /// the kept ones from). The protocols' totals are the rows' too: each
    /// row is of one protocol.
    private var clientBytes: UInt64 = 0
    public private(set) var flows: UInt64 = 0
    /// Most (service, side, address) entries kept exactly (56 bytes each,
    /// 16 to 32 more for their share of the index).
    public var partyLimit = 1 << 21

    public init() {}

    /// Totals per protocol name (`tcp`, `udp`, `icmp`, …).
    public var byProto: [String: ProtocolTotals] {
        var protocols = [ProtocolTotals](repeating: ProtocolTotals(), count: 256)
        for r in rows {
            let p = Int(r.proto.rawValue)
            protocols[p].flows += r.flows
            protocols[p].packets += r.packets
            protocols[p].bytes += r.bytes
        }
        var out: [String: ProtocolTotals] = [:]
        for (number, t) in protocols.enumerated() where t.flows > 0 {
            out[IPProtocol(rawValue: UInt8(number)).name] = t
        }
        return out
    }

    /// Whether the server answered: a TCP SYN-ACK or payload (or, seen
    /// mid-stream, anything but a reset), a UDP or other datagram back.
    @inline(__always)
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
    @inline(__always)
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

    // Counters add with &+=: they sum what a capture holds (bytes on the
    // wire, at most a few per packet), which can't reach 2^64.
    public mutating func add(_ f: FlowRecord) {
        flows &+= 1
        let key = RowIndex.key(f)
        var (i, at) = rowIndex.find(key)
        if i < 0 { i = newRow(f, key: key, at: at) }
        let sent = f.clientToServer.bytes, received = f.serverToClient.bytes
        let packets = f.clientToServer.packets &+ f.serverToClient.packets, bytes = sent &+ received
        // Both addresses' probes before anything else, so that their cache
        // misses overlap.
        let clientColumn = UInt32(truncatingIfNeeded: i) << 1, serverColumn = clientColumn | 1
        let clientHash = parties.hash(f.clientAddress, clientColumn)
        let serverHash = parties.hash(f.serverAddress, serverColumn)
        var client = parties.find(f.clientAddress, clientColumn, hash: clientHash)
        var server = parties.find(f.serverAddress, serverColumn, hash: serverHash)

        let answered = Self.answered(f)
        let oneWay = !answered && (ServiceNames.isOneWayByDesign(port: f.serverPort, proto: f.proto)
                                   || ServiceNames.isGroupAddress(f.serverAddress))
        let failure = Self.failureKind(f)
        // One uniqueness check for the row's counters, not one per field.
        let nameSlot = rows.withUnsafeMutableBufferPointer { r in
            r[i].flows &+= 1
            r[i].packets &+= packets
            r[i].bytes &+= bytes
            if answered { r[i].answered &+= 1 }
            if oneWay { r[i].oneWayFlows &+= 1 }
            if failure == 1 { r[i].unanswered &+= 1 }
            if failure == 2 { r[i].rejected &+= 1 }
            if let app = f.appProtocol { r[i].appFlows.count(app) }
            return r[i].health.add(f)
        }
        clientBytes &+= sent

        if !sketches.isEmpty { addToSketches(f.clientAddress, row: i, side: 0) }
        if client < 0 { client = admit(f.clientAddress, clientColumn, hash: clientHash) }
        if !sketches.isEmpty { addToSketches(f.serverAddress, row: i, side: 1) }
        if server < 0 { server = admit(f.serverAddress, serverColumn, hash: serverHash) }
        let names: UInt32 = nameSlot >= 0 && nameSlot < 32 ? 1 << UInt32(nameSlot) : 0
        parties.entries.withUnsafeMutableBufferPointer { e in
            if client >= 0 {
                e[client].flows &+= 1
                e[client].sent &+= sent
                e[client].received &+= received
                e[client].packets &+= packets
            }
            if server >= 0 {
                e[server].flows &+= 1
                e[server].sent &+= received
                e[server].received &+= sent
                e[server].packets &+= packets
                e[server].names |= names
                if answered { e[server].column |= Party.answeredBit }
            }
        }
    }

    /// A row for `f`'s (protocol, port), the next one.
    private mutating func newRow(_ f: FlowRecord, key: UInt64, at: Int) -> Int {
        rowIndex.insert(key, at: at)
        rows.append(ServiceRow(service: "", portName: f.portName, proto: f.proto,
                               port: f.hasServicePort ? f.serverPort : nil))
        if !sketches.isEmpty { sketches.append(DistinctSketch()); sketches.append(DistinctSketch()) }
        return rows.count - 1
    }

    @inline(__always)
    private mutating func addToSketches(_ address: IPAddress, row: Int, side: Int) {
        let hash = address.fastHash(HashSeed.run)
        sketches[2 * row + side].add(hash: hash)
        hostSketch?.add(hash: hash)
    }

    /// An address new to its row and side: its entry, or -1 once `parties`
    /// is full (the row's counts are then estimates).
    private mutating func admit(_ address: IPAddress, _ column: UInt32, hash: UInt64) -> Int {
        let row = Int(column >> 1), side = Int(column & 1)
        if parties.entries.count < partyLimit {
            if side == 0 { rows[row].clients += 1 } else { rows[row].servers += 1 }
            return parties.insert(address, column, hash: hash)
        }
        if sketches.isEmpty {
            startSketches()
            addToSketches(address, row: row, side: side)
        }
        rows[row].approximate = true
        return -1
    }

    /// `parties` is full: from now on every row counts its addresses in
    /// sketches, seeded with every address kept so far.
    private mutating func startSketches() {
        sketches = [DistinctSketch](repeating: DistinctSketch(), count: 2 * rows.count)
        var hosts = DistinctSketch()
        for party in parties.entries {
            let hash = party.address.fastHash(HashSeed.run)
            sketches[2 * party.row + party.side].add(hash: hash)
            hosts.add(hash: hash)
        }
        hostSketch = hosts
    }

    /// Whether addresses were too many to keep each one.
    public var hostsApproximate: Bool { hostSketch != nil }

    /// Distinct hosts seen (an estimate once past the limit).
    public var distinctHosts: Int {
        var kept = FastSet<IPAddress>(capacity: parties.entries.count / 2)
        for p in parties.entries { _ = kept.insert(p.address) }
        return max(kept.count, hostSketch?.estimate ?? 0)
    }

    /// The flow ends of addresses not kept (past the limit), summed.
    public var untrackedHosts: HostRow {
        let serverBytes = rows.reduce(0) { $0 &+ $1.bytes } &- clientBytes
        var out = HostRow(address: IPAddress(high: 0, low: 0))
        out.clientFlows = flows
        out.clientBytesSent = clientBytes
        out.clientBytesReceived = serverBytes
        out.serverFlows = flows
        out.serverBytesSent = serverBytes
        out.serverBytesReceived = clientBytes
        for party in parties.entries {
            if party.side == 0 {
                out.clientFlows -= party.flows
                out.clientBytesSent -= party.sent
                out.clientBytesReceived -= party.received
            } else {
                out.serverFlows -= party.flows
                out.serverBytesSent -= party.sent
                out.serverBytesReceived -= party.received
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
        func before(_ a: AddressShare, _ b: AddressShare) -> Bool {
            if a.bytes != b.bytes { return a.bytes > b.bytes }
            if a.flows != b.flows { return a.flows > b.flows }
            return a.address < b.address
        }
        // The leading few of each row's clients (2 × row) and servers (2 ×
        // row + 1), by insertion into a short sorted list as the entries go
        // by: linear in a service's addresses, not n log n, and no list of
        // all of them.
        var tops = [[AddressShare]](repeating: [], count: 2 * rows.count)
        for party in parties.entries {
            let share = AddressShare(address: party.address, flows: party.flows, bytes: party.bytes)
            let k = 2 * party.row + party.side
            if tops[k].count == Self.topAddresses, let last = tops[k].last, !before(share, last) { continue }
            if tops[k].isEmpty { tops[k].reserveCapacity(Self.topAddresses + 1) }
            var at = tops[k].count
            while at > 0, before(share, tops[k][at - 1]) { at -= 1 }
            tops[k].insert(share, at: at)
            if tops[k].count > Self.topAddresses { tops[k].removeLast() }
        }
        for i in out.indices {
            out[i].topServers = tops[2 * i + 1]
            out[i].topClients = tops[2 * i]
            if !sketches.isEmpty {
                out[i].clients = max(out[i].clients, sketches[2 * i].estimate)
                out[i].servers = max(out[i].servers, sketches[2 * i + 1].estimate)
            }
            // The name: the protocol most of its recognised flows showed.
            var best = 0, bestFlows: UInt32 = 0
            for app in 0..<16 where out[i].appFlows[app] > bestFlows { best = app; bestFlows = out[i].appFlows[app] }
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
        var rowServices = [String?](repeating: nil, count: rows.count)
        var position = FastMap<IPAddress, Void>(capacity: parties.entries.count / 2)
        for party in parties.entries {
            let (i, inserted) = position.insert(party.address) { () }
            if inserted { out.append(HostRow(address: party.address)); named.append([]) }
            out[i].packets += party.packets
            if party.side == 0 {
                out[i].clientFlows += party.flows
                out[i].clientBytesSent += party.sent
                out[i].clientBytesReceived += party.received
            } else {
                out[i].serverFlows += party.flows
                out[i].serverBytesSent += party.sent
                out[i].serverBytesReceived += party.received
                if party.answered {
                    // The row's text once, not per server (nor a copy of the row).
                    let r = party.row
                    if rowServices[r] == nil {
                        rowServices[r] = rows[r].port.map { "\($0)/\(rows[r].proto.name)" } ?? rows[r].proto.name
                    }
                    out[i].services.append(rowServices[r] ?? "")
                }
                if party.names != 0 {
                    let r = party.row
                    if rowNames[r] == nil {
                        let h = rows[r].health
                        rowNames[r] = Array(zip(h.namesBySlot, h.flowsBySlot))
                    }
                    let list = rowNames[r] ?? []
                    for slot in list.indices.prefix(32) where party.names & (1 << UInt32(slot)) != 0 {
                        named[i].append(list[slot])
                    }
                }
            }
        }
        for i in out.indices where !named[i].isEmpty {
            var flows = [String: UInt64](minimumCapacity: named[i].count)
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
