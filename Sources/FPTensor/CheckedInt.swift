/// Conversions and arithmetic on values a script chose (Lua numbers, tensor elements, sizes)
/// that fail with an error naming the function and argument instead of trapping.
public enum CheckedInt {
    /// The Int a Double holds exactly, or nil (NaN, infinities, fractions, |x| >= 2^63).
    @inline(__always) public static func exact(_ d: Double) -> Int? { Int(exactly: d) }

    /// `Int(exactly: d)` or an error "fn: what must be an integer, got d".
    public static func int(_ d: Double, _ fn: String, _ what: String) throws -> Int {
        guard let v = Int(exactly: d) else { throw TensorError("\(fn): \(what) must be an integer in range, got \(d)") }
        return v
    }

    /// An Int32 (a file descriptor, a LAPACK/BLAS size) or an error.
    public static func int32(_ v: Int, _ fn: String, _ what: String) throws -> Int32 {
        guard let r = Int32(exactly: v) else { throw TensorError("\(fn): \(what) \(v) is out of range") }
        return r
    }

    public static func add(_ a: Int, _ b: Int, _ fn: String, _ what: String) throws -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        guard !o else { throw TensorError("\(fn): \(what) overflows (\(a) + \(b))") }
        return r
    }

    public static func multiply(_ a: Int, _ b: Int, _ fn: String, _ what: String) throws -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        guard !o else { throw TensorError("\(fn): \(what) overflows (\(a) x \(b))") }
        return r
    }

    /// The product of sizes, or an error when it overflows.
    public static func product(_ xs: [Int], _ fn: String, _ what: String = "the number of elements") throws -> Int {
        var n = 1
        for x in xs { n = try multiply(n, x, fn, what) }
        return n
    }
}
