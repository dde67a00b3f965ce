import FPTensor
import Foundation

/// Row-wise kernels of the forward pass on contiguous float buffers, shared by the executors.
enum RowKernels {
    /// The norm's statistics: (normalized, scale [..., 1]) — the autograd kernel, so that every
    /// executor computes the same bits (the fast path's inputs never require grad: no tape).
    static func normalize(_ x: Tensor, eps: Float, centered: Bool) throws -> (Tensor, Tensor) {
        try AG.normalize(x, eps: eps, centered: centered)
    }

    /// normalized = (x - mean) / scale (LayerNorm) or x / scale (RMSNorm) with a given scale.
    static func divideByScale(_ x: Tensor, _ scale: Tensor, centered: Bool, into out: Tensor) throws {
        let d = x.shape[x.rank - 1], rows = x.count / Swift.max(d, 1)
        let px = try x.floatPointer(), ps = try scale.floatPointer(), po = try out.floatPointer()
        for r in 0..<rows {
            let row = px + r * d, o = po + r * d
            var mean: Double = 0
            if centered { for i in 0..<d { mean += Double(row[i]) }; mean /= Double(d) }
            let m = Float(mean), s = ps[r]
            for i in 0..<d { o[i] = (row[i] - m) / s }
        }
    }

    /// out = x * w (+ b) for each row (the norms' learned affine part).
    static func affine(_ x: Tensor, _ w: Tensor, _ b: Tensor?, into out: Tensor) throws {
        let d = x.shape[x.rank - 1], rows = x.count / Swift.max(d, 1)
        let px = try x.floatPointer(), pw = try w.floatPointer(), po = try out.floatPointer()
        let pb = try b?.floatPointer()
        for r in 0..<rows {
            let row = px + r * d, o = po + r * d
            if let pb { for i in 0..<d { o[i] = row[i] * pw[i] + pb[i] } } else { for i in 0..<d { o[i] = row[i] * pw[i] } }
        }
    }

    /// x[r, :] += b for each row, in place.
    static func addBias(_ x: Tensor, _ b: Tensor) throws {
        let d = b.count, rows = x.count / Swift.max(d, 1)
        let px = try x.floatPointer(), pb = try b.floatPointer()
        for r in 0..<rows { let row = px + r * d; for i in 0..<d { row[i] += pb[i] } }
    }

    /// RoPE of x [B, P, H, dh] at per-token positions [B * P] (the autograd kernel: taped when x
    /// is); tables [n_ctx, rotary_dim / 2] rotate the first rotary_dim dims of each head.
    static func rope(_ x: Tensor, positions: [Int32], cos: Tensor, sin: Tensor) throws -> Tensor {
        try AG.rope(x, positions: positions, cos: cos, sin: sin)
    }

    /// The attention score scale: the block's (Gemma: query_pre_attn_scalar^-0.5) or 1/sqrt(d_head).
    static func attentionScale(_ cfg: ModelConfig) -> Float {
        cfg.block.attentionScale.map { Float($0) } ?? 1 / Float(cfg.dHead).squareRoot()
    }

    /// Whether the query at sequence index i sees the key at index j: causal, and within the
    /// layer's sliding window if it has one (Hugging Face: kv_idx > q_idx - sliding_window).
    @inline(__always)
    static func visible(query i: Int, key j: Int, window: Int?) -> Bool {
        j <= i && (window.map { i - j < $0 } ?? true)
    }

    /// cap * tanh(x / cap), in Hugging Face's order of operations; taped when x is (the taped
    /// executor's soft-caps), a plain computation otherwise (fast and packed).
    static func softcap(_ x: Tensor, _ cap: Float) throws -> Tensor {
        let c = Tensor.scalar(cap)
        return try AG.binary(.mul, AG.unary(.tanh, AG.binary(.div, x, c)), c)
    }

    /// Scores of keys the query does not see (after it, outside its window, or masked by the key
    /// mask [B, past + P]) become -inf, as TransformerLens stores them in hook_attn_scores.
    /// scores: [B, H, P, past + P].
    static func maskScores(_ scores: Tensor, past: Int, mask: [UInt8]?, window: Int?) throws {
        let B = scores.shape[0], nH = scores.shape[1], P = scores.shape[2], T = scores.shape[3]
        let p = try scores.floatPointer()
        for b in 0..<B {
            for h in 0..<nH {
                for i in 0..<P {
                    let row = p + ((b * nH + h) * P + i) * T
                    for j in 0..<T where !visible(query: past + i, key: j, window: window) || (mask.map { $0[b * T + j] == 0 } ?? false) {
                        row[j] = -.infinity
                    }
                }
            }
        }
    }

    /// Softmax of each score row; a row with no visible key (a padding query) becomes zeros
    /// rather than NaN, so nothing undefined flows on.
    static func softmax(_ scores: Tensor, into pattern: Tensor) throws {
        let T = scores.shape[scores.rank - 1], rows = scores.count / Swift.max(T, 1)
        let src = try scores.contiguous().floatPointer(), dst = try pattern.floatPointer()
        for r in 0..<rows {
            let x = src + r * T, y = dst + r * T
            var anyVisible = false
            for j in 0..<T where x[j] != -.infinity { anyVisible = true; break }
            if anyVisible { softmaxRow(x, y, T, log: false) } else { y.update(repeating: 0, count: T) }
        }
    }
}
