import FPTensor
import Foundation

/// A llama2.c checkpoint (.bin): a header of seven int32 (dim, hidden_dim, n_layers, n_heads,
/// n_kv_heads, vocab_size — negative when the classifier is stored separately — seq_len),
/// then float32 weights in a fixed order. Tensors keep llama2.c's names (`tok_embeddings`,
/// `rms_final`, `wcls`, `layers.{l}.wq`, ...); the architecture file maps them.
public final class Llama2CCheckpoint: WeightSource {
    public struct Header {
        public let path: String
        public let dim, hiddenDim, nLayers, nHeads, nKVHeads, vocabSize, seqLen: Int
        /// The classifier is the embedding (no `wcls`).
        public let sharedClassifier: Bool
    }

    public let location: String
    public let header: Header
    private let file: MappedFile
    private var ranges: [String: (offset: Int, shape: [Int])] = [:]

    /// Reads the header only: the architecture validates the sizes before the layout is computed.
    public static func readHeader(path: String) throws -> Header {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        guard bytes.count >= 28 else { throw TensorError("load_model: '\(path)' is too short for a llama2.c header (\(bytes.count) bytes)") }
        let h = (0..<7).map { Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
        let (dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6])
        guard heads > 0, dim > 0, dim % heads == 0 else {
            throw TensorError("load_model: '\(path)': llama2.c header has dim \(dim) and n_heads \(heads) (dim must be a positive multiple of n_heads)")
        }
        return Header(path: path, dim: dim, hiddenDim: hidden, nLayers: layers, nHeads: heads, nKVHeads: kvHeads,
                      vocabSize: abs(vocabSigned), seqLen: seqLen, sharedClassifier: vocabSigned > 0)
    }

    /// Maps the weights of a checkpoint whose header sizes have been validated.
    public init(path: String, header: Header) throws {
        location = path
        file = try MappedFile(path: path)
        self.header = header
        let bytes = file.bytes
        let (dim, hidden, layers, heads, kvHeads, vocab, seqLen, shared) = (header.dim, header.hiddenDim, header.nLayers,
            header.nHeads, header.nKVHeads, header.vocabSize, header.seqLen, header.sharedClassifier)
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

    /// llama2.c name -> (stored block, layer index or nil).
    private func locate(_ name: String) -> (String, Int?)? {
        if ranges[name] != nil && !Self.perLayer.contains(name) { return (name, nil) }
        let parts = name.split(separator: ".")
        guard parts.count == 3, parts[0] == "layers", let l = Int(parts[1]), l >= 0, l < header.nLayers,
              Self.perLayer.contains(String(parts[2])) else { return nil }
        return (String(parts[2]), l)
    }

    private static let perLayer: Set<String> = ["rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3"]

    public var tensorNames: [String] {
        var out = ["tok_embeddings", "rms_final"] + (header.sharedClassifier ? [] : ["wcls"])
        for l in 0..<header.nLayers {
            for k in ["rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3"] { out.append("layers.\(l).\(k)") }
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
