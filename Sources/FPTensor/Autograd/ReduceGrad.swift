import Foundation

extension AG {
    /// Normalized reduced dims (nil = all).
    static func reducedDims(_ x: Tensor, _ dims: [Int]?, _ fn: String) throws -> [Int] {
        guard let dims else { return Array(0..<x.rank) }
        return try dims.map { try x.dim($0, fn) }
    }

    /// A reduced gradient (or value) reshaped so that it broadcasts against the input.
    static func unreduce(_ g: Tensor, _ inShape: [Int], _ dims: [Int], keepdim: Bool) throws -> Tensor {
        if keepdim || dims.isEmpty { return g }
        var shape = inShape
        for d in dims { shape[d] = 1 }
        return try g.contiguous().reshape(shape)
    }

    public static func reduce(_ op: ReduceOp, _ x: Tensor, dims: [Int]?, keepdim: Bool) throws -> Tensor {
        let out = try x.reduce(op, dims: dims, keepdim: keepdim)
        guard Autograd.taping(x), out.dtype == .float32 else { return out }
        let ds = try reducedDims(x, dims, op.rawValue), shape = x.shape
        let n = ds.reduce(1) { $0 * shape[$1] }
        switch op {
        case .sum, .mean:
            return Autograd.record(out, op.rawValue, [x]) { g in
                var gg = try unreduce(g, shape, ds, keepdim: keepdim)
                if op == .mean { gg = try scale(gg, 1 / Float(max(n, 1))) }
                return [try gg.expand(shape).contiguous()]
            }
        case .max, .min, .amax, .amin:
            // the gradient is shared evenly among the positions that attain the extreme (amax rule)
            let xv = Autograd.save(x), ov = Autograd.save(out)
            return Autograd.record(out, op.rawValue, [x]) { g in
                let o = try unreduce(ov.value, shape, ds, keepdim: keepdim)
                let hit = try Tensor.compare(.eq, xv.value, o).to(.float32)
                let cnt = try hit.reduce(.sum, dims: ds, keepdim: true)
                let gg = try unreduce(g, shape, ds, keepdim: keepdim)
                return [try mul(hit, Tensor.binary(.div, gg, cnt))]
            }
        case .prod:
            let xv = Autograd.save(x), ov = Autograd.save(out)
            return Autograd.record(out, "prod", [x]) { g in
                let gg = try unreduce(g, shape, ds, keepdim: keepdim), o = try unreduce(ov.value, shape, ds, keepdim: keepdim)
                return [try Tensor.binary(.div, mul(gg, o), xv.value)]
            }
        case .any, .all: return out
        }
    }

    /// max/min along one dim with indices: the gradient goes to the returned index.
    public static func extremeWithIndices(_ x: Tensor, dim: Int, keepdim: Bool, max: Bool) throws -> (Tensor, Tensor) {
        let (v, i) = try x.extremeWithIndices(dim: dim, keepdim: keepdim, max: max)
        guard Autograd.taping(x), v.dtype == .float32 else { return (v, i) }
        let d = try x.dim(dim, max ? "max" : "min"), shape = x.shape
        let idx = keepdim ? i : try i.unsqueeze(d)
        Autograd.record(v, max ? "max" : "min", [x]) { g in
            let gg = keepdim ? g : try g.unsqueeze(d)
            let z = try Tensor(zeros: shape)
            try z.scatterInPlace(d, idx, gg.contiguous())
            return [z]
        }
        return (v, i)
    }

    public static func norm(_ x: Tensor, p: Double, dims: [Int]?, keepdim: Bool) throws -> Tensor {
        guard Autograd.taping(x) else { return try x.norm(p: p, dims: dims, keepdim: keepdim) }
        if p == .infinity || p == -.infinity {
            return try reduce(p > 0 ? .amax : .amin, unary(.abs, x), dims: dims, keepdim: keepdim)
        }
        if p == 2 {
            return try unary(.sqrt, reduce(.sum, unary(.square, x), dims: dims, keepdim: keepdim))
        }
        if p == 1 { return try reduce(.sum, unary(.abs, x), dims: dims, keepdim: keepdim) }
        let s = try reduce(.sum, binary(.pow, unary(.abs, x), Tensor.scalar(Float(p))), dims: dims, keepdim: keepdim)
        return try binary(.pow, s, Tensor.scalar(Float(1 / p)))
    }

