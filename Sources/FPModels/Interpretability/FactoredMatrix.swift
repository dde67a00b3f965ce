import CBLAS
import FPTensor

/// A matrix kept as the product of two low-rank factors, M = A B with A [ldim, mdim] and
/// B [mdim, rdim] (TransformerLens's FactoredMatrix, one 2-D matrix). SVD, eigenvalues and the
/// norm are computed from the factors, never from the ldim x rdim product.
public final class FactoredMatrix {
    public let a: Tensor
    public let b: Tensor

    public var ldim: Int { a.shape[0] }
    public var mdim: Int { a.shape[1] }
    public var rdim: Int { b.shape[1] }

    public init(_ a: Tensor, _ b: Tensor) throws {
        guard a.rank == 2, b.rank == 2 else {
            throw TensorError("FactoredMatrix: A and B must be 2-D matrices, got shapes \(a.shape) and \(b.shape)")
        }
        guard a.dtype == .float32, b.dtype == .float32 else {
            throw TensorError("FactoredMatrix: A and B must be float32, got \(a.dtype.rawValue) and \(b.dtype.rawValue)")
        }
        guard a.shape[1] == b.shape[0] else {
            throw TensorError("FactoredMatrix: inner dimensions differ: A \(a.shape), B \(b.shape)")
        }
        guard a.shape.allSatisfy({ $0 > 0 }), b.shape.allSatisfy({ $0 > 0 }) else {
            throw TensorError("FactoredMatrix: empty factor: A \(a.shape), B \(b.shape)")
        }
        self.a = a
        self.b = b
    }

    /// The product A B [ldim, rdim].
    public func product() throws -> Tensor { try a.matmul(b) }

    /// The reverse product B A [mdim, mdim] (needs ldim == rdim).
    public func reverseProduct() throws -> Tensor {
        guard ldim == rdim else {
            throw TensorError("FactoredMatrix: BA needs a square matrix (ldim == rdim), shape is [\(ldim), \(rdim)]")
        }
        return try b.matmul(a)
    }

    /// (A B)^T = B^T A^T.
    public func transposed() throws -> FactoredMatrix { try FactoredMatrix(b.T(), a.T()) }

    /// Thin SVD A B = U diag(S) V^T from the factors: A = Qa Ra, B^T = Qb Rb, then the SVD of the
    /// small Ra Rb^T = Um diag(S) Vm^T gives U = Qa Um, V = Qb Vm. U [ldim, r], S [r] descending,
    /// V [rdim, r] with r = min(ldim, mdim, rdim). As TransformerLens's FactoredMatrix.svd, the
    /// third result is V (columns are right singular vectors), not torch.linalg.svd's Vh.
    public func svd() throws -> (u: Tensor, s: Tensor, v: Tensor) {
        let (qa, ra) = try Linalg.qr(a)
        let (qb, rb) = try Linalg.qr(b.T())
        let middle = try ra.matmul(rb.T())
        let (um, s, vmh) = try Linalg.svd(middle)
        return (try qa.matmul(um), s, try qb.matmul(vmh.T()))
    }

    /// Eigenvalues of A B other than its trailing zeros: those of the small B A (needs
    /// ldim == rdim), as TransformerLens computes them. Real and imaginary parts [mdim], in
    /// LAPACK's order (torch.linalg.eig's; complex pairs adjacent, positive imaginary part first).
    public func eigenvalues() throws -> (real: Tensor, imag: Tensor) {
        try FactoredMatrix.eigenvalues(of: reverseProduct())
    }

    /// Frobenius norm of A B: sqrt(sum((A^T A) * (B B^T))), from two mdim x mdim Gram matrices.
    public func norm() throws -> Double {
        let ga = try a.T().matmul(a), gb = try b.matmul(b.T())
        let pa = try ga.floatPointer(), pb = try gb.floatPointer()
        var s = 0.0
        for i in 0..<(mdim * mdim) { s += Double(pa[i]) * Double(pb[i]) }
        withExtendedLifetime((ga, gb)) {}
        return s > 0 ? s.squareRoot() : 0
    }

    /// The same matrix as (U sqrt(S)) (sqrt(S) V^T): both factors carry half the singular values.
    public func makeEven() throws -> FactoredMatrix {
        let (u, s, v) = try svd()
        let r = try s.unary(.sqrt)
        return try FactoredMatrix(Tensor.binary(.mul, u, r), Tensor.binary(.mul, v, r).T().contiguous())
    }

    /// self @ x: a vector [rdim] gives the vector [ldim]; a matrix [rdim, p] gives a
    /// FactoredMatrix (A, B x) or (A B, x), whichever keeps the inner dimension small (TL's rule).
    public func matmul(_ x: Tensor) throws -> Either {
        guard x.rank == 1 || x.rank == 2, x.shape[0] == rdim else {
            throw TensorError("FactoredMatrix: cannot multiply [\(ldim), \(rdim)] by a tensor of shape \(x.shape) (expected [\(rdim)] or [\(rdim), n])")
        }
        if x.rank == 1 { return .tensor(try a.matmul(b.matmul(x))) }
        if rdim > mdim { return .factored(try FactoredMatrix(a, b.matmul(x))) }
        return .factored(try FactoredMatrix(product(), x))
    }

    /// self @ other = (self @ other.A) @ other.B.
    public func matmul(_ other: FactoredMatrix) throws -> FactoredMatrix {
        guard other.ldim == rdim else {
            throw TensorError("FactoredMatrix: cannot multiply [\(ldim), \(rdim)] by [\(other.ldim), \(other.rdim)]")
        }
        switch try matmul(other.a) {
        case .factored(let f): return try FactoredMatrix(f.a, f.b.matmul(other.b))
        case .tensor: throw TensorError("FactoredMatrix: internal error in matmul")
        }
    }

