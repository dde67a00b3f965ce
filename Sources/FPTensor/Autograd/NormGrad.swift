import CKernels
import Foundation

/// Row normalizations over the last dim (LayerNorm, RMSNorm) and rotary embedding, as fused
/// taped operations: one forward kernel (CKernels, vectorized for the CPU) and a closed-form
/// backward each.
extension AG {
    /// normalized = (x - mean) / s (centered) or x / s, s = sqrt(var + eps) or sqrt(mean(x^2) + eps).
    /// Returns the normalized rows and the scale s [..., 1] (the scale carries no gradient).
    public static func normalize(_ x: Tensor, eps: Float, centered: Bool) throws -> (Tensor, Tensor) {
        let xc = try x.to(.float32).contiguous()
        let (d, rows) = try normRows(x)
        var sshape = x.shape; if !sshape.isEmpty { sshape[sshape.count - 1] = 1 }
        let n = try Tensor.empty(x.shape), s = try Tensor.empty(sshape)
        try normForward(xc, rows, d, eps, centered, scale: s, normalized: n, w: nil, b: nil, out: nil)
        guard Autograd.taping(x) else { return (n, s) }
        let nv = Autograd.save(n)
        Autograd.record(n, centered ? "layer_norm" : "rms_norm", [x]) { g in
            [try normBackward(g, nv.value, s, d: d, rows: rows, centered: centered)]
        }
        return (n, s)
    }

    /// normalize(x) * w (+ b) in one pass with no normalized tensor kept apart: the same bits as
    /// normalize followed by mul and add. The backward gives x, w and b their gradients.
    public static func normAffine(_ x: Tensor, eps: Float, centered: Bool, _ w: Tensor, _ b: Tensor?) throws -> Tensor {
        let (d, rows) = try normRows(x)
        guard w.count == d, b.map({ $0.count == d }) ?? true else {
            throw TensorError("norm: weights of \(w.count) elements for rows of \(d)")
        }
        let xc = try x.to(.float32).contiguous(), wc = try w.to(.float32).contiguous(), bc = try b?.to(.float32).contiguous()
        let taped = Autograd.taping(x, w, b)
        var sshape = x.shape; if !sshape.isEmpty { sshape[sshape.count - 1] = 1 }
        let out = try Tensor.empty(x.shape), s = try Tensor.empty(sshape)
        let n = taped ? try Tensor.empty(x.shape) : nil
        try normForward(xc, rows, d, eps, centered, scale: s, normalized: n, w: wc, b: bc, out: out)
        guard taped, let n else { return out }
        let ws = Autograd.save(wc)
        return Autograd.record(out, centered ? "layer_norm" : "rms_norm", [x, w] + (b.map { [$0] } ?? [])) { g in
            let gc = try g.contiguous()
            let gn = try Tensor.binary(.mul, gc, ws.value)
            let gx = try normBackward(gn, n, s, d: d, rows: rows, centered: centered)
            let lead = Array(0..<(x.rank - 1))
            let gw = w.requiresGrad ? try Tensor.binary(.mul, gc, n).reduce(.sum, dims: lead).reshape(w.shape) : nil
            let gb = b?.requiresGrad == true ? try gc.reduce(.sum, dims: lead).reshape(b?.shape ?? []) : nil
            return [gx, gw] + (b == nil ? [] : [gb])
        }
    }

    /// fpk_norm_forward over the rows of xc (contiguous float32), in pieces of rows over the
    /// threads: each row is independent, so the bits are one thread's.
    private static func normForward(_ xc: Tensor, _ rows: Int, _ d: Int32, _ eps: Float, _ centered: Bool, scale: Tensor,
                                    normalized: Tensor?, w: Tensor?, b: Tensor?, out: Tensor?) throws {
        let D = Int(d)
        let px = try xc.readFloatPointer(), ps = try scale.floatPointer(), pn = try normalized?.floatPointer()
        let pw = try w?.readFloatPointer(), pb = try b?.readFloatPointer(), po = try out?.floatPointer()
        withExtendedLifetime((xc, w, b)) {
            SplitRange.rows(rows, rowSize: D) { lo, hi in
                fpk_norm_forward(px + lo * D, hi - lo, d, eps, centered ? 1 : 0, ps + lo, pn.map { $0 + lo * D },
                                 pw, pb, po.map { $0 + lo * D })
            }
        }
    }

