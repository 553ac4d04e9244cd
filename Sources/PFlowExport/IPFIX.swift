import PFlowCore

/// How flows become IPFIX records.
public enum IPFIXMode: String, Sendable, CaseIterable {
    /// One record per flow, client → server as the forward direction and
    /// server → client as RFC 5103 reverse counters.
    case biflow
    /// Two one-way records per flow (client → server, then server → client),
    /// for collectors without RFC 5103; a direction with no packets is
    /// left out.
    case uniflow
}

public struct IPFIXOptions: Sendable, Equatable {
    public var mode: IPFIXMode = .biflow
    /// Largest IPFIX message, i.e. UDP payload, in bytes (RFC 7011 §10.3.3:
    /// within the path MTU, so no IP fragmentation). Clamped to 512...65535.
    public var maxMessageSize: Int = 1400
    public var observationDomainID: UInt32 = 0
    /// Templates go in the first message, and again once this much wall
    /// time has passed (RFC 7011 §8.4: over UDP, templates are resent
    /// periodically so a collector that restarts learns them) ...
    public var templateRefreshSeconds: UInt32 = 60
    /// ... or after this many messages, whichever comes first.
    public var templateRefreshMessages: Int = 100
    /// tcpControlBits is unsigned16 since RFC 7125; 2 sends it full size,
    /// 1 in reduced-size encoding (RFC 7011 §6.2), for older collectors.
    public var tcpControlBitsLength: Int = 2

    public init(mode: IPFIXMode = .biflow, maxMessageSize: Int = 1400, observationDomainID: UInt32 = 0) {
        self.mode = mode
        self.maxMessageSize = maxMessageSize
        self.observationDomainID = observationDomainID
    }
}

/// An Information Element in a template (RFC 7011 §3.2 field specifier).
struct IPFIXField: Sendable {
    var id: UInt16
    var length: UInt16
    /// 0 for IANA elements; otherwise the Private Enterprise Number, sent
    /// with the enterprise bit set on `id`.
    var enterprise: UInt32 = 0

    var specifierLength: Int { enterprise == 0 ? 4 : 8 }
}

/// IANA IPFIX Information Element ids (RFC 7012 §5, the IANA registry) used here.
enum IE {
    static let octetDeltaCount: UInt16 = 1
    static let packetDeltaCount: UInt16 = 2
    static let protocolIdentifier: UInt16 = 4
    static let tcpControlBits: UInt16 = 6
    static let sourceTransportPort: UInt16 = 7
    static let sourceIPv4Address: UInt16 = 8
    static let destinationTransportPort: UInt16 = 11
    static let destinationIPv4Address: UInt16 = 12
    static let sourceIPv6Address: UInt16 = 27
    static let destinationIPv6Address: UInt16 = 28
    static let vlanId: UInt16 = 58
    static let flowEndReason: UInt16 = 136
    static let flowId: UInt16 = 148
    static let flowStartMilliseconds: UInt16 = 152
    static let flowEndMilliseconds: UInt16 = 153
    /// RFC 5103 §6.1: reverse elements are the forward ids under this PEN.
    static let reversePEN: UInt32 = 29305
}

/// The four templates: (biflow, uniflow) × (IPv4, IPv6).
struct IPFIXTemplate: Sendable {
    var id: UInt16
    var fields: [IPFIXField]
    var recordLength: Int

