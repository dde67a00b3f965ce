import CBLAS
import Foundation

/// Dense linear algebra on 2-D float32 matrices through OpenBLAS's LAPACK, following
/// torch.linalg's shapes and conventions. LAPACK is column-major: each routine copies its
/// (possibly strided) input into a fresh column-major buffer, which LAPACK then overwrites,
/// and converts results back to row-major tensors.
public enum Linalg {
    /// QR decomposition A = Q R. Reduced: Q [m, k], R [k, n] with k = min(m, n);
    /// complete: Q [m, m], R [m, n]. Q has orthonormal columns, R is upper triangular.
    public static func qr(_ a: Tensor, reduced: Bool = true) throws -> (q: Tensor, r: Tensor) {
        let (m, n) = try matrixShape(a, "qr")
        let k = min(m, n)
        let qCols = reduced ? k : m
        let rRows = reduced ? k : m
        if k == 0 {
            // Nothing to factor: Q is empty (reduced) or the identity (complete), R is all zeros.
            return (try identity(m, cols: qCols), try Tensor(zeros: [rRows, n]))
        }
        let A = try columnMajorCopy(a, "qr")
        defer { A.deallocate() }
        var M = try lapackInt(m, "qr"), N = try lapackInt(n, "qr"), K = Int32(k)
        var lda = M, info: Int32 = 0
        let tau: UnsafeMutablePointer<Float> = try scratch(k, "qr")
        defer { tau.deallocate() }

        // Householder factorization: R in the upper triangle of A, reflectors below it.
        var query: Float = 0, lwork: Int32 = -1
        sgeqrf_(&M, &N, A, &lda, tau, &query, &lwork, &info)
        try check(info, "qr", "sgeqrf")
        lwork = try workspaceSize(query, "qr")
        try withWorkspace(Float.self, Int(lwork), "qr") { work in
            sgeqrf_(&M, &N, A, &lda, tau, work, &lwork, &info)
        }
        try check(info, "qr", "sgeqrf")

        let r = try Tensor(zeros: [rRows, n])
        let rp = try r.floatPointer()
        for i in 0..<min(rRows, n) {  // rows at and past n are all zero
            for j in i..<n { rp[i * n + j] = A[i + j * m] }
        }

        // Q: sorgqr expands the k reflectors (in the first k columns) into qCols columns.
        let Q: UnsafeMutablePointer<Float> = try scratch(m * qCols, "qr")
        defer { Q.deallocate() }
        Q.update(from: A, count: m * min(qCols, n))
        var QC = Int32(qCols)
        lwork = -1
        sorgqr_(&M, &QC, &K, Q, &lda, tau, &query, &lwork, &info)
        try check(info, "qr", "sorgqr")
        lwork = try workspaceSize(query, "qr")
        try withWorkspace(Float.self, Int(lwork), "qr") { work in
            sorgqr_(&M, &QC, &K, Q, &lda, tau, work, &lwork, &info)
        }
        try check(info, "qr", "sorgqr")
        return (try fromColumnMajor(Q, rows: m, cols: qCols, ld: m), r)
    }

