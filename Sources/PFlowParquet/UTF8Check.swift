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
            if b0 < 0x80 { i += 1; continue }
            @inline(__always) func byte(_ k: Int) -> UInt8 {
                i + k < n ? p.load(fromByteOffset: i + k, as: UInt8.self) : 0
            }
            @inline(__always) func isContinuation(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
            let b1 = byte(1)
            switch b0 {
            case 0xC2...0xDF:
                guard isContinuation(b1) else { return false }
                i += 2
            case 0xE0...0xEF:
                let lo: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80
                let hi: UInt8 = b0 == 0xED ? 0x9F : 0xBF
                guard b1 >= lo && b1 <= hi, isContinuation(byte(2)) else { return false }
                i += 3
            case 0xF0...0xF4:
                let lo: UInt8 = b0 == 0xF0 ? 0x90 : 0x80
                let hi: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF
                guard b1 >= lo && b1 <= hi, isContinuation(byte(2)), isContinuation(byte(3)) else { return false }
                i += 4
            default:
                return false
            }
        }
        return true
    }
}
