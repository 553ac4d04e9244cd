import PFlowCore
@testable import PFlowFlows
import Foundation
import XCTest
@testable import PFlowCapture
@testable import PFlowWire

/// Byte-level builders for test frames and capture files. Every fixture is
/// spelled out field by field so a reader can check it against the RFC.
enum Fixture {
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8((v >> UInt32($0)) & 0xFF) } }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { [0, 8, 16, 24].map { UInt8((v >> UInt32($0)) & 0xFF) } }
    static func u32(_ v: UInt32, bigEndian: Bool) -> [UInt8] { bigEndian ? be32(v) : le32(v) }
    static func u16(_ v: UInt16, bigEndian: Bool) -> [UInt8] { bigEndian ? be16(v) : le16(v) }

    static let macA: [UInt8] = [0x02, 0, 0, 0, 0, 0x0A]
    static let macB: [UInt8] = [0x02, 0, 0, 0, 0, 0x0B]

    /// TCP header (20 bytes + options) and payload.
    static func tcp(sport: UInt16, dport: UInt16, flags: UInt8, seq: UInt32 = 1000, ack: UInt32 = 0,
                    options: [UInt8] = [], payload: [UInt8] = []) -> [UInt8] {
        precondition(options.count % 4 == 0)
        let offset = UInt8((20 + options.count) / 4) << 4
        return be16(sport) + be16(dport) + be32(seq) + be32(ack) + [offset, flags] + be16(64240) + [0, 0, 0, 0]
            + options + payload
    }

    static func udp(sport: UInt16, dport: UInt16, payload: [UInt8]) -> [UInt8] {
        be16(sport) + be16(dport) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
    }

    static func icmpEcho(request: Bool, id: UInt16, seq: UInt16, v6: Bool = false, payload: [UInt8] = []) -> [UInt8] {
        let type: UInt8 = v6 ? (request ? 128 : 129) : (request ? 8 : 0)
        return [type, 0, 0, 0] + be16(id) + be16(seq) + payload
    }

    /// IPv4 header (with optional options) around `l4`.
    static func ipv4(src: [UInt8], dst: [UInt8], proto: UInt8, _ l4: [UInt8], options: [UInt8] = [],
                     fragmentOffset: UInt16 = 0, moreFragments: Bool = false, id: UInt16 = 1) -> [UInt8] {
        precondition(options.count % 4 == 0)
        let ihl = UInt8(5 + options.count / 4)
        let total = UInt16(Int(ihl) * 4 + l4.count)
        let flags: UInt16 = (moreFragments ? 0x2000 : 0) | fragmentOffset
        return [0x40 | ihl, 0] + be16(total) + be16(id) + be16(flags) + [64, proto, 0, 0] + src + dst + options + l4
    }

    static func v6addr(_ last: UInt8) -> [UInt8] { [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [last] }

    /// IPv6 header around `payload` whose first header is `next`.
    static func ipv6(src: [UInt8], dst: [UInt8], next: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(UInt16(payload.count)) + [next, 64] + src + dst + payload
    }

    static func ethernet(type: UInt16, vlans: [(UInt16, UInt16)] = [], _ payload: [UInt8]) -> [UInt8] {
        var frame = macB + macA
        for (tpid, id) in vlans { frame += be16(tpid) + be16(id) }
        return frame + be16(type) + payload
    }

    // MARK: capture files

    struct Packet {
        var seconds: UInt32
        var fraction: UInt32
        var bytes: [UInt8]
        var originalLength: UInt32? = nil
    }

    static func pcap(_ packets: [Packet], linkType: UInt32 = 1, bigEndian: Bool = false, nanos: Bool = false,
                     snaplen: UInt32 = 262_144) -> [UInt8] {
        let magic: UInt32 = nanos ? 0xA1B2_3C4D : 0xA1B2_C3D4
        var out = u32(magic, bigEndian: bigEndian) + u16(2, bigEndian: bigEndian) + u16(4, bigEndian: bigEndian)
            + [0, 0, 0, 0, 0, 0, 0, 0] + u32(snaplen, bigEndian: bigEndian) + u32(linkType, bigEndian: bigEndian)
        for p in packets {
            out += u32(p.seconds, bigEndian: bigEndian) + u32(p.fraction, bigEndian: bigEndian)
                + u32(UInt32(p.bytes.count), bigEndian: bigEndian)
                + u32(p.originalLength ?? UInt32(p.bytes.count), bigEndian: bigEndian) + p.bytes
        }
        return out
    }

    static func block(_ type: UInt32, _ body: [UInt8], bigEndian: Bool) -> [UInt8] {
        let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
        let total = UInt32(12 + padded.count)
        return u32(type, bigEndian: bigEndian) + u32(total, bigEndian: bigEndian) + padded + u32(total, bigEndian: bigEndian)
    }

    static func shb(bigEndian: Bool, major: UInt16 = 1) -> [UInt8] {
        block(0x0A0D_0D0A, u32(0x1A2B_3C4D, bigEndian: bigEndian) + u16(major, bigEndian: bigEndian)
              + u16(0, bigEndian: bigEndian) + [UInt8](repeating: 0xFF, count: 8), bigEndian: bigEndian)
    }

    static func idb(linkType: UInt16, tsresol: UInt8? = nil, bigEndian: Bool) -> [UInt8] {
        var body = u16(linkType, bigEndian: bigEndian) + [0, 0] + u32(0, bigEndian: bigEndian)
        if let r = tsresol {
            body += u16(9, bigEndian: bigEndian) + u16(1, bigEndian: bigEndian) + [r, 0, 0, 0]
            body += [0, 0, 0, 0]  // opt_endofopt
        }
        return block(1, body, bigEndian: bigEndian)
    }

    static func epb(interface: UInt32, units: UInt64, _ bytes: [UInt8], originalLength: UInt32? = nil,
                    bigEndian: Bool) -> [UInt8] {
        block(6, u32(interface, bigEndian: bigEndian) + u32(UInt32(units >> 32), bigEndian: bigEndian)
              + u32(UInt32(units & 0xFFFF_FFFF), bigEndian: bigEndian) + u32(UInt32(bytes.count), bigEndian: bigEndian)
              + u32(originalLength ?? UInt32(bytes.count), bigEndian: bigEndian) + bytes, bigEndian: bigEndian)
    }

    static func spb(_ bytes: [UInt8], bigEndian: Bool) -> [UInt8] {
        block(3, u32(UInt32(bytes.count), bigEndian: bigEndian) + bytes, bigEndian: bigEndian)
    }

    /// Writes `bytes` to a fresh temporary file and returns its path.
    static func file(_ bytes: [UInt8], name: String = "fixture.pcap") -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pflow-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(UUID().uuidString + "-" + name)
        precondition(FileManager.default.createFile(atPath: url.path, contents: Data(bytes)))
        return url.path
    }

    /// Decodes `frame` with `linkType`.
    static func decode(_ frame: [UInt8], linkType: UInt32 = 1) -> (DecodeOutcome, DecodedPacket) {
        var p = DecodedPacket()
        let outcome = frame.withUnsafeBytes { PacketDecoder.decode($0, linkType: linkType, into: &p) }
        return (outcome, p)
    }

    /// Reads every record of the file at `path`.
    static func records(_ path: String) throws -> ([(ts: Int64, bytes: [UInt8], len: UInt32, link: UInt32)], ReadSummary) {
        let file = try CaptureFile(path: path)
        var out: [(ts: Int64, bytes: [UInt8], len: UInt32, link: UInt32)] = []
        let summary = try file.forEachRecord { r in
            out.append((r.timestampNs, Array(r.bytes), r.originalLength, r.linkType.rawValue))
        }
        return (out, summary)
    }

    /// ../shared, when it is beside the checkout (or PFLOW_SHARED says where).
    static var sharedDirectory: URL? {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["PFLOW_SHARED"] { candidates.append(URL(fileURLWithPath: env)) }
        let here = URL(fileURLWithPath: #filePath)  // Tests/PFlowTests/Fixtures.swift
        candidates.append(here.deletingLastPathComponent().deletingLastPathComponent()
                            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared"))
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("tools").path) }
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// A flow table fed one packet at a time through the steps every run takes
/// (intake, prepare, add), for tests that build packets by hand.
final class PacketFeeder {
    let table: FlowTable
    let events: DirectFlowEvents
    var intake = PacketIntake()
    var slot = TrackedPacket()
    var quote = FlowKey(addressA: IPAddress(high: 0, low: 0), addressB: IPAddress(high: 0, low: 0),
                        portA: 0, portB: 0, proto: IPProtocol(rawValue: 0), vlan: 0)
    var note = NameNote()

    init(expiry: ExpiryPolicy = ExpiryPolicy(), onEnd: @escaping (FlowState, EndReason, TrafficKnowledge) -> Void = { _, _, _ in }) {
        let knowledge = TrafficKnowledge()
        events = DirectFlowEvents(knowledge: knowledge)
        table = FlowTable(expiry: expiry, knowledge: knowledge, events: events)
        events.report = { s, r in onEnd(s, r, knowledge) }
    }

    var knowledge: TrafficKnowledge { table.knowledge }

    func add(_ packet: DecodedPacket, frame: UnsafeRawBufferPointer, timestampNs: Int64, wireLength: UInt32) {
        var p = packet
        intake.fill(&slot, quote: &quote, note: &note, packet: &p, frame: frame, timestampNs: timestampNs,
                    wireLength: wireLength)
        table.add(&slot, quote: &quote, notes: &note)
    }

    func finish(_ onEnd: (FlowState, EndReason) -> Void) { table.finish(onEnd: onEnd) }
}
