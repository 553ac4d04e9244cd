import CPlatform
import PFlowCore
import PFlowEngine
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import PFlowFlows

/// Text forms shared by the table, CSV and JSON outputs.
public enum Formatting {
    /// RFC 3339 UTC with `digits` fractional digits (0...9):
    /// `2026-01-01T00:00:01.123456Z`.
    public static func rfc3339(ns: Int64, digits: Int) -> String {
        let text = ByteText(capacity: 40)
        text.rfc3339(ns: ns, digits: digits)
        return String(decoding: text.bytes, as: UTF8.self)
    }

    /// Howard Hinnant's days-from-civil inverse: proleptic Gregorian date.
    public static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// Seconds as a decimal with `digits` fractional digits: `1.250000`.
    public static func seconds(ns: Int64, digits: Int) -> String {
        let text = ByteText(capacity: 24)
        text.seconds(ns: ns, digits: digits)
        return String(decoding: text.bytes, as: UTF8.self)
    }

    /// Bytes in SI units with one decimal: `950 B`, `12.3 kB`, `4.1 MB`.
    public static func humanBytes(_ bytes: UInt64) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let units = ["kB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes) / 1000
        var i = 0
        while value >= 999.95 && i < units.count - 1 {
            value /= 1000
            i += 1
        }
        return fixed(value, 1) + " " + units[i]
    }

    /// A count with thousands separators: `1,234,567`.
    public static func grouped(_ n: UInt64) -> String { PFlowCore.grouped(n) }

    /// `value` rounded to `places` decimals, without Foundation.
    public static func fixed(_ value: Double, _ places: Int) -> String {
        guard value.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let rounded = (abs(value) * scale).rounded()
        let whole = UInt64(rounded / scale)
        let frac = UInt64(rounded - Double(whole) * scale)
        var s = (value < 0 && rounded > 0 ? "-" : "") + String(whole)
        if places > 0 { s += "." + pad(Int64(frac), places) }
        return s
    }
}

/// Buffered writes to a file descriptor: rows are appended as bytes and
/// written in large chunks.
public final class OutputSink {
    private let fd: Int32
    private let ownsDescriptor: Bool
    private let text = ByteText(capacity: 1 << 17)
    public private(set) var failed = false
    /// The error of the write that failed (EPIPE: the reader went away).
    public private(set) var failure: Int32 = 0

    public init(fd: Int32, ownsDescriptor: Bool = false) {
        self.fd = fd
        self.ownsDescriptor = ownsDescriptor
    }

    /// Creates or truncates `path` for writing (a big file is replaced
    /// rather than truncated: `pflow_open_replacing`).
    public convenience init(path: String) throws(OutputError) {
        let fd = pflow_open_replacing(path, O_WRONLY)
        guard fd >= 0 else { throw OutputError(path: path, errno: errno) }
        self.init(fd: fd, ownsDescriptor: true)
    }

    /// Creates or truncates the file `pathBytes` names (its bytes as given:
    /// a name need not be UTF-8); errors name it as `displayName` shows it.
    public convenience init(pathBytes: [UInt8], displayName: String) throws(OutputError) {
        guard !pathBytes.isEmpty, !pathBytes.contains(0) else { throw OutputError(path: displayName, errno: EINVAL) }
        let fd = pflow_open_replacing(pathBytes.map { CChar(bitPattern: $0) } + [0], O_WRONLY)
        guard fd >= 0 else { throw OutputError(path: displayName, errno: errno) }
        self.init(fd: fd, ownsDescriptor: true)
    }

    deinit {
        flush()
        if ownsDescriptor { close(fd) }
    }

    public func write(_ s: String) {
        text.text(s)
        if text.count >= 1 << 16 { flush() }
    }

    /// Lets `body` append to the buffer in place (an NDJSON line, say).
    func withText(_ body: (ByteText) -> Void) {
        body(text)
        if text.count >= 1 << 16 { flush() }
    }

    /// Appends the CSV row of `f` in place.
    public func append(_ f: FlowRecord, digits: Int) {
        FlowCSV.append(f, digits: digits, to: text)
        if text.count >= 1 << 16 { flush() }
    }

    public func flush() {
        var at = 0
        while at < text.count && !failed {
            let n = Glibc.write(fd, UnsafeRawPointer(text.bytes.baseAddress!) + at, text.count - at)
            if n > 0 { at += n } else if n < 0 && errno == EINTR { continue } else {
                failed = true
                failure = n < 0 ? errno : EIO
            }
        }
        text.removeAll()
    }
}

public struct OutputError: Error, Sendable {
    public var path: String
    public var errno: Int32
    public init(path: String, errno: Int32) {
        self.path = path
        self.errno = errno
    }
    /// Why, when it is not an errno.
    public var reason: String?
    public init(path: String, reason: String) {
        self.path = path
        self.errno = 0
        self.reason = reason
    }
    public var message: String { "\(path): \(reason ?? String(cString: strerror(errno)))" }
}
