import XCTest
@testable import FPTensor

/// AG.rope (the CKernels rope kernel) against the rotation written out in double precision, on
/// every instruction-set variant: full and partial rotary, a strided input (a view of a fused
/// projection, read in place) giving the bits of its contiguous copy, the split over threads
/// giving the bits of one thread, and the backward rotating the gradient by the opposite angle.
final class RopeKernelTests: XCTestCase {
    private var threads = 1
    override func setUp() { threads = BLASThreads.configured }
    override func tearDown() { BLASThreads.configure(threads) }

    private func tables(_ n: Int, _ half: Int) throws -> (Tensor, Tensor, [[Double]], [[Double]]) {
        var c = [[Double]](), s = [[Double]]()
        for p in 0..<n {
            c.append((0..<half).map { Foundation.cos(Double(p) * pow(10000, -Double($0) / Double(half))) })
            s.append((0..<half).map { Foundation.sin(Double(p) * pow(10000, -Double($0) / Double(half))) })
        }
        return (try Tensor(c.flatMap { $0.map(Float.init) }, shape: [n, half]),
                try Tensor(s.flatMap { $0.map(Float.init) }, shape: [n, half]), c, s)
    }

    private func check(B: Int, P: Int, H: Int, dh: Int, half: Int) throws {
        let (cos, sin, c, s) = try tables(40, half)
        // q as a view of a wider projection [B, P, H * dh + 8]
        let wide = try Tensor.randn([B, P, H * dh + 8])
        let x = try wide.slice(2, 4, 4 + H * dh).view([B, P, H, dh])
        XCTAssertFalse(x.isContiguous)
        let positions = (0..<(B * P)).map { Int32(($0 * 7 + 3) % 40) }
        let xv = try x.contiguous().toFloats()
        try KernelISA.forEachSupported { isa in
            let y = try AG.rope(x, positions: positions, cos: cos, sin: sin).toFloats()
            let yc = try AG.rope(x.contiguous(), positions: positions, cos: cos, sin: sin).toFloats()
            XCTAssertEqual(y, yc, isa)
            for t in 0..<(B * P) {
                let pos = Int(positions[t])
                for h in 0..<H {
                    let o = (t * H + h) * dh
                    for i in 0..<dh {
                        let want: Double
                        if i < half { want = Double(xv[o + i]) * c[pos][i] - Double(xv[o + i + half]) * s[pos][i] }
                        else if i < 2 * half { want = Double(xv[o + i]) * c[pos][i - half] + Double(xv[o + i - half]) * s[pos][i - half] }
                        else { want = Double(xv[o + i]) }
                        XCTAssertEqual(Double(y[o + i]), want, accuracy: 1e-5 * Swift.max(1, abs(want)), "\(isa) token \(t) head \(h) dim \(i)")
                    }
                }
            }
        }
    }

    func testFullRotary() throws { try check(B: 2, P: 5, H: 3, dh: 64, half: 32) }
    func testPartialRotaryAndOddHalf() throws { try check(B: 1, P: 4, H: 2, dh: 24, half: 7) }

    func testThreadsGiveTheBitsOfOne() throws {
        let (cos, sin, _, _) = try tables(512, 32)
        let x = try Tensor.randn([2, 256, 4, 64])   // 128K elements: split
        let positions = (0..<512).map { Int32($0 % 256) }
        BLASThreads.configure(1)
        let one = try AG.rope(x, positions: positions, cos: cos, sin: sin).toFloats()
        BLASThreads.configure(2)
        let two = try AG.rope(x, positions: positions, cos: cos, sin: sin).toFloats()
        XCTAssertTrue(one.elementsEqual(two) { $0.bitPattern == $1.bitPattern })
    }

    func testBackwardRotatesBack() throws {
        let (cos, sin, _, _) = try tables(10, 8)
        let x = try Tensor.randn([1, 3, 2, 16]); x.requiresGrad = true
        let g = try Tensor.randn([1, 3, 2, 16])
        let positions: [Int32] = [0, 4, 9]
        let y = try AG.rope(x, positions: positions, cos: cos, sin: sin)
        try Autograd.backward(AG.reduce(.sum, AG.binary(.mul, y, g), dims: nil, keepdim: false))
        // rotation is orthogonal: the gradient is g rotated back, and rotating it forward gives g
        let gx = try XCTUnwrap(x.grad)
        let again = try Autograd.withMode(false) { try AG.rope(gx, positions: positions, cos: cos, sin: sin) }
        for (a, b) in zip(try again.toFloats(), try g.toFloats()) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testPositionsOutsideTheTableAreErrors() throws {
        let (cos, sin, _, _) = try tables(4, 2)
        let x = try Tensor.randn([1, 2, 1, 4])
        XCTAssertThrowsError(try AG.rope(x, positions: [0, 4], cos: cos, sin: sin))
        XCTAssertThrowsError(try AG.rope(x, positions: [-1, 0], cos: cos, sin: sin))
        XCTAssertThrowsError(try AG.rope(x, positions: [0], cos: cos, sin: sin))
    }
}
