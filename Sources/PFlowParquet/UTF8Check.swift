/// STRING columns must hold UTF-8 (parquet-format LogicalTypes.md), and
/// readers such as Arrow reject or mangle anything else; pflow's strings
/// come partly from captures (SNI, HTTP Host), so every value is checked.
enum UTF8Check {
    /// True if `bytes` is well-formed UTF-8 (RFC 3629: no overlong forms,
    /// no surrogates, nothing above U+10FFFF).
    @inline(__always)
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let p = bytes.baseAddress else { return true }
        let n = bytes.count
        var i = 0
        // ASCII, eight bytes at a time: the common case for names and states.
        while i + 8 <= n && p.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
            i += 8
        }
        while i < n {
            let b0 = p.load(fromByteOffset: i, as: UInt8.self)
            if b0 < 0x80 {
                i += 1
                continue
            }
            // The second byte's range depends on the first (no overlong forms,
            // no surrogates, nothing past U+10FFFF); later ones are 80-BF.
            let length: Int, low: UInt8, high: UInt8
            switch b0 {
            case 0xC2...0xDF: length = 2; low = 0x80; high = 0xBF
            case 0xE0: length = 3; low = 0xA0; high = 0xBF
            case 0xED: length = 3; low = 0x80; high = 0x9F
            case 0xE1...0xEF: length = 3; low = 0x80; high = 0xBF
            case 0xF0: length = 4; low = 0x90; high = 0xBF
            case 0xF4: length = 4; low = 0x80; high = 0x8F
            case 0xF1...0xF3: length = 4; low = 0x80; high = 0xBF
            default: return false
            }
            guard i + length <= n else { return false }
            let b1 = p.load(fromByteOffset: i + 1, as: UInt8.self)
            guard b1 >= low && b1 <= high else { return false }
            for k in 2..<length where p.load(fromByteOffset: i + k, as: UInt8.self) & 0xC0 != 0x80 {
                return false
            }
            i += length
        }
        return true
    }
}
