import PFlowCore
import PFlowCapture
import PFlowFlows
import PFlowLive
import PFlowEngine
import PFlowOutput
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Stop requests (Ctrl-C, SIGTERM), counted by the signal thread.
final class StopRequests: Sendable {
    let count = Atomic<Int>(0)
    /// The capture loop has ended: the next request exits at once.
    let over = Atomic<Bool>(false)
}

/// `pflow -i <interface>`: capture until Ctrl-C, SIGTERM, --duration or
/// --count; on a terminal, a view redrawn in place every --interval seconds.
struct LiveSession {
    var interface: String
    var options: LiveOptions
    var durationNs: Int64?
    var count: Int?
    var intervalNs: Int64
    var top: Int
    var color: Bool
    /// Redraw a view on the terminal (stdout is a TTY and gets the report).
    var view: Bool
    /// Sparklines and arrows in ASCII; the services' first sort; --max-flows.
    var ascii = false
    var sort = ServiceSort.bytes
    var maxFlows: Int? = nil

    /// Runs the capture into `analyzer`; flushes its exporters at least once a second.
    /// Returns the failure that ended it early, if any (the report still follows).
    func run(_ analyzer: Analyzer, onStart: (Int) -> Void) throws(LiveError) -> LiveError? {
        let capture = try LiveCapture(interface: interface, options: options)
        for w in capture.warnings { writeStderr("pflow: warning: \(w)\n") }
        onStart(capture.timestampDigits)
        let linkType = LinkType(rawValue: capture.linkType)
        analyzer.beginLive(timestampDigits: capture.timestampDigits)

        // Signals are taken by a thread of their own (sigwait; blocked
        // everywhere else): the first asks the loop to stop (and wakes it),
        // a second, or one after the loop, exits at once.
        let stops = StopRequests()
        // The view's keys and screen, put back on every way out.
        let keys = view ? LiveKeys(screen: true) : nil
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let waited = signals
        if let waiter = WorkerThread({
            var set = waited
            while true {
                var number: Int32 = 0
                guard sigwait(&set, &number) == 0 else { continue }
                if stops.count.add(1, ordering: .sequentiallyConsistent).newValue >= 2
                    || stops.over.load(ordering: .sequentiallyConsistent) {
                    keys?.restore()
                    _exit(130)
                }
                capture.breakLoop()
            }
        }) {
            waiter.detach()
        } else {
            pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        }
        let start = Self.monotonicNs()
        var nextDraw = start + intervalNs
        var nextFlush = start + 1_000_000_000
        // The view counts per service as packets come (see LiveMeter).
        let screen = view ? LiveView(totals: analyzer.startLiveTotals(), intervalNs: intervalNs, sort: sort, ascii: ascii) : nil
        var packets = 0
        var failure: LiveError?
        // Packet time of the last packet, and when (on the monotonic clock) it came.
        var lastPacket = (ts: Int64.min, at: start)
        if view { writeStdout("\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J") }
        if let screen { screen.sample(nowNs: start, packets: 0, bytes: 0) }
        capture: while stops.count.load(ordering: .sequentiallyConsistent) == 0 {
            let remaining = count.map { Int32(clamping: $0 - packets) } ?? -1
            if remaining == 0 { break }
            do {
                let got = try capture.dispatch(limit: remaining) { bytes, length, ts in
                    analyzer.take(CaptureRecord(bytes: bytes, originalLength: length, timestampNs: ts,
                                                linkType: linkType, interface: 0))
                    lastPacket.ts = max(lastPacket.ts, ts)
                }
                packets += got
                if got > 0 { lastPacket.at = Self.monotonicNs() }
            } catch {
                failure = error
                break
            }
            let now = Self.monotonicNs()
            if let durationNs, now - start >= durationNs { break }
            if now >= nextFlush {
                // A quiet link: packet time runs on with the clock, so flows end.
                if lastPacket.ts != Int64.min { analyzer.tick(nowNs: lastPacket.ts + (now - lastPacket.at)) }
                analyzer.flushExporters()
                if capture.interfaceIsUp() == false {
                    failure = LiveError(message: "\(interface): the interface went down; capture stopped")
                    break
                }
                nextFlush = now + 1_000_000_000
            }
            guard let screen else { continue }
            var redraw = false
            for key in keys?.pressed() ?? [] {
                switch key {
                case UInt8(ascii: "q"), UInt8(ascii: "Q"):
                    // As Ctrl-C: a later Ctrl-C (while the report is written) exits at once.
                    stops.count.add(1, ordering: .sequentiallyConsistent)
                    break capture
                case UInt8(ascii: "s"), UInt8(ascii: "S"): screen.cycleSort(); redraw = true
                case UInt8(ascii: "p"), UInt8(ascii: "P"), UInt8(ascii: " "): screen.paused.toggle(); redraw = true
                case UInt8(ascii: "h"), UInt8(ascii: "H"), UInt8(ascii: "?"): screen.showHelp.toggle(); redraw = true
                default: break
                }
            }
            if now >= nextDraw {
                // Sorting new flows and sampling go on while paused, so the
                // rates are right the moment the display resumes.
                analyzer.refresh(screen.totals)
                screen.sample(nowNs: now, packets: analyzer.packetsSoFar, bytes: analyzer.bytesSoFar)
                if !screen.paused { redraw = true }
                nextDraw = now + intervalNs
            }
            if redraw {
                draw(analyzer, screen: screen, capture: capture, elapsedNs: now - start)
            }
        }
        keys?.restore()
        stops.over.store(true, ordering: .sequentiallyConsistent)

        let stats = capture.statistics
        let drops = stats.dropped + stats.interfaceDropped
        var warnings: [String] = []
        if drops > 0 {
            warnings.append("the kernel dropped \(drops) of \(stats.received + stats.interfaceDropped) packets on \(interface); "
                            + "a larger --buffer-size, a --filter or a shorter --snaplen helps")
        }
        if let failure { warnings.append(failure.message) }
        analyzer.endLive(interface: interface, linkType: linkType, warnings: warnings)
        analyzer.setKernelDrops(drops)
        return failure
    }

