import Foundation

/// A generator that reproduces PyTorch's CPU random streams: `torch.manual_seed(s)` followed by
/// torch.randint / rand / randn / randperm / Tensor.uniform_ / Tensor.normal_ (float32, int64).
/// torch's CPU generator is a 32-bit Mersenne Twister (mt19937 seeded with the low 32 bits of
/// the seed); each operation turns its words into numbers as ATen does:
/// - rand, uniform_(a, b): one word per element, x = (w & (2^24 - 1)) * 2^-24 as float, then
///   a + x * (b - a) with one rounding (a fused multiply-add, as torch's build computes it);
/// - randint(low, high): one word (two, high word first, when high - low >= 2^32) modulo the range;
/// - randperm(n): Fisher-Yates from the front, swapping i with i + word % (n - i);
/// - randn, normal_ on >= 16 contiguous floats: every element first gets a uniform float, then
///   each block of 16 becomes 8 Box-Muller pairs (u1 = 1 - x[j], u2 = x[j + 8]); a ragged tail
///   redraws the last 16 elements. torch vectorises this with SLEEF, so results agree with
///   torch to a few float32 ulps, not bit for bit;
/// - randn, normal_ on fewer elements: double-precision Box-Muller from two 53-bit uniforms,
///   the sine half kept for the next call (bit for bit after rounding to float32).
public final class TorchGenerator {
    private var mt = [UInt32](repeating: 0, count: 624)
    private var index = 624
    private var nextNormal: Double?
    public private(set) var seed: UInt64 = 0

    public init(seed: UInt64) { manualSeed(seed) }

    /// torch.manual_seed: restarts the stream (and drops a kept normal sample).
    public func manualSeed(_ s: UInt64) {
        seed = s
        mt[0] = UInt32(truncatingIfNeeded: s)
        for i in 1..<624 { mt[i] = 1812433253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i) }
        index = 624
        nextNormal = nil
    }

    /// The next 32-bit word of mt19937.
    public func random() -> UInt32 {
        if index >= 624 { twist() }
        var y = mt[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// Two words, the first one high (ATen's random64).
    public func random64() -> UInt64 {
        let hi = UInt64(random()), lo = UInt64(random())
        return hi << 32 | lo
    }

    private func twist() {
        mt.withUnsafeMutableBufferPointer { m in
            for k in 0..<624 {
                let y = (m[k] & 0x8000_0000) | (m[(k + 1) % 624] & 0x7FFF_FFFF)
                m[k] = m[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908_B0DF : 0)
            }
        }
        index = 0
    }

    @inline(__always) private func uniformFloat() -> Float { Float(random() & 0xFF_FFFF) * 0x1.0p-24 }
    @inline(__always) private func uniformDouble() -> Double { Double(random64() & ((1 << 53) - 1)) * 0x1.0p-53 }

    /// torch.randint(low, high, shape): int64.
    public func randint(low: Int, high: Int, shape: [Int]) throws -> Tensor {
        let (range, o) = high.subtractingReportingOverflow(low)
        guard !o, range > 0 else { throw TensorError("randint: low (\(low)) must be less than high (\(high))") }
        let t = try Tensor.empty(shape, dtype: .int64)
        let p = try t.intPointer(), r = UInt64(range)
        for i in 0..<t.count {
            let w = r >= 1 << 32 ? random64() : UInt64(random())
            p[i] = Int64(low) &+ Int64(w % r)
        }
        return t
    }

    /// torch.randperm(n): int64.
    public func randperm(_ n: Int) throws -> Tensor {
        guard n >= 0 else { throw TensorError("randperm: n must be non-negative, got \(n)") }
        // above this torch switches to 64-bit draws, which this generator does not reproduce
        guard n < Int(UInt32.max / 20) else { throw TensorError("randperm: n = \(n) is too large for the torch-compatible generator (at most \(UInt32.max / 20 - 1))") }
        let t = try Tensor.empty([n], dtype: .int64)
        let p = try t.intPointer()
        for i in 0..<n { p[i] = Int64(i) }
        if n > 1 {
            for i in 0..<(n - 1) {
                let z = Int(random() % UInt32(n - i))
                let saved = p[i]; p[i] = p[z + i]; p[z + i] = saved
            }
        }
        return t
    }

    /// Tensor.uniform_(from, to) on a float32 tensor, elements in row-major order.
    public func uniform(_ t: Tensor, from a: Double = 0, to b: Double = 1) throws {
        guard t.dtype == .float32 else { throw TensorError("uniform_: expected a float32 tensor, got \(t.dtype.rawValue)") }
        let lo = Float(a), range = Float(b) - Float(a)
        // ATen's x * (to - from) + from, which its CPU build fuses into one multiply-add
        try fillRowMajor(t) { lo.addingProduct(self.uniformFloat(), range) }
    }

    /// Tensor.normal_(mean, std) on a float32 tensor (torch.randn is normal_(0, 1)).
    public func normal(_ t: Tensor, mean: Double = 0, std: Double = 1) throws {
        guard t.dtype == .float32 else { throw TensorError("normal_: expected a float32 tensor, got \(t.dtype.rawValue)") }
        let n = t.count
        if n >= 16 && t.isContiguous {
            let p = try t.floatPointer()
            for i in 0..<n { p[i] = uniformFloat() }
            var i = 0
            while i + 16 <= n { boxMuller16(p + i, Float(mean), Float(std)); i += 16 }
            if n % 16 != 0 {
                let tail = p + n - 16
                for j in 0..<16 { tail[j] = uniformFloat() }
                boxMuller16(tail, Float(mean), Float(std))
            }
            return
        }
        try fillRowMajor(t) { Float(self.normalDouble() * std + mean) }
    }

    /// ATen's normal_distribution<double>: a pair per two draws, the second kept for next time.
    private func normalDouble() -> Double {
        if let v = nextNormal { nextNormal = nil; return v }
        let u1 = uniformDouble(), u2 = uniformDouble()
        let r = (-2 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2 * Double.pi * u1
        nextNormal = r * Foundation.sin(theta)
        return r * Foundation.cos(theta)
    }

    /// 16 uniforms in place -> 8 Box-Muller pairs (ATen's normal_fill_16), in float32.
    private func boxMuller16(_ d: UnsafeMutablePointer<Float>, _ mean: Float, _ std: Float) {
        for j in 0..<8 {
            let u1 = 1 - d[j], u2 = d[j + 8]
            let radius = (-2 * logf(u1)).squareRoot()
            let theta = Float(2.0 * Double.pi * Double(u2))
            d[j] = radius * cosf(theta) * std + mean
            d[j + 8] = radius * sinf(theta) * std + mean
        }
    }

    private func fillRowMajor(_ t: Tensor, _ next: () -> Float) throws {
        let c = t.isContiguous ? t : try t.contiguous()
        let p = try c.floatPointer()
        for i in 0..<c.count { p[i] = next() }
        if c !== t { try t.copyFrom(c) }
    }
}
