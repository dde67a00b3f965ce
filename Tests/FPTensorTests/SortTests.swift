import XCTest
@testable import FPTensor

/// sort/topk against Swift's stable `sorted(by:)` applied to each slice.
final class SortTests: XCTestCase {

    /// Deterministic data with many ties: multiples of 0.5 in [-3, 3], optionally with a
    /// continuous part.
    private func data(_ n: Int, seed: UInt64, continuous: Bool = false) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            let level = Float(Int((s >> 33) % 13) - 6) / 2
            return continuous ? level + Float((s >> 11) & 0xFFFF) / 65536 : level
        }
    }

    /// For every slice of `shape` along `d`: the flat row-major positions of its elements.
    private func slices(_ shape: [Int], _ d: Int) -> [[Int]] {
        let cs = Tensor.contiguousStrides(shape), total = shape.reduce(1, *)
        return (0..<total).filter { ($0 / cs[d]) % shape[d] == 0 }.map { start in
            (0..<shape[d]).map { start + $0 * cs[d] }
        }
    }

    /// Expected (values, indices) of the first k entries per slice, from Swift's stable sort.
    private func oracle(_ vals: [Double], _ shape: [Int], _ d: Int, k: Int, descending: Bool) -> [[(Double, Int)]] {
        slices(shape, d).map { pos in
            let order = Array(0..<pos.count).sorted { descending ? vals[pos[$0]] > vals[pos[$1]] : vals[pos[$0]] < vals[pos[$1]] }
            return order.prefix(k).map { (vals[pos[$0]], $0) }
        }
    }

    private func check(_ t: Tensor, dim d: Int, k: Int? = nil, descending: Bool, line: UInt = #line) throws {
        let dd = d < 0 ? d + t.rank : d
        let kk = k ?? t.shape[dd]
        let (v, i) = k == nil ? try t.sort(dim: d, descending: descending)
                              : try t.topk(kk, dim: d, largest: descending)
        var outShape = t.shape; outShape[dd] = kk
        XCTAssertEqual(v.shape, outShape, line: line)
        XCTAssertEqual(i.shape, outShape, line: line)
        XCTAssertEqual(v.dtype, t.dtype, line: line)
        XCTAssertEqual(i.dtype, .int64, line: line)
        let expected = oracle(try t.toDoubles(), t.shape, dd, k: kk, descending: descending)
        let gotV = try v.toDoubles(), gotI = try i.toInts()
        for (s, pos) in slices(outShape, dd).enumerated() {
            for (j, p) in pos.enumerated() {
                guard gotV[p] == expected[s][j].0, gotI[p] == expected[s][j].1 else {
                    XCTFail("slice \(s) entry \(j): got (\(gotV[p]), \(gotI[p])), expected \(expected[s][j])", line: line)
                    return
                }
            }
        }
    }

    func testSortFloatAllDimsWithTies() throws {
        let t = try Tensor(data(6 * 37, seed: 1), shape: [6, 37])
        for d in [0, 1, -1] {
            try check(t, dim: d, descending: false)
            try check(t, dim: d, descending: true)
        }
        let t3 = try Tensor(data(3 * 4 * 5, seed: 2, continuous: true), shape: [3, 4, 5])
        for d in 0..<3 {
            try check(t3, dim: d, descending: false)
            try check(t3, dim: d, descending: true)
        }
    }

    func testSortStridedInputs() throws {
        let base = try Tensor(data(8 * 21, seed: 3), shape: [8, 21])
        let tr = try base.transpose(0, 1)
        XCTAssertFalse(tr.isContiguous)
        for d in [0, 1] {
            try check(tr, dim: d, descending: false)
            try check(tr, dim: d, descending: true)
            try check(tr, dim: d, k: 3, descending: true)
        }
        let stepped = try base.slice(1, 1, nil, 3)  // [8, 7] with stride 3
        try check(stepped, dim: 1, descending: false)
        try check(stepped, dim: 0, k: 2, descending: false)
    }

    func testSortInt64() throws {
        let v = data(5 * 40, seed: 4).map { Int($0 * 2) }
        let t = try Tensor(ints: v, shape: [5, 40])
        try check(t, dim: 1, descending: false)
        try check(t, dim: 0, descending: true)
        try check(t, dim: 1, k: 4, descending: true)
        try check(try t.transpose(0, 1), dim: 1, k: 2, descending: false)
    }

    func testTopkLargeRowUsesSelectionAndMatchesSort() throws {
        // A vocabulary-sized row with many ties, both directions, k small and k large.
        let t = try Tensor(data(2 * 50257, seed: 5), shape: [2, 50257])
        try check(t, dim: -1, k: 5, descending: true)
        try check(t, dim: -1, k: 5, descending: false)
        try check(t, dim: -1, k: 20000, descending: true)
        let c = try Tensor(data(50257, seed: 6, continuous: true), shape: [50257])
        try check(c, dim: 0, k: 1, descending: true)
        try check(c, dim: 0, k: 100, descending: false)
        try check(c, dim: 0, k: 0, descending: true)
    }

    func testNaNSortsAsLargest() throws {
        let t = try Tensor([3, .nan, 1, .nan, 2], shape: [5])
        let (a, ai) = try t.sort()
        XCTAssertEqual(Array(try a.toFloats()[0..<3]), [1, 2, 3])
        XCTAssertTrue(try a.toFloats()[3...].allSatisfy { $0.isNaN })
        XCTAssertEqual(try ai.toInts(), [2, 4, 0, 1, 3])
        let (_, di) = try t.sort(descending: true)
        XCTAssertEqual(try di.toInts(), [1, 3, 0, 4, 2])
        XCTAssertEqual(try t.topk(3).indices.toInts(), [1, 3, 0])
        XCTAssertEqual(try t.topk(2, largest: false).indices.toInts(), [2, 4])
        let long = try Tensor((0..<100).map { $0 == 57 ? Float.nan : Float($0) }, shape: [100])
        XCTAssertEqual(try long.topk(2).indices.toInts(), [57, 99])  // selection path
    }

    func testEdgeShapes() throws {
        let s = Tensor.scalar(4)
        let (v, i) = try s.sort()
        XCTAssertEqual(v.shape, []); XCTAssertEqual(try v.toFloats(), [4]); XCTAssertEqual(try i.toInts(), [0])
        XCTAssertEqual(try s.topk(1).values.toFloats(), [4])
        let e = try Tensor(zeros: [3, 0])
        XCTAssertEqual(try e.sort(dim: 1).values.shape, [3, 0])
        XCTAssertEqual(try e.topk(0, dim: 1).indices.shape, [3, 0])
        XCTAssertEqual(try e.topk(2, dim: 0).values.shape, [2, 0])
    }

    func testErrors() throws {
        let t = try Tensor(zeros: [2, 3])
        assertThrows(try t.topk(5), contains: "topk: k (5) is larger than dim 1 of size 3")
        assertThrows(try t.topk(3, dim: 0), contains: "topk: k (3) is larger than dim 0 of size 2")
        assertThrows(try t.topk(-1), contains: "topk: k (-1) must be non-negative")
        assertThrows(try t.sort(dim: 2), contains: "sort: dim 2 out of range")
        assertThrows(try t.topk(1, dim: -3), contains: "topk: dim -3 out of range")
        let b = try Tensor(bools: [true, false], shape: [2])
        assertThrows(try b.sort(), contains: "sort: expected a float32 or int64 tensor, got bool")
        assertThrows(try Tensor.scalar(1).topk(2), contains: "topk: k (2) is larger")
        let freed = try Tensor(zeros: [4])
        freed.storage.free()
        assertThrows(try freed.sort(), contains: "freed")
    }
}
