import XCTest
@testable import FPTensor

/// Checks Linalg against the defining identities of each decomposition, computed here with
/// naive loops, plus small cases solved by hand.
final class LinalgTests: XCTestCase {
    // MARK: naive matrix helpers (row-major [rows][cols] arrays)

    private typealias Mat = [[Double]]

    private func mat(_ t: Tensor) throws -> Mat {
        XCTAssertEqual(t.rank, 2)
        let v = try t.toDoubles(), c = t.shape[1]
        return (0..<t.shape[0]).map { i in Array(v[(i * c)..<(i * c + c)]) }
    }

    private func tensor(_ m: Mat) throws -> Tensor {
        let rows = m.count, cols = m.first?.count ?? 0
        return try Tensor(m.flatMap { $0.map(Float.init) }, shape: [rows, cols])
    }

    private func mul(_ a: Mat, _ b: Mat) -> Mat {
        let n = a.count, k = b.count, m = b.first?.count ?? 0
        var out = Mat(repeating: [Double](repeating: 0, count: m), count: n)
        for i in 0..<n { for j in 0..<m { var s = 0.0; for l in 0..<k { s += a[i][l] * b[l][j] }; out[i][j] = s } }
        return out
    }

    private func transpose(_ a: Mat, cols: Int? = nil) -> Mat {
        let c = cols ?? a.first?.count ?? 0
        return (0..<c).map { j in a.map { $0[j] } }
    }

    private func eye(_ n: Int) -> Mat {
        (0..<n).map { i in (0..<n).map { $0 == i ? 1.0 : 0.0 } }
    }

    private func assertClose(_ a: Mat, _ b: Mat, _ tol: Double, _ what: String, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(what): row count", line: line)
        for (ra, rb) in zip(a, b) {
            XCTAssertEqual(ra.count, rb.count, "\(what): column count", line: line)
            for (x, y) in zip(ra, rb) where abs(x - y) > tol {
                XCTFail("\(what): \(x) vs \(y) (tol \(tol))", line: line)
                return
            }
        }
    }

    /// Deterministic pseudo-random matrix (independent of RandomSource).
    private func randomMat(_ m: Int, _ n: Int, seed: UInt64) -> Mat {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        func next() -> Double {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Double(s >> 11) / Double(1 << 53) * 2 - 1
        }
        return (0..<m).map { _ in (0..<n).map { _ in next() } }
    }

    // MARK: QR

    private func checkQR(_ a: Mat, reduced: Bool, input: Tensor? = nil, line: UInt = #line) throws {
        let m = a.count, n = a[0].count, k = min(m, n)
        let (qt, rt) = try Linalg.qr(input ?? tensor(a), reduced: reduced)
        XCTAssertEqual(qt.shape, reduced ? [m, k] : [m, m], line: line)
        XCTAssertEqual(rt.shape, reduced ? [k, n] : [m, n], line: line)
        let q = try mat(qt), r = try mat(rt)
        assertClose(mul(q, r), a, 1e-5, "Q R = A", line: line)
        assertClose(mul(transpose(q), q), eye(qt.shape[1]), 1e-5, "Q^T Q = I", line: line)
        for i in 0..<r.count { for j in 0..<min(i, n) { XCTAssertEqual(r[i][j], 0, "R[\(i)][\(j)] below diagonal", line: line) } }
    }

    func testQRShapesAndIdentities() throws {
        for (m, n) in [(4, 4), (6, 3), (3, 5), (1, 4), (5, 1)] {
            let a = randomMat(m, n, seed: UInt64(m * 10 + n))
            try checkQR(a, reduced: true)
            try checkQR(a, reduced: false)
        }
    }

    func testQRStridedInput() throws {
        // A transposed (non-contiguous) view factors as the matrix it shows.
        let base = randomMat(3, 5, seed: 7)
        let view = try tensor(base).transpose(0, 1)
        XCTAssertFalse(view.isContiguous)
        try checkQR(transpose(base), reduced: true, input: view)
        try checkQR(transpose(base), reduced: false, input: view)
    }

    func testQRRankDeficientAndEmpty() throws {
        var a = randomMat(4, 3, seed: 3)
        for i in 0..<4 { a[i][2] = a[i][0] - a[i][1] }
        try checkQR(a, reduced: true)
        let (q, r) = try Linalg.qr(try Tensor(zeros: [3, 0]), reduced: false)
        XCTAssertEqual(q.shape, [3, 3]); XCTAssertEqual(r.shape, [3, 0])
        assertClose(try mat(q), eye(3), 0, "empty complete Q")
    }

