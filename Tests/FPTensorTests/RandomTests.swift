import XCTest
@testable import FPTensor

/// Statistical checks use sample sizes where the tolerance is many standard errors wide,
/// and fixed seeds, so they are deterministic.
final class RandomTests: XCTestCase {

    func testRandnMeanAndStd() throws {
        RandomSource.seed(1)
        let x = try Tensor.randn([100_000]).toDoubles()
        let mean = x.reduce(0, +) / Double(x.count)
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count - 1)
        XCTAssertEqual(mean, 0, accuracy: 0.015)  // standard error 0.003
        XCTAssertEqual(variance.squareRoot(), 1, accuracy: 0.015)
        XCTAssertTrue(x.allSatisfy { $0.isFinite })
        // Tails: P(|z| > 2) = 0.0455.
        let tail = Double(x.filter { abs($0) > 2 }.count) / Double(x.count)
        XCTAssertEqual(tail, 0.0455, accuracy: 0.004)
    }

    func testSeededReproducibility() throws {
        RandomSource.seed(42)
        let a = try Tensor.randn([3, 7]).toFloats()
        let ai = try Tensor.randint(low: -5, high: 5, shape: [10]).toInts()
        RandomSource.seed(42)
        let b = try Tensor.randn([3, 7]).toFloats()
        let bi = try Tensor.randint(low: -5, high: 5, shape: [10]).toInts()
        XCTAssertEqual(a, b)
        XCTAssertEqual(ai, bi)
        XCTAssertEqual(RandomSource.initialSeed, 42)
        RandomSource.seed(43)
        XCTAssertNotEqual(try Tensor.randn([3, 7]).toFloats(), a)
        // Odd counts use half of the last Box-Muller pair and stay reproducible.
        RandomSource.seed(5); let o1 = try Tensor.randn([5]).toFloats()
        RandomSource.seed(5); let o2 = try Tensor.randn([6]).toFloats()
        XCTAssertEqual(o1, Array(o2[0..<5]))
    }

    func testRandUniform() throws {
        RandomSource.seed(2)
        let x = try Tensor.rand([50_000]).toDoubles()
        XCTAssertTrue(x.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(x.reduce(0, +) / Double(x.count), 0.5, accuracy: 0.01)
        let low = Double(x.filter { $0 < 0.1 }.count) / Double(x.count)
        XCTAssertEqual(low, 0.1, accuracy: 0.01)
        XCTAssertEqual(try Tensor.rand([2, 0, 3]).shape, [2, 0, 3])
    }

    func testRandint() throws {
        RandomSource.seed(3)
        let x = try Tensor.randint(low: -2, high: 3, shape: [20_000])
        XCTAssertEqual(x.dtype, .int64)
        let v = try x.toInts()
        XCTAssertTrue(v.allSatisfy { $0 >= -2 && $0 < 3 })
        for value in -2..<3 {
            XCTAssertEqual(Double(v.filter { $0 == value }.count) / 20_000, 0.2, accuracy: 0.02)
        }
        // The widest range does not overflow.
        _ = try Tensor.randint(low: Int.min, high: Int.max, shape: [4])
        assertThrows(try Tensor.randint(low: 3, high: 3, shape: [2]), contains: "randint: high (3) must be greater than low (3)")
        assertThrows(try Tensor.randint(low: 0, high: 2, shape: [-1]), contains: "randint: negative dimension")
    }

    func testRandpermIsPermutation() throws {
        RandomSource.seed(4)
        for n in [0, 1, 2, 17, 1000] {
            let p = try Tensor.randperm(n)
            XCTAssertEqual(p.dtype, .int64)
            XCTAssertEqual(p.shape, [n])
            XCTAssertEqual(try p.toInts().sorted(), Array(0..<n))
        }
        XCTAssertNotEqual(try Tensor.randperm(50).toInts(), Array(0..<50))
        // Each position is uniform: element 0 lands in the first half about half the time.
        var firstHalf = 0
        for _ in 0..<2000 {
            if let pos = try Tensor.randperm(10).toInts().firstIndex(of: 0), pos < 5 { firstHalf += 1 }
        }
        XCTAssertEqual(Double(firstHalf) / 2000, 0.5, accuracy: 0.05)
        assertThrows(try Tensor.randperm(-1), contains: "randperm: n must be non-negative")
    }

    func testMultinomialWithReplacementFrequencies() throws {
        RandomSource.seed(5)
        // Unnormalised weights 1:2:3:4 with a zero-weight category that must never appear.
        let probs = try Tensor([1, 0, 2, 3, 4], shape: [5])
        let s = try Tensor.multinomial(probs, numSamples: 100_000, replacement: true)
        XCTAssertEqual(s.shape, [100_000]); XCTAssertEqual(s.dtype, .int64)
        var counts = [Int](repeating: 0, count: 5)
        for i in try s.toInts() { counts[i] += 1 }
        XCTAssertEqual(counts[1], 0)
        for (j, p) in [(0, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)] {
            XCTAssertEqual(Double(counts[j]) / 100_000, p, accuracy: 0.01)
        }
    }

    func testMultinomialWithoutReplacement() throws {
        RandomSource.seed(6)
        let probs = try Tensor([0.5, 0.0, 0.2, 0.2, 0.1,
                                0.0, 1.0, 0.0, 3.0, 0.0], shape: [2, 5])
        var firstCounts = [Int](repeating: 0, count: 5)
        for _ in 0..<4000 {
            let s = try Tensor.multinomial(probs, numSamples: 2, replacement: false)
            XCTAssertEqual(s.shape, [2, 2])
            let v = try s.toInts()
            XCTAssertNotEqual(v[0], v[1]); XCTAssertNotEqual(v[2], v[3])
            XCTAssertFalse(v[0...1].contains(1))
            XCTAssertEqual(Set(v[2...3]), [1, 3])  // row 1 has exactly two non-zero categories
            firstCounts[v[0]] += 1
        }
        // The first draw of row 0 follows probs exactly.
        for (j, p) in [(0, 0.5), (2, 0.2), (3, 0.2), (4, 0.1)] {
            XCTAssertEqual(Double(firstCounts[j]) / 4000, p, accuracy: 0.03)
        }
        // Drawing everything returns a permutation of the non-zero categories.
        let all = try Tensor.multinomial(try Tensor([1, 1, 1, 1], shape: [4]), numSamples: 4, replacement: false)
        XCTAssertEqual(try all.toInts().sorted(), [0, 1, 2, 3])
    }

    func testMultinomialErrors() throws {
        let p = try Tensor([0.5, 0, 0.5], shape: [3])
        assertThrows(try Tensor.multinomial(p, numSamples: 3, replacement: false),
                     contains: "multinomial: cannot draw 3 samples without replacement from row 0 with 2 non-zero categories")
        assertThrows(try Tensor.multinomial(try Tensor([0.5, -0.1], shape: [2]), numSamples: 1, replacement: true),
                     contains: "multinomial: probs must be finite and non-negative")
        assertThrows(try Tensor.multinomial(try Tensor([0, 0], shape: [2]), numSamples: 1, replacement: true),
                     contains: "multinomial: probs row 0 sums to zero")
        assertThrows(try Tensor.multinomial(try Tensor([1, .nan], shape: [2]), numSamples: 1, replacement: true),
                     contains: "finite")
        assertThrows(try Tensor.multinomial(try Tensor(zeros: [2, 2, 2]), numSamples: 1, replacement: true),
                     contains: "multinomial: probs must be 1-D or 2-D, got shape [2, 2, 2]")
        assertThrows(try Tensor.multinomial(p, numSamples: 0, replacement: true), contains: "numSamples must be positive")
        assertThrows(try Tensor.multinomial(try Tensor(ints: [1, 2], shape: [2]), numSamples: 1, replacement: true),
                     contains: "multinomial: probs must be a float32 tensor")
    }
}
