// libFuzzer entry point over the capture reader, the decoder and the flow
// tracker. Built by Scripts/fuzz.sh (make fuzz) as one module with the
// library sources; not part of the package build.
#if canImport(Glibc)
import Glibc
#endif

/// Link types the decoder knows, plus one it doesn't, chosen by the first byte.
let fuzzLinkTypes: [UInt32] = [1, 113, 276, 101, 12, 14, 228, 229, 0, 108, 147]
nonisolated(unsafe) var fuzzPath: String = "/dev/shm/pflow-fuzz-\(getpid()).cap"

@_cdecl("LLVMFuzzerTestOneInput")
public func pflowFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // 1. The decoder alone, on a frame of any link type.
    if size > 0 {
        var packet = DecodedPacket()
        let link = fuzzLinkTypes[Int(bytes[0]) % fuzzLinkTypes.count]
        _ = PacketDecoder.decode(UnsafeRawBufferPointer(rebasing: bytes[1...]), linkType: link, into: &packet)
    }
    // 2. The whole file path: the bytes as a capture file.
    let fd = open(fuzzPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return 0 }
    var at = 0
    while at < size {
        let n = write(fd, data + at, size - at)
        if n <= 0 { break }
        at += n
    }
    close(fd)
    // The default path (the pipeline, two threads) and the single thread
    // must agree byte for byte: a difference is a bug, so it traps.
    if let result = try? Analyzer.analyze(paths: [fuzzPath], threads: 2) {
        _ = TableReport().render(result)
        let json = JSONReport.render(result)
        for f in result.flows { _ = FlowCSV.row(f, digits: result.summary.timestampDigits) }
        if let serial = try? Analyzer.analyze(paths: [fuzzPath], threads: 1) {
            precondition(JSONReport.render(serial) == json, "--threads 1 and 2 disagree")
        }
    }
    return 0
}
