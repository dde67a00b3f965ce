import FPTensor
import Foundation

/// TransformerLens's weight processing (`HookedTransformer.from_pretrained(..., fold_ln,
/// center_writing_weights, center_unembed, fold_value_biases, refactor_factored_attn_matrices)`).
/// Every flag defaults to false: fp's default model is the unprocessed one
/// (`from_pretrained_no_processing`); `ProcessingOptions.transformerLens` is TL's default set.
public struct ProcessingOptions: Equatable, Sendable {
    /// Fold each norm's weight (and LayerNorm's bias) into the linear layers that read its output;
    /// the norms are left with weight 1 and no bias. LayerNorm: the reading weights are then
    /// centered over d_model (TL's `center_weights`); RMSNorm: weights only, no centering.
    public var foldLN = false
    /// Subtract the mean over d_model from W_E, W_pos, W_O, b_O, W_out, b_out (LayerNorm only).
    public var centerWritingWeights = false
    /// Subtract the mean over the vocabulary from W_U (each d_model row) and b_U.
    public var centerUnembed = false
    /// b_O += sum over heads of b_V[h] @ W_O[h]; b_V = 0.
    public var foldValueBiases = false
    /// W_Q/W_K (with their biases) and W_V/W_O rewritten as even SVD factorizations (no RoPE).
    public var refactorFactoredAttnMatrices = false

    public init(foldLN: Bool = false, centerWritingWeights: Bool = false, centerUnembed: Bool = false,
                foldValueBiases: Bool = false, refactorFactoredAttnMatrices: Bool = false) {
        self.foldLN = foldLN
        self.centerWritingWeights = centerWritingWeights
        self.centerUnembed = centerUnembed
        self.foldValueBiases = foldValueBiases
        self.refactorFactoredAttnMatrices = refactorFactoredAttnMatrices
    }

    /// TransformerLens's `from_pretrained` defaults.
    public static let transformerLens = ProcessingOptions(foldLN: true, centerWritingWeights: true,
                                                          centerUnembed: true, foldValueBiases: true)

    public var isEmpty: Bool {
        !(foldLN || centerWritingWeights || centerUnembed || foldValueBiases || refactorFactoredAttnMatrices)
    }
}

public enum WeightProcessing {
    /// The model with processed weights (the same object when there is nothing to do). The
    /// weights are processed in place (`model.weights` is shared); the returned model carries
    /// the config with `processing` recorded.
    public static func apply(_ options: ProcessingOptions, to model: Transformer) throws -> Transformer {
        if options.isEmpty { return model }
        let cfg = try process(model.weights, cfg: model.cfg, options: options)
        return try Transformer(cfg: cfg, weights: model.weights, tokenizer: model.tokenizer, source: model.source)
    }

    /// Processes `weights` in TransformerLens's order (fold_ln, center_writing_weights,
    /// center_unembed, fold_value_biases, refactor_factored_attn_matrices) and returns `cfg` with
    /// the applied steps appended to `processing`. Changed weights are replaced by new tensors
    /// (never written through: a weight may be shared, e.g. W_U as a view of W_E). A tied
    /// unembedding is untied (W_U becomes its own copy) before W_E or W_U changes.
    /// center_writing_weights on an RMSNorm model is skipped, as in TransformerLens (it is not
    /// recorded, and a warning goes to stderr).
    public static func process(_ w: TransformerWeights, cfg: ModelConfig, options: ProcessingOptions,
                               warnings: Bool = true) throws -> ModelConfig {
        var cfg = cfg
        try check(w, cfg)
        let layerNorm = cfg.normalization == .layerNorm
        if let why = refusal(options, cfg) { throw TensorError(why) }
        let centerWriting = options.centerWritingWeights && layerNorm
        if options.centerWritingWeights && !layerNorm && warnings {
            warn("load_model: center_writing_weights skipped: \(cfg.modelName) uses RMSNorm, which does not remove the mean of the residual stream (TransformerLens skips it too)")
        }
        // W_U is a view of W_E when tied: give it its own storage before either changes.
        if (options.foldLN || centerWriting || options.centerUnembed) && w.wU.storage === w.wE.storage {
            w.wU = try w.wU.clone()
            cfg.tiedEmbeddings = false
        }
        if options.foldLN {
            try foldLayerNorm(w, cfg, foldBiases: layerNorm, centerWeights: layerNorm)
            cfg.processing.append("fold_ln")
        }
        if centerWriting {
            try centerWritingWeights(w)
            cfg.processing.append("center_writing_weights")
        }
        if options.centerUnembed {
            w.wU = try centeredRows(w.wU)
            if let b = w.bU { w.bU = try centered(b) }
            cfg.processing.append("center_unembed")
        }
        if options.foldValueBiases {
            try foldValueBiases(w, cfg)
            cfg.processing.append("fold_value_biases")
        }
        if options.refactorFactoredAttnMatrices {
            try refactorFactoredAttnMatrices(w, cfg)
            cfg.processing.append("refactor_factored_attn_matrices")
        }
        return cfg
    }

