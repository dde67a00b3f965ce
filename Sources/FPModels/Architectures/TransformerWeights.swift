import FPTensor

/// The weights of one block, stored in the layouts the forward pass multiplies with
/// (x @ W, W as [in, out]); TransformerLens-shaped views are built from them on demand.
public final class BlockWeights {
    public var ln1W: Tensor
    public var ln1B: Tensor?
    public var ln2W: Tensor
    public var ln2B: Tensor?
    /// q | k | v projections side by side: [d_model, (n_heads + 2 n_kv_heads) d_head].
    public var wQKV: Tensor
    public var bQKV: Tensor?
    /// [n_heads d_head, d_model]
    public var wO: Tensor
    public var bO: Tensor?
    /// [d_model, d_mlp]: up projection (GPT-2's c_fc, Llama's up_proj)
    public var wIn: Tensor
    public var bIn: Tensor?
    /// [d_model, d_mlp]: Llama's gate_proj (nil for GPT-2)
    public var wGate: Tensor?
    /// [d_mlp, d_model]
    public var wOut: Tensor
    public var bOut: Tensor?
    /// Sandwich norms' weights on the attention and MLP outputs (Gemma 2/3): ln1_post, ln2_post.
    public var ln1PostW: Tensor? = nil
    public var ln2PostW: Tensor? = nil
    /// Query and key RMS norm weights: [d_head] per head, or [n_heads d_head] / [n_kv_heads d_head].
    public var qNormW: Tensor? = nil
    public var kNormW: Tensor? = nil

    public init(ln1W: Tensor, ln1B: Tensor?, ln2W: Tensor, ln2B: Tensor?, wQKV: Tensor, bQKV: Tensor?,
                wO: Tensor, bO: Tensor?, wIn: Tensor, bIn: Tensor?, wGate: Tensor?, wOut: Tensor, bOut: Tensor?) {
        self.ln1W = ln1W; self.ln1B = ln1B; self.ln2W = ln2W; self.ln2B = ln2B
        self.wQKV = wQKV; self.bQKV = bQKV; self.wO = wO; self.bO = bO
        self.wIn = wIn; self.bIn = bIn; self.wGate = wGate; self.wOut = wOut; self.bOut = bOut
    }

    var all: [Tensor] {
        [ln1W, ln2W, wQKV, wO, wIn, wOut] + [ln1B, ln2B, bQKV, bO, bIn, wGate, bOut, ln1PostW, ln2PostW, qNormW, kNormW].compactMap { $0 }
    }
}

public final class TransformerWeights {
    /// [d_vocab, d_model]
    public var wE: Tensor
    /// [n_ctx, d_model] (learned positions only)
    public var wPos: Tensor?
    public var blocks: [BlockWeights]
    public var lnFinalW: Tensor
    public var lnFinalB: Tensor?
    /// [d_model, d_vocab]; a transposed view of wE when embeddings are tied
    public var wU: Tensor
    public var bU: Tensor?

    public init(wE: Tensor, wPos: Tensor?, blocks: [BlockWeights], lnFinalW: Tensor, lnFinalB: Tensor?, wU: Tensor, bU: Tensor?) {
        self.wE = wE; self.wPos = wPos; self.blocks = blocks
        self.lnFinalW = lnFinalW; self.lnFinalB = lnFinalB; self.wU = wU; self.bU = bU
    }

    /// Every distinct weight tensor (tied ones once), for snapshots and parameter counts.
    public var all: [Tensor] {
        var out = [wE, lnFinalW] + [wPos, lnFinalB, bU].compactMap { $0 }
        if wU.storage !== wE.storage { out.append(wU) }
        for b in blocks { out += b.all }
        return out
    }

    public var parameterCount: Int { all.reduce(0) { $0 + $1.count } }
}

/// Copies `w` [out, in] (PyTorch Linear layout) into a new contiguous [in, out] tensor.
func transposed(_ w: Tensor) throws -> Tensor { try w.T().contiguous() }
