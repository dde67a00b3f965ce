import CBLAS
import CDNNL
import Foundation

/// A 2-D operand as BLAS sees it: transposed or not, with a leading dimension.
private struct GemmOperand {
    let trans: CBLAS_TRANSPOSE
    let ld: Int

    /// nil when the strides fit neither layout (the caller copies then).
    init?(rows: Int, cols: Int, rowStride: Int, colStride: Int) {
        if colStride == 1 && (rowStride >= Swift.max(1, cols) || rows == 1) {
            trans = CblasNoTrans; ld = Swift.max(rowStride, cols, 1)
        } else if rowStride == 1 && (colStride >= Swift.max(1, rows) || cols == 1) {
            trans = CblasTrans; ld = Swift.max(colStride, rows, 1)
        } else { return nil }
    }
}

extension Tensor {
    /// torch.matmul semantics: 1-D x 1-D is a dot product, 1-D operands get a dim added and
    /// removed, and leading (batch) dims broadcast. Every product goes through sgemm.
    public func matmul(_ other: Tensor) throws -> Tensor {
        let a = try to(.float32), b = try other.to(.float32)
        try a.checkValid(); try b.checkValid()
        guard a.rank > 0, b.rank > 0 else {
            throw TensorError("matmul: both arguments need at least 1 dimension, got shapes \(fmt(shape)) and \(fmt(other.shape))")
        }
        if a.rank == 1 && b.rank == 1 {
            guard a.shape[0] == b.shape[0] else {
                throw TensorError("matmul: shapes \(fmt(shape)) and \(fmt(other.shape)) cannot be multiplied (inner dims \(a.shape[0]) != \(b.shape[0]))")
            }
            return try a.unsqueeze(0).matmul(b.unsqueeze(1)).reshape([])
        }
        if a.rank == 1 { return try a.unsqueeze(0).matmul(b).squeeze(-2) }
        if b.rank == 1 { return try a.matmul(b.unsqueeze(1)).squeeze(-1) }

        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
        let k2 = b.shape[b.rank - 2], n = b.shape[b.rank - 1]
        guard k == k2 else {
            throw TensorError("matmul: shapes \(fmt(shape)) and \(fmt(other.shape)) cannot be multiplied (inner dims \(k) != \(k2))")
        }
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        let batch = try broadcastShapes(batchA, batchB, "matmul")
        guard let _ = checkedProduct(batch + [m, n]), m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max) else {
            throw TensorError("matmul: result of shape \(fmt(batch + [m, n])) is too large")
        }
        let out = try Tensor.empty(batch + [m, n])
        if out.count == 0 { return out }

        // One sgemm when b has no batch dims and a's batch dims fold into its rows.
        if batchB.isEmpty, !batchA.isEmpty, let folded = Tensor.viewStrides(a.shape, a.strides, [batch.reduce(1, *) * m, k]) {
            let av = a.withView([batch.reduce(1, *) * m, k], folded, a.offset)
            try gemm(av, b, into: out.view([batch.reduce(1, *) * m, n]))
            return out
        }
        let ea = try a.expand(batch + [m, k]), eb = try b.expand(batch + [k, n])
        let nb = batch.reduce(1, *)
        let outFlat = try out.view([nb, m, n])
        var idx = [Int](repeating: 0, count: batch.count)
        for i in 0..<nb {
            var oa = ea.offset, ob = eb.offset
            for d in 0..<batch.count { oa += idx[d] * ea.strides[d]; ob += idx[d] * eb.strides[d] }
            let am = ea.withView([m, k], Array(ea.strides.suffix(2)), oa)
            let bm = eb.withView([k, n], Array(eb.strides.suffix(2)), ob)
            try gemm(am, bm, into: try outFlat.select(0, i))
            var d = batch.count - 1
            while d >= 0 { idx[d] += 1; if idx[d] < batch[d] { break }; idx[d] = 0; d -= 1 }
        }
        return out
    }

    /// Batched matmul of [b, m, k] and [b, k, n] (torch.bmm): checks the ranks, then matmul.
    public func bmm(_ other: Tensor) throws -> Tensor {
        guard rank == 3, other.rank == 3 else {
            throw TensorError("bmm: expected 3-D tensors, got shapes \(fmt(shape)) and \(fmt(other.shape))")
        }
        guard shape[0] == other.shape[0] else {
            throw TensorError("bmm: batch sizes differ (\(shape[0]) != \(other.shape[0]))")
        }
        return try matmul(other)
    }

    /// Outer product of two 1-D tensors.
    public static func outer(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank == 1, b.rank == 1 else {
            throw TensorError("outer: expected 1-D tensors, got shapes \(fmt(a.shape)) and \(fmt(b.shape))")
        }
        return try a.unsqueeze(1).matmul(b.unsqueeze(0))
    }
}

