import Foundation

/// Numbers and tensors as JSON text, byte for byte as fp.json's Lua encoder writes them, in one
/// pass into a byte buffer (fp.save of a large result: the Lua encoder formats each number
/// several times with string.format and reads it back).
///
/// A float is written as `%.Pg` with P the fewest digits (at least 6 for float32, 15 for a Lua
/// double) that read back as the same value, then ".0" when the text has no '.', 'e' or "n".
/// Swift's `description` gives the shortest digits that read back; they are the value rounded
/// to that many digits (the closest such decimal) except next to a power of two, where the
/// rounding interval is lopsided, and for zeros and subnormals, which have fewer digits of
/// precision than P: those values take the slow `snprintf` + `strtod` path.
public enum JSONNumberText {
    /// Appends a float32 (nothing and returns false for NaN and infinities: JSON has no form).
    @discardableResult
    public static func append(_ v: Float, to out: inout [UInt8]) -> Bool {
        guard v.isFinite else { return false }
        if v.significandBitPattern == 0 || !v.isNormal {
            appendSearching(Double(v), minDigits: 6, maxDigits: 9, to: &out) { Double(Float(strtof($0, nil))) }
        } else {
            appendFromShortest(v.description, minDigits: 6, to: &out)
        }
        return true
    }

    /// Appends a double (a Lua float).
    @discardableResult
    public static func append(_ v: Double, to out: inout [UInt8]) -> Bool {
        guard v.isFinite else { return false }
        if v.significandBitPattern == 0 || !v.isNormal {
            appendSearching(v, minDigits: 15, maxDigits: 17, to: &out) { strtod($0, nil) }
        } else {
            appendFromShortest(v.description, minDigits: 15, to: &out)
        }
        return true
    }

    public static func append(_ v: Int64, to out: inout [UInt8]) {
        out.append(contentsOf: String(v).utf8)
    }

    /// `%.Pg` of the number whose shortest text is `text` (Swift's description: "-1.25e-05",
    /// "0.001", "123.0"), P = max(minDigits, number of its significant digits).
    static func appendFromShortest(_ text: String, minDigits: Int, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { src in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { digits in
                format(src, digits, minDigits, &out)
            }
        }
    }

    private static func format(_ src: UnsafeBufferPointer<UInt8>, _ digits: UnsafeMutableBufferPointer<UInt8>,
                               _ minDigits: Int, _ out: inout [UInt8]) {
        var nd = 0, negative = false, seenPoint = false, pointAt = 0, exp10 = 0, expSign = 1, inExp = false
        for c in src {
            if inExp {
                if c == 45 { expSign = -1 } else if c != 43 { exp10 = exp10 * 10 + Int(c &- 48) }
            } else if c == 45 { negative = true              // '-'
            } else if c == 46 { seenPoint = true             // '.'
            } else if c == 101 || c == 69 { inExp = true     // 'e', 'E'
            } else if nd < digits.count { digits[nd] = c; nd += 1; if !seenPoint { pointAt += 1 } }
        }
        exp10 *= expSign
        // value = 0.d1d2d3... * 10^(pointAt + exp10); skip leading and trailing zeros
        var lead = 0
        while lead < nd && digits[lead] == 48 { lead += 1 }
        if negative { out.append(45) }
        if lead == nd { out.append(contentsOf: [48, 46, 48]); return }   // ±0: "%g" gives "0", then ".0"
        var end = nd
        while digits[end - 1] == 48 { end -= 1 }
        let count = end - lead
        let x = pointAt + exp10 - lead - 1       // decimal exponent of the first digit
        let p = max(minDigits, count)
        if x < -4 || x >= p {                    // %g's exponential form: d.ddde-05 (has an 'e': no ".0")
            out.append(digits[lead])
            if count > 1 {
                out.append(46)
                for i in (lead + 1)..<end { out.append(digits[i]) }
            }
            out.append(101)
            out.append(x < 0 ? 45 : 43)
            let e = abs(x)
            if e >= 100 { out.append(UInt8(48 + e / 100)) }
            out.append(UInt8(48 + (e / 10) % 10))
            out.append(UInt8(48 + e % 10))
            return
        }
        if x < 0 {                               // 0.000ddd
            out.append(48); out.append(46)
            for _ in 0..<(-x - 1) { out.append(48) }
            for i in lead..<end { out.append(digits[i]) }
            return
        }
        let intDigits = x + 1
        if count <= intDigits {
            for i in lead..<end { out.append(digits[i]) }
            for _ in 0..<(intDigits - count) { out.append(48) }
            out.append(46); out.append(48)
        } else {
            for i in lead..<(lead + intDigits) { out.append(digits[i]) }
            out.append(46)
            for i in (lead + intDigits)..<end { out.append(digits[i]) }
        }
    }

