import Foundation

/// diagonal, tril/triu, cumsum, logsumexp, repeat_interleave and tile on the tape. The last
/// three are compositions of taped operations, so their gradients come from those.
extension AG {
    /// The diagonal view: its gradient lands on the diagonal of zeros.
    public static func diagonal(_ x: Tensor, offset: Int, _ d1: Int, _ d2: Int) throws -> Tensor {
        try region(x, "diagonal") { try $0.diagonal(offset: offset, d1, d2) }
    }

    /// tril/triu: the gradient is the same triangle of the output's gradient.
    public static func triangle(_ x: Tensor, _ k: Int, lower: Bool) throws -> Tensor {
        let out = try x.triangle(k, lower: lower)
        guard Autograd.taping(x) else { return out }
        return Autograd.record(out, lower ? "tril" : "triu", [x]) { g in [try g.triangle(k, lower: lower)] }
    }

    /// cumsum: the gradient is the cumulative sum of the output's gradient from the end.
    public static func cumsum(_ x: Tensor, _ d: Int) throws -> Tensor {
        let out = try x.cumsum(d)
        guard Autograd.taping(x), out.dtype == .float32 else { return out }
        return Autograd.record(out, "cumsum", [x]) { g in [try g.cumsum(d, reverse: true)] }
    }

    /// log(sum(exp(x))) over dims with the max subtracted first (torch.logsumexp); rows whose
    /// max is infinite use 0 as the shift, so all -inf gives -inf and +inf gives +inf.
    public static func logsumexp(_ x: Tensor, dims: [Int], keepdim: Bool) throws -> Tensor {
        let xf = try x.to(.float32)
        for d in dims { _ = try xf.dim(d, "logsumexp") }
        if xf.rank > 0, try dims.contains(where: { xf.shape[try xf.dim($0, "logsumexp")] == 0 }) {
            // an empty sum: log(0)
            let shape = try xf.reduce(.sum, dims: dims, keepdim: keepdim).shape
            let out = try Tensor.empty(shape); try out.fill(-.infinity); return out
        }
        let m = try xf.detached().reduce(.amax, dims: dims, keepdim: true).contiguous().clone()
        let mp = try m.floatPointer()
        for i in 0..<m.count where !mp[i].isFinite { mp[i] = 0 }
        let s = try reduce(.sum, unary(.exp, binary(.sub, xf, m)), dims: dims, keepdim: keepdim)
        return try binary(.add, unary(.log, s), m.reshape(s.shape))
    }

    /// torch.repeat_interleave: each element (slice along d; the flattened tensor when d is
    /// nil) repeated `repeats` times, or repeats[i] times for a 1-D int tensor of counts.
    public static func repeatInterleave(_ x: Tensor, repeats: Tensor, dim d: Int?) throws -> Tensor {
        let src = try d == nil ? reshaped(x, "flatten") { try $0.reshape([-1]) } : x
        if src.rank == 0 { return try repeatInterleave(reshaped(src, "unsqueeze") { try $0.reshape([1]) }, repeats: repeats, dim: 0) }
        let dd = try src.dim(d ?? 0, "repeat_interleave")
        let n = src.shape[dd]
        guard repeats.dtype == .int64 else { throw TensorError("repeat_interleave: repeats must be an integer or an int tensor, got \(repeats.dtype.rawValue)") }
        guard repeats.rank <= 1 else { throw TensorError("repeat_interleave: repeats must be 0-d or 1-d, got shape \(fmt(repeats.shape))") }
        var counts = try repeats.toInts()
        if counts.count == 1 { counts = [Int](repeating: counts[0], count: n) }
        guard counts.count == n else {
            throw TensorError("repeat_interleave: repeats has \(counts.count) entries but dim \(dd) has size \(n)")
        }
        var total = 0
        for c in counts {
            guard c >= 0 else { throw TensorError("repeat_interleave: repeats must be non-negative, got \(c)") }
            let (t, o) = total.addingReportingOverflow(c)
            guard !o, t <= 1 << 34 else { throw TensorError("repeat_interleave: too many elements") }
            total = t
        }
        var outShape = src.shape; outShape[dd] = total
        try Tensor.checkShape(outShape, "repeat_interleave")
        try Limits.check(Limits.bytes(total, 8))
        let index = try Tensor.empty([total], dtype: .int64)
        let ip = try index.intPointer()
        var at = 0
        for (i, c) in counts.enumerated() { for _ in 0..<c { ip[at] = Int64(i); at += 1 } }
        return try indexSelect(src, dd, index)
    }

    /// torch.tile: the tensor repeated reps[i] times along dim i (a shorter reps is padded with
    /// leading 1s, a longer one adds leading dims). Tensor.repeat is the same with len(reps) >= rank.
    public static func tile(_ x: Tensor, _ reps: [Int]) throws -> Tensor {
        for r in reps where r < 0 { throw TensorError("tile: repeats must be non-negative, got \(fmt(reps))") }
        let r = Swift.max(x.rank, reps.count)
        let shape = [Int](repeating: 1, count: r - x.rank) + x.shape
        let rp = [Int](repeating: 1, count: r - reps.count) + reps
        // [s0, s1] -> [1, s0, 1, s1] -> expand [r0, s0, r1, s1] -> [r0*s0, r1*s1]
        var split = [Int](), wide = [Int](), out = [Int]()
        for i in 0..<r {
            split += [1, shape[i]]; wide += [rp[i], shape[i]]
            let (m, o) = rp[i].multipliedReportingOverflow(by: shape[i])
            guard !o else { throw TensorError("tile: shape \(fmt(x.shape)) repeated \(fmt(reps)) has too many elements") }
            out.append(m)
        }
        try Tensor.checkShape(wide, "tile")
        try Tensor.checkShape(out, "tile")
        let v = try reshaped(x, "tile") { try $0.reshape(split) }
        return try reshaped(expand(v, wide), "tile") { try $0.reshape(out) }
    }
}
