/// What every column's pages share: the codec, and scratch buffers for a
/// page's body, its compressed form and its header (one page is encoded at
/// a time, so one set serves all columns).
@usableFromInline
final class PageEncoder {
    let codec: Format.Codec
    private let gzip: GzipCompressor?
    let body = ByteBuffer(capacity: 1 << 16)
    /// A page's definition levels as bytes, when it mixes values and nulls.
    let levels = ByteBuffer(capacity: 4096)
    private let compressed = ByteBuffer(capacity: 1 << 16)
    private let header = ByteBuffer(capacity: 64)
    /// Set when zlib fails; the writer checks it after each row.
    private(set) var failed = false

    init(codec: Format.Codec, gzip: GzipCompressor?) {
        self.codec = codec
        self.gzip = gzip
    }

    /// Appends `content` as one page to `out`: its PageHeader (a data page
    /// with `encoding`, or the dictionary page when `encoding` is nil), then
    /// the bytes, compressed with the codec. Returns the page's uncompressed
    /// and compressed sizes, headers included, as ColumnMetaData counts them.
    /// `stored`: left uncompressed whatever the codec (the column chunk
    /// then says UNCOMPRESSED).
    func emit(_ content: ByteBuffer, values: Int, encoding: Format.Encoding?, stored keep: Bool = false,
              into out: ByteBuffer) -> (uncompressed: Int, compressed: Int) {
        var stored = content
        if codec == .gzip, !keep, let gzip {
            if !gzip.compress(content.bytes, into: compressed) {
                failed = true
                return (0, 0)
            }
            stored = compressed
        }
        header.removeAll()
        if let encoding {
            Format.dataPageHeader(into: header, uncompressed: content.count, compressed: stored.count,
                                  values: values, encoding: encoding)
        } else {
            Format.dictionaryPageHeader(into: header, uncompressed: content.count, compressed: stored.count,
                                        values: values)
        }
        out.append(header)
        out.append(stored)
        return (header.count + content.count, header.count + stored.count)
    }
}

/// One column's values: the page being filled (definition levels and
/// PLAIN values, or dictionary ids), the row group's finished pages, its
/// dictionary and its statistics. Everything is cleared, not freed, when a
/// row group is written.
///
/// The per-value path (`append(int:)`, `append(double:)`, `append(word:)`
/// and what they touch) is inlinable, so that ParquetWriter's appends inline
/// into their caller's module with it: across the module boundary each cell
/// was a call or two (~115 instructions a cell, callgrind, 1M capture).
/// Its stored properties are exempt from dynamic exclusivity checks, which
/// that module keeps (this one is built without them).
@usableFromInline
final class ColumnWriter {
    let column: ParquetColumn
    @usableFromInline let type: ParquetType

    /// A page is cut when its levels and values pass this many bytes: 64 KiB,
    /// not Parquet's customary 1 MiB. At 1 MiB an INT64 column's page held
    /// 116,000 rows, more than a row group, so every page of a row group was
    /// encoded at once when it filled (210M instructions on the 1M capture,
    /// while the other thread waited for the one doing it); at 64 KiB
    /// (about 8,000 rows) pages are encoded as they fill, while their values
    /// are still in cache, and a row group's end only writes them out. The
    /// file grew 0.1% (8,413,551 to 8,425,065 bytes on the 1M capture).
    @inlinable static var pageBytes: Int { 1 << 16 }

    // The page being filled.
    /// Rows (values and nulls) in the page: its definition levels are not
    /// kept one per row but made at the page's end from `nullRows`, so a
    /// value costs no level byte (a level append, its room check and its
    /// count were ~10 instructions a cell, and most columns have no nulls).
    @usableFromInline @exclusivity(unchecked) var pageRows = 0
    /// The page's rows that are null (UInt32 each, in order).
    private let nullRows = ByteBuffer(capacity: 256)
    @usableFromInline let values = ByteBuffer(capacity: 4096)
    /// Nulls in the page being filled: a page of no nulls (or only nulls)
    /// has its levels written as one RLE run without reading them (the
    /// hybrid encoder's scan cost ~15 instructions a row per column).
    private var pageNulls = 0
    /// Dictionary ids, 4 bytes each in native order: a ByteBuffer rather
    /// than an Array, whose append checks uniqueness (a runtime call, ~20
    /// instructions a value).
    @usableFromInline let ids = ByteBuffer(capacity: 4096)

