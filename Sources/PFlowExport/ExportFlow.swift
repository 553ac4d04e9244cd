import PFlowCore

/// One direction's counters.
public struct ExportCounters: Sendable, Equatable {
    /// Packets sent in this direction.
    public var packets: UInt64
    /// Frame bytes on the wire (pcap `len`): the CSV's `c2s_bytes`.
    public var wireBytes: UInt64
    /// IP-layer bytes (IPv4 total length, IPv6 40 + payload length): Zeek's
    /// `orig_ip_bytes`, IPFIX `octetDeltaCount`.
    public var ipBytes: UInt64
    /// Transport payload bytes: Zeek's `orig_bytes`.
    public var payloadBytes: UInt64
    /// Every TCP flag seen in this direction (0 for other protocols): IPFIX
    /// `tcpControlBits`.
    public var tcpFlags: UInt8

    public init(packets: UInt64 = 0, wireBytes: UInt64 = 0, ipBytes: UInt64 = 0,
                payloadBytes: UInt64 = 0, tcpFlags: UInt8 = 0) {
        self.packets = packets
        self.wireBytes = wireBytes
        self.ipBytes = ipBytes
        self.payloadBytes = payloadBytes
        self.tcpFlags = tcpFlags
    }
}

/// Why a flow record was emitted (the CSV's `end_reason`).
public enum ExportEndReason: UInt8, Sendable, CaseIterable {
    case fin, rst, idle, active, end, capacity

    public init?(name: String) {
        switch name {
        case "fin": self = .fin
        case "rst": self = .rst
        case "idle": self = .idle
        case "active": self = .active
        case "end": self = .end
        case "capacity": self = .capacity
        default: return nil
        }
    }

    public var name: StaticString {
        switch self {
        case .fin: return "fin"
        case .rst: return "rst"
        case .idle: return "idle"
        case .active: return "active"
        case .end: return "end"
        case .capacity: return "capacity"
        }
    }

    /// IPFIX `flowEndReason` (IE 136, RFC 7012 §5.11.3, IANA "flowEndReason
    /// Values"): 1 idle timeout, 2 active timeout, 3 end of flow detected,
    /// 4 forced end, 5 lack of resources.
    public var ipfixValue: UInt8 {
        switch self {
        case .idle: return 1
        case .active: return 2
        case .fin, .rst: return 3
        case .end: return 4          // the capture ended: the exporter shut down
        case .capacity: return 5     // evicted because the flow table was full
        }
    }
}

/// What the encoders need of a finished flow, oriented client → server.
/// A plain value: pflow's exporter seam maps its flow record to this, so
/// the encoders know nothing of the flow table. From PFlowFlows'
/// `FlowRecord`: proto, ipVersion, vlan, client/server address and port,
/// startNs/endNs, `connState.rawValue`, `history`, `service`, `app`,
/// `endReason.rawValue` (through `ExportEndReason(name:)`); per direction
/// `packets`, `bytes` (→ wireBytes), `payloadBytes`, `tcpFlags.rawValue`;
/// and what the record doesn't carry yet: the uid, the IP-layer bytes
/// (DESIGN: `c2s_ip_bytes`), the ICMP type/code, whether the client sent
/// second (`rolesFlipped`), tunnel parents.
public struct ExportFlow: Sendable {
    /// The flow's id, unique in the run (CSV `uid`, conn.log `uid`, IPFIX
    /// `flowId`). Its text form is `FlowUID.string(uid)`.
    public var uid: UInt64
    /// First and last packet, nanoseconds since the Unix epoch (UTC).
    public var startNs: Int64
    public var endNs: Int64
    /// IP protocol (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, anything else).
    public var proto: IPProtocol
    /// 4 or 6. With 4 the addresses must be IPv4-mapped; any other
    /// combination is encoded as IPv6.
    public var ipVersion: UInt8
    /// The end that opened the conversation (Zeek's originator, IPFIX source).
    public var clientAddress: IPAddress
    /// 0 for protocols without ports.
    public var clientPort: UInt16
    /// The end that serves it (Zeek's responder, IPFIX destination).
    public var serverAddress: IPAddress
    public var serverPort: UInt16
    /// Outermost 802.1Q VLAN id, nil if untagged.
    public var vlan: UInt16?
    public var clientToServer: ExportCounters
    public var serverToClient: ExportCounters
    /// Zeek's conn_state (`SF`, `S0`, `REJ`, …); empty if unknown.
    public var connState: String
    /// Zeek's history letters, client upper-case, without `^` (the conn.log
    /// writer adds it from `rolesFlipped`); empty if none.
    public var history: String
    /// pflow's service name (CSV `service`: `https`, `tls`, `dns`, a port
    /// name); nil if unknown. Not used by conn.log, whose `service` names
    /// only protocols recognised in the traffic (see `app`).
    public var service: String?
    /// Protocol recognised from the payload (CSV `app`: `tls`, `http`,
    /// `ssh`, `dns`, `quic`, …), nil if none: conn.log's `service`.
    public var app: String?
    public var endReason: ExportEndReason
    /// ICMP/ICMPv6: type and code of the client's first message (what the
    /// Community ID and conn.log's ports are made of); nil otherwise.
    public var icmpType: UInt8?
    public var icmpCode: UInt8?
    /// The client is not the end that sent the first packet (roles were
    /// decided from other evidence): conn.log history gets Zeek's `^`.
    public var rolesFlipped: Bool
    /// uids (text form) of the tunnel flows this flow travelled in, outermost
    /// last; empty if not tunnelled (conn.log `tunnel_parents`).
    public var tunnelParents: [String]
    /// Whether each end is in the local networks (conn.log `local_orig`,
    /// `local_resp`); nil when no local networks are configured.
    public var localOrig: Bool?
    public var localResp: Bool?
    /// Bytes missed in TCP content gaps (conn.log `missed_bytes`).
    public var missedBytes: UInt64

