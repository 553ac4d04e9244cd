import PFlowCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unaligned integer loads in either byte order. Callers check bounds first.
@inline(__always)
func load16(_ p: UnsafeRawBufferPointer, _ offset: Int, bigEndian: Bool) -> UInt16 {
    let v = p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
    return bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
}

@inline(__always)
func load32(_ p: UnsafeRawBufferPointer, _ offset: Int, bigEndian: Bool) -> UInt32 {
    let v = p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
    return bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
}

/// A pcap or pcapng file (or stdin), read natively through a reused buffer.
///
/// `init` reads and checks the file header, so a file that can't be opened or
/// isn't a capture fails before any analysis starts. `forEachRecord` then hands
/// out every record in file order; damage part-way ends the walk and is
/// returned in the summary instead of being thrown.
public final class CaptureFile {
    public enum Format: String, Sendable { case pcap, pcapng }

    /// The path for messages and reports: as given when it is printable
    /// UTF-8, else with C0 and C1 controls, DEL and bytes that are not
    /// UTF-8 shown as `\xNN` (see `displayName(_:)`), so a file's name can
    /// neither be mistaken for another's nor drive the terminal.
    public let path: String
    /// The path's bytes as given (a file name need not be UTF-8).
    public let pathBytes: [UInt8]
    public let format: Format
    /// Decimal digits of the finest timestamp resolution seen (6 = µs, 9 = ns).
    public private(set) var timestampDigits: Int
    /// gzip-compressed; byte offsets in warnings count decompressed bytes.
    public private(set) var compressed = false
    /// Device and inode of what was opened (nil for a pipe or a terminal),
    /// to tell whether an output path is one of the inputs.
    public let identity: FileIdentity?
    /// A regular file's size in bytes (nil for a pipe), for a progress line.
    public private(set) var inputSize: UInt64?
    /// Bytes of the input read so far: the file's own position (compressed
    /// bytes for gzip), else what was taken from a pipe.
    public var inputPosition: UInt64 { source.filePosition ?? source.offset }

    private let source: ByteSource
    // pcap header facts
    private var bigEndian = false
    private var nanosecond = false
    private var pcapLinkType = LinkType.ethernet
    private var pcapSnaplen: UInt32 = 0
    private var pcapRecordHeaderLength = 16

    /// Opens `path` ("-" is standard input) and reads its file header.
    public convenience init(path: String) throws(CaptureError) {
        try self.init(pathBytes: Array(path.utf8))
    }

