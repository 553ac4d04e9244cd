/// The command line, parsed by hand: a dozen options don't need a parsing
/// library, and not loading one (and the Foundation it brings) takes a
/// few milliseconds off every run, which is most of the time pflow spends
/// on a small capture.
///
/// The rules are the usual ones: `--name value`, `--name=value`, `-i value`;
/// an option that takes a value takes the next argument whatever it looks
/// like (so `--top -3` is an out-of-range top, not an unknown option);
/// `--` ends the options; `-` alone is a file (standard input); the last of
/// a repeated option wins.
import PFlowCore

struct Options {
    var interface: String?
    var listInterfaces = false
    var duration: Double?
    var count: Int?
    var interval: Double = 1
    var snaplen: Int32?
    var noPromisc = false
    var bufferSize: Int32?
    var files: [String] = []
    /// Each file argument's bytes as given (a path need not be UTF-8;
    /// `files` holds them decoded, for messages and comparisons).
    var fileBytes: [[UInt8]] = []
    var filter: String?
    var csv: String?
    var parquet: String?
    var parquetCompression = "gzip"
    /// `--csv`'s path as given, opened by these bytes.
    var csvBytes: [UInt8]?
    // Other tools' formats (issue 15).
    var ndjson: String?
    var connLog: String?
    var connLogFormat = "tsv"
    var ipfix: String?
    var ipfixMTU = 1400
    var ipfixMode = "biflow"
    var ipfixFile: String?
    var json = false
    var top = 20
    var sort = "bytes"
    var services: String?
    /// `--services`'s path as given.
    var servicesBytes: [UInt8]?
    var idleTimeout: Double?
    var activeTimeout: Double?
    var maxFlows: Int?
    var threads: Int?
    var noDecap = false
    // Issue 17: the timeline, its sparklines, the HTML page, progress.
    var bin: Double?
    var ascii = false
    var quiet = false
    var html: String?
    var help = false
    var version = false

    /// A mistake on the command line: exit status 64 (EX_USAGE).
    struct UsageError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    /// What an option does with its value (or that it takes none).
    private enum Kind {
        case flag(WritableKeyPath<Options, Bool>)
        /// Stores the value; false when it doesn't read as the option's type.
        case value((inout Options, String) -> Bool)

        /// An option whose value reads as `T` (text, a number).
        static func value<T: LosslessStringConvertible>(_ path: WritableKeyPath<Options, T>) -> Kind {
            .value { options, text in
                guard let v = T(text) else { return false }
                options[keyPath: path] = v
                return true
            }
        }

        static func value<T: LosslessStringConvertible>(_ path: WritableKeyPath<Options, T?>) -> Kind {
            .value { options, text in
                guard let v = T(text) else { return false }
                options[keyPath: path] = v
                return true
            }
        }
    }

