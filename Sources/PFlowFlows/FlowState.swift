import PFlowWire

/// Counters for one direction of a flow.
public struct DirectionCounters: Sendable, Equatable {
    public var packets: UInt64 = 0
    /// Frame bytes on the wire (pcap `len`).
    public var bytes: UInt64 = 0
    /// Transport payload bytes, from the IP lengths.
    public var payloadBytes: UInt64 = 0
    /// Every TCP flag seen in this direction.
    public var tcpFlags = TCPFlags()
    public init() {}
}

/// Zeek's connection history, kept as the order in which each (direction,
/// event) pair first happened: up to 16 four-bit codes in one integer.
public struct TCPHistory: Sendable, Equatable {
    enum Event: UInt8 { case syn = 1, synAck, ack, data, fin, rst, retransmit }
    static let letters: StaticString = " shadfrt"

    var codes: UInt64 = 0
    var count: UInt8 = 0
    var seen: UInt16 = 0

    @inline(__always)
    mutating func record(_ e: Event, direction: UInt8) {
        let bit = UInt16(1) << (UInt16(e.rawValue) * 2 + UInt16(direction))
        guard seen & bit == 0, count < 16 else { return }
        seen |= bit
        codes |= UInt64(e.rawValue | direction << 3) << (UInt64(count) * 4)
        count += 1
    }

    /// Zeek's letters: upper case for the originator (client), lower for the responder.
    public func letters(clientDirection: UInt8) -> String {
        var bytes: (UInt64, UInt64) = (0, 0)  // up to 16 letters, on the stack
        return withUnsafeMutableBytes(of: &bytes) { out in
            Self.letters.withUTF8Buffer { alphabet in
                for i in 0..<Int(count) {
                    let code = UInt8((codes >> (UInt64(i) * 4)) & 0xF)
                    let letter = alphabet[Int(code & 7)]
                    out[i] = code >> 3 == clientDirection ? letter - 0x20 : letter  // upper case for the client
                }
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: out[0..<Int(count)]), as: UTF8.self)
        }
    }
}

/// What the tracker keeps per live flow. Directions are canonical: index 0
/// is A→B, index 1 is B→A. Fixed size, no references: a flow costs no
/// allocation beyond its slot.
public struct FlowState: Sendable {
    public var key: FlowKey
    public var ipVersion: UInt8
    public var firstNs: Int64
    public var lastNs: Int64
    public var counters: (DirectionCounters, DirectionCounters)
    /// Direction of the first packet seen.
    public var firstDirection: UInt8
    /// Direction of the first SYN without ACK, SYN-ACK, RST and ICMP request (-1: none).
    public var synDirection: Int8 = -1
    public var synAckDirection: Int8 = -1
    public var rstDirection: Int8 = -1
    public var requestDirection: Int8 = -1
    /// ICMP errors that quote this flow's header (not in its packets or bytes).
    public var icmpErrors: UInt32 = 0
    /// What each direction's first payload said (read when it arrived), and
    /// which direction carried payload first (-1: none yet).
    public var verdicts: (SignatureVerdict?, SignatureVerdict?) = (nil, nil)
    var payloadSeen: (Bool, Bool) = (false, false)
    public var firstPayloadDirection: Int8 = -1
    public var history = TCPHistory()
    /// Next expected TCP sequence number per direction (for retransmissions).
    var nextSequence: (UInt32, UInt32) = (0, 0)
    var sequenceKnown: (Bool, Bool) = (false, false)
    // Least-recently-seen list links (slot indices, -1: none).
    var older: Int32 = -1
    var newer: Int32 = -1
    /// The slot holds a live flow (the table's sweep walks slots).
    var live = true

    init(key: FlowKey, ipVersion: UInt8, timestampNs: Int64, direction: UInt8) {
        self.key = key
        self.ipVersion = ipVersion
        firstNs = timestampNs
        lastNs = timestampNs
        counters = (DirectionCounters(), DirectionCounters())
        firstDirection = direction
    }

