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
        try LlamaLikeConfig.finish(try LlamaLikeConfig.read(j, family: Self.name, name: name, block: block), j.path)
    }

    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        // (llama.cpp converts Mistral as llama; a sliding window in the metadata is honoured)
        let c = try LlamaLikeConfig.read(g, family: Self.name, name: name, block: block)
        try c.validate(g.location)
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
