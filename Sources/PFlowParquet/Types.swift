#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A column's type as a reader sees it. Every column is OPTIONAL (nullable).
public enum ParquetType: Sendable, Equatable, CustomStringConvertible {
    /// INT64, signed.
    case int64
    /// INT64 annotated INTEGER(64, false): ports, counters. Values are
    /// appended as UInt64, or as Int64 bit patterns.
    case uint64
    /// DOUBLE.
    case double
    /// BYTE_ARRAY annotated STRING: UTF-8 text.
    case string
    /// INT64 annotated TIMESTAMP(NANOS, isAdjustedToUTC = true):
    /// nanoseconds since the Unix epoch.
    case timestampNanos

    public var description: String {
        switch self {
        case .int64: return "int64"
        case .uint64: return "uint64"
        case .double: return "double"
        case .string: return "string"
        case .timestampNanos: return "timestamp(ns, UTC)"
        }
    }
}

public struct ParquetColumn: Sendable, Equatable {
    public var name: String
    public var type: ParquetType
    /// Strings only: dictionary-encode each row group's values (a dictionary
    /// page, then RLE_DICTIONARY data pages), for columns with few distinct
    /// values (protocols, states, services). A row group whose dictionary
    /// passes `ParquetWriter.dictionaryMaxEntries` entries or
    /// `dictionaryMaxBytes` bytes goes on PLAIN from there. Ignored for
    /// other types.
    public var dictionary: Bool
    /// The values hold no repeats worth searching for (hashes, random ids):
    /// the column's chunks are stored UNCOMPRESSED whatever the writer's
    /// codec (codecs are per chunk), as INT64 columns' DELTA_BINARY_PACKED
    /// pages always are: deflate gains little on such bytes at ~50
    /// instructions a byte.
    public var noRepeats: Bool
    /// Strings without a dictionary: each value shares a long prefix with
    /// the one before (a counter's text, sorted keys). Pages are then
    /// DELTA_BYTE_ARRAY (prefix lengths and suffixes) and stored
    /// uncompressed: a uid is ~2 bytes a row that way, as small as deflate
    /// makes its PLAIN bytes, for a fraction of deflate's time.
    public var sharedPrefixes: Bool

    public init(_ name: String, _ type: ParquetType, dictionary: Bool = false, noRepeats: Bool = false,
                sharedPrefixes: Bool = false) {
        self.name = name
        self.type = type
        self.dictionary = dictionary
        self.noRepeats = noRepeats
        self.sharedPrefixes = sharedPrefixes
    }
}

public enum ParquetCompression: Sendable, Equatable {
    case none
    /// GZIP (RFC 1952) per page, through zlib; the level is the writer's `compressionLevel`.
    case gzip
}

/// Every failure of a `ParquetWriter`. After one, the writer has removed its
/// temporary file and every later call reports the same error.
public enum ParquetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call on the output failed: `operation` says which.
    case io(path: String, operation: String, errno: Int32)
    /// The writer was used against its contract (a value of the wrong type,
    /// a column given twice or not at all in a row, a call after `close`).
    case usage(path: String, reason: String)
    /// zlib could not start or failed on a page.
    case compression(path: String, reason: String)

    /// One line, naming the destination path, for `pflow: error: …`.
    public var message: String {
        switch self {
        case .io(let path, let operation, let code):
            return "\(path): \(operation): \(String(cString: strerror(code)))"
        case .usage(let path, let reason):
            return "\(path): \(reason)"
        case .compression(let path, let reason):
            return "\(path): compression failed: \(reason)"
        }
    }

    public var description: String { message }
}
