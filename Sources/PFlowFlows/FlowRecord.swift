import PFlowCore
import PFlowWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// (Timestamps stay within ±2^62 ns, `CaptureRecord.timestampLimitNs`:
    /// the difference can't overflow.)
    public var durationNs: Int64 { endNs - startNs }
    public var packets: UInt64 { clientToServer.packets + serverToClient.packets }
    public var bytes: UInt64 { clientToServer.bytes + serverToClient.bytes }
}

/// The record of `state` oriented by `roles`: what `FlowRecord(_:endReason:roles:registry:name:uid:)`
/// makes, built straight into the caller's memory. (A free function: a
/// static one was compiled into a copy of its body and a thunk, for the
/// unused metatype, that copied the 369-byte record out once more.)
public func orientedRecord(_ s: FlowState, endReason: EndReason, roles: Roles, registry: ServiceRegistry,
                           name: UnsafePointer<ServerName>? = nil, uid: UInt64 = 0) -> FlowRecord {
    // A name is the server's only if it names the server's address.
    var serverName: String?, serverNameHash: UInt64 = 0
    if let name, s.nameIsForB == roles.clientIsA {
        serverName = ServerName.text(of: name)
        serverNameHash = ServerName.hash(of: name)
    }
    return FlowRecord.oriented(s, endReason: endReason, roles: roles, registry: registry,
                               serverName: serverName, serverNameHash: serverNameHash, uid: uid)
}

/// As above, with roles decided by `decider` (and names from its registry),
/// the name's String looked for in `texts` first (and kept there). The
/// handshake's roles are read here, without a call.
public func orientedRecord(_ s: FlowState, endReason: EndReason, decider: RoleDecider,
                           name: UnsafePointer<ServerName>?, uid: UInt64, texts: ServerNameTexts) -> FlowRecord {
    let roles = decider.decide(s)
    var serverName: String?, serverNameHash: UInt64 = 0
    if let name, s.nameIsForB == roles.clientIsA {
        (serverName, serverNameHash) = texts.text(of: name, serial: s.nameSerial)
    }
    return FlowRecord.oriented(s, endReason: endReason, roles: roles, registry: decider.registry,
                               serverName: serverName, serverNameHash: serverNameHash, uid: uid)
}

/// The Strings of the server names recent flows carried, with their
/// hashes, for the flows that follow: a name is on many flows (every
/// connection to a site), and making its String anew for each cost an
/// allocation, a UTF-8 check and later a free, per flow. Not for two
/// threads at once.
public final class ServerNameTexts {
    struct Entry {
        var text: String?
        var hash: UInt64 = 0
        var length = 0
        /// The name's first 32 bytes, zero past its length: names that
        /// fit are told apart by four compares, without touching the String.
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    }
    /// Direct-mapped by the name table's serial: the names of flows that
    /// end close together are mostly within this many serials.
    static let count = 4096
    static let wordBytes = 32
    private let entries: UnsafeMutablePointer<Entry>

    public init() {
        entries = .allocate(capacity: Self.count)
        entries.initialize(repeating: Entry(), count: Self.count)
    }

    deinit {
        entries.deinitialize(count: Self.count)
        entries.deallocate()
    }

    /// `name`'s String and `ServerName.hash`; `serial` is its `NameTable`
    /// serial, which only says where to look: a kept String is used only
    /// when it was made from the very bytes `name` holds (so it is the one
    /// that decoding them makes), whatever serial it was kept under.
    @inline(__always)
    public func text(of name: UnsafePointer<ServerName>, serial: UInt32) -> (String, UInt64) {
        let entry = entries + Int(serial) & (Self.count - 1)
        let bytes = ServerName.bytes(of: name)
        let n = bytes.count
        if n <= Self.wordBytes {
            let words = Self.words(bytes)
            if let kept = entry.pointee.text, entry.pointee.length == n, entry.pointee.words == words {
                return (kept, entry.pointee.hash)
            }
            let text = ServerName.text(of: name), hash = ServerName.hash(of: name)
            entry.pointee = Entry(text: text, hash: hash, length: n, words: words)
            return (text, hash)
        }
        // Longer names (rare) are compared with the String's own bytes.
        if let kept = entry.pointee.text, entry.pointee.length == n,
           kept.utf8.withContiguousStorageIfAvailable({ held in
               guard let a = held.baseAddress, let b = bytes.baseAddress else { return false }
               return memcmp(a, b, n) == 0
           }) == true {
            return (kept, entry.pointee.hash)
        }
        let text = ServerName.text(of: name), hash = ServerName.hash(of: name)
        entry.pointee = Entry(text: text, hash: hash, length: n)
        return (text, hash)
    }

