// f32 / bf16 / f16 weights to float32, straight or transposed (a loader's hot loop: every weight
// of a model passes through here once). A transposing pass moves 8 x 8 blocks through registers
// (three rounds of shuffles) instead of reading the source a column at a time. Bit-exact: a
// bf16 is the top half of its float32, and an f16 widens exactly (integer operations on 8 lanes,
// no F16C needed; NaN payloads kept). (Little-endian hosts: x86-64 and arm64.)
#include "CKernels.h"
#include <string.h>

// The 8-lane helpers are inlined: their vector ABI never crosses a call.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v8f __attribute__((ext_vector_type(8), aligned(4)));
typedef unsigned v8u __attribute__((ext_vector_type(8), aligned(4)));
typedef unsigned short v8h __attribute__((ext_vector_type(8), aligned(2)));

#define INLINE static inline __attribute__((always_inline))

// f16 bits (in the low half of each lane) -> float32 bits. Exponent and mantissa move up 13
// bits; a normal number's exponent is rebiased from 15 to 127 (+112), infinity and NaN's from 31
// to 255 (+224); a subnormal m 2^-24 is made as the float (1 + m / 1024) 2^-14 minus 2^-14,
// which is exact; the sign goes back on last.
INLINE v8u f16_bits(v8u h) {
    const v8u sign = (h & 0x8000u) << 16, exp = h & 0x7c00u, u = (h & 0x7fffu) << 13;
    const v8u normal = u + (112u << 23), special = u + (224u << 23);
    const v8f one = (v8f)(u + (113u << 23)), base = (v8f)((v8u)(113u << 23));
    const v8u subnormal = (v8u)(one - base);
    const v8u is_special = (v8u)(exp == 0x7c00u), is_sub = (v8u)(exp == 0u);
    return sign | (is_special & special) | (is_sub & subnormal) | (~(is_special | is_sub) & normal);
}

INLINE v8f load8(const void *p, int kind) {
    if (kind != FPK_F32) {
        v8h h;
        memcpy(&h, p, sizeof h);
        v8u w = __builtin_convertvector(h, v8u);
        return (v8f)(kind == FPK_BF16 ? w << 16 : f16_bits(w));
    }
    v8f f;
    memcpy(&f, p, sizeof f);
    return f;
}

INLINE float load1(const void *p, long i, int kind) {
    if (kind != FPK_F32) {
        unsigned short h;
        memcpy(&h, (const char *)p + i * 2, 2);
        v8u w = {h};
        return ((v8f)(kind == FPK_BF16 ? w << 16 : f16_bits(w)))[0];
    }
    float f;
    memcpy(&f, (const char *)p + i * 4, 4);
    return f;
}

// Rows r0..r1 of src [rows, cols] as dst[c * ld + r], in 64-column tiles (a 64 x 64 tile of
// source and destination stays in L1), 8 x 8 blocks inside a tile.
INLINE void transposed(const void *src, int kind, long cols, long r0, long r1, float *dst, long ld) {
    const long size = kind == FPK_F32 ? 4 : 2;
    const char *s = src;
    for (long c0 = 0; c0 < cols; c0 += 64) {
        long c1 = c0 + 64 < cols ? c0 + 64 : cols;
        long r = r0;
        for (; r + 8 <= r1; r += 8) {
            long c = c0;
            for (; c + 8 <= c1; c += 8) {
                v8f a[8];
                for (int i = 0; i < 8; i++) a[i] = load8(s + ((r + i) * cols + c) * size, kind);
                v8f t[8], u[8];
                for (int i = 0; i < 8; i += 2) {
                    t[i] = __builtin_shufflevector(a[i], a[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
                    t[i + 1] = __builtin_shufflevector(a[i], a[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
                }
                for (int i = 0; i < 8; i += 4) {
                    u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                    u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
                    u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
                    u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
                }
                // u[j] holds column j's rows 0-3 then column j+4's (j < 4); u[4 + j] rows 4-7
                for (int j = 0; j < 4; j++) {
                    v8f lo = __builtin_shufflevector(u[j], u[4 + j], 0, 1, 2, 3, 8, 9, 10, 11);
                    v8f hi = __builtin_shufflevector(u[j], u[4 + j], 4, 5, 6, 7, 12, 13, 14, 15);
                    memcpy(dst + (c + j) * ld + r, &lo, sizeof lo);
                    memcpy(dst + (c + j + 4) * ld + r, &hi, sizeof hi);
                }
            }
            for (; c < c1; c++)
                for (long i = r; i < r + 8; i++) dst[c * ld + i] = load1(s, i * cols + c, kind);
        }
        for (; r < r1; r++)
            for (long c = c0; c < c1; c++) dst[c * ld + r] = load1(s, r * cols + c, kind);
    }
}

INLINE void straight(const void *src, int kind, long n, float *dst) {
    const long size = kind == FPK_F32 ? 4 : 2;
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f f = load8((const char *)src + i * size, kind);
        memcpy(dst + i, &f, sizeof f);
    }
    for (; i < n; i++) dst[i] = load1(src, i, kind);
}

static void transposed_base(const void *src, int kind, long cols, long r0, long r1, float *dst, long ld) {
    transposed(src, kind, cols, r0, r1, dst, ld);
}
static void straight_base(const void *src, int kind, long n, float *dst) { straight(src, kind, n, dst); }

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void transposed_avx2(const void *src, int kind, long cols, long r0, long r1, float *dst, long ld) {
    transposed(src, kind, cols, r0, r1, dst, ld);
}
__attribute__((target("avx2")))
static void straight_avx2(const void *src, int kind, long n, float *dst) { straight(src, kind, n, dst); }

// fpk_isa() names the widest set the CPU and OS support; both wide ones include AVX2.
static int has_avx2(void) { return strcmp(fpk_isa(), "baseline") != 0; }
#else
static int has_avx2(void) { return 0; }
#endif

void fpk_to_f32_transposed(const void *src, int kind, long cols, long r0, long r1, float *dst, long ld) {
#if defined(__x86_64__)
    if (has_avx2()) { transposed_avx2(src, kind, cols, r0, r1, dst, ld); return; }
#endif
    transposed_base(src, kind, cols, r0, r1, dst, ld);
}

void fpk_to_f32(const void *src, int kind, long n, float *dst) {
#if defined(__x86_64__)
    if (has_avx2()) { straight_avx2(src, kind, n, dst); return; }
#endif
    straight_base(src, kind, n, dst);
}
