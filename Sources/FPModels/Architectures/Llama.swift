import FPTensor
import Foundation

/// Llama (Hugging Face `llama`, GGUF `llama`, llama2.c checkpoints): RMSNorm, rotary positions
/// (with Llama 3 frequency scaling), SiLU-gated MLP, no biases, grouped-query attention.
public enum Llama: Architecture {
    public static let name = "llama"
    public static let huggingFaceTypes = ["llama"]
    public static let ggufArchitectures = ["llama"]
    public static let readsLlama2C = true

    static let block = BlockShape(normalization: .rmsNorm, activation: .silu, gatedMLP: true, positions: .rotary)

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        let d = try j.int("hidden_size"), h = try j.int("num_attention_heads")
        guard h > 0, d % h == 0 || j["head_dim"] != nil else { throw j.error("hidden_size \(d) is not divisible by num_attention_heads \(h)") }
        var c = ModelConfig(architecture: Self.name, modelName: name, nLayers: try j.int("num_hidden_layers"),
                            dModel: d, nHeads: h, nKVHeads: try j.int("num_key_value_heads", default: h),
                            dHead: try j.int("head_dim", default: d / h), dMLP: try j.int("intermediate_size"),
                            dVocab: try j.int("vocab_size"), nCtx: try j.int("max_position_embeddings"),
                            normEps: j.double("rms_norm_eps", default: 1e-6), block: block,
                            tiedEmbeddings: j["tie_word_embeddings"]?.boolValue ?? false, defaultPrependBOS: true)
        // transformers 5 writes "rope_parameters" {rope_theta, rope_type, ...}; older files
        // have rope_theta and rope_scaling at the top level.
        let params = j["rope_parameters"]
        c.ropeTheta = j["rope_theta"]?.doubleValue ?? params?["rope_theta"]?.doubleValue ?? 10000
        let scaling = j["rope_scaling"].flatMap { $0.isNull ? nil : $0 }
            ?? params.flatMap { ($0["rope_type"]?.stringValue ?? "default") == "default" ? nil : $0 }
        if let rs = scaling {
            let kind = rs["rope_type"]?.stringValue ?? rs["type"]?.stringValue ?? ""
            guard kind == "llama3" else { throw j.error("rope_scaling type '\(kind)' is not supported (llama3)") }
            guard let f = rs["factor"]?.doubleValue, let lo = rs["low_freq_factor"]?.doubleValue,
                  let hi = rs["high_freq_factor"]?.doubleValue, let orig = rs["original_max_position_embeddings"]?.doubleValue,
                  f > 0, hi > lo, orig > 0 else {
                throw j.error("llama3 rope_scaling needs factor, low_freq_factor < high_freq_factor and original_max_position_embeddings")
            }
            c.ropeScaling = .init(factor: f, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: orig)
        }
        if let act = j["hidden_act"]?.stringValue, act != "silu" {
            throw j.error("hidden_act \(act) is not supported (silu)")
        }
        try c.validate(j.path)
        // The RoPE tables hold n_ctx x head_dim floats, and nothing else in the folder bounds
        // max_position_embeddings: keep them within 2 x 64 MB (262144 positions at head_dim 128),
        // as the GGUF reader caps n_ctx at 65536.
        c.nCtx = min(c.nCtx, (1 << 25) / c.dHead)
        return c
    }

    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        let arch = g.architecture ?? Self.name, path = g.location
        func int(_ k: String) throws -> Int {
            guard let v = g.metadata["\(arch).\(k)"]?.int else { throw TensorError("load_model: '\(path)': GGUF metadata lacks \(arch).\(k)") }
            return v
        }
        guard let embShape = g.shape(of: "token_embd.weight"), embShape.count == 2 else {
            throw TensorError("load_model: '\(path)': missing tensor 'token_embd.weight'")
        }
        let d = try int("embedding_length"), h = try int("attention.head_count")
        guard h > 0 else { throw TensorError("load_model: '\(path)': head_count is 0") }
        var c = ModelConfig(architecture: Self.name, modelName: name, nLayers: try int("block_count"), dModel: d, nHeads: h,
                            nKVHeads: (try? int("attention.head_count_kv")) ?? h, dHead: d / h,
                            dMLP: try int("feed_forward_length"), dVocab: embShape[0], nCtx: try int("context_length"),
                            normEps: g.metadata["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5, block: block,
                            tiedEmbeddings: g.shape(of: "output.weight") == nil, defaultPrependBOS: false)
        c.ropeTheta = g.metadata["\(arch).rope.freq_base"]?.double ?? 10000
        c.nCtx = min(c.nCtx, 1 << 16)
        try c.validate(path)
        return c
    }

    public static func config(llama2C h: Llama2CCheckpoint.Header, name: String) throws -> ModelConfig {
        let c = ModelConfig(architecture: Self.name, modelName: name, nLayers: h.nLayers, dModel: h.dim, nHeads: h.nHeads,
                            nKVHeads: h.nKVHeads, dHead: h.dim / h.nHeads, dMLP: h.hiddenDim, dVocab: h.vocabSize,
                            nCtx: h.seqLen, normEps: 1e-5, block: block, tiedEmbeddings: h.sharedClassifier,
                            defaultPrependBOS: true)
        try c.validate(h.path)
        return c
    }

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        switch format {
        case .huggingFace:
            var n = TensorNames(layout: .outIn, embed: "model.embed_tokens.weight", finalNorm: "model.norm.weight") { l in
                let p = "model.layers.\(l)."
                var t = TensorNames.Layer(attnNorm: p + "input_layernorm.weight", o: p + "self_attn.o_proj.weight",
                                          mlpNorm: p + "post_attention_layernorm.weight", up: p + "mlp.up_proj.weight",
                                          down: p + "mlp.down_proj.weight")
                t.q = p + "self_attn.q_proj.weight"; t.k = p + "self_attn.k_proj.weight"; t.v = p + "self_attn.v_proj.weight"
                t.gate = p + "mlp.gate_proj.weight"
                return t
            }
            n.head = "lm_head.weight"
            return n
        case .gguf:
            var n = TensorNames(layout: .outIn, embed: "token_embd.weight", finalNorm: "output_norm.weight") { l in
                let p = "blk.\(l)."
                var t = TensorNames.Layer(attnNorm: p + "attn_norm.weight", o: p + "attn_output.weight",
                                          mlpNorm: p + "ffn_norm.weight", up: p + "ffn_up.weight", down: p + "ffn_down.weight")
                t.q = p + "attn_q.weight"; t.k = p + "attn_k.weight"; t.v = p + "attn_v.weight"; t.gate = p + "ffn_gate.weight"
                return t
            }
            n.head = "output.weight"
            n.interleavedRotaryRows = true
            return n
        case .llama2C:
            var n = TensorNames(layout: .outIn, embed: "tok_embeddings", finalNorm: "rms_final") { l in
                let p = "layers.\(l)."
                var t = TensorNames.Layer(attnNorm: p + "rms_att", o: p + "wo", mlpNorm: p + "rms_ffn", up: p + "w3", down: p + "w2")
                t.q = p + "wq"; t.k = p + "wk"; t.v = p + "wv"; t.gate = p + "w1"
                return t
            }
            n.head = "wcls"
            n.interleavedRotaryRows = true
            return n
        }
    }
}
