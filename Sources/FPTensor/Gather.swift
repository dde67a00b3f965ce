/// Gathering and scattering by integer indices, masks and conditional selection.
extension Tensor {
    /// Validated int64 index values for a dim of `size` (negatives count from the end).
    func indexValues(_ fn: String, size: Int, dimName: Int) throws -> [Int] {
        guard dtype == .int64 else {
            throw TensorError("\(fn): indices must be an int tensor, got \(dtype.rawValue)")
        }
        let c = try contiguous()
        let p = try c.intPointer()
        try Limits.check(Limits.bytes(count, MemoryLayout<Int>.stride))
        var out = [Int](repeating: 0, count: count)
        for i in 0..<count {
            var v = Int(p[i])
            if v < 0 { v += size }
            guard v >= 0, v < size else {
                throw TensorError("\(fn): index \(p[i]) is out of bounds for dim \(dimName) with size \(size)")
            }
            out[i] = v
        }
        return out
    }

    /// Rows along `d` picked by a 1-D (or any-shape, then flattened into that dim's place) index tensor.
    public func indexSelect(_ d: Int, _ index: Tensor) throws -> Tensor {
        let dd = try dim(d, "index_select")
        let idx = try index.indexValues("index_select", size: shape[dd], dimName: dd)
        var outShape = shape
        outShape.replaceSubrange(dd...dd, with: index.shape)
        var flatShape = shape; flatShape[dd] = idx.count
        let out = try Tensor.empty(flatShape, dtype: dtype)
        // rows of `inner` contiguous elements: one memcpy per (outer, picked index)
        let src = try contiguous()
        let inner = shape[(dd + 1)...].reduce(1, *), outer = shape[..<dd].reduce(1, *)
        let rowBytes = inner * dtype.byteSize, n = shape[dd]
        let from = try src.storage.raw() + src.offset * dtype.byteSize, to = try out.storage.raw()
        if rowBytes > 0 {
            for o in 0..<outer {
                for (j, i) in idx.enumerated() {
                    (to + (o * idx.count + j) * rowBytes).copyMemory(from: from + (o * n + i) * rowBytes, byteCount: rowBytes)
                }
            }
        }
        return try out.reshape(outShape)
    }

    /// torch.gather: out[...i_d...] = self[...index[...]...] along `d`; index has self's rank.
    public func gather(_ d: Int, _ index: Tensor) throws -> Tensor {
        let dd = try dim(d, "gather")
        guard index.rank == rank else {
            throw TensorError("gather: index must have the same number of dims as input (\(rank)), got \(index.rank)")
        }
        for i in 0..<rank where i != dd && index.shape[i] > shape[i] {
            throw TensorError("gather: index shape \(fmt(index.shape)) exceeds input shape \(fmt(shape)) in dim \(i)")
        }
        let idx = try index.indexValues("gather", size: shape[dd], dimName: dd)
        let out = try Tensor.empty(index.shape, dtype: dtype)
        // Walk the index in row-major order; the source offset combines its coordinates with the picked one.
        var coord = [Int](repeating: 0, count: rank)
        let es = dtype.byteSize
        let src = try storage.raw(), dst = try out.storage.raw()
        for j in 0..<idx.count {
            var off = offset
            for k in 0..<rank { off += (k == dd ? idx[j] : coord[k]) * strides[k] }
            (dst + j * es).copyMemory(from: src + off * es, byteCount: es)
            var k = rank - 1
            while k >= 0 { coord[k] += 1; if coord[k] < index.shape[k] { break }; coord[k] = 0; k -= 1 }
        }
        return out
    }

    /// In-place torch.scatter_ (reduce: nil = assign, "add" = accumulate).
    public func scatterInPlace(_ d: Int, _ index: Tensor, _ src: Tensor, add: Bool = false) throws {
        let dd = try dim(d, "scatter")
        guard index.rank == rank else {
            throw TensorError("scatter: index must have the same number of dims as input (\(rank)), got \(index.rank)")
        }
        let values = try src.to(dtype).expand(index.shape).contiguous()
        let idx = try index.indexValues("scatter", size: shape[dd], dimName: dd)
        for i in 0..<rank where i != dd && index.shape[i] > shape[i] {
            throw TensorError("scatter: index shape \(fmt(index.shape)) exceeds input shape \(fmt(shape)) in dim \(i)")
        }
        var coord = [Int](repeating: 0, count: rank)
        // int64 values are read as integers: through a Double, Int64.max would become 2^63 and trap
        let ints = dtype == .int64 ? try values.toInts() : []
        let vals = dtype == .int64 ? [] : try values.toDoubles()
        let base = try storage.raw()
        for j in 0..<idx.count {
            var off = offset
            for k in 0..<rank { off += (k == dd ? idx[j] : coord[k]) * strides[k] }
            switch dtype {
            case .float32: let p = base.assumingMemoryBound(to: Float.self) + off; p.pointee = add ? p.pointee + Float(vals[j]) : Float(vals[j])
            case .int64: let p = base.assumingMemoryBound(to: Int64.self) + off; p.pointee = add ? p.pointee &+ Int64(ints[j]) : Int64(ints[j])
            case .bool: let p = base.assumingMemoryBound(to: UInt8.self) + off; p.pointee = (add ? (p.pointee != 0 || vals[j] != 0) : vals[j] != 0) ? 1 : 0
            }
            var k = rank - 1
            while k >= 0 { coord[k] += 1; if coord[k] < index.shape[k] { break }; coord[k] = 0; k -= 1 }
        }
    }

