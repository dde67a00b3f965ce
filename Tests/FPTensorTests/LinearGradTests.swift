import XCTest
@testable import FPTensor

/// AG.linear (the taped executor's weight products): y = x W and, for a frozen W, dL/dx = g W^T
/// on W's reordered copies, against float64 products computed here; the copies are made once
/// and renewed when W changes; a weight that requires grad still gets dW.
final class LinearGradTests: XCTestCase {
    private var savedMode = GemmDispatch.Mode.openblas

    override func setUp() { savedMode = GemmDispatch.mode }
    override func tearDown() { GemmDispatch.mode = savedMode }

    /// a [r, k] times b [k, c] in float64, with sum |a b| per element for the tolerance.
    private func product(_ a: [Float], _ b: [Float], _ r: Int, _ k: Int, _ c: Int) -> ([Double], [Double]) {
        var out = [Double](repeating: 0, count: r * c), mag = out
        for i in 0..<r { for p in 0..<k { for j in 0..<c {
            let x = Double(a[i * k + p]) * Double(b[p * c + j])
            out[i * c + j] += x; mag[i * c + j] += abs(x)
        } } }
        return (out, mag)
    }

    private func transpose(_ a: [Float], _ r: Int, _ c: Int) -> [Float] {
        (0..<(r * c)).map { i in a[(i % r) * c + i / r] }
    }

    private func assertClose(_ got: Tensor, _ ref: ([Double], [Double]), _ label: String) throws {
        let g = try got.contiguous().toFloats()
        XCTAssertEqual(g.count, ref.0.count, label)
        for i in 0..<Swift.min(g.count, ref.0.count) where abs(Double(g[i]) - ref.0[i]) > 1e-5 * ref.1[i] + 1e-6 {
            XCTFail("\(label): element \(i) is \(g[i]), expected \(ref.0[i])")
            return
        }
    }

    /// One step: y = x W, L = sum(y * r); checks y and x.grad = r W^T.
    /// `values`: W's elements when the caller read them already (toFloats counts as a write to
    /// W's storage, which would renew its reordered copies).
    private func step(_ w: Tensor, lead: [Int], values: [Float]? = nil, _ label: String) throws {
        let k = w.shape[0], n = w.shape[1], rows = lead.reduce(1, *)
        let x = try Tensor.randn(lead + [k]), r = try Tensor.randn(lead + [n])
        x.requiresGrad = true
        let y = try AG.linear(x, weight: w)
        XCTAssertEqual(y.shape, lead + [n], label)
        let wv = try values ?? w.contiguous().toFloats()
        try assertClose(y, product(try x.toFloats(), wv, rows, k, n), "\(label) forward")
        try Autograd.backward(AG.reduce(.sum, AG.binary(.mul, y, r), dims: nil, keepdim: false))
        let gx = try XCTUnwrap(x.grad, label)
        XCTAssertEqual(gx.shape, x.shape, label)
        try assertClose(gx, product(try r.contiguous().toFloats(), transpose(wv, k, n), rows, n, k), "\(label) dX")
        XCTAssertNil(w.grad, "\(label): a frozen weight gets no gradient")
    }

    func testFrozenWeightForwardAndBackwardMatchTheExactProducts() throws {
        for mode in [GemmDispatch.Mode.onednn, .packed, .auto, .openblas] {
            GemmDispatch.mode = mode
            for (m, k, n) in [(1, 64, 96), (7, 576, 130), (3, 1, 5), (5, 9, 1), (20, 100, 33)] {
                let weights = [("plain", try Tensor.randn([k, n])), ("W^T", try Tensor.randn([n, k]).T()),
                               ("block", try Tensor.randn([k, n + 7]).narrow(1, 3, n))]
                for (name, w) in weights {
                    try step(w, lead: [m], "\(mode) \(name) \(m)x\(k)x\(n)")
                    try step(w, lead: [2, m], "\(mode) \(name) 2x\(m)x\(k)x\(n)")
                }
            }
        }
    }

    func testReorderedCopiesAreMadeOnceAndFollowWrites() throws {
        GemmDispatch.mode = .onednn
        let w = try Tensor.randn([48, 40])
        let values = try w.toFloats()
        try step(w, lead: [4], values: values, "first")
        let made = WeightPacks.reorders
        try step(w, lead: [4], values: values, "second")
        XCTAssertEqual(WeightPacks.reorders, made, "a second step reuses both reordered copies")
        // a write to the weight: the next step uses the new values (checked against them)
        try w.copyFrom(try Tensor.randn([48, 40]))
        try step(w, lead: [4], "after a write")
        XCTAssertGreaterThan(WeightPacks.reorders, made)
    }

    func testWeightWrittenBetweenForwardAndBackwardUsesTheForwardValues() throws {
        GemmDispatch.mode = .onednn
        let w = try Tensor.randn([16, 8]), x = try Tensor.randn([3, 16]), r = try Tensor.randn([3, 8])
        x.requiresGrad = true
        let before = try w.toFloats()
        let y = try AG.linear(x, weight: w)
        try Autograd.willWrite(w)   // what every in-place write does first
        try w.copyFrom(try Tensor.randn([16, 8]))
        try Autograd.backward(AG.reduce(.sum, AG.binary(.mul, y, r), dims: nil, keepdim: false))
        try assertClose(try XCTUnwrap(x.grad), product(try r.toFloats(), transpose(before, 16, 8), 3, 8, 16), "dX")
    }

    func testTrainableWeightStillGetsItsGradient() throws {
        GemmDispatch.mode = .onednn
        let w = try Tensor.randn([12, 5]), x = try Tensor.randn([4, 12]), r = try Tensor.randn([4, 5])
        w.requiresGrad = true
        let y = try AG.linear(x, weight: w)
        try Autograd.backward(AG.reduce(.sum, AG.binary(.mul, y, r), dims: nil, keepdim: false))
        try assertClose(try XCTUnwrap(w.grad), product(transpose(try x.toFloats(), 4, 12), try r.toFloats(), 12, 4, 5), "dW")
    }
}
