import CDNNL
import CKernels
import Foundation

/// The precision of a model's weight products: float32 (the default), or bf16 weights and
/// sources with float32 accumulation and output (oneDNN; AVX512-BF16 / AMX where present).
public enum MatmulPrecision: String, CaseIterable {
    case float32 = "float32", bf16 = "bf16"
}

/// Which weight matrix of a storage a pack was made from: the view's place and layout.
struct WeightPackKey: Hashable {
    let offset: Int, k: Int, n: Int, rowStride: Int, colStride: Int
    let bf16: Bool
    /// A plain pack: the primitive reads the weight where it is (no copy).
    var plain = false
    /// A plain pack of a transposed weight whose products run swapped (C^T = W^T A^T).
    var swapped = false
}

/// A weight matrix reordered into oneDNN's blocked layout for its matmul primitive. Kept in
/// the weight's Storage and valid while the storage's version is the one it was made at: any
/// access that may write (Storage.raw) makes the next product reorder again.
final class WeightPack {
    let handle: OpaquePointer
    let bytes: Int
    var version: UInt64

    init(handle: OpaquePointer, bytes: Int, version: UInt64) {
        self.handle = handle; self.bytes = bytes; self.version = version
        Storage.addDerivedBytes(bytes)
        WeightPacks.liveBytes += bytes
    }

    deinit {
        fp_dnnl_weight_destroy(handle)
        Storage.addDerivedBytes(-bytes)
        WeightPacks.liveBytes -= bytes
    }

    /// The pack of `w` ([k, n] float32), made or refreshed as needed; nil when oneDNN cannot
    /// make one for this shape (the caller then uses sgemm).
    static func of(_ w: Tensor, bf16: Bool, rowsHint: Int) throws -> WeightPack? {
        let k = w.shape[0], n = w.shape[1]
        guard k > 0, n > 0, w.dtype == .float32 else { return nil }
        let key = WeightPackKey(offset: w.offset, k: k, n: n, rowStride: w.strides[0], colStride: w.strides[1], bf16: bf16)
        let storage = w.storage
        let src = try w.readFloatPointer()
        if let p = storage.packs[key] {
            if p.version == storage.version { return p }
            let status = fp_dnnl_weight_update(p.handle, src, Int64(w.strides[0]), Int64(w.strides[1]))
            WeightPacks.reorders += 1
            if status == 0 { p.version = storage.version; return p }
            storage.packs[key] = nil
            return nil
        }
        // the blocked copy counts against --max-memory like a tensor
        let estimate = k * n * (bf16 ? 2 : 4)
        try Limits.reserve(estimate)
        var status: Int32 = 0
        guard let h = fp_dnnl_weight_create(Int64(k), Int64(n), src, Int64(w.strides[0]), Int64(w.strides[1]),
                                            bf16 ? 1 : 0, Int64(rowsHint), &status) else { return nil }
        WeightPacks.reorders += 1
        let p = WeightPack(handle: h, bytes: Int(fp_dnnl_weight_bytes(h)), version: storage.version)
        storage.packs[key] = p
        return p
    }

    /// oneDNN's primitive for `w` ([k, n] float32) read where it is, in its own strides: no
    /// copy, so nothing to refresh when the weight changes; nil when oneDNN cannot read that
    /// layout (the caller then uses sgemm). `swapped`: a transposed `w` (strides (1, s), s >= k:
    /// the rows of a [n, k] matrix) whose products run swapped, its rows the primitive's source,
    /// streamed in order, and the product's rows its weights. Without a unit stride oneDNN 2.6
    /// accepts the layout but runs its reference kernel (ref:any), far slower than sgemm.
    static func plain(_ w: Tensor, swapped: Bool = false) -> WeightPack? {
        let k = w.shape[0], n = w.shape[1], rs = w.strides[0], cs = w.strides[1]
        let readable = swapped ? rs == 1 && cs >= k : (rs == 1 && cs >= k) || (cs == 1 && rs >= n)
        guard k > 0, n > 0, w.dtype == .float32, readable else { return nil }
        let key = WeightPackKey(offset: w.offset, k: k, n: n, rowStride: rs, colStride: cs, bf16: false,
                                plain: true, swapped: swapped)
        if let p = w.storage.packs[key] { return p }
        var status: Int32 = 0
        guard let h = swapped ? fp_dnnl_swapped_weight_create(Int64(k), Int64(n), Int64(cs), &status)
                              : fp_dnnl_plain_weight_create(Int64(k), Int64(n), Int64(rs), Int64(cs), &status)
        else { return nil }
        let p = WeightPack(handle: h, bytes: 0, version: 0)
        w.storage.packs[key] = p
        return p
    }
}

