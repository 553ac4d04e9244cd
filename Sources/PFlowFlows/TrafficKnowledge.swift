import PFlowCore
import PFlowWire

/// One socket: protocol, address, port.
public struct Endpoint: Hashable, Sendable {
    public var proto: IPProtocol
    public var address: IPAddress
    public var port: UInt16

    public init(proto: IPProtocol, address: IPAddress, port: UInt16) {
        self.proto = proto
        self.address = address
        self.port = port
    }
}

/// How a host allocates its ephemeral ports, learned from the connections it
/// opened (those whose client is known from a SYN).
public struct EphemeralRange: Sendable {
    public var connections = 0
    public var lowest: UInt16 = .max
    public var highest: UInt16 = 0
    /// Successive source ports (in packet order) that went up by 1 to 16.
    var sequentialSteps = 0
    var lastPort: UInt16 = 0
    /// Distinct ports only Linux's default range holds (32768-49151), and
    /// only the IANA range of Windows and macOS holds (61000-65535), up to
    /// 3 each: a raw scanner's one fixed port counts once, however many
    /// probes it sends.
    var linuxOnlyPorts = FewPorts()
    var ianaOnlyPorts = FewPorts()
    public var linuxOnly: Int { Int(linuxOnlyPorts.count) }
    public var ianaOnly: Int { Int(ianaOnlyPorts.count) }
    /// Even source ports: Linux's connect() takes even ones (leaving odd
    /// ones to bind()), stepping by 2 per destination.
    public private(set) var evenPorts = 0
    /// Connections from a port other than the previous one's: what the
    /// even share is judged over (a raw scanner's one port counts once).
    public private(set) var portChanges = 0

    /// Up to three distinct ports, inline.
    struct FewPorts: Sendable {
        var ports: (UInt16, UInt16, UInt16) = (0, 0, 0)
        var count: UInt8 = 0
        mutating func add(_ p: UInt16) {
            switch count {
            case 0: ports.0 = p; count = 1
            case 1: if p != ports.0 { ports.1 = p; count = 2 }
            case 2: if p != ports.0 && p != ports.1 { ports.2 = p; count = 3 }
            default: break
            }
        }
    }

    public enum Pattern: String, Sendable {
        case sequential, random, unknown
        /// Mostly even ports (Linux's connect(); per destination they step by 2).
        case evenSteps = "even-steps"
    }
    /// `linux` (32768-60999), `windows/iana` (49152-65535, some above
    /// 60999), `linux or windows/iana` (all in 49152-60999, which both
    /// ranges hold, without Linux's even ports to tell), or `other`.
    public enum Family: String, Sendable {
        case linux
        case windowsIANA = "windows/iana"
        case linuxOrIANA = "linux or windows/iana"
        case other
    }

    /// At least 80% even ports over 4 or more connections: a random or
    /// sequential allocator gives half (all 4 even by chance: 1 in 16).
    public var mostlyEven: Bool { portChanges >= 4 && evenPorts * 5 >= portChanges * 4 }

    mutating func add(_ port: UInt16) {
        if connections > 0 {
            let step = Int(port) - Int(lastPort)
            if step >= 1 && step <= 16 { sequentialSteps += 1 }
        }
        if connections == 0 || port != lastPort {
            portChanges += 1
            if port & 1 == 0 { evenPorts += 1 }
        }
        connections += 1
        if EphemeralPorts.linuxOnly.contains(port) { linuxOnlyPorts.add(port) }
        if EphemeralPorts.ianaOnly.contains(port) { ianaOnlyPorts.add(port) }
        lowest = min(lowest, port)
        highest = max(highest, port)
        lastPort = port
    }

    /// Two allocators no one system has: several ports only Linux would pick
    /// and several only Windows/macOS would: likely hosts behind a NAT.
    public var looksLikeTwoAllocators: Bool { linuxOnly >= 3 && ianaOnly >= 3 }

    /// Enough connections to tell a pattern from chance.
    public var isLearned: Bool { connections >= 4 }

    /// Sequential allocators (Windows) leave their ports packed close
    /// together even when connections start out of order; random ones
    /// (Linux, macOS) spread them over thousands of ports.
    public var pattern: Pattern {
        guard connections >= 3 else { return .unknown }
        if mostlyEven { return .evenSteps }
        let span = Int(highest) - Int(lowest) + 1
        if span <= 8 * connections { return .sequential }
        return sequentialSteps * 10 >= (connections - 1) * 7 ? .sequential : .random
    }

    public var family: Family {
        // Ports in 49152-60999 fit both ranges: only a port above 60999
        // (Windows/macOS) or Linux's even ports tell them apart.
        if lowest >= EphemeralPorts.iana.lowerBound {
            if highest > EphemeralPorts.linux.upperBound { return .windowsIANA }
            return mostlyEven ? .linux : .linuxOrIANA
        }
        if EphemeralPorts.linux.contains(lowest) && EphemeralPorts.linux.contains(highest) { return .linux }
        return .other
    }

    /// Whether `port` looks like one this host would pick as a client.
    public func covers(_ port: UInt16) -> Bool {
        guard isLearned else { return false }
        switch family {
        case .linux: return EphemeralPorts.linux.contains(port)
        case .windowsIANA: return EphemeralPorts.iana.contains(port)
        // Either system's: a port either would pick.
        case .linuxOrIANA: return port >= EphemeralPorts.lowest
        case .other:
            // The observed span, widened a little: the next allocations fall near it.
            let margin = max(64, (Int(highest) - Int(lowest)) / 4)
            return Int(port) >= Int(lowest) - margin && Int(port) <= Int(highest) + margin
        }
    }
}

