import XCTest
@testable import PFlowFlows
@testable import PFlowWire

final class FlowTests: XCTestCase {
    static let client = IPAddress(ipv4: 0x0A00_0001)   // 10.0.0.1
    static let server = IPAddress(ipv4: 0x0A00_0002)   // 10.0.0.2

    /// A packet from `from` to the other host.
    static func packet(_ proto: IPProtocol = .tcp, fromClient: Bool, cport: UInt16 = 40000, sport: UInt16 = 443,
                       flags: TCPFlags = [], payload: Int = 0, icmpType: UInt8 = 0) -> DecodedPacket {
        var p = DecodedPacket()
        p.ipVersion = 4
        p.proto = proto
        p.source = fromClient ? client : server
        p.destination = fromClient ? server : client
        p.sourcePort = fromClient ? cport : sport
        p.destinationPort = fromClient ? sport : cport
        p.tcpFlags = flags
        p.payloadLength = payload
        p.icmpType = icmpType
        return p
    }

    /// Runs packets (fromClient, flags, payload) through a table, one per millisecond.
    static func run(_ packets: [DecodedPacket], expiry: ExpiryPolicy = ExpiryPolicy(), gapNs: Int64 = 1_000_000,
                    registry: ServiceRegistry = .standard) -> [FlowRecord] {
        let table = FlowTable(expiry: expiry)
        var out: [FlowRecord] = []
        var ts: Int64 = 1_767_225_600_000_000_000
        for p in packets {
            table.add(p, timestampNs: ts, wireLength: UInt32(60 + p.payloadLength)) { s, r in
                out.append(FlowRecord(s, endReason: r, registry: registry))
            }
            ts += gapNs
        }
        table.finish { s, r in out.append(FlowRecord(s, endReason: r, registry: registry)) }
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
}
