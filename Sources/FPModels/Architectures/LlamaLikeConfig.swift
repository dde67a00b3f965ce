import FPTensor
import Foundation

/// The config keys the Llama-derived families share (Llama, Qwen 2/3, Mistral, Phi-3, OLMo 2,
/// Gemma 3), read once: sizes, RoPE base and scaling, sliding windows, from a Hugging Face
/// config.json or GGUF metadata. Each family file passes its block shape and adds its own keys.
enum LlamaLikeConfig {
    /// A config.json with Llama's key names. `activations` are the hidden_act values the family
    /// accepts. The result still needs `finish` (after the family sets its own fields).
    static func read(_ j: HFConfigFile, family: String, name: String, block: BlockShape,
                     activations: [String] = ["silu"], activationKey: String = "hidden_act") throws -> ModelConfig {
        let d = try j.int("hidden_size"), h = try j.int("num_attention_heads")
        let headDim = j["head_dim"].flatMap { $0.isNull ? nil : $0 }
        guard h > 0, d % h == 0 || headDim != nil else { throw j.error("hidden_size \(d) is not divisible by num_attention_heads \(h)") }
        var c = ModelConfig(architecture: family, modelName: name, nLayers: try j.int("num_hidden_layers"),
                            dModel: d, nHeads: h, nKVHeads: try j.int("num_key_value_heads", default: h),
                            dHead: headDim == nil ? d / h : try j.int("head_dim"), dMLP: try j.int("intermediate_size"),
                            dVocab: try j.int("vocab_size"), nCtx: try j.int("max_position_embeddings"),
                            normEps: j.double("rms_norm_eps", default: 1e-6), block: block,
                            tiedEmbeddings: j["tie_word_embeddings"]?.boolValue ?? false, defaultPrependBOS: true)
        if let act = j[activationKey]?.stringValue, !activations.contains(act) {
            throw j.error("\(activationKey) \(act) is not supported (\(activations.joined(separator: ", ")))")
        }
        // transformers 5 writes "rope_parameters" {rope_theta, rope_type, ...}; older files
        // have rope_theta and rope_scaling at the top level.
        let params = j["rope_parameters"].flatMap { $0.isNull ? nil : $0 }
        c.ropeTheta = j["rope_theta"]?.doubleValue ?? params?["rope_theta"]?.doubleValue ?? 10000
        let scaling = j["rope_scaling"].flatMap { $0.isNull ? nil : $0 }
            ?? params.flatMap { ($0["rope_type"]?.stringValue ?? "default") == "default" ? nil : $0 }
        if let rs = scaling { c.ropeScaling = try ropeScaling(rs, j, maxPositions: c.nCtx) }
        if let factor = j["partial_rotary_factor"]?.doubleValue ?? params?["partial_rotary_factor"]?.doubleValue, factor != 1 {
            guard factor > 0, factor < 1 else { throw j.error("partial_rotary_factor \(factor) is not in (0, 1]") }
            c.block.rotaryDim = Int(Double(c.dHead) * factor)   // HF: int(head_dim * factor)
        }
        return c
    }

    /// A rope_scaling (or non-default rope_parameters) entry: the types Rope.swift implements,
    /// with Hugging Face's defaults (modeling_rope_utils.py); any other type is refused.
    static func ropeScaling(_ rs: TinyJSON, _ j: HFConfigFile, maxPositions: Int) throws -> ModelConfig.RopeScaling? {
        let type = rs["rope_type"]?.stringValue ?? rs["type"]?.stringValue ?? ""
        if type == "default" { return nil }
        guard let kind = ModelConfig.RopeScaling.Kind(rawValue: type) else {
            throw j.error("rope_scaling type '\(type)' is not supported (llama3, linear, dynamic, yarn, longrope)")
        }
        func num(_ k: String) -> Double? { rs[k].flatMap { $0.isNull ? nil : $0.doubleValue } }
        let orig = num("original_max_position_embeddings") ?? j["original_max_position_embeddings"]?.doubleValue
        // yarn and longrope default the factor to max_position_embeddings / original
        let factor = num("factor") ?? orig.map { Double(maxPositions) / $0 }
        guard let f = factor, f.isFinite, f > 0 else { throw j.error("\(type) rope_scaling needs a positive factor") }
        var s = ModelConfig.RopeScaling(kind: kind, factor: f, originalMaxPositions: orig ?? Double(maxPositions))
        switch kind {
        case .linear, .dynamic: break
        case .llama3:
            guard let lo = num("low_freq_factor"), let hi = num("high_freq_factor"), let o = orig, hi > lo, o > 0 else {
                throw j.error("llama3 rope_scaling needs factor, low_freq_factor < high_freq_factor and original_max_position_embeddings")
            }
            s.lowFreqFactor = lo; s.highFreqFactor = hi
        case .yarn:
            guard let o = orig, o > 0 else { throw j.error("yarn rope_scaling needs original_max_position_embeddings") }
            s.betaFast = num("beta_fast") ?? 32; s.betaSlow = num("beta_slow") ?? 1
            s.truncate = rs["truncate"]?.boolValue ?? true
            s.attentionFactor = num("attention_factor"); s.mscale = num("mscale"); s.mscaleAllDim = num("mscale_all_dim")
        case .longrope:
            guard let o = orig, o > 0, let short = rs["short_factor"]?.arrayValue?.compactMap(\.doubleValue),
                  let long = rs["long_factor"]?.arrayValue?.compactMap(\.doubleValue) else {
                throw j.error("longrope rope_scaling needs short_factor, long_factor and original_max_position_embeddings")
            }
            s.shortFactor = short; s.longFactor = long
            s.attentionFactor = num("attention_factor")
        }
        return s
    }

