import FPTensor
import Foundation

/// Gemma 2 (Hugging Face `gemma2`, GGUF `gemma2`): embeddings scaled by sqrt(d_model), RMS norms
/// that multiply by (1 + w) (the 1 is folded into the weights at load, as TransformerLens shows
/// them; llama.cpp's converter stores it added), norms before and after attention and MLP, GeGLU
/// with tanh GELU, attention scale query_pre_attn_scalar^-0.5, soft-capped attention logits and
/// final logits, sliding-window attention on the layers `layer_types` names (by default every
/// other layer from layer 0), tied unembedding.
public enum Gemma2: Architecture {
    public static let name = "gemma2"
    public static let huggingFaceTypes = ["gemma2"]
    public static let ggufArchitectures = ["gemma2"]
    /// HF defaults (query_pre_attn_scalar: the head size of the example, as in released models).
    public static let exampleConfigKeys = #""attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "query_pre_attn_scalar": 16, "sliding_window": 4096"#

    static func block(dModel d: Int) -> BlockShape {
        var block = BlockShape(normalization: .rmsNorm, activation: .geluNew, gatedMLP: true, positions: .rotary)
        block.postNorms = true
        block.embeddingScale = Double(Float(Double(d).squareRoot()))   // HF casts it to float32
        return block
    }

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        let d = try j.int("hidden_size"), h = try j.int("num_attention_heads"), L = try j.int("num_hidden_layers")
        let act = j["hidden_activation"]?.stringValue ?? j["hidden_act"]?.stringValue ?? "gelu_pytorch_tanh"
        guard act == "gelu_pytorch_tanh" else { throw j.error("hidden_activation \(act) is not supported (gelu_pytorch_tanh)") }
        var block = block(dModel: d)
        let dHead = try j.int("head_dim", default: h > 0 ? d / max(h, 1) : 0)
        block.attentionScale = 1 / Double(try j.int("query_pre_attn_scalar", default: dHead)).squareRoot()
        block.attentionSoftcap = j["attn_logit_softcapping"].flatMap { $0.isNull ? nil : $0.doubleValue }
        block.finalSoftcap = j["final_logit_softcapping"].flatMap { $0.isNull ? nil : $0.doubleValue }
        if let w = j["sliding_window"]?.intValue {
            let types = j["layer_types"]?.arrayValue?.compactMap(\.stringValue)
                ?? (0..<L).map { $0 % 2 == 0 ? "sliding_attention" : "full_attention" }
            guard types.count == L else { throw j.error("layer_types has \(types.count) entries for \(L) layers") }
            for (l, t) in types.enumerated() where t == "sliding_attention" { block.slidingWindows[l] = w }
        }
        var c = ModelConfig(architecture: Self.name, modelName: name, nLayers: L, dModel: d, nHeads: h,
                            nKVHeads: try j.int("num_key_value_heads", default: h), dHead: dHead,
                            dMLP: try j.int("intermediate_size"), dVocab: try j.int("vocab_size"),
                            nCtx: try j.int("max_position_embeddings"), normEps: j.double("rms_norm_eps", default: 1e-6),
                            block: block, tiedEmbeddings: j["tie_word_embeddings"]?.boolValue ?? true, defaultPrependBOS: true)
        c.ropeTheta = j["rope_theta"]?.doubleValue ?? j["rope_parameters"]?["rope_theta"]?.doubleValue ?? 10000
        if let kind = j["rope_parameters"]?["rope_type"]?.stringValue, kind != "default" {
            throw j.error("rope_type '\(kind)' is not supported (default)")
        }
        try c.validate(j.path)
        c.nCtx = min(c.nCtx, (1 << 25) / c.dHead)   // bounds the RoPE tables (as Llama)
        return c
    }

    /// llama.cpp's reading (its llama_model_gemma2): the soft-caps from `attn_logit_softcapping`
    /// and `final_logit_softcapping` (defaults 50 and 30), `attention.sliding_window` (default 4096)
    /// on the layers of `attention.sliding_window_pattern` (booleans, or n: every n-th layer full;
    /// default 2), norm weights stored with the 1 added. The attention scale: `attention.scale` when
    /// the file has it (llama.cpp's gemma2 ignores the key; a converter of a model whose
    /// query_pre_attn_scalar is not the head size must write it), else llama.cpp's rule from the
    /// sizes, which is query_pre_attn_scalar^-0.5 for every released Gemma 2 (27B, the 46-layer
    /// model: d_model / heads; else the head size).
    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        let arch = g.architecture ?? "gemma2", path = g.location
        guard let d = g.metadata["\(arch).embedding_length"]?.int else { throw TensorError("load_model: '\(path)': GGUF metadata lacks \(arch).embedding_length") }
        var c = try LlamaLikeConfig.read(g, family: Self.name, name: name, block: block(dModel: d))
        c.block.attentionSoftcap = g.metadata["\(arch).attn_logit_softcapping"]?.double ?? 50
        c.block.finalSoftcap = g.metadata["\(arch).final_logit_softcapping"]?.double ?? 30
        c.block.attentionScale = g.metadata["\(arch).attention.scale"]?.double
            ?? 1 / Double(c.nLayers == 46 ? c.dModel / c.nHeads : c.dHead).squareRoot()
        c.block.slidingWindows = try slidingWindows(g, arch: arch, nLayers: c.nLayers, window: c.block.slidingWindows.first?.value ?? 4096,
                                                    defaultPeriod: 2)
        try c.validate(path)
        return c
    }

    /// llama.cpp's sliding layers: `attention.sliding_window_pattern` as one boolean per layer, or
    /// a period n (layer l slides when l % n < n - 1), else `defaultPeriod`.
    static func slidingWindows(_ g: GGUFFile, arch: String, nLayers: Int, window: Int, defaultPeriod: Int) throws -> [Int: Int] {
        let path = g.location
        guard window > 0 else { throw TensorError("load_model: '\(path)': sliding_window \(window) must be positive") }
        let key = g.metadata["\(arch).attention.sliding_window_pattern"]
        let sliding: (Int) -> Bool
        if let flags = key?.array {
            guard flags.count == nLayers else {
                throw TensorError("load_model: '\(path)': sliding_window_pattern has \(flags.count) entries for \(nLayers) layers")
            }
            sliding = { flags[$0].bool ?? false }
        } else {
            let n = key?.int ?? defaultPeriod
            guard n > 0 else { throw TensorError("load_model: '\(path)': sliding_window_pattern \(n) must be positive") }
            sliding = { $0 % n < n - 1 }
        }
        return Dictionary(uniqueKeysWithValues: (0..<nLayers).filter(sliding).map { ($0, window) })
    }

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        let hf = format == .huggingFace
        var n = Llama.tensorNames(format, src, cfg)
        n.interleavedRotaryRows = false
        n.normWeightOffset = hf ? 1 : 0   // llama.cpp's converter stores 1 + w already
        n.layer = { [layer = n.layer] l in
            var t = layer(l)
            let p = hf ? "model.layers.\(l)." : "blk.\(l)."
            t.mlpNorm = p + (hf ? "pre_feedforward_layernorm.weight" : "ffn_norm.weight")
            t.attnPostNorm = p + (hf ? "post_attention_layernorm.weight" : "post_attention_norm.weight")
            t.mlpPostNorm = p + (hf ? "post_feedforward_layernorm.weight" : "post_ffw_norm.weight")
            return t
        }
        return n
    }

    /// Gemma's tokenizers add BOS and the models need it (DESIGN.md).
    public static func defaultPrependBOS(tokenizer: Tokenizer?) -> Bool { true }
}
