import PFlowCore
import PFlowExport
import PFlowFlows

/// A flow record as PFlowExport's encoders take it, and the ids every
/// output shares (uid text, Community ID).
extension FlowRecord {
    /// The uid's text form (`C` and 11 base-62 digits), as in every output.
    public var uidText: String { FlowUID.string(uid) }

    /// Community ID v1 (seed 0), client as source. ICMP hashes the type and
    /// code of the flow's first message as sent (its sender as the source),
    /// which is what pycommunityid gives that packet; an ICMP flow whose
    /// first message wasn't read appends nothing.
    public func appendCommunityID(to out: inout ExportBuffer) {
        withCommunityID { out.append($0) }
    }

    /// The flow's Community ID text (client as source; empty for an ICMP
    /// flow without a type), on the stack for `body`: no buffer to keep.
    public func withCommunityID<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: CommunityID.textLength) { text in
            guard let base = text.baseAddress else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
            return body(UnsafeRawBufferPointer(start: base, count: writeCommunityID(into: base)))
        }
    }

    private func writeCommunityID(into text: UnsafeMutablePointer<UInt8>) -> Int {
        let cid = CommunityID()
        if proto == .icmp || proto == .icmpv6 {
            guard let type = icmpType else { return 0 }
            let (source, destination) = icmpFromClient ? (clientAddress, serverAddress) : (serverAddress, clientAddress)
            let v6 = proto == .icmpv6
            let p = CommunityID.icmpPorts(type: type, code: icmpCode, v6: v6)
            return cid.write(proto: proto, source: source, destination: destination, sourcePort: p.source,
                             destinationPort: p.destination, ipv6: v6, oneWay: p.oneWay, into: text)
        }
        return cid.write(proto: proto, source: clientAddress, destination: serverAddress,
                         sourcePort: clientPort, destinationPort: serverPort, ipv6: ipVersion == 6, into: text)
    }

    public var communityID: String {
        var out = ExportBuffer(capacity: 32)
        appendCommunityID(to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// Zeek's name for the service recognised in the traffic (conn.log's
    /// `service`): `ssl` for TLS and QUIC's TLS, else the protocol's own
    /// name (`dns`, `http`, `ssh`, …); nil when nothing was recognised.
    var zeekService: String? {
        guard let app else { return nil }
        switch app {
        case "tls": return "ssl"
        default: return app
        }
    }

    /// The record for the encoders; `tunnelParents` is what conn.log's
    /// `tunnel_parents` gets (pflow tracks a tunnel's inner flows, not the
    /// tunnel as a flow of its own, so there is no tunnel uid to name: the
    /// tunnel's kind stands in, e.g. `vxlan`).
    public var exportFlow: ExportFlow { exportFlow(text: true) }

    /// The record as IPFIX takes it: the text only conn.log writes (state,
    /// history, service, app, tunnel) left empty, so that building it
    /// costs no String, Array or retain per flow.
    public var ipfixExportFlow: ExportFlow { exportFlow(text: false) }

    /// The end reason by case, not by comparing its name (a String per flow).
    var exportEndReason: ExportEndReason {
        switch endReason {
        case .fin: return .fin
        case .rst: return .rst
        case .idle: return .idle
        case .active: return .active
        case .end: return .end
        case .capacity: return .capacity
        }
    }

    @inline(__always)
    func exportFlow(text: Bool) -> ExportFlow {
        func counters(_ d: DirectionCounters) -> ExportCounters {
            ExportCounters(packets: d.packets, wireBytes: d.bytes, ipBytes: d.ipBytes,
                           payloadBytes: d.payloadBytes, tcpFlags: d.tcpFlags.rawValue)
        }
        var icmpT: UInt8? = nil, icmpC: UInt8? = nil
        if let t = icmpType, icmpFromClient {
            icmpT = t; icmpC = icmpCode
        } else if let t = icmpType {
            // The server's message first: the client's counterpart, if the
            // type has one, names the exchange from the client's side.
            let p = CommunityID.icmpPorts(type: t, code: icmpCode, v6: proto == .icmpv6)
            if p.oneWay { icmpT = t; icmpC = icmpCode } else { icmpT = UInt8(truncatingIfNeeded: p.destination); icmpC = 0 }
        }
        return ExportFlow(uid: uid, startNs: startNs, endNs: endNs, proto: proto, ipVersion: ipVersion,
                          clientAddress: clientAddress, clientPort: hasServicePort ? clientPort : 0,
                          serverAddress: serverAddress, serverPort: hasServicePort ? serverPort : 0,
                          vlan: vlan, clientToServer: counters(clientToServer), serverToClient: counters(serverToClient),
                          connState: text ? connState.rawValue : "", history: text ? history : "",
                          service: text ? service : nil, app: text ? zeekService : nil,
                          endReason: exportEndReason,
                          icmpType: icmpT, icmpCode: icmpC, rolesFlipped: rolesFlipped,
                          tunnelParents: text ? tunnel.map { [$0.name] } ?? [] : [])
    }
}
