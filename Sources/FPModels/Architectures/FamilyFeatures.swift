import FPTensor
import Foundation

/// What fp does with each registered family (`fp info`'s table): the formats it reads, its hook
/// points, and whether the sweep engine, autograd, padded batches, the KV cache (generate) and
/// each weight-processing flag work. No cell is written by hand: each is what the code does with
/// a 1-layer model of the family, read by the family's own config reader from
/// `exampleConfigKeys` and given small deterministic weights. The sweep engine, autograd, padded
/// batches and generate are run and compared with the plain forward pass (within 1e-4); the
/// processing flags are passed to WeightProcessing, which applies, skips or refuses them.
public struct FamilyFeatures {
    public enum Outcome: String { case applied, skipped, refused }

    /// TransformerLens's `from_pretrained` flags, in its order.
    public static let processingFlags = ["fold_ln", "center_writing_weights", "center_unembed", "fold_value_biases"]

    public let family: String
    /// config.json model_type values and GGUF architectures it reads, and whether llama2.c.
    public let huggingFace: [String], gguf: [String], llama2C: Bool
    /// Hook points a 1-layer model has in every run (hook_result included).
    public let hookPoints: Int
    /// Layer 0's points computed only when a run names them, without "blocks.0.".
    public let onDemand: [String]
    /// nil: works; else why not (the error).
    public let sweepEngine: String?
    public let autograd: String?
    public let paddedBatches: String?
    public let generate: String?
    /// One outcome per `processingFlags` entry.
    public let processing: [Outcome]

    /// Every family in the registry, in its order.
    public static func all() throws -> [FamilyFeatures] { try Architectures.all.map { try of($0) } }

    public static func of(_ a: any Architecture.Type) throws -> FamilyFeatures {
        let m = try exampleModel(a)
        let names = m.hookPointNames
        let onDemand = names.filter(Transformer.isOnDemandHookPoint).map { String($0.dropFirst("blocks.0.".count)) }
        return FamilyFeatures(
            family: a.name, huggingFace: a.huggingFaceTypes, gguf: a.ggufArchitectures, llama2C: a.readsLlama2C,
            hookPoints: names.count - onDemand.count, onDemand: onDemand,
            sweepEngine: PatchSweep.unsupported(m.cfg) ?? failure { try checkSweep(m) },
            autograd: failure { try checkAutograd(try exampleModel(a)) },
            paddedBatches: failure { try checkPadding(m) },
            generate: failure { try checkKVCache(m) },
            processing: try processingFlags.map { try outcome(a, $0) })
    }

    /// A 1-layer model of family `a` (multi-head attention: grouped-query models have no
    /// hook_attn_in) with small deterministic weights.
    public static func exampleModel(_ a: any Architecture.Type) throws -> Transformer {
        let type = a.huggingFaceTypes.first ?? a.name
        var text = #"{"model_type": "\#(type)", "hidden_size": 64, "n_embd": 64, "num_hidden_layers": 1, "n_layer": 1, "#
            + #""num_attention_heads": 4, "n_head": 4, "num_key_value_heads": 4, "head_dim": 16, "#
            + #""intermediate_size": 128, "vocab_size": 64, "max_position_embeddings": 32, "n_positions": 32"#
        if !a.exampleConfigKeys.isEmpty { text += ", " + a.exampleConfigKeys }
        let json = try TinyJSON.parse(Data((text + "}").utf8))
        let cfg = try a.config(huggingFace: HFConfigFile(json: json, path: "\(a.name) example config"), name: "\(a.name)-example")
        return try Transformer(cfg: cfg, weights: try exampleWeights(cfg), tokenizer: nil, source: "\(a.name) example")
    }

