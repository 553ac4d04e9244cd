/// Writes rows to a Parquet file, one value per column per row, streaming:
/// a row group is written whenever `rowGroupRows` rows are buffered, so
/// memory is bounded by one row group whatever the file's length.
///
/// ```
/// let w = try ParquetWriter(path: "flows.parquet", columns: [
///     ParquetColumn("start", .timestampNanos), ParquetColumn("proto", .string, dictionary: true),
///     ParquetColumn("c2s_bytes", .uint64)])
/// w.append(startNs, column: 0); w.append("tcp", column: 1); w.append(UInt64(1234), column: 2)
/// try w.endRow()
/// try w.close()
/// ```
///
/// The `append` calls don't throw, so a row is a run of cheap calls: a
/// value of the wrong type, a column given twice or left out is reported by
/// `endRow`, and is a bug in the caller, not a data problem. Every error
/// (those and the file's) removes the temporary file and sticks: every later
/// call reports it again. The file appears at `path`, by rename, only when
/// `close` has written its footer; `abandon`, or dropping the writer
/// without `close`, leaves nothing behind.
///
/// In steady state no append allocates: values go into per-column buffers
/// that keep their capacity from one row group to the next.
public final class ParquetWriter {
    public let path: String
    public let columns: [ParquetColumn]
    public let compression: ParquetCompression
    public let rowGroupRows: Int

    /// Bounds of a row group's dictionary per column, past which that
    /// column's chunk goes on in PLAIN.
    public static let dictionaryMaxEntries = 1 << 16
    public static let dictionaryMaxBytes = 1 << 20
    /// A row group is also written once its string bytes reach this, so
    /// long strings can't make one row group hold gigabytes.
    static let rowGroupStringBytes = 128 << 20
    /// No single value may be this long: pages' sizes are i32 in PageHeader.
    public static let maxValueBytes = 256 << 20

    private let file: OutputFile
    @usableFromInline let encoder: PageEncoder
    private let writers: [ColumnWriter]
    /// The same writers, unretained: the per-value path borrows them
    /// (`writers` keeps them alive), so a value costs no retain/release
    /// pair (callgrind: ~2,900 instructions a 41-column row). A pointer,
    /// not an Array: `slot` has checked the index already.
    @usableFromInline let borrowed: UnsafeMutablePointer<Unmanaged<ColumnWriter>>
    @usableFromInline let columnCount: Int
    /// Tables of up to 64 columns check a row by a bit a column
    /// (`rowColumns`) and the count; wider ones by every column's count.
    private let narrow: Bool
    private let allColumns: UInt64
    private let createdBy: String
    /// The RowGroup structs written so far, already Thrift-encoded: the
    /// footer's `row_groups` list is their concatenation.
    private let rowGroups = ByteBuffer(capacity: 1024)
    private var rowGroupCount = 0
    private var rowsInGroup = 0
    @usableFromInline @exclusivity(unchecked) var stringBytesInGroup = 0
    /// Rows ended so far; also the number of the row being filled.
    public private(set) var rowCount: Int64 = 0
    /// Values given in the row being filled.
    @usableFromInline @exclusivity(unchecked) var valuesInRow = 0
    /// Bit `c` set: column `c` was given a value in the row (narrow tables).
    /// With the count, this tells a whole row from one with a column twice
    /// or left out, at a shift and an or a cell; the per-column last-row
    /// check it replaced loaded and stored each column's writer (~8
    /// instructions a cell). Which column was wrong is found at `endRow`.
    @usableFromInline @exclusivity(unchecked) var rowColumns: UInt64 = 0
    private var failure: ParquetError?
    private var closed = false
    private var abandoned = false
    /// failure or closed: the one flag the per-value path checks.
    @usableFromInline @exclusivity(unchecked) var stopped = false

