#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Distinct values counted in fixed memory: a HyperLogLog (Flajolet, Fusy,
/// Gandouet, Meunier 2007) of 1,024 one-byte registers, with linear counting
/// for small counts. The standard error is 1.04/√1024, about 3%. Used where
/// exact sets would grow with the input (distinct clients of a service,
/// inner flows of a tunnel) once they pass their limit: the counts are then
/// estimates, and the reports say so.
///
/// Values are given as 64-bit hashes; they must be well mixed (a seeded
/// `HashSeed.hash`), as the register index and rank are taken from them.
public struct DistinctSketch: Sendable {
    static let indexBits = 10
    private var registers = [UInt8](repeating: 0, count: 1 << DistinctSketch.indexBits)

    public init() {}

    @inline(__always)
    public mutating func add(hash value: UInt64) {
        // MurmurHash3's finaliser: the register index takes the top bits,
        // which a multiplicative hash mixes least.
        var hash = value
        hash ^= hash >> 33; hash &*= 0xff51afd7ed558ccd
        hash ^= hash >> 33; hash &*= 0xc4ceb9fe1a85ec53
        hash ^= hash >> 33
        let index = Int(truncatingIfNeeded: hash >> UInt64(64 - Self.indexBits))
        // The rank of the remaining bits: leading zeros + 1 (a guard bit
        // keeps it within 64 - indexBits + 1).
        let rest = (hash << UInt64(Self.indexBits)) | (1 << UInt64(Self.indexBits - 1))
        let rank = UInt8(rest.leadingZeroBitCount + 1)
        if registers[index] < rank { registers[index] = rank }
    }

    /// Folds `other` in: the sketch of the union.
    public mutating func merge(_ other: DistinctSketch) {
        for i in registers.indices where registers[i] < other.registers[i] { registers[i] = other.registers[i] }
    }

    /// The estimated number of distinct values added.
    public var estimate: Int {
        let m = Double(registers.count)
        var sum = 0.0
        var zeros = 0
        for r in registers {
            sum += 1 / Double(UInt64(1) << UInt64(r))
            if r == 0 { zeros += 1 }
        }
        let alpha = 0.7213 / (1 + 1.079 / m)
        var e = alpha * m * m / sum
        if e <= 2.5 * m && zeros > 0 { e = m * log(m / Double(zeros)) }
        return Int(e.rounded())
    }
}
