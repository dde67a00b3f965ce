// fp's own parallel loops on OpenMP's thread pool, the one oneDNN's products run on. With a
// second pool (plain threads started per loop, as before), OpenMP's workers kept spinning after
// each product on the CPU that pool's thread needed: attention on two threads then ran at one
// thread's speed. GOMP_parallel is libgomp's entry point for `#pragma omp parallel` (GCC's
// ABI), called directly so that this file needs no OpenMP compiler support.
#include "CDNNL.h"
#include "signal_guard.h"

void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);

struct fp_loop {
    int n;
    int next;   // the next index to hand out (atomic)
    void *ctx;
    void (*body)(void *ctx, int i);
};

static void fp_loop_worker(void *p) {
    struct fp_loop *loop = p;
    for (;;) {
        int i = __atomic_fetch_add(&loop->next, 1, __ATOMIC_RELAXED);
        if (i >= loop->n) return;
        loop->body(loop->ctx, i);
    }
}

void fp_parallel_for(int n, int threads, void *ctx, void (*body)(void *ctx, int i)) {
    struct fp_loop loop = { n, 0, ctx, body };
    if (threads <= 1 || n <= 1) { fp_loop_worker(&loop); return; }
    // the pool's workers may run oneDNN's kernels later: they must start with signals blocked
    sigset_t old;
    fp_signals_block(&old);
    GOMP_parallel(fp_loop_worker, &loop, (unsigned)(threads < n ? threads : n), 0);
    fp_signals_restore(&old);
}
