import Foundation
import XCTest
@testable import FPModels
@testable import FPTensor

/// The loader's banded, multi-threaded float32 conversion (straight and transposed) against
/// an element-by-element reference: FPTensor's own half-float decoder and plain index loops.
final class Float32ConversionTests: XCTestCase {
    /// Stored bytes of `n` values, starting one byte into the buffer (safetensors data need not
    /// be aligned), and the float32 values they stand for.
    func stored(_ kind: StoredFloat, _ n: Int, seed: UInt64) -> (bytes: [UInt8], values: [Float]) {
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        var bytes: [UInt8] = [0x5a]
        var values: [Float] = []
        for _ in 0..<n {
            switch kind {
            case .f32:
                let v = Float(Int(next() % 20001) - 10000) / 997
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
                values.append(v)
            case .bf16:
                let h = UInt16(truncatingIfNeeded: next()) & 0x7f7f   // no inf/NaN: compared with ==
                withUnsafeBytes(of: h.littleEndian) { bytes += $0 }
                values.append(Float(bitPattern: UInt32(h) << 16))
            case .f16:
                let h = UInt16(truncatingIfNeeded: next()) & 0xbbff   // exponent below 31: finite
                withUnsafeBytes(of: h.littleEndian) { bytes += $0 }
                values.append(HalfFloat.f16ToFloat(h))
            }
        }
        return (bytes, values)
    }

    func testStraightAndTransposedMatchElementLoops() {
        // shapes around the 64-row tile and the small-tensor threshold (1 << 16 elements)
        let shapes = [(1, 1), (3, 5), (64, 64), (65, 130), (130, 65), (300, 257), (257, 300)]
        for kind in [StoredFloat.f32, .bf16, .f16] {
            for (rows, cols) in shapes {
                let (bytes, values) = stored(kind, rows * cols, seed: UInt64(rows * 1000 + cols))
                var straight = [Float](repeating: .nan, count: rows * cols)
                let ld = rows + 3, col = 2   // written into columns col..<col+rows of a wider matrix
                var transposed = [Float](repeating: -7, count: cols * ld)
                var released = 0
                let lock = NSLock()
                bytes.withUnsafeBytes { raw in
                    let src = raw.baseAddress! + 1
                    straight.withUnsafeMutableBufferPointer { d in
                        Float32Conversion.convert(src, kind, rows: rows, cols: cols, into: d.baseAddress!) { r in
                            lock.lock(); released += r.count; lock.unlock()
                        }
                    }
                    transposed.withUnsafeMutableBufferPointer { d in
                        Float32Conversion.convert(src, kind, rows: rows, cols: cols, into: d.baseAddress! + col,
                                                  transposedWithStride: ld)
                    }
                }
                XCTAssertEqual(straight, values, "\(kind) \(rows)x\(cols) straight")
                XCTAssertEqual(released, rows * cols * kind.size, "\(kind) \(rows)x\(cols): every source byte reported read once")
                var bad = 0
                for r in 0..<rows { for c in 0..<cols where transposed[c * ld + col + r] != values[r * cols + c] { bad += 1 } }
                for c in 0..<cols { for r in 0..<ld where (r < col || r >= col + rows) && transposed[c * ld + r] != -7 { bad += 1 } }
                XCTAssertEqual(bad, 0, "\(kind) \(rows)x\(cols) transposed: wrong or out-of-place elements")
            }
        }
    }

    /// Every float16 and bfloat16 bit pattern, straight and transposed, from an odd address,
    /// against Swift's own Float16 -> Float conversion (the platform's, not fp's): the same bits
    /// for every number, NaN for every NaN (fp keeps a NaN's payload bit for bit, as the
    /// element-by-element decoder does; the platform may set the quiet bit).
    func testEveryHalfPatternConvertsExactly() {
        let n = 1 << 16, cols = 256, rows = n / cols
        for kind in [StoredFloat.f16, .bf16] {
            var bytes: [UInt8] = [0]
            for h in 0..<n { withUnsafeBytes(of: UInt16(h).littleEndian) { bytes += $0 } }
            var straight = [Float](repeating: 0, count: n), transposed = straight
            bytes.withUnsafeBytes { raw in
                straight.withUnsafeMutableBufferPointer { d in
                    Float32Conversion.convert(raw.baseAddress! + 1, kind, rows: rows, cols: cols, into: d.baseAddress!)
                }
                transposed.withUnsafeMutableBufferPointer { d in
                    Float32Conversion.convert(raw.baseAddress! + 1, kind, rows: rows, cols: cols, into: d.baseAddress!,
                                              transposedWithStride: rows)
                }
            }
            var bad = 0
            for h in 0..<n {
                let expected = kind == .f16 ? Float(Float16(bitPattern: UInt16(h))) : Float(bitPattern: UInt32(h) << 16)
                let exact = kind == .f16 ? HalfFloat.f16ToFloat(UInt16(h)) : expected
                let t = transposed[(h % cols) * rows + h / cols]
                for got in [straight[h], t] {
                    let ok = expected.isNaN ? got.isNaN && got.bitPattern == exact.bitPattern
                                            : got.bitPattern == expected.bitPattern
                    if !ok {
                        bad += 1
                        if bad <= 3 { XCTFail("\(kind) 0x\(String(h, radix: 16)): got \(got), expected \(expected)") }
                    }
                }
            }
            XCTAssertEqual(bad, 0, "\(kind): patterns converted wrongly")
        }
    }
}
