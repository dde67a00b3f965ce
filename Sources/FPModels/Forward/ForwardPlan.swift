import FPTensor

/// What one forward pass will do, checked once for every executor: the input's batch and
/// positions, the layers to run, the attention mask and token positions, the past (a KV cache
/// or a prefix) and the positions to unembed.
struct ForwardPlan {
    let B: Int, P: Int
    /// Blocks start..<stop run.
    private(set) var start: Int
    let stop: Int
    /// stop_at_layer was given: the result is the residual stream, not logits.
    let stopsEarly: Bool
    /// The input is the residual stream [B, P, d_model] (it enters at `start`), not token ids.
    let fromResidual: Bool
    /// Positions before this run's tokens (a KV cache's or a prefix's).
    let past: Int
    /// Key mask [B, past + P] (1 = attend); nil: every key is visible.
    let mask: [UInt8]?
    /// Absolute position of each token [B * P]: a padded prompt's first real token is 0.
    let positions: [Int32]
    /// The positions to unembed (non-negative), nil = all.
    let logitPositions: [Int]?

    init(_ cfg: ModelConfig, _ input: Tensor, _ options: Transformer.Options) throws {
        let L = cfg.nLayers, d = cfg.dModel
        start = options.startAtLayer < 0 ? options.startAtLayer + L : options.startAtLayer
        stop = options.stopAtLayer.map { $0 < 0 ? $0 + L : $0 } ?? L
        stopsEarly = options.stopAtLayer != nil
        guard start >= 0 && start <= L else {
            throw TensorError("forward: start_at_layer \(options.startAtLayer) is out of range for \(L) layers")
        }
        guard stop >= start && stop <= L else {
            throw TensorError("forward: stop_at_layer \(options.stopAtLayer ?? stop) is out of range (start \(start), \(L) layers)")
        }
        // Token ids [batch, pos] start at the embedding; a float residual stream
        // [batch, pos, d_model] enters at start_at_layer (0 included: it skips the embedding).
        fromResidual = input.dtype == .float32
        if !fromResidual {
            guard input.rank == 2, input.dtype == .int64 else {
                throw TensorError("forward: tokens must be an int tensor of shape [batch, pos], got \(input.dtype.rawValue) \(input.shape)")
            }
            guard start == 0 else {
                throw TensorError("forward: with start_at_layer \(start) the input must be the residual stream [batch, pos, \(d)], not token ids")
            }
        } else {
            guard input.rank == 3, input.shape[2] == d else {
                throw TensorError("forward: token ids must be an int tensor [batch, pos]; a float input must be the residual stream [batch, pos, \(d)], got float32 \(input.shape)")
            }
        }
        B = input.shape[0]; P = input.shape[1]
        guard B > 0, P > 0 else { throw TensorError("forward: empty input of shape \(input.shape)") }
        if let p = options.prefix {
            guard options.kvCache == nil else { throw TensorError("forward: a prefix and a KV cache cannot be combined") }
            guard p.length >= 0, p.length <= p.cache.length, p.cache.batch == 1 || p.cache.batch == B else {
                throw TensorError("forward: the prefix holds \(p.cache.length) positions for batch \(p.cache.batch); asked for \(p.length) with batch \(B)")
            }
        }
        past = options.kvCache?.length ?? options.prefix?.length ?? 0
        if let c = options.kvCache, c.batch != B {
            throw TensorError("forward: the KV cache holds batch \(c.batch), input has batch \(B)")
        }
        guard past + P <= cfg.nCtx else {
            throw TensorError("forward: \(past + P) positions exceed the model's context of \(cfg.nCtx)")
        }
        if let c = options.kvCache, past + P > c.capacity { throw TensorError("forward: KV cache full (\(c.capacity) positions)") }
        let (b, p, t) = (B, P, past)
        mask = try Self.keyMask(options.attentionMask, B: b, P: p, past: t)
        positions = Self.positions(mask: mask, B: b, P: p, past: t)
        logitPositions = try options.logitPositions.map { try Self.resolve($0, p, "forward: logit position") }
    }

    /// The same plan from a later block on (the taped executor's part of a pass).
    init(_ plan: ForwardPlan, start: Int) {
        self = plan
        self.start = start
    }

    /// Positions counted from the end when negative, checked against P.
    static func resolve(_ positions: [Int], _ P: Int, _ what: String) throws -> [Int] {
        try positions.map { p in
            let q = p < 0 ? p + P : p
            guard q >= 0 && q < P else { throw TensorError("\(what) \(p) is out of range for \(P) positions") }
            return q
        }
    }

    /// The key mask [B, past + P] (1 = attend), from the user's [B, P] mask (or [B, past + P]).
    static func keyMask(_ m: Tensor?, B: Int, P: Int, past: Int) throws -> [UInt8]? {
        guard let m else { return nil }
        let T = past + P
        guard m.rank == 2, m.shape[0] == B, m.shape[1] == P || m.shape[1] == T else {
            throw TensorError("forward: attention_mask must have shape [\(B), \(P)]\(past > 0 ? " or [\(B), \(T)]" : ""), got \(m.shape)")
        }
        let vals = try m.toDoubles()
        var out = [UInt8](repeating: 1, count: B * T)
        let w = m.shape[1]
        for b in 0..<B { for j in 0..<w { out[b * T + (T - w) + j] = vals[b * w + j] != 0 ? 1 : 0 } }
        return out
    }

    /// Absolute positions: a padded prompt's first real token is position 0 (Hugging Face's
    /// cumsum(mask) - 1), so left padding gives the same numbers as the prompt alone.
    static func positions(mask: [UInt8]?, B: Int, P: Int, past: Int) -> [Int32] {
        var out = [Int32](repeating: 0, count: B * P)
        let T = past + P
        for b in 0..<B {
            var count: Int32 = 0
            for j in 0..<T {
                let on = mask.map { $0[b * T + j] != 0 } ?? true
                if on { count += 1 }
                if j >= past { out[b * P + (j - past)] = on ? count - 1 : 0 }
            }
        }
        return out
    }
}
