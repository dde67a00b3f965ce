/// IEEE half precision (float16) and bfloat16 <-> float32 by bit manipulation, so that
/// conversion does not depend on the platform's Float16 support. Float -> half rounds to
/// nearest even, as numpy and PyTorch do; NaN stays NaN and infinities stay infinite.
public enum HalfFloat {
    public static func f16ToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1f)
        let mant = UInt32(h & 0x3ff)
        switch exp {
        case 0:
            if mant == 0 { return Float(bitPattern: sign) }            // +-0
            let v = Float(mant) * 0x1p-24                              // subnormal: mant * 2^-24, exact in float32
            return sign != 0 ? -v : v
        case 31:
            return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) // inf, or NaN with its payload
        default:
            // rebias the exponent from 15 to 127
            return Float(bitPattern: sign | (UInt32(exp + 112) << 23) | (mant << 13))
        }
    }

    static func floatToF16(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        let sign = UInt16((x >> 16) & 0x8000)
        let exp = Int((x >> 23) & 0xff)
        let mant = x & 0x7f_ffff
        if exp == 0xff {                                               // inf or NaN
            if mant == 0 { return sign | 0x7c00 }
            return sign | 0x7c00 | 0x200 | UInt16(mant >> 13)          // keep it a (quiet) NaN
        }
        let e = exp - 112                                              // half's biased exponent
        if e >= 31 { return sign | 0x7c00 }                            // too large: inf
        if e <= 0 {
            // Half subnormal (or zero): value / 2^-24 = m >> (14 - e) with the implicit bit set.
            let shift = 14 - e
            if shift > 24 { return sign }                              // below half of the smallest subnormal
            let m = mant | 0x80_0000
            var h = m >> UInt32(shift)
            let rem = m & ((1 << UInt32(shift)) - 1), half = UInt32(1) << UInt32(shift - 1)
            if rem > half || (rem == half && h & 1 == 1) { h += 1 }     // may carry into the smallest normal: fine
            return sign | UInt16(h)
        }
        var h = (UInt32(e) << 10) | (mant >> 13)
        let rem = mant & 0x1fff
        if rem > 0x1000 || (rem == 0x1000 && h & 1 == 1) { h += 1 }   // a carry may round up to inf: correct
        return sign | UInt16(h)
    }

    /// bfloat16 is the top half of a float32.
    static func bf16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    static func floatToBF16(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        if f.isNaN { return UInt16(x >> 16) | 0x40 }                  // truncating could make it inf
        let rounded = x &+ 0x7fff &+ ((x >> 16) & 1)                  // round to nearest even
        return UInt16(rounded >> 16)
    }
}
