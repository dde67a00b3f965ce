import XCTest
@testable import FPTensor

/// Both GEMM libraries (OpenBLAS, oneDNN) and the measured choice between them against a
/// float64 product computed here, on random shapes with transposed, row-strided, element-
/// strided and broadcast operands, and the edge shapes M = 1, K = 1, N = 1 and empty.
final class GemmDispatchTests: XCTestCase {
    private var savedMode = GemmDispatch.Mode.auto
    private var savedFile: String?
    private var dir = ""

    override func setUp() {
        savedMode = GemmDispatch.mode
        savedFile = GemmDispatch.calibrationFile
        dir = NSTemporaryDirectory() + "fp-gemm-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        GemmDispatch.calibrationFile = dir + "/calibration.tsv"
    }

    override func tearDown() {
        GemmDispatch.mode = savedMode
        GemmDispatch.calibrationFile = savedFile
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// C = A B in float64 from the operands' values, and sum_k |a_ik b_kj| for the tolerance.
    private func reference(_ a: Tensor, _ b: Tensor) throws -> (value: [Double], scale: [Double]) {
        let m = a.shape[0], k = a.shape[1], n = b.shape[1]
        let av = try a.contiguous().toFloats(), bv = try b.contiguous().toFloats()
        var c = [Double](repeating: 0, count: m * n), s = c
        for i in 0..<m { for p in 0..<k { for j in 0..<n {
            let x = Double(av[i * k + p]) * Double(bv[p * n + j])
            c[i * n + j] += x; s[i * n + j] += abs(x)
        } } }
        return (c, s)
    }

    /// Within float32 rounding of the exact product: a wrong element is off by far more.
    private func assertProduct(_ got: Tensor, _ a: Tensor, _ b: Tensor, alpha: Double = 1,
                               plus: [Double]? = nil, _ label: String) throws {
        let (ref, scale) = try reference(a, b)
        let g = try got.contiguous().toFloats()
        XCTAssertEqual(g.count, ref.count, label)
        for i in 0..<Swift.min(g.count, ref.count) {
            let want = alpha * ref[i] + (plus?[i] ?? 0)
            let tol = 1e-5 * (abs(alpha) * scale[i] + abs(plus?[i] ?? 0)) + 1e-6
            if abs(Double(g[i]) - want) > tol {
                XCTFail("\(label): element \(i) is \(g[i]), expected \(want) (tolerance \(tol))")
                return
            }
        }
    }

    /// (A, B) pairs: plain, transposed, row-strided, element-strided (copied) and edge shapes.
    private func operands() throws -> [(String, Tensor, Tensor)] {
        var cases = [(String, Tensor, Tensor)]()
        let shapes = [(1, 768, 768), (1, 64, 300), (1, 1, 5), (5, 1, 3), (7, 9, 1), (16, 576, 1536),
                      (8, 64, 8), (37, 129, 65), (300, 100, 200), (600, 50, 40), (2, 3, 4)]
        for (m, k, n) in shapes {
            cases.append(("\(m)x\(k)x\(n)", try Tensor.randn([m, k]), try Tensor.randn([k, n])))
        }
        cases.append(("A^T B^T", try Tensor.randn([40, 17]).T(), try Tensor.randn([33, 40]).T()))
        cases.append(("A^T 1-row", try Tensor.randn([20, 1]).T(), try Tensor.randn([20, 30])))
        cases.append(("row-strided", try Tensor.randn([12, 50]).narrow(1, 3, 40), try Tensor.randn([40, 70]).narrow(1, 5, 60)))
        cases.append(("element-strided", try Tensor.randn([9, 60]).slice(1, 0, nil, 2), try Tensor.randn([60, 22]).slice(0, 0, nil, 2)))
        cases.append(("broadcast B", try Tensor.randn([6, 5]), try Tensor.randn([5, 1]).expand([5, 8])))
        return cases
    }

    func testBothLibrariesAndTheChoicesMatchTheExactProduct() throws {
        for mode in [GemmDispatch.Mode.openblas, .onednn, .measure, .auto, .packed] {
            GemmDispatch.mode = mode
            for (name, a, b) in try operands() {
                try assertProduct(try a.matmul(b), a, b, "\(mode) \(name)")
            }
        }
        // measure timed every class it met and kept them in the file, which reads back
        let table = GemmCalibration.read(GemmDispatch.calibrationFile!)
        XCTAssertGreaterThanOrEqual(table.count, 8)
        for c in table.values {
            XCTAssertGreaterThan(c.openblasGFlops, 0, "\(c.line)")
            XCTAssertGreaterThan(c.onednnGFlops, 0, "\(c.line)")
            XCTAssertLessThanOrEqual(c.m, 512, "calibration times at most 512 rows")
        }
    }

    /// `auto`'s rule: oneDNN's sgemm from 2 rows on a right operand of 2^16 elements or more
    /// (where oneDNN has AVX-512 kernels), OpenBLAS otherwise; and its products on the shapes
    /// that take each library equal the float64 product.
    func testAutoRuleAndItsProducts() throws {
        let onednn: GemmBackend = GemmDispatch.avx512 ? .onednn : .openblas
        let threads = BLASThreads.configured
        defer { BLASThreads.configure(threads) }
        BLASThreads.configure(1)
        XCTAssertEqual(GemmDispatch.fixedRule(m: 1, k: 2048, n: 8192), .openblas, "one row on one thread: sgemv")
        BLASThreads.configure(2)
        XCTAssertEqual(GemmDispatch.fixedRule(m: 1, k: 2048, n: 8192), onednn, "one row on two threads")
        XCTAssertEqual(GemmDispatch.fixedRule(m: 1, k: 255, n: 256), .openblas, "one row, small right operand")
        XCTAssertEqual(GemmDispatch.fixedRule(m: 2, k: 2048, n: 2048), onednn)
        XCTAssertEqual(GemmDispatch.fixedRule(m: 128, k: 256, n: 256), onednn)
        XCTAssertEqual(GemmDispatch.fixedRule(m: 1024, k: 2048, n: 8192), onednn)
        XCTAssertEqual(GemmDispatch.fixedRule(m: 1024, k: 255, n: 256), .openblas, "small right operand")
        XCTAssertEqual(GemmDispatch.fixedRule(m: 64, k: 64, n: 64), .openblas, "small right operand")
        XCTAssertEqual(GemmDispatch.fixedRule(m: 64, k: Int.max, n: 2), .openblas, "k * n overflows")
        GemmDispatch.mode = .auto
        for (t, (m, k, n)) in [(1, (1, 300, 260)), (2, (1, 300, 260)), (2, (2, 256, 256)), (2, (37, 300, 257)),
                               (1, (37, 300, 257)), (2, (300, 260, 256)), (2, (20, 60, 70))] {
            BLASThreads.configure(t)
            let a = try Tensor.randn([m, k])
            let plain = try Tensor.randn([k, n]), transposed = try Tensor.randn([n, k]).T()
            try assertProduct(try a.matmul(plain), a, plain, "auto \(m)x\(k)x\(n), \(t) threads")
            try assertProduct(try a.matmul(transposed), a, transposed, "auto B^T \(m)x\(k)x\(n)")
            let c = try Tensor.empty([m, n])
            try gemm(a, weight: plain, into: c)
            try assertProduct(c, a, plain, "auto weight \(m)x\(k)x\(n)")
        }
    }

    func testLibrariesAgreeOnRandomShapes() throws {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<12 {
            let m = Int.random(in: 1...70, using: &rng), k = Int.random(in: 1...200, using: &rng)
            let n = Int.random(in: 1...90, using: &rng)
            let a = trial % 3 == 1 ? try Tensor.randn([k, m]).T() : try Tensor.randn([m, k])
            let b = trial % 2 == 1 ? try Tensor.randn([n, k]).T() : try Tensor.randn([k, n])
            GemmDispatch.mode = .openblas
            let x = try a.matmul(b)
            GemmDispatch.mode = .onednn
            let y = try a.matmul(b)
            try assertProduct(x, a, b, "openblas \(m)x\(k)x\(n)")
            try assertProduct(y, a, b, "onednn \(m)x\(k)x\(n)")
        }
    }

    func testAlphaBetaAndStridedOutput() throws {
        for mode in [GemmDispatch.Mode.onednn, .openblas, .measure, .auto] {
            GemmDispatch.mode = mode
            let a = try Tensor.randn([10, 30]), b = try Tensor.randn([30, 20])
            // C is a column block of a wider tensor: rows strided by 25
            let wide = try Tensor.randn([10, 25]), c = try wide.narrow(1, 2, 20)
            let before = try c.contiguous().toFloats().map(Double.init)
            let outside = try wide.narrow(1, 0, 2).contiguous().toFloats() + wide.narrow(1, 22, 3).contiguous().toFloats()
            try gemm(a, b, into: c, alpha: 0.5, beta: 2)
            try assertProduct(c, a, b, alpha: 0.5, plus: before.map { 2 * $0 }, "\(mode) alpha/beta")
            // the columns outside C are untouched
            XCTAssertEqual(try wide.narrow(1, 0, 2).contiguous().toFloats() + wide.narrow(1, 22, 3).contiguous().toFloats(), outside)
        }
    }

    func testEmptyAndBatched() throws {
        for mode in [GemmDispatch.Mode.onednn, .measure, .auto] {
            GemmDispatch.mode = mode
            XCTAssertEqual(try Tensor.randn([0, 4]).matmul(try Tensor.randn([4, 3])).shape, [0, 3])
            XCTAssertEqual(try Tensor.randn([4, 3]).matmul(try Tensor.randn([3, 0])).shape, [4, 0])
            let z = try Tensor.randn([3, 0]).matmul(try Tensor.randn([0, 5]))
            XCTAssertEqual(try z.toFloats(), [Float](repeating: 0, count: 15))
            // batched with per-batch B (one gemm per batch element)
            let a = try Tensor.randn([3, 4, 6]), b = try Tensor.randn([3, 6, 5])
            let c = try a.matmul(b)
            for i in 0..<3 {
                try assertProduct(try c.select(0, i), try a.select(0, i), try b.select(0, i), "\(mode) batch \(i)")
            }
        }
    }

    func testMalformedCalibrationFileIsIgnored() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let good = "16\t1024\t4096\tN\tN\t1\t16\t768\t3072\t50.5\t90\tonednn"
        let text = [GemmCalibration.header, "garbage", "1 2 3", "-4\t1\t1\tN\tN\t1\t1\t1\t1\t1\t1\topenblas",
                    "16\t1024\t4096\tX\tN\t1\t16\t768\t3072\t50.0\t90.0\tonednn",
                    "16\t1024\t4096\tN\tN\t1\t16\t768\t3072\t50.0\t90.0\tmkl", good].joined(separator: "\n")
        try text.write(toFile: GemmDispatch.calibrationFile!, atomically: true, encoding: .utf8)
        let table = GemmCalibration.read(GemmDispatch.calibrationFile!)
        XCTAssertEqual(table.count, 1)
        XCTAssertEqual(table.values.first?.choice, .onednn)
        XCTAssertEqual(table.values.first?.line, good)
        XCTAssertTrue(GemmCalibration.read(dir + "/missing.tsv").isEmpty)
    }

    func testShapeClasses() {
        XCTAssertEqual([1, 2, 4, 5, 16, 17, 64, 65, 256, 257, 512, 100_000].map(GemmShapeClass.mBucket),
                       [1, 4, 4, 16, 16, 64, 64, 256, 256, 1024, 1024, 1024])
        XCTAssertEqual([1, 3, 64, 65, 768].map(GemmShapeClass.powerOfTwo), [1, 4, 64, 128, 1024])
        XCTAssertEqual(GemmShapeClass.calibrationRows(5000), 512)
    }
}
