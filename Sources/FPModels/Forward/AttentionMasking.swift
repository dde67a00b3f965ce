import FPTensor

extension ForwardPlan {
    /// Layer l's masking and score scale for the fused attention kernel (AG.attention): causal
    /// from `past`, the layer's sliding window, the key mask, the block's scale and soft-cap.
    func attentionMasking(_ cfg: ModelConfig, layer l: Int) -> AttentionMasking {
        AttentionMasking(past: past, window: cfg.block.slidingWindows[l], keyMask: mask,
                         scale: RowKernels.attentionScale(cfg), softcap: cfg.block.attentionSoftcap.map { Float($0) })
    }
}
