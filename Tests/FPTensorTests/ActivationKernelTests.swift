import XCTest
@testable import FPTensor
import CKernels
import Foundation

/// The elementwise activation kernels (CKernels fpk_activation, behind Tensor.unary and
/// gatedActivation) against double-precision formulas written here, on every instruction-set
/// variant the CPU runs; the variants agree bit for bit (erf, libmvec's, within 4 ulp), a tail
/// element gets the bits it would get inside a full vector, and the gated form equals the
/// activation followed by a multiply.
final class ActivationKernelTests: XCTestCase {
    private let specials: [Float] = [0, -0.0, 1e-6, -1e-6, 0.03, -0.05, 0.0625, -0.07, 0.5, -1, 3, -3, 9.5, -9.5,
                                     20, -20, 88, 88.8, -88, -103.5, -150, 300, -300, .infinity, -.infinity, .nan]
    private func inputs() -> [Float] {
        var seed: UInt64 = 99
        let random = (0..<400).map { _ -> Float in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(seed >> 40) % 24000 - 12000) / 1000   // [-12, 12)
        }
        return specials + random   // 426: the last 10 are a tail
    }

    private func reference(_ op: Int32, _ x: Double) -> Double {
        switch op {
        case Int32(FPK_EXP): return Foundation.exp(x)
        case Int32(FPK_TANH): return Foundation.tanh(x)
        // 0.5 x (1 + tanh u) in the form without cancellation for x << 0
        case Int32(FPK_GELU_TANH): return x / (1 + Foundation.exp(-2 * 0.7978845608028654 * (x + 0.044715 * x * x * x)))
        case Int32(FPK_SILU): return x / (1 + Foundation.exp(-x))
        case Int32(FPK_ERF): return Foundation.erf(x)
        case Int32(FPK_GELU_ERF): return 0.5 * x * Foundation.erfc(-x / 2.0.squareRoot())
        default: return 1 / (1 + Foundation.exp(-x))
        }
    }

    private let ops: [(String, Int32)] = [("exp", Int32(FPK_EXP)), ("tanh", Int32(FPK_TANH)), ("gelu_tanh", Int32(FPK_GELU_TANH)),
                                          ("silu", Int32(FPK_SILU)), ("sigmoid", Int32(FPK_SIGMOID)),
                                          ("erf", Int32(FPK_ERF)), ("gelu_erf", Int32(FPK_GELU_ERF))]

    private func run(_ op: Int32, _ x: [Float], mul: [Float]? = nil) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                if let mul {
                    mul.withUnsafeBufferPointer { pm in fpk_activation(op, px.baseAddress, pm.baseAddress, py.baseAddress, x.count) }
                } else {
                    fpk_activation(op, px.baseAddress, nil, py.baseAddress, x.count)
                }
            }
        }
        return y
    }

    func testAgainstDoublePrecisionOnEveryVariant() {
        let x = inputs()
        var first: [String: [Float]] = [:]
        KernelISA.forEachSupported { isa in
            for (name, op) in ops {
                let y = run(op, x)
                for (xi, yi) in zip(x, y) {
                    let exact = reference(op, Double(xi))
                    let want = Double(Float(exact)).isInfinite ? Double(Float(exact)) : exact   // past float's range
                    if xi.isNaN || exact.isNaN {
                        XCTAssertTrue(yi.isNaN || (xi == -.infinity && name == "silu"), "\(isa) \(name)(\(xi)) = \(yi)")
                        continue
                    }
                    if want.isInfinite { XCTAssertEqual(Double(yi), want, "\(isa) \(name)(\(xi))"); continue }
                    // a few float ulps; an absolute floor near zero (exp underflows to 0 below -103;
                    // GELU-tanh's tail far below 1e-10 carries the rounding of u, amplified by
                    // e^(-2u); exact GELU's 1 + erf cancels below about -5, as in torch's formula)
                    let floor = name == "exp" ? 1e-38 : name == "gelu_erf" ? 1e-6 : 1e-10
                    XCTAssertEqual(Double(yi), want, accuracy: 3e-6 * abs(want) + floor,
                                   "\(isa) \(name)(\(xi))")
                }
                if let f = first[name] {
                    // erf is libmvec's, whose variants may round differently in the last bits
                    // (in exact GELU's tail, 1 + erf cancels and the difference is absolute)
                    let ulps: Float = name.hasSuffix("erf") ? 4 : 0, floor: Float = name == "gelu_erf" ? 1e-6 : 0
                    XCTAssertTrue(f.elementsEqual(y) { a, b in
                        a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) || abs(a - b) <= ulps * Swift.max(a.ulp, b.ulp) + floor
                    }, "\(isa) \(name) differs from the widest variant")
                } else { first[name] = y }
            }
        }
        XCTAssertEqual(first.count, ops.count)
    }

    func testATailElementHasTheBitsOfAFullVector() {
        let x = inputs()
        for (name, op) in ops {
            let whole = run(op, x)
            // every start offset puts each element both inside full vectors and in a tail
            for start in [1, 5, 15] {
                let part = run(op, Array(x[start...]))
                XCTAssertTrue(part.elementsEqual(whole[start...]) { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) },
                              "\(name) from offset \(start)")
            }
        }
    }

    func testGatedEqualsActivationThenMultiply() throws {
        let n = 3 * SplitRange.minElements + 9   // split over threads, with a tail
        let a = try Tensor.randn([n / 3, 3]), b = try Tensor.randn([n / 3, 3])
        for act in [UnaryOp.silu, .gelu, .sigmoid, .gelu_erf, .tanh] {
            let fused = try a.gatedActivation(act, b).toFloats()
            let apart = try Tensor.binary(.mul, a.unary(act), b).toFloats()
            XCTAssertTrue(fused.elementsEqual(apart) { $0.bitPattern == $1.bitPattern }, "\(act)")
        }
        XCTAssertThrowsError(try a.gatedActivation(.silu, try Tensor.randn([3])))
    }

    /// The backward kernel (g * act'(x)) for SiLU and GELU-tanh against central differences of
    /// the double formulas, on every variant, and through AG.unary's tape.
    func testGradientsAgainstCentralDifferences() throws {
        let x = inputs().filter { $0.isFinite && abs($0) < 30 }
        let g = x.indices.map { Float(($0 * 37) % 19) / 9 - 1 }
        let h = 1e-6
        for (name, op) in [("silu", Int32(FPK_SILU)), ("gelu_tanh", Int32(FPK_GELU_TANH)), ("gelu_erf", Int32(FPK_GELU_ERF))] {
            try KernelISA.forEachSupported { isa in
                var y = [Float](repeating: 0, count: x.count)
                x.withUnsafeBufferPointer { px in
                    g.withUnsafeBufferPointer { pg in
                        y.withUnsafeMutableBufferPointer { fpk_activation_grad(op, px.baseAddress, pg.baseAddress, $0.baseAddress, x.count) }
                    }
                }
                for i in x.indices {
                    let xd = Double(x[i])
                    let slope = (reference(op, xd + h) - reference(op, xd - h)) / (2 * h)
                    XCTAssertEqual(Double(y[i]), Double(g[i]) * slope, accuracy: 2e-5 * Swift.max(1, abs(Double(g[i]) * slope)) + 1e-6,
                                   "\(isa) \(name)'(\(x[i]))")
                }
                // through the tape: d sum(g * act(x)) / dx
                let xt = try Tensor(x, shape: [x.count]); xt.requiresGrad = true
                let act: UnaryOp = name == "silu" ? .silu : name == "gelu_tanh" ? .gelu : .gelu_erf
                try Autograd.backward(AG.reduce(.sum, AG.binary(.mul, AG.unary(act, xt), Tensor(g, shape: [g.count])), dims: nil, keepdim: false))
                XCTAssertEqual(try XCTUnwrap(xt.grad).toFloats(), y, "\(isa) \(name) on the tape")
            }
        }
    }
}
