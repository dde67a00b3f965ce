import FPTensor

/// Phi-3 (Hugging Face `phi3`, GGUF `phi3`): Llama with one fused q|k|v projection
/// (`qkv_proj`) and one fused gate|up projection (`gate_up_proj`, gate first), both split at
/// load; an optional sliding window on every layer (`sliding_window`) and partial rotary
/// (`partial_rotary_factor`, Phi-4-mini); longrope scaling (the 128k models, Rope.swift) from
/// config.json or from GGUF (llama.cpp stores the factors as tensors).
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
        var c = try LlamaLikeConfig.read(g, family: Self.name, name: name, block: Llama.block)
        c.ropeScaling = try longrope(g)
        try c.validate(g.location)
        return c
    }

    /// llama.cpp's converter writes longrope (the 128k models) as the tensors
    /// `rope_factors_short.weight` / `rope_factors_long.weight`, the original context in
    /// `rope.scaling.original_context_length`, the full one in `context_length` and HF's
    /// attention factor (sqrt(1 + ln(context / original) / ln(original)) unless the config
    /// gives one) in `rope.scaling.attn_factor`; nil without the factor tensors.
    static func longrope(_ g: GGUFFile) throws -> ModelConfig.RopeScaling? {
        let short = "rope_factors_short.weight", long = "rope_factors_long.weight"
        let present = [short, long].filter { g.shape(of: $0) != nil }
        if present.isEmpty { return nil }
        let arch = g.architecture ?? Self.name, path = g.location
        guard present.count == 2 else {
            throw TensorError("load_model: '\(path)': longrope needs both \(short) and \(long), the file has only \(present[0])")
        }
        guard let orig = g.metadata["\(arch).rope.scaling.original_context_length"]?.int, orig > 0,
              let ctx = g.metadata["\(arch).context_length"]?.int, ctx > 0 else {
            throw TensorError("load_model: '\(path)': longrope factors without \(arch).rope.scaling.original_context_length and context_length")
        }
        func factors(_ name: String) throws -> [Double] {
            let t = try g.tensor(name)
            guard t.rank == 1 else { throw TensorError("load_model: '\(path)': tensor '\(name)' has shape \(t.shape), expected a vector") }
            return try t.toFloats().map(Double.init)
        }
        var s = ModelConfig.RopeScaling(kind: .longrope, factor: Double(ctx) / Double(orig), originalMaxPositions: Double(orig))
        s.shortFactor = try factors(short)
        s.longFactor = try factors(long)
        if let a = g.metadata["\(arch).rope.scaling.attn_factor"]?.double {
            guard a.isFinite, a > 0 else { throw TensorError("load_model: '\(path)': \(arch).rope.scaling.attn_factor \(a) must be positive") }
            s.attentionFactor = a
        }
        return s
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
