/// One entry of an index expression: t[{0, {}, {1, 3}, "...", fp.newaxis, idx}].
public enum IndexItem {
    case int(Int)                              // selects, drops the dim
    case all                                   // {}
    case range(Int?, Int?, Int)                // {a, b, step}: half-open, Python rules
    case ellipsis                              // "..."
    case newaxis                               // inserts a size-1 dim
    case tensor(Tensor)                        // int64 indices (index_select) or a bool mask
}

extension Tensor {
    /// Number of dims an item consumes.
    private static func consumed(_ item: IndexItem) -> Int {
        switch item {
        case .int, .all, .range: return 1
        case .ellipsis, .newaxis: return 0
        case .tensor(let t): return t.dtype == .bool ? Swift.max(t.rank, 1) : 1
        }
    }

    /// Replaces the ellipsis (or appends) with `.all` items so every dim is covered.
    private func expandEllipsis(_ items: [IndexItem]) throws -> [IndexItem] {
        let used = items.reduce(0) { $0 + Tensor.consumed($1) }
        let ellipses = items.indices.filter { if case .ellipsis = items[$0] { return true }; return false }
        guard ellipses.count <= 1 else { throw TensorError("index: an index can only have a single ellipsis ('...')") }
        guard used <= rank else {
            throw TensorError("index: too many indices for tensor of dimension \(rank) (got \(used))")
        }
        var out = items
        let fill = [IndexItem](repeating: .all, count: rank - used)
        if let e = ellipses.first { out.replaceSubrange(e...e, with: fill) } else { out += fill }
        return out
    }

    /// The view selected by the basic items, and the advanced (tensor) items with their dim in that view.
    private func basicView(_ items: [IndexItem]) throws -> (Tensor, [(Int, Tensor)]) {
        var v = self
        var d = 0
        var src = 0   // the dim of self that the item indexes (for error messages)
        var advanced = [(Int, Tensor)]()
        for item in try expandEllipsis(items) {
            switch item {
            case .int(let i):
                let size = v.shape[d]
                guard i >= -size && i < size else {
                    throw TensorError("index \(i) is out of bounds for dim \(src) with size \(size)")
                }
                v = try v.select(d, i); src += 1
            case .all: d += 1; src += 1
            case .range(let a, let b, let step):
                v = try v.slice(d, a, b, step); d += 1; src += 1
            case .newaxis:
                v = try v.unsqueeze(d); d += 1
            case .tensor(let t):
                if t.dtype == .bool {
                    let r = Swift.max(t.rank, 1)
                    let maskShape = t.rank == 0 ? [1] : t.shape
                    guard Array(v.shape[d..<(d + r)]) == maskShape else {
                        throw TensorError("index: mask of shape \(fmt(t.shape)) does not match the indexed dims \(fmt(Array(v.shape[d..<(d + r)])))")
                    }
                    if r > 1 { v = try v.flatten(d, d + r - 1) }   // may copy; masks are rarely multi-dim in views
                    advanced.append((d, try t.reshape([-1]).nonzero().reshape([-1])))
                    src += r
                } else if t.dtype == .int64 {
                    advanced.append((d, t)); src += 1
                } else {
                    throw TensorError("index: index tensors must be int or bool, got \(t.dtype.rawValue)")
                }
                d += 1
            case .ellipsis: break
            }
        }
        return (v, advanced)
    }

    /// Reads t[items]: a view for basic indexing, a copy when an index tensor is involved.
    public func index(_ items: [IndexItem]) throws -> Tensor {
        try checkValid()
        let (v, advanced) = try basicView(items)
        var r = v
        // Apply from the last so earlier dim positions stay valid when an index adds dims.
        for (d, idx) in advanced.reversed() { r = try r.indexSelect(d, idx) }
        return r
    }

    /// Writes value (broadcast) into t[items]. Views alias: writing through them edits this tensor.
    public func indexAssign(_ items: [IndexItem], _ value: Tensor) throws {
        try checkValid()
        // A full-shape bool mask with a scalar is masked_fill, the common case.
        if items.count == 1, case .tensor(let m) = items[0], m.dtype == .bool, m.shape == shape, value.count == 1 {
            try maskedFillInPlace(m, try value.toDoubles()[0])
            return
        }
        // A multi-dim mask flattens its dims, which copies when they are not contiguous:
        // assign into a contiguous copy and write that back, so the writes are not lost.
        if !isContiguous, items.contains(where: { if case .tensor(let m) = $0 { return m.dtype == .bool && m.rank > 1 }; return false }) {
            let c = try clone()
            try c.indexAssign(items, value)
            try copyFrom(c)
            return
        }
        let (v, advanced) = try basicView(items)
        if advanced.isEmpty {
            try v.copyFrom(value)
            return
        }
        guard advanced.count == 1, let (d, idx) = advanced.first else {
            throw TensorError("index assignment: only one index tensor is supported per assignment")
        }
        let positions = try idx.indexValues("index assignment", size: v.shape[d], dimName: d)
        var target = v.shape
        target[d] = positions.count
        let src = try value.expand(target)
        for (j, p) in positions.enumerated() {
            try v.select(d, p).copyFrom(try src.select(d, j))
        }
    }
}
