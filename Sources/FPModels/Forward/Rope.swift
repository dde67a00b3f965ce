import FPTensor
import Foundation

/// Rotary position embedding tables, with Llama 3's frequency scaling when configured.
enum Rope {
    /// Inverse frequencies theta^(-2i/d), i < d/2, d = rotary_dim (partial rotary: fewer than
    /// d_head), adjusted as Hugging Face's "llama3" rope type.
    static func inverseFrequencies(_ cfg: ModelConfig, theta: Double, scaled: Bool) -> [Double] {
        let dim = cfg.rotaryDim
        var inv = (0..<(dim / 2)).map { i -> Double in
            // float32 as Hugging Face computes it
            Double(Float(1.0 / pow(theta, Double(2 * i) / Double(dim))))
        }
        if scaled, let s = cfg.ropeScaling {
            let lowWavelen = s.originalMaxPositions / s.lowFreqFactor
            let highWavelen = s.originalMaxPositions / s.highFreqFactor
            inv = inv.map { f in
                let wavelen = 2 * Double.pi / f
                if wavelen < highWavelen { return f }               // high frequencies unchanged
                if wavelen > lowWavelen { return f / s.factor }     // low frequencies scaled down
                let smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
                return (1 - smooth) * f / s.factor + smooth * f
            }
        }
        return inv
    }

    /// cos and sin of position * frequency, [n_ctx, rotary_dim / 2], for base `theta` (with the
    /// model's frequency scaling when `scaled`; Gemma 3's local layers have none).
    static func tables(_ cfg: ModelConfig, theta: Double, scaled: Bool = true) throws -> (cos: Tensor, sin: Tensor) {
        let inv = inverseFrequencies(cfg, theta: theta, scaled: scaled).map { Float($0) }
        let half = cfg.rotaryDim / 2
        let c = try Tensor.empty([cfg.nCtx, half]), s = try Tensor.empty([cfg.nCtx, half])
        let pc = try c.floatPointer(), ps = try s.floatPointer()
        for p in 0..<cfg.nCtx {
            for i in 0..<half {
                let angle = Float(p) * inv[i]     // float32 product, as the reference computes it
                pc[p * half + i] = Float(cos(Double(angle)))
                ps[p * half + i] = Float(sin(Double(angle)))
            }
        }
        return (c, s)
    }
}