    /// Singular value decomposition A = U diag(S) Vh (torch.linalg.svd): S [k] descending,
    /// k = min(m, n); U [m, k] and Vh [k, n], or U [m, m] and Vh [n, n] with `fullMatrices`.
    public static func svd(_ a: Tensor, fullMatrices: Bool = false) throws -> (u: Tensor, s: Tensor, vh: Tensor) {
        let (m, n) = try matrixShape(a, "svd")
        let k = min(m, n)
        let uCols = fullMatrices ? m : k
        let vRows = fullMatrices ? n : k
        if k == 0 {
            return (try identity(m, cols: uCols), try Tensor(zeros: [0]), try identity(vRows, cols: n))
        }
        let A = try columnMajorCopy(a, "svd")
        defer { A.deallocate() }
        var M = try lapackInt(m, "svd"), N = try lapackInt(n, "svd")
        var lda = M, ldu = M, ldvt = Int32(vRows), info: Int32 = 0
        var jobz = CChar(UInt8(ascii: fullMatrices ? "A" : "S"))
        // LAPACK indexes the outputs with 32-bit integers.
        _ = try lapackInt(m * uCols, "svd"); _ = try lapackInt(vRows * n, "svd")
        let s: UnsafeMutablePointer<Float> = try scratch(k, "svd")
        defer { s.deallocate() }
        let U: UnsafeMutablePointer<Float> = try scratch(m * uCols, "svd")
        defer { U.deallocate() }
        let VT: UnsafeMutablePointer<Float> = try scratch(vRows * n, "svd")
        defer { VT.deallocate() }
        let iwork: UnsafeMutablePointer<Int32> = try scratch(8 * k, "svd")
        defer { iwork.deallocate() }

        // Divide and conquer SVD (the driver torch uses on CPU).
        var query: Float = 0, lwork: Int32 = -1
        sgesdd_(&jobz, &M, &N, A, &lda, s, U, &ldu, VT, &ldvt, &query, &lwork, iwork, &info)
        try check(info, "svd", "sgesdd")
        lwork = try workspaceSize(query, "svd")
        try withWorkspace(Float.self, Int(lwork), "svd") { work in
            sgesdd_(&jobz, &M, &N, A, &lda, s, U, &ldu, VT, &ldvt, work, &lwork, iwork, &info)
        }
        if info > 0 { throw TensorError("svd: the algorithm did not converge (sgesdd info \(info))") }
        try check(info, "svd", "sgesdd")

        let sv = try Tensor.empty([k])
        try sv.floatPointer().update(from: s, count: k)
        return (try fromColumnMajor(U, rows: m, cols: uCols, ld: m), sv,
                try fromColumnMajor(VT, rows: vRows, cols: n, ld: vRows))
    }

