import PFlowCore
import PFlowWire
import CPlatform

/// Live flows by key. A flow ends when it has been idle longer than its
/// protocol's timeout (a closed TCP flow: longer than the linger), when it
/// outlives the active timeout, when a new SYN arrives on a TCP key whose
/// connection has closed (port reuse), when the table is full and it is the
/// least recently seen, or when the capture ends. Connection attempts and
/// ended flows go to `events` in the order they happen.
///
/// The per-packet path touches one index probe and one flow slot in place:
/// no allocation, no reference counting, no copy of the flow.
///
/// The table is used from one thread and never re-entered from `events`, so
/// its per-packet state skips the runtime's dynamic exclusivity checks
/// (`@exclusivity(unchecked)`), which otherwise cost more than a lookup.
public final class FlowTable {
    @exclusivity(unchecked) private var index: FlowIndex
    @exclusivity(unchecked) private var store: FlowStore
    // Least-recently-seen order, kept only when there is a capacity limit:
    // links per store slot, beside the states so they cost nothing otherwise.
    struct Link { var older: Int32 = -1; var newer: Int32 = -1 }
    @exclusivity(unchecked) private var links: [Link] = []
    @exclusivity(unchecked) private var oldest: Int32 = -1
    @exclusivity(unchecked) private var newest: Int32 = -1
    public let expiry: ExpiryPolicy
    public let knowledge: TrafficKnowledge
    /// Server names learned from the packets (tracker side, packet order).
    public let names = NameTable()
    /// The next note of the notes ring `add` reads (notes come in order).
    @exclusivity(unchecked) public var noteCursor = 0
    /// Where attempts and ended flows go (the pipeline swaps in its ring
    /// while it runs, and back after).
    @exclusivity(unchecked) public var events: FlowEvents
    /// This run's hash seed (copied, so the hot path reads a field, not a global).
    public let seed = HashSeed.run
    /// Packet time of the next sweep for idle flows.
    @exclusivity(unchecked) private var nextSweepNs = Int64.min
    private let sweepIntervalNs: Int64
    /// Packets behind the sweep's clock by more than an interval since it last followed them back.
    @exclusivity(unchecked) private var behindPackets = 0
    /// A jump of packet time (both ways) past which the fragment table's
    /// sweep takes the new time as its clock (the readers' clock-jump
    /// threshold: a day).
    public static let clockJumpNs: Int64 = 86_400_000_000_000

    public init(expiry: ExpiryPolicy = ExpiryPolicy(), knowledge: TrafficKnowledge = TrafficKnowledge(),
                events: FlowEvents, expectedFlows: Int = 1 << 16) {
        self.expiry = expiry
        self.knowledge = knowledge
        self.events = events
        // Exact expiry happens on lookup; the sweep only frees slots, so it
        // can run a few times per idle timeout rather than per linger.
        let shortest = min(expiry.tcpIdleNs, expiry.udpIdleNs, expiry.otherIdleNs, expiry.activeNs ?? .max)
        sweepIntervalNs = expiry.sweepIntervalNs ?? max(1_000_000_000, shortest / 4)
        let capacity = min(expectedFlows, expiry.maxFlows ?? expectedFlows)
        index = FlowIndex(capacity: capacity)
        store = FlowStore(capacity: capacity)
    }

    public var liveCount: Int { index.count }
    /// The most flows live at once so far.
    @exclusivity(unchecked) public private(set) var peakLiveCount = 0

    /// Accounts the packet in `slot` (prepared, or prepared here) to its
    /// flow, creating or restarting the flow as needed; `quote` holds the
    /// quoted key of an ICMP error. `frame` is the slot's payload head.
    ///
    /// `lookahead` names the hashes of packets further on (0: none): the
    /// index entry of the first and, that entry having been fetched for an
    /// earlier call, the flow state of the second are prefetched, so their
    /// lookups find both in cache.
    @inline(__always)
    public func add(_ slot: UnsafeMutablePointer<TrackedPacket>, quote: UnsafePointer<FlowKey>,
                    notes: UnsafePointer<NameNote>, noteMask: Int = 0,
                    lookahead: (index: UInt64, state: UInt64) = (0, 0)) {
        add(slot, quote: quote, notes: notes, noteMask: noteMask, lookahead: lookahead, to: events)
    }

