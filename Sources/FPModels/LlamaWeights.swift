import FPTensor

/// Llama-family weights from Hugging Face names (Linear layout [out, in], transposed once here).
/// Other formats (GGUF, llama2.c) map their names onto these.
enum LlamaWeights {
    /// Hugging Face tensor names of one layer, for sources that rename.
    struct Names {
        var embed = "model.embed_tokens.weight", norm = "model.norm.weight", head = "lm_head.weight"
        var layer: (Int) -> [String: String] = { l in
            let p = "model.layers.\(l)."
            return ["attn_norm": p + "input_layernorm.weight", "ffn_norm": p + "post_attention_layernorm.weight",
                    "q": p + "self_attn.q_proj.weight", "k": p + "self_attn.k_proj.weight",
                    "v": p + "self_attn.v_proj.weight", "o": p + "self_attn.o_proj.weight",
                    "gate": p + "mlp.gate_proj.weight", "up": p + "mlp.up_proj.weight", "down": p + "mlp.down_proj.weight"]
        }
    }

    /// `unpermuteQK` undoes llama.cpp's / Meta's interleaved RoPE row order (GGUF, llama2.c).
    static func load(_ src: WeightSource, _ cfg: ModelConfig, names: Names = Names(),
                     unpermuteQK: Bool = false) throws -> TransformerWeights {
        let d = cfg.dModel, dm = cfg.dMLP, dh = cfg.dHead
        func t(_ name: String, _ shape: [Int]) throws -> Tensor { try src.tensor(name, shape: shape).contiguous() }
        var blocks = [BlockWeights]()
        for l in 0..<cfg.nLayers {
            let n = names.layer(l)
            func name(_ k: String) -> String { n[k] ?? k }
            var wq = try t(name("q"), [cfg.nHeads * dh, d])
            var wk = try t(name("k"), [cfg.nKVHeads * dh, d])
            if unpermuteQK {
                wq = try unpermuteRotaryRows(wq, nHeads: cfg.nHeads)
                wk = try unpermuteRotaryRows(wk, nHeads: cfg.nKVHeads)
            }
            let wv = try t(name("v"), [cfg.nKVHeads * dh, d])
            // one [d, q|k|v] matrix: x @ W gives q, k and v side by side
            let wQKV = try Tensor.cat([wq, wk, wv], dim: 0).T().contiguous()
            blocks.append(BlockWeights(
                ln1W: try t(name("attn_norm"), [d]), ln1B: nil,
                ln2W: try t(name("ffn_norm"), [d]), ln2B: nil,
                wQKV: wQKV, bQKV: nil,
                wO: try transposed(try t(name("o"), [d, cfg.nHeads * dh])), bO: nil,
                wIn: try transposed(try t(name("up"), [dm, d])), bIn: nil,
                wGate: try transposed(try t(name("gate"), [dm, d])),
                wOut: try transposed(try t(name("down"), [d, dm])), bOut: nil))
        }
        let wE = try t(names.embed, [cfg.dVocab, d])
        var wU: Tensor
        if cfg.tiedEmbeddings || src.shape(of: names.head) == nil {
            wU = try wE.T()
        } else {
            wU = try transposed(try t(names.head, [cfg.dVocab, d]))
        }
        return TransformerWeights(wE: wE, wPos: nil, blocks: blocks, lnFinalW: try t(names.norm, [d]), lnFinalB: nil,
                                  wU: wU, bU: nil)
    }

    /// Meta's checkpoints and llama.cpp's GGUF order each head's rows as interleaved rotary
    /// pairs; Hugging Face's rotate-half layout puts pair halves d_head/2 apart.
    static func unpermuteRotaryRows(_ w: Tensor, nHeads: Int) throws -> Tensor {
        try undoLlamaQKPermutation(w, nHeads: nHeads)
    }
}
