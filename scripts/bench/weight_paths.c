/* Every way fp can run a model's weight products, timed on one forward's worth of distinct
   weights (streamed from memory, as in a forward pass) at M rows: the table FP_GEMM=auto's rule
   (Sources/FPTensor/GemmDispatch.swift: usesPlainWeight, runsSwapped) was read from, to check it
   on the machine at hand. oneDNN 2.6 and OpenBLAS called directly, THREADS threads.
   Build: cc -O2 weight_paths.c -o weight_paths -ldnnl -lopenblas -lgomp
   Usage: weight_paths gpt2|smollm2|gpt2-unembed|smollm2-unembed [THREADS] [M ...]
   Paths, for C = A W with W [k, n] stored row-major ("W") and for C = A W^T with the same storage
   (a backward pass's dX = dY W^T, or a tied unembedding: "W^T"):
     openblas   cblas_sgemm                       sgemm      dnnl_sgemm (copies weight panels)
     in place   the matmul primitive reading the weight in its own strides (no copy)
     reordered  the primitive on a blocked copy made once (FP_GEMM=packed; doubles the memory)
     swapped    W^T only: C^T = W A^T, the weight's rows as the primitive's source, then C
                written from the [n, M] result (included in the time)
   Prints ms for all the products at each M; "*" marks the fastest of the paths that need no copy. */
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int);
void omp_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static void check(dnnl_status_t s, int line) {
    if (s != dnnl_success) { fprintf(stderr, "weight_paths: oneDNN status %d at line %d\n", (int)s, line); exit(1); }
}
#define CHECK(x) check((x), __LINE__)

static void md2(dnnl_memory_desc_t *md, long rows, long cols, long rs, long cs) {
    dnnl_dims_t d = {rows, cols}, s = {rs, cs};
    CHECK(dnnl_memory_desc_init_by_strides(md, 2, d, dnnl_f32, s));
}

typedef struct { dnnl_primitive_t p; dnnl_memory_t a, b, c; dnnl_memory_desc_t bmd; } matmul;

/* [m, k] (strides ars, acs) x [k, n] (strides brs, bcs, or blocked if any_b) -> [m, n] rows */
static matmul make(long m, long k, long n, long ars, long acs, long brs, long bcs, int any_b) {
    dnnl_memory_desc_t a, b, c;
    md2(&a, m, k, ars, acs);
    md2(&c, m, n, n, 1);
    if (any_b) {
        dnnl_dims_t d = {k, n};
        CHECK(dnnl_memory_desc_init_by_tag(&b, 2, d, dnnl_f32, dnnl_format_tag_any));
    } else {
        md2(&b, k, n, brs, bcs);
    }
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    matmul r;
    CHECK(dnnl_primitive_create(&r.p, pd));
    r.bmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CHECK(dnnl_memory_create(&r.a, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&r.b, &r.bmd, engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&r.c, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), engine, DNNL_MEMORY_NONE));
    dnnl_primitive_desc_destroy(pd);
    return r;
}

static void run(matmul *r, const float *a, const float *b, float *c) {
    dnnl_memory_set_data_handle(r->a, (void *)a);
    dnnl_memory_set_data_handle(r->b, (void *)b);
    dnnl_memory_set_data_handle(r->c, c);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, r->a}, {DNNL_ARG_WEIGHTS, r->b}, {DNNL_ARG_DST, r->c}};
    CHECK(dnnl_primitive_execute(r->p, stream, 3, args));
    dnnl_stream_wait(stream);
}

static void drop(matmul *r) {
    dnnl_primitive_destroy(r->p);
    dnnl_memory_destroy(r->a);
    dnnl_memory_destroy(r->b);
    dnnl_memory_destroy(r->c);
}

