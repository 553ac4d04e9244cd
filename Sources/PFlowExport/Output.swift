import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an encoder's bytes go: a file, a pipe, memory. Writers buffer
/// and call `write` with large chunks.
public protocol ByteSink {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// Collects everything in memory (tests, small outputs).
public struct MemorySink: ByteSink, Sendable {
    public var bytes: [UInt8] = []
    public init() {}
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws { self.bytes.append(contentsOf: bytes) }
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// An I/O failure, with the errno that caused it.
public struct ExportIOError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32

    public init(operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "\(operation) \(path): \(errnoText(code))" }
}

/// The C library's message for an errno value.
public func errnoText(_ code: Int32) -> String {
    guard let s = strerror(code) else { return "error \(code)" }
    return String(cString: s)
}

/// A file descriptor that takes whole writes (retrying partial writes and
/// EINTR). Closes the descriptor in `deinit` if it opened it.
public final class FileSink: ByteSink {
    public let path: String
    let fd: Int32
    let owned: Bool

    /// Creates or truncates `path` (a big file is replaced rather than
    /// truncated: `pflow_open_replacing`).
    public init(path: String) throws(ExportIOError) {
        let fd = pflow_open_replacing(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ExportIOError(operation: "open", path: path, code: errno) }
        self.path = path
        self.fd = fd
        owned = true
    }

    /// Writes to an open descriptor (e.g. 1 for stdout), which stays open.
    public init(fileDescriptor: Int32, name: String) {
        path = name
        fd = fileDescriptor
        owned = false
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            #if canImport(Glibc)
            let n = Glibc.write(fd, p, left)
            #else
            let n = Darwin.write(fd, p, left)
            #endif
            if n < 0 {
                if errno == EINTR { continue }
                throw ExportIOError(operation: "write", path: path, code: errno)
            }
            p += n
            left -= n
        }
    }

    deinit {
        if owned { sysClose(fd) }
    }
}

/// Wall and monotonic clocks: IPFIX's Export Time and template refresh are
/// wall time (RFC 7011 §3.1); pacing uses the monotonic clock.
public enum ExportClock {
    /// Seconds since the Unix epoch.
    @Sendable public static func wallSeconds() -> UInt32 {
        UInt32(truncatingIfNeeded: time(nil))
    }

    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    public static func sleep(nanoseconds: UInt64) {
        var ts = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var rest = timespec()
        while nanosleep(&ts, &rest) != 0 && errno == EINTR { ts = rest }
    }
}

// Thin wrappers where a type's own method names (`close`, `send`, `write`)
// would shadow the C functions.
#if canImport(Glibc)
let datagramSocketType = Int32(SOCK_DGRAM.rawValue)
@inline(__always) func sysSend(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int, _ flags: Int32) -> Int { Glibc.send(fd, p, n, flags) }
@inline(__always) func sysClose(_ fd: Int32) { _ = Glibc.close(fd) }
#else
let datagramSocketType = SOCK_DGRAM
@inline(__always) func sysSend(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int, _ flags: Int32) -> Int { Darwin.send(fd, p, n, flags) }
@inline(__always) func sysClose(_ fd: Int32) { _ = Darwin.close(fd) }
#endif
