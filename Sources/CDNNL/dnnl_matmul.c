// oneDNN's matmul primitive with the weight reordered once into the blocked layout the
// primitive prefers (format_tag any -> query -> reorder), or read where it is in its own strided
// layout (a plain weight: no copy), and a few primitives per weight, one per product shape seen
// last (M, lda, ldc). f32 or bf16 weights; f32 output, f32 accumulation. A transposed plain
// weight can also run swapped: C^T = W^T A^T, the weight's rows streamed as the source.
#include "CDNNL.h"
#include "signal_guard.h"
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FP_DNNL_SHAPES 8

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static dnnl_status_t engine_status = dnnl_runtime_error;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void) {
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (engine_status == dnnl_success)
        engine_status = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
}

static int ready(void) {
    pthread_once(&engine_once, engine_init);
    return engine_status == dnnl_success;
}

struct fp_dnnl_shape {
    int64_t m, lda, ldc;
    uint64_t used;   // for least-recently-used replacement
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst;
    dnnl_memory_t wts;   // swapped products: the caller's rows seen as the weights
};

struct fp_dnnl_weight {
    int64_t k, n;
    int bf16;
    int swapped;         // run swapped (md and mem unused); t_rs: the row stride of its rows [n, k]
    int64_t t_rs;
    dnnl_memory_desc_t md;   // the blocked layout
    void *data;
    size_t bytes;
    dnnl_memory_t mem;
    uint64_t clock;
    struct fp_dnnl_shape shapes[FP_DNNL_SHAPES];
};

static dnnl_status_t plain_md(dnnl_memory_desc_t *md, int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                              dnnl_data_type_t dt) {
    dnnl_dims_t dims = {rows, cols}, strides = {rs, cs};
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

// The matmul primitive for src [m, k] (row stride lda) x weights (md) -> dst [m, n] (row stride ldc).
static dnnl_status_t make_pd(dnnl_primitive_desc_t *pd, int64_t m, int64_t k, int64_t n, int64_t lda, int64_t ldc,
                             const dnnl_memory_desc_t *wmd, int bf16) {
    dnnl_memory_desc_t smd, dmd;
    dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_status_t s;
    if ((s = plain_md(&smd, m, k, lda, 1, dt)) != dnnl_success) return s;
    if ((s = plain_md(&dmd, m, n, ldc, 1, dnnl_f32)) != dnnl_success) return s;
    dnnl_matmul_desc_t d;
    if ((s = dnnl_matmul_desc_init(&d, &smd, wmd, NULL, &dmd)) != dnnl_success) return s;
    return dnnl_primitive_desc_create(pd, &d, NULL, engine, NULL);
}

// The swapped product for a transposed weight W [k, n] whose values are the rows T [n, k] (row
// stride t_rs): D [n, m] (packed rows) = T x A^T, A^T being a [m, k] source (row stride lda)
// seen as [k, m] weights with strides (1, lda).
static dnnl_status_t make_swapped_pd(dnnl_primitive_desc_t *pd, int64_t m, int64_t k, int64_t n, int64_t lda,
                                     int64_t t_rs) {
    dnnl_memory_desc_t smd, wmd, dmd;
    dnnl_status_t s;
    if ((s = plain_md(&smd, n, k, t_rs, 1, dnnl_f32)) != dnnl_success) return s;
    if ((s = plain_md(&wmd, k, m, 1, lda, dnnl_f32)) != dnnl_success) return s;
    if ((s = plain_md(&dmd, n, m, m, 1, dnnl_f32)) != dnnl_success) return s;
    dnnl_matmul_desc_t d;
    if ((s = dnnl_matmul_desc_init(&d, &smd, &wmd, NULL, &dmd)) != dnnl_success) return s;
    return dnnl_primitive_desc_create(pd, &d, NULL, engine, NULL);
}

static int reorder_into(fp_dnnl_weight *w, const float *src, int64_t rs, int64_t cs) {
    dnnl_memory_desc_t from;
    dnnl_memory_t mfrom = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_status_t s = plain_md(&from, w->k, w->n, rs, cs, dnnl_f32);
    if (s == dnnl_success) s = dnnl_memory_create(&mfrom, &from, engine, (void *)src);
    if (s == dnnl_success) s = dnnl_reorder_primitive_desc_create(&rpd, &from, engine, &w->md, engine, NULL);
    if (s == dnnl_success) s = dnnl_primitive_create(&r, rpd);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mfrom}, {DNNL_ARG_TO, w->mem}};
        s = dnnl_primitive_execute(r, stream, 2, args);
        if (s == dnnl_success) s = dnnl_stream_wait(stream);
    }
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (mfrom) dnnl_memory_destroy(mfrom);
    return (int)s;
}

