// The kernels of kernels_impl.h compiled for the target baseline (SSE2 on x86-64, NEON on arm64).
#include <math.h>
#include <string.h>
#include "CKernels.h"
#define KNAME(x) x##_baseline
#include "kernels_impl.h"
#include "activations_impl.h"
#include "rope_impl.h"
