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
    fuzzFlowOutputs()
    return 0
}

/// 3. Every flow output at once, as the command writes them (the exporters'
/// thread, files in /dev/shm): each must hold one row per flow, and the
/// IPFIX file must be whole RFC 7011 messages back to back.
func fuzzFlowOutputs() {
    let base = "/dev/shm/pflow-fuzz-\(getpid())"
    let ipfixOptions = IPFIXOptions()
    guard let file = try? CaptureFile(path: fuzzPath),
          let csvSink = try? OutputSink(path: base + ".csv"),
          let ndjsonSink = try? OutputSink(path: base + ".ndjson"),
          let connLog = try? ConnLogExporter(path: base + ".conn.log", format: .tsv),
          let connJSON = try? ConnLogExporter(path: base + ".conn.json", format: .json),
          let ipfix = try? IPFIXFlowExporter(collector: nil, file: base + ".ipfix", options: ipfixOptions, warn: { _ in }),
          let parquet = try? ParquetExporter(path: base + ".parquet", rowGroupRows: 64)
    else { return }
    let csv = CSVExporter(sink: csvSink, name: "csv")
    let ndjson = NDJSONExporter(sink: ndjsonSink, name: "ndjson")
    csv.digits = file.timestampDigits
    ndjson.digits = file.timestampDigits
    let analyzer = Analyzer()
    analyzer.threads = 2
    analyzer.exportOnThread = true
    for e: FlowExporter in [csv, ndjson, connLog, connJSON, ipfix, parquet] { analyzer.export(e) }
    do throws(CaptureError) { try analyzer.add(file) } catch { return }
    let result = analyzer.finish(overlappingExporters: true)
    do throws(ExportError) { try analyzer.finishExporters() } catch { preconditionFailure("an output failed: \(error.message)") }
    let flows = result.flows.count
    precondition(fuzzLines(base + ".csv") == flows + 1, "CSV rows != flows")
    precondition(fuzzLines(base + ".ndjson") == flows, "NDJSON lines != flows")
    precondition(fuzzLines(base + ".conn.log", skippingComments: true) == flows, "conn.log rows != flows")
    precondition(fuzzLines(base + ".conn.json") == flows, "conn.log JSON lines != flows")
    let messages = fuzzRead(base + ".ipfix")
    var at = 0
    while at < messages.count {
        precondition(messages.count - at >= 16, "IPFIX file ends inside a message header")
        precondition(messages[at] == 0 && messages[at + 1] == 10, "IPFIX message version != 10")
        let length = Int(messages[at + 2]) << 8 | Int(messages[at + 3])
        precondition(length >= 16 && length <= ipfixOptions.maxMessageSize && at + length <= messages.count,
                     "IPFIX message length")
        at += length
    }
    for suffix in [".csv", ".ndjson", ".conn.log", ".conn.json", ".ipfix", ".parquet"] { unlink(base + suffix) }
}

func fuzzRead(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { preconditionFailure("\(path) was not written") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    return bytes
}

/// Newline-ended lines in `path`, less those that start with `#` when
/// `skippingComments` (conn.log's header and `#close`).
func fuzzLines(_ path: String, skippingComments: Bool = false) -> Int {
    var lines = 0, lineStart = true
    for b in fuzzRead(path) {
        if lineStart && skippingComments && b == 0x23 { lines -= 1 }
        if b == 0x0A { lines += 1; lineStart = true } else { lineStart = false }
    }
    return lines
}
