import Foundation

/// Diagonals and triangles of matrices: `diagonal` is a view (as torch.diagonal), `tril` and
/// `triu` are copies with the other triangle zeroed (as torch.tril / torch.triu).
extension Tensor {
    /// The diagonal `offset` above (below, when negative) the main diagonal of the matrices
    /// spanned by dims d1 and d2. Both dims are removed and the diagonal becomes the last dim.
    public func diagonal(offset k: Int = 0, _ d1: Int = 0, _ d2: Int = 1) throws -> Tensor {
        try checkValid()   // a view of freed memory would fail only later
        guard rank >= 2 else { throw TensorError("diagonal: expected a tensor with at least 2 dimensions, got \(rank)") }
        let a = try dim(d1, "diagonal"), b = try dim(d2, "diagonal")
        guard a != b else { throw TensorError("diagonal: dim1 and dim2 cannot be the same dim (\(a))") }
        guard k.magnitude <= UInt(Int32.max) else { throw TensorError("diagonal: offset \(k) out of range") }
        // length: rows a picks from, columns b picks from, shifted by k
        let n = k >= 0 ? Swift.min(shape[a], shape[b] - k) : Swift.min(shape[a] + k, shape[b])
        let len = Swift.max(n, 0)
        let start = len == 0 ? 0 : (k >= 0 ? k * strides[b] : -k * strides[a])
        var s = [Int](), st = [Int]()
        for i in 0..<rank where i != a && i != b { s.append(shape[i]); st.append(strides[i]) }
        s.append(len); st.append(strides[a] + strides[b])
        return withView(s, st, offset + start)
    }

    /// Lower triangle (j - i <= k) of the last two dims; the rest is zero.
    public func tril(_ k: Int = 0) throws -> Tensor { try triangle(k, lower: true) }

    /// Upper triangle (j - i >= k) of the last two dims; the rest is zero.
    public func triu(_ k: Int = 0) throws -> Tensor { try triangle(k, lower: false) }

    func triangle(_ k: Int, lower: Bool) throws -> Tensor {
        let fn = lower ? "tril" : "triu"
        guard rank >= 2 else { throw TensorError("\(fn): expected a tensor with at least 2 dimensions, got \(rank)") }
        let out = try clone()
        let rows = shape[rank - 2], cols = shape[rank - 1]
        guard rows > 0, cols > 0 else { return out }
        let es = dtype.byteSize
        let base = try out.storage.raw()
        let kk = Swift.max(Swift.min(k, cols + 1), -rows - 1)   // beyond the matrix every k acts alike
        for m in 0..<(out.count / (rows * cols)) {
            for i in 0..<rows {
                // zero the columns [lo, hi) of row i
                let (lo, hi) = lower ? (Swift.max(0, i + kk + 1), cols) : (0, Swift.min(cols, Swift.max(0, i + kk)))
                guard lo < hi else { continue }
                memset(base + ((m * rows + i) * cols + lo) * es, 0, (hi - lo) * es)
            }
        }
        return out
    }
}
