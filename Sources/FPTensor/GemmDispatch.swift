import CBLAS
import CDNNL
import Foundation

/// The library that runs one float32 matrix product.
public enum GemmBackend: String, CaseIterable {
    case openblas, onednn
}

/// Which library each `gemm` call uses. OpenBLAS repacks the weight matrix on every call and
/// splits small-M products poorly over threads, which dominates products of a few to a hundred
/// rows (one prompt, a DAS step, a sweep's batch); oneDNN's sgemm does not, and is level or
/// ahead on larger products. FP_GEMM selects:
/// - `auto` (the default): a fixed rule, the same in every process (so shards merge byte for
///   byte), measured with scripts/bench/gemm.lua (docs/performance.md): products of two rows
///   or more (one row too on two threads or more) with a right operand of at least 2^16
///   elements on oneDNN's sgemm where oneDNN has AVX-512 kernels, every other product (one
///   row on one thread: OpenBLAS's sgemv; small attention products) on OpenBLAS; a model's
///   weight products of a few rows, or of 8 rows or more by a transposed weight, on oneDNN's
///   matmul primitive reading the weight where it is (`usesPlainWeight`, `runsSwapped`).
///   Operands are used where they are, except that a small model's few-row products run on
///   blocked copies of its weights (`smallModelBytes`, `copiesWeight`);
/// - `openblas`: every product on OpenBLAS;
/// - `packed`: as `auto`, and a model's weight products on oneDNN's matmul primitive with each
///   weight reordered once (WeightPack): faster still on small M, but the reordered copies
///   double the weights' memory;
/// - `onednn`: every product on oneDNN (weights reordered, others through its sgemm);
/// - `measure`: per shape class, the faster library as timed on first use and cached per CPU
///   model in ~/.cache/fp/gemm/ (a per-process measurement: not for sharded runs).
public enum GemmDispatch {
    public enum Mode: String { case auto, openblas, packed, onednn, measure }

    /// Set from FP_GEMM at first use; tests and benchmarks may set it directly.
    public nonisolated(unsafe) static var mode: Mode = modeFromEnvironment()
    /// Where the calibration table is kept (nil: in memory only). Tests point it elsewhere.
    public nonisolated(unsafe) static var calibrationFile: String? = defaultCalibrationFile() {
        didSet { table = nil }
    }
    nonisolated(unsafe) private static var table: [GemmShapeClass: GemmCalibration]?

    /// A one-line summary for `fp --version` and the benchmarks.
    public static var description: String {
        "GEMM: \(mode.rawValue) (FP_GEMM); oneDNN \(String(cString: fp_dnnl_version())) ISA \(String(cString: fp_dnnl_isa())); CPU \(cpuModel); calibration \(calibrationFile ?? "in memory")"
    }

    public static var cpuModel: String { String(cString: fp_cpu_model()) }
    /// The instruction set of oneDNN's kernels here, e.g. "avx512_core_bf16".
    public static var onednnISA: String { String(cString: fp_dnnl_isa()) }

    /// The calibrated entries so far (for `fp.config()` and benchmarks).
    public static var calibrations: [GemmCalibration] {
        loadedTable().values.sorted { ($0.shape.mBucket, $0.shape.kBucket, $0.shape.nBucket) < ($1.shape.mBucket, $1.shape.kBucket, $1.shape.nBucket) }
    }

    static func isCalibrated(_ shape: GemmShapeClass) -> Bool { loadedTable()[shape] != nil }

    /// The backend for this call. In measure mode an unseen shape class is calibrated with
    /// `time(backend)`, which runs the product once and returns its seconds (nil if it failed).
    static func backend(for shape: GemmShapeClass, m: Int, k: Int, n: Int,
                        time: (GemmBackend) -> Double?) -> GemmBackend {
        switch mode {
        case .openblas: return .openblas
        case .auto, .packed: return fixedRule(m: m, k: k, n: n)
        case .onednn: return .onednn
        case .measure:
            if let known = loadedTable()[shape] { return known.choice }
            let c = calibrate(shape, m: m, k: k, n: n, time: time)
            table?[shape] = c
            save()
            return c.choice
        }
    }

    /// Whether a weight product (`gemm(_:weight:into:)`) runs on oneDNN's primitive with the
    /// weight reordered once. In `measure` mode the calibration of its shape class decides.
    static func usesPacks(m: Int, k: Int, n: Int) -> Bool {
        switch mode {
        case .openblas: return false
        case .onednn: return true
        case .auto: return false
        case .packed: return avx512
        case .measure:
            let threads = BLASThreads.forProduct(m: m, n: n, k: k)
            let shape = GemmShapeClass(m: m, k: k, n: n, transA: false, transB: false, threads: threads)
            return loadedTable()[shape]?.choice == .onednn
        }
    }

