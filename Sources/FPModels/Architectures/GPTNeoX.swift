import FPTensor
import Foundation

/// GPT-NeoX / Pythia (Hugging Face `gpt_neox`, GGUF `gptneox`): attention and MLP in parallel on
/// the same input (`use_parallel_residual`, the default), LayerNorm with biases, partial rotary
/// (`rotary_pct` of each head, 0.25 in Pythia), exact GELU, one q|k|v projection whose rows are
/// grouped by head (llama.cpp's converter regroups them to q | k | v), biases everywhere, untied
/// unembedding (`embed_out`).
public enum GPTNeoX: Architecture {
    public static let name = "gpt_neox"
    public static let huggingFaceTypes = ["gpt_neox"]
    public static let ggufArchitectures = ["gptneox"]

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        let d = try j.int("hidden_size"), h = try j.int("num_attention_heads")
        guard h > 0, d % h == 0 else { throw j.error("hidden_size \(d) is not divisible by num_attention_heads \(h)") }
        let act = j["hidden_act"]?.stringValue ?? "gelu"
        let activation: BlockShape.Activation
        switch act {
        case "gelu": activation = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": activation = .geluNew
        default: throw j.error("hidden_act \(act) is not supported (gelu, gelu_new)")
        }
        var block = BlockShape(normalization: .layerNorm, activation: activation, gatedMLP: false, positions: .rotary)
        block.residual = j["use_parallel_residual"]?.boolValue ?? true ? .parallel : .sequential
        // transformers 5 writes rope_parameters {rope_theta, partial_rotary_factor}; older files
        // (Pythia on the hub) rotary_emb_base and rotary_pct
        let params = j["rope_parameters"]
        let pct = params?["partial_rotary_factor"]?.doubleValue ?? j["rotary_pct"]?.doubleValue ?? 0.25
        guard pct.isFinite, pct > 0, pct <= 1 else { throw j.error("rotary_pct \(pct) must be in (0, 1]") }
        let dHead = d / h
        block.rotaryDim = Int(Double(dHead) * pct)   // int(head_size * rotary_pct), as HF
        if let kind = params?["rope_type"]?.stringValue, kind != "default" {
            throw j.error("rope_type '\(kind)' is not supported (default)")
        }
        if j["attention_bias"]?.boolValue == false { throw j.error("attention_bias false is not supported") }
        var c = ModelConfig(architecture: Self.name, modelName: name, nLayers: try j.int("num_hidden_layers"),
                            dModel: d, nHeads: h, nKVHeads: h, dHead: dHead, dMLP: try j.int("intermediate_size"),
                            dVocab: try j.int("vocab_size"), nCtx: try j.int("max_position_embeddings"),
                            normEps: j.double("layer_norm_eps", default: 1e-5), block: block,
                            tiedEmbeddings: j["tie_word_embeddings"]?.boolValue ?? false, defaultPrependBOS: true)
        c.ropeTheta = params?["rope_theta"]?.doubleValue ?? j["rotary_emb_base"]?.doubleValue ?? 10000
        try c.validate(j.path)
        c.nCtx = min(c.nCtx, (1 << 25) / c.dHead)   // bounds the RoPE tables (as Llama)
        return c
    }

    /// llama.cpp's keys (convert_hf_to_gguf.py's GPTNeoXModel): sizes, `rope.dimension_count`
    /// (the rotary part of each head), `use_parallel_residual`, `attention.layer_norm_epsilon`;
    /// `rope.freq_base` if present, else 10000 (the converter does not write it). The GELU is
    /// HF's exact one (Pythia's hidden_act "gelu"; llama.cpp computes its tanh approximation).
    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        var block = BlockShape(normalization: .layerNorm, activation: .gelu, gatedMLP: false, positions: .rotary)
        let arch = g.architecture ?? "gptneox"
        block.residual = g.metadata["\(arch).use_parallel_residual"]?.bool ?? true ? .parallel : .sequential
        var c = try LlamaLikeConfig.read(g, family: Self.name, name: name, block: block)
        c.normEps = g.metadata["\(arch).attention.layer_norm_epsilon"]?.double ?? 1e-5
        try c.validate(g.location)
        return c
    }

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        if format == .gguf {
            // GPT-2's llama.cpp names (fused attn_qkv already q | k | v, biases), without positions
            var n = GPT2.tensorNames(.gguf, src, cfg)
            n.posEmbed = nil
            return n
        }
        let p = "gpt_neox."
        var n = TensorNames(layout: .outIn, embed: p + "embed_in.weight", finalNorm: p + "final_layer_norm.weight") { l in
            let b = p + "layers.\(l)."
            var t = TensorNames.Layer(attnNorm: b + "input_layernorm.weight", o: b + "attention.dense.weight",
                                      mlpNorm: b + "post_attention_layernorm.weight", up: b + "mlp.dense_h_to_4h.weight",
                                      down: b + "mlp.dense_4h_to_h.weight")
            t.attnNormBias = b + "input_layernorm.bias"; t.mlpNormBias = b + "post_attention_layernorm.bias"
            t.qkv = b + "attention.query_key_value.weight"; t.qkvBias = b + "attention.query_key_value.bias"
            t.oBias = b + "attention.dense.bias"
            t.upBias = b + "mlp.dense_h_to_4h.bias"; t.downBias = b + "mlp.dense_4h_to_h.bias"
            return t
        }
        n.finalNormBias = p + "final_layer_norm.bias"
        n.head = "embed_out.weight"
        n.qkvGroupedByHead = true
        return n
    }
}
