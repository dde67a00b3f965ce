/// The update math of fp.optim's optimizers (torch semantics), in place on contiguous float
/// buffers with SIMD. The Lua side (stdlib/fp/optim.lua) keeps the state tensors and schedules.
public enum OptimizerSteps {
    static func buffers(_ ts: [Tensor], _ fn: String) throws -> [UnsafeMutablePointer<Float>] {
        let n = ts[0].count
        return try ts.map { t in
            guard t.dtype == .float32, t.isContiguous, t.count == n else {
                throw TensorError("\(fn): parameters, gradients and state must be contiguous float tensors of one size")
            }
            return try t.floatPointer()
        }
    }

    /// SGD: g += wd p; buf = momentum buf + g (buf = g on the first step); g = nesterov ? g + momentum buf : buf; p -= lr g.
    public static func sgd(_ p: Tensor, _ g: Tensor, _ buf: Tensor?, lr: Float, momentum: Float, weightDecay: Float,
                           nesterov: Bool, first: Bool) throws {
        let ptrs = try buffers([p, g] + (buf.map { [$0] } ?? []), "sgd")
        let pp = ptrs[0], pg = ptrs[1], n = p.count
        for i in 0..<n {
            var d = pg[i] + weightDecay * pp[i]
            if momentum != 0, ptrs.count > 2 {
                let b = first ? d : momentum * ptrs[2][i] + d
                ptrs[2][i] = b
                d = nesterov ? d + momentum * b : b
            }
            pp[i] -= lr * d
        }
    }

    /// Adam (decoupled = false: weight decay added to the gradient) or AdamW (decoupled: p *= 1 - lr wd),
    /// with bias correction at `step` (1-based).
    public static func adam(_ p: Tensor, _ g: Tensor, _ m: Tensor, _ v: Tensor, step: Int, lr: Float, beta1: Float,
                            beta2: Float, eps: Float, weightDecay: Float, decoupled: Bool) throws {
        let ptrs = try buffers([p, g, m, v], "adam")
        let pp = ptrs[0], pg = ptrs[1], pm = ptrs[2], pv = ptrs[3], n = p.count
        let bc1 = 1 - Float(Double(beta1).power(step)), bc2 = 1 - Float(Double(beta2).power(step))
        let stepSize = lr / bc1, bc2Sqrt = bc2.squareRoot()
        let decay: Float = decoupled ? 1 - lr * weightDecay : 1
        let l2: Float = decoupled ? 0 : weightDecay
        var i = 0
        typealias V = SIMD16<Float>
        let b1 = V(repeating: beta1), b2 = V(repeating: beta2), ob1 = V(repeating: 1 - beta1), ob2 = V(repeating: 1 - beta2)
        while i + 16 <= n {
            var pv16 = V(UnsafeBufferPointer(start: pp + i, count: 16))
            var gv = V(UnsafeBufferPointer(start: pg + i, count: 16))
            gv += l2 * pv16
            let mv = b1 * V(UnsafeBufferPointer(start: pm + i, count: 16)) + ob1 * gv
            let vv = b2 * V(UnsafeBufferPointer(start: pv + i, count: 16)) + ob2 * gv * gv
            pv16 = pv16 * decay - stepSize * mv / (vv.squareRoot() / bc2Sqrt + eps)
            for j in 0..<16 { pm[i + j] = mv[j]; pv[i + j] = vv[j]; pp[i + j] = pv16[j] }
            i += 16
        }
        while i < n {
            let gi = pg[i] + l2 * pp[i]
            pm[i] = beta1 * pm[i] + (1 - beta1) * gi
            pv[i] = beta2 * pv[i] + (1 - beta2) * gi * gi
            pp[i] = pp[i] * decay - stepSize * pm[i] / (pv[i].squareRoot() / bc2Sqrt + eps)
            i += 1
        }
    }
}

extension Double {
    func power(_ k: Int) -> Double { var r = 1.0; for _ in 0..<Swift.max(k, 0) { r *= self }; return r }
}