    public init(uid: UInt64, startNs: Int64, endNs: Int64, proto: IPProtocol, ipVersion: UInt8,
                clientAddress: IPAddress, clientPort: UInt16, serverAddress: IPAddress, serverPort: UInt16,
                vlan: UInt16? = nil, clientToServer: ExportCounters, serverToClient: ExportCounters,
                connState: String = "", history: String = "", service: String? = nil, app: String? = nil,
                endReason: ExportEndReason = .end, icmpType: UInt8? = nil, icmpCode: UInt8? = nil,
                rolesFlipped: Bool = false, tunnelParents: [String] = [],
                localOrig: Bool? = nil, localResp: Bool? = nil, missedBytes: UInt64 = 0) {
        self.uid = uid
        self.startNs = startNs
        self.endNs = endNs
        self.proto = proto
        self.ipVersion = ipVersion
        self.clientAddress = clientAddress
        self.clientPort = clientPort
        self.serverAddress = serverAddress
        self.serverPort = serverPort
        self.vlan = vlan
        self.clientToServer = clientToServer
        self.serverToClient = serverToClient
        self.connState = connState
        self.history = history
        self.service = service
        self.app = app
        self.endReason = endReason
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.rolesFlipped = rolesFlipped
        self.tunnelParents = tunnelParents
        self.localOrig = localOrig
        self.localResp = localResp
        self.missedBytes = missedBytes
    }

    /// Whether the flow is encoded with 4-byte addresses.
    @inlinable public var isIPv4: Bool {
        ipVersion == 4 && clientAddress.isIPv4Mapped && serverAddress.isIPv4Mapped
    }

    @inlinable public var isICMP: Bool { proto == .icmp || proto == .icmpv6 }
}

/// The text form of a flow's uid: `C` and 11 base-62 digits, fixed width,
/// so it looks like Zeek's connection uids (`CHhAvVGS1DHFjwGM9`) and sorts
/// in uid order. 62^11 > 2^64, so every UInt64 fits.
public enum FlowUID {
    public static let length = 12
    static let alphabet: StaticString = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

    public static func append(_ uid: UInt64, to out: inout ExportBuffer) {
        out.append(0x43)  // "C"
        let start = out.count
        out.append(repeating: 0x30, count: 11)
        var rest = uid
        alphabet.withUTF8Buffer { digits in
            var i = 10
            while i >= 0 {
                out.setByte(digits[Int(rest % 62)], at: start + i)
                rest /= 62
                i -= 1
            }
        }
    }

    public static func string(_ uid: UInt64) -> String {
        var b = ExportBuffer(capacity: length)
        append(uid, to: &b)
        return String(decoding: b.bytes, as: UTF8.self)
    }
}
