import Foundation
import XCTest
@testable import FPTensor

/// The tensor core against hand-computed values and independent loops.
final class TensorCoreTests: XCTestCase {
    /// Deterministic pseudo-random values (independent of fp's generator).
    func values(_ n: Int, seed: Int = 1) -> [Float] {
        var s = UInt64(seed) &* 0x9E3779B97F4A7C15
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 500
        }
    }

    func tensor(_ shape: [Int], seed: Int = 1) throws -> Tensor {
        try Tensor(values(shape.reduce(1, *), seed: seed), shape: shape)
    }

    /// Element at a multi-index, read through strides (independent of contiguous()).
    func at(_ t: Tensor, _ idx: [Int]) throws -> Float {
        var off = 0
        for (i, s) in zip(idx, t.strides) { off += i * s }
        return try t.storage.raw().assumingMemoryBound(to: Float.self)[t.offset + off]
    }

    func naiveMatmul(_ a: Tensor, _ b: Tensor) throws -> [Float] {
        let m = a.shape[0], k = a.shape[1], n = b.shape[1]
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s: Double = 0
            for p in 0..<k { s += Double(try at(a, [i, p])) * Double(try at(b, [p, j])) }
            out[i * n + j] = Float(s)
        } }
        return out
    }

    func assertClose(_ a: [Float], _ b: [Float], tol: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "sizes differ", file: file, line: line)
        for i in 0..<min(a.count, b.count) where !(abs(a[i] - b[i]) <= tol * max(1, abs(b[i]))) {
            XCTFail("element \(i): \(a[i]) vs \(b[i])", file: file, line: line)
            return
        }
    }

    func testMatmulOddShapesAndViews() throws {
        let a = try tensor([7, 13]), b = try tensor([13, 5], seed: 2)
        assertClose(try a.matmul(b).toFloats(), try naiveMatmul(a, b))
        // transposed operands (BLAS Trans path) and a strided slice (copy path)
        let at_ = try tensor([13, 7], seed: 3).T(), bt = try tensor([5, 13], seed: 4).T()
        assertClose(try at_.matmul(bt).toFloats(), try naiveMatmul(at_, bt))
        let big = try tensor([9, 20], seed: 5)
        let sl = try big.slice(0, 1, 8, 2).slice(1, 3, 16)       // [4, 13], row stride 40
        let stepCols = try big.slice(1, 0, 20, 3).slice(0, 0, 5)  // [5, 7], column stride 3
        assertClose(try sl.matmul(b).toFloats(), try naiveMatmul(sl, b))
        assertClose(try stepCols.T().matmul(stepCols).toFloats(), try naiveMatmul(stepCols.T(), stepCols))
        // m = 1 (gemv path)
        let v = try tensor([1, 13], seed: 6)
        assertClose(try v.matmul(b).toFloats(), try naiveMatmul(v, b))
    }

    func testMatmulBatchedAndBroadcast() throws {
        let a = try tensor([2, 3, 4, 6]), b = try tensor([3, 6, 5], seed: 2)
        let c = try a.matmul(b)
        XCTAssertEqual(c.shape, [2, 3, 4, 5])
        for i in 0..<2 { for j in 0..<3 {
            let want = try naiveMatmul(try a.select(0, i).select(0, j), try b.select(0, j))
            assertClose(try c.select(0, i).select(0, j).toFloats(), want)
        } }
        // batched @ 2-D folds into one sgemm
        let w = try tensor([6, 5], seed: 7)
        let d = try a.matmul(w)
        assertClose(try d.select(0, 1).select(0, 2).toFloats(), try naiveMatmul(try a.select(0, 1).select(0, 2), w))
        // expanded (stride 0) operand
        let e = try tensor([1, 4, 6], seed: 8).expand([3, 4, 6])
        let f = try e.matmul(b)
        assertClose(try f.select(0, 2).toFloats(), try naiveMatmul(try e.select(0, 2), try b.select(0, 2)))
        // 1-D cases
        let x = try tensor([6], seed: 9), y = try tensor([6], seed: 10)
        let dot = try x.matmul(y)
        XCTAssertEqual(dot.shape, [])
        let xs = try x.toFloats(), ys = try y.toFloats()
        XCTAssertEqual(try dot.toFloats()[0], zip(xs, ys).map { $0 * $1 }.reduce(0, +), accuracy: 1e-4)
        XCTAssertEqual(try w.T().matmul(x).shape, [5])
        XCTAssertEqual(try x.matmul(w).shape, [5])
    }

    func testMatmulErrors() throws {
        let a = try Tensor(zeros: [3, 4]), b = try Tensor(zeros: [5, 6])
        XCTAssertThrowsError(try a.matmul(b)) { e in
            XCTAssertEqual("\(e)", "matmul: shapes [3, 4] and [5, 6] cannot be multiplied (inner dims 4 != 5)")
        }
        XCTAssertThrowsError(try a.bmm(a))
    }

    func testEinsumMatchesLoops() throws {
        let x = try tensor([2, 3, 4]), w = try tensor([4], seed: 2), m = try tensor([4, 5], seed: 3)
        for eq in ["bpd,d->bp", "batch pos d, d -> batch pos"] {
            let r = try Einsum.evaluate(eq, [x, w])
            var want = [Float]()
            for b in 0..<2 { for p in 0..<3 {
                var s: Float = 0
                for d in 0..<4 { s += try at(x, [b, p, d]) * at(w, [d]) }
                want.append(s)
            } }
            XCTAssertEqual(r.shape, [2, 3])
            assertClose(try r.toFloats(), want)
        }
        // contraction with a matrix and an output permutation
        let r2 = try Einsum.evaluate("bpd,de->ebp", [x, m])
        XCTAssertEqual(r2.shape, [5, 2, 3])
        for e in 0..<5 { for b in 0..<2 { for p in 0..<3 {
            var s: Float = 0
            for d in 0..<4 { s += try at(x, [b, p, d]) * at(m, [d, e]) }
            XCTAssertEqual(try at(r2, [e, b, p]), s, accuracy: 1e-4)
        } } }
        // trace, diagonal, outer, sum over everything, batch dims kept on both sides
        let sq = try tensor([4, 4], seed: 4)
        var tr: Float = 0
        for i in 0..<4 { tr += try at(sq, [i, i]) }
        XCTAssertEqual(try Einsum.evaluate("ii->", [sq]).toFloats()[0], tr, accuracy: 1e-4)
        assertClose(try Einsum.evaluate("ii->i", [sq]).toFloats(), try (0..<4).map { try at(sq, [$0, $0]) })
        let o = try Einsum.evaluate("i,j->ij", [w, w])
        XCTAssertEqual(try at(o, [1, 3]), try at(w, [1]) * at(w, [3]), accuracy: 1e-5)
        let bb = try Einsum.evaluate("bij,bjk->bik", [try tensor([2, 3, 4]), try tensor([2, 4, 5], seed: 5)])
        XCTAssertEqual(bb.shape, [2, 3, 5])
        XCTAssertThrowsError(try Einsum.evaluate("ij,jk->ik", [sq, x])) { e in
            XCTAssert("\(e)".contains("operand 2 has 3 dims"), "\(e)")
        }
        XCTAssertThrowsError(try Einsum.evaluate("ij->iz", [sq])) { e in
            XCTAssert("\(e)".contains("output axis 'z'"), "\(e)")
        }
    }

    func testBroadcastArithmetic() throws {
        let a = try tensor([3, 1, 4]), b = try tensor([2, 1], seed: 2)
        let c = try Tensor.binary(.sub, a, b)
        XCTAssertEqual(c.shape, [3, 2, 4])
        for i in 0..<3 { for j in 0..<2 { for k in 0..<4 {
            XCTAssertEqual(try at(c, [i, j, k]), try at(a, [i, 0, k]) - at(b, [j, 0]))
        } } }
        XCTAssertThrowsError(try Tensor.binary(.add, try Tensor(zeros: [3]), try Tensor(zeros: [4]))) { e in
            XCTAssert("\(e)".contains("cannot be broadcast"), "\(e)")
        }
        // ints stay ints, division is true division
        let i = try Tensor(ints: [1, 2, 3], shape: [3])
        XCTAssertEqual(try Tensor.binary(.add, i, i).dtype, .int64)
        XCTAssertEqual(try Tensor.binary(.div, i, try Tensor(ints: [2], shape: [])).toFloats(), [0.5, 1, 1.5])
        // long contiguous rows take the SIMD path; check the tail too
        let x = try tensor([37]), y = try tensor([37], seed: 3)
        let xs = try x.toFloats(), ys = try y.toFloats()
        XCTAssertEqual(try Tensor.binary(.mul, x, y).toFloats(), zip(xs, ys).map { $0 * $1 })
    }

    func testTranscendentalsAccuracy() throws {
        var xs = [Float]()
        var v: Float = -30
        while v < 30 { xs.append(v); v += 0.0137 }
        let t = try Tensor(xs, shape: [xs.count])
        let e = try t.unary(.exp).toFloats()
        for (x, y) in zip(xs, e) { XCTAssertEqual(y, expf(x), accuracy: 4e-7 * expf(x)) }
        let th = try t.unary(.tanh).toFloats()
        for (x, y) in zip(xs, th) { XCTAssertEqual(y, tanhf(x), accuracy: 3e-7) }
        let g = try t.unary(.gelu).toFloats()
        for (x, y) in zip(xs, g) {
            let want = 0.5 * Double(x) * (1 + tanh(0.7978845608028654 * (Double(x) + 0.044715 * pow(Double(x), 3))))
            XCTAssertEqual(Double(y), want, accuracy: 1e-5 * max(1, abs(want)))
        }
        let ge = try t.unary(.gelu_erf).toFloats()
        for (x, y) in zip(xs, ge) { XCTAssertEqual(Double(y), 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot())), accuracy: 1e-5 * max(1, abs(Double(x)))) }
        let si = try t.unary(.silu).toFloats()
        for (x, y) in zip(xs, si) { XCTAssertEqual(Double(y), Double(x) / (1 + exp(-Double(x))), accuracy: 1e-5 * max(1, abs(Double(x)))) }
        // extremes
        let ext = try Tensor([-200, 200, .nan, 0], shape: [4]).unary(.exp).toFloats()
        XCTAssertEqual(ext[0], 0); XCTAssertEqual(ext[1], .infinity); XCTAssert(ext[2].isNaN); XCTAssertEqual(ext[3], 1)
    }

    func testReductions() throws {
        let a = try tensor([3, 4, 5])
        let s = try a.reduce(.sum, dims: [1], keepdim: true)
        XCTAssertEqual(s.shape, [3, 1, 5])
        for i in 0..<3 { for k in 0..<5 {
            var want: Float = 0
            for j in 0..<4 { want += try at(a, [i, j, k]) }
            XCTAssertEqual(try at(s, [i, 0, k]), want, accuracy: 1e-5)
        } }
        let s02 = try a.reduce(.sum, dims: [0, 2])
        XCTAssertEqual(s02.shape, [4])
        let all = try a.reduce(.mean)
        XCTAssertEqual(all.shape, [])
        XCTAssertEqual(try all.toFloats()[0], try a.toFloats().reduce(0, +) / 60, accuracy: 1e-5)
        let (mv, mi) = try a.extremeWithIndices(dim: -1, keepdim: false, max: true)
        for i in 0..<3 { for j in 0..<4 {
            let row = try (0..<5).map { try at(a, [i, j, $0]) }
            let m = row.max()!
            XCTAssertEqual(try at(mv, [i, j]), m)
            XCTAssertEqual(Int(try mi.intPointer()[i * 4 + j]), row.firstIndex(of: m)!)
        } }
        let vals: [Float] = [1, 2, 3, 4]
        XCTAssertEqual(try Tensor(vals, shape: [4]).variance().toFloats()[0], 5.0 / 3.0, accuracy: 1e-6)
        XCTAssertEqual(try Tensor(vals, shape: [4]).norm().toFloats()[0], 30.0.squareRoot().float, accuracy: 1e-6)
        XCTAssertThrowsError(try a.reduce(.sum, dims: [3])) { e in XCTAssert("\(e)".contains("dim 3 out of range")) }
    }

    func testSoftmax() throws {
        let a = try tensor([4, 7])
        for dim in [0, 1] {
            let s = try a.softmax(dim: dim), ls = try a.softmax(dim: dim, log: true)
            for i in 0..<4 { for j in 0..<7 {
                let n = dim == 1 ? 7 : 4
                let idx: (Int) -> [Int] = { dim == 1 ? [i, $0] : [$0, j] }
                let xs = try (0..<n).map { Double(try at(a, idx($0))) }
                let m = xs.max()!
                let z = xs.map { exp($0 - m) }.reduce(0, +)
                let x = Double(try at(a, [i, j]))
                XCTAssertEqual(Double(try at(s, [i, j])), exp(x - m) / z, accuracy: 1e-6)
                XCTAssertEqual(Double(try at(ls, [i, j])), x - m - log(z), accuracy: 1e-5)
            } }
        }
        // fully masked row gives NaN, -inf entries give 0
        let masked = try Tensor([-.infinity, 0, -.infinity, -.infinity], shape: [2, 2]).softmax(dim: 1).toFloats()
        XCTAssertEqual(masked[0], 0); XCTAssertEqual(masked[1], 1); XCTAssert(masked[2].isNaN)
    }

    func testViewsAlias() throws {
        let a = try tensor([2, 3, 4])
        let p = try a.permute([2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3])
        XCTAssertEqual(try at(p, [3, 1, 2]), try at(a, [1, 2, 3]))
        XCTAssertThrowsError(try p.view([8, 3])) { e in XCTAssert("\(e)".contains("use reshape")) }
        let r = try p.reshape([8, 3])     // copies
        XCTAssertFalse(r.storage === a.storage)
        let v = try a.view([6, 4])        // aliases
        XCTAssert(v.storage === a.storage)
        try v.select(0, 5).fill(9)
        XCTAssertEqual(try at(a, [1, 2, 0]), 9)
        let t = try a.transpose(0, 2)
        XCTAssertEqual(try t.contiguous().view([-1]).count, 24)
        XCTAssertEqual(try a.unsqueeze(1).shape, [2, 1, 3, 4])
        XCTAssertEqual(try a.unsqueeze(-1).shape, [2, 3, 4, 1])
        XCTAssertEqual(try a.unsqueeze(1).squeeze().shape, [2, 3, 4])
        XCTAssertEqual(try a.narrow(2, 1, 2).shape, [2, 3, 2])
        XCTAssertThrowsError(try a.narrow(2, 3, 2))
        XCTAssertEqual(try a.expand([5, 2, 3, 4]).strides[0], 0)
        // view of a split dim in a non-contiguous tensor is allowed when strides permit
        // [2, 2, 4] with strides [12, 4, 1]: not contiguous, but its last two dims merge, so view works
        let sliced = try a.slice(1, 0, 2)
        XCTAssertFalse(sliced.isContiguous)
        let merged = try sliced.view([2, 8])
        XCTAssert(merged.storage === a.storage)
        XCTAssertEqual(try at(merged, [1, 7]), try at(a, [1, 1, 3]))
        XCTAssertThrowsError(try sliced.view([16]))
    }

    func testIndexing() throws {
        let a = try tensor([4, 5])
        let v = try a.index([.all, .int(-1)])
        XCTAssertEqual(v.shape, [4])
        XCTAssertEqual(try at(v, [2]), try at(a, [2, 4]))
        let r = try a.index([.range(1, nil, 2), .range(nil, -1, 1)])
        XCTAssertEqual(r.shape, [2, 4])
        XCTAssertEqual(try at(r, [1, 3]), try at(a, [3, 3]))
        let e = try a.index([.ellipsis, .newaxis])
        XCTAssertEqual(e.shape, [4, 5, 1])
        let idx = try Tensor(ints: [0, 3, 3], shape: [3])
        let sel = try a.index([.all, .tensor(idx)])
        XCTAssertEqual(sel.shape, [4, 3])
        XCTAssertEqual(try at(sel, [2, 2]), try at(a, [2, 3]))
        let mask = try Tensor.compare(.gt, a, Tensor.scalar(0))
        let picked = try a.index([.tensor(mask)]).toFloats()
        XCTAssertEqual(picked, try a.toFloats().filter { $0 > 0 })
        // assignment through a view is visible in the parent
        try a.indexAssign([.all, .range(2, 4, 1)], try Tensor([7], shape: []))
        XCTAssertEqual(try at(a, [3, 3]), 7)
        let before = try a.toFloats()
        let m2 = try Tensor.compare(.gt, a, Tensor.scalar(0))
        try a.indexAssign([.tensor(m2)], Tensor.scalar(-5))
        XCTAssertEqual(try a.toFloats(), before.map { $0 > 0 ? -5 : $0 })
        XCTAssertThrowsError(try a.index([.int(4)])) { e in XCTAssertEqual("\(e)", "index 4 is out of bounds for dim 0 with size 4") }
        XCTAssertThrowsError(try a.index([.int(0), .int(0), .int(0)])) { e in XCTAssert("\(e)".contains("too many indices")) }
    }

    func testJoinGatherScatterWhere() throws {
        let a = try tensor([2, 3]), b = try tensor([2, 2], seed: 2)
        let c = try Tensor.cat([a, b], dim: 1)
        XCTAssertEqual(c.shape, [2, 5])
        XCTAssertEqual(try at(c, [1, 4]), try at(b, [1, 1]))
        XCTAssertThrowsError(try Tensor.cat([a, b], dim: 0)) { e in XCTAssert("\(e)".contains("sizes must match except in dim 0")) }
        let s = try Tensor.stack([a, a], dim: 1)
        XCTAssertEqual(s.shape, [2, 2, 3])
        let idx = try Tensor(ints: [2, 0, 1, 1], shape: [2, 2])
        let g = try a.gather(1, idx)
        XCTAssertEqual(try at(g, [0, 0]), try at(a, [0, 2]))
        XCTAssertEqual(try at(g, [1, 1]), try at(a, [1, 1]))
        let z = try Tensor(zeros: [2, 3])
        try z.scatterInPlace(1, idx, Tensor.scalar(1), add: true)
        XCTAssertEqual(try z.toFloats(), [1, 0, 1, 0, 2, 0])
        let w = try Tensor.whereSelect(try Tensor.compare(.gt, a, Tensor.scalar(0)), a, Tensor.scalar(0))
        XCTAssertEqual(try w.toFloats(), try a.toFloats().map { max($0, 0) })
    }

    func testFreedStorageThrows() throws {
        let a = try tensor([3, 3])
        let v = try a.T()
        a.storage.free()
        XCTAssertThrowsError(try v.clone()) { e in XCTAssert("\(e)".contains("freed")) }
        XCTAssertThrowsError(try Tensor(zeros: [-1]))
        XCTAssertThrowsError(try Tensor(zeros: [1 << 40, 1 << 40])) { e in XCTAssert("\(e)".contains("too many elements")) }
    }
}

private extension Double { var float: Float { Float(self) } }
