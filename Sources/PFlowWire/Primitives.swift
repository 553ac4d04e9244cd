/// Big-endian unaligned loads. Every caller has checked `offset + size <= p.count`.
import PFlowCore

@inline(__always)
func be16(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
    UInt16(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

@inline(__always)
func be32(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
    UInt32(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

@inline(__always)
func be64(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
    UInt64(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}