    /// TCP: both sides sent FIN, or someone sent RST. A SYN after this starts
    /// a new flow on the same key (port reuse).
    public var isClosed: Bool {
        guard key.proto == .tcp else { return false }
        if rstDirection >= 0 { return true }
        return counters.0.tcpFlags.contains(.fin) && counters.1.tcpFlags.contains(.fin)
    }

    /// How a flow ends when nothing else ended it first.
    public var closeReason: EndReason {
        guard key.proto == .tcp else { return .end }
        if rstDirection >= 0 { return .rst }
        if counters.0.tcpFlags.contains(.fin) && counters.1.tcpFlags.contains(.fin) { return .fin }
        return .end
    }

    @inline(__always)
    mutating func add(_ p: DecodedPacket, frame: UnsafeRawBufferPointer, direction: UInt8,
                      timestampNs: Int64, wireLength: UInt32) {
        if timestampNs < firstNs { firstNs = timestampNs }
        if timestampNs > lastNs { lastNs = timestampNs }
        let d = Int8(direction)
        if direction == 0 {
            Self.count(&counters.0, p, wireLength)
        } else {
            Self.count(&counters.1, p, wireLength)
        }
        if p.payloadLength > 0 && !(direction == 0 ? payloadSeen.0 : payloadSeen.1) {
            firstPayload(p, frame: frame, direction: direction)
        }
        if p.proto == .tcp {
            let f = p.tcpFlags
            if f.contains(.syn) {
                if f.contains(.ack) {
                    if synAckDirection < 0 { synAckDirection = d }
                    history.record(.synAck, direction: direction)
                } else {
                    if synDirection < 0 { synDirection = d }
                    history.record(.syn, direction: direction)
                }
            }
            if f.contains(.rst) {
                if rstDirection < 0 { rstDirection = d }
                history.record(.rst, direction: direction)
            }
            if f.contains(.fin) { history.record(.fin, direction: direction) }
            if p.payloadLength > 0 {
                history.record(.data, direction: direction)
                trackSequence(p, direction: direction)
            } else if f.contains(.ack) && f.isDisjoint(with: [.syn, .fin, .rst]) {
                history.record(.ack, direction: direction)
            }
        } else if requestDirection < 0, p.isICMPRequest {
            requestDirection = d
        }
    }

    /// Reads the signature of a direction's first payload, once.
    mutating func firstPayload(_ p: DecodedPacket, frame: UnsafeRawBufferPointer, direction: UInt8) {
        var head = PayloadHead()
        head.fill(from: frame, offset: p.payloadOffset, captured: p.capturedPayloadLength, payloadLength: p.payloadLength)
        let verdict = Signatures.classify(head, proto: p.proto)
        if direction == 0 {
            payloadSeen.0 = true
            verdicts.0 = verdict
        } else {
            payloadSeen.1 = true
            verdicts.1 = verdict
        }
        if firstPayloadDirection < 0 { firstPayloadDirection = Int8(direction) }
    }

    /// A payload that ends at or before data already seen is a retransmission.
    @inline(__always)
    mutating func trackSequence(_ p: DecodedPacket, direction: UInt8) {
        let end = p.tcpSequence &+ UInt32(truncatingIfNeeded: p.payloadLength)
        let known = direction == 0 ? sequenceKnown.0 : sequenceKnown.1
        let next = direction == 0 ? nextSequence.0 : nextSequence.1
        if known && Int32(bitPattern: end &- next) <= 0 {
            history.record(.retransmit, direction: direction)
            return
        }
        if direction == 0 {
            nextSequence.0 = end; sequenceKnown.0 = true
        } else {
            nextSequence.1 = end; sequenceKnown.1 = true
        }
    }

    @inline(__always)
    static func count(_ c: inout DirectionCounters, _ p: DecodedPacket, _ wireLength: UInt32) {
        c.packets &+= 1
        c.bytes &+= UInt64(wireLength)
        c.payloadBytes &+= UInt64(p.payloadLength)
        c.tcpFlags.formUnion(p.tcpFlags)
    }
}
