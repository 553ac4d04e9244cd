import PFlowCore
import PFlowWire

/// The evidence that decided which end is the client.
public enum RoleSource: String, Sendable, CaseIterable {
    case syn
    case synAck = "syn-ack"
    case listener
    case signature
    case portTable = "port-table"
    case ephemeralRange = "ephemeral-range"
    case lowerPort = "lower-port"
    case firstPacket = "first-packet"
}

/// Zeek's connection states (conn_state); the raw value is the name.
public enum ConnState: String, Sendable, CaseIterable {
    case S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH
}

/// A finished flow, oriented client → server: one CSV row.
public struct FlowRecord: Sendable {
    public var proto: IPProtocol
    public var ipVersion: UInt8
    public var vlan: UInt16?
    public var clientAddress: IPAddress
    public var clientPort: UInt16
    public var serverAddress: IPAddress
    public var serverPort: UInt16
    /// Name of the server port, or nil.
    public var service: String?
    public var roleSource: RoleSource
    /// Zeek's conn_state for TCP; `SF`/`S0` for the others.
    public var connState: ConnState
    public var state: String { connState.rawValue }
    public var clientToServer: DirectionCounters
    public var serverToClient: DirectionCounters
    public var startNs: Int64
    public var endNs: Int64
    public var endReason: EndReason
    /// The TCP events in the order they first happened, and which direction
    /// the client sent: the history letters are made only when asked for.
    public var tcpHistory: TCPHistory
    public var clientDirection: UInt8
    /// Zeek's history letters (TCP; empty otherwise).
    public var history: String { tcpHistory.letters(clientDirection: clientDirection) }
    /// Protocol recognised from the payload, or nil.
    public var appProtocol: AppProtocol?
    /// Its name (`tls`, `http`, `dns`, …), or nil.
    public var app: String? { appProtocol?.name }
    /// ICMP errors quoting this flow's header.
    public var icmpErrors: UInt32

    /// Whether the protocol has ports that name a service (TCP, UDP).
    public var hasServicePort: Bool { proto.hasPorts }

    /// Orients `state` by deciding roles from the strongest evidence present.
    public init(_ s: FlowState, endReason: EndReason, registry: ServiceRegistry,
                knowledge: TrafficKnowledge = TrafficKnowledge()) {
        let verdicts = s.verdicts
        let (clientIsA, source) = FlowRecord.roles(s, verdicts: verdicts, registry: registry, knowledge: knowledge)
        appProtocol = clientIsA ? (verdicts.0?.app ?? verdicts.1?.app) : (verdicts.1?.app ?? verdicts.0?.app)
        let k = s.key
        proto = k.proto
        ipVersion = s.ipVersion
        vlan = k.vlan == FlowKey.noVLAN ? nil : k.vlan
        if clientIsA {
            clientAddress = k.addressA; clientPort = k.portA
            serverAddress = k.addressB; serverPort = k.portB
            clientToServer = s.counters.0; serverToClient = s.counters.1
        } else {
            clientAddress = k.addressB; clientPort = k.portB
            serverAddress = k.addressA; serverPort = k.portA
            clientToServer = s.counters.1; serverToClient = s.counters.0
        }
        roleSource = source
        service = registry.name(port: serverPort, proto: proto)
        startNs = s.firstNs
        endNs = s.lastNs
        self.endReason = endReason
        icmpErrors = s.icmpErrors
        let clientDirection: Int8 = clientIsA ? 0 : 1
        tcpHistory = s.history
        self.clientDirection = UInt8(clientDirection)
        connState = proto == .tcp
            ? FlowRecord.tcpState(s, clientDirection: clientDirection,
                                  client: clientToServer, server: serverToClient)
            : (clientToServer.packets > 0 && serverToClient.packets > 0 ? .SF : .S0)
    }

