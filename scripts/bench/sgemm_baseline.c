/* Direct sgemm timing, the baseline fp's matmul is compared with: OpenBLAS (default) or oneDNN's
   dnnl_sgemm, called straight from C with the same thread count.
   Build: cc -O2 sgemm_baseline.c -o sgemm_baseline -lopenblas -ldnnl -lgomp
   Usage: sgemm_baseline M K N REPEATS [openblas|onednn] [THREADS]
   -> prints "<kernel> <GFLOP/s>" (best of 5 rounds); kernel is OpenBLAS's core or oneDNN's ISA. */
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *openblas_get_corename(void);
void openblas_set_num_threads(int);
void omp_set_num_threads(int);

static double now(void) {
    struct timespec t;
    // BENCH_CLOCK=cpu: process CPU time (one thread on a busy host), else wall-clock time
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("BENCH_CLOCK") && strcmp(getenv("BENCH_CLOCK"), "cpu") == 0;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int onednn;

static void product(int m, int k, int n, const float *a, const float *b, float *c) {
    if (onednn) dnnl_sgemm('N', 'N', m, n, k, 1, a, k, b, n, 0, c, n);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, b, n, 0, c, n);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s M K N REPEATS [openblas|onednn] [THREADS]\n", argv[0]); return 2; }
    int m = atoi(argv[1]), k = atoi(argv[2]), n = atoi(argv[3]), reps = atoi(argv[4]);
    onednn = argc > 5 && strcmp(argv[5], "onednn") == 0;
    if (argc > 6) { openblas_set_num_threads(atoi(argv[6])); omp_set_num_threads(atoi(argv[6])); }
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
    for (long i = 0; i < (long)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (long i = 0; i < (long)k * n; i++) b[i] = (float)(i % 5) * 0.1f;
    product(m, k, n, a, b, c);
    double best = 0;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) product(m, k, n, a, b, c);
        double g = 2.0 * m * n * k * reps / (now() - t0) / 1e9;
        if (g > best) best = g;
    }
    const char *kernel = openblas_get_corename();
    if (onednn) {
        static const struct { int isa; const char *name; } names[] = {
            {dnnl_cpu_isa_avx2, "avx2"}, {dnnl_cpu_isa_avx512_core, "avx512_core"},
            {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"}, {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
            {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"}};
        kernel = "onednn";
        for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
            if ((int)dnnl_get_effective_cpu_isa() == names[i].isa) kernel = names[i].name;
    }
    printf("%s %.1f\n", kernel, best);
    return 0;
}
