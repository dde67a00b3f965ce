import CLua
import FPModels
import FPTensor

/// Fields of fp.Model: `cfg`, the weights in TransformerLens names and shapes (live views:
/// writing into them edits the model), and `blocks[L]` (0-based).
enum LuaModelFields {
    static let field: LuaFunction = { l in
        let b = try LuaModel.box(l)
        guard l.type(2) == LUA_TSTRING else {
            throw LuaError("model: fields are named (model.cfg, model.W_E, model.blocks[0]...), got a \(l.typeName(2)) key")
        }
        let w = b.model.weights, cfg = b.model.cfg
        switch try l.string(2) {
        case "cfg": pushConfig(l, b.model)
        case "W_E": l.push(w.wE)
        case "W_pos": if let p = w.wPos { l.push(p) } else { l.pushNil() }
        case "W_U": l.push(w.wU)
        case "b_U": l.push(try w.bU ?? Tensor(zeros: [cfg.dVocab]))
        case "ln_final": try pushNorm(l, w.lnFinalW, w.lnFinalB)
        case "blocks": try pushBlocks(l, b)
        case "OV": try LuaFactoredMatrix.pushHeads(l, b.model, .ov)
        case "QK": try LuaFactoredMatrix.pushHeads(l, b.model, .qk)
        case "tokenizer_name": l.pushNil()
        default: l.pushNil()
        }
        return 1
    }

    static func set(_ l: Lua, _ key: String, _ push: () throws -> Void) rethrows {
        try push()
        lua_setfield(l.L, -2, key)
    }

    static func pushConfig(_ l: Lua, _ m: Transformer) {
        let c = m.cfg
        lua_createtable(l.L, 0, 20)
        let ints: [(String, Int)] = [("n_layers", c.nLayers), ("d_model", c.dModel), ("n_heads", c.nHeads),
                                     ("n_key_value_heads", c.nKVHeads), ("d_head", c.dHead), ("d_mlp", c.dMLP),
                                     ("d_vocab", c.dVocab), ("d_vocab_out", c.dVocab), ("n_ctx", c.nCtx),
                                     ("n_params", m.weights.parameterCount)]
        for (k, v) in ints { l.push(int: v); lua_setfield(l.L, -2, k) }
        let strs: [(String, String)] = [("model_name", c.modelName), ("family", c.architecture),
                                        ("act_fn", c.activation.rawValue),
                                        // TL: folded norms become LNPre / RMSPre (no weights)
                                        ("normalization_type", c.normalization.rawValue + (c.processing.contains("fold_ln") ? "Pre" : "")),
                                        ("positional_embedding_type", c.rotary ? "rotary" : "standard"), ("source", m.source)]
        for (k, v) in strs { l.pushString(v); lua_setfield(l.L, -2, k) }
        l.push(c.normEps); lua_setfield(l.L, -2, "eps")
        l.push(bool: c.defaultPrependBOS); lua_setfield(l.L, -2, "default_prepend_bos")
        l.push(bool: c.gatedMLP); lua_setfield(l.L, -2, "gated_mlp")
        l.push(bool: c.tiedEmbeddings); lua_setfield(l.L, -2, "tied_embeddings")
        if c.rotary { l.push(c.ropeTheta); lua_setfield(l.L, -2, "rotary_base") }
        l.push(strings: c.processing); lua_setfield(l.L, -2, "processing")
        // the block's features in TransformerLens's config names (soft-caps: -1 when off)
        let b = c.block
        l.push(bool: b.residual == .parallel); lua_setfield(l.L, -2, "parallel_attn_mlp")
        l.push(bool: b.preNorms && b.postNorms); lua_setfield(l.L, -2, "use_normalization_before_and_after")
        // where the block's norms sit: "pre", "pre_and_post" (sandwich) or "post" (OLMo 2)
        l.pushString(b.preNorms ? (b.postNorms ? "pre_and_post" : "pre") : "post")
        lua_setfield(l.L, -2, "normalization_position")
        l.push(bool: b.qkNorm != nil); lua_setfield(l.L, -2, "use_qk_norm")
        if c.rotary { l.push(int: c.rotaryDim); lua_setfield(l.L, -2, "rotary_dim") }
        l.push(b.attentionSoftcap ?? -1); lua_setfield(l.L, -2, "attn_scores_soft_cap")
        l.push(b.finalSoftcap ?? -1); lua_setfield(l.L, -2, "output_logits_soft_cap")
        l.push(b.attentionScale.map { 1 / ($0 * $0) }.map { $0.squareRoot() } ?? Double(c.dHead).squareRoot())
        lua_setfield(l.L, -2, "attn_scale")   // TL divides the scores by attn_scale
        l.push(bool: !b.slidingWindows.isEmpty); lua_setfield(l.L, -2, "use_local_attn")
        if let w = b.slidingWindows.values.max() { l.push(int: w); lua_setfield(l.L, -2, "window_size") }
    }