static fp_dnnl_weight *weight_create(int64_t k, int64_t n, const float *src, int64_t row_stride,
                                     int64_t col_stride, int bf16, int64_t m_hint, int *status) {
    *status = dnnl_runtime_error;
    if (!ready() || k <= 0 || n <= 0) return NULL;
    fp_dnnl_weight *w = calloc(1, sizeof *w);
    if (!w) { *status = dnnl_out_of_memory; return NULL; }
    w->k = k; w->n = n; w->bf16 = bf16;
    // the layout the primitive prefers for products of this weight
    dnnl_memory_desc_t any;
    dnnl_dims_t dims = {k, n};
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&any, 2, dims, bf16 ? dnnl_bf16 : dnnl_f32, dnnl_format_tag_any);
    if (s == dnnl_success) s = make_pd(&pd, m_hint > 0 ? m_hint : 1, k, n, k, n, &any, bf16);
    if (s == dnnl_success) {
        const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        if (q) w->md = *q; else s = dnnl_runtime_error;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (s == dnnl_success) {
        w->bytes = dnnl_memory_desc_get_size(&w->md);
        if (posix_memalign(&w->data, 64, w->bytes ? w->bytes : 64) != 0) { w->data = NULL; s = dnnl_out_of_memory; }
    }
    if (s == dnnl_success) s = dnnl_memory_create(&w->mem, &w->md, engine, w->data);
    if (s == dnnl_success) s = (dnnl_status_t)reorder_into(w, src, row_stride, col_stride);
    if (s != dnnl_success) { fp_dnnl_weight_destroy(w); *status = (int)s; return NULL; }
    *status = 0;
    return w;
}

// A plain weight: the primitive's weight descriptor is the matrix's own strides, and its memory
// is pointed at the caller's values before each product (nothing is copied or kept).
static fp_dnnl_weight *plain_weight_create(int64_t k, int64_t n, int64_t row_stride, int64_t col_stride, int *status) {
    *status = dnnl_runtime_error;
    if (!ready() || k <= 0 || n <= 0) return NULL;
    fp_dnnl_weight *w = calloc(1, sizeof *w);
    if (!w) { *status = dnnl_out_of_memory; return NULL; }
    w->k = k; w->n = n;
    dnnl_status_t s = plain_md(&w->md, k, n, row_stride, col_stride, dnnl_f32);
    if (s == dnnl_success) s = dnnl_memory_create(&w->mem, &w->md, engine, DNNL_MEMORY_NONE);
    if (s != dnnl_success) { fp_dnnl_weight_destroy(w); *status = (int)s; return NULL; }
    *status = 0;
    return w;
}

int fp_dnnl_weight_update(fp_dnnl_weight *w, const float *src, int64_t row_stride, int64_t col_stride) {
    sigset_t old;
    fp_signals_block(&old);
    int s = reorder_into(w, src, row_stride, col_stride);
    fp_signals_restore(&old);
    return s;
}

size_t fp_dnnl_weight_bytes(const fp_dnnl_weight *w) { return w ? w->bytes : 0; }

