import FPTensor
import Foundation

/// Gemma 2 (Hugging Face `gemma2`): embeddings scaled by sqrt(d_model), RMS norms that multiply
/// by (1 + w) (the 1 is folded into the weights at load, as TransformerLens shows them), norms
/// before and after attention and MLP, GeGLU with tanh GELU, attention scale
/// query_pre_attn_scalar^-0.5, soft-capped attention logits and final logits, sliding-window
/// attention on the layers `layer_types` names (by default every other layer from layer 0),
/// tied unembedding.
public enum Gemma2: Architecture {
    public static let name = "gemma2"
    public static let huggingFaceTypes = ["gemma2"]

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        let d = try j.int("hidden_size"), h = try j.int("num_attention_heads"), L = try j.int("num_hidden_layers")
        let act = j["hidden_activation"]?.stringValue ?? j["hidden_act"]?.stringValue ?? "gelu_pytorch_tanh"
        guard act == "gelu_pytorch_tanh" else { throw j.error("hidden_activation \(act) is not supported (gelu_pytorch_tanh)") }
        var block = BlockShape(normalization: .rmsNorm, activation: .geluNew, gatedMLP: true, positions: .rotary)
        block.postNorms = true
        block.embeddingScale = Double(Float(Double(d).squareRoot()))   // HF casts it to float32
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

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        var n = TensorNames(layout: .outIn, embed: "model.embed_tokens.weight", finalNorm: "model.norm.weight") { l in
            let p = "model.layers.\(l)."
            var t = TensorNames.Layer(attnNorm: p + "input_layernorm.weight", o: p + "self_attn.o_proj.weight",
                                      mlpNorm: p + "pre_feedforward_layernorm.weight", up: p + "mlp.up_proj.weight",
                                      down: p + "mlp.down_proj.weight")
            t.q = p + "self_attn.q_proj.weight"; t.k = p + "self_attn.k_proj.weight"; t.v = p + "self_attn.v_proj.weight"
            t.gate = p + "mlp.gate_proj.weight"
            t.attnPostNorm = p + "post_attention_layernorm.weight"; t.mlpPostNorm = p + "post_feedforward_layernorm.weight"
            return t
        }
        n.head = "lm_head.weight"
        n.normWeightOffset = 1
        return n
    }
}
