#include "CDNNL.h"
#include "signal_guard.h"
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

void omp_set_num_threads(int n);   // libgomp (oneDNN's OpenMP runtime)

int fp_dnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                  float *c, int64_t ldc) {
    sigset_t old;
    fp_signals_block(&old);
    int s = (int)dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    fp_signals_restore(&old);
    return s;
}

void fp_dnnl_set_num_threads(int n) { omp_set_num_threads(n > 0 ? n : 1); }

const char *fp_dnnl_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "baseline";
    }
}

const char *fp_dnnl_version(void) {
    static char buf[32];
    const dnnl_version_t *v = dnnl_version();
    if (!v) return "unknown";
    snprintf(buf, sizeof buf, "%d.%d.%d", v->major, v->minor, v->patch);
    return buf;
}

const char *fp_cpu_model(void) {
    static char brand[49];
#if defined(__x86_64__) || defined(__i386__)
    unsigned int regs[12];
    if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
        for (unsigned int i = 0; i < 3; i++)
            __cpuid(0x80000002 + i, regs[4 * i], regs[4 * i + 1], regs[4 * i + 2], regs[4 * i + 3]);
        memcpy(brand, regs, 48);
        brand[48] = 0;
        // cpuid pads with spaces on both sides
        char *s = brand;
        while (*s == ' ') s++;
        size_t len = strlen(s);
        while (len > 0 && s[len - 1] == ' ') s[--len] = 0;
        if (len > 0) return s;
    }
#endif
    return "unknown";
}