    init(id: UInt16, v6: Bool, reverse: Bool, tcpFlagsLength: UInt16) {
        self.id = id
        let addressLength: UInt16 = v6 ? 16 : 4
        var f = [
            IPFIXField(id: v6 ? IE.sourceIPv6Address : IE.sourceIPv4Address, length: addressLength),
            IPFIXField(id: v6 ? IE.destinationIPv6Address : IE.destinationIPv4Address, length: addressLength),
            IPFIXField(id: IE.sourceTransportPort, length: 2),
            IPFIXField(id: IE.destinationTransportPort, length: 2),
            IPFIXField(id: IE.protocolIdentifier, length: 1),
            IPFIXField(id: IE.tcpControlBits, length: tcpFlagsLength),
            IPFIXField(id: IE.flowStartMilliseconds, length: 8),
            IPFIXField(id: IE.flowEndMilliseconds, length: 8),
            IPFIXField(id: IE.flowEndReason, length: 1),
            IPFIXField(id: IE.flowId, length: 8),
            IPFIXField(id: IE.vlanId, length: 2),
            IPFIXField(id: IE.packetDeltaCount, length: 8),
            IPFIXField(id: IE.octetDeltaCount, length: 8),
        ]
        if reverse {
            // Only these two reverse elements: nfdump 1.7 maps reverse
            // packet/octet counts to its "out" counters but reads any other
            // reverse element as the forward one, overwriting it.
            f.append(IPFIXField(id: IE.packetDeltaCount, length: 8, enterprise: IE.reversePEN))
            f.append(IPFIXField(id: IE.octetDeltaCount, length: 8, enterprise: IE.reversePEN))
        }
        fields = f
        recordLength = f.reduce(0) { $0 + Int($1.length) }
    }

    /// Template record (RFC 7011 §3.4.1): id, field count, specifiers.
    var recordSize: Int { 4 + fields.reduce(0) { $0 + $1.specifierLength } }

    func write(to out: inout ExportBuffer) {
        out.appendBE(id)
        out.appendBE(UInt16(fields.count))
        for field in fields {
            if field.enterprise == 0 {
                out.appendBE(field.id)
                out.appendBE(field.length)
            } else {
                out.appendBE(field.id | 0x8000)  // enterprise bit (§3.2)
                out.appendBE(field.length)
                out.appendBE(field.enterprise)
            }
        }
    }
}

/// Builds IPFIX messages (RFC 7011) from flows. Pure: no clock, no socket;
/// the caller passes the wall time in seconds (the header's Export Time and
/// the template refresh clock) and receives each finished message through
/// `emit`, whose bytes are valid only during the call. Messages are built
/// in one reused buffer.
///
/// Message layout (§3): a 16-byte header, then sets. A set (§3.3) is a
/// 4-byte header (set id, length) and records: set id 2 holds templates,
/// set id ≥ 256 holds data records of that template.
public struct IPFIXEncoder: Sendable {
    public static let version: UInt16 = 10
    public static let headerLength = 16
    public static let setHeaderLength = 4
    static let templateSetID: UInt16 = 2
    /// Template ids (≥ 256, §3.4.1).
    public static let biflowIPv4Template: UInt16 = 256
    public static let biflowIPv6Template: UInt16 = 257
    public static let uniflowIPv4Template: UInt16 = 258
    public static let uniflowIPv6Template: UInt16 = 259

    public let options: IPFIXOptions
    let templates: (v4: IPFIXTemplate, v6: IPFIXTemplate)
    let maxMessageSize: Int

    /// Data records exported before the open message: its header's
    /// Sequence Number (§3.1: "modulo 2^32 of all IPFIX Data Records sent
    /// ... prior to the receipt of this IPFIX Message"; templates don't count).
    public private(set) var sequenceNumber: UInt32 = 0
    public private(set) var messagesEmitted = 0
    public private(set) var recordsEmitted: UInt64 = 0
    /// Wall time (s) when the open message got its first record, or nil.
    public private(set) var openSince: UInt32?

    var message: ExportBuffer
    var setStart = -1
    var setID: UInt16 = 0
    var recordsInMessage: UInt32 = 0
    var lastTemplateTime: UInt32?
    var messagesSinceTemplates = 0

