import FPTensor
import Foundation

/// Gemma 3 text (Hugging Face `gemma3_text`, GGUF `gemma3`): Gemma 2's block (embedding x
/// sqrt(d_model), (1 + w) RMS norms folded at load, sandwich norms, GeGLU, attention scale
/// query_pre_attn_scalar^-0.5) without its attention soft-cap (HF ignores the key; a final
/// soft-cap is honoured if a config sets one), plus
/// per-head q/k norms and local/global layers: `layer_types` (default: every 6th layer full)
/// with `sliding_window` and their own rotary base (`rope_parameters.sliding_attention`, classic
/// `rope_local_base_freq`). Rope scaling on the global layers (Gemma 3 4B+) is refused.
public enum Gemma3: Architecture {
    public static let name = "gemma3"
    public static let huggingFaceTypes = ["gemma3_text"]
    public static let ggufArchitectures = ["gemma3"]
    /// HF defaults (query_pre_attn_scalar: the head size of the example, as in released models).
    public static let exampleConfigKeys = #""query_pre_attn_scalar": 16, "sliding_window": 4096"#

    static func block(dModel: Int) -> BlockShape {
        var b = BlockShape(normalization: .rmsNorm, activation: .geluNew, gatedMLP: true, positions: .rotary)
        b.postNorms = true
        b.qkNorm = .perHead
        b.embeddingScale = Double(Float(Double(dModel).squareRoot()))   // HF casts it to float32
        return b
    }

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        let d = try j.int("hidden_size")
        guard !(j["use_bidirectional_attention"]?.boolValue ?? false) else { throw j.error("use_bidirectional_attention is not supported") }
        // rope_parameters per layer type (transformers 5) or the classic keys
        let params = j["rope_parameters"].flatMap { $0.isNull ? nil : $0 }
        // the global layers' scaling (Gemma 3 4B+: linear, factor 8); the local layers have none
        if let t = params?["sliding_attention"]?["rope_type"]?.stringValue, t != "default" {
            throw j.error("sliding_attention rope_type '\(t)' is not supported (default)")
        }
        var c = try LlamaLikeConfig.read(j, family: Self.name, name: name, block: block(dModel: d),
                                         activations: ["gelu_pytorch_tanh"], activationKey: "hidden_activation")
        if let rs = params?["full_attention"] ?? j["rope_scaling"].flatMap({ $0.isNull ? nil : $0 }) {
            c.ropeScaling = try LlamaLikeConfig.ropeScaling(rs, j, maxPositions: c.nCtx)
        }
        c.ropeTheta = params?["full_attention"]?["rope_theta"]?.doubleValue ?? j["rope_theta"]?.doubleValue ?? 1_000_000
        c.block.localRopeTheta = params?["sliding_attention"]?["rope_theta"]?.doubleValue ?? j["rope_local_base_freq"]?.doubleValue ?? 10000
        c.tiedEmbeddings = j["tie_word_embeddings"]?.boolValue ?? true
        c.block.attentionScale = 1 / Double(try j.int("query_pre_attn_scalar", default: c.dHead)).squareRoot()
        // attn_logit_softcapping is read by transformers' Gemma3Attention but never passed to
        // its attention function: HF does not cap Gemma 3's scores, so neither does fp
        c.block.finalSoftcap = j["final_logit_softcapping"].flatMap { $0.isNull ? nil : $0.doubleValue }
        if j["layer_types"] == nil, let w = j["sliding_window"]?.intValue {
            let pattern = try j.int("sliding_window_pattern", default: 6)
            guard pattern > 0 else { throw j.error("sliding_window_pattern \(pattern) must be positive") }
            c.block.slidingWindows = Dictionary(uniqueKeysWithValues: (0..<c.nLayers).filter { ($0 + 1) % pattern != 0 }.map { ($0, w) })
        } else {
            c.block.slidingWindows = try LlamaLikeConfig.slidingWindows(j, nLayers: c.nLayers)
        }
        return try LlamaLikeConfig.finish(c, j.path)
    }

    /// llama.cpp's reading: sliding layers from `gemma3.attention.sliding_window_pattern`
    /// (booleans, or n: every n-th layer full; default 6), the local base from
    /// `rope.freq_base_swa` (default 10000), the attention scale from the head size (27B, the
    /// 62-layer model: d_model / heads), norm weights stored with the 1 added.
    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        let arch = g.architecture ?? "gemma3", path = g.location
        guard let d = g.metadata["\(arch).embedding_length"]?.int else { throw TensorError("load_model: '\(path)': GGUF metadata lacks \(arch).embedding_length") }
        var c = try LlamaLikeConfig.read(g, family: Self.name, name: name, block: block(dModel: d))
        c.ropeTheta = g.metadata["\(arch).rope.freq_base"]?.double ?? 1_000_000
        c.block.localRopeTheta = g.metadata["\(arch).rope.freq_base_swa"]?.double ?? 10000
        c.block.attentionScale = 1 / Double(c.nLayers == 62 ? c.dModel / c.nHeads : c.dHead).squareRoot()
        if let w = c.block.slidingWindows.first?.value {
            c.block.slidingWindows = try Gemma2.slidingWindows(g, arch: arch, nLayers: c.nLayers, window: w, defaultPeriod: 6)
        }
        try c.validate(path)
        return c
    }

    /// Gemma 2's names (sandwich norms, norms stored as 1 + w in GGUF) plus the q/k norms.
    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        var n = Gemma2.tensorNames(format, src, cfg)
        n.layer = { [layer = n.layer] l in
            var t = layer(l)
            Qwen3.nameQKNorms(&t, format, l)
            return t
        }
        return n
    }

    /// Gemma's tokenizers add BOS and the models need it (DESIGN.md).
    public static func defaultPrependBOS(tokenizer: Tokenizer?) -> Bool { true }
}
