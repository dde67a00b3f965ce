import CKernels
import FPTensor

/// A float type a weight file stores that converts to float32 bit by bit.
enum StoredFloat {
    case f32, bf16, f16

    init?(safetensors dtype: String) {
        switch dtype {
        case "F32": self = .f32
        case "BF16": self = .bf16
        case "F16": self = .f16
        default: return nil
        }
    }

    var size: Int { self == .f32 ? 4 : 2 }
}

/// Converts a stored [rows, cols] array to float32, either as it is or transposed (the layout
/// the forward pass multiplies with: Hugging Face stores projections as [out, in], fp keeps
/// [in, out]). One pass over the source, in bands of rows spread over the cores: a loader
/// neither makes an [out, in] float32 copy to transpose afterwards nor walks the source a
/// column at a time. `done` gets each band's source byte range once it has been read (from
/// any thread), so the caller can drop those file pages while the rest converts.
enum Float32Conversion {
    /// Rows per band when transposing: a 64 x 64 tile of the source stays in L1 while it is
    /// written out as 64 runs of 64 contiguous floats.
    static let tile = 64
    /// Source bytes per band when copying straight (small enough to release pages early).
    static let straightBandBytes = 4 << 20

    static func convert(_ src: UnsafeRawPointer, _ kind: StoredFloat, rows: Int, cols: Int,
                        into dst: UnsafeMutablePointer<Float>, transposedWithStride ld: Int? = nil,
                        done: (Range<Int>) -> Void = { _ in }) {
        guard rows > 0, cols > 0 else { return }
        let rowBytes = cols * kind.size
        let bandRows = ld != nil ? tile : max(1, straightBandBytes / rowBytes)
        let bands = (rows + bandRows - 1) / bandRows
        // a transposing band writes across the whole destination, so map all of it first;
        // a straight band maps its own output
        if let ld { Prefault.writeParallel(UnsafeMutableRawPointer(dst), bytes: ((cols - 1) * ld + rows) * 4) }
        func work(_ b: Int) {
            let r0 = b * bandRows, r1 = min(rows, r0 + bandRows)
            if let ld {
                transposeBand(src, kind, r0, r1, cols, dst, ld)
            } else {
                Prefault.write(UnsafeMutableRawPointer(dst + r0 * cols), bytes: (r1 - r0) * cols * 4)
                straight(src + r0 * rowBytes, kind, (r1 - r0) * cols, dst + r0 * cols)
            }
            done(r0 * rowBytes ..< r1 * rowBytes)
        }
        // small tensors (norm weights, biases) are not worth waking threads for
        if rows * cols < 1 << 16 { for b in 0..<bands { work(b) } } else { ParallelFor.run(bands, work) }
    }

    @inline(__always)
    static func element(_ src: UnsafeRawPointer, _ kind: StoredFloat, _ i: Int) -> Float {
        switch kind {
        case .f32: return Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
        case .bf16: return Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16)
        case .f16: return Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
        }
    }

    /// n elements in order. Separate loops per type so that the compiler vectorizes them.
    static func straight(_ src: UnsafeRawPointer, _ kind: StoredFloat, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        switch kind {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
        case .bf16:
            fpk_bf16_to_f32(src, n, dst)
        case .f16:
            for i in 0..<n { dst[i] = element(src, .f16, i) }
        }
    }

    /// Source rows r0..<r1 (all columns) written as dst[c * ld + r]: bf16 and f32 by the
    /// vectorized kernel (CKernels convert.c), f16 here.
    static func transposeBand(_ src: UnsafeRawPointer, _ kind: StoredFloat, _ r0: Int, _ r1: Int, _ cols: Int,
                              _ dst: UnsafeMutablePointer<Float>, _ ld: Int) {
        if kind != .f16 {
            fpk_to_f32_transposed(src, kind == .bf16 ? 1 : 0, cols, r0, r1, dst, ld)
            return
        }
        var c0 = 0
        while c0 < cols {
            let c1 = min(cols, c0 + tile)
            for c in c0..<c1 {
                let d = dst + c * ld
                for r in r0..<r1 { d[r] = element(src, kind, r * cols + c) }
            }
            c0 = c1
        }
    }
}
