import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FPTensor

// GGUF (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), versions 2 and 3, little-endian:
//
//   "GGUF"  u32 version  u64 tensor_count  u64 kv_count
//   kv_count x { string key, u32 value_type, value }
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to general.alignment (default 32), then the tensor data; offsets are relative to it.
//
// A string is a u64 byte length and UTF-8 bytes; an array is a u32 element type, a u64 count
// and the elements. Dims are listed fastest-varying first (ggml's ne), so a PyTorch [rows, cols]
// matrix has ne = [cols, rows]; fp reports shapes in PyTorch order.
//
// Every count, length and offset comes from the file, so each is checked against the bytes
// actually present (with overflow-checked arithmetic) before anything is allocated for it.

/// The type tag of a GGUF metadata value.
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The fewest bytes one value of this type occupies in a file (a string or an array
    /// header may be followed by more); used to reject element counts the file cannot hold.
    var minimumByteCount: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }
}

/// One metadata value. Integers keep their GGUF width and signedness; use the accessors
/// (`int`, `double`, `stringArray`, ...) to read them without caring about the exact type.
public enum GGUFValue: Equatable, Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    /// Any integer value that fits in Int (nil for other types and for UInt64 above Int.max).
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// Any float or integer value as a Double.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        case .uint64(let v): return Double(v)
        default: return int.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// An array whose elements are all strings (e.g. tokenizer.ggml.tokens).
    public var stringArray: [String]? {
        guard case .array(let items) = self else { return nil }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case .string(let s) = item else { return nil }
            out.append(s)
        }
        return out
    }

    /// An array of numbers (floats or integers) as Float (e.g. tokenizer.ggml.scores).
    public var floatArray: [Float]? {
        guard case .array(let items) = self else { return nil }
        var out: [Float] = []
        out.reserveCapacity(items.count)
        for item in items {
            switch item {
            case .float32(let v): out.append(v)
            default:
                guard let d = item.double else { return nil }
                out.append(Float(d))
            }
        }
        return out
    }

    /// An array of integers that fit in Int (e.g. tokenizer.ggml.token_type).
    public var intArray: [Int]? {
        guard case .array(let items) = self else { return nil }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.int else { return nil }
            out.append(v)
        }
        return out
    }

    /// The GGUF type of this value.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    public var description: String {
        switch self {
        case .uint8(let v): return "\(v)"
        case .int8(let v): return "\(v)"
        case .uint16(let v): return "\(v)"
        case .int16(let v): return "\(v)"
        case .uint32(let v): return "\(v)"
        case .int32(let v): return "\(v)"
        case .uint64(let v): return "\(v)"
        case .int64(let v): return "\(v)"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .string(let s): return s.debugDescription
        case .array(let items):
            let shown = items.prefix(8).map(\.description).joined(separator: ", ")
            return "[" + shown + (items.count > 8 ? ", ... (\(items.count) items)" : "") + "]"
        }
    }
}

/// A ggml tensor type (the `ggml_type` id in a GGUF tensor info). Ids fp does not know are kept
/// as they are, so a file with a new type still opens and only that tensor fails to load.
public struct GGUFTensorType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGUFTensorType(rawValue: 0)
    public static let f16 = GGUFTensorType(rawValue: 1)
    public static let q4_0 = GGUFTensorType(rawValue: 2)
    public static let q4_1 = GGUFTensorType(rawValue: 3)
    public static let q5_0 = GGUFTensorType(rawValue: 6)
    public static let q5_1 = GGUFTensorType(rawValue: 7)
    public static let q8_0 = GGUFTensorType(rawValue: 8)
    public static let q8_1 = GGUFTensorType(rawValue: 9)
    public static let q2_K = GGUFTensorType(rawValue: 10)
    public static let q3_K = GGUFTensorType(rawValue: 11)
    public static let q4_K = GGUFTensorType(rawValue: 12)
    public static let q5_K = GGUFTensorType(rawValue: 13)
    public static let q6_K = GGUFTensorType(rawValue: 14)
    public static let q8_K = GGUFTensorType(rawValue: 15)
    public static let bf16 = GGUFTensorType(rawValue: 30)

    /// Name, elements per block and bytes per block of every type ggml defines (ggml.h / the
    /// gguf package's GGML_QUANT_SIZES), so that byte sizes can be validated for all of them.
    static let known: [UInt32: (name: String, blockElements: Int, blockBytes: Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
        6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
        10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
        13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
        16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
        19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
        22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
        26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
        30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
        39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
    ]

    /// "Q4_K", or "unknown type 99" for ids fp does not know.
    public var name: String { Self.known[rawValue]?.name ?? "unknown type \(rawValue)" }
    public var description: String { name }

    /// (elements, bytes) of one block, nil for unknown ids.
    public var blockLayout: (elements: Int, bytes: Int)? {
        guard let k = Self.known[rawValue] else { return nil }
        return (k.blockElements, k.blockBytes)
    }

    /// True when fp can convert tensors of this type to float32.
    public var isDequantizable: Bool { GGUFDequantize.supported.contains(self) }
}

