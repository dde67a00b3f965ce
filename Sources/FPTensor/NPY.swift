import Foundation

/// NumPy's .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
/// magic "\x93NUMPY", version major.minor, header length (u16 LE in 1.0, u32 LE in 2.0/3.0),
/// then a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
/// padded with spaces and a newline, then the raw elements.
///
/// Reading accepts versions 1.0-3.0, floats (f2/f4/f8 -> float32), signed and unsigned
/// integers (-> int64), booleans, either byte order and Fortran order. Writing produces
/// version 1.0 exactly as `np.save` does (float32 '<f4', int64 '<i8', bool '|b1').
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]   // "\x93NUMPY"
    /// Headers of plain arrays are under 200 bytes; numpy itself refuses more than 10000
    /// by default. Far larger ones only come from structured dtypes (unsupported) or lies.
    static let maxHeaderBytes = 1 << 20

    /// Reads a .npy file's bytes. `name` (usually the path) is named in error messages.
    public static func read(data: Data, name: String) throws -> Tensor {
        try data.withUnsafeBytes { try read(bytes: $0, name: name) }
    }

    static func read(bytes: UnsafeRawBufferPointer, name: String) throws -> Tensor {
        let q = "'\(name)'"
        guard bytes.count >= 10 else {
            throw TensorError("\(q): too short for a .npy file (\(bytes.count) bytes)")
        }
        guard bytes.hasBytes(magic, at: 0) else { throw TensorError("\(q): not a .npy file (bad magic)") }
        let major = bytes[6], minor = bytes[7]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes.loadLE(at: 8, as: UInt16.self) ?? 0)
            headerStart = 10
        case 2, 3:
            guard let n = bytes.loadLE(at: 8, as: UInt32.self) else {
                throw TensorError("\(q): truncated .npy header")
            }
            headerLength = Int(n)
            headerStart = 12
        default:
            throw TensorError("\(q): unsupported .npy format version \(major).\(minor)")
        }
        guard headerLength <= maxHeaderBytes else {
            throw TensorError("\(q): header length \(headerLength) exceeds the \(maxHeaderBytes)-byte limit")
        }
        guard let header = bytes.bytes(at: headerStart, count: headerLength) else {
            throw TensorError("\(q): header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
        }
        let (kind, bigEndian, fortran, shape) = try withErrorPrefix("\(q): bad header") {
            try parseHeader(header, utf8: major >= 3)
        }

        let dataStart = headerStart + headerLength
        let need = try ElementCodec.byteCount(kind, shape, q)
        let have = bytes.count - dataStart
        guard need <= have, let payload = bytes.bytes(at: dataStart, count: need) else {
            throw TensorError("\(q): truncated data: shape \(fmt(shape)) of \(kind.rawValue) needs \(need) bytes, the file has \(have) after the header")
        }
        if !fortran || shape.count < 2 {
            return try ElementCodec.decode(kind, bigEndian: bigEndian, shape: shape, from: payload, context: q)
        }
        // Fortran order is C order of the reversed shape: decode that, transpose back, copy.
        let reversed = try ElementCodec.decode(kind, bigEndian: bigEndian, shape: shape.reversed(),
                                               from: payload, context: q)
        return try reversed.permute(Array((0..<shape.count).reversed())).contiguous()
    }

    /// Parses the header dict into (element kind, big-endian?, fortran order?, shape).
    static func parseHeader(_ header: UnsafeRawBufferPointer, utf8: Bool)
        throws -> (StoredElement, Bool, Bool, [Int]) {
        var p = PyLiteralParser(bytes: header, utf8: utf8)
        p.skipSpace()
        guard case .dict(let items) = try p.value(depth: 0) else { throw TensorError("header is not a dict") }
        p.skipSpace()
        guard p.pos == header.count else { throw p.error("unexpected text after the dict") }

        func field(_ key: String) throws -> PyLiteral {
            guard let v = items.first(where: { $0.0 == key })?.1 else { throw TensorError("missing key '\(key)'") }
            return v
        }
        guard case .string(let descr) = try field("descr") else {
            throw TensorError("'descr' is not a string (structured dtypes are not supported)")
        }
        guard case .bool(let fortran) = try field("fortran_order") else {
            throw TensorError("'fortran_order' is not True or False")
        }
        guard case .tuple(let dims) = try field("shape") else { throw TensorError("'shape' is not a tuple") }
        var shape: [Int] = []
        for d in dims {
            guard case .int(let n) = d, n >= 0 else { throw TensorError("'shape' must hold non-negative integers") }
            shape.append(n)
        }
        let (kind, bigEndian) = try element(descr)
        return (kind, bigEndian, fortran, shape)
    }

    /// Maps a dtype string such as '<f4' or '|b1' to an element kind and byte order.
    static func element(_ descr: String) throws -> (StoredElement, Bool) {
        let chars = Array(descr)
        guard chars.count >= 2, let order = chars.first, "<>|=".contains(order) else {
            throw TensorError("unsupported dtype '\(descr)'")
        }
        let code = String(chars[1...])
        let kinds: [String: StoredElement] = [
            "f2": .f16, "f4": .f32, "f8": .f64, "i1": .i8, "i2": .i16, "i4": .i32, "i8": .i64,
            "u1": .u8, "u2": .u16, "u4": .u32, "u8": .u64, "b1": .bool,
        ]
        guard let kind = kinds[code] else {
            let hint = code.hasPrefix("O") ? " (object arrays need pickle, which is not supported)" : ""
            throw TensorError("unsupported dtype '\(descr)'\(hint)")
        }
        // '=' is native order; every platform fp runs on is little-endian.
        return (kind, order == ">" && kind.byteSize > 1)
    }

    /// The .npy (format 1.0) bytes of `t`, identical to what `np.save` writes.
    public static func write(_ t: Tensor) throws -> Data {
        let descr: String
        switch t.dtype {
        case .float32: descr = "<f4"
        case .int64: descr = "<i8"
        case .bool: descr = "|b1"
        }
        let shape: String
        switch t.rank {
        case 0: shape = "()"
        case 1: shape = "(\(t.shape[0]),)"
        default: shape = "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        // numpy pads with spaces so that the data starts at a multiple of 64 bytes (always
        // adding at least one space) and ends the header with a newline.
        let unpadded = magic.count + 2 + 2 + header.utf8.count + 1
        header += String(repeating: " ", count: 64 - unpadded % 64) + "\n"
        guard header.utf8.count <= 0xffff else { throw TensorError("npy: header too long (\(header.utf8.count) bytes)") }
        var out = Data(magic)
        out.append(contentsOf: [1, 0])
        out.appendLE(UInt16(header.utf8.count))
        out.append(contentsOf: Array(header.utf8))
        out.append(try ElementCodec.littleEndianBytes(t))
        return out
    }
}

