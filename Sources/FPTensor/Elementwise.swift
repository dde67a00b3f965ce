import CKernels
import Foundation

/// Binary arithmetic with numpy broadcasting and dtype promotion (bool < int64 < float32;
/// division is true division, as in torch).
public enum BinaryOp: String, Sendable {
    case add, sub, mul, div, pow, maximum, minimum, fmod
    case floordiv, remainder   // Lua's // and %: floor division and the matching modulo
}

extension Tensor {
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try a.checkValid(); try b.checkValid()
        let fn = op.rawValue
        let shape = try broadcastShapes(a.shape, b.shape, fn)
        let useInt = a.dtype != .float32 && b.dtype != .float32 && op != .div && op != .pow
        let dt: DType = useInt ? .int64 : .float32
        let x = try a.to(dt).expand(shape), y = try b.to(dt).expand(shape)
        let out = try Tensor.empty(shape, dtype: dt)
        let loop = StridedLoop(shape: shape, strides: [x.strides, y.strides, out.strides])
        if useInt {
            let px = try x.intPointer(), py = try y.intPointer(), po = try out.intPointer()
            var divZero = false
            loop.forEachRow { o, n, s in
                for i in 0..<n {
                    let u = px[o[0] + i * s[0]], v = py[o[1] + i * s[1]]
                    let r: Int64
                    switch op {
                    case .add: r = u &+ v
                    case .sub: r = u &- v
                    case .mul: r = u &* v
                    case .maximum: r = Swift.max(u, v)
                    case .minimum: r = Swift.min(u, v)
                    case .fmod: if v == 0 { divZero = true; r = 0 } else { r = u.remainderReportingOverflow(dividingBy: v).partialValue }
                    case .floordiv, .remainder:
                        if v == 0 { divZero = true; r = 0; break }
                        let q = u.dividedReportingOverflow(by: v).partialValue
                        let m = u.remainderReportingOverflow(dividingBy: v).partialValue
                        let adjust = m != 0 && ((m < 0) != (v < 0))
                        r = op == .floordiv ? (adjust ? q &- 1 : q) : (adjust ? m &+ v : m)
                    case .div, .pow: r = 0
                    }
                    po[o[2] + i * s[2]] = r
                }
            }
            if divZero { throw TensorError("\(fn): integer division by zero") }
            return out
        }
        let px = try x.floatPointer(), py = try y.floatPointer(), po = try out.floatPointer()
        func row(_ o: UnsafePointer<Int>, _ n: Int, _ s: UnsafePointer<Int>) {
            let a = px + o[0], b = py + o[1], c = po + o[2]
            switch op {
            case .add: binaryRow(a, s[0], b, s[1], c, n, { $0 + $1 }, { $0 + $1 })
            case .sub: binaryRow(a, s[0], b, s[1], c, n, { $0 - $1 }, { $0 - $1 })
            case .mul: binaryRow(a, s[0], b, s[1], c, n, { $0 * $1 }, { $0 * $1 })
            case .div: binaryRow(a, s[0], b, s[1], c, n, { $0 / $1 }, { $0 / $1 })
            case .maximum: binaryRow(a, s[0], b, s[1], c, n, { $0.replacing(with: $1, where: $1 .> $0 .| $1 .!= $1) }, { ($1 > $0 || $1.isNaN) ? $1 : $0 })
            case .minimum: binaryRow(a, s[0], b, s[1], c, n, { $0.replacing(with: $1, where: $1 .< $0 .| $1 .!= $1) }, { ($1 < $0 || $1.isNaN) ? $1 : $0 })
            case .pow:
                if s[1] == 0 && b.pointee == 2 {
                    binaryRow(a, s[0], b, s[1], c, n, { u, _ in u * u }, { u, _ in u * u })
                } else {
                    for i in 0..<n { c[i * s[2]] = powf(a[i * s[0]], b[i * s[1]]) }
                }
            case .fmod: for i in 0..<n { c[i * s[2]] = fmodf(a[i * s[0]], b[i * s[1]]) }
            case .floordiv: for i in 0..<n { c[i * s[2]] = (a[i * s[0]] / b[i * s[1]]).rounded(.down) }
            case .remainder:
                for i in 0..<n {
                    let x = a[i * s[0]], y = b[i * s[1]]
                    var m = fmodf(x, y)
                    if m != 0 && ((m < 0) != (y < 0)) { m += y }
                    c[i * s[2]] = m
                }
            }
        }
        if loop.shape.count == 1 {
            // one long row (same-shape operands, e.g. a residual add): split it over the threads
            let st = loop.strides.map { $0[0] }
            SplitRange.run(loop.shape[0]) { lo, hi in
                let o = st.map { $0 * lo }
                o.withUnsafeBufferPointer { ob in st.withUnsafeBufferPointer { sb in row(ob.baseAddress!, hi - lo, sb.baseAddress!) } }
            }
        } else {
            // broadcast rows (a norm's weight, a bias): pieces of rows over the threads
            SplitRange.rows(loop.rowCount, rowSize: loop.shape.last ?? 1) { lo, hi in loop.forEachRow(in: lo..<hi, row) }
        }
        return out
    }
}

