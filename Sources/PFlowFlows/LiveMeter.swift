/// Running byte and packet totals per service bucket and per host, counted
/// as packets arrive, for the live view: a redraw reads a few counters per
/// service instead of walking the live flows (issue 14: walking a million
/// flows per redraw cost 1.17M kernel drops).
///
/// A flow's service is decided off the packet path (the view's bounded
/// walk, `assign`), so each store slot carries a tag: which bucket its
/// packets go to, which direction is the client's, and which two hosts it
/// counts for. Until its flow is tagged (or after the slot is reused by
/// another flow: the stamp no longer matches) a packet counts in bucket 0,
/// "not yet sorted"; tagging moves the flow's bytes so far out of it.
/// The table calls `count` per packet only while a meter is attached: with
/// the view off the hot path pays one nil check.
///
/// Used on the tracking thread only (live capture runs on one thread).
public final class LiveMeter {
    /// Per bucket: bytes to servers, bytes to clients, packets to servers,
    /// packets to clients (client→server is "up").
    public static let countersPerBucket = 4
    public let buckets: Int
    public let hosts: Int
    @exclusivity(unchecked) public private(set) var counters: UnsafeMutablePointer<UInt64>
    /// Bytes each host sent or received (index 0: hosts not kept).
    @exclusivity(unchecked) public private(set) var hostBytes: UnsafeMutablePointer<UInt64>
    // Per store slot; grown by `assign`, never by `count`.
    @exclusivity(unchecked) private var stamps: UnsafeMutablePointer<Int64>
    @exclusivity(unchecked) private var tags: UnsafeMutablePointer<Tag>
    @exclusivity(unchecked) private var slots = 0

    /// bucket << 1 | client direction (0: A is the client), and the client
    /// and server host indexes.
    struct Tag {
        var bucket: UInt32 = 0
        var clientHost: UInt32 = 0
        var serverHost: UInt32 = 0
    }

    public init(buckets: Int, hosts: Int) {
        self.buckets = max(1, buckets)
        self.hosts = max(1, hosts)
        counters = .allocate(capacity: self.buckets * Self.countersPerBucket)
        counters.initialize(repeating: 0, count: self.buckets * Self.countersPerBucket)
        hostBytes = .allocate(capacity: self.hosts)
        hostBytes.initialize(repeating: 0, count: self.hosts)
        stamps = .allocate(capacity: 1)
        tags = .allocate(capacity: 1)
    }

    deinit {
        counters.deallocate()
        hostBytes.deallocate()
        stamps.deallocate()
        tags.deallocate()
    }

    /// What identifies the flow in a slot: its start time mixed with its
    /// key's hash, so a slot reused by a later flow reads as untagged.
    @inline(__always)
    public static func stamp(firstNs: Int64, hash: UInt64) -> Int64 {
        firstNs ^ Int64(bitPattern: hash)
    }

    /// One packet of the flow in store slot `slot` (direction 0: A→B).
    @inline(__always)
    public func count(slot: Int, stamp: Int64, direction: UInt8, wire: UInt32) {
        var tag = Tag()
        if slot < slots && stamps[slot] == stamp { tag = tags[slot] }
        let up = Int(UInt32(direction) ^ (tag.bucket & 1))
        let base = Int(tag.bucket >> 1) &* Self.countersPerBucket
        counters[base &+ up] &+= UInt64(wire)
        counters[base &+ 2 &+ up] &+= 1
        hostBytes[Int(tag.clientHost)] &+= UInt64(wire)
        hostBytes[Int(tag.serverHost)] &+= UInt64(wire)
    }

    /// The bucket the flow in `slot` counts in now, if it is tagged.
    public func bucket(slot: Int, stamp: Int64) -> Int? {
        guard slot < slots && stamps[slot] == stamp else { return nil }
        return Int(tags[slot].bucket >> 1)
    }

    /// Tags the flow in `slot` (whose counters so far are `bytes`/`packets`
    /// per canonical direction): its traffic so far moves from where it was
    /// counted to `bucket` and the two hosts, and its later packets go there.
    public func assign(slot: Int, stamp: Int64, bucket: Int, clientIsA: Bool, clientHost: Int, serverHost: Int,
                       bytes: (UInt64, UInt64), packets: (UInt64, UInt64)) {
        guard slot >= 0, bucket >= 0, bucket < buckets, clientHost < hosts, serverHost < hosts else { return }
        grow(to: slot + 1)
        let old = stamps[slot] == stamp ? tags[slot] : Tag()
        move(old, sign: false, bytes: bytes, packets: packets)
        let new = Tag(bucket: UInt32(bucket) << 1 | (clientIsA ? 0 : 1),
                      clientHost: UInt32(max(0, clientHost)), serverHost: UInt32(max(0, serverHost)))
        move(new, sign: true, bytes: bytes, packets: packets)
        stamps[slot] = stamp
        tags[slot] = new
    }

    private func move(_ tag: Tag, sign add: Bool, bytes: (UInt64, UInt64), packets: (UInt64, UInt64)) {
        let base = Int(tag.bucket >> 1) * Self.countersPerBucket
        let flip = tag.bucket & 1 == 1
        let (upBytes, downBytes) = flip ? (bytes.1, bytes.0) : (bytes.0, bytes.1)
        let (upPackets, downPackets) = flip ? (packets.1, packets.0) : (packets.0, packets.1)
        let total = bytes.0 &+ bytes.1
        if add {
            counters[base] &+= upBytes; counters[base + 1] &+= downBytes
            counters[base + 2] &+= upPackets; counters[base + 3] &+= downPackets
            hostBytes[Int(tag.clientHost)] &+= total; hostBytes[Int(tag.serverHost)] &+= total
        } else {
            counters[base] &-= upBytes; counters[base + 1] &-= downBytes
            counters[base + 2] &-= upPackets; counters[base + 3] &-= downPackets
            hostBytes[Int(tag.clientHost)] &-= total; hostBytes[Int(tag.serverHost)] &-= total
        }
    }

    /// Room for slots `0..<n` (the store's slots only grow while capturing).
    private func grow(to n: Int) {
        guard n > slots else { return }
        let size = max(n, slots * 2, 1024)
        let s = UnsafeMutablePointer<Int64>.allocate(capacity: size)
        let t = UnsafeMutablePointer<Tag>.allocate(capacity: size)
        s.initialize(repeating: Int64.min, count: size)
        t.initialize(repeating: Tag(), count: size)
        if slots > 0 {
            s.update(from: stamps, count: slots)
            t.update(from: tags, count: slots)
        }
        stamps.deallocate(); tags.deallocate()
        stamps = s; tags = t
        slots = size
    }
}