static void reorder(const float *src, long k, long n, const dnnl_memory_desc_t *to, float *dst) {
    dnnl_memory_desc_t from;
    md2(&from, k, n, n, 1);
    dnnl_memory_t mf, mt;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    CHECK(dnnl_memory_create(&mf, &from, engine, (void *)src));
    CHECK(dnnl_memory_create(&mt, to, engine, dst));
    CHECK(dnnl_reorder_primitive_desc_create(&pd, &from, engine, to, engine, NULL));
    CHECK(dnnl_primitive_create(&p, pd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mf}, {DNNL_ARG_TO, mt}};
    CHECK(dnnl_primitive_execute(p, stream, 2, args));
    dnnl_stream_wait(stream);
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(mf);
    dnnl_memory_destroy(mt);
}

enum { OPENBLAS, SGEMM, IN_PLACE, REORDERED, SWAPPED, PATHS };
static const char *names[PATHS] = {"openblas", "sgemm", "in place", "reordered", "swapped"};

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: weight_paths gpt2|smollm2|gpt2-unembed|smollm2-unembed [THREADS] [M ...]\n"); return 2; }
    const char *model = argv[1];
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    long ms[32] = {1, 2, 4, 7, 8, 12, 16, 17, 24, 32, 64, 128};
    int nm = 12;
    if (argc > 3) { nm = 0; for (int i = 3; i < argc && nm < 32; i++) ms[nm++] = atol(argv[i]); }
    long shapes[4][2];   /* [k, n] of W */
    int ns = 4, layers;
    if (!strcmp(model, "gpt2")) {
        long s[4][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
        memcpy(shapes, s, sizeof s); layers = 12;
    } else if (!strcmp(model, "smollm2")) {
        long s[4][2] = {{576, 960}, {576, 576}, {576, 3072}, {1536, 576}};
        memcpy(shapes, s, sizeof s); layers = 30;
    } else if (!strcmp(model, "gpt2-unembed") || !strcmp(model, "smollm2-unembed")) {
        /* the embedding [V, d] row-major is W [k = V, n = d]; logits = A W^T */
        shapes[0][0] = model[0] == 'g' ? 50257 : 49152;
        shapes[0][1] = model[0] == 'g' ? 768 : 576;
        ns = 1; layers = 1;
    } else {
        fprintf(stderr, "weight_paths: unknown model %s\n", model); return 2;
    }
    int unembed = ns == 1;
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));

    long widest = 0, bytes = 0;
    float *w[30][4];
    for (int s = 0; s < ns; s++) {
        long k = shapes[s][0], n = shapes[s][1];
        if (k > widest) widest = k;
        if (n > widest) widest = n;
        for (int l = 0; l < layers; l++) {
            w[l][s] = aligned_alloc(64, (size_t)(k * n * 4 + 63) / 64 * 64);
            for (long i = 0; i < k * n; i++) w[l][s][i] = (float)((i * 2654435761u + l) % 1000) / 1000 - 0.5f;
            bytes += k * n * 4;
        }
    }
    long maxm = 0;
    for (int i = 0; i < nm; i++) if (ms[i] > maxm) maxm = ms[i];
    float *a = aligned_alloc(64, (size_t)(maxm * widest * 4 + 63) / 64 * 64);
    float *c = aligned_alloc(64, (size_t)(maxm * widest * 4 + 63) / 64 * 64);
    float *d = aligned_alloc(64, (size_t)(maxm * widest * 4 + 63) / 64 * 64);
    for (long i = 0; i < maxm * widest; i++) a[i] = (float)(i % 97) / 97 - 0.5f;
    printf("%s: %d product%s of %.0f MB of weights, %d threads, ms for all of them (best of 5)\n", model,
           layers * ns, layers * ns > 1 ? "s" : "", bytes / 1e6, threads);
    for (int t = unembed; t < 2; t++) {   /* t = 0: C = A W; t = 1: C = A W^T */
        printf("%-5s %4s", t ? "W^T" : "W", "M");
        for (int p = 0; p < PATHS; p++) if (t || p != SWAPPED) printf(" %10s", names[p]);
        printf("\n");
        for (int mi = 0; mi < nm; mi++) {
            long m = ms[mi];
            matmul in_place[4], reordered[4], swapped[4];
            float *blocked[30][4];
            for (int s = 0; s < ns; s++) {
                long k = shapes[s][0], n = shapes[s][1];
                if (!t) {
                    in_place[s] = make(m, k, n, k, 1, n, 1, 0);
                    reordered[s] = make(m, k, n, k, 1, 0, 0, 1);
                    size_t size = dnnl_memory_desc_get_size(&reordered[s].bmd);
                    for (int l = 0; l < layers; l++) {
                        blocked[l][s] = aligned_alloc(64, (size + 63) / 64 * 64);
                        reorder(w[l][s], k, n, &reordered[s].bmd, blocked[l][s]);
                    }
                } else {
                    /* [m, n] x W^T [n, k] (strides 1, n) -> [m, k]; swapped: W [k, n] x A^T [n, m] -> [k, m] */
                    in_place[s] = make(m, n, k, n, 1, 1, n, 0);
                    reordered[s] = make(m, n, k, n, 1, 0, 0, 1);
                    size_t size = dnnl_memory_desc_get_size(&reordered[s].bmd);
                    for (int l = 0; l < layers; l++) {
                        float *wt = malloc((size_t)(k * n * 4));
                        for (long i = 0; i < k; i++) for (long j = 0; j < n; j++) wt[j * k + i] = w[l][s][i * n + j];
                        blocked[l][s] = aligned_alloc(64, (size + 63) / 64 * 64);
                        reorder(wt, n, k, &reordered[s].bmd, blocked[l][s]);
                        free(wt);
                    }
                    swapped[s] = make(k, n, m, n, 1, 1, n, 0);
                }
            }
            double best[PATHS];
            for (int p = 0; p < PATHS; p++) best[p] = 1e30;
            for (int round = 0; round < 5; round++) {
                for (int p = 0; p < PATHS; p++) {
                    if (p == SWAPPED && !t) continue;
                    double t0 = now();
                    for (int l = 0; l < layers; l++) for (int s = 0; s < ns; s++) {
                        long k = shapes[s][0], n = shapes[s][1];
                        const float *wl = w[l][s];
                        if (!t) switch (p) {
                            case OPENBLAS: cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, k, wl, n, 0, c, n); break;
                            case SGEMM: dnnl_sgemm('N', 'N', m, n, k, 1, a, k, wl, n, 0, c, n); break;
                            case IN_PLACE: run(&in_place[s], a, wl, c); break;
                            case REORDERED: run(&reordered[s], a, blocked[l][s], c); break;
                        } else switch (p) {
                            case OPENBLAS: cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, n, 1, a, n, wl, n, 0, c, k); break;
                            case SGEMM: dnnl_sgemm('N', 'T', m, k, n, 1, a, n, wl, n, 0, c, k); break;
                            case IN_PLACE: run(&in_place[s], a, wl, c); break;
                            case REORDERED: run(&reordered[s], a, blocked[l][s], c); break;
                            case SWAPPED:
                                run(&swapped[s], wl, a, d);
                                for (long r0 = 0; r0 < k; r0 += 16)
                                    for (long i = 0; i < m; i++)
                                        for (long r = r0; r < r0 + 16 && r < k; r++) c[i * k + r] = d[r * m + i];
                                break;
                        }
                    }
                    double dt = now() - t0;
                    if (dt < best[p]) best[p] = dt;
                }
            }
            int fastest = OPENBLAS;
            for (int p = 0; p < PATHS; p++)
                if (p != REORDERED && (t || p != SWAPPED) && best[p] < best[fastest]) fastest = p;
            printf("%-5s %4ld", "", m);
            for (int p = 0; p < PATHS; p++)
                if (t || p != SWAPPED) printf(" %9.2f%s", best[p] * 1e3, p == fastest ? "*" : " ");
            printf("\n");
            for (int s = 0; s < ns; s++) {
                drop(&in_place[s]);
                drop(&reordered[s]);
                if (t) drop(&swapped[s]);
                for (int l = 0; l < layers; l++) free(blocked[l][s]);
            }
        }
    }
    return 0;
}
