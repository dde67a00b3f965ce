import FPTensor
import Foundation

/// Rotary position embedding tables, with Llama 3's frequency scaling when configured.
enum Rope {
    /// Inverse frequencies theta^(-2i/d), i < d/2, adjusted as Hugging Face's "llama3" rope type.
    static func inverseFrequencies(_ cfg: ModelConfig) -> [Double] {
        let dh = cfg.dHead
        var inv = (0..<(dh / 2)).map { i -> Double in
            // float32 as Hugging Face computes it
            Double(Float(1.0 / pow(cfg.ropeTheta, Double(2 * i) / Double(dh))))
        }
        if let s = cfg.ropeScaling {
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

    /// cos and sin of position * frequency, [n_ctx, d_head / 2].
    static func tables(_ cfg: ModelConfig) throws -> (Tensor, Tensor) {
        let inv = inverseFrequencies(cfg).map { Float($0) }
        let half = cfg.dHead / 2
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
