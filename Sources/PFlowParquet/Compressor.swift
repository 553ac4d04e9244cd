import CZlib

/// GZIP page compression (parquet-format Compression.md: GZIP is the gzip
/// format of RFC 1952, one member per page). One zlib stream per writer,
/// reset for every page, so pages allocate nothing once the output buffer
/// has grown to the largest page.
final class GzipCompressor {
    private var stream = z_stream()
    private var started = false

    /// nil if zlib could not start (out of memory, or a level outside 0-9).
    init?(level: Int32) {
        // windowBits 15 + 16: a 32 KiB window and the gzip wrapper instead of zlib's.
        let rc = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { return nil }
        started = true
    }

    deinit {
        if started { deflateEnd(&stream) }
    }

    /// Replaces `out`'s contents with `input` compressed; false if zlib failed.
    func compress(_ input: UnsafeRawBufferPointer, into out: ByteBuffer) -> Bool {
        out.removeAll()
        guard deflateReset(&stream) == Z_OK else { return false }
        // Pages are bounded far below 4 GiB (the writer checks), so one call takes the whole input.
        guard input.count <= Int(UInt32.max) else { return false }
        var room = Int(deflateBound(&stream, uLong(input.count)))
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        while true {
            let dst = out.tail(reserving: room)
            let chunk = min(room, Int(UInt32.max))
            stream.next_out = dst.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(chunk)
            let rc = deflate(&stream, Z_FINISH)
            out.didWrite(chunk - Int(stream.avail_out))
            if rc == Z_STREAM_END { return true }
            // deflateBound is an upper bound, so this is only a safety net.
            guard rc == Z_OK || rc == Z_BUF_ERROR else { return false }
            room = max(room, 4096)
        }
    }
}
