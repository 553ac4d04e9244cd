import PFlowCore
import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PFlowWire

/// Fixed-size flow states in one manually managed buffer: no ARC, no
/// uniqueness checks, no copy-on-write in the per-packet path. Slots of
/// ended flows are reused.
///
/// Invariants: slots `0..<used` are initialized (a slot whose flow ended
/// keeps its bytes, marked not `live`, and is listed in `free`); `used <=
/// capacity`; `FlowState` holds no references, so a slot is freed without
/// deinitializing it and all-zero or stale bytes are never released. The
/// store owns its memory and can't be copied (`~Copyable`): it is released
/// exactly once, when its owner goes.
///
/// The buffer is an anonymous mapping that grows with mremap, which moves
/// page mappings rather than bytes: growing never holds the old and the new
/// copy at once, so peak memory stays one state per slot used (where
/// mremap is missing, it falls back to allocate-and-move).
struct FlowStore: ~Copyable {
    private(set) var base: UnsafeMutablePointer<FlowState>
    private(set) var capacity: Int
    private(set) var used = 0          // slots ever handed out
    private var free: [Int32] = []
    private var mapped: Bool

    init(capacity: Int) {
        self.capacity = max(16, capacity)
        let bytes = self.capacity * MemoryLayout<FlowState>.stride
        if let map = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), map != MAP_FAILED {
            base = map.bindMemory(to: FlowState.self, capacity: self.capacity)
            mapped = true
        } else {
            base = .allocate(capacity: self.capacity)
            mapped = false
        }
    }

    deinit {
        assert(_isPOD(FlowState.self), "slots are freed without deinitializing them")
        base.deinitialize(count: used)
        if mapped {
            munmap(base, capacity * MemoryLayout<FlowState>.stride)
        } else {
            base.deallocate()
        }
    }

    /// Stores `state` in a free slot and returns it.
    mutating func insert(_ state: FlowState) -> Int {
        assert(used <= capacity && free.count <= used)
        if let slot = free.popLast() {
            (base + Int(slot)).initialize(to: state)
            return Int(slot)
        }
        if used == capacity { grow() }
        (base + used).initialize(to: state)
        used += 1
        return used - 1
    }

    private mutating func grow() {
        let stride = MemoryLayout<FlowState>.stride
        if mapped, let moved = pflow_remap(base, capacity * stride, capacity * 2 * stride) {
            base = moved.bindMemory(to: FlowState.self, capacity: capacity * 2)
        } else {
            let bigger = UnsafeMutablePointer<FlowState>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: base, count: used)
            if mapped { munmap(base, capacity * stride) } else { base.deallocate() }
            base = bigger
            mapped = false
        }
        capacity *= 2
    }

    mutating func remove(_ slot: Int) {
        base[slot].live = false
        free.append(Int32(slot))
    }

    /// Per memory page of the mapping, how many of `slots` touch it (a
    /// state may straddle two pages: the stride needn't divide the page);
    /// nil when the store isn't a mapping.
    func pageRelease(_ slots: [Int32]) -> PageRelease? {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let stride = MemoryLayout<FlowState>.stride
        guard mapped, page > 0 else { return nil }
        var counts = [UInt16](repeating: 0, count: (capacity * stride + page - 1) / page)
        for slot in slots {
            let first = Int(slot) * stride / page, last = (Int(slot) * stride + stride - 1) / page
            counts[first] &+= 1
            if last != first { counts[last] &+= 1 }
        }
        return PageRelease(counts: counts, stride: stride, pageSize: page)
    }

    /// `slot` has been read for the last time: once every slot counted on its
    /// page(s) is, the page is due to go back to the system (at `release`).
    @inline(__always)
    func doneWith(_ slot: Int, _ pages: inout PageRelease) {
        let first = slot * pages.stride / pages.pageSize
        let last = (slot * pages.stride + pages.stride - 1) / pages.pageSize
        pages.counts[first] &-= 1
        if pages.counts[first] == 0 { pages.emptied.append(Int32(first)) }
        if last != first {
            pages.counts[last] &-= 1
            if pages.counts[last] == 0 { pages.emptied.append(Int32(last)) }
        }
    }

    /// Returns the pages emptied since the last call, one `madvise` per run
    /// of adjacent pages (each call costs a TLB flush on every core the
    /// process runs on, so not one per page).
    func release(_ pages: inout PageRelease) {
        pages.emptied.sort()
        var i = 0
        while i < pages.emptied.count {
            var j = i + 1
            while j < pages.emptied.count && pages.emptied[j] == pages.emptied[j - 1] + 1 { j += 1 }
            madvise(UnsafeMutableRawPointer(base) + Int(pages.emptied[i]) * pages.pageSize,
                    (j - i) * pages.pageSize, MADV_DONTNEED)
            i = j
        }
        pages.emptied.removeAll(keepingCapacity: true)
    }

    /// Forgets every state (they hold no references: nothing to release).
    mutating func removeAll() {
        used = 0
        free.removeAll()
    }

    @inline(__always)
    subscript(slot: Int) -> FlowState {
        get { base[slot] }
        nonmutating _modify { yield &base[slot] }
    }
}

