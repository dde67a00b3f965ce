import FPTensor

/// TransformerLens's optional hook points on the inputs of attention and of the MLP, computed
/// only when a run asks for them by name (TL: use_attn_in, use_split_qkv_input, use_hook_mlp_in),
/// so a run without them costs nothing extra:
///
/// - `blocks.L.hook_attn_in` [batch, pos, n_heads, d_model]: resid_pre copied for each head;
///   head h's q, k and v are read from its copy (after ln1). Models with grouped-query attention
///   have no such point (TransformerLens refuses it there too).
/// - `blocks.L.hook_q_input` [batch, pos, n_heads, d_model], `hook_k_input` and `hook_v_input`
///   [batch, pos, n_kv_heads, d_model]: one copy each for queries, keys and values, so editing
///   hook_q_input changes only Q. With hook_attn_in as well they start from its (edited) value.
/// - `blocks.L.hook_mlp_in` [batch, pos, d_model]: a copy of what the MLP reads (resid_mid, or
///   resid_pre in a parallel block) before ln2; editing it changes the MLP, not the residual.
///
/// With per-head inputs, ln1 runs on each of them as in TransformerLens: its hooks then see
/// [batch, pos, heads, d_model] (with split inputs three times: for q, k, then v).
extension Transformer {
    /// Hook points computed only when a run asks for them by name: not in a cache without
    /// names_filter, nor matched by filter functions.
    public static func isOnDemandHookPoint(_ name: String) -> Bool {
        guard name.hasPrefix("blocks.") else { return false }
        return ["hook_attn_in", "hook_q_input", "hook_k_input", "hook_v_input", "hook_mlp_in"].contains { name.hasSuffix("." + $0) }
    }

    /// q, k and v of layer l before their hooks, from `norm` (ln1, or nothing for post-norm
    /// blocks) of the residual stream, or of per-head copies of it when the run asks for them.
    func projections<E: BlockOps>(_ e: E, _ l: Int, _ pre: E.Value, _ norm: (E.Value) throws -> E.Value) throws -> (q: E.Value, k: E.Value, v: E.Value) {
        let w = weights.blocks[l], n = hookNames[l]
        let H = cfg.nHeads, KV = cfg.nKVHeads, dh = cfg.dHead
        let attnIn = H == KV && e.wants(n.attnIn)
        let split = e.wants(n.qInput) || e.wants(n.kInput) || e.wants(n.vInput)
        guard attnIn || split else { return try e.splitHeads(e.linear(norm(pre), w.wQKV, w.bQKV)) }
        func project(_ q: E.Value, _ k: E.Value, _ v: E.Value) throws -> (q: E.Value, k: E.Value, v: E.Value) {
            (try e.headLinear(q, w.wQKV, w.bQKV, column: 0),
             try e.headLinear(k, w.wQKV, w.bQKV, column: H * dh),
             try e.headLinear(v, w.wQKV, w.bQKV, column: (H + KV) * dh))
        }
        let shared = attnIn ? try e.hook(n.attnIn, l, e.repeatHeads(pre, H)) : nil
        if !split, let shared {
            let x = try norm(shared)
            return try project(x, x, x)
        }
        func input(_ name: String, _ heads: Int) throws -> E.Value {
            try e.hook(name, l, shared.map { try e.copy($0) } ?? e.repeatHeads(pre, heads))
        }
        let q = try input(n.qInput, H), k = try input(n.kInput, KV), v = try input(n.vInput, KV)
        return try project(norm(q), norm(k), norm(v))
    }

    /// What the MLP of layer l reads (before ln2): x, or hook_mlp_in's copy of it.
    func mlpInput<E: BlockOps>(_ e: E, _ l: Int, _ x: E.Value) throws -> E.Value {
        let name = hookNames[l].mlpIn
        return e.wants(name) ? try e.hook(name, l, e.copy(x)) : x
    }
}

extension FastExecutor {
    func wants(_ name: String) -> Bool { hooks?.wants(name) ?? false }