    // The row group's column chunk so far.
    private let chunk = ByteBuffer(capacity: 4096)
    private var chunkValues = 0
    private var chunkUncompressed = 0
    private var chunkCompressed = 0
    private var dictionaryDataPages = 0
    private var plainDataPages = 0
    private var deltaDataPages = 0
    private var prefixDataPages = 0
    /// INT64 columns (timestamps, counters) write their pages
    /// DELTA_BINARY_PACKED: a fifth of PLAIN's bytes, so deflate has a fifth
    /// of the work (DeltaEncoder says why).
    private let deltaEncoded: Bool
    /// `sharedPrefixes` strings: DELTA_BYTE_ARRAY pages, built at the page's
    /// end from its PLAIN values through these (kept from page to page).
    private let prefixEncoded: Bool
    private var prefixScratch: (lengths: ByteBuffer, suffixLengths: ByteBuffer, suffixes: ByteBuffer)?
    /// Its pages are left uncompressed whatever the codec (INT64 and
    /// `noRepeats` columns); its chunks then say UNCOMPRESSED.
    private let stored: Bool
    private let dictionaryPage = ByteBuffer(capacity: 256)
    private let dictionary: StringDictionary?
    /// The same dictionary, unretained for the per-value path (`dictionary`
    /// keeps it alive): a retain/release pair per value was ~40
    /// instructions (callgrind, 152k string values).
    private let borrowedDictionary: Unmanaged<StringDictionary>?
    /// Dictionary ids of fixed words (`append(word:)`) by the word's address
    /// and length, direct-mapped: a word seen before in this chunk costs a
    /// load and a compare, no hash of its bytes. Valid for one chunk's
    /// dictionary; cleared with it.
    @usableFromInline let wordKeys: UnsafeMutablePointer<UInt>
    @usableFromInline let wordIDs: UnsafeMutablePointer<UInt32>
    static let wordSlots = 64
    /// Dictionary ids of keyed values (`append(key:)`: text that is a
    /// function of a 128-bit key, an address), direct-mapped, made on the
    /// column's first keyed value. A hit skips making the text and hashing
    /// it; a collision only costs the miss (any input's cost stays bounded).
    private var keyCache: UnsafeMutablePointer<KeySlot>?
    static let keySlots = 4096
    struct KeySlot {
        var key: (UInt64, UInt64)
        /// The dictionary id + 1; 0 for an empty slot.
        var id: UInt32
    }
    /// Values still go to the dictionary (false once this chunk fell back to PLAIN).
    @usableFromInline @exclusivity(unchecked) var usingDictionary: Bool
    private let dictionaryMaxEntries: Int
    private let dictionaryMaxBytes: Int
    let statistics: ColumnStatistics

    init(_ column: ParquetColumn, dictionarySeed: UInt64, dictionaryMaxEntries: Int, dictionaryMaxBytes: Int) {
        self.column = column
        type = column.type
        let dictionaryEncoded = column.dictionary && column.type == .string
        dictionary = dictionaryEncoded ? StringDictionary(seed: dictionarySeed) : nil
        borrowedDictionary = dictionary.map { Unmanaged.passUnretained($0) }
        wordKeys = .allocate(capacity: Self.wordSlots)
        wordKeys.initialize(repeating: 0, count: Self.wordSlots)
        wordIDs = .allocate(capacity: Self.wordSlots)
        wordIDs.initialize(repeating: 0, count: Self.wordSlots)
        usingDictionary = dictionaryEncoded
        self.dictionaryMaxEntries = dictionaryMaxEntries
        self.dictionaryMaxBytes = dictionaryMaxBytes
        statistics = ColumnStatistics(type: column.type)
        deltaEncoded = column.type.physical == .int64
        // Measured on the 100k-packet capture (12,268 rows, callgrind): deflate
        // level 1 on the bit-packed deltas costs ~4,000 instructions a row
        // for 4% of the file, and on the hashes of `noRepeats` columns
        // (community_id) ~4,200 for 13% (Huffman-only: a third of the time,
        // most of the gain). The speed matters more here: both are stored.
        prefixEncoded = column.sharedPrefixes && column.type == .string && !dictionaryEncoded
        if prefixEncoded {
            prefixScratch = (ByteBuffer(capacity: 4096), ByteBuffer(capacity: 4096), ByteBuffer(capacity: 4096))
        }
        stored = deltaEncoded || column.noRepeats || prefixEncoded
    }

