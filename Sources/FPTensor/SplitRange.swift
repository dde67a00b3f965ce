/// Elementwise work over [0, n) in pieces on the configured threads (FP_NUM_THREADS), when it is
/// large enough to pay: ParallelFor runs on OpenMP's pool, whose workers are still spinning from
/// the last product, so a piece starts within microseconds. Below `minElements` (256 KB of
/// floats) one thread does it all.
enum SplitRange {
    static let minElements = 1 << 16

    /// body(lo, hi) for consecutive pieces covering [0, n); piece starts are multiples of 16.
    static func run(_ n: Int, _ body: (Int, Int) -> Void) {
        let threads = BLASThreads.forLoops
        guard threads > 1, n >= minElements else { body(0, n); return }
        // ceil(n / threads) rounded up to 16: the pieces must reach n (floor(n / threads) lost
        // the last element when it was already a multiple of 16, e.g. n = 200001 on 2 threads)
        pieces(n, threads: threads, step: ((n + threads - 1) / threads + 15) / 16 * 16, body)
    }

    /// body(lo, hi) for consecutive ranges of `rows` rows of `rowSize` elements each, split over
    /// the threads when there are minElements elements in all (row kernels: norms, RoPE).
    static func rows(_ rows: Int, rowSize: Int, _ body: (Int, Int) -> Void) {
        let threads = Swift.min(BLASThreads.forLoops, rows)
        guard threads > 1, rows * rowSize >= minElements else { body(0, rows); return }
        pieces(rows, threads: threads, step: (rows + threads - 1) / threads, body)
    }

    /// body(p * step, min(n, (p + 1) * step)) for each thread p whose piece is not empty.
    private static func pieces(_ n: Int, threads: Int, step: Int, _ body: (Int, Int) -> Void) {
        ParallelFor.run(threads) { p in
            let lo = p * step, hi = Swift.min(n, lo + step)
            if lo < hi { body(lo, hi) }
        }
    }
}
