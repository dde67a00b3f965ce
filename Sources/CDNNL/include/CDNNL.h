// oneDNN (Debian libdnnl-dev): the row-major sgemm fp dispatches small-M products to, and what
// the library reports about itself. Thin C wrappers so Swift never sees oneDNN's large headers.
#ifndef FP_CDNNL_H
#define FP_CDNNL_H

#include <stdint.h>

// C = alpha op(A) op(B) + beta C, row-major like cblas_sgemm; returns 0 on success, otherwise
// oneDNN's status code (the caller then falls back to OpenBLAS).
int fp_dnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                  float *c, int64_t ldc);
// Threads for the next oneDNN call (oneDNN's Debian build runs on OpenMP).
void fp_dnnl_set_num_threads(int n);
// The instruction set oneDNN's kernels use on this CPU, e.g. "avx512_core_bf16".
const char *fp_dnnl_isa(void);
// "2.6.3"
const char *fp_dnnl_version(void);
// The CPU's brand string from cpuid (e.g. "AMD EPYC"), or "unknown".
const char *fp_cpu_model(void);

#endif