    static let avx512 = onednnISA.hasPrefix("avx512_core")

    /// Whether `auto` runs a weight product on oneDNN's matmul primitive reading the weight in
    /// its own layout (no copy) instead of its sgemm, which copies panels of the weight on every
    /// call. Measured on an AMD EPYC (Zen 4, 2 threads; GPT-2 and SmolLM2 layer shapes, the
    /// weights streamed from memory as in a forward pass; scripts/bench/weight_paths.c): with a
    /// [k, n] weight the primitive is 5-20% faster at 7-24 rows, slower at 1 and from 32; with a
    /// transposed weight (a tied unembedding, every weight of a backward pass) sgemm falls off a
    /// cliff from 16 rows (16 x 768 x 768: 2.9x slower than the primitive, 1.8x at 64 rows, 1.1x
    /// at 512) and is faster below 16 (where `swappedRows` run swapped instead).
    static func usesPlainWeight(m: Int, k: Int, n: Int, transposed: Bool) -> Bool {
        guard mode == .auto, avx512, fixedRule(m: m, k: k, n: n) == .onednn else { return false }
        return transposed ? m > 16 && !swappedRows(m) : m >= 2 && m <= 24
    }

    /// The largest model (its float32 weights, bytes) whose [k, n] weight products of 2-24 rows
    /// run in `auto` on blocked copies of the weights (WeightPack, made on first use and kept)
    /// instead of reading them in place: 1.25-1.3x faster 1x16 forwards for GPT-2 small and
    /// SmolLM2-135M (AMD EPYC Zen 4), with the same `brg:avx512_core` kernel and bit-identical
    /// results there, for a second copy of their weights (+0.4-0.5 GB). Bigger models stay
    /// copy-free. FP_WEIGHT_COPIES_MB sets it (default 1024; 0: never).
    public nonisolated(unsafe) static var smallModelBytes: Int = {
        guard let v = ProcessInfo.processInfo.environment["FP_WEIGHT_COPIES_MB"], !v.isEmpty else { return 1 << 30 }
        if let mb = Int(v), mb >= 0, mb <= 1 << 40 { return mb << 20 }
        FileHandle.standardError.write(Data("fp: ignoring FP_WEIGHT_COPIES_MB=\(v) (expected a whole number of MB)\n".utf8))
        return 1 << 30
    }()

    /// Whether `auto` runs this weight product on a blocked copy of the weight, for a model that
    /// allows copies (`smallModelBytes`): the products it would otherwise read in place with a
    /// [k, n] weight. Transposed weights keep their swapped / in-place / sgemm paths. None under
    /// --max-memory (as BufferCache), so that limit keeps counting what the script made.
    static func copiesWeight(m: Int, k: Int, n: Int, transposed: Bool) -> Bool {
        !transposed && Limits.maxTensorBytes == nil && usesPlainWeight(m: m, k: k, n: n, transposed: false)
    }

    /// Whether `auto` runs a product of m rows by a transposed weight swapped, C^T = W^T A^T:
    /// the weight's own rows become the primitive's source, read in order, and the few rows of
    /// A its weights (then C is written from the [n, m] result).
    static func runsSwapped(m: Int, k: Int, n: Int, transposed: Bool) -> Bool {
        transposed && swappedRows(m) && mode == .auto && avx512 && fixedRule(m: m, k: k, n: n) == .onednn
    }

    /// The row counts that run swapped. Measured like the rule above (scripts/bench/weight_paths.c,
    /// AMD EPYC Zen 4, 2 threads): at 12-16 rows and at 32 the swapped product beat both the
    /// primitive reading W^T in place and sgemm on GPT-2's and SmolLM2's layer shapes and on
    /// their tied unembeddings (16 x 768 x 50257: 8.6-8.8 ms against 11.1 in place and 19-20
    /// through sgemm; a backward pass's 48 products of GPT-2's shapes at 16 rows 19.3 ms against
    /// 25.7 and 70.7; at 32 rows 29.6 against 35.7 in place); at 8-11 it is level with the
    /// better of the two. At 17-31 rows, where the result's rows do not fill 16-float vectors,
    /// and from 48 on the unembedding, it was slower.
    static func swappedRows(_ m: Int) -> Bool { (8...16).contains(m) || m == 32 }

