import PFlowCore
import PFlowWire

/// The first bytes of the first payload one direction sent, copied onto the
/// stack (no allocation) while its signature is read.
public struct PayloadHead: Sendable {
    public static let capacity = 32
    var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// Bytes held (0 = no payload seen yet).
    public private(set) var count: UInt8 = 0
    /// The whole payload length of that packet, as the IP header says.
    public private(set) var payloadLength: UInt32 = 0

    public init() {}

    /// Copies up to 32 captured payload bytes.
    mutating func fill(from frame: UnsafeRawBufferPointer, offset: Int, captured: Int, payloadLength: Int) {
        let n = max(0, min(Self.capacity, captured, frame.count - offset))
        self.payloadLength = UInt32(clamping: payloadLength)
        count = UInt8(n)
        guard n > 0, offset >= 0 else { return }
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: frame[offset..<(offset + n)]))
        }
    }

    public subscript(i: Int) -> UInt8 {
        withUnsafeBytes(of: storage) { $0[i] }
    }

    /// Whether the held bytes start with `prefix`.
    func starts(with prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard n <= Int(count) else { return false }
        return withUnsafeBytes(of: storage) { held in
            prefix.withUTF8Buffer { p in (0..<n).allSatisfy { held[$0] == p[$0] } }
        }
    }

    /// Whether `needle` occurs anywhere in the held bytes.
    func contains(_ needle: StaticString) -> Bool {
        let n = needle.utf8CodeUnitCount
        guard n > 0, n <= Int(count) else { return false }
        return withUnsafeBytes(of: storage) { held in
            needle.withUTF8Buffer { p in
                (0...(Int(count) - n)).contains { start in (0..<n).allSatisfy { held[start + $0] == p[$0] } }
            }
        }
    }
}

/// Protocols the payload signatures recognise.
public enum AppProtocol: UInt8, Sendable {
    case tls = 1, http, ssh, smtp, ftp, smtpOrFTP, pop3, imap, redis, dns, ntp, quic

    /// The `app` column's word: made once per protocol from `staticName`,
    /// so the record and the report don't make a String per flow.
    @inline(__always)
    public var name: String { Self.names[Int(rawValue)] }

    /// `name` by raw value (0 is no protocol).
    private static let names: [String] = (0...Int(AppProtocol.quic.rawValue)).map {
        AppProtocol(rawValue: UInt8($0))?.staticName.description ?? ""
    }

    /// The same word as static text (for the CSV writer: no String per row).
    public var staticName: StaticString {
        switch self {
        case .tls: return "tls"
        case .http: return "http"
        case .ssh: return "ssh"
        case .smtp: return "smtp"
        case .ftp: return "ftp"
        case .smtpOrFTP: return "smtp/ftp"
        case .pop3: return "pop3"
        case .imap: return "imap"
        case .redis: return "redis"
        case .dns: return "dns"
        case .ntp: return "ntp"
        case .quic: return "quic"
        }
    }
}

/// What one direction's first payload says: two bytes, kept in the flow.
public struct SignatureVerdict: Sendable, Equatable {
    /// Protocol recognised.
    public var app: AppProtocol
    /// true: the sender is the client; false: the server; nil: either.
    public var senderIsClient: Bool?
}

/// Payload signatures in the first bytes of each direction. Only shapes that
/// a protocol's first message must have are used, so a match is strong
/// evidence; anything unsure returns nil.
public enum Signatures {
    static let httpMethods: [StaticString] = ["GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ",
                                              "CONNECT ", "PATCH ", "TRACE "]

    public static func classify(_ h: PayloadHead, proto: IPProtocol) -> SignatureVerdict? {
        guard h.count > 0 else { return nil }
        if proto == .tcp { return tcp(h) }
        if proto == .udp { return udp(h) }
        return nil
    }

    static func tcp(_ h: PayloadHead) -> SignatureVerdict? {
        let n = Int(h.count)
        // TLS record: handshake (22), version 3.x, then the handshake type.
        if n >= 6, h[0] == 0x16, h[1] == 0x03, h[2] <= 0x04 {
            if h[5] == 1 { return SignatureVerdict(app: .tls, senderIsClient: true) }
            if h[5] == 2 { return SignatureVerdict(app: .tls, senderIsClient: false) }
        }
        for method in httpMethods where h.starts(with: method) {
            return SignatureVerdict(app: .http, senderIsClient: true)
        }
        if h.starts(with: "HTTP/1.") || h.starts(with: "HTTP/2 ") {
            return SignatureVerdict(app: .http, senderIsClient: false)
        }
        // Both ends of SSH send an identification string: it names the
        // protocol, not the roles.
        if h.starts(with: "SSH-") { return SignatureVerdict(app: .ssh, senderIsClient: nil) }
        if h.starts(with: "220 ") || h.starts(with: "220-") {
            let app: AppProtocol = h.contains("SMTP") ? .smtp : h.contains("FTP") ? .ftp : .smtpOrFTP
            return SignatureVerdict(app: app, senderIsClient: false)
        }
        if h.starts(with: "+OK") { return SignatureVerdict(app: .pop3, senderIsClient: false) }
        if h.starts(with: "* OK") { return SignatureVerdict(app: .imap, senderIsClient: false) }
        // Redis RESP: a client sends an array of bulk strings: "*<n>\r\n$".
        if n >= 5, h[0] == UInt8(ascii: "*"), isDigit(h[1]) {
            var i = 1
            while i < n, isDigit(h[i]) { i += 1 }
            if i + 2 < n, h[i] == 0x0D, h[i + 1] == 0x0A, h[i + 2] == UInt8(ascii: "$") {
                return SignatureVerdict(app: .redis, senderIsClient: true)
            }
        }
        return dnsOverTCP(h)
    }

