import FPTensor

/// GPT-2 (Hugging Face `gpt2`): LayerNorm, learned positions, gelu_new MLP, biases everywhere,
/// a fused Conv1D q|k|v projection stored [in, out], tied unembedding.
public enum GPT2: Architecture {
    public static let name = "gpt2"
    public static let huggingFaceTypes = ["gpt2"]
    public static let ggufArchitectures = ["gpt2"]
    /// fetch-models.sh puts GPT-2's ranks here, for folders without tokenizer files.
    public static let fallbackTokenizer: String? = "gpt2.tiktoken"

    static let block = BlockShape(normalization: .layerNorm, activation: .geluNew, gatedMLP: false, positions: .learned)

    public static func config(huggingFace j: HFConfigFile, name: String) throws -> ModelConfig {
        let d = try j.int("n_embd", "hidden_size"), h = try j.int("n_head", "num_attention_heads")
        guard h > 0, d % h == 0 else { throw j.error("n_embd \(d) is not divisible by n_head \(h)") }
        let act = j["activation_function"]?.stringValue ?? "gelu_new"
        guard act == "gelu_new" || act == "gelu_pytorch_tanh" else {
            throw j.error("activation_function \(act) is not supported (gelu_new)")
        }
        var c = ModelConfig(architecture: Self.name, modelName: name, nLayers: try j.int("n_layer", "num_hidden_layers"),
                            dModel: d, nHeads: h, nKVHeads: h, dHead: d / h,
                            dMLP: try j.int("n_inner", default: 4 * d), dVocab: try j.int("vocab_size"),
                            nCtx: try j.int("n_positions", "max_position_embeddings"),
                            normEps: j.double("layer_norm_epsilon", default: 1e-5), block: block,
                            tiedEmbeddings: true, defaultPrependBOS: true)
        if j["n_inner"]?.isNull == true { c.dMLP = 4 * d }
        try c.validate(j.path)
        return c
    }

    /// llama.cpp's GPT-2 files: gpt2.* sizes, weights [out, in] (the converter transposes the
    /// Conv1D weights), `output.weight` a copy of the embedding.
    public static func config(gguf g: GGUFFile, name: String) throws -> ModelConfig {
        let path = g.location
        func int(_ k: String) throws -> Int {
            guard let v = g.metadata["gpt2.\(k)"]?.int else { throw TensorError("load_model: '\(path)': GGUF metadata lacks gpt2.\(k)") }
            return v
        }
        guard let emb = g.shape(of: "token_embd.weight"), emb.count == 2 else {
            throw TensorError("load_model: '\(path)': missing tensor 'token_embd.weight'")
        }
        let d = try int("embedding_length"), h = try int("attention.head_count")
        guard h > 0, d % h == 0 else { throw TensorError("load_model: '\(path)': embedding_length \(d) is not divisible by head_count \(h)") }
        let c = ModelConfig(architecture: Self.name, modelName: name, nLayers: try int("block_count"), dModel: d, nHeads: h,
                            nKVHeads: h, dHead: d / h, dMLP: try int("feed_forward_length"), dVocab: emb[0],
                            nCtx: min(try int("context_length"), 1 << 16),
                            normEps: g.metadata["gpt2.attention.layer_norm_epsilon"]?.double ?? 1e-5, block: block,
                            tiedEmbeddings: g.shape(of: "output.weight") == nil, defaultPrependBOS: true)
        try c.validate(path)
        return c
    }

    public static func tensorNames(_ format: WeightFormat, _ src: WeightSource, _ cfg: ModelConfig) -> TensorNames {
        if format == .gguf {
            var n = TensorNames(layout: .outIn, embed: "token_embd.weight", finalNorm: "output_norm.weight") { l in
                let b = "blk.\(l)."
                var t = TensorNames.Layer(attnNorm: b + "attn_norm.weight", o: b + "attn_output.weight", mlpNorm: b + "ffn_norm.weight",
                                          up: b + "ffn_up.weight", down: b + "ffn_down.weight")
                t.attnNormBias = b + "attn_norm.bias"; t.mlpNormBias = b + "ffn_norm.bias"
                t.qkv = b + "attn_qkv.weight"; t.qkvBias = b + "attn_qkv.bias"
                t.oBias = b + "attn_output.bias"; t.upBias = b + "ffn_up.bias"; t.downBias = b + "ffn_down.bias"
                return t
            }
            n.posEmbed = "position_embd.weight"
            n.finalNormBias = "output_norm.bias"
            n.head = "output.weight"
            return n
        }
        // transformers saves GPT2LMHeadModel with a "transformer." prefix, GPT2Model without
        let p = src.shape(of: "transformer.wte.weight") != nil ? "transformer." : ""
        var n = TensorNames(layout: .inOut, embed: p + "wte.weight", finalNorm: p + "ln_f.weight") { l in
            let b = p + "h.\(l)."
            var t = TensorNames.Layer(attnNorm: b + "ln_1.weight", o: b + "attn.c_proj.weight", mlpNorm: b + "ln_2.weight",
                                      up: b + "mlp.c_fc.weight", down: b + "mlp.c_proj.weight")
            t.attnNormBias = b + "ln_1.bias"; t.mlpNormBias = b + "ln_2.bias"
            t.qkv = b + "attn.c_attn.weight"; t.qkvBias = b + "attn.c_attn.bias"
            t.oBias = b + "attn.c_proj.bias"; t.upBias = b + "mlp.c_fc.bias"; t.downBias = b + "mlp.c_proj.bias"
            return t
        }
        n.posEmbed = p + "wpe.weight"
        n.finalNormBias = p + "ln_f.bias"
        return n
    }

    /// TransformerLens's convention, so that ported notebooks match.
    public static func defaultPrependBOS(tokenizer: Tokenizer?) -> Bool { true }
}
