import PFlowCore

extension Endpoint: FastHashable {
    @inlinable @inline(__always)
    public func fastHash(_ seed: HashSeed) -> UInt64 {
        seed.hash(address.high, address.low, UInt64(port) << 8 | UInt64(proto.rawValue))
    }
}
