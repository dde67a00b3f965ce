import XCTest
@testable import FPTensor

/// Weight products on oneDNN's matmul primitive with the weight reordered once (WeightPack):
/// against a float64 product computed here (float32 mode) and against a product of the
/// operands rounded to bf16 here (bf16 mode), on random shapes and layouts; the reordered
/// copy follows every write to the weight.
final class WeightPackTests: XCTestCase {
    private var savedMode = GemmDispatch.Mode.openblas

    override func setUp() { savedMode = GemmDispatch.mode }
    override func tearDown() { GemmDispatch.mode = savedMode }

    /// bf16 rounding to nearest even, written here from the format's definition.
    private func bf16(_ x: Float) -> Double {
        let u = x.bitPattern
        let rounded = (u &+ 0x7fff &+ ((u >> 16) & 1)) & 0xffff_0000
        return Double(Float(bitPattern: rounded))
    }

    /// C = A W in float64 (operands optionally rounded to bf16), and sum |a w| per element.
    private func reference(_ a: Tensor, _ w: Tensor, roundBF16: Bool) throws -> ([Double], [Double]) {
        let m = a.shape[0], k = a.shape[1], n = w.shape[1]
        let av = try a.contiguous().toFloats(), wv = try w.contiguous().toFloats()
        let r: (Float) -> Double = roundBF16 ? bf16 : { Double($0) }
        var c = [Double](repeating: 0, count: m * n), s = c
        for i in 0..<m { for p in 0..<k { for j in 0..<n {
            let x = r(av[i * k + p]) * r(wv[p * n + j])
            c[i * n + j] += x; s[i * n + j] += abs(x)
        } } }
        return (c, s)
    }

    /// Within float32 accumulation of the reference: a wrong element is off by far more.
    private func assertProduct(_ got: Tensor, _ a: Tensor, _ w: Tensor, roundBF16: Bool = false, _ label: String) throws {
        let (ref, scale) = try reference(a, w, roundBF16: roundBF16)
        let g = try got.contiguous().toFloats()
        XCTAssertEqual(g.count, ref.count, label)
        for i in 0..<Swift.min(g.count, ref.count) {
            let tol = 1e-5 * scale[i] + 1e-6
            if abs(Double(g[i]) - ref[i]) > tol {
                XCTFail("\(label): element \(i) is \(g[i]), expected \(ref[i]) (tolerance \(tol))")
                return
            }
        }
    }

    /// Weights as a model holds them: [k, n] rows, a transposed [n, k] (tied unembedding),
    /// a column block of a wider matrix (a fused QKV slice), and row-strided activations.
    private func cases(_ m: Int, _ k: Int, _ n: Int) throws -> [(String, Tensor, Tensor)] {
        [("plain", try Tensor.randn([m, k]), try Tensor.randn([k, n])),
         ("W^T", try Tensor.randn([m, k]), try Tensor.randn([n, k]).T()),
         ("W^T row block", try Tensor.randn([m, k]), try Tensor.randn([n, k + 7]).narrow(1, 3, k).T()),
         ("W block", try Tensor.randn([m, k]), try Tensor.randn([k, n + 9]).narrow(1, 4, n)),
         ("W without a unit stride", try Tensor.randn([m, k]), try Tensor.randn([k, 2 * n]).slice(1, 0, nil, 2)),
         ("A row-strided", try Tensor.randn([m, k + 3]).narrow(1, 1, k), try Tensor.randn([k, n])),
         ("A^T", try Tensor.randn([k, m]).T(), try Tensor.randn([k, n]))]
    }

    func testFloat32PacksMatchTheExactProduct() throws {
        var shapes = [(1, 768, 130), (1, 1, 5), (5, 1, 3), (7, 9, 1), (16, 200, 96), (64, 100, 30), (300, 40, 70)]
        for _ in 0..<6 { shapes.append((Int.random(in: 1...80), Int.random(in: 1...200), Int.random(in: 1...150))) }
        for mode in [GemmDispatch.Mode.onednn, .packed, .auto, .openblas] {
            GemmDispatch.mode = mode
            for (m, k, n) in shapes {
                for (name, a, w) in try cases(m, k, n) {
                    let c = try Tensor.empty([m, n])
                    try gemm(a, weight: w, into: c)
                    try assertProduct(c, a, w, "\(mode) \(name) \(m)x\(k)x\(n)")
                    // a second product with other rows reuses the pack
                    let a2 = try Tensor.randn([m + 2, k]), c2 = try Tensor.empty([m + 2, n])
                    try gemm(a2, weight: w, into: c2)
                    try assertProduct(c2, a2, w, "\(mode) \(name) again \(m + 2)x\(k)x\(n)")
                }
            }
        }
    }

