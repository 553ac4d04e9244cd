import PFlowCore
import PFlowEngine
import PFlowExport
import PFlowFlows
import PFlowParquet

/// The flow columns as a Parquet file (`--parquet`): one row per flow, typed
/// columns (times as TIMESTAMP(NANOS, UTC), counters as unsigned INT64,
/// durations as DOUBLE, text as dictionary-encoded UTF-8), written as row
/// groups while flows end, so memory stays bounded. The file appears under
/// its name only when complete (the writer renames a temporary at the end);
/// a failure leaves nothing that claims to be Parquet.
public final class ParquetExporter: FlowExporter {
    let writer: ParquetWriter
    let columns = FlowCSV.flowColumns
    private let scratch = ByteText(capacity: 64)
    /// The first failure (a full disk): later rows are dropped and `finish` reports it.
    var failure: ParquetError?

    public init(path: String, compressed: Bool = true, rowGroupRows: Int = 65_536) throws(ExportError) {
        let schema = FlowCSV.flowColumns.map { c -> ParquetColumn in
            switch c.type {
            case .timestampNs: return ParquetColumn(c.name, .timestampNanos)
            case .int64: return ParquetColumn(c.name, .int64)
            case .uint64: return ParquetColumn(c.name, .uint64)
            case .double: return ParquetColumn(c.name, .double)
            // Addresses, names and words repeat from flow to flow: dictionaries
            // (the writer falls back to plain values where they don't).
            // uid and community_id are unique per flow: a dictionary would
            // only cost a hash and an insert per row, so they are PLAIN.
            // community_id is a hash's base64: nothing repeats for deflate to find.
            case .text: return ParquetColumn(c.name, .string, dictionary: c != .uid && c != .communityID,
                                             noRepeats: c == .communityID)
            }
        }
        cells = FlowCSV.flowColumns.map(Self.cell)
        do {
            // zlib level 1: most of the time goes to deflate, and level 6 buys
            // about 5% smaller files for 2.4 times the time (measured on flow rows).
            writer = try ParquetWriter(path: path, columns: schema, compression: compressed ? .gzip : .none,
                                       rowGroupRows: rowGroupRows, compressionLevel: 1)
        } catch {
            throw ExportError(error.message)
        }
    }

    /// How each column's cell is made, decided once: per row the exporter
    /// then writes every value straight into the column buffers, with no
    /// String or Array per row (callgrind: the FlowValue path's Strings for
    /// uid, history, community_id and proto cost ~2,500 instructions a row).
    enum Cell {
        /// Numbers and times, through the typed value (no payload allocates).
        case typed
        /// Free text the record holds as a String already (service, names).
        case string
        /// The Community ID, hashed into a buffer kept from row to row.
        case communityID
        /// Fixed words, addresses, uid, history: the CSV's cell (which needs no
        /// quoting for these), written into scratch; empty is null.
        case csvText
    }
    private let cells: [Cell]
    private var communityID = ExportBuffer(capacity: 64)

    static func cell(_ c: FlowColumn) -> Cell {
        switch c {
        case .service, .portName, .serverName: return .string
        case .communityID: return .communityID
        default: return c.type == .text ? .csvText : .typed
        }
    }

    public func export(_ flow: FlowRecord) {
        guard failure == nil else { return }
        // By index: columns and cells are parallel, and an Array iterator
        // in an unoptimized build allocates.
        for i in columns.indices {
            let column = columns[i]
            switch cells[i] {
            case .typed:
                switch column.value(flow) {
                case .int(let v), .timestampNs(let v): writer.append(v, column: i)
                case .uint(let v): writer.append(v, column: i)
                case .double(let v): writer.append(v, column: i)
                default: writer.appendNull(column: i)
                }
            case .string:
                let text: String?
                switch column {
                case .service: text = flow.service
                case .portName: text = flow.portName
                default: text = flow.serverName
                }
                if let text { writer.append(text, column: i) } else { writer.appendNull(column: i) }
            case .communityID:
                communityID.removeAll()
                flow.appendCommunityID(to: &communityID)
                if communityID.isEmpty {
                    writer.appendNull(column: i)
                } else {
                    communityID.bytes.withUnsafeBytes { writer.append($0, column: i) }
                }
            case .csvText:
                scratch.removeAll()
                scratch.reserve(column.room)
                var c = scratch.cursor()
                column.write(flow, &c, scratch, digits: 9)
                scratch.commit(c)
                if scratch.count == 0 {
                    writer.appendNull(column: i)
                } else {
                    writer.append(UnsafeRawBufferPointer(scratch.bytes), column: i)
                }
            }
        }
        do { try writer.endRow() } catch { failure = error }
    }

    /// Row groups are whole or nothing: there is nothing to push out early.
    public func flush() {}

    public func finish(_ summary: CaptureSummary) throws(ExportError) {
        if let failure {
            writer.abandon()
            throw ExportError(failure.message)
        }
        do { try writer.close() } catch { throw ExportError(error.message) }
    }
}
