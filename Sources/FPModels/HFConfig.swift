import FPTensor
import Foundation

/// Reads a Hugging Face config.json into a ModelConfig (model_type gpt2 or llama).
enum HFConfig {
    static func load(folder: String) throws -> ModelConfig {
        let path = (folder as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TensorError("load_model: no config.json in '\(folder)'")
        }
        let j: TinyJSON
        do { j = try TinyJSON.parse(data) } catch { throw TensorError("load_model: '\(path)': \(error)") }
        // Sizes beyond 2^31 are lies (validate() caps every one far below): rejecting them here
        // keeps the arithmetic below (4 * n_embd, n_embd / n_head) from overflowing.
        func int(_ keys: String..., default d: Int? = nil) throws -> Int {
            for k in keys {
                guard let v = j[k]?.intValue else { continue }
                guard v.magnitude <= 1 << 31 else {
                    throw TensorError("load_model: '\(path)': \(k) = \(v) is out of range")
                }
                return v
            }
            if let d { return d }
            throw TensorError("load_model: '\(path)' lacks \(keys.joined(separator: " / "))")
        }
        func double(_ key: String, default d: Double) -> Double { j[key]?.doubleValue ?? d }
        let type = j["model_type"]?.stringValue ?? ""
        let name = URL(fileURLWithPath: folder).lastPathComponent
        switch type {
        case "gpt2":
            let d = try int("n_embd", "hidden_size"), h = try int("n_head", "num_attention_heads")
            guard h > 0, d % h == 0 else { throw TensorError("load_model: '\(path)': n_embd \(d) is not divisible by n_head \(h)") }
            let act = j["activation_function"]?.stringValue ?? "gelu_new"
            guard act == "gelu_new" || act == "gelu_pytorch_tanh" else {
                throw TensorError("load_model: '\(path)': activation_function \(act) is not supported (gelu_new)")
            }
            var c = ModelConfig(family: .gpt2, modelName: name, nLayers: try int("n_layer", "num_hidden_layers"),
                                dModel: d, nHeads: h, nKVHeads: h, dHead: d / h,
                                dMLP: try int("n_inner", default: 4 * d), dVocab: try int("vocab_size"),
                                nCtx: try int("n_positions", "max_position_embeddings"),
                                normEps: double("layer_norm_epsilon", default: 1e-5), tiedEmbeddings: true,
                                defaultPrependBOS: true)
            if j["n_inner"]?.isNull == true { c.dMLP = 4 * d }
            try c.validate(path)
            return c
        case "llama":
            let d = try int("hidden_size"), h = try int("num_attention_heads")
            guard h > 0, d % h == 0 || j["head_dim"] != nil else { throw TensorError("load_model: '\(path)': hidden_size \(d) is not divisible by num_attention_heads \(h)") }
            var c = ModelConfig(family: .llama, modelName: name, nLayers: try int("num_hidden_layers"),
                                dModel: d, nHeads: h, nKVHeads: try int("num_key_value_heads", default: h),
                                dHead: try int("head_dim", default: d / h), dMLP: try int("intermediate_size"),
                                dVocab: try int("vocab_size"), nCtx: try int("max_position_embeddings"),
                                normEps: double("rms_norm_eps", default: 1e-6),
                                tiedEmbeddings: j["tie_word_embeddings"]?.boolValue ?? false,
                                defaultPrependBOS: true)
            // transformers 5 writes "rope_parameters" {rope_theta, rope_type, ...}; older files
            // have rope_theta and rope_scaling at the top level.
            let params = j["rope_parameters"]
            c.ropeTheta = j["rope_theta"]?.doubleValue ?? params?["rope_theta"]?.doubleValue ?? 10000
            let scaling = j["rope_scaling"].flatMap { $0.isNull ? nil : $0 }
                ?? params.flatMap { ($0["rope_type"]?.stringValue ?? "default") == "default" ? nil : $0 }
            if let rs = scaling {
                let kind = rs["rope_type"]?.stringValue ?? rs["type"]?.stringValue ?? ""
                guard kind == "llama3" else {
                    throw TensorError("load_model: '\(path)': rope_scaling type '\(kind)' is not supported (llama3)")
                }
                guard let f = rs["factor"]?.doubleValue, let lo = rs["low_freq_factor"]?.doubleValue,
                      let hi = rs["high_freq_factor"]?.doubleValue, let orig = rs["original_max_position_embeddings"]?.doubleValue,
                      f > 0, hi > lo, orig > 0 else {
                    throw TensorError("load_model: '\(path)': llama3 rope_scaling needs factor, low_freq_factor < high_freq_factor and original_max_position_embeddings")
                }
                c.ropeScaling = .init(factor: f, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: orig)
            }
            if let act = j["hidden_act"]?.stringValue, act != "silu" {
                throw TensorError("load_model: '\(path)': hidden_act \(act) is not supported (silu)")
            }
            try c.validate(path)
            // The RoPE tables hold n_ctx x head_dim floats, and nothing else in the folder bounds
            // max_position_embeddings (GPT-2's position embeddings must be in the weights): keep
            // them within 2 x 64 MB (262144 positions at head_dim 128), as the GGUF loader caps
            // n_ctx at 65536.
            c.nCtx = min(c.nCtx, (1 << 25) / c.dHead)
            return c
        default:
            throw TensorError("load_model: '\(path)': model_type '\(type)' is not supported (gpt2, llama)")
        }
    }
}