    /// `add` with the events receiver held by the caller, who must have it
    /// be `events`: a call on the stored property retains and releases it
    /// (atomic updates of its object's header, a cache line the pipeline's
    /// other thread reads) around each connection attempt and each flow
    /// ended on lookup; the pipeline's loop holds it once.
    @inline(__always)
    public func add(_ slot: UnsafeMutablePointer<TrackedPacket>, quote: UnsafePointer<FlowKey>,
                    notes: UnsafePointer<NameNote>, noteMask: Int = 0,
                    lookahead: (index: UInt64, state: UInt64) = (0, 0), to events: FlowEvents) {
        if lookahead.index != 0 { index.prefetchEntry(hash: lookahead.index) }
        if lookahead.state != 0 { index.prefetchState(hash: lookahead.state, in: store) }
        if !slot.pointee.prepared { slot.pointee.prepare(seed) }
        let timestampNs = slot.pointee.timestampNs
        if timestampNs >= nextSweepNs {
            if nextSweepNs != Int64.min { sweep(now: timestampNs) }
            nextSweepNs = timestampNs &+ sweepIntervalNs
        } else if timestampNs < nextSweepNs &- 2 &* sweepIntervalNs {
            // Packet time went back by more than a sweep interval (a record
            // dated 2106 went before, merged files, a capture in reverse
            // order): the sweep follows it back rather than wait for the old
            // time to come round again. At most once per a quarter of the
            // slots' worth of such packets, so clocks that alternate can't
            // make every packet sweep (at most a few slots per packet).
            behindPackets &+= 1
            if behindPackets > store.used >> 2 {
                behindPackets = 0
                sweep(now: timestampNs)
                nextSweepNs = timestampNs &+ sweepIntervalNs
            }
        }
        if slot.pointee.hasQuote { countICMPError(quote.pointee) }
        let flow = withUnsafeBytes(of: &slot.pointee.head) { head in
            account(slot.pointee.facts, key: slot.pointee.key, forward: slot.pointee.forward, hash: slot.pointee.hash,
                    frame: head, timestampNs: timestampNs, wireLength: slot.pointee.wireLength, to: events)
        }
        if slot.pointee.hasNote {
            takeNote(notes + (noteCursor & noteMask), flow: flow, forward: slot.pointee.forward)
            noteCursor &+= 1
        }
        if meter != nil { meterPacket(flow, slot) }
    }

    /// Kept out of line: with the view off, the inlined per-packet path
    /// holds only the nil check above.
    @inline(never)
    private func meterPacket(_ flow: UnsafeMutablePointer<FlowState>, _ slot: UnsafeMutablePointer<TrackedPacket>) {
        meter?.count(slot: flow - store.base, stamp: LiveMeter.stamp(firstNs: flow.pointee.firstNs, hash: slot.pointee.hash),
                     direction: slot.pointee.forward ? 0 : 1, wire: slot.pointee.wireLength)
    }

    /// The live view's running totals (nil: no view, and no cost but this check).
    @exclusivity(unchecked) public var meter: LiveMeter?

    /// A name the reader found in this packet: a DNS answer is remembered
    /// for the addresses it gave; an SNI or Host names this flow's server
    /// (the receiver), unless a stronger source named it already.
    private func takeNote(_ note: UnsafePointer<NameNote>, flow: UnsafeMutablePointer<FlowState>, forward: Bool) {
        switch note.pointee.source {
        case .dns:
            names.learnAnswer(note)
        case .sni, .httpHost:
            let source = note.pointee.source
            guard flow.pointee.nameSource.rawValue < source.rawValue else { return }
            flow.pointee.setName(names.intern(note), source, forB: forward)
        case .none:
            break
        }
    }

