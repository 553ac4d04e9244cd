import PFlowCore
import XCTest
@testable import PFlowFlows
@testable import PFlowWire
@testable import PFlowEngine
@testable import PFlowOutput

final class FlowTests: XCTestCase {
    static let client = IPAddress(ipv4: 0x0A00_0001)   // 10.0.0.1
    static let server = IPAddress(ipv4: 0x0A00_0002)   // 10.0.0.2

    /// A packet from `from` to the other host.
    static func packet(_ proto: IPProtocol = .tcp, fromClient: Bool, cport: UInt16 = 40000, sport: UInt16 = 443,
                       flags: TCPFlags = [], payload: Int = 0, icmpType: UInt8 = 0, seq: UInt32 = 0,
                       client: IPAddress = FlowTests.client) -> DecodedPacket {
        var p = DecodedPacket()
        p.ipVersion = 4
        p.proto = proto
        p.source = fromClient ? client : server
        p.destination = fromClient ? server : client
        p.tcpSequence = seq
        p.sourcePort = fromClient ? cport : sport
        p.destinationPort = fromClient ? sport : cport
        p.tcpFlags = flags
        p.payloadLength = payload
        p.icmpType = icmpType
        return p
    }

    /// Runs packets (fromClient, flags, payload) through a table, one per millisecond.
    static func run(_ packets: [DecodedPacket], expiry: ExpiryPolicy = ExpiryPolicy(), gapNs: Int64 = 1_000_000,
                    registry: ServiceRegistry = .standard, payloads: [Int: [UInt8]] = [:]) -> [FlowRecord] {
        var out: [FlowRecord] = []
        let table = PacketFeeder(expiry: expiry) { s, r, knowledge in
            out.append(FlowRecord(s, endReason: r, registry: registry, knowledge: knowledge))
        }
        var ts: Int64 = 1_767_225_600_000_000_000
        for (i, var p) in packets.enumerated() {
            let frame = payloads[i] ?? []
            if !frame.isEmpty {
                p.payloadOffset = 0
                p.capturedPayloadLength = frame.count
                p.payloadLength = max(p.payloadLength, frame.count)
            }
            frame.withUnsafeBytes { bytes in
                table.add(p, frame: bytes, timestampNs: ts, wireLength: UInt32(60 + p.payloadLength))
            }
            ts += gapNs
        }
        table.finish { s, r in out.append(FlowRecord(s, endReason: r, registry: registry, knowledge: table.knowledge)) }
        return out
    }

    typealias P = FlowTests

    static func handshake(cport: UInt16 = 40000, sport: UInt16 = 443) -> [DecodedPacket] {
        [P.packet(fromClient: true, cport: cport, sport: sport, flags: .syn),
         P.packet(fromClient: false, cport: cport, sport: sport, flags: [.syn, .ack]),
         P.packet(fromClient: true, cport: cport, sport: sport, flags: .ack)]
    }

    static func finClose(cport: UInt16 = 40000, sport: UInt16 = 443) -> [DecodedPacket] {
        [P.packet(fromClient: true, cport: cport, sport: sport, flags: [.fin, .ack]),
         P.packet(fromClient: false, cport: cport, sport: sport, flags: [.fin, .ack]),
         P.packet(fromClient: true, cport: cport, sport: sport, flags: .ack)]
    }