    public init(options: IPFIXOptions = IPFIXOptions()) {
        self.options = options
        maxMessageSize = min(max(options.maxMessageSize, 512), 65535)
        let flagsLength: UInt16 = options.tcpControlBitsLength == 1 ? 1 : 2
        switch options.mode {
        case .biflow:
            templates = (IPFIXTemplate(id: Self.biflowIPv4Template, v6: false, reverse: true, tcpFlagsLength: flagsLength),
                         IPFIXTemplate(id: Self.biflowIPv6Template, v6: true, reverse: true, tcpFlagsLength: flagsLength))
        case .uniflow:
            templates = (IPFIXTemplate(id: Self.uniflowIPv4Template, v6: false, reverse: false, tcpFlagsLength: flagsLength),
                         IPFIXTemplate(id: Self.uniflowIPv6Template, v6: true, reverse: false, tcpFlagsLength: flagsLength))
        }
        message = ExportBuffer(capacity: maxMessageSize)
    }

    /// Whether a message with records is waiting for `flush`.
    public var hasPendingRecords: Bool { recordsInMessage > 0 }

    /// Adds the flow's record(s), emitting each message that fills up.
    public mutating func add(_ f: ExportFlow, now: UInt32, emit: (UnsafeRawBufferPointer) -> Void) {
        let template = f.isIPv4 ? templates.v4 : templates.v6
        switch options.mode {
        case .biflow:
            reserve(template, now: now, emit: emit)
            writeRecord(f, template, reverseDirection: false, withReverseCounters: true)
        case .uniflow:
            let forward = f.clientToServer.packets > 0 || f.serverToClient.packets == 0
            if forward {
                reserve(template, now: now, emit: emit)
                writeRecord(f, template, reverseDirection: false, withReverseCounters: false)
            }
            if f.serverToClient.packets > 0 {
                reserve(template, now: now, emit: emit)
                writeRecord(f, template, reverseDirection: true, withReverseCounters: false)
            }
        }
        if openSince == nil { openSince = now }
    }

    /// Emits the open message, if it holds records.
    public mutating func flush(now: UInt32, emit: (UnsafeRawBufferPointer) -> Void) {
        if recordsInMessage > 0 { finish(now: now, emit: emit) }
    }

    /// Emits a message of templates only (e.g. at start, so a collector
    /// knows them before any flow ends). Flushes the open message first.
    public mutating func emitTemplates(now: UInt32, emit: (UnsafeRawBufferPointer) -> Void) {
        flush(now: now, emit: emit)
        begin(now: now, forceTemplates: true)
        finish(now: now, emit: emit)
    }

    // MARK: building

    /// Makes room for one record of `template`: emits the open message if
    /// the record doesn't fit, starts a message (with templates when due)
    /// and a data set for the template.
    mutating func reserve(_ template: IPFIXTemplate, now: UInt32, emit: (UnsafeRawBufferPointer) -> Void) {
        let needed = template.recordLength + (setID == template.id ? 0 : Self.setHeaderLength)
        if !message.isEmpty && message.count + needed > maxMessageSize {
            finish(now: now, emit: emit)
        }
        if message.isEmpty { begin(now: now, forceTemplates: false) }
        if setID != template.id {
            closeSet()
            setStart = message.count
            setID = template.id
            message.appendBE(template.id)
            message.appendBE(UInt16(0))  // length, filled in by closeSet
        }
    }

    mutating func begin(now: UInt32, forceTemplates: Bool) {
        // Header (§3.1): version, length, export time, sequence, domain;
        // length and export time are filled in by finish.
        message.removeAll()
        message.appendBE(Self.version)
        message.appendBE(UInt16(0))
        message.appendBE(UInt32(0))
        message.appendBE(sequenceNumber)
        message.appendBE(options.observationDomainID)
        let due: Bool
        if let last = lastTemplateTime {
            due = now < last || now - last >= options.templateRefreshSeconds
                || messagesSinceTemplates >= options.templateRefreshMessages
        } else {
            due = true
        }
        if due || forceTemplates {
            // One template set with both templates (§3.3.2).
            let start = message.count
            message.appendBE(Self.templateSetID)
            message.appendBE(UInt16(Self.setHeaderLength + templates.v4.recordSize + templates.v6.recordSize))
            templates.v4.write(to: &message)
            templates.v6.write(to: &message)
            precondition(message.count - start == Self.setHeaderLength + templates.v4.recordSize + templates.v6.recordSize)
            lastTemplateTime = now
            messagesSinceTemplates = 0
        }
    }

