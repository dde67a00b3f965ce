import Foundation

/// Vectorized transcendental functions on SIMD16<Float>. Clamping uses masks: `.clamped`
/// and `pointwiseMin/Max` compile to scalar loops on this toolchain.
typealias F16x = SIMD16<Float>

@inline(__always) func vmin(_ a: F16x, _ b: F16x) -> F16x { a.replacing(with: b, where: b .< a) }
@inline(__always) func vmax(_ a: F16x, _ b: F16x) -> F16x { a.replacing(with: b, where: b .> a) }

/// e^x: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial, 2^n by exponent bits.
/// Relative error ~2 ulp over the float range; underflows to 0, overflows to +inf.
@inline(__always) func vexp(_ x: F16x) -> F16x {
    let hi = F16x(repeating: 88.72283), lo = F16x(repeating: -103.0)
    let xc = vmax(vmin(x, hi), lo)
    // Round to nearest by adding 1.5 * 2^23 (SIMD .rounded and Int32 conversion compile to
    // slow scalar code on this toolchain); the sum's low mantissa bits are then n itself.
    let magic = F16x(repeating: 12582912.0)
    let nm = xc * 1.442695040888963 + magic
    let n = nm - magic
    var r = xc - n * 0.693145751953125      // ln2 high part
    r = r - n * 1.428606765330187e-06        // ln2 low part
    var p = F16x(repeating: 1.0 / 720.0)
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    // 2^n, split in two factors so that n down to -126-24 and up to 128 stay representable.
    let ni = unsafeBitCast(nm, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let n1 = ni &>> 1, n2 = ni &- n1
    let s1 = unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: (n1 &+ 127) &<< 23), to: F16x.self)
    let s2 = unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: (n2 &+ 127) &<< 23), to: F16x.self)
    var y = p * s1 * s2
    y.replace(with: Float.infinity, where: x .> hi)
    y.replace(with: Float(0), where: x .< lo)
    y.replace(with: x, where: x .!= x)        // NaN stays NaN
    return y
}

/// tanh via e^(2|x|): 1 - 2/(e^(2|x|)+1), sign restored; small |x| uses the odd series.
@inline(__always) func vtanh(_ x: F16x) -> F16x {
    let ax = vmax(x, -x)
    let e = vexp(ax * 2)
    var t = 1 - 2 / (e + 1)
    let x2 = x * x
    // |x| < 0.0625: x - x^3/3 + 2x^5/15 is exact to float precision
    let series = ax * (1 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0)))
    t.replace(with: series, where: ax .< 0.0625)
    t.replace(with: -t, where: x .< 0)
    t.replace(with: x, where: x .!= x)
    return t
}

@inline(__always) func vsigmoid(_ x: F16x) -> F16x { 1 / (1 + vexp(-x)) }

/// GPT-2's GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
@inline(__always) func vgeluTanh(_ x: F16x) -> F16x {
    let inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1 + vtanh(inner))
}

@inline(__always) func sgeluTanh(_ x: Float) -> Float {
    let inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1 + tanhf(inner))
}

/// Exact GELU: x/2 (1 + erf(x/sqrt 2)).
@inline(__always) func sgeluErf(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.7071067811865476)) }

/// Applies a vector kernel over n contiguous floats, with the scalar form for the tail.
@inline(__always)
func map16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
           _ v: (F16x) -> F16x, _ s: (Float) -> Float) {
    var i = 0
    let sraw = UnsafeRawPointer(src), draw = UnsafeMutableRawPointer(dst)
    while i + 16 <= n {
        let x = sraw.loadUnaligned(fromByteOffset: i * 4, as: F16x.self)
        draw.storeBytes(of: v(x), toByteOffset: i * 4, as: F16x.self)
        i += 16
    }
    while i < n { dst[i] = s(src[i]); i += 1 }
}
