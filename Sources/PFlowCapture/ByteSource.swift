import PFlowCore
import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Inflates a gzip stream read from a file descriptor (concatenated members
/// too), for capture files that were compressed.
final class Inflater {
    private var stream = z_stream()
    private let input: UnsafeMutableRawBufferPointer
    private var inputEOF = false
    private var finished = false
    /// A member ended and no byte of another has been seen yet.
    private var betweenMembers = false
    /// Why inflation stopped early, if it did.
    private(set) var failure: String?

    /// Starts with `pending`: compressed bytes already read from `fd`.
    init(pending: UnsafeRawBufferPointer) {
        input = .allocate(byteCount: max(1 << 20, pending.count), alignment: 16)
        if pending.count > 0, let base = pending.baseAddress {
            input.baseAddress!.copyMemory(from: base, byteCount: pending.count)
        }
        stream.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.avail_in = uInt(pending.count)
        // 15 + 32: a 32 KiB window, gzip or zlib header detected automatically.
        if inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) != Z_OK {
            failure = "zlib could not start"
            finished = true
        }
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    /// Fills `dst` with up to `capacity` inflated bytes; 0 at the end.
    func read(fd: Int32, into dst: UnsafeMutableRawPointer, capacity: Int) -> Int {
        guard !finished, capacity > 0 else { return 0 }
        stream.next_out = dst.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = uInt(min(capacity, Int(UInt32.max)))
        while stream.avail_out > 0 && !finished {
            if stream.avail_in == 0 && !inputEOF {
                var got: Int
                repeat { got = Glibc.read(fd, input.baseAddress!, input.count) } while got < 0 && errno == EINTR
                if got <= 0 {
                    inputEOF = true
                    if betweenMembers {
                        finished = true
                        break
                    }
                } else {
                    stream.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_in = uInt(got)
                }
            }
            if betweenMembers && stream.avail_in > 0 { betweenMembers = false }
            let status = inflate(&stream, Z_NO_FLUSH)
            if status == Z_STREAM_END {
                // Another gzip member may follow (cat a.gz b.gz).
                if stream.avail_in == 0 && inputEOF {
                    finished = true
                } else {
                    inflateReset(&stream)
                    betweenMembers = stream.avail_in == 0
                }
            } else if status == Z_BUF_ERROR {
                if stream.avail_in == 0 && inputEOF {
                    failure = "gzip stream ends early"
                    finished = true
                }
            } else if status != Z_OK {
                failure = "gzip data is corrupt" + (stream.msg.map { " (" + String(cString: $0) + ")" } ?? "")
                finished = true
            }
        }
        return capacity - Int(stream.avail_out)
    }
}

/// A file descriptor read through one reused buffer.
///
/// Callers ask for `n` bytes at the current position with `require(_:)`; the
/// bytes stay valid until the next `require`/`consume`. Nothing is copied per
/// record: the buffer is refilled in big reads and the unread tail moved to the
/// front only when a record straddles the end. The buffer is small enough to
/// stay in the CPU's cache between the read and the parse: plain reads cost
/// about half as much as walking the same file through mmap and its page
/// faults (../shared/bench/walk.c: 0.05 s against 0.11 s for 476 MB), and
/// a quarter of this machine's 512 KiB per-core L2 does best. Two sessions
/// ago 256 KiB beat 1 MiB and 128 KiB (median ratio to `flowtrack -m` over
/// 21 alternating rounds on the 1M bench capture: 1.32x, 1.16x, 1.24x);
/// since, the reader's side touches more per packet (names, the ring's
/// notes), and 128 KiB is ahead: two runs of 21 alternating rounds, 256 KiB
/// 1.09x and 1.11x, 192 KiB 1.10x, 128 KiB 1.02x and 1.06x, 96 KiB 1.02x,
/// 64 KiB 1.03x; the 5M capture, 5 rounds, 0.93x against 0.90x; `--csv` and
/// `--parquet` showed no difference beyond the noise (15 and 11 rounds).
/// Records longer than the buffer grow it, up to `maximumSpan`.
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
    /// Set once the input turned out to be gzip-compressed.
    private var inflater: Inflater?
    /// Why decompression stopped early, if it did.
    var streamFailure: String? { inflater?.failure }

    init(fd: Int32, ownsDescriptor: Bool, initialCapacity: Int = 1 << 17, maximumSpan: Int = 64 << 20) {
        self.fd = fd
        self.ownsDescriptor = ownsDescriptor
        self.maximumSpan = maximumSpan
        storage = .allocate(byteCount: initialCapacity, alignment: 64)
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
            posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        }
    }

    deinit {
        storage.deallocate()
        if ownsDescriptor { close(fd) }
    }

    /// Where the descriptor is in the file (compressed bytes for gzip;
    /// nil for a pipe): for a progress line, called now and then.
    var filePosition: UInt64? {
        let p = lseek(fd, 0, SEEK_CUR)
        return p >= 0 ? UInt64(p) : nil
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
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: newCapacity, alignment: 64)
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
            let room = storage.count - end
            let got = inflater.map { $0.read(fd: fd, into: storage.baseAddress! + end, capacity: room) }
                ?? read(fd, storage.baseAddress! + end, room)
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

    /// From here on, the input is a gzip stream: the bytes buffered so far
    /// are its start. Offsets count decompressed bytes from then on.
    func startInflating() {
        inflater = Inflater(pending: UnsafeRawBufferPointer(rebasing: storage[start..<end]))
        start = 0
        end = 0
        eof = false
        offset = 0
    }
}
