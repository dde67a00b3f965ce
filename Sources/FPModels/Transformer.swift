import FPTensor
import Foundation

/// A decoder-only transformer (GPT-2 or Llama family) with a TransformerLens hook point on
/// every activation. Weights live in `weights` in the layouts the forward pass multiplies
/// with; `tokenizer` turns text into ids.
public final class Transformer {
    public let cfg: ModelConfig
    public let weights: TransformerWeights
    public let tokenizer: Tokenizer?
    /// Where the weights came from (a path), for messages and `fp info`.
    public let source: String
    let hookNames: [LayerHookNames]
    /// RoPE tables [n_ctx, d_head / 2] (Llama family).
    let ropeCos: Tensor?
    let ropeSin: Tensor?

    public init(cfg: ModelConfig, weights: TransformerWeights, tokenizer: Tokenizer?, source: String) throws {
        self.cfg = cfg
        self.weights = weights
        self.tokenizer = tokenizer
        self.source = source
        hookNames = (0..<cfg.nLayers).map(LayerHookNames.init)
        if cfg.rotary {
            (ropeCos, ropeSin) = try Rope.tables(cfg)
        } else {
            ropeCos = nil; ropeSin = nil
        }
    }

    /// Every hook point this model has, in forward order (hook_result included).
    public var hookPointNames: [String] {
        var out = ["hook_embed"]
        if !cfg.rotary { out.append("hook_pos_embed") }
        for n in hookNames {
            out += [n.residPre, n.ln1Scale, n.ln1Normalized, n.q, n.k, n.v]
            if cfg.rotary { out += [n.rotQ, n.rotK] }
            out += [n.scores, n.pattern, n.z, n.result, n.attnOut, n.residMid, n.ln2Scale, n.ln2Normalized, n.mlpPre]
            if cfg.gatedMLP { out.append(n.mlpPreLinear) }
            out += [n.mlpPost, n.mlpOut, n.residPost]
        }
        return out + ["ln_final.hook_scale", "ln_final.hook_normalized"]
    }

    public struct Options {
        public var attentionMask: Tensor? = nil
        /// Run blocks start..<stop; stop nil = all blocks then the unembedding.
        public var startAtLayer: Int = 0
        public var stopAtLayer: Int? = nil
        public var kvCache: KVCache? = nil
        /// Read-only past: the first `length` positions' keys and values of another run
        /// (batch 1, shared by every item); this run's tokens come after them. Used to re-run
        /// only the positions a patch can change (attention is causal).
        public var prefix: (cache: KVCache, length: Int)? = nil
        /// Only these positions are unembedded (e.g. [-1]); nil = all.
        public var logitPositions: [Int]? = nil
        public init() {}
    }

    /// Runs the model. `input` is token ids [batch, pos] (int64), or the residual stream
    /// [batch, pos, d_model] when starting at a later layer. Returns logits [batch, pos, d_vocab]
    /// (or only the requested positions), or the residual stream when stopping early.
    public func forward(_ input: Tensor, options: Options = Options(), hooks: HookDispatcher? = nil) throws -> Tensor {
        let d = cfg.dModel
        let start = options.startAtLayer < 0 ? options.startAtLayer + cfg.nLayers : options.startAtLayer
        let stop = options.stopAtLayer.map { $0 < 0 ? $0 + cfg.nLayers : $0 } ?? cfg.nLayers
        guard start >= 0 && start <= cfg.nLayers else {
            throw TensorError("forward: start_at_layer \(options.startAtLayer) is out of range for \(cfg.nLayers) layers")
        }
        guard stop >= start && stop <= cfg.nLayers else {
            throw TensorError("forward: stop_at_layer \(options.stopAtLayer ?? stop) is out of range (start \(start), \(cfg.nLayers) layers)")
        }
        var resid: Tensor
        let B: Int, P: Int
        // Token ids [batch, pos] start at the embedding; a float residual stream
        // [batch, pos, d_model] enters at start_at_layer (0 included: it skips the embedding).
        let fromResidual = input.dtype == .float32
        if !fromResidual {
            guard input.rank == 2, input.dtype == .int64 else {
                throw TensorError("forward: tokens must be an int tensor of shape [batch, pos], got \(input.dtype.rawValue) \(input.shape)")
            }
            guard start == 0 else {
                throw TensorError("forward: with start_at_layer \(start) the input must be the residual stream [batch, pos, \(d)], not token ids")
            }
            B = input.shape[0]; P = input.shape[1]
        } else {
            guard input.rank == 3, input.shape[2] == d else {
                throw TensorError("forward: token ids must be an int tensor [batch, pos]; a float input must be the residual stream [batch, pos, \(d)], got float32 \(input.shape)")
            }
            B = input.shape[0]; P = input.shape[1]
        }
        guard B > 0, P > 0 else { throw TensorError("forward: empty input of shape \(input.shape)") }
        if let p = options.prefix {
            guard options.kvCache == nil else { throw TensorError("forward: a prefix and a KV cache cannot be combined") }
            guard p.length >= 0, p.length <= p.cache.length, p.cache.batch == 1 || p.cache.batch == B else {
                throw TensorError("forward: the prefix holds \(p.cache.length) positions for batch \(p.cache.batch); asked for \(p.length) with batch \(B)")
            }
        }
        let past = options.kvCache?.length ?? options.prefix?.length ?? 0
        if let c = options.kvCache, c.batch != B {
            throw TensorError("forward: the KV cache holds batch \(c.batch), input has batch \(B)")
        }
        guard past + P <= cfg.nCtx else {
            throw TensorError("forward: \(past + P) positions exceed the model's context of \(cfg.nCtx)")
        }
        let mask = try attentionMask(options.attentionMask, B: B, P: P, past: past)
        let positions = Transformer.positions(mask: mask, B: B, P: P, past: past)

        if fromResidual {
            resid = try input.contiguous().clone()
        } else {
            resid = try embed(input, positions: positions, B: B, P: P, hooks: hooks)
        }
        for l in start..<stop {
            try Limits.checkCancel()
            resid = try block(l, resid, B: B, P: P, mask: mask, positions: positions, cache: options.kvCache,
                              prefix: options.prefix, hooks: hooks)
        }
        if let c = options.kvCache, stop == cfg.nLayers { c.length = past + P }
        // stop_at_layer (TransformerLens): the residual stream after blocks[..<stop], no unembedding
        if options.stopAtLayer != nil { return resid }
        return try unembed(resid, B: B, P: P, positions: options.logitPositions, hooks: hooks)
    }