    /// A new flow gets the name a DNS answer gave one of its addresses
    /// (the one the first packet went to first). `key` is the flow's, as
    /// the caller has it: read back from the state just written, it waited
    /// on that write's cache line (perf: the costliest load of a new flow).
    @inline(__always)
    private func nameFromDNS(_ flow: UnsafeMutablePointer<FlowState>, key k: FlowKey, forward: Bool) {
        guard names.hasAddresses else { return }
        let (to, from) = forward ? (k.addressB, k.addressA) : (k.addressA, k.addressB)
        if let s = names.nameOf(to) {
            flow.pointee.setName(s, .dns, forB: forward)
        } else if let s = names.nameOf(from) {
            flow.pointee.setName(s, .dns, forB: !forward)
        }
    }

    /// Returns the flow's state (valid until the next insert).
    @inline(__always)
    private func account(_ p: PacketFacts, key: FlowKey, forward: Bool, hash: UInt64, frame: UnsafeRawBufferPointer,
                         timestampNs: Int64, wireLength: UInt32, to events: FlowEvents) -> UnsafeMutablePointer<FlowState> {
        let direction: UInt8 = forward ? 0 : 1
        let isSYN = p.proto == .tcp && p.tcpFlags.contains(.syn) && !p.tcpFlags.contains(.ack)
        if let slot = index.find(key, hash: hash, in: store) {
            let flow = store.base + slot
            // Exact expiry on lookup; the sweep only frees memory.
            var reason: EndReason? = nil
            if timestampNs - flow.pointee.lastNs > expiry.idleNs(flow.pointee) {
                reason = flow.pointee.isClosed ? flow.pointee.closeReason : .idle
            } else if let active = expiry.activeNs, timestampNs - flow.pointee.firstNs >= active {
                reason = .active
            } else if isSYN, flow.pointee.isClosed {
                reason = flow.pointee.closeReason
            } else if flow.pointee.packetCountFull {
                reason = .active
            }
            if let reason {
                end(flow.pointee, reason, to: events)
                flow.pointee = FlowState(key: key, ipVersion: p.ipVersion, timestampNs: timestampNs, direction: direction)
                nameFromDNS(flow, key: key, forward: forward)
            }
            // One connection attempt per flow, not per retransmitted SYN.
            if isSYN && flow.pointee.synDirection < 0 { sawConnectionAttempt(key, forward: forward, to: events) }
            flow.pointee.add(p, frame: frame, direction: direction, timestampNs: timestampNs, wireLength: wireLength)
            if expiry.maxFlows != nil { touch(slot) }
            return flow
        }
        if let limit = expiry.maxFlows, index.count >= max(1, limit), oldest >= 0 {
            let victim = Int(oldest)
            end(store[victim], .capacity, to: events)
            release(victim)
        }
        if isSYN { sawConnectionAttempt(key, forward: forward, to: events) }
        var state = FlowState(key: key, ipVersion: p.ipVersion, timestampNs: timestampNs, direction: direction)
        state.add(p, frame: frame, direction: direction, timestampNs: timestampNs, wireLength: wireLength)
        let slot = store.insert(state)
        index.insert(hash: hash, slot: slot)
        if index.count > peakLiveCount { peakLiveCount = index.count }
        if expiry.maxFlows != nil { link(slot) }
        nameFromDNS(store.base + slot, key: key, forward: forward)
        return store.base + slot
    }

    /// An ICMP error quoting a live TCP/UDP flow's header is counted on that
    /// flow; it never creates one.
    private func countICMPError(_ sent: FlowKey) {
        let (key, _) = FlowKey.canonical(sent, isICMPReply: false)
        if let slot = index.find(key, hash: key.fastHash(seed), in: store) {
            store[slot].countICMPError()
        }
    }

    /// The sender of a SYN (on `key`, travelling `forward` or not) opened a connection.
    @inline(__always)
    private func sawConnectionAttempt(_ key: FlowKey, forward: Bool, to events: FlowEvents) {
        let client = forward ? key.addressA : key.addressB
        let port = forward ? key.portA : key.portB
        events.sawConnectionAttempt(from: client, port: port)
    }

    @inline(__always)
    private func end(_ s: FlowState, _ reason: EndReason) { end(s, reason, to: events) }

    /// `end` to a receiver the caller holds: a call on the stored `events`
    /// retains and releases it around each call (atomic updates of a cache
    /// line the pipeline's other thread reads), which a sweep ending
    /// thousands of flows pays once this way.
    @inline(__always)
    private func end(_ s: FlowState, _ reason: EndReason, to events: FlowEvents) {
        guard s.nameSerial != 0 else { return events.ended(s, reason, name: nil) }
        endNamed(s, reason, to: events)
    }

