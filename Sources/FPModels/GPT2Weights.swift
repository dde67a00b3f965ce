import FPTensor

/// GPT-2 weights from Hugging Face names (Conv1D layout: [in, out], already x @ W).
enum GPT2Weights {
    static func load(_ src: WeightSource, _ cfg: ModelConfig) throws -> TransformerWeights {
        let prefix = src.shape(of: "transformer.wte.weight") != nil ? "transformer." : ""
        func t(_ name: String, _ shape: [Int]) throws -> Tensor { try src.tensor(prefix + name, shape: shape).contiguous() }
        let d = cfg.dModel, dm = cfg.dMLP
        var blocks = [BlockWeights]()
        for l in 0..<cfg.nLayers {
            let p = "h.\(l)."
            blocks.append(BlockWeights(
                ln1W: try t(p + "ln_1.weight", [d]), ln1B: try t(p + "ln_1.bias", [d]),
                ln2W: try t(p + "ln_2.weight", [d]), ln2B: try t(p + "ln_2.bias", [d]),
                wQKV: try t(p + "attn.c_attn.weight", [d, 3 * d]), bQKV: try t(p + "attn.c_attn.bias", [3 * d]),
                wO: try t(p + "attn.c_proj.weight", [d, d]), bO: try t(p + "attn.c_proj.bias", [d]),
                wIn: try t(p + "mlp.c_fc.weight", [d, dm]), bIn: try t(p + "mlp.c_fc.bias", [dm]), wGate: nil,
                wOut: try t(p + "mlp.c_proj.weight", [dm, d]), bOut: try t(p + "mlp.c_proj.bias", [d])))
        }
        let wE = try t("wte.weight", [cfg.dVocab, d])
        return TransformerWeights(wE: wE, wPos: try t("wpe.weight", [cfg.nCtx, d]), blocks: blocks,
                                  lnFinalW: try t("ln_f.weight", [d]), lnFinalB: try t("ln_f.bias", [d]),
                                  wU: try wE.T(), bU: nil)
    }
}
