import XCTest
@testable import FPTensor

/// AG.normAffine and AG.normalize (the CKernels row-norm kernels) against a double-precision
/// LayerNorm / RMSNorm written here, and the gradients of x, w and b against central
/// differences of it; the fused form gives the bits of normalize followed by mul and add.
final class NormKernelTests: XCTestCase {
    private var seed: UInt64 = 777
    private func random(_ n: Int) -> [Float] {
        (0..<n).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(seed >> 40) % 2000 - 1000) / 500
        }
    }

    private func reference(_ x: [Double], _ w: [Double], _ b: [Double]?, d: Int, eps: Double, centered: Bool) -> [Double] {
        var out = [Double]()
        for r in 0..<(x.count / d) {
            let row = Array(x[(r * d)..<((r + 1) * d)])
            let mean = centered ? row.reduce(0, +) / Double(d) : 0
            let s = (row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d) + eps).squareRoot()
            for i in 0..<d { out.append((row[i] - mean) / s * w[i] + (b?[i] ?? 0)) }
        }
        return out
    }

    private func check(rows: Int, d: Int, centered: Bool) throws {
        let eps: Float = 1e-5
        let xv = random(rows * d), wv = random(d), bv = random(d), r = random(rows * d)
        let x = try Tensor(xv, shape: [rows, d]), w = try Tensor(wv, shape: [d])
        let b: Tensor? = centered ? try Tensor(bv, shape: [d]) : nil
        for t in [x, w] + (b.map { [$0] } ?? []) { t.requiresGrad = true }
        let y = try AG.normAffine(x, eps: eps, centered: centered, w, b)
        let dd = { (a: [Float]) in a.map(Double.init) }
        let want = reference(dd(xv), dd(wv), centered ? dd(bv) : nil, d: d, eps: Double(eps), centered: centered)
        for (a, e) in zip(try y.toFloats(), want) { XCTAssertEqual(Double(a), e, accuracy: 1e-5 * Swift.max(1, abs(e))) }
        // the same bits as the unfused ops the hooked path runs
        let unfused = try Autograd.withMode(false) { () -> Tensor in
            var u = try Tensor.binary(.mul, AG.normalize(x, eps: eps, centered: centered).0, w)
            if let b { u = try Tensor.binary(.add, u, b) }
            return u
        }
        XCTAssertEqual(try unfused.toFloats(), try y.toFloats())

        try Autograd.backward(AG.reduce(.sum, AG.binary(.mul, y, Tensor(r, shape: y.shape)), dims: nil, keepdim: false))
        func loss(_ ins: [[Double]]) -> Double {
            zip(reference(ins[0], ins[1], centered ? ins[2] : nil, d: d, eps: Double(eps), centered: centered), r)
                .reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let h = 1e-5
        let grads = [x.grad, w.grad] + (centered ? [b?.grad] : [])
        for (which, grad) in grads.enumerated() {
            let g = try XCTUnwrap(grad).toFloats()
            for idx in stride(from: 0, to: g.count, by: Swift.max(1, g.count / 30)) {
                var ins = [dd(xv), dd(wv), dd(bv)]
                ins[which][idx] += h
                let up = loss(ins)
                ins[which][idx] -= 2 * h
                XCTAssertEqual(Double(g[idx]), (up - loss(ins)) / (2 * h), accuracy: 1e-3, "\(KernelISA.name) input \(which) element \(idx)")
            }
        }
    }

    func testLayerNorm() throws { try KernelISA.forEachSupported { _ in try check(rows: 5, d: 37, centered: true) } }
    func testRMSNorm() throws { try KernelISA.forEachSupported { _ in try check(rows: 3, d: 64, centered: false) } }

    func testEveryVariantIsListedAndSelectable() throws {
        let all = KernelISA.supported
        XCTAssertEqual(all.last, "baseline")
        let before = KernelISA.name
        XCTAssertTrue(all.contains(before))
        var seen = [String]()
        KernelISA.forEachSupported { _ in seen.append(KernelISA.name) }
        XCTAssertEqual(seen, all)
        XCTAssertEqual(KernelISA.name, before)   // restored
    }
}