    private func endNamed(_ s: FlowState, _ reason: EndReason, to events: FlowEvents) {
        guard let name = names.name(s.nameSerial) else {
            names.countDropped()
            return events.ended(s, reason, name: nil)
        }
        events.ended(s, reason, name: name)
    }

    private func release(_ slot: Int) {
        if expiry.maxFlows != nil { unlink(slot) }
        index.remove(hash: store[slot].key.fastHash(seed), slot: slot)
        store.remove(slot)
    }

    // MARK: least-recently-seen list

    private func link(_ slot: Int) {
        while links.count <= slot { links.append(Link()) }
        links[slot].older = newest
        links[slot].newer = -1
        if newest >= 0 { links[Int(newest)].newer = Int32(slot) } else { oldest = Int32(slot) }
        newest = Int32(slot)
    }

    private func unlink(_ slot: Int) {
        let older = links[slot].older, newer = links[slot].newer
        if older >= 0 { links[Int(older)].newer = newer } else { oldest = newer }
        if newer >= 0 { links[Int(newer)].older = older } else { newest = older }
        links[slot].older = -1
        links[slot].newer = -1
    }

    @inline(__always)
    private func touch(_ slot: Int) {
        guard newest != Int32(slot) else { return }
        unlink(slot)
        link(slot)
    }

    /// Ends flows idle for longer than their timeout at packet time `now`,
    /// oldest first. A closed TCP flow ends as `fin`/`rst`, others as `idle`.
    private func sweep(now: Int64) {
        // Start times sit beside the slot numbers, so the sort compares
        // compact pairs and reads a flow's key only on a tie.
        var expired: [(start: Int64, slot: Int)] = []
        let base = store.base
        // A flow last seen more than its idle timeout after `now` is from
        // before the clock went back (a record dated 2106, a capture in
        // reverse order): it ends too, so such records can't pile up live
        // flows that never go idle.
        for slot in 0..<store.used where base[slot].live
            && (now - base[slot].lastNs > expiry.idleNs(base[slot]) || base[slot].lastNs - now > expiry.idleNs(base[slot])) {
            expired.append((base[slot].firstNs, slot))
        }
        guard !expired.isEmpty else { return }
        expired.sort { a, b in
            a.start != b.start ? a.start < b.start : FlowRecord.startsBefore(base[a.slot], base[b.slot])
        }
        let ahead = 8
        for i in 0..<min(ahead, expired.count) { index.prefetchEntry(hash: base[expired[i].slot].key.fastHash(seed)) }
        let events = self.events
        for (i, e) in expired.enumerated() {
            if i + ahead < expired.count { index.prefetchEntry(hash: base[expired[i + ahead].slot].key.fastHash(seed)) }
            end(base[e.slot], base[e.slot].isClosed ? base[e.slot].closeReason : .idle, to: events)
            release(e.slot)
        }
    }

    /// Lets time pass without a packet (live capture: the clock runs on
    /// while the link is quiet), ending flows that have gone idle.
    public func tick(now: Int64) {
        guard now >= nextSweepNs, nextSweepNs != Int64.min else { return }
        sweep(now: now)
        nextSweepNs = now &+ sweepIntervalNs
    }

    /// Visits the live flows in up to `limit` store slots from `start` (for
    /// a live view that must not walk a million flows per redraw), naming
    /// each flow's store slot and the stamp `LiveMeter` knows it by; the
    /// state is lent in place (valid during the call), not copied, as most
    /// visits only read the stamp. Returns where to go on next time, and
    /// whether this reached the end (the next call starts over at 0).
    @discardableResult
    public func forEachLiveSlot(from start: Int, limit: Int,
                                _ body: (Int, Int64, UnsafePointer<FlowState>) -> Void) -> (next: Int, wrapped: Bool) {
        let from = min(max(0, start), store.used)
        let end = limit >= store.used - from ? store.used : from + limit
        let base = store.base
        for slot in from..<end where base[slot].live {
            body(slot, LiveMeter.stamp(firstNs: base[slot].firstNs, hash: base[slot].key.fastHash(seed)), base + slot)
        }
        return end >= store.used ? (0, true) : (end, false)
    }