    /// Why `options` cannot be applied to a model of `cfg` (nil: they can). TransformerLens
    /// turns these off for rotary QK refactoring, post-norm blocks and soft-capped logits; a
    /// request fp cannot honour is an error (`fp info`'s table reads it too).
    public static func refusal(_ options: ProcessingOptions, _ cfg: ModelConfig) -> String? {
        if options.refactorFactoredAttnMatrices {
            if cfg.rotary {
                return "load_model: refactor_factored_attn_matrices cannot be used with rotary embeddings (\(cfg.modelName)): the QK circuit depends on the positions of query and key (as in TransformerLens)"
            }
            if cfg.nKVHeads != cfg.nHeads {
                return "load_model: refactor_factored_attn_matrices does not support grouped-query attention (\(cfg.nKVHeads) key-value heads for \(cfg.nHeads) heads)"
            }
        }
        if !cfg.block.preNorms && (options.foldLN || options.centerWritingWeights) {
            return "load_model: fold_ln and center_writing_weights cannot be used with \(cfg.architecture) (\(cfg.modelName)): its norms come after attention and the MLP, so no norm weight sits on a layer's input to fold (TransformerLens refuses them for post-norm models too)"
        }
        if options.centerUnembed && cfg.block.finalSoftcap != nil {
            return "load_model: center_unembed cannot be used with \(cfg.architecture) (\(cfg.modelName)): its logits are soft-capped, and a soft-cap does not ignore a constant added to every logit (TransformerLens refuses it too)"
        }
        return nil
    }

    // MARK: the steps

    /// TL's fold_layer_norm: biases first (they read the unscaled weights), then weights, then
    /// (LayerNorm) the reading weights centered over d_model. LayerNorm's output has mean 0, so
    /// the mean of a reading weight's column never contributes.
    static func foldLayerNorm(_ w: TransformerWeights, _ cfg: ModelConfig, foldBiases: Bool, centerWeights: Bool) throws {
        let d = cfg.dModel
        for blk in w.blocks {
            // ln1 -> W_Q | W_K | W_V (the fused matrix: rows are d_model, columns q|k|v)
            if foldBiases, let lb = blk.ln1B {
                blk.bQKV = try addVecMat(blk.bQKV, lb, blk.wQKV)
            }
            var qkv = try scaledRows(blk.wQKV, blk.ln1W)
            if centerWeights { qkv = try centeredColumns(qkv) }
            blk.wQKV = qkv
            blk.ln1W = try ones(d); blk.ln1B = nil
            // ln2 -> W_in (and W_gate)
            if foldBiases, let lb = blk.ln2B {
                if blk.wGate != nil {
                    throw TensorError("load_model: fold_ln: a LayerNorm bias cannot be folded into a gated MLP without a gate bias")
                }
                blk.bIn = try addVecMat(blk.bIn, lb, blk.wIn)
            }
            var win = try scaledRows(blk.wIn, blk.ln2W)
            if centerWeights { win = try centeredColumns(win) }   // TL centers W_in only, not W_gate
            blk.wIn = win
            if let g = blk.wGate { blk.wGate = try scaledRows(g, blk.ln2W) }
            blk.ln2W = try ones(d); blk.ln2B = nil
        }
        // ln_final -> W_U, b_U
        if foldBiases, let lb = w.lnFinalB {
            w.bU = try addVecMat(w.bU, lb, w.wU)
        }
        var wu = try scaledRows(w.wU, w.lnFinalW)
        if centerWeights { wu = try centeredColumns(wu) }
        w.wU = wu
        w.lnFinalW = try ones(d); w.lnFinalB = nil
    }

    /// TL's center_writing_weights: everything that writes to the residual stream gets mean 0
    /// over d_model (the residual stream then changes by a multiple of the all-ones vector per
    /// position, which every LayerNorm removes).
    static func centerWritingWeights(_ w: TransformerWeights) throws {
        w.wE = try centeredRows(w.wE)
        if let p = w.wPos { w.wPos = try centeredRows(p) }
        for blk in w.blocks {
            blk.wO = try centeredRows(blk.wO)
            if let b = blk.bO { blk.bO = try centered(b) }
            blk.wOut = try centeredRows(blk.wOut)
            if let b = blk.bOut { blk.bOut = try centered(b) }
        }
    }

