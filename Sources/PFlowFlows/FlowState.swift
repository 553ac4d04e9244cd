import PFlowCore
import PFlowWire

/// Counters for one direction of a flow.
public struct DirectionCounters: Sendable, Equatable {
    public var packets: UInt64 = 0
    /// Frame bytes on the wire (pcap `len`).
    public var bytes: UInt64 = 0
    /// Transport payload bytes, from the IP lengths.
    public var payloadBytes: UInt64 = 0
    /// IP-layer bytes, from the IP headers' lengths (IPv4 total length, IPv6
    /// 40 + payload length): Zeek's `orig_ip_bytes`, IPFIX `octetDeltaCount`.
    public var ipBytes: UInt64 = 0
    /// Every TCP flag seen in this direction.
    public var tcpFlags = TCPFlags()
    public init() {}
}

/// Zeek's connection history, kept as the order in which each (direction,
/// event) pair first happened: up to 16 four-bit codes in one integer.
public struct TCPHistory: Sendable, Equatable {
    enum Event: UInt8 { case syn = 1, synAck, ack, data, fin, rst, retransmit }
    static let letters: StaticString = " shadfrt"

    // Every code is non-zero (events start at 1), so the count is where
    // the highest non-zero nibble ends: no separate counter to store.
    var codes: UInt64 = 0
    var seen: UInt16 = 0

    var count: Int { (64 - codes.leadingZeroBitCount + 3) / 4 }

    @inline(__always)
    mutating func record(_ e: Event, direction: UInt8) {
        let bit = UInt16(1) << (UInt16(e.rawValue) * 2 + UInt16(direction))
        guard seen & bit == 0 else { return }
        let n = count
        guard n < 16 else { return }
        seen |= bit
        codes |= UInt64(e.rawValue | direction << 3) << (UInt64(n) * 4)
    }

    /// Zeek's letters: upper case for the originator (client), lower for the responder.
    public func letters(clientDirection: UInt8) -> String {
        var (bytes, n) = letterBytes(clientDirection: clientDirection)
        return withUnsafeBytes(of: &bytes) { String(decoding: UnsafeRawBufferPointer(rebasing: $0[0..<n]), as: UTF8.self) }
    }

    /// The letters as up to 16 bytes in two words, and how many there are
    /// (none for UDP and ICMP).
    @inline(__always)
    public func letterBytes(clientDirection: UInt8) -> (bytes: (UInt64, UInt64), count: Int) {
        var bytes: (UInt64, UInt64) = (0, 0)
        let n = codes == 0 ? 0 : count
        withUnsafeMutableBytes(of: &bytes) { out in
            Self.letters.withUTF8Buffer { alphabet in
                for i in 0..<n {
                    let code = UInt8((codes >> (UInt64(i) * 4)) & 0xF)
                    let letter = alphabet[Int(code & 7)]
                    out[i] = code >> 3 == clientDirection ? letter - 0x20 : letter  // upper case for the client
                }
            }
        }
        return (bytes, n)
    }
}

/// What a flow reads of a packet besides its key: a few fields, small
/// enough to hand from the reader thread to the tracker without copying the
/// whole decoded packet.
public struct PacketFacts: Sendable {
    public var tcpSequence: UInt32 = 0
    /// Transport payload length according to the IP header.
    public var payloadLength: UInt32 = 0
    /// Where the captured payload starts in the frame handed along, and how
    /// much of it was captured.
    public var payloadOffset: UInt32 = 0
    public var capturedPayload: UInt32 = 0
    public var proto = IPProtocol(rawValue: 0)
    public var tcpFlags = TCPFlags()
    public var ipVersion: UInt8 = 0
    public var isICMPRequest = false
    /// An IP fragment other than the first: no TCP header, so no sequence
    /// number of its own (the decoder's is the first fragment's).
    public var laterFragment = false
    // For the export formats: the IP packet's length, the ICMP type and
    // code, and the outermost tunnel (`TunnelKind` raw value + 1; 0: none).
    public var ipLength: UInt32 = 0
    public var icmpType: UInt8 = 0
    public var icmpCode: UInt8 = 0
    public var tunnel: UInt8 = 0

    public init() {}

    // Inlinable: across modules a call would copy the whole decoded packet
    // (about 200 bytes) per packet to pass it.
    @inlinable @inline(__always)
    public init(_ p: DecodedPacket) {
        tcpSequence = p.tcpSequence
        payloadLength = UInt32(clamping: p.payloadLength)
        payloadOffset = UInt32(clamping: p.payloadOffset)
        capturedPayload = UInt32(clamping: p.capturedPayloadLength)
        proto = p.proto
        tcpFlags = p.tcpFlags
        ipVersion = p.ipVersion
        isICMPRequest = p.isICMPRequest
        laterFragment = p.laterFragment
        ipLength = UInt32(clamping: p.ipLength)
        icmpType = p.icmpType
        icmpCode = p.icmpCode
        tunnel = p.tunnel.map { $0.rawValue &+ 1 } ?? 0
    }
}

