import Foundation

/// The process-wide random number generator behind `fp.seed`, `randn`, `rand`, `randint`,
/// `randperm` and `multinomial`: xoshiro256** whose 256-bit state is expanded from a 64-bit
/// seed with splitmix64 (the seeding its authors recommend, so that similar seeds such as
/// 0 and 1 still give unrelated streams). The same seed gives the same numbers in every run.
/// The streams are fp's own; they do not reproduce torch's Mersenne Twister numbers.
public enum RandomSource {
    /// Like torch, an unseeded process starts from a fixed seed, so runs are reproducible.
    public static let defaultSeed: UInt64 = 67280421310721

    private nonisolated(unsafe) static var state: (UInt64, UInt64, UInt64, UInt64) = expand(defaultSeed)
    private nonisolated(unsafe) static var lastSeed: UInt64 = defaultSeed
    /// Lua runs on one thread, but Swift callers (tests, worker code) may not.
    private static let lock = NSLock()

    /// Restarts the stream from `s`.
    public static func seed(_ s: UInt64) {
        lock.lock(); defer { lock.unlock() }
        state = expand(s)
        lastSeed = s
    }

    /// The seed most recently given to `seed` (or `defaultSeed`).
    public static var initialSeed: UInt64 {
        lock.lock(); defer { lock.unlock() }
        return lastSeed
    }

    /// splitmix64 turns one 64-bit seed into four well-mixed state words (never all zero).
    private static func expand(_ seed: UInt64) -> (UInt64, UInt64, UInt64, UInt64) {
        var x = seed
        func next() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return (next(), next(), next(), next())
    }

    /// One xoshiro256** step on a state the caller owns (a local copy: touching the global
    /// state per number costs an exclusivity check each time).
    @inline(__always) private static func advance(_ s: inout (UInt64, UInt64, UInt64, UInt64)) -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 &- k))
    }

    /// Runs `body` with exclusive access to the generator; `next()` yields raw 64-bit words.
    /// Bulk fills take the lock once rather than per element.
    static func withGenerator<R>(_ body: (_ next: () -> UInt64) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        var local = state
        defer { state = local }
        return try body { advance(&local) }
    }

    public static func nextUInt64() -> UInt64 { withGenerator { $0() } }

    /// Uniform in [0, 1) with 53 random bits.
    public static func nextDouble() -> Double { withGenerator { unitDouble($0()) } }

    @inline(__always) static func unitDouble(_ x: UInt64) -> Double {
        Double(x >> 11) * 0x1.0p-53
    }

    /// Uniform in [0, 1) with 24 random bits (every float32 multiple of 2^-24 equally likely;
    /// using more bits could round up to exactly 1.0).
    @inline(__always) static func unitFloat(_ x: UInt64) -> Float {
        Float(x >> 40) * 0x1.0p-24
    }

    /// Uniform integer in 0..<bound without modulo bias (Lemire's multiply-and-reject).
    @inline(__always) static func below(_ bound: UInt64, _ next: () -> UInt64) -> UInt64 {
        if bound == 0 { return next() }  // the full 2^64 range
        var m = bound.multipliedFullWidth(by: next())
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = bound.multipliedFullWidth(by: next()) }
        }
        return m.high
    }

    /// Fills `n` floats with standard normal samples by Box-Muller, two per pair of uniforms.
    static func fillNormal(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        withGenerator { next in
            var i = 0
            while i < n {
                // 1 - u lies in (0, 1], so the log is finite.
                let bits = next()
                // 1 - u lies in (0, 1], so the log is finite; float math is enough for float32 output.
                let u1 = 1 - Float(bits >> 40) * 0x1.0p-24
                let u2 = Float((bits >> 16) & 0xFF_FFFF) * 0x1.0p-24
                let r = (-2 * logf(u1)).squareRoot()
                let theta = 2 * Float.pi * u2
                p[i] = r * cosf(theta)
                if i + 1 < n { p[i + 1] = r * sinf(theta) }
                i += 2
            }
        }
    }

    static func fillUniform(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        withGenerator { next in
            for i in 0..<n { p[i] = unitFloat(next()) }
        }
    }
}

extension Tensor {
    /// Standard normal samples (float32).
    public static func randn(_ shape: [Int]) throws -> Tensor {
        try checkShape(shape, "randn")
        let out = try Tensor.empty(shape)
        RandomSource.fillNormal(try out.floatPointer(), out.count)
        return out
    }

    /// Uniform samples in [0, 1) (float32).
    public static func rand(_ shape: [Int]) throws -> Tensor {
        try checkShape(shape, "rand")
        let out = try Tensor.empty(shape)
        RandomSource.fillUniform(try out.floatPointer(), out.count)
        return out
    }