    /// Creates `.<name>.tmp-<pid>` beside `path` and writes the leading `PAR1`.
    /// `compressionLevel` is zlib's (1 fastest, 9 smallest) for `.gzip`.
    public init(path: String, columns: [ParquetColumn], compression: ParquetCompression = .gzip,
                rowGroupRows: Int = 65_536, compressionLevel: Int = 6,
                createdBy: String = "pflow") throws(ParquetError) {
        guard !columns.isEmpty else { throw .usage(path: path, reason: "a Parquet file needs at least one column") }
        guard rowGroupRows >= 1 else { throw .usage(path: path, reason: "rowGroupRows must be at least 1") }
        var names = Set<String>()
        for c in columns {
            guard !c.name.isEmpty else { throw .usage(path: path, reason: "a column has an empty name") }
            guard names.insert(c.name).inserted else {
                throw .usage(path: path, reason: "column name '\(c.name)' is used twice")
            }
        }
        guard (0...9).contains(compressionLevel) else {
            throw .usage(path: path, reason: "compression level \(compressionLevel) is not 0-9")
        }
        self.path = path
        self.columns = columns
        self.compression = compression
        self.rowGroupRows = rowGroupRows
        self.createdBy = createdBy
        switch compression {
        case .none:
            encoder = PageEncoder(codec: .uncompressed, gzip: nil)
        case .gzip:
            guard let gzip = GzipCompressor(level: Int32(compressionLevel)) else {
                throw .compression(path: path, reason: "zlib could not start")
            }
            encoder = PageEncoder(codec: .gzip, gzip: gzip)
        }
        // Seeded per writer: a capture can't choose strings that collide in every run.
        let seed = UInt64.random(in: .min ... .max)
        writers = columns.map {
            ColumnWriter($0, dictionarySeed: seed, dictionaryMaxEntries: Self.dictionaryMaxEntries,
                         dictionaryMaxBytes: Self.dictionaryMaxBytes)
        }
        columnCount = columns.count
        narrow = columns.count <= 64
        allColumns = columns.count >= 64 ? ~0 : (1 << UInt64(columns.count)) - 1
        borrowed = .allocate(capacity: columns.count)
        borrowed.initialize(from: writers.map { Unmanaged.passUnretained($0) }, count: columns.count)
        file = try OutputFile(path: path)
        let magic = ByteBuffer(capacity: 16)
        magic.append(Format.magic)
        do throws(ParquetError) {
            try file.write(magic)
        } catch {
            file.discard()
            throw error
        }
    }

    deinit {
        borrowed.deallocate()
        // Not closed: remove the temporary (OutputFile's deinit would too; this says so here).
        if !closed { file.discard() }
    }

    // MARK: Values

    // The numeric, word and null appends are inlinable (with what they touch
    // in ColumnWriter and ByteBuffer), so a row written cell by cell from
    // another module costs no call a cell: as calls they were ~115
    // instructions a cell, 41 a row (callgrind, 1M capture, --parquet).
    // Their stored properties are exempt from the caller's dynamic
    // exclusivity checks, as this module is built without them.

    /// The column's writer if a value may go to it now; else records why not.
    @inlinable @inline(__always)
    func slot(_ column: Int) -> Unmanaged<ColumnWriter>? {
        guard !stopped && UInt(bitPattern: column) < UInt(bitPattern: columnCount) else {
            refuse(column)
            return nil
        }
        valuesInRow &+= 1
        rowColumns |= 1 &<< UInt64(truncatingIfNeeded: column & 63)
        return borrowed[column]
    }

    @usableFromInline @inline(never)
    func refuse(_ column: Int) {
        if stopped {
            if failure == nil { fail(.usage(path: path, reason: "value appended after close() or abandon()")) }
        } else {
            fail(.usage(path: path, reason: "row \(rowCount): no column \(column) (the file has \(writers.count))"))
        }
    }

    @usableFromInline @inline(never)
    func wrongType(_ w: ColumnWriter, _ given: String) {
        fail(.usage(path: path, reason: "row \(rowCount): column '\(w.column.name)' is \(w.type), given \(given)"))
    }

    /// An int64 or timestampNanos value, or a uint64 one as its bit pattern.
    @inlinable @inline(__always)
    public func append(_ value: Int64, column: Int) {
        guard let u = slot(column) else { return }
        u._withUnsafeGuaranteedRef { w in
            switch w.type {
            case .int64, .timestampNanos, .uint64: w.append(int: UInt64(bitPattern: value), encoder)
            case .double, .string: wrongType(w, "an integer")
            }
        }
    }

    /// An Int, as for Int64 (so that integer literals and counts need no conversion).
    @inlinable @inline(__always)
    public func append(_ value: Int, column: Int) {
        append(Int64(value), column: column)
    }

    /// A uint64 value.
    @inlinable @inline(__always)
    public func append(_ value: UInt64, column: Int) {
        guard let u = slot(column) else { return }
        u._withUnsafeGuaranteedRef { w in
            if w.type == .uint64 { w.append(int: value, encoder) } else { wrongType(w, "an unsigned integer") }
        }
    }

    @inlinable @inline(__always)
    public func append(_ value: Double, column: Int) {
        guard let u = slot(column) else { return }
        u._withUnsafeGuaranteedRef { w in
            if w.type == .double { w.append(double: value, encoder) } else { wrongType(w, "a double") }
        }
    }

    /// A string column's value as UTF-8 bytes, copied before this returns.
    /// Bytes that are not well-formed UTF-8 are stored with each bad
    /// sequence replaced by U+FFFD, as Swift's `String(decoding:as:)` does.
    @inline(__always)
    public func append(_ bytes: UnsafeRawBufferPointer, column: Int) {
        guard let u = slot(column) else { return }
        u._withUnsafeGuaranteedRef { w in appendString(bytes, w) }
    }

