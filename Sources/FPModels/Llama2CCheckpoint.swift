import FPTensor
import Foundation

/// A llama2.c checkpoint (.bin): a header of seven int32 (dim, hidden_dim, n_layers, n_heads,
/// n_kv_heads, vocab_size — negative when the classifier is stored separately — seq_len),
/// then float32 weights in a fixed order. Exposed under Hugging Face Llama names.
public final class Llama2CCheckpoint: WeightSource {
    public let location: String
    public let config: ModelConfig
    private let file: MappedFile
    private var ranges: [String: (offset: Int, shape: [Int])] = [:]

    public init(path: String) throws {
        location = path
        file = try MappedFile(path: path)
        let bytes = file.bytes
        guard bytes.count >= 28 else { throw TensorError("load_model: '\(path)' is too short for a llama2.c header (\(bytes.count) bytes)") }
        let h = (0..<7).map { Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
        let (dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6])
        let shared = vocabSigned > 0
        let vocab = abs(vocabSigned)
        guard heads > 0, dim > 0, dim % heads == 0 else {
            throw TensorError("load_model: '\(path)': llama2.c header has dim \(dim) and n_heads \(heads) (dim must be a positive multiple of n_heads)")
        }
        var c = ModelConfig(family: .llama, modelName: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
                            nLayers: layers, dModel: dim, nHeads: heads, nKVHeads: kvHeads, dHead: dim / heads,
                            dMLP: hidden, dVocab: vocab, nCtx: seqLen, normEps: 1e-5, tiedEmbeddings: shared,
                            defaultPrependBOS: true)
        c.ropeTheta = 10000
        try c.validate(path)
        config = c
        // Layout of the weights after the header, in llama2.c's order.
        let kvDim = kvHeads * (dim / heads), L = layers
        var offset = 28
        func add(_ name: String, _ shape: [Int]) throws {
            let n = shape.reduce(1, *)
            let (end, o) = offset.addingReportingOverflow(n * 4)
            guard !o, end <= bytes.count else {
                throw TensorError("load_model: '\(path)' is truncated: tensor '\(name)' needs bytes up to \(end), the file has \(bytes.count)")
            }
            ranges[name] = (offset, shape)
            offset = end
        }
        try add("tok_embeddings", [vocab, dim])
        try add("rms_att", [L, dim])
        try add("wq", [L, dim, dim])
        try add("wk", [L, kvDim, dim])
        try add("wv", [L, kvDim, dim])
        try add("wo", [L, dim, dim])
        try add("rms_ffn", [L, dim])
        try add("w1", [L, hidden, dim])
        try add("w2", [L, dim, hidden])
        try add("w3", [L, hidden, dim])
        try add("rms_final", [dim])
        try add("freq_cis", [seqLen, dim / heads])   // real and imaginary halves, unused (fp computes RoPE)
        if !shared { try add("wcls", [vocab, dim]) }
    }

    /// Hugging Face Llama name -> (stored block, layer index or nil).
    private func locate(_ name: String) -> (String, Int?)? {
        switch name {
        case "model.embed_tokens.weight": return ("tok_embeddings", nil)
        case "model.norm.weight": return ("rms_final", nil)
        case "lm_head.weight": return config.tiedEmbeddings ? nil : ("wcls", nil)
        default: break
        }
        let parts = name.split(separator: ".")
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let l = Int(parts[2]), l >= 0, l < config.nLayers else { return nil }
        let rest = parts[3...].joined(separator: ".")
        let map = ["input_layernorm.weight": "rms_att", "post_attention_layernorm.weight": "rms_ffn",
                   "self_attn.q_proj.weight": "wq", "self_attn.k_proj.weight": "wk", "self_attn.v_proj.weight": "wv",
                   "self_attn.o_proj.weight": "wo", "mlp.gate_proj.weight": "w1", "mlp.down_proj.weight": "w2",
                   "mlp.up_proj.weight": "w3"]
        return map[rest].map { ($0, l) }
    }

    public var tensorNames: [String] {
        var out = ["model.embed_tokens.weight", "model.norm.weight"] + (config.tiedEmbeddings ? [] : ["lm_head.weight"])
        for l in 0..<config.nLayers {
            for k in ["input_layernorm", "post_attention_layernorm"] { out.append("model.layers.\(l).\(k).weight") }
            for k in ["q_proj", "k_proj", "v_proj", "o_proj"] { out.append("model.layers.\(l).self_attn.\(k).weight") }
            for k in ["gate_proj", "up_proj", "down_proj"] { out.append("model.layers.\(l).mlp.\(k).weight") }
        }
        return out
    }

    public func shape(of name: String) -> [Int]? {
        guard let (block, layer) = locate(name), let r = ranges[block] else { return nil }
        return layer == nil ? r.shape : Array(r.shape.dropFirst())
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard let (block, layer) = locate(name), let r = ranges[block], let shape = shape(of: name) else {
            throw TensorError("\(location): missing tensor '\(name)'")
        }
        let n = shape.reduce(1, *)
        let start = r.offset + (layer ?? 0) * n * 4
        guard let base = file.bytes.baseAddress, start + n * 4 <= file.count else {
            throw TensorError("\(location): tensor '\(name)' lies outside the file")
        }
        let t = try Tensor.empty(shape)
        memcpy(try t.floatPointer(), base + start, n * 4)
        return t
    }
}
