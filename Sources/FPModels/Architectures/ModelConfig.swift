import FPTensor

/// The hyper-parameters of one model in TransformerLens's names, and the shape of its block.
/// An architecture file (Architectures/) fills it from the model's own files.
public struct ModelConfig {
    /// The registry name of the family that read it ("gpt2", "llama"): `cfg.family` in Lua.
    public var architecture: String
    public var modelName: String
    public var nLayers: Int
    public var dModel: Int
    public var nHeads: Int
    public var nKVHeads: Int
    public var dHead: Int
    public var dMLP: Int
    public var dVocab: Int
    public var nCtx: Int
    public var normEps: Double
    /// How the block is wired and which features it uses (read by the block definition).
    public var block: BlockShape
    public var ropeTheta: Double = 10000
    /// Llama 3 rope scaling (rope_type "llama3"); nil for plain RoPE.
    public var ropeScaling: RopeScaling? = nil
    public var tiedEmbeddings: Bool
    /// BOS default for to_tokens (DESIGN.md: GPT-2 true, otherwise the tokenizer's own setting).
    public var defaultPrependBOS: Bool
    /// Weight processing applied at load, in order, in TransformerLens's flag names
    /// ("fold_ln", "center_writing_weights", ...); empty for the unprocessed model.
    public var processing: [String] = []

    /// Hugging Face's rope_scaling / rope_parameters types (modeling_rope_utils.py); Rope.swift
    /// computes each. dynamic is plain RoPE within max_position_embeddings (HF rescales only beyond).
    public struct RopeScaling {
        public enum Kind: String { case llama3, linear, dynamic, yarn, longrope }
        public var kind: Kind = .llama3
        public var factor: Double
        public var lowFreqFactor: Double = 1
        public var highFreqFactor: Double = 4
        public var originalMaxPositions: Double
        /// yarn: the ramp between beta_fast and beta_slow rotations (truncated to whole dims).
        public var betaFast: Double = 32, betaSlow: Double = 1
        public var truncate = true
        /// yarn and longrope: cos and sin are multiplied by it (nil: the paper's default).
        public var attentionFactor: Double? = nil
        public var mscale: Double? = nil, mscaleAllDim: Double? = nil
        /// longrope: per-frequency divisors, the long ones when a run reaches beyond
        /// originalMaxPositions (max position + 1 > it, HF's rule).
        public var shortFactor: [Double] = [], longFactor: [Double] = []
    }

    public var normalization: BlockShape.Normalization { block.normalization }
    public var activation: BlockShape.Activation { block.activation }
    public var gatedMLP: Bool { block.gatedMLP }
    public var rotary: Bool { block.positions == .rotary }
    /// Leading dims of each head that RoPE rotates (all of d_head unless partial).
    public var rotaryDim: Int { block.rotaryDim ?? dHead }

    /// Rows of the fused q|k|v projection.
    public var qkvWidth: Int { (nHeads + 2 * nKVHeads) * dHead }

    public init(architecture: String, modelName: String, nLayers: Int, dModel: Int, nHeads: Int, nKVHeads: Int,
                dHead: Int, dMLP: Int, dVocab: Int, nCtx: Int, normEps: Double, block: BlockShape,
                tiedEmbeddings: Bool, defaultPrependBOS: Bool) {
        self.architecture = architecture
        self.modelName = modelName
        self.nLayers = nLayers
        self.dModel = dModel
        self.nHeads = nHeads
        self.nKVHeads = nKVHeads
        self.dHead = dHead
        self.dMLP = dMLP
        self.dVocab = dVocab
        self.nCtx = nCtx
        self.normEps = normEps
        self.block = block
        self.tiedEmbeddings = tiedEmbeddings
        self.defaultPrependBOS = defaultPrependBOS
    }

    /// Rejects sizes that cannot describe a model (before anything is allocated), and block
    /// features the executors do not implement yet (rather than computing wrong numbers).
    public func validate(_ source: String) throws {
        func need(_ ok: Bool, _ what: String) throws {
            if !ok { throw TensorError("load_model: \(source): invalid config: \(what)") }
        }
        try need(nLayers > 0 && nLayers <= 1000, "n_layers = \(nLayers)")
        try need(dModel > 0 && dModel <= 1 << 16, "d_model = \(dModel)")
        try need(nHeads > 0 && nHeads <= 1024, "n_heads = \(nHeads)")
        try need(nKVHeads > 0 && nHeads % nKVHeads == 0, "n_key_value_heads = \(nKVHeads) must divide n_heads = \(nHeads)")
        try need(dHead > 0 && dHead <= 1 << 12 && (!rotary || dHead % 2 == 0), "d_head = \(dHead)")
        try need(!rotary || (rotaryDim > 0 && rotaryDim <= dHead && rotaryDim % 2 == 0), "rotary_dim = \(rotaryDim)")
        try need(dMLP > 0 && dMLP <= 1 << 18, "d_mlp = \(dMLP)")
        try need(dVocab > 0 && dVocab <= 1 << 22, "d_vocab = \(dVocab)")
        try need(nCtx > 0 && nCtx <= 1 << 22, "n_ctx = \(nCtx)")
        try need(normEps > 0 && normEps < 1, "eps = \(normEps)")
        if let p = Rope.problems(self).first { try need(false, p) }
        let missing = block.unimplemented(self)
        guard missing.isEmpty else {
            throw TensorError("load_model: \(source): \(architecture) uses \(missing.joined(separator: ", ")), which fp's forward pass does not implement yet")
        }
    }
}