/// What the traffic itself teaches about sockets and hosts: listeners
/// (sockets that answered a handshake, or that many peers talk to) and each
/// client host's ephemeral range. Fed as flows start and end; asked when a
/// flow is reported, with all that is known by then.
public final class TrafficKnowledge {
    // Used by one thread at a time (the pipeline hands the knowledge over
    // with acquire/release; at capture end two threads work on different
    // tables) and never re-entered: no dynamic exclusivity checks, which
    // cost more than a lookup.
    /// Sockets that sent a SYN-ACK.
    @exclusivity(unchecked) private var answered = FastSet<Endpoint>()
    /// Distinct peer addresses per socket, counted up to `manyPeers`.
    @exclusivity(unchecked) private var peers = FastMap<Endpoint, PeerSample>()
    @exclusivity(unchecked) private var ranges = FastMap<IPAddress, EphemeralRange>()
    /// Distinct peers that make a socket a listener.
    public static let manyPeers = 3
    /// The most sockets and hosts each table keeps: past it, new ones are
    /// not learned about (those known go on learning), so a flood of
    /// addresses can't grow the knowledge without bound.
    public let limit: Int
    /// Sockets or hosts left unlearned because a table was full.
    public private(set) var unlearned = 0
    /// The same for answered handshakes (counted apart: `learnAnswered`
    /// and `learnPeers` may run on two threads at once).
    public private(set) var unlearnedAnswered = 0

    /// Every host that opened a connection, with its ephemeral range, in the
    /// order they were first seen.
    public var clientRanges: [(address: IPAddress, range: EphemeralRange)] {
        zip(ranges.keys, ranges.values).map { (address: $0.0, range: $0.1) }
    }

    /// Up to three distinct peers, inline (no allocation per socket). Peers
    /// are told apart by 32 bits of their address hash: two peers would have
    /// to collide on those bits to count as one.
    struct PeerSample {
        var first: UInt32 = 0, second: UInt32 = 0
        var count: UInt8 = 0
        @inline(__always)
        mutating func add(_ a: IPAddress) {
            let h = UInt32(truncatingIfNeeded: a.fastHash(HashSeed.run))
            switch count {
            case 0: first = h; count = 1
            case 1: if h != first { second = h; count = 2 }
            case 2: if h != first && h != second { count = 3 }
            default: break
            }
        }
    }

    public init(limit: Int = 1 << 20) { self.limit = limit }

    /// A SYN without ACK from `client`:`port` (packet order matters for the pattern).
    public func sawConnectionAttempt(from client: IPAddress, port: UInt16) {
        if ranges.count >= limit, ranges.index(of: client) == nil { unlearned &+= 1; return }
        let i = ranges.insert(client) { EphemeralRange() }.index
        ranges[entry: i].add(port)
    }

    /// Learns from a flow that ended (or is about to be reported).
    public func learn(from s: FlowState) {
        learnAnswered(from: s)
        learnPeers(from: s)
    }

    /// The part of `learn` about handshakes answered. It and `learnPeers`
    /// touch different tables, so two threads may run them at once (each
    /// over the same flows in the same order).
    public func learnAnswered(from s: FlowState) {
        let k = s.key
        guard s.synAckDirection >= 0 else { return }
        let e = s.synAckDirection == 0 ? Endpoint(proto: k.proto, address: k.addressA, port: k.portA)
            : Endpoint(proto: k.proto, address: k.addressB, port: k.portB)
        if answered.count >= limit, !answered.contains(e) { unlearnedAnswered &+= 1; return }
        answered.insert(e)
    }

    /// The part of `learn` about the peers of each socket.
    public func learnPeers(from s: FlowState) {
        let k = s.key
        guard k.proto.hasPorts else { return }
        let a = Endpoint(proto: k.proto, address: k.addressA, port: k.portA)
        let b = Endpoint(proto: k.proto, address: k.addressB, port: k.portB)
        // When the handshake named the server, only its socket gathers peers
        // (the client's ephemeral socket would never become a listener).
        if s.synDirection >= 0 {
            let server = s.synDirection == 0 ? b : a
            addPeer(s.synDirection == 0 ? k.addressA : k.addressB, to: server)
            return
        }
        addPeer(k.addressB, to: a)
        addPeer(k.addressA, to: b)
    }

    @inline(__always)
    private func addPeer(_ peer: IPAddress, to socket: Endpoint) {
        if peers.count >= limit, peers.index(of: socket) == nil { unlearned &+= 1; return }
        let i = peers.insert(socket) { PeerSample() }.index
        peers[entry: i].add(peer)
    }

    /// How strongly the traffic says `e` is a service: 2 = it answered a
    /// handshake, 1 = many distinct peers talk to it, 0 = nothing known.
    public func listenerScore(_ e: Endpoint) -> Int {
        if answered.contains(e) { return 2 }
        if let i = peers.index(of: e), peers[entry: i].count >= Self.manyPeers { return 1 }
        return 0
    }

    public func range(of host: IPAddress) -> EphemeralRange? { ranges[host] }
}
