import Foundation

/// Row normalizations over the last dim (LayerNorm, RMSNorm) and rotary embedding, as fused
/// taped operations: one forward loop and a closed-form backward each.
extension AG {
    /// normalized = (x - mean) / s (centered) or x / s, s = sqrt(var + eps) or sqrt(mean(x^2) + eps).
    /// Returns the normalized rows and the scale s [..., 1] (the scale carries no gradient).
    public static func normalize(_ x: Tensor, eps: Float, centered: Bool) throws -> (Tensor, Tensor) {
        let xc = try x.to(.float32).contiguous()
        let d = x.shape.last ?? 1, rows = x.count / Swift.max(d, 1)
        var sshape = x.shape; if !sshape.isEmpty { sshape[sshape.count - 1] = 1 }
        let n = try Tensor.empty(x.shape), s = try Tensor.empty(sshape)
        let px = try xc.floatPointer(), pn = try n.floatPointer(), ps = try s.floatPointer()
        for r in 0..<rows {
            let row = px + r * d, out = pn + r * d
            var mean: Double = 0
            if centered { for i in 0..<d { mean += Double(row[i]) }; mean /= Double(d) }
            var v: Double = 0
            for i in 0..<d { let c = Double(row[i]) - mean; v += c * c }
            let sc = Float((v / Double(d) + Double(eps)).squareRoot())
            ps[r] = sc
            let m = Float(mean), inv = 1 / sc
            for i in 0..<d { out[i] = (row[i] - m) * inv }
        }
        guard Autograd.taping(x) else { return (n, s) }
        let nv = Autograd.save(n), sv = s
        Autograd.record(n, centered ? "layer_norm" : "rms_norm", [x]) { g in
            // gx = (g - [mean(g)] - n mean(g n)) / s
            let gc = try g.contiguous()
            let gx = try Tensor.empty(gc.shape)
            let pg = try gc.floatPointer(), pn = try nv.value.floatPointer(), ps = try sv.floatPointer(), po = try gx.floatPointer()
            for r in 0..<rows {
                let gr = pg + r * d, nr = pn + r * d, o = po + r * d
                var mg: Float = 0, mgn: Float = 0
                for i in 0..<d { mg += gr[i]; mgn += gr[i] * nr[i] }
                mg /= Float(d); mgn /= Float(d)
                if !centered { mg = 0 }
                let inv = 1 / ps[r]
                for i in 0..<d { o[i] = (gr[i] - mg - nr[i] * mgn) * inv }
            }
            return [gx]
        }
        return (n, s)
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