    mutating func closeSet() {
        guard setStart >= 0 else { return }
        message.setBE(UInt16(truncatingIfNeeded: message.count - setStart), at: setStart + 2)
        setStart = -1
        setID = 0
    }

    mutating func finish(now: UInt32, emit: (UnsafeRawBufferPointer) -> Void) {
        closeSet()
        message.setBE(UInt16(truncatingIfNeeded: message.count), at: 2)
        message.setBE(now, at: 4)
        message.withUnsafeBytes { emit($0) }
        sequenceNumber &+= recordsInMessage
        recordsEmitted += UInt64(recordsInMessage)
        messagesEmitted += 1
        messagesSinceTemplates += 1
        recordsInMessage = 0
        openSince = nil
        message.removeAll()
    }

    /// One data record, in the template's field order. Client is the
    /// source; `reverseDirection` writes the server → client one-way record
    /// (uniflow) with the ends swapped.
    mutating func writeRecord(_ f: ExportFlow, _ template: IPFIXTemplate, reverseDirection: Bool, withReverseCounters: Bool) {
        let start = message.count
        let v6 = template.id == templates.v6.id
        let (src, dst) = reverseDirection ? (f.serverAddress, f.clientAddress) : (f.clientAddress, f.serverAddress)
        var (sport, dport) = reverseDirection ? (f.serverPort, f.clientPort) : (f.clientPort, f.serverPort)
        if f.isICMP {
            // Collectors (nfdump, YAF) read ICMP type and code from the
            // destination port as type·256 + code; the source port is 0.
            // The server's answer to a request type is its counterpart
            // type (echo reply to echo); other types get no answer type.
            sport = 0
            let type = f.icmpType ?? 0, code = f.icmpCode ?? 0
            dport = UInt16(type) << 8 | UInt16(code)
            if reverseDirection {
                let p = CommunityID.icmpPorts(type: type, code: code, v6: f.proto == .icmpv6)
                dport = p.oneWay ? 0 : p.destination << 8
            }
        }
        let (fwd, rev) = reverseDirection ? (f.serverToClient, f.clientToServer) : (f.clientToServer, f.serverToClient)
        if v6 {
            message.appendBE(src.high); message.appendBE(src.low)
            message.appendBE(dst.high); message.appendBE(dst.low)
        } else {
            message.appendBE(UInt32(truncatingIfNeeded: src.low))
            message.appendBE(UInt32(truncatingIfNeeded: dst.low))
        }
        message.appendBE(sport)
        message.appendBE(dport)
        message.append(f.proto.rawValue)
        // tcpControlBits (IE 6) describes the forward direction (RFC 5103
        // §5.1: a non-reverse element in a biflow record is the forward
        // one), i.e. the flags the client sent.
        if options.tcpControlBitsLength == 1 {
            message.append(fwd.tcpFlags)
        } else {
            message.appendBE(UInt16(fwd.tcpFlags))
        }
        message.appendBE(Self.milliseconds(f.startNs))
        message.appendBE(Self.milliseconds(f.endNs))
        message.append(f.endReason.ipfixValue)
        message.appendBE(f.uid)
        message.appendBE((f.vlan ?? 0) & 0x0FFF)
        message.appendBE(fwd.packets)
        message.appendBE(fwd.ipBytes)
        if withReverseCounters {
            message.appendBE(rev.packets)
            message.appendBE(rev.ipBytes)
        }
        assert(message.count - start == template.recordLength)
        recordsInMessage += 1
    }

    /// dateTimeMilliseconds (RFC 7011 §6.1.9): ms since the Unix epoch,
    /// unsigned; times before 1970 become 0.
    static func milliseconds(_ ns: Int64) -> UInt64 {
        ns <= 0 ? 0 : UInt64(ns / 1_000_000)
    }
}
