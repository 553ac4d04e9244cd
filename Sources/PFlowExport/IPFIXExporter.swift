#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPlatform

// MARK: host:port

/// A collector's address as given on the command line: `host:port`,
/// `192.0.2.1:4739`, `[2001:db8::1]:4739` (RFC 3986 §3.2.2 brackets).
public struct IPFIXEndpoint: Sendable, Equatable {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public static func parse(_ text: String) throws(IPFIXEndpointError) -> IPFIXEndpoint {
        guard !text.isEmpty else { throw .empty }
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .unclosedBracket(text) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                if rest.isEmpty { throw .missingPort(text) }
                throw .unexpectedText(text)
            }
            portText = rest.dropFirst()
            guard !host.isEmpty else { throw .missingHost(text) }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .missingPort(text) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            // Two colons without brackets: an IPv6 address whose last group
            // can't be told from a port.
            guard !host.contains(":") else { throw .unbracketedIPv6(text) }
            guard !host.isEmpty else { throw .missingHost(text) }
        }
        guard !portText.isEmpty else { throw .missingPort(text) }
        guard portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(portText), port >= 1, port <= 65535 else { throw .badPort(text) }
        return IPFIXEndpoint(host: String(host), port: UInt16(port))
    }
}

/// Why a `host:port` argument is not one: usage errors, for the CLI to print.
public enum IPFIXEndpointError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case missingHost(String)
    case missingPort(String)
    case badPort(String)
    case unclosedBracket(String)
    case unbracketedIPv6(String)
    case unexpectedText(String)

    public var description: String {
        switch self {
        case .empty: return "empty collector address (expected host:port)"
        case .missingHost(let t): return "'\(t)': no host (expected host:port)"
        case .missingPort(let t): return "'\(t)': no port (expected host:port, e.g. 127.0.0.1:4739)"
        case .badPort(let t): return "'\(t)': the port must be a number from 1 to 65535"
        case .unclosedBracket(let t): return "'\(t)': missing ']' after the IPv6 address"
        case .unbracketedIPv6(let t): return "'\(t)': write an IPv6 address in brackets, e.g. [::1]:4739"
        case .unexpectedText(let t): return "'\(t)': expected ':port' after ']'"
        }
    }
}

// MARK: UDP exporter

/// Send-side pacing. Over UDP nothing slows a fast exporter down to what
/// the collector can take: a file of a million flows is encoded in well
/// under a second, and whatever the collector's socket buffer can't hold is
/// lost. So the exporter keeps to at most `messagesPerSecond` (0: unpaced)
/// with a token bucket of `burst` messages: credit builds up while the
/// exporter is idle, up to `burst`, and only a send beyond the credit
/// sleeps. In any span of T seconds at most `burst + messagesPerSecond * T`
/// messages leave, so `burst` messages is all that ever arrives at the
/// collector faster than the rate; keep it well under its socket buffer.
public struct IPFIXPacing: Sendable, Equatable {
    public var messagesPerSecond: Int
    public var burst: Int

    public init(messagesPerSecond: Int, burst: Int = 32) {
        self.messagesPerSecond = messagesPerSecond
        self.burst = max(1, burst)
    }

    /// At most 40,000 messages/s (~56 MB/s of 1400-byte messages, ~640,000
    /// IPv4 biflows/s). Measured on this project's 2-core machine with
    /// nfdump 1.7.1's nfcapd (-B 4194304) on the same host: a million
    /// flows arrived without loss at this rate, and also unpaced (1.25M
    /// flows/s, where the send syscalls are the limit) even with both cores
    /// kept busy by other processes. The cap is the margin for collectors
    /// slower than that (remote ones, ones writing compressed files); it
    /// costs a million-flow export about 1.6 s.
    public static let `default` = IPFIXPacing(messagesPerSecond: 40_000, burst: 32)
    public static let unpaced = IPFIXPacing(messagesPerSecond: 0)
}

public enum IPFIXExporterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// getaddrinfo failed (unknown name, no address of a usable family).
    case resolve(host: String, message: String)
    /// No address of the host would take a socket and connect.
    case connect(host: String, port: UInt16, code: Int32)

    public var description: String {
        switch self {
        case .resolve(let host, let message): return "can't resolve IPFIX collector \(host): \(message)"
        case .connect(let host, let port, let code): return "can't reach IPFIX collector \(host):\(port): \(errnoText(code))"
        }
    }
}