    /// Opens the file named by these bytes, exactly (`[0x2D]`, "-", is
    /// standard input), and reads its file header. The command line's
    /// arguments come as bytes; a String made of them would replace bytes
    /// that aren't UTF-8 and open another file, or none.
    public init(pathBytes: [UInt8]) throws(CaptureError) {
        self.pathBytes = pathBytes
        let path = Self.displayName(pathBytes)
        self.path = path
        let fd: Int32
        if pathBytes == [0x2D] {
            fd = 0
        } else {
            // A NUL would cut the name short: open() would name another file.
            guard !pathBytes.contains(0) else { throw .openFailed(path: path, errno: EINVAL) }
            let cName = pathBytes.map { CChar(bitPattern: $0) } + [0]
            fd = open(cName, O_RDONLY)
            guard fd >= 0 else { throw .openFailed(path: path, errno: errno) }
        }
        var info = stat()
        if fstat(fd, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR {
                if fd != 0 { close(fd) }
                throw .isDirectory(path: path)
            }
            let kind = info.st_mode & S_IFMT
            if kind == S_IFREG { inputSize = UInt64(info.st_size) }
            identity = kind == S_IFREG || kind == S_IFBLK
                ? FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) : nil
        } else {
            identity = nil
        }
        source = ByteSource(fd: fd, ownsDescriptor: fd != 0)
        timestampDigits = 6
        guard let head = try source.require(4) else {
            if source.buffered == 0 { throw .empty(path: path) }
            throw .truncatedHeader(path: path)
        }
        var magic = load32(head, 0, bigEndian: false)
        if magic & 0xFFFF == 0x8B1F {
            // gzip: read through zlib, then look at the capture inside.
            source.startInflating()
            guard let inner = try source.require(4) else {
                throw .badGzip(path: path, reason: source.streamFailure ?? "it holds less than a capture header")
            }
            magic = load32(inner, 0, bigEndian: false)
            compressed = true
        }
        switch magic {
        case 0x0A0D_0D0A:
            format = .pcapng
            try peekPcapngResolution()
        case 0xA1B2_C3D4, 0xD4C3_B2A1, 0xA1B2_3C4D, 0x4D3C_B2A1, 0xA1B2_CD34, 0x34CD_B2A1:
            format = .pcap
            try readPcapHeader(magic: magic)
        default:
            throw .notACapture(path: path, magic: UInt32(bigEndian: magic))
        }
    }

    private func readPcapHeader(magic: UInt32) throws(CaptureError) {
        switch magic {
        case 0xA1B2_C3D4: bigEndian = false; nanosecond = false
        case 0xD4C3_B2A1: bigEndian = true; nanosecond = false
        case 0xA1B2_3C4D: bigEndian = false; nanosecond = true
        case 0x4D3C_B2A1: bigEndian = true; nanosecond = true
        case 0xA1B2_CD34: bigEndian = false; pcapRecordHeaderLength = 24  // Kuznetzov's patched libpcap
        default: bigEndian = true; pcapRecordHeaderLength = 24
        }
        guard let h = try source.require(24) else { throw .truncatedHeader(path: path) }
        let major = load16(h, 4, bigEndian: bigEndian)
        let minor = load16(h, 6, bigEndian: bigEndian)
        guard major == 2 else { throw .unsupportedVersion(path: path, major: major, minor: minor) }
        pcapSnaplen = load32(h, 16, bigEndian: bigEndian)
        // The upper bits of the link-type field carry FCS information.
        pcapLinkType = LinkType(rawValue: load32(h, 20, bigEndian: bigEndian) & 0x0FFF_FFFF)
        timestampDigits = nanosecond ? 9 : 6
        source.consume(24)
    }

    /// Looks ahead (without consuming) at the interface descriptions before
    /// the first packet, so the timestamp precision is known before any
    /// flow is written.
    private func peekPcapngResolution() throws(CaptureError) {
        guard let shb = try source.require(12) else { return }
        let bigEndian = load32(shb, 8, bigEndian: false) == 0x4D3C_2B1A
        var at = 0
        var digits = 0
        for _ in 0..<64 {
            guard let head = try source.require(at + 8) else { break }
            let type = load32(head, at, bigEndian: bigEndian)
            let length = Int(load32(head, at + 4, bigEndian: bigEndian))
            guard length >= 12, length % 4 == 0, at + length <= 1 << 20,
                  let block = try source.require(at + length) else { break }
            if type == 2 || type == 3 || type == 6 { break }
            if type == 1, length >= 20 {
                var option = at + 16
                var resolution = 6
                while option + 4 <= at + length - 4 {
                    let code = load16(block, option, bigEndian: bigEndian)
                    let size = Int(load16(block, option + 2, bigEndian: bigEndian))
                    if code == 0 || option + 4 + size > at + length - 4 { break }
                    if code == 9, size >= 1 {
                        let v = block[option + 4]
                        resolution = v & 0x80 != 0 ? min(9, (Int(v & 0x7F) * 30103 + 99_999) / 100_000) : min(9, Int(v))
                    }
                    option += 4 + ((size + 3) & ~3)
                }
                digits = max(digits, resolution)
            }
            at += length
        }
        if digits > 0 { timestampDigits = digits }
    }

    /// Link types declared by the file so far (pcap: the header's; pcapng:
    /// every IDB read), each once, in the order first seen.
    public private(set) var linkTypes: [LinkType] = []
    /// Which link types `linkTypes` holds, one bit per 16-bit pcapng link
    /// type, so a file of a million IDBs is a million O(1) checks.
    private var linkTypeSeen = [UInt64](repeating: 0, count: 65_536 / 64)

    private func noteLinkType(_ type: LinkType) {
        let raw = Int(type.rawValue)
        guard raw < 65_536 else {
            if !linkTypes.contains(type) { linkTypes.append(type) }  // a pcap header's wider field: one type
            return
        }
        let bit = UInt64(1) << UInt64(raw & 63)
        if linkTypeSeen[raw >> 6] & bit == 0 {
            linkTypeSeen[raw >> 6] |= bit
            linkTypes.append(type)
        }
    }

    /// Calls `body` with every record in file order. Stops at the first damage
    /// and reports it in the summary; throws only when reading itself fails.
    public func forEachRecord(_ body: (CaptureRecord) -> Void) throws(CaptureError) -> ReadSummary {
        var summary: ReadSummary
        var notes = ReadNotes()
        var clock = ClockWatch()
        switch format {
        case .pcap: summary = try walkPcap(&notes, &clock, body)
        case .pcapng: summary = try walkPcapng(&notes, &clock, body)
        }
        if let failure = source.streamFailure {
            if var damage = summary.damage {
                damage.reason += " (\(failure))"
                summary.damage = damage
            } else {
                summary.damage = CaptureDamage(path: path, offset: source.offset, reason: failure)
            }
        }
        if compressed, var damage = summary.damage {
            damage.inDecompressedData = true
            summary.damage = damage
        }
        clock.finish()
        summary.clockJumps = clock.jumps
        summary.clockJumpsBackward = clock.backwardJumps
        summary.clockJumpNote = clock.note(path: path)
        summary.clockOutliers = clock.outliers
        summary.clockOutlierNote = clock.outlierNote(path: path)
        summary.notes = notes.all(path: path)
        return summary
    }

    /// The damage of a record or block whose length field is sane but more
    /// than the reader holds at once: the bytes may well be there.
    private func overLimit(_ what: String, _ bytes: Int) -> String {
        "\(what) of \(grouped(bytes)) bytes is over the \(source.maximumSpan >> 20) MiB limit of one record"
    }

    // MARK: pcap

    private func walkPcap(_ notes: inout ReadNotes, _ clock: inout ClockWatch,
                          _ body: (CaptureRecord) -> Void) throws(CaptureError) -> ReadSummary {
        var summary = ReadSummary()
        linkTypes = [pcapLinkType]
        let headerLength = pcapRecordHeaderLength
        // libpcap accepts records up to the larger of the header's snaplen and
        // its own maximum; a bigger claim is a damaged length field.
        let limit = UInt32(clamping: max(Int(pcapSnaplen), 262_144))
        let fracScale: Int64 = nanosecond ? 1 : 1000
        while true {
            guard let h = try source.require(headerLength) else {
                let left = source.buffered
                if left > 0 {
                    summary.damage = CaptureDamage(path: path, offset: source.offset,
                                                   reason: "file ends inside a record header (\(left) of \(headerLength) bytes)")
                }
                return summary
            }
            let seconds = load32(h, 0, bigEndian: bigEndian)
            let fraction = load32(h, 4, bigEndian: bigEndian)
            let caplen = load32(h, 8, bigEndian: bigEndian)
            let origlen = load32(h, 12, bigEndian: bigEndian)
            guard caplen <= limit else {
                summary.damage = CaptureDamage(path: path, offset: source.offset,
                                               reason: "record claims \(caplen) captured bytes (limit \(limit))")
                return summary
            }
            let total = headerLength + Int(caplen)
            guard total <= source.maximumSpan else {
                summary.damage = CaptureDamage(path: path, offset: source.offset, reason: overLimit("record", total))
                return summary
            }
            guard let r = try source.require(total) else {
                summary.damage = CaptureDamage(path: path, offset: source.offset,
                                               reason: "file ends inside a record (needs \(caplen) bytes, has \(source.buffered - headerLength))")
                return summary
            }
            let ts = Int64(seconds) * 1_000_000_000 + Int64(fraction) * fracScale
            clock.see(ts, offset: source.offset)
            let record = CaptureRecord(bytes: UnsafeRawBufferPointer(rebasing: r[headerLength..<total]),
                                       originalLength: origlen, timestampNs: ts,
                                       linkType: pcapLinkType, interface: 0)
            body(record)
            summary.records += 1
            source.consume(total)
        }
    }

    // MARK: pcapng

    /// What an Interface Description Block tells about its packets' timestamps.
    private struct Interface {
        var linkType: LinkType
        var snaplen: UInt32
        var resolutionExponent: UInt8 = 6
        var resolutionIsBinary = false
        var offsetSeconds: Int64 = 0

        func nanoseconds(_ units: UInt64) -> Int64 {
            var ns: UInt64
            if resolutionIsBinary {
                let e = UInt64(min(resolutionExponent, 63))
                let whole = units >> e
                let frac = units & ((1 << e) - 1)
                let fracNs = UInt64(1_000_000_000).multipliedFullWidth(by: frac)
                ns = whole &* 1_000_000_000 &+ (e == 0 ? 0 : (fracNs.high << (64 - e)) | (fracNs.low >> e))
            } else if resolutionExponent <= 9 {
                var scale: UInt64 = 1
                for _ in 0..<(9 - Int(resolutionExponent)) { scale *= 10 }
                ns = units &* scale
            } else {
                var scale: UInt64 = 1
                for _ in 0..<min(Int(resolutionExponent) - 9, 19) { scale *= 10 }
                ns = units / scale
            }
            ns = min(ns, UInt64(Int64.max / 2))
            // Offsets are within ±2^32 s: no overflow before the clamp.
            let limit = CaptureRecord.timestampLimitNs
            return max(-limit, min(limit, Int64(ns) + offsetSeconds * 1_000_000_000))
        }

        var digits: Int {
            if resolutionIsBinary {
                // 2^-e needs about e·log10(2) decimal digits.
                return min(9, (Int(resolutionExponent) * 30103 + 99_999) / 100_000)
            }
            return min(9, Int(resolutionExponent))
        }
    }

    /// The most interfaces one section may declare. The format has no
    /// limit, but every real capture stays far below it; beyond it, IDBs
    /// would only grow memory (20M of them, 20M entries), so they are
    /// counted and their packets skipped.
    public static let maximumInterfacesPerSection = 65_536

    private func walkPcapng(_ notes: inout ReadNotes, _ clock: inout ClockWatch,
                            _ body: (CaptureRecord) -> Void) throws(CaptureError) -> ReadSummary {
        var summary = ReadSummary()
        var interfaces: [Interface] = []
        /// IDBs of this section, those over the limit included.
        var declared = 0
        var order = false           // big-endian section?
        var skippingSection = false
        var lastTimestamp: Int64 = 0
        var sawSection = false
        var unknownInterfaceRecords = 0
        var digits = 0

        func damage(_ reason: String) {
            summary.damage = CaptureDamage(path: path, offset: source.offset, reason: reason)
        }

        while true {
            guard let head = try source.require(8) else {
                let left = source.buffered
                if left > 0 { damage("file ends inside a block header (\(left) of 8 bytes)") }
                break
            }
            var type = load32(head, 0, bigEndian: order)
            if type == 0x0A0D_0D0A {
                guard let shb = try source.require(12) else {
                    damage("file ends inside a section header block"); break
                }
                switch load32(shb, 8, bigEndian: false) {
                case 0x1A2B_3C4D: order = false
                case 0x4D3C_2B1A: order = true
                default: damage("section header has no valid byte-order magic"); break
                }
                if summary.damage != nil { break }
                type = 0x0A0D_0D0A
            } else if !sawSection {
                damage("first block is not a section header"); break
            }
            let totalLength = load32(head, 4, bigEndian: order)
            guard totalLength >= 12, totalLength % 4 == 0 else {
                damage("block of type 0x\(String(type, radix: 16)) has impossible length \(totalLength)"); break
            }
            guard Int(totalLength) <= source.maximumSpan else {
                damage(overLimit("block of type 0x\(String(type, radix: 16))", Int(totalLength))); break
            }
            let total = Int(totalLength)
            guard let block = try source.require(total) else {
                damage("file ends inside a block (claims \(total) bytes, \(source.buffered) left)"); break
            }
            guard load32(block, total - 4, bigEndian: order) == totalLength else {
                damage("block's trailing length does not match its leading length"); break
            }
            switch type {
            case 0x0A0D_0D0A:
                guard total >= 28 else { damage("section header block too short"); break }
                sawSection = true
                interfaces.removeAll(keepingCapacity: true)
                declared = 0
                let major = load16(block, 12, bigEndian: order)
                let minor = load16(block, 14, bigEndian: order)
                skippingSection = major != 1
                if skippingSection {
                    notes.add(.unsupportedSection) {
                        "\(path): section at byte offset \(source.offset) has unsupported version \(major).\(minor); skipped"
                    }
                }
            case 0x0000_0001 where !skippingSection:
                guard total >= 20 else { damage("interface description block too short"); break }
                declared += 1
                guard interfaces.count < Self.maximumInterfacesPerSection else {
                    summary.ignoredInterfaces += 1
                    break
                }
                var iface = Interface(linkType: LinkType(rawValue: UInt32(load16(block, 8, bigEndian: order))),
                                      snaplen: load32(block, 12, bigEndian: order))
                var at = 16
                let optionsEnd = total - 4
                while at + 4 <= optionsEnd {
                    let code = load16(block, at, bigEndian: order)
                    let length = Int(load16(block, at + 2, bigEndian: order))
                    if code == 0 { break }
                    let valueAt = at + 4
                    guard valueAt + length <= optionsEnd else { break }  // bad option: keep defaults
                    if code == 9, length >= 1 {
                        let v = block[valueAt]
                        iface.resolutionIsBinary = v & 0x80 != 0
                        iface.resolutionExponent = v & 0x7F
                    } else if code == 14, length == 8 {
                        let raw = block.loadUnaligned(fromByteOffset: valueAt, as: UInt64.self)
                        iface.offsetSeconds = Int64(bitPattern: order ? UInt64(bigEndian: raw) : UInt64(littleEndian: raw))
                        iface.offsetSeconds = max(-1 << 32, min(1 << 32, iface.offsetSeconds))
                    }
                    at = valueAt + ((length + 3) & ~3)
                }
                interfaces.append(iface)
                digits = max(digits, iface.digits)
                noteLinkType(iface.linkType)
            case 0x0000_0006 where !skippingSection, 0x0000_0002 where !skippingSection:
                guard total >= 32 else { damage("packet block too short"); break }
                let index = type == 6 ? Int(load32(block, 8, bigEndian: order)) : Int(load16(block, 8, bigEndian: order))
                let high = UInt64(load32(block, 12, bigEndian: order))
                let low = UInt64(load32(block, 16, bigEndian: order))
                let caplen = Int(load32(block, 20, bigEndian: order))
                let origlen = load32(block, 24, bigEndian: order)
                guard caplen <= total - 32 else {
                    damage("packet block claims \(caplen) captured bytes but holds \(total - 32)"); break
                }
                guard index < interfaces.count else {
                    if index < declared { summary.ignoredInterfaceRecords += 1 } else { unknownInterfaceRecords += 1 }
                    break
                }
                let iface = interfaces[index]
                lastTimestamp = iface.nanoseconds(high << 32 | low)
                clock.see(lastTimestamp, offset: source.offset)
                body(CaptureRecord(bytes: UnsafeRawBufferPointer(rebasing: block[28..<(28 + caplen)]),
                                   originalLength: origlen, timestampNs: lastTimestamp,
                                   linkType: iface.linkType, interface: index))
                summary.records += 1
            case 0x0000_0003 where !skippingSection:
                guard total >= 16 else { damage("simple packet block too short"); break }
                guard let iface = interfaces.first else { unknownInterfaceRecords += 1; break }
                let origlen = load32(block, 8, bigEndian: order)
                var caplen = min(Int(origlen), total - 16)
                if iface.snaplen > 0 { caplen = min(caplen, Int(iface.snaplen)) }
                // A simple packet block has no timestamp: it inherits the last one seen.
                body(CaptureRecord(bytes: UnsafeRawBufferPointer(rebasing: block[12..<(12 + caplen)]),
                                   originalLength: origlen, timestampNs: lastTimestamp,
                                   linkType: iface.linkType, interface: 0))
                summary.records += 1
            default:
                break  // statistics, name resolution, custom and unknown blocks
            }
            if summary.damage != nil { break }
            source.consume(total)
        }
        if digits > 0 { timestampDigits = max(timestampDigits, digits) }
        if unknownInterfaceRecords > 0 {
            notes.add(summary: "\(path): \(unknownInterfaceRecords) packet block(s) name an interface that was never described; skipped")
        }
        if summary.ignoredInterfaces > 0 {
            notes.add(summary: "\(path): \(grouped(summary.ignoredInterfaces)) interface description(s) beyond the "
                      + "\(grouped(Self.maximumInterfacesPerSection)) one section may declare were ignored"
                      + (summary.ignoredInterfaceRecords > 0
                         ? ", and the \(grouped(summary.ignoredInterfaceRecords)) packet block(s) on them skipped" : ""))
        }
        return summary
    }
}