    func testBF16MatchesARoundedReference() throws {
        for (m, k, n) in [(1, 64, 32), (8, 576, 576), (3, 1, 7), (17, 300, 65)] {
            for (name, a, w) in try cases(m, k, n) {
                let c = try Tensor.empty([m, n])
                try gemm(a, weight: w, into: c, precision: .bf16)
                try assertProduct(c, a, w, roundBF16: true, "bf16 \(name) \(m)x\(k)x\(n)")
            }
        }
        // and it is a real bf16 product: far from float32 on values bf16 cannot hold
        let a = try Tensor([1 + 1.0 / 512], shape: [1, 1]), w = try Tensor([1], shape: [1, 1])
        let c = try Tensor.empty([1, 1])
        try gemm(a, weight: w, into: c, precision: .bf16)
        XCTAssertEqual(try c.toFloats(), [1])
    }

    func testEmptyProducts() throws {
        for mode in [GemmDispatch.Mode.onednn, .packed] {
            GemmDispatch.mode = mode
            try gemm(try Tensor.randn([0, 4]), weight: try Tensor.randn([4, 3]), into: try Tensor.empty([0, 3]))
            try gemm(try Tensor.randn([4, 3]), weight: try Tensor.randn([3, 0]), into: try Tensor.empty([4, 0]))
            let c = try Tensor.empty([3, 5])
            try c.fill(7)
            try gemm(try Tensor.randn([3, 0]), weight: try Tensor.randn([0, 5]), into: c)
            XCTAssertEqual(try c.toFloats(), [Float](repeating: 0, count: 15))
        }
    }

    /// Every way a script writes into a weight reaches the next product: in-place copies
    /// (index assignment, restore), fills, elementwise in-place ops, and raw writes.
    func testWritesToTheWeightInvalidateItsPack() throws {
        GemmDispatch.mode = .onednn
        let a = try Tensor.randn([4, 32]), w = try Tensor.randn([32, 24]), c = try Tensor.empty([4, 24])
        try gemm(a, weight: w, into: c)
        let reorders = WeightPacks.reorders
        try gemm(a, weight: w, into: c)
        XCTAssertEqual(WeightPacks.reorders, reorders, "an unchanged weight is not reordered again")
        let original = try w.clone()
        let edits: [(String, () throws -> Void)] = [
            ("row copy", { try w.select(0, 3).copyFrom(try Tensor.randn([24])) }),
            ("fill", { try w.narrow(1, 5, 2).fill(0.5) }),
            ("restore", { try w.copyFrom(original) }),
            ("raw write", { try w.floatPointer()[7] = 42 }),
        ]
        for (name, edit) in edits {
            try edit()
            try gemm(a, weight: w, into: c)
            try assertProduct(c, a, w, "after \(name)")
        }
        for bf in [false, true] {
            try w.select(1, 0).fill(3)
            try gemm(a, weight: w, into: c, precision: bf ? .bf16 : .float32)
            try assertProduct(c, a, w, roundBF16: bf, "bf16 \(bf) after fill")
        }
    }

    func testPacksAreCountedAndFreedWithTheirWeight() throws {
        GemmDispatch.mode = .onednn
        let before = WeightPacks.liveBytes, live = Storage.liveBytes
        do {
            let w = try Tensor.randn([64, 128]), c = try Tensor.empty([2, 128])
            try gemm(try Tensor.randn([2, 64]), weight: w, into: c)
            XCTAssertGreaterThanOrEqual(WeightPacks.liveBytes - before, 64 * 128 * 4)
            try gemm(try Tensor.randn([2, 64]), weight: w, into: c, precision: .bf16)
            XCTAssertGreaterThanOrEqual(WeightPacks.liveBytes - before, 64 * 128 * 6)
            w.storage.free()
            XCTAssertEqual(WeightPacks.liveBytes, before)
        }
        XCTAssertEqual(WeightPacks.liveBytes, before)
        XCTAssertEqual(Storage.liveBytes, live)
    }

