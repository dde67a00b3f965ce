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

    /// The kind code of CKernels' conversions.
    var kernelKind: Int32 {
        switch self {
        case .f32: return Int32(FPK_F32)
        case .bf16: return Int32(FPK_BF16)
        case .f16: return Int32(FPK_F16)
        }
    }
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

    /// n elements in order (CKernels convert.c; float32 is a copy).
    static func straight(_ src: UnsafeRawPointer, _ kind: StoredFloat, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        if kind == .f32 {
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
        } else {
            fpk_to_f32(src, kind.kernelKind, n, dst)
        }
    }

    /// Source rows r0..<r1 (all columns) written as dst[c * ld + r] (CKernels convert.c).
    static func transposeBand(_ src: UnsafeRawPointer, _ kind: StoredFloat, _ r0: Int, _ r1: Int, _ cols: Int,
                              _ dst: UnsafeMutablePointer<Float>, _ ld: Int) {
        fpk_to_f32_transposed(src, kind.kernelKind, cols, r0, r1, dst, ld)
    }
}
