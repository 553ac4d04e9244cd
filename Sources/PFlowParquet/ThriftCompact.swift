/// Thrift's compact protocol, the encoding of every Parquet metadata
/// structure (PageHeader before each page, FileMetaData in the footer).
/// Only the encoder half, and only what parquet.thrift uses: structs,
/// unions (a struct with one field set), lists, and scalar fields.
///
/// Wire rules (Thrift's compact protocol specification):
/// - a field header is one byte `delta << 4 | type` when the field id is 1
///   to 15 more than the previous field's in the same struct, else the type
///   byte followed by the id as a zigzag varint (i16);
/// - a bool field has no value byte: its type nibble is 1 (true) or 2 (false);
/// - i16, i32 and i64 are zigzag varints; an i8 is one byte; a double is eight
///   bytes little-endian; binary and string are a varint length and the bytes;
/// - a list header is one byte `size << 4 | element type` for fewer than 15
///   elements, else `0xF0 | element type` followed by the size as a varint;
/// - a struct ends with a stop byte 0, and field ids restart within it.
struct ThriftCompactWriter {
    /// The compact protocol's type ids (field header nibbles, list element types).
    enum FieldType: UInt8 {
        case boolTrue = 1, boolFalse = 2, i8 = 3, i16 = 4, i32 = 5, i64 = 6
        case double = 7, binary = 8, list = 9, set = 10, map = 11, structure = 12
    }

    let out: ByteBuffer
    /// The previous field id in the struct being written; the enclosing
    /// structs' in `stack`, inline (a SIMD vector, not an Array) so that
    /// page headers allocate nothing. parquet.thrift nests five deep at most
    /// (SchemaElement, LogicalType, TimestampType, TimeUnit, NanoSeconds).
    private var lastFieldID: Int16 = 0
    private var stack = SIMD16<Int16>()
    /// Structs open inside the top-level one (0 when it is balanced).
    private(set) var depth = 0

    init(into out: ByteBuffer) {
        self.out = out
    }

    private mutating func push() {
        precondition(depth < stack.scalarCount, "Thrift structs nested too deep")
        stack[depth] = lastFieldID
        depth += 1
        lastFieldID = 0
    }

    static func zigzag(_ v: Int32) -> UInt32 { UInt32(bitPattern: (v << 1) ^ (v >> 31)) }
    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    private mutating func fieldHeader(_ type: FieldType, _ id: Int16) {
        let delta = Int(id) - Int(lastFieldID)
        if delta > 0 && delta <= 15 {
            out.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            out.append(type.rawValue)
            out.appendVarint(UInt64(Self.zigzag(Int32(id))))
        }
        lastFieldID = id
    }

    mutating func field(_ id: Int16, bool value: Bool) {
        fieldHeader(value ? .boolTrue : .boolFalse, id)
    }

    mutating func field(_ id: Int16, i8 value: Int8) {
        fieldHeader(.i8, id)
        out.append(UInt8(bitPattern: value))
    }

    mutating func field(_ id: Int16, i16 value: Int16) {
        fieldHeader(.i16, id)
        out.appendVarint(UInt64(Self.zigzag(Int32(value))))
    }

    mutating func field(_ id: Int16, i32 value: Int32) {
        fieldHeader(.i32, id)
        out.appendVarint(UInt64(Self.zigzag(value)))
    }

    mutating func field(_ id: Int16, i64 value: Int64) {
        fieldHeader(.i64, id)
        out.appendVarint(Self.zigzag(value))
    }

    mutating func field(_ id: Int16, double value: Double) {
        fieldHeader(.double, id)
        out.appendLE(value.bitPattern)
    }

    mutating func field(_ id: Int16, binary value: UnsafeRawBufferPointer) {
        fieldHeader(.binary, id)
        element(binary: value)
    }

    mutating func field(_ id: Int16, string value: String) {
        fieldHeader(.binary, id)
        element(string: value)
    }

    /// Opens a struct (or union) field; close it with `endStruct`.
    mutating func beginStruct(_ id: Int16) {
        fieldHeader(.structure, id)
        push()
    }

    /// An empty struct field, as the unit members of LogicalType's and
    /// TimeUnit's unions are (StringType, NanoSeconds, TypeDefinedOrder).
    mutating func emptyStruct(_ id: Int16) {
        beginStruct(id)
        endStruct()
    }

    /// Writes the stop byte of the innermost open struct, or of the
    /// top-level struct when none is open.
    mutating func endStruct() {
        out.append(0)
        if depth > 0 {
            depth -= 1
            lastFieldID = stack[depth]
        } else {
            lastFieldID = 0
        }
    }

    mutating func beginList(_ id: Int16, of element: FieldType, count: Int) {
        fieldHeader(.list, id)
        if count < 15 {
            out.append(UInt8(count) << 4 | element.rawValue)
        } else {
            out.append(0xF0 | element.rawValue)
            out.appendVarint(UInt64(count))
        }
    }

    /// Opens a struct that is a list element (no field header); close it with `endStruct`.
    mutating func beginStructElement() {
        push()
    }

    mutating func element(i32 value: Int32) {
        out.appendVarint(UInt64(Self.zigzag(value)))
    }

    mutating func element(binary value: UnsafeRawBufferPointer) {
        out.appendVarint(UInt64(value.count))
        out.append(value)
    }

    mutating func element(string value: String) {
        var s = value
        s.withUTF8 { element(binary: UnsafeRawBufferPointer($0)) }
    }
}
