import FPTensor
import Foundation

/// Row-wise kernels of the forward pass on contiguous float buffers.
enum Kernels {
    /// LayerNorm statistics: normalized = (x - mean) / scale, scale = sqrt(var + eps) per row.
    static func layerNorm(_ x: Tensor, eps: Float, normalized: Tensor, scale: Tensor) throws {
        let d = x.shape[x.rank - 1], rows = x.count / Swift.max(d, 1)
        let px = try x.floatPointer(), pn = try normalized.floatPointer(), ps = try scale.floatPointer()
        for r in 0..<rows {
            let row = px + r * d, out = pn + r * d
            var mean: Double = 0
            for i in 0..<d { mean += Double(row[i]) }
            mean /= Double(d)
            var v: Double = 0
            for i in 0..<d { let c = Double(row[i]) - mean; v += c * c }
            let s = Float((v / Double(d) + Double(eps)).squareRoot())
            ps[r] = s
            let m = Float(mean), inv = 1 / s
            for i in 0..<d { out[i] = (row[i] - m) * inv }
        }
    }

    /// RMSNorm: normalized = x / scale, scale = sqrt(mean(x^2) + eps) per row.
    static func rmsNorm(_ x: Tensor, eps: Float, normalized: Tensor, scale: Tensor) throws {
        let d = x.shape[x.rank - 1], rows = x.count / Swift.max(d, 1)
        let px = try x.floatPointer(), pn = try normalized.floatPointer(), ps = try scale.floatPointer()
        for r in 0..<rows {
            let row = px + r * d, out = pn + r * d
            var ss: Float = 0
            for i in 0..<d { ss += row[i] * row[i] }
            let s = (ss / Float(d) + eps).squareRoot()
            ps[r] = s
            let inv = 1 / s
            for i in 0..<d { out[i] = row[i] * inv }
        }
    }

    /// normalized = (x - mean) / scale (LayerNorm) or x / scale (RMSNorm) with a given scale.
    static func divideByScale(_ x: Tensor, _ scale: Tensor, centered: Bool, into out: Tensor) throws {
        let d = x.shape[x.rank - 1], rows = x.count / Swift.max(d, 1)
        let px = try x.floatPointer(), ps = try scale.floatPointer(), po = try out.floatPointer()
        for r in 0..<rows {
            let row = px + r * d, o = po + r * d
            var mean: Double = 0
            if centered { for i in 0..<d { mean += Double(row[i]) }; mean /= Double(d) }
            let m = Float(mean), s = ps[r]
            for i in 0..<d { o[i] = (row[i] - m) / s }
        }
    }

    /// out = x * w (+ b) for each row (the norms' learned affine part).
    static func affine(_ x: Tensor, _ w: Tensor, _ b: Tensor?, into out: Tensor) throws {
        let d = x.shape[x.rank - 1], rows = x.count / Swift.max(d, 1)
        let px = try x.floatPointer(), pw = try w.floatPointer(), po = try out.floatPointer()
        let pb = try b?.floatPointer()
        for r in 0..<rows {
            let row = px + r * d, o = po + r * d
            if let pb { for i in 0..<d { o[i] = row[i] * pw[i] + pb[i] } } else { for i in 0..<d { o[i] = row[i] * pw[i] } }
        }
    }

    /// x[r, :] += b for each row, in place.
    static func addBias(_ x: Tensor, _ b: Tensor) throws {
        let d = b.count, rows = x.count / Swift.max(d, 1)
        let px = try x.floatPointer(), pb = try b.floatPointer()
        for r in 0..<rows { let row = px + r * d; for i in 0..<d { row[i] += pb[i] } }
    }

    /// Rotary embedding in place on x viewed as [B, P, H, dh] (rotate-half pairing, as Hugging
    /// Face's Llama): (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin) at each token's position.
    static func rope(_ x: Tensor, positions: [Int32], cos: Tensor, sin: Tensor) throws {
        let B = x.shape[0], P = x.shape[1], H = x.shape[2], dh = x.shape[3], half = dh / 2
        let px = try x.floatPointer(), pc = try cos.floatPointer(), psn = try sin.floatPointer()
        for b in 0..<B {
            for p in 0..<P {
                let pos = Int(positions[b * P + p])
                let c = pc + pos * half, s = psn + pos * half
                for h in 0..<H {
                    let v = px + b * x.strides[0] + p * x.strides[1] + h * x.strides[2]
                    for i in 0..<half {
                        let x1 = v[i], x2 = v[i + half]
                        v[i] = x1 * c[i] - x2 * s[i]
                        v[i + half] = x2 * c[i] + x1 * s[i]
                    }
                }
            }
        }
    }
}