/// What the tracker keeps per live flow. Directions are canonical: index 0
/// is A→B, index 1 is B→A. Fixed size (144 bytes: two cache lines and the
/// IP-byte counters the export formats need), no
/// references: a flow costs no allocation beyond its slot. Small fields are
/// packed into bits behind accessors; the stored order keeps the padding out.
public struct FlowState: Sendable {
    public var key: FlowKey                  // 39 bytes; the next byte fills its tail
    /// payloadSeen.0/.1, sequenceKnown.0/.1, live, IPv6.
    var bits: UInt8 = Self.liveBit
    /// Six directions of 2 bits each (0: none, 1: A→B, 2: B→A).
    var directions: UInt16 = 0
    var flags: (TCPFlags, TCPFlags) = (TCPFlags(), TCPFlags())
    /// What each direction's first payload said (read when it arrived).
    public var verdicts: (SignatureVerdict?, SignatureVerdict?) = (nil, nil)
    public var firstNs: Int64
    public var lastNs: Int64
    /// Frame bytes on the wire (pcap `len`), transport payload bytes, packets.
    var bytes: (UInt64, UInt64) = (0, 0)
    var payloadBytes: (UInt64, UInt64) = (0, 0)
    /// 32 bits: a direction that reaches `UInt32.max` packets ends the flow
    /// (as an active timeout would), so counts never wrap.
    var packets: (UInt32, UInt32) = (0, 0)
    /// Next expected TCP sequence number per direction (for retransmissions).
    var nextSequence: (UInt32, UInt32) = (0, 0)
    public var history = TCPHistory()
    // Export fields (conn.log, IPFIX, Community ID). The ICMP type and code
    // of the first ICMP message (the Community ID's "ports") fill the two
    // bytes of padding before `icmpErrors`; the tunnel is in `directions`'
    // top bits; the IP-byte counters are the 16 bytes at the end.
    var icmpFirst: (type: UInt8, code: UInt8) = (0, 0)
    /// ICMP errors that quote this flow's header (not in its packets or bytes).
    public var icmpErrors: UInt32 = 0
    /// IP-layer bytes per direction (IPv4 total length, IPv6 40 + payload length).
    var ipBytes: (UInt64, UInt64) = (0, 0)

    static let liveBit: UInt8 = 16
    static let ipv6Bit: UInt8 = 32
    /// `icmpFirst` holds the first ICMP message's type and code.
    static let icmpSeenBit: UInt8 = 64

    init(key: FlowKey, ipVersion: UInt8, timestampNs: Int64, direction: UInt8) {
        self.key = key
        firstNs = timestampNs
        lastNs = timestampNs
        bits = Self.liveBit | (ipVersion == 6 ? Self.ipv6Bit : 0)
        directions = UInt16(direction) + 1
    }

    // MARK: packed fields

    @inline(__always)
    func direction(_ field: Int) -> Int8 { Int8((directions >> UInt16(field * 2)) & 3) - 1 }

    @inline(__always)
    mutating func setDirection(_ field: Int, _ value: Int8) {
        let shift = UInt16(field * 2)
        directions = directions & ~(3 << shift) | UInt16(UInt8(bitPattern: value + 1) & 3) << shift
    }

    @inline(__always)
    func bit(_ mask: UInt8) -> Bool { bits & mask != 0 }

    @inline(__always)
    mutating func setBit(_ mask: UInt8, _ on: Bool) { bits = on ? bits | mask : bits & ~mask }

    public var ipVersion: UInt8 { bit(Self.ipv6Bit) ? 6 : 4 }
    /// Direction of the first packet seen.
    public var firstDirection: UInt8 { UInt8(max(0, direction(0))) }
    /// Direction of the first SYN without ACK, SYN-ACK, RST and ICMP request (-1: none).
    public var synDirection: Int8 {
        get { direction(1) }
        set { setDirection(1, newValue) }
    }
    public var synAckDirection: Int8 {
        get { direction(2) }
        set { setDirection(2, newValue) }
    }
    public var rstDirection: Int8 {
        get { direction(3) }
        set { setDirection(3, newValue) }
    }
    public var requestDirection: Int8 {
        get { direction(4) }
        set { setDirection(4, newValue) }
    }
    /// Which direction carried payload first (-1: none yet).
    public var firstPayloadDirection: Int8 {
        get { direction(5) }
        set { setDirection(5, newValue) }
    }
    /// The outermost tunnel the flow's first tunnelled packet came through
    /// (`directions`' top 4 bits, above the six 2-bit fields), or nil.
    public var tunnel: TunnelKind? {
        let v = UInt8(truncatingIfNeeded: directions >> 12)
        return v == 0 ? nil : TunnelKind(rawValue: v &- 1)
    }
    /// The first ICMP message's type and code, or nil (not ICMP).
    public var firstICMP: (type: UInt8, code: UInt8)? { bit(Self.icmpSeenBit) ? icmpFirst : nil }

