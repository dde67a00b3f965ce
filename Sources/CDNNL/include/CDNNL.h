// oneDNN (Debian libdnnl-dev): the row-major sgemm fp dispatches small-M products to, and what
// the library reports about itself. Thin C wrappers so Swift never sees oneDNN's large headers.
#ifndef FP_CDNNL_H
#define FP_CDNNL_H

#include <stddef.h>
#include <stdint.h>

// C = alpha op(A) op(B) + beta C, row-major like cblas_sgemm; returns 0 on success, otherwise
// oneDNN's status code (the caller then falls back to OpenBLAS).
int fp_dnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                  float *c, int64_t ldc);
// Threads for the next oneDNN call (oneDNN's Debian build runs on OpenMP).
void fp_dnnl_set_num_threads(int n);
// body(ctx, 0), ..., body(ctx, n - 1) on up to `threads` threads of OpenMP's pool (oneDNN's),
// the caller's included; indices are handed out one at a time. Returns when all have run.
void fp_parallel_for(int n, int threads, void *ctx, void (*body)(void *ctx, int i));
// The instruction set oneDNN's kernels use on this CPU, e.g. "avx512_core_bf16".
const char *fp_dnnl_isa(void);
// "2.6.3"
const char *fp_dnnl_version(void);
// The CPU's brand string from cpuid (e.g. "AMD EPYC"), or "unknown".
const char *fp_cpu_model(void);


// A weight matrix [k, n] for oneDNN's matmul primitive, with the primitives of its last few
// product shapes: reordered once into the blocked layout the primitive prefers (f32, or bf16
// with bf16 sources), or plain (fp_dnnl_plain_weight_create: read in place, nothing copied;
// fp_dnnl_swapped_weight_create: a transposed weight read in place, the product run swapped).
typedef struct fp_dnnl_weight fp_dnnl_weight;
// Reorders the f32 weight at `src` (element strides row_stride, col_stride: any layout); m_hint
// is the row count of a typical product. NULL on failure, with oneDNN's status in *status.
fp_dnnl_weight *fp_dnnl_weight_create(int64_t k, int64_t n, const float *src, int64_t row_stride,
                                      int64_t col_stride, int bf16, int64_t m_hint, int *status);
// Reorders new values (same shape and strides) into the existing blocked copy.
int fp_dnnl_weight_update(fp_dnnl_weight *w, const float *src, int64_t row_stride, int64_t col_stride);
// Bytes of the blocked copy.
size_t fp_dnnl_weight_bytes(const fp_dnnl_weight *w);
void fp_dnnl_weight_destroy(fp_dnnl_weight *w);
// c[m, n] (row stride ldc) = a[m, k] (row stride lda, f32) x w. bf16 weights round the source
// to bf16 first; the product accumulates and is written in f32. 0 on success.
int fp_dnnl_weight_matmul(fp_dnnl_weight *w, int64_t m, const float *a, int64_t lda, float *c, int64_t ldc);
// A weight [k, n] read where it is (element strides row_stride, col_stride), not copied: the
// primitives of its product shapes only. NULL on failure, with oneDNN's status in *status.
fp_dnnl_weight *fp_dnnl_plain_weight_create(int64_t k, int64_t n, int64_t row_stride, int64_t col_stride, int *status);
// c[m, n] = a[m, k] x the plain weight's values at `weight` (its shape and strides). 0 on success.
int fp_dnnl_plain_weight_matmul(fp_dnnl_weight *w, const float *weight, int64_t m, const float *a, int64_t lda,
                                float *c, int64_t ldc);
// A transposed weight W [k, n] (strides 1, t_row_stride) for products run swapped: its values
// are the rows T [n, k], streamed as the primitive's source, and the product's source is seen as
// the weights (C^T = T A^T). Nothing is copied. NULL on failure, with oneDNN's status in *status.
fp_dnnl_weight *fp_dnnl_swapped_weight_create(int64_t k, int64_t n, int64_t t_row_stride, int *status);
// d[n, m] (packed rows) = (a[m, k] x W)^T for the swapped weight's values at `weight`; the
// caller transposes d into the product. 0 on success.
int fp_dnnl_swapped_weight_matmul(fp_dnnl_weight *w, const float *weight, int64_t m, const float *a, int64_t lda,
                                  float *d);
// f32 -> bf16 rounding to nearest even, as the bf16 products round their sources.
void fp_f32_to_bf16(const float *src, uint16_t *dst, int64_t count);

#endif