    /// The 48-bit byte counters carry into their high parts, and a counter
    /// within 4 GB of 2^48 marks the flow full (it ends as `active` on its
    /// next packet, as a full packet count does), keeping its name bits.
    func testByteCountersCarryAndFill() {
        let key = FlowKey(addressA: IPAddress(ipv4: 1), addressB: IPAddress(ipv4: 2), portA: 1, portB: 2,
                          proto: .udp, vlan: FlowKey.noVLAN)
        var s = FlowState(key: key, ipVersion: 4, timestampNs: 0, direction: 0)
        var p = PacketFacts()
        p.proto = .udp; p.payloadLength = 1000; p.ipLength = 1028
        let frame = UnsafeRawBufferPointer(start: nil, count: 0)
        s.byteLows.0 = UInt32.max - 10
        s.add(p, frame: frame, direction: 0, timestampNs: 1, wireLength: 1042)
        XCTAssertEqual(s.bytes.0, UInt64(UInt32.max) - 10 + 1042)
        XCTAssertFalse(s.packetCountFull)
        s.setName(5, .sni, forB: true)
        s.byteHighs.5 = 0xFFFE
        s.byteLows.5 = UInt32.max - 100
        s.add(p, frame: frame, direction: 1, timestampNs: 2, wireLength: 1042)
        XCTAssertEqual(s.ipBytes.1, 0xFFFF_0000_0000 + 1028 - 101)
        XCTAssertTrue(s.packetCountFull)
        XCTAssertEqual(s.nameSerial, 5)
        s.setName(6, .dns, forB: false)
        XCTAssertTrue(s.packetCountFull, "naming keeps the full bit")
    }

    /// A live flow is 160 bytes; the packed accessors round-trip.
    func testFlowStateLayoutAndPackedFields() {
        XCTAssertEqual(MemoryLayout<FlowKey>.size, 39)
        XCTAssertEqual(MemoryLayout<(SignatureVerdict?, SignatureVerdict?)>.size, 4)
        // Two and a half cache lines with the IP-byte counters (issue 15) and
        // the health fields (issue 16); the byte counters are 48 bits and a
        // running latency holds its own start, to stay within 160.
        XCTAssertEqual(MemoryLayout<FlowState>.stride, 160)
        XCTAssertEqual(MemoryLayout<PacketFacts>.size, 30)
        XCTAssertEqual(MemoryLayout<TrackedPacket>.stride, 128)  // a ring slot: two cache lines
        XCTAssertTrue(_isPOD(NameNote.self))
        // The store moves states with mremap and hands pages back with
        // madvise; the pipeline initializes whole packets only where written:
        // both need values without references.
        XCTAssertTrue(_isPOD(FlowState.self))
        XCTAssertTrue(_isPOD(DecodedPacket.self))
        // The pipeline's ring starts as calloc'd zero bytes.
        XCTAssertTrue(_isPOD(TrackedPacket.self))
        let key = FlowKey(addressA: IPAddress(ipv4: 1), addressB: IPAddress(ipv4: 2), portA: 1, portB: 2,
                          proto: .tcp, vlan: FlowKey.noVLAN)
        var s = FlowState(key: key, ipVersion: 6, timestampNs: 5, direction: 1)
        XCTAssertEqual(s.ipVersion, 6)
        XCTAssertEqual(s.firstDirection, 1)
        XCTAssertTrue(s.live)
        for d: Int8 in [-1, 0, 1] {
            s.synDirection = d; s.synAckDirection = -d; s.rstDirection = d; s.requestDirection = 0
            s.firstPayloadDirection = d
            XCTAssertEqual([s.synDirection, s.synAckDirection, s.rstDirection, s.requestDirection, s.firstPayloadDirection],
                           [d, -d, d, 0, d])
            XCTAssertEqual(s.firstDirection, 1)
        }
        s.live = false
        XCTAssertFalse(s.live)
        XCTAssertEqual(s.ipVersion, 6)
        // The tunnel shares `directions`; the latency timing shares the
        // name's word: setting one leaves the others.
        s.directions |= UInt16(TunnelKind.teredo.rawValue &+ 1) << 12
        s.timingPhase = 5; s.timedDirection = 1
        s.setName(NameTable.serialMask, .sni, forB: true)
        XCTAssertEqual(s.tunnel, .teredo)
        XCTAssertEqual([s.synDirection, s.firstPayloadDirection], [1, 1])
        XCTAssertEqual(s.timingPhase, 5); XCTAssertEqual(s.timedDirection, 1)
        XCTAssertEqual(s.nameSerial, NameTable.serialMask); XCTAssertEqual(s.nameSource, .sni); XCTAssertTrue(s.nameIsForB)
        s.timingPhase = 2; s.timedDirection = 0
        s.setName(7, .dns, forB: false)
        XCTAssertEqual(s.timingPhase, 2); XCTAssertEqual(s.timedDirection, 0)
        XCTAssertEqual(s.nameSerial, 7); XCTAssertEqual(s.nameSource, .dns); XCTAssertFalse(s.nameIsForB)
        XCTAssertEqual(s.tunnel, .teredo)
        XCTAssertNil(s.firstICMP)  // a TCP flow
        // The history keeps at most 16 events and counts them from its codes.
        var h = TCPHistory()
        for e in [TCPHistory.Event.syn, .synAck, .ack, .data, .fin, .rst, .retransmit] {
            h.record(e, direction: 0)
            h.record(e, direction: 1)
            h.record(e, direction: 1)
        }
        XCTAssertEqual(h.count, 14)
        XCTAssertEqual(h.letters(clientDirection: 0), "SsHhAaDdFfRrTt")
    }