    // MARK: pieces

    /// The key mask [B, past + P] (1 = attend), from the user's [B, P] mask (or [B, past + P]).
    func attentionMask(_ m: Tensor?, B: Int, P: Int, past: Int) throws -> [UInt8]? {
        guard let m else { return nil }
        let T = past + P
        guard m.rank == 2, m.shape[0] == B, m.shape[1] == P || m.shape[1] == T else {
            throw TensorError("forward: attention_mask must have shape [\(B), \(P)]\(past > 0 ? " or [\(B), \(T)]" : ""), got \(m.shape)")
        }
        let vals = try m.toDoubles()
        var out = [UInt8](repeating: 1, count: B * T)
        let w = m.shape[1]
        for b in 0..<B { for j in 0..<w { out[b * T + (T - w) + j] = vals[b * w + j] != 0 ? 1 : 0 } }
        return out
    }

    /// Absolute positions: a padded prompt's first real token is position 0 (Hugging Face's
    /// cumsum(mask) - 1), so left padding gives the same numbers as the prompt alone.
    static func positions(mask: [UInt8]?, B: Int, P: Int, past: Int) -> [Int32] {
        var out = [Int32](repeating: 0, count: B * P)
        let T = past + P
        for b in 0..<B {
            var count: Int32 = 0
            for j in 0..<T {
                let on = mask.map { $0[b * T + j] != 0 } ?? true
                if on { count += 1 }
                if j >= past { out[b * P + (j - past)] = on ? count - 1 : 0 }
            }
        }
        return out
    }

    func embed(_ tokens: Tensor, positions: [Int32], B: Int, P: Int, hooks: HookDispatcher?) throws -> Tensor {
        let d = cfg.dModel
        let ids = try tokens.contiguous().intPointer()
        let e = try Tensor.empty([B, P, d])
        let pe = try e.floatPointer(), pw = try weights.wE.contiguous().floatPointer()
        for i in 0..<(B * P) {
            let t = Int(ids[i])
            guard t >= 0 && t < cfg.dVocab else {
                throw TensorError("forward: token id \(t) is out of range for a vocabulary of \(cfg.dVocab)")
            }
            (pe + i * d).update(from: pw + t * d, count: d)
        }
        try hooks?.run("hook_embed", layer: nil, e)
        guard let wPos = weights.wPos else { return e }
        let pos = try Tensor.empty([B, P, d])
        let pp = try pos.floatPointer(), pwp = try wPos.contiguous().floatPointer()
        for i in 0..<(B * P) { (pp + i * d).update(from: pwp + Int(positions[i]) * d, count: d) }
        try hooks?.run("hook_pos_embed", layer: nil, pos)
        return try Tensor.binary(.add, e, pos)
    }

