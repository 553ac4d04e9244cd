/// A key hashed by its own few words under the run's `HashSeed`. Swift's
/// `Hasher` (SipHash) costs tens of nanoseconds per key; the per-flow
/// bookkeeping hashes several keys per flow, so it uses these keyed
/// multiply-fold hashes and linear probing instead.
public protocol FastHashable: Equatable {
    func fastHash(_ seed: HashSeed) -> UInt64
}

extension IPAddress: FastHashable {
    @inlinable @inline(__always)
    public func fastHash(_ seed: HashSeed) -> UInt64 { seed.hash(high, low) }
}

/// An insert-only hash map for fixed-size keys: entries live in two dense
/// arrays in insertion order (so walking them is deterministic), found
/// through an open-addressing table of (hash tag, entry index) words kept
/// at most half full.
public struct FastMap<Key: FastHashable, Value> {
    // Inlinable throughout, so other modules get it specialized for their
    // key and value types instead of going through generic metadata.
    @usableFromInline var slots: [UInt64]   // hash's high 32 bits << 32 | entry index + 1; 0 = empty
    @usableFromInline var mask: Int
    @usableFromInline var entryKeys: [Key] = []
    @usableFromInline var entryValues: [Value] = []
    @usableFromInline let seed = HashSeed.run

    /// Keys and values in insertion order.
    @inlinable public var keys: [Key] { entryKeys }
    @inlinable public var values: [Value] { entryValues }

    @inlinable
    public init(capacity: Int = 8) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    @inlinable public var count: Int { entryKeys.count }
    @inlinable public var isEmpty: Bool { entryKeys.isEmpty }

    /// The entry index of `key`, or nil.
    @inlinable @inline(__always)
    public func index(of key: Key) -> Int? {
        let hash = key.fastHash(seed)
        let tag = hash >> 32
        var at = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = slots[at]
            if word == 0 { return nil }
            if word >> 32 == tag {
                let i = Int(truncatingIfNeeded: word & 0xFFFF_FFFF) - 1
                if entryKeys[i] == key { return i }
            }
            at = (at + 1) & mask
        }
    }

    @inlinable
    public subscript(key: Key) -> Value? {
        guard let i = index(of: key) else { return nil }
        return entryValues[i]
    }

    /// The value at entry `i` (from `index(of:)` or `insert`).
    @inlinable
    public subscript(entry i: Int) -> Value {
        get { entryValues[i] }
        _modify { yield &entryValues[i] }
    }

    /// The entry index of `key`, adding it with `make()` when absent.
    @inlinable @inline(__always)
    @discardableResult
    public mutating func insert(_ key: Key, _ make: () -> Value) -> (index: Int, inserted: Bool) {
        let hash = key.fastHash(seed)
        let tag = hash >> 32
        var at = Int(truncatingIfNeeded: hash) & mask
        while true {
            let word = slots[at]
            if word == 0 { break }
            if word >> 32 == tag {
                let i = Int(truncatingIfNeeded: word & 0xFFFF_FFFF) - 1
                if entryKeys[i] == key { return (i, false) }
            }
            at = (at + 1) & mask
        }
        let i = entryKeys.count
        entryKeys.append(key)
        entryValues.append(make())
        slots[at] = tag << 32 | UInt64(i + 1)
        if entryKeys.count * 2 > slots.count { grow() }
        return (i, true)
    }

    @inlinable
    mutating func grow() {
        let size = slots.count * 2
        var bigger = [UInt64](repeating: 0, count: size)
        let newMask = size - 1
        for (i, key) in entryKeys.enumerated() {
            let hash = key.fastHash(seed)
            var at = Int(truncatingIfNeeded: hash) & newMask
            while bigger[at] != 0 { at = (at + 1) & newMask }
            bigger[at] = (hash >> 32) << 32 | UInt64(i + 1)
        }
        slots = bigger
        mask = newMask
    }
}

/// A set of fixed-size keys over `FastMap`.
public struct FastSet<Key: FastHashable> {
    @usableFromInline var map: FastMap<Key, Void>

    @inlinable public init(capacity: Int = 8) { map = FastMap(capacity: capacity) }

    @inlinable public var count: Int { map.count }
    @inlinable public var isEmpty: Bool { map.isEmpty }

    @inlinable public func contains(_ key: Key) -> Bool { map.index(of: key) != nil }
    /// The keys, in insertion order.
    @inlinable public var keys: [Key] { map.keys }

    /// Adds `key`; true when it was not there yet.
    @inlinable @inline(__always)
    @discardableResult
    public mutating func insert(_ key: Key) -> Bool { map.insert(key) { () }.inserted }
}

extension FastMap: Sendable where Key: Sendable, Value: Sendable {}
extension FastSet: Sendable where Key: Sendable {}