    deinit {
        wordKeys.deallocate()
        wordIDs.deallocate()
        keyCache?.deallocate()
    }

    /// Values given in the row group so far (the writer's check of a row).
    var valuesInGroup: Int { chunkValues + pageRows }

    /// A page is cut once its levels (a byte a row, as they were once kept)
    /// and values pass `pageBytes`: the same cut as when the levels were bytes.
    /// `pageRows + values.count + ids.count`, kept as one sum: the check
    /// after each value then reads one field, not three buffers' counts
    /// (~4 instructions a cell).
    @usableFromInline @exclusivity(unchecked) var pageFill = 0

    @inlinable @inline(__always)
    func endValue(_ encoder: PageEncoder, adding bytes: Int) {
        pageFill &+= bytes
        assert(pageFill == pageRows + values.count + ids.count, "pageFill out of step")
        if pageFill >= Self.pageBytes { flushPage(encoder) }
    }

    @usableFromInline
    func appendNull(_ encoder: PageEncoder) {
        nullRows.append(native: UInt32(truncatingIfNeeded: pageRows))
        pageRows += 1
        pageNulls += 1
        statistics.addNull()
        endValue(encoder, adding: 1)
    }

    /// INT64, TIMESTAMP and INTEGER(64, false): the PLAIN bytes. The
    /// statistics (signed or unsigned order, by the column's type) are taken
    /// from the page's values when it ends, not per value.
    @inlinable @inline(__always)
    func append(int v: UInt64, _ encoder: PageEncoder) {
        values.appendLE(v)
        pageRows &+= 1
        endValue(encoder, adding: 9)
    }

    @inlinable @inline(__always)
    func append(double v: Double, _ encoder: PageEncoder) {
        values.appendLE(v.bitPattern)
        pageRows &+= 1
        endValue(encoder, adding: 9)
    }

    /// A string (valid UTF-8): its dictionary id, or PLAIN (4-byte length, bytes).
    @inline(__always)
    func append(string v: UnsafeRawBufferPointer, _ encoder: PageEncoder) {
        if usingDictionary, let id = dictionaryID(v, encoder) {
            pageRows += 1
            ids.append(native: id)
            endValue(encoder, adding: 5)
            return
        }
        appendPlain(v, encoder)
    }

    /// A fixed word (valid UTF-8 that stays at `start` for the process's
    /// life, as a StaticString's bytes do): as `append(string:)`, but a word
    /// this chunk has seen is found by its address. Same address and length
    /// means the same bytes; different addresses of equal bytes just take
    /// two slots that hold the same id.
    @inlinable @inline(__always)
    func append(word start: UnsafeRawPointer, count: Int, _ encoder: PageEncoder) {
        let key = UInt(bitPattern: start) &+ UInt(truncatingIfNeeded: count) &<< 48
        // 64 slots (`wordSlots`).
        let slot = Int(truncatingIfNeeded: (UInt64(key) &* 0x9E37_79B9_7F4A_7C15) >> 58)
        if usingDictionary && wordKeys[slot] == key {
            pageRows &+= 1
            ids.append(native: wordIDs[slot])
            endValue(encoder, adding: 5)
            return
        }
        appendNewWord(start, count: count, key: key, slot: slot, encoder)
    }

