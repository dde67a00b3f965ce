import CKernels
import Foundation
import FPTensor

/// ggml tensor types -> float32, computed as ggml-quants.c's `dequantize_row_*` do (same block
/// layouts, same order of float operations, no fused multiply-add), so results match ggml and
/// the `gguf` Python package bit for bit.
///
/// Block layouts (little-endian; `half` is IEEE float16):
///   Q4_0 (32 per block, 18 bytes): half d; u8 qs[16]            x = (nibble - 8) * d
///   Q4_1 (32, 20): half d, m; u8 qs[16]                         x = nibble * d + m
///   Q5_0 (32, 22): half d; u32 qh; u8 qs[16]                    x = ((nibble | hbit << 4) - 16) * d
///   Q5_1 (32, 24): half d, m; u32 qh; u8 qs[16]                 x = (nibble | hbit << 4) * d + m
///   Q8_0 (32, 34): half d; i8 qs[32]                            x = q * d
///   In the 32-element types, element j < 16 is the low nibble of qs[j] and element j + 16 the
///   high nibble; for Q5 the fifth bit of element i is bit i of qh.
///   Q4_K (256, 144): half d, dmin; u8 scales[12]; u8 qs[128]
///   Q5_K (256, 176): half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
///     eight sub-blocks of 32 with 6-bit scale sc and min m (packed in scales[12]);
///     x = (d * sc) * q - (dmin * m); sub-block pair 2c, 2c+1 takes the low / high nibbles of
///     qs[32c ..< 32c+32]; Q5_K's fifth bit of sub-block s, element l is bit s of qh[l].
///   Q6_K (256, 210): u8 ql[128]; u8 qh[64]; i8 scales[16]; half d
///     x = (d * scale[e / 16]) * (q - 32), q = 4 low bits from ql | 2 high bits from qh.
enum GGUFDequantize {
    static let supported: [GGUFTensorType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]
    static var supportedNames: String { supported.map(\.name).joined(separator: ", ") }

    /// float16 bit pattern -> float32 for all 65536 patterns (256 KB, built on first use).
    static let halfTable: [Float] = (0...0xffff).map { HalfFloat.f16ToFloat(UInt16($0)) }

    /// Decodes `count` elements of `type` from `src` (which must hold exactly their bytes) into `dst`.
    static func dequantize(_ type: GGUFTensorType, _ src: UnsafeRawBufferPointer, count: Int,
                           into dst: UnsafeMutablePointer<Float>) throws {
        guard supported.contains(type), let (be, bb) = type.blockLayout else {
            throw TensorError("type \(type.name) cannot be dequantized (supported: \(supportedNames))")
        }
        guard count >= 0, count % be == 0 else {
            throw TensorError("\(count) elements are not a whole number of \(type.name) blocks of \(be)")
        }
        let blocks = count / be
        let (need, overflow) = blocks.multipliedReportingOverflow(by: bb)
        guard !overflow, need == src.count else {
            throw TensorError("\(src.count) bytes of \(type.name) data, but \(count) elements need \(overflow ? "more" : String(need))")
        }
        guard blocks > 0, let p = src.baseAddress else { return }
        try halfTable.withUnsafeBufferPointer { tb in
            guard let h = tb.baseAddress else { throw TensorError("float16 table unavailable") }
            // Large tensors are split into chunks of whole blocks decoded on all cores.
            let chunkBlocks = max(1, (1 << 16) / be)
            let chunks = (blocks + chunkBlocks - 1) / chunkBlocks
            let run = { (ci: Int) in
                let b0 = ci * chunkBlocks, nb = min(chunkBlocks, blocks - b0)
                decode(type, p + b0 * bb, nb, dst + b0 * be, h)
            }
            ParallelFor.run(chunks, run)
        }
    }

