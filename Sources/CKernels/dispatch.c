// Chooses the kernels' instruction set once, by cpuid (the OS must also save the wide
// registers: XGETBV), and forwards each call to that variant.
#include "CKernels.h"
#include <stddef.h>

#define DECLARE(isa) \
    void fpk_attention_forward_##isa(const fpk_attention_shape *, float *, float *, int, int, float *); \
    void fpk_attention_backward_##isa(const fpk_attention_shape *, const float *, const float *, float *, float *, float *, int, int, float *); \
    void fpk_norm_forward_##isa(const float *, long, int, float, int, float *, float *, const float *, const float *, float *); \
    void fpk_norm_backward_##isa(const float *, const float *, const float *, long, int, int, float *);
DECLARE(baseline)

typedef struct {
    const char *name;
    void (*attention_forward)(const fpk_attention_shape *, float *, float *, int, int, float *);
    void (*attention_backward)(const fpk_attention_shape *, const float *, const float *, float *, float *, float *, int, int, float *);
    void (*norm_forward)(const float *, long, int, float, int, float *, float *, const float *, const float *, float *);
    void (*norm_backward)(const float *, const float *, const float *, long, int, int, float *);
} kernel_table;

#define TABLE(isa) { #isa, fpk_attention_forward_##isa, fpk_attention_backward_##isa, \
                     fpk_norm_forward_##isa, fpk_norm_backward_##isa }

static const kernel_table baseline = TABLE(baseline);

#if defined(__x86_64__)
#include <cpuid.h>
DECLARE(avx512)
DECLARE(avx2)
static const kernel_table avx512 = TABLE(avx512), avx2 = TABLE(avx2);

static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static const kernel_table *detect(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return &baseline;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || __get_cpuid_max(0, NULL) < 7) return &baseline;
    unsigned long long xcr0 = xgetbv0();
    int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
    __cpuid_count(7, 0, a, b, c, d);
    int has_avx2 = (b >> 5) & 1, f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    if (zmm && f && dq && bw && vl && fma) return &avx512;
    if (ymm && has_avx2 && fma) return &avx2;
    return &baseline;
}
#else
static const kernel_table *detect(void) { return &baseline; }
#endif

static const kernel_table *chosen;

// Races between threads only store the same pointer.
static const kernel_table *kernels(void) {
    const kernel_table *t = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!t) {
        t = detect();
        __atomic_store_n(&chosen, t, __ATOMIC_RELEASE);
    }
    return t;
}

const char *fpk_isa(void) { return kernels()->name; }

void fpk_attention_forward(const fpk_attention_shape *a, float *z, float *pattern, int begin, int end, float *scratch) {
    kernels()->attention_forward(a, z, pattern, begin, end, scratch);
}

void fpk_attention_backward(const fpk_attention_shape *a, const float *pattern, const float *dz,
                            float *dq, float *dk, float *dv, int begin, int end, float *scratch) {
    kernels()->attention_backward(a, pattern, dz, dq, dk, dv, begin, end, scratch);
}

void fpk_norm_forward(const float *x, long rows, int d, float eps, int centered,
                      float *scale, float *normalized, const float *w, const float *b, float *out) {
    kernels()->norm_forward(x, rows, d, eps, centered, scale, normalized, w, b, out);
}

void fpk_norm_backward(const float *g, const float *n, const float *scale, long rows, int d, int centered, float *gx) {
    kernels()->norm_backward(g, n, scale, rows, d, centered, gx);
}
