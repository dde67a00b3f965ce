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
    /// The model's norm over the last dim with its scale / normalized hook points, then x * w + b.
    func norm(_ x: Value, _ w: Tensor, _ b: Tensor?, _ names: NormHookNames, _ layer: Int?) throws -> Value
    func linear(_ x: Value, _ w: Tensor, _ b: Tensor?) throws -> Value
    /// q [.., n_heads, d_head], k and v [.., n_kv_heads, d_head] from the fused projection.
    func splitHeads(_ qkv: Value) throws -> (q: Value, k: Value, v: Value)
    /// RoPE at each row's position.
    func rotary(_ x: Value) throws -> Value
    /// Causal attention (grouped-query heads share their K/V head), running the scores and
    /// pattern hook points; returns z [.., n_heads, d_head].
    func attention(_ layer: Int, q: Value, k: Value, v: Value, _ names: LayerHookNames) throws -> Value
    /// z @ W_O + b_O, through the per-head outputs when `resultHook` is wanted.
    func projectHeads(_ z: Value, _ wO: Tensor, _ bO: Tensor?, resultHook: String, _ layer: Int) throws -> Value
    func activation(_ kind: BlockShape.Activation, _ x: Value) throws -> Value
    func mul(_ a: Value, _ b: Value) throws -> Value
    func add(_ a: Value, _ b: Value) throws -> Value
    /// Only these positions (non-negative) of each item go on to the unembedding.
    func selectPositions(_ x: Value, _ positions: [Int]) throws -> Value
}

/// The forward pass, written once: embedding, blocks, final norm and unembedding, with every
/// hook point. Which variant of the block runs is read from `cfg.block` (BlockShape); shapes
/// that no executor implements are refused at load (BlockShape.unimplemented).
extension Transformer {
    func embedding<E: BlockOps>(_ e: E) throws -> E.Value {
        let x = try e.hook("hook_embed", nil, e.embed(weights.wE))
        guard cfg.block.positions == .learned else { return x }
        guard let wPos = weights.wPos else { throw TensorError("forward: learned positions without W_pos") }
        return try e.add(x, e.hook("hook_pos_embed", nil, e.positionEmbed(wPos)))
    }

    func block<E: BlockOps>(_ e: E, _ l: Int, _ residPre: E.Value) throws -> E.Value {
        let w = weights.blocks[l], n = hookNames[l]
        let pre = try e.hook(n.residPre, l, residPre)
        let attnOut = try e.hook(n.attnOut, l, attention(e, l, e.norm(pre, w.ln1W, w.ln1B, n.ln1, l)))
        let mid = try e.hook(n.residMid, l, e.add(pre, attnOut))
        let mlpOut = try e.hook(n.mlpOut, l, mlp(e, l, e.norm(mid, w.ln2W, w.ln2B, n.ln2, l)))
        return try e.hook(n.residPost, l, e.add(mid, mlpOut))
    }

    func attention<E: BlockOps>(_ e: E, _ l: Int, _ x: E.Value) throws -> E.Value {
        let w = weights.blocks[l], n = hookNames[l]
        let (q0, k0, v0) = try e.splitHeads(e.linear(x, w.wQKV, w.bQKV))
        var q = try e.hook(n.q, l, q0), k = try e.hook(n.k, l, k0)
        let v = try e.hook(n.v, l, v0)
        if cfg.rotary {
            q = try e.hook(n.rotQ, l, e.rotary(q))
            k = try e.hook(n.rotK, l, e.rotary(k))
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
            post = try e.mul(e.activation(cfg.activation, pre), lin)
        } else {
            post = try e.activation(cfg.activation, e.hook(n.mlpPre, l, e.linear(x, w.wIn, w.bIn)))
        }
        return try e.linear(e.hook(n.mlpPost, l, post), w.wOut, w.bOut)
    }

    func unembedding<E: BlockOps>(_ e: E, _ resid: E.Value, positions: [Int]?) throws -> E.Value {
        var x = try e.norm(resid, weights.lnFinalW, weights.lnFinalB, HookNames.lnFinal, nil)
        if let positions { x = try e.selectPositions(x, positions) }
        return try e.linear(x, weights.wU, weights.bU)
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
    let ln1, ln2: NormHookNames

    init(_ l: Int) {
        let b = "blocks.\(l)."
        residPre = b + "hook_resid_pre"; ln1 = NormHookNames(b + "ln1.")
        q = b + "attn.hook_q"; k = b + "attn.hook_k"; v = b + "attn.hook_v"
        rotQ = b + "attn.hook_rot_q"; rotK = b + "attn.hook_rot_k"
        scores = b + "attn.hook_attn_scores"; pattern = b + "attn.hook_pattern"; z = b + "attn.hook_z"
        result = b + "attn.hook_result"; attnOut = b + "hook_attn_out"; residMid = b + "hook_resid_mid"
        ln2 = NormHookNames(b + "ln2.")
        mlpPre = b + "mlp.hook_pre"; mlpPreLinear = b + "mlp.hook_pre_linear"; mlpPost = b + "mlp.hook_post"
        mlpOut = b + "hook_mlp_out"; residPost = b + "hook_resid_post"
    }
}

enum HookNames {
    static let lnFinal = NormHookNames("ln_final.")
}
