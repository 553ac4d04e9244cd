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
    public var state: String
    public var clientToServer: DirectionCounters
    public var serverToClient: DirectionCounters
    public var startNs: Int64
    public var endNs: Int64
    public var endReason: EndReason
    public var truncatedPackets: UInt32

    /// Whether the protocol has ports that name a service (TCP, UDP).
    public var hasServicePort: Bool { proto.hasPorts }

    /// Orients `state` by deciding roles from the strongest evidence present.
    public init(_ s: FlowState, endReason: EndReason, registry: ServiceRegistry) {
        let (clientIsA, source) = FlowRecord.roles(s, registry: registry)
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
        truncatedPackets = s.truncatedPackets
        let clientDirection: Int8 = clientIsA ? 0 : 1
        state = proto == .tcp
            ? FlowRecord.tcpState(s, clientDirection: clientDirection,
                                  client: clientToServer, server: serverToClient)
            : (clientToServer.packets > 0 && serverToClient.packets > 0 ? "SF" : "S0")
    }

    /// Roles from evidence, strongest first. Returns whether endpoint A is the client.
    static func roles(_ s: FlowState, registry: ServiceRegistry) -> (Bool, RoleSource) {
        let k = s.key
        if s.synDirection >= 0 { return (s.synDirection == 0, .syn) }
        if s.synAckDirection >= 0 { return (s.synAckDirection == 1, .synAck) }
        if s.requestDirection >= 0 { return (s.requestDirection == 0, .signature) }
        let firstIsA = s.firstDirection == 0
        guard k.proto.hasPorts, k.portA != k.portB else { return (firstIsA, .firstPacket) }
        let namedA = registry.isNamed(port: k.portA, proto: k.proto)
        let namedB = registry.isNamed(port: k.portB, proto: k.proto)
        if namedA != namedB { return (namedB, .portTable) }  // the named port serves
        if namedA {
            let wellKnownA = k.portA < 1024, wellKnownB = k.portB < 1024
            if wellKnownA != wellKnownB { return (wellKnownB, .portTable) }
            return (k.portB < k.portA, .portTable)
        }
        return (k.portB < k.portA, .lowerPort)
    }

    /// Zeek's conn_state from the flags each side sent (client = originator).
    static func tcpState(_ s: FlowState, clientDirection: Int8,
                         client c: DirectionCounters, server r: DirectionCounters) -> String {
        let originatorSYN = s.synDirection == clientDirection
        let responderSYNACK = s.synAckDirection >= 0 && s.synAckDirection != clientDirection
        let rstByOriginator = s.rstDirection == clientDirection
        let rstByResponder = s.rstDirection >= 0 && s.rstDirection != clientDirection
        let originatorFIN = c.tcpFlags.contains(.fin)
        let responderFIN = r.tcpFlags.contains(.fin)
        if originatorSYN && !responderSYNACK {
            if r.packets == 0 {
                if rstByOriginator { return "RSTOS0" }
                if originatorFIN { return "SH" }
                return "S0"
            }
            if rstByResponder { return "REJ" }
            return "OTH"
        }
        if !originatorSYN && responderSYNACK {
            if c.packets == 0 || !c.tcpFlags.contains(.ack) {
                if rstByResponder { return "RSTRH" }
                if responderFIN { return "SHR" }
            }
            return "OTH"
        }
        if !originatorSYN && !responderSYNACK { return "OTH" }
        // Established: SYN from the originator, SYN-ACK from the responder.
        if rstByOriginator { return "RSTO" }
        if rstByResponder { return "RSTR" }
        if originatorFIN && responderFIN { return "SF" }
        if originatorFIN { return "S2" }
        if responderFIN { return "S3" }
        return "S1"
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

    public var durationNs: Int64 { endNs - startNs }
    public var packets: UInt64 { clientToServer.packets + serverToClient.packets }
    public var bytes: UInt64 { clientToServer.bytes + serverToClient.bytes }
}
