import PFlowCore

extension Endpoint: FastHashable {
    @inlinable @inline(__always)
    public var fastHash: UInt64 {
        mixBits((address.high &* 0x9E37_79B9_7F4A_7C15) ^ address.low
                ^ (UInt64(port) << 8 | UInt64(proto.rawValue)) &* 0xC2B2_AE3D_27D4_EB4F)
    }
}
