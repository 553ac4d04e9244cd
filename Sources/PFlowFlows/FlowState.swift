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
    // For the export formats: the IP packet's length, the ICMP type and
    // code, and the outermost tunnel (`TunnelKind` raw value + 1; 0: none).
    // Wide fields first: 30 bytes, no padding inside (the ring slot stays
    // 128 bytes).
    public var ipLength: UInt32 = 0
    // Health (issue 16): the window for zero-window advertisements and probes.
    public var tcpWindow: UInt16 = 0
    public var proto = IPProtocol(rawValue: 0)
    public var tcpFlags = TCPFlags()
    public var ipVersion: UInt8 = 0
    public var isICMPRequest = false
    /// An IP fragment other than the first: no TCP header, so no sequence
    /// number, window or handshake flags of its own (the decoder's are the
    /// first fragment's).
    public var laterFragment = false
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
        tcpWindow = p.tcpWindow
    }
}

/// What the tracker keeps per live flow. Directions are canonical: index 0
/// is A→B, index 1 is B→A. Fixed size (160 bytes: the IP-byte counters the
/// export formats need and the health fields included), no references: a
/// flow costs no allocation beyond its slot. Small fields are packed into
/// bits behind accessors; the stored order keeps the padding out.
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
    public var history = TCPHistory()        // 10 bytes; the next fields fill its tail
    // Export fields (conn.log, IPFIX, Community ID): the ICMP type and code
    // of the first ICMP message (the Community ID's "ports"); the tunnel is
    // in `directions`' top bits.
    var icmpFirst: (type: UInt8, code: UInt8) = (0, 0)
    /// Zero-window advertisements per direction (saturating at 65,535).
    public var zeroWindows: (UInt16, UInt16) = (0, 0)
    /// 32 bits: a direction that reaches `UInt32.max` packets ends the flow
    /// (as an active timeout would), so counts never wrap.
    var packets: (UInt32, UInt32) = (0, 0)
    /// Next expected TCP sequence number per direction (for retransmissions).
    var nextSequence: (UInt32, UInt32) = (0, 0)
    /// Frame bytes on the wire (pcap `len`), transport payload bytes and
    /// IP-layer bytes (IPv4 total length, IPv6 40 + payload length) per
    /// direction, as 48-bit counters: these low 32 bits and `byteHighs`'
    /// 16 (A→B frame, B→A frame, A→B payload, B→A payload, A→B IP, B→A IP).
    /// 256 TB a direction: one that comes within 4 GB of it ends the flow,
    /// as a full packet count does (`packetCountFull`), so none wraps.
    var byteLows: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0)

    // MARK: health (issue 16): latencies, retransmissions, zero windows, name
    /// Server (SYN → SYN-ACK), client (SYN-ACK → ACK) and application
    /// (client payload → server payload) latency, as `LatencyCode`s. The
    /// one being timed holds the start of its interval meanwhile (an
    /// offset from `firstNs`; see `timingPhase`), so no timer of its own.
    var latencies: (UInt32, UInt32, UInt32) = (LatencyCode.none, LatencyCode.none, LatencyCode.none)
    /// TCP segments that resent sequence space, per direction.
    public var retransmissions: (UInt32, UInt32) = (0, 0)
    /// The server's name: a `NameTable` serial (low 24 bits), its source
    /// (bits 28-29) and which address it names (bit 30: B); bits 24-27 hold
    /// the latency timing's phase and direction (see `timingPhase`), which
    /// have no room left in `bits` or `directions`.
    var nameWord: UInt32 = 0
    var byteHighs: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) = (0, 0, 0, 0, 0, 0)
    /// ICMP errors that quote this flow's header (not in its packets or
    /// bytes), saturating at 65,535.
    var icmpErrorCount: UInt16 = 0
    public var icmpErrors: UInt32 { UInt32(icmpErrorCount) }

    @inline(__always)
    mutating func countICMPError() { if icmpErrorCount < .max { icmpErrorCount += 1 } }

    /// Frame, payload and IP bytes of direction 0 or 1.
    var bytes: (UInt64, UInt64) {
        (UInt64(byteHighs.0) << 32 | UInt64(byteLows.0), UInt64(byteHighs.1) << 32 | UInt64(byteLows.1))
    }
    var payloadBytes: (UInt64, UInt64) {
        (UInt64(byteHighs.2) << 32 | UInt64(byteLows.2), UInt64(byteHighs.3) << 32 | UInt64(byteLows.3))
    }
    var ipBytes: (UInt64, UInt64) {
        (UInt64(byteHighs.4) << 32 | UInt64(byteLows.4), UInt64(byteHighs.5) << 32 | UInt64(byteLows.5))
    }

    /// Bit 31 of `nameWord`: a byte counter's high part reached 0xFFFF
    /// (set where the carry happens, once per 4 GB, so the per-packet test
    /// of `packetCountFull` is one bit, not six compares).
    static let countersFullBit: UInt32 = 1 << 31

    /// Adds `v` to the 48-bit counter (`low`, `high`); true when its high
    /// part just reached 0xFFFF.
    @inline(__always)
    static func add(_ v: UInt32, _ low: inout UInt32, _ high: inout UInt16) -> Bool {
        let (sum, carry) = low.addingReportingOverflow(v)
        low = sum
        guard carry else { return false }
        high &+= 1
        return high == .max
    }

    static let liveBit: UInt8 = 16
    static let ipv6Bit: UInt8 = 32
    /// The last window each direction advertised was zero (health).
    static let zeroWindowBits: (UInt8, UInt8) = (64, 128)

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
    /// The first ICMP message's type and code, or nil (not ICMP). Every
    /// packet of an ICMP flow is ICMP, so the key says whether it was set
    /// (no bit of its own: `bits` is full).
    public var firstICMP: (type: UInt8, code: UInt8)? {
        key.proto == .icmp || key.proto == .icmpv6 ? icmpFirst : nil
    }

    /// The slot holds a live flow (the table's sweep walks slots).
    var live: Bool {
        get { bit(Self.liveBit) }
        set { setBit(Self.liveBit, newValue) }
    }

    // MARK: health accessors (issue 16)

    /// Where the latency timing is (bits 24-26 of `nameWord`): 0 nothing
    /// timed, 1 SYN seen (`latencies.0` holds the last SYN's time), 2
    /// SYN-ACK seen (`latencies.1` holds its time), 3 handshake done, 4
    /// client payload seen (`latencies.2` holds its time), 5 all timed.
    var timingPhase: UInt32 {
        get { (nameWord >> 24) & 7 }
        set { nameWord = nameWord & ~(7 << 24) | (newValue & 7) << 24 }
    }
    /// The direction timed as the client's (bit 27 of `nameWord`).
    var timedDirection: UInt8 {
        get { UInt8((nameWord >> 27) & 1) }
        set { nameWord = nameWord & ~(1 << 27) | UInt32(newValue & 1) << 27 }
    }
    /// Which direction the timings took for the client's (-1: none timed).
    public var timedClientDirection: Int8 { timingPhase == 0 ? -1 : Int8(timedDirection) }
    // A latency whose interval is still running holds its start: not a latency yet.
    public var serverLatencyNs: Int64? { timingPhase >= 2 ? LatencyCode.decode(latencies.0) : nil }
    public var clientLatencyNs: Int64? { timingPhase >= 3 ? LatencyCode.decode(latencies.1) : nil }
    public var appLatencyNs: Int64? { timingPhase == 5 ? LatencyCode.decode(latencies.2) : nil }
    /// The server's name: its serial in the tracker's `NameTable`, where it
    /// came from, and whether it names address B (else A).
    public var nameSerial: UInt32 { nameWord & NameTable.serialMask }
    public var nameSource: NameSource { NameSource(rawValue: UInt8((nameWord >> 28) & 3)) ?? .none }
    public var nameIsForB: Bool { nameWord & (1 << 30) != 0 }

    mutating func setName(_ serial: UInt32, _ source: NameSource, forB: Bool) {
        // Keeps the timing bits (24-27) and the full-counter bit (31).
        nameWord = nameWord & (0xF << 24 | Self.countersFullBit) | serial & NameTable.serialMask | UInt32(source.rawValue & 3) << 28
            | (forB ? 1 << 30 : 0)
    }

    @inline(__always)
    private func elapsed(since code: UInt32, _ now: Int64) -> Int64 {
        now &- (firstNs &+ (LatencyCode.decode(code) ?? 0))
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

    /// A direction's packet count or a byte counter can't grow further.
    @inline(__always)
    var packetCountFull: Bool {
        packets.0 == .max || packets.1 == .max || nameWord & Self.countersFullBit != 0
    }

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
        if timestampNs < firstNs {
            // The running interval's start is kept from the first packet's
            // time: keep its instant.
            func rebase(_ code: inout UInt32) {
                if let t = LatencyCode.decode(code) { code = LatencyCode.encode(t &+ (firstNs &- timestampNs)) }
            }
            switch timingPhase {
            case 1: rebase(&latencies.0)
            case 2: rebase(&latencies.1)
            case 4: rebase(&latencies.2)
            default: break
            }
            firstNs = timestampNs
        }
        if timestampNs > lastNs { lastNs = timestampNs }
        let d = Int8(direction)
        if direction == 0 {
            packets.0 &+= 1
            var full = Self.add(wireLength, &byteLows.0, &byteHighs.0)
            full = Self.add(p.payloadLength, &byteLows.2, &byteHighs.2) || full
            full = Self.add(p.ipLength, &byteLows.4, &byteHighs.4) || full
            if full { nameWord |= Self.countersFullBit }
            flags.0.formUnion(p.tcpFlags)
        } else {
            packets.1 &+= 1
            var full = Self.add(wireLength, &byteLows.1, &byteHighs.1)
            full = Self.add(p.payloadLength, &byteLows.3, &byteHighs.3) || full
            full = Self.add(p.ipLength, &byteLows.5, &byteHighs.5) || full
            if full { nameWord |= Self.countersFullBit }
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
            } else if f.contains(.ack) && f.isDisjoint(with: [.syn, .fin, .rst]) {
                history.record(.ack, direction: direction)
            }
            // A later fragment continues the first one's segment: not a
            // retransmission, and no header of its own to time.
            if !p.laterFragment {
                trackSequence(p, direction: direction)
                timeHandshake(f, direction: direction, timestampNs)
            }
        } else {
            if requestDirection < 0, p.isICMPRequest { requestDirection = d }
            // The flow's first packet (its counts were just raised to 1).
            if (p.proto == .icmp || p.proto == .icmpv6) && packets.0 &+ packets.1 == 1 {
                icmpFirst = (p.icmpType, p.icmpCode)
            }
        }
        if p.payloadLength > 0 && timingPhase != 5 { timeApplication(direction: direction, timestampNs) }
    }

    /// Server and client latency from the handshake: the last SYN before the
    /// SYN-ACK, the SYN-ACK, and the first ACK (without SYN) of the SYN's
    /// sender after it; their sum is tshark's `tcp.analysis.initial_rtt`.
    @inline(__always)
    mutating func timeHandshake(_ f: TCPFlags, direction: UInt8, _ now: Int64) {
        let phase = timingPhase
        guard phase < 3 else { return }
        if f.contains(.syn) {
            if !f.contains(.ack) {
                // A SYN sent again restarts the timing (until a SYN-ACK came).
                if phase <= 1 {
                    timingPhase = 1
                    timedDirection = direction
                    latencies.0 = LatencyCode.encode(now &- firstNs)   // the SYN's time
                }
            } else if phase == 1 && direction != timedDirection {
                latencies.0 = LatencyCode.encode(elapsed(since: latencies.0, now))
                timingPhase = 2
                latencies.1 = LatencyCode.encode(now &- firstNs)       // the SYN-ACK's time
            }
        } else if phase == 2 && direction == timedDirection && f.contains(.ack) {
            latencies.1 = LatencyCode.encode(elapsed(since: latencies.1, now))
            timingPhase = 3
        }
    }

    /// Application latency: the client's first payload to the server's first
    /// payload after it. The client is the SYN's sender, else the first
    /// direction to send payload (the record keeps the time only when the
    /// roles agree).
    @inline(__always)
    mutating func timeApplication(direction: UInt8, _ now: Int64) {
        switch timingPhase {
        case 0:
            timedDirection = direction
            fallthrough
        case 1, 2, 3:
            // A server that speaks first (a banner) is not what is timed.
            guard direction == timedDirection || timingPhase == 0 else { return }
            // A handshake interval still running is dropped (it held its start).
            if timingPhase == 1 { latencies.0 = LatencyCode.none }
            if timingPhase == 2 { latencies.1 = LatencyCode.none }
            timingPhase = 4
            latencies.2 = LatencyCode.encode(now &- firstNs)           // the client payload's time
        case 4:
            guard direction != timedDirection else { return }
            latencies.2 = LatencyCode.encode(elapsed(since: latencies.2, now))
            timingPhase = 5
        default:
            break
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

    /// Retransmissions as tshark's `tcp.analysis.retransmission` judges them
    /// (fast and spurious ones included): a segment with payload, SYN or FIN
    /// whose sequence number is below the next one expected in its
    /// direction, unless it is a keep-alive (0 or 1 byte at next - 1) or
    /// carries new data from next - 1 on (after a zero-window probe). A
    /// zero-window probe (1 byte at next while the peer's window is zero)
    /// doesn't move the expected number. Zero windows: window 0 without
    /// SYN, FIN or RST. (tshark's out-of-order segments, sent again within
    /// an RTT of the highest one, count here: telling them apart takes a
    /// time per direction this state doesn't keep.)
    @inline(__always)
    mutating func trackSequence(_ p: PacketFacts, direction: UInt8) {
        let f = p.tcpFlags
        let seq = p.tcpSequence
        let length = p.payloadLength
        let synOrFin = !f.isDisjoint(with: [.syn, .fin])
        let known = bit(direction == 0 ? 4 : 8)
        let next = direction == 0 ? nextSequence.0 : nextSequence.1
        let peerZero = bit(direction == 0 ? Self.zeroWindowBits.1 : Self.zeroWindowBits.0)
        let probe = known && length == 1 && seq == next && peerZero
        if known && (length > 0 || synOrFin) {
            let keepAlive = !probe && length <= 1 && seq == next &- 1 && f.isDisjoint(with: [.syn, .fin, .rst])
            let behind = Int32(bitPattern: seq &- next) < 0 && !(length > 1 && seq == next &- 1)
            if behind && !keepAlive {
                if direction == 0 { retransmissions.0 &+= 1 } else { retransmissions.1 &+= 1 }
            }
            // Zeek's history letter: a payload that ends at or before data already seen.
            if length > 0 && Int32(bitPattern: seq &+ length &- next) <= 0 {
                history.record(.retransmit, direction: direction)
            }
        }
        let zero = p.tcpWindow == 0
        let zeroBit = direction == 0 ? Self.zeroWindowBits.0 : Self.zeroWindowBits.1
        setBit(zeroBit, zero)
        if zero && f.isDisjoint(with: [.syn, .fin, .rst]) {
            if direction == 0 {
                if zeroWindows.0 < .max { zeroWindows.0 += 1 }
            } else if zeroWindows.1 < .max { zeroWindows.1 += 1 }
        }
        let end = seq &+ length &+ (synOrFin ? 1 : 0)
        if (!known || Int32(bitPattern: end &- next) > 0) && !probe {
            if direction == 0 {
                nextSequence.0 = end; bits |= 4
            } else {
                nextSequence.1 = end; bits |= 8
            }
        }
    }
}

/// A latency or time offset in 32 bits: nanoseconds below 2^31 (2.1 s),
/// else microseconds with the top bit set (to 35 minutes; longer ones are
/// kept as 35 minutes). `none`: not measured.
public enum LatencyCode {
    public static let none = UInt32.max
    static let microseconds: UInt32 = 1 << 31

    @inline(__always)
    public static func encode(_ ns: Int64) -> UInt32 {
        if ns < 0 { return 0 }
        if ns < Int64(microseconds) { return UInt32(ns) }
        return microseconds | UInt32(min(ns / 1000, Int64(microseconds - 2)))
    }

    @inline(__always)
    public static func decode(_ code: UInt32) -> Int64? {
        if code == none { return nil }
        if code & microseconds != 0 { return Int64(code & ~microseconds) * 1000 }
        return Int64(code)
    }
}
