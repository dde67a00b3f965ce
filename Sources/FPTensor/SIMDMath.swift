import Foundation

/// Vectorized transcendental functions on SIMD16<Float>. Clamping uses masks: `.clamped`
/// and `pointwiseMin/Max` compile to scalar loops on this toolchain.
typealias F16x = SIMD16<Float>

@inline(__always) func vmin(_ a: F16x, _ b: F16x) -> F16x { a.replacing(with: b, where: b .< a) }
@inline(__always) func vmax(_ a: F16x, _ b: F16x) -> F16x { a.replacing(with: b, where: b .> a) }

/// e^x: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial, 2^n by exponent bits.
/// Relative error ~2 ulp over the float range; underflows to 0, overflows to +inf.
/// Rounding and the float->int conversion use the 1.5*2^23 "magic number" trick: adding it
/// rounds to an integer held in the low mantissa bits, which vectorizes (a SIMD Int32(Float)
/// conversion and `.rounded()` do not, on this toolchain).
@inline(__always) func vexp(_ x: F16x) -> F16x {
    let hi = F16x(repeating: 88.72283), lo = F16x(repeating: -103.0)
    let xc = vmax(vmin(x, hi), lo)
    let magic = F16x(repeating: 12582912.0)
    let shifted = xc * 1.442695040888963 + magic
    let n = shifted - magic
    let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    var r = xc - n * 0.693145751953125      // ln2 high part
    r = r - n * 1.428606765330187e-06        // ln2 low part
    var p = F16x(repeating: 1.0 / 720.0)
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    // 2^n, split in two factors so that n down to -149 and up to 128 stay representable.
    let n1 = ni &>> 1, n2 = ni &- n1
    let s1 = unsafeBitCast((n1 &+ 127) &<< 23, to: F16x.self)
    let s2 = unsafeBitCast((n2 &+ 127) &<< 23, to: F16x.self)
    var y = p * s1 * s2
    y.replace(with: Float.infinity, where: x .> hi)
    y.replace(with: Float(0), where: x .< lo)
    y.replace(with: x, where: x .!= x)        // NaN stays NaN
    return y
}

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
