import XCTest
@testable import FPTensor

/// The autograd engine from Swift: hand-computed gradients of small graphs, accumulation,
/// no-grad mode, the live grad-tensor count the model uses to skip taping, and saved tensors
/// surviving in-place writes.
final class AutogradTests: XCTestCase {
    private func leaf(_ v: [Float], _ shape: [Int]) throws -> Tensor {
        let t = try Tensor(v, shape: shape)
        t.requiresGrad = true
        return t
    }

    func testChainAndBroadcast() throws {
        // L = sum((x * w + b)^2), x [2, 2], w [2], b scalar: dL/dw_j = sum_i 2 y_ij x_ij, dL/db = sum 2 y
        let x = try Tensor([1, 2, 3, 4], shape: [2, 2])
        let w = try leaf([0.5, -1], [2]), b = try leaf([2], [])
        let y = try AG.binary(.add, AG.binary(.mul, x, w), b)
        let L = try AG.reduce(.sum, AG.unary(.square, y), dims: nil, keepdim: false)
        try Autograd.backward(L)
        let yv = try y.toFloats()   // [2.5, 0, 3.5, -2]
        XCTAssertEqual(yv, [2.5, 0, 3.5, -2])
        let gw0: Float = 2 * (2.5 * 1 + 3.5 * 3), gw1: Float = 2 * (0 * 2 - 2 * 4), gb: Float = 2 * 4
        XCTAssertEqual(try w.grad!.toFloats(), [gw0, gw1])
        XCTAssertEqual(try b.grad!.toFloats(), [gb])
        // a second backward accumulates
        try Autograd.backward(L)
        XCTAssertEqual(try b.grad!.toFloats(), [2 * gb])
    }

    func testMatmulGradient() throws {
        // L = sum(A B): dL/dA = 1 B^T (row sums of B), dL/dB = A^T 1 (column sums of A)
        let A = try leaf([1, 2, 3, 4, 5, 6], [2, 3]), B = try leaf([1, 0, -1, 2, 0.5, 3], [3, 2])
        try Autograd.backward(AG.reduce(.sum, AG.matmul(A, B), dims: nil, keepdim: false))
        XCTAssertEqual(try A.grad!.toFloats(), [1, 1, 3.5, 1, 1, 3.5])
        XCTAssertEqual(try B.grad!.toFloats(), [5, 5, 7, 7, 9, 9])
    }

    func testNoGradAndLiveCount() throws {
        let before = Autograd.liveGradTensors
        do {
            let p = try leaf([1, 2], [2])
            XCTAssertEqual(Autograd.liveGradTensors, before + 1)
            let r = try Autograd.withMode(false) { try AG.binary(.mul, p, p) }
            XCTAssertFalse(r.requiresGrad)
            XCTAssertNil(r.gradNode)
        }
        XCTAssertEqual(Autograd.liveGradTensors, before, "a released tensor that required grad is no longer counted")
        assertThrows(try Autograd.backward(try Tensor([1], shape: [])), contains: "does not require grad")
    }

    func testSavedTensorSurvivesInPlaceWrite() throws {
        // y = x * x with x a view of buf; overwriting buf afterwards must not change dy/dx = 2x
        let buf = try Tensor([3, 4], shape: [2])
        let w = try leaf([1, 1], [2])
        let x = try AG.binary(.mul, buf, w)        // taped, fresh
        let y = try AG.binary(.mul, x, x)
        try AG.indexAssign(x, [.all], Tensor.scalar(100))
        try Autograd.backward(AG.reduce(.sum, y, dims: nil, keepdim: false))
        // dL/dw = 2 x * buf = 2 * (3*1) * 3, 2 * 4 * 4 (x's old values)
        XCTAssertEqual(try w.grad!.toFloats(), [18, 32])
    }
}
