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
            // Durations and latencies are stored: their 8 bytes have little
            // for deflate (duration_s shrank 17%, the latencies 49%), at ~95
            // instructions a byte, 2,100 a row for 9% of the file (callgrind,
            // 100k capture).
            case .double: return ParquetColumn(c.name, .double, noRepeats: true)
            // Addresses, names and words repeat from flow to flow: dictionaries
            // (the writer falls back to plain values where they don't).
            // uid and community_id are unique per flow: a dictionary would
            // only cost a hash and an insert per row, so they are PLAIN.
            // community_id is a hash's base64: nothing repeats for deflate to find.
            // uid is a counter's text: each shares all but its last digit or
            // two with the one before (DELTA_BYTE_ARRAY, no deflate).
            case .text: return ParquetColumn(c.name, .string, dictionary: c != .uid && c != .communityID,
                                             noRepeats: c == .communityID, sharedPrefixes: c == .uid)
            }
        }
        do {
            // zlib level 1: most of the time goes to deflate, and level 6 buys
            // about 5% smaller files for 2.4 times the time (measured on flow rows).
            writer = try ParquetWriter(path: path, columns: schema, compression: compressed ? .gzip : .none,
                                       rowGroupRows: rowGroupRows, compressionLevel: 1)
        } catch {
            throw ExportError(error.message)
        }
    }

    /// One row: every column's value written straight from the record's
    /// fields, typed, with no FlowValue, String or Array per row. The switch
    /// is over FlowColumn, so a new column can't be left out (the compiler
    /// asks for its case); what each cell holds is the CSV's cell (the
    /// `parquet` test compares every cell): text the CSV makes from numbers
    /// or addresses is made by the CSV's own writer (`FlowColumn.write`),
    /// fixed words are the CSV's StaticStrings (found in the dictionary by
    /// address), and only Strings pass through as such.
    /// callgrind, 100k capture (12,268 rows): FlowColumn.value's enums cost
    /// ~900 instructions a row, hashing the fixed words ~1,000.
    public func export(_ flow: FlowRecord) {
        guard failure == nil else { return }
        let f = flow
        // By index: an Array iterator in an unoptimized build allocates.
        for i in columns.indices {
            switch columns[i] {
            case .start: writer.append(f.startNs, column: i)
            case .end: writer.append(f.endNs, column: i)
            case .startNs: writer.append(f.startNs, column: i)
            case .endNs: writer.append(f.endNs, column: i)
            case .durationS: writer.append(Double(f.durationNs) / 1e9, column: i)
            case .proto:
                switch f.proto {
                case .tcp: writer.append(word: "tcp", column: i)
                case .udp: writer.append(word: "udp", column: i)
                case .icmp: writer.append(word: "icmp", column: i)
                case .icmpv6: writer.append(word: "icmpv6", column: i)
                default: csvText(.proto, f, column: i)
                }
            case .ipVersion: writer.append(UInt64(f.ipVersion), column: i)
            case .vlan: writer.append(f.vlan.map { UInt64($0) }, column: i)
            case .clientIP: address(f.clientAddress, .clientIP, f, column: i)
            case .clientPort: writer.append(f.hasServicePort ? UInt64(f.clientPort) : nil, column: i)
            case .serverIP: address(f.serverAddress, .serverIP, f, column: i)
            case .serverPort: writer.append(f.hasServicePort ? UInt64(f.serverPort) : nil, column: i)
            case .service: writer.append(f.service, column: i)
            case .serverPortRange:
                if f.hasServicePort {
                    writer.append(word: FlowCSV.rangeName(f.serverPort), column: i)
                } else {
                    writer.appendNull(column: i)
                }
            case .clientPortRange:
                if f.hasServicePort {
                    writer.append(word: FlowCSV.rangeName(f.clientPort), column: i)
                } else {
                    writer.appendNull(column: i)
                }
            case .roleSource: writer.append(word: FlowCSV.roleName(f.roleSource), column: i)
            case .state: writer.append(word: FlowCSV.stateName(f.connState), column: i)
            case .c2sPackets: writer.append(f.clientToServer.packets, column: i)
            case .c2sBytes: writer.append(f.clientToServer.bytes, column: i)
            case .s2cPackets: writer.append(f.serverToClient.packets, column: i)
            case .s2cBytes: writer.append(f.serverToClient.bytes, column: i)
            case .c2sPayloadBytes: writer.append(f.clientToServer.payloadBytes, column: i)
            case .s2cPayloadBytes: writer.append(f.serverToClient.payloadBytes, column: i)
            case .endReason: writer.append(word: FlowCSV.reasonName(f.endReason), column: i)
            case .history:
                // The letters (zero past the last) are the text: they key it.
                let history = f.tcpHistory.letterBytes(clientDirection: f.clientDirection)
                if history.count == 0 {
                    writer.appendNull(column: i)
                } else {
                    writer.append(key: history.bytes, column: i) { text(.history, f) }
                }
            case .app:
                if let app = f.appProtocol {
                    writer.append(word: app.staticName, column: i)
                } else {
                    writer.appendNull(column: i)
                }
            case .icmpErrors: writer.append(UInt64(f.icmpErrors), column: i)
            case .portName: writer.append(f.portName, column: i)
            case .uid: csvText(.uid, f, column: i)
            case .communityID:
                // Hashed into a stack buffer: no copy kept from row to row.
                f.withCommunityID { id in
                    if id.isEmpty { writer.appendNull(column: i) } else { writer.append(validUTF8: id, column: i) }
                }
            case .c2sIPBytes: writer.append(f.clientToServer.ipBytes, column: i)
            case .s2cIPBytes: writer.append(f.serverToClient.ipBytes, column: i)
            case .serverName: writer.append(f.serverName, column: i)
            case .nameSource:
                if let label = f.nameSource.label {
                    writer.append(word: label, column: i)
                } else {
                    writer.appendNull(column: i)
                }
            case .serverLatencyMs: writer.append(Self.milliseconds(f.serverLatencyNs), column: i)
            case .clientLatencyMs: writer.append(Self.milliseconds(f.clientLatencyNs), column: i)
            case .appLatencyMs: writer.append(Self.milliseconds(f.appLatencyNs), column: i)
            case .c2sRetransmissions: writer.append(f.clientRetransmissions, column: i)
            case .s2cRetransmissions: writer.append(f.serverRetransmissions, column: i)
            case .c2sZeroWindows: writer.append(f.clientZeroWindows, column: i)
            case .s2cZeroWindows: writer.append(f.serverZeroWindows, column: i)
            }
        }
        do { try writer.endRow() } catch { failure = error }
    }

    /// An address cell: its text (the CSV's) is a function of the address,
    /// so the writer keys the dictionary by the address and formats it
    /// only the first time a row group sees it.
    @inline(__always)
    private func address(_ a: IPAddress, _ column: FlowColumn, _ f: FlowRecord, column i: Int) {
        writer.append(key: (a.high, a.low), column: i) { text(column, f) }
    }

    /// The CSV's cell for `column` in scratch (valid until the next cell).
    @inline(__always)
    private func text(_ column: FlowColumn, _ f: FlowRecord) -> UnsafeRawBufferPointer {
        scratch.removeAll()
        scratch.reserve(column.room)
        var c = scratch.cursor()
        column.write(f, &c, scratch, digits: 9)
        scratch.commit(c)
        return UnsafeRawBufferPointer(scratch.bytes)
    }

    /// A text cell made by the CSV's own writer (numbers, addresses, uid,
    /// history: nothing to quote, all ASCII), into scratch; empty is null.
    @inline(__always)
    private func csvText(_ column: FlowColumn, _ f: FlowRecord, column i: Int) {
        scratch.removeAll()
        scratch.reserve(column.room)
        var c = scratch.cursor()
        column.write(f, &c, scratch, digits: 9)
        scratch.commit(c)
        if scratch.count == 0 {
            writer.appendNull(column: i)
        } else {
            writer.append(validUTF8: UnsafeRawBufferPointer(scratch.bytes), column: i)
        }
    }

    /// A duration in milliseconds truncated to the microsecond, as the CSV
    /// writes it (the same arithmetic as FlowColumn.milliseconds, copied
    /// here as a Double? rather than a FlowValue).
    @inline(__always)
    static func milliseconds(_ ns: Int64?) -> Double? {
        ns.map { Double(max(0, $0) / 1000) / 1000 }
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