    /// Indices of non-zero (true) elements as [count, rank] int64 (torch.nonzero).
    public func nonzero() throws -> Tensor {
        let flags = try to(.bool).contiguous()
        let p = try flags.boolPointer()
        // counted first, so the result is one tensor allocation (under --max-memory), not a growing array
        var hits = 0
        for i in 0..<count where p[i] != 0 { hits += 1 }
        let out = try Tensor.empty([hits, rank], dtype: .int64)
        let q = try out.intPointer()
        var coord = [Int](repeating: 0, count: rank)
        var w = 0
        for i in 0..<count {
            if p[i] != 0 { for c in coord { q[w] = Int64(c); w += 1 } }
            var k = rank - 1
            while k >= 0 { coord[k] += 1; if coord[k] < shape[k] { break }; coord[k] = 0; k -= 1 }
        }
        return out
    }

    /// torch.where(cond, a, b) with broadcasting; the result dtype is float unless both are int.
    public static func whereSelect(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let s1 = try broadcastShapes(cond.shape, a.shape, "where")
        let shape = try broadcastShapes(s1, b.shape, "where")
        let dt: DType = (a.dtype == .float32 || b.dtype == .float32) ? .float32 : (a.dtype == .bool && b.dtype == .bool ? .bool : .int64)
        let c = try cond.to(.bool).expand(shape)
        let out = try a.to(dt).expand(shape).clone()
        let bb = try b.to(dt).expand(shape)
        let pc = try c.boolPointer()
        let es = dt.byteSize
        let po = try out.storage.raw(), pb = try bb.storage.raw() + bb.offset * es
        StridedLoop(shape: shape, strides: [c.strides, bb.strides, out.strides]).forEachRow { o, n, s in
            for i in 0..<n where pc[o[0] + i * s[0]] == 0 {
                (po + (o[2] + i * s[2]) * es).copyMemory(from: pb + (o[1] + i * s[1]) * es, byteCount: es)
            }
        }
        return out
    }

    /// In place: elements where `mask` (broadcast to this shape) is true become `value`.
    public func maskedFillInPlace(_ mask: Tensor, _ value: Double) throws {
        guard mask.dtype == .bool else { throw TensorError("masked_fill: mask must be a bool tensor, got \(mask.dtype.rawValue)") }
        let m = try mask.expand(shape)
        let pm = try m.boolPointer()
        switch dtype {
        case .float32:
            let p = try floatPointer(), v = Float(value)
            StridedLoop(shape: shape, strides: [m.strides, strides]).forEachRow { o, n, s in
                for i in 0..<n where pm[o[0] + i * s[0]] != 0 { p[o[1] + i * s[1]] = v }
            }
        case .int64:
            let p = try intPointer(), v = try Int64.storing(value)
            StridedLoop(shape: shape, strides: [m.strides, strides]).forEachRow { o, n, s in
                for i in 0..<n where pm[o[0] + i * s[0]] != 0 { p[o[1] + i * s[1]] = v }
            }
        case .bool:
            let p = try boolPointer(), v: UInt8 = value != 0 ? 1 : 0
            StridedLoop(shape: shape, strides: [m.strides, strides]).forEachRow { o, n, s in
                for i in 0..<n where pm[o[0] + i * s[0]] != 0 { p[o[1] + i * s[1]] = v }
            }
        }
    }

    public func maskedFill(_ mask: Tensor, _ value: Double) throws -> Tensor {
        _ = try broadcastShapes(mask.shape, shape, "masked_fill")
        let out = try clone()
        try out.maskedFillInPlace(mask, value)
        return out
    }
}

/// Joining tensors.
extension Tensor {
    public static func cat(_ ts: [Tensor], dim d: Int) throws -> Tensor {
        guard let first = ts.first(where: { !($0.rank == 1 && $0.count == 0) }) ?? ts.first else {
            throw TensorError("cat: expected a non-empty list of tensors")
        }
        let parts = ts.filter { !($0.rank == 1 && $0.count == 0) || $0 === first }  // torch skips legacy empty 1-D tensors
        let dd = try first.dim(d, "cat")
        let dt: DType = parts.contains { $0.dtype == .float32 } ? .float32 : (parts.allSatisfy { $0.dtype == .bool } ? .bool : .int64)
        var total = 0
        for (i, t) in parts.enumerated() {
            guard t.rank == first.rank else {
                throw TensorError("cat: tensor \(i + 1) has \(t.rank) dims, expected \(first.rank)")
            }
            for k in 0..<t.rank where k != dd && t.shape[k] != first.shape[k] {
                throw TensorError("cat: sizes must match except in dim \(dd): tensor \(i + 1) has shape \(fmt(t.shape)), tensor 1 has \(fmt(first.shape))")
            }
            total = try CheckedInt.add(total, t.shape[dd], "cat", "the size of dim \(dd)")
        }
        var outShape = first.shape; outShape[dd] = total
        let out = try Tensor.empty(outShape, dtype: dt)
        var at = 0
        for t in parts {
            try out.slice(dd, at, at + t.shape[dd]).copyFrom(t)
            at += t.shape[dd]
        }
        return out
    }

    public static func stack(_ ts: [Tensor], dim d: Int) throws -> Tensor {
        guard let first = ts.first else { throw TensorError("stack: expected a non-empty list of tensors") }
        for (i, t) in ts.enumerated() where t.shape != first.shape {
            throw TensorError("stack: all tensors must have the same shape: tensor \(i + 1) has \(fmt(t.shape)), tensor 1 has \(fmt(first.shape))")
        }
        let dd = try first.dim(d, "stack", rank: first.rank + 1)
        return try cat(ts.map { try $0.unsqueeze(dd) }, dim: dd)
    }
}
