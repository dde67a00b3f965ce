"""torch.mm's float32 GFLOP/s (MKL in the CPU wheels): the library the PyTorch peers multiply
with, timed like scripts/bench/sgemm_baseline.c (best of 5 rounds of REPEATS products).
Usage: python sgemm_torch.py THREADS "M K N REPEATS" ...   -> one line "M K N GFLOP/s" per shape."""
import os
import sys
import time

import torch


def main():
    threads, shapes = int(sys.argv[1]), sys.argv[2:]
    torch.set_num_threads(threads)
    # BENCH_CLOCK=cpu: process CPU time (one thread on a busy host), else wall-clock time
    clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
    g = torch.Generator().manual_seed(0)
    for shape in shapes:
        m, k, n, reps = (int(x) for x in shape.split())
        a, b = torch.rand(m, k, generator=g) - 0.5, torch.rand(k, n, generator=g) - 0.5
        c = torch.empty(m, n)
        torch.mm(a, b, out=c)   # warm-up
        best = 0.0
        for _ in range(5):
            t0 = clock()
            for _ in range(reps):
                torch.mm(a, b, out=c)
            best = max(best, 2.0 * m * k * n * reps / (clock() - t0) / 1e9)
        print(f"{m} {k} {n} {best:.1f}", flush=True)


if __name__ == "__main__":
    main()
