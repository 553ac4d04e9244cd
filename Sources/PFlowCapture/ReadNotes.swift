import PFlowCore

/// The warnings one file's read gives, bounded whatever the file holds: a
/// kind of warning that can repeat once per block keeps its first
/// `verbatim` lines and counts the rest into one closing line, so five
/// million bad sections cost five lines, not five million Strings.
struct ReadNotes {
    enum Kind: Int, CaseIterable {
        case unsupportedSection

        /// The closing line's words for the ones not shown: "… and 12 more <these>".
        var more: String {
            switch self {
            case .unsupportedSection: return "sections of unsupported versions skipped"
            }
        }
    }

    static let verbatim = 5
    private var lines: [[String]] = Array(repeating: [], count: Kind.allCases.count)
    private var unshown: [Int] = Array(repeating: 0, count: Kind.allCases.count)
    /// One-off lines (summaries the reader makes once per file).
    private var once: [String] = []

    /// Adds a warning of `kind`; `line` is made only if it will be shown.
    mutating func add(_ kind: Kind, _ line: () -> String) {
        if lines[kind.rawValue].count < Self.verbatim {
            lines[kind.rawValue].append(line())
        } else {
            unshown[kind.rawValue] += 1
        }
    }

    /// A line the reader writes at most once per file.
    mutating func add(summary line: String) { once.append(line) }

    /// Every line, kinds in their order, then the one-off summaries.
    func all(path: String) -> [String] {
        var out: [String] = []
        for kind in Kind.allCases {
            out += lines[kind.rawValue]
            if unshown[kind.rawValue] > 0 {
                out.append("\(path): … and \(grouped(unshown[kind.rawValue])) more \(kind.more)")
            }
        }
        return out + once
    }
}

/// Watches the record clock for jumps: a record far from the one before it
/// (a clock set wrong for one packet, a record dated 2106 in a 2026 capture)
/// is read as it is, but counted, because a flow table sweeping by packet
/// time sees its clock stop or race. Merged captures jump too (the corpus
/// has several), so the summary line is offered, not added to the notes.
struct ClockWatch {
    /// How far apart consecutive records may be before it counts as a jump.
    static let jumpNs = CaptureRecord.clockJumpNs
    private var previous: Int64 = 0
    private var started = false
    private(set) var jumps = 0
    private(set) var backwardJumps = 0
    /// The first jump: where, and by how much (negative: backwards).
    private(set) var first: (offset: UInt64, byNs: Int64)?
    /// Records alone between a jump and a jump straight back, or alone
    /// before (or after) a jump at the file's start (end): a damaged clock,
    /// not merged files, whose jumps start runs of records that go on from
    /// there. How many, and the first one's offset.
    private(set) var outliers = 0
    private(set) var firstOutlier: UInt64?
    /// Records since the last jump (or the start), and where that run began.
    private var run = 0
    private var runOffset: UInt64 = 0
    /// The record time before the current run's jump (nil: the run is the file's first).
    private var beforeRun: Int64?

    @inline(__always)
    mutating func see(_ ns: Int64, offset: @autoclosure () -> UInt64) {
        // Timestamps are within ±(2^62 - 1), so the difference can't overflow.
        let step = ns - previous
        if (step > Self.jumpNs || step < -Self.jumpNs) && started {
            jumps += 1
            if step < 0 { backwardJumps += 1 }
            let at = offset()
            if first == nil { first = (at, step) }
            // A lone record: at the file's start, or jumped to and straight
            // back (the clock returns within a day of the record before it).
            // A merged file's one-record segment goes on elsewhere: no damage.
            if run == 1 {
                if let b = beforeRun {
                    if ns - b <= Self.jumpNs && b - ns <= Self.jumpNs { outlier(at: runOffset) }
                } else {
                    outlier(at: runOffset)
                }
            }
            beforeRun = previous
            run = 0
            runOffset = at
        }
        if run == 0 && !started { runOffset = offset() }
        run += 1
        previous = ns
        started = true
    }

    private mutating func outlier(at offset: UInt64) {
        outliers += 1
        if firstOutlier == nil { firstOutlier = offset }
    }

    /// Ends the watch: a last record alone after a jump is one too.
    mutating func finish() {
        if run == 1 && jumps > 0 { outlier(at: runOffset) }
        run = 0
    }

    /// The file's line about records out of time with both neighbours, if any.
    func outlierNote(path: String) -> String? {
        guard let firstOutlier else { return nil }
        return "\(path): \(grouped(outliers)) record\(outliers == 1 ? "" : "s") dated more than a day away from the records "
            + "on either side (first at byte offset \(firstOutlier)), as from a damaged clock; analysed with the times they have "
            + "(flows live at such a record may end there as idle)"
    }

    /// The file's one line about jumps, if there were any.
    func note(path: String) -> String? {
        guard let first else { return nil }
        let back = backwardJumps == 0 ? "" : ", \(grouped(backwardJumps)) of them backwards"
        let days = first.byNs.magnitude / 86_400_000_000_000
        let way = first.byNs > 0 ? "later" : "earlier"
        return "\(path): record times jump by more than a day \(grouped(jumps)) time\(jumps == 1 ? "" : "s")\(back) "
            + "(first at byte offset \(first.offset): \(grouped(Int(days))) day\(days == 1 ? "" : "s") \(way) than the record before); "
            + "the records are analysed with the times they have"
    }
}