    /// The first `wordBytes` bytes of a name no longer than that, as words
    /// zero past its length. Whole words are read: the name's buffer is
    /// always `NameBytes` long, and the bytes past the length (an older,
    /// longer name's, in a reused slot) are masked off.
    @inline(__always)
    static func words(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64, UInt64, UInt64) {
        precondition(MemoryLayout<NameBytes>.size >= wordBytes)
        guard let base = bytes.baseAddress else { return (0, 0, 0, 0) }
        let n = bytes.count
        @inline(__always)
        func word(_ i: Int) -> UInt64 {
            let have = n - 8 * i
            if have <= 0 { return 0 }
            let w = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
            return have >= 8 ? w : w & (1 << UInt64(8 * have) - 1)
        }
        return (word(0), word(1), word(2), word(3))
    }
}

// The initializers are in an extension so that the memberwise one stays:
// `oriented` builds the record with it in one step. Built field by field in
// an initializer's `self`, the record was made in a temporary and copied
// out whole (its strings retained and released), which cost more than
// working out its fields.
extension FlowRecord {
    /// Orients `state` by deciding roles from the strongest evidence present.
    public init(_ s: FlowState, endReason: EndReason, registry: ServiceRegistry,
                knowledge: TrafficKnowledge = TrafficKnowledge()) {
        self = orientedRecord(s, endReason: endReason, roles: RoleDecider(registry: registry, knowledge: knowledge).decide(s),
                              registry: registry)
    }

    /// Orients `state` by roles already decided.
    public init(_ s: FlowState, endReason: EndReason, roles: Roles, registry: ServiceRegistry,
                name: UnsafePointer<ServerName>? = nil, uid: UInt64 = 0) {
        self = orientedRecord(s, endReason: endReason, roles: roles, registry: registry, name: name, uid: uid)
    }

    /// The record of `state` oriented by `roles`, with the server's name
    /// made already (nil: none, or it names the client's address).
    @inline(__always)
    static func oriented(_ s: FlowState, endReason: EndReason, roles: Roles, registry: ServiceRegistry,
                         serverName: String?, serverNameHash: UInt64, uid: UInt64) -> FlowRecord {
        let clientIsA = roles.clientIsA
        let verdicts = s.verdicts
        let app = clientIsA ? (verdicts.0?.app ?? verdicts.1?.app) : (verdicts.1?.app ?? verdicts.0?.app)
        let k = s.key
        let proto = k.proto
        let counters = s.counters
        let client = clientIsA ? counters.0 : counters.1
        let server = clientIsA ? counters.1 : counters.0
        let serverPort = clientIsA ? k.portB : k.portA
        let clientDirection: Int8 = clientIsA ? 0 : 1
        let flipped = s.firstDirection != UInt8(clientDirection)
        let nameIndex = registry.nameIndex(port: serverPort, proto: proto)
        let icmp = s.firstICMP
        // Timings count only when the end they took for the client is the client.
        let timed = s.timedClientDirection == clientDirection
        let isTCP = proto == .tcp
        let r = s.retransmissions, z = s.zeroWindows
        return FlowRecord(
            proto: proto,
            ipVersion: s.ipVersion,
            vlan: k.vlan == FlowKey.noVLAN ? nil : k.vlan,
            clientAddress: clientIsA ? k.addressA : k.addressB,
            clientPort: clientIsA ? k.portA : k.portB,
            serverAddress: clientIsA ? k.addressB : k.addressA,
            serverPort: serverPort,
            service: ServiceNames.name(app: app, port: serverPort) {
                nameIndex == 0 ? nil : registry.facingName(at: nameIndex)
            },
            portName: nameIndex == 0 ? nil : registry.name(at: nameIndex),
            roleSource: roles.source,
            connState: isTCP
                ? tcpState(s, clientDirection: clientDirection, client: client, server: server)
                : (client.packets > 0 && server.packets > 0 ? .SF : .S0),
            clientToServer: client,
            serverToClient: server,
            startNs: s.firstNs,
            endNs: s.lastNs,
            endReason: endReason,
            tcpHistory: s.history,
            clientDirection: UInt8(clientDirection),
            appProtocol: app,
            icmpErrors: s.icmpErrors,
            uid: uid,
            icmpType: icmp?.type,
            icmpCode: icmp?.code ?? 0,
            // The first ICMP message is the flow's first packet.
            icmpFromClient: icmp == nil || !flipped,
            rolesFlipped: flipped,
            tunnel: s.tunnel,
            serverName: serverName,
            nameSource: serverName == nil ? .none : s.nameSource,
            serverNameHash: serverNameHash,
            serverLatencyNs: timed ? s.serverLatencyNs : nil,
            clientLatencyNs: timed ? s.clientLatencyNs : nil,
            appLatencyNs: timed ? s.appLatencyNs : nil,
            clientRetransmissions: isTCP ? UInt64(clientIsA ? r.0 : r.1) : nil,
            serverRetransmissions: isTCP ? UInt64(clientIsA ? r.1 : r.0) : nil,
            clientZeroWindows: isTCP ? UInt64(clientIsA ? z.0 : z.1) : nil,
            serverZeroWindows: isTCP ? UInt64(clientIsA ? z.1 : z.0) : nil)
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
}