/// What the reordered weight copies cost (fp.config() reports it).
public enum WeightPacks {
    /// Reorders made so far: one per weight, again after each change to it.
    public nonisolated(unsafe) internal(set) static var reorders = 0
    /// Bytes of the blocked copies alive now.
    public nonisolated(unsafe) internal(set) static var liveBytes = 0
}

/// C = A W for a weight W [k, n] that outlives the call (a model's projection): with oneDNN
/// (FP_GEMM=packed or onednn, or bf16 precision) W is reordered once into the primitive's
/// blocked layout and kept until the weight changes; products of a few rows (FP_GEMM=auto) run
/// on the primitive reading W where it is, swapped for a transposed W of 8-16 or 32 rows, or,
/// when the caller's model is small enough to have its weights copied (`copiesAllowed`,
/// GemmDispatch.smallModelBytes; not under --max-memory), on W's blocked copy; otherwise this is
/// `gemm(a, w, into: c)`. C must be contiguous rows [m, n] with unit column stride.
public func gemm(_ a: Tensor, weight w: Tensor, into c: Tensor, precision: MatmulPrecision = .float32,
                 copiesAllowed: Bool = false) throws {
    guard a.rank == 2, w.rank == 2, c.rank == 2, a.shape[1] == w.shape[0], c.shape == [a.shape[0], w.shape[1]] else {
        throw TensorError("gemm: shapes \(fmt(a.shape)) x \(fmt(w.shape)) -> \(fmt(c.shape)) do not fit")
    }
    let m = a.shape[0], k = a.shape[1], n = w.shape[1]
    let transposed = w.strides[0] == 1 && n > 1
    let packed = precision == .bf16 || GemmDispatch.usesPacks(m: m, k: k, n: n)
    let swapped = !packed && GemmDispatch.runsSwapped(m: m, k: k, n: n, transposed: transposed)
    guard packed || swapped || GemmDispatch.usesPlainWeight(m: m, k: k, n: n, transposed: transposed), m > 0, n > 0, k > 0,
          c.strides[1] == 1 || n == 1, a.dtype == .float32, w.dtype == .float32 else {
        return try gemm(a, w, into: c)
    }
    // oneDNN takes rows with unit element stride that do not overlap
    let src = (a.strides[1] == 1 || k == 1) && (m == 1 || a.strides[0] >= k) ? a : try a.contiguous()
    let lda = m == 1 ? k : src.strides[0], ldc = m == 1 ? n : c.strides[0]
    let fits = lda >= k && ldc >= n
    // a small model's copy, made once (nil if oneDNN cannot make it: then read in place)
    let copy = fits && !packed && copiesAllowed && GemmDispatch.copiesWeight(m: m, k: k, n: n, transposed: transposed)
        ? try? WeightPack.of(w, bf16: false, rowsHint: m) : nil
    let blocked = packed || copy != nil
    let pack = !fits ? nil
        : packed ? try WeightPack.of(w, bf16: precision == .bf16, rowsHint: m)
        : copy ?? WeightPack.plain(w, swapped: swapped)
    guard let pack else {
        if precision == .bf16 { throw TensorError("matmul: oneDNN cannot run a bf16 product of shape \(fmt(a.shape)) x \(fmt(w.shape)) on this CPU") }
        return try gemm(a, w, into: c)
    }
    BLASThreads.useDNNL(BLASThreads.configured)
    let status: Int32
    if blocked {
        status = fp_dnnl_weight_matmul(pack.handle, Int64(m), try src.readFloatPointer(), Int64(lda), try c.floatPointer(), Int64(ldc))
    } else if swapped {
        // C^T as [n, m] rows, then transposed into C by CKernels' 8 x 8 register transposer
        let ct = try Tensor.empty([n, m])
        let d = try ct.floatPointer()
        status = fp_dnnl_swapped_weight_matmul(pack.handle, try w.readFloatPointer(), Int64(m), try src.readFloatPointer(),
                                               Int64(lda), d)
        if status == 0 { fpk_to_f32_transposed(d, Int32(FPK_F32), m, 0, n, try c.floatPointer(), ldc) }
    } else {
        status = fp_dnnl_plain_weight_matmul(pack.handle, try w.readFloatPointer(), Int64(m), try src.readFloatPointer(),
                                             Int64(lda), try c.floatPointer(), Int64(ldc))
    }
    guard status == 0 else {
        if precision == .bf16 { throw TensorError("matmul: oneDNN's bf16 product failed (status \(status))") }
        return try gemm(a, w, into: c)
    }
}

/// Whether oneDNN can run bf16 products here (it emulates them below AVX512-BF16, slowly).
public func bf16MatmulAvailable() -> Bool {
    let isa = String(cString: fp_dnnl_isa())
    return isa.hasPrefix("avx512_core")
}