/// A failed send, kept so the caller can warn once.
public struct IPFIXSendError: Sendable, Equatable, CustomStringConvertible {
    public var code: Int32
    public var description: String { errnoText(code) }
}

/// Exports flows as IPFIX over UDP (RFC 7011 §10.3) to one collector,
/// through a connected socket. Sending never throws, never crashes and
/// never waits more than a second: a failed send (the collector's port
/// unreachable comes back as ECONNREFUSED on a later send) is counted in
/// `errors`, the first kept in `firstError`, for the caller to warn about
/// once; the messages keep their sequence numbers, so the collector sees
/// the loss.
public final class IPFIXExporter {
    public let endpoint: IPFIXEndpoint
    /// The address connected to, numeric (`127.0.0.1`, `::1`).
    public let remoteAddress: String
    public private(set) var errors = 0
    public private(set) var firstError: IPFIXSendError?
    public private(set) var messagesSent = 0
    public private(set) var bytesSent = 0
    /// Data records handed to the socket (flows in biflow mode).
    public var recordsExported: UInt64 { encoder.recordsEmitted }

    var encoder: IPFIXEncoder
    let fd: Int32
    let pacing: IPFIXPacing
    let clock: @Sendable () -> UInt32
    /// The token bucket's state: the monotonic time by which every message
    /// sent so far is paid for at the rate. Credit is how far it lies
    /// behind now, capped at `burst` messages' worth.
    var paidUntilNs: UInt64 = 0
    var batch: IPFIXSendBatch
    var closed = false

    public convenience init(endpoint: IPFIXEndpoint, options: IPFIXOptions = IPFIXOptions(),
                            pacing: IPFIXPacing = .default,
                            clock: @escaping @Sendable () -> UInt32 = ExportClock.wallSeconds) throws(IPFIXExporterError) {
        try self.init(host: endpoint.host, port: endpoint.port, options: options, pacing: pacing, clock: clock)
    }

