/// The secrets every hash in a run is keyed with, drawn once per run from
/// the operating system's random source. A capture is input from whoever
/// can put packets on a link: with a fixed hash they could pick keys that
/// all land in one probe chain (100k crafted IPv6 SYNs took 31 s instead of
/// 0.05 s). Keyed this way they can't know which keys collide.
///
/// Output never depends on hash values: maps iterate in insertion order and
/// every list is sorted by its contents, so runs with different seeds give
/// the same answer.
public struct HashSeed: Sendable {
    public let s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64, s4: UInt64, s5: UInt64

    /// This run's seed (the first use draws it).
    public static let run = HashSeed(random: ())

    init(random: ()) {
        var rng = SystemRandomNumberGenerator()   // getrandom(2) on Linux
        // Odd words: a multiplier that is a secret must not be zero or even.
        s0 = rng.next() | 1; s1 = rng.next() | 1; s2 = rng.next() | 1
        s3 = rng.next() | 1; s4 = rng.next() | 1; s5 = rng.next() | 1
    }

    /// A fixed seed, for tests that need to know a hash.
    public init(fixed words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)) {
        (s0, s1, s2, s3, s4, s5) = words
    }

    /// The 128-bit product's halves folded together: every input bit reaches
    /// the whole word, at the cost of one multiply.
    @inlinable @inline(__always)
    public static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let p = a.multipliedFullWidth(by: b)
        return p.high ^ p.low
    }

    /// Hash of one word.
    @inlinable @inline(__always)
    public func hash(_ a: UInt64) -> UInt64 {
        Self.fold(a ^ s0, s1)
    }

    /// Hash of two words.
    @inlinable @inline(__always)
    public func hash(_ a: UInt64, _ b: UInt64) -> UInt64 {
        Self.fold(Self.fold(a ^ s0, b ^ s1) ^ s2, s3)
    }

    /// Hash of three words.
    @inlinable @inline(__always)
    public func hash(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        Self.fold(Self.fold(a ^ s0, b ^ s1) ^ c, s2 ^ s3)
    }

    /// Hash of five words (a flow key: two addresses and the ports, protocol and VLAN).
    @inlinable @inline(__always)
    public func hash(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64, _ e: UInt64) -> UInt64 {
        let h = Self.fold(a ^ s0, b ^ s1) ^ Self.fold(c ^ s2, d ^ s3)
        return Self.fold(h ^ s4, e ^ s5)
    }
}
