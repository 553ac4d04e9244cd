import PFlowCore
import PFlowWire

/// Port → service name, one flat 65 536-entry table per transport
/// (gopacket's `layers/ports.go` idea): a lookup is one array read.
public final class ServiceRegistry: Sendable {
    private let names: [String]
    /// `names` as users say them (`ServiceNames.userFacing`), made once
    /// rather than per flow.
    private let facingNames: [String]
    private let tcp: [UInt16]   // index into `names`, 0 = unnamed
    private let udp: [UInt16]

    /// The IANA registry with the names users expect where it is odd or silent.
    public static let standard: ServiceRegistry = {
        var builder = Builder()
        var table = ianaServiceTable
        table.withUTF8 { builder.addCompactTable($0) }
        for (port, name) in ServiceRegistry.overlayTCP { builder.set(name, port: port, tcp: true, udp: false) }
        for (port, name) in ServiceRegistry.overlayUDP { builder.set(name, port: port, tcp: false, udp: true) }
        return builder.build()
    }()

    /// Names the registry lacks or gives to something rarely seen today.
    static let overlayTCP: [(UInt16, String)] = [
        (3000, "grafana/node"), (5000, "flask"), (8080, "http-alt"), (9000, "php-fpm"),
        (9090, "prometheus"), (6379, "redis"), (27017, "mongodb"), (5432, "postgresql"),
        (3306, "mysql"), (8443, "https-alt"),
    ]
    /// UDP 443 is HTTP/3 over QUIC in practice.
    static let overlayUDP: [(UInt16, String)] = [(443, "quic")]

    init(names: [String], tcp: [UInt16], udp: [UInt16]) {
        self.names = names
        facingNames = names.map(ServiceNames.userFacing)
        self.tcp = tcp
        self.udp = udp
    }

    /// The service name of `port` for `proto`, or nil when unnamed or portless.
    @inline(__always)
    public func name(port: UInt16, proto: IPProtocol) -> String? {
        let index: UInt16
        switch proto {
        case .tcp: index = tcp[Int(port)]
        case .udp: index = udp[Int(port)]
        default: return nil
        }
        return index == 0 ? nil : names[Int(index)]
    }

    /// The registry's name and the user-facing one (`ServiceNames.userFacing`) at once.
    @inline(__always)
    public func names(port: UInt16, proto: IPProtocol) -> (registry: String, facing: String)? {
        let index: UInt16
        switch proto {
        case .tcp: index = tcp[Int(port)]
        case .udp: index = udp[Int(port)]
        default: return nil
        }
        return index == 0 ? nil : (names[Int(index)], facingNames[Int(index)])
    }

    /// Where `port`'s names are kept for `proto` (0: unnamed or portless),
    /// for `name(at:)` and `facingName(at:)`: a flow's record reads the
    /// names it uses only.
    @inline(__always)
    func nameIndex(port: UInt16, proto: IPProtocol) -> Int {
        switch proto {
        case .tcp: return Int(tcp[Int(port)])
        case .udp: return Int(udp[Int(port)])
        default: return 0
        }
    }

    /// The registry's name at a non-zero `nameIndex`.
    @inline(__always)
    func name(at index: Int) -> String { names[index] }

    /// The user-facing name at a non-zero `nameIndex`.
    @inline(__always)
    func facingName(at index: Int) -> String { facingNames[index] }

    @inline(__always)
    public func isNamed(port: UInt16, proto: IPProtocol) -> Bool {
        switch proto {
        case .tcp: return tcp[Int(port)] != 0
        case .udp: return udp[Int(port)] != 0
        default: return false
        }
    }

    /// A registry with the entries of an /etc/services-format text added on
    /// top of this one (they win). Throws on a line that names a port badly.
    public func overriding(withServicesText text: String, source: String) throws(ServicesFileError) -> ServiceRegistry {
        var builder = Builder(names: names, tcp: tcp, udp: udp)
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count >= 2 else {
                throw ServicesFileError(source: source, line: lineNumber, reason: "expected 'name port/proto'")
            }
            let parts = fields[1].split(separator: "/")
            guard parts.count >= 2 else {
                throw ServicesFileError(source: source, line: lineNumber, reason: "expected port/proto, got '\(fields[1])'")
            }
            let bounds = parts[0].split(separator: "-")
            guard bounds.count <= 2, let low = UInt16(bounds[0]),
                  let high = bounds.count == 2 ? UInt16(bounds[1]) : low, low <= high else {
                throw ServicesFileError(source: source, line: lineNumber, reason: "bad port '\(parts[0])'")
            }
            let protos = parts.dropFirst().map { $0.lowercased() }
            let onTCP = protos.contains("tcp"), onUDP = protos.contains("udp")
            guard onTCP || onUDP else { continue }  // sctp/dccp lines are valid but not ours
            // One name per line, however many ports its range holds; made
            // safe for a terminal and a spreadsheet once, here.
            let index = builder.intern(ServiceNames.safe(String(fields[0])))
            for port in low...high {
                if onTCP { builder.tcp[Int(port)] = index }
                if onUDP { builder.udp[Int(port)] = index }
            }
        }
        return builder.build()
    }

    /// Names are appended, not looked up for reuse: hashing every name cost
    /// more at each start than the few repeated names save (the IANA table
    /// and a full /etc/services together stay far below 65 535 names).
    struct Builder {
        var names: [String]
        var tcp: [UInt16]
        var udp: [UInt16]

        init() {
            names = [""]
            names.reserveCapacity(8192)
            tcp = [UInt16](repeating: 0, count: 65_536)
            udp = [UInt16](repeating: 0, count: 65_536)
        }

        init(names: [String], tcp: [UInt16], udp: [UInt16]) {
            self.names = names
            self.tcp = tcp
            self.udp = udp
        }

        mutating func intern(_ name: String) -> UInt16 {
            guard names.count < Int(UInt16.max) else { return 0 }
            names.append(name)
            return UInt16(names.count - 1)
        }

        mutating func set(_ name: String, port: UInt16, tcp onTCP: Bool, udp onUDP: Bool) {
            let i = intern(name)
            if onTCP { tcp[Int(port)] = i }
            if onUDP { udp[Int(port)] = i }
        }

        /// The generated table's lines, parsed straight from its bytes (this
        /// runs at every start, so no String splitting).
        mutating func addCompactTable(_ bytes: UnsafeBufferPointer<UInt8>) {
            var i = 0
            let n = bytes.count
            while i < n {
                var port = 0
                var digits = 0
                while i < n, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                    port = port * 10 + Int(bytes[i] - 0x30)
                    digits += 1
                    i += 1
                }
                var onTCP = true, onUDP = true
                if i + 1 < n, bytes[i] == 0x2F {  // "/t" or "/u"
                    onUDP = bytes[i + 1] != 0x74
                    onTCP = bytes[i + 1] != 0x75
                    i += 2
                }
                let nameStart = i + 1
                while i < n, bytes[i] != 0x0A { i += 1 }
                if digits > 0, port <= 65535, nameStart < i {
                    let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[nameStart..<i]), as: UTF8.self)
                    set(name, port: UInt16(port), tcp: onTCP, udp: onUDP)
                }
                i += 1
            }
        }

        func build() -> ServiceRegistry { ServiceRegistry(names: names, tcp: tcp, udp: udp) }
    }
}

public struct ServicesFileError: Error, Sendable {
    public var source: String
    public var line: Int
    public var reason: String
    public var message: String { "\(source): line \(line): \(reason)" }
}
