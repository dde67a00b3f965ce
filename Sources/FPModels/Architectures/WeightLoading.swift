import FPTensor

/// Reads any family's weights from a source through its `TensorNames`, into the layouts the
/// forward pass multiplies with (x @ W, W as [in, out]; q|k|v side by side).
enum WeightLoading {
    static func load(_ src: WeightSource, _ cfg: ModelConfig, _ names: TensorNames) throws -> TransformerWeights {
        let d = cfg.dModel, dm = cfg.dMLP, dh = cfg.dHead, qw = cfg.nHeads * dh, kvw = cfg.nKVHeads * dh
        func t(_ name: String, _ shape: [Int]) throws -> Tensor { try src.tensor(name, shape: shape).contiguous() }
        func bias(_ name: String?, _ n: Int) throws -> Tensor? { try name.map { try t($0, [n]) } }
        /// A projection from `inDim` to `outDim` as [in, out] (stored [out, in]: transposed
        /// while it is converted, not copied and then transposed).
        func linear(_ name: String, _ inDim: Int, _ outDim: Int) throws -> Tensor {
            switch names.layout {
            case .inOut: return try t(name, [inDim, outDim])
            case .outIn: return try src.transposedTensor(name, rows: outDim, cols: inDim)
            }
        }
        /// Projection `name` (inDim -> outDim) written into columns col..<col+outDim of `m`, [inDim, width].
        func place(_ name: String, _ inDim: Int, _ outDim: Int, into m: Tensor, col: Int) throws {
            switch names.layout {
            case .inOut:
                try m.narrow(1, col, outDim).copyFrom(try t(name, [inDim, outDim]))
            case .outIn:
                try src.checkShape(name, [outDim, inDim])
                try src.readTransposed(name, into: try m.floatPointer() + col, ld: m.shape[1])
            }
        }
        /// Q or K rows [heads * d_head, d_model] in Hugging Face's order.
        func rotaryRows(_ w: Tensor, heads: Int) throws -> Tensor {
            names.interleavedRotaryRows ? try undoLlamaQKPermutation(w, nHeads: heads) : w
        }
        /// q | k | v from rows grouped by head (GPT-NeoX: [h0 q, h0 k, h0 v, h1 q, ...]).
        func regroupQKV(_ w: Tensor, dim: Int) throws -> Tensor {
            guard names.qkvGroupedByHead else { return w }
            guard cfg.nKVHeads == cfg.nHeads else {
                throw TensorError("load_model: \(cfg.architecture): a q|k|v projection grouped by head needs as many kv heads as heads")
            }
            var order: [Int] = []
            for part in 0..<3 { for h in 0..<cfg.nHeads { order += (0..<dh).map { h * 3 * dh + part * dh + $0 } } }
            return try w.indexSelect(dim, try Tensor(ints: order, shape: [order.count])).contiguous()
        }
        /// A norm weight, with the family's offset folded in (Gemma: 1 + w).
        func normWeight(_ name: String, _ n: Int) throws -> Tensor {
            let w = try t(name, [n])
            return names.normWeightOffset == 0 ? w : try Tensor.binary(.add, w, Tensor.scalar(names.normWeightOffset))
        }
        func need(_ name: String?, _ what: String) throws -> String {
            guard let name else { throw TensorError("load_model: \(cfg.architecture) names no \(what) tensor") }
            return name
        }
        var blocks = [BlockWeights]()
        for l in 0..<cfg.nLayers {
            let n = names.layer(l)
            let wQKV: Tensor, bQKV: Tensor?
            if let fused = n.qkv {
                wQKV = try regroupQKV(try linear(fused, d, qw + 2 * kvw), dim: 1)
                bQKV = try bias(n.qkvBias, qw + 2 * kvw).map { try regroupQKV($0, dim: 0) }
            } else {
                guard let qn = n.q, let kn = n.k, let vn = n.v else {
                    throw TensorError("load_model: \(cfg.architecture): layer \(l) names neither a fused nor separate q, k, v")
                }
                // q, k and v straight into their columns of one [d, q|k|v] matrix
                let m = try Tensor.empty([d, qw + 2 * kvw])
                for (name, out, heads, col) in [(qn, qw, cfg.nHeads, 0), (kn, kvw, cfg.nKVHeads, qw), (vn, kvw, 0, qw + kvw)] {
                    if names.interleavedRotaryRows && heads > 0 {   // GGUF's Llama-family q/k rows: reorder first
                        let stored = names.layout == .outIn ? try t(name, [out, d]) : try transposed(try t(name, [d, out]))
                        let w = try rotaryRows(stored, heads: heads)
                        Float32Conversion.convert(UnsafeRawPointer(try w.floatPointer()), .f32, rows: out, cols: d,
                                                  into: try m.floatPointer() + col, transposedWithStride: m.shape[1])
                    } else {
                        try place(name, d, out, into: m, col: col)
                    }
                }
                wQKV = m
                let biases = try [(n.qBias, qw, cfg.nHeads), (n.kBias, kvw, cfg.nKVHeads), (n.vBias, kvw, 0)].map { name, width, heads in
                    try bias(name, width).map { heads > 0 ? try rotaryRows($0, heads: heads) : $0 }
                }
                let present = biases.compactMap { $0 }
                guard present.isEmpty || present.count == 3 else {
                    throw TensorError("load_model: \(cfg.architecture): layer \(l) has biases on some of q, k, v but not all")
                }
                bQKV = present.isEmpty ? nil : try Tensor.cat(present, dim: 0)
            }
            let wIn: Tensor, wGate: Tensor?
            if n.gateUpFused {
                let both = try linear(n.up, d, 2 * dm)   // [d, gate | up]
                wGate = try both.narrow(1, 0, dm).contiguous()
                wIn = try both.narrow(1, dm, dm).contiguous()
            } else {
                wIn = try linear(n.up, d, dm)
                wGate = cfg.gatedMLP ? try linear(try need(n.gate, "gate projection (layer \(l))"), d, dm) : nil
            }
            let block = BlockWeights(
                ln1W: try normWeight(n.attnNorm, d), ln1B: try bias(n.attnNormBias, d),
                ln2W: try normWeight(n.mlpNorm, d), ln2B: try bias(n.mlpNormBias, d),
                wQKV: wQKV, bQKV: bQKV,
                wO: try linear(n.o, qw, d), bO: try bias(n.oBias, d),
                wIn: wIn, bIn: try bias(n.upBias, dm),
                wGate: wGate,
                wOut: try linear(n.down, dm, d), bOut: try bias(n.downBias, d))
            if cfg.block.preNorms && cfg.block.postNorms {
                block.ln1PostW = try normWeight(try need(n.attnPostNorm, "attention post-norm (layer \(l))"), d)
                block.ln2PostW = try normWeight(try need(n.mlpPostNorm, "MLP post-norm (layer \(l))"), d)
            }
            if let kind = cfg.block.qkNorm {
                block.qNormW = try normWeight(try need(n.qNorm, "query norm (layer \(l))"), kind == .perHead ? dh : qw)
                block.kNormW = try normWeight(try need(n.kNorm, "key norm (layer \(l))"), kind == .perHead ? dh : kvw)
            }
            blocks.append(block)
        }
        let wE = try t(names.embed, [cfg.dVocab, d])
        var wU = try wE.T()
        if !cfg.tiedEmbeddings, let head = names.head, src.shape(of: head) != nil {
            wU = try src.transposedTensor(head, rows: cfg.dVocab, cols: d)
        }
        let wPos = cfg.block.positions == .learned ? try t(try need(names.posEmbed, "position embedding"), [cfg.nCtx, d]) : nil
        return TransformerWeights(wE: wE, wPos: wPos, blocks: blocks,
                                  lnFinalW: try normWeight(names.finalNorm, d), lnFinalB: try bias(names.finalNormBias, d),
                                  wU: wU, bU: try bias(names.headBias, cfg.dVocab))
    }
}