    /// TL's fold_value_biases: attention patterns sum to 1, so b_V[h] adds b_V[h] @ W_O[h] to
    /// every position; that goes into b_O. With grouped-query attention each query head h uses
    /// its key-value head's bias (TL repeats _b_V to n_heads), and the stored _b_V is zeroed.
    static func foldValueBiases(_ w: TransformerWeights, _ cfg: ModelConfig) throws {
        let d = cfg.dModel, nH = cfg.nHeads, nKV = cfg.nKVHeads, dh = cfg.dHead
        let group = nH / nKV, vStart = (nH + nKV) * dh
        for blk in w.blocks {
            guard let bqkv = blk.bQKV else { continue }   // no value bias: nothing to fold
            let bias = try bqkv.contiguous().toFloats()
            let wo = try blk.wO.contiguous()
            let wop = try wo.floatPointer()
            var acc = [Double](repeating: 0, count: d)
            if let bo = blk.bO {
                for (j, v) in try bo.contiguous().toFloats().enumerated() { acc[j] = Double(v) }
            }
            for h in 0..<nH {
                for e in 0..<dh {
                    let bv = Double(bias[vStart + (h / group) * dh + e])
                    if bv == 0 { continue }
                    let row = wop + (h * dh + e) * d
                    for j in 0..<d { acc[j] += bv * Double(row[j]) }
                }
            }
            withExtendedLifetime(wo) {}
            blk.bO = try Tensor(acc.map { Float($0) }, shape: [d])
            var newBias = bias
            for i in vStart..<newBias.count { newBias[i] = 0 }
            blk.bQKV = try Tensor(newBias, shape: [bias.count])
        }
    }

    /// TL's refactor_factored_attn_matrices: per head, [W_Q; b_Q] [W_K; b_K]^T (a d_model + 1
    /// bilinear form) is refactored evenly through its SVD (W_Q' = U sqrt(S), W_K' = V sqrt(S));
    /// b_V is folded into b_O, then W_V' = U S and W_O' = V^T from the SVD of W_V W_O.
    static func refactorFactoredAttnMatrices(_ w: TransformerWeights, _ cfg: ModelConfig) throws {
        let d = cfg.dModel, nH = cfg.nHeads, dh = cfg.dHead
        try foldValueBiases(w, cfg)   // TL does this inside the refactoring too
        for blk in w.blocks {
            let qkv = try blk.wQKV.clone()
            let bqkv = try blk.bQKV?.clone() ?? Tensor(zeros: [cfg.qkvWidth])
            let wo = try blk.wO.clone()
            for h in 0..<nH {
                let q = try qkv.slice(1, h * dh, (h + 1) * dh), k = try qkv.slice(1, (nH + h) * dh, (nH + h + 1) * dh)
                let bq = try bqkv.slice(0, h * dh, (h + 1) * dh), bk = try bqkv.slice(0, (nH + h) * dh, (nH + h + 1) * dh)
                let qEff = try Tensor.cat([q, bq.unsqueeze(0)], dim: 0)   // [d + 1, dh]
                let kEff = try Tensor.cat([k, bk.unsqueeze(0)], dim: 0)
                let even = try FactoredMatrix(qEff, kEff.T()).makeEven()
                let kEven = try even.b.T()                                  // [d + 1, dh]
                try q.copyFrom(even.a.slice(0, 0, d)); try bq.copyFrom(even.a.select(0, d))
                try k.copyFrom(kEven.slice(0, 0, d)); try bk.copyFrom(kEven.select(0, d))

                let v = try qkv.slice(1, (2 * nH + h) * dh, (2 * nH + h + 1) * dh)
                let o = try wo.slice(0, h * dh, (h + 1) * dh)
                let (u, s, vv) = try FactoredMatrix(v, o).svd()
                try v.copyFrom(Tensor.binary(.mul, u, s))
                try o.copyFrom(vv.T())
            }
            blk.wQKV = qkv; blk.bQKV = bqkv; blk.wO = wo
        }
    }

    // MARK: helpers (float32 data, float64 accumulation)