    /// Roles from evidence, strongest first (README: "Who is the client").
    /// Returns whether endpoint A is the client, and the evidence used.
    static func roles(_ s: FlowState, verdicts: (SignatureVerdict?, SignatureVerdict?),
                      registry: ServiceRegistry, knowledge: TrafficKnowledge) -> (Bool, RoleSource) {
        let k = s.key
        // 1. The handshake.
        if s.synDirection >= 0 { return (s.synDirection == 0, .syn) }
        if s.synAckDirection >= 0 { return (s.synAckDirection == 1, .synAck) }
        let firstIsA = s.firstDirection == 0
        let a = Endpoint(proto: k.proto, address: k.addressA, port: k.portA)
        let b = Endpoint(proto: k.proto, address: k.addressB, port: k.portB)
        let samePorts = k.portA == k.portB
        // 2. Listeners learned from the rest of the traffic.
        if k.proto.hasPorts && !samePorts {
            let scoreA = knowledge.listenerScore(a), scoreB = knowledge.listenerScore(b)
            if scoreA != scoreB { return (scoreB > scoreA, .listener) }
        }
        // 3. What the packets say: an ICMP request, a payload signature.
        if s.requestDirection >= 0 { return (s.requestDirection == 0, .signature) }
        if let clientIsA = signatureRoles(s, verdicts) { return (clientIsA, .signature) }
        guard k.proto.hasPorts, !samePorts else { return (firstIsA, .firstPacket) }
        // 4. The port registry; a named port inside the host's own learned
        //    ephemeral range is not taken as a service.
        func named(_ e: Endpoint) -> Bool {
            guard registry.isNamed(port: e.port, proto: e.proto) else { return false }
            if e.port >= 1024, let range = knowledge.range(of: e.address), range.covers(e.port) { return false }
            return true
        }
        let namedA = named(a), namedB = named(b)
        if namedA != namedB { return (namedB, .portTable) }
        if namedA {
            let wellKnownA = k.portA < 1024, wellKnownB = k.portB < 1024
            if wellKnownA != wellKnownB { return (wellKnownB, .portTable) }
            return (k.portB < k.portA, .portTable)
        }
        // 5. Ephemeral ranges: the host's learned one, else the operating
        //    systems' defaults (Linux 32768-60999, Windows/macOS/IANA 49152-65535).
        func ephemeral(_ e: Endpoint) -> Bool {
            if let range = knowledge.range(of: e.address), range.isLearned { return range.covers(e.port) }
            return e.port >= EphemeralPorts.lowest
        }
        let ephemeralA = ephemeral(a), ephemeralB = ephemeral(b)
        if ephemeralA != ephemeralB { return (ephemeralA, .ephemeralRange) }
        // Both ports could be ephemeral: a host seen opening connections
        // is the likelier client of one never seen doing so.
        let clientHostA = knowledge.range(of: k.addressA) != nil, clientHostB = knowledge.range(of: k.addressB) != nil
        if ephemeralA && clientHostA != clientHostB { return (clientHostA, .ephemeralRange) }
        // 6. The lower port serves.
        return (k.portB < k.portA, .lowerPort)
    }

    /// Roles from the two directions' payload signatures, when they agree.
    static func signatureRoles(_ s: FlowState, _ v: (SignatureVerdict?, SignatureVerdict?)) -> Bool? {
        let sayA = v.0?.senderIsClient  // true: A is the client
        let sayB = v.1?.senderIsClient.map { !$0 }
        switch (sayA, sayB) {
        case (nil, nil): return nil
        case (let x?, nil): return x
        case (nil, let y?): return y
        case (let x?, let y?):
            if x == y { return x }
            // Both claim to be the client (QUIC Initials both ways): the first to speak is.
            if x && !y { return s.firstPayloadDirection == 0 }
            return nil
        }
    }

    /// Zeek's conn_state from the flags each side sent (client = originator).
    static func tcpState(_ s: FlowState, clientDirection: Int8,
                         client c: DirectionCounters, server r: DirectionCounters) -> ConnState {
        let originatorSYN = s.synDirection == clientDirection
        // A responder's bare SYN (simultaneous open) answers the handshake too.
        let responderSYNACK = r.tcpFlags.contains(.syn)
        let rstByOriginator = s.rstDirection == clientDirection
        let rstByResponder = s.rstDirection >= 0 && s.rstDirection != clientDirection
        let originatorFIN = c.tcpFlags.contains(.fin)
        let responderFIN = r.tcpFlags.contains(.fin)
        if originatorSYN && !responderSYNACK {
            if r.packets == 0 {
                if rstByOriginator { return .RSTOS0 }
                if originatorFIN { return .SH }
                return .S0
            }
            if rstByResponder { return .REJ }
            return .OTH
        }
        if !originatorSYN && responderSYNACK {
            if c.packets == 0 || !c.tcpFlags.contains(.ack) {
                if rstByResponder { return .RSTRH }
                if responderFIN { return .SHR }
            }
            return .OTH
        }
        if !originatorSYN && !responderSYNACK { return .OTH }
        // Established: SYN from the originator, SYN-ACK from the responder.
        if rstByOriginator { return .RSTO }
        if rstByResponder { return .RSTR }
        if originatorFIN && responderFIN { return .SF }
        if originatorFIN { return .S2 }
        if responderFIN { return .S3 }
        return .S1
    }

    /// Total order used wherever flows are listed: start time, then key.
    public static func startsBefore(_ a: FlowState, _ b: FlowState) -> Bool {
        if a.firstNs != b.firstNs { return a.firstNs < b.firstNs }
        let ka = a.key, kb = b.key
        if ka.addressA != kb.addressA { return ka.addressA < kb.addressA }
        if ka.addressB != kb.addressB { return ka.addressB < kb.addressB }
        if ka.portA != kb.portA { return ka.portA < kb.portA }
        if ka.portB != kb.portB { return ka.portB < kb.portB }
        if ka.proto.rawValue != kb.proto.rawValue { return ka.proto.rawValue < kb.proto.rawValue }
        return ka.vlan < kb.vlan
    }

    /// (Timestamps stay within ±2^62 ns, `CaptureRecord.timestampLimitNs`:
    /// the difference can't overflow.)
    public var durationNs: Int64 { endNs - startNs }
    public var packets: UInt64 { clientToServer.packets + serverToClient.packets }
    public var bytes: UInt64 { clientToServer.bytes + serverToClient.bytes }
}
