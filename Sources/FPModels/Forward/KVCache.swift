import FPTensor

/// Keys and values of earlier positions, per layer, so that generation computes only the new
/// token each step. Keys are stored after RoPE.
public final class KVCache {
    public let batch: Int
    public let capacity: Int
    /// Positions filled so far.
    public internal(set) var length = 0
    /// Per layer [batch, capacity, n_kv_heads, d_head].
    let keys: [Tensor]
    let values: [Tensor]

    public init(cfg: ModelConfig, batch: Int, capacity: Int) throws {
        guard capacity > 0 && capacity <= cfg.nCtx else {
            throw TensorError("generate: cache capacity \(capacity) must be between 1 and n_ctx = \(cfg.nCtx)")
        }
        self.batch = batch
        self.capacity = capacity
        keys = try (0..<cfg.nLayers).map { _ in try Tensor(zeros: [batch, capacity, cfg.nKVHeads, cfg.dHead]) }
        values = try (0..<cfg.nLayers).map { _ in try Tensor(zeros: [batch, capacity, cfg.nKVHeads, cfg.dHead]) }
    }
}