/// One row of a float binary op: SIMD when both inputs are contiguous or one is broadcast.
/// The output row is contiguous (outputs are fresh tensors).
@inline(__always)
func binaryRow(_ a: UnsafeMutablePointer<Float>, _ sa: Int, _ b: UnsafeMutablePointer<Float>, _ sb: Int,
               _ c: UnsafeMutablePointer<Float>, _ n: Int,
               _ v: (F16x, F16x) -> F16x, _ f: (Float, Float) -> Float) {
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b), rc = UnsafeMutableRawPointer(c)
    if sa == 1 && sb == 1 {
        while i + 16 <= n {
            rc.storeBytes(of: v(ra.loadUnaligned(fromByteOffset: i * 4, as: F16x.self),
                                rb.loadUnaligned(fromByteOffset: i * 4, as: F16x.self)), toByteOffset: i * 4, as: F16x.self)
            i += 16
        }
        while i < n { c[i] = f(a[i], b[i]); i += 1 }
    } else if sa == 1 && sb == 0 {
        let bv = F16x(repeating: b.pointee), bs = b.pointee
        while i + 16 <= n {
            rc.storeBytes(of: v(ra.loadUnaligned(fromByteOffset: i * 4, as: F16x.self), bv), toByteOffset: i * 4, as: F16x.self)
            i += 16
        }
        while i < n { c[i] = f(a[i], bs); i += 1 }
    } else if sa == 0 && sb == 1 {
        let av = F16x(repeating: a.pointee), as_ = a.pointee
        while i + 16 <= n {
            rc.storeBytes(of: v(av, rb.loadUnaligned(fromByteOffset: i * 4, as: F16x.self)), toByteOffset: i * 4, as: F16x.self)
            i += 16
        }
        while i < n { c[i] = f(as_, b[i]); i += 1 }
    } else {
        for j in 0..<n { c[j] = f(a[j * sa], b[j * sb]) }
    }
}

/// Elementwise functions of one float tensor.
public enum UnaryOp: String, Sendable, CaseIterable {
    case neg, exp, log, sqrt, rsqrt, tanh, gelu, gelu_erf = "gelu_exact", silu, relu, sigmoid, abs
    case sin, cos, square, sign, floor, ceil, round, reciprocal, log1p, expm1, erf
}

extension Tensor {
    public func unary(_ op: UnaryOp) throws -> Tensor {
        if dtype == .int64 && (op == .neg || op == .abs || op == .square || op == .sign || op == .relu) {
            return try unaryInt(op)
        }
        let src = try to(.float32).contiguous()
        let out = try Tensor.empty(shape)
        let src0 = try src.floatPointer(), dst0 = try out.floatPointer()
        withExtendedLifetime(src) {
            SplitRange.run(count) { lo, hi in Tensor.unaryRange(op, src0 + lo, dst0 + lo, hi - lo) }
        }
        return out
    }

