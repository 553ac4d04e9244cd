import PFlowCapture
import PFlowOutput
#if canImport(Glibc)
import Glibc
#endif

/// One line on stderr while files take long to read: bytes read of the
/// total, the share, packets per second and the time left (as much of it as
/// is known: a pipe has no total). Drawn only after two seconds, at most
/// four times a second, in place (`\r`, erase to the end of the line), and
/// erased before the report. The command makes one only when stderr is a
/// terminal and `--quiet` is not given.
final class ProgressLine {
    private let files: [CaptureFile]
    private let totalBytes: UInt64?
    private let started = ProgressLine.now()
    private var lastDraw = 0.0
    private var drawn = false
    /// Records of the files finished before the current one.
    private var earlierRecords: UInt64 = 0
    private var current: ObjectIdentifier?
    private var currentRecords: UInt64 = 0
    private var bytesBefore: UInt64 = 0

    init(files: [CaptureFile]) {
        self.files = files
        let sizes = files.map(\.inputSize)
        totalBytes = sizes.contains { $0 == nil } ? nil : sizes.reduce(0) { $0 + ($1 ?? 0) }
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    func update(_ file: CaptureFile, _ records: UInt64) {
        let id = ObjectIdentifier(file)
        if current != id {
            if current != nil {
                earlierRecords += currentRecords
                if let i = files.firstIndex(where: { ObjectIdentifier($0) == current }) {
                    bytesBefore += files[i].inputSize ?? 0
                }
            }
            current = id
        }
        currentRecords = records
        let t = Self.now()
        let elapsed = t - started
        guard elapsed >= 2, t - lastDraw >= 0.25 else { return }
        lastDraw = t
        let done = bytesBefore + file.inputPosition
        let packets = earlierRecords + records
        // The file's own name: a long directory would push the numbers off the line.
        let name = file.path.split(separator: "/").last.map(String.init) ?? file.path
        var text = "pflow: \(name): \(Formatting.humanBytes(done))"
        if let total = totalBytes, total > 0 {
            let share = min(1, Double(done) / Double(total))
            text += " of \(Formatting.humanBytes(total)) (\(Formatting.fixed(share * 100, 0))%)"
            if share > 0.01 {
                let left = Int(elapsed / share - elapsed)
                text += ", " + Formatting.grouped(UInt64(Double(packets) / elapsed)) + " packets/s, "
                    + "\(left / 60):" + (left % 60 < 10 ? "0" : "") + "\(left % 60) left"
            }
        } else {
            text += ", " + Formatting.grouped(UInt64(Double(packets) / elapsed)) + " packets/s"
        }
        // One terminal line: a wrapped line could not be redrawn in place.
        if text.count > 79 { text = String(text.prefix(78)) + "…" }
        writeStderr("\r\u{1B}[K" + text)
        drawn = true
    }

    func erase() {
        if drawn { writeStderr("\r\u{1B}[K") }
        drawn = false
    }
}
