import Foundation
import PFlowCore
@testable import PFlowExport
import XCTest

/// Community ID v1 against the spec's published baselines
/// (corelight/community-id-spec baseline/README.md tables and
/// baseline_deflt.json / baseline_seed1.json, made by pycommunityid from the
/// spec's pcaps), and against pycommunityid itself on random tuples.
final class ExportCommunityIDTests: XCTestCase {
    private let ip = ExportTestSupport.ip

    // MARK: SHA-1 and base64 on their standards' vectors

    /// Runs `body` on each SHA-1 path this CPU has: its SHA-1 instructions
    /// (where present: the path `compress` takes then) and the Swift rounds
    /// (forced, the path of a CPU without them); `body` gets the path's name.
    private func onBothPaths(_ body: (String) -> Void) {
        if SHA1.hardwareAvailable { body("SHA-NI") }
        SHA1.withPortableRounds { body("Swift rounds") }
        XCTAssertEqual(SHA1.hardware, SHA1.hardwareAvailable, "the path is put back")
    }

    func testSHA1Vectors() { onBothPaths(checkSHA1Vectors) }

    private func checkSHA1Vectors(_ path: String) {
        func hex(_ s: String) -> String {
            SHA1.hash(Array(s.utf8)).map { String(format: "%02x", $0) }.joined()
        }
        // FIPS 180-2 Appendix A and the usual empty/long cases.
        XCTAssertEqual(hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d", path)
        XCTAssertEqual(hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709", path)
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "84983e441c3bd26ebaae4aa1f95129e5e54670f1", path)
        XCTAssertEqual(hex(String(repeating: "a", count: 1_000_000)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f", path)
        // Lengths at the one/two padding-block edges (digests from Python's hashlib).
        let edges: [(Int, String)] = [
            (55, "cef734ba81a024479e09eb5a75b6ddae62e6abf1"), (56, "901305367c259952f4e7af8323f480d59f81335b"),
            (63, "0ddc4e0cccd9a12850deb5abb0853a4425559fec"), (64, "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163"),
            (65, "78c741ddc482e4cdf8c474a0876347a0905b6233"), (119, "4300320394f7ee239bcdce7d3b8bcee173a0cd5c"),
            (120, "ceb2821639c4b6dcb10bce0e522ca2e608ce056d"),
        ]
        for (n, digest) in edges {
            XCTAssertEqual(hex(String(repeating: "x", count: n)), digest, "length \(n), \(path)")
        }
    }

    /// The CPU's SHA-1 instructions against the Swift rounds, block by
    /// block from random states and words (skipped on a CPU without them:
    /// there only the Swift rounds run, which the vectors test).
    func testSHA1HardwareMatchesSoftware() throws {
        try XCTSkipUnless(SHA1.hardwareAvailable, "this CPU has no SHA-1 instructions: only the Swift rounds run here")
        var rng = SystemRandomNumberGenerator()
        func r() -> UInt32 { UInt32.random(in: .min ... .max, using: &rng) }
        for i in 0..<5_000 {
            let start: (UInt32, UInt32, UInt32, UInt32, UInt32) = i == 0
                ? (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0) : (r(), r(), r(), r(), r())
            let words = (r(), r(), r(), r(), r(), r(), r(), r(), r(), r(), r(), r(), r(), r(), r(), r())
            var hardware = start, software = start
            SHA1.compressInHardware(&hardware, words)
            SHA1.compressInSoftware(&software, words)
            XCTAssertTrue(hardware == software, "block \(i): \(hardware) against \(software)")
        }
    }

    /// Whole messages (0 to 200 random bytes: one to four blocks) by
    /// `hash` on each path, and the one-block forms the Community ID uses
    /// (`hashOneBlock`, `hash16`) against `hash`, on each path.
    func testSHA1PathsAgreeOnRandomMessages() {
        var rng = SystemRandomNumberGenerator()
        var messages: [[UInt8]] = []
        for i in 0..<3_000 {
            let n = i < 201 ? i : Int.random(in: 0...200, using: &rng)
            messages.append((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        func words(_ h: (UInt32, UInt32, UInt32, UInt32, UInt32)) -> [UInt8] {
            [h.0, h.1, h.2, h.3, h.4].flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (24 - 8 * $0)) } }
        }
        var digests: [String: [[UInt8]]] = [:]
        onBothPaths { path in
            var mine: [[UInt8]] = []
            for m in messages {
                let digest = SHA1.hash(m)
                mine.append(digest)
                if m.count <= 55 {
                    var block = [UInt8](repeating: 0, count: 64)
                    block.replaceSubrange(0..<m.count, with: m)
                    let h = block.withUnsafeMutableBytes { SHA1.hashOneBlock($0.baseAddress!, count: m.count) }
                    XCTAssertEqual(words(h), digest, "hashOneBlock, \(m.count) bytes, \(path)")
                }
                if m.count == 16 {
                    func word(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(m[i + $1]) } }
                    XCTAssertEqual(words(SHA1.hash16(word(0), word(4), word(8), word(12))), digest, "hash16, \(path)")
                }
            }
            digests[path] = mine
        }
        if let hardware = digests["SHA-NI"], let software = digests["Swift rounds"] {
            for (i, m) in messages.enumerated() where hardware[i] != software[i] {
                XCTFail("\(m.count) bytes: SHA-NI and the Swift rounds differ")
            }
        }
    }

    func testBase64Vectors() {
        // RFC 4648 §10.
        let cases = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==",
                     "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in cases {
            XCTAssertEqual(Base64.encode(Array(plain.utf8)), encoded)
        }
    }

    // MARK: the spec's tables (baseline/README.md)

    private struct Vector {
        var proto: UInt8
        var saddr: String, daddr: String
        var sport: UInt16?, dport: UInt16?
        var seed0: String, seed1: String
    }

    private let v4s = "1.2.3.4", v4d = "5.6.7.8"
    private let v6s = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", v6d = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D"

    private var tableVectors: [Vector] {
        [
            Vector(proto: 6, saddr: v4s, daddr: v4d, sport: 1122, dport: 3344,
                   seed0: "1:wCb3OG7yAFWelaUydu0D+125CLM=", seed1: "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
            Vector(proto: 6, saddr: v4d, daddr: v4s, sport: 3344, dport: 1122,
                   seed0: "1:wCb3OG7yAFWelaUydu0D+125CLM=", seed1: "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
            Vector(proto: 17, saddr: v4s, daddr: v4d, sport: 1122, dport: 3344,
                   seed0: "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", seed1: "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
            Vector(proto: 17, saddr: v4d, daddr: v4s, sport: 3344, dport: 1122,
                   seed0: "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", seed1: "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
            Vector(proto: 132, saddr: v4s, daddr: v4d, sport: 1122, dport: 3344,
                   seed0: "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", seed1: "1:uitchpn5MMGAQKBJh7bIr/bAr7s="),
            Vector(proto: 132, saddr: v4d, daddr: v4s, sport: 3344, dport: 1122,
                   seed0: "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", seed1: "1:uitchpn5MMGAQKBJh7bIr/bAr7s="),
            // ICMP: (type, code) as the "ports".
            Vector(proto: 1, saddr: v4s, daddr: v4d, sport: 8, dport: 0,
                   seed0: "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", seed1: "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="),
            Vector(proto: 1, saddr: v4d, daddr: v4s, sport: 0, dport: 0,
                   seed0: "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", seed1: "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="),
            Vector(proto: 1, saddr: v4s, daddr: v4d, sport: 11, dport: 0,
                   seed0: "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", seed1: "1:1DD7cWGC/Yg91YGsQeni8du3pIA="),
            Vector(proto: 58, saddr: v6s, daddr: v6d, sport: 128, dport: 0,
                   seed0: "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", seed1: "1:IO27GQzPuCtNnwFvjWALMHu5tJE="),
            Vector(proto: 58, saddr: v6d, daddr: v6s, sport: 129, dport: 0,
                   seed0: "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", seed1: "1:IO27GQzPuCtNnwFvjWALMHu5tJE="),
            Vector(proto: 58, saddr: v6s, daddr: v6d, sport: 146, dport: 0,
                   seed0: "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", seed1: "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="),
            // RSVP: no ports.
            Vector(proto: 46, saddr: v4s, daddr: v4d, sport: nil, dport: nil,
                   seed0: "1:ikv3kmf89luf73WPz1jOs49S768=", seed1: "1:/buhqeOmaRCopOZFy9HnoJd5XW8="),
            Vector(proto: 46, saddr: v4d, daddr: v4s, sport: nil, dport: nil,
                   seed0: "1:ikv3kmf89luf73WPz1jOs49S768=", seed1: "1:/buhqeOmaRCopOZFy9HnoJd5XW8="),
            Vector(proto: 46, saddr: v6s, daddr: v6d, sport: nil, dport: nil,
                   seed0: "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", seed1: "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="),
            Vector(proto: 46, saddr: v6d, daddr: v6s, sport: nil, dport: nil,
                   seed0: "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", seed1: "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="),
        ]
    }

    func testSpecTables() { onBothPaths(checkSpecTables) }

    private func checkSpecTables(_ path: String) {
        for v in tableVectors {
            for (seed, expected) in [(UInt16(0), v.seed0), (1, v.seed1)] {
                let got = CommunityID(seed: seed).string(proto: IPProtocol(rawValue: v.proto), source: ip(v.saddr),
                                                         destination: ip(v.daddr), sourcePort: v.sport, destinationPort: v.dport)
                XCTAssertEqual(got, expected, "proto \(v.proto) \(v.saddr):\(v.sport ?? 0) → \(v.daddr):\(v.dport ?? 0) seed \(seed), \(path)")
            }
        }
    }

    // MARK: the spec's pcap baselines (baseline_deflt.json, baseline_seed1.json)

    /// (proto, saddr, daddr, sport, dport, seed 0, seed 1). In these files
    /// the ICMP "ports" are already mapped: sport is the type, dport the
    /// counter-type for request/reply types or the code for one-way ones.
    private let pcapBaseline: [(UInt8, String, String, UInt16?, UInt16?, String, String)] = [
        (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="),
        (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="),
        (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="),
        (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135, "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="),
        (58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="),
        (58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, "1:hLZd0XGWojozrvxqE0dWB1iM6R0=", "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="),
        (58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="),
        (58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="),
        (58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="),
        (58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00=", "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="),
        (1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="),
        (1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="),
        (1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="),
        (6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="),
        (6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="),
        (132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="),
        (132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="),
        (6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
        (6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
        (17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
        (17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
        (46, "10.1.12.1", "10.1.12.2", nil, nil, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="),
        (46, "10.1.12.2", "10.1.12.1", nil, nil, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="),
    ]

    func testSpecPcapBaselines() { onBothPaths(checkSpecPcapBaselines) }

    private func checkSpecPcapBaselines(_ path: String) {
        for (proto, s, d, sport, dport, seed0, seed1) in pcapBaseline {
            for (seed, expected) in [(UInt16(0), seed0), (1, seed1)] {
                let cid = CommunityID(seed: seed)
                let got: String
                let p = IPProtocol(rawValue: proto)
                if p == .icmp || p == .icmpv6, let type = sport, let mapped = dport {
                    // Recover (type, code) from the mapped ports: a paired
                    // type's code is irrelevant, a one-way type's code is dport.
                    let paired = CommunityID.icmpPorts(type: UInt8(type), code: 0, v6: p == .icmpv6)
                    let code = paired.oneWay ? UInt8(mapped) : 0
                    got = cid.string(proto: p, source: ip(s), destination: ip(d), sourcePort: type, destinationPort: UInt16(code))
                } else {
                    got = cid.string(proto: p, source: ip(s), destination: ip(d), sourcePort: sport, destinationPort: dport)
                }
                XCTAssertEqual(got, expected, "proto \(proto) \(s) → \(d) seed \(seed), \(path)")
            }
        }
    }

    /// The flow form: client as source; ICMP from the flow's type and code.
    func testFromExportFlow() { onBothPaths(checkFromExportFlow) }

    private func checkFromExportFlow(_ path: String) {
        func flow(_ proto: IPProtocol, _ c: String, _ cp: UInt16, _ s: String, _ sp: UInt16,
                  type: UInt8? = nil, code: UInt8? = nil) -> ExportFlow {
            let client = ip(c), server = ip(s)
            return ExportFlow(uid: 1, startNs: 0, endNs: 0, proto: proto, ipVersion: client.isIPv4Mapped ? 4 : 6,
                              clientAddress: client, clientPort: cp, serverAddress: server, serverPort: sp,
                              clientToServer: ExportCounters(), serverToClient: ExportCounters(), icmpType: type, icmpCode: code)
        }
        let cid = CommunityID()
        XCTAssertEqual(cid.string(for: flow(.tcp, "5.6.7.8", 3344, "1.2.3.4", 1122)), "1:wCb3OG7yAFWelaUydu0D+125CLM=", path)
        XCTAssertEqual(cid.string(for: flow(.udp, "8.8.8.8", 53, "192.168.1.52", 54585)), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", path)
        XCTAssertEqual(cid.string(for: flow(.icmp, "1.2.3.4", 0, "5.6.7.8", 0, type: 8, code: 0)), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", path)
        XCTAssertEqual(cid.string(for: flow(.icmp, "1.2.3.4", 0, "5.6.7.8", 0, type: 11, code: 0)), "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", path)
        XCTAssertEqual(cid.string(for: flow(.icmpv6, v6s, 0, v6d, 0, type: 128, code: 0)), "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", path)
        XCTAssertEqual(cid.string(for: flow(IPProtocol(rawValue: 46), v6d, 0, v6s, 0)), "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", path)
        XCTAssertEqual(cid.string(for: flow(.icmp, "1.2.3.4", 0, "5.6.7.8", 0)), "", "ICMP without a type can't be hashed, \(path)")
    }

    // MARK: against pycommunityid on random tuples

    func testAgainstPycommunityid() throws {
        let python = try ExportTestSupport.requirePythonModule("communityid", package: "communityid")
        var rng = SystemRandomNumberGenerator()
        struct Tuple { var proto: UInt8; var s: IPAddress; var d: IPAddress; var sp: UInt16; var dp: UInt16; var seed: UInt16 }
        var tuples: [Tuple] = []
        let protos: [UInt8] = [6, 17, 132, 1, 58, 46, 47, 50, 0, 255]
        for i in 0..<4000 {
            let proto = protos[i % protos.count]
            let v6 = proto == 58 || (proto != 1 && Bool.random(using: &rng))
            func address() -> IPAddress {
                v6 ? IPAddress(high: UInt64.random(in: 0...3, using: &rng) << 62 | UInt64.random(in: 0...7, using: &rng),
                               low: UInt64.random(in: 0...7, using: &rng))
                   : IPAddress(ipv4: UInt32.random(in: 0...5, using: &rng) << 24 | UInt32.random(in: 0...3, using: &rng))
            }
            // Small ranges, so equal addresses and equal ports (the tie
            // rules) come up often.
            let s = address()
            let d = i % 7 == 0 ? s : address()
            var sp = UInt16.random(in: 0...4, using: &rng), dp = UInt16.random(in: 0...4, using: &rng)
            if i % 3 == 0 { sp = .random(in: 0...UInt16.max, using: &rng); dp = .random(in: 0...UInt16.max, using: &rng) }
            if proto == 1 || proto == 58 {
                // Types around the paired ones, codes 0-3.
                let types: [UInt16] = proto == 1 ? [0, 3, 5, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 30]
                                                 : [1, 2, 3, 4, 128, 129, 130, 131, 133, 134, 135, 136, 137, 139, 140, 144, 145, 146]
                sp = types[Int.random(in: 0..<types.count, using: &rng)]
                dp = UInt16.random(in: 0...3, using: &rng)
            }
            tuples.append(Tuple(proto: proto, s: s, d: d, sp: sp, dp: dp, seed: i % 5 == 0 ? .random(in: 0...UInt16.max, using: &rng) : 0))
        }
        let dir = try ExportTestSupport.temporaryDirectory("cid")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = tuples.map { t in
            let hasPorts = CommunityID.hasPorts(IPProtocol(rawValue: t.proto))
            return "\(t.proto)\t\(t.s.description)\t\(t.d.description)\t\(hasPorts ? String(t.sp) : "-")\t\(hasPorts ? String(t.dp) : "-")\t\(t.seed)"
        }.joined(separator: "\n") + "\n"
        try input.write(toFile: dir + "/in.tsv", atomically: true, encoding: .utf8)
        let script = """
        import sys, communityid
        cache = {}
        for line in open(sys.argv[1]):
            proto, s, d, sp, dp, seed = line.rstrip('\\n').split('\\t')
            seed = int(seed)
            if seed not in cache: cache[seed] = communityid.CommunityID(seed=seed)
            sp = None if sp == '-' else int(sp)
            dp = None if dp == '-' else int(dp)
            print(cache[seed].calc(communityid.FlowTuple(int(proto), s, d, sp, dp)))
        """
        try script.write(toFile: dir + "/cid.py", atomically: true, encoding: .utf8)
        let r = try ExportTestSupport.run(python, [dir + "/cid.py", dir + "/in.tsv"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(expected.count, tuples.count)
        var mismatches = 0
        for (t, want) in zip(tuples, expected) {
            let p = IPProtocol(rawValue: t.proto)
            let hasPorts = CommunityID.hasPorts(p)
            let got = CommunityID(seed: t.seed).string(proto: p, source: t.s, destination: t.d,
                                                       sourcePort: hasPorts ? t.sp : nil, destinationPort: hasPorts ? t.dp : nil)
            if got != want {
                mismatches += 1
                if mismatches < 10 { XCTFail("proto \(t.proto) \(t.s):\(t.sp) → \(t.d):\(t.dp) seed \(t.seed): \(got) vs pycommunityid \(want)") }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// No heap allocation per flow: the hashing runs on stack buffers and
    /// appends to a reused buffer. Checked by capacity: the buffer does not
    /// regrow, and the result is the same every time.
    func testReusedBuffer() {
        let cid = CommunityID()
        var out = ExportBuffer(capacity: 64)
        for _ in 0..<1000 {
            out.removeAll()
            cid.append(proto: .tcp, source: ip("1.2.3.4"), destination: ip("5.6.7.8"), sourcePort: 1122, destinationPort: 3344,
                       ipv6: false, to: &out)
        }
        XCTAssertEqual(String(decoding: out.bytes, as: UTF8.self), "1:wCb3OG7yAFWelaUydu0D+125CLM=")
    }
}
