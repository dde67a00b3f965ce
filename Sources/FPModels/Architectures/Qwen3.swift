import FPTensor

/// Qwen 3 (Hugging Face `qwen3`, GGUF `qwen3`): Llama with an RMS norm on each head's queries
/// and keys before rotary (q_norm, k_norm over head_dim), head_dim set apart from
/// hidden_size / heads, biases only where `attention_bias` put them, optional sliding windows
/// as Qwen 2. llama.cpp keeps HF's rotate-half rows.
public enum Qwen3: Architecture {
    public static let name = "qwen3"
    public static let huggingFaceTypes = ["qwen3"]
    public static let ggufArchitectures = ["qwen3"]

    static var block: BlockShape {
        var b = Llama.block
        b.qkNorm = .perHead
        return b
    }

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        var c = try LlamaLikeConfig.read(j, family: Self.name, name: name, block: block)
        c.block.slidingWindows = try LlamaLikeConfig.slidingWindows(j, nLayers: c.nLayers, useFlag: true)
        return try LlamaLikeConfig.finish(c, j.path)
    }

    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        let c = try LlamaLikeConfig.read(g, family: Self.name, name: name, block: block)
        try c.validate(g.location)
        return c
    }

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        var n = Llama.tensorNames(format, src, cfg)
        n.interleavedRotaryRows = false
        n.layer = { [layer = n.layer] l in withQKNorms(format, l, layer(l), src) }
        return n
    }

    /// q_norm / k_norm next to the projections, and the attention biases the file has.
    static func withQKNorms(_ format: WeightFormat, _ l: Int, _ layer: TensorNames.Layer, _ src: WeightSource) -> TensorNames.Layer {
        var t = layer
        nameQKNorms(&t, format, l)
        if let q = t.q, src.shape(of: String(q.dropLast(".weight".count)) + ".bias") != nil { t = Qwen2.withQKVBiases(t) }
        let oBias = String(t.o.dropLast(".weight".count)) + ".bias"
        if src.shape(of: oBias) != nil { t.oBias = oBias }
        return t
    }

    /// The q/k norm weights' names, the same in every family that has them (Qwen 3, Gemma 3, OLMo 2).
    static func nameQKNorms(_ t: inout TensorNames.Layer, _ format: WeightFormat, _ l: Int) {
        let p = format == .huggingFace ? "model.layers.\(l).self_attn." : "blk.\(l).attn_"
        t.qNorm = p + "q_norm.weight"
        t.kNorm = p + "k_norm.weight"
    }
}
