import FPTensor

/// The operations the forward pass is written with. Each executor implements them on its own
/// values: FastExecutor on buffers (hooks see borrowed views), TapedExecutor on autograd ops,
/// PackedExecutor (the patch-sweep engine) on packed rows of many patched runs, and
/// HookPointWalker on shapes (to list the hook points). Weights are [in, out].
protocol BlockOps {
    associatedtype Value
    /// Hook point `name` on x; returns the activation the rest of the pass uses.
    func hook(_ name: String, _ layer: Int?, _ x: Value) throws -> Value
    /// Rows of `table` for the input tokens, and for their positions.
    func embed(_ table: Tensor) throws -> Value
    func positionEmbed(_ table: Tensor) throws -> Value
    /// A norm over the last dim with its scale / normalized hook points, then x * w + b.
    func norm(_ x: Value, _ kind: BlockShape.Normalization, _ w: Tensor, _ b: Tensor?, _ names: NormHookNames, _ layer: Int?) throws -> Value
    func linear(_ x: Value, _ w: Tensor, _ b: Tensor?) throws -> Value
    /// q [.., n_heads, d_head], k and v [.., n_kv_heads, d_head] from the fused projection.
    func splitHeads(_ qkv: Value) throws -> (q: Value, k: Value, v: Value)
    /// [.., heads, d_head] -> [.., heads * d_head] (heads nil), and back (heads given).
    func reshapeHeads(_ x: Value, heads: Int?) throws -> Value
    /// RoPE at each row's position with layer `layer`'s tables (RowKernels.rope).
    func rotary(_ x: Value, _ layer: Int) throws -> Value
    /// Causal attention (grouped-query heads share their K/V head) with the block's scale,
    /// soft-cap and the layer's sliding window (RowKernels.attentionScale, softcap, visible),
    /// running the scores and pattern hook points; returns z [.., n_heads, d_head].
    func attention(_ layer: Int, q: Value, k: Value, v: Value, _ names: LayerHookNames) throws -> Value
    /// z @ W_O + b_O, through the per-head outputs when `resultHook` is wanted.
    func projectHeads(_ z: Value, _ wO: Tensor, _ bO: Tensor?, resultHook: String, _ layer: Int) throws -> Value
    func activation(_ kind: BlockShape.Activation, _ x: Value) throws -> Value
    /// A gated MLP's activation(gate) * up (default: the two operations).
    func gated(_ kind: BlockShape.Activation, _ gate: Value, _ up: Value) throws -> Value
    /// x * s (the embedding scale).
    func scale(_ x: Value, _ s: Float) throws -> Value
    /// cap * tanh(x / cap) (RowKernels.softcap; the final logits).
    func softcap(_ x: Value, _ cap: Float) throws -> Value
    func mul(_ a: Value, _ b: Value) throws -> Value
    func add(_ a: Value, _ b: Value) throws -> Value
    /// Only these positions (non-negative) of each item go on to the unembedding.
    func selectPositions(_ x: Value, _ positions: [Int]) throws -> Value
    /// Whether this run asks for hook point `name`; the on-demand points (AttentionInputs.swift)
    /// are computed only then.
    func wants(_ name: String) -> Bool
    /// x [.., d] copied over a new heads dim: [.., heads, d] (each head's copy can be edited).
    func repeatHeads(_ x: Value, _ heads: Int) throws -> Value
    /// Per-head inputs x [.., heads, d_in] times their head's columns of w (and b), head h's
    /// being column + h * d_head ..< column + (h + 1) * d_head: [.., heads, d_head].
    func headLinear(_ x: Value, _ w: Tensor, _ b: Tensor?, column: Int) throws -> Value
    /// A copy of x that hooks can edit without changing x.
    func copy(_ x: Value) throws -> Value
}

extension BlockOps {
    func gated(_ kind: BlockShape.Activation, _ gate: Value, _ up: Value) throws -> Value {
        try mul(activation(kind, gate), up)
    }
}

/// The forward pass, written once: embedding, blocks, final norm and unembedding, with every
/// hook point. Which variant of the block runs is read from `cfg.block` (BlockShape); shapes
/// that no executor implements are refused at load (BlockShape.unimplemented).
extension Transformer {
    func embedding<E: BlockOps>(_ e: E) throws -> E.Value {
        var x = try e.embed(weights.wE)
        if let s = cfg.block.embeddingScale { x = try e.scale(x, Float(s)) }
        x = try e.hook("hook_embed", nil, x)
        guard cfg.block.positions == .learned else { return x }
        guard let wPos = weights.wPos else { throw TensorError("forward: learned positions without W_pos") }
        return try e.add(x, e.hook("hook_pos_embed", nil, e.positionEmbed(wPos)))
    }

