import PFlowCore

/// The SNI host_name of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3),
/// TLS 1.0-1.3, read as the bytes come: fed one TCP segment's payload after
/// another, it stops where a segment ends and goes on with the next, so a
/// ClientHello longer than a segment (a post-quantum key share makes one
/// over 1,500 bytes) still gives its name. Handshake records may be
/// fragmented anywhere. The state is a few counters and the name so far:
/// no references, no allocation. Work per segment is bounded by its length
/// (fields are read byte by byte, everything else is skipped in one step).
public struct ClientHelloScanner: Sendable {
    public enum Progress: Sendable, Equatable {
        /// The name is in `note`.
        case found
        /// The bytes so far are a ClientHello whose SNI (if any) is still to come.
        case needMore
        /// Not a ClientHello, malformed, or one without a host_name.
        case none
    }

    enum Step: UInt8, Sendable {
        case type, length, fixed, sessionLength, session, suitesLength, suites, compressionsLength, compressions
        case extensionsLength, extensionType, extensionLength, extensionBody
        case listLength, nameType, nameLength, name, otherName, finished
    }

    // Record layer: the current record's fragment bytes still to come, and
    // a record header being read (`headerAt` of its 5 bytes so far).
    var recordLeft = 0
    var headerAt = 0
    var headerLength = 0
    // Handshake layer.
    var step = Step.type
    /// Bytes still wanted by this step: a field's width or a skip.
    var want = 1
    var value = 0
    /// Bytes of the ClientHello body (after its 4-byte header) still to come.
    var bodyLeft = 0
    /// Bytes left in the extensions block, the current extension, the SNI list.
    var extensionsLeft = 0
    var extensionLeft = 0
    var listLeft = 0
    var extensionType = 0
    var nameType = 0
    /// The name read so far, made safe byte by byte.
    public private(set) var note = NameNote()

    public init() {}

    /// Reads `p`, the next bytes of the stream (the first call: a segment
    /// starting with a record header).
    public mutating func feed(_ p: UnsafeRawBufferPointer) -> Progress {
        guard step != .finished else { return .none }
        var i = 0
        while i < p.count {
            if recordLeft == 0 {
                // A record header: handshake (22), version 3.x, a length.
                let b = Int(p[i])
                i += 1
                switch headerAt {
                case 0: guard b == 0x16 else { return fail() }
                case 1: guard b == 3 else { return fail() }
                case 3: headerLength = b << 8
                case 4:
                    recordLeft = headerLength | b
                    guard recordLeft > 0 else { return fail() }
                default: break
                }
                headerAt = headerAt == 4 ? 0 : headerAt + 1
                continue
            }
            let run = min(p.count - i, recordLeft)
            let used = consume(p, from: i, count: run)
            i += used
            recordLeft -= used
            if step == .finished { return note.source == .sni ? .found : .none }
            if used < run { return fail() }
        }
        return .needMore
    }

    private mutating func fail() -> Progress {
        step = .finished
        note = NameNote()
        return .none
    }

    /// Moves to `next`, which wants `bytes` (a skip or a field); a skip of 0 is taken at once.
    @inline(__always)
    private mutating func go(_ next: Step, _ bytes: Int) {
        step = next
        want = bytes
        value = 0
    }

    /// Handshake bytes `p[from..<from+count]`; returns how many it took
    /// (fewer only when it finished).
    private mutating func consume(_ p: UnsafeRawBufferPointer, from: Int, count: Int) -> Int {
        var used = 0
        while used < count && step != .finished {
            // Past the 4-byte header every byte belongs to the body; past
            // the extensions' length every one to the extensions.
            let inBody = step != .type && step != .length
            let inExtensions = step.rawValue >= Step.extensionType.rawValue
            switch step {
            case .fixed, .session, .suites, .compressions, .extensionBody, .otherName:
                // Skips, whole runs at a time.
                var k = min(want, count - used)
                if inBody { k = min(k, bodyLeft) }
                if inExtensions { k = min(k, extensionsLeft) }
                guard k > 0 || want == 0 else { step = .finished; return used }
                used += k
                want -= k
                if inBody { bodyLeft -= k }
                if inExtensions { extensionsLeft -= k }
                if step == .extensionBody || step == .otherName { extensionLeft -= k }
                if step == .otherName { listLeft -= k }
                if want == 0 { advance() }
            default:
                if inBody {
                    guard bodyLeft > 0 else { step = .finished; return used }
                    bodyLeft -= 1
                }
                if inExtensions {
                    guard extensionsLeft > 0 else { step = .finished; return used }
                    extensionsLeft -= 1
                }
                if step.rawValue >= Step.listLength.rawValue { extensionLeft -= 1 }
                if step.rawValue >= Step.nameType.rawValue { listLeft -= 1 }
                let b = p[from + used]
                used += 1
                if step == .name {
                    note.append(b)
                } else {
                    value = value << 8 | Int(b)
                }
                want -= 1
                if want == 0 { advance() }
            }
        }
        return used
    }

