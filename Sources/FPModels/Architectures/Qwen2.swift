import FPTensor

/// Qwen 2 and 2.5 (Hugging Face `qwen2`, GGUF `qwen2`): Llama with biases on the q, k and v
/// projections, tied or untied embeddings, and optional sliding windows (`use_sliding_window`
/// on layers >= `max_window_layers`, or `layer_types`). llama.cpp keeps HF's rotate-half q/k
/// rows for qwen2, so GGUF rows need no un-permuting.
public enum Qwen2: Architecture {
    public static let name = "qwen2"
    public static let huggingFaceTypes = ["qwen2"]
    public static let ggufArchitectures = ["qwen2"]

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        var c = try LlamaLikeConfig.read(j, family: Self.name, name: name, block: Llama.block)
        c.block.slidingWindows = try LlamaLikeConfig.slidingWindows(j, nLayers: c.nLayers, useFlag: true)
        return try LlamaLikeConfig.finish(c, j.path)
    }

    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        let c = try LlamaLikeConfig.read(g, family: Self.name, name: name, block: Llama.block)
        try c.validate(g.location)
        return c
    }

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        var n = Llama.tensorNames(format, src, cfg)
        n.interleavedRotaryRows = false
        n.layer = { [layer = n.layer] l in withQKVBiases(layer(l)) }
        return n
    }

    /// The q, k, v biases next to their weights ("....weight" -> "....bias").
    static func withQKVBiases(_ layer: TensorNames.Layer) -> TensorNames.Layer {
        var t = layer
        func bias(_ w: String?) -> String? { w.map { String($0.dropLast(".weight".count)) + ".bias" } }
        t.qBias = bias(t.q); t.kBias = bias(t.k); t.vBias = bias(t.v)
        return t
    }
}
