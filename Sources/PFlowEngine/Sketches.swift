import PFlowCore

/// A HyperLogLog distinct counter (Flajolet et al. 2007) with 256 one-byte
/// registers: about 6.5% standard error on large counts, exact-ish on small
/// ones (linear counting below 2.5 m). Used only once exact tables reach
/// their limit, so memory stays bounded however many addresses a capture has.
struct DistinctSketch: Sendable {
    static let bits = 8
    static let registerCount = 1 << bits
    private var registers = [UInt8](repeating: 0, count: DistinctSketch.registerCount)

    init() {}

    /// Adds an item by its 64-bit hash (a keyed hash: a capture can't choose it).
    mutating func add(hash: UInt64) {
        let index = Int(hash >> UInt64(64 - Self.bits))
        let rest = hash << UInt64(Self.bits)
        let rank = UInt8(min(64 - Self.bits, rest.leadingZeroBitCount) + 1)
        if rank > registers[index] { registers[index] = rank }
    }

    var estimate: Int {
        let m = Double(Self.registerCount)
        var sum = 0.0, zeros = 0
        for r in registers {
            sum += 1.0 / Double(UInt64(1) << UInt64(r))
            if r == 0 { zeros += 1 }
        }
        let alpha = 0.7213 / (1 + 1.079 / m)
        let raw = alpha * m * m / sum
        if raw <= 2.5 * m, zeros > 0 { return Int((m * log(m / Double(zeros))).rounded()) }
        return Int(raw.rounded())
    }

    /// Natural logarithm without Foundation (a few series terms suffice
    /// for the ratios linear counting takes: 1 to 256).
    private func log(_ x: Double) -> Double {
        // ln x = 2 atanh((x-1)/(x+1)), after scaling x into [1, 2) by powers of 2.
        var x = x, k = 0.0
        while x >= 2 { x /= 2; k += 1 }
        let y = (x - 1) / (x + 1), y2 = y * y
        var term = y, sum = 0.0, n = 1.0
        for _ in 0..<30 { sum += term / n; term *= y2; n += 2 }
        return 2 * sum + k * 0.693_147_180_559_945_3
    }
}
