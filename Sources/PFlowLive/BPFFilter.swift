import CPcap
import CPcapLoader

/// Facts about the libpcap this binary loads (when first used).
public enum Libpcap {
    /// libpcap's own version string, e.g. "libpcap version 1.10.3 (with TPACKET_V3)".
    public static var version: String { String(cString: pcap_lib_version()) }
}

public struct BPFError: Error, Sendable {
    public var message: String
}

/// A tcpdump-syntax filter compiled by libpcap and applied to file records
/// with `pcap_offline_filter`. pcapng files may mix link types, so a program
/// is compiled per link type on first use.
public final class BPFFilter {
    public let expression: String
    private var programs: [UInt32: UnsafeMutablePointer<bpf_program>] = [:]
    /// Link types the expression could not be compiled for; their packets don't match.
    public private(set) var failedLinkTypes: [UInt32: String] = [:]

    /// Compiles `expression` for Ethernet to check its syntax up front.
    public init(expression: String) throws(BPFError) {
        self.expression = expression
        if let error = compile(for: 1) { throw BPFError(message: "bad filter '\(expression)': \(error)") }
    }

    deinit {
        for (_, program) in programs {
            pcap_freecode(program)
            program.deallocate()
        }
    }

    /// Compiles for `linkType`; returns libpcap's error text on failure.
    private func compile(for linkType: UInt32) -> String? {
        guard let handle = pcap_open_dead(Int32(bitPattern: linkType), 262_144) else {
            if let why = pflow_pcap_load_error() { return String(cString: why) }
            return "libpcap could not open a handle for link type \(linkType)"
        }
        defer { pcap_close(handle) }
        let program = UnsafeMutablePointer<bpf_program>.allocate(capacity: 1)
        program.initialize(to: bpf_program())
        if pcap_compile(handle, program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0 {
            program.deallocate()
            return String(cString: pcap_geterr(handle))
        }
        programs[linkType] = program
        return nil
    }

    /// Whether the record's bytes pass the filter.
    public func matches(_ bytes: UnsafeRawBufferPointer, originalLength: UInt32, linkType: UInt32) -> Bool {
        var program = programs[linkType]
        if program == nil {
            if failedLinkTypes[linkType] != nil { return false }
            if let error = compile(for: linkType) {
                failedLinkTypes[linkType] = error
                return false
            }
            program = programs[linkType]
        }
        guard let program, let base = bytes.baseAddress else { return false }
        var header = pcap_pkthdr()
        header.caplen = UInt32(bytes.count)
        header.len = originalLength
        return pcap_offline_filter(program, &header, base.assumingMemoryBound(to: UInt8.self)) != 0
    }
}