    /// Resolves `host` (an IPv4 or IPv6 literal, or a name) and connects a
    /// UDP socket to the first address that takes one.
    public init(host: String, port: UInt16, options: IPFIXOptions = IPFIXOptions(),
                pacing: IPFIXPacing = .default,
                clock: @escaping @Sendable () -> UInt32 = ExportClock.wallSeconds) throws(IPFIXExporterError) {
        endpoint = IPFIXEndpoint(host: host, port: port)
        encoder = IPFIXEncoder(options: options)
        self.pacing = pacing
        self.clock = clock
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = datagramSocketType
        hints.ai_flags = AI_NUMERICSERV  // the port is a number; no services lookup
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let message = rc == EAI_SYSTEM ? errnoText(errno) : String(cString: gai_strerror(rc))
            throw .resolve(host: host, message: message)
        }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = EADDRNOTAVAIL
        var chosen: (fd: Int32, text: String)?
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let e = entry, chosen == nil {
            entry = e.pointee.ai_next
            let s = socket(e.pointee.ai_family, e.pointee.ai_socktype, e.pointee.ai_protocol)
            if s < 0 { lastError = errno; continue }
            if connect(s, e.pointee.ai_addr, e.pointee.ai_addrlen) != 0 {
                lastError = errno
                sysClose(s)
                continue
            }
            chosen = (s, numericHost(e.pointee.ai_addr, e.pointee.ai_addrlen))
        }
        guard let chosen else { throw .connect(host: host, port: port, code: lastError) }
        fd = chosen.fd
        remoteAddress = chosen.text
        // A send waits at most a second for buffer space, so a stuck
        // network can't hang the run; a large send buffer absorbs bursts.
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var sendBuffer: Int32 = 1 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
        batch = IPFIXSendBatch(messages: pacing.messagesPerSecond > 0 ? min(IPFIXSendBatch.maxMessages, pacing.burst)
                                                                      : IPFIXSendBatch.maxMessages)
    }

    deinit {
        if !closed {
            encoder.flush(now: clock()) { send($0) }
            sendBatch()
        }
        batch.deallocate()
        sysClose(fd)
    }

    /// Queues the flow's record(s); full messages are sent as they fill.
    public func export(_ f: ExportFlow) {
        guard !closed else { return }
        let now = clock()
        encoder.add(f, now: now) { send($0) }
    }

    /// Sends the open message and every full one still waiting, now (e.g.
    /// at the end, or when idle).
    public func flush() {
        guard !closed else { return }
        encoder.flush(now: clock()) { send($0) }
        sendBatch()
    }

    /// For live capture, called about once a second: sends the full
    /// messages waiting in the batch, and the open message once its first
    /// record is a second old, so a quiet network still reports promptly.
    public func tick() {
        guard !closed else { return }
        if let since = encoder.openSince {
            let now = clock()
            if now < since || now - since >= 1 { encoder.flush(now: now) { send($0) } }
        }
        sendBatch()
    }

    /// Sends a templates-only message (optional: the first data message
    /// carries them too).
    public func sendTemplates() {
        guard !closed else { return }
        encoder.emitTemplates(now: clock()) { send($0) }
        sendBatch()
    }

    /// Flushes; later exports are ignored. The socket closes with the object.
    public func close() {
        guard !closed else { return }
        flush()
        closed = true
    }

    /// A refusal that arrived after the last send: a collector's ICMP port
    /// unreachable is queued on the connected socket and shows only on the
    /// next call, and after the last message there is none. Waits at most
    /// `milliseconds` for it (loopback refusals are queued before the send
    /// returns), counts it like a failed send and returns it.
    @discardableResult
    public func collectLateError(milliseconds: Int32 = 10) -> IPFIXSendError? {
        var p = pollfd(fd: fd, events: 0, revents: 0)
        guard poll(&p, 1, milliseconds) > 0, p.revents & Int16(POLLERR) != 0 else { return nil }
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0, code != 0 else { return nil }
        let e = IPFIXSendError(code: code)
        errors += 1
        if firstError == nil { firstError = e }
        return e
    }

    /// Full messages wait in the batch and leave together in one
    /// sendmmsg, when the batch is full, when its first message is
    /// `IPFIXSendBatch.maxWaitNs` old at the next message, and at every
    /// flush, tick and close: the 1M-packet bench capture's 5,141 messages
    /// in 170 system calls instead of 5,141, on the analysis thread that
    /// reports the flows. A message so waits at most until the next tick
    /// (live: once a second), as the open message already may.
    func send(_ message: UnsafeRawBufferPointer) {
        if batch.count > 0 {
            if !batch.fits(message.count) || ExportClock.monotonicNanoseconds() &- batch.firstQueuedNs >= IPFIXSendBatch.maxWaitNs {
                sendBatch()
            }
        }
        batch.append(message)
        if batch.isFull { sendBatch() }
    }

    /// Hands the batch to the socket, paced; each message that fails is
    /// counted as its own send error, as one send at a time would be.
    func sendBatch() {
        guard batch.count > 0 else { return }
        pace(batch.count)
        var next = 0
        while next < batch.count {
            let n = batch.send(fd, from: next)
            if n > 0 {
                messagesSent += n
                bytesSent += batch.bytes(from: next, count: n)
                next += n
                continue
            }
            let code = errno
            if code == EINTR { continue }
            // The message at `next` didn't leave: counted, the rest go on.
            errors += 1
            if firstError == nil { firstError = IPFIXSendError(code: code) }
            next += 1
        }
        batch.removeAll()
    }

    /// Sleeps until sending `messages` more keeps to the rate.
    func pace(_ messages: Int) {
        guard pacing.messagesPerSecond > 0 else { return }
        let interval = 1_000_000_000 / UInt64(pacing.messagesPerSecond)
        let now = ExportClock.monotonicNanoseconds()
        let capacity = UInt64(pacing.burst) * interval
        let earliest = now > capacity ? now - capacity : 0
        paidUntilNs = max(paidUntilNs, earliest) + UInt64(messages) * interval
        if paidUntilNs > now { ExportClock.sleep(nanoseconds: paidUntilNs - now) }
    }
}

