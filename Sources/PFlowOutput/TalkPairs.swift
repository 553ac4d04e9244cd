import PFlowCore
import PFlowEngine
import PFlowFlows

/// Who talks to whom, for `--html` only: flows and bytes per (client,
/// server) address pair. The services' top lists say which clients used a
/// service and which servers answered it, not which client reached which
/// server; this table does. It is an observer (one dictionary probe per
/// ended flow, nothing per packet) attached only when a page is asked for,
/// so the table and JSON reports pay nothing for it.
///
/// Bounded: the first `limit` pairs are kept exactly; flows of later pairs
/// are summed in `untracked` (a capture of millions of hosts can't grow it),
/// and the page says how much that is.
public final class TalkPairs: FlowObserver {
    public struct Pair: Sendable {
        public var client: IPAddress
        public var server: IPAddress
        public var flows: UInt64 = 0
        public var bytes: UInt64 = 0
        /// The first `slots` services the pair used (`serviceKey`) and their
        /// bytes, inline (no allocation per pair); `moreServicesFlows`
        /// counts the flows of further ones.
        var keys = SIMD4<UInt32>()
        var keyBytes = SIMD4<UInt64>()
        var used = 0
        public var moreServicesFlows: UInt64 = 0
        /// The services with their bytes, in the order first seen.
        public var services: [(key: UInt32, bytes: UInt64)] { (0..<used).map { (keys[$0], keyBytes[$0]) } }

        mutating func add(service: UInt32, bytes: UInt64) {
            for k in 0..<used where keys[k] == service { keyBytes[k] &+= bytes; return }
            if used < TalkPairs.slots {
                keys[used] = service; keyBytes[used] = bytes; used += 1
            } else {
                moreServicesFlows &+= 1
            }
        }
    }
    /// Services remembered per pair (a scanner's pair would list every port).
    public static let slots = 4

    /// The key of a service in `Pair.services`.
    public static func serviceKey(_ proto: IPProtocol, _ port: UInt16?) -> UInt32 {
        UInt32(proto.rawValue) << 16 | UInt32(proto.hasPorts ? port ?? 0 : 0)
    }

    struct Key: Hashable {
        var client: IPAddress
        var server: IPAddress
    }

    /// Pairs kept exactly: about 170 bytes each with their index (11 MB).
    public static let defaultLimit = 65_536
    public let limit: Int
    // Touched by the observers' thread while the capture is read, by the
    // report after it (handed over with the analyzer's acquire/release).
    @exclusivity(unchecked) var index: [Key: Int] = [:]
    @exclusivity(unchecked) public private(set) var pairs: [Pair] = []
    /// Flows and bytes of pairs past the limit.
    @exclusivity(unchecked) public private(set) var untrackedFlows: UInt64 = 0
    @exclusivity(unchecked) public private(set) var untrackedBytes: UInt64 = 0

    public init(limit: Int = TalkPairs.defaultLimit) { self.limit = max(0, limit) }

    public func observe(_ f: FlowRecord) {
        let bytes = f.clientToServer.bytes &+ f.serverToClient.bytes
        let service = Self.serviceKey(f.proto, f.serverPort)
        let key = Key(client: f.clientAddress, server: f.serverAddress)
        if let i = index[key] {
            pairs[i].flows &+= 1
            pairs[i].bytes &+= bytes
            pairs[i].add(service: service, bytes: bytes)
        } else if pairs.count < limit {
            index[key] = pairs.count
            var p = Pair(client: key.client, server: key.server, flows: 1, bytes: bytes)
            p.add(service: service, bytes: bytes)
            pairs.append(p)
        } else {
            untrackedFlows &+= 1
            untrackedBytes &+= bytes
        }
    }
}
