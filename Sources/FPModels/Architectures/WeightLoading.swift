import FPTensor

/// Reads any family's weights from a source through its `TensorNames`, into the layouts the
/// forward pass multiplies with (x @ W, W as [in, out]; q|k|v side by side).
enum WeightLoading {
    static func load(_ src: WeightSource, _ cfg: ModelConfig, _ names: TensorNames) throws -> TransformerWeights {
        let d = cfg.dModel, dm = cfg.dMLP, dh = cfg.dHead, qw = cfg.nHeads * dh, kvw = cfg.nKVHeads * dh
        func t(_ name: String, _ shape: [Int]) throws -> Tensor { try src.tensor(name, shape: shape).contiguous() }
        func bias(_ name: String?, _ n: Int) throws -> Tensor? { try name.map { try t($0, [n]) } }
        /// A projection from `inDim` to `outDim` as [in, out].
        func linear(_ name: String, _ inDim: Int, _ outDim: Int) throws -> Tensor {
            switch names.layout {
            case .inOut: return try t(name, [inDim, outDim])
            case .outIn: return try transposed(try t(name, [outDim, inDim]))
            }
        }
        /// Q or K rows [heads * d_head, d_model] in Hugging Face's order.
        func rotaryRows(_ w: Tensor, heads: Int) throws -> Tensor {
            names.interleavedRotaryRows ? try undoLlamaQKPermutation(w, nHeads: heads) : w
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
                wQKV = try linear(fused, d, qw + 2 * kvw)
                bQKV = try bias(n.qkvBias, qw + 2 * kvw)
            } else {
                guard let qn = n.q, let kn = n.k, let vn = n.v else {
                    throw TensorError("load_model: \(cfg.architecture): layer \(l) names neither a fused nor separate q, k, v")
                }
                // [out, in] rows of q, k and v, stacked; one [d, q|k|v] matrix gives all three
                func rows(_ name: String, _ out: Int) throws -> Tensor {
                    names.layout == .outIn ? try t(name, [out, d]) : try t(name, [d, out]).T().contiguous()
                }
                let wq = try rotaryRows(try rows(qn, qw), heads: cfg.nHeads)
                let wk = try rotaryRows(try rows(kn, kvw), heads: cfg.nKVHeads)
                wQKV = try Tensor.cat([wq, wk, try rows(vn, kvw)], dim: 0).T().contiguous()
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
            blocks.append(BlockWeights(
                ln1W: try t(n.attnNorm, [d]), ln1B: try bias(n.attnNormBias, d),
                ln2W: try t(n.mlpNorm, [d]), ln2B: try bias(n.mlpNormBias, d),
                wQKV: wQKV, bQKV: bQKV,
                wO: try linear(n.o, qw, d), bO: try bias(n.oBias, d),
                wIn: wIn, bIn: try bias(n.upBias, dm),
                wGate: wGate,
                wOut: try linear(n.down, dm, d), bOut: try bias(n.downBias, d)))
        }
        let wE = try t(names.embed, [cfg.dVocab, d])
        var wU = try wE.T()
        if !cfg.tiedEmbeddings, let head = names.head, src.shape(of: head) != nil {
            wU = try transposed(try t(head, [cfg.dVocab, d]))
        }
        let wPos = cfg.block.positions == .learned ? try t(try need(names.posEmbed, "position embedding"), [cfg.nCtx, d]) : nil
        return TransformerWeights(wE: wE, wPos: wPos, blocks: blocks,
                                  lnFinalW: try t(names.finalNorm, [d]), lnFinalB: try bias(names.finalNormBias, d),
                                  wU: wU, bU: try bias(names.headBias, cfg.dVocab))
    }
}
