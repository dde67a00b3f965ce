import CBLAS
import CDNNL

/// BLAS thread count. Small products (a few tokens through one layer) run faster on one
/// thread with OpenBLAS: its workers cost more to wake and synchronize than they save, so
/// `gemm` switches OpenBLAS to one thread below `singleThreadMACs` multiply-adds. Products on
/// oneDNN use every configured thread: its OpenMP workers spin between products, and on an
/// AMD EPYC (Zen 4) two threads ran its sgemm 1.6-1.9x faster than one from 1x576x576 (0.3 M
/// multiply-adds) up; where splitting does not pay, oneDNN keeps to one thread itself.
public enum BLASThreads {
    /// The count chosen at start-up (FP_NUM_THREADS, default all cores).
    public nonisolated(unsafe) private(set) static var configured = 1
    nonisolated(unsafe) private static var current = -1
    nonisolated(unsafe) private static var currentDNNL = -1
    /// Threads for fp's own loops (attention, elementwise pieces): the configured count, at most
    /// the CPUs online.
    static var forLoops: Int { Swift.min(configured, Int(fp_cpu_count())) }
    /// Below this many multiply-adds a product runs on one thread.
    public nonisolated(unsafe) static var singleThreadMACs = 1 << 25

    public static func configure(_ n: Int) {
        configured = Swift.max(1, n)
        use(configured)
    }

    /// Sets OpenBLAS's thread count for the next call (cheap when unchanged).
    @inline(__always) static func use(_ n: Int) {
        if n != current {
            openblas_set_num_threads(Int32(n))
            current = n
        }
    }

    /// Sets oneDNN's (OpenMP's) thread count for the next call.
    @inline(__always) static func useDNNL(_ n: Int) {
        if n != currentDNNL {
            fp_dnnl_set_num_threads(Int32(n))
            currentDNNL = n
        }
    }

    /// The thread count for a product of this size on OpenBLAS.
    @inline(__always) static func forProduct(m: Int, n: Int, k: Int) -> Int {
        let (mn, o1) = m.multipliedReportingOverflow(by: n)
        let (mnk, o2) = mn.multipliedReportingOverflow(by: k)
        return !o1 && !o2 && mnk < singleThreadMACs ? 1 : configured
    }
}
