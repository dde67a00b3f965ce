#include "CBLAS.h"
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

// AVX state must also be enabled by the OS (XGETBV), not only present in the CPU.
static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

const char *fp_best_openblas_coretype(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return NULL;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return NULL;
    unsigned long long xcr0 = xgetbv0();
    int ymm_ok = (xcr0 & 0x6) == 0x6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
    if (__get_cpuid_max(0, NULL) < 7) return NULL;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1;
    int avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    if (zmm_ok && avx512f && avx512dq && avx512bw && avx512vl) return "SkylakeX";
    if (ymm_ok && avx2 && fma) return "Haswell";
    return NULL;
}
#else
const char *fp_best_openblas_coretype(void) { return NULL; }
#endif

// Read once: glibc's sysconf opens and parses /sys/devices/system/cpu/online on every call,
// and the parallel loops ask before every split (7% of a DAS step's main thread was that).
int fp_cpu_count(void) {
    static int cached;
    int n = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (n > 0) return n;
    long m = sysconf(_SC_NPROCESSORS_ONLN);
    n = m > 0 ? (int)m : 1;
    __atomic_store_n(&cached, n, __ATOMIC_RELAXED);
    return n;
}
