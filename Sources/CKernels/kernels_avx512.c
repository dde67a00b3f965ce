// The kernels of kernels_impl.h compiled for AVX-512 (one zmm register per 16-lane vector).
#include <math.h>
#include <string.h>
#include "CKernels.h"
#if defined(__x86_64__)
#pragma clang attribute push (__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))), apply_to = function)
#define KNAME(x) x##_avx512
#include "kernels_impl.h"
#include "activations_impl.h"
#include "rope_impl.h"
#pragma clang attribute pop
#endif
