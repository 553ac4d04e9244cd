#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor read through one large, reused buffer.
///
/// Callers ask for `n` bytes at the current position with `require(_:)`; the
/// bytes stay valid until the next `require`/`consume`. Nothing is copied per
/// record: the buffer is refilled in big reads and the unread tail moved to the
/// front only when a record straddles the end.
final class ByteSource {
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var storage: UnsafeMutableRawBufferPointer
    private var start = 0          // first unread byte in storage
    private var end = 0            // one past the last valid byte in storage
    private var eof = false
    /// File offset of `storage[start]`.
    private(set) var offset: UInt64 = 0
    /// Largest single span a caller may require; bigger claims are damage.
    let maximumSpan: Int

    init(fd: Int32, ownsDescriptor: Bool, initialCapacity: Int = 4 << 20, maximumSpan: Int = 64 << 20) {
        self.fd = fd
        self.ownsDescriptor = ownsDescriptor
        self.maximumSpan = maximumSpan
        self.storage = .allocate(byteCount: initialCapacity, alignment: 16)
    }

    deinit {
        storage.deallocate()
        if ownsDescriptor { close(fd) }
    }

    /// Bytes available at the current position without another read.
    var buffered: Int { end - start }

    /// Makes at least `count` bytes available at the current position.
    /// Returns nil (and leaves the position alone) when the input ends first
    /// or `count` exceeds `maximumSpan`.
    @inline(__always)
    func require(_ count: Int) throws(CaptureError) -> UnsafeRawBufferPointer? {
        if end - start >= count {
            return UnsafeRawBufferPointer(rebasing: storage[start..<(start + count)])
        }
        return try requireSlow(count)
    }

    private func requireSlow(_ count: Int) throws(CaptureError) -> UnsafeRawBufferPointer? {
        guard count >= 0, count <= maximumSpan else { return nil }
        if count > storage.count {
            var newCapacity = storage.count
            while newCapacity < count { newCapacity *= 2 }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: newCapacity, alignment: 16)
            if end > start {
                bigger.baseAddress!.copyMemory(from: storage.baseAddress! + start, byteCount: end - start)
            }
            storage.deallocate()
            storage = bigger
            end -= start
            start = 0
        } else if start > 0 {
            let pending = end - start
            if pending > 0 {
                storage.baseAddress!.copyMemory(from: storage.baseAddress! + start, byteCount: pending)
            }
            start = 0
            end = pending
        }
        while end - start < count && !eof {
            let got = read(fd, storage.baseAddress! + end, storage.count - end)
            if got > 0 {
                end += got
            } else if got == 0 {
                eof = true
            } else if errno == EINTR {
                continue
            } else {
                throw CaptureError.readFailed(errno: errno)
            }
        }
        guard end - start >= count else { return nil }
        return UnsafeRawBufferPointer(rebasing: storage[start..<(start + count)])
    }

    /// Moves the position forward by `count` bytes that were required before.
    @inline(__always)
    func consume(_ count: Int) {
        start += count
        offset += UInt64(count)
    }

    /// Bytes left before the end of the input (reads to the end to find out).
    func remainingAtEnd() throws(CaptureError) -> Int {
        _ = try requireSlow(min(storage.count, maximumSpan))
        return end - start
    }
}
