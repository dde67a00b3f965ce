import Foundation

/// One tensor described by a safetensors header. `byteRange` is absolute: offsets into the
/// whole file buffer given to `parseHeader`, so a loader can map the file and decode lazily.
public struct SafetensorsEntry: Sendable {
    public let name: String
    /// The dtype as written in the file ("F32", "BF16", "I64", ...).
    public let dtype: String
    public let shape: [Int]
    public let byteRange: Range<Int>

    public init(name: String, dtype: String, shape: [Int], byteRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteRange = byteRange
    }
}

/// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
/// "__metadata__": {string: string}} and then the tensor bytes, offsets relative to their start.
///
/// Reading converts F16/BF16/F64 to float32, I8/I16/I32/U8/U16/U32/U64 to int64 (U64 values must
/// fit), and BOOL to bool. Writing produces F32, I64 and BOOL laid out as the reference library
/// does (larger dtypes first, then by name; header padded with spaces to 8 bytes).
public enum Safetensors {
    /// The reference implementation refuses headers above 100 MB; so do we.
    public static let maxHeaderBytes = 100_000_000

    static let elementSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
        "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4,
        "I64": 8, "U64": 8, "F64": 8, "C64": 8,
    ]
    static let decodable: [String: StoredElement] = [
        "BOOL": .bool, "U8": .u8, "I8": .i8, "I16": .i16, "U16": .u16, "F16": .f16, "BF16": .bf16,
        "I32": .i32, "U32": .u32, "F32": .f32, "I64": .i64, "U64": .u64, "F64": .f64,
    ]

    /// All tensors of a safetensors file, sorted by name (as `safe_open(...).keys()`).
    public static func read(data: Data, name: String) throws -> [(String, Tensor)] {
        try data.withUnsafeBytes { bytes in
            let header = try parseHeader(bytes, name: name)
            return try header.entries.map { ($0.name, try decode($0, from: bytes, file: name)) }
        }
    }

    /// Parses and validates the header of the file in `bytes`: every entry has a known dtype,
    /// a valid shape, and a byte range inside the file that matches its shape and dtype, and no
    /// two entries overlap. Entries are sorted by name.
    public static func parseHeader(_ bytes: UnsafeRawBufferPointer, name: String) throws
        -> (entries: [SafetensorsEntry], metadata: [String: String], dataStart: Int) {
        let q = "'\(name)'"
        guard let n64 = bytes.loadLE(at: 0, as: UInt64.self) else {
            throw TensorError("\(q): too short for a safetensors file (\(bytes.count) bytes)")
        }
        guard n64 <= UInt64(bytes.count - 8) else {
            throw TensorError("\(q): header length \(n64) runs past the end of the file (\(bytes.count) bytes)")
        }
        let n = Int(n64)
        guard n <= maxHeaderBytes else { throw TensorError("\(q): header length \(n) exceeds the \(maxHeaderBytes)-byte limit") }
        guard let headerBytes = bytes.bytes(at: 8, count: n) else {
            throw TensorError("\(q): header length \(n) runs past the end of the file (\(bytes.count) bytes)")
        }
        let json = try withErrorPrefix("\(q): header") { try TinyJSON.parse(headerBytes) }
        guard case .object(let members) = json else {
            throw TensorError("\(q): header is \(json.typeName), expected a JSON object")
        }

        let dataStart = 8 + n
        let bufferLength = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [SafetensorsEntry] = []
        for (key, value) in members {
            if key == "__metadata__" {
                switch value {
                case .null: break
                case .object(let pairs):
                    for (k, v) in pairs {
                        guard case .string(let s) = v else {
                            throw TensorError("\(q): __metadata__ value for '\(k)' is \(v.typeName), expected a string")
                        }
                        metadata[k] = s
                    }
                default: throw TensorError("\(q): __metadata__ is \(value.typeName), expected an object of strings")
                }
                continue
            }
            let tq = "\(q): tensor '\(key)'"
            guard case .object(let info) = value else { throw TensorError("\(tq): is \(value.typeName), expected an object") }
            func field(_ f: String) throws -> TinyJSON {
                guard let v = info.first(where: { $0.0 == f })?.1 else { throw TensorError("\(tq): missing \"\(f)\"") }
                return v
            }
            guard case .string(let dtype) = try field("dtype") else { throw TensorError("\(tq): \"dtype\" is not a string") }
            guard let size = elementSizes[dtype] else { throw TensorError("\(tq): unknown dtype '\(dtype)'") }
            let shape = try integers(try field("shape"), "\(tq): \"shape\"")
            let offsets = try integers(try field("data_offsets"), "\(tq): \"data_offsets\"")
            guard offsets.count == 2 else { throw TensorError("\(tq): \"data_offsets\" must be [begin, end]") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= bufferLength else {
                throw TensorError("\(tq): data_offsets [\(begin), \(end)] lie outside the \(bufferLength)-byte data buffer")
            }
            guard shape.count <= 64, let count = checkedProduct(shape), let need = checkedMul(count, size) else {
                throw TensorError("\(tq): shape \(fmt(shape)) has too many elements")
            }
            guard end - begin == need else {
                throw TensorError("\(tq): data_offsets [\(begin), \(end)] hold \(end - begin) bytes, but shape \(fmt(shape)) of \(dtype) needs \(need)")
            }
            entries.append(SafetensorsEntry(name: key, dtype: dtype, shape: shape,
                                            byteRange: (dataStart + begin)..<(dataStart + end)))
        }

        // Overlapping tensors would alias each other's bytes: reject them.
        let byOffset = entries.filter { !$0.byteRange.isEmpty }.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where b.byteRange.lowerBound < a.byteRange.upperBound {
            throw TensorError("\(q): tensors '\(a.name)' and '\(b.name)' overlap")
        }
        entries.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        return (entries, metadata, dataStart)
    }

    /// A JSON array of non-negative integers.
    static func integers(_ v: TinyJSON, _ what: String) throws -> [Int] {
        guard case .array(let items) = v else { throw TensorError("\(what) is \(v.typeName), expected an array") }
        guard items.count <= 64 else { throw TensorError("\(what) has too many items (\(items.count))") }
        return try items.map {
            guard case .int(let i) = $0, i >= 0 else {
                throw TensorError("\(what) must hold non-negative integers")
            }
            return i
        }
    }

    /// Decodes one entry from the whole-file buffer it was parsed from (`file` names it in errors).
    public static func decode(_ entry: SafetensorsEntry, from bytes: UnsafeRawBufferPointer,
                              file: String = "safetensors data") throws -> Tensor {
        let tq = "'\(file)': tensor '\(entry.name)'"
        guard let kind = decodable[entry.dtype] else {
            throw TensorError("\(tq): dtype \(entry.dtype) is not supported")
        }
        guard let payload = bytes.bytes(at: entry.byteRange.lowerBound, count: entry.byteRange.count) else {
            throw TensorError("\(tq): byte range \(entry.byteRange) lies outside the \(bytes.count)-byte buffer")
        }
        let need = try ElementCodec.byteCount(kind, entry.shape, tq)
        guard need == payload.count else {
            throw TensorError("\(tq): \(payload.count) bytes, but shape \(fmt(entry.shape)) of \(entry.dtype) needs \(need)")
        }
        return try ElementCodec.decode(kind, bigEndian: false, shape: entry.shape, from: payload, context: tq)
    }

    /// A safetensors file holding `entries` (float32 as F32, int64 as I64, bool as BOOL).
    public static func write(_ entries: [(String, Tensor)], metadata: [String: String] = [:]) throws -> Data {
        var seen = Set<String>()
        for (key, _) in entries {
            guard key != "__metadata__" else { throw TensorError("'__metadata__' cannot be a tensor name") }
            guard seen.insert(key).inserted else { throw TensorError("duplicate tensor name '\(key)'") }
        }
        // The reference library's layout: larger element types first, then names in byte order.
        let ordered = entries.sorted { a, b in
            let (sa, sb) = (a.1.dtype.byteSize, b.1.dtype.byteSize)
            return sa != sb ? sa > sb : a.0.utf8.lexicographicallyPrecedes(b.0.utf8)
        }
        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                .map { TinyJSON.quote($0) + ":" + TinyJSON.quote(metadata[$0] ?? "") }
            parts.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var blobs: [Data] = []
        var offset = 0
        for (key, tensor) in ordered {
            let blob = try ElementCodec.littleEndianBytes(tensor)
            let dtype: String
            switch tensor.dtype {
            case .float32: dtype = "F32"
            case .int64: dtype = "I64"
            case .bool: dtype = "BOOL"
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            parts.append(TinyJSON.quote(key) + ":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + blob.count)]}")
            offset += blob.count
            blobs.append(blob)
        }
        var header = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var out = Data(capacity: 8 + header.count + offset)
        out.appendLE(UInt64(header.count))
        out.append(contentsOf: header)
        for b in blobs { out.append(b) }
        return out
    }
}