    /// One block. Pre norms (ln1, ln2) on the attention and MLP inputs; post norms on their
    /// outputs (sandwich: ln1_post, ln2_post; OLMo 2 has only post norms and names them ln1,
    /// ln2), so that hook_attn_out / hook_mlp_out are exactly what is added to the residual.
    func block<E: BlockOps>(_ e: E, _ l: Int, _ residPre: E.Value) throws -> E.Value {
        let w = weights.blocks[l], n = hookNames[l], shape = cfg.block
        let pre = try e.hook(n.residPre, l, residPre)
        func input(_ x: E.Value, _ nw: Tensor, _ nb: Tensor?, _ names: NormHookNames) throws -> E.Value {
            shape.preNorms ? try e.norm(x, cfg.normalization, nw, nb, names, l) : x
        }
        func output(_ x: E.Value, _ pre: (Tensor, Tensor?, NormHookNames), _ post: (Tensor?, NormHookNames)) throws -> E.Value {
            guard shape.postNorms else { return x }
            if !shape.preNorms { return try e.norm(x, cfg.normalization, pre.0, pre.1, pre.2, l) }
            guard let pw = post.0 else { throw TensorError("forward: sandwich norms without their weights in layer \(l)") }
            return try e.norm(x, cfg.normalization, pw, nil, post.1, l)
        }
        let qkv = try projections(e, l, pre) { try input($0, w.ln1W, w.ln1B, n.ln1) }
        let attnOut = try e.hook(n.attnOut, l, output(attention(e, l, qkv),
                                                      (w.ln1W, w.ln1B, n.ln1), (w.ln1PostW, n.ln1Post)))
        let mid: E.Value
        switch shape.residual {
        case .sequential: mid = try e.hook(n.residMid, l, e.add(pre, attnOut))
        case .parallel: mid = pre   // the MLP reads resid_pre; no resid_mid
        }
        let mlpOut = try e.hook(n.mlpOut, l, output(mlp(e, l, input(mlpInput(e, l, mid), w.ln2W, w.ln2B, n.ln2)),
                                                    (w.ln2W, w.ln2B, n.ln2), (w.ln2PostW, n.ln2Post)))
        switch shape.residual {
        case .sequential: return try e.hook(n.residPost, l, e.add(mid, mlpOut))
        case .parallel: return try e.hook(n.residPost, l, e.add(e.add(pre, attnOut), mlpOut))
        }
    }

    /// Attention from the projections q, k, v (AttentionInputs.swift) on.
    func attention<E: BlockOps>(_ e: E, _ l: Int, _ qkv: (q: E.Value, k: E.Value, v: E.Value)) throws -> E.Value {
        let w = weights.blocks[l], n = hookNames[l]
        let (q0, k0, v0) = qkv
        var q = try e.hook(n.q, l, q0), k = try e.hook(n.k, l, k0)
        let v = try e.hook(n.v, l, v0)
        if let kind = cfg.block.qkNorm {
            guard let qw = w.qNormW, let kw = w.kNormW else { throw TensorError("forward: q/k norms without their weights in layer \(l)") }
            switch kind {
            case .perHead:
                q = try e.norm(q, .rmsNorm, qw, nil, n.qNorm, l)
                k = try e.norm(k, .rmsNorm, kw, nil, n.kNorm, l)
            case .fullWidth:
                q = try e.reshapeHeads(e.norm(e.reshapeHeads(q, heads: nil), .rmsNorm, qw, nil, n.qNorm, l), heads: cfg.nHeads)
                k = try e.reshapeHeads(e.norm(e.reshapeHeads(k, heads: nil), .rmsNorm, kw, nil, n.kNorm, l), heads: cfg.nKVHeads)
            }
        }
        if cfg.rotary {
            q = try e.hook(n.rotQ, l, e.rotary(q, l))
            k = try e.hook(n.rotK, l, e.rotary(k, l))
        }
        let z = try e.hook(n.z, l, e.attention(l, q: q, k: k, v: v, n))
        return try e.projectHeads(z, w.wO, w.bO, resultHook: n.result, l)
    }