/// One tensor described by a GGUF header.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Dims as stored (ggml's ne, fastest-varying first).
    public let ggmlDims: [Int]
    /// Dims in PyTorch order (ne reversed).
    public let shape: [Int]
    public let type: GGUFTensorType
    /// Absolute byte offset of the data in the file.
    public let fileOffset: Int
    /// Byte size of the data; nil for a type fp does not know.
    public let byteCount: Int?
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A bounds-checked little-endian reader over the file's bytes. Errors name the file.
private struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var pos = 0

    var remaining: Int { bytes.count - pos }

    func truncated(_ need: Int, _ what: @autoclosure () -> String) -> TensorError {
        TensorError("\(file): truncated file: \(what()) needs \(need) bytes at offset \(pos), but the file has \(bytes.count) bytes")
    }

    @inline(__always)
    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard pos >= 0, size <= bytes.count - pos, let base = bytes.baseAddress else {
            throw truncated(size, what())
        }
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: pos, as: T.self))
        pos += size
        return v
    }

    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let n64 = try load(UInt64.self, "the length of \(what())")
        guard n64 <= UInt64(remaining), let base = bytes.baseAddress else {
            throw TensorError("\(file): \(what()) has length \(n64) at offset \(pos - 8), which runs past the end of the file (\(bytes.count) bytes)")
        }
        let n = Int(n64)
        let s = String(decoding: UnsafeRawBufferPointer(start: base + pos, count: n), as: UTF8.self)
        pos += n
        return s
    }
}

/// A GGUF file (llama.cpp's format) opened as a weight source: the header and metadata are
/// parsed at once, tensors are dequantized to float32 on request from a read-only memory map.
public final class GGUFFile: WeightSource {
    /// Arrays nested deeper than this are rejected (real files nest at most once).
    public static let maxArrayDepth = 8
    /// Upper bound on all metadata array elements together, so that a lying count cannot make
    /// the parser build a huge [GGUFValue] (real files hold a few hundred thousand).
    public static let maxMetadataElements = 1 << 24
    /// ggml's GGML_MAX_DIMS.
    public static let maxDims = 4
    public static let defaultAlignment = 32

    public let location: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensorInfos: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the tensor data section.
    public let dataOffset: Int

    private let bytes: MappedFile
    private let index: [String: Int]

    /// Opens and validates `path` (memory-mapped; the mapping lives as long as this object).
    public convenience init(path: String) throws {
        try self.init(bytes: try MappedFile(path: path))
    }

    /// Parses GGUF bytes held in memory (`name` is used in messages).
    public convenience init(data: Data, name: String) throws {
        try self.init(bytes: try MappedFile(copying: data, name: name))
    }

    private init(bytes b: MappedFile) throws {
        let p = try GGUFFile.parse(b.bytes, file: b.path)
        bytes = b
        location = b.path
        version = p.version
        metadata = p.metadata
        metadataKeys = p.keys
        tensorInfos = p.tensors
        alignment = p.alignment
        dataOffset = p.dataOffset
        index = p.index
    }

