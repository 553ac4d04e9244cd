#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The distinct values of one string column chunk, for dictionary encoding:
/// the entries are kept PLAIN-encoded (4-byte length, bytes) so that they
/// are the dictionary page's body as they stand, and an open-addressing
/// table maps a value to its id. Cleared, not freed, between row groups.
///
/// Values come from captures (server names, HTTP hosts), so the hash is
/// seeded per writer and a probe that runs long gives up: the caller then
/// falls back to PLAIN for the rest of the chunk, and no input can make a
/// lookup cost more than `maxProbes` comparisons.
final class StringDictionary {
    /// The dictionary page body: for each entry, 4-byte LE length and bytes.
    let entries = ByteBuffer(capacity: 4096)
    /// Where each entry's length prefix starts in `entries`.
    private var offsets: [UInt32] = []
    private var hashes: [UInt64] = []
    /// Entry id + 1 per slot, 0 for empty; the count is a power of two.
    private var slots: [UInt32]
    private let seed: UInt64
    static let maxProbes = 64

    enum Lookup {
        case found(UInt32)
        case inserted(UInt32)
        /// Too many entries, too many bytes, or too long a probe.
        case full
    }

    init(seed: UInt64) {
        self.seed = seed
        slots = Array(repeating: 0, count: 1024)
    }

    var count: Int { offsets.count }

    func removeAll() {
        entries.removeAll()
        offsets.removeAll(keepingCapacity: true)
        hashes.removeAll(keepingCapacity: true)
        for i in slots.indices { slots[i] = 0 }
    }

    /// A seeded multiply-xorshift hash over 8-byte words.
    @inline(__always)
    func hash(_ value: UnsafeRawBufferPointer) -> UInt64 {
        let k: UInt64 = 0x9E37_79B9_7F4A_7C15
        var h = seed ^ (UInt64(value.count) &* k)
        guard let p = value.baseAddress else { return h }
        let n = value.count
        var i = 0
        while i + 8 <= n {
            h = (h ^ p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* k
            h ^= h >> 29
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                w |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = (h ^ w) &* k
            h ^= h >> 29
        }
        h ^= h >> 32
        h = h &* 0xD6E8_FEB8_6659_FD93
        h ^= h >> 32
        return h
    }

    /// The id of `value`, inserting it while the dictionary stays within
    /// `maxEntries` entries and `maxBytes` bytes of page body.
    @inline(__always)
    func lookup(_ value: UnsafeRawBufferPointer, maxEntries: Int, maxBytes: Int) -> Lookup {
        let h = hash(value)
        let mask = slots.count - 1
        var index = Int(truncatingIfNeeded: h) & mask
        var probes = 0
        while true {
            let s = slots[index]
            if s == 0 { break }
            let id = Int(s - 1)
            if hashes[id] == h && equals(id, value) { return .found(UInt32(id)) }
            probes += 1
            if probes > Self.maxProbes { return .full }
            index = (index + 1) & mask
        }
        if count >= maxEntries || entries.count + 4 + value.count > maxBytes { return .full }
        let id = UInt32(count)
        offsets.append(UInt32(entries.count))
        hashes.append(h)
        entries.appendLE(UInt32(value.count))
        entries.append(value)
        slots[index] = id + 1
        if count * 2 > slots.count { rehash() }
        return .inserted(id)
    }

    /// The bytes of entry `id`.
    func value(_ id: Int) -> UnsafeRawBufferPointer {
        let start = Int(offsets[id])
        let length = Int(entries.base.loadUnaligned(fromByteOffset: start, as: UInt32.self).littleEndian)
        return UnsafeRawBufferPointer(start: entries.base + start + 4, count: length)
    }

    @inline(__always)
    private func equals(_ id: Int, _ value: UnsafeRawBufferPointer) -> Bool {
        let stored = self.value(id)
        guard stored.count == value.count else { return false }
        return ByteBuffer.compare(stored, value) == 0
    }

    /// Doubles the table (load ≤ 1/2 keeps probes short); happens only while
    /// a chunk's dictionary grows past every earlier one, then never again.
    private func rehash() {
        slots = Array(repeating: 0, count: slots.count * 2)
        let mask = slots.count - 1
        for id in 0..<count {
            var index = Int(truncatingIfNeeded: hashes[id]) & mask
            while slots[index] != 0 { index = (index + 1) & mask }
            slots[index] = UInt32(id + 1)
        }
    }
}