    static func udp(_ h: PayloadHead) -> SignatureVerdict? {
        let n = Int(h.count)
        // QUIC long header (RFC 9000 §17.2): form and fixed bits set, a known version.
        if n >= 5, h[0] & 0xC0 == 0xC0 {
            let version = UInt32(h[1]) << 24 | UInt32(h[2]) << 16 | UInt32(h[3]) << 8 | UInt32(h[4])
            if version == 0 { return SignatureVerdict(app: .quic, senderIsClient: false) }  // version negotiation
            if version == 1 || version == 0x6B33_43CF || version >> 8 == 0xFF_0000 {
                let initial = version == 0x6B33_43CF ? (h[0] >> 4) & 3 == 1 : (h[0] >> 4) & 3 == 0
                // A client's first datagram is an Initial padded to 1200 bytes.
                return SignatureVerdict(app: .quic, senderIsClient: initial && h.payloadLength >= 1200 ? true : nil)
            }
        }
        if let verdict = dns(h, at: 0) { return verdict }
        // NTP (RFC 5905): 48-byte header, version 1-4, mode 3 client / 4 server.
        // Checked after DNS, and only at NTP's message sizes (48 bytes, or
        // with a key id and MAC), with a sane poll exponent.
        if [48, 68, 72, 120].contains(h.payloadLength), n >= 3, h[2] <= 17 {
            let version = (h[0] >> 3) & 7, mode = h[0] & 7
            if (1...4).contains(version) {
                if mode == 3 { return SignatureVerdict(app: .ntp, senderIsClient: true) }
                if mode == 4 { return SignatureVerdict(app: .ntp, senderIsClient: false) }
                if mode == 1 || mode == 2 { return SignatureVerdict(app: .ntp, senderIsClient: nil) }
            }
        }
        return nil
    }

    /// A DNS message (RFC 1035) starting at byte `base`: 12-byte header, a
    /// standard opcode, one to a few questions; a query carries no answers
    /// or authority and at most an OPT record or two; a response's counts
    /// stay modest. (RIP and other small UDP headers fail these counts.)
    static func dns(_ h: PayloadHead, at base: Int) -> SignatureVerdict? {
        guard Int(h.count) >= base + 12 else { return nil }
        let opcode = (h[base + 2] >> 3) & 0x0F
        let isQuery = h[base + 2] & 0x80 == 0
        func count(_ at: Int) -> Int { Int(h[base + at]) << 8 | Int(h[base + at + 1]) }
        let questions = count(4), answers = count(6), authority = count(8), additional = count(10)
        let zeroBitClear = h[base + 3] & 0x40 == 0
        let countsFit = isQuery ? answers == 0 && authority <= 1 && additional <= 2
                                : answers <= 256 && authority <= 64 && additional <= 64
        guard opcode == 0 || opcode == 2 || opcode == 4 || opcode == 5, (1...4).contains(questions),
              zeroBitClear, countsFit, questionFits(h, base: base) else { return nil }
        return SignatureVerdict(app: .dns, senderIsClient: isQuery)
    }

    /// DNS over TCP (RFC 1035 §4.2.2, RFC 7766): a two-byte length, then a
    /// message; the length must cover what the segment carries (a message
    /// may span segments, never fall short of one), which no other
    /// protocol here starts with.
    static func dnsOverTCP(_ h: PayloadHead) -> SignatureVerdict? {
        guard h.count >= 14 else { return nil }
        let length = Int(h[0]) << 8 | Int(h[1])
        guard length >= 12, length + 2 >= Int(h.payloadLength) else { return nil }
        return dns(h, at: 2)
    }

    /// The first question's name is labels of 1-63 bytes ending in a root
    /// label, followed by a known class, as far as the held bytes show it.
    static func questionFits(_ h: PayloadHead, base: Int = 0) -> Bool {
        let n = Int(h.count)
        var at = base + 12
        while at < n {
            let length = Int(h[at])
            if length == 0 {
                // QTYPE then QCLASS: IN, CHAOS, HESIOD, NONE, ANY (mDNS may set the top bit).
                guard at + 5 <= n else { return true }
                let qclass = (Int(h[at + 3]) << 8 | Int(h[at + 4])) & 0x7FFF
                return [1, 3, 4, 254, 255].contains(qclass)
            }
            guard length <= 63 else { return false }  // compression pointers can't start a question
            at += 1 + length
        }
        return at > base + 12  // the name runs past the held bytes
    }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}