    /// One frame of the view, written in one piece: home, lines each cleared
    /// to their end, then everything below cleared: no flicker, no scrolling.
    func draw(_ analyzer: Analyzer, screen: LiveView, capture: LiveCapture, elapsedNs: Int64) {
        var size = winsize()
        let haveSize = ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0
        let width = haveSize ? Int(size.ws_col) : 100
        let height = haveSize ? Int(size.ws_row) : 30
        let stats = capture.statistics
        let seconds = elapsedNs / 1_000_000_000
        let clock = Formatting.pad(seconds / 3600, 2) + ":" + Formatting.pad(seconds / 60 % 60, 2) + ":" + Formatting.pad(seconds % 60, 2)
        let drops = stats.dropped + stats.interfaceDropped
        let share = stats.seen > 0 ? Double(drops) * 100 / Double(stats.seen) : 0
        let live = UInt64(analyzer.liveFlows)
        let health = "health: \(Formatting.grouped(UInt64(max(0, screen.packetRate.rounded())))) packets/s   "
            + "\(Self.bitRate(screen.bitRate))   kernel drops \(Formatting.grouped(drops)) (\(Formatting.fixed(share, 2))%)   "
            + "live flows \(Formatting.grouped(live)) of "
            + (maxFlows.map { "\(Formatting.grouped(UInt64($0))) (--max-flows)" } ?? "no limit")
        let title = "pflow on \(TableReport.safe(interface))" + (options.filter.map { "  filter: \(TableReport.safe($0))" } ?? "")
            + "   elapsed \(clock)   sort: \(screen.sort.rawValue)"
            + (screen.paused ? "   PAUSED (p resumes)" : "") + "   q quit  s sort  p pause  h help"
        let lines = [title] + screen.lines(width: width, height: height, top: top, healthLine: health)
        var frame = "\u{1B}[H"
        for (i, line) in lines.prefix(height - 1).enumerated() {
            let fitted = String(line.prefix(width))
            frame += (i == 0 && color ? "\u{1B}[1m" + fitted + "\u{1B}[0m" : fitted) + "\u{1B}[K\n"
        }
        frame += "\u{1B}[J"
        writeStdout(frame)
    }

    static func bitRate(_ bits: Double) -> String {
        let units = ["b/s", "kb/s", "Mb/s", "Gb/s", "Tb/s"]
        var v = bits, i = 0
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return Formatting.fixed(v, 1) + " " + units[i]
    }

    static func monotonicNs() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }
}

/// Writes to standard output directly (the view and its escape sequences).
func writeStdout(_ text: String) { writeAll(1, text) }
