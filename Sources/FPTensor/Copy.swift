import Foundation

/// Copies and dtype conversion.
extension Tensor {
    /// Self if already contiguous, else a contiguous copy.
    public func contiguous() throws -> Tensor {
        try checkValid()
        if isContiguous { return self }
        return try clone()
    }

    /// A contiguous copy with its own storage.
    public func clone() throws -> Tensor {
        let out = try Tensor.empty(shape, dtype: dtype)
        try out.copyFrom(self)
        return out
    }

    /// Writes `src` (broadcast to this shape, converted to this dtype) into this tensor in place.
    public func copyFrom(_ src: Tensor) throws {
        try checkValid()
        let s = try src.expand(shape)
        let source = s.dtype == dtype ? s : try s.to(dtype)
        let loop = StridedLoop(shape: shape, strides: [strides, source.strides])
        let esize = dtype.byteSize
        let dst = try storage.raw() + offset * esize
        let srcp = try source.storage.rawForReading() + source.offset * esize
        // Overlapping storage (e.g. t[{{1}}] = t[{{0,-1}}]): go through a copy.
        if source.storage === storage && !(source.offset == offset && source.strides == strides) {
            try copyFrom(try source.clone())
            return
        }
        loop.forEachRow { off, n, inner in
            let d = dst + off[0] * esize, sp = srcp + off[1] * esize
            if inner[0] == 1 && inner[1] == 1 {
                memcpy(d, sp, n * esize)
            } else {
                switch esize {
                case 4: stridedCopy(UInt32.self, d, inner[0], sp, inner[1], n)
                case 8: stridedCopy(UInt64.self, d, inner[0], sp, inner[1], n)
                default: stridedCopy(UInt8.self, d, inner[0], sp, inner[1], n)
                }
            }
        }
    }

    /// Fills with a value (converted to this dtype).
    public func fill(_ v: Double) throws {
        try checkValid()
        let loop = StridedLoop(shape: shape, strides: [strides])
        switch dtype {
        case .float32:
            let p = try floatPointer(); let x = Float(v)
            loop.forEachRow { off, n, inner in
                let q = p + off[0]
                if inner[0] == 1 { q.update(repeating: x, count: n) } else { for i in 0..<n { q[i * inner[0]] = x } }
            }
        case .int64:
            let p = try intPointer(); let x = try Int64.storing(v)
            loop.forEachRow { off, n, inner in for i in 0..<n { p[off[0] + i * inner[0]] = x } }
        case .bool:
            let p = try boolPointer(); let x: UInt8 = v != 0 ? 1 : 0
            loop.forEachRow { off, n, inner in for i in 0..<n { p[off[0] + i * inner[0]] = x } }
        }
    }

    /// fill with an integer: exact in an int64 tensor (a Double would round values beyond 2^53).
    public func fill(int v: Int64) throws {
        guard dtype == .int64 else { return try fill(Double(v)) }
        try checkValid()
        let loop = StridedLoop(shape: shape, strides: [strides])
        let p = try intPointer()
        loop.forEachRow { off, n, inner in for i in 0..<n { p[off[0] + i * inner[0]] = v } }
    }

