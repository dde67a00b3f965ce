// Chooses the kernels' instruction set once, by cpuid (the OS must also save the wide
// registers: XGETBV), and forwards each call to that variant. FP_KERNELS=avx2 or baseline (or
// fpk_use) selects a narrower variant the CPU also runs, so every variant can be tested on one
// machine; a variant the CPU lacks is never chosen.
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#define DECLARE(isa) \
    void fpk_attention_forward_##isa(const fpk_attention_shape *, float *, float *, int, int, int, int, float *); \
    void fpk_attention_backward_##isa(const fpk_attention_shape *, const float *, const float *, float *, float *, float *, int, int, float *); \
    void fpk_norm_forward_##isa(const float *, long, int, float, int, float *, float *, const float *, const float *, float *); \
    void fpk_norm_backward_##isa(const float *, const float *, const float *, long, int, int, float *); \
    void fpk_activation_##isa(int, const float *, const float *, float *, long); \
    void fpk_activation_grad_##isa(int, const float *, const float *, float *, long); \
    void fpk_rope_##isa(const fpk_rope_shape *, float, long, long, float *);
DECLARE(baseline)

typedef struct {
    const char *name;
    void (*attention_forward)(const fpk_attention_shape *, float *, float *, int, int, int, int, float *);
    void (*attention_backward)(const fpk_attention_shape *, const float *, const float *, float *, float *, float *, int, int, float *);
    void (*norm_forward)(const float *, long, int, float, int, float *, float *, const float *, const float *, float *);
    void (*norm_backward)(const float *, const float *, const float *, long, int, int, float *);
    void (*activation)(int, const float *, const float *, float *, long);
    void (*activation_grad)(int, const float *, const float *, float *, long);
    void (*rope)(const fpk_rope_shape *, float, long, long, float *);
} kernel_table;

#define TABLE(isa) { #isa, fpk_attention_forward_##isa, fpk_attention_backward_##isa, \
                     fpk_norm_forward_##isa, fpk_norm_backward_##isa, fpk_activation_##isa, fpk_activation_grad_##isa, \
                     fpk_rope_##isa }

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

static const kernel_table *widest(void) {
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
// The variants this CPU runs, widest first (NULL-terminated).
static void supported(const kernel_table *out[4]) {
    const kernel_table *w = widest();
    int n = 0;
    if (w == &avx512) out[n++] = &avx512;
    if (w == &avx512 || w == &avx2) out[n++] = &avx2;
    out[n++] = &baseline;
    out[n] = NULL;
}
#else
static void supported(const kernel_table *out[4]) { out[0] = &baseline; out[1] = NULL; }
#endif

static const kernel_table *named(const char *name) {
    const kernel_table *list[4];
    supported(list);
    for (int i = 0; name && list[i]; i++)
        if (strcmp(list[i]->name, name) == 0) return list[i];
    return NULL;
}

// The widest variant, unless FP_KERNELS names another one this CPU runs.
static const kernel_table *detect(void) {
    const char *want = getenv("FP_KERNELS");
    const kernel_table *list[4], *t = named(want);
    supported(list);
    if (want && *want && !t)
        fprintf(stderr, "fp: FP_KERNELS=%s ignored: not a kernel variant this CPU runs (avx512, avx2, baseline); using %s\n",
                want, list[0]->name);
    return t ? t : list[0];
}

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

const char *fpk_isa_supported(int i) {
    const kernel_table *list[4];
    supported(list);
    if (i < 0) return NULL;
    for (int j = 0; j <= i; j++) if (!list[j]) return NULL;
    return list[i]->name;
}

int fpk_use(const char *name) {
    const kernel_table *t = named(name);
    if (!t) return 0;
    __atomic_store_n(&chosen, t, __ATOMIC_RELEASE);
    return 1;
}

void fpk_attention_forward(const fpk_attention_shape *a, float *z, float *pattern, int begin, int end,
                           int q0, int q1, float *scratch) {
    kernels()->attention_forward(a, z, pattern, begin, end, q0, q1, scratch);
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

void fpk_activation(int op, const float *x, const float *mul, float *y, long n) {
    kernels()->activation(op, x, mul, y, n);
}

void fpk_activation_grad(int op, const float *x, const float *g, float *y, long n) {
    kernels()->activation_grad(op, x, g, y, n);
}

void fpk_rope(const fpk_rope_shape *a, float sign, long t0, long t1, float *out) {
    kernels()->rope(a, sign, t0, t1, out);
}
