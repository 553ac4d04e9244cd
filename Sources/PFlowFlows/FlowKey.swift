import PFlowCore
import PFlowWire

/// A bidirectional flow's name: protocol, both endpoints in canonical order
/// (lower address:port first), and the outermost VLAN. A packet travels
/// "forward" when it goes from endpoint A to endpoint B.
public struct FlowKey: Hashable, Sendable, FastHashable {
    public var addressA: IPAddress
    public var addressB: IPAddress
    public var portA: UInt16
    public var portB: UInt16
    /// VLAN id, or `FlowKey.noVLAN`.
    public var vlan: UInt16
    // Last, so the key is 39 bytes and a flow's next byte fills its tail.
    public var proto: IPProtocol

    public static let noVLAN: UInt16 = 0xFFFF

    @inlinable
    public init(addressA: IPAddress, addressB: IPAddress, portA: UInt16, portB: UInt16, proto: IPProtocol, vlan: UInt16) {
        self.addressA = addressA
        self.addressB = addressB
        self.portA = portA
        self.portB = portB
        self.proto = proto
        self.vlan = vlan
    }

    /// The key from a packet's endpoints as sent (source first), and whether
    /// the packet travels from A to B; `isICMPReply` settles a flow whose
    /// two ends are the same socket.
    @inlinable @inline(__always)
    public static func canonical(_ sent: FlowKey, isICMPReply: Bool) -> (key: FlowKey, forward: Bool) {
        let sourceFirst = sent.addressA < sent.addressB
            || (sent.addressA == sent.addressB && sent.portA <= sent.portB)
        var key = sent
        if !sourceFirst {
            key.addressA = sent.addressB; key.portA = sent.portB
            key.addressB = sent.addressA; key.portB = sent.portA
        }
        let forward = sent.addressA == sent.addressB && sent.portA == sent.portB ? !isICMPReply : sourceFirst
        return (key, forward)
    }

    /// The key of `p`'s endpoints as sent (source first), before it is made
    /// canonical: the one place a packet's key is built.
    @inlinable @inline(__always)
    public init(sentBy p: DecodedPacket) {
        self.init(addressA: p.source, addressB: p.destination, portA: p.sourcePort, portB: p.destinationPort,
                  proto: p.proto, vlan: p.vlan ?? FlowKey.noVLAN)
    }

    // A direction-free hash over the fixed-size fields, cheaper than hashing
    // each field through Hasher separately.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(addressA.high ^ addressA.low &* 0x9E37_79B9_7F4A_7C15)
        hasher.combine(addressB.high ^ addressB.low &* 0xC2B2_AE3D_27D4_EB4F)
        hasher.combine(UInt64(portA) << 40 | UInt64(portB) << 24 | UInt64(proto.rawValue) << 16 | UInt64(vlan))
    }

    /// The key's hash under the run's seed (the key is canonical, so both
    /// directions of a flow hash alike).
    @inlinable @inline(__always)
    public func fastHash(_ seed: HashSeed) -> UInt64 {
        seed.hash(addressA.high, addressA.low, addressB.high, addressB.low,
                  UInt64(portA) << 40 | UInt64(portB) << 24 | UInt64(proto.rawValue) << 16 | UInt64(vlan))
    }
}
