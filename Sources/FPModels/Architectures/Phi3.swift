import FPTensor

/// Phi-3 (Hugging Face `phi3`, GGUF `phi3`): Llama with one fused q|k|v projection
/// (`qkv_proj`) and one fused gate|up projection (`gate_up_proj`, gate first), both split at
/// load; an optional sliding window on every layer (`sliding_window`) and partial rotary
/// (`partial_rotary_factor`, Phi-4-mini); longrope scaling (the 128k models) from config.json
/// (Rope.swift), not yet from GGUF (llama.cpp stores the factors as tensors).
/// llama.cpp keeps both fusions and HF's rotate-half q/k rows.
public enum Phi3: Architecture {
    public static let name = "phi3"
    public static let huggingFaceTypes = ["phi3"]
    public static let ggufArchitectures = ["phi3"]

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        var c = try LlamaLikeConfig.read(j, family: Self.name, name: name, block: Llama.block)
        c.block.slidingWindows = try LlamaLikeConfig.slidingWindows(j, nLayers: c.nLayers)
        return try LlamaLikeConfig.finish(c, j.path)
    }

    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        if g.shape(of: "rope_factors_long.weight") != nil || g.shape(of: "rope_factors_short.weight") != nil {
            throw TensorError("load_model: '\(g.location)': Phi-3 longrope scaling is not supported")
        }
        let c = try LlamaLikeConfig.read(g, family: Self.name, name: name, block: Llama.block)
        try c.validate(g.location)
        return c
    }

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        let hf = format == .huggingFace
        var n = Llama.tensorNames(format, src, cfg)
        n.interleavedRotaryRows = false
        n.layer = { l in
            let p = hf ? "model.layers.\(l)." : "blk.\(l)."
            var t = hf
                ? TensorNames.Layer(attnNorm: p + "input_layernorm.weight", o: p + "self_attn.o_proj.weight",
                                    mlpNorm: p + "post_attention_layernorm.weight", up: p + "mlp.gate_up_proj.weight",
                                    down: p + "mlp.down_proj.weight")
                : TensorNames.Layer(attnNorm: p + "attn_norm.weight", o: p + "attn_output.weight",
                                    mlpNorm: p + "ffn_norm.weight", up: p + "ffn_up.weight", down: p + "ffn_down.weight")
            t.qkv = p + (hf ? "self_attn.qkv_proj.weight" : "attn_qkv.weight")
            t.gateUpFused = true
            return t
        }
        return n
    }
}
