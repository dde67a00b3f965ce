import XCTest
import CBLAS
@testable import FPTensor

/// ParallelFor on OpenMP's pool: every index runs exactly once, on more than one thread where
/// there are cores, also when a loop runs inside another or between oneDNN products.
final class ParallelForTests: XCTestCase {
    func testEveryIndexOnceOnSeveralThreads() {
        let n = 5000
        var hits = [Int32](repeating: 0, count: n)
        var threadOf = [pthread_t?](repeating: nil, count: n)
        hits.withUnsafeMutableBufferPointer { h in
            threadOf.withUnsafeMutableBufferPointer { t in
                ParallelFor.run(n) { i in
                    h[i] += 1   // each index is handed out once, so no two threads share a slot
                    t[i] = pthread_self()
                    if i % 100 == 0 { usleep(200) }   // long enough for the other thread to join in
                }
            }
        }
        XCTAssertEqual(hits, [Int32](repeating: 1, count: n))
        let distinct = Set(threadOf.compactMap { $0.map { UInt($0) } })
        if fp_cpu_count() >= 2 { XCTAssertGreaterThan(distinct.count, 1, "the loop ran on one thread") }
        XCTAssertTrue(distinct.contains(UInt(pthread_self())), "the caller takes part")
    }

    func testNestedLoopsAndProductsInBetween() throws {
        let a = try Tensor.randn([16, 300]), b = try Tensor.randn([300, 400])
        let expected = try a.matmul(b).toFloats()
        var sums = [Int](repeating: 0, count: 8)
        sums.withUnsafeMutableBufferPointer { s in
            ParallelFor.run(8) { i in
                var inner = [Int](repeating: 0, count: 10)
                inner.withUnsafeMutableBufferPointer { p in ParallelFor.run(10) { j in p[j] = i * j } }
                s[i] = inner.reduce(0, +)
            }
        }
        XCTAssertEqual(sums, (0..<8).map { 45 * $0 })
        XCTAssertEqual(try a.matmul(b).toFloats(), expected, "a product after the loops")
    }

    func testEmptyAndSingle() {
        var count = 0
        ParallelFor.run(0) { _ in count += 1 }
        ParallelFor.run(1) { _ in count += 1 }
        XCTAssertEqual(count, 1)
    }
}