    /// A contiguous copy converted to `dt` (self when already of that dtype).
    public func to(_ dt: DType) throws -> Tensor {
        if dt == dtype { return self }
        try checkValid()
        let out = try Tensor.empty(shape, dtype: dt)
        let loop = StridedLoop(shape: shape, strides: [strides, out.strides])
        switch (dtype, dt) {
        case (.float32, .int64):
            // truncation toward zero as torch's .long(); NaN, infinities and values beyond int64
            // have no integer to truncate to: an error, not a made-up 0 or clamp
            let s = try floatPointer(), d = try out.intPointer()
            var bad: Float?
            loop.forEachRow { o, n, inn in
                for i in 0..<n {
                    let x = s[o[0] + i * inn[0]]
                    if !(Swift.abs(x) < 9.2e18) { bad = bad ?? x }
                    d[o[1] + i * inn[1]] = Int64(clampingToInt64: Double(x))
                }
            }
            if let bad { throw TensorError("cannot convert \(bad) to int64 (no integer value)") }
        case (.float32, .bool):
            let s = try floatPointer(), d = try out.boolPointer()
            loop.forEachRow { o, n, inn in for i in 0..<n { d[o[1] + i * inn[1]] = s[o[0] + i * inn[0]] != 0 ? 1 : 0 } }
        case (.int64, .float32):
            let s = try intPointer(), d = try out.floatPointer()
            loop.forEachRow { o, n, inn in for i in 0..<n { d[o[1] + i * inn[1]] = Float(s[o[0] + i * inn[0]]) } }
        case (.int64, .bool):
            let s = try intPointer(), d = try out.boolPointer()
            loop.forEachRow { o, n, inn in for i in 0..<n { d[o[1] + i * inn[1]] = s[o[0] + i * inn[0]] != 0 ? 1 : 0 } }
        case (.bool, .float32):
            let s = try boolPointer(), d = try out.floatPointer()
            loop.forEachRow { o, n, inn in for i in 0..<n { d[o[1] + i * inn[1]] = Float(s[o[0] + i * inn[0]]) } }
        case (.bool, .int64):
            let s = try boolPointer(), d = try out.intPointer()
            loop.forEachRow { o, n, inn in for i in 0..<n { d[o[1] + i * inn[1]] = Int64(s[o[0] + i * inn[0]]) } }
        default: break
        }
        return out
    }

    /// Element values as Doubles in row-major order (for printing, tolist and tests).
    public func toDoubles() throws -> [Double] {
        let c = try contiguous()
        let n = c.count
        var out = [Double](repeating: 0, count: n)
        switch dtype {
        case .float32: let p = try c.readFloatPointer(); for i in 0..<n { out[i] = Double(p[i]) }
        case .int64: let p = try c.intPointer(); for i in 0..<n { out[i] = Double(p[i]) }
        case .bool: let p = try c.boolPointer(); for i in 0..<n { out[i] = Double(p[i]) }
        }
        return out
    }

    /// Reads only (a weight's reordered copy stays valid).
    public func toFloats() throws -> [Float] {
        let c = try to(.float32).contiguous()
        let p = try c.readFloatPointer()
        return Array(UnsafeBufferPointer(start: p, count: c.count))
    }

    public func toInts() throws -> [Int] {
        let c = try to(.int64).contiguous()
        let p = try c.intPointer()
        return (0..<c.count).map { Int(p[$0]) }
    }
}

@inline(__always)
private func stridedCopy<T>(_: T.Type, _ d: UnsafeMutableRawPointer, _ ds: Int, _ s: UnsafeRawPointer, _ ss: Int, _ n: Int) {
    let dp = d.assumingMemoryBound(to: T.self), sp = s.assumingMemoryBound(to: T.self)
    for i in 0..<n { dp[i * ds] = sp[i * ss] }
}

extension Int64 {
    /// A number stored into an int64 tensor (fill, masked_fill, assignment): NaN, infinities,
    /// fractions and values beyond int64 are errors, never a guess.
    public static func storing(_ v: Double) throws -> Int64 {
        if let x = Int64(exactly: v) { return x }
        let why = !v.isFinite ? "not a finite number" : v == v.rounded() ? "out of the int64 range" : "not an integer"
        throw TensorError("value \(v) cannot be stored in an int64 tensor (\(why))")
    }

    /// Float to integer without trapping: NaN -> 0, out of range -> clamped.
    init(clampingToInt64 v: Double) {
        if v.isNaN { self = 0 } else if v >= 9.2e18 { self = .max } else if v <= -9.2e18 { self = .min } else { self = Int64(v) }
    }
}
