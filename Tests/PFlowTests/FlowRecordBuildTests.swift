import PFlowCore
import XCTest
@testable import PFlowFlows

/// The shortcuts that build a flow's record against the straightforward
/// computations they stand for: the kept server-name Strings against a
/// String made fresh from the name's bytes, the registry read by index
/// against `names(port:proto:)`, the apps' literal words against `name`.
final class FlowRecordBuildTests: XCTestCase {
    /// Names written into reused slots as the name table writes them (only
    /// `length` bytes, so an older, longer name's tail stays past it),
    /// looked up under serials that collide, repeat and wrap: every answer
    /// is the fresh String and hash of the slot's bytes.
    func testKeptNameTextsAreTheNamesBytes() {
        var rng = SplitMix(seed: 0x7E47)
        let texts = ServerNameTexts()
        let slotCount = 48
        let slots = UnsafeMutablePointer<ServerName>.allocate(capacity: slotCount)
        slots.initialize(repeating: ServerName(), count: slotCount)
        defer { slots.deinitialize(count: slotCount); slots.deallocate() }
        // Names seen again and again (hits), each also one byte off at every
        // place and one byte shorter or longer (near misses), and random ones.
        var pool: [[UInt8]] = (0..<24).map { i in
            let n = [0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 64, 200, 253][i % 16]
            // Every third any bytes (UTF-8 or not), the rest lower-case letters.
            return (0..<n).map { _ in
                let b = UInt8(truncatingIfNeeded: rng.next())
                return i % 3 == 0 ? b : 0x61 + b % 26
            }
        }
        for name in pool.prefix(12) where !name.isEmpty {
            for at in name.indices { var off = name; off[at] ^= 1; pool.append(off) }
            pool.append(Array(name.dropLast()))
            if name.count < NameNote.maxLength { pool.append(name + [name[0]]) }
        }
        var serial: UInt32 = 1
        for round in 0..<60_000 {
            let slot = slots + Int(rng.next() % UInt64(slotCount))
            let name: [UInt8]
            if rng.next() % 4 == 0 {
                name = (0..<Int(rng.next() % 254)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                name = pool[Int(rng.next() % UInt64(pool.count))]
            }
            slot.pointee.length = UInt8(name.count)
            withUnsafeMutableBytes(of: &slot.pointee.bytes) { out in
                for (i, b) in name.enumerated() { out[i] = b }
            }
            // Serials: mostly a few (so entries are shared), sometimes new, near the 24-bit wrap too.
            switch rng.next() % 3 {
            case 0: serial = UInt32(rng.next() % 8)
            case 1: serial &+= 4096
            default: serial = NameTable.serialMask &- UInt32(rng.next() % 4)
            }
            for _ in 0..<Int(rng.next() % 3 + 1) {
                let (text, hash) = texts.text(of: UnsafePointer(slot), serial: serial)
                let fresh = ServerName.text(of: UnsafePointer(slot))
                XCTAssertEqual(text, fresh, "round \(round)")
                XCTAssertEqual(Array(text.utf8), Array(fresh.utf8), "round \(round)")
                XCTAssertEqual(hash, ServerName.hash(of: UnsafePointer(slot)), "round \(round)")
            }
        }
    }

    /// `words` keeps exactly the name's bytes, whatever lies past its length.
    func testNameWordsMaskThePastLength() {
        var name = ServerName()
        withUnsafeMutableBytes(of: &name.bytes) { out in for i in out.indices { out[i] = 0xA5 } }
        for n in 0...ServerNameTexts.wordBytes {
            name.length = UInt8(n)
            let words = withUnsafePointer(to: &name) { ServerNameTexts.words(ServerName.bytes(of: $0)) }
            let expected = [UInt8](repeating: 0xA5, count: n) + [UInt8](repeating: 0, count: 32 - n)
            let got = withUnsafeBytes(of: words) { raw in
                (0..<4).flatMap { w -> [UInt8] in
                    let v = raw.loadUnaligned(fromByteOffset: 8 * w, as: UInt64.self)
                    return (0..<8).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * $0)) }
                }
            }
            XCTAssertEqual(got, expected, "length \(n)")
        }
    }

    /// The registry read by index says what `names(port:proto:)` says, on
    /// every port of every transport, for the standard table and one a
    /// services file overrides.
    func testRegistryByIndexIsNames() throws {
        let overridden = try ServiceRegistry.standard.overriding(
            withServicesText: "domain 5353/udp\nweb 8000-8100/tcp\nmicrosoft-ds 9999/tcp udp\n", source: "test")
        for registry in [ServiceRegistry.standard, overridden] {
            for proto in [IPProtocol.tcp, .udp, .icmp, .icmpv6] {
                for port in 0...65535 {
                    let port = UInt16(port)
                    let index = registry.nameIndex(port: port, proto: proto)
                    let names = registry.names(port: port, proto: proto)
                    XCTAssertEqual(index == 0, names == nil, "\(proto) \(port)")
                    if let names, index != 0 {
                        XCTAssertEqual(registry.name(at: index), names.registry)
                        XCTAssertEqual(registry.facingName(at: index), names.facing)
                    }
                }
            }
        }
    }

    /// Every app's name is its static word (the name table covers every case).
    func testAppNamesAreTheirWords() {
        for raw in 0...255 {
            guard let app = AppProtocol(rawValue: UInt8(raw)) else { continue }
            XCTAssertEqual(app.name, app.staticName.description)
            XCTAssertFalse(app.name.isEmpty)
        }
    }

    /// A record whose name comes through `ServerNameTexts` is the record
    /// made without it, name, hash and source included, for names on
    /// either end and flows without one.
    func testRecordWithKeptTextsIsTheRecord() {
        let registry = ServiceRegistry.standard
        let decider = RoleDecider(registry: registry, knowledge: TrafficKnowledge())
        let texts = ServerNameTexts()
        var rng = SplitMix(seed: 0xF10)
        var names = [ServerName](repeating: ServerName(), count: 6)
        for i in names.indices {
            let text = Array("host\(i).example.\(i % 2 == 0 ? "com" : "internal-and-rather-longer.org")".utf8)
            names[i].length = UInt8(text.count)
            withUnsafeMutableBytes(of: &names[i].bytes) { out in for (j, b) in text.enumerated() { out[j] = b } }
        }
        for round in 0..<2_000 {
            let key = FlowKey(addressA: IPAddress(ipv4: UInt32(rng.next() % 50)), addressB: IPAddress(ipv4: 7),
                              portA: UInt16(truncatingIfNeeded: rng.next()), portB: [443, 53, 80, 8443][round % 4],
                              proto: round % 3 == 0 ? .udp : .tcp, vlan: FlowKey.noVLAN)
            var s = FlowState(key: key, ipVersion: 4, timestampNs: Int64(round), direction: UInt8(rng.next() % 2))
            let serial = UInt32(rng.next() % 12) + 1
            s.setName(serial, [.sni, .httpHost, .dns][round % 3], forB: rng.next() % 2 == 0)
            let roles = decider.decide(s)
            let which = Int(serial) % names.count
            names.withUnsafeBufferPointer { all in
                let name = rng.next() % 5 == 0 ? nil : all.baseAddress.map { $0 + which }
                let plain = orientedRecord(s, endReason: .idle, roles: roles, registry: registry, name: name, uid: 9)
                let kept = orientedRecord(s, endReason: .idle, decider: decider, name: name, uid: 9, texts: texts)
                XCTAssertEqual(kept.serverName, plain.serverName)
                XCTAssertEqual(kept.serverNameHash, plain.serverNameHash)
                XCTAssertEqual(kept.nameSource, plain.nameSource)
                XCTAssertEqual(kept.service, plain.service)
                XCTAssertEqual(kept.portName, plain.portName)
                XCTAssertEqual(kept.uid, 9)
                XCTAssertEqual(kept.clientAddress, plain.clientAddress)
                XCTAssertEqual(kept.roleSource, plain.roleSource)
            }
        }
    }
}