    func mlp<E: BlockOps>(_ e: E, _ l: Int, _ x: E.Value) throws -> E.Value {
        let w = weights.blocks[l], n = hookNames[l]
        let post: E.Value
        if cfg.gatedMLP {
            guard let wGate = w.wGate else { throw TensorError("forward: a gated MLP without W_gate in layer \(l)") }
            let pre = try e.hook(n.mlpPre, l, e.linear(x, wGate, nil))
            let lin = try e.hook(n.mlpPreLinear, l, e.linear(x, w.wIn, w.bIn))
            post = try e.gated(cfg.activation, pre, lin)
        } else {
            post = try e.activation(cfg.activation, e.hook(n.mlpPre, l, e.linear(x, w.wIn, w.bIn)))
        }
        return try e.linear(e.hook(n.mlpPost, l, post), w.wOut, w.bOut)
    }

    func unembedding<E: BlockOps>(_ e: E, _ resid: E.Value, positions: [Int]?) throws -> E.Value {
        var x = try e.norm(resid, cfg.normalization, weights.lnFinalW, weights.lnFinalB, HookNames.lnFinal, nil)
        if let positions { x = try e.selectPositions(x, positions) }
        x = try e.hook(HookNames.unembedIn, nil, x)
        // TransformerLens's unembed.hook_out is before the final soft-cap
        let logits = try e.hook(HookNames.unembedOut, nil, e.linear(x, weights.wU, weights.bU))
        return try cfg.block.finalSoftcap.map { try e.softcap(logits, Float($0)) } ?? logits
    }

    /// The pass over a plan: from the embedding (or a residual stream) through the planned
    /// blocks to the logits (or the residual stream when stopping early).
    func run<E: BlockOps>(_ e: E, _ plan: ForwardPlan, from input: E.Value? = nil) throws -> E.Value {
        var resid = try input ?? embedding(e)
        for l in plan.start..<plan.stop {
            try Limits.checkCancel()
            resid = try block(e, l, resid)
        }
        if plan.stopsEarly { return resid }
        return try unembedding(e, resid, positions: plan.logitPositions)
    }
}

/// Hook point names of a norm.
struct NormHookNames {
    let scale, normalized: String
    init(_ prefix: String) { scale = prefix + "hook_scale"; normalized = prefix + "hook_normalized" }
}

/// The hook point names of one layer (TransformerLens's), built once per model.
struct LayerHookNames {
    let residPre, q, k, v, rotQ, rotK, scores, pattern, z, result: String
    let attnOut, residMid, mlpPre, mlpPreLinear, mlpPost, mlpOut, residPost: String
    /// On demand (AttentionInputs.swift): TransformerLens's use_attn_in, use_split_qkv_input, use_hook_mlp_in.
    let attnIn, qInput, kInput, vInput, mlpIn: String
    let ln1, ln2, ln1Post, ln2Post, qNorm, kNorm: NormHookNames

    init(_ l: Int) {
        let b = "blocks.\(l)."
        residPre = b + "hook_resid_pre"; ln1 = NormHookNames(b + "ln1.")
        q = b + "attn.hook_q"; k = b + "attn.hook_k"; v = b + "attn.hook_v"
        rotQ = b + "attn.hook_rot_q"; rotK = b + "attn.hook_rot_k"
        scores = b + "attn.hook_attn_scores"; pattern = b + "attn.hook_pattern"; z = b + "attn.hook_z"
        result = b + "attn.hook_result"; attnOut = b + "hook_attn_out"; residMid = b + "hook_resid_mid"
        ln2 = NormHookNames(b + "ln2.")
        ln1Post = NormHookNames(b + "ln1_post."); ln2Post = NormHookNames(b + "ln2_post.")
        qNorm = NormHookNames(b + "attn.q_norm."); kNorm = NormHookNames(b + "attn.k_norm.")
        mlpPre = b + "mlp.hook_pre"; mlpPreLinear = b + "mlp.hook_pre_linear"; mlpPost = b + "mlp.hook_post"
        mlpOut = b + "hook_mlp_out"; residPost = b + "hook_resid_post"
        attnIn = b + "hook_attn_in"; qInput = b + "hook_q_input"; kInput = b + "hook_k_input"; vInput = b + "hook_v_input"
        mlpIn = b + "hook_mlp_in"
    }
}

enum HookNames {
    static let lnFinal = NormHookNames("ln_final.")
    static let unembedIn = "unembed.hook_in", unembedOut = "unembed.hook_out"
}