    static func pushNorm(_ l: Lua, _ w: Tensor, _ b: Tensor?) throws {
        lua_createtable(l.L, 0, 2)
        l.push(w); lua_setfield(l.L, -2, "w")
        l.push(try b ?? Tensor(zeros: [w.count])); lua_setfield(l.L, -2, "b")
    }

    /// model.blocks: built once per model (held in the userdata's user value), 0-based,
    /// `#model.blocks` is n_layers and a missing layer is an error.
    static func pushBlocks(_ l: Lua, _ box: ModelBox) throws {
        if lua_getiuservalue(l.L, 1, 1) == LUA_TTABLE { return }
        fp_pop(l.L, 1)
        let m = box.model, c = m.cfg
        let n = c.nLayers
        lua_createtable(l.L, 0, Int32(n))
        for layer in 0..<n {
            let w = m.weights.blocks[layer]
            lua_createtable(l.L, 0, 4)
            // attention weights [n_heads, d_model, d_head] as views of the fused q|k|v matrix
            let d = c.dModel, nH = c.nHeads, nKV = c.nKVHeads, dh = c.dHead
            func headsView(_ from: Int, _ heads: Int) throws -> Tensor {
                try w.wQKV.slice(1, from, from + heads * dh).view([d, heads, dh]).permute([1, 0, 2])
            }
            func biasView(_ from: Int, _ heads: Int) throws -> Tensor {
                if let bq = w.bQKV { return try bq.slice(0, from, from + heads * dh).view([heads, dh]) }
                return try Tensor(zeros: [heads, dh])
            }
            /// grouped-query K/V shown repeated to n_heads (a copy); the stored heads are _W_K/_W_V
            func repeated(_ t: Tensor) throws -> Tensor {
                if nKV == nH { return t }
                return try t.unsqueeze(1).expand([nKV, nH / nKV] + Array(t.shape.dropFirst())).reshape([nH] + Array(t.shape.dropFirst()))
            }
            lua_createtable(l.L, 0, 12)
            let wk = try headsView(nH * dh, nKV), wv = try headsView((nH + nKV) * dh, nKV)
            let bk = try biasView(nH * dh, nKV), bv = try biasView((nH + nKV) * dh, nKV)
            let attn: [(String, Tensor)] = [
                ("W_Q", try headsView(0, nH)), ("W_K", try repeated(wk)), ("W_V", try repeated(wv)),
                ("_W_K", wk), ("_W_V", wv), ("W_O", try w.wO.view([nH, dh, d])),
                ("b_Q", try biasView(0, nH)), ("b_K", try repeated(bk)), ("b_V", try repeated(bv)),
                ("_b_K", bk), ("_b_V", bv), ("b_O", try w.bO ?? Tensor(zeros: [d])),
            ]
            for (k, t) in attn { l.push(t); lua_setfield(l.L, -2, k) }
            lua_setfield(l.L, -2, "attn")
            lua_createtable(l.L, 0, 5)
            l.push(w.wIn); lua_setfield(l.L, -2, "W_in")
            if let g = w.wGate { l.push(g); lua_setfield(l.L, -2, "W_gate") }
            l.push(w.wOut); lua_setfield(l.L, -2, "W_out")
            l.push(try w.bIn ?? Tensor(zeros: [c.dMLP])); lua_setfield(l.L, -2, "b_in")
            l.push(try w.bOut ?? Tensor(zeros: [d])); lua_setfield(l.L, -2, "b_out")
            lua_setfield(l.L, -2, "mlp")
            try pushNorm(l, w.ln1W, w.ln1B); lua_setfield(l.L, -2, "ln1")
            try pushNorm(l, w.ln2W, w.ln2B); lua_setfield(l.L, -2, "ln2")
            lua_rawseti(l.L, -2, lua_Integer(layer))
        }
        // metatable: #blocks = n_layers; a missing layer is an error, not nil
        lua_createtable(l.L, 0, 2)
        LuaRegistry.push(l.L, id: blocksLenId(n))
        lua_setfield(l.L, -2, "__len")
        LuaRegistry.push(l.L, id: blocksIndexId)
        lua_setfield(l.L, -2, "__index")
        lua_setmetatable(l.L, -2)
        lua_pushvalue(l.L, -1)
        _ = lua_setiuservalue(l.L, 1, 1)
    }

    nonisolated(unsafe) static var lenIds: [Int: Int] = [:]
    static func blocksLenId(_ n: Int) -> Int {
        if let id = lenIds[n] { return id }
        let id = LuaRegistry.register("blocks", { l in l.push(int: n); return 1 })
        lenIds[n] = id
        return id
    }

    static let blocksIndexId = LuaRegistry.register("blocks", { l in
        let n = Int(lua_rawlen(l.L, 1)) + (lua_rawgeti(l.L, 1, 0) != LUA_TNIL ? 1 : 0)
        fp_pop(l.L, 1)
        if l.type(2) == LUA_TNUMBER {
            throw LuaError("model.blocks[\(try l.int(2))]: no such layer (layers are 0-based, 0 to \(n - 1))")
        }
        throw LuaError("model.blocks: index with a layer number (0-based), got \(l.typeName(2))")
    })
}