    @inline(__always) private static func half(_ p: UnsafeRawPointer, _ off: Int, _ h: UnsafePointer<Float>) -> Float {
        h[Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: off, as: UInt16.self)))]
    }

    /// `nb` whole blocks at `p` -> `y`. Callers have checked that the bytes are present.
    private static func decode(_ type: GGUFTensorType, _ p: UnsafeRawPointer, _ nb: Int,
                               _ y: UnsafeMutablePointer<Float>, _ h: UnsafePointer<Float>) {
        let q = p.assumingMemoryBound(to: UInt8.self)
        switch type {
        case .f32:
            UnsafeMutableRawPointer(y).copyMemory(from: p, byteCount: nb * 4)
            #if _endian(big)
            for i in 0..<nb { y[i] = Float(bitPattern: UInt32(littleEndian: y[i].bitPattern)) }
            #endif
        case .f16:
            #if _endian(little)
            fpk_to_f32(p, Int32(FPK_F16), nb, y)   // 8 lanes at a time, bit-exact
            #else
            for i in 0..<nb { y[i] = half(p, 2 * i, h) }
            #endif
        case .bf16:
            #if _endian(little)
            fpk_to_f32(p, Int32(FPK_BF16), nb, y)
            #else
            for i in 0..<nb {
                y[i] = Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
            }
            #endif
        case .q8_0:
            for b in 0..<nb {
                let o = b * 34, d = half(p, o, h), qs = q + o + 2, yb = y + b * 32
                for j in 0..<32 { yb[j] = Float(Int8(bitPattern: qs[j])) * d }
            }
        case .q4_0:
            for b in 0..<nb {
                let o = b * 18, d = half(p, o, h), qs = q + o + 2, yb = y + b * 32
                for j in 0..<16 {
                    yb[j] = Float(Int32(qs[j] & 0x0f) - 8) * d
                    yb[j + 16] = Float(Int32(qs[j] >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in 0..<nb {
                let o = b * 20, d = half(p, o, h), m = half(p, o + 2, h), qs = q + o + 4, yb = y + b * 32
                for j in 0..<16 {
                    yb[j] = Float(qs[j] & 0x0f) * d + m
                    yb[j + 16] = Float(qs[j] >> 4) * d + m
                }
            }
        case .q5_0:
            for b in 0..<nb {
                let o = b * 22, d = half(p, o, h), yb = y + b * 32
                let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: o + 2, as: UInt32.self))
                let qs = q + o + 6
                for j in 0..<16 {
                    let lo = Int32(qs[j] & 0x0f) | Int32((qh >> UInt32(j)) & 1) << 4
                    let hi = Int32(qs[j] >> 4) | Int32((qh >> UInt32(j + 16)) & 1) << 4
                    yb[j] = Float(lo - 16) * d
                    yb[j + 16] = Float(hi - 16) * d
                }
            }
        case .q5_1:
            for b in 0..<nb {
                let o = b * 24, d = half(p, o, h), m = half(p, o + 2, h), yb = y + b * 32
                let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))
                let qs = q + o + 8
                for j in 0..<16 {
                    let lo = UInt32(qs[j] & 0x0f) | ((qh >> UInt32(j)) & 1) << 4
                    let hi = UInt32(qs[j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                    yb[j] = Float(lo) * d + m
                    yb[j + 16] = Float(hi) * d + m
                }
            }
        case .q4_K, .q5_K:
            let five = type == .q5_K
            let bb = five ? 176 : 144
            for b in 0..<nb {
                let o = b * bb, d = half(p, o, h), dmin = half(p, o + 2, h), yb = y + b * 256
                let sc = q + o + 4
                let qh = q + o + 16                                 // Q5_K only
                var qs = q + o + (five ? 48 : 16)
                for c in 0..<4 {
                    let (s1, m1) = scaleMin(2 * c, sc), (s2, m2) = scaleMin(2 * c + 1, sc)
                    let d1 = d * Float(s1), dm1 = dmin * Float(m1)
                    let d2 = d * Float(s2), dm2 = dmin * Float(m2)
                    let yc = yb + 64 * c
                    if five {
                        let u1 = UInt8(1) << UInt8(2 * c), u2 = UInt8(2) << UInt8(2 * c)
                        for l in 0..<32 {
                            let lo = (qs[l] & 0x0f) | (qh[l] & u1 != 0 ? 16 : 0)
                            let hi = (qs[l] >> 4) | (qh[l] & u2 != 0 ? 16 : 0)
                            yc[l] = d1 * Float(lo) - dm1
                            yc[l + 32] = d2 * Float(hi) - dm2
                        }
                    } else {
                        for l in 0..<32 {
                            yc[l] = d1 * Float(qs[l] & 0x0f) - dm1
                            yc[l + 32] = d2 * Float(qs[l] >> 4) - dm2
                        }
                    }
                    qs += 32
                }
            }
        case .q6_K:
            for b in 0..<nb {
                let o = b * 210, d = half(p, o + 208, h), yb = y + b * 256
                let sc = UnsafeRawPointer(q + o + 192).assumingMemoryBound(to: Int8.self)
                for hb in 0..<2 {
                    let ql = q + o + 64 * hb, qh = q + o + 128 + 32 * hb
                    let s = sc + 8 * hb, yh = yb + 128 * hb
                    for l in 0..<32 {
                        let isc = l / 16
                        let q1 = Int32((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32
                        let q2 = Int32((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32
                        let q3 = Int32((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
                        let q4 = Int32((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
                        yh[l] = d * Float(s[isc]) * Float(q1)
                        yh[l + 32] = d * Float(s[isc + 2]) * Float(q2)
                        yh[l + 64] = d * Float(s[isc + 4]) * Float(q3)
                        yh[l + 96] = d * Float(s[isc + 6]) * Float(q4)
                    }
                }
            }
        default:
            break   // unreachable: `dequantize` accepts only supported types
        }
    }

    /// The 6-bit scale and min of sub-block j (0..<8) of a Q4_K / Q5_K block (ggml's get_scale_min_k4).
    @inline(__always) private static func scaleMin(_ j: Int, _ s: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (s[j] & 63, s[j + 4] & 63) }
        return ((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}
