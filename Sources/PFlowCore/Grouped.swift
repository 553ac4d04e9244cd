/// A count with thousands separators, as the reports and warnings print
/// counts: `1,234,567` (`-1,234` below zero).
public func grouped<T: BinaryInteger>(_ n: T) -> String {
    let digits = Array(String(n.magnitude).utf8)
    var out: [UInt8] = n < 0 ? [0x2D] : []
    out.reserveCapacity(digits.count + digits.count / 3 + 1)
    for (i, d) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(0x2C) }
        out.append(d)
    }
    return String(decoding: out, as: UTF8.self)
}
