import CPlatform
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file being written: a temporary `.<name>.tmp-<pid>` beside the
/// destination, renamed onto it only once the footer is complete, and
/// removed on every other way out. A reader never sees a file at `path`
/// that starts with `PAR1` but lacks its footer.
final class OutputFile {
    let path: String
    private(set) var temporaryPath: String
    private var fd: Int32 = -1
    /// Bytes written so far: the next byte's file offset.
    private(set) var offset: Int64 = 0
    /// The temporary is ours to remove: we created it and it was not renamed yet.
    private var ownsTemporary = false

    init(path: String) throws(ParquetError) {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty, name != ".", name != ".." else {
            throw .usage(path: path, reason: "not a file name")
        }
        let stem = directory + "." + name + ".tmp-" + String(getpid())
        temporaryPath = stem
        // O_EXCL: never write into a file someone else has open; a stale
        // temporary of the same pid (a crashed earlier run) gets a suffix.
        for attempt in 0..<100 {
            temporaryPath = attempt == 0 ? stem : stem + "." + String(attempt)
            fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 {
                ownsTemporary = true
                return
            }
            let code = errno
            if code == EINTR { continue }
            if code != EEXIST {
                throw .io(path: path, operation: "cannot create \(temporaryPath)", errno: code)
            }
        }
        throw .io(path: path, operation: "cannot create \(temporaryPath)", errno: EEXIST)
    }

    deinit { discard() }

    /// Writes all of `bytes`, retrying short writes; a write that fails, or
    /// makes no progress, is an error naming the path and errno.
    func write(_ bytes: UnsafeRawBufferPointer) throws(ParquetError) {
        guard fd >= 0 else { throw .usage(path: path, reason: "the file is already closed") }
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = systemWrite(fd, p, left)
            if n > 0 {
                p += n
                left -= n
                offset += Int64(n)
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                // write(2) returning 0 for a non-empty regular-file write means no room either.
                throw .io(path: path, operation: "write failed", errno: n < 0 ? errno : ENOSPC)
            }
        }
    }

    func write(_ buffer: ByteBuffer) throws(ParquetError) { try write(buffer.bytes) }

    /// Closes the temporary and renames it onto `path`. No fsync, as for
    /// every other output (and as tshark, Zeek and nfdump write theirs): the
    /// rename makes the file appear whole or not at all to every reader
    /// while the system runs; what reaches the disk, and when, is the
    /// kernel's writeback (`sync -f path` waits for it). The fsync of the
    /// file and of its directory, with writeback started per row group,
    /// cost the 1M bench capture 0.065 s of its 0.53 s (9 alternating
    /// rounds against the same binary under libeatmydata).
    func finish() throws(ParquetError) {
        guard fd >= 0 else { throw .usage(path: path, reason: "the file is already closed") }
        let rc = close(fd)
        fd = -1
        if rc != 0 && errno != EINTR {
            let code = errno
            discard()
            throw .io(path: path, operation: "close failed", errno: code)
        }
        // The file renamed over, held open so that the rename doesn't free
        // its blocks itself (ext4 with `discard` waits on the device for
        // that: about 10 ms for the bench's 8.4 MB file).
        let replaced = Self.openIfRegular(path)
        if rename(temporaryPath, path) != 0 {
            let code = errno
            if replaced >= 0 { close(replaced) }
            discard()
            throw .io(path: path, operation: "cannot rename \(temporaryPath) onto it", errno: code)
        }
        ownsTemporary = false
        // Freeing the old file happens on a thread of its own while the run
        // ends (exit waits for it: pflow_finish_later).
        pflow_finish_later(-1, replaced)
    }

    /// A read-only descriptor of `path` if it is a regular file (not a
    /// link, device or pipe, which opening might disturb), else -1.
    private static func openIfRegular(_ path: String) -> Int32 {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return -1 }
        return open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    }

    /// Closes and removes the temporary; safe to call more than once.
    func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        if ownsTemporary {
            unlink(temporaryPath)
            ownsTemporary = false
        }
    }
}

/// write(2), named apart from `OutputFile.write`.
@inline(__always)
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
#if canImport(Glibc)
    return Glibc.write(fd, p, n)
#else
    return Darwin.write(fd, p, n)
#endif
}
