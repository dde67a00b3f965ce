// The kernels of kernels_impl.h compiled for the target baseline (SSE2 on x86-64, NEON on arm64).
#include <math.h>
#include <string.h>
#include "CKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#define KNAME(x) x##_baseline
#include "kernels_impl.h"
#if defined(__x86_64__)
__m128 _ZGVbN4v_erff(__m128);    // glibc's libmvec: erff on 4 lanes (SSE)
#endif
static inline v16f KNAME(verf)(v16f x) {
    v16f r;
#if defined(__x86_64__)
    typedef float v4f __attribute__((ext_vector_type(4)));
    for (int i = 0; i < 16; i += 4) {
        v4f q = { x[i], x[i + 1], x[i + 2], x[i + 3] };
        v4f e = (v4f)_ZGVbN4v_erff((__m128)q);
        r[i] = e[0]; r[i + 1] = e[1]; r[i + 2] = e[2]; r[i + 3] = e[3];
    }
#else
    for (int i = 0; i < 16; i++) r[i] = erff(x[i]);
#endif
    return r;
}
#include "activations_impl.h"
#include "rope_impl.h"