    /// `auto`'s choice for a product of m rows, [m, k] x [k, n]. On an AMD EPYC (Zen 4, 2
    /// threads) oneDNN's sgemm ran 4x2048x2048 at 61 GFLOP/s against OpenBLAS's 23, 16x2048x8192
    /// at 107 against 67, 64x2048x8192 at 206 against 137 and 512x576x1536 at 214-219 against
    /// 175-193; on 64x64x64 OpenBLAS was ahead (63 against 53). One row: oneDNN on two threads
    /// made SmolLM2's decoding step 1.35x faster than OpenBLAS's sgemv, on one thread 3% slower.
    static func fixedRule(m: Int, k: Int, n: Int) -> GemmBackend {
        guard avx512, m >= 2 || (m == 1 && BLASThreads.configured >= 2) else { return .openblas }
        let (kn, overflow) = k.multipliedReportingOverflow(by: n)
        return !overflow && kn >= 1 << 16 ? .onednn : .openblas
    }

    /// Interleaved timings of both libraries (order alternating each round); medians decide.
    /// oneDNN must win by 3% to replace OpenBLAS, so noise does not flip the choice.
    private static func calibrate(_ shape: GemmShapeClass, m: Int, k: Int, n: Int,
                                  time: (GemmBackend) -> Double?) -> GemmCalibration {
        // warm-up: oneDNN generates its kernels on first use
        let first = [GemmBackend.openblas: time(.openblas), .onednn: time(.onednn)]
        let once = Swift.max(first[.openblas].flatMap { $0 } ?? 0, 1e-7)
        // repeat small products so each sample is ~100 µs of work; fewer samples for big ones
        let inner = Swift.min(1000, Swift.max(1, Int(1e-4 / once)))
        let rounds = once > 0.02 ? 3 : 7
        var samples: [GemmBackend: [Double]] = [.openblas: [], .onednn: []]
        for r in 0..<rounds {
            for b in (r % 2 == 0 ? [GemmBackend.openblas, .onednn] : [.onednn, .openblas]) {
                var total = 0.0, ok = true
                for _ in 0..<inner {
                    guard let s = time(b) else { ok = false; break }
                    total += s
                }
                samples[b]?.append(ok ? total / Double(inner) : .infinity)
            }
        }
        let flops = 2.0 * Double(m) * Double(k) * Double(n) / 1e9
        let tb = median(samples[.openblas] ?? []), td = median(samples[.onednn] ?? [])
        let choice: GemmBackend = td < 0.97 * tb ? .onednn : .openblas
        return GemmCalibration(shape: shape, m: m, k: k, n: n,
                               openblasGFlops: tb.isFinite && tb > 0 ? flops / tb : 0,
                               onednnGFlops: td.isFinite && td > 0 ? flops / td : 0, choice: choice)
    }

    private static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .infinity : s[s.count / 2]
    }

    private static func modeFromEnvironment() -> Mode {
        // `auto` by default: a fixed rule without copies. `measure` may pick another library in
        // another process (a sandboxed run calibrates in memory, a busy host measures
        // differently), so shards would not merge byte for byte; `packed` doubles the memory.
        guard let v = ProcessInfo.processInfo.environment["FP_GEMM"], !v.isEmpty else { return .auto }
        if let m = Mode(rawValue: v.lowercased()) { return m }
        FileHandle.standardError.write(Data("fp: ignoring FP_GEMM=\(v) (expected auto, openblas, packed, onednn or measure)\n".utf8))
        return .auto
    }

    private static func defaultCalibrationFile() -> String? {
        guard let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty else { return nil }
        // OpenBLAS's kernel family is part of the name: OPENBLAS_CORETYPE changes its speed
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        let slug = (String(cString: fp_cpu_model()) + " " + core).map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return home + "/.cache/fp/gemm/" + String(slug) + ".tsv"
    }

    private static func loadedTable() -> [GemmShapeClass: GemmCalibration] {
        if let t = table { return t }
        let t = calibrationFile.map(GemmCalibration.read) ?? [:]
        table = t
        return t
    }

    /// Merges with what another process may have written meanwhile; failures (read-only home,
    /// a sandbox) only mean the next process calibrates again.
    private static func save() {
        guard let path = calibrationFile, let mine = table else { return }
        let merged = GemmCalibration.read(path).merging(mine) { _, new in new }
        GemmCalibration.write(merged, to: path)
    }
}