    public static func variance(_ x: Tensor, dims: [Int]?, correction: Int, keepdim: Bool) throws -> Tensor {
        guard Autograd.taping(x) else { return try x.variance(dims: dims, correction: correction, keepdim: keepdim) }
        let ds = try reducedDims(x, dims, "var")
        let n = ds.reduce(1) { $0 * x.shape[$1] }
        let mean = try reduce(.mean, x, dims: ds, keepdim: true)
        let dev = try unary(.square, binary(.sub, x, mean))
        return try binary(.mul, reduce(.sum, dev, dims: ds, keepdim: keepdim), Tensor.scalar(1 / Float(max(n - correction, 1))))
    }

    /// softmax / log_softmax along `dim`.
    public static func softmax(_ x: Tensor, dim: Int, log: Bool) throws -> Tensor {
        let out = try x.softmax(dim: dim, log: log)
        guard Autograd.taping(x) else { return out }
        let d = try x.dim(dim, log ? "log_softmax" : "softmax")
        let ov = Autograd.save(out)
        return Autograd.record(out, log ? "log_softmax" : "softmax", [x]) { g in
            if log {
                // g - softmax * sum(g)
                let s = try g.reduce(.sum, dims: [d], keepdim: true)
                return [try Tensor.binary(.sub, g, mul(ov.value.unary(.exp), s))]
            }
            // y * (g - sum(g * y))
            let s = try mul(g, ov.value).reduce(.sum, dims: [d], keepdim: true)
            return [try mul(ov.value, Tensor.binary(.sub, g, s))]
        }
    }

    /// Mean (or sum) negative log-likelihood of integer targets under log_softmax(logits) along
    /// the last dim; logits [..., C], targets [...] (int). ignore_index targets are skipped.
    public static func crossEntropy(_ logits: Tensor, _ targets: Tensor, reduction: String = "mean",
                                    ignoreIndex: Int = -100) throws -> Tensor {
        guard logits.rank >= 1, targets.dtype == .int64, Array(logits.shape.dropLast()) == targets.shape else {
            throw TensorError("cross_entropy: logits [..., classes] and int targets of the leading shape expected, got \(fmt(logits.shape)) and \(targets.dtype.rawValue) \(fmt(targets.shape))")
        }
        guard ["mean", "sum", "none"].contains(reduction) else {
            throw TensorError("cross_entropy: reduction must be \"mean\", \"sum\" or \"none\", got \"\(reduction)\"")
        }
        let C = logits.shape[logits.rank - 1]
        let t = try targets.contiguous().toInts()
        var valid = [Bool](repeating: true, count: t.count)
        for (i, c) in t.enumerated() {
            if c == ignoreIndex { valid[i] = false; continue }
            guard c >= 0 && c < C else { throw TensorError("cross_entropy: target \(c) is out of range for \(C) classes") }
        }
        let safe = try Tensor(ints: t.enumerated().map { valid[$0.offset] ? $0.element : 0 }, shape: targets.shape)
        let lp = try softmax(logits, dim: -1, log: true)
        let picked = try reshaped(gather(lp, dim: -1, safe.unsqueeze(-1)), "squeeze") { try $0.squeeze(-1) }
        let w = try Tensor(valid.map { $0 ? -1 : 0 }, shape: targets.shape)
        let nll = try binary(.mul, picked, w)
        switch reduction {
        case "none": return nll
        case "sum": return try reduce(.sum, nll, dims: nil, keepdim: false)
        default:
            let n = valid.filter { $0 }.count
            return try binary(.mul, reduce(.sum, nll, dims: nil, keepdim: false), Tensor.scalar(1 / Float(max(n, 1))))
        }
    }
}
