import FPTensor

/// OLMo 2 (Hugging Face `olmo2`, GGUF `olmo2`): norms AFTER attention and MLP only, no norm on
/// their inputs (resid_mid = resid_pre + norm(attn(resid_pre)); TransformerLens names them
/// ln1 and ln2), and RMS q/k norms over the full projected width (all heads at once) before
/// rotary. llama.cpp keeps HF's rotate-half rows.
public enum OLMo2: Architecture {
    public static let name = "olmo2"
    public static let huggingFaceTypes = ["olmo2"]
    public static let ggufArchitectures = ["olmo2"]

    static var block: BlockShape {
        var b = Llama.block
        b.preNorms = false
        b.postNorms = true
        b.qkNorm = .fullWidth
        return b
    }

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        try LlamaLikeConfig.finish(try LlamaLikeConfig.read(j, family: Self.name, name: name, block: block), j.path)
    }

    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        let c = try LlamaLikeConfig.read(g, family: Self.name, name: name, block: block)
        try c.validate(g.location)
        return c
    }

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        let hf = format == .huggingFace
        var n = Llama.tensorNames(format, src, cfg)
        n.interleavedRotaryRows = false
        n.layer = { [layer = n.layer] l in
            var t = layer(l)
            let p = hf ? "model.layers.\(l)." : "blk.\(l)."
            t.attnNorm = p + (hf ? "post_attention_layernorm.weight" : "post_attention_norm.weight")
            t.mlpNorm = p + (hf ? "post_feedforward_layernorm.weight" : "post_ffw_norm.weight")
            Qwen3.nameQKNorms(&t, format, l)
            return t
        }
        return n
    }
}