    func testHandshakeAndFinClose() {
        let data = [P.packet(fromClient: true, flags: [.psh, .ack], payload: 100),
                    P.packet(fromClient: false, flags: [.psh, .ack], payload: 1000)]
        let flows = P.run(P.handshake() + data + P.finClose())
        XCTAssertEqual(flows.count, 1)
        let f = flows[0]
        XCTAssertEqual(f.clientAddress, P.client)
        XCTAssertEqual(f.clientPort, 40000)
        XCTAssertEqual(f.serverPort, 443)
        XCTAssertEqual(f.service, "https")
        XCTAssertEqual(f.roleSource, .syn)
        XCTAssertEqual(f.state, "SF")
        XCTAssertEqual(f.endReason, .fin)
        XCTAssertEqual(f.clientToServer.packets, 5)
        XCTAssertEqual(f.serverToClient.packets, 3)
        XCTAssertEqual(f.clientToServer.payloadBytes, 100)
        XCTAssertEqual(f.serverToClient.payloadBytes, 1000)
        XCTAssertEqual(f.clientToServer.bytes, 5 * 60 + 100)
        XCTAssertEqual(f.durationNs, 7_000_000)
    }

    func testSynDecidesEvenAgainstThePortTable() {
        // A client on port 22 connecting to a service on 50443: the SYN wins.
        let flows = P.run(P.handshake(cport: 22, sport: 50443))
        XCTAssertEqual(flows[0].clientPort, 22)
        XCTAssertEqual(flows[0].serverPort, 50443)
        XCTAssertEqual(flows[0].roleSource, .syn)
        XCTAssertEqual(flows[0].state, "S1")
        XCTAssertEqual(flows[0].endReason, .end)
    }

    func testSynAckAloneNamesTheServer() {
        let flows = P.run([P.packet(fromClient: false, cport: 50000, sport: 60000, flags: [.syn, .ack]),
                           P.packet(fromClient: true, cport: 50000, sport: 60000, flags: .ack)])
        XCTAssertEqual(flows[0].serverPort, 60000)
        XCTAssertEqual(flows[0].roleSource, .synAck)
        XCTAssertEqual(flows[0].state, "OTH")
    }

    func testRejectedUnansweredAndResets() {
        XCTAssertEqual(P.run([P.packet(fromClient: true, flags: .syn),
                              P.packet(fromClient: false, flags: [.rst, .ack])])[0].state, "REJ")
        let unanswered = P.run([P.packet(fromClient: true, flags: .syn), P.packet(fromClient: true, flags: .syn)])[0]
        XCTAssertEqual(unanswered.state, "S0")
        XCTAssertEqual(unanswered.clientToServer.packets, 2)
        XCTAssertEqual(unanswered.endReason, .end)
        let rsto = P.run(P.handshake() + [P.packet(fromClient: true, flags: [.rst, .ack])])[0]
        XCTAssertEqual(rsto.state, "RSTO")
        XCTAssertEqual(rsto.endReason, .rst)
        XCTAssertEqual(P.run(P.handshake() + [P.packet(fromClient: false, flags: .rst)])[0].state, "RSTR")
        XCTAssertEqual(P.run([P.packet(fromClient: true, flags: .syn), P.packet(fromClient: true, flags: .rst)])[0].state, "RSTOS0")
        XCTAssertEqual(P.run(P.handshake() + [P.packet(fromClient: true, flags: [.fin, .ack])])[0].state, "S2")
        XCTAssertEqual(P.run(P.handshake() + [P.packet(fromClient: false, flags: [.fin, .ack])])[0].state, "S3")
    }