    /// The slot holds a live flow (the table's sweep walks slots).
    var live: Bool {
        get { bit(Self.liveBit) }
        set { setBit(Self.liveBit, newValue) }
    }

    /// Both directions' counters.
    public var counters: (DirectionCounters, DirectionCounters) {
        var a = DirectionCounters(), b = DirectionCounters()
        a.packets = UInt64(packets.0); b.packets = UInt64(packets.1)
        a.bytes = bytes.0; b.bytes = bytes.1
        a.payloadBytes = payloadBytes.0; b.payloadBytes = payloadBytes.1
        a.ipBytes = ipBytes.0; b.ipBytes = ipBytes.1
        a.tcpFlags = flags.0; b.tcpFlags = flags.1
        return (a, b)
    }

    /// A direction's packet count can't grow further.
    @inline(__always)
    var packetCountFull: Bool { packets.0 == .max || packets.1 == .max }

    /// TCP: both sides sent FIN, or someone sent RST. A SYN after this starts
    /// a new flow on the same key (port reuse).
    public var isClosed: Bool {
        guard key.proto == .tcp else { return false }
        if rstDirection >= 0 { return true }
        return flags.0.contains(.fin) && flags.1.contains(.fin)
    }

    /// How a flow ends when nothing else ended it first.
    public var closeReason: EndReason {
        guard key.proto == .tcp else { return .end }
        if rstDirection >= 0 { return .rst }
        if flags.0.contains(.fin) && flags.1.contains(.fin) { return .fin }
        return .end
    }

    @inline(__always)
    mutating func add(_ p: PacketFacts, frame: UnsafeRawBufferPointer, direction: UInt8,
                      timestampNs: Int64, wireLength: UInt32) {
        if timestampNs < firstNs { firstNs = timestampNs }
        if timestampNs > lastNs { lastNs = timestampNs }
        let d = Int8(direction)
        let payload = UInt64(p.payloadLength)
        if direction == 0 {
            packets.0 &+= 1; bytes.0 &+= UInt64(wireLength); payloadBytes.0 &+= payload
            ipBytes.0 &+= UInt64(p.ipLength)
            flags.0.formUnion(p.tcpFlags)
        } else {
            packets.1 &+= 1; bytes.1 &+= UInt64(wireLength); payloadBytes.1 &+= payload
            ipBytes.1 &+= UInt64(p.ipLength)
            flags.1.formUnion(p.tcpFlags)
        }
        // Tunnel only once (the top bits are 0 until then); both branches
        // are rarely taken, so per packet this is two compares.
        if p.tunnel != 0 && directions >> 12 == 0 { directions |= UInt16(p.tunnel & 0xF) << 12 }
        if p.payloadLength > 0 && !bit(direction == 0 ? 1 : 2) {
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
                // A later fragment continues the first one's segment: not a retransmission.
                if !p.laterFragment { trackSequence(p, direction: direction) }
            } else if f.contains(.ack) && f.isDisjoint(with: [.syn, .fin, .rst]) {
                history.record(.ack, direction: direction)
            }
        } else {
            if requestDirection < 0, p.isICMPRequest { requestDirection = d }
            if (p.proto == .icmp || p.proto == .icmpv6) && !bit(Self.icmpSeenBit) {
                icmpFirst = (p.icmpType, p.icmpCode)
                bits |= Self.icmpSeenBit
            }
        }
    }

    /// Reads the signature of a direction's first payload, once.
    mutating func firstPayload(_ p: PacketFacts, frame: UnsafeRawBufferPointer, direction: UInt8) {
        var head = PayloadHead()
        head.fill(from: frame, offset: Int(p.payloadOffset), captured: Int(p.capturedPayload),
                  payloadLength: Int(p.payloadLength))
        let verdict = Signatures.classify(head, proto: p.proto)
        if direction == 0 {
            bits |= 1
            verdicts.0 = verdict
        } else {
            bits |= 2
            verdicts.1 = verdict
        }
        if firstPayloadDirection < 0 { firstPayloadDirection = Int8(direction) }
    }

    /// A payload that ends at or before data already seen is a retransmission.
    @inline(__always)
    mutating func trackSequence(_ p: PacketFacts, direction: UInt8) {
        let end = p.tcpSequence &+ p.payloadLength
        let known = bit(direction == 0 ? 4 : 8)
        let next = direction == 0 ? nextSequence.0 : nextSequence.1
        if known && Int32(bitPattern: end &- next) <= 0 {
            history.record(.retransmit, direction: direction)
            return
        }
        if direction == 0 {
            nextSequence.0 = end; bits |= 4
        } else {
            nextSequence.1 = end; bits |= 8
        }
    }
}