    /// A step's bytes are all in: check them and go on.
    private mutating func advance() {
        switch step {
        case .type:
            if value == 1 { go(.length, 3) } else { step = .finished }
        case .length:
            bodyLeft = value
            go(.fixed, 34)                               // version, random
        case .fixed: go(.sessionLength, 1)
        case .sessionLength: go(.session, value); if want == 0 { advance() }
        case .session: go(.suitesLength, 2)
        case .suitesLength: go(.suites, value); if want == 0 { advance() }
        case .suites: go(.compressionsLength, 1)
        case .compressionsLength: go(.compressions, value); if want == 0 { advance() }
        case .compressions: go(.extensionsLength, 2)
        case .extensionsLength:
            extensionsLeft = min(value, bodyLeft)
            nextExtension()
        case .extensionType:
            extensionType = value
            go(.extensionLength, 2)
        case .extensionLength:
            guard value <= extensionsLeft else { step = .finished; return }
            extensionLeft = value
            if extensionType == 0 && value >= 2 { go(.listLength, 2) } else { go(.extensionBody, value); if want == 0 { advance() } }
        case .extensionBody:
            nextExtension()
        case .listLength:
            listLeft = min(value, extensionLeft)
            nextName()
        case .nameType:
            nameType = value
            go(.nameLength, 2)
        case .nameLength:
            guard value <= listLeft else { step = .finished; return }
            if nameType == 0 && value > 0 {
                note = NameNote()
                go(.name, value)
            } else {
                go(.otherName, value)
                if want == 0 { advance() }
            }
        case .name:
            note.source = .sni
            step = .finished
        case .otherName:
            nextName()
        case .finished:
            break
        }
    }

    private mutating func nextExtension() {
        // Each extension takes at least its 4-byte header: bounded by the length.
        if extensionsLeft >= 4 { go(.extensionType, 2) } else { step = .finished }
    }

    private mutating func nextName() {
        if listLeft >= 3 {
            go(.nameType, 1)
        } else {
            // The SNI extension named no host: the rest of it, then the others.
            go(.extensionBody, extensionLeft)
            if want == 0 { advance() }
        }
    }
}

/// ClientHellos waiting for their next segment, kept where names are read
/// (the reader side, which has no flow state, so FlowState doesn't grow): a
/// fixed table of 64, found by the sender's socket pair, allocated once. A
/// collision, a gap or a stale entry drops the older ClientHello: at worst
/// its SNI is lost. While none waits, a packet costs one compare.
public struct PendingHellos {
    struct Entry {
        var key: FlowKey
        var nextSequence: UInt32 = 0
        var expiresNs: Int64 = 0
        /// Segments fed so far; 0: the slot is free.
        var segments: UInt8 = 0
        var scanner = ClientHelloScanner()
    }
    public static let slots = 64
    /// A ClientHello's next segment follows at once (the initial window
    /// holds the whole ClientHello); 3 s allows a retransmission timeout.
    public static let lifetimeNs: Int64 = 3_000_000_000
    /// A handshake record holds at most 16 KB: 12 segments of 1,460 bytes.
    public static let maxSegments: UInt8 = 12
    var entries: [Entry]
    public private(set) var waiting = 0
    /// When the last entry held goes stale: past it, all are dropped at
    /// once, so entries whose next segment never came don't keep every
    /// packet looking.
    var staleNs = Int64.min

    public enum Resumed { case notHeld, held(found: Bool) }

    public init() {
        let none = FlowKey(addressA: IPAddress(high: 0, low: 0), addressB: IPAddress(high: 0, low: 0),
                           portA: 0, portB: 0, proto: IPProtocol(rawValue: 0), vlan: 0)
        entries = [Entry](repeating: Entry(key: none), count: Self.slots)
    }

    @inline(__always)
    static func slot(_ k: FlowKey) -> Int {
        var h = k.addressA.low &* 0x9E37_79B9_7F4A_7C15 ^ k.addressB.low ^ k.addressA.high ^ k.addressB.high &* 31
        h ^= UInt64(k.portA) << 32 | UInt64(k.portB) << 16 | UInt64(k.vlan)
        h ^= h >> 31
        h = h &* 0xBF58_476D_1CE4_E5B9
        return Int(truncatingIfNeeded: h >> 58)
    }

    /// Keeps `scanner`, which wants the bytes from `nextSequence` on of the
    /// direction `key` (as sent) names.
    public mutating func hold(_ scanner: ClientHelloScanner, key: FlowKey, nextSequence: UInt32, now: Int64) {
        let i = Self.slot(key)
        if entries[i].segments == 0 { waiting += 1 }
        entries[i] = Entry(key: key, nextSequence: nextSequence, expiresNs: now &+ Self.lifetimeNs,
                           segments: 1, scanner: scanner)
        staleNs = max(staleNs, now &+ Self.lifetimeNs)
    }

    /// If `payload` (at `sequence`, on `key` as sent) is the next segment of
    /// a ClientHello held: feeds it; `note` gets the name when found. With
    /// `complete` false (the segment was cut by the snaplen) it can't go on.
    public mutating func resume(key: FlowKey, sequence: UInt32, payload: UnsafeRawBufferPointer, complete: Bool,
                                now: Int64, into note: inout NameNote) -> Resumed {
        if now > staleNs || now < staleNs &- 2 * Self.lifetimeNs {
            // All stale (or the clock went back): drop them all.
            for j in entries.indices { entries[j].segments = 0 }
            waiting = 0
            staleNs = Int64.min
            return .notHeld
        }
        let i = Self.slot(key)
        guard entries[i].segments != 0, entries[i].key == key else { return .notHeld }
        if now > entries[i].expiresNs { release(i); return .notHeld }
        let next = entries[i].nextSequence
        guard sequence == next else {
            // A copy of what came before (a retransmission) leaves it waiting; a gap ends it.
            if Int32(bitPattern: sequence &- next) > 0 { release(i) }
            return .notHeld
        }
        let progress = entries[i].scanner.feed(payload)
        switch progress {
        case .found:
            note = entries[i].scanner.note
            release(i)
            return .held(found: true)
        case .needMore where complete && entries[i].segments < Self.maxSegments:
            entries[i].segments += 1
            entries[i].nextSequence = sequence &+ UInt32(truncatingIfNeeded: payload.count)
            return .held(found: false)
        default:
            release(i)
            return .held(found: false)
        }
    }

    private mutating func release(_ i: Int) {
        entries[i].segments = 0
        waiting -= 1
    }
}