    static func check(_ w: TransformerWeights, _ cfg: ModelConfig) throws {
        let d = cfg.dModel
        func need(_ t: Tensor?, _ shape: [Int], _ name: String) throws {
            guard let t else { return }
            guard t.dtype == .float32, t.shape == shape else {
                throw TensorError("load_model: weight processing: \(name) has shape \(t.shape) (\(t.dtype.rawValue)), expected \(shape) float32")
            }
            try t.checkValid()
        }
        try need(w.wE, [cfg.dVocab, d], "W_E"); try need(w.wU, [d, cfg.dVocab], "W_U"); try need(w.bU, [cfg.dVocab], "b_U")
        try need(w.lnFinalW, [d], "ln_final.w"); try need(w.lnFinalB, [d], "ln_final.b")
        guard w.blocks.count == cfg.nLayers else {
            throw TensorError("load_model: weight processing: \(w.blocks.count) blocks for \(cfg.nLayers) layers")
        }
        for (l, b) in w.blocks.enumerated() {
            let p = "blocks.\(l)."
            try need(b.wQKV, [d, cfg.qkvWidth], p + "W_QKV"); try need(b.bQKV, [cfg.qkvWidth], p + "b_QKV")
            try need(b.wO, [cfg.nHeads * cfg.dHead, d], p + "W_O"); try need(b.bO, [d], p + "b_O")
            try need(b.wIn, [d, cfg.dMLP], p + "W_in"); try need(b.bIn, [cfg.dMLP], p + "b_in")
            try need(b.wGate, [d, cfg.dMLP], p + "W_gate")
            try need(b.wOut, [cfg.dMLP, d], p + "W_out"); try need(b.bOut, [d], p + "b_out")
            for (t, n) in [(b.ln1W, "ln1.w"), (b.ln2W, "ln2.w")] { try need(t, [d], p + n) }
            for (t, n) in [(b.ln1B, "ln1.b"), (b.ln2B, "ln2.b")] { try need(t, [d], p + n) }
        }
    }

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    static func ones(_ n: Int) throws -> Tensor {
        let t = try Tensor.empty([n])
        try t.fill(1)
        return t
    }

    /// A new [r, c] matrix with row i of `w` multiplied by s[i].
    static func scaledRows(_ w: Tensor, _ s: Tensor) throws -> Tensor {
        let out = try w.clone()
        let r = out.shape[0], c = out.shape[1]
        let sv = try s.contiguous().toFloats()
        guard sv.count == r else { throw TensorError("load_model: fold_ln: norm weight of \(sv.count) for \(r) rows") }
        let p = try out.floatPointer()
        for i in 0..<r {
            let f = sv[i], row = p + i * c
            for j in 0..<c { row[j] *= f }
        }
        return out
    }

    /// A new matrix whose columns have mean 0 (the mean over rows removed).
    static func centeredColumns(_ w: Tensor) throws -> Tensor {
        let out = try w.clone()
        let r = out.shape[0], c = out.shape[1]
        guard r > 0 else { return out }
        let p = try out.floatPointer()
        var mean = [Double](repeating: 0, count: c)
        for i in 0..<r {
            let row = p + i * c
            for j in 0..<c { mean[j] += Double(row[j]) }
        }
        for j in 0..<c { mean[j] /= Double(r) }
        for i in 0..<r {
            let row = p + i * c
            for j in 0..<c { row[j] = Float(Double(row[j]) - mean[j]) }
        }
        return out
    }

    /// A new matrix whose rows have mean 0 (the mean over columns removed).
    static func centeredRows(_ w: Tensor) throws -> Tensor {
        let out = try w.clone()
        let r = out.shape[0], c = out.shape[1]
        guard c > 0 else { return out }
        let p = try out.floatPointer()
        for i in 0..<r {
            let row = p + i * c
            var s = 0.0
            for j in 0..<c { s += Double(row[j]) }
            let m = s / Double(c)
            for j in 0..<c { row[j] = Float(Double(row[j]) - m) }
        }
        return out
    }

    /// A new vector minus its mean.
    static func centered(_ v: Tensor) throws -> Tensor {
        let x = try v.contiguous().toFloats()
        guard !x.isEmpty else { return try v.clone() }
        let m = x.reduce(0.0) { $0 + Double($1) } / Double(x.count)
        return try Tensor(x.map { Float(Double($0) - m) }, shape: v.shape)
    }

    /// (b or zeros) + v @ W for v [r], W [r, c]: a LayerNorm bias mapped through the weight that reads it.
    static func addVecMat(_ b: Tensor?, _ v: Tensor, _ w: Tensor) throws -> Tensor {
        let r = w.shape[0], c = w.shape[1]
        let vv = try v.contiguous().toFloats()
        guard vv.count == r else { throw TensorError("load_model: fold_ln: bias of \(vv.count) for \(r) rows") }
        var acc = [Double](repeating: 0, count: c)
        if let b {
            let bv = try b.contiguous().toFloats()
            guard bv.count == c else { throw TensorError("load_model: fold_ln: bias of \(bv.count) for \(c) columns") }
            for j in 0..<c { acc[j] = Double(bv[j]) }
        }
        let wc = try w.contiguous()
        let p = try wc.floatPointer()
        for i in 0..<r where vv[i] != 0 {
            let f = Double(vv[i]), row = p + i * c
            for j in 0..<c { acc[j] += f * Double(row[j]) }
        }
        withExtendedLifetime(wc) {}
        return try Tensor(acc.map { Float($0) }, shape: [c])
    }
}