    /// Moore-Penrose pseudo-inverse [n, m] of A [m, n] via SVD: singular values at or below
    /// rcond * max singular value count as zero. Default rcond is max(m, n) * float32 eps, as in
    /// torch.linalg.pinv (`rcond` is torch's relative tolerance `rtol`).
    public static func pinv(_ a: Tensor, rcond: Float? = nil) throws -> Tensor {
        let (m, n) = try matrixShape(a, "pinv")
        if let rc = rcond, !(rc.isFinite && rc >= 0) {
            throw TensorError("pinv: rcond must be a finite non-negative number, got \(rc)")
        }
        if min(m, n) == 0 { return try Tensor(zeros: [n, m]) }
        let (u, s, vh) = try svd(a)
        let k = min(m, n)
        let up = try u.floatPointer(), sp = try s.floatPointer(), vp = try vh.floatPointer()
        let tol = (rcond ?? Float(max(m, n)) * Float.ulpOfOne) * sp[0]
        // Scale row l of Vh by 1/s_l (0 for dropped values): pinv = Vh^T diag(1/s) U^T.
        let scaled = try vh.clone()
        let wp = try scaled.floatPointer()
        for l in 0..<k {
            let inv: Float = sp[l] > tol ? 1 / sp[l] : 0
            for j in 0..<n { wp[l * n + j] = vp[l * n + j] * inv }
        }
        let out = try Tensor.empty([n, m])
        let N = Int32(n), M = Int32(m), K = Int32(k)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, N, M, K, 1, wp, N, up, K, 0,
                    try out.floatPointer(), M)
        withExtendedLifetime((u, s, vh, scaled)) {}
        return out
    }

    /// Solves A x = b for square A [n, n] and b [n] or [n, k] (LU with partial pivoting);
    /// x has b's shape. An exactly singular A is an error.
    public static func solve(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let (m, n) = try matrixShape(a, "solve")
        guard m == n else { throw TensorError("solve: A must be square, got shape \(fmt(a.shape))") }
        guard b.dtype == .float32 else {
            throw TensorError("solve: b must be a float32 tensor, got \(b.dtype.rawValue)")
        }
        guard b.rank == 1 || b.rank == 2 else {
            throw TensorError("solve: b must be 1-D [n] or 2-D [n, k], got shape \(fmt(b.shape))")
        }
        guard b.shape[0] == n else {
            throw TensorError("solve: b must have \(n) rows to match A of shape \(fmt(a.shape)), got shape \(fmt(b.shape))")
        }
        let b2 = b.rank == 1 ? try b.unsqueeze(1) : b
        let nrhs = b2.shape[1]
        if n == 0 || nrhs == 0 { return try Tensor(zeros: b.shape) }
        let A = try columnMajorCopy(a, "solve")
        defer { A.deallocate() }
        let B = try columnMajorCopy(b2, "solve", argument: "b")
        defer { B.deallocate() }
        let ipiv: UnsafeMutablePointer<Int32> = try scratch(n, "solve")
        defer { ipiv.deallocate() }
        var N = try lapackInt(n, "solve"), NRHS = try lapackInt(nrhs, "solve")
        var lda = N, ldb = N, info: Int32 = 0
        sgesv_(&N, &NRHS, A, &lda, ipiv, B, &ldb, &info)
        if info > 0 { throw TensorError("solve: matrix is singular") }
        try check(info, "solve", "sgesv")
        let x = try fromColumnMajor(B, rows: n, cols: nrhs, ld: n)
        return b.rank == 1 ? try x.reshape([n]) : x
    }

    /// Eigen-decomposition of a symmetric matrix (torch.linalg.eigh): eigenvalues ascending [n]
    /// and eigenvectors as the columns of [n, n]. Only the lower triangle of A is read.
    public static func eigh(_ a: Tensor) throws -> (values: Tensor, vectors: Tensor) {
        let (m, n) = try matrixShape(a, "eigh")
        guard m == n else { throw TensorError("eigh: A must be square, got shape \(fmt(a.shape))") }
        if n == 0 { return (try Tensor(zeros: [0]), try Tensor(zeros: [0, 0])) }
        let A = try columnMajorCopy(a, "eigh")
        defer { A.deallocate() }
        let w: UnsafeMutablePointer<Float> = try scratch(n, "eigh")
        defer { w.deallocate() }
        var N = try lapackInt(n, "eigh"), lda = N, info: Int32 = 0
        // The column-major copy holds A itself (not its transpose), so 'L' is torch's lower triangle.
        var jobz = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "L"))
        var query: Float = 0, iquery: Int32 = 0, lwork: Int32 = -1, liwork: Int32 = -1
        ssyevd_(&jobz, &uplo, &N, A, &lda, w, &query, &lwork, &iquery, &liwork, &info)
        try check(info, "eigh", "ssyevd")
        lwork = try workspaceSize(query, "eigh")
        liwork = max(iquery, 1)
        try withWorkspace(Float.self, Int(lwork), "eigh") { work in
            try withWorkspace(Int32.self, Int(liwork), "eigh") { iwork in
                ssyevd_(&jobz, &uplo, &N, A, &lda, w, work, &lwork, iwork, &liwork, &info)
            }
        }
        if info > 0 { throw TensorError("eigh: the algorithm did not converge (ssyevd info \(info))") }
        try check(info, "eigh", "ssyevd")
        let values = try Tensor.empty([n])
        try values.floatPointer().update(from: w, count: n)
        return (values, try fromColumnMajor(A, rows: n, cols: n, ld: n))
    }

    // MARK: helpers

    /// Validates a 2-D float32 matrix and returns its shape.
    private static func matrixShape(_ a: Tensor, _ fn: String) throws -> (Int, Int) {
        guard a.rank == 2 else {
            throw TensorError("\(fn): expected a 2-D matrix, got shape \(fmt(a.shape))")
        }
        guard a.dtype == .float32 else {
            throw TensorError("\(fn): expected a float32 matrix, got \(a.dtype.rawValue)")
        }
        try a.checkValid()
        return (a.shape[0], a.shape[1])
    }

    /// A fresh column-major copy of 2-D float32 `a` (element (i, j) at i + j * rows), rejecting
    /// NaN and infinity. The caller deallocates it.
    private static func columnMajorCopy(_ a: Tensor, _ fn: String, argument: String = "input") throws -> UnsafeMutablePointer<Float> {
        let m = a.shape[0], n = a.shape[1]
        let src = try a.floatPointer()
        let s0 = a.strides[0], s1 = a.strides[1]
        _ = try lapackInt(m * n, fn)
        let buf: UnsafeMutablePointer<Float> = try scratch(m * n, fn)
        for j in 0..<n {
            for i in 0..<m {
                let v = src[i * s0 + j * s1]
                guard v.isFinite else {
                    buf.deallocate()
                    throw TensorError("\(fn): \(argument) contains a non-finite value (\(v)) at [\(i), \(j)]")
                }
                buf[i + j * m] = v
            }
        }
        return buf
    }

    /// A row-major [rows, cols] tensor from a column-major buffer with leading dimension `ld`.
    private static func fromColumnMajor(_ p: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int) throws -> Tensor {
        let out = try Tensor.empty([rows, cols])
        let op = try out.floatPointer()
        for i in 0..<rows {
            for j in 0..<cols { op[i * cols + j] = p[i + j * ld] }
        }
        return out
    }

    /// [rows, cols] with ones on the diagonal.
    private static func identity(_ rows: Int, cols: Int) throws -> Tensor {
        let out = try Tensor(zeros: [rows, cols])
        let p = try out.floatPointer()
        for i in 0..<min(rows, cols) { p[i * cols + i] = 1 }
        return out
    }

    /// LAPACK's Fortran integers are 32-bit.
    private static func lapackInt(_ v: Int, _ fn: String) throws -> Int32 {
        guard let x = Int32(exactly: v) else {
            throw TensorError("\(fn): matrix is too large for LAPACK (\(v) exceeds 32-bit sizes)")
        }
        return x
    }

    /// The workspace size a LAPACK query (lwork = -1) reported, rounded up: the float it comes
    /// back as can fall just short of the integer LAPACK really wants.
    private static func workspaceSize(_ query: Float, _ fn: String) throws -> Int32 {
        let want = (Double(query) * (1 + 1e-6)).rounded(.up) + 1
        guard want.isFinite, want < Double(Int32.max) else {
            throw TensorError("\(fn): matrix is too large for LAPACK's workspace")
        }
        return Int32(max(want, 1))
    }

    /// A zeroed scratch buffer of `count` elements (at least one), within the allocation limit
    /// every tensor obeys. The caller deallocates it.
    private static func scratch<T: Numeric>(_ count: Int, _ fn: String) throws -> UnsafeMutablePointer<T> {
        let n = max(count, 1)
        let (bytes, overflow) = n.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        guard !overflow, bytes <= Storage.maxAllocationBytes else {
            throw TensorError("\(fn): cannot allocate \(count) elements of LAPACK scratch: too large")
        }
        let p = UnsafeMutablePointer<T>.allocate(capacity: n)
        p.initialize(repeating: 0, count: n)
        return p
    }

    private static func withWorkspace<T: Numeric, R>(_: T.Type, _ count: Int, _ fn: String, _ body: (UnsafeMutablePointer<T>) throws -> R) throws -> R {
        let p: UnsafeMutablePointer<T> = try scratch(count, fn)
        defer { p.deallocate() }
        return try body(p)
    }

    /// info < 0 means argument -info was invalid: a bug in this file, reported rather than trapped.
    private static func check(_ info: Int32, _ fn: String, _ routine: String) throws {
        if info != 0 { throw TensorError("\(fn): LAPACK \(routine) failed (info \(info))") }
    }
}
