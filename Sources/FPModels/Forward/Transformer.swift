import FPTensor
import Foundation

/// A decoder-only transformer with a TransformerLens hook point on every activation. Its
/// forward pass is written once (Block.swift) and run by executors; `cfg` (read by an
/// architecture file) says which block variant it is. Weights live in `weights` in the layouts
/// the forward pass multiplies with; `tokenizer` turns text into ids.
public final class Transformer {
    public let cfg: ModelConfig
    public let weights: TransformerWeights
    public let tokenizer: Tokenizer?
    /// Where the weights came from (a path), for messages and `fp info`.
    public let source: String
    /// How the weight products run (load_model's `dtype`): bf16 keeps these float32 weights
    /// for hooks and weight views and multiplies with bf16 copies (WeightPack).
    public var matmulPrecision: MatmulPrecision = .float32
    /// The float32 bytes of the weights, counted once (their shapes do not change).
    public private(set) lazy var weightBytes: Int = weights.parameterCount * MemoryLayout<Float>.size
    /// Whether `FP_GEMM=auto` keeps blocked copies of this model's weights for its products of a
    /// few rows: a small model (GemmDispatch.smallModelBytes), where the copy costs little memory.
    public var copiesWeights: Bool { weightBytes <= GemmDispatch.smallModelBytes }
    let hookNames: [LayerHookNames]
    /// RoPE tables (rotary models), and the sliding-window layers' when they have their own base
    /// (Gemma 3); made for the positions runs reach.
    let rope: RopeTable?
    let localRope: RopeTable?
    /// longrope's tables for runs that reach beyond the original context (Phi-3 128k).
    let longRope: RopeTable?
    /// Every hook point of the block definition, in forward order, with its layer.
    private(set) var hookPoints: [(name: String, layer: Int?)] = []
    /// The same names by layer ([n_layers] for the embedding and final norm's).
    private(set) var hookPointsByLayer: [[String]] = []

    public init(cfg: ModelConfig, weights: TransformerWeights, tokenizer: Tokenizer?, source: String) throws {
        try cfg.validate(source)
        self.cfg = cfg
        self.weights = weights
        self.tokenizer = tokenizer
        self.source = source
        hookNames = (0..<cfg.nLayers).map(LayerHookNames.init)
        rope = cfg.rotary ? RopeTable(cfg, theta: cfg.ropeTheta, scaling: cfg.ropeScaling) : nil
        localRope = cfg.block.localRopeTheta.map { RopeTable(cfg, theta: $0, scaling: nil) }
        longRope = cfg.rotary && cfg.ropeScaling?.kind == .longrope
            ? RopeTable(cfg, theta: cfg.ropeTheta, scaling: cfg.ropeScaling, long: true) : nil
        hookPoints = try HookPointWalker.points(of: self).map { ($0.name, $0.layer) }
        hookPointsByLayer = Array(repeating: [], count: cfg.nLayers + 1)
        for p in hookPoints { hookPointsByLayer[p.layer ?? cfg.nLayers].append(p.name) }
    }

    /// The RoPE tables of layer l for a run whose tokens sit at `positions`: longrope's long
    /// factors when the run reaches beyond the original context (HF: max position + 1 > it).
    func ropeTables(_ l: Int, positions: [Int32]) throws -> (cos: Tensor, sin: Tensor)? {
        let reach = Int(positions.max() ?? 0) + 1
        if let localRope, cfg.block.slidingWindows[l] != nil { return try localRope.tables(covering: reach) }
        if let longRope, let s = cfg.ropeScaling, Double(reach) > s.originalMaxPositions { return try longRope.tables(covering: reach) }
        return try rope?.tables(covering: reach)
    }

    /// Every hook point this model has, in forward order (hook_result included).
    public var hookPointNames: [String] { hookPoints.map(\.name) }

    /// Every hook point with its shape for an input of [batch, positions] tokens.
    public func hookPointShapes(batch: Int, positions: Int) throws -> [(name: String, shape: [Int])] {
        try HookPointWalker.points(of: self, batch: batch, positions: positions).map { ($0.name, $0.shape) }
    }

    public struct Options {
        public var attentionMask: Tensor? = nil
        /// Run blocks start..<stop; stop nil = all blocks then the unembedding.
        public var startAtLayer: Int = 0
        public var stopAtLayer: Int? = nil
        public var kvCache: KVCache? = nil
        /// Read-only past: the first `length` positions' keys and values of another run
        /// (batch 1, shared by every item); this run's tokens come after them. Used to re-run
        /// only the positions a patch can change (attention is causal).
        public var prefix: (cache: KVCache, length: Int)? = nil
        /// Only these positions are unembedded (e.g. [-1]); nil = all.
        public var logitPositions: [Int]? = nil
        public init() {}
    }

    /// Runs the model on the fast executor. `input` is token ids [batch, pos] (int64), or the
    /// residual stream [batch, pos, d_model] when starting at a later layer. Returns logits
    /// [batch, pos, d_vocab] (or only the requested positions), or the residual stream when
    /// stopping early.
    public func forward(_ input: Tensor, options: Options = Options(), hooks: HookDispatcher? = nil) throws -> Tensor {
        let plan = try ForwardPlan(cfg, input, options)
        let e = FastExecutor(model: self, plan: plan, tokens: plan.fromResidual ? nil : input, hooks: hooks,
                             cache: options.kvCache, prefix: options.prefix)
        let out = try run(e, plan, from: plan.fromResidual ? try input.contiguous().clone() : nil)
        if let c = options.kvCache, plan.stop == cfg.nLayers { c.length = plan.past + plan.P }
        return out
    }
}
