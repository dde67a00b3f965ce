import XCTest
@testable import FPTensor
import CBLAS
import Foundation

/// Large elementwise ops split over the threads (SplitRange) give the one-thread result bit for
/// bit: pieces start at multiples of 16, so every element takes the same SIMD or scalar path.
final class SplitRangeTests: XCTestCase {
    private var threads = 1
    override func setUp() { threads = BLASThreads.configured }
    override func tearDown() { BLASThreads.configure(threads) }

    func testPiecesCoverTheRangeOnceAlignedTo16() {
        BLASThreads.configure(2)
        for n in [0, 1, 17, SplitRange.minElements - 1, SplitRange.minElements, 3 * SplitRange.minElements + 5, 200_001] {
            var pieces: [(Int, Int)] = []
            let lock = NSLock()
            SplitRange.run(n) { lo, hi in lock.lock(); pieces.append((lo, hi)); lock.unlock() }
            pieces.sort { $0.0 < $1.0 }
            var next = 0
            for (lo, hi) in pieces {
                XCTAssertEqual(lo, next, "n = \(n)")
                XCTAssertEqual(lo % 16, 0)
                if n > 0 { XCTAssertLessThan(lo, hi) }
                next = hi
            }
            XCTAssertEqual(next, n, "n = \(n)")
            if n >= SplitRange.minElements && fp_cpu_count() >= 2 { XCTAssertEqual(pieces.count, 2, "n = \(n)") }
        }
    }

    /// n / 2 a multiple of 16 and n odd: the last element was left out (uninitialized memory)
    /// before the piece size was rounded up from ceil(n / threads).
    func testTheLastElementOfAnOddSplitIsComputed() throws {
        BLASThreads.configure(2)
        let n = 200_001
        let a = try Tensor([Float](repeating: 2, count: n), shape: [n])
        for y in [try a.unary(.neg), try Tensor.binary(.add, a, a), try a.gatedActivation(.silu, a)] {
            let v = try y.toFloats()
            XCTAssertEqual(v[n - 1], v[0])
            XCTAssertEqual(v[n - 2], v[0])
        }
    }

    /// Broadcast binary ops split by rows (StridedLoop.forEachRow(in:)): every row once, in
    /// pieces that start anywhere in the outer dims, bit-identical to one thread.
    func testBroadcastOpsSplitByRows() throws {
        let a = try Tensor.randn([7, 300, 129]), w = try Tensor.randn([129]), c = try Tensor.randn([7, 300, 1])
        let t = try Tensor.randn([129, 300]).T()   // strided [300, 129]
        func results() throws -> [[Float]] {
            [try Tensor.binary(.mul, a, w).toFloats(), try Tensor.binary(.sub, a, c).toFloats(),
             try Tensor.binary(.add, a, t).toFloats()]
        }
        BLASThreads.configure(1)
        let one = try results()
        BLASThreads.configure(2)
        let two = try results()
        for (i, (x, y)) in zip(one, two).enumerated() {
            XCTAssertTrue(x.elementsEqual(y) { $0.bitPattern == $1.bitPattern }, "result \(i)")
        }
        let av = try a.toFloats(), wv = try w.toFloats(), cv = try c.toFloats(), tv = try t.contiguous().toFloats()
        for idx in [0, 128, 129, 300 * 129 - 1, 300 * 129, 7 * 300 * 129 - 1, 3 * 300 * 129 + 77 * 129 + 5] {
            let row = idx / 129, col = idx % 129
            XCTAssertEqual(two[0][idx], av[idx] * wv[col])
            XCTAssertEqual(two[1][idx], av[idx] - cv[row])
            XCTAssertEqual(two[2][idx], av[idx] + tv[(row % 300) * 129 + col])
        }
    }

    func testSplitOpsEqualOneThreadBitForBit() throws {
        let n = 3 * SplitRange.minElements + 7
        let a = try Tensor.randn([n]), b = try Tensor.randn([n])
        func results() throws -> [[Float]] {
            var out: [[Float]] = []
            for op in [UnaryOp.silu, .exp, .gelu, .tanh, .neg] { out.append(try a.unary(op).toFloats()) }
            for op in [BinaryOp.add, .mul, .sub, .div] { out.append(try Tensor.binary(op, a, b).toFloats()) }
            // a strided view that still merges into one row is split too
            out.append(try Tensor.binary(.add, a.view([n, 1]), b.view([n, 1])).toFloats())
            return out
        }
        BLASThreads.configure(1)
        let one = try results()
        BLASThreads.configure(2)
        let two = try results()
        XCTAssertEqual(one.count, two.count)
        for (i, (x, y)) in zip(one, two).enumerated() {
            XCTAssertTrue(x.elementsEqual(y) { $0.bitPattern == $1.bitPattern }, "result \(i) differs between one and two threads")
        }
        // and they are the ops: spot values against Foundation
        let av = try a.toFloats(), bv = try b.toFloats()
        for i in [0, n / 2, n - 1] {
            XCTAssertEqual(two[5][i], av[i] + bv[i])
            XCTAssertEqual(two[6][i], av[i] * bv[i])
            XCTAssertEqual(Double(two[0][i]), Double(av[i]) / (1 + exp(-Double(av[i]))), accuracy: 1e-5 * max(1, abs(Double(av[i]))))
        }
    }
}