    /// The Lua encoder's own search: `%.Ng` for N = minDigits... until `read` gives v back.
    static func appendSearching(_ v: Double, minDigits: Int, maxDigits: Int, to out: inout [UInt8],
                                read: (UnsafePointer<CChar>) -> Double) {
        var buf = [CChar](repeating: 0, count: 40)
        var n = 0
        for digits in minDigits...maxDigits {
            n = Int(withVaList([Int32(digits), v]) { vsnprintf(&buf, 40, "%.*g", $0) })
            if digits == maxDigits || read(buf) == v { break }
        }
        var hasMark = false
        for i in 0..<n {
            let c = UInt8(bitPattern: buf[i])
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "n") { hasMark = true }
            out.append(c)
        }
        if !hasMark { out.append(contentsOf: ".0".utf8) }
    }

    /// A tensor as fp.json writes its tolist(): nested arrays; with `indent`, arrays of numbers
    /// on one line ("[1, 2]") and arrays of arrays one item per line, indented `depth + 1` times
    /// (closing bracket at `depth`); without, no spaces ("[[1,2],[3,4]]"). NaN and infinities
    /// are null, bool tensors true/false.
    public static func tensor(_ t: Tensor, indent: [UInt8]?, depth: Int) throws -> [UInt8] {
        let c = try t.contiguous()
        let raw = try c.storage.raw() + c.offset * c.dtype.byteSize
        let strides = Tensor.contiguousStrides(t.shape)
        var out: [UInt8] = []
        out.reserveCapacity(min(t.count, 1 << 26) * 12 + 16)
        let floats = raw.assumingMemoryBound(to: Float.self), ints = raw.assumingMemoryBound(to: Int64.self)
        let bools = raw.assumingMemoryBound(to: UInt8.self)
        let null: [UInt8] = Array("null".utf8), yes: [UInt8] = Array("true".utf8), no: [UInt8] = Array("false".utf8)
        func value(_ i: Int) {
            switch t.dtype {
            case .float32: if !append(floats[i], to: &out) { out.append(contentsOf: null) }
            case .int64: append(ints[i], to: &out)
            case .bool: out.append(contentsOf: bools[i] != 0 ? yes : no)
            }
        }
        func newline(_ level: Int) {
            out.append(10)
            if let ind = indent { for _ in 0..<level { out.append(contentsOf: ind) } }
        }
        func build(_ d: Int, _ base: Int, _ level: Int) {
            if d == t.rank { value(base); return }
            let n = t.shape[d]
            if n == 0 { out.append(contentsOf: "[]".utf8); return }
            out.append(UInt8(ascii: "["))
            let inner = d + 1 == t.rank   // a row of plain values
            for i in 0..<n {
                if i > 0 {
                    out.append(UInt8(ascii: ","))
                    if indent != nil && inner { out.append(32) }
                }
                if indent != nil && !inner { newline(level + 1) }
                build(d + 1, base + i * strides[d], level + 1)
            }
            if indent != nil && !inner { newline(level) }
            out.append(UInt8(ascii: "]"))
        }
        build(0, 0, depth)
        return out
    }
}