    /// The row length and row count of a norm's input, in the kernel's integer types.
    private static func normRows(_ x: Tensor) throws -> (Int32, Int) {
        let d = x.shape.last ?? 1
        guard d <= Int(Int32.max) else { throw TensorError("norm: rows of \(d) elements") }
        return (Int32(d), d == 0 ? 0 : x.count / d)
    }

    /// gx = (g - [mean(g)] - n mean(g n)) / s, row by row.
    private static func normBackward(_ g: Tensor, _ n: Tensor, _ s: Tensor, d: Int32, rows: Int, centered: Bool) throws -> Tensor {
        let gc = try g.contiguous()
        let gx = try Tensor.empty(gc.shape)
        try withExtendedLifetime((gc, n, s)) {
            fpk_norm_backward(try gc.floatPointer(), try n.floatPointer(), try s.floatPointer(), rows, d, centered ? 1 : 0, try gx.floatPointer())
        }
        return gx
    }

    public static func layerNorm(_ x: Tensor, _ w: Tensor?, _ b: Tensor?, eps: Float) throws -> Tensor {
        var y = try normalize(x, eps: eps, centered: true).0
        if let w { y = try binary(.mul, y, w) }
        if let b { y = try binary(.add, y, b) }
        return y
    }

    public static func rmsNorm(_ x: Tensor, _ w: Tensor?, eps: Float) throws -> Tensor {
        var y = try normalize(x, eps: eps, centered: false).0
        if let w { y = try binary(.mul, y, w) }
        return y
    }

    /// Rotary embedding of x [B, P, H, dh] (rotate-half pairing) at per-token positions
    /// [B * P], with cos/sin tables [n_ctx, dh / 2]. The backward rotates by the opposite angle.
    public static func rope(_ x: Tensor, positions: [Int32], cos: Tensor, sin: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[3] % 2 == 0 else { throw TensorError("rope: expected [batch, pos, heads, d_head] with an even d_head, got \(fmt(x.shape))") }
        let B = x.shape[0], P = x.shape[1], H = x.shape[2], dh = x.shape[3], half = cos.shape[1]
        guard positions.count == B * P else { throw TensorError("rope: \(positions.count) positions for \(B * P) tokens") }
        // partial rotary: the tables cover the first 2 * half dims; the rest pass through
        guard 2 * half <= dh, sin.shape == cos.shape else { throw TensorError("rope: tables of \(2 * half) dims for d_head \(dh)") }
        for pos in positions where pos < 0 || Int(pos) >= cos.shape[0] {
            throw TensorError("rope: position \(pos) is outside the table")
        }
        let cc = try cos.to(.float32).contiguous(), sc = try sin.to(.float32).contiguous()
        // strided inputs (q and k are views of the fused projection) are read in place
        func rotate(_ src: Tensor, sign: Float) throws -> Tensor {
            let xs = src.dtype == .float32 && (src.strides[3] == 1 || dh <= 1) ? src : try src.to(.float32).contiguous()
            let out = try Tensor.empty(xs.shape)
            let po = try out.floatPointer()
            try withExtendedLifetime((xs, cc, sc)) {
                try positions.withUnsafeBufferPointer { pp in
                    let shape = fpk_rope_shape(x: try xs.readFloatPointer(), sb: xs.strides[0], sp: xs.strides[1], sh: xs.strides[2],
                                               P: Int32(P), H: Int32(H), dh: Int32(dh), half: Int32(half),
                                               positions: pp.baseAddress, cos: try cc.readFloatPointer(), sin: try sc.readFloatPointer())
                    withUnsafePointer(to: shape) { a in
                        SplitRange.rows(B * P, rowSize: H * dh) { lo, hi in fpk_rope(a, sign, lo, hi, po) }
                    }
                }
            }
            return out
        }
        let out = try rotate(x, sign: 1)
        guard Autograd.taping(x) else { return out }
        return Autograd.record(out, "rope", [x]) { g in [try rotate(g, sign: -1)] }
    }

    /// Rows of a table [V, d] for integer ids (embedding lookup); the gradient is scattered back.
    public static func embedding(_ table: Tensor, _ ids: Tensor) throws -> Tensor {
        let flat = try ids.contiguous().reshape([-1])
        let rows = try indexSelect(table, 0, flat)
        return try reshaped(rows, "view") { try $0.reshape(ids.shape + [table.shape[1]]) }
    }
}
