/// Views: new shape/strides over the same storage, no copy.
extension Tensor {
    func withView(_ shape: [Int], _ strides: [Int], _ offset: Int) -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    public func transpose(_ a: Int, _ b: Int) throws -> Tensor {
        if rank < 2 && a == 0 && b == 0 { return self }
        let da = try dim(a, "transpose"), db = try dim(b, "transpose")
        var s = shape, st = strides
        s.swapAt(da, db); st.swapAt(da, db)
        return withView(s, st, offset)
    }

    /// Reverses all dims for rank <= 2 (`t:T()` / `t.T`); for higher ranks reverses the last two... as torch's .mT would.
    public func T() throws -> Tensor {
        if rank < 2 { return self }
        return try transpose(-2, -1)
    }

    public func permute(_ dims: [Int]) throws -> Tensor {
        guard dims.count == rank else {
            throw TensorError("permute: expected \(rank) dims, got \(dims.count)")
        }
        var seen = [Bool](repeating: false, count: rank)
        var s = [Int](), st = [Int]()
        for d in dims {
            let dd = try dim(d, "permute")
            guard !seen[dd] else { throw TensorError("permute: dim \(d) repeated in \(fmt(dims))") }
            seen[dd] = true
            s.append(shape[dd]); st.append(strides[dd])
        }
        return withView(s, st, offset)
    }

    public func unsqueeze(_ d: Int) throws -> Tensor {
        let dd = try dim(d, "unsqueeze", rank: rank + 1)
        var s = shape, st = strides
        let newStride = dd < rank ? shape[dd] * strides[dd] : 1
        s.insert(1, at: dd); st.insert(newStride, at: dd)
        return withView(s, st, offset)
    }

    /// Removes size-1 dims (all of them when `d` is nil; a dim of another size is left alone, as in torch).
    public func squeeze(_ d: Int? = nil) throws -> Tensor {
        var s = [Int](), st = [Int]()
        let target = try d.map { try dim($0, "squeeze") }
        for i in 0..<rank {
            if shape[i] == 1 && (target == nil || target == i) { continue }
            s.append(shape[i]); st.append(strides[i])
        }
        return withView(s, st, offset)
    }

    /// Selects index `i` along `d`, dropping the dim.
    public func select(_ d: Int, _ i: Int) throws -> Tensor {
        guard rank > 0 else { throw TensorError("select: cannot index a 0-d tensor") }
        let dd = try dim(d, "select")
        let ii = i < 0 ? i + shape[dd] : i
        guard ii >= 0, ii < shape[dd] else {
            throw TensorError("index \(i) is out of bounds for dim \(dd) with size \(shape[dd])")
        }
        var s = shape, st = strides
        s.remove(at: dd); st.remove(at: dd)
        return withView(s, st, offset + ii * strides[dd])
    }

    /// Python's `t[start:end:step]` along `d` (bounds clamped as Python does; negative count from the end).
    public func slice(_ d: Int, _ start: Int?, _ end: Int?, _ step: Int = 1) throws -> Tensor {
        let dd = try dim(d, "slice")
        guard step > 0 else { throw TensorError("slice: step must be positive, got \(step)") }
        let n = shape[dd]
        func clamp(_ v: Int?, _ dflt: Int) -> Int {
            guard var x = v else { return dflt }
            if x < 0 { x += n }
            return Swift.min(Swift.max(x, 0), n)
        }
        let a = clamp(start, 0), b = clamp(end, n)
        let len = b > a ? (b - a - 1) / step + 1 : 0
        var s = shape, st = strides
        // with one element or none the stride is never used: a huge step must not overflow it
        s[dd] = len; st[dd] = len > 1 ? strides[dd] * step : strides[dd]
        return withView(s, st, offset + (len > 0 ? a * strides[dd] : 0))
    }

    public func narrow(_ d: Int, _ start: Int, _ length: Int) throws -> Tensor {
        let dd = try dim(d, "narrow")
        let st = start < 0 ? start + shape[dd] : start
        guard st >= 0, st <= shape[dd], length >= 0, length <= shape[dd] - st else {
            throw TensorError("narrow: start \(start) and length \(length) exceed dim \(dd) of size \(shape[dd])")
        }
        return try slice(dd, st, st + length)
    }