    /// general.architecture ("llama", "gpt2", ...).
    public var architecture: String? { metadata["general.architecture"]?.string }

    public var tensorNames: [String] { tensorInfos.map(\.name) }

    public func info(_ name: String) -> GGUFTensorInfo? {
        index[name].map { tensorInfos[$0] }
    }

    /// Shape in PyTorch order (ggml's ne reversed).
    public func shape(of name: String) -> [Int]? { info(name)?.shape }

    public func tensorType(_ name: String) -> GGUFTensorType? { info(name)?.type }

    /// The tensor as a new float32 tensor in PyTorch order (dequantized; never aliases the file).
    public func tensor(_ name: String) throws -> Tensor {
        guard let ti = info(name) else { throw TensorError("\(location): missing tensor '\(name)'") }
        guard ti.type.isDequantizable, let byteCount = ti.byteCount else {
            throw TensorError("\(location): tensor '\(name)' has type \(ti.type.name), which fp cannot dequantize (supported: \(GGUFDequantize.supportedNames))")
        }
        let buf = bytes.bytes
        guard let base = buf.baseAddress, ti.fileOffset >= 0, byteCount >= 0,
              ti.fileOffset <= buf.count, byteCount <= buf.count - ti.fileOffset else {
            throw TensorError("\(location): tensor '\(name)' data lies outside the \(buf.count)-byte file")
        }
        let out = try withTensorPrefix(name) { try Tensor.empty(ti.shape) }
        let dst = try out.floatPointer()
        try withTensorPrefix(name) {
            try GGUFDequantize.dequantize(ti.type, UnsafeRawBufferPointer(start: base + ti.fileOffset, count: byteCount),
                                          count: ti.elementCount, into: dst)
        }
        bytes.release(ti.fileOffset ..< ti.fileOffset + byteCount)   // the file's pages: not held beside the float32 weights
        return out
    }

    private func withTensorPrefix<R>(_ name: String, _ body: () throws -> R) throws -> R {
        do { return try body() }
        catch let e as TensorError { throw TensorError("\(location): tensor '\(name)': \(e.message)") }
    }

    // MARK: parsing

    struct Parsed {
        var version = 0
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        var alignment = GGUFFile.defaultAlignment
        var dataOffset = 0
    }

    static let magic: [UInt8] = Array("GGUF".utf8)
    /// Fewest bytes of one metadata pair (empty key, type, one-byte value) and of one tensor
    /// info (empty name, n_dims 0, type, offset): bounds for the counts in the header.
    static let minKVBytes = 8 + 4 + 1
    static let minTensorInfoBytes = 8 + 4 + 4 + 8

    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws -> Parsed {
        var c = GGUFCursor(bytes: bytes, file: file)
        var p = Parsed()
        guard bytes.count >= 4 else {
            throw TensorError("\(file): too short for a GGUF file (\(bytes.count) bytes)")
        }
        guard bytes.prefix(4).elementsEqual(magic) else {
            throw TensorError("\(file): not a GGUF file (the first bytes are not \"GGUF\")")
        }
        c.pos = 4
        let version = try c.load(UInt32.self, "the version")
        guard version == 2 || version == 3 else {
            if version.byteSwapped == 2 || version.byteSwapped == 3 {
                throw TensorError("\(file): big-endian GGUF files are not supported")
            }
            throw TensorError("\(file): unsupported GGUF version \(version) (fp reads versions 2 and 3)")
        }
        p.version = Int(version)
        let tensorCount64 = try c.load(UInt64.self, "the tensor count")
        let kvCount64 = try c.load(UInt64.self, "the metadata count")
        guard tensorCount64 <= UInt64(c.remaining / minTensorInfoBytes) else {
            throw TensorError("\(file): tensor count \(tensorCount64) is impossible for a file of \(bytes.count) bytes")
        }
        guard kvCount64 <= UInt64(c.remaining / minKVBytes) else {
            throw TensorError("\(file): metadata count \(kvCount64) is impossible for a file of \(bytes.count) bytes")
        }
        let tensorCount = Int(tensorCount64), kvCount = Int(kvCount64)

        // Metadata.
        var budget = maxMetadataElements
        p.keys.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let key = try c.string("metadata key #\(i)")
            guard p.metadata[key] == nil else {
                throw TensorError("\(file): duplicate metadata key '\(key)'")
            }
            let tag = try c.load(UInt32.self, "the type of metadata '\(key)'")
            let value = try parseValue(&c, tag: tag, key: key, depth: 0, budget: &budget)
            p.metadata[key] = value
            p.keys.append(key)
        }

