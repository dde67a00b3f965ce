import CBLAS
import CDNNL

/// body(0), ..., body(n - 1) spread over the cores, the caller's included, on OpenMP's thread
/// pool: the threads oneDNN's products run on, which spin for a moment after each product, so
/// the next loop or product starts at once and no second set of threads competes with them for
/// the CPUs (Sources/CDNNL/parallel_for.c). Not Dispatch's concurrentPerform: on Linux
/// libdispatch's thread-pool monitor reads /proc/TID/stat of its workers and stops the process
/// when it cannot, and in the sandbox (docs/security.md) /proc is closed.
public enum ParallelFor {
    public static func run(_ n: Int, _ body: (Int) -> Void) {
        let workers = min(n, Int(fp_cpu_count()))
        if workers <= 1 || n > Int(Int32.max) {
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var call = body
            withUnsafeMutablePointer(to: &call) { ctx in
                fp_parallel_for(Int32(n), Int32(workers), ctx) { ctx, i in
                    ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(i))
                }
            }
        }
    }
}
