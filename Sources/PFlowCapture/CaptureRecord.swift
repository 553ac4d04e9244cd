import PFlowCore

/// One captured packet as handed out by a reader. `bytes` borrows the
/// reader's buffer and is valid only inside the callback that receives it.
public struct CaptureRecord {
    /// The captured bytes (pcap `caplen`), never more than the file holds.
    public var bytes: UnsafeRawBufferPointer
    /// The packet's length on the wire (pcap `len`); may exceed `bytes.count`.
    public var originalLength: UInt32
    /// Nanoseconds since the Unix epoch, within ±`timestampLimitNs`.
    public var timestampNs: Int64
    public var linkType: LinkType

    /// Readers keep timestamps within ±(2^62 - 1) ns (years 1824-2116; a
    /// classic pcap's 32-bit seconds reach 2106), so the difference of any
    /// two fits an Int64: flow durations and idle times never overflow,
    /// whatever a pcapng's resolutions and offsets claim.
    public static let timestampLimitNs: Int64 = (1 << 62) - 1
    /// Consecutive records of a file further apart than this (a day) are a
    /// jump of the capture's clock: readers count them (`ReadSummary.clockJumps`)
    /// and warn once per file. A flow table that sweeps by packet time
    /// should take a jump as a new start of its clock, not wait for the
    /// old one to come round again.
    public static let clockJumpNs: Int64 = 86_400_000_000_000
    /// Interface index within the file (pcapng), 0 for pcap.
    public var interface: Int

    public init(bytes: UnsafeRawBufferPointer, originalLength: UInt32, timestampNs: Int64,
                linkType: LinkType, interface: Int) {
        self.bytes = bytes
        self.originalLength = originalLength
        self.timestampNs = timestampNs
        self.linkType = linkType
        self.interface = interface
    }
}

/// Errors that stop a file from being read at all.
public enum CaptureError: Error, Equatable, Sendable {
    case openFailed(path: String, errno: Int32)
    case isDirectory(path: String)
    case empty(path: String)
    case notACapture(path: String, magic: UInt32)
    case badGzip(path: String, reason: String)
    case unsupportedVersion(path: String, major: UInt16, minor: UInt16)
    case truncatedHeader(path: String)
    case readFailed(errno: Int32)

    /// One line for `pflow: error: …`.
    public var message: String {
        switch self {
        case .openFailed(let path, let code):
            return "\(path): \(String(cString: strerror(code)))"
        case .isDirectory(let path):
            return "\(path): is a directory, not a capture file"
        case .empty(let path):
            return "\(path): empty file, not a capture file"
        case .notACapture(let path, let magic):
            let hex = String(magic, radix: 16)
            return "\(path): not a pcap or pcapng file (starts with 0x\(String(repeating: "0", count: max(0, 8 - hex.count)))\(hex))"
        case .badGzip(let path, let reason):
            return "\(path): gzip-compressed, but \(reason)"
        case .unsupportedVersion(let path, let major, let minor):
            return "\(path): unsupported capture format version \(major).\(minor)"
        case .truncatedHeader(let path):
            return "\(path): file ends inside the capture file header"
        case .readFailed(let code):
            return "read failed: \(String(cString: strerror(code)))"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A problem found part-way through a file: records before it were read.
public struct CaptureDamage: Sendable, Equatable {
    public var path: String
    public var offset: UInt64
    public var reason: String
    /// The offset counts decompressed bytes (a gzip file).
    public var inDecompressedData = false
    public var description: String {
        "\(path): \(reason) at byte offset \(offset)\(inDecompressedData ? " of the decompressed data" : ""); analysed up to there"
    }
}

/// What a reader found besides its records.
public struct ReadSummary: Sendable {
    public init() {}
    public var records: Int = 0
    public var damage: CaptureDamage?
    /// Non-fatal notes (skipped sections, unknown blocks…), a few lines
    /// per kind whatever the file holds: repeats are counted, not listed.
    public var notes: [String] = []
    /// Records more than `CaptureRecord.clockJumpNs` from the record
    /// before, and how many of them went backwards.
    public var clockJumps = 0
    public var clockJumpsBackward = 0
    /// One line about the jumps, when there were any, for a warning:
    /// "<path>: record times jump by more than a day 2 times, 1 of them
    /// backwards (first at byte offset 1234: 29,219 days later than the
    /// record before); …". Not among `notes`: merged captures jump too.
    public var clockJumpNote: String?
    /// Records that jumped more than a day away and straight back: damage,
    /// not merged files. One line about them for a warning, when any.
    public var clockOutliers = 0
    public var clockOutlierNote: String?
    /// pcapng: interface descriptions past the most one section may declare
    /// (`CaptureFile.maximumInterfacesPerSection`), ignored, and the packet
    /// blocks that named them, skipped.
    public var ignoredInterfaces = 0
    public var ignoredInterfaceRecords = 0
}