        if let a = p.metadata["general.alignment"] {
            guard let n = a.int, n > 0, n & (n - 1) == 0 else {
                throw TensorError("\(file): general.alignment must be a positive power of two, got \(a)")
            }
            p.alignment = n
        }

        // Tensor infos.
        guard tensorCount <= c.remaining / minTensorInfoBytes else {
            throw TensorError("\(file): tensor count \(tensorCount) is impossible for a file of \(bytes.count) bytes")
        }
        struct Raw { let name: String; let ne: [Int]; let type: GGUFTensorType; let offset: Int; let size: Int? }
        var raws: [Raw] = []
        raws.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try c.string("the name of tensor #\(i)")
            guard p.index[name] == nil else { throw TensorError("\(file): duplicate tensor name '\(name)'") }
            let tq = "\(file): tensor '\(name)'"
            let nDims = try c.load(UInt32.self, "the dimension count of tensor '\(name)'")
            guard nDims <= UInt32(maxDims) else {
                throw TensorError("\(tq) has \(nDims) dimensions (GGUF allows at most \(maxDims))")
            }
            var ne: [Int] = []
            for d in 0..<Int(nDims) {
                let v = try c.load(UInt64.self, "dimension \(d) of tensor '\(name)'")
                guard let n = Int(exactly: v) else {
                    throw TensorError("\(tq): dimension \(d) is \(v), which is not a valid size")
                }
                ne.append(n)
            }
            // Zero sizes count as 1 in the check: strides multiply the other sizes regardless.
            var elements = 1, strideProduct = 1
            for n in ne {
                guard let m = checkedProduct(elements, n), let sp = checkedProduct(strideProduct, max(n, 1)) else {
                    throw TensorError("\(tq): dims \(ne) (ggml order) have too many elements: the product overflows")
                }
                elements = m
                strideProduct = sp
            }
            let type = GGUFTensorType(rawValue: try c.load(UInt32.self, "the type of tensor '\(name)'"))
            let off64 = try c.load(UInt64.self, "the data offset of tensor '\(name)'")
            guard let offset = Int(exactly: off64) else {
                throw TensorError("\(tq): data offset \(off64) lies past the end of the file (\(bytes.count) bytes)")
            }
            var size: Int?
            if let (be, bb) = type.blockLayout {
                let rowLength = ne.first ?? 1
                guard rowLength % be == 0 else {
                    throw TensorError("\(tq): row length \(rowLength) is not a multiple of the \(type.name) block size \(be)")
                }
                guard let s = checkedProduct(elements / be, bb) else {
                    throw TensorError("\(tq): dims \(ne) (ggml order) of \(type.name) need more bytes than can be addressed")
                }
                size = s
            }
            p.index[name] = raws.count
            raws.append(Raw(name: name, ne: ne, type: type, offset: offset, size: size))
        }

        // Data section: aligned after the tensor infos; offsets are relative to it.
        let infoEnd = c.pos
        let rem = infoEnd % p.alignment
        guard let dataOffset = rem == 0 ? infoEnd : checkedSum(infoEnd, p.alignment - rem) else {
            throw TensorError("\(file): general.alignment \(p.alignment) puts the data section past any addressable offset")
        }
        p.dataOffset = dataOffset
        for r in raws {
            let tq = "\(file): tensor '\(r.name)'"
            guard r.offset % p.alignment == 0 else {
                throw TensorError("\(tq): data offset \(r.offset) is not a multiple of the alignment \(p.alignment)")
            }
            guard let start = checkedSum(p.dataOffset, r.offset), start <= bytes.count else {
                throw TensorError("\(tq): data offset \(r.offset) lies past the end of the file (\(bytes.count) bytes; data starts at \(p.dataOffset))")
            }
            if let size = r.size {
                guard let end = checkedSum(start, size), end <= bytes.count else {
                    throw TensorError("\(tq): \(size) bytes of \(r.type.name) data at offset \(start) run past the end of the file (\(bytes.count) bytes)")
                }
            }
            p.tensors.append(GGUFTensorInfo(name: r.name, ggmlDims: r.ne, shape: r.ne.reversed(), type: r.type,
                                            fileOffset: start, byteCount: r.size))
        }

        // Tensors must not share bytes.
        let sized = p.tensors.filter { ($0.byteCount ?? 0) > 0 }.sorted { $0.fileOffset < $1.fileOffset }
        for (a, b) in zip(sized, sized.dropFirst()) where b.fileOffset < a.fileOffset + (a.byteCount ?? 0) {
            throw TensorError("\(file): tensors '\(a.name)' and '\(b.name)' overlap")
        }
        return p
    }

    private static func parseValue(_ c: inout GGUFCursor, tag: UInt32, key: String, depth: Int,
                                   budget: inout Int) throws -> GGUFValue {
        guard let type = GGUFValueType(rawValue: tag) else {
            throw TensorError("\(c.file): metadata '\(key)' has unknown value type \(tag)")
        }
        switch type {
        case .uint8: return .uint8(try c.load(UInt8.self, "metadata '\(key)'"))
        case .int8: return .int8(Int8(bitPattern: try c.load(UInt8.self, "metadata '\(key)'")))
        case .uint16: return .uint16(try c.load(UInt16.self, "metadata '\(key)'"))
        case .int16: return .int16(try c.load(Int16.self, "metadata '\(key)'"))
        case .uint32: return .uint32(try c.load(UInt32.self, "metadata '\(key)'"))
        case .int32: return .int32(try c.load(Int32.self, "metadata '\(key)'"))
        case .uint64: return .uint64(try c.load(UInt64.self, "metadata '\(key)'"))
        case .int64: return .int64(try c.load(Int64.self, "metadata '\(key)'"))
        case .float32: return .float32(Float(bitPattern: try c.load(UInt32.self, "metadata '\(key)'")))
        case .float64: return .float64(Double(bitPattern: try c.load(UInt64.self, "metadata '\(key)'")))
        case .bool:
            let b = try c.load(UInt8.self, "metadata '\(key)'")
            guard b <= 1 else { throw TensorError("\(c.file): metadata '\(key)' is a bool with byte value \(b)") }
            return .bool(b == 1)
        case .string: return .string(try c.string("metadata '\(key)'"))
        case .array:
            guard depth < GGUFFile.maxArrayDepth else {
                throw TensorError("\(c.file): metadata '\(key)' has arrays nested deeper than \(GGUFFile.maxArrayDepth) levels")
            }
            let elemTag = try c.load(UInt32.self, "the element type of metadata '\(key)'")
            guard let elemType = GGUFValueType(rawValue: elemTag) else {
                throw TensorError("\(c.file): metadata '\(key)' is an array of unknown value type \(elemTag)")
            }
            let n64 = try c.load(UInt64.self, "the length of metadata '\(key)'")
            guard n64 <= UInt64(c.remaining / elemType.minimumByteCount) else {
                throw TensorError("\(c.file): metadata '\(key)' claims \(n64) array elements, more than the rest of the file (\(c.remaining) bytes) can hold")
            }
            let n = Int(n64)
            guard n <= budget else {
                throw TensorError("\(c.file): metadata arrays hold more than \(GGUFFile.maxMetadataElements) elements in all (at '\(key)')")
            }
            budget -= n
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n {
                items.append(try parseValue(&c, tag: elemTag, key: key, depth: depth + 1, budget: &budget))
            }
            return .array(items)
        }
    }
}

@inline(__always) private func checkedProduct(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : r
}

@inline(__always) private func checkedSum(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? nil : r
}
