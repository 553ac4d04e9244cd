/// Which file a descriptor reads: equal for two paths that name one file
/// (a hard link, `./a` and `a`), whatever the names look like.
public struct FileIdentity: Sendable, Hashable {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}

extension CaptureFile {
    /// A file name for messages and reports: printable UTF-8 as it is; C0
    /// controls, DEL, C1 controls (U+0080-U+009F, which some terminals obey
    /// as escapes) and every byte that is not part of valid UTF-8 as `\xNN`.
    /// So no name reaches a terminal raw, and two different names never
    /// print alike through a replacement character.
    public static func displayName(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let length = validSequenceLength(bytes, at: i)
            if length == 0 || isControl(bytes, at: i, length: length) {
                let end = length == 0 ? i + 1 : i + length
                for b in bytes[i..<end] { out += escaped(b) }
                i = end
            } else {
                out += bytes[i..<(i + length)]
                i += length
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `\xNN` in upper-case hex.
    private static func escaped(_ b: UInt8) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        return [0x5C, 0x78, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
    }

    private static func isControl(_ bytes: [UInt8], at i: Int, length: Int) -> Bool {
        if length == 1 { return bytes[i] < 0x20 || bytes[i] == 0x7F }
        // U+0080-U+009F are C2 80 - C2 9F.
        return length == 2 && bytes[i] == 0xC2 && bytes[i + 1] < 0xA0
    }

    /// The length of the well-formed UTF-8 sequence at `i` (RFC 3629: no
    /// overlong forms, no surrogates, nothing past U+10FFFF), or 0.
    private static func validSequenceLength(_ bytes: [UInt8], at i: Int) -> Int {
        let lead = bytes[i]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF   // the second byte's range
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE, 0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return 0
        }
        guard i + length <= bytes.count else { return 0 }
        guard bytes[i + 1] >= low && bytes[i + 1] <= high else { return 0 }
        for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return 0 }
        return length
    }
}
