import FPTensor

/// How one family's transformer block is wired: the variants the block definition (Block.swift)
/// is written for. Every field is read by the block; `unimplemented` names combinations the
/// executors cannot run, so that such a model is refused at load, never run wrongly.
public struct BlockShape {
    public enum Residual: String { case sequential, parallel }
    public enum Normalization: String { case layerNorm = "LN", rmsNorm = "RMS" }
    /// gelu_new is the tanh approximation (GPT-2's gelu_new, Gemma's gelu_pytorch_tanh);
    /// gelu is the exact (erf) one (GPT-NeoX).
    public enum Activation: String {
        case geluNew = "gelu_new", gelu, silu
        /// The tensor operation it is: GPT-2's tanh GELU, the exact (erf) GELU, SiLU.
        var unaryOp: UnaryOp {
            switch self {
            case .geluNew: return .gelu
            case .gelu: return .gelu_erf
            case .silu: return .silu
            }
        }
    }
    public enum Positions: String { case learned = "standard", rotary }
    /// RMS norms on queries and keys: over each head's d_head (Qwen 3, Gemma 3) or over all
    /// heads at once (OLMo 2).
    public enum QKNorm: String { case perHead = "per_head", fullWidth = "full_width" }

    /// sequential: resid_mid = resid_pre + attn_out, resid_post = resid_mid + mlp_out;
    /// parallel (GPT-NeoX, Phi): resid_post = resid_pre + attn_out + mlp_out, no resid_mid.
    public var residual: Residual = .sequential
    public var normalization: Normalization
    /// Norms on the attention and MLP inputs (ln1, ln2). OLMo 2 has none: its ln1 and ln2 are
    /// post norms (TransformerLens's names).
    public var preNorms = true
    /// Norms on the attention and MLP outputs before they are added to the residual stream:
    /// with pre norms the sandwich of Gemma 2/3 (ln1_post, ln2_post), without them OLMo 2's.
    public var postNorms = false
    public var qkNorm: QKNorm? = nil
    public var activation: Activation
    /// act(gate(x)) * up(x) (Llama, Gemma) instead of act(up(x)) (GPT-2).
    public var gatedMLP: Bool
    public var positions: Positions
    /// Partial rotary (Pythia, Phi): only the first rotary_dim dims of each head rotate; nil = all.
    public var rotaryDim: Int? = nil
    /// RoPE base of the sliding-window layers when it differs from the others' (Gemma 3).
    public var localRopeTheta: Double? = nil
    /// Attention score scale; nil = 1 / sqrt(d_head) (Gemma: query_pre_attn_scalar^-0.5).
    public var attentionScale: Double? = nil
    /// cap * tanh(x / cap) on attention scores (before the mask) and on the logits (Gemma 2).
    public var attentionSoftcap: Double? = nil
    public var finalSoftcap: Double? = nil
    /// Sliding-window attention: the window of each layer that has one (Mistral, Gemma 2/3,
    /// Qwen). A query at index i sees keys j with i - window < j <= i (Hugging Face's rule).
    public var slidingWindows: [Int: Int] = [:]
    /// The embedding is multiplied by this (Gemma: sqrt(d_model), rounded to float32 as
    /// Hugging Face casts it to the hidden dtype); hook_embed is the scaled embedding.
    public var embeddingScale: Double? = nil

    public init(normalization: Normalization, activation: Activation, gatedMLP: Bool, positions: Positions) {
        self.normalization = normalization
        self.activation = activation
        self.gatedMLP = gatedMLP
        self.positions = positions
    }

    /// Combinations of this shape that the block does not implement.
    func unimplemented(_ cfg: ModelConfig) -> [String] {
        var out: [String] = []
        if !preNorms && !postNorms { out.append("a block without norms") }
        if !preNorms && residual == .parallel { out.append("post norms in a parallel block") }
        if localRopeTheta != nil && positions != .rotary { out.append("a local rotary base without rotary positions") }
        if slidingWindows.values.contains(where: { $0 <= 0 }) { out.append("a sliding window of no positions") }
        for c in [attentionSoftcap, finalSoftcap, attentionScale, embeddingScale].compactMap({ $0 }) where !(c.isFinite && c > 0) {
            out.append("a soft-cap or scale of \(c)")
        }
        return out
    }
}
