/// How one family's transformer block is wired: the variants the block definition (Block.swift)
/// is written for. Every field is read by the block or by `unimplemented`, which names the ones
/// the executors cannot run yet so that such a model is refused at load, never run wrongly.
public struct BlockShape {
    public enum Residual: String { case sequential, parallel }
    public enum Normalization: String { case layerNorm = "LN", rmsNorm = "RMS" }
    public enum Activation: String { case geluNew = "gelu_new", gelu, silu }
    public enum Positions: String { case learned = "standard", rotary }

    /// sequential: resid_mid = resid_pre + attn_out, resid_post = resid_mid + mlp_out;
    /// parallel (GPT-NeoX, Phi): resid_post = resid_pre + attn_out + mlp_out, no resid_mid.
    public var residual: Residual = .sequential
    public var normalization: Normalization
    /// Sandwich norms (Gemma 2/3, OLMo 2): a norm on the attention and MLP outputs before they
    /// are added to the residual stream.
    public var postNorms = false
    /// RMS norms on each head's queries and keys (Qwen 3, OLMo 2, Gemma 3).
    public var qkNorm = false
    public var activation: Activation
    /// act(gate(x)) * up(x) (Llama) instead of act(up(x)) (GPT-2).
    public var gatedMLP: Bool
    public var positions: Positions
    /// Partial rotary (Pythia, Phi): only the first rotary_dim dims of each head rotate; nil = all.
    public var rotaryDim: Int? = nil
    /// Attention score scale; nil = 1 / sqrt(d_head) (Gemma: query_pre_attn_scalar^-0.5).
    public var attentionScale: Double? = nil
    /// cap * tanh(x / cap) on attention scores (Gemma 2) and on the logits.
    public var attentionSoftcap: Double? = nil
    public var finalSoftcap: Double? = nil
    /// Sliding-window attention: the window of each layer that has one (Mistral, Gemma 2/3, Qwen).
    public var slidingWindows: [Int: Int] = [:]
    /// The embedding is multiplied by this (Gemma: sqrt(d_model)).
    public var embeddingScale: Double? = nil

    public init(normalization: Normalization, activation: Activation, gatedMLP: Bool, positions: Positions) {
        self.normalization = normalization
        self.activation = activation
        self.gatedMLP = gatedMLP
        self.positions = positions
    }

    /// The features of this shape that the executors do not implement yet (issue 13 adds them).
    func unimplemented(_ cfg: ModelConfig) -> [String] {
        var out: [String] = []
        if residual == .parallel { out.append("parallel attention and MLP") }
        if postNorms { out.append("sandwich norms") }
        if qkNorm { out.append("query/key norms") }
        if rotaryDim.map({ $0 != cfg.dHead }) ?? false { out.append("partial rotary") }
        if attentionScale != nil { out.append("a custom attention scale") }
        if attentionSoftcap != nil || finalSoftcap != nil { out.append("soft-capping") }
        if !slidingWindows.isEmpty { out.append("sliding-window attention") }
        if embeddingScale != nil { out.append("a scaled embedding") }
        return out
    }
}