/// Open addressing with linear probing over (hash, slot) pairs; deletion
/// shifts later entries back, so there are no tombstones to slow lookups.
///
/// Invariants: the table size is a power of two (`mask + 1`); at most 3/4
/// of the entries are used (`insert` grows first), so every probe sequence
/// meets an empty entry, and `find` stops after at most `mask + 1` steps
/// regardless; an entry is the hash's high 32 bits | (slot + 1), 0 = empty.
/// It owns its memory and can't be copied (`~Copyable`).
struct FlowIndex: ~Copyable {
    private var entries: UnsafeMutablePointer<UInt64>   // hash high 32 bits | slot + 1 (0 = empty)
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int) {
        var size = 1024
        while size * 3 < capacity * 4 { size <<= 1 }
        mask = size - 1
        entries = Self.zeroed(size)
    }

    /// `count` zero entries from calloc: fresh zero pages for a big table,
    /// touched only where flows land (no 1 MB of writes up front).
    private static func zeroed(_ count: Int) -> UnsafeMutablePointer<UInt64> {
        guard let bytes = calloc(count, MemoryLayout<UInt64>.stride) else { fatalError("out of memory") }
        return bytes.bindMemory(to: UInt64.self, capacity: count)
    }

    deinit { free(entries) }

    @inline(__always)
    private static func tag(_ hash: UInt64) -> UInt64 { hash & 0xFFFF_FFFF_0000_0000 }

    /// Asks the CPU to fetch the entry `hash` starts probing at.
    @inline(__always)
    func prefetchEntry(hash: UInt64) {
        pflow_prefetch(entries + (Int(truncatingIfNeeded: hash >> 32) & mask))
    }

    /// If the home entry of `hash` (fetched before) holds a flow with the
    /// same tag, asks the CPU to fetch that flow's state.
    @inline(__always)
    func prefetchState(hash: UInt64, in store: borrowing FlowStore) {
        let e = entries[Int(truncatingIfNeeded: hash >> 32) & mask]
        if e != 0 && e & 0xFFFF_FFFF_0000_0000 == Self.tag(hash) {
            // A state is 160 bytes, over three cache lines at most, and a
            // packet's accounting reads all of them (the packet counters and
            // the name word sit in the second and third): each line is asked
            // for. perf, 1M bench capture, 3 runs each: FlowTable.add went
            // from 16.4-17.0% of the samples to 14.0-16.0% with the new
            // flow's key no longer read back (FlowTable.nameFromDNS) and to
            // 11.0-12.9% with this too; the wall time's noise hides it.
            let state = UnsafeRawPointer(store.base + (Int(e & 0xFFFF_FFFF) - 1))
            pflow_prefetch(state)
            pflow_prefetch(state + 64)
            pflow_prefetch(state + (MemoryLayout<FlowState>.stride - 1))
        }
    }

    /// The slot holding `key`, or nil.
    @inline(__always)
    func find(_ key: FlowKey, hash: UInt64, in store: borrowing FlowStore) -> Int? {
        assert(count * 4 <= (mask + 1) * 3, "load bound")
        let tag = Self.tag(hash)
        var i = Int(truncatingIfNeeded: hash >> 32) & mask
        for _ in 0...mask {
            let e = entries[i]
            if e == 0 { return nil }
            if e & 0xFFFF_FFFF_0000_0000 == tag {
                let slot = Int(e & 0xFFFF_FFFF) - 1
                if store.base[slot].key == key { return slot }
            }
            i = (i + 1) & mask
        }
        return nil
    }

    mutating func insert(hash: UInt64, slot: Int) {
        // Up to 3/4 full: 8-byte entries cost 11-21 bytes per flow, and the
        // tags keep probes past other flows cheap.
        if (count + 1) * 4 > (mask + 1) * 3 { grow() }
        var i = Int(truncatingIfNeeded: hash >> 32) & mask
        while entries[i] != 0 { i = (i + 1) & mask }
        entries[i] = Self.tag(hash) | UInt64(slot + 1)
        count += 1
    }

    /// Empties the index, keeping its size.
    mutating func removeAll() {
        // A fresh zeroed table rather than zeroes written over this one:
        // writing faulted in every page never touched (1 MB: 1.7 ms of an
        // empty capture's 11).
        if count > 0 {
            free(entries)
            entries = Self.zeroed(mask + 1)
        }
        count = 0
    }

    /// Removes the entry for `slot` (whose key hashes to `hash`).
    mutating func remove(hash: UInt64, slot: Int) {
        var i = Int(truncatingIfNeeded: hash >> 32) & mask
        let wanted = Self.tag(hash) | UInt64(slot + 1)
        while entries[i] != wanted {
            if entries[i] == 0 { return }
            i = (i + 1) & mask
        }
        // Backward-shift deletion: pull later entries of the run into the gap
        // when their home position allows it.
        var gap = i
        var j = i
        while true {
            j = (j + 1) & mask
            let e = entries[j]
            if e == 0 { break }
            let homeOfE = homeIndex(e)
            // e may move to the gap if the gap lies cyclically in [homeOfE, j).
            let distanceToGap = (gap - homeOfE) & mask
            let distanceToJ = (j - homeOfE) & mask
            if distanceToGap < distanceToJ {
                entries[gap] = e
                gap = j
            }
        }
        entries[gap] = 0
        count -= 1
    }

    /// Entries keep only the hash's high half, and that half places them,
    /// so an entry's home is known without its key.
    @inline(__always)
    private func homeIndex(_ e: UInt64) -> Int {
        Int(truncatingIfNeeded: e >> 32) & mask
    }

    private mutating func grow() {
        let oldEntries = entries
        let oldSize = mask + 1
        let size = oldSize * 2
        entries = Self.zeroed(size)
        mask = size - 1
        for k in 0..<oldSize where oldEntries[k] != 0 {
            let e = oldEntries[k]
            var i = homeIndex(e)
            while entries[i] != 0 { i = (i + 1) & mask }
            entries[i] = e
        }
        free(oldEntries)
    }
}

/// Pages of the flow store still holding states to report, and those
/// emptied but not yet returned.
struct PageRelease {
    var counts: [UInt16]
    var emptied: [Int32] = []
    let stride: Int
    let pageSize: Int
}