    /// d[i] = op(s[i]) for i < n.
    private static func unaryRange(_ op: UnaryOp, _ s: UnsafeMutablePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
        switch op {
        case .neg: map16(s, d, n, { -$0 }, { -$0 })
        case .exp: fpk_activation(Int32(FPK_EXP), s, nil, d, n)
        case .log: for i in 0..<n { d[i] = logf(s[i]) }
        case .sqrt: map16(s, d, n, { $0.squareRoot() }, { $0.squareRoot() })
        case .rsqrt: map16(s, d, n, { 1 / $0.squareRoot() }, { 1 / $0.squareRoot() })
        case .tanh: fpk_activation(Int32(FPK_TANH), s, nil, d, n)
        case .gelu: fpk_activation(Int32(FPK_GELU_TANH), s, nil, d, n)
        case .gelu_erf: fpk_activation(Int32(FPK_GELU_ERF), s, nil, d, n)
        case .silu: fpk_activation(Int32(FPK_SILU), s, nil, d, n)
        case .relu: map16(s, d, n, { $0.replacing(with: 0, where: $0 .< 0) }, { $0 < 0 ? 0 : $0 })
        case .sigmoid: fpk_activation(Int32(FPK_SIGMOID), s, nil, d, n)
        case .abs: map16(s, d, n, { $0.replacing(with: -$0, where: $0 .< 0) }, { Swift.abs($0) })
        case .sin: for i in 0..<n { d[i] = sinf(s[i]) }
        case .cos: for i in 0..<n { d[i] = cosf(s[i]) }
        case .square: map16(s, d, n, { $0 * $0 }, { $0 * $0 })
        case .sign: for i in 0..<n { let x = s[i]; d[i] = x > 0 ? 1 : (x < 0 ? -1 : (x.isNaN ? x : 0)) }
        case .floor: map16(s, d, n, { $0.rounded(.down) }, { $0.rounded(.down) })
        case .ceil: map16(s, d, n, { $0.rounded(.up) }, { $0.rounded(.up) })
        case .round: map16(s, d, n, { $0.rounded(.toNearestOrEven) }, { $0.rounded(.toNearestOrEven) })
        case .reciprocal: map16(s, d, n, { 1 / $0 }, { 1 / $0 })
        case .log1p: for i in 0..<n { d[i] = log1pf(s[i]) }
        case .expm1: for i in 0..<n { d[i] = expm1f(s[i]) }
        case .erf: fpk_activation(Int32(FPK_ERF), s, nil, d, n)
        }
    }

    /// act(self) * other in one pass, for act silu, gelu (tanh form), gelu_erf or sigmoid: a gated MLP's
    /// activation times its linear half, without the activation's intermediate tensor. The
    /// same bits as `unary(act)` then a `.mul`. Shapes must match.
    public func gatedActivation(_ act: UnaryOp, _ other: Tensor) throws -> Tensor {
        let op: Int32
        switch act {
        case .silu: op = Int32(FPK_SILU)
        case .gelu: op = Int32(FPK_GELU_TANH)
        case .gelu_erf: op = Int32(FPK_GELU_ERF)
        case .sigmoid: op = Int32(FPK_SIGMOID)
        default: return try Tensor.binary(.mul, unary(act), other)
        }
        guard shape == other.shape else { throw TensorError("gatedActivation: shapes \(shape) and \(other.shape) differ") }
        let a = try to(.float32).contiguous(), b = try other.to(.float32).contiguous()
        let out = try Tensor.empty(shape)
        let pa = try a.readFloatPointer(), pb = try b.readFloatPointer(), po = try out.floatPointer()
        withExtendedLifetime((a, b)) {
            SplitRange.run(count) { lo, hi in fpk_activation(op, pa + lo, pb + lo, po + lo, hi - lo) }
        }
        return out
    }

    private func unaryInt(_ op: UnaryOp) throws -> Tensor {
        let src = try contiguous()
        let out = try Tensor.empty(shape, dtype: .int64)
        let s = try src.intPointer(), d = try out.intPointer()
        for i in 0..<count {
            let x = s[i]
            switch op {
            case .neg: d[i] = 0 &- x
            case .abs: d[i] = x < 0 ? 0 &- x : x
            case .square: d[i] = x &* x
            case .sign: d[i] = x > 0 ? 1 : (x < 0 ? -1 : 0)
            default: d[i] = x < 0 ? 0 : x   // relu
            }
        }
        return out
    }