    @inline(__always)
    private func appendString(_ bytes: UnsafeRawBufferPointer, _ w: ColumnWriter, checked: Bool = false) {
        guard w.type == .string else { return wrongType(w, "a string") }
        guard bytes.count <= Self.maxValueBytes else {
            return fail(.usage(path: path, reason: "row \(rowCount): column '\(w.column.name)' value of \(bytes.count) bytes is too long"))
        }
        stringBytesInGroup += bytes.count
        if checked || UTF8Check.isValid(bytes) {
            w.append(string: bytes, encoder)
        } else {
            var repaired = String(decoding: bytes, as: UTF8.self)
            repaired.withUTF8 { w.append(string: UnsafeRawBufferPointer($0), encoder) }
        }
    }

    /// A string column's value as bytes the caller vouches are well-formed
    /// UTF-8 (text it wrote itself: numbers, addresses, fixed words), so
    /// they are not checked again (~25 instructions a value). Bytes from
    /// outside (a capture, a file) go through `append(_:column:)`, which checks.
    @inline(__always)
    public func append(validUTF8 bytes: UnsafeRawBufferPointer, column: Int) {
        assert(UTF8Check.isValid(bytes), "append(validUTF8:) given bytes that are not UTF-8")
        guard let u = slot(column) else { return }
        u._withUnsafeGuaranteedRef { w in appendString(bytes, w, checked: true) }
    }

    /// A fixed word: its bytes are found in the chunk's dictionary by their
    /// address after the first time, without hashing them (the enum columns'
    /// words cost a load and a compare a row).
    @inlinable @inline(__always)
    public func append(word: StaticString, column: Int) {
        guard word.hasPointerRepresentation else { return append(word.description, column: column) }
        guard let u = slot(column) else { return }
        u._withUnsafeGuaranteedRef { w in
            guard w.type == .string else { return wrongType(w, "a string") }
            stringBytesInGroup += word.utf8CodeUnitCount
            w.append(word: UnsafeRawPointer(word.utf8Start), count: word.utf8CodeUnitCount, encoder)
        }
    }

    /// A string value that is a function of `key` alone (the caller's
    /// promise: equal keys, equal text; an address and its text, say).
    /// `text` returns it as well-formed UTF-8 (valid until the next append),
    /// and is called only when the column's chunk hasn't seen the key: a
    /// repeated key costs neither the text nor a hash of it.
    @inline(__always)
    public func append(key: (UInt64, UInt64), column: Int, text: () -> UnsafeRawBufferPointer) {
        guard let u = slot(column) else { return }
        u._withUnsafeGuaranteedRef { w in
            guard w.type == .string else { return wrongType(w, "a string") }
            w.append(key: key, encoder) {
                let bytes = text()
                assert(UTF8Check.isValid(bytes), "append(key:) given text that is not UTF-8")
                stringBytesInGroup += bytes.count
                return bytes
            }
        }
    }

    @inline(__always)
    public func append(_ value: String, column: Int) {
        // A String's UTF-8 is well-formed by construction (String(decoding:)
        // repairs what isn't), so it is not checked again. Native Strings are
        // contiguous UTF-8 (small ones are copied to the stack): no allocation.
        if value.utf8.withContiguousStorageIfAvailable({ append(validUTF8: UnsafeRawBufferPointer($0), column: column) }) == nil {
            var copy = value
            copy.withUTF8 { append(validUTF8: UnsafeRawBufferPointer($0), column: column) }
        }
    }

    /// Optional values, for callers that hold them as such: nil is a null.
    @inlinable @inline(__always)
    public func append(_ value: Int64?, column: Int) {
        if let value { append(value, column: column) } else { appendNull(column: column) }
    }

    @inlinable @inline(__always)
    public func append(_ value: UInt64?, column: Int) {
        if let value { append(value, column: column) } else { appendNull(column: column) }
    }

    @inlinable @inline(__always)
    public func append(_ value: Double?, column: Int) {
        if let value { append(value, column: column) } else { appendNull(column: column) }
    }

    @inline(__always)
    public func append(_ value: String?, column: Int) {
        if let value { append(value, column: column) } else { appendNull(column: column) }
    }

    @inlinable @inline(__always)
    public func appendNull(column: Int) {
        guard let u = slot(column) else { return }
        u._withUnsafeGuaranteedRef { $0.appendNull(encoder) }
    }

    // MARK: Rows, row groups, the footer