    /// Weights of the shapes `cfg` needs, deterministic (no draw from fp's random stream):
    /// values of sin at distinct points, norms near 1; biases where the norm is a LayerNorm.
    static func exampleWeights(_ cfg: ModelConfig) throws -> TransformerWeights {
        var salt: Float = 0
        func w(_ shape: [Int], _ scale: Float = 0.2, around c: Float = 0) throws -> Tensor {
            salt += 1
            let n = shape.reduce(1, *)
            return try Tensor((0..<n).map { [salt] i in c + scale * sin(Float(i) * 0.7311 + salt * 1.37) }, shape: shape)
        }
        let d = cfg.dModel, f = cfg.dMLP, q = cfg.nHeads * cfg.dHead
        let ln = cfg.normalization == .layerNorm
        func bias(_ n: Int) throws -> Tensor? { ln ? try w([n], 0.05) : nil }
        let blocks = try (0..<cfg.nLayers).map { _ in
            let b = BlockWeights(ln1W: try w([d], 0.1, around: 1), ln1B: try bias(d), ln2W: try w([d], 0.1, around: 1), ln2B: try bias(d),
                                 wQKV: try w([d, cfg.qkvWidth]), bQKV: try bias(cfg.qkvWidth), wO: try w([q, d]), bO: try bias(d),
                                 wIn: try w([d, f]), bIn: try bias(f), wGate: cfg.gatedMLP ? try w([d, f]) : nil,
                                 wOut: try w([f, d]), bOut: try bias(d))
            if cfg.block.preNorms && cfg.block.postNorms {
                b.ln1PostW = try w([d], 0.1, around: 1); b.ln2PostW = try w([d], 0.1, around: 1)
            }
            if let kind = cfg.block.qkNorm {
                b.qNormW = try w([kind == .perHead ? cfg.dHead : q], 0.1, around: 1)
                b.kNormW = try w([kind == .perHead ? cfg.dHead : cfg.nKVHeads * cfg.dHead], 0.1, around: 1)
            }
            return b
        }
        let wE = try w([cfg.dVocab, d], 0.5)
        return TransformerWeights(wE: wE, wPos: cfg.block.positions == .learned ? try w([cfg.nCtx, d]) : nil, blocks: blocks,
                                  lnFinalW: try w([d], 0.1, around: 1), lnFinalB: try bias(d),
                                  wU: cfg.tiedEmbeddings ? try wE.T() : try w([d, cfg.dVocab], 0.5), bU: nil)
    }

    static func failure(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let e as TensorError { return e.message } catch { return "\(error)" }
    }

    static let prompt = [3, 14, 15, 9, 2, 6]

    /// Largest |a - b| over the last position's logits of `a` and the given row of `b`.
    static func lastRowDifference(_ a: Tensor, _ b: Tensor, item: Int, pos: Int) throws -> Float {
        let x = try a.select(0, 0).select(0, a.shape[1] - 1).toFloats()
        let y = try b.select(0, item).select(0, pos).toFloats()
        return zip(x, y).map { abs($0 - $1) }.max() ?? .infinity
    }

    static func expectClose(_ diff: Float, _ what: String) throws {
        guard diff <= 1e-4 else { throw TensorError("\(what) differs from the plain forward pass by \(diff)") }
    }

    /// A left- and a right-padded copy of the prompt in one batch give its logits.
    static func checkPadding(_ m: Transformer) throws {
        let P = prompt.count
        let plain = try m.forward(try Tensor(ints: prompt, shape: [1, P]))
        let tokens = try Tensor(ints: [0, 0] + prompt + prompt + [0, 0], shape: [2, P + 2])
        var o = Transformer.Options()
        o.attentionMask = try Tensor(ints: [0, 0] + Array(repeating: 1, count: 2 * P) + [0, 0], shape: [2, P + 2])
        let padded = try m.forward(tokens, options: o)
        try expectClose(try lastRowDifference(plain, padded, item: 0, pos: P + 1), "a left-padded prompt")
        try expectClose(try lastRowDifference(plain, padded, item: 1, pos: P - 1), "a right-padded prompt")
    }

    /// The prompt through the KV cache (all but the last token, then the last one) gives its logits.
    static func checkKVCache(_ m: Transformer) throws {
        let P = prompt.count
        let plain = try m.forward(try Tensor(ints: prompt, shape: [1, P]))
        var o = Transformer.Options()
        o.kvCache = try KVCache(cfg: m.cfg, batch: 1, capacity: P)
        _ = try m.forward(try Tensor(ints: Array(prompt.dropLast()), shape: [1, P - 1]), options: o)
        let step = try m.forward(try Tensor(ints: [prompt[P - 1]], shape: [1, 1]), options: o)
        try expectClose(try lastRowDifference(plain, step, item: 0, pos: 0), "the KV-cache step")
    }