    /// HF's sliding windows: `layer_types` ("sliding_attention" layers use `sliding_window`)
    /// where the config has it, else `sliding_window` on every layer (Mistral, Phi-3), or, where
    /// the family reads `use_sliding_window` (Qwen 2/3), on layers >= max_window_layers.
    static func slidingWindows(_ j: HFConfigFile, nLayers: Int, useFlag: Bool = false) throws -> [Int: Int] {
        guard let w = j["sliding_window"]?.intValue else { return [:] }
        guard w > 0 else { throw j.error("sliding_window \(w) must be positive") }
        if let types = j["layer_types"]?.arrayValue {
            guard types.count == nLayers else { throw j.error("layer_types has \(types.count) entries for \(nLayers) layers") }
            var out: [Int: Int] = [:]
            for (l, t) in types.enumerated() {
                switch t.stringValue {
                case "sliding_attention": out[l] = w
                case "full_attention": break
                default: throw j.error("layer_types entry \(l) '\(t.stringValue ?? t.typeName)' is not supported (sliding_attention, full_attention)")
                }
            }
            return out
        }
        if useFlag {
            guard j["use_sliding_window"]?.boolValue ?? false else { return [:] }
            let first = try j.int("max_window_layers", default: 0)
            return Dictionary(uniqueKeysWithValues: (max(0, first)..<max(first, nLayers)).map { ($0, w) })
        }
        return Dictionary(uniqueKeysWithValues: (0..<nLayers).map { ($0, w) })
    }

    /// GGUF metadata under the file's architecture prefix, llama.cpp's key names.
    static func read(_ g: GGUFFile, family: String, name: String, block: BlockShape) throws -> ModelConfig {
        let arch = g.architecture ?? family, path = g.location
        func int(_ k: String) throws -> Int {
            guard let v = g.metadata["\(arch).\(k)"]?.int else { throw TensorError("load_model: '\(path)': GGUF metadata lacks \(arch).\(k)") }
            guard v >= 0, v <= 1 << 31 else { throw TensorError("load_model: '\(path)': GGUF \(arch).\(k) = \(v) is out of range") }
            return v
        }
        guard let embShape = g.shape(of: "token_embd.weight"), embShape.count == 2 else {
            throw TensorError("load_model: '\(path)': missing tensor 'token_embd.weight'")
        }
        let d = try int("embedding_length"), h = try int("attention.head_count")
        guard h > 0 else { throw TensorError("load_model: '\(path)': head_count is 0") }
        var c = ModelConfig(architecture: family, modelName: name, nLayers: try int("block_count"), dModel: d, nHeads: h,
                            nKVHeads: (try? int("attention.head_count_kv")) ?? h,
                            dHead: (try? int("attention.key_length")) ?? d / h,
                            dMLP: try int("feed_forward_length"), dVocab: embShape[0], nCtx: try int("context_length"),
                            normEps: g.metadata["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5, block: block,
                            tiedEmbeddings: g.shape(of: "output.weight") == nil, defaultPrependBOS: false)
        c.ropeTheta = g.metadata["\(arch).rope.freq_base"]?.double ?? 10000
        if let rot = try? int("rope.dimension_count"), rot != c.dHead { c.block.rotaryDim = rot }
        if let w = try? int("attention.sliding_window"), w > 0 {
            c.block.slidingWindows = Dictionary(uniqueKeysWithValues: (0..<c.nLayers).map { ($0, w) })
        }
        c.nCtx = min(c.nCtx, 1 << 16)
        return c
    }

    /// Validates, then bounds n_ctx: the RoPE tables hold n_ctx x head_dim floats and nothing
    /// else in a folder bounds max_position_embeddings, so keep them within 2 x 64 MB (262144
    /// positions at head_dim 128), as the GGUF reader caps n_ctx at 65536.
    static func finish(_ c: ModelConfig, _ path: String) throws -> ModelConfig {
        var c = c
        try c.validate(path)
        c.nCtx = min(c.nCtx, (1 << 25) / c.dHead)
        return c
    }
}