    /// A word this chunk's cache hasn't seen (or a chunk gone PLAIN).
    @usableFromInline @inline(never)
    func appendNewWord(_ start: UnsafeRawPointer, count: Int, key: UInt, slot: Int, _ encoder: PageEncoder) {
        let v = UnsafeRawBufferPointer(start: start, count: count)
        guard usingDictionary else { return appendPlain(v, encoder) }
        guard let id = dictionaryID(v, encoder) else { return appendPlain(v, encoder) }
        wordKeys[slot] = key
        wordIDs[slot] = id
        pageRows += 1
        ids.append(native: id)
        endValue(encoder, adding: 5)
    }

    /// A string that is a function of `key` alone (the caller's promise):
    /// `text` makes it (valid UTF-8, valid until the next call) only when
    /// this chunk hasn't cached the key's dictionary id.
    @inline(__always)
    func append(key: (UInt64, UInt64), _ encoder: PageEncoder, text: () -> UnsafeRawBufferPointer) {
        guard usingDictionary else { return appendPlain(text(), encoder) }
        let cache: UnsafeMutablePointer<KeySlot>
        if let c = keyCache {
            cache = c
        } else {
            cache = .allocate(capacity: Self.keySlots)
            cache.initialize(repeating: KeySlot(key: (0, 0), id: 0), count: Self.keySlots)
            keyCache = cache
        }
        var h = (key.0 ^ (key.1 &* 0x9E37_79B9_7F4A_7C15)) &* 0xD6E8_FEB8_6659_FD93
        h ^= h >> 32
        let slot = Int(truncatingIfNeeded: h) & (Self.keySlots - 1)
        let entry = cache[slot]
        if entry.id != 0 && entry.key.0 == key.0 && entry.key.1 == key.1 {
            pageRows += 1
            ids.append(native: entry.id - 1)
            endValue(encoder, adding: 5)
            return
        }
        let v = text()
        guard let id = dictionaryID(v, encoder) else { return appendPlain(v, encoder) }
        cache[slot] = KeySlot(key: key, id: id + 1)
        pageRows += 1
        ids.append(native: id)
        endValue(encoder, adding: 5)
    }

    /// `v`'s id in this chunk's dictionary (inserted if new: each distinct
    /// value reaches the statistics once, then); nil once the dictionary is
    /// full, after which the chunk goes on PLAIN (the pages so far keep their ids).
    @inline(__always)
    private func dictionaryID(_ v: UnsafeRawBufferPointer, _ encoder: PageEncoder) -> UInt32? {
        guard let d = borrowedDictionary else { return nil }
        let found = d._withUnsafeGuaranteedRef {
            $0.lookup(v, maxEntries: dictionaryMaxEntries, maxBytes: dictionaryMaxBytes)
        }
        switch found {
        case .found(let id):
            return id
        case .inserted(let id):
            statistics.add(bytes: v)
            return id
        case .full:
            flushPage(encoder)
            usingDictionary = false
            return nil
        }
    }

    @inline(__always)
    private func appendPlain(_ v: UnsafeRawBufferPointer, _ encoder: PageEncoder) {
        pageRows += 1
        values.appendLE(UInt32(v.count))
        values.append(v)
        statistics.add(bytes: v)
        endValue(encoder, adding: 5 + v.count)
    }

