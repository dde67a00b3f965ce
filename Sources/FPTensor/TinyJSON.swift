import Foundation

/// A small, strict JSON reader and string writer for file headers (safetensors). The input is
/// untrusted: nesting depth is limited, integers are kept exact (with overflow detected), object
/// key order is kept and duplicate keys are rejected. The number of values is capped so that a
/// header of millions of tiny values cannot make the parser allocate gigabytes.
public enum TinyJSON {
    case null
    case bool(Bool)
    case int(Int)          // an integer literal that fits in Int
    case double(Double)    // any other number
    case string(String)
    case array([TinyJSON])
    case object([(String, TinyJSON)])

    static let maxDepth = 64
    /// Real safetensors headers hold about ten values per tensor.
    static let maxValues = 5_000_000

    /// Parses one JSON value (surrounding whitespace allowed). Errors say where and what.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> TinyJSON {
        var p = Parser(bytes: bytes)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.pos == bytes.count else { throw p.error("unexpected data after the JSON value") }
        return v
    }

    /// `s` as a JSON string literal (quotes included).
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

private struct Parser {
    let bytes: UnsafeRawBufferPointer
    var pos = 0
    var values = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func error(_ what: String) -> TensorError { TensorError("invalid JSON at byte \(pos): \(what)") }

    var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    mutating func skipSpace() {
        while let c = current, c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { pos += 1 }
    }

    mutating func expect(_ literal: String) throws {
        for b in literal.utf8 {
            guard current == b else { throw error("expected '\(literal)'") }
            pos += 1
        }
    }

    mutating func value(depth: Int) throws -> TinyJSON {
        guard depth < TinyJSON.maxDepth else { throw error("nested deeper than \(TinyJSON.maxDepth) levels") }
        values += 1
        guard values <= TinyJSON.maxValues else { throw error("more than \(TinyJSON.maxValues) values") }
        guard let c = current else { throw error("unexpected end of data") }
        switch c {
        case UInt8(ascii: "{"):
            pos += 1
            var members: [(String, TinyJSON)] = []
            var seen = Set<String>()
            skipSpace()
            if current == UInt8(ascii: "}") { pos += 1; return .object(members) }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                guard seen.insert(key).inserted else { throw error("duplicate key \(TinyJSON.quote(key))") }
                skipSpace()
                try expect(":")
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                if current == UInt8(ascii: ",") { pos += 1; continue }
                try expect("}")
                return .object(members)
            }
        case UInt8(ascii: "["):
            pos += 1
            var items: [TinyJSON] = []
            skipSpace()
            if current == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                if current == UInt8(ascii: ",") { pos += 1; continue }
                try expect("]")
                return .array(items)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    mutating func digits() -> Int {
        let start = pos
        while let c = current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { pos += 1 }
        return pos - start
    }

    mutating func number() throws -> TinyJSON {
        let start = pos
        if current == UInt8(ascii: "-") { pos += 1 }
        let intStart = pos
        let n = digits()
        guard n > 0 else { throw error("expected digits") }
        guard !(n > 1 && bytes[intStart] == UInt8(ascii: "0")) else { throw error("leading zero in a number") }
        var isInteger = true
        if current == UInt8(ascii: ".") {
            pos += 1; isInteger = false
            guard digits() > 0 else { throw error("expected digits after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            pos += 1; isInteger = false
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { pos += 1 }
            guard digits() > 0 else { throw error("expected digits in the exponent") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }   // Int(text) is nil on overflow
        return .double(Double(text) ?? .nan)
    }

    mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = current, let d = Int(String(UnicodeScalar(c)), radix: 16) else {
                throw error("bad \\u escape")
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }

    mutating func string() throws -> String {
        pos += 1   // opening quote
        var buf: [UInt8] = []
        while true {
            guard let c = current else { throw error("unterminated string") }
            pos += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let s = String(bytes: buf, encoding: .utf8) else { throw error("string is not valid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                guard let e = current else { throw error("unterminated string") }
                pos += 1
                switch e {
                case UInt8(ascii: "\""): buf.append(0x22)
                case UInt8(ascii: "\\"): buf.append(0x5c)
                case UInt8(ascii: "/"): buf.append(0x2f)
                case UInt8(ascii: "b"): buf.append(0x08)
                case UInt8(ascii: "f"): buf.append(0x0c)
                case UInt8(ascii: "n"): buf.append(0x0a)
                case UInt8(ascii: "r"): buf.append(0x0d)
                case UInt8(ascii: "t"): buf.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {   // high surrogate: a low one must follow
                        try expect("\\u")
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = UnicodeScalar(scalar) else { throw error("unpaired surrogate") }
                    buf.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw error("bad escape")
                }
            case 0..<0x20: throw error("control character in a string")
            default: buf.append(c)
            }
        }
    }
}

/// Convenience accessors for reading configuration files.
extension TinyJSON {
    public static func parse(_ data: Data) throws -> TinyJSON {
        try data.withUnsafeBytes { try parse($0) }
    }

    /// The value of `key` in an object (the last one if repeated), nil otherwise.
    public subscript(_ key: String) -> TinyJSON? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.last(where: { $0.0 == key })?.1
    }

    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && Swift.abs(d) < 9e15: return Int(d)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [TinyJSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [(String, TinyJSON)]? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
}