    /// x @ self: a vector [ldim] gives the vector [rdim]; a matrix [p, ldim] gives a
    /// FactoredMatrix (x A, B) or (x, A B).
    public func rmatmul(_ x: Tensor) throws -> Either {
        guard x.rank == 1 || x.rank == 2, x.shape[x.rank - 1] == ldim else {
            throw TensorError("FactoredMatrix: cannot multiply a tensor of shape \(x.shape) by [\(ldim), \(rdim)] (expected [\(ldim)] or [n, \(ldim)])")
        }
        if x.rank == 1 { return .tensor(try x.matmul(a).matmul(b)) }
        if ldim > mdim { return .factored(try FactoredMatrix(x.matmul(a), b)) }
        return .factored(try FactoredMatrix(x, product()))
    }

    public enum Either {
        case tensor(Tensor)
        case factored(FactoredMatrix)
    }

    /// Eigenvalues of a general square float32 matrix (LAPACK sgeev, no eigenvectors).
    static func eigenvalues(of m: Tensor) throws -> (real: Tensor, imag: Tensor) {
        guard m.rank == 2, m.shape[0] == m.shape[1], m.dtype == .float32 else {
            throw TensorError("eigenvalues: expected a square float32 matrix, got \(m.dtype.rawValue) \(m.shape)")
        }
        let n = m.shape[0]
        guard n > 0 else { return (try Tensor(zeros: [0]), try Tensor(zeros: [0])) }
        guard n < 1 << 15 else { throw TensorError("eigenvalues: matrix of size \(n) is too large") }
        let src = try m.contiguous()
        let sp = try src.floatPointer()
        // column-major copy: element (i, j) at i + j n
        var A = [Float](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                let v = sp[i * n + j]
                guard v.isFinite else { throw TensorError("eigenvalues: the matrix contains a non-finite value (\(v)) at [\(i), \(j)]") }
                A[i + j * n] = v
            }
        }
        withExtendedLifetime(src) {}
        var wr = [Float](repeating: 0, count: n), wi = [Float](repeating: 0, count: n)
        var N = Int32(n), lda = Int32(n), ldv: Int32 = 1, info: Int32 = 0
        var jobvl = CChar(UInt8(ascii: "N")), jobvr = CChar(UInt8(ascii: "N"))
        var vl: [Float] = [0], vr: [Float] = [0]
        var query: Float = 0, lwork: Int32 = -1
        sgeev_(&jobvl, &jobvr, &N, &A, &lda, &wr, &wi, &vl, &ldv, &vr, &ldv, &query, &lwork, &info)
        guard info == 0 else { throw TensorError("eigenvalues: LAPACK sgeev failed (info \(info))") }
        lwork = Int32(max(Double(query).rounded(.up) + 1, Double(4 * n)))
        var work = [Float](repeating: 0, count: Int(lwork))
        sgeev_(&jobvl, &jobvr, &N, &A, &lda, &wr, &wi, &vl, &ldv, &vr, &ldv, &work, &lwork, &info)
        if info > 0 { throw TensorError("eigenvalues: the QR algorithm did not converge (sgeev info \(info))") }
        guard info == 0 else { throw TensorError("eigenvalues: LAPACK sgeev failed (info \(info))") }
        return (try Tensor(wr, shape: [n]), try Tensor(wi, shape: [n]))
    }
}

extension Transformer {
    /// A 0-based layer (negative counts from the end), checked.
    func checkedLayerHead(_ layer: Int, _ head: Int, _ what: String) throws -> (Int, Int) {
        let l = layer < 0 ? layer + cfg.nLayers : layer
        guard l >= 0 && l < cfg.nLayers else {
            throw TensorError("\(what): no layer \(layer) (layers are 0-based, 0 to \(cfg.nLayers - 1))")
        }
        let h = head < 0 ? head + cfg.nHeads : head
        guard h >= 0 && h < cfg.nHeads else {
            throw TensorError("\(what): no head \(head) (heads are 0-based, 0 to \(cfg.nHeads - 1))")
        }
        return (l, h)
    }

    /// W_OV = W_V[h] W_O[h] of one head: A = W_V[h] [d_model, d_head] (the key-value head's with
    /// grouped-query attention), B = W_O[h] [d_head, d_model]. Both are views of the live weights.
    public func ov(layer: Int, head: Int) throws -> FactoredMatrix {
        let (l, h) = try checkedLayerHead(layer, head, "OV")
        let w = weights.blocks[l], dh = cfg.dHead, kv = h / (cfg.nHeads / cfg.nKVHeads)
        let v0 = (cfg.nHeads + cfg.nKVHeads + kv) * dh
        return try FactoredMatrix(w.wQKV.slice(1, v0, v0 + dh), w.wO.slice(0, h * dh, (h + 1) * dh))
    }

    /// W_QK = W_Q[h] W_K[h]^T of one head: A = W_Q[h] [d_model, d_head], B = W_K[h]^T
    /// [d_head, d_model] (views). Biases and rotary embeddings are not included (as in TL).
    public func qk(layer: Int, head: Int) throws -> FactoredMatrix {
        let (l, h) = try checkedLayerHead(layer, head, "QK")
        let w = weights.blocks[l], dh = cfg.dHead, kv = h / (cfg.nHeads / cfg.nKVHeads)
        let k0 = (cfg.nHeads + kv) * dh
        return try FactoredMatrix(w.wQKV.slice(1, h * dh, (h + 1) * dh), w.wQKV.slice(1, k0, k0 + dh).T())
    }
}