    /// Uniform integers in low..<high (int64).
    public static func randint(low: Int, high: Int, shape: [Int]) throws -> Tensor {
        try checkShape(shape, "randint")
        guard high > low else {
            throw TensorError("randint: high (\(high)) must be greater than low (\(low))")
        }
        // high - low can exceed Int.max (e.g. Int.min..<Int.max): work in UInt64 with wrapping.
        let span = UInt64(bitPattern: Int64(high) &- Int64(low))
        let out = try Tensor.empty(shape, dtype: .int64)
        let p = try out.intPointer(), n = out.count
        RandomSource.withGenerator { next in
            for i in 0..<n {
                p[i] = Int64(low) &+ Int64(bitPattern: RandomSource.below(span, next))
            }
        }
        return out
    }

    /// A random permutation of 0..<n (int64).
    public static func randperm(_ n: Int) throws -> Tensor {
        guard n >= 0 else { throw TensorError("randperm: n must be non-negative, got \(n)") }
        let out = try Tensor.empty([n], dtype: .int64)
        let p = try out.intPointer()
        for i in 0..<n { p[i] = Int64(i) }
        // Fisher-Yates: position i takes a uniformly chosen element from the not yet placed ones.
        RandomSource.withGenerator { next in
            var i = n - 1
            while i > 0 {
                let j = Int(RandomSource.below(UInt64(i + 1), next))
                let t = p[i]; p[i] = p[j]; p[j] = t
                i -= 1
            }
        }
        return out
    }

    /// Draws category indices with probability proportional to `probs` (torch.multinomial):
    /// `probs` is [n] or [rows, n], non-negative, finite and not all zero per row (it need not
    /// sum to 1). Without replacement a row yields distinct indices, so `numSamples` may not
    /// exceed its number of non-zero categories. Returns int64 [numSamples] or [rows, numSamples].
    public static func multinomial(_ probs: Tensor, numSamples: Int, replacement: Bool) throws -> Tensor {
        guard probs.dtype == .float32 else {
            throw TensorError("multinomial: probs must be a float32 tensor, got \(probs.dtype.rawValue)")
        }
        guard probs.rank == 1 || probs.rank == 2 else {
            throw TensorError("multinomial: probs must be 1-D or 2-D, got shape \(fmt(probs.shape))")
        }
        guard numSamples > 0 else {
            throw TensorError("multinomial: numSamples must be positive, got \(numSamples)")
        }
        let p2 = probs.rank == 1 ? try probs.unsqueeze(0) : probs
        let rows = p2.shape[0], n = p2.shape[1]
        guard n > 0 else { throw TensorError("multinomial: probs has no categories (shape \(fmt(probs.shape)))") }
        let src = try p2.contiguous()
        let sp = try src.floatPointer()

        // Validate every row before drawing anything.
        for r in 0..<rows {
            var total = 0.0, nonZero = 0
            for j in 0..<n {
                let v = sp[r * n + j]
                guard v.isFinite, v >= 0 else {
                    throw TensorError("multinomial: probs must be finite and non-negative, got \(v) at row \(r), index \(j)")
                }
                total += Double(v)
                if v > 0 { nonZero += 1 }
            }
            guard total > 0 else { throw TensorError("multinomial: probs row \(r) sums to zero") }
            if !replacement && numSamples > nonZero {
                throw TensorError("multinomial: cannot draw \(numSamples) samples without replacement from row \(r) with \(nonZero) non-zero categories")
            }
        }

        let outShape = probs.rank == 1 ? [numSamples] : [rows, numSamples]
        try checkShape(outShape, "multinomial")
        let out = try Tensor.empty(outShape, dtype: .int64)
        let op = try out.intPointer()
        var cdf = [Double](repeating: 0, count: n)
        var keys = [(key: Double, index: Int)]()
        keys.reserveCapacity(n)
        RandomSource.withGenerator { next in
            for r in 0..<rows {
                let row = sp + r * n, dst = op + r * numSamples
                if replacement {
                    // Inverse CDF: the first category whose cumulative weight exceeds u * total.
                    var acc = 0.0, last = 0
                    for j in 0..<n {
                        acc += Double(row[j]); cdf[j] = acc
                        if row[j] > 0 { last = j }
                    }
                    for s in 0..<numSamples {
                        let u = RandomSource.unitDouble(next()) * acc
                        var lo = 0, hi = n  // first j with cdf[j] > u; zero-weight j never qualifies
                        while lo < hi {
                            let mid = (lo + hi) / 2
                            if cdf[mid] > u { hi = mid } else { lo = mid + 1 }
                        }
                        // Rounding can put u * total at the total: fall back to the last non-zero category.
                        dst[s] = Int64(lo < n ? lo : last)
                    }
                } else {
                    // Exponential race: category j "arrives" at E_j / p_j with E_j ~ Exp(1); the
                    // order of arrival has the same law as drawing one at a time without
                    // replacement, so the numSamples earliest arrivals, in order, are the sample.
                    keys.removeAll(keepingCapacity: true)
                    for j in 0..<n where row[j] > 0 {
                        let e = -log(1.0 - RandomSource.unitDouble(next()))
                        keys.append((e / Double(row[j]), j))
                    }
                    keys.sort { $0.key < $1.key || ($0.key == $1.key && $0.index < $1.index) }
                    for s in 0..<numSamples { dst[s] = Int64(keys[s].index) }
                }
            }
        }
        return out
    }
}
