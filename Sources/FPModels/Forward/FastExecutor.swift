import FPTensor
import Foundation

/// The block's operations on buffers: each activation is computed into a fresh buffer (GEMMs
/// write in place, RoPE rotates in place), hooks see borrowed views of it and a hook's
/// replacement is copied into it. Q, K and V are views of one GEMM's output; attention runs
/// per-head GEMMs on strided views; a KV cache or a read-only prefix supplies the past.
struct FastExecutor: BlockOps {
    let model: Transformer
    let plan: ForwardPlan
    let tokens: Tensor?
    let hooks: HookDispatcher?
    let cache: KVCache?
    let prefix: (cache: KVCache, length: Int)?
    var cfg: ModelConfig { model.cfg }

    func hook(_ name: String, _ layer: Int?, _ x: Tensor) throws -> Tensor {
        try hooks?.run(name, layer: layer, x)
        return x
    }

    func embed(_ table: Tensor) throws -> Tensor {
        guard let tokens else { throw TensorError("forward: internal error (no tokens to embed)") }
        let d = cfg.dModel, n = plan.B * plan.P
        let ids = try tokens.contiguous().intPointer()
        let e = try Tensor.empty([plan.B, plan.P, d])
        let pe = try e.floatPointer(), pw = try table.contiguous().readFloatPointer()
        for i in 0..<n {
            let t = Int(ids[i])
            guard t >= 0 && t < cfg.dVocab else {
                throw TensorError("forward: token id \(t) is out of range for a vocabulary of \(cfg.dVocab)")
            }
            (pe + i * d).update(from: pw + t * d, count: d)
        }
        return e
    }

    func positionEmbed(_ table: Tensor) throws -> Tensor {
        let d = cfg.dModel
        let pos = try Tensor.empty([plan.B, plan.P, d])
        let pp = try pos.floatPointer(), pw = try table.contiguous().floatPointer()
        for i in 0..<(plan.B * plan.P) { (pp + i * d).update(from: pw + Int(plan.positions[i]) * d, count: d) }
        return pos
    }

    func norm(_ x: Tensor, _ kind: BlockShape.Normalization, _ w: Tensor, _ b: Tensor?, _ names: NormHookNames, _ layer: Int?) throws -> Tensor {
        let centered = kind == .layerNorm
        if !(hooks.map { $0.wants(names.scale) || $0.wants(names.normalized) } ?? false) {
            return try AG.normAffine(x, eps: Float(cfg.normEps), centered: centered, w, b)
        }
        let (normalized, scale) = try RowKernels.normalize(x, eps: Float(cfg.normEps), centered: centered)
        if let hooks {
            if hooks.wants(names.scale) {
                try hooks.run(names.scale, layer: layer, scale)
                // TransformerLens divides by the scale after its hook, so an edited scale counts
                try RowKernels.divideByScale(x.contiguous(), scale, centered: centered, into: normalized)
            }
            try hooks.run(names.normalized, layer: layer, normalized)
        }
        let out = try Tensor.empty(x.shape)
        try RowKernels.affine(normalized, w, b, into: out)
        return out
    }

