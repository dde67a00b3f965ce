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
        line("positions", c.rotary ? "rotary (theta \(c.ropeTheta)\(c.ropeScaling.map { ", \($0.kind.rawValue) scaling" } ?? ""))" : "learned")
        line("block", blockDescription(c))
        line("tied embeddings", c.tiedEmbeddings)
        line("tokenizer", m.tokenizer.map { "\(type(of: $0)), \($0.vocabSize) tokens, bos \($0.bosId.map(String.init) ?? "none"), eos \($0.eosId.map(String.init) ?? "none")" } ?? "none")
        line("prepend_bos default", c.defaultPrependBOS)
        line("load time", String(format: "%.2f s", loadTime))
        // names and shapes come from the block definition (walked on shapes, nothing computed)
        let points = try m.hookPointShapes(batch: 1, positions: 8)
        Swift.print("\nhook points (\(points.count)), shapes for a 1x8 input (*: computed only when named, TransformerLens's use_* flags):")
        let width = (points.map(\.0.count).max() ?? 0) + 2
        for (n, s) in points {
            let mark = Transformer.isOnDemandHookPoint(n) ? " *" : ""
            Swift.print("  " + n.padding(toLength: width, withPad: " ", startingAt: 0) + "[" + s.map(String.init).joined(separator: ", ") + "]" + mark)
        }
    }

    /// The block's wiring and features, as BlockShape holds them.
    static func blockDescription(_ c: ModelConfig) -> String {
        let b = c.block
        var parts = [b.residual.rawValue]
        switch (b.preNorms, b.postNorms) {
        case (true, false): parts.append("pre norms")
        case (true, true): parts.append("sandwich norms")
        case (false, _): parts.append("post norms only")
        }
        if let q = b.qkNorm { parts.append("q/k norms (\(q.rawValue))") }
        if let r = b.rotaryDim, r != c.dHead { parts.append("partial rotary (\(r) of \(c.dHead))") }
        if let t = b.localRopeTheta { parts.append("local rotary base \(t)") }
        if let s = b.attentionScale { parts.append("attention scale \(s)") }
        if let s = b.attentionSoftcap { parts.append("attention soft-cap \(s)") }
        if let s = b.finalSoftcap { parts.append("final soft-cap \(s)") }
        if let s = b.embeddingScale { parts.append("embedding x \(s)") }
        if !b.slidingWindows.isEmpty {
            let layers = b.slidingWindows.keys.sorted()
            let sizes = Set(b.slidingWindows.values).sorted().map(String.init).joined(separator: "/")
            parts.append("sliding window \(sizes) on \(layers.count == c.nLayers ? "every layer" : "layers \(layers.map(String.init).joined(separator: ","))")")
        }
        return parts.joined(separator: ", ")
    }

    /// `fp info` without a model: the registry's families and the formats each reads.
    static func printFamilies() {
        Swift.print("\nfamilies (fp info MODEL lists a model's hook points):")
        for a in Architectures.all {
            var formats = ["Hugging Face " + a.huggingFaceTypes.joined(separator: "/")]
            if !a.ggufArchitectures.isEmpty { formats.append("GGUF " + a.ggufArchitectures.joined(separator: "/")) }
            if a.readsLlama2C { formats.append("llama2.c") }
            Swift.print("  " + a.name.padding(toLength: 10, withPad: " ", startingAt: 0) + formats.joined(separator: "; "))
        }
        // every cell is what the code does with a 1-layer model of the family (FamilyFeatures)
        Swift.print("\nwhat each family runs (a 1-layer model of it: hook points in every run + named only; yes = runs and")
        Swift.print("equals the plain forward pass; weight processing: yes / skip (as TransformerLens) / NO = refused):")
        do {
            for line in FamilyFeatures.table(try FamilyFeatures.all()) { Swift.print("  " + line) }
        } catch {
            Swift.print("  (cannot build the table: \(error))")
        }
    }
}