    // MARK: SVD

    private func checkSVD(_ a: Mat, full: Bool, line: UInt = #line) throws {
        let m = a.count, n = a[0].count, k = min(m, n)
        let (ut, st, vht) = try Linalg.svd(tensor(a), fullMatrices: full)
        XCTAssertEqual(ut.shape, full ? [m, m] : [m, k], line: line)
        XCTAssertEqual(st.shape, [k], line: line)
        XCTAssertEqual(vht.shape, full ? [n, n] : [k, n], line: line)
        let u = try mat(ut), s = try st.toDoubles(), vh = try mat(vht)
        for i in 1..<max(k, 1) { XCTAssertGreaterThanOrEqual(s[i - 1], s[i], "descending", line: line) }
        XCTAssertTrue(s.allSatisfy { $0 >= 0 }, line: line)
        // U[:, :k] diag(s) Vh[:k, :] = A
        var us = Mat(repeating: [Double](repeating: 0, count: k), count: m)
        for i in 0..<m { for l in 0..<k { us[i][l] = u[i][l] * s[l] } }
        assertClose(mul(us, Array(vh[0..<k])), a, 1e-5, "U S Vh = A", line: line)
        assertClose(mul(transpose(u), u), eye(u[0].count), 1e-5, "U^T U = I", line: line)
        assertClose(mul(vh, transpose(vh)), eye(vh.count), 1e-5, "Vh Vh^T = I", line: line)
    }

    func testSVDReconstructs() throws {
        for (m, n) in [(4, 4), (6, 3), (3, 5)] {
            let a = randomMat(m, n, seed: UInt64(100 + m * 10 + n))
            try checkSVD(a, full: false)
            try checkSVD(a, full: true)
        }
    }

    func testSVDHandComputed2x2() throws {
        // A^T A = [[25, 20], [20, 25]] has eigenvalues 45 and 5, so s = (3 sqrt 5, sqrt 5).
        let (_, s, _) = try Linalg.svd(try Tensor([3, 0, 4, 5], shape: [2, 2]))
        let sv = try s.toDoubles()
        XCTAssertEqual(sv[0], 3 * 5.0.squareRoot(), accuracy: 1e-5)
        XCTAssertEqual(sv[1], 5.0.squareRoot(), accuracy: 1e-5)
    }

    // MARK: pinv

    func testPinvPenroseConditionsOnRankDeficientMatrix() throws {
        // 5x4 of rank 2: every column is a combination of two random columns.
        let basis = randomMat(5, 2, seed: 11), coef = randomMat(2, 4, seed: 12)
        let a = mul(basis, coef)
        let pt = try Linalg.pinv(tensor(a))
        XCTAssertEqual(pt.shape, [4, 5])
        let p = try mat(pt)
        let ap = mul(a, p), pa = mul(p, a)
        assertClose(mul(ap, a), a, 1e-4, "A P A = A")
        assertClose(mul(pa, p), p, 1e-3, "P A P = P")
        assertClose(transpose(ap), ap, 1e-4, "(A P)^T = A P")
        assertClose(transpose(pa), pa, 1e-4, "(P A)^T = P A")
        // The rank shows: A P is a projection of trace 2.
        XCTAssertEqual((0..<5).reduce(0.0) { $0 + ap[$1][$1] }, 2, accuracy: 1e-4)
    }

    func testPinvOfInvertibleIsInverseAndRcond() throws {
        let a: Mat = [[4, 7], [2, 6]]  // inverse [[0.6, -0.7], [-0.2, 0.4]]
        assertClose(try mat(Linalg.pinv(tensor(a))), [[0.6, -0.7], [-0.2, 0.4]], 1e-5, "inverse")
        // diag(10, 0.001): rcond 0.01 drops the small singular value.
        let d = try Linalg.pinv(tensor([[10, 0], [0, 0.001]]), rcond: 0.01)
        assertClose(try mat(d), [[0.1, 0], [0, 0]], 1e-6, "rcond cutoff")
        assertClose(try mat(Linalg.pinv(tensor([[0, 0], [0, 0]]))), [[0, 0], [0, 0]], 0, "zero matrix")
    }

    // MARK: solve