    func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor?) throws -> Tensor {
        let inDim = w.shape[0], outDim = w.shape[1], lead = Array(x.shape.dropLast())
        let rows = x.count / Swift.max(inDim, 1)
        let out = try Tensor.empty([rows, outDim])
        try gemm(x.contiguous().view([rows, inDim]), weight: w, into: out, precision: model.matmulPrecision,
                 copiesAllowed: model.copiesWeights)
        if let b { try RowKernels.addBias(out, b) }
        return try out.view(lead + [outDim])
    }

    func splitHeads(_ qkv: Tensor) throws -> (q: Tensor, k: Tensor, v: Tensor) {
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead, W = cfg.qkvWidth, B = plan.B, P = plan.P
        return (try qkv.slice(2, 0, nH * dh).view([B, P, nH, dh]),
                try qkv.slice(2, nH * dh, (nH + nKV) * dh).view([B, P, nKV, dh]),
                try qkv.slice(2, (nH + nKV) * dh, W).view([B, P, nKV, dh]))
    }

    func reshapeHeads(_ x: Tensor, heads: Int?) throws -> Tensor {
        let lead = Array(x.shape.dropLast(heads == nil ? 2 : 1)), d = x.shape.last ?? 0
        return try x.contiguous().view(heads.map { lead + [$0, d / Swift.max($0, 1)] } ?? lead + [d * x.shape[x.rank - 2]])
    }

    func rotary(_ x: Tensor, _ layer: Int) throws -> Tensor {
        guard let t = try model.ropeTables(layer, positions: plan.positions) else { return x }
        return try RowKernels.rope(x, positions: plan.positions, cos: t.cos, sin: t.sin)
    }

    func attention(_ l: Int, q: Tensor, k: Tensor, v: Tensor, _ n: LayerHookNames) throws -> Tensor {
        let nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead, B = plan.B, P = plan.P
        // Keys and values of every position attended to: the cache (past + new) or this run's.
        let past = plan.past, T = past + P
        var keys = k, vals = v
        if let (pc, p0) = prefix, p0 > 0 {
            let shape = [B, p0, nKV, dh]
            keys = try Tensor.cat([try pc.keys[l].slice(1, 0, p0).expand(shape), k], dim: 1)
            vals = try Tensor.cat([try pc.values[l].slice(1, 0, p0).expand(shape), v], dim: 1)
        } else if let cache {
            try cache.keys[l].slice(1, past, T).copyFrom(k)
            try cache.values[l].slice(1, past, T).copyFrom(v)
            keys = try cache.keys[l].slice(1, 0, T)
            vals = try cache.values[l].slice(1, 0, T)
        }
        if !(hooks.map { $0.wants(n.scores) || $0.wants(n.pattern) } ?? false) {
            return try AG.attention(q: q, k: keys, v: vals, plan.attentionMasking(cfg, layer: l))
        }
        var scores = try Tensor.empty([B, nH, P, T])
        let alpha = RowKernels.attentionScale(cfg)
        let group = nH / nKV
        for b in 0..<B {
            let qb = try q.select(0, b), kb = try keys.select(0, b)
            for h in 0..<nH {
                try gemm(try qb.select(1, h), try kb.select(1, h / group).T(), into: try scores.select(0, b).select(0, h), alpha: alpha)
            }
        }
        if let cap = cfg.block.attentionSoftcap { scores = try RowKernels.softcap(scores, Float(cap)) }
        try RowKernels.maskScores(scores, past: past, mask: plan.mask, window: cfg.block.slidingWindows[l])
        try hooks?.run(n.scores, layer: l, scores)
        let pattern = try Tensor.empty([B, nH, P, T])
        try RowKernels.softmax(scores, into: pattern)
        try hooks?.run(n.pattern, layer: l, pattern)
        let z = try Tensor.empty([B, P, nH, dh])
        for b in 0..<B {
            let vb = try vals.select(0, b), zb = try z.select(0, b), pb = try pattern.select(0, b)
            for h in 0..<nH {
                try gemm(try pb.select(0, h), try vb.select(1, h / group), into: try zb.select(1, h))
            }
        }
        return z
    }

    func projectHeads(_ z: Tensor, _ wO: Tensor, _ bO: Tensor?, resultHook: String, _ l: Int) throws -> Tensor {
        let nH = cfg.nHeads, dh = cfg.dHead, d = cfg.dModel, B = plan.B, P = plan.P, N = B * P
        guard let hooks, hooks.wants(resultHook) else { return try linear(z.view([B, P, nH * dh]), wO, bO) }
        // Per-head outputs [B, P, n_heads, d_model]; their sum (+ b_O) is the attention output.
        let result = try Tensor.empty([B, P, nH, d])
        let r3 = try result.view([N, nH, d]), z3 = try z.view([N, nH, dh]), wO3 = try wO.view([nH, dh, d])
        for h in 0..<nH { try gemm(try z3.select(1, h), try wO3.select(0, h), into: try r3.select(1, h)) }
        try hooks.run(resultHook, layer: l, result)
        let out = try result.reduce(.sum, dims: [2])
        if let bO { try RowKernels.addBias(out, bO) }
        return out
    }

    func activation(_ kind: BlockShape.Activation, _ x: Tensor) throws -> Tensor { try x.unary(kind.unaryOp) }

    /// One pass over both halves (the same bits as activation then mul).
    func gated(_ kind: BlockShape.Activation, _ gate: Tensor, _ up: Tensor) throws -> Tensor {
        guard gate.shape == up.shape else { return try mul(activation(kind, gate), up) }
        return try gate.gatedActivation(kind.unaryOp, up)
    }

    func scale(_ x: Tensor, _ s: Float) throws -> Tensor { try Tensor.binary(.mul, x, Tensor.scalar(s)) }
    func softcap(_ x: Tensor, _ cap: Float) throws -> Tensor { try RowKernels.softcap(x, cap) }
    func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try Tensor.binary(.mul, a, b) }
    func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try Tensor.binary(.add, a, b) }

    func selectPositions(_ x: Tensor, _ positions: [Int]) throws -> Tensor {
        try x.indexSelect(1, try Tensor(ints: positions, shape: [positions.count])).contiguous()
    }
}