static void drop_shape(struct fp_dnnl_shape *e) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->src) dnnl_memory_destroy(e->src);
    if (e->dst) dnnl_memory_destroy(e->dst);
    if (e->wts) dnnl_memory_destroy(e->wts);
    memset(e, 0, sizeof *e);
}

void fp_dnnl_weight_destroy(fp_dnnl_weight *w) {
    if (!w) return;
    for (int i = 0; i < FP_DNNL_SHAPES; i++) drop_shape(&w->shapes[i]);
    if (w->mem) dnnl_memory_destroy(w->mem);
    free(w->data);
    free(w);
}

static struct fp_dnnl_shape *shape_for(fp_dnnl_weight *w, int64_t m, int64_t lda, int64_t ldc, dnnl_status_t *s) {
    struct fp_dnnl_shape *slot = &w->shapes[0];
    for (int i = 0; i < FP_DNNL_SHAPES; i++) {
        struct fp_dnnl_shape *e = &w->shapes[i];
        if (e->prim && e->m == m && e->lda == lda && e->ldc == ldc) { e->used = ++w->clock; return e; }
        // an empty slot, else the least recently used
        if (slot->prim && (!e->prim || e->used < slot->used)) slot = e;
    }
    drop_shape(slot);
    dnnl_primitive_desc_t pd = NULL;
    *s = w->swapped ? make_swapped_pd(&pd, m, w->k, w->n, lda, w->t_rs)
                    : make_pd(&pd, m, w->k, w->n, lda, ldc, &w->md, w->bf16);
    if (*s == dnnl_success) *s = dnnl_primitive_create(&slot->prim, pd);
    if (*s == dnnl_success) {
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        *s = dnnl_memory_create(&slot->src, smd, engine, DNNL_MEMORY_NONE);
        if (*s == dnnl_success) *s = dnnl_memory_create(&slot->dst, dmd, engine, DNNL_MEMORY_NONE);
        if (*s == dnnl_success && w->swapped) {
            const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
            *s = dnnl_memory_create(&slot->wts, wmd, engine, DNNL_MEMORY_NONE);
        }
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (*s != dnnl_success) { drop_shape(slot); return NULL; }
    slot->m = m; slot->lda = lda; slot->ldc = ldc; slot->used = ++w->clock;
    return slot;
}

// f32 -> bf16, rounding to nearest even (what oneDNN's reorder does); NaN stays NaN.
void fp_f32_to_bf16(const float *src, uint16_t *dst, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) { dst[i] = (uint16_t)((u >> 16) | 0x40); continue; }
        u += 0x7fffu + ((u >> 16) & 1u);
        dst[i] = (uint16_t)(u >> 16);
    }
}

static int weight_matmul(fp_dnnl_weight *w, int64_t m, const float *a, int64_t lda, float *c, int64_t ldc) {
    dnnl_status_t s = dnnl_success;
    uint16_t *a16 = NULL;
    const void *src = a;
    if (w->bf16) {
        // the source is converted once per call, packed (row stride k)
        if (posix_memalign((void **)&a16, 64, (size_t)(m * w->k) * 2) != 0) return dnnl_out_of_memory;
        for (int64_t i = 0; i < m; i++) fp_f32_to_bf16(a + i * lda, a16 + i * w->k, w->k);
        src = a16; lda = w->k;
    }
    struct fp_dnnl_shape *e = shape_for(w, m, lda, ldc, &s);
    if (e) {
        s = dnnl_memory_set_data_handle(e->src, (void *)src);
        if (s == dnnl_success) s = dnnl_memory_set_data_handle(e->dst, c);
        if (s == dnnl_success) {
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_WEIGHTS, w->mem}, {DNNL_ARG_DST, e->dst}};
            s = dnnl_primitive_execute(e->prim, stream, 3, args);
            if (s == dnnl_success) s = dnnl_stream_wait(stream);
        }
    }
    free(a16);
    return (int)s;
}