    /// Ends every live flow (capture end), oldest first. Every live flow is
    /// learned from before any is reported, so each is judged with all the
    /// capture knows; the flows go to `onEnd`, not to `events`.
    public func finish(onEnd: (FlowState, EndReason) -> Void) {
        finish(batch: 1) { states, slots in
            for slot in slots { onEnd(states[Int(slot)], states[Int(slot)].closeReason) }
        }
    }

    /// Both cache lines of the state at `slots[i]`, if there is one: the
    /// capture-end flush visits states in time order, all over the store.
    @inline(__always)
    private static func prefetch(_ base: UnsafeMutablePointer<FlowState>, _ slots: [Int32], _ i: Int) {
        guard i < slots.count else { return }
        let p = UnsafeRawPointer(base + Int(slots[i]))
        pflow_prefetch(p)
        pflow_prefetch(p + 64)
    }

    /// `finish`, handing the ended flows over `batch` at a time (oldest
    /// first, each ending for its `closeReason`), so a caller may work on
    /// several at once: `body` gets the states and the batch's slots in
    /// them, to read in place (valid only during the call; copying them
    /// out first, 13,077 flows on the 1M capture, took one thread 3-4 ms
    /// of page faults and memmove while the other waited). Every live flow
    /// is learned from before the first batch (on two threads when `batch`
    /// is above 1).
    public func finish(batch: Int, _ body: (UnsafePointer<FlowState>, UnsafeBufferPointer<Int32>) -> Void) {
        // Sort slot numbers, not the (large) states themselves.
        let base = store.base
        // Sorted as (start, slot) pairs, then kept as 4-byte slot numbers
        // while the flows are reported (the report's own memory peaks then).
        let live: [Int32] = {
            var order: [(start: Int64, slot: Int32)] = []
            order.reserveCapacity(index.count)
            for slot in 0..<store.used where base[slot].live { order.append((base[slot].firstNs, Int32(slot))) }
            order.sort { a, b in
                a.start != b.start ? a.start < b.start : FlowRecord.startsBefore(base[Int(a.slot)], base[Int(b.slot)])
            }
            return order.map(\.slot)
        }()
        // The capture end learns from every live flow before reporting any,
        // so it goes around `events`: the caller gets the states directly.
        if batch > 1 {
            // Two threads: one learns the answered handshakes, one the peers.
            let knowledge = self.knowledge
            inParallel({ for (i, slot) in live.enumerated() {
                            Self.prefetch(base, live, i + 8)
                            knowledge.learnPeers(from: base[Int(slot)])
                         } },
                       { for (i, slot) in live.enumerated() {
                            Self.prefetch(base, live, i + 8)
                            knowledge.learnAnswered(from: base[Int(slot)])
                         } })
        } else {
            for (i, slot) in live.enumerated() {
                Self.prefetch(base, live, i + 8)
                knowledge.learn(from: base[Int(slot)])
            }
        }
        // Pages of states already handed over are returned as the flush goes
        // on, so it doesn't hold the whole table while the report grows.
        var pages = store.pageRelease(live)
        let size = max(1, batch)
        live.withUnsafeBufferPointer { all in
            var from = 0
            while from < all.count {
                let to = min(all.count, from + size)
                for i in from..<to {
                    Self.prefetch(base, live, i + 8)
                    let serial = base[Int(all[i])].nameSerial
                    if serial != 0 && names.name(serial) == nil { names.countDropped() }
                }
                body(UnsafePointer(base), UnsafeBufferPointer(rebasing: all[from..<to]))
                // (Not after the last batch: the store is emptied whole below.)
                if pages != nil && to < all.count {
                    for i in from..<to { store.doneWith(Int(all[i]), &pages!) }
                    store.release(&pages!)
                }
                from = to
            }
        }
        // Every flow has ended: empty the index and the store at once.
        index.removeAll()
        store.removeAll()
        links.removeAll()
        oldest = -1
        newest = -1
    }
}
