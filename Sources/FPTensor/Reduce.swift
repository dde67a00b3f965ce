import Foundation

/// Reductions over one dim, several dims, or all dims (dims == nil), with keepdim.
public enum ReduceOp: String, Sendable { case sum, mean, max, min, prod, amax, amin, any, all }

extension Tensor {
    /// Moves the reduced dims last and returns the data as contiguous [outer, R] plus the kept shape.
    private func reductionLayout(_ dims: [Int]?, _ fn: String) throws -> (data: Tensor, outer: Int, r: Int, kept: [Int], keptDims: [Int]) {
        var rd: [Int]
        if rank == 0, let dims, dims.allSatisfy({ $0 == 0 || $0 == -1 }) {
            rd = []   // torch accepts dim 0 / -1 on a 0-d tensor: nothing to reduce
        } else if let dims, !dims.isEmpty {
            rd = try dims.map { try dim($0, fn) }
            guard Set(rd).count == rd.count else { throw TensorError("\(fn): dim repeated in \(fmt(dims))") }
        } else {
            rd = Array(0..<rank)
        }
        rd.sort()
        let keep = (0..<rank).filter { !rd.contains($0) }
        let perm = keep + rd
        let moved = perm == Array(0..<rank) ? self : try permute(perm)
        let c = try moved.contiguous()
        let outer = keep.map { shape[$0] }.reduce(1, *)
        let r = rd.map { shape[$0] }.reduce(1, *)
        return (c, outer, r, keep.map { shape[$0] }, rd)
    }

    private func outputShape(_ keptShape: [Int], _ reduced: [Int], _ keepdim: Bool) -> [Int] {
        guard keepdim else { return keptShape }
        var s = shape
        for d in reduced { s[d] = 1 }
        return s
    }

    public func reduce(_ op: ReduceOp, dims: [Int]? = nil, keepdim: Bool = false) throws -> Tensor {
        let fn = op.rawValue
        if op == .any || op == .all {
            let (c, outer, r, kept, rd) = try to(.bool).reductionLayout(dims, fn)
            let out = try Tensor.empty(outputShape(kept, rd, keepdim), dtype: .bool)
            let p = try c.boolPointer(), o = try out.boolPointer()
            for i in 0..<outer {
                var acc = op == .all
                for j in 0..<r { let v = p[i * r + j] != 0; if op == .any { if v { acc = true; break } } else if !v { acc = false; break } }
                o[i] = acc ? 1 : 0
            }
            return out
        }
        if dtype != .float32 && (op == .sum || op == .prod || op == .max || op == .min || op == .amax || op == .amin) {
            return try reduceInt(op, dims: dims, keepdim: keepdim)
        }
        let (c, outer, r, kept, rd) = try to(.float32).reductionLayout(dims, fn)
        if r == 0 && (op == .max || op == .min || op == .amax || op == .amin) {
            throw TensorError("\(fn): cannot reduce over an empty dimension")
        }
        let out = try Tensor.empty(outputShape(kept, rd, keepdim))
        let p = try c.floatPointer(), o = try out.floatPointer()
        for i in 0..<outer {
            let row = p + i * r
            switch op {
            case .sum: o[i] = sumRow(row, r)
            case .mean: o[i] = r > 0 ? sumRow(row, r) / Float(r) : .nan
            case .max, .amax: o[i] = extremeRow(row, r, max: true)
            case .min, .amin: o[i] = extremeRow(row, r, max: false)
            case .prod: var a: Float = 1; for j in 0..<r { a *= row[j] }; o[i] = a
            case .any, .all: break
            }
        }
        return out
    }

    private func reduceInt(_ op: ReduceOp, dims: [Int]?, keepdim: Bool) throws -> Tensor {
        let (c, outer, r, kept, rd) = try to(.int64).reductionLayout(dims, op.rawValue)
        if r == 0 && op != .sum && op != .prod { throw TensorError("\(op.rawValue): cannot reduce over an empty dimension") }
        let out = try Tensor.empty(outputShape(kept, rd, keepdim), dtype: .int64)
        let p = try c.intPointer(), o = try out.intPointer()
        for i in 0..<outer {
            let row = p + i * r
            var acc: Int64 = op == .prod ? 1 : (op == .sum ? 0 : row[0])
            for j in 0..<r {
                switch op {
                case .sum: acc = acc &+ row[j]
                case .prod: acc = acc &* row[j]
                case .max, .amax: acc = Swift.max(acc, row[j])
                default: acc = Swift.min(acc, row[j])
                }
            }
            o[i] = acc
        }
        return out
    }