    /// Ends the row: every column must have had exactly one value (or null).
    /// Writes a row group when `rowGroupRows` rows are buffered.
    public func endRow() throws(ParquetError) {
        if (valuesInRow != columnCount || (narrow ? rowColumns != allColumns : !everyColumnOnce()))
            && failure == nil && !closed {
            misfilledRow()
        }
        try check()
        if encoder.failed { fail(.compression(path: path, reason: "zlib failed on a page")) }
        try check()
        valuesInRow = 0
        rowColumns = 0
        rowCount += 1
        rowsInGroup += 1
        if rowsInGroup >= rowGroupRows || stringBytesInGroup >= Self.rowGroupStringBytes {
            try writeRowGroup()
        }
    }

    /// Wide tables: every column has exactly one value more than the rows
    /// ended in this row group.
    private func everyColumnOnce() -> Bool {
        for j in 0..<columnCount where borrowed[j]._withUnsafeGuaranteedRef({ $0.valuesInGroup }) != rowsInGroup + 1 {
            return false
        }
        return true
    }

    /// Says which column the row got wrong: one given two values, else one given none.
    private func misfilledRow() {
        let given = writers.map { $0.valuesInGroup - rowsInGroup }
        if let twice = given.firstIndex(where: { $0 > 1 }) {
            fail(.usage(path: path, reason: "row \(rowCount): column '\(writers[twice].column.name)' given two values"))
        } else {
            let missing = given.firstIndex { $0 < 1 }.map { writers[$0].column.name } ?? "?"
            fail(.usage(path: path, reason: "row \(rowCount): column '\(missing)' has no value"))
        }
    }

    /// Writes the last row group, the footer (FileMetaData, its 4-byte
    /// little-endian length, `PAR1`), and renames the file onto `path`.
    /// Calling it again after it succeeded does nothing.
    public func close() throws(ParquetError) {
        if closed && failure == nil && !abandoned { return }
        try check()
        if valuesInRow != 0 {
            fail(.usage(path: path, reason: "close() in the middle of row \(rowCount)"))
            try check()
        }
        if rowsInGroup > 0 { try writeRowGroup() }
        let footer = ByteBuffer(capacity: 4096 + rowGroups.count)
        Format.fileMetaData(into: footer, columns: columns, rows: rowCount, rowGroups: rowGroups,
                            rowGroupCount: rowGroupCount, createdBy: createdBy)
        guard footer.count <= Int(UInt32.max) else {
            fail(.usage(path: path, reason: "the footer is too large"))
            try check()
            return
        }
        footer.appendLE(UInt32(footer.count))
        footer.append(Format.magic)
        do throws(ParquetError) {
            try file.write(footer)
            try file.finish()
        } catch {
            fail(error)
        }
        try check()
        closed = true
        stopped = true
    }

    /// Drops everything: the temporary file is removed and `path` untouched.
    public func abandon() {
        file.discard()
        if !closed { abandoned = true }
        closed = true
        stopped = true
    }

    /// Bytes written to the file so far (row groups written; the current one is buffered).
    public var bytesWritten: Int64 { file.offset }

    private func fail(_ error: ParquetError) {
        if failure == nil { failure = error }
        stopped = true
        file.discard()
    }

    private func check() throws(ParquetError) {
        if let failure { throw failure }
        if abandoned { throw .usage(path: path, reason: "the writer was abandoned") }
        if closed { throw .usage(path: path, reason: "the writer is closed") }
    }

    /// RowGroup: 1 columns (a ColumnChunk per column, in schema order),
    /// 2 total_byte_size, 3 num_rows, 5 file_offset, 6 total_compressed_size,
    /// 7 ordinal (i16, so left out past 32767 row groups).
    private func writeRowGroup() throws(ParquetError) {
        let start = file.offset
        var t = ThriftCompactWriter(into: rowGroups)
        t.beginList(1, of: .structure, count: writers.count)
        var uncompressed = 0
        var compressed = 0
        do throws(ParquetError) {
            // By index: an unoptimized build's Array iterator allocates per element.
            for j in writers.indices {
                let sizes = try writers[j].writeChunk(encoder, to: file, metadata: &t)
                uncompressed += sizes.uncompressed
                compressed += sizes.compressed
            }
        } catch {
            fail(error)
            try check()
        }
        if encoder.failed {
            fail(.compression(path: path, reason: "zlib failed on a page"))
            try check()
        }
        t.field(2, i64: Int64(uncompressed))
        t.field(3, i64: Int64(rowsInGroup))
        t.field(5, i64: start)
        t.field(6, i64: Int64(compressed))
        if rowGroupCount <= Int(Int16.max) { t.field(7, i16: Int16(rowGroupCount)) }
        t.endStruct()
        rowGroupCount += 1
        rowsInGroup = 0
        stringBytesInGroup = 0
    }
}
