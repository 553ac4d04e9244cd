import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The live view's keyboard: standard input in cbreak mode (no line
/// buffering, no echo; Ctrl-C still signals), read without blocking. The
/// settings it found are put back by `restore`, which every way out of the
/// view calls: the end of the loop (q, Ctrl-C, --duration, --count, a
/// failed capture) and the signal thread before it exits at a second Ctrl-C.
final class LiveKeys: Sendable {
    /// The settings to put back (nil: stdin is not a terminal, no keys).
    private let saved: termios?
    private let restored = Atomic<Bool>(false)
    /// The screen the view drew on (alternate screen, hidden cursor).
    private let screen: Bool

    init(screen: Bool) {
        self.screen = screen
        var t = termios()
        guard isatty(0) == 1, tcgetattr(0, &t) == 0 else { saved = nil; return }
        saved = t
        var raw = t
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        // VMIN 0, VTIME 0: a read returns at once, with or without a key.
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        _ = tcsetattr(0, TCSANOW, &raw)
    }

    var active: Bool { saved != nil }

    /// The keys pressed since the last call (at most 64).
    func pressed() -> [UInt8] {
        guard saved != nil, !restored.load(ordering: .acquiring) else { return [] }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        return n > 0 ? Array(buffer.prefix(n)) : []
    }

    /// Puts the terminal back as it was (once; safe from any thread).
    func restore() {
        guard !restored.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if screen { writeAll(1, "\u{1B}[?25h\u{1B}[?1049l") }
        if var t = saved { _ = tcsetattr(0, TCSANOW, &t) }
    }
}
