// The kernels of kernels_impl.h compiled for AVX-512 (one zmm register per 16-lane vector).
#include <math.h>
#include <string.h>
#include "CKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push (__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))), apply_to = function)
#define KNAME(x) x##_avx512
#include "kernels_impl.h"
__m512 _ZGVeN16v_erff(__m512);   // glibc's libmvec: erff on 16 lanes
static inline v16f KNAME(verf)(v16f x) { return (v16f)_ZGVeN16v_erff((__m512)x); }
#include "activations_impl.h"
#include "rope_impl.h"
#pragma clang attribute pop
#endif
