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
        if v == 0 { appendZero(v.sign == .minus, to: &out); return true }
        if v.isSubnormal || (v.significandBitPattern == 0 && !appendFromShortest(v.description, minDigits: 6, onlyUpTo: 6, to: &out)) {
            appendSearching(Double(v), minDigits: 6, maxDigits: 9, to: &out) { Double(Float(strtof($0, nil))) }
        } else if v.significandBitPattern != 0 {
            appendFromShortest(v.description, minDigits: 6, to: &out)
        }
        return true
    }

    /// Appends a double (a Lua float).
    @discardableResult
    public static func append(_ v: Double, to out: inout [UInt8]) -> Bool {
        guard v.isFinite else { return false }
        if v == 0 { appendZero(v.sign == .minus, to: &out); return true }
        if v.isSubnormal || (v.significandBitPattern == 0 && !appendFromShortest(v.description, minDigits: 15, onlyUpTo: 15, to: &out)) {
            appendSearching(v, minDigits: 15, maxDigits: 17, to: &out) { strtod($0, nil) }
        } else if v.significandBitPattern != 0 {
            appendFromShortest(v.description, minDigits: 15, to: &out)
        }
        return true
    }

    public static func append(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(45) }
        var m = v.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var n = 0
            repeat { buf[n] = UInt8(48 + m % 10); m /= 10; n += 1 } while m > 0
            while n > 0 { n -= 1; out.append(buf[n]) }
        }
    }

    /// "0.0" or "-0.0" (%g gives "0", then ".0").
    static func appendZero(_ negative: Bool, to out: inout [UInt8]) {
        if negative { out.append(45) }
        out.append(48); out.append(46); out.append(48)
    }

    /// `%.Pg` of the number whose shortest text is `text` (Swift's description: "-1.25e-05",
    /// "0.001", "123.0"), P = max(minDigits, number of its significant digits).
    /// With onlyUpTo, writes nothing and returns false when the shortest text has more
    /// significant digits than that (a power of two: the Lua search decides, see above).
    @discardableResult
    static func appendFromShortest(_ text: String, minDigits: Int, onlyUpTo: Int = .max, to out: inout [UInt8]) -> Bool {
        var text = text
        return text.withUTF8 { src in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { digits in
                format(src, digits, minDigits, onlyUpTo, &out)
            }
        }
    }

    private static func format(_ src: UnsafeBufferPointer<UInt8>, _ digits: UnsafeMutableBufferPointer<UInt8>,
                               _ minDigits: Int, _ onlyUpTo: Int, _ out: inout [UInt8]) -> Bool {
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
        if lead == nd { appendZero(negative, to: &out); return true }
        var end = nd
        while digits[end - 1] == 48 { end -= 1 }
        let count = end - lead
        if count > onlyUpTo { return false }
        if negative { out.append(45) }
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
            return true
        }
        if x < 0 {                               // 0.000ddd
            out.append(48); out.append(46)
            for _ in 0..<(-x - 1) { out.append(48) }
            for i in lead..<end { out.append(digits[i]) }
            return true
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
        return true
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
        var out: [UInt8] = []
        out.reserveCapacity(min(t.count, 1 << 26) * 12 + 16)
        if t.rank == 0 { value(t.dtype, raw, 0, &out); return out }
        if t.count == 0 {   // some dim is 0: small, the nesting written level by level
            emptyNesting(t.shape, 0, indent, depth, &out)
            return out
        }
        // Walks the elements in order with an odometer over the dims; opening and closing
        // brackets come from how many trailing dims roll over between two elements.
        let shape = t.shape, rank = t.rank
        var idx = [Int](repeating: 0, count: rank)
        for d in 0..<rank { open(d, shape, indent, depth, &out) }
        var i = 0
        while true {
            value(t.dtype, raw, i, &out)
            i += 1
            // advance the odometer; d = the outermost dim that does not roll over
            var d = rank - 1
            while d >= 0 && idx[d] == shape[d] - 1 { idx[d] = 0; d -= 1 }
            // close the dims that rolled over (innermost first)
            var k = rank - 1
            while k > d { close(k, shape, indent, depth, &out); k -= 1 }
            if d < 0 { break }
            idx[d] += 1
            out.append(44)   // ','
            let inner = d == rank - 1
            if indent != nil { if inner { out.append(32) } else { newline(indent, depth + d + 1, &out) } }
            for e in (d + 1)..<rank { open(e, shape, indent, depth, &out) }
        }
        return out
    }

    @inline(__always)
    private static func value(_ dtype: DType, _ raw: UnsafeRawPointer, _ i: Int, _ out: inout [UInt8]) {
        switch dtype {
        case .float32:
            if !append(raw.assumingMemoryBound(to: Float.self)[i], to: &out) { out.append(110); out.append(117); out.append(108); out.append(108) }
        case .int64: append(raw.assumingMemoryBound(to: Int64.self)[i], to: &out)
        case .bool:
            if raw.assumingMemoryBound(to: UInt8.self)[i] != 0 { out.append(116); out.append(114); out.append(117); out.append(101) }
            else { out.append(102); out.append(97); out.append(108); out.append(115); out.append(101) }
        }
    }

    private static func newline(_ indent: [UInt8]?, _ level: Int, _ out: inout [UInt8]) {
        out.append(10)
        if let ind = indent { for _ in 0..<level { out.append(contentsOf: ind) } }
    }

    /// '[' of dim d, and the line break before its first item when its items are arrays.
    private static func open(_ d: Int, _ shape: [Int], _ indent: [UInt8]?, _ depth: Int, _ out: inout [UInt8]) {
        out.append(91)
        if indent != nil && d < shape.count - 1 { newline(indent, depth + d + 1, &out) }
    }

    private static func close(_ d: Int, _ shape: [Int], _ indent: [UInt8]?, _ depth: Int, _ out: inout [UInt8]) {
        if indent != nil && d < shape.count - 1 { newline(indent, depth + d, &out) }
        out.append(93)
    }

    private static func emptyNesting(_ shape: [Int], _ d: Int, _ indent: [UInt8]?, _ depth: Int, _ out: inout [UInt8]) {
        if d == shape.count - 1 || shape[d] == 0 { out.append(91); out.append(93); return }
        open(d, shape, indent, depth, &out)
        for i in 0..<shape[d] {
            if i > 0 { out.append(44); if indent != nil { newline(indent, depth + d + 1, &out) } }
            emptyNesting(shape, d + 1, indent, depth, &out)
        }
        close(d, shape, indent, depth, &out)
    }
}