    /// Norm of the residual stream with its scale/normalized hook points, then the affine part.
    func norm(_ x: Tensor, w: Tensor, b: Tensor?, scaleHook: String, normalizedHook: String, layer: Int?,
              hooks: HookDispatcher?) throws -> Tensor {
        let shape = x.shape
        var scaleShape = shape; scaleShape[scaleShape.count - 1] = 1
        let scale = try Tensor.empty(scaleShape), normalized = try Tensor.empty(shape)
        let eps = Float(cfg.normEps)
        switch cfg.normalization {
        case .layerNorm: try Kernels.layerNorm(x, eps: eps, normalized: normalized, scale: scale)
        case .rmsNorm: try Kernels.rmsNorm(x, eps: eps, normalized: normalized, scale: scale)
        }
        if let hooks {
            if hooks.wants(scaleHook) {
                try hooks.run(scaleHook, layer: layer, scale)
                // TransformerLens divides by the scale after its hook, so an edited scale counts
                try Kernels.divideByScale(x, scale, centered: cfg.normalization == .layerNorm, into: normalized)
            }
            try hooks.run(normalizedHook, layer: layer, normalized)
        }
        let out = try Tensor.empty(shape)
        try Kernels.affine(normalized, w, b, into: out)
        return out
    }

    func block(_ l: Int, _ residPre: Tensor, B: Int, P: Int, mask: [UInt8]?, positions: [Int32],
               cache: KVCache?, prefix: (cache: KVCache, length: Int)?, hooks: HookDispatcher?) throws -> Tensor {
        let w = weights.blocks[l], n = hookNames[l]
        let d = cfg.dModel, N = B * P
        try hooks?.run(n.residPre, layer: l, residPre)
        let x1 = try norm(residPre, w: w.ln1W, b: w.ln1B, scaleHook: n.ln1Scale, normalizedHook: n.ln1Normalized, layer: l, hooks: hooks)
        let attnOut = try attention(l, x1.view([N, d]), B: B, P: P, mask: mask, positions: positions, cache: cache,
                                    prefix: prefix, hooks: hooks)
        try hooks?.run(n.attnOut, layer: l, attnOut)
        let residMid = try Tensor.binary(.add, residPre, attnOut)
        try hooks?.run(n.residMid, layer: l, residMid)
        let x2 = try norm(residMid, w: w.ln2W, b: w.ln2B, scaleHook: n.ln2Scale, normalizedHook: n.ln2Normalized, layer: l, hooks: hooks)
        let mlpOut = try mlp(l, x2.view([N, d]), B: B, P: P, hooks: hooks)
        try hooks?.run(n.mlpOut, layer: l, mlpOut)
        let residPost = try Tensor.binary(.add, residMid, mlpOut)
        try hooks?.run(n.residPost, layer: l, residPost)
        return residPost
    }

    func mlp(_ l: Int, _ x: Tensor, B: Int, P: Int, hooks: HookDispatcher?) throws -> Tensor {
        let w = weights.blocks[l], n = hookNames[l]
        let N = B * P, dm = cfg.dMLP
        let post: Tensor
        if let wGate = w.wGate {
            let pre = try Tensor.empty([N, dm]), lin = try Tensor.empty([N, dm])
            try gemm(x, wGate, into: pre)
            try gemm(x, w.wIn, into: lin)
            let pre3 = try pre.view([B, P, dm]), lin3 = try lin.view([B, P, dm])
            try hooks?.run(n.mlpPre, layer: l, pre3)
            try hooks?.run(n.mlpPreLinear, layer: l, lin3)
            post = try Tensor.binary(.mul, pre3.unary(.silu), lin3)
        } else {
            let pre = try Tensor.empty([N, dm])
            try gemm(x, w.wIn, into: pre)
            if let b = w.bIn { try Kernels.addBias(pre, b) }
            let pre3 = try pre.view([B, P, dm])
            try hooks?.run(n.mlpPre, layer: l, pre3)
            post = try pre3.unary(.gelu)
        }
        try hooks?.run(n.mlpPost, layer: l, post)
        let out = try Tensor.empty([N, cfg.dModel])
        try gemm(post.view([N, dm]), w.wOut, into: out)
        if let b = w.bOut { try Kernels.addBias(out, b) }
        return try out.view([B, P, cfg.dModel])
    }

    func unembed(_ resid: Tensor, B: Int, P: Int, positions: [Int]?, hooks: HookDispatcher?) throws -> Tensor {
        let x = try norm(resid, w: weights.lnFinalW, b: weights.lnFinalB, scaleHook: "ln_final.hook_scale",
                         normalizedHook: "ln_final.hook_normalized", layer: nil, hooks: hooks)
        var rows = x
        var np = P
        if let positions {
            let idx = try positions.map { p -> Int in
                let q = p < 0 ? p + P : p
                guard q >= 0 && q < P else { throw TensorError("forward: logit position \(p) is out of range for \(P) positions") }
                return q
            }
            rows = try x.indexSelect(1, try Tensor(ints: idx, shape: [idx.count]))
            np = idx.count
        }
        let V = cfg.dVocab
        let logits = try Tensor.empty([B * np, V])
        try gemm(rows.contiguous().view([B * np, cfg.dModel]), weights.wU, into: logits)
        if let b = weights.bU { try Kernels.addBias(logits, b) }
        return try logits.view([B, np, V])
    }
}
