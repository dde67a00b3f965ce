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
        try withExtendedLifetime(xc) {
            fpk_norm_forward(try xc.floatPointer(), rows, d, eps, centered ? 1 : 0, try s.floatPointer(), try n.floatPointer(), nil, nil, nil)
        }
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
        try withExtendedLifetime((xc, wc, bc)) {
            fpk_norm_forward(try xc.floatPointer(), rows, d, eps, centered ? 1 : 0, try s.floatPointer(), try n?.floatPointer(),
                             try wc.floatPointer(), try bc?.floatPointer(), try out.floatPointer())
        }
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
        func rotate(_ src: Tensor, sign: Float) throws -> Tensor {
            let xc = try src.contiguous()
            let out = try Tensor.empty(xc.shape)
            // partial rotary: the tables cover the first 2 * half dims; the rest pass through
            let B = xc.shape[0], P = xc.shape[1], H = xc.shape[2], dh = xc.shape[3], half = cos.shape[1]
            guard positions.count == B * P else { throw TensorError("rope: \(positions.count) positions for \(B * P) tokens") }
            guard 2 * half <= dh else { throw TensorError("rope: tables of \(2 * half) dims for d_head \(dh)") }
            let px = try xc.floatPointer(), po = try out.floatPointer(), pc = try cos.floatPointer(), psn = try sin.floatPointer()
            for t in 0..<(B * P) {
                let pos = Int(positions[t])
                guard pos >= 0, pos < cos.shape[0] else { throw TensorError("rope: position \(pos) is outside the table") }
                let c = pc + pos * half, s = psn + pos * half
                for h in 0..<H {
                    let v = px + (t * H + h) * dh, o = po + (t * H + h) * dh
                    for i in 0..<half {
                        let x1 = v[i], x2 = v[i + half], si = sign * s[i]
                        o[i] = x1 * c[i] - x2 * si
                        o[i + half] = x2 * c[i] + x1 * si
                    }
                    if 2 * half < dh { (o + 2 * half).update(from: v + 2 * half, count: dh - 2 * half) }
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