    /// Ends the page being filled, if it holds any row: a DataPage (v1) body
    /// is the definition levels (4-byte length, then the hybrid encoding;
    /// no repetition levels in a flat schema), then the values: PLAIN, or
    /// for RLE_DICTIONARY a bit-width byte and the ids in the hybrid encoding.
    /// A page with no non-null value is PLAIN (no value bytes), so a
    /// dictionary page is written only for a chunk that has a value.
    @usableFromInline
    func flushPage(_ encoder: PageEncoder) {
        let rows = pageRows
        guard rows > 0 else { return }
        addPageStatistics()
        let body = encoder.body
        body.removeAll()
        body.appendLE(UInt32(0))
        if (pageNulls == 0 || pageNulls == rows) && rows >= HybridEncoder.minimumRepeat {
            // What the hybrid encoder writes for a page of one level, without the scan.
            HybridEncoder.repeated(pageNulls == 0 ? 1 : 0, count: rows, bitWidth: 1, into: body)
        } else {
            // The levels as bytes (1 a value, 0 a null), then the hybrid encoding.
            let levels = encoder.levels
            levels.removeAll()
            let p = levels.tail(reserving: rows)
            p.initializeMemory(as: UInt8.self, repeating: 1, count: rows)
            nullRows.bytes.withMemoryRebound(to: UInt32.self) { nulls in
                for row in nulls { p.storeBytes(of: 0, toByteOffset: Int(row), as: UInt8.self) }
            }
            levels.didWrite(rows)
            levels.bytes.withMemoryRebound(to: UInt8.self) {
                HybridEncoder.encode($0, bitWidth: 1, into: body)
            }
        }
        body.patchLE(UInt32(body.count - 4), at: 0)
        let encoding: Format.Encoding
        if let dictionary, !ids.isEmpty {
            let width = HybridEncoder.bitWidth(forMax: UInt64(dictionary.count - 1))
            body.append(UInt8(width))
            ids.bytes.withMemoryRebound(to: UInt32.self) { HybridEncoder.encode($0, bitWidth: width, into: body) }
            encoding = .rleDictionary
            dictionaryDataPages += 1
        } else if deltaEncoded {
            DeltaEncoder.encode(plain: values.base, count: values.count / 8, into: body)
            encoding = .deltaBinaryPacked
            deltaDataPages += 1
        } else if let scratch = prefixScratch, !values.isEmpty {
            DeltaEncoder.encodeByteArray(plain: values, into: body, scratch: scratch)
            encoding = .deltaByteArray
            prefixDataPages += 1
        } else {
            body.append(values)
            encoding = .plain
            plainDataPages += 1
        }
        let sizes = encoder.emit(body, values: rows, encoding: encoding, stored: stored, into: chunk)
        chunkUncompressed += sizes.uncompressed
        chunkCompressed += sizes.compressed
        chunkValues += rows
        pageRows = 0
        pageFill = 0
        nullRows.removeAll()
        pageNulls = 0
        values.removeAll()
        ids.removeAll()
    }

    /// The page's numbers into the chunk's statistics, one pass over its
    /// PLAIN values (strings reach them as they are appended).
    private func addPageStatistics() {
        let n = values.count / 8
        guard n > 0 else { return }
        let p = UnsafeRawPointer(values.base)
        switch type {
        case .int64, .timestampNanos: statistics.add(signed: p, count: n)
        case .uint64: statistics.add(unsigned: p, count: n)
        case .double: statistics.add(doubles: p, count: n)
        case .string: break
        }
    }

    /// Writes the chunk (dictionary page first, then the data pages) at the
    /// file's current offset, and its ColumnChunk struct as the next element
    /// of the RowGroup's `columns` list. Returns its sizes for the RowGroup.
    func writeChunk(_ encoder: PageEncoder, to file: OutputFile, metadata t: inout ThriftCompactWriter)
        throws(ParquetError) -> (uncompressed: Int, compressed: Int)
    {
        flushPage(encoder)
        var dictionaryOffset: Int64?
        var uncompressed = chunkUncompressed
        var compressed = chunkCompressed
        if let dictionary, dictionary.count > 0 {
            dictionaryPage.removeAll()
            let sizes = encoder.emit(dictionary.entries, values: dictionary.count, encoding: nil, stored: stored,
                                     into: dictionaryPage)
            uncompressed += sizes.uncompressed
            compressed += sizes.compressed
            dictionaryOffset = file.offset
            try file.write(dictionaryPage)
        }
        let dataOffset = file.offset
        try file.write(chunk)
        writeColumnChunk(&t, codec: stored ? .uncompressed : encoder.codec, uncompressed: uncompressed, compressed: compressed,
                         dataOffset: dataOffset, dictionaryOffset: dictionaryOffset)
        reset()
        return (uncompressed, compressed)
    }