    func testSolveVectorAndMatrixRHS() throws {
        var a = randomMat(5, 5, seed: 21)
        for i in 0..<5 { a[i][i] += 4 }  // well conditioned
        let bm = randomMat(5, 3, seed: 22)
        let x = try mat(Linalg.solve(tensor(a), tensor(bm)))
        assertClose(mul(a, x), bm, 1e-5, "A X = B")

        let bv = bm.map { $0[0] }
        let xt = try Linalg.solve(tensor(a), try Tensor(bv.map(Float.init), shape: [5]))
        XCTAssertEqual(xt.shape, [5])
        let xv = try xt.toDoubles()
        assertClose(mul(a, xv.map { [$0] }), bv.map { [$0] }, 1e-5, "A x = b")

        // Strided A (a transposed view) solves A^T x = b.
        let at = try tensor(a).transpose(0, 1)
        let y = try mat(Linalg.solve(at, tensor(bm)))
        assertClose(mul(transpose(a), y), bm, 1e-5, "A^T Y = B")
    }

    func testSolveErrors() throws {
        assertThrows(try Linalg.solve(tensor([[1, 2], [2, 4]]), Tensor([1, 1], shape: [2])), contains: "solve: matrix is singular")
        assertThrows(try Linalg.solve(tensor([[1, 2, 3], [4, 5, 6]]), Tensor([1, 1], shape: [2])), contains: "solve: A must be square")
        assertThrows(try Linalg.solve(tensor([[1, 0], [0, 1]]), Tensor([1, 1, 1], shape: [3])), contains: "solve: b must have 2 rows")
    }

    // MARK: eigh

    func testEighEigenpairs() throws {
        let r = randomMat(5, 5, seed: 31)
        let a = (0..<5).map { i in (0..<5).map { j in r[i][j] + r[j][i] } }
        let (wt, vt) = try Linalg.eigh(tensor(a))
        XCTAssertEqual(wt.shape, [5]); XCTAssertEqual(vt.shape, [5, 5])
        let w = try wt.toDoubles(), v = try mat(vt)
        for i in 1..<5 { XCTAssertLessThanOrEqual(w[i - 1], w[i], "ascending") }
        let av = mul(a, v)
        for j in 0..<5 { for i in 0..<5 { XCTAssertEqual(av[i][j], w[j] * v[i][j], accuracy: 1e-5, "A v = lambda v") } }
        assertClose(mul(transpose(v), v), eye(5), 1e-5, "V^T V = I")
    }

    func testEighHandComputedAndLowerTriangle() throws {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3; the upper triangle (here 99) is ignored.
        let (w, v) = try Linalg.eigh(tensor([[2, 99], [1, 2]]))
        let wv = try w.toDoubles()
        XCTAssertEqual(wv[0], 1, accuracy: 1e-6)
        XCTAssertEqual(wv[1], 3, accuracy: 1e-6)
        let vm = try mat(v)
        XCTAssertEqual(abs(vm[0][0]), 0.5.squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(vm[0][0], -vm[1][0], accuracy: 1e-6)  // (1, -1)/sqrt 2 for eigenvalue 1
    }

    // MARK: validation

    func testValidationErrors() throws {
        let v = try Tensor([1, 2, 3], shape: [3])
        assertThrows(try Linalg.qr(v), contains: "qr: expected a 2-D matrix, got shape [3]")
        assertThrows(try Linalg.svd(v), contains: "svd: expected a 2-D matrix, got shape [3]")
        assertThrows(try Linalg.pinv(Tensor(zeros: [2, 2, 2])), contains: "pinv: expected a 2-D matrix, got shape [2, 2, 2]")
        assertThrows(try Linalg.eigh(tensor([[1, 2, 3]])), contains: "eigh: A must be square")
        assertThrows(try Linalg.qr(Tensor(ints: [1, 2, 3, 4], shape: [2, 2])), contains: "qr: expected a float32 matrix")
        let bad = try Tensor([1, .nan, 3, 4], shape: [2, 2])
        assertThrows(try Linalg.svd(bad), contains: "svd: input contains a non-finite value")
        assertThrows(try Linalg.qr(bad), contains: "non-finite")
        assertThrows(try Linalg.eigh(bad), contains: "non-finite")
        assertThrows(try Linalg.solve(tensor([[1, 0], [0, 1]]), Tensor([1, .infinity], shape: [2])), contains: "solve: b contains a non-finite value")
        assertThrows(try Linalg.pinv(tensor([[1, 0], [0, 1]]), rcond: -1), contains: "pinv: rcond")
    }
}
