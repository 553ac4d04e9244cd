import CPcap
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why a live capture could not start or went on no longer.
public struct LiveError: Error, Sendable {
    public var message: String
    /// Lines to print after the message (the interface list, a hint).
    public var detail: [String] = []

    public init(message: String, detail: [String] = []) {
        self.message = message
        self.detail = detail
    }
}

/// Settings of a live capture; defaults as the README documents them.
public struct LiveOptions: Sendable {
    /// Bytes kept per packet. Flows count the wire length (pcap `len`), so
    /// only headers (tunnels included) and the first payload bytes that
    /// signatures read are needed: 256 bytes is plenty and keeps the kernel
    /// buffer holding eight times more packets than a full snaplen would.
    public var snaplen: Int32 = 256
    public var promiscuous = true
    /// Kernel buffer in KiB (tcpdump's -B unit).
    public var bufferKiB: Int32 = 8192
    public var filter: String?

    public init() {}
}

/// One network interface as libpcap lists it.
public struct CaptureInterface: Sendable {
    public var name: String
    public var description: String?
    public var flags: [String]

    /// Every interface libpcap can capture on, in its order.
    public static func all() throws(LiveError) -> [CaptureInterface] {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        var list: UnsafeMutablePointer<pcap_if_t>?
        guard pcap_findalldevs(&list, &errbuf) == 0 else {
            throw LiveError(message: "could not list interfaces: " + String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { pcap_freealldevs(list) }
        var out: [CaptureInterface] = []
        var node = list
        while let n = node {
            let f = n.pointee.flags
            var flags: [String] = []
            if f & UInt32(PCAP_IF_UP) != 0 { flags.append("Up") }
            if f & UInt32(PCAP_IF_RUNNING) != 0 { flags.append("Running") }
            if f & UInt32(PCAP_IF_WIRELESS) != 0 { flags.append("Wireless") }
            if f & UInt32(PCAP_IF_LOOPBACK) != 0 { flags.append("Loopback") }
            switch f & UInt32(PCAP_IF_CONNECTION_STATUS) {
            case UInt32(PCAP_IF_CONNECTION_STATUS_CONNECTED): flags.append("Connected")
            case UInt32(PCAP_IF_CONNECTION_STATUS_DISCONNECTED): flags.append("Disconnected")
            default: break
            }
            out.append(CaptureInterface(name: String(cString: n.pointee.name),
                                        description: n.pointee.description.map { String(cString: $0) }, flags: flags))
            node = n.pointee.next
        }
        return out
    }

    /// tcpdump -D's form: `1.eth0 [Up, Running, Connected]`.
    public static func listing(_ interfaces: [CaptureInterface]) -> [String] {
        interfaces.enumerated().map { i, iface in
            "\(i + 1).\(iface.name)" + (iface.description.map { " (\($0))" } ?? "")
                + (iface.flags.isEmpty ? "" : " [" + iface.flags.joined(separator: ", ") + "]")
        }
    }
}

/// Packet counts of a live capture.
public struct CaptureStatistics: Sendable {
    /// Packets the capture saw: those handed to pflow plus those the kernel
    /// dropped. Not libpcap's `ps_recv`, which on loopback counts every
    /// packet twice (once each way; libpcap hands out only one copy).
    public var received: UInt64 = 0
    /// Dropped by the kernel because the buffer was full.
    public var dropped: UInt64 = 0
    /// Dropped by the interface or its driver.
    public var interfaceDropped: UInt64 = 0
    /// Packets `dispatch` handed out.
    public var delivered: UInt64 = 0
    /// libpcap's `ps_recv` as it is (see `received`).
    public var kernelReceived: UInt64 = 0

    /// Every packet that reached the interface while capturing, for "N
    /// dropped of M": delivered, dropped by the kernel or by the interface.
    public var seen: UInt64 { received &+ interfaceDropped }

    public init(received: UInt64 = 0, dropped: UInt64 = 0, interfaceDropped: UInt64 = 0,
                delivered: UInt64 = 0, kernelReceived: UInt64 = 0) {
        self.received = received
        self.dropped = dropped
        self.interfaceDropped = interfaceDropped
        self.delivered = delivered
        self.kernelReceived = kernelReceived
    }
}

/// The kernel buffer size libpcap is asked for, from a size in KiB.
public struct CaptureBufferSize: Sendable, Equatable {
    /// What `pcap_set_buffer_size` gets.
    public var bytes: Int32
    /// The size asked for, in bytes, when it was more than libpcap takes
    /// (`bytes` is then the largest whole KiB below 2 GiB); nil otherwise.
    public var clampedFrom: Int64?

    /// `pcap_set_buffer_size` takes an `int`: a product computed in 32 bits
    /// would wrap (2097152 KiB is 2^31 bytes) and libpcap would silently
    /// keep its default, so the product is taken in 64 bits and clamped.
    public init(kib: Int32) {
        let wanted = Int64(max(0, kib)) * 1024
        let largest = Int64(Int32.max) / 1024 * 1024
        bytes = Int32(min(wanted, largest))
        clampedFrom = wanted > largest ? wanted : nil
    }
}

/// A libpcap handle, closed exactly once: when its owner goes. Every error
/// path of `LiveCapture.init` just throws; nothing else calls `pcap_close`.
private final class PcapHandle {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
    deinit { pcap_close(raw) }
}

/// A live capture through libpcap: `pcap_create`/`pcap_activate`, a kernel
/// BPF filter, nanosecond timestamps where the platform has them.
///
/// Used from one thread, except `breakLoop()` and `statistics`, which libpcap
/// allows from a signal handler or another thread: hence `@unchecked Sendable`.
public final class LiveCapture: @unchecked Sendable {
    public let interface: String
    public let linkType: UInt32
    /// 9 with nanosecond timestamps, else 6.
    public let timestampDigits: Int
    /// Non-fatal notes from activation (promiscuous mode unsupported, a
    /// buffer size clamped, …), for `pflow: warning:` lines.
    public let warnings: [String]
    /// The kernel buffer asked for (and whether `bufferKiB` was clamped).
    public let bufferSize: CaptureBufferSize
    private let pcap: PcapHandle
    private var handle: OpaquePointer { pcap.raw }
    private let selectable: Int32
    /// Packets handed out by `dispatch`; read by `statistics` from any thread.
    private let delivered = Atomic<UInt64>(0)

    public init(interface: String, options: LiveOptions) throws(LiveError) {
        self.interface = interface
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let created = pcap_create(interface, &errbuf) else {
            throw LiveError(message: "\(interface): " + Self.text(errbuf))
        }
        let pcap = PcapHandle(created)
        let p = pcap.raw
        var warnings: [String] = []
        _ = pcap_set_snaplen(p, options.snaplen)
        _ = pcap_set_promisc(p, options.promiscuous ? 1 : 0)
        let buffer = CaptureBufferSize(kib: options.bufferKiB)
        if let asked = buffer.clampedFrom {
            warnings.append("--buffer-size \(options.bufferKiB) KiB (\(asked) bytes) is more than libpcap takes; "
                            + "using \(buffer.bytes / 1024) KiB")
        }
        _ = pcap_set_buffer_size(p, buffer.bytes)
        _ = pcap_set_timeout(p, 100)  // ms: the loop wakes to redraw and to notice a stop
        let nano = pcap_set_tstamp_precision(p, Int32(PCAP_TSTAMP_PRECISION_NANO)) == 0
        let status = pcap_activate(p)
        if status < 0 {
            throw Self.activationError(interface: interface, status: status, reason: String(cString: pcap_geterr(p)))
        }
        if status > 0 {
            warnings.append("\(interface): " + String(cString: pcap_statustostr(status)) + (status == PCAP_WARNING ? ": " + String(cString: pcap_geterr(p)) : ""))
        }
        if let expression = options.filter {
            var program = bpf_program()
            if pcap_compile(p, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0 {
                throw LiveError(message: "bad filter '\(expression)': " + String(cString: pcap_geterr(p)))
            }
            defer { pcap_freecode(&program) }
            if pcap_setfilter(p, &program) != 0 {
                throw LiveError(message: "\(interface): could not set the filter: " + String(cString: pcap_geterr(p)))
            }
        }
        // Non-blocking reads behind our own poll(): the loop wakes at least
        // every 100 ms to redraw, flush and notice --duration, whether or
        // not packets arrive (libpcap's read timeout does not promise that).
        selectable = pcap_get_selectable_fd(p)
        if selectable >= 0 { _ = pcap_setnonblock(p, 1, &errbuf) }
        linkType = UInt32(bitPattern: pcap_datalink(p))
        timestampDigits = nano && pcap_get_tstamp_precision(p) == Int32(PCAP_TSTAMP_PRECISION_NANO) ? 9 : 6
        bufferSize = buffer
        self.warnings = warnings
        self.pcap = pcap
    }

    static func text(_ errbuf: [CChar]) -> String {
        String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func activationError(interface: String, status: Int32, reason: String) -> LiveError {
        switch status {
        case PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED:
            // Without rights the packet socket fails before libpcap looks at
            // the name: a mistyped interface would be blamed on privileges.
            if interfaceExists(interface) == false { return noSuchInterface(interface) }
            return LiveError(message: "capturing on \(interface) needs root, or the CAP_NET_RAW and CAP_NET_ADMIN capabilities "
                             + "(grant them once with: sudo setcap cap_net_raw,cap_net_admin=eip \(executablePath()))")
        case PCAP_ERROR_NO_SUCH_DEVICE:
            return noSuchInterface(interface)
        case PCAP_ERROR_IFACE_NOT_UP:
            return LiveError(message: "\(interface): the interface is down")
        default:
            let status = String(cString: pcap_statustostr(status))
            return LiveError(message: "\(interface): \(status)" + (reason.isEmpty ? "" : ": \(reason)"))
        }
    }

    static func noSuchInterface(_ interface: String) -> LiveError {
        var detail = ["interfaces you can capture on (pflow -D):"]
        if let list = try? CaptureInterface.all() { detail += CaptureInterface.listing(list).map { "  " + $0 } }
        return LiveError(message: "\(interface): no such interface", detail: detail)
    }

    /// Whether `name` is an interface libpcap lists or the kernel knows (an
    /// unprivileged user can ask both); nil when neither can be asked.
    static func interfaceExists(_ name: String) -> Bool? {
        if if_nametoindex(name) != 0 { return true }
        guard let list = try? CaptureInterface.all() else { return nil }
        return list.contains { $0.name == name }
    }

    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? text(buffer) : "pflow"
    }

    /// Hands every packet that arrives within one read timeout (or up to
    /// `limit` of them) to `body`, whose buffer is valid only during the
    /// call. Returns how many it handed out; throws when the capture failed
    /// (the interface went down, say).
    public func dispatch(limit: Int32 = -1, _ body: (UnsafeRawBufferPointer, UInt32, Int64) -> Void) throws(LiveError) -> Int {
        if selectable >= 0 {
            var fds = pollfd(fd: selectable, events: Int16(POLLIN), revents: 0)
            let ready = poll(&fds, 1, 100)
            if ready == 0 { return 0 }
            if ready < 0 && errno == EINTR { return 0 }
        }
        let nano = timestampDigits == 9
        let (result, count) = withoutActuallyEscaping(body) { body -> (Int32, Int) in
            var context = DispatchContext(body: body, nano: nano, count: 0)
            let result = withUnsafeMutablePointer(to: &context) { ctx -> Int32 in
                // libpcap hands `user` back as it got it. The conversions go
                // through OpaquePointer, which binds nothing: the memory stays
                // bound to DispatchContext, and both pointers are used only
                // while this closure runs (pcap_dispatch calls back inside it).
                pcap_dispatch(handle, limit, { user, header, bytes in
                    guard let user, let header, let bytes else { return }
                    let ctx = UnsafeMutablePointer<DispatchContext>(OpaquePointer(user))
                    let h = header.pointee
                    let fraction = Int64(h.ts.tv_usec) * (ctx.pointee.nano ? 1 : 1000)
                    let ts = Int64(h.ts.tv_sec) * 1_000_000_000 + fraction
                    ctx.pointee.body(UnsafeRawBufferPointer(start: bytes, count: Int(h.caplen)), h.len, ts)
                    ctx.pointee.count += 1
                }, UnsafeMutablePointer<UInt8>(OpaquePointer(ctx)))
            }
            return (result, context.count)
        }
        delivered.add(UInt64(count), ordering: .relaxed)
        if result == PCAP_ERROR {
            throw LiveError(message: "\(interface): capture stopped: " + String(cString: pcap_geterr(handle)))
        }
        return count
    }

    private struct DispatchContext {
        var body: (UnsafeRawBufferPointer, UInt32, Int64) -> Void
        var nano: Bool
        var count: Int
    }

    /// Makes a `dispatch` in progress return early (safe from a signal handler).
    public func breakLoop() { pcap_breakloop(handle) }

    /// Whether the interface still exists and is up (nil: can't tell, or a
    /// pseudo-interface such as `any`). The kernel does not always wake a
    /// capture whose interface went away, so the loop asks once a second.
    public func interfaceIsUp() -> Bool? {
        guard interface != "any" else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var request = ifreq()
        let name = Array(interface.utf8.prefix(Int(IFNAMSIZ) - 1))
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            for (i, byte) in name.enumerated() { raw[i] = byte }
        }
        if ioctl(fd, UInt(SIOCGIFFLAGS), &request) != 0 { return errno == ENODEV ? false : nil }
        return Int32(request.ifr_ifru.ifru_flags) & Int32(IFF_UP) != 0
    }

    /// The counts so far. `received` is what pflow was handed plus what the
    /// kernel dropped, so "dropped of received" holds on loopback too.
    public var statistics: CaptureStatistics {
        let handed = delivered.load(ordering: .relaxed)
        var s = pcap_stat()
        guard pcap_stats(handle, &s) == 0 else { return CaptureStatistics(received: handed, delivered: handed) }
        return CaptureStatistics(received: handed &+ UInt64(s.ps_drop), dropped: UInt64(s.ps_drop),
                                 interfaceDropped: UInt64(s.ps_ifdrop), delivered: handed, kernelReceived: UInt64(s.ps_recv))
    }
}