    /// Max or min along one dim with their indices (torch.max(t, dim)).
    public func extremeWithIndices(dim d: Int, keepdim: Bool, max: Bool) throws -> (values: Tensor, indices: Tensor) {
        let fn = max ? "max" : "min"
        let dd = try dim(d, fn)
        guard rank > 0, shape[dd] > 0 else { throw TensorError("\(fn): cannot reduce over an empty dimension") }
        let isInt = dtype != .float32
        let (c, outer, r, kept, rd) = try (isInt ? to(.int64) : self).reductionLayout([dd], fn)
        let oshape = outputShape(kept, rd, keepdim)
        let idx = try Tensor.empty(oshape, dtype: .int64)
        let ip = try idx.intPointer()
        if isInt {
            let vals = try Tensor.empty(oshape, dtype: .int64)
            let p = try c.intPointer(), vp = try vals.intPointer()
            for i in 0..<outer {
                var best = p[i * r], bi = 0
                for j in 1..<Swift.max(r, 1) where (max ? p[i * r + j] > best : p[i * r + j] < best) { best = p[i * r + j]; bi = j }
                vp[i] = best; ip[i] = Int64(bi)
            }
            return (vals, idx)
        }
        let vals = try Tensor.empty(oshape)
        let p = try c.floatPointer(), vp = try vals.floatPointer()
        for i in 0..<outer {
            let (v, j) = argExtremeRow(p + i * r, r, max: max)
            vp[i] = v; ip[i] = Int64(j)
        }
        return (vals, idx)
    }

    /// Index of the max (or min) over one dim, or over the flattened tensor when dim is nil.
    public func argExtreme(dim d: Int?, keepdim: Bool, max: Bool) throws -> Tensor {
        if let d {
            _ = try dim(d, max ? "argmax" : "argmin")   // name the caller in the error
            return try extremeWithIndices(dim: d, keepdim: keepdim, max: max).indices
        }
        let flat = try reshape([-1])
        guard flat.count > 0 else { throw TensorError("\(max ? "argmax" : "argmin"): empty tensor") }
        let r = try flat.extremeWithIndices(dim: 0, keepdim: false, max: max).indices
        return keepdim ? try r.reshape([Int](repeating: 1, count: rank)) : r
    }

    /// Vector p-norm over dims (all when nil): p = 2, 1, inf, -inf, 0 or any positive p.
    public func norm(p: Double = 2, dims: [Int]? = nil, keepdim: Bool = false) throws -> Tensor {
        for d in dims ?? [] { _ = try dim(d, "norm") }
        let x = try to(.float32).unary(.abs)
        if p == .infinity { return try x.reduce(.amax, dims: dims, keepdim: keepdim) }
        if p == -.infinity { return try x.reduce(.amin, dims: dims, keepdim: keepdim) }
        if p == 0 { return try Tensor.compare(.ne, x, Tensor.scalar(0)).to(.float32).reduce(.sum, dims: dims, keepdim: keepdim) }
        if p == 1 { return try x.reduce(.sum, dims: dims, keepdim: keepdim) }
        if p == 2 { return try x.unary(.square).reduce(.sum, dims: dims, keepdim: keepdim).unary(.sqrt) }
        guard p > 0 else { throw TensorError("norm: p must be positive, inf or -inf, got \(p)") }
        let s = try Tensor.binary(.pow, x, Tensor.scalar(Float(p))).reduce(.sum, dims: dims, keepdim: keepdim)
        return try Tensor.binary(.pow, s, Tensor.scalar(Float(1 / p)))
    }

    /// Variance with Bessel's correction by default (torch's correction=1).
    public func variance(dims: [Int]? = nil, correction: Int = 1, keepdim: Bool = false) throws -> Tensor {
        for d in dims ?? [] { _ = try dim(d, "var") }
        let x = try to(.float32)
        let mean = try x.reduce(.mean, dims: dims, keepdim: true)
        let dev = try Tensor.binary(.sub, x, mean).unary(.square)
        let ss = try dev.reduce(.sum, dims: dims, keepdim: keepdim)
        var nn = count
        if let ds = dims, !ds.isEmpty { nn = try ds.map { shape[try dim($0, "var")] }.reduce(1, *) }
        return try Tensor.binary(.div, ss, Tensor.scalar(Float(Swift.max(nn - correction, 0))))
    }
}

/// Sum of n contiguous floats, 16 lanes at a time (a partial pairwise sum).
@inline(__always) func sumRow(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F16x(repeating: 0)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 16 <= n { acc += raw.loadUnaligned(fromByteOffset: i * 4, as: F16x.self); i += 16 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// Max or min of n contiguous floats; NaN propagates as in torch.
@inline(__always) func extremeRow(_ p: UnsafePointer<Float>, _ n: Int, max: Bool) -> Float {
    var best = p[0]
    for i in 0..<n {
        let v = p[i]
        if v.isNaN { return v }
        if max ? v > best : v < best { best = v }
    }
    return best
}

/// (value, index) of the first max or min; a NaN wins, as in torch.
@inline(__always) func argExtremeRow(_ p: UnsafePointer<Float>, _ n: Int, max: Bool) -> (Float, Int) {
    var best = p[0], bi = 0
    for i in 0..<n {
        let v = p[i]
        if v.isNaN { return (v, i) }
        if max ? v > best : v < best { best = v; bi = i }
    }
    return (best, bi)
}
