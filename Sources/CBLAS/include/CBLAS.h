// OpenBLAS: cblas, the LAPACK routines fp uses, and kernel selection.
#ifndef FP_CBLAS_H
#define FP_CBLAS_H

#include <cblas.h>

// Provided by OpenBLAS (not all of them in every cblas.h).
char *openblas_get_corename(void);
char *openblas_get_config(void);
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

// LAPACK (Fortran ABI, column-major), single precision.
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau,
             float *work, const int *lwork, int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda,
             const float *tau, float *work, const int *lwork, int *info);
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda,
             float *s, float *u, const int *ldu, float *vt, const int *ldvt,
             float *work, const int *lwork, int *iwork, int *info);
void sgesv_(const int *n, const int *nrhs, float *a, const int *lda, int *ipiv,
            float *b, const int *ldb, int *info);
void sgeev_(const char *jobvl, const char *jobvr, const int *n, float *a, const int *lda,
            float *wr, float *wi, float *vl, const int *ldvl, float *vr, const int *ldvr,
            float *work, const int *lwork, int *info);
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda,
             float *w, float *work, const int *lwork, int *iwork, const int *liwork, int *info);

// The OpenBLAS kernel family best suited to this CPU ("SkylakeX" with AVX-512, "Haswell"
// with AVX2+FMA), or NULL to let OpenBLAS decide. Read from cpuid, no library call.
const char *fp_best_openblas_coretype(void);
/// Online CPUs, read once per process.
int fp_cpu_count(void);
// Gives the heap memory malloc keeps after frees back to the kernel (glibc's malloc_trim;
// nothing elsewhere).
void fp_return_free_memory(void);

#endif