    func testMidstreamFallsBackToThePortTable() {
        let flows = P.run([P.packet(fromClient: false, flags: .ack, payload: 1400),
                           P.packet(fromClient: true, flags: .ack)])
        XCTAssertEqual(flows[0].clientPort, 40000)
        XCTAssertEqual(flows[0].serverPort, 443)
        XCTAssertEqual(flows[0].roleSource, .portTable)
        XCTAssertEqual(flows[0].state, "OTH")
        XCTAssertEqual(flows[0].serverToClient.payloadBytes, 1400)
    }

    func testUnnamedPortsUseTheLowerPort() {
        // Neither 61000 nor 61001 is in the registry.
        XCTAssertNil(ServiceRegistry.standard.name(port: 61000, proto: .udp))
        XCTAssertNil(ServiceRegistry.standard.name(port: 61001, proto: .udp))
        let flows = P.run([P.packet(.udp, fromClient: false, cport: 61001, sport: 61000)])
        XCTAssertEqual(flows[0].serverPort, 61000)
        XCTAssertEqual(flows[0].roleSource, .lowerPort)
        XCTAssertEqual(flows[0].state, "S0")
    }

    func testBothNamedPrefersTheWellKnownPort() {
        // 3306 (mysql) and 53 (domain) are both named: the well-known one serves.
        let flows = P.run([P.packet(.udp, fromClient: true, cport: 3306, sport: 53),
                           P.packet(.udp, fromClient: false, cport: 3306, sport: 53)])
        XCTAssertEqual(flows[0].serverPort, 53)
        XCTAssertEqual(flows[0].roleSource, .portTable)
        XCTAssertEqual(flows[0].state, "SF")
    }

    func testSymmetricPortsFirstSenderIsClient() {
        let flows = P.run([P.packet(.udp, fromClient: false, cport: 123, sport: 123),
                           P.packet(.udp, fromClient: true, cport: 123, sport: 123)])
        XCTAssertEqual(flows[0].clientAddress, P.server)
        XCTAssertEqual(flows[0].roleSource, .firstPacket)
        XCTAssertEqual(flows[0].service, "ntp")
    }

    func testICMPEchoRequestNamesTheClient() {
        var reply = P.packet(.icmp, fromClient: false, cport: 77, sport: 77, icmpType: 0)
        reply.payloadLength = 56
        var request = P.packet(.icmp, fromClient: true, cport: 77, sport: 77, icmpType: 8)
        request.payloadLength = 56
        let flows = P.run([reply, request, reply])  // capture started after the first request
        XCTAssertEqual(flows.count, 1)
        XCTAssertEqual(flows[0].clientAddress, P.client)
        XCTAssertEqual(flows[0].roleSource, .signature)
        XCTAssertEqual(flows[0].serverToClient.packets, 2)
    }

    func testPortReuseAfterCloseStartsANewFlow() {
        let first = P.handshake() + P.finClose()
        let flows = P.run(first + first)
        XCTAssertEqual(flows.count, 2)
        XCTAssertEqual(flows.map(\.endReason), [.fin, .fin])
        XCTAssertEqual(flows.map(\.clientToServer.packets), [4, 4])
        // A retransmitted SYN on an open connection is not a reuse.
        XCTAssertEqual(P.run(P.handshake() + [P.packet(fromClient: true, flags: .syn)]).count, 1)
    }

