#ifndef FP_CKERNELS_H
#define FP_CKERNELS_H
#include <stdint.h>

// Row kernels of the forward and backward pass, compiled for three vector widths (AVX-512,
// AVX2+FMA, the x86-64 / arm64 baseline) and chosen once by cpuid (dispatch.c). Each function
// works on a range of rows or (batch, head) pairs so that the caller can split it over threads.

/// The instruction set the kernels run with: "avx512", "avx2" or "baseline" (the widest the CPU
/// runs, or the one FP_KERNELS names if the CPU runs it).
const char *fpk_isa(void);
/// The i-th variant this CPU runs, widest first; NULL past the last.
const char *fpk_isa_supported(int i);
/// Switches every later call to the named variant; 0 (and no change) if the CPU cannot run it.
/// For tests: not to be called while kernels run on other threads.
int fpk_use(const char *name);

/// Causal attention over q [B, P, nH, dh] and k, v [B, T, nKV, dh] (strides in floats for batch,
/// position and head; the last dim contiguous). Query i (sequence index past + i) sees key j when
/// j <= past + i, past + i - j < window (window > 0) and mask[b * T + j] != 0 (mask may be NULL).
/// scores = alpha q.k, softcap * tanh(scores / softcap) when softcap > 0, softmax over the visible
/// keys (a query with none gets zeros), z = pattern @ v.
typedef struct {
    const float *q; long q_sb, q_sp, q_sh;
    const float *k; long k_sb, k_sp, k_sh;
    const float *v; long v_sb, v_sp, v_sh;
    const uint8_t *mask;
    int B, P, T, nH, nKV, dh, past, window;
    float alpha, softcap;
} fpk_attention_shape;

/// z [B, P, nH, dh] (contiguous) for the queries [q0, q1) of the pairs bh in [begin, end)
/// (bh = b * nH + h); also their rows of the pattern [B, nH, P, T] (contiguous, hidden keys 0)
/// when pattern is not NULL.
/// scratch: ld * (dh + 4) floats, ld = T rounded up to a multiple of 16, plus 16 (K transposed
/// and four score rows: queries are taken four at a time).
void fpk_attention_forward(const fpk_attention_shape *a, float *z, float *pattern,
                           int begin, int end, int q0, int q1, float *scratch);

/// Gradients of fpk_attention_forward from dz [B, P, nH, dh] and its pattern, for the pairs
/// (b, g) in [begin, end) (= b * nKV + g, a K/V head and the query heads that share it):
/// dq [B, P, nH, dh] is written, dk and dv [B, T, nKV, dh] must be zero on entry. scratch: T floats.
void fpk_attention_backward(const fpk_attention_shape *a, const float *pattern, const float *dz,
                            float *dq, float *dk, float *dv, int begin, int end, float *scratch);

/// Row norm of x [rows, d]: scale[r] = sqrt(var + eps) (centered, LayerNorm) or sqrt(mean(x^2) + eps)
/// (RMSNorm), statistics in double; normalized = (x - mean) / scale when normalized is not NULL;
/// out = normalized * w (+ b) when out is not NULL (w required then, b may be NULL).
void fpk_norm_forward(const float *x, long rows, int d, float eps, int centered,
                      float *scale, float *normalized, const float *w, const float *b, float *out);

/// Gradient of the normalized rows: gx = (g - mean(g) [centered] - n mean(g n)) / scale.
void fpk_norm_backward(const float *g, const float *n, const float *scale, long rows, int d,
                       int centered, float *gx);

/// The elementwise activations of fpk_activation.
enum { FPK_EXP = 0, FPK_TANH = 1, FPK_GELU_TANH = 2, FPK_SILU = 3, FPK_SIGMOID = 4, FPK_ERF = 5, FPK_GELU_ERF = 6 };
/// y[i] = act(x[i]) for i < n, times mul[i] when mul is not NULL (a gated MLP's act(gate) * up in
/// one pass). y may be x or mul. GELU_TANH is GPT-2's tanh approximation, GELU_ERF the exact GELU.
void fpk_activation(int op, const float *x, const float *mul, float *y, long n);
/// y[i] = g[i] * act'(x[i]) for i < n, act FPK_SILU, FPK_GELU_TANH or FPK_GELU_ERF (the backward).
void fpk_activation_grad(int op, const float *x, const float *g, float *y, long n);

/// Rotary embedding of x [B, P, H, dh] (strides in floats for batch, position and head; the
/// last dim contiguous) at positions[b * P + p] (each within the tables) with tables cos, sin
/// [positions, half]: the first 2 * half dims rotated (rotate-half pairing), the rest copied.
typedef struct {
    const float *x; long sb, sp, sh;
    int P, H, dh, half;
    const int32_t *positions;
    const float *cos, *sin;
} fpk_rope_shape;

/// Tokens t0..<t1 (t = b * P + p) into out [B * P, H, dh] (contiguous), the angle times sign.
void fpk_rope(const fpk_rope_shape *a, float sign, long t0, long t1, float *out);

/// The stored float types the loaders' conversions read.
enum { FPK_F32 = 0, FPK_BF16 = 1, FPK_F16 = 2 };
/// Source rows r0..<r1 of src [rows, cols] (of type `kind`, an FPK_ value; any alignment)
/// written as float32 dst[c * ld + r] for every column c: a transposing weight load.
void fpk_to_f32_transposed(const void *src, int kind, long cols, long r0, long r1, float *dst, long ld);
/// n values of type `kind` (any alignment) as float32, bit-exact.
void fpk_to_f32(const void *src, int kind, long n, float *dst);

#endif
