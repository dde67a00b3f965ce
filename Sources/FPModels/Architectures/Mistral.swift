import FPTensor

/// Mistral (Hugging Face `mistral`): Llama with sliding-window attention on every layer when
/// `sliding_window` is set (Mistral 7B v0.1: 4096; later versions: null). llama.cpp converts
/// Mistral as `llama` (Q/K rows permuted); Llama reads those files and honours a
/// `llama.attention.sliding_window` key.
public enum Mistral: Architecture {
    public static let name = "mistral"
    public static let huggingFaceTypes = ["mistral"]
    /// Mistral 7B v0.1's window (Hugging Face's default).
    public static let exampleConfigKeys = #""sliding_window": 4096"#

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        var c = try LlamaLikeConfig.read(j, family: Self.name, name: name, block: Llama.block)
        c.block.slidingWindows = try LlamaLikeConfig.slidingWindows(j, nLayers: c.nLayers)
        return try LlamaLikeConfig.finish(c, j.path)
    }

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        Llama.tensorNames(format, src, cfg)
    }
}