    /// FP_GEMM=auto's products of a few rows (and of more than 16 rows by a transposed weight)
    /// read the weight where it is through oneDNN's primitive, and those of 8-16 and 32 rows by a
    /// transposed weight run swapped (C^T = W^T A^T): the exact product on every layout, no
    /// copy kept, and a write to the weight reaches the next product.
    func testAutoReadsWeightsInPlaceForFewRows() throws {
        GemmDispatch.mode = .auto
        guard GemmDispatch.avx512 else { throw XCTSkip("oneDNN has no AVX-512 kernels here: auto uses sgemm") }
        let k = 300, n = 260   // k n >= 2^16: a weight-sized product
        for m in [1, 2, 7, 8, 12, 16, 17, 24, 25, 32, 40] {
            for (name, a, w) in try cases(m, k, n) {
                let transposed = w.strides[0] == 1
                let expectSwapped = transposed && (m >= 8 && m <= 16 || m == 32)
                let rulePlain = transposed ? m > 16 && !expectSwapped : m >= 2 && m <= 24
                let unitStride = w.strides[0] == 1 || w.strides[1] == 1   // else sgemm (oneDNN's would be ref:any)
                let expectPlain = unitStride && rulePlain
                XCTAssertEqual(GemmDispatch.usesPlainWeight(m: m, k: k, n: n, transposed: transposed), rulePlain)
                XCTAssertEqual(GemmDispatch.runsSwapped(m: m, k: k, n: n, transposed: transposed), expectSwapped)
                let bytes = WeightPacks.liveBytes
                // C rows inside a wider matrix (row stride > n)
                let wide = try Tensor.empty([m, n + 5]), c = try wide.narrow(1, 2, n)
                try gemm(a, weight: w, into: c)
                try assertProduct(c, a, w, "auto \(name) \(m)x\(k)x\(n)")
                XCTAssertEqual(w.storage.packs.keys.contains { $0.plain && !$0.swapped }, expectPlain, "\(name) m \(m): plain primitive used")
                XCTAssertEqual(w.storage.packs.keys.contains { $0.swapped }, expectSwapped, "\(name) m \(m): swapped product used")
                XCTAssertEqual(WeightPacks.liveBytes, bytes, "no copy of the weight is kept")
                try w.select(0, 5).fill(-2)
                try gemm(a, weight: w, into: c)
                try assertProduct(c, a, w, "auto \(name) \(m)x\(k)x\(n) after a write to the weight")
            }
        }
    }

    /// A small model's products of 2-24 rows by a [k, n] weight run in auto on a blocked copy of
    /// the weight, made once, kept, and renewed after a write; transposed weights and other row
    /// counts keep their copy-free paths, and so does every product under --max-memory.
    func testAutoCopiesASmallModelsWeightsForFewRows() throws {
        GemmDispatch.mode = .auto
        guard GemmDispatch.avx512 else { throw XCTSkip("oneDNN has no AVX-512 kernels here: auto uses sgemm") }
        let k = 300, n = 260
        for m in [1, 2, 16, 24, 25] {
            for (name, a, w) in try cases(m, k, n) {
                let expectCopy = w.strides[0] != 1 && m >= 2 && m <= 24
                let label = "\(name) m \(m)"
                let bytes = WeightPacks.liveBytes, reorders = WeightPacks.reorders
                let c = try Tensor.empty([m, n])
                try gemm(a, weight: w, into: c, copiesAllowed: true)
                try assertProduct(c, a, w, "copies allowed: \(label)")
                XCTAssertEqual(w.storage.packs.keys.contains { !$0.plain }, expectCopy, "\(label): blocked copy")
                let added = WeightPacks.liveBytes - bytes   // the blocked layout pads to its blocks
                XCTAssertTrue(expectCopy ? added >= k * n * 4 : added == 0, "\(label): \(added) bytes kept")
                try gemm(a, weight: w, into: c, copiesAllowed: true)
                XCTAssertEqual(WeightPacks.reorders - reorders, expectCopy ? 1 : 0, "\(label): made once")
                try w.select(0, 5).fill(-2)
                try gemm(a, weight: w, into: c, copiesAllowed: true)
                try assertProduct(c, a, w, "copies allowed: \(label) after a write to the weight")
                XCTAssertEqual(WeightPacks.reorders - reorders, expectCopy ? 2 : 0, "\(label): renewed after the write")
            }
        }
        let saved = Limits.maxTensorBytes
        Limits.maxTensorBytes = 1 << 40
        defer { Limits.maxTensorBytes = saved }
        let a = try Tensor.randn([16, k]), w = try Tensor.randn([k, n]), c = try Tensor.empty([16, n])
        try gemm(a, weight: w, into: c, copiesAllowed: true)
        try assertProduct(c, a, w, "under --max-memory")
        XCTAssertEqual(w.storage.packs.keys.filter { !$0.plain }.count, 0, "no copy under --max-memory")
    }
}