/// C = alpha A B + beta C for 2-D float views; C must have unit column stride (rows may be
/// strided). Operands whose strides BLAS cannot express (e.g. stride 0 from expand) are copied.
/// OpenBLAS or oneDNN runs it, as GemmDispatch decides for the shape.
public func gemm(_ a: Tensor, _ b: Tensor, into c: Tensor, alpha: Float = 1, beta: Float = 0) throws {
    guard a.rank == 2, b.rank == 2, c.rank == 2, a.shape[1] == b.shape[0],
          c.shape == [a.shape[0], b.shape[1]], c.strides[1] == 1 || b.shape[1] <= 1 else {
        throw TensorError("gemm: shapes \(fmt(a.shape)) x \(fmt(b.shape)) -> \(fmt(c.shape)) do not fit (C needs unit column stride)")
    }
    let m = a.shape[0], k = a.shape[1], n = b.shape[1]
    if m == 0 || n == 0 { return }
    if k == 0 { if beta == 0 { try c.fill(0) }; return }
    var aa = a, bb = b
    var oa = GemmOperand(rows: m, cols: k, rowStride: a.strides[0], colStride: a.strides[1])
    if oa == nil { aa = try a.clone(); oa = GemmOperand(rows: m, cols: k, rowStride: k, colStride: 1) }
    var ob = GemmOperand(rows: k, cols: n, rowStride: b.strides[0], colStride: b.strides[1])
    if ob == nil { bb = try b.clone(); ob = GemmOperand(rows: k, cols: n, rowStride: n, colStride: 1) }
    guard let opA = oa, let opB = ob else { throw TensorError("matmul: internal layout error") }
    let pa = try aa.readFloatPointer(), pb = try bb.readFloatPointer(), pc = try c.floatPointer()
    let ldc = c.strides[0]
    // BLAS takes 32-bit sizes and leading dimensions
    _ = try CheckedInt.int32(m, "matmul", "size")
    let n32 = try CheckedInt.int32(n, "matmul", "size")
    let k32 = try CheckedInt.int32(k, "matmul", "size")
    let lda = try CheckedInt.int32(opA.ld, "matmul", "row stride"), ldb = try CheckedInt.int32(opB.ld, "matmul", "row stride")
    let ldc32 = try CheckedInt.int32(Swift.max(ldc, n, 1), "matmul", "row stride")
    let threads = BLASThreads.forProduct(m: m, n: n, k: k)
    let ta = opA.trans == CblasTrans, tb = opB.trans == CblasTrans

    /// The product of the first `rows` rows of A and C with one library; false if it failed.
    func run(_ backend: GemmBackend, rows: Int) -> Bool {
        switch backend {
        case .onednn:
            BLASThreads.useDNNL(BLASThreads.configured)
            if fp_dnnl_sgemm(ta ? 84 : 78, tb ? 84 : 78, Int64(rows), Int64(n), Int64(k), alpha,
                             pa, Int64(opA.ld), pb, Int64(opB.ld), beta, pc, Int64(ldc32)) == 0 { return true }
            return run(.openblas, rows: rows)   // oneDNN refused (e.g. out of memory): OpenBLAS's turn
        case .openblas:
            BLASThreads.use(threads)
            if rows == 1 && !tb && aa.strides[1] == 1 && c.strides[1] == 1 {
                // Vector-matrix: sgemv on B^T is faster than sgemm with m = 1.
                cblas_sgemv(CblasRowMajor, CblasTrans, k32, n32, alpha, pb, ldb, pa, 1, beta, pc, 1)
            } else {
                cblas_sgemm(CblasRowMajor, opA.trans, opB.trans, Int32(rows), n32, k32, alpha, pa, lda, pb, ldb, beta, pc, ldc32)
            }
            return true
        }
    }

    let shape = GemmShapeClass(m: m, k: k, n: n, transA: ta, transB: tb, threads: threads)
    let rows = GemmShapeClass.calibrationRows(m)
    // Calibration runs the product on the real operands (rows of C are overwritten below), so
    // it needs beta == 0; a product with beta != 0 uses OpenBLAS until its class is measured.
    let backend = beta != 0 && GemmDispatch.mode == .measure && !GemmDispatch.isCalibrated(shape)
        ? .openblas
        : GemmDispatch.backend(for: shape, m: rows, k: k, n: n) { b in
            // One thread: this thread's CPU time, which other processes on a busy host do not
            // inflate; several threads: wall-clock time (their waiting is part of the cost).
            let clock = threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC
            let t0 = seconds(clock)
            return run(b, rows: rows) ? seconds(clock) - t0 : nil
        }
    _ = run(backend, rows: m)
}

private func seconds(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
