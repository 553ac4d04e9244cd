#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which file a descriptor reads: equal for two paths that name one file
/// (a hard link, `./a` and `a`), whatever the names look like.
public struct FileIdentity: Sendable, Hashable {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// The identity of the regular file (or block device) `pathBytes` names,
    /// symbolic links followed; nil for anything else or nothing. Lets an
    /// output path be checked against the inputs before they are opened.
    public init?(pathBytes: [UInt8]) {
        guard !pathBytes.contains(0) else { return nil }
        var info = stat()
        guard stat(pathBytes.map { CChar(bitPattern: $0) } + [0], &info) == 0 else { return nil }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFBLK else { return nil }
        self.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
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

extension CaptureFile {
    /// `displayName` for text that is already a String (valid UTF-8): the
    /// same escapes for controls, and no copy when there are none.
    public static func displayName(_ text: String) -> String {
        var clean = true
        var previous: UInt8 = 0
        for b in text.utf8 {
            if b < 0x20 || b == 0x7F || (previous == 0xC2 && b < 0xA0) { clean = false; break }
            previous = b
        }
        return clean ? text : displayName(Array(text.utf8))
    }

    /// The program's arguments after its name, as the kernel passed them:
    /// bytes, not decoded (`CommandLine.arguments` replaces bytes that aren't
    /// UTF-8, and a file name need not be UTF-8).
    public static func commandLineBytes() -> [[UInt8]] {
        (1..<Int(CommandLine.argc)).map { i in
            guard let arg = CommandLine.unsafeArgv[i] else { return [] }
            return Array(UnsafeRawBufferPointer(start: arg, count: strlen(arg)))
        }
    }

    /// Why writing an output to `pathBytes` would destroy something, if it
    /// would: the file is one of the inputs (by device and inode, so another
    /// name of the same file counts), or it holds a capture. Only existing
    /// regular files are looked at: a new path, a pipe or a device (`-`,
    /// /dev/stdout onto a terminal) is fine.
    public static func outputProblem(pathBytes: [UInt8], inputs: [FileIdentity]) -> OutputProblem? {
        guard !pathBytes.contains(0) else { return nil }
        var info = stat()
        let cName = pathBytes.map { CChar(bitPattern: $0) } + [0]
        guard stat(cName, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let name = displayName(pathBytes)
        if inputs.contains(FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))) {
            return OutputProblem(path: name, isInput: true)
        }
        // Under 4 bytes there is no magic number to match (and the reader's
        // "ends inside the header" would not mean one matched).
        guard info.st_size >= 4 else { return nil }
        do {
            _ = try CaptureFile(pathBytes: pathBytes)
        } catch .unsupportedVersion, .truncatedHeader {
            // A capture's magic number, then an odd or cut header: still a capture.
        } catch {
            return nil
        }
        return OutputProblem(path: name, isInput: false)
    }
}

/// An output path that must not be written: see `CaptureFile.outputProblem`.
public struct OutputProblem: Error, Sendable, Equatable {
    /// The path as `displayName` shows it.
    public var path: String
    /// One of the inputs (else a capture that is not an input).
    public var isInput: Bool

    /// One line for `pflow: error: …`.
    public var message: String {
        isInput ? "\(path) is an input; not writing over it"
            : "\(path) looks like a capture; not overwriting it"
    }
}