    func testIdleTimeoutSplitsAndActiveTimeoutCuts() {
        let udp = [P.packet(.udp, fromClient: true, sport: 53), P.packet(.udp, fromClient: false, sport: 53)]
        // 40 s apart: one UDP flow under the 60 s default, two under a 30 s timeout.
        XCTAssertEqual(P.run(udp + udp, gapNs: 40_000_000_000).count, 1)
        let split = P.run(udp + udp, expiry: ExpiryPolicy(idleNs: 30_000_000_000), gapNs: 40_000_000_000)
        XCTAssertEqual(split.count, 4)
        XCTAssertEqual(split.map(\.endReason), [.idle, .idle, .idle, .end])
        var active = ExpiryPolicy()
        active.activeNs = 2_500_000
        let cut = P.run(udp + udp + udp, expiry: active)
        XCTAssertEqual(cut.map(\.packets), [3, 3])
        XCTAssertEqual(cut.map(\.endReason), [.active, .end])
    }

    func testServicesFileOverridesAndExtends() throws {
        let text = """
            # local names
            grpc-internal   50051/tcp          # our RPC
            myntp           123/udp
            weird
            """
        XCTAssertThrowsError(try ServiceRegistry.standard.overriding(withServicesText: text, source: "s")) { e in
            XCTAssertEqual((e as? ServicesFileError)?.message, "s: line 4: expected 'name port/proto'")
        }
        let r = try ServiceRegistry.standard.overriding(withServicesText: String(text.dropLast(6)), source: "s")
        XCTAssertEqual(r.name(port: 50051, proto: .tcp), "grpc-internal")
        XCTAssertNil(r.name(port: 50051, proto: .udp))
        XCTAssertEqual(r.name(port: 123, proto: .udp), "myntp")
        XCTAssertEqual(r.name(port: 123, proto: .tcp), "ntp")
        XCTAssertEqual(ServiceRegistry.standard.name(port: 3000, proto: .tcp), "grafana/node")
        XCTAssertEqual(ServiceRegistry.standard.name(port: 6000, proto: .tcp), "x11")
        XCTAssertEqual(ServiceRegistry.standard.name(port: 6063, proto: .udp), "x11")
        XCTAssertEqual(PortRange(port: 1023), .wellKnown)
        XCTAssertEqual(PortRange(port: 49151), .registered)
        XCTAssertEqual(PortRange(port: 49152), .dynamic)
    }

    func testHistoryLettersAndRetransmission() {
        let data = [P.packet(fromClient: true, flags: [.psh, .ack], payload: 100, seq: 1),
                    P.packet(fromClient: false, flags: [.psh, .ack], payload: 1000, seq: 1),
                    P.packet(fromClient: false, flags: [.psh, .ack], payload: 1000, seq: 1)]  // retransmitted
        let f = P.run(P.handshake() + data + P.finClose())[0]
        XCTAssertEqual(f.history, "ShADdtFf")
        XCTAssertEqual(P.run([P.packet(fromClient: true, flags: .syn)])[0].history, "S")
    }

    func testSimultaneousOpenAndHalfOpen() {
        let simultaneous = [P.packet(fromClient: true, flags: .syn), P.packet(fromClient: false, flags: .syn),
                            P.packet(fromClient: true, flags: [.syn, .ack]), P.packet(fromClient: false, flags: [.syn, .ack])]
        let f = P.run(simultaneous)[0]
        XCTAssertEqual(f.clientPort, 40000)
        XCTAssertEqual(f.roleSource, .syn)
        XCTAssertEqual(f.state, "S1")
        // SYN then FIN with no reply: half-open.
        XCTAssertEqual(P.run([P.packet(fromClient: true, flags: .syn), P.packet(fromClient: true, flags: .fin)])[0].state, "SH")
        // A SYN-ACK then RST, the SYN never seen.
        XCTAssertEqual(P.run([P.packet(fromClient: false, flags: [.syn, .ack]), P.packet(fromClient: false, flags: .rst)])[0].state, "RSTRH")
    }