static fp_dnnl_weight *swapped_weight_create(int64_t k, int64_t n, int64_t t_rs, int *status) {
    *status = dnnl_runtime_error;
    if (!ready() || k <= 0 || n <= 0 || t_rs < k) return NULL;
    fp_dnnl_weight *w = calloc(1, sizeof *w);
    if (!w) { *status = dnnl_out_of_memory; return NULL; }
    w->k = k; w->n = n; w->swapped = 1; w->t_rs = t_rs;
    *status = 0;
    return w;
}

// D [n, m] (packed rows) = T x A^T: the caller writes C = D^T.
static int swapped_matmul(fp_dnnl_weight *w, const float *t, int64_t m, const float *a, int64_t lda, float *d) {
    dnnl_status_t s = dnnl_success;
    struct fp_dnnl_shape *e = shape_for(w, m, lda, m, &s);
    if (!e) return (int)s;
    s = dnnl_memory_set_data_handle(e->src, (void *)t);
    if (s == dnnl_success) s = dnnl_memory_set_data_handle(e->wts, (void *)a);
    if (s == dnnl_success) s = dnnl_memory_set_data_handle(e->dst, d);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_WEIGHTS, e->wts}, {DNNL_ARG_DST, e->dst}};
        s = dnnl_primitive_execute(e->prim, stream, 3, args);
        if (s == dnnl_success) s = dnnl_stream_wait(stream);
    }
    return (int)s;
}

// The entry points with the asynchronous signals blocked while oneDNN runs (signal_guard.h).
fp_dnnl_weight *fp_dnnl_weight_create(int64_t k, int64_t n, const float *src, int64_t row_stride,
                                      int64_t col_stride, int bf16, int64_t m_hint, int *status) {
    sigset_t old;
    fp_signals_block(&old);
    fp_dnnl_weight *w = weight_create(k, n, src, row_stride, col_stride, bf16, m_hint, status);
    fp_signals_restore(&old);
    return w;
}

int fp_dnnl_weight_matmul(fp_dnnl_weight *w, int64_t m, const float *a, int64_t lda, float *c, int64_t ldc) {
    if (m <= 0) return 0;
    sigset_t old;
    fp_signals_block(&old);
    int s = weight_matmul(w, m, a, lda, c, ldc);
    fp_signals_restore(&old);
    return s;
}

fp_dnnl_weight *fp_dnnl_plain_weight_create(int64_t k, int64_t n, int64_t row_stride, int64_t col_stride, int *status) {
    sigset_t old;
    fp_signals_block(&old);
    fp_dnnl_weight *w = plain_weight_create(k, n, row_stride, col_stride, status);
    fp_signals_restore(&old);
    return w;
}

int fp_dnnl_plain_weight_matmul(fp_dnnl_weight *w, const float *weight, int64_t m, const float *a, int64_t lda,
                                float *c, int64_t ldc) {
    if (m <= 0) return 0;
    sigset_t old;
    fp_signals_block(&old);
    int s = (int)dnnl_memory_set_data_handle(w->mem, (void *)weight);
    if (s == 0) s = weight_matmul(w, m, a, lda, c, ldc);
    fp_signals_restore(&old);
    return s;
}

fp_dnnl_weight *fp_dnnl_swapped_weight_create(int64_t k, int64_t n, int64_t t_row_stride, int *status) {
    sigset_t old;
    fp_signals_block(&old);
    fp_dnnl_weight *w = swapped_weight_create(k, n, t_row_stride, status);
    fp_signals_restore(&old);
    return w;
}

int fp_dnnl_swapped_weight_matmul(fp_dnnl_weight *w, const float *weight, int64_t m, const float *a, int64_t lda,
                                  float *d) {
    if (m <= 0) return 0;
    sigset_t old;
    fp_signals_block(&old);
    int s = swapped_matmul(w, weight, m, a, lda, d);
    fp_signals_restore(&old);
    return s;
}