    func repeatHeads(_ x: Tensor, _ heads: Int) throws -> Tensor {
        let s = x.shape, d = s.last ?? 0
        return try x.unsqueeze(s.count - 1).expand(Array(s.dropLast()) + [heads, d]).clone()
    }

    func headLinear(_ x: Tensor, _ w: Tensor, _ b: Tensor?, column: Int) throws -> Tensor {
        let heads = x.shape[x.rank - 2], dIn = w.shape[0], dh = cfg.dHead
        let rows = x.count / Swift.max(heads * dIn, 1)
        let x3 = try x.contiguous().view([rows, heads, dIn])
        let out = try Tensor.empty([rows, heads, dh])
        for h in 0..<heads {
            try gemm(x3.select(1, h), w.slice(1, column + h * dh, column + (h + 1) * dh), into: out.select(1, h))
        }
        if let b { try RowKernels.addBias(out, b.slice(0, column, column + heads * dh)) }
        return try out.view(Array(x.shape.dropLast()) + [dh])
    }

    func copy(_ x: Tensor) throws -> Tensor { try x.clone() }
}

extension TapedExecutor {
    func wants(_ name: String) -> Bool { (hooks?.wants(name) ?? false) || (backward?.wantsBackward(name) ?? false) }

    func repeatHeads(_ x: Tensor, _ heads: Int) throws -> Tensor {
        let s = x.shape, d = s.last ?? 0
        let u = try AG.reshaped(x, "view") { try $0.reshape(Array(s.dropLast()) + [1, d]) }
        return try AG.indexSelect(u, s.count - 1, Tensor(ints: [Int](repeating: 0, count: heads), shape: [heads]))
    }

    func headLinear(_ x: Tensor, _ w: Tensor, _ b: Tensor?, column: Int) throws -> Tensor {
        let heads = x.shape[x.rank - 2], dIn = w.shape[0], dh = cfg.dHead
        let ws = try AG.region(w, "slice") { try $0.slice(1, column, column + heads * dh) }
        let w3 = try AG.reshaped(ws, "reshape") { try $0.reshape([dIn, heads, dh]) }
        let y = try AG.einsum("bphd,dhe->bphe", [x, w3])
        guard let b else { return y }
        let bs = try AG.region(b, "slice") { try $0.slice(0, column, column + heads * dh) }
        return try AG.binary(.add, y, AG.reshaped(bs, "reshape") { try $0.reshape([heads, dh]) })
    }

    func copy(_ x: Tensor) throws -> Tensor { try AG.clone(x) }
}

extension HookPointWalker {
    /// Every point is listed, the on-demand ones included.
    func wants(_ name: String) -> Bool { true }
    func repeatHeads(_ x: [Int], _ heads: Int) throws -> [Int] { Array(x.dropLast()) + [heads, x.last ?? 0] }
    func headLinear(_ x: [Int], _ w: Tensor, _ b: Tensor?, column: Int) throws -> [Int] { Array(x.dropLast()) + [cfg.dHead] }
    func copy(_ x: [Int]) throws -> [Int] { x }
}

extension PackedExecutor {
    /// The sweep's cells join at resid_pre, resid_mid and z; nothing else is hooked.
    func wants(_ name: String) -> Bool { false }
    func repeatHeads(_ x: Rows, _ heads: Int) throws -> Rows { throw TensorError("patch sweep: internal error (per-head inputs)") }
    func headLinear(_ x: Rows, _ w: Tensor, _ b: Tensor?, column: Int) throws -> Rows { throw TensorError("patch sweep: internal error (per-head inputs)") }
    func copy(_ x: Rows) throws -> Rows { x }
}

extension ResidualDecomposition.Walker {
    /// The residual arithmetic is read from the plain block, without the on-demand copies.
    func wants(_ name: String) -> Bool { false }
    func repeatHeads(_ x: Value, _ heads: Int) throws -> Value { .opaque }
    func headLinear(_ x: Value, _ w: Tensor, _ b: Tensor?, column: Int) throws -> Value { .opaque }
    func copy(_ x: Value) throws -> Value { .opaque }
}
