/// Sorting and top-k along one dim, for float32 and int64 tensors (indices are int64).
///
/// Order: values compare numerically, NaN counts as larger than every number (as in torch),
/// and equal values keep their original order (stable), in both directions. Because ties are
/// broken by index, the order is total, so topk returns exactly the first k entries of the
/// corresponding stable sort.
extension Tensor {
    /// Sorts along `dim`; returns the sorted values and, for each, its index along `dim`.
    public func sort(dim: Int = -1, descending: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try checkValid()
        if rank == 0 { return try rankZeroSelect(k: 1, "sort") }
        let d = try self.dim(dim, "sort")
        return try selectAlong(d, k: shape[d], descending: descending, "sort")
    }

    /// The `k` largest (or smallest) entries along `dim` and their indices. The result is
    /// always in sorted order (allowed when `sorted` is false, where torch leaves it unspecified).
    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true, sorted: Bool = true) throws -> (values: Tensor, indices: Tensor) {
        try checkValid()
        guard k >= 0 else { throw TensorError("topk: k (\(k)) must be non-negative") }
        if rank == 0 {
            guard k <= 1 else { throw TensorError("topk: k (\(k)) is larger than the 1 element of a 0-d tensor") }
            return try rankZeroSelect(k: k, "topk")
        }
        let d = try self.dim(dim, "topk")
        guard k <= shape[d] else {
            throw TensorError("topk: k (\(k)) is larger than dim \(d) of size \(shape[d])")
        }
        return try selectAlong(d, k: k, descending: largest, "topk")
    }

    /// A 0-d tensor sorts to itself at index 0 (k = 0 gives empty [0] results).
    private func rankZeroSelect(k: Int, _ fn: String) throws -> (values: Tensor, indices: Tensor) {
        try checkSortable(fn)
        if k == 0 { return (try Tensor(zeros: [0], dtype: dtype), try Tensor(zeros: [0], dtype: .int64)) }
        return (try clone(), try Tensor(zeros: [], dtype: .int64))
    }

    private func checkSortable(_ fn: String) throws {
        guard dtype == .float32 || dtype == .int64 else {
            throw TensorError("\(fn): expected a float32 or int64 tensor, got \(dtype.rawValue)")
        }
    }

    /// The first `k` entries of each slice along `d` in sort order, as contiguous tensors whose
    /// dim `d` has size k.
    private func selectAlong(_ d: Int, k: Int, descending: Bool, _ fn: String) throws -> (values: Tensor, indices: Tensor) {
        try checkSortable(fn)
        var outShape = shape
        outShape[d] = k
        let values = try Tensor.empty(outShape, dtype: dtype)
        let indices = try Tensor.empty(outShape, dtype: .int64)
        switch dtype {
        case .float32:
            try selectRows(Float.self, d, k, descending, values, indices)
        default:
            try selectRows(Int64.self, d, k, descending, values, indices)
        }
        return (values, indices)
    }

    /// Visits every slice along `d` (the loop runs over all the other dims), gathers it into a
    /// buffer of (value, index) entries, orders it and writes the first k.
    private func selectRows<T: SortElement>(_: T.Type, _ d: Int, _ k: Int, _ descending: Bool,
                                             _ values: Tensor, _ indices: Tensor) throws {
        let n = shape[d]
        // no output elements: nothing to do (and [2^40, 0] must not loop over 2^40 empty rows)
        guard k > 0, values.count > 0 else { return }
        let src = try storage.raw().assumingMemoryBound(to: T.self) + offset
        let vout = try values.storage.raw().assumingMemoryBound(to: T.self)
        let iout = try indices.intPointer()
        let inStride = strides[d], outStride = values.strides[d]
        var outerShape = shape, inOuter = strides, outOuter = values.strides
        outerShape.remove(at: d); inOuter.remove(at: d); outOuter.remove(at: d)
        // A heap of the k best is O(n log k) against O(n log n) for a full sort: worth it when
        // k is a small part of the row (e.g. top 5 of a 50257-token vocabulary).
        let partial = k < n / 8
        let order = EntryOrder<T>(descending: descending)
        var buf = [SortEntry<T>]()
        try Limits.check(Limits.bytes(partial ? k : n, MemoryLayout<SortEntry<T>>.stride))
        buf.reserveCapacity(partial ? k : n)

        let loop = StridedLoop(shape: outerShape, strides: [inOuter, outOuter])
        loop.forEachRow { off, count, inner in
            for r in 0..<count {
                let row = src + off[0] + r * inner[0]
                let o = off[1] + r * inner[1]
                buf.removeAll(keepingCapacity: true)
                if partial {
                    selectBest(row, n, inStride, k, order, &buf)
                } else {
                    for i in 0..<n { buf.append(SortEntry(value: row[i * inStride], index: i)) }
                }
                buf.sort(by: order.precedes)
                for j in 0..<k {
                    vout[o + j * outStride] = buf[j].value
                    iout[o + j * outStride] = Int64(buf[j].index)
                }
            }
        }
    }
}

/// Element types sort understands, with NaN ordered after every number.
fileprivate protocol SortElement {
    static func sortLess(_ a: Self, _ b: Self) -> Bool
}

extension Float: SortElement {
    @inline(__always) static func sortLess(_ a: Float, _ b: Float) -> Bool {
        if a.isNaN { return false }
        if b.isNaN { return true }
        return a < b
    }
}

extension Int64: SortElement {
    @inline(__always) static func sortLess(_ a: Int64, _ b: Int64) -> Bool { a < b }
}

fileprivate struct SortEntry<T> {
    var value: T
    var index: Int
}

/// Output order of entries: by value in the requested direction, ties by original index.
fileprivate struct EntryOrder<T: SortElement> {
    let descending: Bool

    @inline(__always) func precedes(_ a: SortEntry<T>, _ b: SortEntry<T>) -> Bool {
        let (x, y) = descending ? (b.value, a.value) : (a.value, b.value)
        if T.sortLess(x, y) { return true }
        if T.sortLess(y, x) { return false }
        return a.index < b.index
    }
}

/// Leaves in `heap` the k entries of the strided row that come first in `order` (unordered).
/// `heap` is a binary heap whose root is the latest of the kept entries, so a new entry only
/// has to beat the root to get in.
private func selectBest<T: SortElement>(_ row: UnsafeMutablePointer<T>, _ n: Int, _ stride: Int, _ k: Int,
                                        _ order: EntryOrder<T>, _ heap: inout [SortEntry<T>]) {
    if k == 0 { return }
    for i in 0..<n {
        let e = SortEntry(value: row[i * stride], index: i)
        if heap.count < k {
            heap.append(e)
            var c = heap.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                guard order.precedes(heap[p], heap[c]) else { break }
                heap.swapAt(p, c)
                c = p
            }
        } else if order.precedes(e, heap[0]) {
            heap[0] = e
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                guard l < k else { break }
                var c = l
                if r < k && order.precedes(heap[l], heap[r]) { c = r }
                guard order.precedes(heap[p], heap[c]) else { break }
                heap.swapAt(p, c)
                p = c
            }
        }
    }
}
