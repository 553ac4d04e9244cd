import PFlowCore
import PFlowWire

/// Which end of a flow is the client, and the evidence that says so.
public struct Roles: Sendable, Equatable {
    /// Endpoint A of the canonical key is the client.
    public var clientIsA: Bool
    public var source: RoleSource
}

/// Decides roles from evidence, strongest first (README: "Who is the
/// client"): the handshake, listeners learned from the rest of the traffic,
/// what the packets say, the port registry, the hosts' ephemeral ranges,
/// and last the port numbers. The one place roles are decided.
public struct RoleDecider {
    public let registry: ServiceRegistry
    public let knowledge: TrafficKnowledge

    public init(registry: ServiceRegistry, knowledge: TrafficKnowledge) {
        self.registry = registry
        self.knowledge = knowledge
    }

    @inline(__always)
    public func decide(_ s: FlowState) -> Roles {
        // 1. The handshake, which decides most TCP flows: no call for it.
        let syn = s.synDirection
        if syn >= 0 { return Roles(clientIsA: syn == 0, source: .syn) }
        return decideWithoutSYN(s)
    }

    /// `decide` past the SYN (kept out of line: most flows don't get here).
    @inline(never)
    func decideWithoutSYN(_ s: FlowState) -> Roles {
        let (clientIsA, source) = decideRoles(s, verdicts: s.verdicts)
        return Roles(clientIsA: clientIsA, source: source)
    }

    /// Roles from evidence, strongest first (README: "Who is the client").
    /// Returns whether endpoint A is the client, and the evidence used.
    func decideRoles(_ s: FlowState, verdicts: (SignatureVerdict?, SignatureVerdict?)) -> (Bool, RoleSource) {
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
    func signatureRoles(_ s: FlowState, _ v: (SignatureVerdict?, SignatureVerdict?)) -> Bool? {
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
}
