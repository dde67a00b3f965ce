import FPTensor
import Foundation

/// Rotary position embedding tables, with Hugging Face's frequency scaling when configured
/// (modeling_rope_utils.py's llama3, linear, dynamic, yarn and longrope types).
enum Rope {
    /// Inverse frequencies theta^(-2i/d), i < d/2, d = rotary_dim (partial rotary: fewer than
    /// d_head), adjusted as the model's rope scaling says; `long` picks longrope's long factors.
    static func inverseFrequencies(_ cfg: ModelConfig, theta: Double, scaling: ModelConfig.RopeScaling?, long: Bool = false) -> [Double] {
        let dim = cfg.rotaryDim
        // float32 as Hugging Face computes it
        let exponents = (0..<(dim / 2)).map { Double(Float(Double(2 * $0) / Double(dim))) }
        let plain = exponents.map { Double(Float(1.0 / pow(theta, $0))) }
        guard let s = scaling else { return plain }
        switch s.kind {
        case .dynamic:
            // HF recomputes the base only for sequences longer than max_position_embeddings,
            // which fp refuses: within the context it is plain RoPE
            return plain
        case .linear:
            return plain.map { Double(Float($0) / Float(s.factor)) }
        case .llama3:
            let lowWavelen = s.originalMaxPositions / s.lowFreqFactor
            let highWavelen = s.originalMaxPositions / s.highFreqFactor
            return plain.map { f in
                let wavelen = 2 * Double.pi / f
                if wavelen < highWavelen { return f }               // high frequencies unchanged
                if wavelen > lowWavelen { return f / s.factor }     // low frequencies scaled down
                let smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
                return (1 - smooth) * f / s.factor + smooth * f
            }
        case .yarn:
            // a ramp over dims between the ones that turn beta_fast and beta_slow times in the
            // original context: below it the original frequencies, above it the interpolated
            func correctionDim(_ rotations: Double) -> Double {
                Double(dim) * log(s.originalMaxPositions / (rotations * 2 * Double.pi)) / (2 * log(theta))
            }
            var low = correctionDim(s.betaFast), high = correctionDim(s.betaSlow)
            if s.truncate { low = floor(low); high = ceil(high) }
            low = Swift.max(low, 0); high = Swift.min(high, Double(dim - 1))
            if low == high { high += 0.001 }
            return exponents.enumerated().map { i, e in
                let posFreq = Float(pow(theta, e))
                let extrapolation = Double(1 / posFreq), interpolation = Double(1 / (Float(s.factor) * posFreq))
                let ramp = Double(Float(Swift.min(Swift.max((Double(i) - low) / (high - low), 0), 1)))
                let keep = 1 - ramp
                return interpolation * (1 - keep) + extrapolation * keep
            }
        case .longrope:
            let factors = long ? s.longFactor : s.shortFactor
            return exponents.enumerated().map { i, e in Double(1 / (Float(factors[i]) * Float(pow(theta, e)))) }
        }
    }

    /// What cos and sin are multiplied by (yarn's mscale, longrope's attention factor; 1 else).
    static func attentionFactor(_ s: ModelConfig.RopeScaling?) -> Double {
        guard let s else { return 1 }
        if let a = s.attentionFactor { return a }
        switch s.kind {
        case .yarn:
            func mscale(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * log(scale) + 1 }
            if let m = s.mscale, let all = s.mscaleAllDim, m != 0, all != 0 { return mscale(s.factor, m) / mscale(s.factor, all) }
            return mscale(s.factor)
        case .longrope:
            return s.factor <= 1 ? 1 : (1 + log(s.factor) / log(s.originalMaxPositions)).squareRoot()
        case .llama3, .linear, .dynamic:
            return 1
        }
    }

    /// Combinations the tables cannot be made for (checked at load).
    static func problems(_ cfg: ModelConfig) -> [String] {
        guard let s = cfg.ropeScaling, s.kind == .longrope else { return [] }
        let half = cfg.rotaryDim / 2
        guard s.shortFactor.count == half, s.longFactor.count == half else {
            return ["longrope factors of \(s.shortFactor.count) and \(s.longFactor.count) entries for \(half) rotary frequencies"]
        }
        return (s.shortFactor + s.longFactor).contains { !($0.isFinite && $0 > 0) } ? ["a longrope factor that is not positive"] : []
    }

    /// cos and sin of position * frequency for positions 0..<rows, [rows, rotary_dim / 2], from
    /// the inverse frequencies and attention factor.
    static func tables(rows: Int, half: Int, inv: [Float], factor a: Float) throws -> (cos: Tensor, sin: Tensor) {
        let c = try Tensor.empty([rows, half]), s = try Tensor.empty([rows, half])
        let pc = try c.floatPointer(), ps = try s.floatPointer()
        for p in 0..<rows {
            for i in 0..<half {
                let angle = Float(p) * inv[i]     // float32 product, as the reference computes it
                pc[p * half + i] = Float(cos(Double(angle))) * a
                ps[p * half + i] = Float(sin(Double(angle))) * a
            }
        }
        return (c, s)
    }
}

/// One set of RoPE tables (base and frequency scaling), made for the positions runs have
/// reached so far and grown (doubling, up to n_ctx) when a run goes further: a Llama 3 model's
/// 131072-position tables took 0.2 s and 32 MB at load though most runs use a few hundred. A
/// position's row is the same whatever the table's size.
final class RopeTable {
    private let inv: [Float], factor: Float, half: Int, limit: Int
    private var current: (cos: Tensor, sin: Tensor)?
    private let lock = NSLock()

    /// `scaling` and `long` as Rope.inverseFrequencies; the tables stop at cfg.nCtx rows.
    init(_ cfg: ModelConfig, theta: Double, scaling: ModelConfig.RopeScaling?, long: Bool = false) {
        inv = Rope.inverseFrequencies(cfg, theta: theta, scaling: scaling, long: long).map { Float($0) }
        factor = Float(Rope.attentionFactor(scaling))
        half = cfg.rotaryDim / 2
        limit = cfg.nCtx
    }

    /// Tables with a row for every position below `positions` (at most n_ctx rows; the rope
    /// kernel refuses positions past the table).
    func tables(covering positions: Int) throws -> (cos: Tensor, sin: Tensor) {
        lock.lock(); defer { lock.unlock() }
        let want = Swift.min(Swift.max(positions, 1), limit)
        if let t = current, t.cos.shape[0] >= want { return t }
        var rows = Swift.max(current?.cos.shape[0] ?? 0, 1024)
        while rows < want { rows *= 2 }
        let t = try Rope.tables(rows: Swift.min(rows, limit), half: half, inv: inv, factor: factor)
        current = t
        return t
    }
}
