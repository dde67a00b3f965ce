/// x W for a model's weight W [k, n] on the tape. A frozen weight (the usual case: DAS, an SAE
/// or a probe trained on a fixed model) takes the fast executor's path both ways: the forward
/// product on W's reordered copy (`gemm(_:weight:into:)`, the same kernel and precision as the
/// untaped forward, so both executors give the same activations), and the backward's
/// dX = dY W^T on a reordered copy of W^T, kept like the forward's (WeightPack, made once,
/// renewed when W changes), in the same precision: a bf16 model (load_model's dtype = "bf16")
/// multiplies by bf16 copies of W and W^T both ways, accumulating in float32. dW is never
/// computed for a frozen weight. A weight that requires
/// grad changes every step, so a reordered copy would not be reused: it goes through AG.matmul.
extension AG {
    public static func linear(_ x: Tensor, weight w: Tensor, precision: MatmulPrecision = .float32,
                              copiesAllowed: Bool = false) throws -> Tensor {
        guard w.rank == 2, x.rank >= 1, !w.requiresGrad, x.dtype == .float32, w.dtype == .float32 else {
            return try matmul(x, w)
        }
        let k = w.shape[0], n = w.shape[1]
        guard x.shape[x.rank - 1] == k else { return try matmul(x, w) }   // matmul's error
        let lead = Array(x.shape.dropLast()), rows = lead.reduce(1, *)
        let out = try Tensor.empty([rows, n])
        if k == 0 {
            try out.fill(0)
        } else if rows > 0 && n > 0 {
            try gemm(x.contiguous().view([rows, k]), weight: w, into: out, precision: precision, copiesAllowed: copiesAllowed)
        }
        let y = try out.view(lead + [n])
        guard Autograd.taping(x) else { return y }
        let wv = Autograd.save(w)
        return Autograd.record(y, "linear", [x, w]) { g in
            let wt = try wv.value.T()
            let gx = try Tensor.empty([rows, k])
            if rows > 0 && k > 0 {
                if n == 0 {
                    try gx.fill(0)
                } else {
                    try gemm(g.contiguous().view([rows, n]), weight: wt, into: gx, precision: precision)
                }
            }
            return [try gx.view(lead + [k]), nil]
        }
    }
}