/// Messages waiting to leave in one sendmmsg: copies (the encoder reuses
/// its buffer), back to back in one fixed allocation, made once.
struct IPFIXSendBatch {
    /// 32 messages: with 1,400-byte messages 45 KB a call, a hundredth of
    /// the 4 MB receive buffer the README's nfcapd has; the calls saved
    /// beyond that are few (5,141 messages: 170 calls).
    static let maxMessages = 32
    /// Room for 32 default-size messages, or one of the largest (65,535).
    static let capacityBytes = 65_536
    /// How long the first message waits for the batch to fill when more
    /// messages come (a live trickle); a lone one waits for the next tick.
    static let maxWaitNs: UInt64 = 10_000_000

    let limit: Int
    let storage: UnsafeMutableRawPointer
    let lengths: UnsafeMutablePointer<Int>
    private(set) var count = 0
    private(set) var used = 0
    private(set) var firstQueuedNs: UInt64 = 0
    let vectors: UnsafeMutablePointer<iovec>

    init(messages: Int) {
        limit = max(1, min(Self.maxMessages, messages))
        storage = UnsafeMutableRawPointer.allocate(byteCount: Self.capacityBytes, alignment: 16)
        lengths = .allocate(capacity: limit)
        vectors = .allocate(capacity: limit)
    }

    func deallocate() {
        storage.deallocate()
        lengths.deallocate()
        vectors.deallocate()
    }

    var isFull: Bool { count >= limit }
    func fits(_ length: Int) -> Bool { count < limit && used + length <= Self.capacityBytes }

    /// The caller sends the batch first when the message doesn't fit.
    mutating func append(_ message: UnsafeRawBufferPointer) {
        let length = min(message.count, Self.capacityBytes - used)
        if count == 0 { firstQueuedNs = ExportClock.monotonicNanoseconds() }
        if length > 0, let base = message.baseAddress { (storage + used).copyMemory(from: base, byteCount: length) }
        lengths[count] = length
        vectors[count] = iovec(iov_base: storage + used, iov_len: length)
        used += length
        count += 1
    }

    mutating func removeAll() {
        count = 0
        used = 0
    }

    func bytes(from first: Int, count n: Int) -> Int {
        var total = 0
        for i in first..<(first + n) { total += lengths[i] }
        return total
    }

    /// Sends messages from `first` on: how many left (> 0), or -1 with
    /// errno for the message at `first`.
    func send(_ fd: Int32, from first: Int) -> Int {
        Int(pflow_send_datagrams(fd, vectors + first, UInt32(count - first)))
    }
}

/// The numeric text of a socket address (getnameinfo, no lookup).
func numericHost(_ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> String {
    var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
    guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { return "?" }
    return String(decoding: host.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: RFC 5655 file

/// Writes IPFIX messages back to back, the IPFIX File Format (RFC 5655
/// §6: a file is a serialized stream of messages, as a collector would
/// receive them; templates come before the records that use them). For
/// `--ipfix-file`. Errors are thrown from the call that hit them.
public final class IPFIXFileWriter<Sink: ByteSink> {
    public private(set) var output: Sink
    var encoder: IPFIXEncoder
    let clock: @Sendable () -> UInt32
    var pending: (any Error)?

    public init(output: Sink, options: IPFIXOptions = IPFIXOptions(),
                clock: @escaping @Sendable () -> UInt32 = ExportClock.wallSeconds) {
        self.output = output
        encoder = IPFIXEncoder(options: options)
        self.clock = clock
    }

    public var recordsWritten: UInt64 { encoder.recordsEmitted }
    public var messagesWritten: Int { encoder.messagesEmitted }

    public func write(_ f: ExportFlow) throws {
        encoder.add(f, now: clock()) { store($0) }
        try rethrowPending()
    }

    /// Writes the open message; call at the end.
    public func close() throws {
        encoder.flush(now: clock()) { store($0) }
        try rethrowPending()
    }

    func store(_ message: UnsafeRawBufferPointer) {
        guard pending == nil else { return }
        do { try output.write(message) } catch { pending = error }
    }

    func rethrowPending() throws {
        if let e = pending { pending = nil; throw e }
    }
}