/// The Python literals that appear in .npy headers.
enum PyLiteral {
    case string(String)
    case int(Int)
    case bool(Bool)
    case none
    case tuple([PyLiteral])        // tuples and lists
    case dict([(String, PyLiteral)])
}

/// A parser for the subset of Python literal syntax numpy writes (and old writers wrote):
/// dicts with string keys, tuples/lists with optional trailing commas, 'single' or "double"
/// quoted strings, integers (with Python 2's trailing L), True, False, None.
struct PyLiteralParser {
    let bytes: UnsafeRawBufferPointer
    let utf8: Bool
    var pos = 0

    init(bytes: UnsafeRawBufferPointer, utf8: Bool) {
        self.bytes = bytes
        self.utf8 = utf8
    }

    func error(_ what: String) -> TensorError { TensorError("\(what) at byte \(pos)") }

    var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    mutating func skipSpace() {
        while let c = current, c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { pos += 1 }
    }

    mutating func value(depth: Int) throws -> PyLiteral {
        guard depth < 16 else { throw error("nested too deeply") }
        guard let c = current else { throw error("unexpected end of header") }
        switch c {
        case UInt8(ascii: "{"):
            pos += 1
            var items: [(String, PyLiteral)] = []
            while true {
                skipSpace()
                if current == UInt8(ascii: "}") { pos += 1; return .dict(items) }
                guard items.count < 64 else { throw error("too many items") }
                guard case .string(let key) = try value(depth: depth + 1) else { throw error("dict key is not a string") }
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
                pos += 1
                skipSpace()
                let v = try value(depth: depth + 1)
                guard !items.contains(where: { $0.0 == key }) else { throw error("duplicate key '\(key)'") }
                items.append((key, v))
                skipSpace()
                if current == UInt8(ascii: ",") { pos += 1; continue }
                guard current == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            }
        case UInt8(ascii: "("), UInt8(ascii: "["):
            let close = c == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
            pos += 1
            var items: [PyLiteral] = []
            while true {
                skipSpace()
                if current == close { pos += 1; return .tuple(items) }
                guard items.count < 64 else { throw error("too many items") }
                items.append(try value(depth: depth + 1))
                skipSpace()
                if current == UInt8(ascii: ",") { pos += 1; continue }
                guard current == close else { throw error("expected ',' or a closing bracket") }
            }
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            pos += 1
            var buf: [UInt8] = []
            while true {
                guard let b = current else { throw error("unterminated string") }
                pos += 1
                if b == c { break }
                if b == UInt8(ascii: "\\") {
                    guard let e = current else { throw error("unterminated string") }
                    pos += 1
                    buf.append(e)     // enough for \' \" \\ ; dtype strings have no other escapes
                } else {
                    buf.append(b)
                }
            }
            if utf8 {
                guard let s = String(bytes: buf, encoding: .utf8) else { throw error("string is not valid UTF-8") }
                return .string(s)
            }
            return .string(String(buf.map { Character(UnicodeScalar($0)) }))   // latin-1
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = pos
            pos += 1
            while let d = current, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") { pos += 1 }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
            if current == UInt8(ascii: "L") || current == UInt8(ascii: "l") { pos += 1 }   // Python 2 long
            guard let n = Int(text) else { throw error("integer '\(text)' is out of range") }
            return .int(n)
        default:
            for (word, v) in [("True", PyLiteral.bool(true)), ("False", .bool(false)), ("None", .none)] {
                if bytes.hasBytes(Array(word.utf8), at: pos) { pos += word.utf8.count; return v }
            }
            throw error("unexpected character")
        }
    }
}
