import FPTensor
import Foundation

extension Transformer {
    /// Causal self-attention of layer l on normalized input x [B*P, d_model]; returns [B, P, d_model].
    /// Q, K and V come from one GEMM; scores and outputs are per-head GEMMs on strided views
    /// (no copies); grouped-query heads share their K/V head.
    func attention(_ l: Int, _ x: Tensor, B: Int, P: Int, mask: [UInt8]?, positions: [Int32],
                   cache: KVCache?, prefix: (cache: KVCache, length: Int)? = nil, hooks: HookDispatcher?) throws -> Tensor {
        let w = weights.blocks[l], n = hookNames[l]
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead, W = cfg.qkvWidth, N = B * P
        let qkv = try Tensor.empty([N, W])
        try gemm(x, w.wQKV, into: qkv)
        if let b = w.bQKV { try Kernels.addBias(qkv, b) }
        let qkv3 = try qkv.view([B, P, W])
        let q = try qkv3.slice(2, 0, nH * dh).view([B, P, nH, dh])
        let k = try qkv3.slice(2, nH * dh, (nH + nKV) * dh).view([B, P, nKV, dh])
        let v = try qkv3.slice(2, (nH + nKV) * dh, W).view([B, P, nKV, dh])
        try hooks?.run(n.q, layer: l, q)
        try hooks?.run(n.k, layer: l, k)
        try hooks?.run(n.v, layer: l, v)
        if let c = ropeCos, let s = ropeSin {
            try Kernels.rope(q, positions: positions, cos: c, sin: s)
            try Kernels.rope(k, positions: positions, cos: c, sin: s)
            try hooks?.run(n.rotQ, layer: l, q)
            try hooks?.run(n.rotK, layer: l, k)
        }
        // Keys and values of every position attended to: the cache (past + new) or this run's.
        let past = cache?.length ?? prefix?.length ?? 0, T = past + P
        var keys = k, vals = v
        if let (pc, p0) = prefix, p0 > 0 {
            let shape = [B, p0, nKV, dh]
            keys = try Tensor.cat([try pc.keys[l].slice(1, 0, p0).expand(shape), k], dim: 1)
            vals = try Tensor.cat([try pc.values[l].slice(1, 0, p0).expand(shape), v], dim: 1)
        } else if let cache {
            guard T <= cache.capacity else { throw TensorError("forward: KV cache full (\(cache.capacity) positions)") }
            try cache.keys[l].slice(1, past, T).copyFrom(k)
            try cache.values[l].slice(1, past, T).copyFrom(v)
            keys = try cache.keys[l].slice(1, 0, T)
            vals = try cache.values[l].slice(1, 0, T)
        }
        let scores = try Tensor.empty([B, nH, P, T])
        let alpha = 1 / Float(dh).squareRoot()
        let group = nH / nKV
        for b in 0..<B {
            let qb = try q.select(0, b), kb = try keys.select(0, b)
            for h in 0..<nH {
                try gemm(try qb.select(1, h), try kb.select(1, h / group).T(), into: try scores.select(0, b).select(0, h), alpha: alpha)
            }
        }
        try applyCausalMask(scores, B: B, P: P, T: T, past: past, mask: mask)
        try hooks?.run(n.scores, layer: l, scores)
        let pattern = try Tensor.empty([B, nH, P, T])
        try maskedSoftmax(scores, into: pattern)
        try hooks?.run(n.pattern, layer: l, pattern)
        let z = try Tensor.empty([B, P, nH, dh])
        for b in 0..<B {
            let vb = try vals.select(0, b), zb = try z.select(0, b), pb = try pattern.select(0, b)
            for h in 0..<nH {
                try gemm(try pb.select(0, h), try vb.select(1, h / group), into: try zb.select(1, h))
            }
        }
        try hooks?.run(n.z, layer: l, z)
        let d = cfg.dModel
        let zFlat = try z.view([N, nH * dh])
        if let hooks, hooks.wants(n.result) {
            // Per-head outputs [B, P, n_heads, d_model]; their sum (+ b_O) is the attention output.
            let result = try Tensor.empty([B, P, nH, d])
            let r3 = try result.view([N, nH, d]), z3 = try z.view([N, nH, dh]), wO3 = try w.wO.view([nH, dh, d])
            for h in 0..<nH { try gemm(try z3.select(1, h), try wO3.select(0, h), into: try r3.select(1, h)) }
            try hooks.run(n.result, layer: l, result)
            let out = try result.reduce(.sum, dims: [2])
            if let b = w.bO { try Kernels.addBias(out, b) }
            return out
        }
        let out = try Tensor.empty([N, d])
        try gemm(zFlat, w.wO, into: out)
        if let b = w.bO { try Kernels.addBias(out, b) }
        return try out.view([B, P, d])
    }

    /// Scores of keys after the query (or masked by the attention mask) become -inf, as
    /// TransformerLens stores them in hook_attn_scores.
    func applyCausalMask(_ scores: Tensor, B: Int, P: Int, T: Int, past: Int, mask: [UInt8]?) throws {
        let nH = cfg.nHeads
        let p = try scores.floatPointer()
        for b in 0..<B {
            for h in 0..<nH {
                for i in 0..<P {
                    let row = p + ((b * nH + h) * P + i) * T
                    let last = past + i
                    for j in 0..<T where j > last || (mask.map { $0[b * T + j] == 0 } ?? false) {
                        row[j] = -.infinity
                    }
                }
            }
        }
    }

    /// Softmax of each score row; a row with no visible key (a padding query) becomes zeros
    /// rather than NaN, so nothing undefined flows on.
    func maskedSoftmax(_ scores: Tensor, into pattern: Tensor) throws {
        let T = scores.shape[3], rows = scores.count / Swift.max(T, 1)
        let src = try scores.contiguous().floatPointer(), dst = try pattern.floatPointer()
        for r in 0..<rows {
            let x = src + r * T, y = dst + r * T
            var anyVisible = false
            for j in 0..<T where x[j] != -.infinity { anyVisible = true; break }
            if anyVisible { softmaxRow(x, y, T, log: false) } else { y.update(repeating: 0, count: T) }
        }
    }
}
