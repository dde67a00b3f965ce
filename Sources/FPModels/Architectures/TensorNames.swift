import FPTensor

/// Where one family's weights are in one source, and the layout fixes they need. The weight
/// loader (WeightLoading.swift) reads any family's weights from such a table.
public struct TensorNames {
    /// How projection matrices are stored: PyTorch Linear [out, in] (transposed once at load)
    /// or Conv1D [in, out] (GPT-2, already x @ W).
    public enum Layout { case outIn, inOut }

    public struct Layer {
        public var attnNorm: String, attnNormBias: String? = nil
        /// Either one fused q|k|v projection or three.
        public var qkv: String? = nil, qkvBias: String? = nil
        public var q: String? = nil, k: String? = nil, v: String? = nil
        public var qBias: String? = nil, kBias: String? = nil, vBias: String? = nil
        public var o: String, oBias: String? = nil
        public var mlpNorm: String, mlpNormBias: String? = nil
        public var up: String, upBias: String? = nil
        /// The gated MLP's gate projection (nil without a gate).
        public var gate: String? = nil
        /// `up` names gate and up stacked along the output, gate first (Phi-3's gate_up_proj,
        /// llama.cpp's phi3 ffn_up); `gate` is then unused.
        public var gateUpFused = false
        public var down: String, downBias: String? = nil
        /// Sandwich norms on the attention and MLP outputs (Gemma 2/3).
        public var attnPostNorm: String? = nil, mlpPostNorm: String? = nil
        /// Query and key norms (Qwen 3, OLMo 2, Gemma 3).
        public var qNorm: String? = nil, kNorm: String? = nil

        public init(attnNorm: String, o: String, mlpNorm: String, up: String, down: String) {
            self.attnNorm = attnNorm; self.o = o; self.mlpNorm = mlpNorm; self.up = up; self.down = down
        }
    }

    public var layout: Layout
    /// Q and K rows in Meta's / llama.cpp's interleaved rotary order (GGUF, llama2.c): restored
    /// to Hugging Face's rotate-half order at load.
    public var interleavedRotaryRows = false
    /// A fused q|k|v projection whose rows are grouped by head (GPT-NeoX: head 0's q, k, v,
    /// then head 1's, ...): regrouped to q | k | v at load.
    public var qkvGroupedByHead = false
    /// Added to every norm weight at load: Gemma's RMSNorm multiplies by (1 + w), so ln weights
    /// are shown as TransformerLens shows them, with the 1 folded in (same float32 sum as HF).
    public var normWeightOffset: Float = 0
    public var embed: String
    public var posEmbed: String? = nil
    public var finalNorm: String, finalNormBias: String? = nil
    /// The unembedding; nil or absent from the source: tied to the embedding.
    public var head: String? = nil, headBias: String? = nil
    public var layer: (Int) -> Layer

    public init(layout: Layout, embed: String, finalNorm: String, layer: @escaping (Int) -> Layer) {
        self.layout = layout; self.embed = embed; self.finalNorm = finalNorm; self.layer = layer
    }
}
