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
    /// What the service is (DESIGN.md "Naming a service"): the protocol
    /// recognised in this flow's payload, else the registry's name in the
    /// words users use; nil when neither says.
    public var service: String?
    /// The registry's name of the server port, or nil.
    public var portName: String?
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
    // For the export formats (uid, Community ID, conn.log, IPFIX).
    /// The flow's id, unique in the run: flows are numbered from 1 in the
    /// order they end, which is the same for any number of threads (the
    /// analyzer assigns it; 0 until then).
    public var uid: UInt64 = 0
    /// The first ICMP message's type and code, and whether the client sent
    /// it (ICMP/ICMPv6 only).
    public var icmpType: UInt8?
    public var icmpCode: UInt8 = 0
    public var icmpFromClient = true
    /// The client is not the end that sent the first packet (Zeek's `^`).
    public var rolesFlipped: Bool
    /// The outermost tunnel the flow came through, or nil.
    public var tunnel: TunnelKind?

    // Health (issue 16): how fast, how lossy, and by what name.
    /// The name the capture gives the server (SNI, else Host, else DNS), escaped already.
    public var serverName: String?
    public var nameSource: NameSource = .none
    /// `ServerName.hash` of `serverName` (0 without one).
    public var serverNameHash: UInt64 = 0
    /// TCP handshake: SYN → SYN-ACK (server side), SYN-ACK → ACK (client side).
    public var serverLatencyNs: Int64?
    public var clientLatencyNs: Int64?
    /// First client payload → first server payload after it.
    public var appLatencyNs: Int64?
    /// TCP only (nil otherwise).
    public var clientRetransmissions: UInt64?
    public var serverRetransmissions: UInt64?
    public var clientZeroWindows: UInt64?
    public var serverZeroWindows: UInt64?

    /// Whether the protocol has ports that name a service (TCP, UDP).
    public var hasServicePort: Bool { proto.hasPorts }

    /// Orients `state` by deciding roles from the strongest evidence present.
    public init(_ s: FlowState, endReason: EndReason, registry: ServiceRegistry,
                knowledge: TrafficKnowledge = TrafficKnowledge()) {
        self.init(s, endReason: endReason, roles: RoleDecider(registry: registry, knowledge: knowledge).decide(s),
                  registry: registry)
    }

    /// Orients `state` by roles already decided.
    public init(_ s: FlowState, endReason: EndReason, roles: Roles, registry: ServiceRegistry,
                name: UnsafePointer<ServerName>? = nil, uid: UInt64 = 0) {
        self.uid = uid
        let verdicts = s.verdicts
        let (clientIsA, source) = (roles.clientIsA, roles.source)
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
        let names = registry.names(port: serverPort, proto: proto)
        portName = names?.registry
        service = ServiceNames.name(app: appProtocol, port: serverPort, proto: proto, facingName: names?.facing)
        startNs = s.firstNs
        endNs = s.lastNs
        self.endReason = endReason
        icmpErrors = s.icmpErrors
        let clientDirection: Int8 = clientIsA ? 0 : 1
        tcpHistory = s.history
        self.clientDirection = UInt8(clientDirection)
        rolesFlipped = s.firstDirection != UInt8(clientDirection)
        tunnel = s.tunnel
        if let icmp = s.firstICMP {
            icmpType = icmp.type
            icmpCode = icmp.code
            // The first ICMP message is the flow's first packet.
            icmpFromClient = !rolesFlipped
        }
        connState = proto == .tcp
            ? FlowRecord.tcpState(s, clientDirection: clientDirection,
                                  client: clientToServer, server: serverToClient)
            : (clientToServer.packets > 0 && serverToClient.packets > 0 ? .SF : .S0)
        setHealth(s, clientIsA: clientIsA, name: name)
    }

    /// The health fields, oriented: timings count only when the end they
    /// took for the client is the client.
    mutating func setHealth(_ s: FlowState, clientIsA: Bool, name: UnsafePointer<ServerName>?) {
        if s.timedClientDirection == (clientIsA ? 0 : 1) {
            serverLatencyNs = s.serverLatencyNs
            clientLatencyNs = s.clientLatencyNs
            appLatencyNs = s.appLatencyNs
        }
        if proto == .tcp {
            let r = s.retransmissions, z = s.zeroWindows
            clientRetransmissions = UInt64(clientIsA ? r.0 : r.1)
            serverRetransmissions = UInt64(clientIsA ? r.1 : r.0)
            clientZeroWindows = UInt64(clientIsA ? z.0 : z.1)
            serverZeroWindows = UInt64(clientIsA ? z.1 : z.0)
        }
        // A name is the server's only if it names the server's address.
        if let name, s.nameIsForB == clientIsA {
            serverName = ServerName.text(of: name)
            serverNameHash = ServerName.hash(of: name)
            nameSource = s.nameSource
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
