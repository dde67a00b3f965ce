import XCTest
@testable import FPTensor

/// Freed tensor buffers come back for an allocation of the same size, zeroed when asked, within
/// the cache's capacity, and not at all under a memory limit.
final class BufferCacheTests: XCTestCase {
    override func setUp() { BufferCache.purge() }
    override func tearDown() { BufferCache.purge() }

    private func address(_ s: Storage) throws -> UnsafeMutableRawPointer { try s.raw() }

    func testReusedForTheSameSizeAndZeroedWhenAsked() throws {
        let count = BufferCache.minBytes / 4 * 3
        var first: Storage? = try Storage(count: count, dtype: .float32, zeroed: false)
        let p = try address(first!)
        p.storeBytes(of: Float(7), as: Float.self)
        first = nil
        XCTAssertEqual(BufferCache.bytes, count * 4, "the freed buffer is kept")
        let other = try Storage(count: count + 16, dtype: .float32)   // another size: not this buffer
        XCTAssertNotEqual(try address(other), p)
        let again = try Storage(count: count, dtype: .float32)        // zeroed (the default)
        XCTAssertEqual(try address(again), p, "the same size takes the kept buffer")
        XCTAssertEqual(BufferCache.bytes, 0)
        let floats = try address(again).assumingMemoryBound(to: Float.self)
        XCTAssertTrue((0..<count).allSatisfy { floats[$0] == 0 }, "a zeroed allocation is zero")
    }

    func testSmallBuffersAreNotKept() throws {
        var s: Storage? = try Storage(count: BufferCache.minBytes / 4 - 1, dtype: .float32)
        XCTAssertNotNil(s)
        s = nil
        XCTAssertEqual(BufferCache.bytes, 0)
    }

    func testCapacityBoundsWhatIsKept() throws {
        let each = BufferCache.capacity / 3 + 4096
        var storages: [Storage] = try (0..<5).map { _ in try Storage(count: each / 4, dtype: .float32, zeroed: false) }
        XCTAssertEqual(storages.count, 5)
        storages.removeAll()
        XCTAssertLessThanOrEqual(BufferCache.bytes, BufferCache.capacity)
        XCTAssertEqual(BufferCache.bytes, 2 * (each / 4) * 4, "the two newest fit; older ones were freed")
    }

    func testNothingKeptUnderAMemoryLimit() throws {
        let saved = Limits.maxTensorBytes
        Limits.maxTensorBytes = 1 << 30
        defer { Limits.maxTensorBytes = saved }
        var s: Storage? = try Storage(count: BufferCache.minBytes, dtype: .float32)
        XCTAssertNotNil(s)
        s = nil
        XCTAssertEqual(BufferCache.bytes, 0)
    }
}
