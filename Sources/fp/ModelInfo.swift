import FPModels
import FPTensor
import Foundation

/// `fp info MODEL`: the config, parameter count, BOS default and every hook point with the
/// shape it has for a 1x8 input.
enum ModelInfo {
    static func print(_ name: String) throws {
        let t0 = Date()
        let m = try ModelLoader.load(name)
        let loadTime = Date().timeIntervalSince(t0)
        let c = m.cfg
        func line(_ k: String, _ v: Any) { Swift.print(k.padding(toLength: 22, withPad: " ", startingAt: 0) + "\(v)") }
        line("model", c.modelName)
        line("source", m.source)
        line("family", c.architecture)
        line("parameters", m.weights.parameterCount)
        line("n_layers", c.nLayers)
        line("d_model", c.dModel)
        line("n_heads", c.nHeads)
        line("n_key_value_heads", c.nKVHeads)
        line("d_head", c.dHead)
        line("d_mlp", c.dMLP)
        line("d_vocab", c.dVocab)
        line("n_ctx", c.nCtx)
        line("normalization", c.normalization.rawValue + " (eps \(c.normEps))")
        line("activation", c.activation.rawValue + (c.gatedMLP ? " (gated MLP)" : ""))
        line("positions", c.rotary ? "rotary (theta \(c.ropeTheta)\(c.ropeScaling != nil ? ", llama3 scaling" : "")\(c.rotaryDim != c.dHead ? ", first \(c.rotaryDim) of \(c.dHead) dims" : ""))" : "learned")
        line("block", c.block.features.joined(separator: ", "))
        line("tied embeddings", c.tiedEmbeddings)
        line("tokenizer", m.tokenizer.map { "\(type(of: $0)), \($0.vocabSize) tokens, bos \($0.bosId.map(String.init) ?? "none"), eos \($0.eosId.map(String.init) ?? "none")" } ?? "none")
        line("prepend_bos default", c.defaultPrependBOS)
        line("load time", String(format: "%.2f s", loadTime))
        // names and shapes come from the block definition (walked on shapes, nothing computed)
        let points = try m.hookPointShapes(batch: 1, positions: 8)
        Swift.print("\nhook points (\(points.count)), shapes for a 1x8 input:")
        for (n, s) in points {
            Swift.print("  " + n.padding(toLength: 34, withPad: " ", startingAt: 0) + "[" + s.map(String.init).joined(separator: ", ") + "]")
        }
    }
}
