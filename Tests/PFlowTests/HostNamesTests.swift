import PFlowCore
import XCTest
@testable import PFlowEngine
@testable import PFlowFlows

/// JSON `hosts[].names` (DESIGN.md): the names a host's flows gave it as
/// the server, bounded, from the names each service's tally keeps.
final class HostNamesTests: XCTestCase {
    static let t0: Int64 = 1_767_225_600_000_000_000

    /// An answered TCP flow from `client` to `server`:`port` named `name`.
    func flow(_ client: UInt32, _ server: UInt32, _ port: UInt16, name: String?, at i: Int) -> FlowRecord {
        let c = IPAddress(ipv4: client), s = IPAddress(ipv4: server)
        let key = FlowKey(addressA: c, addressB: s, portA: UInt16(40000 + i % 20000), portB: port,
                          proto: .tcp, vlan: FlowKey.noVLAN)
        var f = FlowRecord(FlowState(key: key, ipVersion: 4, timestampNs: Self.t0 + Int64(i), direction: 0),
                           endReason: .fin, registry: .standard, knowledge: TrafficKnowledge())
        f.clientAddress = c; f.clientPort = key.portA
        f.serverAddress = s; f.serverPort = port
        f.roleSource = .syn
        f.connState = .SF
        f.clientToServer.packets = 3; f.clientToServer.bytes = 200; f.clientToServer.tcpFlags = .syn
        f.serverToClient.packets = 3; f.serverToClient.bytes = 300; f.serverToClient.tcpFlags = [.syn, .ack]
        f.serverName = name
        f.nameSource = name == nil ? .none : .sni
        return f
    }

    func testHostsListTheNamesTheirFlowsGaveThemAsServer() {
        var t = ServiceTally()
        let client: UInt32 = 0x0A00_0001, s1: UInt32 = 0x0A00_0002, s2: UInt32 = 0x0A00_0003
        var i = 0
        func add(_ server: UInt32, _ port: UInt16, _ name: String?, times: Int = 1) {
            for _ in 0..<times { t.add(flow(client, server, port, name: name, at: i)); i += 1 }
        }
        add(s1, 443, "a.test", times: 3)
        add(s1, 443, "b.test")
        add(s1, 443, nil, times: 2)
        add(s2, 443, "b.test")
        add(s2, 80, "c.test", times: 3)
        let hosts = Dictionary(uniqueKeysWithValues: t.hostRows().map { ($0.address, $0) })
        // Most flows first: the service's flows under each name.
        XCTAssertEqual(hosts[IPAddress(ipv4: s1)]?.names, ["a.test", "b.test"])
        XCTAssertEqual(hosts[IPAddress(ipv4: s2)]?.names, ["c.test", "b.test"])
        // A client is never named by the names of the servers it talked to.
        XCTAssertEqual(hosts[IPAddress(ipv4: client)]?.names, [])
        // The services keep their own lists as before.
        let https = t.sortedRows().first { $0.port == 443 }
        XCTAssertEqual(https?.health.topNames(), ["a.test", "b.test"])
        XCTAssertEqual(https?.health.nameCounts["b.test"]?.flows, 2)
    }

    func testHostNamesAreBounded() {
        var t = ServiceTally()
        // 100 names on one server, the later ones with more flows: a host
        // lists `hostNames`, from the first 32 of the service's names only.
        for n in 0..<100 {
            for k in 0...(n / 10) { t.add(flow(0x0A00_0001, 0x0A00_0002, 443, name: "n\(n).test", at: n * 16 + k)) }
        }
        let server = t.hostRows().first { $0.address == IPAddress(ipv4: 0x0A00_0002) }
        XCTAssertEqual(server?.names.count, ServiceTally.hostNames)
        XCTAssertEqual(server?.names, ["n30.test", "n31.test", "n20.test", "n21.test", "n22.test"])
        XCTAssertEqual(t.sortedRows().first?.health.nameCounts.count, ServiceHealth.maxNames)
    }

    /// An address entry (its key, counts, name mask and answered bit) stays
    /// 56 bytes: the name mask and the bit live in what would be padding.
    func testPartyEntryDoesNotGrow() {
        XCTAssertEqual(MemoryLayout<ServiceTally.Party>.stride, 56)
    }
}