    /// ColumnChunk: 2 file_offset (0: no ColumnMetaData outside the footer,
    /// as the spec asks), 3 meta_data. ColumnMetaData: 1 type, 2 encodings,
    /// 3 path_in_schema, 4 codec, 5 num_values, 6 total_uncompressed_size,
    /// 7 total_compressed_size, 9 data_page_offset, 11 dictionary_page_offset,
    /// 12 statistics, 13 encoding_stats (PageEncodingStats: 1 page_type,
    /// 2 encoding, 3 count), which tells readers whether every data page is
    /// dictionary-encoded.
    private func writeColumnChunk(_ t: inout ThriftCompactWriter, codec: Format.Codec, uncompressed: Int,
                                  compressed: Int, dataOffset: Int64, dictionaryOffset: Int64?) {
        t.beginStructElement()
        t.field(2, i64: 0)
        t.beginStruct(3)
        t.field(1, i32: type.physical.rawValue)
        let hasDictionaryPage = dictionaryOffset != nil
        let usesPlain = plainDataPages > 0 || hasDictionaryPage
        let usesDictionary = dictionaryDataPages > 0
        let usesDelta = deltaDataPages > 0
        let usesPrefixes = prefixDataPages > 0
        t.beginList(2, of: .i32, count: 1 + (usesPlain ? 1 : 0) + (usesDictionary ? 1 : 0) + (usesDelta ? 1 : 0)
                        + (usesPrefixes ? 1 : 0))
        if usesPlain { t.element(i32: Format.Encoding.plain.rawValue) }
        t.element(i32: Format.Encoding.rle.rawValue)
        if usesDelta { t.element(i32: Format.Encoding.deltaBinaryPacked.rawValue) }
        if usesPrefixes { t.element(i32: Format.Encoding.deltaByteArray.rawValue) }
        if usesDictionary { t.element(i32: Format.Encoding.rleDictionary.rawValue) }
        t.beginList(3, of: .binary, count: 1)
        t.element(string: column.name)
        t.field(4, i32: codec.rawValue)
        t.field(5, i64: Int64(chunkValues))
        t.field(6, i64: Int64(uncompressed))
        t.field(7, i64: Int64(compressed))
        t.field(9, i64: dataOffset)
        if let dictionaryOffset { t.field(11, i64: dictionaryOffset) }
        statistics.write(&t, field: 12)
        let kinds = (hasDictionaryPage ? 1 : 0) + (usesDictionary ? 1 : 0) + (plainDataPages > 0 ? 1 : 0)
            + (usesDelta ? 1 : 0) + (usesPrefixes ? 1 : 0)
        t.beginList(13, of: .structure, count: kinds)
        if hasDictionaryPage { Self.pageStats(&t, .dictionaryPage, .plain, 1) }
        if usesDictionary { Self.pageStats(&t, .dataPage, .rleDictionary, dictionaryDataPages) }
        if plainDataPages > 0 { Self.pageStats(&t, .dataPage, .plain, plainDataPages) }
        if usesDelta { Self.pageStats(&t, .dataPage, .deltaBinaryPacked, deltaDataPages) }
        if usesPrefixes { Self.pageStats(&t, .dataPage, .deltaByteArray, prefixDataPages) }
        t.endStruct()
        t.endStruct()
    }

    /// A PageEncodingStats element: 1 page_type, 2 encoding, 3 count.
    private static func pageStats(_ t: inout ThriftCompactWriter, _ page: Format.PageType,
                                  _ encoding: Format.Encoding, _ count: Int) {
        t.beginStructElement()
        t.field(1, i32: page.rawValue)
        t.field(2, i32: encoding.rawValue)
        t.field(3, i32: Int32(clamping: count))
        t.endStruct()
    }

    private func reset() {
        chunk.removeAll()
        chunkValues = 0
        chunkUncompressed = 0
        chunkCompressed = 0
        dictionaryDataPages = 0
        plainDataPages = 0
        deltaDataPages = 0
        prefixDataPages = 0
        dictionary?.removeAll()
        usingDictionary = dictionary != nil
        wordKeys.update(repeating: 0, count: Self.wordSlots)
        keyCache?.update(repeating: KeySlot(key: (0, 0), id: 0), count: Self.keySlots)
        statistics.reset()
    }
}
