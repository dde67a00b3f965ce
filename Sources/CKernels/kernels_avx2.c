// The kernels of kernels_impl.h compiled for AVX2 + FMA (two ymm registers per 16-lane vector).
#include <math.h>
#include <string.h>
#include "CKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)
#define KNAME(x) x##_avx2
#include "kernels_impl.h"
__m256 _ZGVdN8v_erff(__m256);    // glibc's libmvec: erff on 8 lanes
static inline v16f KNAME(verf)(v16f x) {
    v16f r;
    r.lo = (v8f)_ZGVdN8v_erff((__m256)x.lo);
    r.hi = (v8f)_ZGVdN8v_erff((__m256)x.hi);
    return r;
}
#include "activations_impl.h"
#include "rope_impl.h"
#pragma clang attribute pop
#endif