    /// Clamps into [lo, hi] (either bound optional); NaN stays NaN.
    public func clamp(min lo: Double?, max hi: Double?) throws -> Tensor {
        var r = self.dtype == .bool ? try to(.int64) : self
        if let lo { r = try Tensor.binary(.maximum, r, Tensor.scalarLike(lo, r.dtype)) }
        if let hi { r = try Tensor.binary(.minimum, r, Tensor.scalarLike(hi, r.dtype)) }
        return r === self ? try clone() : r
    }

    /// A 0-d tensor holding `v`, int64 when `dt` is integral and `v` is whole.
    public static func scalarLike(_ v: Double, _ dt: DType) throws -> Tensor {
        if dt != .float32 && v == v.rounded() && Swift.abs(v) < 9e18 {
            return try Tensor(ints: [Int(v)], shape: [])
        }
        return Tensor.scalar(Float(v))
    }
}

/// Comparisons and logical operations: results are bool masks.
public enum CompareOp: String, Sendable { case eq, ne, lt, le, gt, ge }

extension Tensor {
    public static func compare(_ op: CompareOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try a.checkValid(); try b.checkValid()
        let shape = try broadcastShapes(a.shape, b.shape, op.rawValue)
        let out = try Tensor.empty(shape, dtype: .bool)
        let po = try out.boolPointer()
        if a.dtype != .float32 && b.dtype != .float32 {
            let x = try a.to(.int64).expand(shape), y = try b.to(.int64).expand(shape)
            let px = try x.intPointer(), py = try y.intPointer()
            StridedLoop(shape: shape, strides: [x.strides, y.strides, out.strides]).forEachRow { o, n, s in
                for i in 0..<n { po[o[2] + i * s[2]] = cmp(op, px[o[0] + i * s[0]], py[o[1] + i * s[1]]) ? 1 : 0 }
            }
        } else {
            let x = try a.to(.float32).expand(shape), y = try b.to(.float32).expand(shape)
            let px = try x.floatPointer(), py = try y.floatPointer()
            StridedLoop(shape: shape, strides: [x.strides, y.strides, out.strides]).forEachRow { o, n, s in
                for i in 0..<n { po[o[2] + i * s[2]] = cmp(op, px[o[0] + i * s[0]], py[o[1] + i * s[1]]) ? 1 : 0 }
            }
        }
        return out
    }

    public enum LogicalOp: String, Sendable { case and = "logical_and", or = "logical_or", xor = "logical_xor" }

    public static func logical(_ op: LogicalOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = try broadcastShapes(a.shape, b.shape, op.rawValue)
        let x = try a.to(.bool).expand(shape), y = try b.to(.bool).expand(shape)
        let out = try Tensor.empty(shape, dtype: .bool)
        let px = try x.boolPointer(), py = try y.boolPointer(), po = try out.boolPointer()
        StridedLoop(shape: shape, strides: [x.strides, y.strides, out.strides]).forEachRow { o, n, s in
            for i in 0..<n {
                let u = px[o[0] + i * s[0]] != 0, v = py[o[1] + i * s[1]] != 0
                let r: Bool
                switch op { case .and: r = u && v; case .or: r = u || v; case .xor: r = u != v }
                po[o[2] + i * s[2]] = r ? 1 : 0
            }
        }
        return out
    }

    public func logicalNot() throws -> Tensor {
        let x = try to(.bool).contiguous()
        let out = try Tensor.empty(shape, dtype: .bool)
        let px = try x.boolPointer(), po = try out.boolPointer()
        for i in 0..<count { po[i] = px[i] == 0 ? 1 : 0 }
        return out
    }

    public func isnan() throws -> Tensor {
        guard dtype == .float32 else { return try Tensor(zeros: shape, dtype: .bool) }
        return try Tensor.compare(.ne, self, self)
    }
}

@inline(__always) private func cmp<T: Comparable>(_ op: CompareOp, _ a: T, _ b: T) -> Bool {
    switch op {
    case .eq: return a == b
    case .ne: return a != b
    case .lt: return a < b
    case .le: return a <= b
    case .gt: return a > b
    case .ge: return a >= b
    }
}