    /// A sweep cell that changes resid_pre of layer 0 from position 2 on gives the logits of a
    /// forward pass from that residual stream.
    static func checkSweep(_ m: Transformer) throws {
        let P = prompt.count
        let s = try PatchSweep(model: m, tokens: try Tensor(ints: prompt, shape: [1, P]), logitPositions: [-1])
        let ref = try s.referenceActivation(layer: 0, stage: .pre)
        var x = try ref.contiguous().clone().toFloats()
        for i in (2 * m.cfg.dModel)..<x.count { x[i] += 0.1 * sin(Float(i)) }
        let act = try Tensor(x, shape: ref.shape)
        _ = try s.add(layer: 0, stage: .pre, act)
        let cells = try s.run()                  // [cells, batch, 1, V]
        let plain = try m.forward(act)           // [batch, P, V]
        let got = try cells.select(0, 0)         // [batch, 1, V]
        try expectClose(try lastRowDifference(plain, got, item: 0, pos: 0), "the sweep engine's cell")
    }

    /// With a weight that requires grad the taped executor runs (same logits) and backward
    /// reaches the weight.
    static func checkAutograd(_ m: Transformer) throws {
        guard Autograd.enabled else { throw TensorError("autograd is disabled") }
        let tokens = try Tensor(ints: prompt, shape: [1, prompt.count])
        let plain = try m.forward(tokens)
        let w = m.weights.blocks[0].wQKV
        w.requiresGrad = true
        defer { w.requiresGrad = false; w.grad = nil }
        let taped = try m.forwardDifferentiable(tokens)
        guard taped.requiresGrad else { throw TensorError("the forward pass was not taped") }
        try expectClose(try lastRowDifference(plain, taped, item: 0, pos: prompt.count - 1), "the taped forward pass")
        try Autograd.backward(taped, try Tensor([Float](repeating: 1, count: taped.count), shape: taped.shape))
        guard let g = try w.grad?.toFloats(), g.allSatisfy(\.isFinite), g.contains(where: { $0 != 0 }) else {
            throw TensorError("backward did not reach the attention weights")
        }
    }

    /// What WeightProcessing does with one flag on the family's example model.
    static func outcome(_ a: any Architecture.Type, _ flag: String) throws -> Outcome {
        let o = try options(flag)
        let m = try exampleModel(a)
        if WeightProcessing.refusal(o, m.cfg) != nil { return .refused }
        let cfg = try WeightProcessing.process(m.weights, cfg: m.cfg, options: o, warnings: false)
        return cfg.processing.contains(flag) ? .applied : .skipped
    }

    /// The ProcessingOptions of one flag alone.
    public static func options(_ flag: String) throws -> ProcessingOptions {
        var o = ProcessingOptions()
        switch flag {
        case "fold_ln": o.foldLN = true
        case "center_writing_weights": o.centerWritingWeights = true
        case "center_unembed": o.centerUnembed = true
        case "fold_value_biases": o.foldValueBiases = true
        default: throw TensorError("unknown processing flag '\(flag)'")
        }
        return o
    }

    /// The table as `fp info` prints it, one row per family: formats, hook points ("standard +
    /// on demand"), yes/NO for the engines, and yes/skip/NO per processing flag.
    public static func table(_ rows: [FamilyFeatures]) -> [String] {
        func yes(_ why: String?) -> String { why == nil ? "yes" : "NO" }
        let short: [Outcome: String] = [.applied: "yes", .skipped: "skip", .refused: "NO"]
        let header = ["family", "formats", "hook points", "sweep", "autograd", "padded", "generate"] + processingFlags
        var cells = [header]
        for r in rows {
            let formats = [(r.huggingFace.isEmpty, "HF"), (r.gguf.isEmpty, "GGUF"), (!r.llama2C, "llama2.c")].filter { !$0.0 }.map(\.1)
            cells.append([r.family, formats.joined(separator: ", "), "\(r.hookPoints) + \(r.onDemand.count)",
                          yes(r.sweepEngine), yes(r.autograd), yes(r.paddedBatches), yes(r.generate)]
                         + r.processing.map { short[$0] ?? $0.rawValue })
        }
        let widths = header.indices.map { c in cells.map { $0[c].count }.max() ?? 0 }
        return cells.map { row in
            row.enumerated().map { c, s in s.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
    }
}
