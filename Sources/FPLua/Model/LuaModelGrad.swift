import FPTensor

/// The model's next-token loss on the tape (return_type = "loss" when the logits require grad).
enum LuaModelGrad {
    /// Mean next-token cross-entropy as a 0-d taped tensor; padded positions are ignored.
    static func loss(_ logits: Tensor, _ tokens: Tensor, mask: Tensor?) throws -> Tensor {
        let B = logits.shape[0], P = logits.shape[1], V = logits.shape[2]
        guard P > 1 else { throw LuaError("loss: needs at least 2 positions") }
        var targets = try tokens.slice(1, 1, P).contiguous().toInts()
        if let mask {
            let m = try mask.toDoubles()
            for b in 0..<B { for p in 0..<(P - 1) where m[b * P + p] == 0 || m[b * P + p + 1] == 0 { targets[b * (P - 1) + p] = -100 } }
        }
        let lg = try AG.region(logits, "slice") { try $0.slice(1, 0, P - 1) }
        let flat = try AG.reshaped(lg, "reshape") { try $0.reshape([B * (P - 1), V]) }
        return try AG.crossEntropy(flat, Tensor(ints: targets, shape: [B * (P - 1)]), ignoreIndex: -100)
    }
}
