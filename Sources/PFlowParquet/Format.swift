/// Numbers and field ids from parquet.thrift (the Apache Parquet format
/// specification), named once. Field ids are written next to each field
/// in the writers below, in the order the structs declare them.
enum Format {
    /// "PAR1": the first and the last four bytes of every Parquet file.
    static let magic: [UInt8] = [0x50, 0x41, 0x52, 0x31]

    /// enum Type
    enum PhysicalType: Int32 {
        case int64 = 2, double = 5, byteArray = 6
    }

    /// enum ConvertedType (kept beside LogicalType for older readers, as the spec asks)
    enum ConvertedType: Int32 {
        case utf8 = 0, uint64 = 14
    }

    /// enum FieldRepetitionType
    enum Repetition: Int32 {
        case optional = 1
    }

    /// enum Encoding
    enum Encoding: Int32 {
        case plain = 0, rle = 3, deltaBinaryPacked = 5, deltaByteArray = 7, rleDictionary = 8
    }

    /// enum CompressionCodec
    enum Codec: Int32 {
        case uncompressed = 0, gzip = 2
    }

    /// enum PageType
    enum PageType: Int32 {
        case dataPage = 0, dictionaryPage = 2
    }

    /// PageHeader (1 type, 2 uncompressed_page_size, 3 compressed_page_size,
    /// 5 data_page_header) with DataPageHeader (1 num_values, 2 encoding,
    /// 3 definition_level_encoding, 4 repetition_level_encoding). The levels
    /// are RLE-encoded; a flat schema has no repetition levels, but the field
    /// is required.
    static func dataPageHeader(
        into out: ByteBuffer, uncompressed: Int, compressed: Int, values: Int, encoding: Encoding
    ) {
        var t = ThriftCompactWriter(into: out)
        t.field(1, i32: PageType.dataPage.rawValue)
        t.field(2, i32: Int32(uncompressed))
        t.field(3, i32: Int32(compressed))
        t.beginStruct(5)
        t.field(1, i32: Int32(values))
        t.field(2, i32: encoding.rawValue)
        t.field(3, i32: Encoding.rle.rawValue)
        t.field(4, i32: Encoding.rle.rawValue)
        t.endStruct()
        t.endStruct()
    }

    /// PageHeader with 7 dictionary_page_header: DictionaryPageHeader
    /// (1 num_values, 2 encoding). The dictionary page's values are PLAIN
    /// (PLAIN_DICTIONARY is the deprecated name for the same bytes).
    static func dictionaryPageHeader(into out: ByteBuffer, uncompressed: Int, compressed: Int, values: Int) {
        var t = ThriftCompactWriter(into: out)
        t.field(1, i32: PageType.dictionaryPage.rawValue)
        t.field(2, i32: Int32(uncompressed))
        t.field(3, i32: Int32(compressed))
        t.beginStruct(7)
        t.field(1, i32: Int32(values))
        t.field(2, i32: Encoding.plain.rawValue)
        t.endStruct()
        t.endStruct()
    }

    /// The leaf SchemaElement of a column: 1 type, 3 repetition_type, 4 name,
    /// 6 converted_type, 10 logicalType. LogicalType is a union: STRING (1,
    /// StringType), TIMESTAMP (8, TimestampType: 1 isAdjustedToUTC, 2 unit, a
    /// TimeUnit union whose NANOS is 3), INTEGER (10, IntType: 1 bitWidth as
    /// i8, 2 isSigned). TIMESTAMP(NANOS) has no ConvertedType.
    static func schemaElement(_ t: inout ThriftCompactWriter, column: ParquetColumn) {
        t.beginStructElement()
        t.field(1, i32: column.type.physical.rawValue)
        t.field(3, i32: Repetition.optional.rawValue)
        t.field(4, string: column.name)
        switch column.type {
        case .int64, .double:
            break
        case .uint64:
            t.field(6, i32: ConvertedType.uint64.rawValue)
            t.beginStruct(10)
            t.beginStruct(10)
            t.field(1, i8: 64)
            t.field(2, bool: false)
            t.endStruct()
            t.endStruct()
        case .string:
            t.field(6, i32: ConvertedType.utf8.rawValue)
            t.beginStruct(10)
            t.emptyStruct(1)
            t.endStruct()
        case .timestampNanos:
            t.beginStruct(10)
            t.beginStruct(8)
            t.field(1, bool: true)
            t.beginStruct(2)
            t.emptyStruct(3)
            t.endStruct()
            t.endStruct()
            t.endStruct()
        }
        t.endStruct()
    }

    /// FileMetaData: 1 version, 2 schema (the root SchemaElement, 4 name and
    /// 5 num_children, then one leaf per column), 3 num_rows, 4 row_groups
    /// (already encoded, `rowGroupCount` RowGroup structs), 6 created_by,
    /// 7 column_orders. Without column_orders the min_value/max_value of the
    /// statistics are undefined, so every column gets TYPE_ORDER (ColumnOrder
    /// union field 1, an empty TypeDefinedOrder).
    static func fileMetaData(
        into out: ByteBuffer, columns: [ParquetColumn], rows: Int64,
        rowGroups: ByteBuffer, rowGroupCount: Int, createdBy: String
    ) {
        var t = ThriftCompactWriter(into: out)
        // The spec asks writers for 1: readers take 1 and 2 alike.
        t.field(1, i32: 1)
        t.beginList(2, of: .structure, count: columns.count + 1)
        t.beginStructElement()
        t.field(4, string: "schema")
        t.field(5, i32: Int32(columns.count))
        t.endStruct()
        for c in columns { schemaElement(&t, column: c) }
        t.field(3, i64: rows)
        t.beginList(4, of: .structure, count: rowGroupCount)
        out.append(rowGroups)
        t.field(6, string: createdBy)
        t.beginList(7, of: .structure, count: columns.count)
        for _ in columns {
            t.beginStructElement()
            t.emptyStruct(1)
            t.endStruct()
        }
        t.endStruct()
    }
}

extension ParquetType {
    var physical: Format.PhysicalType {
        switch self {
        case .int64, .uint64, .timestampNanos: return .int64
        case .double: return .double
        case .string: return .byteArray
        }
    }
}