    /// Long name, short name (or nil), value name as the help shows it, kind.
    private static var table: [(long: String, short: Character?, value: String, kind: Kind)] { [
        ("interface", "i", "interface", .value(\.interface)),
        ("list-interfaces", "D", "", .flag(\.listInterfaces)),
        ("duration", nil, "s", .value(\.duration)),
        ("count", nil, "n", .value(\.count)),
        ("interval", nil, "s", .value(\.interval)),
        ("snaplen", nil, "n", .value(\.snaplen)),
        ("no-promisc", nil, "", .flag(\.noPromisc)),
        ("buffer-size", nil, "KiB", .value(\.bufferSize)),
        ("filter", "f", "expr", .value(\.filter)),
        ("csv", nil, "path", .value(\.csv)),
        ("parquet", nil, "path", .value(\.parquet)),
        ("parquet-compression", nil, "gzip|none", .value(\.parquetCompression)),
        ("ndjson", nil, "path", .value(\.ndjson)),
        ("conn-log", nil, "path", .value(\.connLog)),
        ("conn-log-format", nil, "tsv|json", .value(\.connLogFormat)),
        ("ipfix", nil, "host:port", .value(\.ipfix)),
        ("ipfix-mtu", nil, "bytes", .value(\.ipfixMTU)),
        ("ipfix-mode", nil, "biflow|uniflow", .value(\.ipfixMode)),
        ("ipfix-file", nil, "path", .value(\.ipfixFile)),
        ("json", nil, "", .flag(\.json)),
        ("top", nil, "n", .value(\.top)),
        ("sort", nil, "key", .value(\.sort)),
        ("services", nil, "file", .value(\.services)),
        ("idle-timeout", nil, "s", .value(\.idleTimeout)),
        ("active-timeout", nil, "s", .value(\.activeTimeout)),
        ("max-flows", nil, "n", .value(\.maxFlows)),
        ("threads", nil, "n", .value(\.threads)),
        ("no-decap", nil, "", .flag(\.noDecap)),
        ("bin", nil, "s", .value(\.bin)),
        ("ascii", nil, "", .flag(\.ascii)),
        ("quiet", "q", "", .flag(\.quiet)),
        ("html", nil, "path", .value(\.html)),
        ("version", nil, "", .flag(\.version)),
        ("help", "h", "", .flag(\.help)),
    ] }

    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        try parse(bytes: arguments.map { Array($0.utf8) })
    }

    /// Parses the arguments as the kernel passed them: file and `--csv`
    /// paths keep their bytes (`CommandLine.arguments` would replace the
    /// bytes of a name that isn't UTF-8, and so open another file).
    static func parse(bytes arguments: [[UInt8]]) throws(UsageError) -> Options {
        var options = Options()
        let table = Self.table
        var rest = arguments[...]
        func addFile(_ raw: [UInt8]) {
            options.files.append(String(decoding: raw, as: UTF8.self))
            options.fileBytes.append(raw)
        }
        while let raw = rest.popFirst() {
            let argument = String(decoding: raw, as: UTF8.self)
            if argument == "--" {
                for file in rest { addFile(file) }
                break
            }
            guard argument.hasPrefix("-"), argument != "-" else {
                addFile(raw)
                continue
            }
            // The option, and a value written into the same argument.
            var name = argument
            var attached: String?
            var attachedBytes: [UInt8]?
            let entry: (long: String, short: Character?, value: String, kind: Kind)?
            if argument.hasPrefix("--") {
                if let equals = argument.firstIndex(of: "=") {
                    name = String(argument[..<equals])
                    attached = String(argument[argument.index(after: equals)...])
                    if let at = raw.firstIndex(of: 0x3D) { attachedBytes = Array(raw[(at + 1)...]) }
                }
                let long = name.dropFirst(2)
                entry = table.first { $0.long == long }
            } else {
                // -i eth0, -ieth0, -D
                let letters = argument.dropFirst()
                guard let letter = letters.first else { throw UsageError("Unknown option '\(argument)'") }
                name = "-" + String(letter)
                entry = table.first { $0.short == letter }
                if letters.count > 1 {
                    if let entry, case .flag = entry.kind {
                        // -Dx: only value options take the rest of the argument.
                        throw UsageError("Unknown option '-\(letters.dropFirst().first.map(String.init) ?? "")'")
                    }
                    attached = String(letters.dropFirst())
                    // "-" and an ASCII letter: the value is the bytes after them.
                    attachedBytes = Array(raw.dropFirst(1 + String(letter).utf8.count))
                }
            }
            guard let entry else { throw UsageError("Unknown option '\(name)'") }
            let shown = entry.value.isEmpty ? name : "\(name) <\(entry.value)>"
            if case .flag(let path) = entry.kind {
                if let attached {
                    throw UsageError("The option '\(name)' does not take any value, but '\(attached)' was specified.")
                }
                options[keyPath: path] = true
                continue
            }
            guard let valueBytes = attachedBytes ?? rest.popFirst() else { throw UsageError("Missing value for '\(shown)'") }
            let value = attached ?? String(decoding: valueBytes, as: UTF8.self)
            guard case .value(let store) = entry.kind, store(&options, value) else {
                throw UsageError("The value '\(value)' is invalid for '\(shown)'")
            }
            if entry.long == "csv" { options.csvBytes = valueBytes }
            if entry.long == "services" { options.servicesBytes = valueBytes }
        }
        return options
    }

    /// `pflow --help` (Tests/help.golden.txt holds it too).
    static let helpText = """
        OVERVIEW: Report the services in packet captures, and who talks to them.

        Reads pcap and pcapng files (several files are one capture, in order; "-" is
        standard input), groups packets into bidirectional flows, decides which end of
        each flow is the client and which the service, and prints traffic by service.

        USAGE: pflow [<options>] [<file> ...]

        ARGUMENTS:
          <file>                  Capture files (pcap or pcapng), analysed in order as
                                  one capture; - reads stdin.

        OPTIONS:
          -i, --interface <interface>
                                  Capture live on this interface until Ctrl-C,
                                  --duration or --count.
          -D, --list-interfaces   List the interfaces pflow can capture on.
          --duration <s>          Live: stop after this many seconds.
          --count <n>             Live: stop after this many packets.
          --interval <s>          Live: seconds between redraws of the on-screen view.
                                  (default: 1.0)
          --snaplen <n>           Live: bytes kept per packet (default 256: flows count
                                  wire lengths, only signatures read payload).
          --no-promisc            Live: don't put the interface into promiscuous mode.
          --buffer-size <KiB>     Live: kernel capture buffer in KiB (default 8192).
          -f, --filter <expr>     Keep only packets matching this BPF filter (tcpdump
                                  syntax).
          --csv <path>            Write one row per flow to this CSV file; - writes it
                                  to stdout instead of the table.
          --parquet <path>        Write one row per flow to this Parquet file (the CSV's
                                  columns, typed).
          --parquet-compression <gzip|none>
                                  Compression of the Parquet pages. (default: gzip)
          --ndjson <path>         Write one JSON object per flow (the CSV's columns as
                                  keys) to this file; - writes to stdout instead of
                                  the table.
          --conn-log <path>       Write Zeek's conn.log to this file; - writes to
                                  stdout instead of the table.
          --conn-log-format <tsv|json>
                                  Zeek's TSV with its header lines, or Zeek's JSON.
                                  (default: tsv)
          --ipfix <host:port>     Export flows over UDP to this IPFIX collector
                                  (nfcapd, nfacctd, GoFlow2); [v6addr]:port for IPv6.
          --ipfix-mtu <bytes>     Largest IPFIX message (UDP payload), 512 to 65535.
                                  (default: 1400)
          --ipfix-mode <biflow|uniflow>
                                  One record per flow with RFC 5103 reverse counters,
                                  or two one-way records. (default: biflow)
          --ipfix-file <path>     Write the IPFIX messages to this file (RFC 5655).
          --json                  Print the report as JSON instead of a table.
          --top <n>               Rows per table section (findings are all shown).
                                  (default: 20)
          --sort <key>            Services and hosts by bytes, packets, flows or
                                  clients. (default: bytes)
          --services <file>       Extra or overriding port names, in /etc/services
                                  format.
          --idle-timeout <s>      End a flow after this many seconds without packets,
                                  for every protocol (default: TCP 300, UDP and ICMP
                                  60).
          --active-timeout <s>    Split a flow into another row once it has lasted this
                                  many seconds (default: off).
          --max-flows <n>         Most flows tracked at once; beyond it the least
                                  recently seen flow ends with end_reason capacity
                                  (default: no limit).
          --threads <n>           Threads for files: 1 reads, decodes and tracks on
                                  one; 2 or more read and decode on one while another
                                  tracks (default: the number of cores).
          --no-decap              Keep the outer view of tunnels (GRE, IP-in-IP, VXLAN,
                                  Geneve, GTP-U, Teredo) instead of tracking their
                                  inner flows.
          --bin <s>               Width of the timeline's bins in seconds (default:
                                  chosen so that a capture gives 20-200 bins).
          --ascii                 The table in ASCII (sparklines, share bars) even on
                                  a UTF-8 terminal.
          -q, --quiet             No progress line on stderr while files are read.
          --html <path>           Also write the report as one self-contained HTML
                                  page with charts.
          --version               Show the version.
          -h, --help              Show help information.


        """
}