    /// Broadcasts to `target` (-1 keeps a dim) with stride 0 on expanded dims.
    public func expand(_ target: [Int]) throws -> Tensor {
        guard target.count >= rank else {
            throw TensorError("expand: cannot expand shape \(fmt(shape)) to \(fmt(target)) (fewer dims)")
        }
        let lead = target.count - rank
        var s = [Int](), st = [Int]()
        for i in 0..<target.count {
            if i < lead {
                guard target[i] >= 0 else { throw TensorError("expand: size -1 not allowed for a new leading dim") }
                s.append(target[i]); st.append(0); continue
            }
            let cur = shape[i - lead], want = target[i] == -1 ? cur : target[i]
            if cur == want { s.append(cur); st.append(strides[i - lead]) }
            else if cur == 1 && want >= 0 { s.append(want); st.append(0) }
            else {
                throw TensorError("expand: shape \(fmt(shape)) cannot be expanded to \(fmt(target)) (dim \(i): \(cur) vs \(want))")
            }
        }
        try Tensor.checkShape(s, "expand")
        return withView(s, st, offset)
    }

    /// Resolves one -1 in a requested shape.
    func inferShape(_ req: [Int], _ fn: String) throws -> [Int] {
        var s = req
        let neg = s.indices.filter { s[$0] == -1 }
        guard neg.count <= 1 else { throw TensorError("\(fn): only one dimension can be -1 in \(fmt(req))") }
        for v in s where v < -1 { throw TensorError("\(fn): invalid size \(v) in \(fmt(req))") }
        guard let known = checkedProduct(s.filter { $0 != -1 }) else {
            throw TensorError("\(fn): shape \(fmt(req)) has too many elements")
        }
        if let i = neg.first {
            guard known > 0, count % known == 0 else {
                throw TensorError("\(fn): shape \(fmt(req)) is invalid for input of size \(count)")
            }
            s[i] = count / known
        }
        guard checkedProduct(s) == count else {
            throw TensorError("\(fn): shape \(fmt(req)) is invalid for input of size \(count)")
        }
        return s
    }

    /// A view with a new shape when strides allow it (as torch.view); throws otherwise.
    public func view(_ req: [Int]) throws -> Tensor {
        let s = try inferShape(req, "view")
        if let st = Tensor.viewStrides(shape, strides, s) { return withView(s, st, offset) }
        throw TensorError("view: shape \(fmt(s)) is not compatible with the strides of a non-contiguous tensor of shape \(fmt(shape)); use reshape")
    }

    /// A view when possible, a copy otherwise (as torch.reshape).
    public func reshape(_ req: [Int]) throws -> Tensor {
        let s = try inferShape(req, "reshape")
        if let st = Tensor.viewStrides(shape, strides, s) { return withView(s, st, offset) }
        return try contiguous().withView(s, Tensor.contiguousStrides(s), 0)
    }

    public func flatten(_ start: Int = 0, _ end: Int = -1) throws -> Tensor {
        if rank == 0 { return try reshape([1]) }
        let a = try dim(start, "flatten"), b = try dim(end, "flatten")
        guard a <= b else { throw TensorError("flatten: start_dim \(start) comes after end_dim \(end)") }
        var s = Array(shape[..<a])
        s.append(shape[a...b].reduce(1, *))
        s.append(contentsOf: shape[(b + 1)...])
        return try reshape(s)
    }

    /// Strides for viewing (shape, strides) as `newShape` without copying, if possible: old dims
    /// are grouped into chunks that are contiguous with each other, and each chunk must be
    /// exactly covered by consecutive new dims.
    static func viewStrides(_ shape: [Int], _ strides: [Int], _ newShape: [Int]) -> [Int]? {
        if shape.isEmpty || shape.reduce(1, *) == 0 { return contiguousStrides(newShape) }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var viewD = newShape.count - 1
        var chunkBase = strides[shape.count - 1]
        var tensorNumel = 1, viewNumel = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            tensorNumel *= shape[d]
            let chunkEnds = d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensorNumel * chunkBase)
            guard chunkEnds else { continue }
            while viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1) {
                newStrides[viewD] = viewNumel * chunkBase
                viewNumel *= newShape[viewD]
                viewD -= 1
            }
            if viewNumel != tensorNumel { return nil }
            if d > 0 { chunkBase = strides[d - 1]; tensorNumel = 1; viewNumel = 1 }
        }
        return viewD == -1 ? newStrides : nil
    }
}