    func testListenerLearnedFromAnotherConnection() {
        // 10.0.0.2:55000 answered a handshake from port 41000; a flow to it seen
        // mid-stream from port 50000 is a client of it, although 50000 < 55000.
        let learned = P.handshake(cport: 41000, sport: 55000)
        let midstream = [P.packet(fromClient: false, cport: 50000, sport: 55000, flags: .ack, payload: 500),
                         P.packet(fromClient: true, cport: 50000, sport: 55000, flags: .ack)]
        let flows = P.run(learned + midstream)
        let f = flows.first { $0.clientPort == 50000 || $0.serverPort == 50000 }
        XCTAssertEqual(f?.serverPort, 55000)
        XCTAssertEqual(f?.roleSource, .listener)
        // Without the other connection, the lower port would have been taken.
        XCTAssertEqual(P.run(midstream)[0].serverPort, 50000)
    }

    func testPayloadSignaturesDecideAndNameTheApp() {
        // A DNS response seen alone, between two unnamed high ports.
        let response: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0x61, 0]
        let dns = P.run([P.packet(.udp, fromClient: false, cport: 61001, sport: 61000)], payloads: [0: response])[0]
        XCTAssertEqual(dns.serverPort, 61000)
        XCTAssertEqual(dns.roleSource, .signature)
        XCTAssertEqual(dns.app, "dns")
        // A TLS ClientHello from the higher port, mid-stream: its sender is the client.
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0, 0, 0x3C, 0x03, 0x03]
        let tls = P.run([P.packet(fromClient: true, cport: 60123, sport: 50443, flags: [.psh, .ack])], payloads: [0: hello])[0]
        XCTAssertEqual(tls.serverPort, 50443)
        XCTAssertEqual(tls.roleSource, .signature)
        XCTAssertEqual(tls.app, "tls")
        // An HTTP response from port 8000 names the app even when the SYN decided the roles.
        let http = P.run(P.handshake(cport: 40001, sport: 8000)
                         + [P.packet(fromClient: false, cport: 40001, sport: 8000, flags: .ack)], payloads: [3: Array("HTTP/1.0 200 OK\r\n".utf8)])[0]
        XCTAssertEqual(http.app, "http")
        XCTAssertEqual(http.roleSource, .syn)
    }

    func testEphemeralRangesLearnedPerHost() {
        // 10.0.0.1 opens connections from 61000-61005 (sequential): the IANA range.
        var packets: [DecodedPacket] = []
        for i in 0..<6 { packets.append(P.packet(fromClient: true, cport: 61000 + UInt16(i), sport: 80, flags: .syn)) }
        let table = PacketFeeder()
        for p in packets { table.add(p, frame: UnsafeRawBufferPointer(start: nil, count: 0), timestampNs: 1, wireLength: 60) }
        let r = table.knowledge.range(of: P.client)
        XCTAssertEqual(r?.connections, 6)
        XCTAssertEqual(r?.pattern, .sequential)
        XCTAssertEqual(r?.family, .windowsIANA)
        XCTAssertTrue(r?.covers(65000) ?? false)
        XCTAssertFalse(r?.covers(40000) ?? true)
        var linux = EphemeralRange()
        for port: UInt16 in [33001, 58000, 41003, 36000, 52007] { linux.add(port) }
        XCTAssertEqual(linux.pattern, .random)
        XCTAssertEqual(linux.family, .linux)
    }

    func testCapacityEvictsTheLeastRecentlySeen() {
        var limit = ExpiryPolicy()
        limit.maxFlows = 2
        let flows = P.run([P.packet(fromClient: true, cport: 1001, flags: .syn),
                           P.packet(fromClient: true, cport: 1002, flags: .syn),
                           P.packet(fromClient: true, cport: 1001, flags: .syn),   // 1001 is now the newer
                           P.packet(fromClient: true, cport: 1003, flags: .syn)], expiry: limit)
        XCTAssertEqual(flows.first?.clientPort, 1002)
        XCTAssertEqual(flows.first?.endReason, .capacity)
        XCTAssertEqual(flows.count, 3)
    }

    func testClosedConnectionLingersThenEnds() {
        let closed = P.handshake() + P.finClose()
        // A straggler 2 s after the close joins the flow; one 10 s after starts another.
        XCTAssertEqual(P.run(closed + [P.packet(fromClient: false, flags: .ack)], gapNs: 2_000_000_000).count, 1)
        // Packets 10 s apart: the handshake and both FINs are one flow; the last
        // ACK comes after the 5 s linger and starts another, which the straggler joins.
        let late = P.run(closed + [P.packet(fromClient: false, flags: .ack)], gapNs: 10_000_000_000)
        XCTAssertEqual(late.map(\.packets), [5, 2])
        XCTAssertEqual(late.map(\.endReason), [.fin, .end])
        XCTAssertEqual(late.last?.state, "OTH")
    }

    func testLaterFragmentsJoinTheFirstFragmentsFlow() {
        var first = P.packet(.udp, fromClient: false, cport: 789, sport: 2049, payload: 1472)
        first.fragmented = true
        first.fragmentID = 7
        var later = P.packet(.udp, fromClient: false, cport: 0, sport: 0, payload: 1480)
        later.sourcePort = 0
        later.destinationPort = 0
        later.fragmented = true
        later.laterFragment = true
        later.fragmentID = 7
        var other = later
        other.fragmentID = 8  // its first fragment was never seen
        let flows = P.run([first, later, later, other])
        XCTAssertEqual(flows.count, 2)
        let nfs = flows.first { $0.serverPort == 2049 }
        XCTAssertEqual(nfs?.packets, 3)
        XCTAssertEqual(nfs?.serverToClient.payloadBytes, 1472 + 2 * 1480)
    }

    func testICMPErrorsAreCountedOnTheQuotedFlowOnly() {
        let probe = P.packet(.udp, fromClient: true, cport: 40000, sport: 33434)
        var unreachable = P.packet(.icmp, fromClient: false, cport: 0, sport: 0, icmpType: 3)
        unreachable.hasQuote = true
        unreachable.quotedProto = .udp
        unreachable.quotedSource = P.client
        unreachable.quotedDestination = P.server
        unreachable.quotedSourcePort = 40000
        unreachable.quotedDestinationPort = 33434
        var stray = unreachable
        stray.quotedSourcePort = 40001  // quotes a flow that doesn't exist
        let flows = P.run([probe, unreachable, stray])
        let udp = flows.first { $0.proto == .udp }
        XCTAssertEqual(udp?.icmpErrors, 1)
        XCTAssertEqual(udp?.packets, 1, "errors never add to the quoted flow's packets")
        XCTAssertEqual(udp?.state, "S0")
        XCTAssertEqual(flows.filter { $0.proto == .udp }.count, 1, "an error never creates a TCP/UDP flow")
        XCTAssertEqual(flows.first { $0.proto == .icmp }?.packets, 2)
    }

    /// Shapes that resemble a DNS header but are not DNS: a RIP response
    /// (default route, 0.0.0.0) and a truncated header.
    func testDNSSignatureIsStrict() {
        func verdict(_ bytes: [UInt8]) -> SignatureVerdict? {
            var head = PayloadHead()
            bytes.withUnsafeBytes { head.fill(from: $0, offset: 0, captured: bytes.count, payloadLength: bytes.count) }
            return Signatures.classify(head, proto: .udp)
        }
        let rip: [UInt8] = [2, 2, 0, 0, 0, 2, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 1]
        XCTAssertNil(verdict(rip))
        let query: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0] + [3] + Array("www".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]
        XCTAssertEqual(verdict(query), SignatureVerdict(app: .dns, senderIsClient: true))
        XCTAssertNil(verdict(Array(query[0..<11])))
    }
}
